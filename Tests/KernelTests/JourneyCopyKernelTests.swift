import Foundation
import Testing

/// Clones on the real kernel: the copy that carries an ARP/ND solicitation and
/// a raw socket's copy of an echo reply belong to their packet's journey, so a
/// ping reads as one request and one reply; and an echo reply is known noise
/// only when its raw-socket copy was read.
extension KernelTests {
    /// Journeys of one echo id, in the order written.
    static func echoJourneys(_ records: [Record], id: Int) -> [Record] {
        journeys(records).filter { $0.firstHop["icmp_id"] as? Int == id }
    }

    static func copies(_ r: Record) -> [[String: Any]] { r.json["copies"] as? [[String: Any]] ?? [] }

    @Test("A ping to a neighbour not yet resolved: one request and one reply, the clones as copies, written in order",
          arguments: [false, true])
    func pingIsOneRequestAndOneReply(v6: Bool) throws {
        try KT.withLab { lab in
            let (from, to) = v6 ? (lab.c1IPv6, lab.c2IPv6) : (lab.c1IPv4, lab.c2IPv4)
            // The first packet to c2 waits for ARP/ND: its clone carries the solicitation.
            _ = try lab.exec(lab.container1, ["ip", "neigh", "flush", "all"])
            _ = try lab.exec(lab.container2, ["ip", "neigh", "flush", "all"])
            let id = Int.random(in: 10_000...60_000)
            let t = try KT.Tracer.start(["--timeline", "-H", from, "--proto", v6 ? "icmp6" : "icmp"])
            defer { t.cleanup() }
            let ping = try KT.ping(lab, from: lab.container1, to: to, count: 1, id: id, v6: v6)
            #expect(ping.ok, "ping: \(ping.stdout) \(ping.stderr)")
            #expect(t.stop() == 0, "exit status; stderr: \(t.stderr)")
            let records = try Record.parse(t.output)
            let all = Self.dumpJourneys(records)
            let echo = Self.echoJourneys(records, id: id)
            #expect(echo.count == 2, "one request and one reply:\n\(all)")
            let numbers = Self.journeys(records).compactMap { $0.int("journey") }
            #expect(numbers == numbers.sorted(), "journeys written in the order they started: \(numbers)")
            let request = try #require(echo.first { $0.firstHop["icmp_type"] as? Int == (v6 ? 128 : 8) }, "\(all)")
            let reply = try #require(echo.first { $0.firstHop["icmp_type"] as? Int == (v6 ? 129 : 0) }, "\(all)")
            #expect(request.outcomeKind == "delivered", "\(request)")
            #expect(reply.int("reply_to") == request.int("journey"), "the reply answers the request, not a clone:\n\(all)")
            // The clone that carried the solicitation is the request's copy.
            let requestCopies = Self.copies(request).compactMap { $0["path_text"] as? String }
            #expect(requestCopies.contains { $0.contains("__neigh_event_send") || $0.contains("neigh_probe") },
                    "no solicitation copy in the request: \(requestCopies)\n\(all)")
            // ping (root) reads its reply on a raw socket: that copy is the evidence of noise.
            let replyCopies = Self.copies(reply)
            #expect(replyCopies.contains { $0["kind"] as? String == "delivered" }, "no delivered copy: \(replyCopies)")
            #expect(reply.outcomeKind == "noise", "\(reply)")
            let diagnosis = try #require(records.last { $0.type == "diagnosis" })
            #expect(diagnosis.int("packets") == Self.journeys(records).count)
        }
    }

    @Test("An echo reply that arrives after ping stopped waiting is a drop, not noise")
    func lateEchoReplyIsADrop() throws {
        try KT.withLab { lab in
            // A slow token bucket on c2's side holds the second, large reply past ping's -W.
            let tbf = try lab.exec(lab.container2, ["tc", "qdisc", "add", "dev", lab.innerIf, "root", "tbf",
                                                    "rate", "200kbit", "burst", "1600", "latency", "500ms"])
            try #require(tbf.ok, "tc: \(tbf.stderr)")
            _ = try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1)   // resolve ARP first
            let id = Int.random(in: 10_000...60_000)
            let t = try KT.Tracer.start(["--timeline", "-H", lab.c2IPv4, "--proto", "icmp"])
            defer { t.cleanup() }
            let ping = try lab.exec(lab.container1, ["ping", "-c", "2", "-i", "0.01", "-s", "1400", "-W", "0.05",
                                                     "-e", "\(id)", lab.c2IPv4], timeout: 5)
            // The second reply waits about 60 ms in the bucket; ping is gone by then.
            #expect(ping.stdout.contains("1 received"), "ping: \(ping.stdout) \(ping.stderr)")
            #expect(t.stop(settle: 1.0) == 0, "exit status; stderr: \(t.stderr)")
            let records = try Record.parse(t.output)
            let all = Self.dumpJourneys(records)
            let replies = Self.echoJourneys(records, id: id).filter { $0.firstHop["icmp_type"] as? Int == 0 }
            let answered = try #require(replies.first { $0.firstHop["icmp_seq"] as? Int == 1 }, "\(all)")
            let late = try #require(replies.first { $0.firstHop["icmp_seq"] as? Int == 2 }, "\(all)")
            #expect(answered.outcomeKind == "noise", "the reply ping read: \(answered)")
            #expect(late.outcomeKind == "dropped", "the reply nobody read: \(late)")
            #expect(late.outcome["reason"] as? String == "NO_SOCKET")
            #expect((late.json["note"] as? String)?.contains("stopped waiting") == true, "\(late.json["note"] ?? "nil")")
            let diagnosis = try #require(records.last { $0.type == "diagnosis" })
            let drops = diagnosis.json["drops"] as? [[String: Any]] ?? []
            #expect(drops.contains { $0["reason"] as? String == "NO_SOCKET" && $0["noise"] is NSNull },
                    "the late reply counts as a real drop: \(drops)")
        }
    }
}
