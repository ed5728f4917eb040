/* The user's filters on a parsed event (addresses, ports, protocols, length,
 * ICMP id, TCP flags, interface name), each pruned by the verifier when the
 * read-only config switches it off. The same filters answer for a conntrack
 * entry's tuple (conntrack.bpf.h). */
#ifndef SKBTRACER_FILTER_BPF_H
#define SKBTRACER_FILTER_BPF_H

#include "maps.bpf.h"

/* A word at a time, from addresses 4-byte aligned in every caller (st_packet
 * and st_ct_tuple keep them so): byte by byte, the 16 compares of each address
 * were the largest share of the instructions the verifier walks, once per
 * address filter on each path. cfg is volatile (memcmp() would drop that). */
static __always_inline bool addr_equal(const __u8 *a, const volatile struct st_addr_filter *f)
{
	const __u32 *w = __builtin_assume_aligned(a, 4);
	int words = f->family == 4 ? 1 : 4;

	for (int i = 0; i < 4; i++) {
		if (i < words && w[i] != *(const volatile __u32 *)&f->addr[4 * i])
			return false;
	}
	return true;
}

static __always_inline bool addr_family_matches(const struct st_packet *pkt, const volatile struct st_addr_filter *f)
{
	if (!(pkt->flags & ST_PKT_L3))
		return false;
	if (f->family == 4)
		return pkt->l3_proto == ETH_P_IP || pkt->l3_proto == ETH_P_ARP;
	return pkt->l3_proto == ETH_P_IPV6;
}

/* The address filters on one tuple: the packet's own, or its conntrack entry's
 * (ct_tuple_matches). The family is the packet's: NAT keeps it. */
static __always_inline bool addrs_match(const struct st_packet *pkt, const __u8 *saddr, const __u8 *daddr)
{
	__u32 on = cfg.filter_flags;

	if (on & ST_F_ADDR) {
		if (!addr_family_matches(pkt, &cfg.filter_addr))
			return false;
		if (!addr_equal(saddr, &cfg.filter_addr) && !addr_equal(daddr, &cfg.filter_addr))
			return false;
	}
	if (on & ST_F_SADDR) {
		if (!addr_family_matches(pkt, &cfg.filter_saddr) || !addr_equal(saddr, &cfg.filter_saddr))
			return false;
	}
	if (on & ST_F_DADDR) {
		if (!addr_family_matches(pkt, &cfg.filter_daddr) || !addr_equal(daddr, &cfg.filter_daddr))
			return false;
	}
	return true;
}

/* The port filters on one tuple (as addrs_match); the protocol is the packet's. */
static __always_inline bool ports_match(const struct st_packet *pkt, __u16 sport, __u16 dport)
{
	__u32 on = cfg.filter_flags;

	if (on & (ST_F_PORT | ST_F_SPORT | ST_F_DPORT)) {
		if (!(pkt->flags & ST_PKT_L4) || (pkt->l4_proto != IPPROTO_TCP && pkt->l4_proto != IPPROTO_UDP))
			return false;
		if ((on & ST_F_PORT) && sport != cfg.filter_port && dport != cfg.filter_port)
			return false;
		if ((on & ST_F_SPORT) && sport != cfg.filter_sport)
			return false;
		if ((on & ST_F_DPORT) && dport != cfg.filter_dport)
			return false;
	}
	return true;
}

/* The L3 filters NAT does not rewrite: protocols and the IP length. */
static __always_inline bool l3_kept_matches(const struct st_packet *pkt)
{
	__u32 on = cfg.filter_flags;

	if ((on & ST_F_L3_PROTO) && pkt->l3_proto != cfg.filter_l3_proto)
		return false;
	if ((on & ST_F_L4_PROTO) && (!(pkt->flags & ST_PKT_L3) || pkt->l4_proto != cfg.filter_l4_proto))
		return false;
	/* The IP length as printed (IP_LEN): IPv4 and IPv6 headers only, not a
	 * tuple taken from the socket (that event has no packet length). */
	if (on & ST_F_IP_LEN) {
		if ((pkt->flags & (ST_PKT_L3 | ST_PKT_FROM_SOCK)) != ST_PKT_L3 ||
		    (pkt->l3_proto != ETH_P_IP && pkt->l3_proto != ETH_P_IPV6))
			return false;
		if (pkt->ip_len < cfg.filter_ip_len_min || pkt->ip_len > cfg.filter_ip_len_max)
			return false;
	}
	return true;
}

/* The L4 filters NAT does not rewrite: ICMP id, TCP flags. */
static __always_inline bool l4_kept_matches(const struct st_packet *pkt)
{
	__u32 on = cfg.filter_flags;

	if (on & ST_F_ICMP_ID) {
		if (!(pkt->flags & ST_PKT_L4) || (pkt->l4_proto != IPPROTO_ICMP && pkt->l4_proto != IPPROTO_ICMPV6))
			return false;
		if (pkt->icmp_id != cfg.filter_icmp_id)
			return false;
	}
	if (on & ST_F_TCP_FLAGS) {
		if (!(pkt->flags & ST_PKT_L4) || pkt->l4_proto != IPPROTO_TCP)
			return false;
		if ((pkt->tcp_flags & cfg.filter_tcp_flags) != cfg.filter_tcp_flags)
			return false;
	}
	return true;
}

/* The filters l3_matches() applies: without any, it passes every packet. */
#define ST_F_L3_FILTERS (ST_F_L3_PROTO | ST_F_L4_PROTO | ST_F_IP_LEN | ST_F_ADDR | ST_F_SADDR | ST_F_DADDR)

/* The filters ports_match() applies. */
#define ST_F_PORT_FILTERS (ST_F_PORT | ST_F_SPORT | ST_F_DPORT)

/* Every filter on a packet's headers (l3_matches() and l4_matches()): the ones a
 * tunnel packet's inner packet can pass in its place (tunnel.bpf.h). */
#define ST_F_PACKET_FILTERS (ST_F_L3_FILTERS | ST_F_PORT_FILTERS | ST_F_ICMP_ID | ST_F_TCP_FLAGS)

/* L3 filters: protocols, addresses, IP length. */
static __always_inline bool l3_matches(const struct st_packet *pkt)
{
	return l3_kept_matches(pkt) && addrs_match(pkt, pkt->saddr, pkt->daddr);
}

/* L4 filters: ports, ICMP id, TCP flags. */
static __always_inline bool l4_matches(const struct st_packet *pkt)
{
	return ports_match(pkt, pkt->sport, pkt->dport) && l4_kept_matches(pkt);
}

static __always_inline bool ifname_matches(const char *name)
{
	for (int i = 0; i < ST_IFNAMSIZ; i++) {
		if (name[i] != cfg.filter_ifname[i])
			return false;
		if (name[i] == 0)
			break;
	}
	return true;
}

#endif
