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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); /* enum st_pcap_form */
	__type(key, __u32);
	__type(value, struct st_pcap_prog);
} pcap_progs SEC(".maps");

/* One run's state. In a per-CPU map, not on the stack: the program's frame,
 * this function's and the loop callback's must fit in 512 bytes together. */
struct st_pcap_run {
	__u64 skb;     /* the sk_buff, from pcap_note_skb() */
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
	__u32 mem[CBPF_MEMWORDS];
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

/* One instruction. Classic BPF only jumps forward, so a program of n
 * instructions ends within n steps: bpf_loop(n) is enough. */
static long pcap_step(__u32 index, void *unused)
{
	__u32 zero = 0, form, pc, k, val;
	struct st_pcap_run *r = bpf_map_lookup_elem(&pcap_run, &zero);
	struct st_pcap_prog *p;
	struct st_cbpf_insn in;

	if (!r)
		return 1;
	form = r->form;
	p = bpf_map_lookup_elem(&pcap_progs, &form);
	pc = r->pc;
	if (!p || pc >= ST_PCAP_INSNS_MAX || pc >= p->len)
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
			if (!pcap_load(r, r->x + k, pcap_size(in.code), &val))
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

/* The skb crosses into pcap_matches() through the run's state: a global
 * function takes scalars and memory only, and a pointer cast to a number is
 * still a pointer to the verifier. */
static __always_inline bool pcap_note_skb(struct sk_buff *skb)
{
	__u32 zero = 0;
	struct st_pcap_run *r = bpf_map_lookup_elem(&pcap_run, &zero);

	if (!r)
		return false;
	r->skb = (__u64)skb;
	return true;
}

/* The expression's verdict on the skb noted by pcap_note_skb() (headers and
 * ethernet as parse_packet() takes them, the event's st_packet flags): the
 * Ethernet form where the probe
 * sees an Ethernet header, else the IP form where it sees an IP header, else
 * no match (an skb with no headers yet). Global, so verified once per
 * program; skb fields through helper reads (see fill_payload()). */
__noinline int pcap_matches(__u64 headers, __u32 ethernet, __u32 pkt_flags)
{
	__u16 mac = headers >> 32, nh = headers >> 16;
	bool link = uses_mac_header(mac, ethernet);
	__u32 zero = 0, form = link ? ST_PCAP_LINK : ST_PCAP_NETWORK;
	struct st_pcap_run *r = bpf_map_lookup_elem(&pcap_run, &zero);
	struct st_pcap_prog *p = bpf_map_lookup_elem(&pcap_progs, &form);
	struct sk_buff *skb;
	__u64 head, data, start, end;
	__u32 len, paged, n;

	/* The bytes fill_payload() would write: none for a tuple taken from the
	 * socket, nor without an Ethernet or IP header read. */
	if (!r || !p || (pkt_flags & ST_PKT_FROM_SOCK) || (!link && (!nh || !(pkt_flags & ST_PKT_L3))))
		return 0;
	skb = (struct sk_buff *)r->skb;
	if (!skb)
		return 0;
	n = p->len;
	if (!n || n > ST_PCAP_INSNS_MAX)
		return 0;
	head = (__u64)BPF_CORE_READ(skb, head);
	data = (__u64)BPF_CORE_READ(skb, data);
	len = BPF_CORE_READ(skb, len);
	paged = BPF_CORE_READ(skb, data_len);
	start = head + (link ? mac : nh);
	end = data + len;
	if (!head || end < start || end - paged <= start)
		return 0;
	r->start = start;
	r->linear = end - paged - start;
	r->wire = end - start;
	r->vlan = 0;
	if (link && skb_vlan_tag(skb, r->tag)) {
		r->vlan = 1;
		r->wire += 4;
	}
	r->form = form;
	r->pc = 0;
	r->a = 0;
	r->x = 0;
	r->result = 0;
	__builtin_memset(r->mem, 0, sizeof(r->mem));
	bpf_loop(n, pcap_step, NULL, 0);
	return r->result != 0;
}

#endif
