import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// Route lookups (`--route`): their records, text, JSON, recordings and journeys.
@Suite struct RouteTests {
    static func route(table: UInt32 = 254, err: Int32 = 0, gateway: [UInt8] = [], dev: String = "eth1",
                      iif: Int32 = 3, oif: Int32 = 0) -> st_route {
        var r = st_route()
        r.table = table
        r.err = err
        r.iif = iif
        r.oif = oif
        Fixtures.set(&r.dev, string: dev)
        if !gateway.isEmpty {
            Fixtures.set(&r.gateway, gateway)
            r.gw_family = gateway.count == 4 ? 4 : 6
        }
        return r
    }

    /// The host's lookup for a received UDP packet: the packet's own fields and skb,
    /// its own addresses looked up unless `lookup` says which (after DNAT).
    static func packetLookup(_ r: st_route, lookup: ([UInt8], [UInt8])? = nil) -> TraceEvent {
        var e = Fixtures.udp()
        e.probe = UInt16(ST_PROBE_FIB_TABLE_LOOKUP.rawValue)
        var r = r
        r.saddr = e.saddr
        r.daddr = e.daddr
        if let (s, d) = lookup { Fixtures.set(&r.saddr, s); Fixtures.set(&r.daddr, d) }
        return TraceEvent(raw: e, route: r)
    }

    /// A socket choosing its route: a flow, no skb, source not chosen yet.
    static func flowLookup(_ r: st_route, proto: UInt8 = 17) -> TraceEvent {
        var e = Fixtures.base(ST_PROBE_FIB_TABLE_LOOKUP)
        e.ts_ns = 6_000_000_000
        e.netns = 4_026_532_001
        e.flags = Fixtures.L3 | (proto == 17 ? Fixtures.L4 : 0)
        e.l3_proto = 0x0800
        Fixtures.set(&e.daddr, Fixtures.v4_10_0_0_2)
        e.l4_proto = proto
        if proto == 17 { e.sport = 40000; e.dport = 53 }
        Fixtures.set(&e.comm, string: "dig")
        e.pid = 77
        var r = r
        r.saddr = e.saddr
        r.daddr = e.daddr
        return TraceEvent(raw: e, route: r)
    }

    static func text(_ ev: TraceEvent) -> String {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).event(ev, into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    static func json(_ ev: TraceEvent) throws -> [String: Any] {
        var b = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).event(ev, into: &b)
        return try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
    }

    @Test func decodesTheRouteTail() throws {
        let ev = Self.packetLookup(Self.route(gateway: [10, 0, 0, 254]))
        let bytes = EventRecord.bytes(ev)
        #expect(bytes.count == FlatEvent.routeSize)
        let decoded = try Fixtures.decode(bytes)
        let r = try #require(decoded.route)
        #expect(r.table == 254 && r.gw_family == 4 && r.iif == 3)
        #expect(decoded.stack == nil && decoded.header.skb == ev.header.skb)
        // One byte short of a route record is not one.
        #expect(throws: TraceEvent.DecodeError.truncated(bytes.count - 1)) { try Fixtures.decode(Array(bytes.dropLast())) }
        // A record size one short of it leaves the route section running past the record.
        var wrong = bytes
        let short = UInt16(FlatEvent.routeSize - 1)
        wrong[2] = UInt8(short & 0xff)
        wrong[3] = UInt8(short >> 8)
        #expect(throws: TraceEvent.DecodeError.badSection(UInt16(ST_SEC_ROUTE.rawValue))) { try Fixtures.decode(wrong) }
    }

    @Test func textShowsTableGatewayDeviceOrError() {
        let connected = Self.text(Self.packetLookup(Self.route()))
        #expect(connected.contains("0xffff888100002000.outgoing:fib_table_lookup dig/77 route=main dev eth1\n"), "\(connected)")
        #expect(connected.contains("U:10.0.0.1:5353->10.0.0.2:53"))
        let via = Self.text(Self.packetLookup(Self.route(gateway: [10, 0, 0, 254], dev: "eth0")))
        #expect(via.hasSuffix(" route=main via 10.0.0.254 dev eth0\n"), "\(via)")
        let v6gw = Self.text(Self.packetLookup(Self.route(table: 100, gateway: Fixtures.v6_db8_1)))
        #expect(v6gw.hasSuffix(" route=100 via 2001:db8::1 dev eth1\n"), "\(v6gw)")
        let none = Self.text(Self.packetLookup(Self.route(err: -101, dev: "-")))
        #expect(none.hasSuffix(" route=main ENETUNREACH (no route)\n"), "\(none)")
        let local = Self.text(Self.packetLookup(Self.route(table: 255, err: -11, dev: "")))
        #expect(local.hasSuffix(" route=local EAGAIN (no matching route in this table)\n"), "\(local)")
    }

    /// DNAT before routing: the packet keeps its own tuple (journeys see no rewrite
    /// at the lookup), the line says what was looked up.
    @Test func lookupForOtherAddressesIsShown() throws {
        let ev = Self.packetLookup(Self.route(), lookup: (Fixtures.v4_10_0_0_1, [10, 9, 9, 9]))
        let line = Self.text(ev)
        #expect(line.contains("U:10.0.0.1:5353->10.0.0.2:53"), "\(line)")
        #expect(line.hasSuffix(" lookup=10.0.0.1->10.9.9.9 route=main dev eth1\n"), "\(line)")
        let r = try #require(try Self.json(ev)["route"] as? [String: Any])
        #expect(r["saddr"] as? String == "10.0.0.1" && r["daddr"] as? String == "10.9.9.9")
        #expect(try Self.json(ev)["daddr"] as? String == "10.0.0.2")
    }

    /// Attribution needs receive probes that see GRO lists; route probes alone only note.
    @Test func routeModeFollowsTheProbes() throws {
        let route = ProbeCatalogue.all.filter(\.isRoute)
        let note = UInt8(ST_ROUTE_NOTE.rawValue), attribute = UInt8(ST_ROUTE_ATTRIBUTE.rawValue)
        #expect(TracerSession.routeMode(ProbeCatalogue.defaults) == 0)
        #expect(TracerSession.routeMode(ProbeCatalogue.defaults + route) == note | attribute)
        #expect(TracerSession.routeMode(route) == note)
        #expect(TracerSession.routeMode(try ProbeCatalogue.select(["netif_receive_skb", "route"])) == note)
    }

    @Test func aFlowHasNoSkbLengthOrInterface() {
        let line = Self.text(Self.flowLookup(Self.route(gateway: [10, 0, 0, 254], dev: "eth0")))
        let cols = line.split(separator: " ", omittingEmptySubsequences: true)
        // TIME NETNS CPU IF MAC LEN PKT TRACE...
        #expect(cols[3] == "-" && cols[4] == "-" && cols[5] == "-", "\(line)")
        #expect(cols[6] == "U:0.0.0.0:40000->10.0.0.2:53", "\(line)")
        #expect(cols[7] == "-:fib_table_lookup", "\(line)")
        let icmp = Self.text(Self.flowLookup(Self.route(), proto: 1))
        #expect(icmp.contains(" I:0.0.0.0->10.0.0.2 "), "\(icmp)")
        let any = Self.text(Self.flowLookup(Self.route(), proto: 0))
        #expect(any.contains(" 0.0.0.0->10.0.0.2 "), "\(any)")
    }

    @Test func jsonRouteObject() throws {
        let o = try Self.json(Self.packetLookup(Self.route(gateway: [10, 0, 0, 254], dev: "eth0", oif: 2)))
        let r = try #require(o["route"] as? [String: Any])
        #expect(r["table"] as? Int == 254 && r["table_name"] as? String == "main")
        #expect(r["result"] as? String == "found" && r["error"] is NSNull)
        #expect(r["gateway"] as? String == "10.0.0.254" && r["dev"] as? String == "eth0")
        #expect(r["iif"] as? Int == 3 && r["oif"] as? Int == 2)
        #expect(o["skb"] as? String == "0xffff888100002000" && o["ip_len"] as? Int == 60)

        let flow = try Self.json(Self.flowLookup(Self.route(err: -113, dev: "-")))
        let fr = try #require(flow["route"] as? [String: Any])
        #expect(fr["error"] as? String == "EHOSTUNREACH" && fr["result"] as? String == "unreachable route")
        #expect(fr["gateway"] is NSNull && fr["dev"] is NSNull)
        #expect(flow["skb"] is NSNull && flow["pkt_type"] is NSNull && flow["ip_len"] is NSNull && flow["ttl"] is NSNull)
        #expect(flow["sport"] as? Int == 40000 && flow["daddr"] as? String == "10.0.0.2")
        #expect(try Self.json(TraceEvent(raw: Fixtures.udp()))["route"] is NSNull)
    }

    /// Replay filters a flow as BPF does: no mark or interface to match.
    @Test func replayFiltersFlowsAsBPF() throws {
        let flow = Self.flowLookup(Self.route())
        var o = TraceFilter.Options()
        o.mark = "0"
        #expect(try !TraceFilter.parse(o).matches(flow))
        o = TraceFilter.Options(); o.daddr = "10.0.0.2"; o.proto = "udp"; o.dport = "53"
        #expect(try TraceFilter.parse(o).matches(flow))
        o = TraceFilter.Options(); o.pktLen = "0-65535"
        #expect(try TraceFilter.parse(o).matches(Self.packetLookup(Self.route())))
        #expect(try !TraceFilter.parse(o).matches(flow))
    }

    /// A recording keeps the route tail; replay prints what the live trace printed.
    @Test func recordingKeepsTheRoute() throws {
        for ev in [Self.packetLookup(Self.route(gateway: [10, 0, 0, 254])), Self.flowLookup(Self.route(err: -101))] {
            var b = ByteBuffer()
            RecordFormat.appendEvent(ev, to: &b)
            #expect(b.count == FlatEvent.routeSize)
            let back = try Fixtures.decode(b.bytes)
            #expect(Self.text(back) == Self.text(ev))
        }
    }

    /// A flow joins no journey; a packet's lookup between its receive and its
    /// consume is a hop that leaves the outcome as it was.
    @Test func journeysTakeThePacketsLookupsOnly() throws {
        let tracker = JourneyTracker(names: JourneyTests.names())
        #expect(tracker.add(Self.flowLookup(Self.route())).isEmpty && tracker.openCount == 0)
        let base = Fixtures.icmpEchoRequest()
        let skb: UInt64 = 0xffff_8881_0000_a000
        _ = tracker.add(JourneyTests.hop(base, ST_PROBE_NETIF_RECEIVE_SKB, ns: JourneyTests.nsC2, ifname: "eth0", ts: 1_000, skb: skb))
        var lookup = JourneyTests.hop(base, ST_PROBE_FIB_TABLE_LOOKUP, ns: JourneyTests.nsC2, ifname: "eth0", ts: 2_000, skb: skb)
        lookup.route = Self.route(table: 255, dev: "eth0")
        _ = tracker.add(lookup)
        let ended = tracker.add(JourneyTests.free(base, consume: true, at: JourneyTests.icmpRcv, ns: JourneyTests.nsC2, ts: 3_000, skb: skb))
        let j = try #require(ended.first)
        #expect(j.events.count == 3)
        #expect(j.outcome == .delivered(at: "icmp_rcv"), "\(j.outcome)")
        var b = ByteBuffer()
        JourneyTextFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &b)
        let text = String(decoding: b.bytes, as: UTF8.self)
        #expect(text.contains("fib_table_lookup") && text.contains(" route=local dev eth0"), "\(text)")
    }
}
