import Foundation
import SkbTracerSystem
import Testing

/// Journeys on the real kernel: tracking through NAT (MASQUERADE and DNAT) with
/// replies linked, thousands of packets in flight, `skbtracer ping`, `--drop`
/// and kernel stacks.
extension KernelTests {
    /// One JSON record of any type from a tracer's output.
    struct Record {
        let json: [String: Any]
        var type: String { json["type"] as? String ?? "" }
        subscript(_ k: String) -> Any? { json[k] }
        func str(_ k: String) -> String? { json[k] as? String }
        func int(_ k: String) -> Int? { (json[k] as? NSNumber)?.intValue }
        var hops: [[String: Any]] { json["hops"] as? [[String: Any]] ?? [] }
        var path: [(ns: String, ifname: String)] {
            (json["path"] as? [[String: Any]] ?? []).map { ($0["netns_name"] as? String ?? "", $0["ifname"] as? String ?? "") }
        }
        var outcome: [String: Any] { json["outcome"] as? [String: Any] ?? [:] }
        var outcomeKind: String { outcome["kind"] as? String ?? "" }
        var nat: [[String: Any]] { json["nat"] as? [[String: Any]] ?? [] }
        var firstHop: [String: Any] { hops.first ?? [:] }
        var description: String { "#\(int("journey") ?? -1) \(str("summary") ?? "") :: \(str("path_text") ?? "")" }

        static func parse(_ text: String) throws -> [Record] {
            try text.split(separator: "\n").filter { $0.hasPrefix("{") }.map { line in
                guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw KT.Failure("not a JSON object: \(line)")
                }
                return Record(json: o)
            }
        }
    }

    static func journeys(_ records: [Record]) -> [Record] { records.filter { $0.type == "journey" } }
    static func dumpJourneys(_ records: [Record]) -> String {
        let j = journeys(records)
        return j.isEmpty ? "(no journeys)" : j.map { "  \($0)" }.joined(separator: "\n")
    }

    /// Runs an iptables command and returns the matching delete (for `defer`).
    static func iptablesRule(_ table: String, _ rule: [String], comment: String) throws -> () -> Void {
        let full = ["iptables", "-w", "-t", table] + rule + ["-m", "comment", "--comment", comment]
        try Command.check(full)
        var del = full
        if let i = del.firstIndex(where: { $0 == "-A" || $0 == "-I" }) { del[i] = "-D" }
        return { _ = try? Command.run(del) }
    }

    /// The live idle timeout fires (ticks are not held back while the ring is
    /// drained): a packet seen at one probe only, never freed there, is printed in
    /// flight before the trace ends.
    @Test("--timeline prints a journey that stops being seen as in flight after --journey-timeout, while tracing")
    func idleJourneyPrintedWhileTracing() throws {
        try KT.withLab { lab in
            let t = try KT.Tracer.start(["--timeline", "-t", "net_dev_queue", "-H", lab.c2IPv4, "--proto", "icmp",
                                         "--journey-timeout", "0.3"])
            defer { t.cleanup() }
            let id = Int.random(in: 10_000...60_000)
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1, id: id)
            let deadline = MonotonicClock.deadline(after: 5)
            var printed: [Record] = []
            while MonotonicClock.secondsLeft(until: deadline) > 0 {
                printed = Self.journeys(try Record.parse(t.output)).filter { ($0.firstHop["icmp_id"] as? Int) == id }
                if printed.count >= 2 { break }
                usleep(100_000)
            }
            #expect(printed.count >= 2, "request and reply printed before the trace ended: \(Self.dumpJourneys(printed))")
            #expect(printed.allSatisfy { $0.outcomeKind == "in_flight" }, "\(Self.dumpJourneys(printed))")
            #expect(t.stop() == 0, "exit status; stderr: \(t.stderr)")
        }
    }

    @Test("--timeline follows a ping through MASQUERADE and links the reply that arrives with the NATed tuple")
    func timelineThroughMasquerade() throws {
        try KT.withLab { lab in
            let t = try KT.Tracer.start(["--timeline", "-H", lab.c1IPv4, "--proto", "icmp"])
            defer { t.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.routedIPv4, count: 1, id: 4242)
            #expect(t.stop() == 0, "exit status; stderr: \(t.stderr)")
            let records = try Record.parse(t.output)
            let all = Self.dumpJourneys(records)
            let request = try #require(Self.journeys(records).first {
                $0.firstHop["icmp_type"] as? Int == 8 && $0.path.count >= 3
            }, "no request journey:\n\(all)")
            // c1 -> host (bridge side) -> host (routed side) -> r, delivered by icmp_rcv in r.
            #expect(request.path.first?.ns == lab.container1 && request.path.first?.ifname == lab.innerIf, "\(request)")
            #expect(request.path.contains { $0.ns == "host" && $0.ifname == lab.hostVethRouted }, "\(request)")
            #expect(request.path.last?.ns == lab.routed, "\(request)")
            #expect(request.outcomeKind == "delivered" && request.outcome["at"] as? String == "icmp_rcv", "\(request)")
            // MASQUERADE rewrote the source: c1 -> the host's routed address.
            let nat = try #require(request.nat.first, "no NAT rewrite in \(request)")
            #expect((nat["from"] as? [String: Any])?["saddr"] as? String == lab.c1IPv4)
            #expect((nat["to"] as? [String: Any])?["saddr"] as? String == lab.hostRoutedIPv4)
            #expect(request.json["forwarded"] as? Bool == true)

            // The reply leaves r addressed to the host's routed address: it does not
            // match -H c1 until de-NAT, yet it is followed from r and linked.
            let reply = try #require(Self.journeys(records).first {
                $0.int("reply_to") == request.int("journey") && $0.path.first?.ns == lab.routed
            }, "no reply journey linked to #\(request.int("journey") ?? -1):\n\(all)")
            #expect(reply.firstHop["saddr"] as? String == lab.routedIPv4)
            #expect(reply.firstHop["daddr"] as? String == lab.hostRoutedIPv4)
            #expect(reply.firstHop["tracked"] as? Bool == true, "followed by its NATed flow, not by the filter")
            #expect(reply.path.contains { $0.ns == lab.container1 }, "reply reaches c1: \(reply)")
            let deNAT = try #require(reply.nat.first, "no de-NAT in \(reply)")
            #expect((deNAT["to"] as? [String: Any])?["daddr"] as? String == lab.c1IPv4)
            // The diagnosis closes the stream.
            #expect(records.last?.type == "diagnosis", "last record: \(records.last?.json ?? [:])")
            #expect(t.stderr.contains("NAT rewrites followed"), "\(t.stderr)")
        }
    }

    @Test("--timeline follows a TCP SYN through DNAT to c2 and links the SYN-ACK; --no-track loses it")
    func timelineThroughDNAT() throws {
        try KT.withLab { lab in
            let comment = "skbtracer-lab-\(lab.prefix)"
            let undo = try Self.iptablesRule("nat", ["-A", "PREROUTING", "-i", lab.hostVethRouted, "-p", "tcp", "--dport", "8080",
                                                     "-j", "DNAT", "--to-destination", "\(lab.c2IPv4):80"], comment: comment)
            defer { undo() }
            for tracking in [true, false] {
                let server = try KT.tcpServer(lab, ns: lab.container2, addr: lab.c2IPv4, port: 80)
                defer { server.cleanup() }
                let sport = KT.randomPort()
                // With tracking, route lookups too: the host's lookup after DNAT joins the SYN's
                // journey with the packet's own tuple (no made-up rewrite at the lookup).
                let args = ["--timeline", "-d", lab.hostRoutedIPv4, "--dport", "8080", "--proto", "tcp"] + (tracking ? ["--route"] : ["--no-track"])
                let t = try KT.Tracer.start(args)
                defer { t.cleanup() }
                let client = try KT.tcpClient(lab, from: lab.routed, to: lab.hostRoutedIPv4, port: 8080, sport: sport)
                #expect(client.ok, "client: \(client.stderr)")
                #expect(t.stop() == 0, "exit status; stderr: \(t.stderr)")
                let records = try Record.parse(t.output)
                let all = Self.dumpJourneys(records)
                // The longest: the first SYN also leaves a one-event clone that
                // carried r's ARP solicitation (consumed in __neigh_event_send).
                let syn = try #require(Self.journeys(records).filter {
                    ($0.firstHop["tcp_flags"] as? String) == "SYN" && $0.firstHop["sport"] as? Int == sport
                }.max { $0.hops.count < $1.hops.count }, "no SYN journey:\n\(all)")
                if tracking {
                    // The SYN is followed after DNAT changed its destination, into c2.
                    let nat = try #require(syn.nat.first, "no DNAT rewrite in \(syn)")
                    #expect((nat["to"] as? [String: Any])?["daddr"] as? String == lab.c2IPv4)
                    #expect((nat["to"] as? [String: Any])?["dport"] as? Int == 80)
                    #expect(syn.path.last?.ns == lab.container2, "\(syn)")
                    #expect(syn.nat.count == 1 && syn.nat.allSatisfy { $0["probe"] as? String != "fib_table_lookup" }, "rewrites: \(syn.nat)")
                    let lookup = syn.hops.first { ($0["route"] as? [String: Any])?["daddr"] as? String == lab.c2IPv4 }
                    #expect(lookup?["daddr"] as? String == lab.hostRoutedIPv4 && lookup?["dport"] as? Int == 8080,
                            "no host lookup for c2 carrying the SYN's own tuple:\n\(all)")
                    // The longest again: the host's ARP for r can leave a one-event clone.
                    let synack = try #require(Self.journeys(records).filter {
                        $0.firstHop["tcp_flags"] as? String == "SYN,ACK" && $0.int("reply_to") == syn.int("journey")
                    }.max { $0.hops.count < $1.hops.count }, "no SYN-ACK linked to the SYN:\n\(all)")
                    #expect(synack.firstHop["saddr"] as? String == lab.c2IPv4, "starts in c2 before de-NAT: \(synack)")
                    #expect(synack.path.first?.ns == lab.container2)
                    #expect(synack.path.last?.ns == lab.routed, "reaches r: \(synack)\n\(all)")
                } else {
                    // Without tracking the filter stops matching once DNAT rewrote the destination.
                    #expect(!syn.path.isEmpty, "a SYN journey without a path: \(syn)")
                    #expect(syn.path.allSatisfy { $0.ns != lab.container2 }, "--no-track still reached c2: \(syn)")
                    #expect(!Self.journeys(records).contains { $0.firstHop["saddr"] as? String == lab.c2IPv4 }, "\(all)")
                }
            }
        }
    }

    @Test("thousands of packets in flight: the tracking table stays bounded, overflow is counted, journeys stay whole")
    func thousandsInFlight() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let packets = 3000
            // A receiver that does not read until stopped: its queue holds every datagram.
            let receiver = try KT.Background.python(lab, ns: lab.container2) { preamble in preamble + """
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
                s.bind(('\(lab.c2IPv4)', \(port)))
                while not stopped():
                    time.sleep(0.05)
                s.close()
                print('closed')
                """
            }
            defer { receiver.cleanup() }
            try KT.waitListening(lab, ns: lab.container2, port: port, udp: true)
            let t = try KT.Tracer.start(["--timeline", "-d", lab.c2IPv4, "--dport", "\(port)", "--proto", "udp",
                                         "--track-max", "1000", "--journey-timeout", "30"])
            defer { t.cleanup() }
            let send = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(\(packets)):
                s.sendto(b'p%05d' % i, ('\(lab.c2IPv4)', \(port)))
            s.close()
            """
            let sent = try lab.exec(lab.container1, [KT.python, "-c", send], timeout: 30)
            #expect(sent.ok, "\(sent.stderr)")
            // All datagrams wait in c2's socket queue now; the tracer holds them open.
            let rss = Self.residentKB(pid: t.pid)
            // Closing the socket frees every queued datagram: the journeys end.
            #expect(receiver.stop() == 0, "receiver: \(receiver.output)")
            #expect(t.stop(settle: 1) == 0, "exit status; stderr: \(t.stderr)")
            let journeys = Self.journeys(try Record.parse(t.output))
            // Not the one-event clone of the first datagram that carried c1's ARP solicitation.
            let fromC1 = journeys.filter { $0.path.first?.ns == lab.container1 && $0.hops.count > 1 }
            #expect(fromC1.count >= packets * 95 / 100, "journeys: \(fromC1.count) of \(packets)")
            // Each journey is one datagram: one transmit from c1, ends at a free in c2.
            var broken: [String] = []
            for j in fromC1 {
                let sends = j.hops.filter { $0["probe"] as? String == "net_dev_queue" && $0["netns_name"] as? String == lab.container1 }
                let end = j.hops.last?["probe"] as? String
                if sends.count != 1 || !(end == "kfree_skb" || end == "consume_skb") || j.path.last?.ns != lab.container2 {
                    broken.append(j.description)
                }
            }
            #expect(broken.isEmpty, "\(broken.count) journeys not whole, e.g.:\n\(broken.prefix(5).joined(separator: "\n"))")
            // 3000 in flight, 1000 slots: the overflow is counted and reported.
            let full = Self.number(after: "tracking: ", in: t.stderr)
            #expect((full ?? 0) >= UInt64(packets / 2), "summary: \(t.stderr)")
            // Memory bounded: the whole tracer, with thousands of open journeys.
            #expect(rss > 0 && rss < 128 * 1024, "tracer RSS \(rss) KiB with \(packets) packets in flight")
        }
    }

    static func residentKB(pid: Int32) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func number(after marker: String, in text: String) -> UInt64? {
        guard let r = text.range(of: marker) else { return nil }
        return UInt64(text[r.upperBound...].prefix { $0.isNumber })
    }

    @Test("skbtracer ping: each probe's journey with its reply, and where a blocked probe died and why")
    func pingCommand() throws {
        try KT.withLab { lab in
            let bin = try KT.binaryPath()
            let ok = try Command.run([bin, "ping", lab.c2IPv4, "--from", lab.container1, "-c", "2", "-i", "0.2", "--json"], timeout: 30)
            #expect(ok.status == 0, "status \(ok.status): \(ok.stderr)")
            let records = try Record.parse(ok.stdout)
            #expect(records.first?.type == "schema" && records.filter { $0.type == "schema" }.count == 1, "\(ok.stdout.prefix(200))")
            let probes = records.filter { $0.type == "ping_probe" }
            #expect(probes.map { $0.int("seq") } == [1, 2], "\(ok.stdout)")
            #expect(probes.allSatisfy { $0.str("reply") == "echo reply" && ($0.int("rtt_ns") ?? 0) > 0 }, "\(ok.stdout)")
            let summary = try #require(records.first { $0.type == "ping_summary" }, "\(ok.stdout)")
            #expect(summary.int("transmitted") == 2, "\(summary.json)")
            #expect(summary.int("replies") == 2, "\(summary.json)")
            let hops = (summary["hops"] as? [[String: Any]] ?? []).map { "\($0["direction"] as? String ?? ""):\($0["netns_name"] as? String ?? ""):\($0["ifname"] as? String ?? "")" }
            for want in ["request:\(lab.container1):eth0", "request:host:\(lab.hostVeth1)", "request:host:\(lab.hostVeth2)",
                         "request:\(lab.container2):eth0", "reply:\(lab.container2):eth0", "reply:\(lab.container1):eth0"] {
                #expect(hops.contains(want), "hop \(want) missing from \(hops)")
            }
            let requests = Self.journeys(records).filter { $0.firstHop["icmp_type"] as? Int == 8 && $0.path.count > 1 }
            #expect(requests.count == 2, "\(Self.dumpJourneys(records))")
            for r in requests {
                #expect(r.str("path_text") == "\(lab.container1):eth0 -> host:\(lab.hostVeth1) -> host:\(lab.hostVeth2) -> \(lab.container2):eth0 -> delivered (icmp_rcv)", "\(r)")
            }

            // Blocked in c2's INPUT: the probe's request died there, with the reason and a hint.
            _ = try lab.exec(lab.container2, ["iptables", "-w", "-A", "INPUT", "-p", "icmp", "-j", "DROP"])
            defer { _ = try? lab.exec(lab.container2, ["iptables", "-w", "-D", "INPUT", "-p", "icmp", "-j", "DROP"]) }
            let blocked = try Command.run([bin, "ping", lab.c2IPv4, "--from", lab.container1, "-c", "1", "-W", "0.5"], timeout: 30)
            #expect(blocked.status == 1, "no reply: exit 1; \(blocked.stderr)")
            #expect(blocked.stdout.contains("probe 1: no reply"), "\(blocked.stdout)")
            #expect(blocked.stdout.contains("the request died after \(lab.container2):eth0: NETFILTER_DROP at nft_do_chain"), "\(blocked.stdout)")
            #expect(blocked.stdout.contains("hint: "), "\(blocked.stdout)")
            #expect(blocked.stdout.contains("1 probes transmitted, 0 replies, 100% loss"), "\(blocked.stdout)")

            // Bad input: one line, exit 2, nothing attached.
            let bad = try Command.run([bin, "ping", "300.1.2.3"], timeout: 10)
            #expect(bad.status == 2, "status \(bad.status): \(bad.stderr)")
            #expect(bad.stderr.contains("300.1.2.3"), "\(bad.stderr)")
            #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
            let badNS = try Command.run([bin, "ping", lab.c2IPv4, "--from", "\(lab.prefix)-nope"], timeout: 10)
            #expect(badNS.status == 2, "status \(badNS.status): \(badNS.stderr)")
            #expect(badNS.stderr.contains("\(lab.prefix)-nope"), "\(badNS.stderr)")
        }
    }

    @Test("--drop counts drops per reason and location; --dropstack and --callstack carry symbolized kernel stacks")
    func dropWatchAndStacks() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let watch = try KT.Tracer.start(["--drop", "-H", lab.c2IPv4, "--drop-interval", "0.2"])
            defer { watch.cleanup() }
            for i in 0..<3 { try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: port + 1 + i) }
            #expect(watch.stop(settle: 0.5) == 0, "\(watch.stderr)")
            let records = try Record.parse(watch.output)
            #expect(records.contains { $0.type == "drop_counts" }, "\(watch.output)")
            let total = try #require(records.last { $0.type == "drop_summary" }, "\(watch.output)")
            let counts = total["counts"] as? [[String: Any]] ?? []
            let noSocket = counts.first { $0["reason"] as? String == "NO_SOCKET" && ($0["location"] as? String ?? "").hasPrefix("__udp4_lib_rcv") }
            #expect((noSocket?["total"] as? Int ?? 0) >= 3, "\(counts)")
            #expect(noSocket?["netns_name"] as? String == lab.container2)
            #expect(!Self.journeys(records).isEmpty == false, "no journeys in --drop")

            let stacks = try KT.Tracer.start(["-t", "life", "--dropstack", "-H", lab.c2IPv4])
            defer { stacks.cleanup() }
            try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: port + 10)
            // And an echo request: icmp_rcv frees it with consume_skb, not a drop (checked below).
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1).ok)
            #expect(stacks.stop() == 0, "\(stacks.stderr)")
            let drop = try #require(try stacks.events().first { $0.dropReason == "NO_SOCKET" }, "\(stacks.output)")
            let frames = drop.json["stack"] as? [String] ?? []
            #expect(!frames.isEmpty, "no stack: \(drop.line)")
            #expect(frames.allSatisfy { !$0.hasPrefix("bpf_") && !$0.hasPrefix("__bpf_trace") && !$0.hasPrefix("0x") }, "\(frames)")
            #expect(frames.contains { $0.hasPrefix("__udp4_lib_rcv") || $0.hasPrefix("udp_rcv") }, "\(frames)")
            #expect(frames.contains { $0.hasPrefix("ip_local_deliver") || $0.hasPrefix("ip_protocol_deliver_rcu") }, "\(frames)")
            // --dropstack: frees without a drop carry no stack.
            let consumed = try stacks.events().filter { $0.probe == "consume_skb" }
            #expect(!consumed.isEmpty, "no consume_skb to check:\n\(stacks.output)")
            #expect(consumed.allSatisfy { $0.json["stack"] is NSNull }, "\(consumed.map(\.line))")

            let calls = try KT.Tracer.start(["--callstack", "-H", lab.c2IPv4, "--proto", "icmp"])
            defer { calls.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1)
            #expect(calls.stop() == 0, "\(calls.stderr)")
            let queued = try #require(try calls.events().first { $0.probe == "net_dev_queue" }, "\(calls.output)")
            let qframes = queued.json["stack"] as? [String] ?? []
            #expect(qframes.contains { $0.hasPrefix("__dev_queue_xmit") || $0.hasPrefix("dev_queue_xmit") }, "\(qframes)")
        }
    }
}

extension KernelTests {
    @Test("known noise is marked, not reported as a failure: raw-socket ping replies and unjoined IPv6 multicast")
    func knownNoise() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let t = try KT.Tracer.start(["--timeline", "--proto", "udp", "-d", "ff02::5b:1", "--dport", "\(port)"])
            defer { t.cleanup() }
            // A multicast group nobody in the lab joined, on c1's link: the bridge (host) and c2 receive it.
            let code = """
            import socket
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex('eth0'))
            s.sendto(b'skbtracer-noise', ('ff02::5b:1', \(port)))
            s.close()
            """
            let sent = try lab.exec(lab.container1, [KT.python, "-c", code], timeout: 10)
            #expect(sent.ok, "\(sent.stderr)")
            #expect(t.stop(settle: 0.5) == 0, "\(t.stderr)")
            let records = try Record.parse(t.output)
            let freed = Self.journeys(records).filter { $0.outcome["reason"] is String }
            #expect(!freed.isEmpty, "no drop of the multicast datagram:\n\(Self.dumpJourneys(records))")
            for j in freed {
                #expect(j.outcomeKind == "noise" && j.outcome["noise"] is String, "not marked as noise: \(j.outcome)")
            }
            // The diagnosis keeps noise apart from failures.
            let diag = try #require(records.last { $0.type == "diagnosis" })
            let drops = diag["drops"] as? [[String: Any]] ?? []
            #expect(!drops.isEmpty, "the diagnosis lists no drop: \(diag.json)")
            #expect(drops.allSatisfy { $0["noise"] is String }, "\(drops)")
            let flows = diag["flows"] as? [[String: Any]] ?? []
            #expect(!flows.isEmpty, "the diagnosis lists no flow: \(diag.json)")
            #expect(flows.allSatisfy { ($0["dropped"] as? Int) == 0 }, "\(flows)")
        }
    }

    @Test("--diag with the event stream: a diagnosis record after the events; --timeline -c 1 stops after one journey")
    func diagnosisAndJourneyCount() throws {
        try KT.withLab { lab in
            let port = KT.randomPort()
            let t = try KT.Tracer.start(["--diag", "-H", lab.c2IPv4, "--proto", "udp", "--dport", "\(port)"])
            defer { t.cleanup() }
            try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: port + 1)
            #expect(t.stop() == 0, "\(t.stderr)")
            let records = try Record.parse(t.output)
            #expect(records.contains { $0.type == "event" }, "\(t.output)")
            let diag = try #require(records.last, "no output")
            #expect(diag.type == "diagnosis", "last record: \(diag.json)")
            let drops = diag["drops"] as? [[String: Any]] ?? []
            #expect(drops.contains { $0["reason"] as? String == "NO_SOCKET" && $0["netns_name"] as? String == lab.container2 && $0["hint"] is String }, "\(drops)")
            let flows = diag["flows"] as? [[String: Any]] ?? []
            #expect(flows.contains { $0["flow"] as? String == "udp \(lab.c1IPv4):\(port + 1) > \(lab.c2IPv4):\(port)" && $0["dropped"] as? Int == 1 }, "\(flows)")

            let one = try KT.Tracer.start(["--timeline", "-c", "1", "-H", lab.c2IPv4, "--proto", "icmp"])
            defer { one.cleanup() }
            try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2)
            #expect(one.waitExit(timeout: 10), "-c 1 did not end the trace")
            #expect(one.status == 0, "\(one.stderr)")
            let oneRecords = try Record.parse(one.output)
            let journeys = Self.journeys(oneRecords)
            #expect(journeys.count == 1, "\(Self.dumpJourneys(oneRecords))")
            #expect(one.stderr.contains("count reached"), "\(one.stderr)")
        }
    }
}
