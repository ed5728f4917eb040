import SkbTracerModel

/// The exit report (like nettrace `--diag`): per flow, how many packets were
/// delivered, forwarded and dropped; each drop reason with its count, location,
/// explanation and hint.
public final class Diagnosis {
    public struct FlowCounts: Sendable {
        public let flow: FlowTuple?
        public let label: String
        public var packets = 0
        public var forwarded = 0
        /// By outcome kind: delivered, dropped, noise, consumed, transmitted, in_flight.
        public var outcomes: [String: Int] = [:]
    }

    public struct DropKey: Hashable, Sendable {
        public let reason: String
        public let location: String
        public let netns: UInt32
        /// Routine drops are counted apart from failures at the same place (an
        /// echo reply whose copy was read, and one nobody read).
        public var noise = false
        /// `--netfilter`: the nf_tables verdict that dropped the packets, so each
        /// rule (or chain policy) is counted apart.
        public var rule: NftVerdict? = nil
    }

    public struct DropCounts: Sendable {
        public let key: DropKey
        public var count = 0
        public let noise: String?
        /// The first journey printed that ended this way, to look it up in the output;
        /// nil when none was printed (the event view, or journeys --min-latency or
        /// --diag-quiet left out): a number the user never saw would point nowhere.
        public var exampleJourney: Int?
        /// The dropping event of the first journey that ended this way, by skb and
        /// time: what the event view shows of it.
        public let exampleSkb: UInt64
        public let exampleTsNs: UInt64
    }

    public private(set) var journeys = 0
    public private(set) var flows: [FlowCounts] = []
    public private(set) var drops: [DropCounts] = []
    /// By tuple (hashing it is cheap; printing it is not, so the label is made
    /// once per flow), or by label for packets without one.
    private enum FlowKey: Hashable { case tuple(FlowTuple), label(String) }
    private var flowIndex: [FlowKey: Int] = [:]
    private static let otherFlows = FlowKey.label("other flows")
    private var dropIndex: [DropKey: Int] = [:]
    /// Flows beyond this many are counted together (memory stays bounded).
    public let maxFlows: Int
    /// Drop kinds (reason, location, netns) beyond this many are counted under
    /// one "other" key: a kernel has a few hundred drop sites, so only corrupt
    /// records or thousands of namespaces get there.
    public let maxDropKinds: Int
    static let otherDrops = DropKey(reason: "other", location: "other", netns: 0)

    public init(maxFlows: Int = 10_000, maxDropKinds: Int = 4_096) {
        self.maxFlows = maxFlows
        self.maxDropKinds = maxDropKinds
    }

    /// What the flow's label shows: ports for TCP and UDP only, so pings with
    /// different echo ids between two hosts are one flow, as the label says.
    private static func flowKey(_ t: FlowTuple) -> FlowKey {
        t.l4 == 6 || t.l4 == 17 ? .tuple(t) : .tuple(FlowTuple(l4: t.l4, saddr: t.saddr, daddr: t.daddr, sport: 0, dport: 0))
    }

    /// `printed`: whether the journey itself was shown, so it may be cited by number.
    public func add(_ j: Journey, printed: Bool = true) {
        journeys += 1
        let tuple = j.originalTuple
        var key = tuple.map(Self.flowKey) ?? .label(Self.nonIPLabel(j.first))
        if flowIndex[key] == nil && flows.count >= maxFlows { key = Self.otherFlows }
        let i: Int
        if let existing = flowIndex[key] { i = existing } else {
            i = flows.count
            switch key {
            case .tuple: flows.append(FlowCounts(flow: tuple, label: tuple?.description ?? ""))
            case .label(let label): flows.append(FlowCounts(flow: nil, label: label))
            }
            flowIndex[key] = i
        }
        flows[i].packets += 1
        if j.wasForwarded { flows[i].forwarded += 1 }
        flows[i].outcomes[j.outcome.kind, default: 0] += 1

        if case .dropped(let reason, let location, let noise) = j.outcome {
            var key = DropKey(reason: reason, location: location, netns: j.last.context.netns, noise: noise != nil,
                              rule: j.droppingVerdict.map(Self.ruleKey))
            if dropIndex[key] == nil && drops.count >= maxDropKinds - 1 { key = Self.otherDrops }
            if let d = dropIndex[key] {
                drops[d].count += 1
                if printed && drops[d].exampleJourney == nil { drops[d].exampleJourney = j.id }
            } else {
                dropIndex[key] = drops.count
                drops.append(DropCounts(key: key, count: 1, noise: noise, exampleJourney: printed ? j.id : nil,
                                        exampleSkb: j.last.header.skb, exampleTsNs: j.last.header.ts_ns))
            }
        }
    }

    /// A verdict as a drop key: which rule, not which packet (its trace id).
    static func ruleKey(_ v: NftVerdict) -> NftVerdict {
        var v = v
        v.traceID = 0
        return v
    }

    static func nonIPLabel(_ e: TraceEvent) -> String {
        e.isARP ? "arp" : e.packet.raw.l3_proto != 0 ? "l3 \(PacketText.l3Name(e.packet.raw.l3_proto))" : "unknown"
    }

    /// Drops, most frequent first; real failures before known noise.
    public var sortedDrops: [DropCounts] {
        drops.sorted { a, b in
            if (a.noise == nil) != (b.noise == nil) { return a.noise == nil }
            return a.count > b.count
        }
    }
}
