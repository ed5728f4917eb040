import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

@Suite("JSON output")
struct JSONFormatterTests {
    /// The keys JSONFormatter writes for an event, every one on every line.
    static let eventKeys: Set<String> = [
        "type", "time", "ts_ns", "relative_ns", "probe", "function", "cpu", "pid", "tid", "comm", "netns", "ifindex",
        "ifname", "dmac", "smac", "l3_proto", "ip_len", "ttl", "saddr", "daddr", "l4_proto", "sport", "dport",
        "tcp_flags", "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "arp_op", "tuple_from_socket", "skb", "pkt_type",
        "mark", "len", "drop_reason", "drop_reason_code", "location", "caller", "drop_explanation", "drop_hint", "drop_noise",
        "tracked", "stack", "route", "netfilter", "ct", "sock", "skb_dump", "tunnel", "lost_before",
    ]

    static func render(_ events: [FlatEvent], context: FormatContext = Fixtures.context()) -> [String] {
        let f = JSONFormatter(context: context)
        return events.map { e in
            var b = ByteBuffer()
            f.event(TraceEvent(raw: e), into: &b)
            return String(decoding: b.bytes, as: UTF8.self)
        }
    }

    /// The formatter's output exactly as written, before any String repair.
    static func renderBytes(_ e: FlatEvent, context: FormatContext = Fixtures.context()) -> [UInt8] {
        var b = ByteBuffer()
        JSONFormatter(context: context).event(TraceEvent(raw: e), into: &b)
        return b.bytes
    }

    /// Parses one line; the line must end in exactly one newline.
    static func object(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(line.hasSuffix("}\n"), sourceLocation: sourceLocation)
        #expect(line.dropLast().contains("\n") == false, sourceLocation: sourceLocation)
        let any = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(any as? [String: Any], sourceLocation: sourceLocation)
    }

    static func occurrences(of needle: String, in haystack: String) -> Int {
        let h = Array(haystack.utf8), n = Array(needle.utf8)
        guard h.count >= n.count else { return 0 }
        return (0...(h.count - n.count)).filter { h[$0..<($0 + n.count)].elementsEqual(n) }.count
    }

    static func parse(_ e: FlatEvent) throws -> [String: Any] { try object(render([e])[0]) }

    static func int(_ o: [String: Any], _ k: String) -> Int64? { (o[k] as? NSNumber)?.int64Value }
    static func uint(_ o: [String: Any], _ k: String) -> UInt64? { (o[k] as? NSNumber)?.uint64Value }
    static func str(_ o: [String: Any], _ k: String) -> String? { o[k] as? String }
    static func isNull(_ o: [String: Any], _ k: String) -> Bool { o[k] is NSNull }

    static let all: [(String, FlatEvent)] = [
        ("icmp", Fixtures.icmpEchoRequest()), ("tcp6", Fixtures.ipv6TCPSyn()), ("udp", Fixtures.udp()),
        ("arp", Fixtures.arpRequest()), ("drop", Fixtures.kfreeSkbDrop()), ("empty", Fixtures.base()),
    ]

    @Test func everyEventHasExactlyTheDocumentedKeys() throws {
        for (name, e) in Self.all {
            let o = try Self.parse(e)
            #expect(Set(o.keys) == Self.eventKeys, "\(name)")
            #expect(o.count == Self.eventKeys.count, "\(name): duplicate or missing keys")
            #expect(Self.str(o, "type") == "event", "\(name)")
            #expect(String(validating: Self.renderBytes(e), as: UTF8.self) != nil, "\(name): not UTF-8")
        }
    }

    /// JSONSerialization keeps one value for a duplicated key; count raw keys too.
    @Test func noDuplicateKeysInRawText() {
        for (name, e) in Self.all {
            let line = Self.render([e])[0]
            for key in Self.eventKeys {
                #expect(Self.occurrences(of: "\"\(key)\":", in: line) == 1, "\(name): \(key)")
            }
        }
    }

    @Test func icmpEchoValues() throws {
        let o = try Self.parse(Fixtures.icmpEchoRequest())
        #expect(Self.str(o, "time") == "2023-11-14T22:13:20.123456Z")
        #expect(Self.uint(o, "ts_ns") == 5_123_456_789)
        #expect(Self.uint(o, "relative_ns") == 0)
        #expect(Self.str(o, "probe") == "net_dev_queue")
        #expect(Self.int(o, "cpu") == 1)
        #expect(Self.int(o, "pid") == 1234)
        #expect(Self.int(o, "tid") == 1235)
        #expect(Self.str(o, "comm") == "ping")
        #expect(Self.uint(o, "netns") == 4_026_532_290)
        #expect(Self.int(o, "ifindex") == 7)
        #expect(Self.str(o, "ifname") == "ceth0")
        #expect(Self.str(o, "dmac") == "aa:bb:cc:dd:ee:ff")
        #expect(Self.str(o, "smac") == "02:42:ac:11:00:02")
        #expect(Self.str(o, "l3_proto") == "ipv4")
        #expect(Self.int(o, "ip_len") == 84)
        #expect(Self.int(o, "ttl") == 64)
        #expect(Self.str(o, "saddr") == "198.18.10.2")
        #expect(Self.str(o, "daddr") == "198.18.10.3")
        #expect(Self.str(o, "l4_proto") == "icmp")
        #expect(Self.isNull(o, "sport") && Self.isNull(o, "dport") && Self.isNull(o, "tcp_flags"))
        #expect(Self.int(o, "icmp_type") == 8)
        #expect(Self.int(o, "icmp_code") == 0)
        #expect(Self.int(o, "icmp_id") == 7)
        #expect(Self.int(o, "icmp_seq") == 1)
        #expect(o["tuple_from_socket"] as? Bool == false)
        #expect(Self.str(o, "skb") == "0xffff88810a3b5d00")
        #expect(Self.str(o, "pkt_type") == "host")
        #expect(Self.int(o, "mark") == 0)
        #expect(Self.int(o, "len") == 98)
        #expect(Self.isNull(o, "drop_reason") && Self.isNull(o, "drop_reason_code") && Self.isNull(o, "location"))
        #expect(Self.int(o, "lost_before") == 0)
    }

    @Test func ipv6TCPValues() throws {
        let o = try Self.parse(Fixtures.ipv6TCPSyn())
        #expect(Self.str(o, "time") == "2023-11-14T22:13:21.000001Z")
        #expect(Self.str(o, "l3_proto") == "ipv6")
        #expect(Self.str(o, "saddr") == "2001:db8::1")
        #expect(Self.str(o, "daddr") == "2001:db8::2")
        #expect(Self.str(o, "l4_proto") == "tcp")
        #expect(Self.int(o, "sport") == 40000)
        #expect(Self.int(o, "dport") == 443)
        #expect(Self.str(o, "tcp_flags") == "SYN")
        #expect(Self.int(o, "ttl") == 63)
        #expect(Self.int(o, "ip_len") == 80)
        #expect(Self.int(o, "mark") == 16)
        #expect(Self.isNull(o, "dmac") && Self.isNull(o, "smac"))
        for k in ["icmp_type", "icmp_code", "icmp_id", "icmp_seq"] { #expect(Self.isNull(o, k), "\(k)") }
    }

    @Test func udpValues() throws {
        let o = try Self.parse(Fixtures.udp())
        #expect(Self.str(o, "l4_proto") == "udp")
        #expect(Self.int(o, "sport") == 5353)
        #expect(Self.int(o, "dport") == 53)
        #expect(Self.isNull(o, "tcp_flags"))
        #expect(Self.str(o, "pkt_type") == "outgoing")
        #expect(Self.str(o, "probe") == "net_dev_xmit")
    }

    @Test func arpOpIsNullForIP() throws {
        #expect(Self.isNull(try Self.parse(Fixtures.udp()), "arp_op"))
    }

    /// Records from two CPUs can arrive out of timestamp order: never a negative
    /// (wrapped) relative time.
    @Test func relativeTimeNeverWraps() throws {
        let context = Fixtures.context()
        let f = JSONFormatter(context: context)
        let first = Fixtures.udp()
        var earlier = Fixtures.udp()
        earlier.ts_ns = first.ts_ns - 5_000
        var b = ByteBuffer()
        f.event(TraceEvent(raw: first), into: &b)
        f.event(TraceEvent(raw: earlier), into: &b)
        let lines = String(decoding: b.bytes, as: UTF8.self).split(separator: "\n")
        let o = try #require(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect((o["relative_ns"] as? NSNumber)?.uint64Value == 0)
    }

    @Test func arpValues() throws {
        let o = try Self.parse(Fixtures.arpRequest())
        #expect(Self.str(o, "l3_proto") == "arp")
        #expect(Self.str(o, "saddr") == "10.0.0.1")
        #expect(Self.str(o, "daddr") == "10.0.0.2")
        #expect(Self.str(o, "dmac") == "ff:ff:ff:ff:ff:ff")
        #expect(Self.str(o, "pkt_type") == "broadcast")
        #expect((o["arp_op"] as? NSNumber)?.intValue == Int(Fixtures.arpRequest().icmp_type), "ARP opcode")
        for k in ["ip_len", "ttl", "l4_proto", "sport", "dport", "tcp_flags", "icmp_type", "icmp_id"] {
            #expect(Self.isNull(o, k), "\(k)")
        }
    }

    @Test func dropValues() throws {
        let o = try Self.parse(Fixtures.kfreeSkbDrop())
        #expect(Self.str(o, "probe") == "kfree_skb")
        #expect(Self.str(o, "drop_reason") == "NO_SOCKET")
        #expect(Self.int(o, "drop_reason_code") == 2)
        #expect(Self.str(o, "location") == "tcp_v4_rcv+0x10")
        #expect(Self.str(o, "comm") == "swapper/3")
        #expect(Self.str(o, "ifname") == "")
        #expect(Self.int(o, "ifindex") == 3)
        #expect(Self.str(o, "tcp_flags") == "SYN")
    }

    /// The whole line for the drop event, as written by the formatter.
    @Test func dropLineSnapshot() {
        let line = Self.render([Fixtures.kfreeSkbDrop()])[0]
        #expect(line == """
            {"type":"event","time":"2023-11-14T22:13:22.000000Z","ts_ns":7000000000,"relative_ns":0,\
            "probe":"kfree_skb","function":false,"cpu":3,"pid":0,"tid":0,"comm":"swapper/3","netns":4026531840,"ifindex":3,\
            "ifname":"","dmac":"02:00:00:00:00:02","smac":"02:00:00:00:00:01","l3_proto":"ipv4","ip_len":60,\
            "ttl":64,"saddr":"10.0.0.1","daddr":"10.0.0.2","l4_proto":"tcp","sport":40000,"dport":22,\
            "tcp_flags":"SYN","icmp_type":null,"icmp_code":null,"icmp_id":null,"icmp_seq":null,\
            "arp_op":null,"tuple_from_socket":false,"skb":"0xffff888100001000","pkt_type":"host","mark":0,"len":74,\
            "drop_reason":"NO_SOCKET","drop_reason_code":2,"location":"tcp_v4_rcv+0x10","caller":null,\
            "drop_explanation":"No socket in this network namespace accepts the packet: nothing listens on the \
            destination port, or its connection no longer exists",\
            "drop_hint":"Run `ss -lntup` in the packet's network namespace (`ip netns exec NAME ss -lntup`) and \
            check a program listens on that port and address, not only on 127.0.0.1",\
            "drop_noise":null,"tracked":false,"stack":null,"route":null,"netfilter":null,"ct":null,"sock":null,"skb_dump":null,"tunnel":null,"lost_before":0}

            """)
    }

    @Test func unknownReasonAndUnsymbolizedLocation() throws {
        var e = Fixtures.kfreeSkbDrop()
        e.drop_reason = 1234
        e.location = 0x1000
        let o = try Self.parse(e)
        #expect(Self.str(o, "drop_reason") == "REASON_1234")
        #expect(Self.int(o, "drop_reason_code") == 1234)
        #expect(Self.str(o, "location") == "0x1000")
    }

    @Test func emptyEventUsesNulls() throws {
        let o = try Self.parse(Fixtures.base())
        for k in ["dmac", "smac", "l3_proto", "ip_len", "ttl", "saddr", "daddr", "l4_proto", "sport", "dport",
                  "tcp_flags", "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "drop_reason",
                  "drop_reason_code", "location"] {
            #expect(Self.isNull(o, k), "\(k)")
        }
        #expect(Self.str(o, "comm") == "")
        #expect(Self.str(o, "skb") == "0x0")
    }

    @Test func socketTuple() throws {
        var e = Fixtures.socketTuple()
        e.ttl = 99
        let o = try Self.parse(e)
        #expect(o["tuple_from_socket"] as? Bool == true)
        #expect(Self.int(o, "sport") == 22 && Self.int(o, "dport") == 5000)
        // Only the socket's tuple is known: no TTL, no flags.
        #expect(Self.isNull(o, "ttl"))
        #expect(Self.isNull(o, "tcp_flags"))
        #expect(Self.str(o, "probe") == "tcp_retransmit_skb")
    }

    @Test func icmpErrorHasNoEchoFields() throws {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_type = 3
        e.icmp_code = 1
        let o = try Self.parse(e)
        #expect(Self.int(o, "icmp_type") == 3 && Self.int(o, "icmp_code") == 1)
        #expect(Self.isNull(o, "icmp_id") && Self.isNull(o, "icmp_seq"))
    }

    @Test func relativeNsAndLostBefore() throws {
        var a = Fixtures.udp()
        a.ts_ns = 1_000
        var b = Fixtures.udp()
        b.ts_ns = 2_500_001_000
        b.lost_before = 17
        let lines = Self.render([a, b])
        let o1 = try Self.object(lines[0]), o2 = try Self.object(lines[1])
        #expect(Self.str(o1, "time") == "2023-11-14T22:13:15.000001Z")
        #expect(Self.str(o2, "time") == "2023-11-14T22:13:17.500001Z")
        #expect(Self.uint(o1, "relative_ns") == 0)
        #expect(Self.uint(o2, "relative_ns") == 2_500_000_000)
        #expect(Self.uint(o2, "lost_before") == 17)
    }

    /// Times of events out of order (several CPUs) and across second and day
    /// boundaries, through one context.
    @Test func timesInAnyOrder() throws {
        let context = Fixtures.context()
        let cases: [(UInt64, String)] = [
            (5_100_000_000, "2023-11-14T22:13:20.100000Z"),
            (5_999_999_999, "2023-11-14T22:13:20.999999Z"),
            (6_000_000_000, "2023-11-14T22:13:21.000000Z"),
            (5_500_000_000, "2023-11-14T22:13:20.500000Z"),
            (6_000_001_000, "2023-11-14T22:13:21.000001Z"),
            (5_000_000_000 + 6_400_000_000_000, "2023-11-15T00:00:00.000000Z"),
            (4_999_999_999 + 6_400_000_000_000, "2023-11-14T23:59:59.999999Z"),
            (5_000_000_000 + 6_400_000_000_000 + 86_400_000_000_000 * 47, "2024-01-01T00:00:00.000000Z"),
            (5_000_000_000 + 6_400_000_000_000 + 86_400_000_000_000 * 107, "2024-03-01T00:00:00.000000Z"),
        ]
        var events: [FlatEvent] = []
        for (ts, _) in cases {
            var e = Fixtures.udp()
            e.ts_ns = ts
            events.append(e)
        }
        let lines = Self.render(events, context: context)
        for (line, (ts, time)) in zip(lines, cases) {
            #expect(Self.str(try Self.object(line), "time") == time, "ts \(ts)")
        }
    }

    @Test func largeValuesAreExact() throws {
        var e = Fixtures.udp()
        e.ts_ns = (1 << 53) + 1   // ~104 days of uptime; not exact as a double
        e.mark = UInt32.max
        e.netns = UInt32.max
        e.skb = UInt64.max
        let line = Self.render([e])[0]
        #expect(line.contains("\"ts_ns\":9007199254740993,"))
        let o = try Self.object(line)
        #expect(Self.uint(o, "ts_ns") == (1 << 53) + 1)
        #expect(Self.uint(o, "mark") == UInt64(UInt32.max))
        #expect(Self.uint(o, "netns") == UInt64(UInt32.max))
        #expect(Self.str(o, "skb") == "0xffffffffffffffff")
    }

    // MARK: Escaping

    @Test func escapesQuotesBackslashesAndControlCharacters() throws {
        var e = Fixtures.udp()
        Fixtures.set(&e.comm, [UInt8(ascii: "a"), UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0a, 0x09, 0x01, 0x1f, UInt8(ascii: "z")])
        Fixtures.set(&e.ifname, string: "if\"\\\r")
        let line = Self.render([e])[0]
        #expect(line.contains(#""comm":"a\"\\\u000a\u0009\u0001\u001fz""#))
        #expect(line.contains(#""ifname":"if\"\\\u000d""#))
        let o = try Self.object(line)
        #expect(Self.str(o, "comm") == "a\"\\\n\t\u{01}\u{1f}z")
        #expect(Self.str(o, "ifname") == "if\"\\\r")
    }

    /// The kernel cuts comm at 15 bytes, which can split a multi-byte UTF-8 name
    /// ("προγραμμα" is 2 bytes a letter: byte 15 is half of the 8th letter). JSON
    /// text must be UTF-8 (RFC 8259 8.1): invalid bytes become U+FFFD.
    /// (JSONSerialization repairs bad input silently, so the raw bytes are checked.)
    @Test func commCutInsideAUTF8Character() throws {
        var e = Fixtures.udp()
        Fixtures.set(&e.comm, Array(Array("προγραμμα".utf8).prefix(15)))
        let bytes = Self.renderBytes(e)
        #expect(String(validating: bytes, as: UTF8.self) != nil)
        // Whatever the repair, the valid part of the name is kept.
        let o = try Self.object(String(decoding: bytes, as: UTF8.self))
        #expect(Self.str(o, "comm")?.hasPrefix("προγραμ") == true)
    }

    @Test func invalidUTF8InCommAndIfname() throws {
        var e = Fixtures.udp()
        Fixtures.set(&e.comm, [0xff, UInt8(ascii: "A"), 0xc3])
        let bytes = Self.renderBytes(e)
        #expect(String(validating: bytes, as: UTF8.self) != nil)
        var f = Fixtures.udp()
        Fixtures.set(&f.ifname, [UInt8(ascii: "e"), 0x80])
        let ifBytes = Self.renderBytes(f)
        #expect(String(validating: ifBytes, as: UTF8.self) != nil)
    }

    @Test func unicodeIsKept() throws {
        var e = Fixtures.udp()
        Fixtures.set(&e.comm, string: "naïve✓")
        let o = try Self.parse(e)
        #expect(Self.str(o, "comm") == "naïve✓")
    }

    // MARK: Lost marker

    @Test func lostMarker() throws {
        var b = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).lost(count: 12_345, cpu: 7, into: &b)
        let line = String(decoding: b.bytes, as: UTF8.self)
        #expect(line == "{\"type\":\"lost\",\"cpu\":7,\"count\":12345}\n")
        let o = try Self.object(line)
        #expect(Set(o.keys) == ["type", "cpu", "count"])
        #expect(Self.str(o, "type") == "lost")
        #expect(Self.uint(o, "count") == 12_345)
    }

    @Test func noHeader() {
        var b = ByteBuffer()
        JSONFormatter(context: Fixtures.context()).header(into: &b)
        #expect(b.count == 0)
    }

    @Test func makeFormatterPicksFormat() {
        #expect(makeFormatter(.json, context: Fixtures.context()) is JSONFormatter)
        #expect(makeFormatter(.text, context: Fixtures.context()) is TextFormatter)
    }
}
