import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// `--ct`: the conntrack entry after the event, decoded and printed.
@Suite struct ConntrackTests {
    static func tuple(_ s: [UInt8], _ d: [UInt8], _ sp: UInt16, _ dp: UInt16) -> st_ct_tuple {
        var t = st_ct_tuple()
        Fixtures.set(&t.saddr, s)
        Fixtures.set(&t.daddr, d)
        t.sport = sp
        t.dport = dp
        return t
    }

    /// 10.0.0.1:5353 -> 10.0.0.2:53 over UDP; with SNAT to 10.0.0.9 the reply comes back to 10.0.0.9.
    static func entry(snat: Bool, ctinfo: UInt8 = 2, mark: UInt32 = 0, zone: UInt16 = 0) -> st_ct {
        var ct = st_ct()
        ct.orig = tuple(Fixtures.v4_10_0_0_1, Fixtures.v4_10_0_0_2, 5353, 53)
        ct.reply = tuple(Fixtures.v4_10_0_0_2, snat ? [10, 0, 0, 9] : Fixtures.v4_10_0_0_1, 53, snat ? 61000 : 5353)
        ct.status = (1 << 3) | (snat ? 1 << 4 : 0)
        ct.mark = mark
        ct.zone = zone
        ct.ctinfo = ctinfo
        ct.family = 4
        ct.protonum = 17
        return ct
    }

    static func text(_ ev: TraceEvent) -> String {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).event(ev, into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    @Test func textShowsStateNATAndTuples() {
        let plain = Self.text(TraceEvent(raw: Fixtures.udp(), ct: Self.entry(snat: false)))
        #expect(plain.hasSuffix(" dig/77 ct=new orig=10.0.0.1:5353->10.0.0.2:53\n"), "\(plain)")
        let nat = Self.text(TraceEvent(raw: Fixtures.udp(), ct: Self.entry(snat: true, ctinfo: 3, mark: 0x10, zone: 7)))
        #expect(nat.hasSuffix(" ct=established,reply,snat ctmark=0x10 zone=7 orig=10.0.0.1:5353->10.0.0.2:53 reply=10.0.0.2:53->10.0.0.9:61000\n"),
                "\(nat)")
        var untracked = st_ct()
        untracked.ctinfo = 7
        #expect(Self.text(TraceEvent(raw: Fixtures.udp(), ct: untracked)).hasSuffix(" ct=untracked\n"))
        var icmp = Self.entry(snat: false)
        icmp.protonum = 1
        icmp.orig.sport = 42
        icmp.reply = Self.tuple(Fixtures.v4_10_0_0_2, Fixtures.v4_10_0_0_1, 42, 0)
        #expect(Self.text(TraceEvent(raw: Fixtures.udp(), ct: icmp)).hasSuffix(" ct=new orig=10.0.0.1->10.0.0.2 id=42\n"))
        // NAT that remaps only the echo id still shows the reply tuple.
        icmp.reply.sport = 43
        #expect(Self.text(TraceEvent(raw: Fixtures.udp(), ct: icmp))
                    .hasSuffix(" ct=new orig=10.0.0.1->10.0.0.2 id=42 reply=10.0.0.2->10.0.0.1 id=43\n"))
        var template = st_ct()
        template.status = 1 << 11
        template.ctinfo = 2
        #expect(Self.text(TraceEvent(raw: Fixtures.udp(), ct: template)).hasSuffix(" ct=template\n"))
    }

    @Test func jsonICMPTuple() throws {
        var icmp = Self.entry(snat: false)
        icmp.protonum = 1
        icmp.orig = Self.tuple(Fixtures.v4_10_0_0_1, Fixtures.v4_10_0_0_2, 42, 8 << 8)
        var b = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).event(TraceEvent(raw: Fixtures.udp(), ct: icmp), into: &b)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
        let orig = try #require((o["ct"] as? [String: Any])?["orig"] as? [String: Any])
        #expect(orig["icmp_id"] as? Int == 42 && orig["icmp_type"] as? Int == 8 && orig["icmp_code"] as? Int == 0)
        #expect(orig["sport"] == nil)
    }

    @Test func jsonObject() throws {
        var b = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).event(TraceEvent(raw: Fixtures.udp(), ct: Self.entry(snat: true)), into: &b)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
        let ct = try #require(o["ct"] as? [String: Any])
        #expect(ct["state"] as? String == "new" && ct["direction"] as? String == "original")
        #expect(ct["status"] as? [String] == ["confirmed", "snat"] && ct["l4_proto"] as? String == "udp")
        let reply = try #require(ct["reply"] as? [String: Any])
        #expect(reply["daddr"] as? String == "10.0.0.9" && reply["dport"] as? Int == 61000)
        var untracked = st_ct()
        untracked.ctinfo = 7
        var u = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).event(TraceEvent(raw: Fixtures.udp(), ct: untracked), into: &u)
        let uo = try #require(try JSONSerialization.jsonObject(with: Data(u.bytes)) as? [String: Any])
        let uct = try #require(uo["ct"] as? [String: Any])
        #expect(uct["state"] as? String == "untracked" && uct["orig"] is NSNull)
    }

    /// Both layouts (with and without a stack) decode, and a recording keeps them.
    @Test func decodeAndRecord() throws {
        for stack in [nil, [UInt64(0xffff_ffff_8100_0010), 0xffff_ffff_8100_0020]] {
            var raw = Fixtures.udp()
            if stack != nil { raw.flags |= FlatEvent.STACK }
            let ev = TraceEvent(raw: raw, stack: stack, ct: Self.entry(snat: true))
            var b = ByteBuffer()
            RecordFormat.appendEvent(ev, to: &b)
            #expect(b.count == FlatEvent.plainSize + MemoryLayout<st_sec_ct>.size + (stack.map { 8 + 8 * $0.count } ?? 0))
            let back = try Fixtures.decode(b.bytes)
            #expect(back.stack == stack)
            #expect(Self.text(back) == Self.text(ev))
        }
    }

    /// A local DNAT sent 10.0.0.1:5353 -> 10.0.0.2:53 to 10.0.0.9:5300: every
    /// event shows .9, the entry's original tuple what the application used.
    static func dnat(ctinfo: UInt8, status: UInt32 = (1 << 3) | (1 << 5)) -> TraceEvent {
        var e = Fixtures.udp()
        if ctinfo == 3 { // the reply, before conntrack restores the source
            Fixtures.set(&e.saddr, [10, 0, 0, 9]); Fixtures.set(&e.daddr, Fixtures.v4_10_0_0_1)
            e.sport = 5300; e.dport = 5353
        } else {
            Fixtures.set(&e.daddr, [10, 0, 0, 9]); e.dport = 5300
        }
        var ct = entry(snat: false, ctinfo: ctinfo)
        ct.reply = tuple([10, 0, 0, 9], Fixtures.v4_10_0_0_1, 5300, 5353)
        ct.status = status
        return TraceEvent(raw: e, ct: ct)
    }

    /// Replay with --ct's entries: what BPF's ST_F_CT_TUPLE matches live.
    @Test func filtersMatchTheConnectionAsTheApplicationAddressedIt() throws {
        func f(_ o: (inout TraceFilter.Options) -> Void) throws -> TraceFilter {
            var opts = TraceFilter.Options()
            o(&opts)
            return try TraceFilter.parse(opts)
        }
        let toX = try f { $0.daddr = "10.0.0.2" }, toPort = try f { $0.dport = "53" }
        let fromX = try f { $0.saddr = "10.0.0.2" }, either = try f { $0.addr = "10.0.0.2"; $0.sport = "53" }
        let request = Self.dnat(ctinfo: 2), established = Self.dnat(ctinfo: 0), reply = Self.dnat(ctinfo: 3)
        #expect(toX.matches(request) && toX.matches(established) && toPort.matches(request))
        #expect(!fromX.matches(request) && !either.matches(request))
        // The reply: the original tuple reversed, as the application receives it.
        #expect(fromX.matches(reply) && either.matches(reply) && !toX.matches(reply))
        // Without the entry, the packet alone decides.
        var bare = request
        bare.ct = nil
        #expect(!toX.matches(bare) && !toPort.matches(bare))
        // No NAT: the original tuple is the packet's own, so it is not looked at;
        // a related packet's entry is another packet's connection.
        #expect(!toX.matches(Self.dnat(ctinfo: 2, status: 1 << 3)))
        #expect(!toX.matches(Self.dnat(ctinfo: 1)))
        // The filters NAT does not rewrite still apply to the packet.
        #expect(!(try f { $0.daddr = "10.0.0.2"; $0.proto = "tcp" }).matches(request))
        // Live, the entry counts under --track or --ct, with an address or port filter.
        #expect(config(toX).filter_flags & ST_F_CT_TUPLE.rawValue == 0)
        var c = st_config()
        toX.apply(to: &c, conntrack: true)
        #expect(c.filter_flags & ST_F_CT_TUPLE.rawValue != 0)
        var noTuple = st_config()
        try f { $0.proto = "udp" }.apply(to: &noTuple, conntrack: true)
        #expect(noTuple.filter_flags & ST_F_CT_TUPLE.rawValue == 0)
    }
}

