import Foundation
import SkbTracerLab
import SkbTracerModel
import SkbTracerPing
import SkbTracerSystem
import Testing

extension KernelTests {
    /// ProbeSender's real sockets, from lab namespace c1 to addresses of the same lab
    /// (c2, or an unused address of the lab's own bridge subnet). Every probe has a
    /// timeout; every listener runs until the test stops it.
    @Suite("ProbeSender in the lab")
    struct ProbeSenderTests {
        /// The calling thread's network namespace inode: ProbeSender must return to it.
        static func threadNetns() -> UInt64? {
            var st = stat()
            guard stat("/proc/thread-self/ns/net", &st) == 0 else { return nil }
            return UInt64(st.st_ino)
        }

        /// A TCP listener in `ns` that prints each peer's port, until stopped.
        static func tcpListener(_ lab: Lab, ns: String, addr: String, port: Int) throws -> KT.Background {
            let bg = try KT.Background.python(lab, ns: ns) { preamble in preamble + """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('\(addr)', \(port)))
                s.listen(16)
                s.settimeout(0.2)
                while not stopped():
                    try:
                        c, a = s.accept()
                    except socket.timeout:
                        continue
                    print('peer', a[1], flush=True)
                    c.close()
                """
            }
            try KT.waitListening(lab, ns: ns, port: port, udp: false)
            return bg
        }

        /// A UDP echo server in `ns`: sends every datagram back, until stopped or 20 datagrams.
        static func udpEcho(_ lab: Lab, ns: String, addr: String, port: Int) throws -> KT.Background {
            let bg = try KT.Background.python(lab, ns: ns) { preamble in preamble + """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('\(addr)', \(port)))
                s.settimeout(0.2)
                n = 0
                while not stopped() and n < 20:
                    try:
                        d, a = s.recvfrom(2048)
                    except socket.timeout:
                        continue
                    s.sendto(d, a)
                    n += 1
                    print('echo', a[1], len(d), flush=True)
                """
            }
            try KT.waitListening(lab, ns: ns, port: port, udp: true)
            return bg
        }

        @Test("ICMP echo c1 -> c2 gets echo replies, seq by seq", arguments: [false, true])
        func icmpEcho(v6: Bool) throws {
            try KT.withLab { lab in
                let before = Self.threadNetns()
                let dest = try #require(IPAddress(v6 ? lab.c2IPv6 : lab.c2IPv4))
                // The name for IPv4, the /run/netns path for IPv6: both forms work.
                let ns = v6 ? "/run/netns/\(lab.container1)" : lab.container1
                let sender = try ProbeSender(destination: dest, protocol: .icmp, netns: ns)
                defer { sender.close() }
                #expect(Self.threadNetns() == before, "the thread did not return to its namespace")
                #expect(sender.icmpID != nil)
                #expect(sender.sourcePort == nil)
                for seq: UInt16 in 1...3 {
                    let reply = try sender.probe(seq: seq, timeout: 2)
                    let r = try #require(reply, "no reply to seq \(seq)")
                    #expect(r.kind == .echoReply, "seq \(seq): \(r)")
                    #expect(r.rttNs > 0 && r.rttNs < 2_000_000_000, "rtt \(r.rttNs)")
                    #expect(r.responder == dest)
                }
                #expect(Self.threadNetns() == before, "probing moved the thread")
            }
        }

        @Test("ICMP to an unused address of c1's subnet: no reply, within the timeout")
        func icmpTimeout() throws {
            try KT.withLab { lab in
                // On c1's own subnet (no default route needed): ARP gets no answer.
                let dest = try #require(IPAddress("198.18.\(lab.index).250"))
                let sender = try ProbeSender(destination: dest, protocol: .icmp, netns: lab.container1)
                defer { sender.close() }
                let start = Date()
                let reply = try sender.probe(seq: 1, timeout: 1)
                let elapsed = Date().timeIntervalSince(start)
                #expect(reply == nil, "reply from nowhere: \(String(describing: reply))")
                // Load only makes the wait longer: the lower bound is exact, the upper
                // one is loose. A probe that ignored its timeout would wait for ARP
                // to give up (about 3 s) and return host unreachable (caught above),
                // or hang (caught here).
                #expect(elapsed >= 1, "returned after \(elapsed) s, before its 1 s timeout")
                #expect(elapsed < 10, "waited \(elapsed) s for a 1 s timeout")
            }
        }

        @Test("TCP to a listening port in c2: SYN,ACK each time, from one source port")
        func tcpOpen() throws {
            try KT.withLab { lab in
                let port = KT.randomPort()
                let server = try Self.tcpListener(lab, ns: lab.container2, addr: lab.c2IPv4, port: port)
                defer { server.cleanup() }
                let sender = try ProbeSender(destination: try #require(IPAddress(lab.c2IPv4)),
                                             protocol: .tcp(port: UInt16(port)), netns: lab.container1)
                defer { sender.close() }
                let sport = try #require(sender.sourcePort)
                #expect(sender.icmpID == nil)
                for seq: UInt16 in 1...3 {
                    let r = try #require(try sender.probe(seq: seq, timeout: 2), "no answer to probe \(seq)")
                    #expect(r.kind == .synAck, "probe \(seq): \(r)")
                    #expect(r.rttNs > 0)
                }
                #expect(sender.sourcePort == sport)
                // The server saw all three connections, each from the fixed source port.
                // It accepts them in its own time: poll, with room for a busy machine.
                var peers: [Substring] = []
                let deadline = Date().addingTimeInterval(30)
                while peers.count < 3 && Date() < deadline {
                    usleep(50_000)
                    peers = server.output.split(separator: "\n").filter { $0.hasPrefix("peer ") }
                }
                #expect(peers.count == 3, "connections the server accepted: \(server.output)")
                #expect(peers.allSatisfy { $0 == "peer \(sport)" }, "source ports: \(server.output)")
                #expect(server.stop() == 0, "server: \(server.output)")
                // SO_LINGER 0: the connections were reset, none waits in TIME_WAIT.
                let tw = try lab.exec(lab.container1, ["ss", "-Htan", "state", "time-wait"], timeout: 10)
                try #require(tw.ok, "ss in c1: status \(tw.status) \(tw.stderr)")
                #expect(!tw.stdout.contains(":\(sport)"), "TIME_WAIT left: \(tw.stdout)")
            }
        }

        @Test("TCP to a closed port in c2: RST", arguments: [false, true])
        func tcpClosed(v6: Bool) throws {
            try KT.withLab { lab in
                let sender = try ProbeSender(destination: try #require(IPAddress(v6 ? lab.c2IPv6 : lab.c2IPv4)),
                                             protocol: .tcp(port: UInt16(KT.randomPort())), netns: lab.container1)
                defer { sender.close() }
                for seq: UInt16 in 1...2 {
                    let r = try #require(try sender.probe(seq: seq, timeout: 2), "no answer to probe \(seq)")
                    #expect(r.kind == .reset, "probe \(seq): \(r)")
                }
            }
        }

        @Test("UDP to a closed port in c2: port unreachable, refused", arguments: [false, true])
        func udpClosed(v6: Bool) throws {
            try KT.withLab { lab in
                let sender = try ProbeSender(destination: try #require(IPAddress(v6 ? lab.c2IPv6 : lab.c2IPv4)),
                                             protocol: .udp(port: UInt16(KT.randomPort())), netns: lab.container1)
                defer { sender.close() }
                #expect(sender.sourcePort != nil)
                #expect(sender.icmpID == nil)
                for seq: UInt16 in 1...2 {
                    let r = try #require(try sender.probe(seq: seq, timeout: 2), "no answer to probe \(seq)")
                    #expect(r.kind == .refused, "probe \(seq): \(r)")
                }
            }
        }

        @Test("UDP to an echo server in c2: the datagram comes back")
        func udpEchoed() throws {
            try KT.withLab { lab in
                let port = KT.randomPort()
                let server = try Self.udpEcho(lab, ns: lab.container2, addr: lab.c2IPv4, port: port)
                defer { server.cleanup() }
                let sender = try ProbeSender(destination: try #require(IPAddress(lab.c2IPv4)),
                                             protocol: .udp(port: UInt16(port)), netns: lab.container1)
                defer { sender.close() }
                let sport = try #require(sender.sourcePort)
                for seq: UInt16 in 1...2 {
                    let r = try #require(try sender.probe(seq: seq, timeout: 2), "no answer to probe \(seq); server: \(server.output)")
                    #expect(r.kind == .udpReply, "probe \(seq): \(r)")
                    #expect(r.rttNs > 0)
                }
                #expect(server.output.contains("echo \(sport)"), "server: \(server.output)")
            }
        }

        @Test("unanswered ARP in c1: ICMP host unreachable (3/1) for icmp, tcp and udp probes")
        func hostUnreachable() throws {
            try KT.withLab { lab in
                // c1's kernel gives up on ARP after about 3 s and reports host unreachable
                // to itself; nothing leaves the lab's bridge subnet.
                let dest = try #require(IPAddress("198.18.\(lab.index).251"))
                let c1 = try #require(IPAddress(lab.c1IPv4))
                for proto in [PingProtocol.icmp, .tcp(port: UInt16(KT.randomPort())), .udp(port: UInt16(KT.randomPort()))] {
                    let sender = try ProbeSender(destination: dest, protocol: proto, netns: lab.container1)
                    defer { sender.close() }
                    let r = try #require(try sender.probe(seq: 1, timeout: 6), "\(proto): no answer within 6 s")
                    #expect(r.kind == .icmpError(type: 3, code: 1), "\(proto): \(r)")
                    #expect(r.responder == nil || r.responder == c1, "\(proto): \(r)")
                    #expect(r.rttNs > 1_000_000_000, "\(proto): before ARP could give up: \(r)")
                }
            }
        }

        @Test("netfilter OUTPUT DROP in c1: the probe is reported as not sent (EPERM)")
        func outputDropped() throws {
            try KT.withLab { lab in
                // Inside c1's namespace only: the rule disappears with the namespace.
                for rule in [["-p", "icmp"], ["-p", "udp"]] {
                    let r = try lab.exec(lab.container1, ["iptables", "-w", "-A", "OUTPUT", "-d", lab.c2IPv4] + rule + ["-j", "DROP"])
                    try #require(r.ok, "iptables in c1: \(r.stderr)")
                }
                let dest = try #require(IPAddress(lab.c2IPv4))
                for proto in [PingProtocol.icmp, .udp(port: UInt16(KT.randomPort()))] {
                    let sender = try ProbeSender(destination: dest, protocol: proto, netns: lab.container1)
                    defer { sender.close() }
                    let r = try #require(try sender.probe(seq: 1, timeout: 1), "\(proto): no result")
                    #expect(r.kind == .localError(errno: EPERM), "\(proto): \(r)")
                }
            }
        }

        @Test("a bad namespace is a usage error, and the thread stays where it was")
        func badNamespace() throws {
            let before = Self.threadNetns()
            let dest = try #require(IPAddress("127.0.0.1"))
            let missing = "stp\(String(format: "%04x", UInt16.random(in: 0...UInt16.max)))-none"
            for spec in [missing, "/run/netns/\(missing)", "", "/etc/hostname", "/proc/self/ns/mnt"] {
                #expect(throws: UsageError.self, "netns '\(spec)'") {
                    try ProbeSender(destination: dest, protocol: .icmp, netns: spec)
                }
                #expect(Self.threadNetns() == before, "netns '\(spec)' moved the thread")
            }
            #expect(throws: UsageError.self) {
                try ProbeSender(destination: dest, protocol: .tcp(port: 0), netns: nil)
            }
        }
    }
}
