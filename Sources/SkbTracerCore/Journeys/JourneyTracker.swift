import CSkbTracerABI

/// Groups events into journeys, one per `sk_buff`, and hands each journey out
/// when it ends: at its free (kfree_skb / consume_skb), after `timeoutNs`
/// without an event, or when the trace ends.
///
/// Memory is bounded: at most `maxOpen` journeys are kept open; beyond that the
/// ones idle longest are handed out early as in flight and counted in `evicted`.
public final class JourneyTracker {
    public let maxOpen: Int
    public let timeoutNs: UInt64
    /// Journeys handed out early because `maxOpen` were open.
    public private(set) var evicted: UInt64 = 0
    /// Journeys started so far.
    public private(set) var started = 0

    private let names: JourneyNames
    private var open: [UInt64: Journey] = [:]
    /// Echo requests by (IPv6, id, seq) and packets by tuple, for linking replies.
    private var echoRequests = BoundedIndex<EchoKey>(capacity: 1 << 16)
    private var byTuple = BoundedIndex<FlowTuple>(capacity: 1 << 16)

    struct EchoKey: Hashable { let v6: Bool; let id: UInt16; let seq: UInt16 }

    public init(names: JourneyNames, maxOpen: Int = 65536, timeoutNs: UInt64 = 2_000_000_000) {
        self.names = names
        self.maxOpen = max(1, maxOpen)
        self.timeoutNs = timeoutNs
    }

    public var openCount: Int { open.count }

    /// Adds one event; returns the journeys that ended with it (usually none or one).
    public func add(_ e: TraceEvent) -> [Journey] {
        var ended: [Journey] = []
        let skb = e.raw.skb
        if var j = open[skb] {
            if isNewPacket(e, after: j) {
                // The address was reused without a free we saw: close the old one.
                open[skb] = nil
                j.outcome = .inFlight
                ended.append(j)
            } else {
                j.events.append(e)
                index(e, of: j.id)
                if e.isFree {
                    open[skb] = nil
                    j.outcome = names.outcome(of: j)
                    ended.append(j)
                } else {
                    open[skb] = j
                }
                return ended
            }
        }
        started += 1
        var j = Journey(id: started, first: e)
        j.replyTo = requestAnswered(by: e)
        index(e, of: j.id)
        if e.isFree {
            // Matched only at its free (e.g. a drop filter): a journey of one event.
            j.outcome = names.outcome(of: j)
            ended.append(j)
        } else {
            open[skb] = j
            if open.count > maxOpen { ended += evictIdlest() }
        }
        return ended
    }

    /// Journeys with no event for `timeoutNs` before `nowNs` (CLOCK_MONOTONIC).
    public func expire(nowNs: UInt64) -> [Journey] {
        var ended: [Journey] = []
        for (skb, j) in open where nowNs > j.lastNs && nowNs - j.lastNs > timeoutNs {
            open[skb] = nil
            ended.append(j)
        }
        return ended.sorted { $0.id < $1.id }
    }

    /// Every journey still open, oldest first (at the end of the trace).
    public func flush() -> [Journey] {
        let all = open.values.sorted { $0.id < $1.id }
        open.removeAll()
        return all
    }

    /// An event for an open skb that BPF matched anew (not tracked) with another
    /// tuple: the kernel freed the skb where no tracepoint fires and reused it.
    private func isNewPacket(_ e: TraceEvent, after j: Journey) -> Bool {
        // What NAT never rewrites changed: another packet, whatever BPF thought
        // (it may follow the new one as a reply of a NATed flow).
        if let now = Self.identity(e), let before = j.events.lazy.compactMap(Self.identity).last, now != before {
            return true
        }
        guard !e.isTracked, j.events.count > 0 else { return false }
        guard let now = FlowTuple(e), let before = FlowTuple(j.last) else { return false }
        if now == before {
            // Same flow: a new echo sequence number is still a new packet.
            return PacketText.isEcho(e.raw) && PacketText.isEcho(j.last.raw) && e.raw.icmp_seq != j.last.raw.icmp_seq
        }
        return true
    }

    /// Protocol, TCP flags, ICMP type and seq, IP length: the same for one
    /// packet all along its path (BPF's packet_identity()); nil without an L4
    /// header read from the packet.
    static func identity(_ e: TraceEvent) -> [UInt32]? {
        guard e.hasL4, !e.tupleFromSocket else { return nil }
        let r = e.raw
        return [UInt32(r.l4_proto), UInt32(r.tcp_flags), UInt32(r.icmp_type), UInt32(r.icmp_seq), UInt32(r.ip_len)]
    }

    private func index(_ e: TraceEvent, of id: Int) {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return }
        if e.hasL4, e.isICMP, e.raw.icmp_type == 8 || e.raw.icmp_type == 128 {
            echoRequests.set(EchoKey(v6: e.isIPv6, id: e.raw.icmp_id, seq: e.raw.icmp_seq), id)
        }
        byTuple.set(t, id)
    }

    /// The request a packet answers: an echo reply by id and seq, anything else
    /// by the reversed tuple of an earlier packet (after NAT, if it was rewritten).
    private func requestAnswered(by e: TraceEvent) -> Int? {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return nil }
        if e.hasL4, e.isICMP {
            guard e.raw.icmp_type == 0 || e.raw.icmp_type == 129 else { return nil }
            return echoRequests[EchoKey(v6: e.isIPv6, id: e.raw.icmp_id, seq: e.raw.icmp_seq)]
        }
        guard t.sport != 0 || t.dport != 0 else { return nil }
        return byTuple[t.reversed]
    }

    private func evictIdlest() -> [Journey] {
        // Evict a tenth at once so the scan is paid rarely.
        let n = max(1, open.count - maxOpen + maxOpen / 10)
        let victims = open.values.sorted { $0.lastNs < $1.lastNs }.prefix(n)
        for v in victims { open[v.skb] = nil }
        evicted += UInt64(victims.count)
        return victims.sorted { $0.id < $1.id }
    }
}

/// A dictionary that forgets its oldest keys beyond `capacity`.
struct BoundedIndex<Key: Hashable> {
    let capacity: Int
    private var values: [Key: Int] = [:]
    private var order: [Key] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    subscript(key: Key) -> Int? { values[key] }

    mutating func set(_ key: Key, _ value: Int) {
        if values.updateValue(value, forKey: key) == nil { order.append(key) }
        if values.count > capacity {
            values[order[head]] = nil
            head += 1
            if head > capacity { order.removeFirst(head); head = 0 }
        }
    }
}
