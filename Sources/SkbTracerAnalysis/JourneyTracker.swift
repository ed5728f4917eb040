import CSkbTracerABI
import SkbTracerModel

/// Groups events into journeys, one per `sk_buff`, and hands each journey out
/// when it ends: at its free (kfree_skb / consume_skb), after `timeoutNs`
/// without an event, or when the trace ends. Journeys are handed out in the
/// order they started (within `reorderLimit` finished journeys waiting for an
/// earlier one).
///
/// A clone of a packet is folded into the packet's journey as a copy instead of
/// being a journey of its own: the clone that carried an ARP/ND solicitation,
/// and a socket's copy read from its queue (a raw socket's copy of an echo
/// reply). The copy is found by the packet's identity (what NAT never
/// rewrites: protocol, TCP flags and sequence, ICMP type and sequence, IP length
/// and id), which a clone shares with its original.
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
    /// Events that joined no journey (no skb, or a freed skb's teardown): a view
    /// that writes every event (`--write`) writes these at once.
    public private(set) var unjoined: UInt64 = 0

    private let names: JourneyNames
    // Unchecked exclusivity: appending a hop modifies this dictionary in place
    // for every event; with the sink's buffer below, the runtime checks were
    // about 4% of journey mode's instructions (callgrind: 1,538 -> 1,507 M for
    // 20,000 journeys). The tracker is used from one thread and never hands
    // out inout access.
    @exclusivity(unchecked) private var open: [UInt64: Journey] = [:]
    /// The skb of each open journey that is not a copy, by journey number.
    private var openSkb: [Int: UInt64] = [:]
    /// Echo requests by (IPv6, id, seq) and packets by tuple, for linking replies.
    @exclusivity(unchecked) private var echoRequests = BoundedIndex<EchoKey>(capacity: 1 << 16)
    @exclusivity(unchecked) private var byTuple = BoundedIndex<FlowTuple>(capacity: 1 << 16)
    /// Journeys by their packet's identity, for finding a copy's original.
    @exclusivity(unchecked) private var byPacket = BoundedIndex<PacketKey>(capacity: 1 << 16)

    /// Ended journeys whose outcome waits for a copy (an echo reply freed without
    /// a socket, until its raw-socket copy is read), with the time they ended.
    private var awaiting: [Int: (journey: Journey, endNs: UInt64)] = [:]
    /// Copies that came before their original (a locally sent packet's clone
    /// carries the solicitation before the packet itself leaves), with their key.
    private var earlyCopies: [(key: PacketKey, copy: Journey)] = []
    /// How long a journey waits for its copy (an early copy waits for its
    /// original up to the journey timeout: neighbour resolution can take a second).
    static let copyWindowNs: UInt64 = 500_000_000

    /// Ended journeys not handed out yet: one that started earlier is still going.
    private var done: [Int: Journey] = [:]
    /// The number of the next journey to hand out.
    private var nextOut = 1
    /// Ended journeys kept waiting for an earlier one at most: beyond, they go
    /// out of order (and the late one when it ends).
    public let reorderLimit: Int

    /// skbs whose journey just ended at a free, with the free's time: the
    /// functions that tear a freed skb down (skb_release_data, kfree_skbmem...)
    /// fire after the free tracepoint and are not a new packet.
    private var freedAt: [UInt64: UInt64] = [:]
    /// Frees are remembered only once function events are seen (tracepoint-only
    /// traces pay nothing for it).
    private var sawFunctions = false
    /// How long after its free a function event still belongs to the freed skb.
    static let teardownNs: UInt64 = 1_000_000

    /// The latest packet the kernel answered with an ICMP error (its icmp_send
    /// event): the journey of the error that follows answers that one's.
    private var lastICMPSend: (id: Int, source: IPAddress?, ts: UInt64)?
    /// How soon after icmp_send its error packet shows up (it is built and sent
    /// from icmp_send itself).
    static let icmpErrorNs: UInt64 = 5_000_000

    /// Whether a function is part of freeing an skb (what runs after the free
    /// tracepoint or free function): only those are its teardown. Any other
    /// function at a just-freed address is a new packet that reused the memory
    /// (a TCP segment's skb comes back from the fclone cache within microseconds).
    static func isTeardown(_ function: String?) -> Bool {
        guard let f = function else { return false }
        return TraceEvent.freeFunctions.contains(f) || f.hasPrefix("skb_release") || f.hasPrefix("skb_free")
            || f.hasSuffix("_destructor") || f == "sock_wfree" || f == "sock_rfree" || f == "tcp_wfree" || f == "napi_skb_cache_put"
    }

    /// Function events of a freed skb's teardown, left out of journeys.
    public private(set) var teardownEvents: UInt64 = 0

    /// An echo request by its tuple (addresses and id) and sequence number: the
    /// id alone repeats across containers (iputils uses the pid).
    struct EchoKey: Hashable { let tuple: FlowTuple; let seq: UInt16 }

    /// A packet by what its clones share with it and NAT never rewrites.
    struct PacketKey: Hashable {
        let l3: UInt16
        let identity: Identity
        init?(_ e: TraceEvent) {
            guard let identity = JourneyTracker.identity(e) else { return nil }
            l3 = e.packet.raw.l3_proto
            self.identity = identity
        }
    }

    public init(names: JourneyNames, maxOpen: Int = 65536, timeoutNs: UInt64 = 2_000_000_000) {
        self.names = names
        self.maxOpen = max(1, maxOpen)
        self.timeoutNs = timeoutNs
        reorderLimit = max(1, maxOpen) / 4
    }

    public var openCount: Int { open.count }

    /// Adds one event; returns the journeys that ended with it (usually none or one).
    public func add(_ e: TraceEvent) -> [Journey] {
        // A route lookup that is no packet's, or an nf_tables verdict matched
        // with no skb's event, has no journey to join.
        if e.header.skb == 0 { unjoined += 1; return [] }
        var out: [Journey] = []
        let skb = e.header.skb
        if e.isFunction { sawFunctions = true }
        if e.isFunction, open[skb] == nil, let freed = freedAt[skb], e.header.ts_ns >= freed,
           e.header.ts_ns - freed < Self.teardownNs, Self.isTeardown(e.function) {
            teardownEvents += 1
            unjoined += 1
            return []
        }
        if let last = open[skb]?.last {
            if isNewPacket(e, after: last) {
                // The address was reused without a free we saw: close the old one.
                var old = remove(skb)
                old.outcome = .inFlight
                ended(old, into: &out)
            } else {
                // Appended in place (the dictionary's modify accessor): copying the
                // journey out and back would copy its events on every hop.
                open[skb]!.events.append(e)
                if !e.packet.hasSameTuple(as: last.packet), !open[skb]!.isCopy { index(e, of: open[skb]!.id) }
                if e.header.probe == UInt16(ST_PROBE_ICMP_SEND.rawValue) {
                    lastICMPSend = (open[skb]!.id, e.saddr, e.header.ts_ns)
                }
                if e.isFree {
                    var j = remove(skb)
                    j.outcome = names.outcome(of: j)
                    ended(j, into: &out)
                    noteFree(e)
                }
                return out
            }
        }
        start(e, into: &out)
        if open.count > maxOpen { for j in evictIdlest() { ended(j, into: &out) } }
        return out
    }

    /// The first event of an skb: a new journey, or a copy of a packet already seen.
    private func start(_ e: TraceEvent, into out: inout [Journey]) {
        let key = PacketKey(e)
        if let key, e.isFree, names.isNeighbourCopy(e) {
            var copy = Journey(id: 0, first: e)
            copy.outcome = names.outcome(of: copy)
            noteFree(e)
            if let original = byPacket[key], Self.sameCopy(e, finalTuple(of: original)),
               attach(copy, to: original, into: &out) { return }
            earlyCopies.append((key, copy))
            if earlyCopies.count > 256 { releaseEarlyCopy(at: 0, into: &out) }
            return
        }
        // A socket read of an skb never seen before, the same packet as one seen:
        // a clone queued to a second socket (a raw socket's copy of an echo reply).
        if let key, e.header.probe == UInt16(ST_PROBE_SKB_COPY_DATAGRAM_IOVEC.rawValue),
           let original = byPacket[key], let tuple = finalTuple(of: original), tuple == FlowTuple(e) {
            var copy = Journey(id: original, first: e)
            copy.isCopy = true
            open[e.header.skb] = copy
            return
        }
        started += 1
        var j = Journey(id: started, first: e)
        j.replyTo = requestAnswered(by: e)
        index(e, of: j.id)
        if let key, !earlyCopies.isEmpty {
            let tuple = FlowTuple(e)
            for i in earlyCopies.indices.reversed()
            where earlyCopies[i].key == key && Self.sameCopy(earlyCopies[i].copy.first, tuple) {
                var copy = earlyCopies.remove(at: i).copy
                copy.id = j.id
                j.copies.insert(copy, at: 0)
            }
        }
        if e.isFree {
            // Matched only at its free (e.g. a drop filter): a journey of one event.
            j.outcome = names.outcome(of: j)
            ended(j, into: &out)
            noteFree(e)
        } else {
            open[e.header.skb] = j
            openSkb[j.id] = e.header.skb
        }
    }

    /// Whether a clone and a packet with the same identity are one packet: an
    /// IPv4 id tells packets apart on its own (the clone may be seen after NAT,
    /// the original before); without one (IPv6, id 0) the tuples must agree.
    static func sameCopy(_ copy: TraceEvent, _ tuple: FlowTuple?) -> Bool {
        (copy.isIPv4 && copy.packet.raw.ip_id != 0) || (tuple != nil && FlowTuple(copy) == tuple)
    }

    /// The tuple a journey (open, waiting or ended) last had, while the tracker still holds it.
    private func finalTuple(of id: Int) -> FlowTuple? {
        if let skb = openSkb[id], let j = open[skb] { return j.finalTuple }
        return (awaiting[id]?.journey ?? done[id])?.finalTuple
    }

    /// Folds a finished copy into its original while the tracker still holds it.
    private func attach(_ copy: Journey, to id: Int, into out: inout [Journey]) -> Bool {
        var copy = copy
        copy.id = id
        if let skb = openSkb[id], open[skb] != nil {
            open[skb]!.copies.append(copy)
        } else if let w = awaiting.removeValue(forKey: id) {
            var waiting = w.journey
            waiting.copies.append(copy)
            waiting.outcome = names.outcome(of: waiting)
            // Another socket's copy (a packet socket's) is no evidence: wait on.
            if names.awaitsCopy(waiting) { awaiting[id] = (waiting, w.endNs) } else { finished(waiting, into: &out) }
        } else if done[id] != nil {
            // Ended unclaimed while waiting for an earlier journey: the copy still counts.
            done[id]!.copies.append(copy)
            done[id]!.outcome = names.outcome(of: done[id]!)
            if !done[id]!.outcome.isFailure { done[id]!.note = nil }
        } else {
            return false
        }
        return true
    }

    /// A journey whose last event came: a copy joins its original, an original may
    /// wait for its copy, the rest is finished.
    private func ended(_ j: Journey, into out: inout [Journey]) {
        if j.isCopy {
            var copy = j
            copy.isCopy = false
            // The original is gone already: the copy is printed on its own.
            if !attach(copy, to: j.id, into: &out) { own(copy, into: &out) }
            return
        }
        if names.awaitsCopy(j) {
            // Bounded: past the limit (a flood of replies nobody asked for) the
            // waiting ones end unclaimed, in order.
            if awaiting.count >= reorderLimit {
                for id in awaiting.keys.sorted() { finished(unclaimed(awaiting.removeValue(forKey: id)!.journey), into: &out) }
            }
            awaiting[j.id] = (j, j.lastNs)
            return
        }
        finished(j, into: &out)
    }

    /// A copy whose original is not held (any more): a journey of its own.
    private func own(_ copy: Journey, into out: inout [Journey]) {
        started += 1
        var j = copy
        j.id = started
        j.replyTo = requestAnswered(by: j.first)
        finished(j, into: &out)
    }

    private func releaseEarlyCopy(at i: Int, into out: inout [Journey]) {
        own(earlyCopies.remove(at: i).copy, into: &out)
    }

    /// Hands journeys out in the order they started.
    private func finished(_ j: Journey, into out: inout [Journey]) {
        if j.id < nextOut { out.append(j); return }
        done[j.id] = j
        if done.count > reorderLimit {
            // Too many wait for long-lived journeys: go past them (numbers are
            // dense, so each step hands one out or skips one still going, which
            // goes out when it ends), down to half the limit.
            while done.count > reorderLimit / 2 {
                if let next = done.removeValue(forKey: nextOut) { out.append(next) }
                nextOut += 1
            }
        }
        while let next = done.removeValue(forKey: nextOut) {
            out.append(next)
            nextOut += 1
        }
    }

    private func remove(_ skb: UInt64) -> Journey {
        let j = open.removeValue(forKey: skb)!
        if openSkb[j.id] == skb { openSkb[j.id] = nil }
        return j
    }

    private func noteFree(_ e: TraceEvent) {
        guard sawFunctions else { return }
        if freedAt.count >= 1 << 16 { freedAt.removeAll(keepingCapacity: true) }
        freedAt[e.header.skb] = e.header.ts_ns
    }

    /// Journeys with no event for `timeoutNs` before `nowNs` (CLOCK_MONOTONIC),
    /// and those whose copy did not come in time.
    public func expire(nowNs: UInt64) -> [Journey] {
        var out: [Journey] = []
        let idle = open.compactMap { nowNs > $0.value.lastNs && nowNs - $0.value.lastNs > timeoutNs ? $0.key : nil }
        end(idle, into: &out)
        for (id, w) in awaiting where nowNs > w.endNs && nowNs - w.endNs > Self.copyWindowNs {
            awaiting[id] = nil
            finished(unclaimed(w.journey), into: &out)
        }
        var i = 0
        while i < earlyCopies.count {
            let copy = earlyCopies[i].copy
            if nowNs > copy.lastNs && nowNs - copy.lastNs > timeoutNs { releaseEarlyCopy(at: i, into: &out) } else { i += 1 }
        }
        return out
    }

    /// Ends these open skbs' journeys: copies first, while their originals are
    /// still held, then the originals in the order they started.
    private func end(_ skbs: [UInt64], into out: inout [Journey]) {
        for skb in skbs where open[skb]?.isCopy == true { ended(remove(skb), into: &out) }
        let originals = skbs.compactMap { open[$0] != nil ? remove($0) : nil }.sorted { $0.id < $1.id }
        for j in originals { ended(j, into: &out) }
    }

    /// An echo reply no copy of which was read: a real drop, said why.
    private func unclaimed(_ j: Journey) -> Journey {
        var j = j
        j.note = DropExplanations.echoReplyUnread
        return j
    }

    /// Every journey still open or waiting, in order (at the end of the trace).
    public func flush() -> [Journey] {
        var out: [Journey] = []
        end(Array(open.keys), into: &out)
        for w in awaiting.values.sorted(by: { $0.journey.id < $1.journey.id }) { done[w.journey.id] = unclaimed(w.journey) }
        awaiting.removeAll()
        while !earlyCopies.isEmpty { releaseEarlyCopy(at: 0, into: &out) }
        out += done.values.sorted { $0.id < $1.id }
        done.removeAll()
        nextOut = started + 1
        return out
    }
    /// An event for an open skb that is another packet. BPF decides when it
    /// tracks the skb (it compares the data buffer and the packet identity);
    /// otherwise (tracking off or full, or a NATed-flow match) a change of what
    /// NAT never rewrites, or of the tuple, means a new packet.
    private func isNewPacket(_ e: TraceEvent, after last: TraceEvent) -> Bool {
        if e.isSameTrackedSkb { return false }
        if let now = Self.identity(e), let before = Self.identity(last), now != before { return true }
        guard last.hasL3, e.hasL3 else { return false }
        if e.packet.hasSameTuple(as: last.packet) {
            // Same flow: a new echo sequence number is still a new packet.
            return e.packet.isEcho && last.packet.isEcho && e.packet.raw.icmp_seq != last.packet.raw.icmp_seq
        }
        return true
    }

    /// Protocol, TCP flags and sequence, ICMP type and seq, IP length, IPv4 id:
    /// the same for one packet all along its path (BPF's packet_identity()); nil
    /// without an L4 header read from the packet.
    struct Identity: Hashable {
        let proto: UInt64
        let perPacket: UInt64
    }

    static func identity(_ e: TraceEvent) -> Identity? {
        guard e.hasL4, !e.tupleFromSocket else { return nil }
        let r = e.packet.raw
        let seq = withUnsafeBytes(of: r.tcp_seq) { UInt64($0.loadUnaligned(as: UInt32.self)) }
        return Identity(proto: UInt64(r.l4_proto) | UInt64(r.tcp_flags) << 8 | UInt64(r.icmp_type) << 16
                            | UInt64(r.icmp_seq) << 24 | UInt64(r.ip_len) << 40,
                        perPacket: UInt64(r.ip_id) | seq << 16)
    }

    private func index(_ e: TraceEvent, of id: Int) {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return }
        if e.packet.isEchoRequest {
            echoRequests.set(EchoKey(tuple: t, seq: e.packet.raw.icmp_seq), id)
        }
        byTuple.set(t, id)
        if let key = PacketKey(e) { byPacket.set(key, id) }
    }

    /// The request a packet answers: an echo reply by tuple and seq, anything else
    /// by the reversed tuple of an earlier packet (after NAT, if it was rewritten).
    private func requestAnswered(by e: TraceEvent) -> Int? {
        guard !e.tupleFromSocket, let t = FlowTuple(e) else { return nil }
        if e.hasL4, e.isICMP {
            // An ICMP error answers the packet icmp_send was called for just before.
            if e.packet.isICMPError, let s = lastICMPSend, e.header.ts_ns >= s.ts,
               e.header.ts_ns - s.ts < Self.icmpErrorNs, s.source == e.daddr {
                return s.id
            }
            guard e.packet.isEchoReply else { return nil }
            // Every tuple a request had is indexed, so this holds after NAT too.
            return echoRequests[EchoKey(tuple: t.reversed, seq: e.packet.raw.icmp_seq)]
        }
        guard t.sport != 0 || t.dport != 0 else { return nil }
        return byTuple[t.reversed]
    }

    private func evictIdlest() -> [Journey] {
        // Evict a tenth at once so the scan is paid rarely.
        let n = max(1, open.count - maxOpen + maxOpen / 10)
        let victims = open.values.sorted { $0.lastNs < $1.lastNs }.prefix(n).map { remove($0.skb) }
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
