/* Following a matched packet: its skb by address until the free (with the
 * packet identity that tells a recycled address from the same packet), and the
 * replies of a NATed packet by their tuple. */
#ifndef SKBTRACER_TRACK_BPF_H
#define SKBTRACER_TRACK_BPF_H

#include "maps.bpf.h"

/* A cheap mix of the tuple fields NAT can rewrite: only compared for change. */
static __always_inline __u64 tuple_hash(const struct st_packet *pkt)
{
	__u64 a[4];
	__u64 h = pkt->l4_proto;

	__builtin_memcpy(a, pkt->saddr, 16);
	__builtin_memcpy(&a[2], pkt->daddr, 16);
	h = h * 0x9E3779B97F4A7C15ULL ^ a[0];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[1];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[2];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[3];
	h = h * 0x9E3779B97F4A7C15ULL ^ ((__u64)pkt->sport << 32 | (__u64)pkt->dport << 16 | pkt->icmp_id);
	return h;
}

/* What stays the same for one packet all along its path, NAT included (protocol,
 * TCP flags and sequence, ICMP type and sequence, IP length and IPv4 id); 0 when
 * the event has no L4 header of its own to tell. */
static __always_inline __u32 packet_identity(const struct st_packet *pkt)
{
	__u32 h;

	if ((pkt->flags & (ST_PKT_L4 | ST_PKT_FROM_SOCK)) != ST_PKT_L4)
		return 0;
	h = pkt->l4_proto;
	h = h * 31 + pkt->tcp_flags;
	h = h * 31 + pkt->icmp_type;
	h = h * 31 + pkt->icmp_seq;
	h = h * 31 + pkt->ip_len;
	/* Per packet: the IPv4 id and the TCP sequence number tell apart two
	 * packets of one flow that reuse an address, which NAT does not rewrite. */
	h = h * 31 + pkt->ip_id;
	h = h * 31 + ((__u32)pkt->tcp_seq[0] << 24 | (__u32)pkt->tcp_seq[1] << 16 | (__u32)pkt->tcp_seq[2] << 8 | pkt->tcp_seq[3]);
	return h | 0x80000000;
}

/* The part of the identity that differs between two packets of one flow and
 * stays on one packet through NAT, GRO (which keeps the first segment's header)
 * and fragmentation: the TCP sequence number, the IPv4 id, the ICMP type and
 * sequence. The protocol goes in the top byte, so encapsulation (a new outer
 * protocol) is not mistaken for a new packet. 0 without an L4 header. */
static __always_inline __u32 packet_serial(const struct st_packet *pkt)
{
	__u32 h;

	if ((pkt->flags & (ST_PKT_L4 | ST_PKT_FROM_SOCK)) != ST_PKT_L4)
		return 0;
	h = pkt->ip_id;
	h = h * 31 + ((__u32)pkt->tcp_seq[0] << 24 | (__u32)pkt->tcp_seq[1] << 16 | (__u32)pkt->tcp_seq[2] << 8 | pkt->tcp_seq[3]);
	h = h * 31 + pkt->icmp_type;
	h = h * 31 + pkt->icmp_seq;
	return ((__u32)pkt->l4_proto << 24) | (h & 0xfffffe) | 1; /* never 0: 0 means unknown */
}

/* Whether a tracked entry belongs to another packet than the one this event
 * shows: the address and maybe even the data buffer were recycled after a free
 * no tracepoint saw (TCP's __kfree_skb, the NAPI skb cache). Global, as the
 * filters' decision (skb_event.bpf.h): verified once, not on every path. */
__noinline int tracked_is_stale(const struct st_track *t, const struct st_packet *pkt, __u64 head)
{
	__u32 serial;

	if (!t || !pkt)
		return 0;
	serial = packet_serial(pkt);

	/* Same protocol, another TCP seq / IPv4 id / ICMP seq: another packet. */
	if (t->serial && serial && (t->serial >> 24) == (serial >> 24) && t->serial != serial)
		return true;
	/* A new data buffer, unless it is the same packet copied by
	 * pskb_expand_head() (NAT on a clone): then everything else matches. */
	return t->head != head && !(t->identity && packet_identity(pkt) == t->identity);
}

/* The tuple of the packet's replies; false when it has none worth following. */
static __always_inline bool reply_flow(const struct st_packet *pkt, struct st_flow *f)
{
	if (!(pkt->flags & ST_PKT_L4))
		return false;
	__builtin_memcpy(f->saddr, pkt->daddr, 16);
	__builtin_memcpy(f->daddr, pkt->saddr, 16);
	f->l4_proto = pkt->l4_proto;
	if (pkt->l4_proto == IPPROTO_TCP || pkt->l4_proto == IPPROTO_UDP) {
		f->sport = pkt->dport;
		f->dport = pkt->sport;
	} else if (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) {
		f->sport = pkt->icmp_id;
		f->dport = pkt->icmp_id;
	} else {
		return false;
	}
	return true;
}

static __always_inline bool flow_tracked(const struct st_packet *pkt)
{
	struct st_flow f = {};

	if (!(pkt->flags & ST_PKT_L4))
		return false;
	/* The packet's own tuple, in the form reply_flow() stored. */
	__builtin_memcpy(f.saddr, pkt->saddr, 16);
	__builtin_memcpy(f.daddr, pkt->daddr, 16);
	f.l4_proto = pkt->l4_proto;
	if (pkt->l4_proto == IPPROTO_TCP || pkt->l4_proto == IPPROTO_UDP) {
		f.sport = pkt->sport;
		f.dport = pkt->dport;
	} else if (pkt->l4_proto == IPPROTO_ICMP || pkt->l4_proto == IPPROTO_ICMPV6) {
		f.sport = pkt->icmp_id;
		f.dport = pkt->icmp_id;
	} else {
		return false;
	}
	return bpf_map_lookup_elem(&tracked_flows, &f) != NULL;
}

/* A tracked skb whose tuple changed: with the same packet identity it is NAT,
 * so remember the rewritten tuple's replies, which are followed although they
 * may not match the filter. A tunnel changes the tuple and the identity with it
 * (the outer header's protocol and length): its replies are no reply flow. */
static __always_inline void note_rewrite(const struct st_packet *pkt, __u64 ts_ns, struct st_track *t, bool same_identity)
{
	struct st_flow f = {};
	__u64 h = tuple_hash(pkt);

	if (h == t->tuple_hash)
		return;
	t->tuple_hash = h;
	if (!same_identity || !(cfg.track & ST_TRACK_FLOWS) || !reply_flow(pkt, &f))
		return;
	if (bpf_map_update_elem(&tracked_flows, &f, &ts_ns, BPF_ANY) == 0) {
		__sync_fetch_and_add(&track_stats.flows, 1);
		flows_active = 1;
	}
}

/* A free ends an skb's life: its tracking entry goes (the address is reused at once). */
static __always_inline bool probe_frees(__u32 probe)
{
	return probe == ST_PROBE_KFREE_SKB || probe == ST_PROBE_CONSUME_SKB;
}

/* Tracking bookkeeping once an event is emitted: a new match is remembered by
 * address (e->hdr.skb), a tracked skb refreshes its entry (and notices NAT), a
 * free forgets it. Global, so verified once per program. */
__noinline int track_skb(__u32 probe, struct st_track *tracked, const struct st_event *e)
{
	__u64 key, head;

	if (!e)
		return 0;
	key = e->hdr.skb;
	/* A helper read: skb->head loaded directly is a pointer, which a global
	 * function may not take; only emitted events pay it. */
	head = (__u64)BPF_CORE_READ((struct sk_buff *)key, head);
	if (tracked) {
		if (probe_frees(probe)) {
			bpf_map_delete_elem(&tracked_skbs, &key);
			return 0;
		}
		tracked->last_ns = e->hdr.ts_ns;
		tracked->head = head;
		if (e->ctx.netns)
			tracked->netns = e->ctx.netns;
		/* Encapsulation and GRO change what the identity covers: follow it. */
		__u32 identity = packet_identity(&e->pkt);
		bool same_identity = !identity || identity == tracked->identity;
		if (identity) {
			tracked->identity = identity;
			tracked->serial = packet_serial(&e->pkt);
		}
		/* Only a tuple read from the packet itself tells whether NAT rewrote it. */
		if ((e->pkt.flags & (ST_PKT_L3 | ST_PKT_L4 | ST_PKT_FROM_SOCK)) == (ST_PKT_L3 | ST_PKT_L4))
			note_rewrite(&e->pkt, e->hdr.ts_ns, tracked, same_identity);
		return 0;
	}
	/* Functions follow a tracked skb but do not start tracking one: after the
	 * free tracepoint, __kfree_skb() still hands the skb to
	 * skb_release_head_state(), skb_release_data() and kfree_skbmem(), and an
	 * entry made there would outlive the skb until user space expires it. */
	if (probe_frees(probe) || probe == ST_PROBE_FUNCTION)
		return 0;
	struct st_track t = {
		.first_ns = e->hdr.ts_ns, .last_ns = e->hdr.ts_ns, .tuple_hash = tuple_hash(&e->pkt),
		.head = head, .identity = packet_identity(&e->pkt), .serial = packet_serial(&e->pkt),
		.netns = e->ctx.netns,
	};

	if (!skbs_tracked)
		skbs_tracked = 1;
	if (bpf_map_update_elem(&tracked_skbs, &key, &t, BPF_NOEXIST) == -7 /* E2BIG: full */)
		__sync_fetch_and_add(&track_stats.full, 1);
	return 0;
}

#endif
