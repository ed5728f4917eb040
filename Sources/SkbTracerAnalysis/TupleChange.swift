import SkbTracerModel

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
    /// The tunnel's VXLAN or GENEVE network identifier, when BPF read the
    /// tunnel header (the outer packet's tunnel section).
    public let vni: UInt32?

    /// NAT rewrites addresses and ports and keeps the length (but for helpers
    /// rewriting payloads, as FTP's); a tunnel adds or removes outer headers.
    /// `outerBefore`: the tunnel section of the event before `at`, if any.
    init(from: FlowTuple, to: FlowTuple, at: TraceEvent, lengthBefore: UInt16, lengthAfter: UInt16,
         outerBefore: Tunnel? = nil) {
        self.from = from
        self.to = to
        self.at = at
        if let tunnel = Self.tunnel(to), lengthAfter > lengthBefore {
            kind = .encapsulation(tunnel)
            vni = at.tunnel?.vni
        } else if let tunnel = Self.tunnel(from), lengthAfter < lengthBefore {
            kind = .decapsulation(tunnel)
            vni = outerBefore?.vni
        } else {
            kind = .nat
            vni = nil
        }
    }

    public var isNAT: Bool { kind == .nat }

    /// The tunnel a tuple is the outer header of (Tunnel.name).
    public static func tunnel(_ t: FlowTuple) -> String? {
        Tunnel.name(l4: t.l4, dport: t.dport, ipv4: t.saddr.isIPv4)
    }
}
