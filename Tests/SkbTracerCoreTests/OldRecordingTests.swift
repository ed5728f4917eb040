import Foundation
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// Files written by older builds still replay, and print what those builds printed.
@Suite struct OldRecordingTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Recordings")

    static func expected(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("a format-3 recording replays as the build that made it printed it",
          arguments: [("format3.txt", TraceView.events, OutputFormat.text),
                      ("format3.json", .events, .json),
                      ("format3.timeline", .timeline, .text)])
    func format3(_ golden: String, _ view: TraceView, _ format: OutputFormat) throws {
        let path = Self.directory.appendingPathComponent("format3.rec").path
        let (out, summary) = try RecordTests.replay(path) { o in
            o.view = view
            o.format = format
            o.diagnose = view == .timeline
        }
        #expect(summary.events == 65)
        let got = String(decoding: out, as: UTF8.self)
        let want = try Self.expected(golden)
        // The first differing line, so a failure says where.
        let diff = zip(got.split(separator: "\n", omittingEmptySubsequences: false),
                       want.split(separator: "\n", omittingEmptySubsequences: false)).enumerated().first { $1.0 != $1.1 }
        #expect(diff == nil, "line \((diff?.offset ?? 0) + 1): got \(diff?.element.0 ?? "") want \(diff?.element.1 ?? "")")
        #expect(got == want)
    }
}
