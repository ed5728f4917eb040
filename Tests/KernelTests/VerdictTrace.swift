import Foundation
import SkbTracerSystem

/// One `--netfilter --timeline --json` run and what it says about nf_tables
/// verdicts: the journeys, their hops as events, and the `netfilter` object of
/// each `nft_rule` hop. Used by NetfilterVerdictKernelTests.
struct VerdictTrace {
    /// An `nft_rule` hop's `netfilter` object, with the hop's skb, namespace and time.
    struct Verdict: CustomStringConvertible {
        let nf: [String: Any]
        let event: KT.Event

        var family: String? { nf["family"] as? String }
        var hook: String? { nf["hook"] as? String }
        var table: String? { nf["table"] as? String }
        var chain: String? { nf["chain"] as? String }
        var priority: Int? { (nf["priority"] as? NSNumber)?.intValue }
        var handle: Int? { (nf["handle"] as? NSNumber)?.intValue }
        var rule: String? { nf["rule"] as? String }
        var syntax: String? { nf["rule_syntax"] as? String }
        var verdict: String? { nf["verdict"] as? String }
        var policy: Bool? { nf["policy"] as? Bool }
        var target: String? { nf["target"] as? String }

        var description: String {
            "\(family ?? "-") \(table ?? "-")/\(chain ?? "-") hook=\(hook ?? "-") prio=\(priority.map(String.init) ?? "-") "
                + "handle=\(handle.map(String.init) ?? "-") \(verdict ?? "-")\(policy == true ? " (policy)" : "")"
                + "\(target.map { " -> \($0)" } ?? "") [\(syntax ?? "-")] \"\(rule ?? "")\" skb=\(event.skb ?? "-") ns=\(event.netns)"
        }
    }

    let records: [KernelTests.Record]
    let status: Int32
    let stderr: String

    var journeys: [KernelTests.Record] { KernelTests.journeys(records) }

    /// Starts the tracer with `--netfilter --timeline` and `args`, runs the
    /// bounded `traffic`, stops it with SIGINT.
    static func run(_ args: [String], _ traffic: () throws -> Void) throws -> VerdictTrace {
        let tracer = try KT.Tracer.start(["--netfilter", "--timeline"] + args)
        defer { tracer.cleanup() }
        try traffic()
        let status = tracer.stop()
        return VerdictTrace(records: try KernelTests.Record.parse(tracer.output), status: status, stderr: tracer.stderr)
    }

    static func hops(_ journey: KernelTests.Record) -> [KT.Event] {
        journey.hops.map { KT.Event(json: $0, line: "") }
    }

    static func verdicts(_ journey: KernelTests.Record) -> [Verdict] {
        hops(journey).compactMap { e in
            guard e.probe == "nft_rule", let nf = e.json["netfilter"] as? [String: Any] else { return nil }
            return Verdict(nf: nf, event: e)
        }
    }

    /// The journeys with a hop that passes `keep` (the test's own packet).
    func journeys(_ keep: (KT.Event) -> Bool) -> [KernelTests.Record] {
        journeys.filter { Self.hops($0).contains(where: keep) }
    }

    /// The `dropped_by_rule` object of a journey, as a verdict (its event: the
    /// journey's last hop).
    static func droppedByRule(_ journey: KernelTests.Record) -> Verdict? {
        guard let nf = journey.json["dropped_by_rule"] as? [String: Any], let last = hops(journey).last else { return nil }
        return Verdict(nf: nf, event: last)
    }

    var dump: String {
        "stderr: \(stderr)\n" + (journeys.isEmpty ? "(no journeys)" : journeys.map { j in
            "  \(j)\n" + Self.hops(j).map { e in
                "    \(e)" + ((e.json["netfilter"] as? [String: Any]).map { " nf=\($0)" } ?? "")
            }.joined(separator: "\n")
        }.joined(separator: "\n"))
    }
}

/// nft's own view of a namespace's rules.
enum NftListing {
    /// The rules of `chain` as `nft -a list chain` prints them: text (without the
    /// handle comment) and handle, in order.
    static func rules(ns: String, family: String, table: String, chain: String) throws -> [(text: String, handle: Int)] {
        let text = try Command.check(["ip", "netns", "exec", ns, "nft", "-a", "list", "chain", family, table, chain]).stdout
        return text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("\t\t"), let r = line.range(of: " # handle "), let h = Int(line[r.upperBound...]) else { return nil }
            return (line[..<r.lowerBound].trimmingCharacters(in: .whitespaces), h)
        }
    }

    /// The only rule of `chain` whose text contains `containing`.
    static func rule(ns: String, family: String, table: String, chain: String, containing: String) throws -> (text: String, handle: Int) {
        let all = try rules(ns: ns, family: family, table: table, chain: chain)
        let found = all.filter { $0.text.contains(containing) }
        guard found.count == 1 else { throw KT.Failure("\(found.count) rules with \"\(containing)\" in \(family) \(table) \(chain): \(all)") }
        return found[0]
    }

    /// The whole ruleset of `ns` (nil: the root namespace), stateless (counters
    /// and sets' dynamic elements left out).
    static func ruleset(ns: String?) throws -> String {
        try Command.check((ns.map { ["ip", "netns", "exec", $0] } ?? []) + ["nft", "-s", "list", "ruleset"]).stdout
    }

    /// `ruleset` text without the tables of skbtracers other than process `pid`:
    /// another engineer's skbtracer, tracing every namespace, adds its own to the
    /// lab's for as long as it runs.
    static func withoutOtherTracers(_ ruleset: String, pid: Int32) -> String {
        var kept: [Substring] = [], skipping = false
        for line in ruleset.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("table ") {
                let name = line.split(separator: " ").dropFirst(2).first ?? ""
                skipping = name.hasPrefix("skbtracer_") && name != "skbtracer_\(pid)"
            }
            if !skipping { kept.append(line) }
            if line == "}" { skipping = false }
        }
        return kept.joined(separator: "\n")
    }

    /// Loads an nft script into `ns` (`nft -f -` reads no stdin here: a file).
    static func load(ns: String, _ script: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-nft-\(UUID().uuidString).nft").path
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Command.check(["ip", "netns", "exec", ns, "nft", "-f", file])
    }
}
