/// The filters applied in user space to recorded events (`skbtracer replay`),
/// with the BPF side's meaning (skb_event.bpf.h: the scope filters, then
/// l3_matches and l4_matches): a replay with `-H X` shows what a live trace
/// with `-H X` would have shown of the same traffic.
extension TraceFilter {
    public var isEmpty: Bool { self == TraceFilter() }

    /// `owners`: who owns each socket, for --owner-pid (a replay's, from the recording).
    public func matches(_ e: TraceEvent, owners: SocketOwners? = nil) -> Bool {
        let r = e.raw
        if let pid, r.pid != pid { return false }
        if let ownerPid, SocketText.isKernel(r) || owners?.owner(r.sock_ino)?.pid != ownerPid { return false }
        // As in BPF: a route lookup that is no packet's has no mark, interface or length to compare.
        if e.isRouteFlow && (mark != nil || ifname != nil || ipLen != nil) { return false }
        if let mark, r.mark & markMask != mark { return false }
        if let netns, r.netns != netns { return false }
        if let ifname, e.ifname != ifname { return false }
        if let l3Proto, r.l3_proto != l3Proto { return false }
        if let l4Proto, !e.hasL3 || r.l4_proto != l4Proto { return false }
        // IPAddress equality includes the family; an IPv4 address also matches
        // ARP's IPv4 addresses, as in BPF.
        if let addr, e.saddr != addr, e.daddr != addr { return false }
        if let saddr, e.saddr != saddr { return false }
        if let daddr, e.daddr != daddr { return false }
        if let ipLen {
            guard e.hasL3, e.isIPv4 || e.isIPv6, !e.tupleFromSocket, ipLen.contains(r.ip_len) else { return false }
        }
        if port != nil || sport != nil || dport != nil {
            guard e.hasL4, r.l4_proto == 6 || r.l4_proto == 17 else { return false }
            if let port, r.sport != port, r.dport != port { return false }
            if let sport, r.sport != sport { return false }
            if let dport, r.dport != dport { return false }
        }
        if let icmpID {
            guard e.hasL4, r.l4_proto == 1 || r.l4_proto == 58, r.icmp_id == icmpID else { return false }
        }
        if let tcpFlags {
            guard e.hasL4, r.l4_proto == 6, r.tcp_flags & tcpFlags == tcpFlags else { return false }
        }
        return true
    }
}
