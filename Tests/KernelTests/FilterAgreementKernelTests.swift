import Foundation
import Testing

/// The BPF filter and the Swift matcher answer one table of cases alike: for
/// each filter, a live tracer (the filter in BPF) and a replay of an unfiltered
/// recording of the same traffic (the filter in Swift, TraceFilter.matches)
/// keep exactly the same events.
extension KernelTests {
    /// CLOCK_MONOTONIC, the clock of the events' ts_ns.
    static func monotonicNs() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    @Test("One table of filters: BPF (live) and the Swift matcher (replay) keep the same events")
    func filtersAgreeLiveAndReplayed() throws {
        try KT.withLab { lab in
            let port = KT.randomPort(), sport = port + 1, tcpPort = port + 2
            let id = Int.random(in: 10_000...60_000)
            // Every tracer is scoped to c2's namespace: other traffic on this
            // host can never reach one tracer's window and not another's.
            let scope = ["-N", lab.container2]
            let cases: [[String]] = [
                ["-H", lab.c1IPv4], ["-s", lab.c2IPv4], ["-d", lab.c2IPv4], ["-d", lab.c1IPv4],
                ["--proto", "icmp"], ["--proto", "udp"], ["--proto", "tcp"], ["--proto", "arp"],
                ["-P", "\(port)"], ["--dport", "\(port)"], ["--sport", "\(sport)"], ["-S", "\(tcpPort)"],
                ["--icmpid", "\(id)"], ["--tcp-flags", "S"], ["--tcp-flags", "RA"], ["--pkt-len", "84"],
                ["--pkt-len", "29-60"], ["-H", lab.c2IPv4, "--proto", "udp", "--dport", "\(port)"],
                ["-i", lab.innerIf],
            ]
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-agree-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let recording = dir.appendingPathComponent("all.skbt").path
            var tracers: [KT.Tracer] = []
            defer { for t in tracers { t.cleanup() } }
            let recorder = try KT.Tracer.start(["--record", recording] + scope, formatted: false)
            tracers.append(recorder)
            for c in cases { tracers.append(try KT.Tracer.start(scope + c)) }

            let from = Self.monotonicNs()
            // ICMP echo, a UDP datagram to a closed port (an ICMP error back), a
            // TCP SYN to a closed port (a RST back), ARP where needed.
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2, id: id)
            try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
            _ = try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: tcpPort, sport: tcpPort + 1)

            // Compared: what happened while every tracer was attached (the same
            // clock for all, bpf_ktime_get_ns); neighbour and router traffic
            // keeps coming while they stop one by one.
            usleep(500_000)
            let to = Self.monotonicNs()
            for t in tracers { #expect(t.stop(settle: 0) == 0, "\(t.stderr)") }
            let inWindow = { (e: KT.Event) -> Bool in
                let ts = UInt64(e.int("ts_ns") ?? 0)
                return ts >= from && ts <= to
            }
            var matchedSomething = 0
            for (c, t) in zip(cases, tracers.dropFirst()) {
                let live = try t.events().filter(inWindow).map(Self.identity).sorted()
                let replayed = try KT.Event.parse(try Self.replay([recording, "--json"] + scope + c).stdout)
                    .filter(inWindow).map(Self.identity).sorted()
                let diff = "only live: \(Set(live).subtracting(replayed))\nonly replayed: \(Set(replayed).subtracting(live))"
                #expect(live == replayed, "\(c): live \(live.count), replayed \(replayed.count)\n\(diff)")
                if !live.isEmpty { matchedSomething += 1 }
            }
            // A table where every filter keeps nothing would agree trivially.
            #expect(matchedSomething == cases.count, "each case matched some of the traffic: \(matchedSomething) of \(cases.count)")
        }
    }
}
