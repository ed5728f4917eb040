/// What a finished trace saw, printed to stderr at exit.
public struct TraceSummary: Sendable {
    public var events: UInt64 = 0
    public var printed: UInt64 = 0
    /// Events the BPF side could not write because the ring was full (exact).
    public var lost: UInt64 = 0
    /// Records that were not valid events (counted, never fatal).
    public var malformed: UInt64 = 0
    public var attached: Int = 0
    public var requested: Int = 0
    public var stopReason = ""

    public var line: String {
        var s = "skbtracer: \(events) events"
        if printed != events { s += " (\(printed) printed)" }
        s += ", \(lost) lost"
        if malformed > 0 { s += ", \(malformed) malformed records" }
        s += "; \(attached)/\(requested) probes attached"
        if !stopReason.isEmpty { s += "; stopped: \(stopReason)" }
        return s
    }
}
