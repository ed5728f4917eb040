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

    func relativeNs(_ ts: UInt64) -> UInt64 {
        if firstEventNs == nil { firstEventNs = ts }
        return ts &- firstEventNs!
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
