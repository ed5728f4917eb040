import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// Every JSON output starts with `{"type":"schema","version":"MAJOR.MINOR"}`, once;
/// the text views print nothing of it; docs/json-schema.md names the same version.
@Suite("JSON schema version")
struct JSONSchemaVersionTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/json-schema.md")

    @Test("the schema object: its type and a MAJOR.MINOR version, on a line of its own")
    func object() throws {
        let o = try JSONFormatterTests.object(JSONSchema.line)
        #expect(Set(o.keys) == ["type", "version"] && o["type"] as? String == "schema")
        let parts = try #require(o["version"] as? String).split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, "\(parts)")
    }

    @Test("docs/json-schema.md documents the schema object with this version")
    func documented() throws {
        let text = try String(contentsOf: Self.docs, encoding: .utf8)
        #expect(text.contains("`{\"type\":\"schema\",\"version\":\"\(JSONSchema.version)\"}`"), "docs/json-schema.md names another version")
        #expect(text.contains("## `\"type\": \"schema\"`"))
    }

    /// What a view writes for a drop and an echo request, begin to end.
    static func output(_ view: TraceView, _ format: OutputFormat) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-schema-\(UUID().uuidString)").path
        defer { unlink(path) }
        var o = TracerOptions()
        o.view = view
        o.format = format
        o.diagnose = true
        let sink = try OutputSink(path: path)
        let context = Fixtures.context()
        let consumer = TracerSession.makeConsumer(o, sink: sink, formatter: makeFormatter(format, context: context),
                                                  context: context, names: JourneyTests.names())
        consumer.begin()
        consumer.consume(TraceEvent(raw: Fixtures.icmpEchoRequest()))
        consumer.consume(TraceEvent(raw: Fixtures.kfreeSkbDrop()))
        consumer.end()
        sink.flush()
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    @Test("events, journeys (--timeline, ping) and drops: JSON starts with the schema object, once; text has none",
          arguments: [TraceView.events, .timeline, .drops])
    func everyView(_ view: TraceView) throws {
        let json = try Self.output(view, .json)
        let lines = json.split(separator: "\n")
        #expect(lines.first.map { $0 + "\n" } == Substring(JSONSchema.line), "\(json)")
        #expect(lines.filter { $0.contains("\"type\":\"schema\"") }.count == 1, "\(json)")
        #expect(lines.count > 1, "\(json)")
        #expect(!(try Self.output(view, .text)).contains("schema"))
    }

    @Test("replay --json starts with the schema object, events or none")
    func replay() throws {
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        for events in [RecordTests.events(20), []] {
            try RecordTests.record(events, to: path)
            let (out, _) = try RecordTests.replay(path) { $0.format = .json }
            #expect(String(decoding: out, as: UTF8.self).hasPrefix(JSONSchema.line))
        }
    }
}
