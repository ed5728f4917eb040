import Foundation
import SkbTracerCore
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

        /// Runs bench/NAME with the debug binary; checks no namespace was left.
        func run(_ name: String, _ args: [String], env: [String] = [], timeout: Double = 120) throws -> [String] {
            let before = try Self.benchNamespaces()
            let r = try Command.run(["env", "SKBTRACER=\(try KT.binaryPath())"] + env
                                    + ["bash", Self.benchDir.appendingPathComponent(name).path] + args, timeout: timeout)
            #expect(r.ok, "\(name) exit status \(r.status): \(r.stderr)")
            let after = try Self.benchNamespaces()
            #expect(after.subtracting(before).isEmpty, "\(name) left namespaces: \(after.subtracting(before))")
            return r.stdout.split(separator: "\n").map(String.init)
        }

        static func columns(_ line: String) -> [String] { line.split(separator: " ").map(String.init) }

        @Test("flood.sh: one short round prints a row per mode; matching nothing gives no event, text and record give events")
        func flood() throws {
            let lines = try run("flood.sh", ["1", "1"], env: ["MODES=baseline empty nomatch text record", "BPFTRACE=none", "PERF=none"])
            let rows = Dictionary(lines.map(Self.columns).filter { $0.first == "1" && $0.count >= 3 }.map { ($0[1], $0) },
                                  uniquingKeysWith: { a, _ in a })
            for mode in ["baseline", "empty", "nomatch", "text", "record"] {
                let row = try #require(rows[mode], "no row for \(mode):\n\(lines.joined(separator: "\n"))")
                if mode == "empty" && row[2] == "skipped:" { continue }  // no cc or clang here
                #expect(row.count == 11 && Int(row[2]).map { $0 > 0 } == true, "row \(row)")
            }
            #expect(rows["nomatch"]?[7] == "0", "matching nothing: \(rows["nomatch"] ?? [])")
            #expect((rows["text"].flatMap { Int($0[7]) } ?? 0) > 0, "text: \(rows["text"] ?? [])")
            #expect((rows["record"].flatMap { Int($0[7]) } ?? 0) > 0, "record: \(rows["record"] ?? [])")
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

        @Test("bpf_cost.sh: a line per probe hit and a total")
        func bpfCost() throws {
            let lines = try run("bpf_cost.sh", ["1"])
            let all = try #require(lines.map(Self.columns).first { $0.first == "all" }, "\(lines)")
            #expect(all.count == 5 && (Int(all[2]) ?? 0) > 0, "\(all)")
        }
    }
}
