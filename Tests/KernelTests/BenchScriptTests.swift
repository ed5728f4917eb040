import Foundation
import SkbTracerSystem
import Testing

/// The benchmark scripts stay runnable (issue 4: "keep the scripts runnable by
/// anyone"): each runs briefly against the built binary, prints its table, and
/// leaves no namespace behind. Only the shape and the counts that must hold on
/// any machine are checked, never a time or a ratio.
extension KernelTests {
    @Suite("bench scripts")
    struct BenchScriptTests {
        static let benchDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("bench")

        /// The bench scripts' lab namespaces (`stb`, `stc`, `stcs`, `stq`, `sts`, then the
        /// script's pid): other processes on the machine may create and remove their own
        /// namespaces meanwhile, and those are not the script's to clean up.
        static func benchNamespaces() throws -> Set<String> {
            let names = try Command.check(["ip", "netns", "list"]).stdout.split(separator: "\n")
                .map { String($0.split(separator: " ").first ?? "") }
            return Set(names.filter { $0.wholeMatch(of: /st(b|c|cs|q|s)[0-9]+(-.*)?/) != nil })
        }

        /// Runs bench/NAME with the debug binary (or `tracer`); checks no namespace was left.
        func runScript(_ name: String, _ args: [String], env: [String] = [], tracer: String? = nil,
                       timeout: Double = 120) throws -> Command.Result {
            let before = try Self.benchNamespaces()
            let r = try Command.run(["env", "SKBTRACER=\(try tracer ?? KT.binaryPath())"] + env
                                    + ["bash", Self.benchDir.appendingPathComponent(name).path] + args, timeout: timeout)
            let after = try Self.benchNamespaces()
            #expect(after.subtracting(before).isEmpty, "\(name) left namespaces: \(after.subtracting(before))")
            return r
        }

        /// Runs bench/NAME, which must succeed; its stdout lines.
        func run(_ name: String, _ args: [String], env: [String] = [], timeout: Double = 120) throws -> [String] {
            let r = try runScript(name, args, env: env, timeout: timeout)
            #expect(r.ok, "\(name) exit status \(r.status): \(r.stderr)")
            return r.stdout.split(separator: "\n").map(String.init)
        }

        /// A stand-in for skbtracer: touches its --ready-file, and on SIGINT writes
        /// `summary` to stderr and exits with `status` (Python: a background job
        /// starts with SIGINT ignored, which a shell script could not trap).
        static func fakeTracer(in dir: URL, summary: String, status: Int) throws -> String {
            let path = dir.appendingPathComponent("skbtracer").path
            try """
            #!/usr/bin/env python3
            import signal, sys, time
            args = sys.argv[1:]
            open(args[args.index('--ready-file') + 1], 'w').close()
            def stop(*_):
                sys.stderr.write("\(summary)")
                sys.exit(\(status))
            signal.signal(signal.SIGINT, stop)
            while True:
                time.sleep(0.1)
            """.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            return path
        }

        static func columns(_ line: String) -> [String] { line.split(separator: " ").map(String.init) }

        @Test("flood.sh: one short round prints a row per mode; matching nothing gives no event, text and record give events")
        func flood() throws {
            let lines = try run("flood.sh", ["1", "1"], env: ["MODES=baseline empty nomatch text record", "BPFTRACE=none", "PERF=none"])
            let rows = Dictionary(lines.map(Self.columns).filter { $0.first == "1" && $0.count >= 3 }.map { ($0[1], $0) },
                                  uniquingKeysWith: { a, _ in a })
            // Nothing attached comes first in the round: the ratios' reference.
            let round = lines.map(Self.columns).filter { $0.first == "1" && $0.count >= 3 }
            #expect(round.first?[1] == "baseline", "first row: \(round.first ?? [])")
            #expect(rows["baseline"]?[3] == "1.00", "baseline ratio: \(rows["baseline"] ?? [])")
            for mode in ["baseline", "empty", "nomatch", "text", "record"] {
                let row = try #require(rows[mode], "no row for \(mode):\n\(lines.joined(separator: "\n"))")
                if mode == "empty" && row[2] == "skipped:" { continue }  // no cc or clang here
                #expect(row.count == 11 && Int(row[2]).map { $0 > 0 } == true, "row \(row)")
            }
            #expect(rows["nomatch"]?[7] == "0", "matching nothing: \(rows["nomatch"] ?? [])")
            #expect((rows["text"].flatMap { Int($0[7]) } ?? 0) > 0, "text: \(rows["text"] ?? [])")
            #expect((rows["record"].flatMap { Int($0[7]) } ?? 0) > 0, "record: \(rows["record"] ?? [])")
        }

        /// A tracer that fails, or whose counts cannot be read, gives no row of zeros:
        /// flood.sh exits non-zero and says why (before, it printed `0 events, 0 lost`).
        @Test("flood.sh: a tracer exiting non-zero, or without a summary, fails the run", arguments: [
            ("skbtracer: 5 events, 0 lost; 16/16 probes attached; stopped: signal\\n", 3, "nomatch exited with status 3"),
            ("something else\\n", 0, "nomatch: no event and loss counts"),
        ])
        func floodFailsOnABrokenTracer(summary: String, status: Int, message: String) throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-fake-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let fake = try Self.fakeTracer(in: dir, summary: summary, status: status)
            let r = try runScript("flood.sh", ["1", "1"], env: ["MODES=nomatch", "BPFTRACE=none", "PERF=none"], tracer: fake)
            #expect(r.status != 0, "flood.sh passed with a broken tracer: \(r.stdout)")
            #expect(r.stderr.contains("flood.sh: \(message)"), "stderr: \(r.stderr)")
            #expect(!r.stdout.contains(" nomatch "), "a row for the broken mode: \(r.stdout)")
        }

        @Test("consumer.sh: a recorded stream replays through both formatters")
        func consumer() throws {
            let lines = try run("consumer.sh", ["1", "20000"], env: ["CALLGRIND=0"])
            let recorded = try #require(lines.first { $0.hasPrefix("recorded: ") }, "\(lines)")
            #expect(recorded.contains("skbtracer: ") && !recorded.contains("skbtracer: 0 events"), "\(recorded)")
            for f in ["text", "json"] {
                let line = try #require(lines.first { $0.hasPrefix("\(f) events/s:") }, "\(lines)")
                #expect(Int(Self.columns(line).last ?? "").map { $0 > 0 } == true, "\(line)")
            }
        }

        @Test("startup.sh: a median per probe set")
        func startup() throws {
            let lines = try run("startup.sh", ["1"])
            for set in ["default", "timeline", "all", "one", "owner"] {
                let line = lines.first { $0.hasPrefix(set + " ") }
                #expect(line.map { Int(Self.columns($0).last ?? "") != nil } == true, "\(set): \(lines)")
            }
        }

        @Test("journeys_rss.sh: every packet held in flight becomes a journey")
        func journeysRSS() throws {
            let lines = try run("journeys_rss.sh", ["300"])
            let row = try #require(lines.map(Self.columns).first { $0.first == "300" }, "\(lines)")
            #expect(row.count == 6 && row[4] == "300", "row \(row)")
        }

        /// A short soak with a 1 MiB ring: events are lost (the debug build is slow),
        /// and events + lost must still equal the packets sent.
        @Test("soak.sh: loss accounting is exact over a short soak")
        func soak() throws {
            let lines = try run("soak.sh", ["12", "1", "--callstack"])
            let counts = try #require(lines.first { $0.hasPrefix("packets sent") }, "\(lines)")
            #expect(counts.hasSuffix("EXACT"), "\(counts)")
            // Only net_dev_queue is traced: every loss is its own.
            let perProbe = try #require(lines.first { $0.hasPrefix("lost per probe:") }, "\(lines)")
            let lost = counts.components(separatedBy: ", ").first { $0.hasPrefix("lost ") }
            let expected = lost == "lost 0" ? "lost per probe: none; " : "lost per probe: net_dev_queue \(lost?.dropFirst(5) ?? ""); "
            #expect(perProbe == expected + "EXACT", "\(perProbe) (\(counts))")
            #expect(lines.contains { $0.hasPrefix("rss after warm-up") }, "\(lines)")
        }

        /// Another tracer runs beside it (as other people's do on a shared host): its
        /// programs, with the same names, must not be counted (each name once).
        @Test("bpf_cost.sh: a line per program of its own tracer and a total")
        func bpfCost() throws {
            let other = try KT.Tracer.start(["-H", "198.51.100.98"])
            defer { other.cleanup() }
            let lines = try run("bpf_cost.sh", ["1"])
            #expect(other.isRunning, "the other tracer ended: \(other.stderr)")
            let all = try #require(lines.map(Self.columns).first { $0.first == "all" }, "\(lines)")
            #expect(all.count == 5, "\(all)")
            #expect((Int(all[2]) ?? 0) > 0, "\(all)")
            let names = lines.map(Self.columns).filter { $0.first != "all" }.compactMap(\.first)
            #expect(!names.isEmpty, "no program line: \(lines)")
            #expect(names.count == Set(names).count, "programs of another tracer counted: \(names.sorted())")
        }

        @Test("bpf_cost.sh: a tracer that never gets ready fails the run")
        func bpfCostTracerNotReady() throws {
            let r = try runScript("bpf_cost.sh", ["1"], tracer: "/bin/false")
            #expect(r.status != 0, "bpf_cost.sh passed without a tracer: \(r.stdout)")
            #expect(r.stderr.contains("bpf_cost.sh: the tracer ended before it was ready"), "stderr: \(r.stderr)")
            #expect(!r.stdout.contains("all "), "a total without a tracer: \(r.stdout)")
        }
    }
}
