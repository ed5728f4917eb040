// SPDX-License-Identifier: GPL-2.0
/* Calibration for bench/flood.sh (mode `empty`): programs that return at once,
 * on the same 16 tracepoints as skbtracer's default probes. What a packet pays
 * with these attached is the floor for any tp_btf tracer on this kernel: the
 * tracepoint call, bpf_trace_run() (RCU, recursion check) and the indirect call. */
#define SEC(name) __attribute__((section(name), used))
char LICENSE[] SEC("license") = "GPL";

#define EMPTY(tp) SEC("tp_btf/" #tp) int empty_##tp(void *ctx) { return 0; }
EMPTY(net_dev_queue)
EMPTY(netif_rx)
EMPTY(netif_receive_skb)
EMPTY(napi_gro_receive_entry)
EMPTY(netif_receive_skb_list_entry)
EMPTY(kfree_skb)
EMPTY(consume_skb)
EMPTY(skb_copy_datagram_iovec)
EMPTY(qdisc_enqueue)
EMPTY(qdisc_dequeue)
EMPTY(icmp_send)
EMPTY(tcp_retransmit_skb)
EMPTY(tcp_send_reset)
EMPTY(tcp_bad_csum)
EMPTY(udp_fail_queue_rcv_skb)
EMPTY(sock_rcvqueue_full)
