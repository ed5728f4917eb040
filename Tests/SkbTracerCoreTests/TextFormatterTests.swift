import CSkbTracerABI
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// Expected lines are written out in full; the columns are TIME (16), NETWORK_NS (11),
/// CPU (4), INTERFACE (17), DEST_MAC (18), IP_LEN (7), PKT_INFO (52), then TRACE_INFO,
/// each padded with spaces to its width and followed by at least one space.
@Suite("Text output")
struct TextFormatterTests {
    @Test func icmpEchoLine() {
        let line = Fixtures.text([Fixtures.icmpEchoRequest()])[0]
        #expect(line == "23:13:20.123456 4026532290 1   ceth0            aa:bb:cc:dd:ee:ff 84     I_request:198.18.10.2->198.18.10.3 id=7 seq=1       0xffff88810a3b5d00.host:net_dev_queue ping/1234\n")
    }

    @Test func ipv6TCPLineWithMarkAndNoMAC() {
        let line = Fixtures.text([Fixtures.ipv6TCPSyn()])[0]
        #expect(line == "23:13:21.000001 4026531840 12  eth0             -                 80     T_SYN:[2001:db8::1]:40000->[2001:db8::2]:443        0xffff888112345600.host:netif_receive_skb curl/4242 mark=0x10\n")
    }

    /// A drop is explained under its line, as journeys and the diagnosis explain it.
    @Test func dropLineWithReasonAndLocation() throws {
        let line = Fixtures.text([Fixtures.kfreeSkbDrop()])[0]
        let x = try #require(DropExplanations.explain("NO_SOCKET"))
        #expect(line == "23:13:22.000000 4026531840 3   if3              02:00:00:00:00:02 60     T_SYN:10.0.0.1:40000->10.0.0.2:22                   0xffff888100001000.host:kfree_skb swapper/3/0 drop=NO_SOCKET at=tcp_v4_rcv+0x10\n"
                + "    why: \(x.explanation)\n    hint: \(x.hint)\n")
    }

    /// Once per reason, location and noise verdict: a second drop of a kind already
    /// explained is one line; another location, or known noise, is explained again.
    @Test func dropsExplainedOncePerKind() throws {
        let first = Fixtures.kfreeSkbDrop()
        var again = first
        again.ts_ns += 1000
        var elsewhere = first
        elsewhere.location = Fixtures.ipRcv + 0x1a
        var reset = first // a reset nobody has a connection for: known noise
        reset.tcp_flags = 0x04
        let out = Fixtures.text([first, again, elsewhere, reset, again])
        let lines = out.map { $0.split(separator: "\n").map(String.init) }
        #expect(lines.map(\.count) == [3, 1, 3, 2, 1], "\(out.joined())")
        let x = try #require(DropExplanations.explain("NO_SOCKET"))
        #expect(lines[2].dropFirst() == ["    why: \(x.explanation)", "    hint: \(x.hint)"])
        #expect(lines[3][1].hasPrefix("    known noise: a reset for a connection"), "\(lines[3])")
        // A new stream (a replay, another run) explains again.
        #expect(Fixtures.text([again])[0].split(separator: "\n").count == 3)
    }

    /// An event with nothing parsed: every column is `-` or 0.
    @Test func emptyEventLine() {
        var e = Fixtures.base()
        e.ts_ns = 5_123_456_789
        let line = Fixtures.text([e], .monotonic)[0]
        #expect(line == "5.123456        0          0   -                -                 -      -                                                   0x0.host:net_dev_queue /0\n")
    }

    @Test func headerLine() {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).header(into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self)
                == "TIME            NETWORK_NS CPU INTERFACE        DEST_MAC          IP_LEN PKT_INFO                                            TRACE_INFO\n")
    }

    @Test(arguments: [(TimeFormat.wallClock, "TIME "), (.monotonic, "TIMESTAMP "), (.relative, "RELATIVE ")])
    func headerTitleFollowsTimeFormat(_ format: TimeFormat, _ title: String) {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context(format)).header(into: &b)
        let header = String(decoding: b.bytes, as: UTF8.self)
        #expect(header.hasPrefix(title))
        // The time column keeps its width whatever the title.
        #expect(header.dropFirst(16).hasPrefix("NETWORK_NS "))
    }

    /// pwru's `--timestamp none`: no time column at all, the rest unchanged.
    @Test func noTimeColumn() {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context(.none)).header(into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self).hasPrefix("NETWORK_NS CPU "))
        let timed = Fixtures.text([Fixtures.icmpEchoRequest()])[0]
        #expect(Fixtures.text([Fixtures.icmpEchoRequest()], .none)[0] == String(timed.dropFirst(16)))
    }

    @Test func lostMarker() {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).lost(count: 5, cpu: 2, into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self) == "--- 5 events lost on CPU 2 (ring buffer full) ---\n")
    }

    @Test func lostAtEndMarker() {
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).lost(count: 7, cpu: UInt32.max, into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self) == "--- 7 events lost at the end of the trace (ring buffer full) ---\n")
    }

    /// A non-first fragment has no L4 header: no made-up ports.
    @Test func fragmentHasNoPorts() {
        var e = Fixtures.udp()
        e.flags &= ~Fixtures.L4
        let info = Fixtures.packetInfo(e)
        #expect(info.hasPrefix("U:") && info.hasSuffix(" (fragment)"), "\(info)")
        #expect(!info.contains(":0"), "\(info)")
    }

    // MARK: Time column

    static func timeColumn(_ line: String) -> String { String(line.prefix { $0 != " " }) }
    /// The event's own line, without what is printed under it.
    static func firstLine(_ text: String) -> String { String(text.prefix { $0 != "\n" }) }

    @Test func wallClockAppliesRealtimeAndUTCOffset() {
        let lines = Fixtures.text([Fixtures.icmpEchoRequest(), Fixtures.ipv6TCPSyn()], .wallClock)
        #expect(lines.map(Self.timeColumn) == ["23:13:20.123456", "23:13:21.000001"])
    }

    @Test func wallClockWrapsPastMidnight() {
        // 00:59:59.999999 local (UTC+1), i.e. 23:59:59.999999 UTC the previous day.
        let clock = Clock(realtimeOffsetNs: 86_399 * 1_000_000_000, utcOffsetSeconds: 3600)
        var b = ByteBuffer()
        clock.appendWallClock(999_999_000, to: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self) == "00:59:59.999999")
        // West of UTC: 2023-11-14T22:13:20Z is 17:13:20 at UTC-5.
        var w = ByteBuffer()
        Clock(realtimeOffsetNs: 1_700_000_000_000_000_000, utcOffsetSeconds: -5 * 3600).appendWallClock(7_000, to: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "17:13:20.000007")
    }

    @Test func monotonicSeconds() {
        var e = Fixtures.icmpEchoRequest()
        e.ts_ns = 123_000_000_042   // sub-microsecond part is cut, not rounded
        let lines = Fixtures.text([Fixtures.icmpEchoRequest(), e], .monotonic)
        #expect(lines.map(Self.timeColumn) == ["5.123456", "123.000000"])
        #expect(lines[0].hasPrefix("5.123456        4026532290 "))
    }

    /// nettrace's --date: local date and time; the columns after it shift as one.
    @Test func dateAndTime() {
        let line = Fixtures.text([Fixtures.kfreeSkbDrop()], .date)[0].prefix { $0 != "\n" } + "\n"
        #expect(line == "2023-11-14 23:13:22.000000 4026531840 3   if3              02:00:00:00:00:02 60     T_SYN:10.0.0.1:40000->10.0.0.2:22                   0xffff888100001000.host:kfree_skb swapper/3/0 drop=NO_SOCKET at=tcp_v4_rcv+0x10\n")
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context(.date)).header(into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self).dropFirst(27).hasPrefix("NETWORK_NS "))
        var w = ByteBuffer()
        // Across midnight and a year boundary in local time (UTC-6).
        Clock(realtimeOffsetNs: 1_704_085_200_000_000_000, utcOffsetSeconds: -6 * 3600).appendDateTime(1_000, to: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "2023-12-31 23:00:00.000001")
    }

    @Test func relativeToFirstEvent() {
        let f = TextFormatter(context: Fixtures.context(.relative))
        var times: [String] = []
        for ts: UInt64 in [10_000_000_000, 10_000_000_999, 11_500_250_000, 75_000_000_000] {
            var e = Fixtures.udp()
            e.ts_ns = ts
            var b = ByteBuffer()
            f.event(TraceEvent(raw: e), into: &b)
            times.append(Self.timeColumn(String(decoding: b.bytes, as: UTF8.self)))
        }
        #expect(times == ["0.000000", "0.000000", "1.500250", "65.000000"])
    }

    // MARK: Trace info

    @Test func unknownDropReasonAndUnsymbolizedLocation() {
        var e = Fixtures.kfreeSkbDrop()
        e.drop_reason = 99
        e.location = 0xffff_ffff_8100_0000   // below every known symbol
        let line = Fixtures.text([e])[0]
        #expect(line.hasSuffix(":kfree_skb swapper/3/0 drop=REASON_99 at=0xffffffff81000000\n"))
    }

    @Test func locationPicksNearestLowerSymbol() {
        var e = Fixtures.kfreeSkbDrop()
        e.location = Fixtures.ipRcv + 0x1a
        e.drop_reason = 5
        #expect(Self.firstLine(Fixtures.text([e])[0]).hasSuffix(" drop=NETFILTER_DROP at=ip_rcv+0x1a"))
    }

    /// consume_skb has a location but is not a drop.
    @Test func locationWithoutDrop() {
        var e = Fixtures.kfreeSkbDrop()
        e.probe = UInt16(ST_PROBE_CONSUME_SKB.rawValue)
        e.flags &= ~Fixtures.DROP
        let line = Fixtures.text([e])[0]
        #expect(line.hasSuffix(":consume_skb swapper/3/0 at=tcp_v4_rcv+0x10\n"))
        #expect(!line.contains("drop="))
    }

    @Test func locationZeroOrNotFlaggedIsNotPrinted() {
        var e = Fixtures.kfreeSkbDrop()
        e.location = 0
        #expect(Self.firstLine(Fixtures.text([e])[0]).hasSuffix(" drop=NO_SOCKET"))
        var f = Fixtures.kfreeSkbDrop()
        f.flags &= ~Fixtures.LOC
        #expect(Self.firstLine(Fixtures.text([f])[0]).hasSuffix(" drop=NO_SOCKET"))
    }

    @Test func packetTypeNames() {
        var e = Fixtures.udp()
        for (v, name) in [(UInt8(0), "host"), (1, "broadcast"), (2, "multicast"), (3, "otherhost"),
                          (4, "outgoing"), (5, "loopback"), (6, "user"), (7, "kernel"), (9, "type9")] {
            e.pkt_type = v
            #expect(Fixtures.text([e])[0].contains(" 0xffff888100002000.\(name):net_dev_xmit dig/77\n"), "\(v)")
        }
    }

    /// A PKT_INFO wider than its column still leaves one space before TRACE_INFO.
    @Test func overlongColumnKeepsOneSpace() {
        var e = Fixtures.ipv6TCPSyn()
        Fixtures.set(&e.saddr, [0x20, 0x01, 0x0d, 0xb8, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66])
        Fixtures.set(&e.daddr, [0x20, 0x01, 0x0d, 0xb8, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x77, 0x77])
        e.tcp_flags = 0x12
        Fixtures.set(&e.ifname, string: "averylongname15")
        let line = Fixtures.text([e])[0]
        #expect(line.contains(" averylongname15  -"))
        #expect(line.contains(" T_SYN,ACK:[2001:db8:1111:2222:3333:4444:5555:6666]:40000->[2001:db8:1111:2222:3333:4444:5555:7777]:443 0xffff888112345600.host:"))
    }

    // MARK: PKT_INFO forms

    @Test func tcpSynAck() {
        var e = Fixtures.base()
        e.flags = Fixtures.L3 | Fixtures.L4
        e.l3_proto = 0x0800
        e.l4_proto = 6
        Fixtures.set(&e.saddr, [1, 2, 3, 4])
        Fixtures.set(&e.daddr, [5, 6, 7, 8])
        e.sport = 22
        e.dport = 1000
        e.tcp_flags = 0x12
        #expect(Fixtures.packetInfo(e) == "T_SYN,ACK:1.2.3.4:22->5.6.7.8:1000")
    }

    @Test(arguments: [
        (UInt8(0x02), "SYN"), (0x12, "SYN,ACK"), (0x11, "ACK,FIN"), (0x04, "RST"), (0x14, "ACK,RST"),
        (0x18, "ACK,PSH"), (0x20, "URG"), (0xc2, "SYN,ECE,CWR"), (0xff, "SYN,ACK,FIN,RST,PSH,URG,ECE,CWR"),
        (0x00, "none"),
    ])
    func tcpFlagNames(_ flags: UInt8, _ text: String) {
        var e = Fixtures.kfreeSkbDrop()
        e.tcp_flags = flags
        #expect(Fixtures.packetInfo(e) == "T_\(text):10.0.0.1:40000->10.0.0.2:22")
    }

    @Test func udpInfo() {
        #expect(Fixtures.packetInfo(Fixtures.udp()) == "U:10.0.0.1:5353->10.0.0.2:53")
    }

    @Test func udpOverIPv6UsesBrackets() {
        var e = Fixtures.ipv6TCPSyn()
        e.l4_proto = 17
        e.sport = 546
        e.dport = 547
        #expect(Fixtures.packetInfo(e) == "U:[2001:db8::1]:546->[2001:db8::2]:547")
    }

    @Test func tcpOverIPv6UsesBrackets() {
        #expect(Fixtures.packetInfo(Fixtures.ipv6TCPSyn()) == "T_SYN:[2001:db8::1]:40000->[2001:db8::2]:443")
    }

    @Test func icmpEchoRequestInfo() {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_id = 1
        e.icmp_seq = 2
        Fixtures.set(&e.saddr, [1, 1, 1, 1])
        Fixtures.set(&e.daddr, [2, 2, 2, 2])
        #expect(Fixtures.packetInfo(e) == "I_request:1.1.1.1->2.2.2.2 id=1 seq=2")
    }

    @Test func icmpEchoReply() {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_type = 0
        #expect(Fixtures.packetInfo(e) == "I_reply:198.18.10.2->198.18.10.3 id=7 seq=1")
    }

    @Test func icmpErrorShowsCodeNotEchoFields() {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_type = 3
        e.icmp_code = 3
        #expect(Fixtures.packetInfo(e) == "I_unreachable/3:198.18.10.2->198.18.10.3")
        e.icmp_type = 11
        e.icmp_code = 0
        #expect(Fixtures.packetInfo(e) == "I_time-exceeded:198.18.10.2->198.18.10.3")
        e.icmp_type = 42
        #expect(Fixtures.packetInfo(e) == "I_type42:198.18.10.2->198.18.10.3")
    }

    @Test func icmpWithoutL4() {
        var e = Fixtures.icmpEchoRequest()
        e.flags = Fixtures.L3
        #expect(Fixtures.packetInfo(e) == "I_:198.18.10.2->198.18.10.3")
    }

    @Test func icmp6EchoReply() {
        var e = Fixtures.ipv6TCPSyn()
        e.l4_proto = 58
        e.icmp_type = 129
        e.icmp_id = 1
        e.icmp_seq = 2
        #expect(Fixtures.packetInfo(e) == "I6_reply:2001:db8::1->2001:db8::2 id=1 seq=2")
        e.icmp_type = 128
        #expect(Fixtures.packetInfo(e) == "I6_request:2001:db8::1->2001:db8::2 id=1 seq=2")
        e.icmp_type = 135
        #expect(Fixtures.packetInfo(e) == "I6_neigh-solicit:2001:db8::1->2001:db8::2")
        e.icmp_type = 1
        e.icmp_code = 4
        #expect(Fixtures.packetInfo(e) == "I6_unreachable/4:2001:db8::1->2001:db8::2")
    }

    @Test func arpForms() {
        var e = Fixtures.arpRequest()
        #expect(Fixtures.packetInfo(e) == "A_request:10.0.0.1->10.0.0.2")
        e.icmp_type = 2
        #expect(Fixtures.packetInfo(e) == "A_reply:10.0.0.1->10.0.0.2")
        e.icmp_type = 3
        #expect(Fixtures.packetInfo(e) == "A:10.0.0.1->10.0.0.2")
    }

    @Test func arpLineHasNoIPLength() {
        let line = Fixtures.text([Fixtures.arpRequest()])[0]
        #expect(line.contains(" veth1            ff:ff:ff:ff:ff:ff -      A_request:10.0.0.1->10.0.0.2 "))
        #expect(line.hasSuffix(".broadcast:netif_receive_skb /0\n"))
    }

    /// A task name with a newline or an escape must not break one line per event.
    @Test func controlBytesInCommAreReplaced() {
        var e = Fixtures.udp()
        Fixtures.set(&e.comm, [UInt8(ascii: "a"), 0x0a, 0x1b, UInt8(ascii: "b")])
        let line = Fixtures.text([e])[0]
        #expect(line.contains(" a??b/"))
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
    }

    @Test func socketTupleIsMarked() {
        let e = Fixtures.socketTuple()
        let info = Fixtures.packetInfo(e)
        // No flags to show: the socket has none.
        #expect(info == "T:10.0.0.1:22->10.0.0.2:5000 (socket)")
    }

    @Test func otherL4Protocol() {
        var e = Fixtures.udp()
        e.l4_proto = 47
        #expect(Fixtures.packetInfo(e) == "P_47:10.0.0.1->10.0.0.2")
    }

    @Test func noL3() {
        var e = Fixtures.base()
        #expect(Fixtures.packetInfo(e) == "-")
        e.l3_proto = 0x88cc
        #expect(Fixtures.packetInfo(e) == "L3_0x88cc")
        e.l3_proto = 0x0800   // known protocol, header not parsed
        #expect(Fixtures.packetInfo(e) == "L3_ipv4")
    }
}

/// PacketText's own IPv6 writer against glibc's inet_ntop.
@Suite struct IPv6TextTests {
    static func ours(_ bytes: [UInt8]) -> String {
        var b = ByteBuffer()
        bytes.withUnsafeBytes { PacketText.appendIPv6($0, to: &b) }
        return String(decoding: b.bytes, as: UTF8.self)
    }

    static func glibc(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { IPAddress.format($0.baseAddress!, isIPv4: false) }
    }

    /// IPAddress.description goes through the same writer now (journeys and
    /// the diagnosis print addresses): still inet_ntop's text, IPv4 included.
    @Test func addressDescriptionMatchesInetNtop() {
        var rng = SystemRandomNumberGenerator()
        for i in 0..<3000 {
            let v4 = i % 2 == 0
            var bytes = (0..<(v4 ? 4 : 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Runs of zeros are where IPv6 text differs most.
            if !v4 && i % 3 == 0 { for j in (i % 7)..<min(16, i % 7 + 2 * (i % 5 + 1)) { bytes[j] = 0 } }
            let a = IPAddress(bytes: bytes)!
            #expect(a.description == bytes.withUnsafeBufferPointer { IPAddress.format($0.baseAddress!, isIPv4: v4) }, "\(bytes)")
        }
    }

    @Test func matchesInetNtop() {
        var special: [[UInt8]] = [
            Array(repeating: 0, count: 16),
            Array(repeating: 0, count: 15) + [1],
            Array(repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1],
            Array(repeating: 0, count: 12) + [10, 0, 0, 1],
            Array(repeating: 0, count: 12) + [0, 0, 0, 2],
            [0xfe, 0x80] + Array(repeating: 0, count: 13) + [1],
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0],
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            [0xff, 0x02] + Array(repeating: 0, count: 13) + [0x16],
            Array(repeating: 0xff, count: 16),
        ]
        // Random addresses with many zero words, to hit every compression case.
        var state: UInt64 = 0x5eed_1234
        for _ in 0..<20_000 {
            var a = [UInt8](repeating: 0, count: 16)
            for w in 0..<8 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                if state >> 61 < 4 { continue } // about half the words stay zero
                a[2 * w] = UInt8(truncatingIfNeeded: state >> 24)
                a[2 * w + 1] = UInt8(truncatingIfNeeded: state >> 40) & (state >> 60 == 7 ? 0 : 0xff)
            }
            special.append(a)
        }
        for a in special {
            #expect(Self.ours(a) == Self.glibc(a), "\(a)")
        }
    }
}
