import CSkbTracerABI
import SkbTracerModel
import SkbTracerSystem

/// What turns raw journey facts into words: drop-reason names, kernel symbols,
/// namespace names, and the rules that classify how a journey ended.
public final class JourneyNames: @unchecked Sendable {
    public let dropReasons: DropReasons
    public let symbols: KernelSymbols
    public let netns: NetnsNames

    public init(dropReasons: DropReasons, symbols: KernelSymbols, netns: NetnsNames) {
        self.dropReasons = dropReasons
        self.symbols = symbols
        self.netns = netns
    }

    /// `symbol+0xoff` of a free's caller.
    public func location(_ e: TraceEvent) -> String {
        e.hasLocation && e.location != 0 ? symbols.symbolize(e.location) : "?"
    }

    /// The function part of `symbol+0xoff`.
    public static func function(of location: String) -> String {
        // Once per journey: no array of pieces, as split() would make.
        location.utf8.firstIndex(of: UInt8(ascii: "+")).map { String(location[..<$0]) } ?? location
    }

    /// A journey whose outcome a copy still to come may change: an unclaimed echo
    /// reply is a drop until its raw-socket copy is seen delivered.
    func awaitsCopy(_ j: Journey) -> Bool {
        guard case .dropped(let reason, let location, nil) = j.outcome else { return false }
        return DropExplanations.isUnclaimedEchoReply(reason: reason, function: Self.function(of: location), event: j.last)
            && !hasRawSocketRead(j)
    }

    /// A raw socket read a copy of this packet: the copy was copied to user space
    /// and freed by raw_recvmsg/rawv6_recvmsg, or not freed yet. A packet socket's
    /// read (tcpdump) is no evidence that the pinger got its reply.
    func hasRawSocketRead(_ j: Journey) -> Bool {
        j.copies.contains { c in
            guard c.events.contains(where: { $0.header.probe == UInt16(ST_PROBE_SKB_COPY_DATAGRAM_IOVEC.rawValue) }) else { return false }
            guard c.last.isFree else { return true }
            return Self.rawReceiveFunctions.contains(Self.function(of: location(c.last)))
        }
    }

    static let rawReceiveFunctions: Set<String> = ["raw_recvmsg", "rawv6_recvmsg"]

    /// A clone freed right after carrying an ARP/ND solicitation: neigh_probe()
    /// (inlined in __neigh_event_send) clones the packet waiting for the
    /// neighbour and frees the clone once the solicitation is sent.
    func isNeighbourCopy(_ e: TraceEvent) -> Bool {
        guard e.header.probe == UInt16(ST_PROBE_CONSUME_SKB.rawValue) else { return false }
        let fn = Self.function(of: location(e))
        return Self.neighbourFunctions.contains(fn)
    }

    static let neighbourFunctions: Set<String> = ["__neigh_event_send", "neigh_probe"]

    /// How a journey that ended with a free ended.
    ///
    /// A drop is a drop (with its known-noise note, if any). A consume_skb right
    /// after a receive-side event is a local delivery; right after a transmit
    /// event, a driver freeing a sent packet; anything else is "consumed".
    func outcome(of j: Journey) -> JourneyOutcome {
        let end = j.last
        guard end.isFree else { return .inFlight }
        let loc = location(end)
        let fn = Self.function(of: loc)
        if end.header.probe == UInt16(ST_PROBE_KFREE_SKB.rawValue) {
            let reason = dropReasons.name(end.dropReason ?? 0)
            // Routine only with the evidence: a copy of this reply reached a socket.
            if DropExplanations.isUnclaimedEchoReply(reason: reason, function: fn, event: end) {
                return .dropped(reason: reason, location: loc, noise: hasRawSocketRead(j) ? DropExplanations.rawCopyRead : nil)
            }
            return .dropped(reason: reason, location: loc,
                            noise: DropExplanations.noise(reason: reason, function: fn, event: end))
        }
        if let copy = j.events.last(where: { $0.header.probe == UInt16(ST_PROBE_SKB_COPY_DATAGRAM_IOVEC.rawValue) }) {
            // comm is the task's own choice of bytes: only printable ones get through.
            let comm = String(copy.comm.unicodeScalars.map { $0.value >= 0x20 && $0.value != 0x7f ? Character($0) : "?" })
            return .delivered(at: "socket read by \(comm)/\(copy.context.pid)")
        }
        // A route lookup between the receive and the free (--route) says nothing of the fate.
        let before = j.events.dropLast().last(where: { $0.route == nil })?.header.probe ?? UInt16.max
        switch before {
        case UInt16(ST_PROBE_NET_DEV_QUEUE.rawValue), UInt16(ST_PROBE_NET_DEV_START_XMIT.rawValue),
             UInt16(ST_PROBE_NET_DEV_XMIT.rawValue), UInt16(ST_PROBE_QDISC_DEQUEUE.rawValue):
            return .transmitted(at: fn)
        case UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), UInt16(ST_PROBE_NETIF_RECEIVE_SKB_ENTRY.rawValue),
             UInt16(ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY.rawValue), UInt16(ST_PROBE_NETIF_RX.rawValue),
             UInt16(ST_PROBE_NETIF_RX_ENTRY.rawValue), UInt16(ST_PROBE_NAPI_GRO_RECEIVE_ENTRY.rawValue):
            return .delivered(at: fn)
        default:
            return .consumed(at: fn)
        }
    }
}
