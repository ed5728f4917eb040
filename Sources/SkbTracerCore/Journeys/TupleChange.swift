/// A change of a packet's tuple along its journey: NAT rewriting addresses or
/// ports, or a tunnel putting the packet inside another (encapsulation) or
/// taking it out (decapsulation). The skb stays the same across all three, so
/// only the tuples and the IP length tell them apart.
public struct TupleChange: Sendable {
    public enum Kind: Sendable, Equatable {
        case nat
        /// Put inside a tunnel packet (`to` is the outer tuple); the tunnel's name.
        case encapsulation(String)
        /// Taken out of a tunnel packet (`from` was the outer tuple).
        case decapsulation(String)
    }

    public let from: FlowTuple
    public let to: FlowTuple
    /// The event where the new tuple first showed.
    public let at: TraceEvent
    public let kind: Kind

    /// NAT rewrites addresses and ports and keeps the length (but for helpers
    /// rewriting payloads, as FTP's); a tunnel adds or removes outer headers.
    init(from: FlowTuple, to: FlowTuple, at: TraceEvent, lengthBefore: UInt16, lengthAfter: UInt16) {
        self.from = from
        self.to = to
        self.at = at
        if let tunnel = Self.tunnel(to), lengthAfter > lengthBefore {
            kind = .encapsulation(tunnel)
        } else if let tunnel = Self.tunnel(from), lengthAfter < lengthBefore {
            kind = .decapsulation(tunnel)
        } else {
            kind = .nat
        }
    }

    public var isNAT: Bool { kind == .nat }

    /// The tunnel a tuple is the outer header of: UDP to a tunnel's registered
    /// port (and Linux's old VXLAN port), or an IP protocol that carries IP.
    public static func tunnel(_ t: FlowTuple) -> String? {
        switch t.l4 {
        case 17:
            switch t.dport {
            case 4789, 8472: return "VXLAN"
            case 4790: return "VXLAN-GPE"
            case 6081: return "GENEVE"
            default: return nil
            }
        case 4: return t.saddr.isIPv4 ? "IPIP" : "IPv4-in-IPv6"
        case 41: return t.saddr.isIPv4 ? "SIT (IPv6-in-IPv4)" : "IPv6-in-IPv6"
        case 47: return "GRE"
        default: return nil
        }
    }
}
