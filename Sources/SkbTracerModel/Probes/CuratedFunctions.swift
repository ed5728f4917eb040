import SkbTracerSystem

/// Groups of the curated kernel functions, like nettrace's tracer tree. Some names
/// are tracepoint groups too (`ProbeGroup`): `-t tcp` picks both.
public enum FunctionGroup: String, CaseIterable, Sendable {
    case linkIn = "link-in"
    case linkOut = "link-out"
    case bridge
    case netfilter
    case ip
    case ip6
    case neigh
    case tcp
    case udp
    case icmp
    case tunnels
    case xfrm
    case tc
    case xdp
    case qdisc
    case life

    public var summary: String {
        switch self {
        case .linkIn: return "receive: driver to protocol (GRO, backlog, packet sockets)"
        case .linkOut: return "transmit: queue selection to the driver (veth, VLAN, bonding)"
        case .bridge: return "bridge input, forwarding, flooding, br_netfilter"
        case .netfilter: return "hooks, iptables/nftables tables, conntrack, NAT, REJECT"
        case .ip: return "IPv4 receive, route input, forward, local delivery, output"
        case .ip6: return "IPv6 receive, route input, forward, local delivery, output"
        case .neigh: return "ARP and neighbour discovery, output through the neighbour"
        case .tcp: return "TCP receive, state machine, resets, transmit and retransmit"
        case .udp: return "UDP receive, socket queueing, send"
        case .icmp: return "ICMP and ICMPv6 receive, echo, errors sent, ping sockets"
        case .tunnels: return "VXLAN, Geneve, GRE, IPIP, IPv6 tunnels, WireGuard"
        case .xfrm: return "IPsec policy, input and output, ESP"
        case .tc: return "tc classifiers and actions (bpf, flower, u32, mirred...)"
        case .xdp: return "generic XDP on an skb, and skbs built from XDP frames"
        case .qdisc: return "queueing disciplines' enqueue, direct transmit"
        case .life: return "an skb's last free, wherever it is freed (a journey ends there)"
        }
    }

    /// The group's functions, in the order a packet meets them. Function names
    /// are the kernel's; a kernel that lacks one (renamed, inlined, a module not
    /// loaded, its sk_buff past the fifth parameter) simply does not probe it.
    public var functions: [String] {
        switch self {
        case .linkIn:
            return ["eth_type_trans", "netif_rx", "__netif_rx", "enqueue_to_backlog",
                    "napi_gro_receive", "gro_receive_skb", "dev_gro_receive",
                    "netif_receive_skb", "__netif_receive_skb", "__netif_receive_skb_one_core",
                    "packet_rcv", "tpacket_rcv"]
        case .linkOut:
            return ["__dev_queue_xmit", "netdev_core_pick_tx", "validate_xmit_skb", "__skb_gso_segment",
                    "dev_hard_start_xmit", "dev_queue_xmit_nit", "dev_forward_skb", "__dev_forward_skb",
                    "veth_xmit", "loopback_xmit", "vlan_dev_hard_start_xmit", "bond_dev_queue_xmit",
                    "ipvlan_queue_xmit"]
        case .bridge:
            // br_handle_frame is the rx handler, but takes a struct sk_buff **: its
            // finish is where the bridge is first seen.
            return ["br_handle_frame_finish", "br_allowed_ingress", "br_pass_frame_up", "br_netif_receive_skb",
                    "br_forward", "__br_forward", "maybe_deliver", "br_flood", "br_multicast_flood",
                    "br_handle_vlan", "br_forward_finish", "br_dev_queue_push_xmit", "br_dev_xmit",
                    "br_nf_pre_routing", "br_nf_pre_routing_finish", "br_nf_forward_ip", "br_nf_forward",
                    "br_nf_post_routing"]
        case .netfilter:
            return ["nf_hook_slow", "ipt_do_table", "ip6t_do_table", "arpt_do_table", "ebt_do_table",
                    "nft_do_chain_ipv4", "nft_do_chain_ipv6", "nft_do_chain_inet", "nft_do_chain_bridge",
                    "nf_conntrack_in", "nf_confirm", "__nf_conntrack_confirm", "nf_nat_inet_fn",
                    "nf_nat_manip_pkt", "nf_queue", "nf_send_reset", "nf_send_unreach"]
        case .ip:
            return ["ip_rcv", "ip_rcv_core", "ip_rcv_finish", "ip_route_input_noref", "ip_route_input_slow",
                    "fib_validate_source", "ip_local_deliver", "ip_local_deliver_finish", "ip_protocol_deliver_rcu",
                    "ip_defrag", "ip_forward", "ip_forward_finish", "__ip_queue_xmit", "ip_local_out",
                    "__ip_local_out", "ip_output", "ip_finish_output", "ip_finish_output2", "ip_do_fragment"]
        case .ip6:
            return ["ipv6_rcv", "ip6_rcv_core", "ip6_rcv_finish", "ip6_route_input", "ip6_input",
                    "ip6_protocol_deliver_rcu", "ip6_pkt_drop", "ip6_forward", "ip6_forward_finish", "ip6_xmit",
                    "ip6_local_out", "ip6_output", "ip6_finish_output", "ip6_finish_output2"]
        case .neigh:
            return ["arp_rcv", "arp_process", "arp_solicit", "arp_xmit", "neigh_resolve_output",
                    "neigh_connected_output", "__neigh_event_send", "neigh_xmit", "ndisc_rcv", "ndisc_solicit",
                    "ndisc_send_skb"]
        case .tcp:
            return ["tcp_v4_rcv", "tcp_v6_rcv", "tcp_filter", "tcp_add_backlog", "tcp_v4_do_rcv",
                    "tcp_rcv_established", "tcp_rcv_state_process", "tcp_conn_request", "tcp_child_process",
                    "tcp_ack", "tcp_data_queue", "tcp_queue_rcv", "tcp_v4_send_reset", "tcp_v6_send_reset",
                    "__tcp_transmit_skb", "__tcp_retransmit_skb"]
        case .udp:
            return ["udp_rcv", "__udp4_lib_rcv", "udp_unicast_rcv_skb", "udp_queue_rcv_skb",
                    "udp_queue_rcv_one_skb", "__udp_enqueue_schedule_skb", "skb_consume_udp", "udp_send_skb",
                    "udpv6_rcv", "__udp6_lib_rcv", "udpv6_queue_rcv_skb", "udp_v6_send_skb"]
        case .icmp:
            return ["icmp_rcv", "icmp_echo", "icmp_reply", "icmp_unreach", "__icmp_send", "icmpv6_rcv",
                    "icmpv6_echo_reply", "icmp6_send", "ping_rcv", "ping_lookup", "ping_queue_rcv_skb"]
        case .tunnels:
            return ["__iptunnel_pull_header", "ip_tunnel_rcv", "iptunnel_xmit", "ip_tunnel_xmit",
                    "udp_tunnel_xmit_skb", "vxlan_rcv", "vxlan_xmit_one", "geneve_udp_encap_recv", "geneve_xmit",
                    "gre_rcv", "ipgre_xmit", "ipip_rcv", "ip6_tnl_rcv", "ip6_tnl_xmit", "wg_xmit"]
        case .xfrm:
            return ["xfrm4_rcv", "xfrm6_rcv", "xfrm4_udp_encap_rcv", "xfrm_input", "__xfrm_policy_check",
                    "esp_input", "esp6_input", "xfrm4_output", "xfrm6_output", "xfrm_output", "xfrm_output_resume",
                    "esp_output", "esp6_output"]
        case .tc:
            return ["tc_run", "tcf_classify", "cls_bpf_classify", "fl_classify", "u32_classify", "mall_classify",
                    "tcf_action_exec", "tcf_bpf_act", "tcf_gact_act", "tcf_mirred_act", "tcf_ct_act",
                    "skb_do_redirect"]
        case .xdp:
            return ["bpf_prog_run_generic_xdp", "xdp_do_generic_redirect", "generic_xdp_tx", "veth_xdp_rcv_skb",
                    "__xdp_build_skb_from_frame"]
        case .qdisc:
            return ["pfifo_fast_enqueue", "fq_codel_enqueue", "fq_enqueue", "htb_enqueue", "tbf_enqueue",
                    "prio_enqueue", "sfq_enqueue", "netem_enqueue", "noop_enqueue", "sch_direct_xmit"]
        case .life:
            // Every free ends in these, also those without a tracepoint (a UDP
            // datagram copied to its reader, skb_consume_udp): TraceEvent.isFree.
            return TraceEvent.freeFunctions
        }
    }
}

/// The kernel functions `-t` asks the function backends for. Without `-t`: every
/// group (the curated set), or every function when `--filter-func` picks them.
public struct FunctionRequest: Sendable, Equatable {
    /// `-t all-functions`: every function with an sk_buff (pwru's set).
    public var every = false
    public var groups: Set<FunctionGroup> = []
    /// Functions named in `-t`; whether this kernel has them is known only from its BTF.
    public var names: Set<String> = []

    public init(every: Bool = false, groups: Set<FunctionGroup> = [], names: Set<String> = []) {
        self.every = every
        self.groups = groups
        self.names = names
    }

    /// `-t`'s word for every function.
    public static let everyName = "all-functions"
    public static let curated = FunctionRequest(groups: Set(FunctionGroup.allCases))
    public static let all = FunctionRequest(every: true)

    public var isEmpty: Bool { !every && groups.isEmpty && names.isEmpty }

    /// The candidates this request picks. A function named on its own must be
    /// one of them: a misspelt name is an error, not an empty trace.
    public func pick(from candidates: [KernelFunction]) throws(UsageError) -> [KernelFunction] {
        if every { return candidates }
        let known = Set(candidates.map(\.name))
        for name in names.sorted() where !known.contains(name) {
            throw UsageError("unknown probe, group or kernel function '\(name)' for --trace (no function of that name takes an sk_buff among its first \(FunctionProbes.maxPosition) parameters on this kernel)",
                             hint: "run `skbtracer --list --backend kprobe-multi` to see the groups and functions")
        }
        let wanted = names.union(groups.flatMap(\.functions))
        return candidates.filter { wanted.contains($0.name) }
    }
}
