import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// The diagnosis names an example of each drop so the user can find it in the
/// output: a journey number only when that journey was printed.
@Suite("Diagnosis examples")
struct DiagnosisExampleTests {
    /// Runs `events` through the consumer a live trace with `o` builds; returns stdout.
    static func output(_ o: TracerOptions, _ events: [TraceEvent]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-dx-\(UUID().uuidString)").path
        defer { unlink(path) }
        let sink = try OutputSink(path: path)
        let context = Fixtures.context()
        let consumer = TracerSession.makeConsumer(o, sink: sink, formatter: makeFormatter(o.format, context: context),
                                                  context: context, names: JourneyTests.names())
        consumer.begin()
        for e in events { consumer.consume(e) }
        consumer.end()
        sink.flush()
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    static let drop = TraceEvent(raw: Fixtures.kfreeSkbDrop())

    /// `--diag` without `--timeline`: events are printed, journeys are not, so the
    /// diagnosis cites the dropping event (skb and its TIME column), never `#N`.
    @Test func eventViewCitesTheEventNotAJourney() throws {
        var o = TracerOptions()
        o.view = .events
        o.diagnose = true
        o.printHeader = false
        let text = try Self.output(o, [Self.drop])
        let lines = text.split(separator: "\n").map(String.init)
        // The event line, its time column, and the diagnosis line citing it.
        let event = try #require(lines.first { $0.contains(":kfree_skb ") }, "\(text)")
        let time = try #require(event.split(separator: " ").first.map(String.init))
        let cite = try #require(lines.first { $0.contains("1x NO_SOCKET at tcp_v4_rcv+0x10") }, "\(text)")
        #expect(cite.hasSuffix(", e.g. skb 0xffff888100001000 at \(time)"), "\(cite)")
        #expect(!text.contains("#"), "a journey number that was never printed:\n\(text)")

        o.format = .json
        let json = try Self.output(o, [Self.drop])
        let diagnosis = try #require(json.split(separator: "\n").last)
        let d = try #require(try JSONSerialization.jsonObject(with: Data(diagnosis.utf8)) as? [String: Any])
        let entry = try #require((d["drops"] as? [[String: Any]])?.first, "\(diagnosis)")
        #expect(entry["example_journey"] is NSNull, "\(diagnosis)")
        #expect(entry["example_skb"] as? String == "0xffff888100001000" && entry["example_ts_ns"] as? Int == 7_000_000_000)
    }

    /// `--timeline`: the printed journey is cited by number; one the filter left
    /// out (--min-latency) is cited by its event instead.
    @Test func timelineCitesPrintedJourneysOnly() throws {
        var o = TracerOptions()
        o.view = .timeline
        o.diagnose = true
        let shown = try Self.output(o, [Self.drop])
        #expect(shown.hasPrefix("#1 "), "\(shown)")
        #expect(shown.contains("1x NO_SOCKET at tcp_v4_rcv+0x10 in host, e.g. #1\n"), "\(shown)")

        o.journeyFilter = JourneyFilter(minDurationNs: 1_000_000)
        let hidden = try Self.output(o, [Self.drop])
        #expect(!hidden.contains("#1"), "\(hidden)")
        #expect(hidden.contains("1x NO_SOCKET at tcp_v4_rcv+0x10 in host, e.g. skb 0xffff888100001000 at "), "\(hidden)")
    }
}
