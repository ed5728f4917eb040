/* tcpdump (pcap-filter) expressions in the kernel.
 *
 * libpcap compiles the expression in user space to classic BPF, once for a
 * packet that starts at its Ethernet header and once for one that starts at
 * its IP header (struct st_pcap_prog, map pcap_progs). Here a small
 * interpreter runs the right one on the skb at every probe.
 *
 * An interpreter rather than a translation into the tracer's own instructions:
 * the expression is only known at run time, and splicing instructions into a
 * verified program needs freplace (refused on kernels that refuse fentry) or
 * rewriting the object before load. bpf_loop() runs one instruction per call,
 * so the verifier checks the step once, whatever the program's length.
 *
 * Packet loads are helper reads from skb->head: a tracing program cannot use
 * direct packet access. Only the linear part is readable (paged data is not
 * behind skb->head); a load past it fails, and as in the kernel's and libpcap's
 * own interpreters a failed load ends the program with "no match".
 */
#ifndef SKBTRACER_PCAP_FILTER_BPF_H
#define SKBTRACER_PCAP_FILTER_BPF_H

#include "maps.bpf.h"
#include "parse.bpf.h"

/* Classic BPF's codes that eBPF's headers do not share (linux/filter.h). */
#define CBPF_RVAL(code) ((code) & 0x18)
#define CBPF_RET_A 0x10
#define CBPF_MISCOP(code) ((code) & 0xf8)
#define CBPF_TAX 0x00
#define CBPF_TXA 0x80
#define CBPF_MEMWORDS 16

/* The frame's first bytes, copied once per run: most loads are headers, and a
 * load from the copy costs a few instructions where a helper read costs a call. */
#define PCAP_WINDOW 128

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* enum st_pcap_form */
	__type(key, __u32);
	__type(value, struct st_pcap_prog);
} pcap_progs SEC(".maps");

/* One run's state. In a per-CPU map, not on the stack: the program's frame,
 * this function's and the loop callback's must fit in 512 bytes together. */
struct st_pcap_run {
	__u64 start;   /* kernel address of the packet's first byte */
	__u32 linear;  /* bytes readable from start (the skb's linear part) */
	__u32 wire;    /* the packet's length from start: what BPF_LEN loads */
	__u32 form;    /* enum st_pcap_form */
	__u32 pc;
	__u32 a;
	__u32 x;
	__u32 result;  /* the program's return value: 0 is "no match" */
	__u8 vlan;     /* an offloaded tag is shown in tag[], after the MAC addresses */
	__u8 tag[4];   /* TPID and TCI, network order */
	__u8 buf[8];   /* a load's bytes */
	__u8 pad[3];
	__u32 held;    /* bytes of the frame (as pcap_byte() shows it) in win */
	__u32 mem[CBPF_MEMWORDS];
	__u8 win[PCAP_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_pcap_run);
} pcap_run SEC(".maps");

/* A frame as a capture shows it: a tag the driver offloaded (skb->vlan_tci)
 * sits after the MAC addresses, as libpcap puts it back for tcpdump, so that
 * `vlan 10` matches the same frames as `tcpdump -i`. Byte `at` of that frame. */
static __always_inline int pcap_byte(struct st_pcap_run *r, __u32 at, __u8 *out)
{
	if (r->vlan && at >= 12) {
		if (at < 16) {
			*out = r->tag[at & 3];
			return 0;
		}
		at -= 4;
	}
	return bpf_probe_read_kernel(out, 1, (const void *)(r->start + at));
}

/* A 1, 2 or 4-byte load at `at`, big-endian as classic BPF loads are; false
 * past the readable bytes or when a read fails. */
static __always_inline bool pcap_load(struct st_pcap_run *r, __u32 at, __u32 size, __u32 *val)
{
	__u32 shown = r->linear + (r->vlan ? 4 : 0);
	__u32 v = 0;

	if (at > 0xffff || at + size > shown)
		return false;
	if (at + size <= r->held) {
		for (int i = 0; i < 4; i++) {
			if (i < size)
				v = v << 8 | r->win[(at + i) & (PCAP_WINDOW - 1)];
		}
		*val = v;
		return true;
	}
	if (r->vlan) {
		/* Byte by byte: the load may straddle the tag. */
		for (int i = 0; i < 4; i++) {
			if (i >= size)
				break;
			if (pcap_byte(r, at + i, &r->buf[i]))
				return false;
		}
	} else if (bpf_probe_read_kernel(r->buf, size & 7, (const void *)(r->start + at))) {
		return false;
	}
	for (int i = 0; i < 4; i++) {
		if (i < size)
			v = v << 8 | r->buf[i];
	}
	*val = v;
	return true;
}

static __always_inline __u32 pcap_size(__u16 code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	default:
		return 1;
	}
}

/* Ends the run with `result` (bpf_loop() stops on 1). */
static __always_inline long pcap_stop(struct st_pcap_run *r, __u32 result)
{
	r->result = result;
	return 1;
}

static __always_inline bool pcap_alu(struct st_pcap_run *r, __u16 code, __u32 k)
{
	__u32 v = BPF_SRC(code) == BPF_X ? r->x : k;
	__u32 a = r->a;

	switch (BPF_OP(code)) {
	case BPF_ADD:
		a += v;
		break;
	case BPF_SUB:
		a -= v;
		break;
	case BPF_MUL:
		a *= v;
		break;
	case BPF_DIV:
		if (!v)
			return false;
		a /= v;
		break;
	case BPF_MOD:
		if (!v)
			return false;
		a %= v;
		break;
	case BPF_OR:
		a |= v;
		break;
	case BPF_AND:
		a &= v;
		break;
	case BPF_XOR:
		a ^= v;
		break;
	case BPF_LSH:
		a = v < 32 ? a << v : 0;
		break;
	case BPF_RSH:
		a = v < 32 ? a >> v : 0;
		break;
	case BPF_NEG:
		a = -a;
		break;
	default:
		return false;
	}
	r->a = a;
	return true;
}

static __always_inline bool pcap_jump_taken(struct st_pcap_run *r, __u16 code, __u32 k)
{
	__u32 v = BPF_SRC(code) == BPF_X ? r->x : k;

	switch (BPF_OP(code)) {
	case BPF_JEQ:
		return r->a == v;
	case BPF_JGT:
		return r->a > v;
	case BPF_JGE:
		return r->a >= v;
	default: /* BPF_JSET */
		return r->a & v;
	}
}

/* What every step works on, found once per run: bpf_loop()'s callback reads
 * the caller's stack, and the verifier keeps the two map values' types there. */
struct pcap_loop {
	struct st_pcap_run *run;
	struct st_pcap_prog *prog;
};

/* One instruction. Classic BPF only jumps forward, so a program of n
 * instructions ends within n steps: bpf_loop(n) is enough. */
static long pcap_step(__u32 index, struct pcap_loop *loop)
{
	struct st_pcap_run *r = loop->run;
	struct st_pcap_prog *p = loop->prog;
	__u32 pc = r->pc, k, val;
	struct st_cbpf_insn in;

	if (pc >= ST_PCAP_INSNS_MAX || pc >= p->len)
		return pcap_stop(r, 0);
	in = p->insns[pc];
	k = in.k;
	r->pc = pc + 1;
	switch (BPF_CLASS(in.code)) {
	case BPF_LD:
		switch (BPF_MODE(in.code)) {
		case BPF_ABS:
			if (!pcap_load(r, k, pcap_size(in.code), &val))
				return pcap_stop(r, 0);
			r->a = val;
			break;
		case BPF_IND:
			/* X + k past 32 bits is past the packet, as libpcap's bpf_filter() says. */
			if ((__u64)r->x + k > 0xffff || !pcap_load(r, r->x + k, pcap_size(in.code), &val))
				return pcap_stop(r, 0);
			r->a = val;
			break;
		case BPF_LEN:
			r->a = r->wire;
			break;
		case BPF_IMM:
			r->a = k;
			break;
		case BPF_MEM:
			if (k >= CBPF_MEMWORDS)
				return pcap_stop(r, 0);
			r->a = r->mem[k & (CBPF_MEMWORDS - 1)];
			break;
		default:
			return pcap_stop(r, 0);
		}
		break;
	case BPF_LDX:
		switch (BPF_MODE(in.code)) {
		case BPF_IMM:
			r->x = k;
			break;
		case BPF_MEM:
			if (k >= CBPF_MEMWORDS)
				return pcap_stop(r, 0);
			r->x = r->mem[k & (CBPF_MEMWORDS - 1)];
			break;
		case BPF_LEN:
			r->x = r->wire;
			break;
		case BPF_MSH: /* the IPv4 header's length: 4 * (P[k] & 0xf) */
			if (!pcap_load(r, k, 1, &val))
				return pcap_stop(r, 0);
			r->x = (val & 0xf) << 2;
			break;
		default:
			return pcap_stop(r, 0);
		}
		break;
	case BPF_ST:
	case BPF_STX:
		if (k >= CBPF_MEMWORDS)
			return pcap_stop(r, 0);
		r->mem[k & (CBPF_MEMWORDS - 1)] = BPF_CLASS(in.code) == BPF_ST ? r->a : r->x;
		break;
	case BPF_ALU:
		if (!pcap_alu(r, in.code, k))
			return pcap_stop(r, 0);
		break;
	case BPF_JMP:
		if (BPF_OP(in.code) == BPF_JA)
			r->pc += k;
		else
			r->pc += pcap_jump_taken(r, in.code, k) ? in.jt : in.jf;
		break;
	case BPF_RET:
		return pcap_stop(r, CBPF_RVAL(in.code) == CBPF_RET_A ? r->a : k);
	default: /* BPF_MISC */
		if (CBPF_MISCOP(in.code) == CBPF_TAX)
			r->x = r->a;
		else
			r->a = r->x;
		break;
	}
	return 0;
}

/* The window: the frame's first PCAP_WINDOW bytes as pcap_byte() shows them
 * (an offloaded tag put back), or none when a read fails. */
static __always_inline void pcap_fill_window(struct st_pcap_run *r)
{
	__u32 n = r->linear;
	const void *src = (const void *)r->start;

	r->held = 0;
	if (r->vlan) {
		if (n < 12 || bpf_probe_read_kernel(r->win, 12, src))
			return;
		__builtin_memcpy(&r->win[12], r->tag, 4);
		n -= 12;
		if (n > PCAP_WINDOW - 16)
			n = PCAP_WINDOW - 16;
		if (bpf_probe_read_kernel(&r->win[16], n, src + 12))
			return;
		r->held = n + 16;
		return;
	}
	if (n > PCAP_WINDOW)
		n = PCAP_WINDOW;
	if (bpf_probe_read_kernel(r->win, n, src))
		return;
	r->held = n;
}

/* Where the run's bytes are, read in the program itself: the skb's fields by
 * direct loads (a global function could only read them through helper calls,
 * a dozen of them per packet). The Ethernet form where the probe sees an
 * Ethernet header, else the IP form where it sees an IP header; false, no
 * match, where there are no bytes: the bytes fill_payload() would write (none
 * for a tuple taken from the socket, nor without an Ethernet or IP header).
 * headers and ethernet as parse_packet() takes them; pkt_flags the event's. */
static __always_inline bool pcap_prepare(struct sk_buff *skb, __u64 headers, __u32 ethernet, __u8 pkt_flags)
{
	__u16 mac = headers >> 32, nh = headers >> 16;
	bool link = uses_mac_header(mac, ethernet);
	__u32 zero = 0;
	struct st_pcap_run *r = bpf_map_lookup_elem(&pcap_run, &zero);
	__u64 head, data, start, end;
	__u32 paged;

	if (!r || (pkt_flags & ST_PKT_FROM_SOCK) || (!link && (!nh || !(pkt_flags & ST_PKT_L3))))
		return false;
	barrier_var(skb); /* see st_trace_skb() */
	head = (__u64)skb->head;
	data = (__u64)skb->data;
	end = data + skb->len;
	paged = skb->data_len;
	start = head + (link ? mac : nh);
	if (!head || end < start || end - paged <= start)
		return false;
	r->start = start;
	r->linear = end - paged - start;
	r->wire = end - start;
	r->form = link ? ST_PCAP_LINK : ST_PCAP_NETWORK;
	r->vlan = link && skb_vlan_tag_loaded(skb, r->tag);
	if (r->vlan)
		r->wire += 4;
	return true;
}

/* The expression's verdict on the bytes pcap_prepare() found. Global, so the
 * interpreter is verified once per program. */
__noinline int pcap_run_program(void)
{
	__u32 zero = 0, form, n;
	struct st_pcap_run *r = bpf_map_lookup_elem(&pcap_run, &zero);
	struct st_pcap_prog *p;

	if (!r)
		return 0;
	form = r->form;
	p = bpf_map_lookup_elem(&pcap_progs, &form);
	if (!p)
		return 0;
	n = p->len;
	if (!n || n > ST_PCAP_INSNS_MAX)
		return 0;
	pcap_fill_window(r);
	r->pc = 0;
	r->a = 0;
	r->x = 0;
	r->result = 0;
	__builtin_memset(r->mem, 0, sizeof(r->mem));
	struct pcap_loop loop = { .run = r, .prog = p };

	bpf_loop(n, pcap_step, &loop, 0);
	return r->result != 0;
}

/* The expression's verdict on the skb at this probe. */
static __always_inline bool pcap_matches(struct sk_buff *skb, __u64 headers, __u32 ethernet, __u8 pkt_flags)
{
	return pcap_prepare(skb, headers, ethernet, pkt_flags) && pcap_run_program();
}

#endif
