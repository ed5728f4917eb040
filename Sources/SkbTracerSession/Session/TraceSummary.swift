/// What a finished trace saw, printed to stderr at exit.
public struct TraceSummary: Sendable {
    public var events: UInt64 = 0
    public var printed: UInt64 = 0
    /// Events the BPF side could not write because the ring was full (exact).
    public var lost: UInt64 = 0
    /// The same losses per probe (Retis' per-probe counters), largest first.
    public var lostByProbe: [(probe: String, lost: UInt64)] = []
    /// `--output-skb` dumps the ring had no room for (their events print without).
    public var skbDumpsLost: UInt64 = 0
    /// Records that were not valid events (counted, never fatal).
    public var malformed: UInt64 = 0
    public var attached: Int = 0
    public var requested: Int = 0
    /// `--backend`: kernel functions attached, of those chosen, and how.
    public var functionsAttached = 0
    public var functionsRequested = 0
    public var functionBackend = ""
    /// `--netfilter`: namespaces with hook programs and with nftrace (nil: not asked for).
    public var netfilterNamespaces: Int?
    public var nftraceNamespaces = 0
    /// nf_tables verdicts read, and how often the listener's buffer overflowed.
    public var nftVerdicts: UInt64 = 0
    public var nftraceOverflows = 0
    public var stopReason = ""
    public var tracking = false
    /// Matched skbs the BPF tracking table had no room for (raise --track-max).
    public var trackFull: UInt64 = 0
    /// Tracked skbs forgotten after --track-timeout without an event.
    public var trackExpired: UInt64 = 0
    /// NAT rewrites of tracked packets seen (their reply flows followed).
    public var natFlows: UInt64 = 0
    /// Journeys printed early because too many were open.
    public var journeysEvicted: UInt64 = 0
    /// Drop events seen, per reason name, most first.
    public var drops: [(reason: String, count: UInt64)] = []
    /// kfree_skb was attached: no drops is then worth saying.
    public var dropsTraced = false

    public init() {}

    public var line: String {
        var s = "skbtracer: \(events) events"
        if printed != events { s += " (\(printed) printed)" }
        s += ", \(lost) lost"
        if !lostByProbe.isEmpty {
            s += " (" + lostByProbe.map { "\($0.probe) \($0.lost)" }.joined(separator: ", ") + ")"
        }
        if skbDumpsLost > 0 { s += ", \(skbDumpsLost) skb dumps lost" }
        if malformed > 0 { s += ", \(malformed) malformed records" }
        s += "; \(attached)/\(requested) probes attached"
        if !functionBackend.isEmpty { s += ", \(functionsAttached)/\(functionsRequested) functions (\(functionBackend))" }
        if let n = netfilterNamespaces {
            s += ", netfilter hooks in \(n) namespace\(n == 1 ? "" : "s"), rule verdicts in \(nftraceNamespaces)"
            if nftVerdicts > 0 { s += " (\(nftVerdicts) verdicts)" }
            if nftraceOverflows > 0 { s += ", nftrace overflowed \(nftraceOverflows) times (verdicts lost)" }
        }
        if tracking {
            // Only what happened: a zero here read as an alarm after every run.
            var parts: [String] = []
            if trackFull > 0 { parts.append("\(trackFull) events of untracked skbs (table full)") }
            if trackExpired > 0 { parts.append("\(trackExpired) expired") }
            if natFlows > 0 { parts.append("\(natFlows) NAT rewrites followed") }
            if !parts.isEmpty { s += "; tracking: " + parts.joined(separator: ", ") }
        }
        if journeysEvicted > 0 { s += "; \(journeysEvicted) journeys printed early (too many open)" }
        if !stopReason.isEmpty { s += "; stopped: \(stopReason)" }
        if let d = DropTally.summaryText(drops, traced: dropsTraced) { s += "; \(d)" }
        return s
    }
}
