import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// nf_tables verdicts (`--netfilter`'s nftrace events): the section, the packet
/// taken from the trace's header bytes, where a verdict joins its packet's
/// events, and how it reads in events, journeys and JSON.
@Suite struct NetfilterVerdictTests {
    static let netfilterKeys: Set<String> = ["family", "hook", "at", "table", "chain", "priority", "handle", "rule",
                                             "rule_syntax", "verdict", "policy", "target"]

    static let drop = NftVerdict(family: 2, kind: .rule, table: "filter", chain: "FORWARD", hook: 2, priority: 0,
                                 handle: 7, verdict: 0, rule: "-s 10.0.0.1/32 -p icmp -j DROP", fromIptables: true, traceID: 99)

    /// An IPv4 ICMP echo request 198.18.10.2 > 198.18.10.3, id 0x1234 seq 1, IP id 0x4242, length 84.
    static let ipv4 = [0x45, 0, 0, 84, 0x42, 0x42, 0x40, 0, 64, 1, 0, 0, 198, 18, 10, 2, 198, 18, 10, 3].map(UInt8.init)
    static let echo = [8, 0, 0, 0, 0x12, 0x34, 0, 1].map(UInt8.init)

    static func verdictEvent(_ v: NftVerdict, netns: UInt32 = JourneyTests.nsHost) -> TraceEvent {
        var header = st_record()
        header.probe = UInt16(ST_PROBE_NFT_RULE)
        header.ts_ns = 5_000_000
        var context = st_sec_context()
        context.netns = netns
        var e = TraceEvent(header: header, context: context,
                           packet: Packet(raw: HeaderBytes.packet(link: [], network: ipv4, transport: echo)))
        e.nftVerdict = v
        return e
    }

    @Test func sectionRoundTripsWithItsNames() throws {
        let jump = NftVerdict(family: 1, kind: .rule, table: "guard", chain: "input", hook: 1, priority: -150, handle: 3,
                              verdict: -3, target: "blocked", traceID: 7)
        for v in [Self.drop, jump, NftVerdict(family: 10, kind: .policy, table: "t", chain: "c", hook: 0, priority: 5, verdict: 0),
                  NftVerdict(family: 2, kind: .returned, table: "t", chain: "sub")] {
            let bytes = EventRecord.bytes(Self.verdictEvent(v))
            #expect(bytes.count % 8 == 0)
            let back = try Fixtures.decode(bytes)
            #expect(back.nftVerdict == v)
            #expect(back.probeName == "nft_rule")
        }
        // A name whose NUL is missing is a malformed section, not a wrong name.
        var bytes = EventRecord.bytes(Self.verdictEvent(Self.drop))
        let tableAt = MemoryLayout<st_record>.size + MemoryLayout<st_sec_context>.size + MemoryLayout<st_sec_packet>.size
            + MemoryLayout<st_sec_nft_verdict>.size
        bytes[tableAt + "filter".utf8.count] = UInt8(ascii: "x")
        #expect(throws: TraceEvent.DecodeError.self) { try Fixtures.decode(bytes) }
    }

    @Test func verdictWords() {
        func name(_ v: Int32, _ kind: NftVerdict.Kind = .rule, target: String? = nil) -> String {
            NftVerdict(family: 2, kind: kind, table: "t", chain: "c", verdict: v, target: target).verdictName
        }
        #expect(name(0) == "drop" && name(1) == "accept" && name(-1) == "continue" && name(-5) == "return")
        #expect(name(-3, target: "sub") == "jump sub" && name(-4, target: "x") == "goto x")
        #expect(Self.drop.summary == "ip filter FORWARD #7 drop")
        #expect(NftVerdict(family: 1, kind: .policy, table: "guard", chain: "input", verdict: 0).summary == "inet guard input policy drop")
        #expect(NetfilterText.ruleText(Self.drop) == "ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP")
    }

    @Test func headerBytesGiveThePacket() {
        let p = Packet(raw: HeaderBytes.packet(link: [], network: Self.ipv4, transport: Self.echo))
        #expect(p.hasL3 && p.hasL4 && !p.hasMAC)
        #expect(p.saddr?.description == "198.18.10.2" && p.daddr?.description == "198.18.10.3")
        #expect(p.raw.ip_len == 84 && p.raw.ip_id == 0x4242 && p.raw.ttl == 64 && p.raw.l4_proto == 1)
        #expect(p.raw.icmp_type == 8 && p.raw.icmp_id == 0x1234 && p.raw.icmp_seq == 1)
        // IPv6, a hop-by-hop header, then TCP SYN 40000 > 80.
        var v6 = [0x60, 0, 0, 0, 0, 28, 0, 64].map(UInt8.init) + Fixtures.v6_db8_1 + Fixtures.v6_db8_2
        v6 += [6, 0, 0, 0, 0, 0, 0, 0]
        let tcp = [0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02].map(UInt8.init)
        let q = Packet(raw: HeaderBytes.packet(link: [], network: v6, transport: tcp))
        #expect(q.isIPv6 && q.isTCP && q.raw.sport == 40000 && q.raw.dport == 80 && q.raw.tcp_flags == 2 && q.raw.ip_len == 68)
        // Too short for a header: nothing claimed.
        #expect(HeaderBytes.packet(link: [], network: Array(Self.ipv4.prefix(12)), transport: []).flags == 0)
        #expect(HeaderBytes.packet(link: [], network: Self.ipv4, transport: [8, 0]).flags == UInt8(ST_PKT_L3.rawValue))
    }

    /// The request's events with the echo of `ipv4`/`echo` above.
    static func requestEvent(_ probe: UInt16, ts: UInt64, hook: NetfilterHookPass? = nil, skb: UInt64 = 0xffff_8881_0000_a000) -> TraceEvent {
        var e = verdictEvent(Self.drop)
        e.nftVerdict = nil
        e.header.probe = probe
        e.header.ts_ns = ts
        e.header.skb = skb
        e.netfilterHook = hook
        return e
    }

    @Test func aVerdictJoinsItsPacketsEntryIntoItsHook() {
        let merger = VerdictMerger()
        let forward = NetfilterHookPass(family: 2, hook: 2, isEntry: true)
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 1_000, hook: NetfilterHookPass(family: 2, hook: 0, isEntry: true)))
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 2_000, hook: forward))
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 3_000, hook: NetfilterHookPass(family: 2, hook: 2, isEntry: false)))
        var v = Self.verdictEvent(Self.drop)
        #expect(merger.place(&v) != nil)
        #expect(v.header.skb == 0xffff_8881_0000_a000 && v.header.ts_ns == 2_001, "right after FORWARD's entry")
        var second = Self.verdictEvent(Self.drop)
        merger.place(&second)
        #expect(second.header.ts_ns == 2_002, "a second verdict there comes after the first")
        // Another namespace's packet with the same headers is not this one.
        var other = Self.verdictEvent(Self.drop, netns: 1)
        #expect(merger.place(&other) == nil && other.header.skb == 0)
        #expect(merger.unmatched == 1)
    }

    @Test func withoutHookEventsAVerdictJoinsThePacketsLatestEvent() {
        let merger = VerdictMerger()
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), ts: 1_000))
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NET_DEV_QUEUE.rawValue), ts: 4_000, skb: 0xffff_8881_0000_b000))
        var v = Self.verdictEvent(Self.drop)
        let anchor = merger.place(&v)
        #expect(anchor?.ts == 4_000 && v.header.skb == 0xffff_8881_0000_b000 && v.header.ts_ns == 4_001)
    }

    /// A jump's chain has no hook: its verdicts follow the base chain's (same
    /// trace id), not the packet's latest event (its exit from the hook, its free).
    @Test func aJumpTargetsVerdictFollowsItsBaseChains() {
        let merger = VerdictMerger()
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 2_000, hook: NetfilterHookPass(family: 2, hook: 2, isEntry: true)))
        merger.note(Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 3_000, hook: NetfilterHookPass(family: 2, hook: 2, isEntry: false)))
        var jump = Self.verdictEvent(NftVerdict(family: 1, kind: .rule, table: "g", chain: "fwdc", hook: 2, priority: 10,
                                                handle: 4, verdict: -3, target: "blocked", traceID: 42))
        #expect(merger.place(&jump)?.ts == 2_000)
        var accept = Self.verdictEvent(NftVerdict(family: 1, kind: .rule, table: "g", chain: "blocked", handle: 5, verdict: 1, traceID: 42))
        #expect(merger.place(&accept)?.ts == 2_000 && accept.header.ts_ns == 2_002)
        // Without the trace's earlier verdict: the latest event, never a free.
        var free = Self.requestEvent(UInt16(ST_PROBE_KFREE_SKB.rawValue), ts: 9_000)
        free.dropReason = 5
        merger.note(free)
        var lone = Self.verdictEvent(NftVerdict(family: 1, kind: .rule, table: "g", chain: "blocked", handle: 5, verdict: 0, traceID: 7))
        #expect(merger.place(&lone)?.ts == 3_000)
    }

    @Test func aJourneyNamesTheRuleThatDroppedIt() throws {
        let skb: UInt64 = 0xffff_8881_0000_a000
        var v = Self.verdictEvent(Self.drop)
        v.header.skb = skb
        v.header.ts_ns = 1_000_001
        var free = Self.requestEvent(UInt16(ST_PROBE_KFREE_SKB.rawValue), ts: 1_000_010)
        free.dropReason = 5
        free.location = JourneyTests.icmpRcv
        let j = NetfilterHookEventTests.journey([Self.requestEvent(UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), ts: 1_000_000), v, free])
        #expect(j.droppingVerdict == Self.drop)
        let text = String(decoding: FuzzRun.render { JourneyTextFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        #expect(text.contains("nft_rule") && text.contains(" nf=ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP"), "\(text)")
        #expect(text.contains("  dropped by: ip filter FORWARD rule #7"), "\(text)")
        let json = String(decoding: FuzzRun.render { JourneyJSONFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let rule = try #require(obj["dropped_by_rule"] as? [String: Any])
        #expect(Set(rule.keys) == Self.netfilterKeys)
        #expect(rule["handle"] as? Int == 7 && rule["verdict"] as? String == "drop" && rule["rule_syntax"] as? String == "iptables")
        #expect(rule["hook"] as? String == "FORWARD" && rule["policy"] as? Bool == false && rule["at"] is NSNull)
    }

    @Test func aVerdictWithoutItsPacketsEventsStartsNoJourney() {
        let tracker = JourneyTracker(names: JourneyTests.names())
        #expect(tracker.add(Self.verdictEvent(Self.drop)).isEmpty && tracker.openCount == 0)
    }

    /// Two packets dropped by two rules: the diagnosis and --drop count each rule apart.
    @Test func dropsAreCountedPerRule() throws {
        let other = NftVerdict(family: 1, kind: .policy, table: "guard", chain: "input", hook: 1, priority: 0, verdict: 0, traceID: 3)
        var journeys: [Journey] = []
        for (i, v) in [Self.drop, other, Self.drop].enumerated() {
            let skb = 0xffff_8881_0000_a000 + UInt64(i) * 0x100
            var verdict = Self.verdictEvent(v)
            verdict.header.skb = skb
            verdict.header.ts_ns = 1_000_001
            verdict.nftVerdict?.traceID = UInt32(i) // another packet, the same rule
            var free = Self.requestEvent(UInt16(ST_PROBE_KFREE_SKB.rawValue), ts: 1_000_010, skb: skb)
            free.dropReason = 5
            free.location = JourneyTests.icmpRcv
            journeys.append(NetfilterHookEventTests.journey([Self.requestEvent(UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), ts: 1_000_000, skb: skb), verdict, free]))
        }
        let d = Diagnosis()
        for j in journeys { d.add(j) }
        #expect(d.drops.count == 2)
        #expect(d.sortedDrops.map(\.count) == [2, 1])
        #expect(d.sortedDrops.first?.key.rule?.handle == 7)
        let text = String(decoding: FuzzRun.render { JourneyTextFormatter(context: Fixtures.context(), names: JourneyTests.names()).diagnosis(d, into: &$0) }, as: UTF8.self)
        #expect(text.contains("2x NETFILTER_DROP at icmp_rcv+0x0 in host by ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP"), "\(text)")
        #expect(text.contains("1x NETFILTER_DROP at icmp_rcv+0x0 in host by inet guard input policy: DROP"), "\(text)")

        let lines = try JourneyJSONSchemaTests.dropWatchLines { w in
            for j in journeys { for e in j.events { w.consume(e) } }
        }
        let summary = try #require(lines.last.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let counts = try #require(summary["counts"] as? [[String: Any]])
        #expect(Set(counts.compactMap { $0["rule"] as? String }) == [NetfilterText.ruleText(Self.drop), NetfilterText.ruleText(other)])
        #expect(counts.first { ($0["rule"] as? String) == NetfilterText.ruleText(Self.drop) }?["total"] as? Int == 2)
    }

    /// A DNAT rule's verdict before the rewritten tuple shows: the NAT line names it.
    @Test func theNATRewriteNamesItsRule() throws {
        let dnat = NftVerdict(family: 2, kind: .rule, table: "nat", chain: "PREROUTING", hook: 0, priority: -100, handle: 3,
                              verdict: 1, rule: "-d 198.18.10.3/32 -j DNAT --to-destination 10.0.0.2", fromIptables: true)
        let skb: UInt64 = 0xffff_8881_0000_a000
        var v = Self.verdictEvent(dnat)
        v.header.skb = skb
        v.header.ts_ns = 1_000_001
        var after = Self.requestEvent(UInt16(ST_PROBE_NET_DEV_QUEUE.rawValue), ts: 1_000_020)
        Fixtures.set(&after.packet.raw.daddr, Fixtures.v4_10_0_0_2)
        after.header.match = UInt8(ST_MATCH_SKB.rawValue) // followed by BPF through the rewrite
        let j = NetfilterHookEventTests.journey([Self.requestEvent(UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue), ts: 1_000_000), v, after])
        #expect(dnat.isNAT && !Self.drop.isNAT)
        let text = String(decoding: FuzzRun.render { JourneyTextFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        #expect(text.contains("NAT: destination 198.18.10.3 -> 10.0.0.2"), "\(text)")
        #expect(text.contains("    by ip nat PREROUTING rule #3 (-d 198.18.10.3/32 -j DNAT --to-destination 10.0.0.2): ACCEPT"), "\(text)")
        let json = String(decoding: FuzzRun.render { JourneyJSONFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let nat = try #require((obj["nat"] as? [[String: Any]])?.first)
        #expect((nat["rule"] as? String)?.hasPrefix("ip nat PREROUTING rule #3") == true)
    }

    /// A recording keeps hook events and verdicts; a replay prints them as the live trace did.
    @Test func recordedVerdictsReplay() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-nft-\(getpid()).skbt").path
        defer { unlink(path) }
        var v = Self.verdictEvent(Self.drop)
        v.header.skb = 0xffff_8881_0000_a000
        v.header.ts_ns = 2_001
        let entry = Self.requestEvent(UInt16(ST_PROBE_NF_HOOK), ts: 2_000, hook: NetfilterHookPass(family: 2, hook: 2, isEntry: true))
        _ = try RecordTests.record([entry, v], to: path)
        let (out, _) = try RecordTests.replay(path) { $0.format = .json }
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["type"] as? String == "event" }
        #expect(lines.map { $0["probe"] as? String } == ["nf_hook", "nft_rule"])
        let nf = try #require(lines.last?["netfilter"] as? [String: Any])
        #expect(nf["table"] as? String == "filter" && nf["handle"] as? Int == 7 && nf["rule"] as? String == Self.drop.rule)
        #expect(lines.last?["cpu"] is NSNull)
        #expect((lines.first?["netfilter"] as? [String: Any])?["at"] as? String == "entry")
    }

    /// A reject: the kernel answers the dropped packet with an ICMP error (icmp_send
    /// on it); the error's journey answers the rejected one's.
    @Test func theICMPErrorOfARejectAnswersTheRejectedPacket() {
        let tracker = JourneyTracker(names: JourneyTests.names())
        let skb: UInt64 = 0xffff_8881_0000_a000
        var udp = Fixtures.udp()
        Fixtures.set(&udp.saddr, Fixtures.v4_198_18_10_2)
        Fixtures.set(&udp.daddr, Fixtures.v4_198_18_10_3)
        var out = JourneyTests.feed(tracker, [
            JourneyTests.hop(udp, ST_PROBE_NETIF_RECEIVE_SKB, ns: JourneyTests.nsHost, ifname: "h1", ts: 1_000_000, skb: skb),
            JourneyTests.hop(udp, ST_PROBE_ICMP_SEND, ns: JourneyTests.nsHost, ifname: "h1", ts: 1_000_010, skb: skb, tracked: true),
        ])
        var error = JourneyTests.echo(type: 3, from: Fixtures.v4_10_0_0_1, to: Fixtures.v4_198_18_10_2)
        error.icmp_code = 3
        out += tracker.add(JourneyTests.hop(error, ST_PROBE_NET_DEV_QUEUE, ns: JourneyTests.nsHost, ifname: "h1", ts: 1_000_020,
                                            skb: 0xffff_8881_0000_c000))
        out += tracker.flush()
        let rejected = out.first { $0.skb == skb }
        let answer = out.first { $0.skb == 0xffff_8881_0000_c000 }
        #expect(rejected != nil && answer?.replyTo == rejected?.id, "\(out.map { ($0.id, $0.replyTo) })")
        // Not to another source, nor long after.
        let t2 = JourneyTracker(names: JourneyTests.names())
        _ = t2.add(JourneyTests.hop(udp, ST_PROBE_NETIF_RECEIVE_SKB, ns: JourneyTests.nsHost, ifname: "h1", ts: 1_000_000, skb: skb))
        _ = t2.add(JourneyTests.hop(udp, ST_PROBE_ICMP_SEND, ns: JourneyTests.nsHost, ifname: "h1", ts: 1_000_010, skb: skb, tracked: true))
        let late = t2.add(JourneyTests.hop(error, ST_PROBE_NET_DEV_QUEUE, ns: JourneyTests.nsHost, ifname: "h1", ts: 9_000_000_000,
                                           skb: 0xffff_8881_0000_c000)) + t2.flush()
        #expect(late.first { $0.skb == 0xffff_8881_0000_c000 }?.replyTo == nil)
    }

    /// The event view: under the drop, the rule whose drop verdict came before it.
    @Test func theEventViewNamesTheRuleUnderTheDrop() {
        let f = TextFormatter(context: Fixtures.context())
        var v = Self.verdictEvent(Self.drop)
        v.header.skb = 0xffff_8881_0000_a000
        var free = Self.requestEvent(UInt16(ST_PROBE_KFREE_SKB.rawValue), ts: 1_000_010)
        free.dropReason = 5
        var other = free
        other.header.skb = 0xffff_8881_0000_b000
        let text = String(decoding: FuzzRun.render { b in
            f.event(v, into: &b)
            f.event(free, into: &b)
            f.event(other, into: &b)
        }, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].contains(":nft_rule - nf=ip filter FORWARD #7 drop"), "\(text)")
        #expect(lines[1].contains("kfree_skb") && lines[2] == "    dropped by: ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP", "\(text)")
        #expect(text.components(separatedBy: "dropped by:").count == 2, "only under its own skb's drop: \(text)")
    }
}
