import CSkbTracerABI
import SkbTracerModel

/// One packet's life as skbtracer saw it: the events of one `sk_buff`, from the
/// first that matched the filter to its free (or to the end of the trace).
public struct Journey: Sendable {
    /// Numbered from 1 in the order journeys start. A copy has its original's
    /// number (it is printed inside it).
    public internal(set) var id: Int
    public let skb: UInt64
    public internal(set) var events: [TraceEvent]
    public internal(set) var outcome: JourneyOutcome = .inFlight
    /// The journey this one answers (an echo reply, a SYN-ACK, a UDP response).
    public internal(set) var replyTo: Int?
    /// Clones of this packet, each another `sk_buff` with its own events and end:
    /// the copy that carried an ARP/ND solicitation, a raw socket's copy of a
    /// reply (`JourneyTracker` links them by the packet's identity).
    public internal(set) var copies: [Journey] = []
    /// What the tracker learnt about the outcome beyond the events: an echo reply
    /// whose raw-socket copy nobody read is a real drop, and says why.
    public internal(set) var note: String?
    /// While open: a copy of journey `id`, folded into it when it ends.
    var isCopy = false

    init(id: Int, first: TraceEvent) {
        self.id = id
        skb = first.header.skb
        events = [first]
    }

    public var first: TraceEvent { events[0] }
    public var last: TraceEvent { events[events.count - 1] }
    public var startNs: UInt64 { first.header.ts_ns }
    public var lastNs: UInt64 { last.header.ts_ns }
    /// Time from the first to the last event.
    public var durationNs: UInt64 { lastNs > startNs ? lastNs - startNs : 0 }

    /// The netfilter hook this packet entered last and never left (`--netfilter`'s
    /// hook programs): a hook function dropped, stole or queued it there. nil when
    /// it left every hook it entered, or without hook events.
    public var hookNeverLeft: NetfilterHookPass? {
        var open: NetfilterHookPass?
        for e in events {
            guard let pass = e.netfilterHook else { continue }
            if pass.isEntry {
                open = pass
            } else if let o = open, o.family == pass.family, o.hook == pass.hook {
                open = nil
            }
        }
        return open
    }

    /// The nf_tables rule (or chain policy) whose verdict dropped this packet
    /// (`--netfilter`, nftrace): its last drop verdict.
    public var droppingVerdict: NftVerdict? {
        events.last { $0.nftVerdict?.isDrop == true }?.nftVerdict
    }

    /// The nf_tables rule that made the NAT rewrite first seen at `e`: the latest
    /// translating rule's verdict (`NftVerdict.isNAT`) up to that event.
    public func natRule(upTo e: TraceEvent) -> NftVerdict? {
        events.last { $0.header.ts_ns <= e.header.ts_ns && $0.nftVerdict?.isNAT == true }?.nftVerdict
    }

    /// The packet's tuple at its first event (before any NAT).
    public var originalTuple: FlowTuple? { events.lazy.compactMap(FlowTuple.init).first }
    /// The tuple at its last event with one (after NAT).
    public var finalTuple: FlowTuple? { events.reversed().lazy.compactMap(FlowTuple.init).first }

    /// Tuple changes along the way, in order, with the event where the new
    /// tuple first showed: NAT rewrites, encapsulation and decapsulation.
    public var tupleChanges: [TupleChange] {
        var result: [TupleChange] = []
        var current: (tuple: FlowTuple, length: UInt16, tunnel: Tunnel?)?
        for e in events where !e.tupleFromSocket {
            guard let t = FlowTuple(e) else { continue }
            if let c = current, c.tuple != t {
                result.append(TupleChange(from: c.tuple, to: t, at: e, lengthBefore: c.length, lengthAfter: e.packet.raw.ip_len,
                                          outerBefore: c.tunnel))
            }
            current = (t, e.packet.raw.ip_len, e.tunnel)
        }
        return result
    }

    /// NAT rewrites only, in order.
    public var rewrites: [(from: FlowTuple, to: FlowTuple, at: TraceEvent)] {
        tupleChanges.filter(\.isNAT).map { ($0.from, $0.to, $0.at) }
    }

    /// Left through an interface other than the one it arrived on (routed or bridged).
    public var wasForwarded: Bool {
        // Interfaces by namespace and raw name bytes: no String per event (this
        // runs for every journey).
        struct Interface: Equatable { let netns: UInt32; let name: (UInt64, UInt64)
            static func == (a: Self, b: Self) -> Bool { a.netns == b.netns && a.name == b.name } }
        var inputs: [Interface] = []
        for e in events {
            var raw = e.context.ifname
            // The name up to its NUL: what follows may be stale bytes.
            withUnsafeMutableBytes(of: &raw) { b in
                if let nul = b.firstIndex(of: 0) { for i in nul..<b.count { b[i] = 0 } }
            }
            let name = withUnsafeBytes(of: raw) {
                ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
            // An empty name: no interface (a socket-level probe).
            guard name.0 & 0xff != 0 else { continue }
            let here = Interface(netns: e.context.netns, name: name)
            switch e.header.probe {
            case UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), UInt16(ST_PROBE_NETIF_RECEIVE_SKB_ENTRY.rawValue),
                 UInt16(ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY.rawValue), UInt16(ST_PROBE_NAPI_GRO_RECEIVE_ENTRY.rawValue):
                if !inputs.contains(here) { inputs.append(here) }
            case UInt16(ST_PROBE_NET_DEV_QUEUE.rawValue), UInt16(ST_PROBE_NET_DEV_START_XMIT.rawValue):
                // Out of the same namespace it came in through, on another device.
                if inputs.contains(where: { $0.netns == here.netns && $0 != here }) { return true }
            default: break
            }
        }
        return false
    }
}

/// How a journey ended.
public enum JourneyOutcome: Sendable, Equatable {
    /// Reached a socket or a local protocol handler (`function` from the free's location).
    case delivered(at: String)
    /// Freed by kfree_skb: the reason name, its location (`sym+0xoff`), and a
    /// note when this drop is routine (known noise) rather than a failure.
    case dropped(reason: String, location: String, noise: String?)
    /// consume_skb somewhere that is neither delivery nor transmission.
    case consumed(at: String)
    /// Handed to a device driver and freed after transmission.
    case transmitted(at: String)
    /// Still alive when the trace ended, or nothing more was seen before the timeout.
    case inFlight

    /// For JSON and the diagnosis: delivered, dropped, noise, consumed, transmitted, in_flight.
    public var kind: String {
        switch self {
        case .delivered: return "delivered"
        case .dropped(_, _, let noise): return noise == nil ? "dropped" : "noise"
        case .consumed: return "consumed"
        case .transmitted: return "transmitted"
        case .inFlight: return "in_flight"
        }
    }

    public var isFailure: Bool {
        if case .dropped(_, _, nil) = self { return true }
        return false
    }
}

/// The addresses, protocol and ports (or ICMP echo id) of a packet: what NAT
/// rewrites and what links a reply to its request.
public struct FlowTuple: Hashable, Sendable, CustomStringConvertible {
    public let l4: UInt8
    public let saddr: IPAddress
    public let daddr: IPAddress
    /// Ports for TCP/UDP; the echo id twice for ICMP echo; 0 otherwise.
    public let sport: UInt16
    public let dport: UInt16

    public init(l4: UInt8, saddr: IPAddress, daddr: IPAddress, sport: UInt16, dport: UInt16) {
        self.l4 = l4; self.saddr = saddr; self.daddr = daddr; self.sport = sport; self.dport = dport
    }

    public init?(_ e: TraceEvent) {
        guard e.hasL3, e.isIPv4 || e.isIPv6, let s = e.saddr, let d = e.daddr else { return nil }
        l4 = e.packet.raw.l4_proto
        saddr = s
        daddr = d
        if let ports = e.packet.ports {
            sport = ports.sport; dport = ports.dport
        } else if let echo = e.packet.echo {
            sport = echo.id; dport = echo.id
        } else {
            sport = 0; dport = 0
        }
    }

    public var reversed: FlowTuple { FlowTuple(l4: l4, saddr: daddr, daddr: saddr, sport: dport, dport: sport) }

    public var protocolName: String { PacketText.l4Name(l4) }

    public var description: String {
        switch l4 {
        case 6, 17:
            return "\(protocolName) \(Self.endpoint(saddr, sport)) > \(Self.endpoint(daddr, dport))"
        default:
            return "\(protocolName) \(saddr) > \(daddr)"
        }
    }

    public static func endpoint(_ a: IPAddress, _ port: UInt16) -> String {
        a.isIPv4 ? "\(a):\(port)" : "[\(a)]:\(port)"
    }
}
