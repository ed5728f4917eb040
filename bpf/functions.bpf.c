// SPDX-License-Identifier: GPL-2.0
/* The function backends: kernel functions that take an sk_buff, through kprobes.
 *
 * One program per argument position (pwru's approach): the loader finds every
 * function with a `struct sk_buff *` among its first five parameters in BTF and
 * attaches the program for that position, to all of them at once (kprobe-multi)
 * or one link per function (kprobe). bpf_get_func_ip() names the function.
 *
 * This is its own object, loaded only when a function backend is asked for:
 * bpf_rdonly_cast() (a kfunc, 6.2+) must not keep the tracepoint object from
 * loading on an older kernel. Its maps are the tracepoint object's (the loader
 * reuses their fds), so both feed one ring buffer, one tracking table and one
 * configuration.
 */
#define ST_EVENT_LOCATION(ctx, location) bpf_get_func_ip(ctx)
#define ST_CALLER(ctx) function_caller(ctx)
#include "common.bpf.h"

/* A kprobe sees registers, not typed arguments. bpf_rdonly_cast() turns the
 * register into an untrusted BTF pointer: the same field loads as in tp_btf
 * programs (faults become zeros), so st_trace_skb() needs no second version
 * written with bpf_probe_read_kernel(). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The argument registers, named as the running kernel's struct pt_regs names
 * them (CO-RE), for the first five integer arguments. */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long di, si, dx, cx, r8, sp;
} __co_re;
#define ST_ARG1(c) ((c)->di)
#define ST_ARG2(c) ((c)->si)
#define ST_ARG3(c) ((c)->dx)
#define ST_ARG4(c) ((c)->cx)
#define ST_ARG5(c) ((c)->r8)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	__u64 regs[31];
} __co_re;
#define ST_ARG1(c) ((c)->regs[0])
#define ST_ARG2(c) ((c)->regs[1])
#define ST_ARG3(c) ((c)->regs[2])
#define ST_ARG4(c) ((c)->regs[3])
#define ST_ARG5(c) ((c)->regs[4])
#else
#error "function probes: unsupported architecture (x86_64 and arm64 only)"
#endif

/* The return address at the probed function's entry: on x86-64 the call left
 * it on top of the stack (as pwru reads it), on arm64 it is in the link
 * register. 0 when the read fails. */
static __always_inline __u64 function_caller(void *ctx)
{
	struct pt_regs *regs = ctx;
	__u64 ret = 0;

#if defined(__TARGET_ARCH_x86)
	bpf_probe_read_kernel(&ret, sizeof(ret), (const void *)regs->sp);
#else
	ret = regs->regs[30];
#endif
	return ret;
}

#include "skb_event.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int function_probe(struct pt_regs *ctx, __u64 arg)
{
	struct sk_buff *skb;

	if (arg < KERNEL_SPACE_START)
		return 0;
	skb = bpf_rdonly_cast((void *)arg, bpf_core_type_id_kernel(struct sk_buff));
	return st_trace_skb(ctx, ST_PROBE_FUNCTION, skb, NULL, 0, 0);
}

#define FUNCTION_PROBES(pos)                                    \
	SEC("kprobe.multi")                                     \
	int kprobe_multi_skb_##pos(struct pt_regs *ctx)         \
	{                                                       \
		return function_probe(ctx, ST_ARG##pos(ctx));   \
	}                                                       \
	SEC("kprobe")                                           \
	int kprobe_skb_##pos(struct pt_regs *ctx)               \
	{                                                       \
		return function_probe(ctx, ST_ARG##pos(ctx));   \
	}

FUNCTION_PROBES(1)
FUNCTION_PROBES(2)
FUNCTION_PROBES(3)
FUNCTION_PROBES(4)
FUNCTION_PROBES(5)
