import ArgumentParser
import SkbTracerCore

/// Consumer throughput without a kernel: decode + format a replayed event mix.
struct BenchFormatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-format",
        abstract: "Measure decoding and formatting throughput on a replayed event mix (no root needed).",
        discussion: "Example: skbtracer bench-format --events 2000000 --json"
    )

    @Option(help: "Events to replay.") var events = 1_000_000
    @Flag(help: "Format as JSON instead of text.") var json = false

    func run() throws {
        guard events > 0 else { throw UsageError("invalid --events '\(events)'", hint: "give a positive number") }
        let r = FormatBenchmark.run(format: json ? .json : .text, count: events)
        print("format=\(json ? "json" : "text") events=\(events) events_per_second=\(Int(r.eventsPerSecond)) bytes_per_event=\(r.bytes / events)")
    }
}
