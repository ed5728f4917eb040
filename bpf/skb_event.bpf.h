/* Building, filtering and emitting one st_event from an sk_buff.
 *
 * Shared by every probe family: a probe only finds the skb (and maybe a sock, a
 * drop reason, a location) and calls st_trace_skb(). Everything is inline so each
 * program is verified with its own constant probe id and the verifier prunes
 * whatever the read-only config switches off.
 */
#ifndef SKBTRACER_SKB_EVENT_BPF_H
#define SKBTRACER_SKB_EVENT_BPF_H

#include "common.bpf.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "filter.bpf.h"
#include "conntrack.bpf.h"
#include "emit.bpf.h"
#include "track.bpf.h"
#include "sock_owner.bpf.h"
#include "tunnel.bpf.h"
#include "pcap_filter.bpf.h"

/* Probes whose skb sits in a socket queue: skb->dev is reused there (UDP keeps
 * dev_scratch in it), so the interface comes from skb_iif and the netns from sk. */
static __always_inline bool probe_in_socket(enum st_probe_id probe)
{
	return probe == ST_PROBE_SKB_COPY_DATAGRAM_IOVEC || probe == ST_PROBE_SOCK_RCVQUEUE_FULL ||
	       probe == ST_PROBE_UDP_FAIL_QUEUE_RCV_SKB;
}

/* The namespace of an skb that has neither a usable device nor a socket: TCP
 * clears skb->dev in tcp_v4_rcv, and frees the SYN a listener answered
 * (tcp_rcv_state_process) or data its reader let go (skb_defer_free_flush)
 * without one. The tracked skb's last namespace, else its route's device's (an
 * input route to a local address has the namespace's loopback); 0 when
 * neither is known. */
static __always_inline __u32 netns_without_dev(struct sk_buff *skb, const struct st_track *tracked)
{
	struct dst_entry *dst;

	if (tracked && tracked->netns)
		return tracked->netns;
	dst = (struct dst_entry *)(skb->_skb_refdst & ~1UL); /* SKB_DST_PTRMASK */
	if (!dst)
		return 0;
	return BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
}

/* The namespace: the device's, else the socket's, else netns_without_dev(). Read
 * before the filters only when a filter or the route note needs it: the loads
 * through dev and net are a rejected packet's cost otherwise. */
static __always_inline __u32 skb_netns(struct sk_buff *skb, struct net_device *dev, struct sock *sk,
				       const struct st_track *tracked)
{
	if (dev)
		return dev->nd_net.net->ns.inum;
	sk = event_sock(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return netns_without_dev(skb, tracked);
}

/* The task the probe fired in (e.ctx.pid, e.ctx.tid): read before the filters only for
 * --pid, else once the event passed them. */
static __always_inline void note_task(struct st_event *e)
{
	__u64 pid_tgid = st_pid_tgid();

	e->ctx.pid = pid_tgid >> 32;
	e->ctx.tid = (__u32)pid_tgid;
}

/* After peek_l3(), for an untracked packet: whether the filters certainly
 * reject it, as the decision in st_trace_skb() would once everything is read:
 * the L3 filters fail and the conntrack entry does not pass them either, or
 * the ports fail and there is no conntrack entry that ct_matches() could try
 * (it also needs the L4 fields peek_l3() does not read). Never a packet that
 * may carry a tunnel: its inner packet can still pass (inner_matches()). */
static __always_inline bool packet_rejected(const struct st_packet *pkt, __u64 nfct)
{
	if (may_carry_tunnel(pkt))
		return 0;
	if (!l3_matches(pkt))
		return !ct_addrs_match(pkt, nfct);
	if ((cfg.filter_flags & ST_F_PORT_FILTERS) && peeked_ports(pkt) && !ports_match(pkt, pkt->sport, pkt->dport))
		return !(cfg.filter_flags & ST_F_CT_TUPLE) || !(nfct & ~7UL);
	return 0;
}

/* After L3 is parsed, for an untracked packet: whether it can still pass,
 * by its own L3 fields, its conntrack entry's, or a tunnel's inner packet. */
__noinline int may_pass_after_l3(const struct st_packet *pkt, __u64 nfct)
{
	if (!pkt)
		return 0;
	return l3_matches(pkt) || ct_addrs_match(pkt, nfct) || may_carry_tunnel(pkt);
}

/* The filters' verdict on a parsed event (its L4 header read, skb->head still
 * in e->hdr.skb): the packet itself, its conntrack entry (`nfct`, from
 * skb_nfct()) as the initiator addressed it, or a tunnel packet's inner
 * packet. Global, so the verifier checks it once per program: inline, it was
 * checked again on every path that reached it, the largest share of start-up. */
__noinline int passes_filters(struct st_event *e, __u64 nfct)
{
	if (!e)
		return 0;
	return (l3_matches(&e->pkt) && l4_matches(&e->pkt)) || ct_matches(&e->pkt, nfct) ||
	       inner_matches(&e->pkt, ST_EVENT_L4_OFF(e), e->hdr.skb);
}

/* Whether this probe takes part in attributing route lookups: the receive
 * tracepoints note the packet, and the functions that run between them and the
 * lookup (ip_rcv, ip_rcv_finish...) must not overwrite that note. */
static __always_inline bool notes_route(enum st_probe_id probe)
{
	return (cfg.route & ST_ROUTE_NOTE) && probe < ST_PROBE_COUNT;
}

static __always_inline int st_trace_skb(void *ctx, enum st_probe_id probe, struct sk_buff *skb, struct sock *sk,
					__u32 drop_reason, __u64 location)
{
	struct st_event e = {};
	struct net_device *dev = NULL;
	struct st_track *tracked = NULL;
	__u32 on = cfg.filter_flags;
	bool follow_flows = false;
	bool by_filter;
	bool scope_ok = true; /* pid, mark, netns and interface filters */
	bool netns_early;
	bool pcap_early; /* the expression passed before the parse */
	__u32 l4_off;

	if (!skb)
		return 0;
	/* Loaded first, before anything branches: for every pointer loaded from
	 * a trusted one the verifier looks up type names in the kernel's whole
	 * BTF, once per path that reaches the load (see event_sock()). */
	if (!probe_in_socket(probe))
		dev = skb->dev;
	barrier_var(dev);
	/* The probe's own values go into the event at once instead of staying
	 * live to the end: each would be a stack slot, and without the private
	 * stacks of Linux 6.13+ the program, parse_packet() and bpf_loop()'s
	 * callback share 512 bytes (Debian's 6.12 refused kfree_skb by 80). */
	ST_EVENT_DROP_REASON(&e) = drop_reason;
	e.location = location;
	/* Read flows_active only when flow tracking is configured, and keep clang
	 * from folding the read into an unconditional one: the verifier then knows
	 * follow_flows is false in every other trace and skips the flow paths
	 * (they doubled the load time of all programs). */
	if (cfg.track & ST_TRACK_FLOWS) {
		__u32 active = flows_active;

		barrier_var(active);
		follow_flows = active != 0;
	}
	/* A tracked skb skips every filter: NAT or a namespace change must not lose it. */
	if (cfg.track & ST_TRACK_SKB) {
		__u64 key = (__u64)skb;
		__u32 any = skbs_tracked;

		barrier_var(any); /* as flows_active: one read, not folded */
		if (any)
			tracked = bpf_map_lookup_elem(&tracked_skbs, &key);
	}
	/* With route probes, forget the previous skb before any filter can return. */
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last)
			last->skb = 0;
	}
	/* Once UDP queued an skb, skb->dev holds dev_scratch (a small integer), and
	 * consume_skb/kfree_skb still see it there. Loads through it are caught by
	 * the BPF exception table, but each fault costs about 2 us: check that it
	 * looks like a kernel address first (x86-64 and arm64 kernel space). */
	if ((__u64)dev < KERNEL_SPACE_START)
		dev = NULL;
	/* Most packets on a busy host match no filter: with address, protocol,
	 * length or port filters, a packet they reject stops here, after one read
	 * of its L3 header and before anything else is read (peek_l3()). Not with the route note (every skb is noted),
	 * nor when tracking, a NATed flow or its conntrack entry could claim it.
	 * The same test as below, on the same fields: only earlier. */
	if ((on & (ST_F_L3_FILTERS | ST_F_PORT_FILTERS)) && !notes_route(probe) && !tracked && !follow_flows) {
		/* Its read goes into the event's context section, unused until
		 * now and zeroed after: a buffer of its own was 56 bytes of a frame
		 * that, with parse_packet()'s, must fit in 512 (6.1 rounds frames
		 * to 32 bytes). */
		_Static_assert(sizeof(e.ctx) >= 8 + L3_READ, "the first look's read fits in the context section");
		barrier_var(skb); /* as before parse_packet() below */
		if (peek_l3(&e.pkt, (__u8 *)&e.ctx, (__u64)skb->head, skb_headers(skb), ethernet_dev(dev)) &&
		    packet_rejected(&e.pkt, skb_nfct(skb)))
			return 0;
		__builtin_memset(&e.ctx, 0, sizeof(e.ctx));
	}
	/* Cheapest filters first: most packets on a busy host do not match. */
	if (on & ST_F_PID)
		note_task(&e);
	if ((on & ST_F_PID) && e.ctx.pid != cfg.filter_pid) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	e.ctx.mark = skb->mark;
	if ((on & ST_F_MARK) && (e.ctx.mark & cfg.filter_mark_mask) != cfg.filter_mark) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	if (on & ST_F_OWNER_PID)
		sk = event_sock(skb, sk);
	if ((on & ST_F_OWNER_PID) && !owned_by(sk, cfg.filter_owner_pid)) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	e.ctx.ifindex = dev ? dev->ifindex : skb->skb_iif;
	netns_early = (on & ST_F_NETNS) || notes_route(probe);
	if (netns_early)
		e.ctx.netns = skb_netns(skb, dev, sk, tracked);
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last) {
			last->skb = (__u64)skb;
			last->ts_ns = bpf_ktime_get_ns();
			last->netns = e.ctx.netns;
			last->ifindex = e.ctx.ifindex;
			bool list = probe == ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY;

			last->receive = list || probe == ST_PROBE_NETIF_RECEIVE_SKB || probe == ST_PROBE_NETIF_RECEIVE_SKB_ENTRY;
			/* A list's entries are traced first, then each skb's receive: the
			 * batch lasts until another kind of event. */
			last->batch = list || (last->receive && last->batch);
			last->passed = 0;
		}
	}
	if ((on & ST_F_NETNS) && e.ctx.netns != cfg.filter_netns) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	if (dev && (on & ST_F_IFNAME)) {
		bpf_probe_read_kernel(e.ctx.ifname, sizeof(e.ctx.ifname), dev->name);
		if (!ifname_matches(e.ctx.ifname)) {
			if (!tracked)
				return 0;
			scope_ok = false;
		}
	} else if (on & ST_F_IFNAME) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}

	/* A tcpdump expression before the parse, where nothing can claim the packet
	 * once it fails (no tracking, no NATed flow, no route note): it needs no
	 * parsed field, and a rejected packet then skips the parse. Later otherwise. */
	pcap_early = (on & ST_F_PCAP) && !notes_route(probe) && !tracked && !follow_flows;
	if (pcap_early && !pcap_matches(skb, skb_headers(skb), ethernet_dev(dev), ST_PKT_L3))
		return 0;

	/* skb->head crosses into parse_packet() through the event's skb field
	 * (filled for real below): a global function takes only scalars and
	 * memory, and the verifier hands a privileged program's stored pointer
	 * back as a number after the call. Copying it with a helper instead cost
	 * 40 ns per event. */
	/* Opaque to the optimizer from here: clang has emitted skb->data's CO-RE load
	 * without its base register (`r2 = 200; r2 = *(u64 *)(r2 + 0)`, rejected by the
	 * verifier) in some programs of some builds, as if it had proved skb NULL. */
	barrier_var(skb);
	e.hdr.skb = (__u64)skb->head;
	l4_off = parse_packet(&e, skb_headers(skb), (__u64)skb->len << 32 | (__u32)(skb->data - skb->head),
			      ethernet_dev(dev));
	if (l4_off && e.pkt.l3_proto == ETH_P_IPV6)
		l4_off = parse_ipv6_ext(&e.pkt, e.hdr.skb, l4_off);
	/* skb->head stays in e.hdr.skb until the event is emitted, for the same
	 * reason: not one more stack slot. */
	if (!(e.pkt.flags & ST_PKT_L3)) {
		sk = event_sock(skb, sk);
		if (sk)
			tuple_from_sock(&e.pkt, sk);
	}
	/* Untracked packets that fail the L3 filters stop here, before L4 is read,
	 * unless a NATed flow, their conntrack entry or a tunnel's inner packet
	 * could still claim them. */
	if (!tracked && !follow_flows && !may_pass_after_l3(&e.pkt, skb_nfct(skb)))
		return 0;
	if (l4_off)
		parse_l4(&e.pkt, e.hdr.skb, l4_off);
	ST_EVENT_L4_OFF(&e) = l4_off; /* for the tunnel section */
	/* Another packet at a tracked address: forget the stale entry and let the
	 * filter decide about the new packet. */
	if (tracked && tracked_is_stale(tracked, &e.pkt, e.hdr.skb)) {
		__u64 key = (__u64)skb;

		bpf_map_delete_elem(&tracked_skbs, &key);
		tracked = NULL;
		if (!scope_ok)
			return 0;
	}
	/* Decided after L4 is read, so no flag rides through parse_l4(): carrying
	 * one doubled the verifier's work in every program. */
	by_filter = tracked || (passes_filters(&e, skb_nfct(skb)) &&
				/* The early run assumed an IP header: again when the parse found none. */
				(!(on & ST_F_PCAP) || (pcap_early && (e.pkt.flags & (ST_PKT_L3 | ST_PKT_FROM_SOCK)) == ST_PKT_L3) ||
				 pcap_matches(skb, skb_headers(skb), ethernet_dev(dev), e.pkt.flags)));
	/* A reply of a NATed tracked packet: its tuple is in tracked_flows. Only
	 * looked up once such a flow exists, so plain filtering pays nothing. */
	if (!by_filter) {
		if (!follow_flows || !flow_tracked(&e.pkt))
			return 0;
		e.hdr.match = ST_MATCH_FLOW;
	}
	if (tracked)
		e.hdr.match = ST_MATCH_SKB;

	if (dev && !(on & ST_F_IFNAME))
		bpf_probe_read_kernel(e.ctx.ifname, sizeof(e.ctx.ifname), dev->name);
	if (!netns_early)
		e.ctx.netns = skb_netns(skb, dev, sk, tracked);
	if (!(on & ST_F_PID))
		note_task(&e);
	/* Opaque again (see above): without it clang emitted a load through the
	 * shift of skb->pkt_type's bitfield read below in tp_consume_skb under
	 * -N --track (`r2 = 61; w2 = *(u32 *)(r2 + 0)`), which the verifier refused. */
	barrier_var(skb);
	read_macs(&e, skb, dev);
	e.hdr.kind = ST_RECORD_EVENT;
	e.ctx.sec.type = ST_SEC_CONTEXT;
	e.ctx.sec.size = sizeof(e.ctx);
	e.pkt_sec.type = ST_SEC_PACKET;
	e.pkt_sec.size = sizeof(struct st_sec_packet);
	e.hdr.probe = probe;
	e.hdr.cpu = bpf_get_smp_processor_id();
	e.hdr.ts_ns = bpf_ktime_get_ns();
	e.hdr.skb = (__u64)skb;
	e.location = ST_EVENT_LOCATION(ctx, e.location);
	e.ctx.skb_len = skb->len;
	e.ctx.pkt_type = BPF_CORE_READ_BITFIELD(skb, pkt_type);
	st_comm(e.ctx.comm, sizeof(e.ctx.comm));
	if (cfg.track & ST_TRACK_SKB)
		track_skb(probe, tracked, &e);
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last && last->skb == (__u64)skb) {
			__builtin_memcpy(&last->event, &e, sizeof(e));
			last->passed = 1;
		}
	}
	if (cfg.skb_dump)
		emit_skb_dump(skb, &e);
	emit(ctx, &e, probe,
	     ST_CAN_STACK && (cfg.stack_mode == ST_STACK_ALL || (cfg.stack_mode == ST_STACK_DROPS && probe == ST_PROBE_KFREE_SKB)),
	     skb, sk);
	return 0;
}

#endif
