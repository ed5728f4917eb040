import Foundation
import SkbTracerLab
import SkbTracerSystem
import Testing

/// tcpdump expressions, run in the kernel by skbtracer, against tcpdump itself:
/// on the same lab traffic, the frames skbtracer matches at an interface (where
/// tcpdump's tap sees them: netif_receive_skb in, net_dev_start_xmit out) are
/// the frames `tcpdump -i` with the same expression captures there, byte for
/// byte, for a table of expressions.
extension KernelTests {
@Suite("tcpdump expressions agree with tcpdump")
struct TcpdumpAgreementKernelTests {
    /// Bytes each side captures.
    static let snaplen = 96
    /// Bytes of each frame compared: the headers of every frame here. Not more:
    /// skbtracer reads the skb's linear part only, and a TCP segment's data
    /// sits in pages (tcpdump copies it).
    static let compared = 64

    @Test("For each expression, the frames skbtracer matches at an interface are those tcpdump -i matches there")
    func agreesWithTcpdump() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        guard (try? Command.run(["tcpdump", "--version"]))?.status == 0 else {
            return KT.skipped("no tcpdump (scripts/install-deps.sh installs it)")
        }
        try KT.withLab { lab in
            let udpPort = KT.randomPort(), tcpPort = udpPort + 2
            let id = Int.random(in: 10_000...60_000)
            let net = lab.c2IPv4.split(separator: ".").prefix(3).joined(separator: ".") + ".0/24"
            let cases = [
                "host \(lab.c1IPv4)", "net \(net)", "udp port \(udpPort)", "tcp dst port \(tcpPort)",
                "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[tcpflags] & tcp-fin != 0",
                "ip6", "icmp6 and ip6[40] == 128", "vlan", "vlan 10 and icmp",
                "icmp[icmptype] == icmp-echo", "icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 3",
                "greater 300", "less 70", "not arp and not ip6 and not vlan",
                "(udp and dst port \(udpPort)) or (tcp and src port \(tcpPort))", "ip[8] == 64 and not icmp",
                "ether broadcast", "arp",
            ]
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-tcpdump-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }

            var dumps: [KT.Tracer.Capture] = []
            defer { for d in dumps { d.cleanup() } }
            for (i, expression) in cases.enumerated() {
                dumps.append(try KT.Tracer.Capture(lab, ns: lab.container2, interface: lab.innerIf, snaplen: Self.snaplen,
                                                   file: dir.appendingPathComponent("tcpdump-\(i).pcap").path, expression: expression))
            }
            var tracers: [KT.Tracer] = []
            defer { for t in tracers { t.cleanup() } }
            let scope = ["-N", lab.container2, "-i", lab.innerIf, "-t", "netif_receive_skb,net_dev_start_xmit",
                         "--snaplen", "\(Self.snaplen)"]
            for (i, expression) in cases.enumerated() {
                tracers.append(try KT.Tracer.start(scope + ["--write", dir.appendingPathComponent("skbtracer-\(i).pcapng").path, expression],
                                                   formatted: false))
            }
            for d in dumps { try d.waitListening() }

            // Compared: frames while every capture and tracer was on (the same
            // wall clock); neighbour discovery keeps coming while they stop.
            let from = Date().timeIntervalSince1970
            try Self.traffic(lab, udpPort: udpPort, tcpPort: tcpPort, id: id)
            usleep(500_000)
            let to = Date().timeIntervalSince1970
            for t in tracers { #expect(t.stop(settle: 0) == 0, "\(t.stderr)") }
            for d in dumps { d.stop() }

            var matchedSomething = 0
            for (i, expression) in cases.enumerated() {
                // A live tcpdump sees a received frame's 802.1Q tag as metadata
                // (the kernel moved it out of the bytes), so `host X` matches inside
                // VLAN frames there; skbtracer, like tcpdump on a capture file and
                // like pwru, sees the tag in the frame: only `vlan` looks inside.
                let compares = expression.contains("vlan")
                let inWindow = { (f: Frame) in f.time >= from && f.time <= to && (compares || !f.isVLAN) }
                let theirs = try Self.pcapFrames(dir.appendingPathComponent("tcpdump-\(i).pcap").path).filter(inWindow)
                let ours = try Self.pcapngFrames(dir.appendingPathComponent("skbtracer-\(i).pcapng").path).filter(inWindow)
                let a = theirs.map(\.hex).sorted(), b = ours.map(\.hex).sorted()
                #expect(a == b, """
                    '\(expression)': tcpdump \(a.count) frames, skbtracer \(b.count)
                    only tcpdump: \(Set(a).subtracting(b).sorted())
                    only skbtracer: \(Set(b).subtracting(a).sorted())
                    """)
                if !a.isEmpty { matchedSomething += 1 } else { Issue.record("'\(expression)' matched nothing") }
            }
            #expect(matchedSomething == cases.count)
        }
    }

    @Test("An expression about the link layer never matches where a probe has no Ethernet header; one about IP does")
    func linkLayerExpressionsAtSocketProbes() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        try KT.withLab { lab in
            let id = Int.random(in: 10_000...60_000)
            let mac = try Self.mac(lab, ns: lab.container2, interface: lab.innerIf)
            // The echo reply reaches ping's raw socket in container1: a copy at
            // skb_copy_datagram_iovec, a probe without a device or an Ethernet header.
            let probes = ["-N", lab.container1, "-t", "netif_receive_skb,skb_copy_datagram_iovec", "--icmpid", "\(id)"]
            let byIP = try KT.Tracer.start(probes + ["icmp[icmptype] == icmp-echoreply"])
            defer { byIP.cleanup() }
            let byLink = try KT.Tracer.start(probes + ["ether src \(mac) and icmp[icmptype] == icmp-echoreply"])
            defer { byLink.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1, id: id)
            usleep(300_000)
            #expect(byIP.stop() == 0, "\(byIP.stderr)")
            #expect(byLink.stop() == 0, "\(byLink.stderr)")
            let ip = Set(try byIP.events().map(\.probe)), link = Set(try byLink.events().map(\.probe))
            // The IP form runs at the socket's copy; the Ethernet-only expression has none.
            #expect(ip == ["netif_receive_skb", "skb_copy_datagram_iovec"], "\(ip)")
            #expect(link == ["netif_receive_skb"], "\(link)")
        }
    }

    /// --timeline tracks a packet once the expression matched it: after
    /// MASQUERADE its source is no longer c1, yet its journey goes on to r.
    @Test("--timeline follows a packet the expression matched through NAT, where the expression no longer matches it")
    func timelineTracksAMatchedPacket() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        try KT.withLab { lab in
            let t = try KT.Tracer.start(["--timeline", "icmp[icmptype] == icmp-echo and src host \(lab.c1IPv4)"])
            defer { t.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.routedIPv4, count: 1, id: Int.random(in: 10_000...60_000))
            #expect(t.stop() == 0, "\(t.stderr)")
            let records = try KernelTests.Record.parse(t.output)
            let all = KernelTests.dumpJourneys(records)
            let request = try #require(KernelTests.journeys(records).first { $0.firstHop["icmp_type"] as? Int == 8 }, "\(all)")
            #expect(request.path.first?.ns == lab.container1 && request.path.last?.ns == lab.routed, "\(request)")
            #expect(!request.nat.isEmpty, "MASQUERADE on the way: \(request)")
            #expect(request.outcomeKind == "delivered", "\(request)")
            // The reply matches no echo request, but it answers a NATed packet the
            // expression matched: followed by its flow, as with the option filters.
            let reply = KernelTests.journeys(records).first { $0.firstHop["icmp_type"] as? Int == 0 }
            #expect(reply?.int("reply_to") == request.int("journey") && reply?.firstHop["tracked"] as? Bool == true, "\(all)")
        }
    }

    @Test("A bad expression: libpcap's message on one line, exit 2, nothing attached")
    func badExpression() throws {
        let bin = try KT.binaryPath()
        for (args, says) in [(["tcp port"], "syntax error"), (["host", "10.0.0.300"], "10.0.0.300"), (["prot", "tcp"], "prot"),
                             (["replay", "/dev/null", "udp port 99999"], "99999")] {
            let r = try Command.run([bin] + args + (args.first == "replay" ? [] : ["--duration", "0.1"]), timeout: 30)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("skbtracer: error: tcpdump expression"),
                    "\(args): \(r.stderr)")
            #expect(r.stderr.contains(says), "\(args): \(r.stderr)")
        }
    }

    // MARK: - Traffic

    /// Pings (IPv4, a large one, IPv6), UDP to a closed port (its ICMP error
    /// back), a TCP connection with data, and 802.1Q frames with VLAN 10
    /// written raw (this kernel has no VLAN devices), all from container1 to container2.
    static func traffic(_ lab: Lab, udpPort: Int, tcpPort: Int, id: Int) throws {
        try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2, id: id)
        _ = try lab.exec(lab.container1, ["ping", "-c", "1", "-s", "400", "-W", "1", lab.c2IPv4], timeout: 5)
        try KT.ping(lab, from: lab.container1, to: lab.c2IPv6, count: 2, v6: true)
        try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: udpPort, sport: udpPort + 1)
        let server = try KT.tcpServer(lab, ns: lab.container2, addr: lab.c2IPv4, port: tcpPort)
        defer { server.cleanup() }
        try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: tcpPort, sport: tcpPort + 1)
        _ = server.wait(timeout: 10)
        let r = try lab.exec(lab.container1, [KT.python, "-c", """
            import socket, struct
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind(('\(lab.innerIf)', 0))
            src = s.getsockname()[4]
            icmp = struct.pack('!BBHHH', 8, 0, 0, 7, 1) + b'skbtracer-vlan'
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                             socket.inet_aton('\(lab.c1IPv4)'), socket.inet_aton('\(lab.c2IPv4)'))
            for tci in (10, 10, 20):
                s.send(b'\\xff' * 6 + src + struct.pack('!HHH', 0x8100, tci, 0x0800) + ip + icmp)
            """], timeout: 10)
        guard r.ok else { throw KT.Failure("raw VLAN frames: \(r.stderr)") }
    }

    static func mac(_ lab: Lab, ns: String, interface: String) throws -> String {
        let r = try lab.exec(ns, ["cat", "/sys/class/net/\(interface)/address"], timeout: 5)
        guard r.ok else { throw KT.Failure("no MAC address for \(interface) in \(ns): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Reading captures

    struct Frame {
        let time: Double
        let bytes: [UInt8]
        var isVLAN: Bool { bytes.count >= 14 && bytes[12] == 0x81 && bytes[13] == 0x00 }
        var hex: String { bytes.prefix(TcpdumpAgreementKernelTests.compared).map { String(format: "%02x", $0) }.joined() }
    }

    /// A classic pcap file as tcpdump -w writes it (this host's byte order, microseconds).
    static func pcapFrames(_ path: String) throws -> [Frame] {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard d.count >= 24, u32(d, 0) == 0xa1b2_c3d4 else { throw KT.Failure("\(path): not a microsecond pcap file") }
        var frames: [Frame] = [], at = 24
        while at + 16 <= d.count {
            let caplen = Int(u32(d, at + 8))
            guard at + 16 + caplen <= d.count else { throw KT.Failure("\(path): cut short") }
            frames.append(Frame(time: Double(u32(d, at)) + Double(u32(d, at + 4)) / 1e6, bytes: Array(d[(at + 16)..<(at + 16 + caplen)])))
            at += 16 + caplen
        }
        return frames
    }

    /// skbtracer's pcap-ng: enhanced packet blocks, nanosecond timestamps (its if_tsresol).
    static func pcapngFrames(_ path: String) throws -> [Frame] {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var frames: [Frame] = [], at = 0
        while at + 12 <= d.count {
            let type = u32(d, at), length = Int(u32(d, at + 4))
            guard length >= 12, at + length <= d.count else { throw KT.Failure("\(path): bad block at \(at)") }
            if type == 6 {
                let ts = UInt64(u32(d, at + 12)) << 32 | UInt64(u32(d, at + 16))
                let caplen = Int(u32(d, at + 20))
                frames.append(Frame(time: Double(ts) / 1e9, bytes: Array(d[(at + 28)..<(at + 28 + caplen)])))
            }
            at += length
        }
        return frames
    }

    static func u32(_ d: [UInt8], _ at: Int) -> UInt32 {
        UInt32(d[at]) | UInt32(d[at + 1]) << 8 | UInt32(d[at + 2]) << 16 | UInt32(d[at + 3]) << 24
    }
}
}

extension KT.Tracer {
    /// `tcpdump -i` with an expression inside a namespace, writing a pcap file.
    final class Capture {
        let child: KT.Child
        let errFile: String
        init(_ lab: Lab, ns: String, interface: String, snaplen: Int, file: String, expression: String) throws {
            errFile = file + ".err"
            child = try KT.Child("ip", ["netns", "exec", ns, "tcpdump", "-i", interface, "-n", "-s", "\(snaplen)", "-U",
                                        "--immediate-mode", "-w", file, expression],
                                 stdout: "/dev/null", stderr: errFile)
        }

        /// Bounded wait for tcpdump's "listening on".
        func waitListening(timeout: Double = 20) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
                if err.contains("listening on") { return }
                if !child.isRunning { throw KT.Failure("tcpdump ended: \(err)") }
                usleep(50_000)
            }
            throw KT.Failure("tcpdump did not start listening within \(timeout) s")
        }

        /// SIGINT, so tcpdump flushes its file; killed if it hangs.
        func stop() {
            child.signal(SIGINT)
            if !child.wait(timeout: 5) { child.kill9() }
        }

        func cleanup() {
            if child.isRunning { stop() }
            try? FileManager.default.removeItem(atPath: errFile)
        }
    }
}
