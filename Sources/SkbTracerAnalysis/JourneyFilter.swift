/// Which finished journeys are printed (nettrace's `--min-latency` and
/// `--diag-quiet`). Every journey still counts in the exit diagnosis.
public struct JourneyFilter: Sendable, Equatable {
    /// At least this long from the first event to the last.
    public var minDurationNs: UInt64?
    /// Only journeys that went wrong: a drop that is not known noise. (A journey
    /// with no end seen is not one: TCP frees most segments where no tracepoint
    /// fires, so healthy TCP ends "in flight".)
    public var problemsOnly = false

    public init(minDurationNs: UInt64? = nil, problemsOnly: Bool = false) {
        self.minDurationNs = minDurationNs
        self.problemsOnly = problemsOnly
    }

    public var isActive: Bool { minDurationNs != nil || problemsOnly }

    public func keeps(_ j: Journey) -> Bool {
        if let min = minDurationNs, j.durationNs < min { return false }
        if problemsOnly && !j.outcome.isFailure { return false }
        return true
    }
}
