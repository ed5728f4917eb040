import CSkbTracerABI

/// What a drop reason means, in plain language, and what to check next.
///
/// Hints use placeholders the reader fills in from the event: `IF` (interface),
/// `SADDR`/`DADDR` (source/destination address), `PORT`, and a few that say what
/// they stand for (`NEXTHOP`, `REMOTE`, `NAME`, `PID`). Both strings are one
/// sentence without a trailing period, so they can be embedded in a line.
public struct DropExplanation: Sendable, Equatable {
    /// One sentence: what happened to the packet.
    public let explanation: String
    /// One sentence: what to check, or which command to run.
    public let hint: String
}

/// Plain-language explanations of `enum skb_drop_reason`, and a classifier for
/// drops that are routine rather than failures.
///
/// Our own words, checked against the kernel's comments in
/// include/net/dropreason-core.h and, for the noise rules, against drops observed
/// with `perf record -e skb:kfree_skb` on 6.18. Names only: the numbers differ
/// between kernels and are resolved through BTF (`DropReasons`). Reasons that are
/// internal or that nobody meets on a host, container, router or bridge get no entry,
/// and the caller prints the bare name. docs/drop-reasons.md is generated from this table.
public enum DropExplanations {
    /// The reason's name without the SKB_DROP_REASON_ prefix (NO_SOCKET, NETFILTER_DROP, ...). nil if none is written.
    public static func explain(_ reason: String) -> DropExplanation? {
        byName[reason]
    }

    /// Names with an explanation (for tests and docs), in table order.
    public static var explainedReasons: [String] { entries.map(\.name) }

    /// iputils ping as root (or with CAP_NET_RAW) reads replies on a raw socket, which
    /// gets a clone in raw_local_deliver; the original then finds no ICMP datagram socket
    /// and is freed with NO_SOCKET (in ping_rcv on recent kernels, in icmp_rcv/icmpv6_rcv on
    /// older ones). Seen on 6.18 for every reply of `ping` and `ping -6`. But a reply that
    /// came after ping stopped waiting (or exited) is freed the same way, with no copy read:
    /// journeys tell the two apart by the copy (`JourneyNames.outcome`).
    public static func isUnclaimedEchoReply(reason: String, function: String?, event: TraceEvent) -> Bool {
        reason == "NO_SOCKET" && isEchoReply(event) && (function.flatMap(baseSymbol).map(pingFunctions.contains) ?? true)
    }

    /// The note of an unclaimed echo reply seen alone (events, --drop): its copy is not visible there.
    static let rawCopyNoise = "ping on a raw socket already got its own copy of this echo reply; the original has no ICMP socket and is freed"
    /// An unclaimed echo reply whose raw-socket copy was read (a journey saw the copy).
    public static let rawCopyRead = "a raw socket read its own copy of this echo reply; the original has no ICMP socket and is freed"
    /// An unclaimed echo reply no raw socket read a copy of.
    public static let echoReplyUnread = "no socket took this echo reply and no raw socket read a copy of it: the pinger had stopped waiting (a reply later than its timeout, ping -W) or had exited"

    /// Known noise: a drop that is routine, not a failure. `function` is the drop location's symbol
    /// without "+0x.." (e.g. "ping_rcv"), or nil. Returns a short note or nil when the drop is a real failure.
    public static func noise(reason: String, function: String?, event: TraceEvent) -> String? {
        let fn = function.flatMap(baseSymbol)
        // Lazy: decoding the address allocates, and most drops never need it.
        lazy var daddr = event.daddr

        // A single event cannot show the raw socket's copy: said as what it usually is.
        if isUnclaimedEchoReply(reason: reason, function: fn, event: event) { return rawCopyNoise }

        // A reassembled datagram (or a GRO packet) keeps its fragments on frag_list; when
        // the whole packet is freed, skb_release_data frees each member with kfree_skb and
        // no reason. Seen on 6.18 for every reply to `ping -s 2000` between namespaces.
        if reason == "NOT_SPECIFIED", fn == "skb_release_data" {
            return "a fragment freed together with the reassembled packet it belongs to"
        }

        // ip6_mc_input frees IPv6 multicast for groups nobody on the host joined (kfree_skb,
        // so NOT_SPECIFIED). Bridges and veth deliver all multicast (a NIC would filter it in
        // hardware), so MLD reports to ff02::16 and solicitations for other hosts' solicited-node
        // groups end here all the time.
        if fn == "ip6_mc_input", event.isIPv6, let daddr, isMulticast(daddr) {
            return "nobody on this host joined IPv6 multicast group \(daddr); bridges and veth deliver all multicast"
        }

        // Neighbour discovery and MLD sent to a multicast group that reached the ICMPv6 code
        // but is of no use here: a router solicitation on a host, an advertisement with
        // accept_ra off, a report for a group we are not in. NS_OTHERHOST: a solicitation for
        // another address that shares our solicited-node group (the last 24 bits). Malformed
        // ND (bad options, hop limit, code) is not included: that is a broken sender.
        if event.isIPv6, event.isICMP, ndiscAndMLDTypes.contains(event.packet.raw.icmp_type),
           let daddr, isMulticast(daddr) {
            if reason == "IPV6_NDISC_NS_OTHERHOST" {
                return "neighbour solicitation for another host's address; solicited-node multicast groups are shared"
            }
            if reason == "NOT_SPECIFIED", let fn, ndiscFunctionPrefixes.contains(where: { fn.hasPrefix($0) }) {
                return "neighbour discovery or MLD message to \(daddr) that this host has no use for"
            }
        }

        // UDP broadcast or multicast that no socket listens for: __udp4_lib_mcast_deliver
        // (inlined into __udp4_lib_rcv on 6.18) and its IPv6 twin free it with kfree_skb and
        // count UDP IgnoredMulti, not NoPorts: the kernel itself does not treat it as an error.
        // Unicast without a listener is NO_SOCKET and stays a failure.
        if reason == "NOT_SPECIFIED", event.isUDP, let fn, udpReceiveFunctions.contains(fn),
           isBroadcastOrMulticast(event) {
            return "no socket on this host listens on UDP port \(event.packet.raw.dport) for this broadcast or multicast (counted as IgnoredMulti, not as an error)"
        }

        // IPv4 multicast to a group nobody joined is refused by the input route lookup and
        // freed in ip_rcv_finish_core (NOT_SPECIFIED on 6.18); same cause as ip6_mc_input above.
        if reason == "NOT_SPECIFIED", event.isIPv4, let daddr, isMulticast(daddr), let fn,
           ipv4InputFunctionPrefixes.contains(where: { fn.hasPrefix($0) }) {
            return "nobody on this host joined IPv4 multicast group \(daddr); bridges and veth deliver all multicast"
        }

        // A reset for a connection that no longer exists has nothing to reset; TCP discards
        // it by design (RFC 9293 3.10.7.1) and never answers a RST. It shows up whenever a
        // peer resets after our side has already forgotten the connection.
        if reason == "NO_SOCKET", event.isTCP, event.packet.raw.tcp_flags & 0x04 != 0,
           fn.map(tcpReceiveFunctions.contains) ?? true {
            return "a reset for a connection this host no longer has; there is nothing to reset"
        }

        // Switches send LLDP (ethertype 0x88cc) and spanning-tree BPDUs (802.3 frames with a
        // length instead of an ethertype, i.e. LLC) to every port; without lldpd or a bridge
        // nothing consumes them. The event's l3_proto is the frame's type/length field.
        if reason == "UNHANDLED_PROTO" || reason == "PTYPE_ABSENT",
           fn.map({ $0.hasPrefix("__netif_receive_skb") }) ?? true {
            let type = event.packet.raw.l3_proto
            if type == 0x88CC {
                return "LLDP from a switch or neighbour; nothing on this host handles LLDP"
            }
            if type != 0 && type < 0x0600 {
                return "an 802.3/LLC frame (such as a spanning-tree BPDU) that nothing on this host handles"
            }
        }

        // The packet had reached its socket; the program closed the socket without reading it
        // (seen for ICMP errors queued to `ping -c1` as it exits). The path itself worked.
        if reason == "QUEUE_PURGE", fn == "inet_sock_destruct" {
            return "it had reached its socket; the program closed the socket without reading it"
        }

        // Deliberately not noise:
        // - OTHERHOST: a frame a bridge floods to every port is harmless, but on a veth pair the
        //   same drop means a stale neighbour entry at the sender; one event cannot tell.
        // - UNICAST_IN_L2_MULTICAST: only raised when an administrator enabled
        //   drop_unicast_in_l2_multicast, so it is policy the user should see.
        // - PKT_TOO_SMALL, PACKET_SOCK_ERROR, INVALID_PROTO: a truncated packet, a packet-socket
        //   application losing data, and a broadcast ping being ignored are worth showing.
        return nil
    }

    // MARK: Noise helpers

    private static let pingFunctions: Set<String> = ["ping_rcv", "icmp_rcv", "icmpv6_rcv"]
    private static let tcpReceiveFunctions: Set<String> = ["tcp_v4_rcv", "tcp_v6_rcv"]
    private static let udpReceiveFunctions: Set<String> = [
        "__udp4_lib_rcv", "__udp4_lib_mcast_deliver", "udp_rcv",
        "__udp6_lib_rcv", "__udp6_lib_mcast_deliver", "udpv6_rcv",
    ]
    private static let ipv4InputFunctionPrefixes = ["ip_rcv_finish", "ip_list_rcv_finish", "ip_sublist_rcv", "ip_route_input"]
    private static let ndiscFunctionPrefixes = ["icmpv6_rcv", "ndisc_", "igmp6_", "mld_", "__mld_"]
    /// MLD query, report, done (130-132), RS, RA, NS, NA, redirect (133-137), MLDv2 report (143).
    private static let ndiscAndMLDTypes: Set<UInt8> = [130, 131, 132, 133, 134, 135, 136, 137, 143]

    /// "__netif_receive_skb_core.constprop.0+0x12" -> "__netif_receive_skb_core"; nil for an
    /// unresolved address ("0xffffffff81a00010", printed when kallsyms is hidden) or "".
    private static func baseSymbol(_ symbol: String) -> String? {
        var s = Substring(symbol)
        if let plus = s.firstIndex(of: "+") { s = s[..<plus] }
        if let dot = s.firstIndex(of: "."), dot != s.startIndex { s = s[..<dot] }
        return s.isEmpty || s.hasPrefix("0x") ? nil : String(s)
    }

    /// ICMP echo reply (0) or extended echo reply (43); ICMPv6 129 or 161.
    private static func isEchoReply(_ e: TraceEvent) -> Bool {
        guard e.isICMP else { return false }
        let t = e.packet.raw.icmp_type
        return e.isIPv4 ? (t == 0 || t == 43) : (t == 129 || t == 161)
    }

    /// 224.0.0.0/4 or ff00::/8.
    private static func isMulticast(_ a: IPAddress) -> Bool {
        a.isIPv4 ? a.bytes[0] & 0xF0 == 0xE0 : a.bytes[0] == 0xFF
    }

    /// Multicast or 255.255.255.255 by address, or sent to a link-layer broadcast/multicast
    /// address (pkt_type, or the group bit of the destination MAC): the latter also catches
    /// subnet-directed broadcasts such as 10.0.0.255.
    private static func isBroadcastOrMulticast(_ e: TraceEvent) -> Bool {
        if let d = e.daddr, isMulticast(d) || d.bytes == [255, 255, 255, 255] { return true }
        if e.context.pkt_type == 1 || e.context.pkt_type == 2 { return true } // PACKET_BROADCAST, PACKET_MULTICAST
        return e.hasMAC && e.packet.raw.dmac.0 & 1 == 1
    }

    // MARK: The table

    private struct Entry {
        let name: String
        let explanation: String
        let hint: String
        init(_ name: String, _ explanation: String, _ hint: String) {
            self.name = name
            self.explanation = explanation
            self.hint = hint
        }
    }

    private static let byName: [String: DropExplanation] = {
        var d: [String: DropExplanation] = [:]
        for e in entries { d[e.name] = DropExplanation(explanation: e.explanation, hint: e.hint) }
        return d
    }()

    // Grouped by where the drop happens. Names missing from 6.18 are marked: older or newer
    // kernels report them, and the table is keyed by name, so one table serves every kernel.
    private static let entries: [Entry] = [
        // MARK: Generic
        Entry("NOT_SPECIFIED",
              "The kernel freed the packet without recording a reason, so the drop location is the main clue",
              "Read the function in the drop location: ip_error or dst_discard_out mean an unreachable, prohibit or blackhole route (`ip route get DADDR`, or trace with `--route` to see the lookup), ip6_mc_input a multicast group nobody joined"),
        Entry("NOMEM",
              "The kernel could not allocate memory while handling the packet",
              "Check memory pressure with `free -m` and `dmesg` (page allocation failures) and consider raising `vm.min_free_kbytes`"),
        Entry("PFMEMALLOC",
              "The packet was allocated from the emergency memory reserve and reached a socket that may not use it, a sign of severe memory pressure",
              "Check `free -m` and `dmesg`: only sockets that carry swap over the network may use the reserve, so find what exhausts memory"),
        Entry("QUEUE_PURGE",
              "A whole queue was freed at once, for example a socket closed with unread data or an interface that went down",
              "Look at the drop location: inet_sock_destruct means the program closed its socket without reading this, otherwise watch `ip monitor link` for interfaces going down"),

        // MARK: Sockets
        Entry("NO_SOCKET",
              "No socket in this network namespace accepts the packet: nothing listens on the destination port, or its connection no longer exists",
              "Run `ss -lntup` in the packet's network namespace (`ip netns exec NAME ss -lntup`) and check a program listens on that port and address, not only on 127.0.0.1"),
        Entry("SOCKET_FILTER",
              "A filter on the receiving socket rejected the packet: a classic or eBPF socket filter, or a cgroup BPF ingress program",
              "List socket filters with `ss -b` and cgroup programs with `bpftool cgroup tree`; the application or its container runtime attached one that rejects this packet"),
        Entry("TCP_FILTER", // 5.17's name for SOCKET_FILTER
              "A filter on the receiving socket rejected the packet: a classic or eBPF socket filter, or a cgroup BPF ingress program",
              "List socket filters with `ss -b` and cgroup programs with `bpftool cgroup tree`; the application or its container runtime attached one that rejects this packet"),
        Entry("SOCKET_RCVBUFF",
              "The receiving socket's buffer was full because the program does not read fast enough",
              "`ss -m` shows the socket's memory (r against rb) and `nstat -az UdpRcvbufErrors` counts these; raise SO_RCVBUF and `net.core.rmem_max`, or make the reader faster"),
        Entry("SOCKET_BACKLOG",
              "The receiving program held the socket while the packet arrived, and the backlog queue that keeps packets meanwhile was full",
              "`nstat -az TcpExtTCPBacklogDrop` counts these; the backlog limit follows the socket buffers, so raise `net.ipv4.tcp_rmem` or SO_RCVBUF"),
        Entry("SOCKET_CLOSE",
              "The receiving socket was closed while this data still waited in its queue",
              "Check why the receiving program closed its socket early, for example with `strace -e trace=close,shutdown -p PID`"),
        Entry("SOCKET_RCV_SHUTDOWN", // not in 6.18 (newer kernels)
              "The receiving socket was shut down for reading (shutdown with SHUT_RD), so incoming data is discarded",
              "Check the receiving program's shutdown() calls"),
        Entry("PROTO_MEM",
              "The memory limit for all sockets of the protocol together (tcp_mem, udp_mem) was reached",
              "Compare `cat /proc/net/sockstat` with `sysctl net.ipv4.tcp_mem net.ipv4.udp_mem` (in pages) and look for sockets with large queues in `ss -m`"),
        Entry("PACKET_SOCK_ERROR",
              "A packet socket (as used by tcpdump, DHCP clients or lldpd) matched the packet but could not queue its copy, usually because its buffer was full",
              "Find packet sockets with `ss -0 -p`; usually only that program misses its copy (tcpdump reports it as dropped by kernel) while the packet itself goes on"),
        Entry("UNIX_DISCONNECT",
              "A Unix datagram socket's queue was discarded because it connected to another peer or its peer closed",
              "Find the processes on that socket with `ss -xp` and check why the peer went away or reconnected"),
        Entry("UNIX_SKIP_OOB",
              "An out-of-band byte on a Unix stream socket was skipped by a read without MSG_OOB",
              "Check how the application on that Unix socket (`ss -xp`) handles MSG_OOB"),

        // MARK: Length and checksums
        Entry("PKT_TOO_SMALL",
              "The packet is shorter than its headers or length fields say it should be",
              "Capture with `tcpdump -vv -i IF` and compare the IP and UDP/TCP length fields with the real length; a truncating tunnel or a broken sender is the usual cause"),
        Entry("HDR_TRUNC",
              "A protocol header could not be read because the packet ends before it",
              "Capture with `tcpdump -e -vv -i IF` and look for truncated frames or an encapsulation the receiver does not expect"),
        Entry("IP_CSUM",
              "The IPv4 header checksum is wrong, so the header was corrupted on the way",
              "Watch `nstat -az IpExtInCsumErrors` and look for a faulty NIC, cable or middlebox rewriting headers"),
        Entry("TCP_CSUM",
              "The TCP checksum is wrong, so the segment was corrupted on the way or by broken checksum offload",
              "Watch `nstat -az TcpInCsumErrors`, check offloads with `ethtool -k IF` and try `ethtool -K IF rx off tx off` on both ends"),
        Entry("UDP_CSUM",
              "The UDP checksum is wrong, so the datagram was corrupted on the way or by broken checksum offload",
              "Watch `nstat -az UdpInCsumErrors Udp6InCsumErrors`, check offloads with `ethtool -k IF` and try `ethtool -K IF rx off tx off` on both ends"),
        Entry("ICMP_CSUM",
              "The ICMP checksum is wrong, so the message was corrupted on the way",
              "Watch `nstat -az IcmpInCsumErrors Icmp6InCsumErrors` and check the sender and any device that rewrites ICMP, such as NAT"),
        Entry("SKB_CSUM",
              "Computing the checksum in software failed, usually for a packet the device could not checksum itself",
              "Check checksum offloads with `ethtool -k IF` and `dmesg` for checksum warnings; `ethtool -K IF tx off` narrows it down"),
        Entry("SKB_GSO_SEG",
              "Splitting a large (GSO) packet into MTU-sized segments failed",
              "Check segmentation offloads with `ethtool -k IF` and `dmesg`, and try `ethtool -K IF gso off tso off`, especially with tunnels"),
        Entry("SKB_UCOPY_FAULT",
              "Copying the packet's data from the sending program's memory failed",
              "The program writing to the socket or tun/tap passed a bad buffer; run it under `strace` and look for EFAULT"),

        // MARK: IPv4 and IPv6 input
        Entry("OTHERHOST",
              "The frame was addressed to another host's MAC address and got here only because the interface is promiscuous or a bridge or veth delivered it",
              "Compare the destination MAC with `ip link show IF`: a stale neighbour entry at the sender (`ip neigh` there) is a real fault, frames a bridge floods to every port are harmless"),
        Entry("IP_INHDR",
              "The IP header is invalid, or the TTL or hop limit ran out while the packet was forwarded (ttl 1 or less)",
              "If the event shows ttl 1 or 0 on a forwarded packet look for a routing loop with `traceroute DADDR`, otherwise capture and check the header (`nstat -az IpInHdrErrors Ip6InHdrErrors`)"),
        Entry("IP_RPFILTER",
              "Reverse path filtering rejected the packet because the route back to its source does not leave through the interface it arrived on",
              "Check `sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.IF.rp_filter` (the higher value applies) and `ip route get SADDR`; use 2 (loose) or fix the routes for asymmetric paths"),
        Entry("UNICAST_IN_L2_MULTICAST",
              "An IP unicast packet arrived in a link-layer broadcast or multicast frame and the interface is set to drop those",
              "Check `sysctl net.ipv4.conf.IF.drop_unicast_in_l2_multicast net.ipv6.conf.IF.drop_unicast_in_l2_multicast`, or why the sender uses a broadcast MAC"),
        Entry("IP_NOPROTO",
              "Nothing on this host handles the packet's IP protocol number, for example SCTP not loaded or GRE without a tunnel",
              "Look at the protocol number in the event and load or configure its handler (`modprobe sctp`, create the tunnel); `nstat -az IpInUnknownProtos` counts these"),
        Entry("IP_INADDRERRORS",
              "The destination cannot be served here: the packet is for another host and this host does not forward, or the address is not valid as a destination",
              "If this host should route it set `sysctl net.ipv4.ip_forward=1` (IPv6: `net.ipv6.conf.all.forwarding=1`), otherwise check `ip route get DADDR`"),
        Entry("IP_INNOROUTES",
              "No route leads to the destination of a received packet (network unreachable), including IPv6 unreachable and prohibit routes",
              "Run `ip route get DADDR from SADDR iif IF` in that namespace and add the missing route or default gateway; check `ip rule` for policy routing (`--route` shows each table looked up)"),
        Entry("IP_LOCAL_SOURCE",
              "A received packet claims a source address that belongs to this host",
              "Look for a loop that returns our own packets (bridge or switch loop, hairpin) or another host using our address (`arping -D -I IF SADDR`)"),
        Entry("IP_INVALID_SOURCE",
              "The source address is impossible for a sender (multicast, broadcast, 0.0.0.0 outside IGMP, or otherwise martian)",
              "Fix the sender's address configuration; `sysctl -w net.ipv4.conf.all.log_martians=1` logs such packets to `dmesg`"),
        Entry("IP_LOCALNET",
              "The packet goes to or comes from 127.0.0.0/8 on an interface other than loopback, which is refused by default",
              "DNAT to 127.0.0.1 and similar need `sysctl net.ipv4.conf.IF.route_localnet=1`; otherwise find who puts loopback addresses on the wire"),
        Entry("IP_INVALID_DEST",
              "The destination address is not usable, for example 0.0.0.0",
              "Fix the sender; `sysctl -w net.ipv4.conf.all.log_martians=1` logs martian destinations to `dmesg`"),
        Entry("INVALID_PROTO",
              "The packet breaks its protocol's rules, for example a ping or ICMP timestamp request sent to a broadcast or multicast address",
              "For broadcast pings see `sysctl net.ipv4.icmp_echo_ignore_broadcasts` (1, the default, ignores them); otherwise capture and inspect the protocol fields"),
        Entry("XFRM_POLICY",
              "An IPsec (xfrm) policy check failed: the packet was not protected the way a policy requires, or a policy blocks it",
              "Compare `ip xfrm policy` and `ip xfrm state` with the traffic and watch `cat /proc/net/xfrm_stat`"),
        Entry("IPV6DISABLED",
              "IPv6 is disabled on the interface, so IPv6 packets are neither accepted nor sent there",
              "Check `sysctl net.ipv6.conf.IF.disable_ipv6 net.ipv6.conf.all.disable_ipv6` and set them to 0 if IPv6 is wanted"),
        Entry("IPV6_BAD_EXTHDR",
              "An IPv6 extension header is malformed or exceeds the configured limits",
              "Capture with `tcpdump -vv -i IF ip6` and check the extension headers; the limits are `net.ipv6.max_dst_opts_number` and `net.ipv6.max_hbh_opts_number`"),
        Entry("TCP_MINTTL",
              "The TTL or hop limit is below the minimum the receiving socket demands (IP_MINTTL or IPV6_MINHOPCOUNT, as used for BGP TTL security)",
              "The peer is more hops away than allowed: check the application's TTL-security setting and the path with `traceroute SADDR`"),

        // MARK: Routing and output
        Entry("IP_OUTNOROUTES",
              "The route lookup for a packet being sent or forwarded failed",
              "Run `ip route get DADDR` in the sending namespace and add a route or default gateway; check `ip rule` and VRF bindings (`--route` shows each table looked up)"),
        Entry("BLACKHOLE", // not in 6.18 (newer kernels; 6.18 says NOT_SPECIFIED at ip_error or dst_discard_out)
              "A blackhole route, or a route being torn down, discarded the packet",
              "`ip route get DADDR` shows the blackhole route; remove it if this traffic should pass"),
        Entry("PKT_TOO_BIG",
              "The packet is larger than the MTU of its path and may not be fragmented",
              "Compare the mtu in `ip route get DADDR` with `ip link show IF`, make sure ICMP fragmentation-needed/packet-too-big is not blocked, and allow for tunnel overhead (clamp TCP MSS)"),
        Entry("RECURSION_LIMIT",
              "The packet looped through virtual devices, usually a tunnel whose encapsulated packets are routed back into itself",
              "Check `ip route get REMOTE` for the tunnel's remote address: it must not lead through the tunnel device itself"),

        // MARK: Fragments
        Entry("DUP_FRAG",
              "A fragment arrived that duplicates or overlaps one already received",
              "Look for a path that duplicates packets (loop, mirrored port) and watch `nstat -az IpReasmFails Ip6ReasmFails`"),
        Entry("FRAG_REASM_TIMEOUT",
              "Not all fragments of the packet arrived in time, so the ones received were discarded",
              "Look for lost fragments, often a firewall or path that drops non-first fragments; `nstat -az IpReasmTimeout Ip6ReasmTimeout` and `sysctl net.ipv4.ipfrag_time`"),
        Entry("FRAG_TOO_FAR",
              "An IPv4 fragment arrived too far behind the other fragments from the same source",
              "See `sysctl net.ipv4.ipfrag_max_dist` (0 disables the check); heavy reordering or much interleaved traffic from one source triggers it"),

        // MARK: Netfilter, BPF, tc, security modules
        Entry("NETFILTER_DROP",
              "A firewall rule (iptables, nftables, ebtables) or netfilter itself, for example conntrack marking the packet INVALID, dropped the packet",
              "List the rules with counters in that namespace (`iptables -L -v -n`, `ip6tables -L -v -n`, `nft list ruleset`) and look for growing drop counters; `nft monitor trace` with a `meta nftrace set 1` rule names the rule that matched"),
        Entry("BPF_CGROUP_EGRESS",
              "A cgroup BPF program on the sending process's cgroup refused the outgoing packet",
              "`bpftool cgroup tree` lists cgroup programs; look for cgroup_skb egress programs, which container runtimes and Cilium install"),
        Entry("TC_INGRESS",
              "A tc filter or BPF program on the interface's ingress hook dropped the packet",
              "Run `tc -s filter show dev IF ingress` and `bpftool net show dev IF` to find the filter or program that returns drop (shot)"),
        Entry("TC_EGRESS",
              "A tc filter or BPF program on the interface's egress hook dropped the packet",
              "Run `tc -s filter show dev IF egress` and `bpftool net show dev IF` to find the filter or program that returns drop (shot)"),
        Entry("TC_CHAIN_NOTFOUND",
              "A tc action jumped to a filter chain that does not exist",
              "Compare `tc chain show dev IF ingress` with the goto chain actions in `tc filter show dev IF ingress` (or egress)"),
        Entry("TC_RECLASSIFY_LOOP",
              "The tc classifier was asked to reclassify the packet too many times and gave up",
              "Look for reclassify actions in `tc filter show dev IF ingress` (or egress) that send the packet round in a circle"),
        Entry("TC_COOKIE_ERROR",
              "The tc classifier could not resume at the filter a hardware offload handed the packet back to, because that filter changed or went away",
              "Happens with tc or OVS hardware offload while rules change under traffic; check `tc -s filter show dev IF ingress` and `dmesg`"),
        Entry("XDP",
              "An XDP program dropped the packet (generic XDP, or XDP on veth or tun)",
              "`ip link show IF` shows an attached xdp program; inspect it with `bpftool net show dev IF` and `bpftool prog show`"),
        Entry("SECURITY_HOOK",
              "A Linux security module (SELinux, AppArmor, Smack) refused the packet",
              "Look for denials with `journalctl -k` or `ausearch -m avc`, and check SELinux network labels (secmark, peer labels)"),
        Entry("TAP_FILTER",
              "A BPF filter that the owner of the tun/tap device attached (TUNSETFILTEREBPF) dropped the packet",
              "The program that owns the tun/tap (QEMU, a VPN) installed the filter; check its configuration"),
        Entry("TAP_TXFILTER",
              "The tap device's MAC filter, set by its owner, does not accept this destination MAC",
              "Compare the frame's destination MAC with the MAC and multicast list the guest or VPN configured (QEMU sets it with TUNSETTXFILTER)"),

        // MARK: Queueing disciplines
        Entry("QDISC_DROP",
              "The queueing discipline (qdisc) on the outgoing interface refused the packet",
              "Run `tc -s qdisc show dev IF` and look at dropped and overlimits: the queue is full or its policy drops this traffic"),
        Entry("QDISC_OVERLIMIT",
              "The qdisc's total queue limit was reached",
              "`tc -s qdisc show dev IF` shows the drops; raise the qdisc's limit or slow the sender down"),
        Entry("QDISC_CONGESTED",
              "The qdisc's queue management (fq_codel, codel, pie, red) dropped the packet to signal congestion",
              "`tc -s qdisc show dev IF` shows the drops; the link is saturated, and ECN (`sysctl net.ipv4.tcp_ecn=1`) turns such drops into marks"),
        Entry("CAKE_FLOOD",
              "CAKE's flood protection dropped a packet of a flow that ignores congestion signals",
              "`tc -s qdisc show dev IF` shows CAKE's drops per tin; find the unresponsive flow, often UDP"),
        Entry("FQ_BAND_LIMIT",
              "The fq qdisc dropped the packet because its priority band's packet limit was reached",
              "Check the fq qdisc with `tc -s qdisc show dev IF`; raise its band limits or slow the sender"),
        Entry("FQ_HORIZON_LIMIT",
              "The packet's departure time lies beyond the fq qdisc's horizon",
              "An application (SO_TXTIME) or BPF program sets departure times far in the future; `tc -s qdisc show dev IF` shows horizon and horizon_drops"),
        Entry("FQ_FLOW_LIMIT",
              "The fq qdisc dropped the packet because its flow already had the maximum number of packets queued",
              "`tc -s qdisc show dev IF` shows flows_plimit; raise fq's flow_limit or pace the sender"),
        Entry("DUALPI2_STEP_DROP",
              "The DualPI2 qdisc dropped the packet because its low-latency (L4S) queue passed the step threshold",
              "Check the dualpi2 qdisc with `tc -s qdisc show dev IF` and whether the L4S senders react to marks"),

        // MARK: Devices and the receive path
        Entry("CPU_BACKLOG",
              "The per-CPU receive backlog was full (or an RPS flow limit was hit), typical of bursts through veth, tun or RPS",
              "The second column of `/proc/net/softnet_stat` counts these; raise `sysctl net.core.netdev_max_backlog` or spread the load over more CPUs"),
        Entry("UNHANDLED_PROTO",
              "Nothing on this host handles the frame's link-layer protocol (ethertype), for example LLDP, spanning tree or an unconfigured VLAN",
              "Look at the protocol in the event: create the VLAN device if it is tagged traffic you want, while switch chatter such as LLDP and STP is harmless"),
        Entry("PTYPE_ABSENT", // 5.18's name for UNHANDLED_PROTO
              "Nothing on this host handles the frame's link-layer protocol (ethertype), for example LLDP, spanning tree or an unconfigured VLAN",
              "Look at the protocol in the event: create the VLAN device if it is tagged traffic you want, while switch chatter such as LLDP and STP is harmless"),
        Entry("DEV_HDR",
              "The device-specific header sent with the packet is invalid, for example a bad virtio-net header written to a tun/tap",
              "Check the program writing to the tun/tap (QEMU, a VPN) and its offload settings (vnet_hdr, TUNSETOFFLOAD)"),
        Entry("DEV_READY",
              "The interface is not ready to send or receive, for example it is down or nobody has the tun/tap open",
              "`ip link show IF` must show UP and LOWER_UP; for a tun/tap the owning program (VPN, VM) must have the device open"),
        Entry("FULL_RING",
              "The device's ring or queue was full, for example a tun/tap whose reader is too slow",
              "`ip -s link show IF` shows the drops; speed up the reader of the tun/tap or raise `ip link set IF txqueuelen N`"),

        // MARK: Neighbours (ARP, IPv6 neighbour discovery)
        Entry("NEIGH_FAILED",
              "Address resolution (ARP or IPv6 neighbour discovery) for the next hop failed, so the packet could not be sent",
              "`ip neigh show dev IF` shows the next hop as FAILED or INCOMPLETE; check it is up, on the same link and answers (`arping -I IF NEXTHOP`)"),
        Entry("NEIGH_QUEUEFULL",
              "Too many packets were waiting for the address resolution of the same next hop",
              "Resolution is slow or failing (`ip neigh show dev IF`); raise `net.ipv4.neigh.IF.unres_qlen_bytes` if bursts are expected"),
        Entry("NEIGH_CREATEFAIL",
              "A neighbour (ARP/ND) entry could not be created, usually because the neighbour table is full",
              "Compare the number of entries in `ip neigh show` with `sysctl net.ipv4.neigh.default.gc_thresh3` (and IPv6's) and look for neighbor table overflow in `dmesg`"),
        Entry("NEIGH_DEAD",
              "The neighbour entry was removed while the packet waited for it, for example because the interface went down",
              "Watch `ip monitor neigh link` for flushes and interfaces going down"),
        Entry("NEIGH_HH_FILLFAIL",
              "The link-layer header could not be built from the cached neighbour entry",
              "Check `ip neigh show dev IF` and `dmesg` for errors from the device driver"),
        Entry("ARP_PVLAN_DISABLE",
              "An ARP request would have to be proxied back out of the interface it came in on, which needs private-VLAN proxy ARP",
              "If proxy ARP between hosts on the same port is wanted, set `sysctl net.ipv4.conf.IF.proxy_arp_pvlan=1`"),
        Entry("IPV6_NDISC_FRAG",
              "A neighbour discovery message arrived fragmented, which is refused (RFC 6980)",
              "See `sysctl net.ipv6.conf.IF.suppress_frag_ndisc`; fragmented neighbour discovery comes from an attack or a broken sender"),
        Entry("IPV6_NDISC_HOP_LIMIT",
              "A neighbour discovery message arrived with a hop limit other than 255, so it did not come from this link",
              "Something forwards neighbour discovery across a router or tunnel; capture with `tcpdump -vv -i IF icmp6`"),
        Entry("IPV6_NDISC_BAD_CODE",
              "A neighbour discovery message has a non-zero ICMPv6 code",
              "The sender's neighbour discovery is broken; capture with `tcpdump -vv -i IF icmp6` to find it"),
        Entry("IPV6_NDISC_BAD_OPTIONS",
              "A neighbour discovery message carries malformed options",
              "Capture with `tcpdump -vv -i IF icmp6` and check the options, for example a link-layer address of the wrong length"),
        Entry("IPV6_NDISC_NS_OTHERHOST",
              "A neighbour solicitation asked for an address this host does not have",
              "Usually harmless because solicited-node multicast groups are shared; check `ip -6 addr show dev IF` if the target should be ours"),

        // MARK: Tunnels and bridges
        Entry("VXLAN_INVALID_HDR",
              "The VXLAN header is invalid (reserved bits set or the VNI flag missing) or uses extensions this device does not enable",
              "Compare `ip -d link show type vxlan` on both ends, including options such as gbp and gpe"),
        Entry("VXLAN_VNI_NOT_FOUND",
              "No VXLAN device here is configured for the packet's VNI",
              "`ip -d link show type vxlan` must list an up device with this VNI (id) and UDP port (dstport); compare with the sender"),
        Entry("VXLAN_ENTRY_EXISTS",
              "VXLAN learning wanted to move a MAC address whose forwarding entry is static or points to a nexthop group",
              "`bridge fdb show` shows a static entry pinning this MAC to another remote: the MAC moved or is duplicated"),
        Entry("NO_TX_TARGET",
              "The device found nowhere to send the packet, for example a VXLAN device with no forwarding entry or default remote for the MAC",
              "For VXLAN check `bridge fdb show` for the MAC or a 00:00:00:00:00:00 default entry, and `ip -d link show type vxlan` for a remote"),
        Entry("VXLAN_NO_REMOTE", // older name of NO_TX_TARGET
              "The VXLAN device found no remote to send the packet to",
              "Check `bridge fdb show` for the MAC or a 00:00:00:00:00:00 default entry, and `ip -d link show type vxlan` for a remote"),
        Entry("MAC_INVALID_SOURCE",
              "The frame's source MAC address is invalid (multicast or all zeros)",
              "Find and fix the sender; `tcpdump -e -i IF` shows the MAC addresses"),
        Entry("LOCAL_MAC",
              "The frame's source MAC is this device's own address, so it is our own frame coming back",
              "Look for a loop (bridge, VXLAN or hairpin) or another device with the same MAC (`ip link` on the peers)"),
        Entry("IP_TUNNEL_ECN",
              "On decapsulation the outer header said congestion experienced (CE) while the inner packet is not ECN-capable, so it was dropped (RFC 6040)",
              "The inner traffic does not use ECN while the path marks CE; check ECN at the tunnel endpoints and the queue management on the path"),
        Entry("TUNNEL_TXINFO",
              "A tunnel device in external (collect_md) mode got a packet without the tunnel metadata it needs",
              "The metadata must come from tc (`tunnel_key set`), BPF (bpf_skb_set_tunnel_key) or an encap route; check `ip -d link show IF` and what feeds it"),
        Entry("BRIDGE_INGRESS_STP_STATE",
              "The bridge port the frame arrived on is not forwarding (spanning tree blocks it or is still learning)",
              "`bridge link show` shows the port state; wait out the forward delay after link up or find the loop spanning tree is blocking"),
        Entry("MAC_IEEE_MAC_CONTROL",
              "A bridge received an IEEE MAC Control frame (such as Ethernet pause), which is never forwarded",
              "Harmless flow-control traffic; `ethtool -a IF` shows the pause settings of the sender's link"),

        // MARK: TCP
        Entry("TCP_FLAGS",
              "The TCP flags are not valid for the connection's state, for example a segment without ACK on an established connection",
              "Capture with `tcpdump -nn -i IF tcp port PORT` and look at the flags; scanners and broken middleboxes send such combinations"),
        Entry("TCP_ABORT_ON_DATA",
              "Data arrived for a connection the program had already closed, so the kernel aborted it with a reset",
              "The application closed while the peer still sent data; check its close and shutdown logic and `nstat -az TcpExtTCPAbortOnData`"),
        Entry("TCP_ZEROWINDOW",
              "The receive window was zero because the receiving program was not reading, so new data could not be taken",
              "`ss -tmi` shows Recv-Q and buffer use of the connection and `nstat -az TcpExtTCPZeroWindowDrop` counts these; make the reader faster"),
        Entry("TCP_OLD_DATA",
              "The segment carries only data already received, a retransmission because the peer missed our acknowledgement",
              "Harmless by itself; many of them point to ACKs lost on the way back (`nstat -az TcpExtDelayedACKLost`)"),
        Entry("TCP_OVERWINDOW",
              "The segment's data starts beyond the receive window this host advertised",
              "Check window scaling with `ss -ti` (wscale) on both ends; a middlebox that strips or rewrites the window scale option often causes it"),
        Entry("TCP_OFOMERGE",
              "An out-of-order segment duplicates data already waiting in the out-of-order queue",
              "A sign of retransmissions after loss or reordering; `nstat -az TcpExtTCPOFOMerge` counts these"),
        Entry("TCP_OFO_QUEUE_PRUNE",
              "The connection ran short of receive memory and discarded data held in its out-of-order queue",
              "`ss -tm` shows the socket's memory; raise `net.ipv4.tcp_rmem` and watch `nstat -az TcpExtOfoPruned TcpExtPruneCalled`"),
        Entry("TCP_OFO_DROP",
              "Out-of-order data turned out to be already received in order, so the duplicate was discarded",
              "Harmless, a result of retransmission; many of them point to loss or reordering on the path"),
        Entry("TCP_RFC7323_PAWS",
              "The segment's TCP timestamp is older than one already seen on the connection (PAWS), so it looks like an old duplicate",
              "Common when NAT merges clients with different timestamp clocks; `nstat -az TcpExtPAWSEstab TcpExtPAWSActive` counts these"),
        Entry("TCP_RFC7323_PAWS_ACK",
              "An ACK failed the PAWS timestamp check because it is older than one already seen",
              "Usually reordered or duplicated ACKs and harmless; `nstat -az TcpExtPAWSOldAck` counts these"),
        Entry("TCP_RFC7323_TW_PAWS",
              "A segment for a connection in TIME_WAIT carried an older timestamp than the one seen before",
              "A client reused a port still in TIME_WAIT, often behind NAT; see `ss -tan state time-wait` and `nstat -az TcpExtPAWSTimewait`"),
        Entry("TCP_RFC7323_TSECR",
              "The echoed timestamp (TSecr) in the segment is not one this host sent",
              "Look for a middlebox that rewrites TCP timestamps; `nstat -az TcpExtTSECRRejected` counts these"),
        Entry("TCP_LISTEN_OVERFLOW",
              "The listening socket's accept queue was full, so a new connection was refused",
              "`ss -lnt` shows Recv-Q (waiting) against Send-Q (backlog); raise the listen() backlog and `net.core.somaxconn` or accept faster (`nstat -az TcpExtListenOverflows`)"),
        Entry("TCP_OLD_SEQUENCE",
              "The segment lies entirely before the receive window, a duplicate of data already received",
              "Harmless in small numbers (retransmissions); many of them point to lost ACKs"),
        Entry("TCP_INVALID_SEQUENCE",
              "The segment's sequence number is outside the receive window",
              "`nstat -az TcpExtBeyondWindow` counts these; a NAT or load balancer mixing connections, or a peer that restarted, is the usual cause"),
        Entry("TCP_INVALID_END_SEQUENCE",
              "The segment's data runs past the end of the receive window",
              "`nstat -az TcpExtBeyondWindow` counts these; check window scaling with `ss -ti`, the sender ignores the advertised window"),
        Entry("TCP_INVALID_ACK_SEQUENCE",
              "The segment acknowledges data outside the range this host has sent and not yet seen acknowledged",
              "Compare sequence numbers in captures from both ends; a middlebox rewriting sequence numbers or mixing connections is typical"),
        Entry("TCP_RESET",
              "A reset (RST) whose sequence number is not acceptable was ignored, as protection against forged resets",
              "`nstat -az TcpExtTCPChallengeACK` counts the challenge ACKs sent in reply; a peer or middlebox sending stale resets causes it"),
        Entry("TCP_INVALID_SYN",
              "A SYN arrived on an already established connection",
              "The peer probably restarted and reused the port, or NAT reused it; the kernel answers with a challenge ACK (`nstat -az TcpExtTCPSYNChallenge`)"),
        Entry("TCP_CLOSE",
              "The segment arrived for a socket that is already closed",
              "Late segments after close are normal in small numbers; many of them mean the application closes while the peer is still sending"),
        Entry("TCP_FASTOPEN",
              "A TCP Fast Open request socket refused the segment",
              "Check `sysctl net.ipv4.tcp_fastopen` and the TcpExtTCPFastOpen counters in `nstat -az`"),
        Entry("TCP_OLD_ACK",
              "The ACK acknowledges nothing new but is still inside the window",
              "Reordered ACKs; harmless unless they come with stalls"),
        Entry("TCP_TOO_OLD_ACK",
              "The ACK is far older than anything still outstanding",
              "Look for a stale connection revived by NAT port reuse or a peer replaying old segments"),
        Entry("TCP_ACK_UNSENT_DATA",
              "The segment acknowledges data this host has not sent yet",
              "Compare captures from both ends; a middlebox rewriting sequence numbers or two connections mixed by NAT is typical"),
        Entry("TCP_AUTH_HDR",
              "The TCP-MD5 or TCP-AO option is malformed or repeated, or both are present",
              "Check the TCP authentication settings (BGP session password or TCP-AO keys) on both ends"),
        Entry("TCP_MD5NOTFOUND",
              "This host has a TCP-MD5 key for the peer but the segment carries no MD5 signature",
              "Configure the same password on both ends (for example the BGP neighbour password); `nstat -az TcpExtTCPMD5NotFound` counts these"),
        Entry("TCP_MD5UNEXPECTED",
              "The segment carries a TCP-MD5 signature but no key is set here for that peer",
              "Configure the key on this side or remove it on the peer; `nstat -az TcpExtTCPMD5Unexpected` counts these"),
        Entry("TCP_MD5FAILURE",
              "The TCP-MD5 signature does not match, so the two ends use different passwords",
              "Compare the TCP-MD5 passwords on both ends; `nstat -az TcpExtTCPMD5Failure` counts these"),
        Entry("TCP_AONOTFOUND",
              "The socket requires TCP-AO authentication but the segment has no TCP-AO option",
              "Configure TCP-AO on the peer or relax the requirement here; `nstat -az TcpExtTCPAORequired` counts these"),
        Entry("TCP_AOUNEXPECTED",
              "The segment carries a TCP-AO option but this socket does not expect one",
              "Configure TCP-AO keys on this side or disable TCP-AO on the peer"),
        Entry("TCP_AOKEYNOTFOUND",
              "The segment's TCP-AO key ID matches no key configured here",
              "Compare the TCP-AO key IDs on both ends; `nstat -az TcpExtTCPAOKeyNotFound` counts these"),
        Entry("TCP_AOFAILURE",
              "The TCP-AO authentication code does not match",
              "Compare the TCP-AO keys and algorithms on both ends; `nstat -az TcpExtTCPAOBad` counts these"),

        // MARK: Other link types and encryption
        Entry("CAN_RX_INVALID_FRAME",
              "A CAN frame was malformed or the device cannot receive classic CAN frames",
              "Check the CAN interface's mode with `ip -d link show IF` and what the sender transmits (`candump IF`)"),
        Entry("CANFD_RX_INVALID_FRAME",
              "A CAN FD frame was malformed or the device is not in CAN FD mode",
              "`ip -d link show IF` must show fd on for CAN FD traffic (`ip link set IF type can fd on`)"),
        Entry("CANXL_RX_INVALID_FRAME",
              "A CAN XL frame was malformed or the device cannot receive CAN XL frames",
              "Check the interface's CAN XL support and mode with `ip -d link show IF`"),
        Entry("PSP_INPUT",
              "A received packet failed the PSP encryption checks, for example it was not protected although the connection requires PSP",
              "Check that both ends agree on PSP for this connection (keys, SPI) and that the NIC's PSP support is enabled"),
        Entry("PSP_OUTPUT",
              "An outgoing packet failed the PSP encryption checks, for example it would leave through a device other than the one its PSP association belongs to",
              "Check that the route (`ip route get DADDR`) uses the PSP-capable device the association was made on"),
    ]
}
