/* Tunnel packets: which outer headers carry a packet BPF can read (VXLAN,
 * GENEVE, GRE, IPIP, IPv6 in IP; enum st_tunnel_kind), and reading that inner
 * packet into a tunnel section, so the filters can match it (-H INNER finds the
 * packet on the underlay) and --output-tunnel can show it. */
#ifndef SKBTRACER_TUNNEL_BPF_H
#define SKBTRACER_TUNNEL_BPF_H

#include "parse.bpf.h"
#include "filter.bpf.h"

#define ETH_P_TEB 0x6558 /* transparent Ethernet bridging: GENEVE's and gretap's Ethernet payload */
#define GRE_CSUM 0x8000
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007


/* The tunnel a packet's outer headers announce, or 0. UDP tunnels need the
 * destination port, so the L4 header must have been read. */
static __always_inline __u8 tunnel_kind(const struct st_packet *pkt)
{
	if ((pkt->flags & (ST_PKT_L3 | ST_PKT_FROM_SOCK)) != ST_PKT_L3)
		return 0;
	if (pkt->l3_proto != ETH_P_IP && pkt->l3_proto != ETH_P_IPV6)
		return 0;
	switch (pkt->l4_proto) {
	case IPPROTO_UDP:
		if (!(pkt->flags & ST_PKT_L4))
			return 0;
		if (pkt->dport == ST_PORT_VXLAN || pkt->dport == ST_PORT_VXLAN_LINUX)
			return ST_TUNNEL_VXLAN;
		if (pkt->dport == ST_PORT_GENEVE)
			return ST_TUNNEL_GENEVE;
		return 0;
	case ST_IPPROTO_GRE:
		return ST_TUNNEL_GRE;
	case ST_IPPROTO_IPIP:
		return ST_TUNNEL_IPIP;
	case ST_IPPROTO_IPV6:
		return ST_TUNNEL_IP6;
	default:
		return 0;
	}
}

/* Before L4 is read: whether a packet the filters rejected may be a tunnel
 * packet whose inner packet they would pass. UDP tunnels by a destination port
 * parse_ipv4() took from the bytes it read (an IPv4 header without options);
 * an IPv6 underlay's UDP is not looked at before L4, so -H INNER finds VXLAN and
 * GENEVE over IPv4 only (GRE and IP in IP over either). */
static __always_inline bool may_carry_tunnel(const struct st_packet *pkt)
{
	if (!(cfg.filter_flags & ST_F_PACKET_FILTERS) || !(pkt->flags & ST_PKT_L3))
		return false;
	switch (pkt->l4_proto) {
	case IPPROTO_UDP:
		return pkt->dport == ST_PORT_VXLAN || pkt->dport == ST_PORT_VXLAN_LINUX || pkt->dport == ST_PORT_GENEVE;
	case ST_IPPROTO_GRE:
	case ST_IPPROTO_IPIP:
	case ST_IPPROTO_IPV6:
		return true;
	default:
		return false;
	}
}

/* Where the tunnel's payload starts, from its header at `off` (the outer L4
 * offset: UDP, GRE, or the inner IP header itself for IPIP and IPv6 in IP);
 * sets *ethernet when the payload is an Ethernet frame and t->vni. 0: not a
 * payload this reads (GRE version 1, another GENEVE protocol, a failed read).
 * `h`: 16 bytes of scratch. */
static __always_inline __u32 tunnel_payload(struct st_sec_tunnel *t, __u8 *h, __u64 head, __u32 off,
					    __u32 *ethernet)
{
	__u16 proto;

	switch (t->kind) {
	case ST_TUNNEL_VXLAN: /* UDP (8), VXLAN (8: flags, reserved, VNI, reserved), Ethernet */
		if (read_packet(h, 16, head, off))
			return 0;
		t->vni = h[12] << 16 | h[13] << 8 | h[14];
		*ethernet = 1;
		return off + 16;
	case ST_TUNNEL_GENEVE: /* UDP (8), GENEVE (8: options length, flags, protocol, VNI), options */
		if (read_packet(h, 16, head, off))
			return 0;
		proto = h[10] << 8 | h[11];
		t->vni = h[12] << 16 | h[13] << 8 | h[14];
		*ethernet = proto == ETH_P_TEB;
		if (proto != ETH_P_TEB && proto != ETH_P_IP && proto != ETH_P_IPV6)
			return 0;
		return off + 16 + (h[8] & 0x3f) * 4;
	case ST_TUNNEL_GRE: /* flags and version, protocol, then checksum, key, sequence if flagged */
		if (read_packet(h, 4, head, off))
			return 0;
		proto = h[2] << 8 | h[3];
		if (((h[0] << 8 | h[1]) & GRE_VERSION) != 0)
			return 0;
		*ethernet = proto == ETH_P_TEB;
		if (proto != ETH_P_TEB && proto != ETH_P_IP && proto != ETH_P_IPV6)
			return 0;
		return off + 4 + ((h[0] << 8) & GRE_CSUM ? 4 : 0) + ((h[0] << 8) & GRE_KEY ? 4 : 0) +
		       ((h[0] << 8) & GRE_SEQ ? 4 : 0);
	case ST_TUNNEL_IPIP:
	case ST_TUNNEL_IP6:
		*ethernet = 0;
		return off;
	default:
		return 0;
	}
}

/* The inner IP header bytes read at once: the IPv6 fixed header, or IPv4's with
 * the first 20 bytes after it (the ports, without options). */
#define TUNNEL_L3_READ 40

/* parse_tunnel()'s scratch, given by the caller rather than on its stack: the
 * program's frame (which holds the event and the filters' first look) and
 * this function's share 512 bytes, and 40 more did not fit. */
struct tunnel_buf {
	__u8 b[TUNNEL_L3_READ];
} __attribute__((aligned(8))); /* addresses copied a word at a time: byte copies spilled registers */

/* Fills `t` with the inner packet of a tunnel packet of kind `kind` whose outer
 * L4 header starts at `off`. Returns 1 when the inner L3 header was read.
 * Global, so verified once. `scratch` is reused for the tunnel header, the
 * inner IP header and its L4 header; the MACs go straight into `t`. It reads
 * the inner L4 itself rather than calling
 * parse_l4(), for the same reason (a third frame). Inner IPv6 extension
 * headers are not walked: the inner L4 is read only when a transport header
 * follows at once. */
__noinline int parse_tunnel(struct st_sec_tunnel *t, struct tunnel_buf *scratch, __u64 head, __u32 off, __u32 kind)
{
	__u32 ethernet = 0, at, l4 = 0, n;
	__u8 *buf;
	__u16 proto;

	if (!t || !scratch)
		return 0;
	buf = __builtin_assume_aligned(scratch->b, 8); /* word copies, as parse_packet()'s frame */
	__builtin_memset(t, 0, sizeof(*t));
	t->sec.type = ST_SEC_TUNNEL;
	t->sec.size = sizeof(*t);
	t->kind = kind;
	at = tunnel_payload(t, buf, head, off, &ethernet);
	if (!at)
		return 0;
	if (ethernet) {
		/* dmac and smac are adjacent in st_packet: one read. */
		if (read_packet(t->inner.dmac, 12, head, at) || read_packet(buf, 2, head, at + 12))
			return 0;
		t->inner.flags |= ST_PKT_MAC;
		proto = buf[0] << 8 | buf[1];
		at += ETH_HLEN;
	}
	if (read_packet(buf, TUNNEL_L3_READ, head, at))
		return 0;
	if (!ethernet)
		proto = (buf[0] >> 4) == 4 ? ETH_P_IP : (buf[0] >> 4) == 6 ? ETH_P_IPV6 : 0;
	t->inner.l3_proto = proto;
	if (proto == ETH_P_IP)
		l4 = parse_ipv4(&t->inner, buf, at);
	else if (proto == ETH_P_IPV6)
		l4 = parse_ipv6(&t->inner, buf, at);
	else
		return 0;
	/* The L4 header's bytes: in the buffer already after an IPv4 header without
	 * options, else one more read into it. */
	n = l4_bytes(t->inner.l4_proto);
	if (l4 && n) {
		__u32 in_buf = l4 - at;

		if (in_buf <= TUNNEL_L3_READ - 14) {
			decode_l4(&t->inner, buf + in_buf);
		} else if (!read_packet(buf, 14, head, l4)) {
			decode_l4(&t->inner, buf);
		}
	}
	return (t->inner.flags & ST_PKT_L3) != 0;
}

/* The inner headers while the filters look at them: 80 bytes the program's
 * stack has no room for. One slot per nesting level: a probe in process
 * context can be interrupted by a softirq's probe on the same CPU. */
#define TUNNEL_NEST 3

struct tunnel_work {
	struct st_sec_tunnel t;
	struct tunnel_buf buf;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TUNNEL_NEST);
	__type(key, __u32);
	__type(value, struct tunnel_work);
} tunnel_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tunnel_nest SEC(".maps");

/* Whether a tunnel packet that failed the filters carries a packet that passes
 * them, as if it were the packet: `-H INNER` finds the underlay packets of a
 * flow. `pkt` has its L4 header read (UDP tunnels are known by port); `head`
 * is skb->head. */
static __always_inline bool inner_matches(const struct st_packet *pkt, __u16 l4_off, __u64 head)
{
	__u32 kind = tunnel_kind(pkt), zero = 0, level;
	struct tunnel_work *w;
	bool ok = false;
	__u32 *nest;

	if (!(cfg.filter_flags & ST_F_PACKET_FILTERS) || !kind || !l4_off)
		return false;
	nest = bpf_map_lookup_elem(&tunnel_nest, &zero);
	if (!nest)
		return false;
	level = *nest;
	if (level >= TUNNEL_NEST)
		return false;
	w = bpf_map_lookup_elem(&tunnel_scratch, &level);
	if (!w)
		return false;
	/* Programs nest last in, first out on one CPU: a plain counter will do. */
	*nest = level + 1;
	if (parse_tunnel(&w->t, &w->buf, head, l4_off, kind))
		ok = l3_matches(&w->t.inner) && l4_matches(&w->t.inner);
	*nest = level;
	return ok;
}

#endif
