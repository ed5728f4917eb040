import ArgumentParser
import Foundation
import SkbTracerSystem
import SkbTracerVersion

struct SkbTracer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skbtracer",
        abstract: "Where did my packet go, and where and why did it die? A packet path tracer for Linux.",
        discussion: "Run `skbtracer demo` for a guided trace through a lab, `skbtracer --list` for the probes.",
        version: SkbTracerVersion.line,
        subcommands: [TraceCommand.self, ReplayCommand.self, PingCommand.self, DemoCommand.self, BenchFormatCommand.self],
        defaultSubcommand: TraceCommand.self
    )
}

/// The process entry point: parse, run, map errors to one line and an exit status
/// (2 for usage errors, 1 for failures while running).
public enum SkbTracerMain {
    public static func run(_ arguments: [String]? = nil) -> Never {
        ProcessSetup.fixMallocThresholds()
        do {
            var command = try SkbTracer.parseAsRoot(PwruTimestamp.rewrite(arguments ?? Array(CommandLine.arguments.dropFirst())))
            try command.run()
            exit(0)
        } catch let error as UsageError {
            Diagnostics.error(error.description)
            exit(2)
        } catch let code as ExitCode {
            // A command that already said everything (ping with no reply).
            exit(code.rawValue)
        } catch {
            if let failure = ProcessSetup.failureDescription(error) {
                Diagnostics.error(failure)
                exit(1)
            }
            let code = SkbTracer.exitCode(for: error)
            if code == .success {
                // --help, --version
                print(SkbTracer.fullMessage(for: error))
                exit(0)
            }
            let message = SkbTracer.message(for: error)
                .split(separator: "\n").first.map(String.init) ?? "\(error)"
            if code == .validationFailure || error is ValidationError || code.rawValue == 64 {
                Diagnostics.error("\(message). Hint: see `skbtracer --help`")
                exit(2)
            }
            Diagnostics.error(message)
            exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
