import Foundation
@testable import SkbTracerCLI
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem
import Testing

/// Runs the built `skbtracer` binary. Only inputs rejected before any BPF work
/// are used, so these need neither root nor a BTF kernel.
enum CLI {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast(stderr.hasSuffix("\n") ? 1 : 0).map { $0 } }
    }

    /// Next to the test bundle first (same scratch path as this test run), then
    /// next to /proc/self/exe, then the package's usual build directories.
    static let binary: URL? = {
        let fm = FileManager.default
        var dirs: [URL] = []
        if let arg0 = CommandLine.arguments.first {
            dirs.append(URL(fileURLWithPath: arg0).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            dirs.append(dir)
            // Inside an .xctest bundle on some platforms: walk up a few levels.
            for _ in 0..<3 { dir = dir.deletingLastPathComponent(); dirs.append(dir) }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for scratch in [".build-unit", ".build"] {
            dirs.append(root.appendingPathComponent(scratch).appendingPathComponent("debug"))
        }
        for dir in dirs {
            let candidate = dir.appendingPathComponent("skbtracer")
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue,
               fm.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }()

    static func run(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let exe = try #require(binary, "skbtracer binary not found next to the test bundle or in .build*/debug; build the package first",
                               sourceLocation: sourceLocation)
        // Subprocess, not Foundation's Process: see Subprocess.swift.
        let p = try Subprocess([exe.path] + args, capture: true)
        // A bad-input run ends at once; never let a mistake start a long trace.
        let r = p.collect(timeout: 20)
        if r.status == 128 + SIGTERM || r.status == 128 + SIGKILL {
            Issue.record("skbtracer \(args) still running after 20 s", sourceLocation: sourceLocation)
        }
        return Result(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
                      stderr: String(decoding: r.stderr, as: UTF8.self))
    }
}

@Suite("Command line")
struct CLITests {
    struct BadInput: Sendable, CustomTestStringConvertible {
        let args: [String]
        /// Must appear in the single stderr line.
        let names: String
        var testDescription: String { args.joined(separator: " ") }
        init(_ args: String..., names: String) { self.args = args; self.names = names }
    }

    static let usageErrors: [BadInput] = [
        BadInput("-H", "1.2.3", names: "'1.2.3'"),
        BadInput("--addr", "10.0.0.300", names: "'10.0.0.300'"),
        BadInput("--proto", "foo", names: "'foo'"),
        BadInput("--dport", "70000", names: "'70000'"),
        BadInput("-P", "http", names: "'http'"),
        BadInput("--bogus", names: "'--bogus'"),
        BadInput("-t", "nosuchprobe", names: "'nosuchprobe'"),
        // Kernel function groups and all-functions need a function backend; a word that is no C name is never one.
        BadInput("-t", "bridge", names: "--backend"),
        BadInput("-t", "link-in,netfilter", names: "'netfilter'"),
        BadInput("-t", "all-functions", names: "--backend"),
        BadInput("--backend", "kprobe-multi", "-t", "tcp,no-such-thing", names: "'no-such-thing'"),
        BadInput("--trace", "life,nosuch", names: "'nosuch'"),
        BadInput("--mark", "zz", names: "'zz'"),
        BadInput("-p", "0", names: "'0'"),
        BadInput("-p", "icmp", "--proto", "tcp", names: "--proto tcp"),
        BadInput("-p", "12", "--pid", "13", names: "--pid 13"),
        BadInput("-p", "nosuchproto", names: "'nosuchproto'"),
        BadInput("--owner-pid", "nginx", names: "'nginx'"),
        BadInput("--owner-pid", "2147483000", names: "'2147483000'"),
        BadInput("-c", "abc", names: "'abc'"),
        BadInput("--ring-size", "x", names: "'x'"),
        BadInput("--tcp-flags", "X", names: "'X'"),
        BadInput("-i", "abcdefghijklmnopq", names: "'abcdefghijklmnopq'"),
        BadInput("-N", "skbtracer-no-such-netns", names: "'skbtracer-no-such-netns'"),
        BadInput("-s", "1.2.3.4", "-d", "fd00::1", names: "--saddr"),
        BadInput("--proto", "tcp", "--icmpid", "1", names: "--icmpid"),
        BadInput("--timestamp", "--relative", names: "--relative"),
        BadInput("unexpected-word", names: "'unexpected-word'"),
        BadInput("--sport", names: "--sport"),
        BadInput("demo", "--bogus", names: "'--bogus'"),
        BadInput("demo", "-t", "nosuchprobe", names: "'nosuchprobe'"),
        BadInput("--track-max", "many", names: "'many'"),
        BadInput("ping", names: "<dest>"),
        BadInput("ping", "10.0.0.300", names: "'10.0.0.300'"),
        BadInput("ping", "example.com", names: "'example.com'"),
        BadInput("ping", "10.0.0.2", "--tcp", "0", names: "'0'"),
        BadInput("ping", "10.0.0.2", "--udp", "http", names: "'http'"),
        BadInput("ping", "10.0.0.2", "--tcp", "80", "--udp", "53", names: "--udp"),
        BadInput("ping", "10.0.0.2", "-c", "0", names: "'0'"),
        BadInput("ping", "10.0.0.2", "-i", "0", names: "'0.0'"),
        BadInput("ping", "10.0.0.2", "-W", "-1", names: "'-1.0'"),
        BadInput("ping", "10.0.0.2", "--from", "skbtracer-no-such-netns", names: "skbtracer-no-such-netns"),
        BadInput("--record", "/tmp/skbtracer-cli-never.skbt", "--json", names: "--json"),
        BadInput("--record", "/tmp/skbtracer-cli-never.skbt", "--timeline", names: "--timeline"),
        BadInput("--record", "/tmp/skbtracer-cli-never.skbt", "-o", "/tmp/x", names: "-o/--output"),
        BadInput("replay", names: "<file>"),
        BadInput("replay", "/tmp/skbtracer-cli-never.skbt", "--proto", "foo", names: "'foo'"),
        BadInput("replay", "/tmp/skbtracer-cli-never.skbt", "-c", "0", names: "'0'"),
        BadInput("replay", "/tmp/skbtracer-cli-never.skbt", "--timeline", "--drop", names: "--drop"),
        BadInput("--pkt-len", "1500-100", names: "'1500-100'"),
        BadInput("--pkt-len", "big", names: "'big'"),
        BadInput("--filter-func", "(", names: "'('"),
        BadInput("--filter-func", "^nosuchprobe$", names: "'^nosuchprobe$'"),
        BadInput("--filter-netns", "inode:x", names: "'inode:x'"),
        BadInput("--filter-mark", "zz", names: "'zz'"),
        BadInput("--output-limit-lines", "0", names: "'0'"),
        BadInput("--drop", "--filter-func", "kfree", names: "-t"),
        BadInput("--drop", "--route", names: "--route"),
        BadInput("--date", "--relative", names: "--date"),
        BadInput("--timestamp=sometimes", names: "'sometimes'"),
        BadInput("--timestamp", "none", "--relative", names: "--relative"),
        BadInput("--list-hooks", "-N", "skbtracer-no-such-netns", names: "'skbtracer-no-such-netns'"),
        BadInput("--list-hooks", "--json", "-N", "inode:x", names: "'inode:x'"),
        BadInput("--file-mode", "0888", names: "'0888'"),
        BadInput("--record", "/tmp/skbtracer-cli-never.skbt", "--file-mode", "4755", names: "'4755'"),
        BadInput("replay", "/tmp/skbtracer-cli-never.skbt", "--file-mode", "u+rw", names: "'u+rw'"),
        BadInput("demo", "--file-mode", "rw", names: "'rw'"),
        BadInput("--color", "sometimes", names: "'sometimes'"),
        BadInput("ping", "10.0.0.2", "--color", "yes", names: "'yes'"),
    ]

    /// Checks stdout is empty and stderr is one `skbtracer: error: ... Hint: ...` line naming the value.
    static func checkOneLine(_ r: CLI.Result, _ c: BadInput, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasSuffix("\n"), sourceLocation: sourceLocation)
        let lines = r.stderrLines
        #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        let line = lines.first.map(String.init) ?? ""
        #expect(line.hasPrefix("skbtracer: error: "), "\(line)", sourceLocation: sourceLocation)
        #expect(line.contains(". Hint: "), "\(line)", sourceLocation: sourceLocation)
        #expect(line.contains(c.names), "\(line)", sourceLocation: sourceLocation)
    }

    @Test(arguments: usageErrors)
    func usageErrorExitsTwoWithOneLine(_ c: BadInput) throws {
        let r = try CLI.run(c.args)
        #expect(r.status == 2, "stderr: \(r.stderr)")
        Self.checkOneLine(r, c)
    }

    /// Values TraceCommand.validate() rejects. validate() throws UsageError, but
    /// ArgumentParser wraps errors thrown from validate(), so SkbTracerMain's
    /// `catch let error as UsageError` misses them and they exit 1, not 2.
    static let validateErrors: [BadInput] = [
        BadInput("--ring-size", "3", names: "'3'"),
        BadInput("--ring-size", "2048", names: "'2048'"),
        BadInput("--ring-size", "0", names: "'0'"),
        BadInput("-c", "0", names: "'0'"),
        BadInput("--count=-5", names: "'-5'"),
        BadInput("--duration", "0", names: "--duration"),
        BadInput("--timeline", "--drop", names: "--drop"),
        BadInput("--dropstack", "--callstack", names: "--callstack"),
        BadInput("--drop", "-t", "life", names: "-t"),
        BadInput("--track-max", "0", names: "'0'"),
        BadInput("--track-max", "99999999", names: "'99999999'"),
        BadInput("--track-timeout", "0", names: "--track-timeout"),
        BadInput("--journey-timeout", "-1", names: "--journey-timeout"),
        BadInput("--drop-interval", "0", names: "--drop-interval"),
        BadInput("--keep", "--no-track", names: "--no-track"),
        BadInput("--netns-current", "-N", "4026531840", names: "'4026531840'"),
        BadInput("--min-latency", "-1", names: "'-1'"),
        BadInput("--min-latency", "nan", names: "'nan'"),
        BadInput("--min-latency", "0x10", names: "'0x10'"),
        BadInput("--min-latency", "1e3", names: "'1e3'"),
        BadInput("--drop", "--owner", names: "--owner"),
        BadInput("--drop", "--output-skb", names: "--output-skb"),
        BadInput("--timeline", "--output-skb", names: "--output-skb"),
        BadInput("--drop", "--ct", names: "--ct"),
        BadInput("--drop", "--min-latency", "5", names: "--drop"),
        BadInput("--drop", "--diag-quiet", names: "--drop"),
        BadInput("--drop", "--backend", "kprobe-multi", names: "--backend"),
        BadInput("--backend", "fentry", names: "'fentry'"),
        BadInput("--backend", "kprobe", "--filter-func", "(", names: "'('"),
        BadInput("--record", "/tmp/skbtracer-never-written.skbt", "--diag-quiet", names: "--diag-quiet"),
        BadInput("replay", "/nonexistent.skbt", "--drop", "--min-latency", "1", names: "--drop"),
    ]

    @Test(arguments: validateErrors)
    func validateErrorExitsTwoWithOneLine(_ c: BadInput) throws {
        let r = try CLI.run(c.args)
        Self.checkOneLine(r, c)
        #expect(r.status == 2, "stderr: \(r.stderr)")
    }

    @Test(arguments: [["--help"], ["-h"], ["trace", "--help"], ["demo", "--help"], ["ping", "--help"]])
    func helpExitsZero(_ args: [String]) throws {
        let r = try CLI.run(args)
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE:"))
        #expect(r.stderr.isEmpty, "stderr: \(r.stderr)")
    }

    @Test func helpListsFilterOptions() throws {
        let r = try CLI.run(["trace", "--help"])
        for option in ["--proto", "--addr", "--saddr", "--daddr", "--sport", "--dport", "--icmpid", "--tcp-flags",
                       "--netns", "--ifname", "--mark", "--pid", "--json", "--trace", "--count", "--ring-size",
                       "--timeline", "--drop", "--track", "--no-track", "--track-max", "--dropstack", "--callstack", "--diag",
                       "--pkt-len", "--filter-func", "--filter-netns", "--output-json", "--output-file", "--route"] {
            #expect(r.stdout.contains(option), "\(option)")
        }
    }
}

/// Options as the command line parses them, in process (no BPF).
@Suite("Command line values")
struct CLIValueTests {
    static func filter(_ args: [String]) throws -> TraceFilter {
        try TraceCommand.parse(args).filters.filter()
    }

    /// nettrace's `-p icmp` is the protocol; a number stays skbtracer.py's pid.
    @Test func dashPIsAProtocolNameOrAPid() throws {
        #expect(try Self.filter(["-p", "icmp"]) == Self.filter(["--proto", "icmp"]))
        #expect(try Self.filter(["-p", "icmp"]).l4Proto == 1)
        #expect(try Self.filter(["-p", "TCP", "--proto", "tcp"]) == Self.filter(["--proto", "tcp"]))
        #expect(try Self.filter(["-p", "1234"]).pid == 1234)
        #expect(try Self.filter(["--pid", "1234"]).pid == 1234)
        #expect(try Self.filter(["-p", "1234", "--pid", "1234"]).pid == 1234)
        #expect(try Self.filter(["-p", "udp", "--pid", "99"]) == Self.filter(["--proto", "udp", "--pid", "99"]))
    }

    static func timeFormat(_ args: [String]) throws -> TimeFormat {
        try TraceCommand.parse(PwruTimestamp.rewrite(args)).output.timeFormat()
    }

    /// pwru's `--timestamp VALUE` next to the bare `--timestamp` (monotonic, as before).
    @Test func timestampTakesPwrusValues() throws {
        #expect(try Self.timeFormat(["--timestamp"]) == .monotonic)
        #expect(try Self.timeFormat(["--timestamp", "-c", "5"]) == .monotonic)
        #expect(try Self.timeFormat(["--timestamp", "none"]) == TimeFormat.none)
        #expect(try Self.timeFormat(["--timestamp", "current"]) == .wallClock)
        #expect(try Self.timeFormat(["--timestamp", "relative"]) == .relative)
        #expect(try Self.timeFormat(["--timestamp=absolute"]) == .monotonic)
        #expect(try Self.timeFormat([]) == .wallClock)
        #expect(throws: UsageError.self) { try Self.timeFormat(["--timestamp=later"]) }
        // A bare --timestamp before replay's FILE leaves the file alone.
        let replay = try ReplayCommand.parse(PwruTimestamp.rewrite(["--timestamp", "t.skbt"]))
        #expect(replay.file == "t.skbt")
        #expect(try replay.output.timeFormat() == .monotonic)
        #expect(PwruTimestamp.rewrite(["--", "--timestamp", "none"]) == ["--", "--timestamp", "none"])
    }
}
