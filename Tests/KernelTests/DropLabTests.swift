import Foundation
import SkbTracerSystem
import Testing

/// Real drops, each provoked in a `DropLab` and traced with the built binary:
/// the drop reason, the function that dropped, and the namespace and interface
/// where the packet died. All traffic stays inside the lab's namespaces.
///
/// Nested in KernelTests for its `.serialized` and root condition (two tracers
/// side by side would see each other's labs).
extension KernelTests {
@Suite("drop reasons (DropLab)")
struct DropLabTests {
    typealias Event = KT.Event

    @Test("the scenarios cover at least six distinct drop reasons")
    func sixReasons() {
        let reasons = Set(DropScenario.all.flatMap(\.expectedReasons))
        #expect(reasons.count >= 6, "reasons: \(reasons.sorted())")
        #expect(Set(DropScenario.all.map(\.name)).count == DropScenario.all.count, "scenario names must be unique")
    }

    @Test("kfree_skb reports the drop reason, the location and the namespace", arguments: DropScenario.all)
    func drop(_ scenario: DropScenario) throws {
        try DropLab.with { lab in
            let tracer = try scenario.run(in: lab)
            defer { tracer.cleanup() }
            #expect(tracer.status == 0, "tracer exit status; stderr: \(tracer.stderr)")
            try Self.expectDrop(scenario, in: tracer.events(), lab: lab)
            Self.expectSummaryDrops(scenario, tracer.stderr)
        }
    }

    /// The exit summary's last words: `drops: REASON N, ...`, with the scenario's reason.
    static func expectSummaryDrops(_ scenario: DropScenario, _ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let summary = stderr.split(separator: "\n").last { $0.hasPrefix("skbtracer: ") }.map(String.init) ?? ""
        let tail = summary.range(of: "; drops: ").map { String(summary[$0.upperBound...]) } ?? ""
        let counts = tail.split(separator: ",").map { $0.split(separator: " ") }
        #expect(counts.allSatisfy { $0.count == 2 && Int($0[1]) != nil }, "\(summary)", sourceLocation: sourceLocation)
        let reasons = Set(counts.compactMap { $0.first.map(String.init) })
        #expect(!reasons.isDisjoint(with: scenario.expectedReasons), "summary: \(summary)", sourceLocation: sourceLocation)
    }

    @Test("--timeline: the packet's journey up to the drop, with reason, location, explanation and hint",
          arguments: DropScenario.all)
    func journeyToDrop(_ scenario: DropScenario) throws {
        try DropLab.with { lab in
            let tracer = try scenario.run(in: lab, extraArgs: ["--timeline"])
            defer { tracer.cleanup() }
            #expect(tracer.status == 0, "tracer exit status; stderr: \(tracer.stderr)")
            Self.expectSummaryDrops(scenario, tracer.stderr)
            let records = try KernelTests.Record.parse(tracer.output)
            let journeys = KernelTests.journeys(records)
            let all = KernelTests.dumpJourneys(records)
            let packet = scenario.packet(lab)
            // Journey hops carry every event field: the same checks as the event stream.
            let hops = try journeys.flatMap { j in
                try j.hops.map { h in
                    var o = h
                    o["type"] = "event"
                    let line = String(decoding: try JSONSerialization.data(withJSONObject: o), as: UTF8.self)
                    return try #require(try Event.parse(line).first)
                }
            }
            try Self.expectDrop(scenario, in: hops, lab: lab)

            let dropped = journeys.filter { j in
                j.outcomeKind == "dropped" && j.hops.contains { h in
                    (h["saddr"] as? String) == packet.saddr && (h["daddr"] as? String) == packet.daddr
                }
            }
            let j = try #require(dropped.first, "no dropped journey for \(packet):\n\(all)")
            let reason = j.outcome["reason"] as? String ?? ""
            #expect(scenario.expectedReasons.contains(reason), "\(j)")
            #expect(scenario.expectedFunctions.contains(DropScenario.function(of: j.outcome["location"] as? String)), "\(j)")
            #expect((j.outcome["explanation"] as? String ?? "").count > 10, "no explanation for \(reason): \(j.outcome)")
            #expect((j.outcome["hint"] as? String ?? "").count > 10, "no hint for \(reason): \(j.outcome)")
            #expect(j.outcome["noise"] is NSNull, "a real drop is not noise: \(j.outcome)")
            // The journey ends where the packet died, and starts where it was sent (a).
            #expect(j.path.last?.ns == scenario.diesIn(lab) && j.path.last?.ifname == scenario.diesOn(lab), "\(j)")
            #expect(j.path.first?.ns == lab.a, "starts in a: \(j)")
            #expect(j.str("path_text")?.hasSuffix("dropped (\(reason) at \(j.outcome["location"] as? String ?? ""))") == true, "\(j)")
            // The diagnosis names the drop with its hint.
            let diag = try #require(records.last { $0.type == "diagnosis" }, "no diagnosis")
            let drops = diag["drops"] as? [[String: Any]] ?? []
            #expect(drops.contains { $0["reason"] as? String == reason && ($0["count"] as? Int ?? 0) >= 1 && $0["hint"] is String },
                    "diagnosis drops: \(drops)")
        }
    }

    /// The scenario's packet has `kfree_skb` events, all with the expected
    /// reason, function, namespace and interface, and the companion probes saw
    /// it in that namespace too.
    static func expectDrop(_ scenario: DropScenario, in events: [Event], lab: DropLab,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let packet = scenario.packet(lab)
        let netns = try #require(lab.netnsInode(scenario.diesIn(lab)), sourceLocation: sourceLocation)
        let ifname = scenario.diesOn(lab)
        let mine = events.filter { packet.matches($0) }
        let context = "\(scenario.name): \(packet), expected to die in \(scenario.diesIn(lab)) (\(netns)) on \(ifname)\n\(KT.dump(events))"
        let drops = mine.filter { $0.probe == "kfree_skb" }
        try #require(!drops.isEmpty, "no kfree_skb for the packet. \(context)", sourceLocation: sourceLocation)
        for drop in drops {
            #expect(drop.dropReason.map(scenario.expectedReasons.contains) == true,
                    "reason \(drop.dropReason ?? "nil"), expected one of \(scenario.expectedReasons.sorted()): \(drop)",
                    sourceLocation: sourceLocation)
            let function = DropScenario.function(of: drop.location)
            #expect(scenario.expectedFunctions.contains(function),
                    "location \(drop.location ?? "nil"), expected in \(scenario.expectedFunctions.sorted()): \(drop)",
                    sourceLocation: sourceLocation)
            #expect(drop.location?.contains("+0x") == true, "location not symbol+0xoff: \(drop)",
                    sourceLocation: sourceLocation)
            #expect(drop.netns == netns && drop.ifname == ifname, "place: \(drop). \(context)",
                    sourceLocation: sourceLocation)
        }
        for probe in scenario.companions.sorted() {
            #expect(mine.contains { $0.probe == probe && $0.netns == netns }, "no \(probe) for the packet. \(context)",
                    sourceLocation: sourceLocation)
        }
    }

    // MARK: - Cleanup

    @Test("a DropLab leaves nothing behind, also when its body throws after every scenario's set-up")
    func leavesNothing() throws {
        struct Boom: Error {}
        let rootTables = try Nft.tables()
        let labsBefore = try Nft.otherLabs()
        var prefix = ""
        var inodes: [UInt32] = []
        #expect(throws: Boom.self) {
            try DropLab.with { lab in
                prefix = lab.prefix
                inodes = [lab.a, lab.r, lab.b].compactMap(lab.netnsInode)
                // iptables in b, rp_filter in r, a qdisc in a: all must go with the namespaces.
                for scenario in DropScenario.all { try scenario.prepare(lab) }
                throw Boom()
            }
        }
        #expect(!prefix.isEmpty, "the lab was not built")
        #expect(inodes.count == 3, "namespaces of the lab: \(inodes)")
        let left = try KT.leftovers(prefix: prefix)
        #expect(left.isEmpty, "drop lab \(prefix) left things behind:\n\(left.joined(separator: "\n"))")
        for name in ["a", "r", "b"] {
            #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(prefix)-\(name)"), "/run/netns/\(prefix)-\(name) remains")
        }
        // Nothing touched the root namespace's nftables (other labs may have, meanwhile).
        try Nft.expectUnchanged(before: rootTables, after: try Nft.tables(), ours: [prefix],
                                others: labsBefore.union(try Nft.otherLabs(than: [prefix])))
    }

    @Test("a DropLab whose build fails removes what it built, and nothing else")
    func failedBuild() throws {
        // Index 300 makes 198.18.300.2 the first address: `ip addr add` fails
        // after the three namespaces and both veth pairs exist.
        let prefix = DropLab.uniquePrefix()
        let error = #expect(throws: RuntimeError.self) { try DropLab.create(prefix: prefix, index: 300) }
        #expect(error?.message.contains("198.18.300.2") == true, "failed elsewhere: \(String(describing: error))")
        let left = try KT.leftovers(prefix: prefix)
        #expect(left.isEmpty, "a failed build left things behind:\n\(left.joined(separator: "\n"))")

        // A prefix already in use is refused, and the other owner's namespace stays.
        let other = DropLab.uniquePrefix()
        let taken = "\(other)-b"
        try Command.check(["ip", "netns", "add", taken])
        defer { _ = try? Command.run(["ip", "netns", "del", taken]) }
        #expect(throws: KT.Failure.self) { try DropLab.create(prefix: other) }
        let netns = try Command.check(["ip", "netns", "list"]).stdout
        #expect(netns.contains(taken), "the lab removed a namespace it did not create")
        #expect(!netns.contains("\(other)-a") && !netns.contains("\(other)-r"), "namespaces remain:\n\(netns)")
    }
}
}

extension DropScenario: CustomTestStringConvertible {
    var testDescription: String { name }
}
