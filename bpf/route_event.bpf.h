/* Route lookups (skbtracer.py's --route): the fib and fib6 tracepoints, emitted
 * as st_route_event records.
 *
 * These tracepoints carry a flow, not an skb. An input lookup runs in the middle
 * of receiving a packet, on the CPU that just emitted that packet's event
 * (netif_receive_skb), so a lookup for the same addresses right after it is
 * that packet's: the record takes its skb and fields and joins its journey.
 * Other lookups (a socket choosing its route, a reply the kernel builds) are
 * filtered on their flow.
 */
#ifndef SKBTRACER_ROUTE_EVENT_BPF_H
#define SKBTRACER_ROUTE_EVENT_BPF_H

#include "skb_event.bpf.h"

/* How long after a packet's event a lookup may still be that packet's. */
#define ROUTE_ATTRIBUTE_NS 1000000ULL

static __always_inline bool route_addr_equal(const __u8 *a, const __u8 *b, int n)
{
	for (int i = 0; i < 16; i++) {
		if (i < n && a[i] != b[i])
			return false;
	}
	return true;
}

static __always_inline bool route_addr_set(const __u8 *a, int n)
{
	for (int i = 0; i < 16; i++) {
		if (i < n && a[i])
			return true;
	}
	return false;
}

/* rec->event holds the flow (family, addresses, protocol, ports), rec->route the
 * result. Decides whose lookup it is, filters and emits. */
static __always_inline int st_trace_route(struct st_route_event *rec, enum st_probe_id probe)
{
	struct st_event *e = &rec->event;
	__u32 zero = 0, on = cfg.filter_flags;
	int n = e->l3_proto == ETH_P_IP ? 4 : 16;
	struct st_event *last = bpf_map_lookup_elem(&last_packet, &zero);
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	__u32 handling_netns = 0;
	struct st_loss *loss;

	if (last && last->skb && now - last->ts_ns < ROUTE_ATTRIBUTE_NS && last->l3_proto == e->l3_proto &&
	    last->probe != ST_PROBE_KFREE_SKB && last->probe != ST_PROBE_CONSUME_SKB) {
		if (route_addr_equal(last->saddr, e->saddr, n) && route_addr_equal(last->daddr, e->daddr, n)) {
			/* The packet's own lookup: it passed the filters (or is tracked). */
			__builtin_memcpy(e, last, sizeof(*e));
			e->flags &= ~(ST_EVF_DROP | ST_EVF_LOCATION | ST_EVF_STACK);
			e->drop_reason = 0;
			e->location = 0;
			goto emit;
		}
		/* A lookup the kernel makes while handling the packet (an ICMP echo
		 * reply or error, a TCP RST): it shares an address with the packet
		 * and runs in its namespace, whatever task softirq interrupted. */
		if (route_addr_equal(last->saddr, e->daddr, n) || route_addr_equal(last->daddr, e->daddr, n) ||
		    (route_addr_set(e->saddr, n) &&
		     (route_addr_equal(last->saddr, e->saddr, n) || route_addr_equal(last->daddr, e->saddr, n))))
			handling_netns = last->netns;
	}
	if ((on & ST_F_PID) && (pid_tgid >> 32) != cfg.filter_pid)
		return 0;
	/* A flow has no skb mark, interface or length to compare: those filters
	 * never match it, as socket-level probes never match an interface filter. */
	if (on & (ST_F_MARK | ST_F_IFNAME | ST_F_IP_LEN))
		return 0;
	if (handling_netns) {
		e->netns = handling_netns;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		e->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	}
	if ((on & ST_F_NETNS) && e->netns != cfg.filter_netns)
		return 0;
	if (!l3_matches(e) || !l4_matches(e))
		return 0;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
emit:
	e->kind = ST_RECORD_EVENT;
	e->size = sizeof(*rec);
	e->probe = probe;
	e->cpu = bpf_get_smp_processor_id();
	e->ts_ns = now;
	loss = bpf_map_lookup_elem(&lost_events, &zero);
	if (!loss)
		return 0;
	struct st_route_event *out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);

	if (!out) {
		count_loss(loss);
		return 0;
	}
	e->lost_before = __sync_lock_test_and_set(&loss->pending, 0);
	__builtin_memcpy(out, rec, sizeof(*rec));
	submit(out);
	return 0;
}

/* The flow's protocol and ports: ports only for TCP and UDP, and only when the
 * caller put them in the flow (input lookups leave protocol and ports 0). */
static __always_inline void route_flow_l4(struct st_event *e, __u8 proto, __u16 sport, __u16 dport)
{
	e->l4_proto = proto;
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && (sport || dport)) {
		e->sport = sport;
		e->dport = dport;
		e->flags |= ST_EVF_L4;
	}
}

/* tp_btf, not the classic tracepoint: its record leaves the gateway fields
 * unwritten when the nexthop has none (a connected route), so they would hold
 * whatever the buffer held before. The nexthop's own gw_family says. */
SEC("tp_btf/fib_table_lookup")
int tp_fib_table_lookup(__u64 *ctx)
{
	/* (u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err) */
	const struct flowi4 *flp = (const struct flowi4 *)ctx[1];
	const struct fib_nh_common *nhc = (const struct fib_nh_common *)ctx[2];
	struct st_route_event rec = {};
	struct st_event *e = &rec.event;
	__be32 saddr = flp->saddr, daddr = flp->daddr;

	e->l3_proto = ETH_P_IP;
	e->flags = ST_EVF_L3;
	__builtin_memcpy(e->saddr, &saddr, 4);
	__builtin_memcpy(e->daddr, &daddr, 4);
	route_flow_l4(e, flp->__fl_common.flowic_proto, bpf_ntohs(flp->uli.ports.sport), bpf_ntohs(flp->uli.ports.dport));
	rec.route.table = (__u32)ctx[0];
	rec.route.err = (__s32)ctx[3];
	rec.route.iif = flp->__fl_common.flowic_iif;
	rec.route.oif = flp->__fl_common.flowic_oif;
	if (nhc) {
		struct net_device *dev = nhc->nhc_dev;
		__u8 family = nhc->nhc_gw_family;

		if (dev)
			bpf_probe_read_kernel(rec.route.dev, sizeof(rec.route.dev), dev->name);
		if (family == AF_INET) {
			__be32 gw = nhc->nhc_gw.ipv4;

			__builtin_memcpy(rec.route.gateway, &gw, 4);
			rec.route.gw_family = 4;
		} else if (family == AF_INET6) {
			/* An IPv4 route via an IPv6 nexthop (RFC 5549). */
			bpf_probe_read_kernel(rec.route.gateway, 16, &nhc->nhc_gw.ipv6);
			rec.route.gw_family = 6;
		}
	}
	return st_trace_route(&rec, ST_PROBE_FIB_TABLE_LOOKUP);
}

SEC("tracepoint/fib6/fib6_table_lookup")
int tp_fib6_table_lookup(struct trace_event_raw_fib6_table_lookup *ctx)
{
	struct st_route_event rec = {};
	struct st_event *e = &rec.event;

	e->l3_proto = ETH_P_IPV6;
	e->flags = ST_EVF_L3;
	bpf_probe_read_kernel(e->saddr, 16, ctx->src);
	bpf_probe_read_kernel(e->daddr, 16, ctx->dst);
	route_flow_l4(e, ctx->proto, ctx->sport, ctx->dport);
	rec.route.table = ctx->tb_id;
	rec.route.err = ctx->err;
	rec.route.iif = ctx->iif;
	rec.route.oif = ctx->oif;
	bpf_probe_read_kernel(rec.route.dev, sizeof(rec.route.dev), ctx->name);
	bpf_probe_read_kernel(rec.route.gateway, 16, ctx->gw);
	rec.route.gw_family = route_addr_set(rec.route.gateway, 16) ? 6 : 0;
	return st_trace_route(&rec, ST_PROBE_FIB6_TABLE_LOOKUP);
}

#endif
