import Foundation

/// `skbtracer replay FILE`: a recording printed as the live trace would have
/// printed it (events, journeys, drops; text or JSON), with the recording
/// machine's clock, drop-reason names, symbols and namespace names.
public final class Replay {
    public struct Summary: Sendable {
        public var events: UInt64 = 0
        public var printed: UInt64 = 0
        /// Events the ring had no room for while recording (from the events' own
        /// counters and the records of losses found at exit).
        public var lost: UInt64 = 0
        /// The recorder's totals, when the recording was closed properly.
        public var recorded: (events: UInt64, lost: UInt64)?
        public var damage = RecordReader.Damage()
        /// Read to the end of the file (not stopped by -c or a closed output).
        public var complete = false

        public var line: String {
            var s = "skbtracer: replayed \(events) events"
            if printed != events { s += " (\(printed) printed)" }
            s += ", \(lost) lost while recording"
            if complete && recorded == nil { s += "; the recording has no end record (cut off?)" }
            if damage.truncatedBytes > 0 { s += "; \(damage.truncatedBytes) bytes of a cut-off record at the end" }
            if damage.skipped > 0 { s += "; \(damage.skipped) records skipped (unknown or malformed)" }
            if let at = damage.corruptAt { s += "; corrupt record at byte \(at): the rest was not read" }
            return s
        }
    }

    private let reader: RecordReader
    private let options: TracerOptions
    private let sink: OutputSink
    private let symbols = KernelSymbols(symbols: [])
    private let netns: NetnsNames
    /// Called for every event before it is formatted (tests).
    public var onEvent: ((TraceEvent) -> Void)?
    /// The trace's filters, applied to recorded events (TraceFilter.matches).
    public var filter = TraceFilter()
    /// `-N NAME` on replay: a namespace name as the recording machine knew it.
    public var netnsName: String?
    /// Recorded time between consumer ticks (journey timeouts, --drop intervals).
    static let tickNs: UInt64 = 100_000_000

    public init(path: String, options: TracerOptions, sink: OutputSink? = nil) throws {
        reader = try RecordReader(path: path)
        self.options = options
        if let out = options.outputPath { self.sink = try OutputSink(path: out) } else { self.sink = sink ?? OutputSink() }
        netns = NetnsNames(names: [:], hostInode: reader.header.hostNetns == 0 ? nil : reader.header.hostNetns)
    }

    public var header: RecordFormat.Header { reader.header }

    /// Prints the whole recording (or up to -c); the output's write error, if any, is thrown.
    @discardableResult
    public func run() throws -> Summary {
        var summary = Summary()
        var dropNames: [UInt32: String] = [:]
        var consumer: (any TraceConsumer)?
        var lastTickNs: UInt64 = 0

        // Drop-reason names come first in a recording: the formatters are built
        // once the first other record arrives.
        func started() -> any TraceConsumer {
            if let consumer { return consumer }
            let context = FormatContext(dropReasons: DropReasons(names: dropNames), symbols: symbols,
                                        clock: Clock(realtimeOffsetNs: header.realtimeOffsetNs,
                                                     utcOffsetSeconds: header.utcOffsetSeconds),
                                        timeFormat: options.timeFormat)
            let names = JourneyNames(dropReasons: context.dropReasons, symbols: symbols, netns: netns)
            let made = TracerSession.makeConsumer(options, sink: sink, formatter: makeFormatter(options.format, context: context),
                                                  context: context, names: names)
            made.begin()
            consumer = made
            return made
        }

        var stopped = false
        try reader.forEach { item in
            switch item {
            case .dropReason(let code, let name):
                guard consumer == nil else { return true }
                dropNames[code] = name
            case .symbol(let address, let name):
                symbols.remember(address, as: name)
            case .netns(let inode, let name):
                netns.set(name, for: inode)
            case .lost(let count, let cpu):
                summary.lost += count
                started().lost(count: count, cpu: cpu)
            case .end(let events, let lost):
                summary.recorded = (events, lost)
            case .event(let e):
                let c = started()
                guard filter.matches(e), netnsName.map({ netns.name(e.raw.netns) == $0 }) ?? true else { return true }
                if let limit = options.count, c.emitted >= UInt64(limit) { stopped = true; return false }
                summary.events += 1
                onEvent?(e)
                if e.raw.lost_before > 0 {
                    summary.lost += UInt64(e.raw.lost_before)
                    c.lost(count: UInt64(e.raw.lost_before), cpu: e.raw.cpu)
                }
                c.consume(e)
                // Time as recorded, so journeys time out and --drop counts
                // roll over as they did live.
                if e.raw.ts_ns >= lastTickNs &+ Self.tickNs {
                    lastTickNs = e.raw.ts_ns
                    c.tick(nowNs: e.raw.ts_ns)
                }
                if let limit = options.count, c.emitted >= UInt64(limit) { stopped = true; return false }
            }
            if sink.writeError != nil { stopped = true }
            return !stopped
        }
        summary.complete = !stopped
        let c = started()
        c.end()
        summary.printed = c.emitted
        summary.damage = reader.damage
        sink.flush()
        if let e = sink.writeError, e != EPIPE {
            throw RuntimeError("write output: \(String(cString: strerror(e))) (errno \(e))",
                               hint: "check the output file's disk or use another -o path")
        }
        return summary
    }
}
