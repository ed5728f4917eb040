import Foundation
import Testing

/// Tunnels on the real kernel: a ping through a VXLAN pair keeps its skb from
/// the overlay device to the underlay and back out, and its journey says
/// "encapsulated" and "decapsulated", not NAT.
extension KernelTests {
    /// VNI 42 between a (198.18.N.2) and r (198.18.N.1), over their veth; the
    /// overlay subnet (returned, without its last byte) is routed nowhere else.
    /// Both devices go with the namespaces.
    static func vxlan(_ lab: DropLab) throws -> String {
        let overlay = "198.19.\(lab.index + 100)"
        for (ns, local, remote, addr) in [(lab.a, lab.aIPv4, lab.rIPv4A, "\(overlay).1"),
                                         (lab.r, lab.rIPv4A, lab.aIPv4, "\(overlay).2")] {
            try lab.check(ns, ["ip", "link", "add", "vx42", "type", "vxlan", "id", "42", "local", local,
                               "remote", remote, "dstport", "4789"])
            try lab.check(ns, ["ip", "addr", "add", "\(addr)/24", "dev", "vx42"])
            try lab.check(ns, ["ip", "link", "set", "vx42", "up"])
        }
        _ = try lab.ping(from: lab.a, to: "\(overlay).2")   // neighbours resolved before the trace
        return overlay
    }

    @Test("A ping over VXLAN: encapsulated and decapsulated hops, no NAT")
    func pingOverVXLAN() throws {
        try DropLab.with { lab in
            let overlay = try Self.vxlan(lab)
            let t = try KT.Tracer.start(["--timeline", "-H", "\(overlay).2", "--proto", "icmp"])
            defer { t.cleanup() }
            let ping = try lab.ping(from: lab.a, to: "\(overlay).2")
            #expect(ping.status == 0, "ping over VXLAN: \(ping.stdout) \(ping.stderr)")
            #expect(t.stop() == 0, "exit status; stderr: \(t.stderr)")
            let records = try Record.parse(t.output)
            let all = Self.dumpJourneys(records)
            let request = try #require(Self.echoJourneys(records, id: lab.icmpID).first {
                $0.firstHop["icmp_type"] as? Int == 8
            }, "no request journey:\n\(all)")
            #expect(request.nat.isEmpty, "encapsulation reported as NAT: \(request.nat)")
            let tunnels = request.json["tunnels"] as? [[String: Any]] ?? []
            #expect(tunnels.map { $0["kind"] as? String } == ["encapsulation", "decapsulation"], "\(tunnels)\n\(all)")
            #expect(tunnels.allSatisfy { $0["tunnel"] as? String == "VXLAN" }, "\(tunnels)")
            // The filter's address is the inner one: the underlay hops carry the tunnel section.
            #expect(tunnels.allSatisfy { $0["vni"] as? Int == 42 }, "VNI: \(tunnels)")
            let outer = tunnels.first?["to"] as? [String: Any]
            #expect(outer?["saddr"] as? String == lab.aIPv4)
            #expect(outer?["daddr"] as? String == lab.rIPv4A)
            #expect(outer?["dport"] as? Int == 4789)
            #expect(tunnels.last?["ifname"] as? String == "vx42", "decapsulated on r's vx42: \(tunnels)")
            #expect(request.outcomeKind == "delivered", "\(request)")
            // BPF follows no reply flow for a tunnel's outer header: that is no NAT either.
            #expect(!t.stderr.contains("NAT rewrites followed"), "\(t.stderr)")
        }
    }

    @Test("-H with an overlay address finds the VXLAN packets on the underlay, without --track, with their VNI and inner ping; a replay's filter agrees")
    func innerAddressFindsTheUnderlay() throws {
        try DropLab.with { lab in
            let overlay = try Self.vxlan(lab)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-vx-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let recording = dir.appendingPathComponent("trace.skbt").path
            let filter = ["-H", "\(overlay).2", "--proto", "icmp"]
            let live = try KT.Tracer.start(filter)
            defer { live.cleanup() }
            // Unfiltered but for the underlay's namespace pair: the replay's filter decides.
            let recorder = try KT.Tracer.start(["--record", recording, "-H", lab.rIPv4A], formatted: false)
            defer { recorder.cleanup() }
            let ping = try lab.ping(from: lab.a, to: "\(overlay).2")
            #expect(ping.status == 0, "ping over VXLAN: \(ping.stdout) \(ping.stderr)")
            #expect(live.stop() == 0, "\(live.stderr)")
            #expect(recorder.stop(settle: 0) == 0, "\(recorder.stderr)")
            let events = try live.events()
            let underlay = events.filter { $0.l4 == "udp" }
            #expect(!underlay.isEmpty, "no underlay event for the overlay address:\n\(live.output)")
            for e in underlay {
                #expect(e.json["dport"] as? Int == 4789, "\(e.line)")
                let tunnel = e.json["tunnel"] as? [String: Any]
                #expect(tunnel?["kind"] as? String == "vxlan" && tunnel?["vni"] as? Int == 42, "\(e.line)")
                let inner = tunnel?["inner"] as? [String: Any]
                #expect(inner?["l4_proto"] as? String == "icmp", "\(e.line)")
                #expect([inner?["saddr"] as? String, inner?["daddr"] as? String].contains("\(overlay).2"), "\(e.line)")
                #expect(inner?["icmp_id"] as? Int != nil, "echo id of the inner ping: \(e.line)")
            }
            // The overlay's own events match as before, and nothing else came.
            #expect(events.contains { $0.l4 == "icmp" && $0.ifname == "vx42" }, "\(live.output)")
            #expect(events.allSatisfy { $0.l4 == "icmp" || $0.l4 == "udp" }, "\(live.output)")
            // The replay of the recording (made with another filter) keeps the same underlay events.
            let replayed = try KT.Event.parse(try Self.replay([recording, "--json"] + filter).stdout)
            let identity = { (e: KT.Event) in [e.probe, e.str("skb") ?? "", "\(e.netns)", e.ifname].joined(separator: "|") }
            let replayedUnderlay = replayed.filter { $0.l4 == "udp" }.map(identity)
            for e in underlay.map(identity) {
                #expect(replayedUnderlay.contains(e), "live underlay event not in the filtered replay: \(e)\n\(replayed.map(\.line))")
            }
        }
    }
}
