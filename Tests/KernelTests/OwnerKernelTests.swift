import Foundation
import SkbTracerLab
import Testing

extension KernelTests {
    /// A Python TCP listener in `ns` on addr:port that prints its pid, accepts
    /// one connection (waiting until stopped) and runs `then` with it as `c`.
    static func listener(_ lab: Lab, ns: String, _ addr: String, _ port: Int, then body: String) throws -> KT.Background {
        try KT.Background.python(lab, ns: ns) { preamble in preamble + """
            import socket, sys
            # The pid first: once the port listens (waitListening), it is printed.
            print(os.getpid(), flush=True)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('\(addr)', \(port)))
            s.listen(4)
            s.settimeout(0.2)
            c = None
            while c is None and not stopped():
                try:
                    c, _ = s.accept()
                except socket.timeout:
                    pass
            if c is None:
                sys.exit('stopped before a connection')

            """ + body
        }
    }

    /// Python lines: a TCP connect to addr:port that gives up after 2.5 s (the
    /// lab drops its SYNs, so the kernel retransmits it after about 1 s).
    static func unansweredConnect(_ addr: String, _ port: Int) -> String {
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.5)
        try:
            s.connect(('\(addr)', \(port)))
        except OSError:
            pass
        """
    }

    /// What `--owner` is for: a retransmission fires in a timer and a SYN-ACK in
    /// the client's softirq, so `pid`/`comm` name whatever task ran; the socket
    /// names its process. The listener started before the trace (found in /proc),
    /// the client during it (noted by BPF at connect()); echo replies come from
    /// the kernel's own ICMP socket.
    @Test("--owner: the socket's process on SYN-ACKs, timer retransmits and data; echo replies from a kernel socket")
    func socketOwners() throws {
        try KT.withLab { lab in
            let open = KT.randomPort(), dropped = open + 1
            let rule = try lab.exec(lab.container2, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "\(dropped)", "-j", "DROP"])
            try #require(rule.ok, "iptables in c2: \(rule.stderr)")
            // Still running while the tracer reads the events: its listener (opened
            // before the trace) is found in /proc/PID/fd.
            let server = try Self.listener(lab, ns: lab.container2, lab.c2IPv4, open, then: """
                c.settimeout(30)
                c.recv(100)
                c.close()
                while not stopped():
                    time.sleep(0.05)
                """)
            defer { server.cleanup() }
            try KT.waitListening(lab, ns: lab.container2, port: open, udp: false)
            let serverPid = try #require(Int(server.output.split(separator: "\n").first ?? ""), "server: \(server.output)")

            let t = try KT.Tracer.start(["--owner", "-H", lab.c2IPv4])
            defer { t.cleanup() }
            let client = try lab.exec(lab.container1, [KT.python, "-c", """
                import os, socket
                print(os.getpid(), flush=True)
                c = socket.create_connection(('\(lab.c2IPv4)', \(open)), timeout=3)
                c.sendall(b'skbtracer-owner')
                c.close()
                \(Self.unansweredConnect(lab.c2IPv4, dropped))
                """], timeout: 15)
            let clientPid = try #require(Int(client.stdout.split(separator: "\n").first ?? ""), "client: \(client.stdout) \(client.stderr)")
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1).ok)
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            #expect(server.stop() == 0, "server: \(server.output)")
            let events = try t.events()
            func sock(_ e: KT.Event) -> [String: Any]? { e.json["sock"] as? [String: Any] }
            func owner(_ e: KT.Event) -> Int? { (sock(e)?["owner_pid"] as? NSNumber)?.intValue }

            // The SYN-ACK: a request sock's, counted as the listener's (it keeps it
            // across veth and the host until the client's IP layer takes it; the
            // host's forwarding path has none).
            let synAck = events.filter { $0.sport == open && $0.tcpFlags == ["SYN", "ACK"] && sock($0) != nil }
            try #require(!synAck.isEmpty, "no SYN-ACK:\n\(KT.dump(events))")
            for e in synAck {
                #expect(owner(e) == serverPid && (sock(e)?["owner_comm"] as? String)?.hasPrefix("python") == true,
                        "SYN-ACK owner (server \(serverPid)): \(e.line)")
            }
            // The client's data segment and its SYN: the client's socket.
            let data = try #require(events.first { $0.dport == open && ($0.tcpFlags ?? []).contains("PSH") }, "no data:\n\(KT.dump(events))")
            #expect(owner(data) == clientPid, "data owner (client \(clientPid)): \(data.line)")
            // The SYN retransmitted from the timer: not in the client's task, still its socket.
            let retrans = events.filter { $0.probe == "tcp_retransmit_skb" && $0.dport == dropped }
            try #require(!retrans.isEmpty, "no retransmit:\n\(KT.dump(events))")
            for e in retrans {
                #expect(owner(e) == clientPid, "retransmit owner (client \(clientPid)): \(e.line)")
                #expect(e.int("pid") != clientPid, "the timer ran in the client's task?: \(e.line)")
            }
            // Echo reply from c2: the kernel's ICMP socket; the request: ping's.
            let reply = try #require(events.first { $0.icmpType == 0 && $0.probe == "net_dev_queue" }, "no echo reply:\n\(KT.dump(events))")
            #expect(sock(reply)?["kernel"] as? Bool == true && sock(reply)?["owner_pid"] is NSNull, "\(reply.line)")
            let request = try #require(events.first { $0.icmpType == 8 && $0.probe == "net_dev_queue" }, "no echo request")
            #expect(sock(request)?["owner_comm"] as? String == "ping", "\(request.line)")
            // Forwarded or not yet delivered packets have no socket: null.
            #expect(events.contains { $0.json["sock"] is NSNull }, "every event had a socket?")
        }
    }
}

extension KernelTests {
    /// `--owner-pid`: only the packets of one process's sockets, in BPF: a socket it
    /// opened before the trace (from /proc), one it connects during it (noted at
    /// connect()), and the SYN a timer retransmits in another task; another
    /// process's connection in the same namespace is left out.
    @Test("--owner-pid: one process's packets, its timer retransmits included, not its neighbour's")
    func ownerPidFilter() throws {
        try KT.withLab { lab in
            let mine = KT.randomPort(), theirs = mine + 1, closedUDP = mine + 2
            let rule = try lab.exec(lab.container2, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "-m", "multiport",
                                                     "--dports", "\(mine),\(theirs)", "-j", "DROP"])
            try #require(rule.ok, "iptables in c2: \(rule.stderr)")
            let go = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-go-\(UUID().uuidString)").path
            defer { unlink(go) }
            // It sends once the tracer is ready (the `go` file), however long that takes.
            let target = try KT.Background.python(lab, ns: lab.container1) { preamble in preamble + """
                import socket, sys
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.bind(('', 0))
                print(os.getpid(), flush=True)
                while not os.path.exists('\(go)'):
                    if stopped():
                        sys.exit('stopped before go')
                    time.sleep(0.05)
                u.sendto(b'skbtracer-owner-pid', ('\(lab.c2IPv4)', \(closedUDP)))
                \(Self.unansweredConnect(lab.c2IPv4, mine))
                """
            }
            defer { target.cleanup() }
            var targetPid: Int?
            let deadline = Date().addingTimeInterval(30)
            while targetPid == nil && Date() < deadline {
                targetPid = Int(target.output.split(separator: "\n").first ?? "")
                if targetPid == nil { usleep(50_000) }
            }
            let pid = try #require(targetPid, "target: \(target.output)")
            // --route too: lookups that are no packet's (flows) must not slip through.
            let t = try KT.Tracer.start(["--owner-pid", "\(pid)", "-H", lab.c2IPv4, "--route"])
            defer { t.cleanup() }
            FileManager.default.createFile(atPath: go, contents: Data())
            _ = try lab.exec(lab.container1, [KT.python, "-c", """
                import socket
                \(Self.unansweredConnect(lab.c2IPv4, theirs))
                """], timeout: 10)
            #expect(target.wait(timeout: 30) == 0, "target: \(target.output)")
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            let events = try t.events().filter { $0.type == "event" }
            let all = KT.dump(events)
            for e in events {
                let owner = ((e.json["sock"] as? [String: Any])?["owner_pid"] as? NSNumber)?.intValue
                #expect(owner == pid, "an event of another owner: \(e.line)")
                #expect(e.dport != theirs, "the neighbour's connection: \(e.line)")
            }
            #expect(events.contains { $0.dport == closedUDP && $0.probe == "net_dev_queue" }, "the socket from before the trace:\n\(all)")
            #expect(events.contains { $0.dport == mine && $0.tcpFlags == ["SYN"] && $0.probe == "net_dev_queue" }, "the connect:\n\(all)")
            let retrans = events.filter { $0.probe == "tcp_retransmit_skb" && $0.dport == mine }
            #expect(retrans.contains { $0.int("pid") != pid }, "a retransmit in another task:\n\(all)")
        }
    }
}

extension KernelTests {
    /// A server that speaks first: its accepted socket is noted at accept()'s
    /// return, so under --owner-pid its first segment (the banner) is kept.
    @Test("--owner-pid: an accepted connection's first segment, sent before any recv")
    func ownerPidAcceptedConnection() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let server = try Self.listener(lab, ns: lab.container2, lab.c2IPv4, port, then: """
                c.sendall(b'220 skbtracer banner')
                time.sleep(0.5)
                c.close()
                """)
            defer { server.cleanup() }
            try KT.waitListening(lab, ns: lab.container2, port: port, udp: false)
            let pid = try #require(Int(server.output.split(separator: "\n").first ?? ""), "server: \(server.output)")
            let t = try KT.Tracer.start(["--owner-pid", "\(pid)", "--proto", "tcp", "--port", "\(port)"])
            defer { t.cleanup() }
            _ = try lab.exec(lab.container1, [KT.python, "-c", """
                import socket
                c = socket.create_connection(('\(lab.c2IPv4)', \(port)), timeout=3)
                c.recv(100)
                c.close()
                """], timeout: 10)
            #expect(server.wait(timeout: 30) == 0, "server: \(server.output)")
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            let events = try t.events().filter { $0.type == "event" }
            #expect(events.contains { $0.sport == port && ($0.tcpFlags ?? []).contains("PSH") && $0.probe == "net_dev_queue" },
                    "no banner:\n\(KT.dump(events))")
            #expect(events.contains { $0.sport == port && $0.tcpFlags == ["SYN", "ACK"] }, "no SYN-ACK (the listener's):\n\(KT.dump(events))")
        }
    }
}
