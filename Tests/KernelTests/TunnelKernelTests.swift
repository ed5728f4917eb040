import Foundation
import SkbTracerCore
import Testing

/// Tunnels on the real kernel: a ping through a VXLAN pair keeps its skb from
/// the overlay device to the underlay and back out, and its journey says
/// "encapsulated" and "decapsulated", not NAT.
extension KernelTests {
    @Test("A ping over VXLAN: encapsulated and decapsulated hops, no NAT")
    func pingOverVXLAN() throws {
        try DropLab.with { lab in
            // VNI 42 between a (198.18.N.2) and r (198.18.N.1), over their veth;
            // the overlay subnet is routed nowhere else. Both devices go with the namespaces.
            let overlay = "198.19.\(lab.index + 100)"
            for (ns, local, remote, addr) in [(lab.a, lab.aIPv4, lab.rIPv4A, "\(overlay).1"),
                                             (lab.r, lab.rIPv4A, lab.aIPv4, "\(overlay).2")] {
                try lab.check(ns, ["ip", "link", "add", "vx42", "type", "vxlan", "id", "42", "local", local,
                                   "remote", remote, "dstport", "4789"])
                try lab.check(ns, ["ip", "addr", "add", "\(addr)/24", "dev", "vx42"])
                try lab.check(ns, ["ip", "link", "set", "vx42", "up"])
            }
            _ = try lab.ping(from: lab.a, to: "\(overlay).2")   // neighbours resolved before the trace
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
}
