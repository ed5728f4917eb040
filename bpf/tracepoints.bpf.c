// SPDX-License-Identifier: GPL-2.0
/* The tracepoint backend: one tp_btf program per tracepoint that carries an skb.
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
	__u32 reason = 0, flags = 0;
	__u64 location = 0;

	if (sk_idx != ST_ARG_NONE)
		sk = (struct sock *)tp_arg(ctx, sk_idx);
	if (reason_idx != ST_ARG_NONE) {
		reason = (__u32)tp_arg(ctx, reason_idx);
		flags |= ST_EVF_DROP;
	}
	if (location_idx != ST_ARG_NONE) {
		location = tp_arg(ctx, location_idx);
		flags |= ST_EVF_LOCATION;
	}
	return st_trace_skb(ctx, probe, skb, sk, reason, location, flags);
}

#define TP_PROBE(name, id)                     \
	SEC("tp_btf/" #name)                   \
	int tp_##name(__u64 *ctx)              \
	{                                      \
		return tp_probe(ctx, id);      \
	}

TP_PROBE(net_dev_queue, ST_PROBE_NET_DEV_QUEUE)
TP_PROBE(net_dev_start_xmit, ST_PROBE_NET_DEV_START_XMIT)
TP_PROBE(net_dev_xmit, ST_PROBE_NET_DEV_XMIT)
TP_PROBE(netif_rx, ST_PROBE_NETIF_RX)
TP_PROBE(netif_rx_entry, ST_PROBE_NETIF_RX_ENTRY)
TP_PROBE(netif_receive_skb, ST_PROBE_NETIF_RECEIVE_SKB)
TP_PROBE(netif_receive_skb_entry, ST_PROBE_NETIF_RECEIVE_SKB_ENTRY)
TP_PROBE(netif_receive_skb_list_entry, ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY)
TP_PROBE(napi_gro_receive_entry, ST_PROBE_NAPI_GRO_RECEIVE_ENTRY)
TP_PROBE(kfree_skb, ST_PROBE_KFREE_SKB)
TP_PROBE(consume_skb, ST_PROBE_CONSUME_SKB)
TP_PROBE(skb_copy_datagram_iovec, ST_PROBE_SKB_COPY_DATAGRAM_IOVEC)
TP_PROBE(qdisc_enqueue, ST_PROBE_QDISC_ENQUEUE)
TP_PROBE(qdisc_dequeue, ST_PROBE_QDISC_DEQUEUE)
TP_PROBE(icmp_send, ST_PROBE_ICMP_SEND)
TP_PROBE(tcp_retransmit_skb, ST_PROBE_TCP_RETRANSMIT_SKB)
TP_PROBE(tcp_send_reset, ST_PROBE_TCP_SEND_RESET)
TP_PROBE(tcp_bad_csum, ST_PROBE_TCP_BAD_CSUM)
TP_PROBE(udp_fail_queue_rcv_skb, ST_PROBE_UDP_FAIL_QUEUE_RCV_SKB)
TP_PROBE(sock_rcvqueue_full, ST_PROBE_SOCK_RCVQUEUE_FULL)

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
