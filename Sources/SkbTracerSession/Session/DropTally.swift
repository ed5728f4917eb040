import SkbTracerModel

/// Drop events per reason, for the last words of the exit summary (every view:
/// events, journeys, --drop, ping, replay).
public struct DropTally: Sendable {
    private var byCode: [UInt32: UInt64] = [:]

    public init() {}

    public mutating func add(_ e: TraceEvent) {
        if e.isDrop { byCode[e.dropReason ?? 0, default: 0] += 1 }
    }

    /// Most frequent first, then by name.
    public func byReason(_ names: DropReasons) -> [(reason: String, count: UInt64)] {
        byCode.map { (reason: names.name($0.key), count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason < $1.reason }
    }

    /// `drops: NETFILTER_DROP 3, NO_SOCKET 1`, `no drops` when drops were traced
    /// and none came, nil when nothing traced drops (no kfree_skb probe).
    public static func summaryText(_ drops: [(reason: String, count: UInt64)], traced: Bool) -> String? {
        if !drops.isEmpty { return "drops: " + drops.map { "\($0.reason) \($0.count)" }.joined(separator: ", ") }
        return traced ? "no drops" : nil
    }
}
