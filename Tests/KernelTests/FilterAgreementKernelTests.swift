import Foundation
import SkbTracerLab
import SkbTracerSystem
import Testing

/// The BPF filter and the Swift matcher answer one table of cases alike: for
/// each filter, a live tracer (the filter in BPF) and a replay of an unfiltered
/// recording of the same traffic (the filter in Swift, TraceFilter.matches)
/// keep exactly the same events.
extension KernelTests {
    @Test("One table of filters: BPF (live) and the Swift matcher (replay) keep the same events")
    func filtersAgreeLiveAndReplayed() throws {
        try KT.withLab { lab in
            let port = KT.randomPort(), sport = port + 1, tcpPort = port + 2
            let id = Int.random(in: 10_000...60_000)
            let cases: [[String]] = [
                ["-H", lab.c1IPv4], ["-s", lab.c2IPv4], ["-d", lab.c2IPv4], ["-d", lab.c1IPv4],
                ["--proto", "icmp"], ["--proto", "udp"], ["--proto", "tcp"], ["--proto", "arp"],
                ["-P", "\(port)"], ["--dport", "\(port)"], ["--sport", "\(sport)"], ["-S", "\(tcpPort)"],
                ["--icmpid", "\(id)"], ["--tcp-flags", "S"], ["--tcp-flags", "RA"], ["--pkt-len", "84"],
                ["--pkt-len", "29-60"], ["-H", lab.c2IPv4, "--proto", "udp", "--dport", "\(port)"],
                ["-i", lab.innerIf],
                // tcpdump expressions: libpcap's programs run in BPF live, and by
                // libpcap's own interpreter on the recorded bytes in replay.
                ["udp port \(port)"], ["icmp[icmptype] == icmp-echo"], ["tcp[tcpflags] & tcp-rst != 0"],
                ["--proto", "icmp", "ip[8] == 64"], ["ether broadcast or arp"],
            ]
            try Self.expectAgreement(lab, cases) {
                // ICMP echo, a UDP datagram to a closed port (an ICMP error back), a
                // TCP SYN to a closed port (a RST back), ARP where needed.
                try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2, id: id)
                try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
                _ = try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: tcpPort, sport: tcpPort + 1)
            }
        }
    }

    /// BPF's first look at a packet (peek_l3, before anything else is read) must
    /// leave to the full parse what it cannot read itself: ports after IPv4
    /// options, L4 after IPv6 extension headers. A first look that read ports at
    /// a fixed offset, or took IPv6's next header for L4, fails this table.
    @Test("Filters agree on packets BPF's first look cannot read: IPv4 options, IPv6 extension headers")
    func filtersAgreeOnHeadersTheFirstLookSkips() throws {
        try KT.withLab { lab in
            let port = KT.randomPort(), v6Port = port + 2
            let cases: [[String]] = [["-P", "\(port)"], ["--proto", "icmp6"], ["-H", lab.c2IPv6], ["-P", "\(v6Port)"]]
            try Self.expectAgreement(lab, cases) {
                // UDP over IPv4 with options (four NOPs: a 24-byte header), UDP
                // over IPv6, and a ping larger than the MTU (its fragments carry a
                // fragment header before ICMPv6).
                _ = try lab.exec(lab.container1, [KT.python, "-c", """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b'\\x01\\x01\\x01\\x01')
                    s.bind(('', \(port + 1)))
                    s.sendto(b'skbtracer-kt', ('\(lab.c2IPv4)', \(port)))
                    """], timeout: 10)
                try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv6, port: v6Port, sport: v6Port + 1)
                _ = try lab.exec(lab.container1, ["ping", "-6", "-c", "1", "-s", "2000", "-W", "1", lab.c2IPv6], timeout: 5)
            }
        }
    }

    /// Runs a recorder and one tracer per case while `traffic` runs, and expects
    /// each case's live events to be its replayed ones, and each case to match some.
    static func expectAgreement(_ lab: Lab, _ cases: [[String]], traffic: () throws -> Void) throws {
        // Every tracer is scoped to c2's namespace: other traffic on this
        // host can never reach one tracer's window and not another's.
        let scope = ["-N", lab.container2]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-agree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let recording = dir.appendingPathComponent("all.skbt").path
        var tracers: [KT.Tracer] = []
        defer { for t in tracers { t.cleanup() } }
        // With the packets' first bytes, for the tcpdump expressions.
        let recorder = try KT.Tracer.start(["--record", recording, "--snaplen", "256"] + scope, formatted: false)
        tracers.append(recorder)
        for c in cases { tracers.append(try KT.Tracer.start(scope + c)) }

        let from = MonotonicClock.now()
        try traffic()

        // Compared: what happened while every tracer was attached (the same
        // clock for all, bpf_ktime_get_ns); neighbour and router traffic
        // keeps coming while they stop one by one.
        usleep(500_000)
        let to = MonotonicClock.now()
        // Generous: each tracer reads /proc/kallsyms at its first location, and
        // two dozen of them doing it at once in a debug build take a while.
        for t in tracers { #expect(t.stop(settle: 0, timeout: 90) == 0, "\(t.stderr)") }
        let inWindow = { (e: KT.Event) -> Bool in
            let ts = UInt64(e.int("ts_ns") ?? 0)
            return ts >= from && ts <= to
        }
        var matchedSomething = 0
        for (c, t) in zip(cases, tracers.dropFirst()) {
            let live = try t.events().filter(inWindow).map(identity).sorted()
            let replayed = try KT.Event.parse(try replay([recording, "--json"] + scope + c).stdout)
                .filter(inWindow).map(identity).sorted()
            let diff = "only live: \(Set(live).subtracting(replayed))\nonly replayed: \(Set(replayed).subtracting(live))"
            #expect(live == replayed, "\(c): live \(live.count), replayed \(replayed.count)\n\(diff)")
            if !live.isEmpty { matchedSomething += 1 }
        }
        // A table where every filter keeps nothing would agree trivially.
        #expect(matchedSomething == cases.count, "each case matched some of the traffic: \(matchedSomething) of \(cases.count)")
    }
}
