import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput

/// Hand-built events and a deterministic formatting context shared by the tests.
enum Fixtures {
    // MARK: Raw field helpers

    /// Copies `bytes` to the start of a fixed-size C array field.
    static func set<T>(_ field: inout T, _ bytes: [UInt8]) {
        withUnsafeMutableBytes(of: &field) { buf in
            precondition(bytes.count <= buf.count, "fixture does not fit the field")
            for (i, b) in bytes.enumerated() { buf[i] = b }
        }
    }

    static func set<T>(_ field: inout T, string: String) { set(&field, Array(string.utf8)) }

    static func bytes(of e: FlatEvent) -> [UInt8] { e.bytes }

    static func decode(_ bytes: [UInt8]) throws(TraceEvent.DecodeError) -> TraceEvent {
        let result = bytes.withUnsafeBytes { buf in
            Result<TraceEvent, TraceEvent.DecodeError> { () throws(TraceEvent.DecodeError) in try TraceEvent(bytes: buf) }
        }
        return try result.get()
    }

    // MARK: Addresses (network byte order, written out by hand)

    static let v4_198_18_10_2: [UInt8] = [198, 18, 10, 2]
    static let v4_198_18_10_3: [UInt8] = [198, 18, 10, 3]
    static let v4_10_0_0_1: [UInt8] = [10, 0, 0, 1]
    static let v4_10_0_0_2: [UInt8] = [10, 0, 0, 2]
    /// 2001:db8::1
    static let v6_db8_1: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    /// 2001:db8::2
    static let v6_db8_2: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]

    // MARK: Flags

    static let MAC = UInt8(ST_PKT_MAC.rawValue)
    static let L3 = UInt8(ST_PKT_L3.rawValue)
    static let L4 = UInt8(ST_PKT_L4.rawValue)
    static let SOCK = UInt8(ST_PKT_FROM_SOCK.rawValue)
    static let DROP = FlatEvent.DROP
    static let LOC = FlatEvent.LOCATION

    // MARK: Events

    /// A valid, otherwise empty record for `probe`.
    static func base(_ probe: st_probe_id = ST_PROBE_NET_DEV_QUEUE) -> FlatEvent {
        var e = FlatEvent()
        e.probe = UInt16(probe.rawValue)
        return e
    }

    /// ping 198.18.10.2 -> 198.18.10.3, echo request id 7 seq 1, leaving ceth0.
    static func icmpEchoRequest() -> FlatEvent {
        var e = base(ST_PROBE_NET_DEV_QUEUE)
        e.ts_ns = 5_123_456_789
        e.cpu = 1
        e.netns = 4_026_532_290
        e.ifindex = 7
        set(&e.ifname, string: "ceth0")
        set(&e.comm, string: "ping")
        e.pid = 1234
        e.tid = 1235
        e.skb = 0xffff_8881_0a3b_5d00
        e.skb_len = 98
        e.pkt_type = 0
        e.flags = MAC | L3 | L4
        set(&e.dmac, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        set(&e.smac, [0x02, 0x42, 0xac, 0x11, 0x00, 0x02])
        e.l3_proto = 0x0800
        e.ip_len = 84
        e.ttl = 64
        set(&e.saddr, v4_198_18_10_2)
        set(&e.daddr, v4_198_18_10_3)
        e.l4_proto = 1
        e.icmp_type = 8
        e.icmp_code = 0
        e.icmp_id = 7
        e.icmp_seq = 1
        return e
    }

    /// TCP SYN [2001:db8::1]:40000 -> [2001:db8::2]:443 entering the stack on eth0, mark 0x10.
    static func ipv6TCPSyn() -> FlatEvent {
        var e = base(ST_PROBE_NETIF_RECEIVE_SKB)
        e.ts_ns = 6_000_001_000
        e.cpu = 12
        e.netns = 4_026_531_840
        e.ifindex = 2
        set(&e.ifname, string: "eth0")
        set(&e.comm, string: "curl")
        e.pid = 4242
        e.tid = 4243
        e.skb = 0xffff_8881_1234_5600
        e.skb_len = 94
        e.mark = 0x10
        e.flags = L3 | L4
        e.l3_proto = 0x86DD
        e.ip_len = 80
        e.ttl = 63
        set(&e.saddr, v6_db8_1)
        set(&e.daddr, v6_db8_2)
        e.l4_proto = 6
        e.sport = 40000
        e.dport = 443
        e.tcp_flags = 0x02
        return e
    }

    /// UDP 10.0.0.1:5353 -> 10.0.0.2:53 sent by a driver.
    /// tcp_retransmit_skb with the tuple taken from the socket (no packet headers).
    static func socketTuple() -> FlatEvent {
        var e = base(ST_PROBE_TCP_RETRANSMIT_SKB)
        e.flags = L3 | L4 | SOCK
        e.l3_proto = 0x0800
        e.l4_proto = 6
        set(&e.saddr, v4_10_0_0_1)
        set(&e.daddr, v4_10_0_0_2)
        e.sport = 22
        e.dport = 5000
        return e
    }

    static func udp() -> FlatEvent {
        var e = base(ST_PROBE_NET_DEV_XMIT)
        e.ts_ns = 6_500_000_000
        e.cpu = 0
        e.netns = 4_026_531_840
        e.ifindex = 3
        set(&e.ifname, string: "veth1")
        set(&e.comm, string: "dig")
        e.pid = 77
        e.tid = 77
        e.skb = 0xffff_8881_0000_2000
        e.skb_len = 74
        e.pkt_type = 4
        e.flags = MAC | L3 | L4
        set(&e.dmac, [0x02, 0, 0, 0, 0, 0x02])
        set(&e.smac, [0x02, 0, 0, 0, 0, 0x01])
        e.l3_proto = 0x0800
        e.ip_len = 60
        e.ttl = 64
        set(&e.saddr, v4_10_0_0_1)
        set(&e.daddr, v4_10_0_0_2)
        e.l4_proto = 17
        e.sport = 5353
        e.dport = 53
        return e
    }

    /// ARP who-has 10.0.0.2 tell 10.0.0.1, broadcast.
    static func arpRequest() -> FlatEvent {
        var e = base(ST_PROBE_NETIF_RECEIVE_SKB)
        e.ts_ns = 6_600_000_000
        e.cpu = 2
        e.netns = 4_026_531_840
        e.ifindex = 3
        set(&e.ifname, string: "veth1")
        e.skb = 0xffff_8881_0000_3000
        e.skb_len = 42
        e.pkt_type = 1
        e.flags = MAC | L3
        set(&e.dmac, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        set(&e.smac, [0x02, 0, 0, 0, 0, 0x01])
        e.l3_proto = 0x0806
        e.icmp_type = 1
        set(&e.saddr, v4_10_0_0_1)
        set(&e.daddr, v4_10_0_0_2)
        return e
    }

    /// kfree_skb of a SYN to a closed port: NO_SOCKET (2) at tcp_v4_rcv+0x10.
    static func kfreeSkbDrop() -> FlatEvent {
        var e = base(ST_PROBE_KFREE_SKB)
        e.ts_ns = 7_000_000_000
        e.cpu = 3
        e.netns = 4_026_531_840
        e.ifindex = 3
        set(&e.comm, string: "swapper/3")
        e.pid = 0
        e.tid = 0
        e.skb = 0xffff_8881_0000_1000
        e.skb_len = 74
        e.flags = MAC | L3 | L4 | DROP | LOC
        set(&e.dmac, [0x02, 0, 0, 0, 0, 0x02])
        set(&e.smac, [0x02, 0, 0, 0, 0, 0x01])
        e.l3_proto = 0x0800
        e.ip_len = 60
        e.ttl = 64
        set(&e.saddr, v4_10_0_0_1)
        set(&e.daddr, v4_10_0_0_2)
        e.l4_proto = 6
        e.sport = 40000
        e.dport = 22
        e.tcp_flags = 0x02
        e.drop_reason = 2
        e.location = tcpV4Rcv + 0x10
        return e
    }

    // MARK: Context

    static let tcpV4Rcv: UInt64 = 0xffff_ffff_81a0_0000
    static let ipRcv: UInt64 = 0xffff_ffff_81b0_0000

    /// ktime 5 s is 2023-11-14T22:13:20Z (epoch 1_700_000_000); local time is UTC+1.
    static let clock = Clock(realtimeOffsetNs: 1_700_000_000_000_000_000 - 5_000_000_000, utcOffsetSeconds: 3600)

    static func context(_ time: TimeFormat = .wallClock) -> FormatContext {
        FormatContext(dropReasons: DropReasons(names: [2: "NO_SOCKET", 5: "NETFILTER_DROP"]),
                      symbols: KernelSymbols(symbols: [(ipRcv, "ip_rcv"), (tcpV4Rcv, "tcp_v4_rcv")]),
                      clock: clock, timeFormat: time)
    }

    static func text(_ events: [FlatEvent], _ time: TimeFormat = .wallClock) -> [String] {
        let f = TextFormatter(context: context(time))
        return events.map { e in
            var b = ByteBuffer()
            f.event(TraceEvent(raw: e), into: &b)
            return String(decoding: b.bytes, as: UTF8.self)
        }
    }

    static func packetInfo(_ e: FlatEvent) -> String {
        var b = ByteBuffer()
        TextFormatter.appendPacketInfo(TraceEvent(raw: e), to: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }
}
