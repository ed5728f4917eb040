import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput

/// Where a session's decoded events go: printed one by one (`EventStream`),
/// grouped into journeys (`JourneyStream`), or counted as drops (`DropWatch`).
public protocol TraceConsumer: AnyObject {
    /// Before the first event (column titles).
    func begin()
    func consume(_ e: TraceEvent)
    /// The ring buffer was full: `count` events are missing here (cpu UInt32.max: found at exit).
    func lost(count: UInt64, cpu: UInt32)
    /// Called after every poll with CLOCK_MONOTONIC now (periodic output) and the
    /// time by which every event is known to be read (journey timeouts: a live
    /// ring buffer can hold back an earlier event; a replay passes its time twice).
    func tick(nowNs: UInt64, settledNs: UInt64)
    /// After the final drain: flush what is still open, print the diagnosis.
    func end()
    /// Units counted against `-c`: events, journeys or drops.
    var emitted: UInt64 { get }
}

extension TraceConsumer {
    /// A tick where every event up to `nowNs` is read (a replay's, a test's).
    public func tick(nowNs: UInt64) { tick(nowNs: nowNs, settledNs: nowNs) }
}

/// Prints each event as it arrives; with `--diag`, also groups them into
/// journeys silently for the exit diagnosis.
public final class EventStream: TraceConsumer {
    private let sink: OutputSink
    private let formatter: any EventFormatter
    private let header: Bool
    private let diagnosis: DiagnosisCollector?
    public private(set) var emitted: UInt64 = 0

    init(sink: OutputSink, formatter: any EventFormatter, header: Bool, diagnosis: DiagnosisCollector?) {
        self.sink = sink
        self.formatter = formatter
        self.header = header
        self.diagnosis = diagnosis
    }

    public func begin() {
        sink.write { b in
            formatter.start(into: &b)
            if header { formatter.header(into: &b) }
        }
    }

    public func consume(_ e: TraceEvent) {
        sink.write { formatter.event(e, into: &$0) }
        emitted += 1
        diagnosis?.consume(e)
    }

    public func lost(count: UInt64, cpu: UInt32) { sink.write { formatter.lost(count: count, cpu: cpu, into: &$0) } }
    public func tick(nowNs: UInt64, settledNs: UInt64) { diagnosis?.tick(settledNs: settledNs) }
    public func end() { diagnosis?.end(into: sink) }
}

/// Journeys for the diagnosis only: nothing is printed until the end.
final class DiagnosisCollector {
    let tracker: JourneyTracker
    let diagnosis = Diagnosis()
    let formatter: any JourneyFormatter

    init(tracker: JourneyTracker, formatter: any JourneyFormatter) {
        self.tracker = tracker
        self.formatter = formatter
    }

    // Never printed: the diagnosis cites their events, not journey numbers.
    func consume(_ e: TraceEvent) { for j in tracker.add(e) { diagnosis.add(j, printed: false) } }
    func tick(settledNs: UInt64) { for j in tracker.expire(nowNs: settledNs) { diagnosis.add(j, printed: false) } }
    func end(into sink: OutputSink) {
        for j in tracker.flush() { diagnosis.add(j, printed: false) }
        sink.write { formatter.diagnosis(diagnosis, into: &$0) }
    }
}

/// `--timeline` and `skbtracer ping`: events grouped per packet, each journey
/// printed when the packet's life ends, the diagnosis at exit.
public final class JourneyStream: TraceConsumer {
    private let sink: OutputSink
    private let formatter: any JourneyFormatter
    private let lostFormatter: any EventFormatter
    public let tracker: JourneyTracker
    public let diagnosis = Diagnosis()
    private let printDiagnosis: Bool
    public private(set) var emitted: UInt64 = 0
    /// Every finished journey, before it is printed (skbtracer ping, tests).
    public var onJourney: ((Journey) -> Void)?
    /// `-c`: journeys printed at most (the last round may end several at once).
    public var limit: UInt64?
    /// Which journeys are printed; the others still count in the diagnosis.
    public var filter = JourneyFilter()

    init(sink: OutputSink, formatter: any JourneyFormatter, lostFormatter: any EventFormatter, tracker: JourneyTracker,
         printDiagnosis: Bool) {
        self.sink = sink
        self.formatter = formatter
        self.lostFormatter = lostFormatter
        self.tracker = tracker
        self.printDiagnosis = printDiagnosis
    }

    public func begin() { sink.write { formatter.start(into: &$0) } }

    public func consume(_ e: TraceEvent) { finished(tracker.add(e)) }

    public func lost(count: UInt64, cpu: UInt32) {
        // Journeys around a gap may miss hops: the marker says so in the stream.
        sink.write { lostFormatter.lost(count: count, cpu: cpu, into: &$0) }
    }

    public func tick(nowNs: UInt64, settledNs: UInt64) { finished(tracker.expire(nowNs: settledNs)) }

    public func end() {
        finished(tracker.flush())
        if printDiagnosis { sink.write { formatter.diagnosis(diagnosis, into: &$0) } }
    }

    private func finished(_ journeys: [Journey]) {
        for j in journeys {
            // With -c, the diagnosis stops with the last journey printed; the
            // filter's left-out journeys before it are counted.
            if let limit, emitted >= limit { continue }
            let keep = filter.keeps(j)
            diagnosis.add(j, printed: keep)
            guard keep else { continue }
            onJourney?(j)
            sink.write { formatter.journey(j, into: &$0) }
            emitted += 1
        }
    }
}
