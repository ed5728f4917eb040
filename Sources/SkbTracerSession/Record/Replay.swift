import BPFKit
import CSkbTracerABI
import Foundation
import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem

/// `skbtracer replay FILE`: a recording printed as the live trace would have
/// printed it (events, journeys, drops; text or JSON), with the recording
/// machine's clock, probe and drop-reason names, symbols and namespace names.
public final class Replay {
    public struct Summary: Sendable {
        public var events: UInt64 = 0
        public var printed: UInt64 = 0
        /// Events the ring had no room for while recording (from the events' own
        /// counters and the records of losses found at exit), filters or not.
        public var lost: UInt64 = 0
        /// The same per probe, as the recorder counted them at exit, largest first.
        public var lostByProbe: [(probe: String, lost: UInt64)] = []
        /// The recorder's totals, when the recording was closed properly.
        public var recorded: (events: UInt64, lost: UInt64)?
        public var damage = RecordReader.Damage()
        /// Read to the end of the file (not stopped by -c, a signal or a closed output).
        public var complete = false
        /// Events recorded with a probe this build does not know (printed as probe-N).
        public var unknownProbes: UInt64 = 0
        /// Socket owners the recording named (`--owner`): --owner-pid matches only those.
        public var socketOwners: UInt64 = 0
        /// Events a tcpdump expression could not look at, having no packet bytes
        /// (never a match), and events it could.
        public var withoutBytes: UInt64 = 0
        public var withBytes: UInt64 = 0
        /// Drop events replayed, per reason name, most first (as a live trace's summary;
        /// a recording lists every probe, not the ones attached, so "no drops" is never said).
        public var drops: [(reason: String, count: UInt64)] = []

        public var line: String {
            var s = "skbtracer: replayed \(events) events"
            if printed != events { s += " (\(printed) printed)" }
            s += ", \(lost) lost while recording"
            if !lostByProbe.isEmpty {
                s += " (" + lostByProbe.map { "\($0.probe) \($0.lost)" }.joined(separator: ", ") + ")"
            }
            if complete && recorded == nil && damage.readError == nil { s += "; the recording has no end record (cut off?)" }
            if damage.truncatedBytes > 0 { s += "; \(damage.truncatedBytes) bytes of a cut-off record at the end" }
            if damage.skipped > 0 { s += "; \(damage.skipped) records skipped (unknown or malformed)" }
            if let at = damage.corruptAt { s += "; corrupt record at byte \(at): the rest was not read" }
            if unknownProbes > 0 { s += "; \(unknownProbes) events of probes this skbtracer does not know" }
            if let d = DropTally.summaryText(drops, traced: false) { s += "; \(d)" }
            return s
        }
    }

    private let reader: RecordReader
    private let path: String
    private let options: TracerOptions
    private let sink: OutputSink
    private let symbols = KernelSymbols(symbols: [])
    private let netns: NetnsNames
    /// Called for every event before it is formatted (tests).
    public var onEvent: ((TraceEvent) -> Void)?
    /// The trace's filters, applied to recorded events (TraceFilter.matches);
    /// options.filter to begin with.
    public var filter: TraceFilter
    /// `-N NAME` on replay: a namespace name as the recording machine knew it.
    public var netnsName: String?
    /// Names a file may teach the replay, at most (a hostile file must not grow
    /// memory without bound; real recordings have hundreds).
    static let maxNames = 65_536

    public init(path: String, options: TracerOptions, sink: OutputSink? = nil) throws {
        reader = try RecordReader(path: path)
        self.path = path
        self.options = options
        filter = options.filter
        if let out = options.outputPath {
            var st = stat()
            if let input = reader.fileIdentity, stat(out, &st) == 0, UInt64(st.st_dev) == input.dev, UInt64(st.st_ino) == input.ino {
                throw RuntimeError("-o \(out) is the recording being replayed", hint: "write the output to another file")
            }
            self.sink = try OutputSink(path: out, mode: options.fileMode)
        } else {
            self.sink = sink ?? OutputSink()
        }
        netns = NetnsNames(names: [:], hostInode: reader.header.hostNetns == 0 ? nil : reader.header.hostNetns)
    }

    public var header: RecordFormat.Header { reader.header }

    /// Prints the whole recording (or up to -c, or until a stop signal); a read
    /// or write error is thrown after what was read is printed.
    @discardableResult
    public func run() throws -> Summary {
        var summary = Summary()
        var dropNames: [UInt32: String] = [:]
        var netnsCount = 0
        /// Recorded probe id -> this build's id, by name (nil: a name this build lacks).
        var probeIDs: [UInt16: UInt16?] = [:]
        let owners = SocketOwners() // what the recording says, nothing live
        let tracker = SkbFollower(enabled: options.track && !(filter.isEmpty && netnsName == nil))
        var pipeline: TracePipeline?
        var stopped = false
        reader.beforeRead = { [sink] in sink.flush() }
        // Dumps come before their event, maybe before the pipeline exists.
        let dumps = SkbDumps()

        // Names come first in a recording: the formatters are built once the
        // first other record arrives.
        func started() -> TracePipeline {
            if let pipeline { return pipeline }
            let context = FormatContext(dropReasons: DropReasons(names: dropNames), symbols: symbols,
                                        clock: Clock(realtimeOffsetNs: header.realtimeOffsetNs,
                                                     utcOffsetSeconds: header.utcOffsetSeconds),
                                        timeFormat: options.timeFormat)
            context.owners = owners
            context.color = options.color
            let names = JourneyNames(dropReasons: context.dropReasons, symbols: symbols, netns: netns)
            let made = TracerSession.makeConsumer(options, sink: sink, formatter: makeFormatter(options.format, context: context),
                                                  context: context, names: names)
            made.begin()
            let p = TracePipeline(consumer: made, count: options.count, symbols: symbols, skbDumps: dumps,
                                  dumpExpected: false, tickOnEventTime: true)
            // The trace's filters on recorded events, and --track's following
            // (none to ask without a filter).
            if !filter.isEmpty || netnsName != nil { p.select = { [filter, netnsName, netns] e in
                if filter.expression != nil {
                    if e.payload == nil { summary.withoutBytes += 1 } else { summary.withBytes += 1 }
                }
                let matched = filter.matches(e, owners: owners) && netnsName.map({ netns.name(e.context.netns) == $0 }) ?? true
                return tracker.keeps(e, matched: matched)
            } }
            p.onEvent = onEvent
            pipeline = p
            return p
        }

        try reader.forEach { item in
            switch item {
            case .probe(let id, let name):
                probeIDs[id] = .some(ProbeCatalogue.id(named: name))
            case .dropReason(let code, let name):
                if pipeline == nil, dropNames.count < Self.maxNames { dropNames[code] = name }
            case .symbol(let address, let name):
                symbols.remember(address, as: name)
            case .netns(let inode, let name):
                if netnsCount < Self.maxNames { netnsCount += 1; netns.set(name, for: inode) }
            case .lost(let count, let cpu):
                started().lost(count: count, cpu: cpu)
            case .end(let events, let lost):
                summary.recorded = (events, lost)
            case .lostByProbe(let probe, let count):
                if summary.lostByProbe.count < Self.maxNames { summary.lostByProbe.append((probe, count)) }
            case .socketOwner(let inode, let owner):
                owners.add(owner, inode: inode)
                summary.socketOwners += 1
            case .skbDump(let cpu, let skb, let ts, let text):
                dumps.add(SkbDumps.Key(cpu: cpu, skb: skb, ts: ts), text)
            case .event(var e):
                let p = started()
                // Ids the file does not name (none in a file made by hand, or one the
                // recording build did not know either) stay as they are.
                if let mapped = probeIDs[e.header.probe] {
                    if let id = mapped { e.header.probe = id } else {
                        summary.unknownProbes += 1
                        e.header.probe = UInt16.max
                    }
                }
                if !p.event(&e) { stopped = true; return false }
            }
            if sink.writeError != nil || StopSignals.requested { stopped = true }
            return !stopped
        }
        let p = started()
        p.consumer.end()
        summary.events = p.events
        summary.lost = p.lostMarkers
        summary.printed = p.emitted
        summary.drops = p.dropTally.byReason(DropReasons(names: dropNames))
        summary.damage = reader.damage
        summary.complete = !stopped && !StopSignals.requested
        sink.flush()
        if let e = reader.damage.readError {
            throw RuntimeError("read \(path): \(String(cString: strerror(e))) (errno \(e)); \(summary.events) events replayed before it",
                               hint: "check the disk or copy the recording elsewhere")
        }
        if let e = sink.writeError, e != EPIPE {
            throw RuntimeError("write output: \(String(cString: strerror(e))) (errno \(e))",
                               hint: "check the output file's disk or use another -o path")
        }
        return summary
    }
}

/// Replay's `--track`: an skb whose event matched the filters is followed until
/// its free, as the BPF side follows a tracked skb past every filter (a packet
/// keeps its hops after NAT rewrote the address the filter names).
final class SkbFollower {
    private let enabled: Bool
    private var followed: Set<UInt64> = []
    static let maxFollowed = 65_536

    init(enabled: Bool) { self.enabled = enabled }

    func keeps(_ e: TraceEvent, matched: Bool) -> Bool {
        guard enabled else { return matched }
        let skb = e.header.skb
        let known = followed.contains(skb)
        if e.isFree {
            if known { followed.remove(skb) }
            return matched || known
        }
        if matched && !known {
            // Bounded like the BPF table: past it, start over (counted nowhere:
            // a replay can be run again with a narrower filter).
            if followed.count >= Self.maxFollowed { followed.removeAll(keepingCapacity: true) }
            followed.insert(skb)
        }
        return matched || known
    }
}
