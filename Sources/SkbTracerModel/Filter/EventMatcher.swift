/// The filters applied in user space to recorded events (`skbtracer replay`),
/// with the BPF side's meaning (skb_event.bpf.h: the scope filters, then
/// l3_matches and l4_matches): a replay with `-H X` shows what a live trace
/// with `-H X` would have shown of the same traffic.
extension TraceFilter {
    public var isEmpty: Bool { self == TraceFilter() }

    /// `owners`: who owns each socket, for --owner-pid (a replay's, from the recording).
    public func matches(_ e: TraceEvent, owners: SocketOwners? = nil) -> Bool {
        if let pid, e.context.pid != pid { return false }
        if let ownerPid {
            guard let s = e.socket, !s.isKernel, owners?.owner(s.inode)?.pid == ownerPid else { return false }
        }
        // As in BPF: a route lookup that is no packet's has no mark, interface or length to compare.
        if e.isRouteFlow && (mark != nil || ifname != nil || ipLen != nil) { return false }
        if let mark, e.context.mark & markMask != mark { return false }
        if let netns, e.netns != netns { return false }
        if let ifname, e.ifname != ifname { return false }
        // A tunnel packet also matches by the packet it carries (BPF: the same
        // filters on the tunnel section's inner headers).
        guard packetMatches(e.packet, event: e) || (e.tunnel?.inner).map({ packetMatches($0, event: nil) }) == true else {
            return false
        }
        // As BPF (pcap_matches()): the expression on the packet's own bytes, which
        // a recording has when it was made with --snaplen; without them, no match.
        if let expression { return e.payload.map(expression.matches) ?? false }
        return true
    }

    /// The filters on one packet's headers (BPF: l3_matches, l4_matches, and
    /// ct_matches when `event` has a conntrack entry to try).
    func packetMatches(_ p: Packet, event e: TraceEvent?) -> Bool {
        let r = p.raw
        if let l3Proto, r.l3_proto != l3Proto { return false }
        if let l4Proto, !p.hasL3 || r.l4_proto != l4Proto { return false }
        if let ipLen {
            guard let length = p.ipLength, ipLen.contains(length) else { return false }
        }
        // Addresses are decoded only when a filter asks for them (this runs for every replayed event).
        if hasTupleFilter, !tupleMatches(p, Tuple(saddr: p.saddr, daddr: p.daddr, sport: r.sport, dport: r.dport)) {
            // As BPF under --ct (ST_F_CT_TUPLE): a recording made with --ct carries the entry.
            guard let t = e?.initiatorTuple, tupleMatches(p, t) else { return false }
        }
        if let icmpID {
            guard p.hasL4, r.l4_proto == Packet.Number.icmp || r.l4_proto == Packet.Number.icmpv6, r.icmp_id == icmpID else { return false }
        }
        if let tcpFlags {
            guard p.hasL4, r.l4_proto == Packet.Number.tcp, r.tcp_flags & tcpFlags == tcpFlags else { return false }
        }
        return true
    }
}

extension TraceFilter {
    /// What the address and port filters look at.
    struct Tuple {
        let saddr: IPAddress?
        let daddr: IPAddress?
        let sport: UInt16
        let dport: UInt16
    }

    /// The address and port filters on one tuple, the packet's own or its
    /// conntrack entry's (BPF: addrs_match, ports_match); family and protocol
    /// are the packet's.
    func tupleMatches(_ p: Packet, _ t: Tuple) -> Bool {
        // IPAddress equality includes the family; an IPv4 address also matches
        // ARP's IPv4 addresses, as in BPF.
        if let addr, t.saddr != addr, t.daddr != addr { return false }
        if let saddr, t.saddr != saddr { return false }
        if let daddr, t.daddr != daddr { return false }
        if port != nil || sport != nil || dport != nil {
            guard p.hasL4, p.raw.l4_proto == Packet.Number.tcp || p.raw.l4_proto == Packet.Number.udp else { return false }
            if let port, t.sport != port, t.dport != port { return false }
            if let sport, t.sport != sport { return false }
            if let dport, t.dport != dport { return false }
        }
        return true
    }

    /// Filters on a packet's headers: a tunnel packet can pass them by its inner packet.
    public var hasPacketFilter: Bool {
        hasTupleFilter || l3Proto != nil || l4Proto != nil || icmpID != nil || tcpFlags != nil || ipLen != nil
    }

    /// Whether the filters can use the conntrack entry under `--track` or `--ct` (ST_F_CT_TUPLE).
    public var hasTupleFilter: Bool {
        addr != nil || saddr != nil || daddr != nil || port != nil || sport != nil || dport != nil
    }
}

extension TraceEvent {
    /// The connection as its initiator addressed it (BPF: ct_tuple_matches):
    /// the conntrack entry's original tuple for a packet going the original
    /// way (ctinfo established 0 or new 2), reversed for a reply (3); nil
    /// without an entry NAT rewrote (status SRC_NAT or DST_NAT), where that is
    /// the packet's own tuple, and for related packets (another packet's entry).
    var initiatorTuple: TraceFilter.Tuple? {
        guard let ct, ct.family != 0, ct.status & (1 << 4 | 1 << 5) != 0, [0, 2, 3].contains(ct.ctinfo) else { return nil }
        let o = ct.orig
        if ct.ctinfo == 3 { return TraceFilter.Tuple(saddr: address(o.daddr), daddr: address(o.saddr), sport: o.dport, dport: o.sport) }
        return TraceFilter.Tuple(saddr: address(o.saddr), daddr: address(o.daddr), sport: o.sport, dport: o.dport)
    }
}
