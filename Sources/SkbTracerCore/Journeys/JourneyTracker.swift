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
    // Unchecked exclusivity: appending a hop modifies this dictionary in place
    // for every event; with the sink's buffer below, the runtime checks were
    // about 4% of journey mode's instructions (callgrind: 1,538 -> 1,507 M for
    // 20,000 journeys). The tracker is used from one thread and never hands
    // out inout access.
    @exclusivity(unchecked) private var open: [UInt64: Journey] = [:]
    /// Echo requests by (IPv6, id, seq) and packets by tuple, for linking replies.
    @exclusivity(unchecked) private var echoRequests = BoundedIndex<EchoKey>(capacity: 1 << 16)
    @exclusivity(unchecked) private var byTuple = BoundedIndex<FlowTuple>(capacity: 1 << 16)

    /// skbs whose journey just ended at a free, with the free's time: the
    /// functions that tear a freed skb down (skb_release_data, kfree_skbmem...)
    /// fire after the free tracepoint and are not a new packet.
    private var freedAt: [UInt64: UInt64] = [:]
    /// Frees are remembered only once function events are seen (tracepoint-only
    /// traces pay nothing for it).
    private var sawFunctions = false
    /// How long after its free a function event still belongs to the freed skb.
    static let teardownNs: UInt64 = 1_000_000

    /// Function events of a freed skb's teardown, left out of journeys.
    public private(set) var teardownEvents: UInt64 = 0

    /// An echo request by its tuple (addresses and id) and sequence number: the
    /// id alone repeats across containers (iputils uses the pid).
    struct EchoKey: Hashable { let tuple: FlowTuple; let seq: UInt16 }

    public init(names: JourneyNames, maxOpen: Int = 65536, timeoutNs: UInt64 = 2_000_000_000) {
        self.names = names
        self.maxOpen = max(1, maxOpen)
        self.timeoutNs = timeoutNs
    }

    public var openCount: Int { open.count }

    /// Adds one event; returns the journeys that ended with it (usually none or one).
    public func add(_ e: TraceEvent) -> [Journey] {
        // A route lookup that is no packet's has no journey to join.
        if e.isRouteFlow { return [] }
        var ended: [Journey] = []
        let skb = e.raw.skb
        if e.isFunction { sawFunctions = true }
        if e.isFunction, open[skb] == nil, let freed = freedAt[skb], e.raw.ts_ns >= freed,
           e.raw.ts_ns - freed < Self.teardownNs {
            teardownEvents += 1
            return []
        }
        if let last = open[skb]?.last {
            if isNewPacket(e, after: last) {
                // The address was reused without a free we saw: close the old one.
                var old = open.removeValue(forKey: skb)!
                old.outcome = .inFlight
                ended.append(old)
            } else {
                // Appended in place (the dictionary's modify accessor): copying the
                // journey out and back would copy its events on every hop.
                open[skb]!.events.append(e)
                if !Self.sameTuple(e.raw, last.raw) { index(e, of: open[skb]!.id) }
                if e.isFree {
                    var j = open.removeValue(forKey: skb)!
                    j.outcome = names.outcome(of: j)
                    ended.append(j)
                    noteFree(e)
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
            noteFree(e)
        } else {
            open[skb] = j
            if open.count > maxOpen { ended += evictIdlest() }
        }
        return ended
    }

    private func noteFree(_ e: TraceEvent) {
        guard sawFunctions else { return }
        if freedAt.count >= 1 << 16 { freedAt.removeAll(keepingCapacity: true) }
        freedAt[e.raw.skb] = e.raw.ts_ns
    }

    /// Same addresses, protocol, ports and echo id, compared in place: this runs
    /// for every event, and building FlowTuples would allocate.
    static func sameTuple(_ a: st_event, _ b: st_event) -> Bool {
        a.l3_proto == b.l3_proto && a.l4_proto == b.l4_proto && a.sport == b.sport && a.dport == b.dport
            && a.icmp_id == b.icmp_id
            && withUnsafeBytes(of: a.saddr) { x in withUnsafeBytes(of: b.saddr) { y in x.elementsEqual(y) } }
            && withUnsafeBytes(of: a.daddr) { x in withUnsafeBytes(of: b.daddr) { y in x.elementsEqual(y) } }
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

    /// An event for an open skb that is another packet. BPF decides when it
    /// tracks the skb (it compares the data buffer and the packet identity);
    /// otherwise (tracking off or full, or a NATed-flow match) a change of what
    /// NAT never rewrites, or of the tuple, means a new packet.
    private func isNewPacket(_ e: TraceEvent, after last: TraceEvent) -> Bool {
        if e.isSameTrackedSkb { return false }
        if let now = Self.identity(e), let before = Self.identity(last), now != before { return true }
        guard last.hasL3, e.hasL3 else { return false }
        if Self.sameTuple(e.raw, last.raw) {
            // Same flow: a new echo sequence number is still a new packet.
            return PacketText.isEcho(e.raw) && PacketText.isEcho(last.raw) && e.raw.icmp_seq != last.raw.icmp_seq
        }
        return true
    }

    /// Protocol, TCP flags and sequence, ICMP type and seq, IP length, IPv4 id:
    /// the same for one packet all along its path (BPF's packet_identity()); nil
    /// without an L4 header read from the packet.
    struct Identity: Equatable {
        let proto: UInt64
        let perPacket: UInt64
    }

    static func identity(_ e: TraceEvent) -> Identity? {
        guard e.hasL4, !e.tupleFromSocket else { return nil }
        let r = e.raw
        let seq = withUnsafeBytes(of: r.tcp_seq) { UInt64($0.loadUnaligned(as: UInt32.self)) }
        return Identity(proto: UInt64(r.l4_proto) | UInt64(r.tcp_flags) << 8 | UInt64(r.icmp_type) << 16
                            | UInt64(r.icmp_seq) << 24 | UInt64(r.ip_len) << 40,
                        perPacket: UInt64(r.ip_id) | seq << 16)
    }

    private func index(_ e: TraceEvent, of id: Int) {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return }
        if e.hasL4, e.isICMP, e.raw.icmp_type == 8 || e.raw.icmp_type == 128 {
            echoRequests.set(EchoKey(tuple: t, seq: e.raw.icmp_seq), id)
        }
        byTuple.set(t, id)
    }

    /// The request a packet answers: an echo reply by tuple and seq, anything else
    /// by the reversed tuple of an earlier packet (after NAT, if it was rewritten).
    private func requestAnswered(by e: TraceEvent) -> Int? {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return nil }
        if e.hasL4, e.isICMP {
            guard e.raw.icmp_type == 0 || e.raw.icmp_type == 129 else { return nil }
            // Every tuple a request had is indexed, so this holds after NAT too.
            return echoRequests[EchoKey(tuple: t.reversed, seq: e.raw.icmp_seq)]
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
