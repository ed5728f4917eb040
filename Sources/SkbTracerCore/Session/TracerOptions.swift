/// Everything a trace run needs, independent of how it was asked for.
public struct TracerOptions: Sendable {
    public var filter = TraceFilter()
    public var probes: [Probe] = ProbeCatalogue.defaults
    public var format: OutputFormat = .text
    public var timeFormat: TimeFormat = .wallClock
    /// Stop after this many printed events.
    public var count: Int?
    /// Stop after this many seconds.
    public var duration: Double?
    /// Created once every probe is attached.
    public var readyFile: String?
    /// Output file instead of stdout.
    public var outputPath: String?
    public var printHeader = true
    /// Ring buffer size in bytes (a power of two, a multiple of the page size).
    public var ringBytes: UInt32 = 8 << 20
    /// The BPF side wakes the reader once this much data waits; the reader also
    /// polls with a timeout, so quiet traces still show up within `pollTimeoutMs`.
    public var wakeupBytes: UInt32 = 256 << 10
    public var pollTimeoutMs: Int32 = 100
    public var verbose = false

    public init() {}
}
