import Foundation
import SkbTracerSystem
import Testing

/// `--record` on the real kernel, then `skbtracer replay`: the replay shows what a
/// live trace of the same traffic showed, with the recording machine's names.
extension KernelTests {
    /// Runs `skbtracer replay ARGS` and returns its stdout; fails on a non-zero exit.
    static func replay(_ args: [String]) throws -> (stdout: String, stderr: String) {
        let r = try Command.run([try KT.binaryPath(), "replay"] + args)
        guard r.ok else { throw KT.Failure("replay \(args) exited \(r.status): \(r.stderr)") }
        return (r.stdout, r.stderr)
    }

    /// What identifies one event independently of which tracer saw it (each
    /// tracer's program reads its own clock).
    static func identity(_ e: KT.Event) -> String {
        [e.probe, e.str("skb") ?? "", "\(e.netns)", e.ifname, e.saddr ?? "", e.daddr ?? "", e.l4 ?? "",
         e.dropReason ?? "", e.str("location") ?? ""].joined(separator: "|")
    }

    @Test("--record then replay: the live trace's events, journeys with the lab's namespace names, drops symbolized, filters applied")
    func recordAndReplay() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-rec-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let recording = dir.appendingPathComponent("trace.skbt").path
            // Tracking on, as --timeline has it live: the replayed journeys are whole.
            let args = ["-H", lab.c2IPv4, "--dropstack", "--track"]
            let live = try KT.Tracer.start(args)
            defer { live.cleanup() }
            let recorder = try KT.Tracer.start(["--record", recording] + args, formatted: false)
            defer { recorder.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2)
            try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: port + 1)
            // The live tracer stops first: neighbour traffic after the pings (ARP
            // probes) then reaches the recorder too, never only the live trace.
            #expect(live.stop() == 0, "\(live.stderr)")
            #expect(recorder.stop(settle: 0) == 0, "\(recorder.stderr)")
            #expect(recorder.stderr.contains(" 0 lost"), "\(recorder.stderr)")

            // The same events as the live JSON trace (both saw the same packets):
            // the pings' and the datagram's exactly, and every other live event.
            let liveEvents = try live.events()
            let replayed = try KT.Event.parse(try Self.replay([recording, "--json"]).stdout)
            #expect(liveEvents.count >= 8, "\(live.output)")
            let dump = "live:\n\(live.output)\nreplayed:\n\(replayed.map(\.line).joined(separator: "\n"))"
            let traffic = { (e: KT.Event) in e.l4 != nil }
            #expect(replayed.filter(traffic).map(Self.identity).sorted() == liveEvents.filter(traffic).map(Self.identity).sorted(), "\(dump)")
            var recorded = replayed.map(Self.identity)
            for e in liveEvents.map(Self.identity) {
                if let i = recorded.firstIndex(of: e) { recorded.remove(at: i) } else { Issue.record("live event not recorded: \(e)\n\(dump)") }
            }

            // The drop: reason, location and stack resolved from the recording.
            let drop = try #require(replayed.first { $0.dropReason == "NO_SOCKET" && $0.l4 == "udp" }, "no UDP drop replayed")
            #expect((drop.str("location") ?? "").hasPrefix("__udp4_lib_rcv"), "\(drop.line)")
            let frames = drop.json["stack"] as? [String] ?? []
            #expect(frames.contains { $0.hasPrefix("ip_local_deliver") || $0.hasPrefix("ip_protocol_deliver_rcu") }, "\(frames)")
            #expect(drop.str("drop_hint") != nil)

            // Journeys: the echo request's path names the lab's namespaces (the
            // first request's ARP-queued copy is a journey of its own: skip it).
            let records = try Record.parse(try Self.replay([recording, "--timeline", "--json"]).stdout)
            let request = try #require(Self.journeys(records).first {
                ($0.str("summary") ?? "").contains("echo request") && $0.path.count > 1
            },
                                       "\(Self.dumpJourneys(records))")
            let names = request.path.map(\.ns)
            #expect(names.first == lab.container1 && names.contains(lab.container2), "\(request.path)")
            #expect(Self.journeys(records).contains { $0.outcomeKind == "dropped" }, "\(Self.dumpJourneys(records))")

            // Filters on replay, -N with a namespace name as recorded.
            let udp = try KT.Event.parse(try Self.replay([recording, "--json", "--proto", "udp"]).stdout)
            #expect(!udp.isEmpty && udp.allSatisfy { $0.l4 == "udp" }, "\(udp.map(\.line))")
            let inC2 = try KT.Event.parse(try Self.replay([recording, "--json", "-N", lab.container2]).stdout)
            #expect(!inC2.isEmpty && Set(inC2.map(\.netns)) == [drop.netns], "\(inC2.map(\.line))")
            let text = try Self.replay([recording, "-c", "3"])
            #expect(text.stdout.split(separator: "\n").count == 4, "header and 3 events: \(text.stdout)")
            #expect(text.stderr.contains("replayed 3 events"), "\(text.stderr)")
        }
    }

    @Test("a recorder killed with SIGKILL mid-trace leaves a recording that replays up to its last whole record")
    func killedRecorderReplays() throws {
        try KT.withLab { lab in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-rec-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let recording = dir.appendingPathComponent("killed.skbt").path
            let recorder = try KT.Tracer.start(["--record", recording, "-H", lab.c2IPv4, "--proto", "icmp"], formatted: false)
            defer { recorder.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 3)
            // Events reach the file at each poll (100 ms), later on a loaded
            // machine: wait (bounded) until they are there, then kill.
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                let seen = try Command.run([try KT.binaryPath(), "replay", recording, "--json"])
                if seen.stdout.split(separator: "\n").filter({ $0.hasPrefix("{\"type\":\"event\"") }).count >= 6 { break }
                usleep(200_000)
            }
            recorder.child?.kill9()
            #expect(recorder.status == 128 + SIGKILL)
            let r = try Command.run([try KT.binaryPath(), "replay", recording, "--json"])
            #expect(r.ok, "\(r.stderr)")
            let events = try KT.Event.parse(r.stdout)
            #expect(events.count >= 6 && events.allSatisfy { $0.l4 == "icmp" }, "\(r.stdout)")
            #expect(r.stderr.contains("no end record"), "\(r.stderr)")
        }
    }
}
