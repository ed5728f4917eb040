import CSkbTracerABI

/// What every formatter needs besides the event.
public final class FormatContext: @unchecked Sendable {
    public let dropReasons: DropReasons
    public let symbols: KernelSymbols
    public let clock: Clock
    public let timeFormat: TimeFormat
    /// ktime of the first event, for relative times.
    public var firstEventNs: UInt64?

    public init(dropReasons: DropReasons, symbols: KernelSymbols, clock: Clock = Clock(),
                timeFormat: TimeFormat = .wallClock) {
        self.dropReasons = dropReasons
        self.symbols = symbols
        self.clock = clock
        self.timeFormat = timeFormat
    }

    private var isoSecond: Int64 = .min
    private var isoPrefix: [UInt8] = []

    /// RFC 3339 time; the date and time up to the second change rarely, so they
    /// are formatted once per second (gmtime_r per event is the costly part).
    func appendISO8601(_ ts: UInt64, to b: inout ByteBuffer) {
        let ns = clock.wallNs(ts)
        let second = ns / 1_000_000_000
        if second != isoSecond {
            isoSecond = second
            var full = ByteBuffer(capacity: 32)
            clock.appendISO8601(ts, to: &full)
            // Keep "YYYY-MM-DDTHH:MM:SS." only.
            isoPrefix = Array(full.bytes.prefix(20))
        }
        b.append(contentsOf: isoPrefix)
        b.appendDecimal(UInt64(ns % 1_000_000_000) / 1000, width: 6)
        b.append(UInt8(ascii: "Z"))
    }

    func relativeNs(_ ts: UInt64) -> UInt64 {
        if firstEventNs == nil { firstEventNs = ts }
        // Records from different CPUs arrive slightly out of order: never negative.
        return ts > firstEventNs! ? ts - firstEventNs! : 0
    }
}

/// Renders events and stream markers into a byte buffer.
public protocol EventFormatter {
    /// Printed once before the first event (column titles), or nothing.
    func header(into b: inout ByteBuffer)
    func event(_ e: TraceEvent, into b: inout ByteBuffer)
    /// A marker where the ring buffer was full and `count` events were lost on `cpu`.
    func lost(count: UInt64, cpu: UInt32, into b: inout ByteBuffer)
}

public enum OutputFormat: String, Sendable {
    case text, json
}

public func makeFormatter(_ format: OutputFormat, context: FormatContext) -> any EventFormatter {
    switch format {
    case .text: return TextFormatter(context: context)
    case .json: return JSONFormatter(context: context)
    }
}
