// SPDX-License-Identifier: GPL-2.0
/* The tracepoint backend: one tp_btf program per tracepoint that carries an skb,
 * generated from the probe list (skbtracer_probes.def).
 *
 * Programs are named after their hook (tp_<tracepoint>). Which argument holds the
 * skb, the sock, the drop reason and the location differs between kernels, so the
 * loader reads it from the running kernel's BTF (btf_trace_<name>) into
 * cfg.probe_args. That config is frozen .rodata, so the verifier sees each index
 * as a constant and only the matching ctx[] load survives in each program.
 */
#include "skb_event.bpf.h"
#include "route_event.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Constant indexes only: tp_btf ctx loads must have a fixed offset, and a load
 * beyond the tracepoint's argument count is rejected even when never taken at
 * run time, so this is a chain of ifs the verifier resolves per program. */
static __always_inline __u64 tp_arg(__u64 *ctx, __u8 idx)
{
	if (idx == 0)
		return ctx[0];
	if (idx == 1)
		return ctx[1];
	if (idx == 2)
		return ctx[2];
	if (idx == 3)
		return ctx[3];
	if (idx == 4)
		return ctx[4];
	return 0;
}

static __always_inline int tp_probe(__u64 *ctx, enum st_probe_id probe)
{
	__u8 skb_idx = cfg.probe_args[probe].skb;
	__u8 sk_idx = cfg.probe_args[probe].sk;
	__u8 reason_idx = cfg.probe_args[probe].reason;
	__u8 location_idx = cfg.probe_args[probe].location;
	struct sk_buff *skb = (struct sk_buff *)tp_arg(ctx, skb_idx);
	struct sock *sk = NULL;
	__u32 reason = 0;
	__u64 location = 0;

	if (sk_idx != ST_ARG_NONE)
		sk = (struct sock *)tp_arg(ctx, sk_idx);
	if (reason_idx != ST_ARG_NONE)
		reason = (__u32)tp_arg(ctx, reason_idx);
	if (location_idx != ST_ARG_NONE)
		location = tp_arg(ctx, location_idx);
	return st_trace_skb(ctx, probe, skb, sk, reason, location);
}

/* One program per row of skbtracer_probes.def: tp_<name> on tp_btf/<name>,
 * reporting the row's id. An skb probe's body is tp_probe(); a route lookup's is
 * route_<name>() (route_event.bpf.h), which reads a flow, not an skb. */
#define ST_PROBE_BODY_skb(name, id) tp_probe(ctx, id)
#define ST_PROBE_BODY_route(name, id) route_##name(ctx, id)
#define ST_PROBE(ID, name, system, group, kind, dflt, summary)  \
	SEC("tp_btf/" #name)                                     \
	int ST_PROBE_PROGRAM(name)(__u64 *ctx)                   \
	{                                                        \
		return ST_PROBE_BODY_##kind(name, ST_PROBE_##ID); \
	}
#include "skbtracer_probes.def"
#undef ST_PROBE

/* Loaded only with --owner. Each fires in the process making the call. */
SEC("tp_btf/sock_send_length")
int owner_sock_send_length(__u64 *ctx)
{
	note_owner((struct sock *)ctx[0]);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int owner_sock_recv_length(__u64 *ctx)
{
	note_owner((struct sock *)ctx[0]);
	return 0;
}

/* connect() and listen(): a SYN leaves, or one arrives, before any sendmsg or
 * recvmsg. Other state changes happen in softirq, in no telling which task. */
SEC("tp_btf/inet_sock_set_state")
int owner_inet_sock_set_state(__u64 *ctx)
{
	int newstate = (int)ctx[2];

	if (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)
		note_owner((struct sock *)ctx[0]);
	return 0;
}

/* A syscall tracepoint (classic: syscalls have no BTF-typed tracepoints). */
struct syscall_exit_args {
	__u64 common;
	long nr; /* int __syscall_nr, then padding */
	long ret;
};

SEC("tracepoint/syscalls/sys_exit_accept4")
int owner_sys_exit_accept4(struct syscall_exit_args *ctx)
{
	note_accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int owner_sys_exit_accept(struct syscall_exit_args *ctx)
{
	note_accepted(ctx->ret);
	return 0;
}
