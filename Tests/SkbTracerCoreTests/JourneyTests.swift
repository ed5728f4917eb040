import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
@testable import SkbTracerSystem
import Testing

/// Journeys from hand-built event sequences: grouping per skb, ends, reply
/// linking through NAT, address reuse, bounds, paths and their rendering.
@Suite struct JourneyTests {
    static let nsC1: UInt32 = 4_026_532_001, nsC2: UInt32 = 4_026_532_002, nsHost: UInt32 = 4_026_531_840
    static let icmpRcv: UInt64 = 0xffff_ffff_81c0_0000
    static let pingRcv: UInt64 = 0xffff_ffff_81d0_0000
    static let devKfree: UInt64 = 0xffff_ffff_81e0_0000

    static func names() -> JourneyNames {
        JourneyNames(dropReasons: DropReasons(names: [2: "NO_SOCKET", 5: "NETFILTER_DROP"]),
                     symbols: KernelSymbols(symbols: [(Fixtures.tcpV4Rcv, "tcp_v4_rcv"), (icmpRcv, "icmp_rcv"),
                                                      (pingRcv, "ping_rcv"), (devKfree, "__dev_kfree_skb_any")]),
                     netns: NetnsNames(names: [nsC1: "c1", nsC2: "c2"], hostInode: nsHost))
    }

    /// `base` moved to another probe, place, time and skb.
    static func hop(_ base: FlatEvent, _ probe: st_probe_id, ns: UInt32, ifname: String, ts: UInt64,
                    skb: UInt64 = 0xffff_8881_0000_a000, tracked: Bool = false, flow: Bool = false) -> TraceEvent {
        var e = base
        e.probe = UInt16(probe.rawValue)
        e.netns = ns
        e.ifname = FlatEvent().ifname
        Fixtures.set(&e.ifname, string: ifname)
        e.ts_ns = ts
        e.skb = skb
        if tracked || flow { e.flags |= FlatEvent.TRACKED }
        e.match = UInt8(flow ? ST_MATCH_FLOW.rawValue : tracked ? ST_MATCH_SKB.rawValue : ST_MATCH_FILTER.rawValue)
        return TraceEvent(raw: e)
    }

    static func free(_ base: FlatEvent, consume: Bool, at location: UInt64, reason: UInt32 = 0, ns: UInt32, ts: UInt64,
                     skb: UInt64 = 0xffff_8881_0000_a000) -> TraceEvent {
        var e = hop(base, consume ? ST_PROBE_CONSUME_SKB : ST_PROBE_KFREE_SKB, ns: ns, ifname: "", ts: ts, skb: skb, tracked: true).raw
        e.location = location
        e.flags |= FlatEvent.LOCATION
        if !consume {
            e.flags |= FlatEvent.DROP
            e.drop_reason = reason
        }
        return TraceEvent(raw: e)
    }

    static func echo(type: UInt8, from: [UInt8], to: [UInt8], seq: UInt16 = 1) -> FlatEvent {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_type = type
        e.icmp_seq = seq
        Fixtures.set(&e.saddr, from)
        Fixtures.set(&e.daddr, to)
        return e
    }

    /// c1 eth0 -> host h1 -> host h2 -> c2 eth0, consumed by icmp_rcv.
    static func requestEvents(skb: UInt64 = 0xffff_8881_0000_a000, seq: UInt16 = 1, t0: UInt64 = 1_000_000) -> [TraceEvent] {
        let req = echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3, seq: seq)
        return [
            hop(req, ST_PROBE_NET_DEV_QUEUE, ns: nsC1, ifname: "eth0", ts: t0, skb: skb),
            hop(req, ST_PROBE_NETIF_RECEIVE_SKB, ns: nsHost, ifname: "h1", ts: t0 + 2_000, skb: skb, tracked: true),
            hop(req, ST_PROBE_NET_DEV_QUEUE, ns: nsHost, ifname: "h2", ts: t0 + 5_000, skb: skb, tracked: true),
            hop(req, ST_PROBE_NETIF_RECEIVE_SKB, ns: nsC2, ifname: "eth0", ts: t0 + 9_000, skb: skb, tracked: true),
            free(req, consume: true, at: icmpRcv + 0x59, ns: nsC2, ts: t0 + 20_000, skb: skb),
        ]
    }

    /// r 10.0.0.1:40000 -> VIP 10.0.0.2:8080, DNATed to 198.18.10.3:80, and the SYN-ACK back.
    static func dnatHandshake() -> (syn: FlatEvent, natted: FlatEvent, synack: FlatEvent) {
        var syn = Fixtures.udp()
        syn.l4_proto = 6; syn.tcp_flags = 0x02; syn.sport = 40000; syn.dport = 8080
        var natted = syn
        Fixtures.set(&natted.daddr, Fixtures.v4_198_18_10_3); natted.dport = 80
        var synack = natted
        Fixtures.set(&synack.saddr, Fixtures.v4_198_18_10_3); synack.sport = 80
        Fixtures.set(&synack.daddr, Fixtures.v4_10_0_0_1); synack.dport = 40000
        synack.tcp_flags = 0x12
        return (syn, natted, synack)
    }

    static func feed(_ tracker: JourneyTracker, _ events: [TraceEvent]) -> [Journey] {
        events.flatMap { tracker.add($0) } + tracker.flush()
    }

    @Test func oneSkbIsOneJourneyEndingAtItsFree() {
        let tracker = JourneyTracker(names: Self.names())
        let events = Self.requestEvents()
        var ended: [Journey] = []
        for e in events.dropLast() { ended += tracker.add(e) }
        #expect(ended.isEmpty, "no journey ends before its free")
        #expect(tracker.openCount == 1)
        ended += tracker.add(events.last!)
        #expect(tracker.openCount == 0)
        #expect(ended.count == 1)
        let j = ended[0]
        #expect(j.events.count == 5)
        #expect(j.outcome == .delivered(at: "icmp_rcv"))
        #expect(j.durationNs == 20_000)
        #expect(j.wasForwarded, "in on h1, out on h2 in the same namespace")
        let path = JourneyPath(j, names: Self.names().netns)
        #expect(path.line(outcome: j.outcome) == "c1:eth0 -> host:h1 -> host:h2 -> c2:eth0 -> delivered (icmp_rcv)")
        let picture = path.picture()
        #expect(picture.count == 2)
        #expect(picture[0].hasPrefix("c1 netns") && picture[0].contains("| ") && picture[0].hasSuffix("c2 netns"), "\(picture)")
        #expect(picture[0].filter { $0 == "|" }.count == 2, "two namespace boundaries: \(picture)")
        let interfaces = picture[1].components(separatedBy: "--->").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(interfaces == ["eth0", "h1", "h2", "eth0"], "\(picture)")
        // Each namespace label starts above its first interface.
        #expect(picture[1].range(of: "h1")!.lowerBound.utf16Offset(in: picture[1]) ==
                picture[0].range(of: "host")!.lowerBound.utf16Offset(in: picture[0]), "\(picture)")
    }

    /// After the free tracepoint, __kfree_skb() still calls functions with the
    /// skb (skb_release_data, kfree_skbmem): with a function backend those are the
    /// freed packet's teardown, not a new journey; later ones are a new packet.
    @Test func functionEventsJustAfterAFreeAreTheFreedSkbsTeardown() {
        let tracker = JourneyTracker(names: Self.names())
        let events = Self.requestEvents()
        let last = events.last!
        func function(_ ts: UInt64) -> TraceEvent {
            var e = last
            e.header.probe = UInt16(ST_PROBE_FUNCTION)
            e.raw.flags &= ~(Fixtures.DROP | Fixtures.LOC)
            e.header.ts_ns = ts
            e.function = "skb_release_data"
            return e
        }
        var first = events[0]
        first.header.probe = UInt16(ST_PROBE_FUNCTION)
        first.function = "ip_output"
        var ended = tracker.add(first)
        for e in events { ended += tracker.add(e) }
        #expect(ended.count == 1 && ended[0].events.count == 6)
        #expect(tracker.add(function(last.header.ts_ns + 5_000)).isEmpty && tracker.openCount == 0)
        #expect(tracker.teardownEvents == 1)
        _ = tracker.add(function(last.header.ts_ns + 2_000_000))
        #expect(tracker.openCount == 1, "2 ms later: another packet at the same address")
    }

    @Test func echoReplyIsLinkedToItsRequestWhileTheRequestIsStillOpen() {
        let tracker = JourneyTracker(names: Self.names())
        let request = Self.requestEvents()
        let reply = Self.echo(type: 0, from: Fixtures.v4_198_18_10_3, to: Fixtures.v4_198_18_10_2)
        // The reply leaves c2 before the request is freed (icmp_rcv frees it after replying).
        var all = Array(request.dropLast())
        all.append(Self.hop(reply, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 1_015_000, skb: 0xffff_8881_0000_b000))
        all.append(request.last!)
        all.append(Self.free(reply, consume: false, at: Self.pingRcv + 0xab, reason: 2, ns: Self.nsC1, ts: 1_030_000, skb: 0xffff_8881_0000_b000))
        let journeys = Self.feed(tracker, all)
        #expect(journeys.count == 2)
        let req = journeys.first { $0.first.packet.raw.icmp_type == 8 }!
        let rep = journeys.first { $0.first.packet.raw.icmp_type == 0 }!
        #expect(req.replyTo == nil)
        #expect(rep.replyTo == req.id)
        // Another sequence number is not a reply to this request.
        let other = Self.echo(type: 0, from: Fixtures.v4_198_18_10_3, to: Fixtures.v4_198_18_10_2, seq: 2)
        let j = Self.feed(tracker, [Self.hop(other, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 2_000_000, skb: 0xc000)])
        #expect(j.first?.replyTo == nil)
    }

    @Test func natRewriteKeepsTheJourneyAndLinksTheReply() {
        let tracker = JourneyTracker(names: Self.names())
        // r 10.0.0.1:40000 -> VIP 10.0.0.2:8080, DNATed to 198.18.10.3:80.
        let (syn, natted, synack) = Self.dnatHandshake()
        let events = [
            Self.hop(syn, ST_PROBE_NETIF_RECEIVE_SKB, ns: Self.nsHost, ifname: "hr", ts: 100, skb: 0xa),
            Self.hop(natted, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsHost, ifname: "h2", ts: 200, skb: 0xa, tracked: true),
            Self.hop(synack, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 300, skb: 0xb),
        ]
        let journeys = Self.feed(tracker, events)
        #expect(journeys.count == 2)
        let request = journeys[0], reply = journeys[1]
        #expect(request.events.count == 2, "a tracked event with a new tuple stays in the journey")
        #expect(request.rewrites.count == 1)
        let text = JourneyText.rewriteText(request.rewrites[0], names: Self.names().netns)
        #expect(text.contains("destination 10.0.0.2:8080 -> 198.18.10.3:80"), "\(text)")
        #expect(!text.contains("source"), "\(text)")
        #expect(reply.replyTo == request.id, "SYN-ACK answers the rewritten tuple")
        #expect(request.outcome == .inFlight)
    }

    @Test func reusedAddressWithoutAFreeStartsANewJourney() {
        let tracker = JourneyTracker(names: Self.names())
        let udp = Fixtures.udp()
        var other = udp
        other.sport = 9999
        let ended = Self.feed(tracker, [
            Self.hop(udp, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsHost, ifname: "veth1", ts: 100, skb: 0xa),
            // Not tracked, another tuple: BPF matched a new packet at this address.
            Self.hop(other, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsHost, ifname: "veth1", ts: 200, skb: 0xa),
            // Not tracked, same tuple (the tracking table was full): same packet.
            Self.hop(other, ST_PROBE_NET_DEV_XMIT, ns: Self.nsHost, ifname: "veth1", ts: 300, skb: 0xa),
        ])
        #expect(ended.count == 2)
        #expect(ended[0].events.count == 1 && ended[0].outcome == .inFlight)
        #expect(ended[1].events.count == 2)
    }

    @Test func aTrackedEventOfAnotherPacketStartsANewJourney() {
        // TCP frees with __kfree_skb (no tracepoint): the next segment can reuse
        // the address and arrive as a reply of a NATed flow.
        var synack = Fixtures.udp()
        synack.l4_proto = 6; synack.tcp_flags = 0x12
        var data = synack
        data.tcp_flags = 0x18
        data.ip_len = 67
        let ended = Self.feed(JourneyTracker(names: Self.names()), [
            Self.hop(synack, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 100, skb: 0xa),
            Self.hop(synack, ST_PROBE_NETIF_RECEIVE_SKB, ns: Self.nsHost, ifname: "h2", ts: 200, skb: 0xa, tracked: true),
            Self.hop(data, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 900, skb: 0xa, flow: true),
        ])
        #expect(ended.map(\.events.count) == [2, 1])
        // When BPF says it tracked the same skb (same data buffer), a changed
        // identity is encapsulation or GRO, not another packet.
        var outer = synack
        outer.l4_proto = 17; outer.ip_len = 120
        let encapsulated = Self.feed(JourneyTracker(names: Self.names()), [
            Self.hop(synack, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "vx0", ts: 100, skb: 0xa),
            Self.hop(outer, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsC2, ifname: "eth0", ts: 200, skb: 0xa, tracked: true),
        ])
        #expect(encapsulated.map(\.events.count) == [2])
    }

    @Test func dropAndTransmitOutcomes() {
        let names = Self.names()
        let drop = TraceEvent(raw: Fixtures.kfreeSkbDrop())
        let j1 = Self.feed(JourneyTracker(names: names), [drop])
        #expect(j1.count == 1)
        #expect(j1[0].outcome == .dropped(reason: "NO_SOCKET", location: "tcp_v4_rcv+0x10",
                                         noise: DropExplanations.noise(reason: "NO_SOCKET", function: "tcp_v4_rcv", event: drop)))
        #expect(j1[0].outcome.kind == "dropped")
        #expect(j1[0].outcome.isFailure)

        let udp = Fixtures.udp()
        let j2 = Self.feed(JourneyTracker(names: names), [
            Self.hop(udp, ST_PROBE_NET_DEV_XMIT, ns: Self.nsHost, ifname: "eth0", ts: 1, skb: 0xa),
            Self.free(udp, consume: true, at: Self.devKfree + 4, ns: Self.nsHost, ts: 2, skb: 0xa),
        ])
        #expect(j2[0].outcome == .transmitted(at: "__dev_kfree_skb_any"))

        var copy = Fixtures.udp()
        copy.comm = FlatEvent().comm
        Fixtures.set(&copy.comm, string: "nc")
        copy.pid = 99
        let j3 = Self.feed(JourneyTracker(names: names), [
            Self.hop(copy, ST_PROBE_SKB_COPY_DATAGRAM_IOVEC, ns: Self.nsHost, ifname: "", ts: 1, skb: 0xa),
            Self.free(copy, consume: true, at: Self.devKfree, ns: Self.nsHost, ts: 2, skb: 0xa),
        ])
        #expect(j3[0].outcome == .delivered(at: "socket read by nc/99"))
    }

    @Test func openJourneysAreBoundedAndNoneIsLost() {
        let tracker = JourneyTracker(names: Self.names(), maxOpen: 100)
        var out: [Journey] = []
        for i in 0..<5000 {
            var e = Fixtures.udp()
            e.sport = UInt16(1000 + i % 60000)
            out += tracker.add(Self.hop(e, ST_PROBE_NET_DEV_QUEUE, ns: Self.nsHost, ifname: "veth1",
                                        ts: UInt64(i) * 10, skb: 0x1_0000 + UInt64(i) * 0x100))
            #expect(tracker.openCount <= 100)
        }
        #expect(tracker.evicted > 0)
        out += tracker.flush()
        #expect(out.count == 5000)
        #expect(Set(out.map(\.id)).count == 5000, "every journey handed out exactly once")
        #expect(out.allSatisfy { $0.outcome == .inFlight })
    }

    @Test func idleJourneysExpire() {
        let tracker = JourneyTracker(names: Self.names(), timeoutNs: 1_000)
        _ = tracker.add(Self.hop(Fixtures.udp(), ST_PROBE_NET_DEV_QUEUE, ns: Self.nsHost, ifname: "veth1", ts: 10_000, skb: 0xa))
        #expect(tracker.expire(nowNs: 10_500).isEmpty)
        #expect(tracker.expire(nowNs: 12_000).count == 1)
        #expect(tracker.openCount == 0)
    }

    @Test func diagnosisCountsFlowsAndDrops() {
        let names = Self.names()
        let tracker = JourneyTracker(names: names)
        let d = Diagnosis()
        for j in Self.feed(tracker, Self.requestEvents(skb: 0xa, seq: 1) + Self.requestEvents(skb: 0xb, seq: 2, t0: 5_000_000)
                           + [TraceEvent(raw: Fixtures.kfreeSkbDrop())]) {
            d.add(j)
        }
        #expect(d.journeys == 3)
        #expect(d.flows.count == 2)
        let icmp = d.flows.first { $0.label == "icmp 198.18.10.2 > 198.18.10.3" }
        #expect(icmp?.packets == 2 && icmp?.outcomes["delivered"] == 2 && icmp?.forwarded == 2)
        #expect(d.drops.count == 1)
        #expect(d.drops.first?.key.reason == "NO_SOCKET")
        #expect(d.drops.first?.key.location == "tcp_v4_rcv+0x10")

        var b = ByteBuffer()
        JourneyTextFormatter(context: Fixtures.context(), names: names).diagnosis(d, into: &b)
        let text = String(decoding: b.bytes, as: UTF8.self)
        #expect(text.contains("1x NO_SOCKET at tcp_v4_rcv+0x10"), "\(text)")
        #expect(text.contains("icmp 198.18.10.2 > 198.18.10.3: 2 packets: 2 delivered, 2 forwarded"), "\(text)")
    }

    /// Flows are what their label shows: pings with two echo ids between the
    /// same hosts are one flow (the label has no id); two UDP port pairs are two.
    @Test func diagnosisFlowsFollowTheirLabels() {
        let tracker = JourneyTracker(names: Self.names())
        let d = Diagnosis()
        var other = Self.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3, seq: 1)
        other.icmp_id = 99
        let events = Self.requestEvents(skb: 0xa, seq: 1)
            + [Self.free(other, consume: true, at: Self.icmpRcv + 0x59, ns: Self.nsC2, ts: 3_000_000, skb: 0xb)]
        for j in Self.feed(tracker, events) { d.add(j) }
        let udp1 = Fixtures.udp()
        var udp2 = Fixtures.udp()
        udp2.sport &+= 1
        for (i, u) in [udp1, udp2].enumerated() {
            for j in Self.feed(tracker, [Self.free(u, consume: true, at: Self.icmpRcv, ns: Self.nsC2, ts: 4_000_000 + UInt64(i), skb: 0xc + UInt64(i))]) {
                d.add(j)
            }
        }
        #expect(d.journeys == 4)
        let labels = d.flows.map(\.label)
        #expect(labels.filter { $0 == "icmp 198.18.10.2 > 198.18.10.3" }.count == 1, "\(labels)")
        #expect(d.flows.first { $0.label == "icmp 198.18.10.2 > 198.18.10.3" }?.packets == 2)
        #expect(labels.filter { $0.hasPrefix("udp ") }.count == 2, "\(labels)")
        #expect(Set(labels).count == labels.count, "\(labels)")
    }

    /// Corrupt records can carry any location: past the cap, drop kinds share
    /// one "other" entry and no count is lost.
    @Test func diagnosisBoundsDropKinds() {
        let tracker = JourneyTracker(names: Self.names())
        let d = Diagnosis(maxDropKinds: 4)
        var events: [TraceEvent] = []
        for i in 0..<50 {
            var e = Fixtures.kfreeSkbDrop()
            e.skb = 0xffff_8881_0000_0000 + UInt64(i) * 0x1000
            e.location = Fixtures.tcpV4Rcv + UInt64(i)
            e.ts_ns += UInt64(i) * 1000
            events.append(TraceEvent(raw: e))
        }
        for j in Self.feed(tracker, events) { d.add(j) }
        #expect(d.journeys == 50)
        #expect(d.drops.count == 4, "\(d.drops.map(\.key))")
        #expect(d.drops.reduce(0) { $0 + $1.count } == 50)
        #expect(d.drops.last?.key.reason == "other" && d.drops.last?.count == 47)
    }

    @Test func textJourneyShowsHopsTimesPathAndDrop() {
        let names = Self.names()
        let events = Array(Self.requestEvents().dropLast())
            + [Self.free(Self.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3),
                         consume: false, at: Fixtures.tcpV4Rcv + 0x10, reason: 5, ns: Self.nsC2, ts: 1_030_000)]
        let j = Self.feed(JourneyTracker(names: names), events)[0]
        var b = ByteBuffer()
        JourneyTextFormatter(context: Fixtures.context(), names: names).journey(j, into: &b)
        let lines = String(decoding: b.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("#1 ICMP echo request 198.18.10.2 > 198.18.10.3 id 7 seq 1"), "\(lines)")
        #expect(lines[1].contains("+0.0us") && lines[1].contains("c1") && lines[1].contains("net_dev_queue"), "\(lines)")
        // Third hop: 5us after the first, 3us after the previous.
        #expect(lines[3].hasPrefix("  +5.0us") && lines[3].contains("+3.0us") && lines[3].contains("h2"), "\(lines)")
        #expect(lines.contains("  path: c1:eth0 -> host:h1 -> host:h2 -> c2:eth0 -> dropped (NETFILTER_DROP at tcp_v4_rcv+0x10)"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("  dropped: NETFILTER_DROP at tcp_v4_rcv+0x10 in c2") }, "\(lines)")
    }

    @Test func jsonJourneyHasHopsWithTimesOutcomeAndPath() throws {
        let names = Self.names()
        let journeys = Self.feed(JourneyTracker(names: names), Self.requestEvents())
        var b = ByteBuffer()
        JourneyJSONFormatter(context: Fixtures.context(), names: names).journey(journeys[0], into: &b)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
        #expect(o["type"] as? String == "journey")
        #expect(o["journey"] as? Int == 1)
        #expect(o["reply_to"] is NSNull)
        #expect(o["path_text"] as? String == "c1:eth0 -> host:h1 -> host:h2 -> c2:eth0 -> delivered (icmp_rcv)")
        let outcome = try #require(o["outcome"] as? [String: Any])
        #expect(outcome["kind"] as? String == "delivered")
        #expect(outcome["at"] as? String == "icmp_rcv")
        #expect(Set(outcome.keys) == ["kind", "at", "reason", "location", "netns", "explanation", "hint", "noise"])
        let path = try #require(o["path"] as? [[String: Any]])
        #expect(path.map { $0["netns_name"] as? String } == ["c1", "host", "host", "c2"])
        let hops = try #require(o["hops"] as? [[String: Any]])
        #expect(hops.count == 5)
        #expect(hops.map { $0["since_start_ns"] as? Int } == [0, 2_000, 5_000, 9_000, 20_000])
        #expect(hops.map { $0["since_prev_ns"] as? Int } == [0, 2_000, 3_000, 4_000, 11_000])
        #expect(hops[1]["tracked"] as? Bool == true)
        #expect(hops[0]["probe"] as? String == "net_dev_queue")
        for key in JSONFormatterTests.eventKeys where key != "type" {
            #expect(hops[0].keys.contains(key), "hop lacks event field \(key)")
        }
    }

    @Test func stackRecordsDecodeAndDropTheTracerFrames() throws {
        let bpfProg: UInt64 = 0xffff_ffff_c000_1000, traceRun: UInt64 = 0xffff_ffff_8100_0000
        var drop = Fixtures.kfreeSkbDrop()
        drop.flags |= FlatEvent.STACK
        let rec = TraceEvent(raw: drop, stack: [bpfProg, traceRun + 0x40, Fixtures.tcpV4Rcv + 0x10, Fixtures.ipRcv + 0x20])
        let bytes = EventRecord.bytes(rec)
        let e = try Fixtures.decode(bytes)
        #expect(e.stack == [bpfProg, traceRun + 0x40, Fixtures.tcpV4Rcv + 0x10, Fixtures.ipRcv + 0x20])
        let symbols = KernelSymbols(symbols: [(traceRun, "bpf_trace_run3"), (Fixtures.tcpV4Rcv, "tcp_v4_rcv"), (Fixtures.ipRcv, "ip_rcv")])
        #expect(StackFrames.symbolize(e.stack!, symbols: symbols) == ["tcp_v4_rcv+0x10", "ip_rcv+0x20"])
        // A stack record cut short is refused, not read past its end.
        #expect(throws: TraceEvent.DecodeError.truncated(bytes.count - 8)) { try Fixtures.decode(Array(bytes.dropLast(8))) }
    }
}

/// nettrace's `--min-latency` and `--diag-quiet`: which journeys are printed;
/// the diagnosis still counts every one.
@Suite struct JourneyFilterTests {
    /// Three packets: a 20 µs delivered request, a 5 µs one, and a 40 µs drop.
    static func events() -> [TraceEvent] {
        let slow = JourneyTests.requestEvents(skb: 0xffff_8881_0000_a000, seq: 1, t0: 1_000_000)
        var fast = JourneyTests.requestEvents(skb: 0xffff_8881_0000_b000, seq: 2, t0: 2_000_000)
        fast = Array(fast.prefix(2)) + [JourneyTests.free(fast[0].raw, consume: true, at: JourneyTests.icmpRcv + 0x59,
                                                           ns: JourneyTests.nsC2, ts: 2_005_000, skb: 0xffff_8881_0000_b000)]
        let req = JourneyTests.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3, seq: 3)
        let dropped = [
            JourneyTests.hop(req, ST_PROBE_NET_DEV_QUEUE, ns: JourneyTests.nsC1, ifname: "eth0", ts: 3_000_000, skb: 0xffff_8881_0000_c000),
            JourneyTests.free(req, consume: false, at: JourneyTests.icmpRcv + 0x10, reason: 5, ns: JourneyTests.nsC2, ts: 3_040_000,
                              skb: 0xffff_8881_0000_c000),
        ]
        return slow + fast + dropped
    }

    /// The seq of each journey printed, and how many packets the diagnosis counted.
    static func printed(_ filter: JourneyFilter) throws -> (seqs: [Int], diagnosed: Int) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-jf-\(UUID().uuidString)").path
        defer { unlink(path) }
        var o = TracerOptions()
        o.view = .timeline
        o.format = .json
        o.journeyFilter = filter
        let sink = try OutputSink(path: path)
        let context = Fixtures.context()
        let consumer = TracerSession.makeConsumer(o, sink: sink, formatter: makeFormatter(.json, context: context),
                                                  context: context, names: JourneyTests.names())
        consumer.begin()
        for e in events() { consumer.consume(e) }
        consumer.end()
        sink.flush()
        var seqs: [Int] = [], diagnosed = -1
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if o["type"] as? String == "journey" {
                let hop = try #require((o["hops"] as? [[String: Any]])?.first)
                seqs.append(hop["icmp_seq"] as? Int ?? -1)
            }
            if o["type"] as? String == "diagnosis" { diagnosed = o["packets"] as? Int ?? -1 }
        }
        return (seqs.sorted(), diagnosed)
    }

    @Test func minLatencyAndProblemsOnly() throws {
        #expect(try Self.printed(JourneyFilter()) == ([1, 2, 3], 3))
        #expect(try Self.printed(JourneyFilter(minDurationNs: 20_000)) == ([1, 3], 3), "20 µs is enough, 5 µs is not")
        #expect(try Self.printed(JourneyFilter(minDurationNs: 20_001)) == ([3], 3))
        #expect(try Self.printed(JourneyFilter(problemsOnly: true)) == ([3], 3), "only the drop")
        #expect(try Self.printed(JourneyFilter(minDurationNs: 50_000, problemsOnly: true)) == ([], 3))
    }
}
