import CSkbTracerABI
import SkbTracerModel

/// The one path every event takes, live or replayed: a source (the ring buffer,
/// a recording) hands it decoded events, losses and the time; the pipeline
/// enriches each event (its `--output-skb` dump, the name of the function it
/// fired in), counts the losses it carries, selects it (user-space filters:
/// replay's, the demo's), counts it, and hands it to the one view (events,
/// journeys, drops, record).
///
/// What differs between live and replay stays in the source: how records are
/// read, when time advances, what the kernel already filtered.
final class TracePipeline {
    let consumer: any TraceConsumer
    /// `-c`: units of the view (events, journeys, drops) to hand out at most.
    let count: Int?
    private let symbols: KernelSymbols
    /// Dumps waiting for their event (`--output-skb`).
    let skbDumps: SkbDumps
    /// Whether every event expects a dump: live, a missing dump is a full ring
    /// (shown as ""); a replay shows the dumps the recording has.
    private let dumpExpected: Bool
    /// User-space selection after the kernel's (nil: every event).
    var select: ((TraceEvent) -> Bool)?
    /// Every selected event, before the view (tests, the demo).
    var onEvent: ((TraceEvent) -> Void)?
    /// Recorded time drives the view's clock: a tick before an event when
    /// `tickNs` of recorded time passed since the last (journey timeouts,
    /// `--drop` intervals behave as they did live). Live sources tick from the poll loop.
    let tickOnEventTime: Bool
    static let tickNs: UInt64 = 100_000_000
    private var lastTickNs: UInt64?

    /// Events handed to the view.
    private(set) var events: UInt64 = 0
    /// Events the ring had no room for, as the events after the gaps said.
    private(set) var lostMarkers: UInt64 = 0
    private(set) var dropTally = DropTally()

    init(consumer: any TraceConsumer, count: Int?, symbols: KernelSymbols, skbDumps: SkbDumps = SkbDumps(),
         dumpExpected: Bool, tickOnEventTime: Bool) {
        self.consumer = consumer
        self.skbDumps = skbDumps
        self.count = count
        self.symbols = symbols
        self.dumpExpected = dumpExpected
        self.tickOnEventTime = tickOnEventTime
    }

    /// Units handed out by the view so far.
    var emitted: UInt64 { consumer.emitted }
    var countReached: Bool { count.map { consumer.emitted >= UInt64($0) } ?? false }

    /// One decoded event, enriched in place (no copy of the record per event).
    /// Returns false once `-c` is reached.
    func event(_ e: inout TraceEvent) -> Bool {
        // Past -c nothing more reaches the view, a loss marker included (live
        // drains the ring after the limit; replay stops reading there).
        if countReached { return false }
        // Enrichment. Route lookups come from other programs, with no dump.
        if let dump = skbDumps.take(for: e) { e.skbDump = dump } else if dumpExpected, e.route == nil { e.skbDump = "" }
        if e.isFunction { e.function = symbols.functionName(e.location) }
        // Losses belong to the stream, whatever the selection keeps.
        if e.header.lost_before > 0 { lost(count: UInt64(e.header.lost_before), cpu: e.header.cpu) }
        // Selection.
        if let select, !select(e) { return true }
        if tickOnEventTime {
            let ts = e.header.ts_ns
            if lastTickNs.map({ ts >= $0 && ts - $0 >= Self.tickNs }) ?? true {
                lastTickNs = ts
                consumer.tick(nowNs: ts, settledNs: ts)
            }
        }
        // The view.
        events += 1
        onEvent?(e)
        consumer.consume(e)
        dropTally.add(e)
        return !countReached
    }

    /// `count` events lost on `cpu` here in the stream.
    func lost(count: UInt64, cpu: UInt32) {
        lostMarkers += count
        consumer.lost(count: count, cpu: cpu)
    }

    func tick(nowNs: UInt64, settledNs: UInt64) { consumer.tick(nowNs: nowNs, settledNs: settledNs) }
}
