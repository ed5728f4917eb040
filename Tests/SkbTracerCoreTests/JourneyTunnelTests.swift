import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// A tunnel is not NAT: a packet put into a VXLAN (or GENEVE, IPIP, GRE) packet
/// and taken out again keeps its skb, and its journey says so.
@Suite struct JourneyTunnelTests {
    typealias J = JourneyTests

    /// An echo request 198.18.10.2 > 198.18.10.3 carried over VXLAN between 10.0.0.1 and 10.0.0.2.
    static func vxlanJourney(dport: UInt16 = 4789, outerGrows: Bool = true) -> Journey {
        let inner = J.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3)
        var outer = Fixtures.udp()
        Fixtures.set(&outer.saddr, Fixtures.v4_10_0_0_1)
        Fixtures.set(&outer.daddr, Fixtures.v4_10_0_0_2)
        outer.sport = 56542
        outer.dport = dport
        outer.ip_len = outerGrows ? inner.ip_len + 50 : inner.ip_len
        let events = [
            J.hop(inner, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC1, ifname: "vx1", ts: 1_000_000),
            J.hop(outer, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC1, ifname: "eth0", ts: 1_010_000, tracked: true),
            J.hop(outer, ST_PROBE_NETIF_RECEIVE_SKB, ns: J.nsC2, ifname: "eth0", ts: 1_020_000, tracked: true),
            J.hop(inner, ST_PROBE_NETIF_RECEIVE_SKB, ns: J.nsC2, ifname: "vx1", ts: 1_030_000, tracked: true),
            J.free(inner, consume: true, at: J.icmpRcv + 0x59, ns: J.nsC2, ts: 1_040_000),
        ]
        let journeys = J.feed(JourneyTracker(names: J.names()), events)
        #expect(journeys.count == 1)
        return journeys[0]
    }

    @Test func encapsulationAndDecapsulationAreNotNAT() {
        let j = Self.vxlanJourney()
        #expect(j.rewrites.isEmpty, "no NAT: \(j.rewrites.map { "\($0.from) -> \($0.to)" })")
        #expect(j.tupleChanges.map(\.kind) == [.encapsulation("VXLAN"), .decapsulation("VXLAN")])
        var b = ByteBuffer()
        JourneyTextFormatter(context: Fixtures.context(), names: J.names()).journey(j, into: &b)
        let text = String(decoding: b.bytes, as: UTF8.self)
        #expect(text.contains("encapsulated in VXLAN: udp 10.0.0.1:56542 > 10.0.0.2:4789 (first seen at c1:eth0 net_dev_queue)"), "\(text)")
        #expect(text.contains("decapsulated from VXLAN: icmp 198.18.10.2 > 198.18.10.3 (first seen at c2:vx1 netif_receive_skb)"), "\(text)")
        #expect(!text.contains("NAT:"), "\(text)")
    }

    @Test func geneveIsATunnelAndAnotherPortIsNAT() {
        #expect(Self.vxlanJourney(dport: 6081).tupleChanges.first?.kind == .encapsulation("GENEVE"))
        // The same rewrite to a port no tunnel uses, or without outer headers, is NAT.
        let otherPort = Self.vxlanJourney(dport: 5000).tupleChanges.map(\.kind)
        #expect(otherPort == [.nat, .nat])
        let sameLength = Self.vxlanJourney(outerGrows: false)
        #expect(sameLength.tupleChanges.map(\.kind) == [.nat, .nat])
        #expect(sameLength.rewrites.count == 2)
    }

    @Test func theJSONListsTunnelsApartFromNAT() throws {
        let j = Self.vxlanJourney()
        var b = ByteBuffer()
        JourneyJSONFormatter(context: Fixtures.context(), names: J.names()).journey(j, into: &b)
        let o = try JSONFormatterTests.object(String(decoding: b.bytes, as: UTF8.self))
        #expect(Set(o.keys) == JSONSchemaKeys.journey)
        #expect((o["nat"] as? [Any])?.isEmpty == true)
        let tunnels = try #require(o["tunnels"] as? [[String: Any]])
        #expect(tunnels.count == 2)
        #expect(tunnels.map { $0["kind"] as? String } == ["encapsulation", "decapsulation"])
        for t in tunnels { #expect(Set(t.keys) == JSONSchemaKeys.tunnelEntry) }
        #expect((tunnels[0]["to"] as? [String: Any])?["dport"] as? Int == 4789)
        #expect(tunnels[0]["tunnel"] as? String == "VXLAN")
    }
}
