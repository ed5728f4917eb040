import ArgumentParser
import SkbTracerOutput
import SkbTracerSession
import SkbTracerSystem

/// Consumer throughput without a kernel: decode + format a replayed event mix.
struct BenchFormatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-format",
        abstract: "Measure decoding and formatting throughput on a replayed event mix or a recording (no root needed).",
        discussion: "Example: skbtracer bench-format --events 2000000 --json"
    )

    @Option(help: "Events to replay.") var events = 1_000_000
    @Flag(help: "Format as JSON instead of text.") var json = false
    @Option(help: ArgumentHelp("Replay the events of this recording (`skbtracer --record FILE`) instead of the built-in mix.",
                               valueName: "file"))
    var replay: String?

    func run() throws {
        guard events > 0 else { throw UsageError("invalid --events '\(events)'", hint: "give a positive number") }
        let format: OutputFormat = json ? .json : .text
        if let replay {
            let r = try FormatBenchmark.run(format: format, recording: replay, count: events)
            print("format=\(format) events=\(events) events_per_second=\(Int(r.eventsPerSecond)) bytes_per_event=\(r.bytes / events) recorded_events=\(r.distinct)")
            return
        }
        let r = FormatBenchmark.run(format: format, count: events)
        print("format=\(format) events=\(events) events_per_second=\(Int(r.eventsPerSecond)) bytes_per_event=\(r.bytes / events)")
    }
}
