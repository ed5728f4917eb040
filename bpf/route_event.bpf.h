/* Route lookups (skbtracer.py's --route): fib_table_lookup and fib6_table_lookup,
 * emitted as events with a route section.
 *
 * These tracepoints carry a flow, not an skb. An input lookup runs inside the
 * receive path, on the CPU that has just traced the packet's netif_receive_skb,
 * with the receiving device as the flow's input interface: that lookup is the
 * packet's, so it takes the packet's fields and skb, passes or fails the filters
 * as the packet did there, and joins its journey. Every other lookup (a socket
 * choosing its route, the kernel routing a reply or an ICMP error it builds, a
 * reverse-path check) is a flow, filtered on its own tuple.
 *
 * tp_btf for both: the classic IPv4 record leaves its gateway unwritten for a
 * connected route (stale bytes from the trace buffer), and the IPv6 one reports
 * a table without a match as EHOSTUNREACH (its null entry is an unreachable
 * route) and had no fixed-size device name before 6.0.
 */
#ifndef SKBTRACER_ROUTE_EVENT_BPF_H
#define SKBTRACER_ROUTE_EVENT_BPF_H

#include "skb_event.bpf.h"

/* What a route probe builds on its stack: the event (its flow, or the packet
 * it is attributed to) and the lookup's result. */
struct route_work {
	struct st_event e;
	struct st_route route;
};

/* How long after a packet's receive event its input lookup may come. */
#define ROUTE_ATTRIBUTE_NS 1000000ULL
#define ROUTE_NO_MATCH (-11) /* -EAGAIN: fib_table_lookup's "nothing in this table" */

static __always_inline bool route_addr_equal(const __u8 *a, const __u8 *b, int n)
{
	for (int i = 0; i < 16; i++) {
		if (i < n && a[i] != b[i])
			return false;
	}
	return true;
}

/* Whether the flow shares a (set) address with the packet `p`. */
static __always_inline bool route_shares_address(const struct st_packet *flow, const struct st_packet *p)
{
	int n = flow->l3_proto == ETH_P_IP ? 4 : 16;
	__u8 zero[16] = {};

	if (p->l3_proto != flow->l3_proto || !(p->flags & ST_PKT_L3))
		return false;
	if (route_addr_equal(flow->daddr, p->saddr, n) || route_addr_equal(flow->daddr, p->daddr, n))
		return true;
	return !route_addr_equal(flow->saddr, zero, n) &&
	       (route_addr_equal(flow->saddr, p->saddr, n) || route_addr_equal(flow->saddr, p->daddr, n));
}

/* rec->event holds the flow (family, addresses, protocol, ports) and, when the
 * program knows it, the namespace; rec->route the result. Decides whose lookup
 * it is, filters and emits. */
static __always_inline int st_trace_route(struct route_work *rec, enum st_probe_id probe)
{
	struct st_event *e = &rec->e;
	__u32 zero = 0, on = cfg.filter_flags;
	struct st_last_packet *last = bpf_map_lookup_elem(&last_packet, &zero);
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	bool fresh = last && last->skb && now - last->ts_ns < ROUTE_ATTRIBUTE_NS;
	struct st_loss *loss;

	__builtin_memcpy(rec->route.saddr, e->pkt.saddr, 16);
	__builtin_memcpy(rec->route.daddr, e->pkt.daddr, 16);
	/* An input lookup, on the device the packet was just received on. Not
	 * loopback: a packet received on lo keeps its output route (no input
	 * lookup), and output lookups carry lo's index as their input interface. */
	if ((cfg.route & ST_ROUTE_ATTRIBUTE) && fresh && last->receive && !last->batch && rec->route.iif != 1 &&
	    rec->route.iif == last->ifindex && (!e->ctx.netns || e->ctx.netns == last->netns)) {
		/* If the filters dropped the packet at this hop, they drop its lookup too. */
		if (!last->passed)
			return 0;
		if (last->event.pkt.l3_proto == e->pkt.l3_proto) {
			/* The packet's own fields: the addresses looked up stay in
			 * rec->route (DNAT or de-SNAT may have changed them). */
			__builtin_memcpy(e, &last->event, sizeof(*e));
			goto emit;
		}
	}
	if ((on & ST_F_PID) && (pid_tgid >> 32) != cfg.filter_pid)
		return 0;
	/* A flow has no skb mark, interface, length, socket or packet bytes to
	 * compare: those filters (a tcpdump expression too) never match it, as
	 * socket-level probes never match an interface filter. */
	if (on & (ST_F_MARK | ST_F_IFNAME | ST_F_IP_LEN | ST_F_OWNER_PID | ST_F_PCAP))
		return 0;
	if (!e->ctx.netns) {
		/* Unknown (an IPv4 lookup that found nothing). Softirq runs in
		 * whatever task it interrupted: a packet just handled on this CPU
		 * that shares an address with the flow (an ICMP error for it) tells
		 * better than the task; anything else takes the task's. */
		if (fresh && last->passed && route_shares_address(&e->pkt, &last->event.pkt)) {
			e->ctx.netns = last->netns;
		} else {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();

			e->ctx.netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
		}
	}
	if ((on & ST_F_NETNS) && e->ctx.netns != cfg.filter_netns)
		return 0;
	if (!l3_matches(&e->pkt) || !l4_matches(&e->pkt))
		return 0;
	e->ctx.pid = pid_tgid >> 32;
	e->ctx.tid = (__u32)pid_tgid;
	bpf_get_current_comm(e->ctx.comm, sizeof(e->ctx.comm));
emit:
	e->hdr.kind = ST_RECORD_EVENT;
	e->ctx.sec.type = ST_SEC_CONTEXT;
	e->ctx.sec.size = sizeof(e->ctx);
	e->pkt_sec.type = ST_SEC_PACKET;
	e->pkt_sec.size = sizeof(struct st_sec_packet);
	e->hdr.probe = probe;
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.ts_ns = now;
	loss = bpf_map_lookup_elem(&lost_events, &zero);
	if (!loss)
		return 0;
	void *out = reserve_record(e, ST_EVENT_HEAD + sizeof(struct st_sec_route), loss);

	if (!out)
		return 0;
	struct st_sec_route *r = out + ST_EVENT_HEAD;

	r->sec.type = ST_SEC_ROUTE;
	r->sec.size = sizeof(*r);
	r->pad = 0;
	__builtin_memcpy(&r->route, &rec->route, sizeof(rec->route));
	submit(out);
	return 0;
}

/* The flow's protocol and ports: ports only for TCP and UDP, and only when the
 * caller put them in the flow (input lookups leave protocol and ports 0). */
static __always_inline void route_flow_l4(struct st_packet *pkt, __u8 proto, __u16 sport, __u16 dport)
{
	pkt->l4_proto = proto;
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && (sport || dport)) {
		pkt->sport = sport;
		pkt->dport = dport;
		pkt->flags |= ST_PKT_L4;
	}
}

/* The chosen nexthop: device (and its namespace) and gateway. */
static __always_inline void route_nexthop(struct route_work *rec, const struct fib_nh_common *nhc)
{
	struct net_device *dev = nhc->nhc_dev;
	__u8 family = nhc->nhc_gw_family;

	if (dev) {
		bpf_probe_read_kernel(rec->route.dev, sizeof(rec->route.dev), dev->name);
		rec->e.ctx.netns = dev->nd_net.net->ns.inum;
	}
	if (family == AF_INET) {
		__be32 gw = nhc->nhc_gw.ipv4;

		__builtin_memcpy(rec->route.gateway, &gw, 4);
		rec->route.gw_family = 4;
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(rec->route.gateway, 16, &nhc->nhc_gw.ipv6);
		rec->route.gw_family = 6;
	}
}

/* The body of tp_fib_table_lookup (tracepoints.bpf.c generates the program). */
static __always_inline int route_fib_table_lookup(__u64 *ctx, enum st_probe_id probe)
{
	/* (u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err) */
	const struct flowi4 *flp = (const struct flowi4 *)ctx[1];
	const struct fib_nh_common *nhc = (const struct fib_nh_common *)ctx[2];
	struct route_work rec = {};
	struct st_event *e = &rec.e;
	__be32 saddr = flp->saddr, daddr = flp->daddr;

	/* No input interface: an address-type check (inet_addr_type), not a
	 * routing decision. Input lookups carry the device, output ones loopback. */
	rec.route.iif = flp->__fl_common.flowic_iif;
	if (!rec.route.iif)
		return 0;
	e->pkt.l3_proto = ETH_P_IP;
	e->pkt.flags = ST_PKT_L3;
	__builtin_memcpy(e->pkt.saddr, &saddr, 4);
	__builtin_memcpy(e->pkt.daddr, &daddr, 4);
	route_flow_l4(&e->pkt, flp->__fl_common.flowic_proto, bpf_ntohs(flp->uli.ports.sport), bpf_ntohs(flp->uli.ports.dport));
	rec.route.table = (__u32)ctx[0];
	rec.route.err = (__s32)ctx[3];
	rec.route.oif = flp->__fl_common.flowic_oif;
	if (nhc)
		route_nexthop(&rec, nhc);
	return st_trace_route(&rec, probe);
}

/* ip6_rt_type_to_error(): what a route of this type answers. */
static __always_inline __s32 route6_type_error(__u8 type)
{
	switch (type) {
	case 6: /* RTN_BLACKHOLE */
	case 10: /* RTN_NAT */
	case 11: /* RTN_XRESOLVE */
		return -22; /* EINVAL */
	case 7: /* RTN_UNREACHABLE */
		return -113; /* EHOSTUNREACH */
	case 8: /* RTN_PROHIBIT */
		return -13; /* EACCES */
	case 9: /* RTN_THROW */
		return ROUTE_NO_MATCH;
	default:
		return 0;
	}
}

/* The body of tp_fib6_table_lookup. */
static __always_inline int route_fib6_table_lookup(__u64 *ctx, enum st_probe_id probe)
{
	/* (const struct net *net, const struct fib6_result *res, struct fib6_table *table,
	 *  const struct flowi6 *flp) */
	const struct net *net = (const struct net *)ctx[0];
	const struct fib6_result *res = (const struct fib6_result *)ctx[1];
	const struct fib6_table *table = (const struct fib6_table *)ctx[2];
	const struct flowi6 *flp = (const struct flowi6 *)ctx[3];
	struct route_work rec = {};
	struct st_event *e = &rec.e;
	struct fib6_nh *nh = res->nh;

	e->pkt.l3_proto = ETH_P_IPV6;
	e->pkt.flags = ST_PKT_L3;
	e->ctx.netns = net->ns.inum;
	bpf_probe_read_kernel(e->pkt.saddr, 16, &flp->saddr);
	bpf_probe_read_kernel(e->pkt.daddr, 16, &flp->daddr);
	route_flow_l4(&e->pkt, flp->__fl_common.flowic_proto, bpf_ntohs(flp->uli.ports.sport), bpf_ntohs(flp->uli.ports.dport));
	rec.route.table = table ? table->tb6_id : 0;
	rec.route.iif = flp->__fl_common.flowic_iif;
	rec.route.oif = flp->__fl_common.flowic_oif;
	/* Nothing matched in this table: the lookup answers with the namespace's
	 * null entry (an unreachable route). Said as IPv4 says it. */
	if (res->f6i == net->ipv6.fib6_null_entry) {
		rec.route.err = ROUTE_NO_MATCH;
	} else {
		rec.route.err = route6_type_error(res->fib6_type);
		if (nh)
			route_nexthop(&rec, &nh->nh_common);
	}
	return st_trace_route(&rec, probe);
}

#endif
