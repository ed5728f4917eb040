/* Reading an skb's headers into an st_packet: L2, L3 (IPv4, IPv6 with its
 * extension headers, ARP), L4; or the tuple from the socket when the skb has
 * no headers yet. */
#ifndef SKBTRACER_PARSE_BPF_H
#define SKBTRACER_PARSE_BPF_H

#include "common.bpf.h"

/* Parsing is done in global (noinline, not static) functions: the verifier
 * checks each once, on its own, whatever the state of its callers. Inlined,
 * parsing was verified again for every path that reaches it (each filter and
 * tracking outcome); making it global cut the load time of the default probes
 * from about 1 s to 0.35 s, and with tracking from 1.9 s to 0.5 s. Only scalars
 * and the packet cross the call, so no argument tag (kernel 6.8+) is needed:
 * the header offsets travel packed into numbers. */

/* Reads packet bytes at head + off. Packet memory is not BTF-typed, so direct
 * loads are not allowed here: one helper call per header. */
static __always_inline int read_packet(void *dst, __u32 size, __u64 head, __u32 off)
{
	return bpf_probe_read_kernel(dst, size, (const void *)(head + off));
}

/* The L4 header bytes a protocol's fields need (TCP up to its flags): 0 for a
 * protocol whose header is not read. */
static __always_inline __u32 l4_bytes(__u8 l4_proto)
{
	switch (l4_proto) {
	case IPPROTO_TCP:
		return 14;
	case IPPROTO_UDP:
		return 4;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8;
	default:
		return 0;
	}
}

/* Fills the L4 fields from l4_bytes(pkt->l4_proto) bytes of header. */
static __always_inline void decode_l4(struct st_packet *pkt, const __u8 *l4)
{
	switch (pkt->l4_proto) {
	case IPPROTO_TCP:
		pkt->sport = (l4[0] << 8) | l4[1];
		pkt->dport = (l4[2] << 8) | l4[3];
		__builtin_memcpy(pkt->tcp_seq, &l4[4], 4);
		pkt->tcp_flags = l4[13];
		break;
	case IPPROTO_UDP:
		pkt->sport = (l4[0] << 8) | l4[1];
		pkt->dport = (l4[2] << 8) | l4[3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		pkt->icmp_type = l4[0];
		pkt->icmp_code = l4[1];
		pkt->icmp_id = (l4[4] << 8) | l4[5];
		pkt->icmp_seq = (l4[6] << 8) | l4[7];
		break;
	default:
		return;
	}
	pkt->flags |= ST_PKT_L4;
}

__noinline int parse_l4(struct st_packet *pkt, __u64 head, __u32 off)
{
	__u8 l4[14];
	__u32 n;

	if (!pkt)
		return 0;
	n = l4_bytes(pkt->l4_proto);
	/* One constant-size read per protocol: the helper wants a bounded size. */
	if (n == 14 && read_packet(l4, 14, head, off))
		return 0;
	if (n == 8 && read_packet(l4, 8, head, off))
		return 0;
	if (n == 4 && read_packet(l4, 4, head, off))
		return 0;
	if (n)
		decode_l4(pkt, l4);
	return 0;
}

/* The parse_* functions fill the L3 fields and return the offset of the L4
 * header, or 0 when there is none to read: L4 is parsed only after the L3
 * filters passed, so packets that do not match cost one read less. */
static __always_inline __u32 parse_ipv4(struct st_packet *pkt, const __u8 *ip, __u32 off)
{
	if ((ip[0] >> 4) != 4)
		return 0;
	pkt->l3_proto = ETH_P_IP;
	pkt->ip_len = (ip[2] << 8) | ip[3]; /* 0 for BIG TCP: fixed up from skb->len */
	pkt->ip_id = (ip[4] << 8) | ip[5];
	pkt->ttl = ip[8];
	pkt->l4_proto = ip[9];
	__builtin_memcpy(pkt->saddr, &ip[12], 4);
	__builtin_memcpy(pkt->daddr, &ip[16], 4);
	pkt->flags |= ST_PKT_L3;
	/* Only the first fragment carries the L4 header. */
	if ((((ip[6] << 8) | ip[7]) & 0x1fff) != 0)
		return 0;
	/* A UDP destination port already read with the IP header (no options):
	 * enough to know a tunnel packet before L4 is read for real (tunnel.bpf.h). */
	if ((ip[0] & 0x0f) == 5 && ip[9] == IPPROTO_UDP)
		pkt->dport = (ip[22] << 8) | ip[23];
	return off + (ip[0] & 0x0f) * 4;
}

/* State of the IPv6 extension-header walk, passed to bpf_loop(). */
struct ipv6_walk {
	__u64 head;
	__u32 off;
	__u8 next;
	__u8 failed; /* a header could not be read */
	__u8 no_l4;  /* a non-first fragment: no transport header here */
};

/* One extension header per call. A bpf_loop() callback rather than an unrolled
 * loop: the verifier then checks one step instead of every path through six,
 * which halved the load time of all programs. Returns 1 to stop. */
static long ipv6_ext_step(__u32 index, void *ctx)
{
	struct ipv6_walk *w = ctx;
	__u8 ext[4];

	switch (w->next) {
	case 0:  /* hop-by-hop */
	case 43: /* routing */
	case 60: /* destination options */
		if (read_packet(ext, 2, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += (ext[1] + 1) * 8;
		return 0;
	case 44: /* fragment: only the first fragment carries L4 */
		if (read_packet(ext, 4, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += 8;
		if ((((ext[2] << 8) | ext[3]) & 0xfff8) != 0) {
			w->no_l4 = 1;
			return 1;
		}
		return 0;
	case 51: /* authentication header: length in 4-byte units */
		if (read_packet(ext, 2, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += (ext[1] + 2) * 4;
		return 0;
	default:
		return 1; /* a transport (or unknown) header: done */
	}
	w->failed = 1;
	return 1;
}

/* Returns the offset after the fixed header, with the next header in l4_proto:
 * the caller walks extension headers (parse_ipv6_ext) before trusting either. */
static __always_inline __u32 parse_ipv6(struct st_packet *pkt, const __u8 *ip, __u32 off)
{
	if ((ip[0] >> 4) != 6)
		return 0;
	pkt->l3_proto = ETH_P_IPV6;
	/* payload_len 0: a jumbo/BIG TCP packet, fixed up from skb->len */
	pkt->ip_len = ((ip[4] << 8) | ip[5]) ? ((ip[4] << 8) | ip[5]) + 40 : 0;
	pkt->ttl = ip[7];
	__builtin_memcpy(pkt->saddr, &ip[8], 16);
	__builtin_memcpy(pkt->daddr, &ip[24], 16);
	pkt->flags |= ST_PKT_L3;
	pkt->l4_proto = ip[6];
	return off + 40;
}

/* Walks IPv6 extension headers from off, where header pkt->l4_proto starts; sets
 * the transport protocol and returns its offset, or 0 when there is none to
 * read. A function of its own, called by the program itself, not from
 * parse_packet(): bpf_loop()'s callback is a frame too, and the program's,
 * parse_packet()'s and the callback's stacks together must fit in 512 bytes. */
__noinline __u32 parse_ipv6_ext(struct st_packet *pkt, __u64 head, __u32 off)
{
	struct ipv6_walk w = { .head = head, .off = off };

	if (!pkt)
		return 0;
	w.next = pkt->l4_proto;
	bpf_loop(IPV6_EXT_HEADERS_MAX, ipv6_ext_step, &w, 0);
	if (w.failed) {
		pkt->l4_proto = 0;
		return 0;
	}
	pkt->l4_proto = w.next;
	return w.no_l4 ? 0 : w.off;
}

static __always_inline void parse_arp(struct st_packet *pkt, const __u8 *arp)
{
	/* Ethernet/IPv4 ARP only: sender and target protocol addresses. */
	if (arp[4] != 6 || arp[5] != 4)
		return;
	pkt->l3_proto = ETH_P_ARP;
	pkt->icmp_type = arp[7]; /* ARP opcode (1 request, 2 reply) */
	__builtin_memcpy(pkt->saddr, &arp[14], 4);
	__builtin_memcpy(pkt->daddr, &arp[24], 4);
	pkt->flags |= ST_PKT_L3;
}

/* Where L3 starts. The network header is not reliable on every probe: on receive
 * before __netif_receive_skb_core it may not be reset yet, and on the local output
 * path the MAC header is unset until dev_queue_xmit. So: trust a set MAC header on
 * Ethernet-like devices, else the network header, else there are no headers yet. */
static __always_inline bool uses_mac_header(__u16 mac, __u32 ethernet)
{
	return mac != MAC_HEADER_UNSET && ethernet;
}

/* skb->mac_header << 32 | skb->network_header << 16 | skb->protocol (network
 * order): the header offsets cross into parse_packet() as one number. */
static __always_inline __u64 skb_headers(struct sk_buff *skb)
{
	/* Opaque to the optimizer (see st_trace_skb()): clang has emitted these CO-RE
	 * loads without their base register, as if skb were NULL, in some programs. */
	barrier_var(skb);
	return (__u64)skb->mac_header << 32 | (__u64)skb->network_header << 16 | skb->protocol;
}

/* An offloaded VLAN tag (skb->vlan_tci: the driver or the VLAN device keeps it
 * outside the packet's bytes) as the 4 bytes a capture shows after the MAC
 * addresses, TPID and TCI in network order, as libpcap puts it back for
 * tcpdump. False when the skb has none. Before Linux 6.2 a bit said whether a
 * tag is there (`present`); since, a tag is there when vlan_proto and vlan_tci
 * are not both 0. */
static __always_inline bool vlan_tag_bytes(bool present, __be16 proto, __u16 tci, __u8 tag[4])
{
	__u16 tpid = bpf_ntohs(proto);

	if (!present || (!tpid && !tci))
		return false;
	tag[0] = tpid >> 8;
	tag[1] = tpid;
	tag[2] = tci >> 8;
	tag[3] = tci;
	return true;
}

#define VLAN_PRESENT_BIT_EXISTS bpf_core_field_exists(struct sk_buff___vlan_present, vlan_present)

/* vlan_tag_bytes() with helper reads (see fill_payload()). */
static __always_inline bool skb_vlan_tag(struct sk_buff *skb, __u8 tag[4])
{
	bool present = !VLAN_PRESENT_BIT_EXISTS ||
		       BPF_CORE_READ_BITFIELD_PROBED((struct sk_buff___vlan_present *)skb, vlan_present);

	return vlan_tag_bytes(present, BPF_CORE_READ(skb, vlan_proto), BPF_CORE_READ(skb, vlan_tci), tag);
}

/* vlan_tag_bytes() with direct loads, from a program's own skb pointer. */
static __always_inline bool skb_vlan_tag_loaded(struct sk_buff *skb, __u8 tag[4])
{
	bool present = !VLAN_PRESENT_BIT_EXISTS ||
		       BPF_CORE_READ_BITFIELD((struct sk_buff___vlan_present *)skb, vlan_present);

	return vlan_tag_bytes(present, skb->vlan_proto, skb->vlan_tci, tag);
}

/* Whether a set MAC header is an Ethernet header (uses_mac_header()). */
static __always_inline __u32 ethernet_dev(struct net_device *dev)
{
	return dev && dev->hard_header_len == ETH_HLEN;
}

/* Reads the first L3_READ bytes of L3 to frame + 8 (frame: 8 + L3_READ bytes,
 * 8-aligned), with one helper call: the EtherType comes in the same read (to
 * frame + 6), and L3 lands on an 8-byte boundary, so addresses are copied a
 * word at a time (byte copies spilled registers until parse_packet()'s frame
 * took 136 bytes, too many beside the program's on 6.1, where the two must fit
 * in 512, frames rounded up to 32). Sets *proto (host order; found by the IP
 * version when the skb does not say yet) and returns L3's offset, or 0 when
 * there are no headers or a read failed. */
static __always_inline __u32 read_l3(__u8 *frame, __u64 head, __u64 headers, __u32 ethernet, __u16 *proto)
{
	__u16 mac = headers >> 32, nh = headers >> 16;
	const __u8 *l3 = frame + 8;
	__u32 l3_off;

	*proto = bpf_ntohs((__u16)headers);
	if (uses_mac_header(mac, ethernet)) {
		if (read_packet(frame + 6, 2 + L3_READ, head, mac + 12))
			return 0;
		*proto = (frame[6] << 8) | frame[7];
		l3_off = mac + ETH_HLEN;
		if (*proto == ETH_P_8021Q || *proto == ETH_P_8021AD) {
			/* The tag's first two bytes are where L3 would be; L3 is 4 bytes later. */
			*proto = (l3[2] << 8) | l3[3];
			l3_off += 4;
			if (read_packet(frame + 8, L3_READ, head, l3_off))
				return 0;
		}
	} else if (nh != 0) {
		l3_off = nh;
		if (read_packet(frame + 8, L3_READ, head, l3_off))
			return 0;
	} else {
		return 0; /* no headers built yet (e.g. an skb still in a TCP write queue) */
	}
	if (*proto == 0) {
		/* The local output path sets skb->protocol late: sniff the version. */
		*proto = (l3[0] >> 4) == 4 ? ETH_P_IP : (l3[0] >> 4) == 6 ? ETH_P_IPV6 : 0;
	}
	return l3_off;
}

/* Finds the L3 header and fills the L3 fields; the MAC addresses are read only
 * once the event passed the filters (read_macs()). Returns the L4 offset as
 * parse_ipv4()/parse_ipv6() do. lengths: skb->len << 32 | skb->data - skb->head. */
__noinline int parse_packet(struct st_event *e, __u64 headers, __u64 lengths, __u32 ethernet)
{
	__u8 frame[8 + L3_READ] __attribute__((aligned(8)));
	const __u8 *l3 = frame + 8;
	__u32 l3_off;
	struct st_packet *pkt;
	__u16 proto;

	if (!e)
		return 0;
	pkt = &e->pkt;
	/* skb->head, passed by the caller in the header's skb field (kept for
	 * it): as an argument it is a pointer, which a global function may not take. */
	l3_off = read_l3(frame, e->hdr.skb, headers, ethernet, &proto);
	if (!l3_off)
		return 0;
	pkt->l3_proto = proto;
	if (proto == ETH_P_IP || proto == ETH_P_IPV6) {
		__u32 l4_off = proto == ETH_P_IP ? parse_ipv4(pkt, l3, l3_off) : parse_ipv6(pkt, l3, l3_off);

		/* GSO packets over 64 KiB (BIG TCP) carry a length of 0, and the
		 * 16-bit field saturates: count the bytes from L3 to the end instead. */
		if (pkt->ip_len == 0 && (pkt->flags & ST_PKT_L3)) {
			__s64 bytes = (__s64)(lengths >> 32) - ((__s64)l3_off - (__s64)(__u32)lengths);

			pkt->ip_len = bytes > 0xffff ? 0xffff : bytes > 0 ? bytes : 0;
		}
		return l4_off;
	}
	if (proto == ETH_P_ARP)
		parse_arp(pkt, l3);
	return 0;
}

/* The L3 fields of an IPv4 or IPv6 packet, filled as parse_packet() fills them
 * (the same read, the same parse), inline in the program: with this kernel's
 * return thunks (SRSO) a call and its return cost about as much as the helper
 * call, and a rejected packet pays only this read. False when it cannot tell:
 * no headers, another protocol, IPv6 extension headers, a BIG TCP length;
 * parse_packet() then decides. `frame`: 8 + L3_READ bytes, 8-aligned, lent by
 * the caller (see st_trace_skb()). */
static __always_inline bool peek_l3(struct st_packet *pkt, __u8 *frame, __u64 head, __u64 headers, __u32 ethernet)
{
	__u32 l3_off, l4_off = 0;
	__u16 proto;

	l3_off = read_l3(frame, head, headers, ethernet, &proto);
	if (!l3_off)
		return false;
	if (proto == ETH_P_IP) {
		l4_off = parse_ipv4(pkt, frame + 8, l3_off);
	} else if (proto == ETH_P_IPV6) {
		l4_off = parse_ipv6(pkt, frame + 8, l3_off);
		/* l4_proto is final only when no extension header follows
		 * (parse_ipv6_ext() walks them): a transport protocol. */
		if (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP && pkt->l4_proto != IPPROTO_ICMPV6)
			return false;
	}
	if (!(pkt->flags & ST_PKT_L3) || pkt->ip_len == 0)
		return false;
	/* TCP or UDP ports in the same read, as parse_l4() takes them: after IPv4
	 * without options or the IPv6 fixed header, constant offsets in the frame. */
	if (l4_off && (pkt->l4_proto == IPPROTO_TCP || pkt->l4_proto == IPPROTO_UDP)) {
		const __u8 *l4 = proto == ETH_P_IPV6 ? frame + 8 + 40 : (frame[8] & 0x0f) == 5 ? frame + 8 + 20 : NULL;

		if (l4) {
			pkt->sport = (l4[0] << 8) | l4[1];
			pkt->dport = (l4[2] << 8) | l4[3];
			pkt->flags |= ST_PKT_L4;
		}
	}
	return true;
}

/* After peek_l3(): whether the port filters can be answered, i.e. the ports were
 * read, or the packet is certainly neither TCP nor UDP. */
static __always_inline bool peeked_ports(const struct st_packet *pkt)
{
	return (pkt->flags & ST_PKT_L4) || (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP);
}

/* The MAC addresses, for an event that passed the filters: a read of its own,
 * so that a rejected packet's one read (parse_packet()) carries only the bytes
 * the filters need. Where parse_packet() took L3 after the MAC header. */
static __always_inline void read_macs(struct st_event *e, struct sk_buff *skb, struct net_device *dev)
{
	_Static_assert(__builtin_offsetof(struct st_packet, smac) == __builtin_offsetof(struct st_packet, dmac) + 6,
		       "one read fills dmac and smac");

	if (!uses_mac_header(skb->mac_header, ethernet_dev(dev)))
		return;
	if (!read_packet(e->pkt.dmac, 12, (__u64)skb->head, skb->mac_header))
		e->pkt.flags |= ST_PKT_MAC;
}

/* When the skb has no headers yet, the owning socket still knows the flow.
 * Helper reads only (event_sock() says why); few events take this path. */
static __always_inline void tuple_from_sock(struct st_packet *pkt, struct sock *sk)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);

	/* An AF_INET6 socket talking to an IPv4 peer (v4-mapped) sends IPv4:
	 * report it as IPv4 so IPv4 filters match its retransmits too. */
	if (family == AF_INET6) {
		struct in6_addr d6;

		BPF_CORE_READ_INTO(&d6, sk, __sk_common.skc_v6_daddr);
		if (d6.s6_addr[0] == 0 && d6.s6_addr[1] == 0 && d6.s6_addr[2] == 0 && d6.s6_addr[3] == 0 &&
		    d6.s6_addr[4] == 0 && d6.s6_addr[5] == 0 && d6.s6_addr[6] == 0 && d6.s6_addr[7] == 0 &&
		    d6.s6_addr[8] == 0 && d6.s6_addr[9] == 0 && d6.s6_addr[10] == 0xff && d6.s6_addr[11] == 0xff)
			family = AF_INET;
	}
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)pkt->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)pkt->daddr, sk, __sk_common.skc_daddr);
		pkt->l3_proto = ETH_P_IP;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&pkt->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&pkt->daddr, sk, __sk_common.skc_v6_daddr);
		pkt->l3_proto = ETH_P_IPV6;
	} else {
		return;
	}
	pkt->l4_proto = BPF_CORE_READ(sk, sk_protocol);
	pkt->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	pkt->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	pkt->flags |= ST_PKT_L3 | ST_PKT_L4 | ST_PKT_FROM_SOCK;
}

#endif
