import Foundation
import SkbTracerLab
import Testing

/// Every probe beyond the link layer, each provoked in the lab and checked for
/// the packet it reports: headers must decode at that point of the stack too.
/// All traffic stays between the lab's own namespaces.
///
/// Nested in KernelTests so it inherits that suite's `.serialized` and root
/// condition: two suites would run side by side, and their tracers would see
/// each other's labs.
extension KernelTests {
@Suite("probes beyond the link layer")
struct ProbeCoverageTests {
    typealias Event = KT.Event

    private func inode(_ lab: Lab, _ ns: String) throws -> UInt32 { try #require(lab.netnsInode(ns)) }

    @Test("icmp_send: a UDP datagram to a closed port is answered with port unreachable")
    func icmpSendOnClosedPort() throws {
        try KT.withLab { lab in
            let c2 = try inode(lab, lab.container2)
            let port = KT.randomPort(), sport = port + 1
            let t = try KT.Tracer.start(["-H", lab.c1IPv4, "-t", "icmp,life,link-out"])
            defer { t.cleanup() }
            try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events()
            // The offending datagram, as icmp_send sees it in c2.
            let send = try #require(events.first { $0.probe == "icmp_send" }, "no icmp_send:\n\(KT.dump(events))")
            #expect(send.netns == c2 && send.l4 == "udp", "icmp_send: \(send)")
            #expect(send.saddr == lab.c1IPv4 && send.daddr == lab.c2IPv4 && send.sport == sport && send.dport == port,
                    "icmp_send tuple: \(send)")
            // The ICMP error leaving c2 towards c1: type 3 (unreachable), code 3 (port).
            let error = events.first { $0.probe == "net_dev_queue" && $0.l4 == "icmp" && $0.netns == c2 }
            let e = try #require(error, "no ICMP error sent from c2:\n\(KT.dump(events))")
            #expect(e.icmpType == 3 && e.int("icmp_code") == 3, "ICMP error: \(e)")
            #expect(e.saddr == lab.c2IPv4 && e.daddr == lab.c1IPv4, "ICMP error tuple: \(e)")
            #expect(e.icmpID == nil && e.icmpSeq == nil, "id/seq only for echo: \(e)")
        }
    }

    @Test("tcp_send_reset: a SYN to a closed port is answered with RST,ACK")
    func tcpResetOnClosedPort() throws {
        try KT.withLab { lab in
            let c2 = try inode(lab, lab.container2)
            let port = KT.randomPort(), sport = port + 1
            let t = try KT.Tracer.start(["--proto", "tcp", "--port", "\(port)", "-t", "tcp,link-out"])
            defer { t.cleanup() }
            _ = try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events()
            let reset = try #require(events.first { $0.probe == "tcp_send_reset" }, "no tcp_send_reset:\n\(KT.dump(events))")
            // The skb is the SYN that provoked the reset.
            #expect(reset.netns == c2 && reset.tcpFlags == ["SYN"], "tcp_send_reset: \(reset)")
            #expect(reset.saddr == lab.c1IPv4 && reset.sport == sport && reset.dport == port, "tcp_send_reset tuple: \(reset)")
            let rst = events.first { $0.probe == "net_dev_queue" && $0.netns == c2 && ($0.tcpFlags ?? []).contains("RST") }
            let r = try #require(rst, "no RST leaving c2:\n\(KT.dump(events))")
            #expect(r.saddr == lab.c2IPv4 && r.sport == port && r.dport == sport, "RST tuple: \(r)")
        }
    }

    @Test("qdisc_enqueue and qdisc_dequeue: packets through a tbf qdisc on c1's eth0")
    func qdiscProbes() throws {
        try KT.withLab { lab in
            let c1 = try inode(lab, lab.container1)
            // veth has no qdisc by default; this one goes away with the namespace.
            // Not pfifo: a work-conserving fifo lets packets bypass enqueue/dequeue.
            let tc = try lab.exec(lab.container1, ["tc", "qdisc", "add", "dev", lab.innerIf, "root", "tbf",
                                                   "rate", "100mbit", "burst", "32kb", "latency", "50ms"])
            try #require(tc.ok, "tc: \(tc.stderr)")
            let t = try KT.Tracer.start(["-H", lab.c2IPv4, "--proto", "icmp", "-t", "qdisc"])
            defer { t.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1, id: 4321)
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events().filter { $0.icmpID == 4321 && $0.icmpType == 8 }
            for probe in ["qdisc_enqueue", "qdisc_dequeue"] {
                let e = try #require(events.first { $0.probe == probe }, "no \(probe):\n\(KT.dump(events))")
                #expect(e.netns == c1 && e.ifname == lab.innerIf, "\(probe) place: \(e)")
                #expect(e.saddr == lab.c1IPv4 && e.daddr == lab.c2IPv4 && e.icmpSeq == 1, "\(probe) packet: \(e)")
                #expect(e.str("dmac") != nil, "\(probe): MAC header expected on transmit: \(e)")
            }
        }
    }

    @Test("udp_fail_queue_rcv_skb: a full receive buffer drops with SOCKET_RCVBUFF")
    func fullReceiveBuffer() throws {
        try KT.withLab { lab in
            let c2 = try inode(lab, lab.container2)
            let port = KT.randomPort(), sport = port + 1
            // A socket with the smallest buffer that never reads, until stopped.
            let sink = try KT.Background.python(lab, ns: lab.container2) { preamble in preamble + """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
                s.bind(('\(lab.c2IPv4)', \(port)))
                while not stopped():
                    time.sleep(0.05)
                """
            }
            defer { sink.cleanup() }
            try KT.waitListening(lab, ns: lab.container2, port: port, udp: true)
            let t = try KT.Tracer.start(["--proto", "udp", "--dport", "\(port)", "-t", "udp,life"])
            defer { t.cleanup() }
            let send = try lab.exec(lab.container1, [KT.python, "-c", """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('', \(sport)))
                for _ in range(40):
                    s.sendto(b'x' * 1200, ('\(lab.c2IPv4)', \(port)))
                """], timeout: 10)
            #expect(send.ok, "send: \(send.stderr)")
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events()
            let fail = try #require(events.first { $0.probe == "udp_fail_queue_rcv_skb" },
                                    "no udp_fail_queue_rcv_skb:\n\(KT.dump(events))")
            #expect(fail.netns == c2 && fail.saddr == lab.c1IPv4 && fail.sport == sport && fail.dport == port,
                    "udp_fail_queue_rcv_skb: \(fail)")
            let drop = events.first { $0.probe == "kfree_skb" && $0.dropReason == "SOCKET_RCVBUFF" }
            #expect(drop != nil, "no SOCKET_RCVBUFF drop:\n\(KT.dump(events))")
        }
    }

    /// TCP, not UDP: udp_recvmsg copies linear skbs with copy_linear_skb(),
    /// which has no tracepoint, and frees them without consume_skb.
    @Test("skb_copy_datagram_iovec: received TCP data is copied to the process, in c2")
    func deliveredToProcess() throws {
        try KT.withLab { lab in
            let c2 = try inode(lab, lab.container2)
            let port = KT.randomPort(), sport = port + 1
            let server = try KT.tcpServer(lab, ns: lab.container2, addr: lab.c2IPv4, port: port)
            defer { server.cleanup() }
            let t = try KT.Tracer.start(["--proto", "tcp", "--port", "\(port)", "-t", "socket"])
            defer { t.cleanup() }
            let client = try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
            #expect(client.ok, "client: \(client.stderr)")
            #expect(server.wait(timeout: 30) == 0, "server: \(server.output)")
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events()
            let copies = events.filter { $0.probe == "skb_copy_datagram_iovec" }
            let toServer = try #require(copies.first { $0.daddr == lab.c2IPv4 }, "no copy in c2:\n\(KT.dump(events))")
            #expect(toServer.netns == c2, "namespace from the socket: \(toServer)")
            #expect(toServer.saddr == lab.c1IPv4 && toServer.sport == sport && toServer.dport == port, "tuple: \(toServer)")
            #expect((toServer.tcpFlags ?? []).contains("PSH"), "the data segment: \(toServer)")
            #expect(toServer.str("comm")?.hasPrefix("python") == true, "the receiving task: \(toServer)")
        }
    }

    @Test("tcp_retransmit_skb: an unanswered SYN is retransmitted; the tuple comes from the socket")
    func synRetransmit() throws {
        try KT.withLab { lab in
            let c1 = try inode(lab, lab.container1)
            let port = KT.randomPort(), sport = port + 1
            // Drop the SYNs in c2 so the client retransmits after about 1 s.
            let rule = try lab.exec(lab.container2, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
            try #require(rule.ok, "iptables in c2: \(rule.stderr)")
            let t = try KT.Tracer.start(["--proto", "tcp", "--port", "\(port)", "-t", "tcp"])
            defer { t.cleanup() }
            _ = try lab.exec(lab.container1, [KT.python, "-c", """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(('', \(sport)))
                s.settimeout(2.5)
                try:
                    s.connect(('\(lab.c2IPv4)', \(port)))
                except OSError:
                    pass
                """], timeout: 10)
            #expect(t.stop() == 0, "tracer exit status; stderr: \(t.stderr)")
            let events = try t.events()
            let retrans = try #require(events.first { $0.probe == "tcp_retransmit_skb" }, "no retransmit:\n\(KT.dump(events))")
            #expect(retrans.netns == c1, "retransmit namespace: \(retrans)")
            #expect(retrans.saddr == lab.c1IPv4 && retrans.daddr == lab.c2IPv4 && retrans.sport == sport && retrans.dport == port,
                    "retransmit tuple: \(retrans)")
            // The queued SYN has no headers of its own yet: the tuple is the socket's.
            #expect(retrans.json["tuple_from_socket"] as? Bool == true, "tuple source: \(retrans)")
        }
    }
}
}
