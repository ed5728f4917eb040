import CSkbTracerABI
import Foundation
import Testing
@testable import SkbTracerCore

@Suite("Decoding ring-buffer records")
struct DecodeTests {
    // MARK: Little-endian writers for records laid out by hand

    static func put16(_ v: UInt16, at o: Int, in b: inout [UInt8]) {
        b[o] = UInt8(v & 0xff); b[o + 1] = UInt8(v >> 8)
    }

    static func put32(_ v: UInt32, at o: Int, in b: inout [UInt8]) {
        for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) }
    }

    static func put64(_ v: UInt64, at o: Int, in b: inout [UInt8]) {
        for i in 0..<8 { b[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xff) }
    }

    /// A record written byte by byte at the header's offsets (not through st_event),
    /// so the decoder is checked against the C layout rather than against itself.
    @Test func decodesRecordLaidOutByHand() throws {
        var b = [UInt8](repeating: 0, count: 176)
        Self.put16(1, at: 0, in: &b)              // kind
        Self.put16(176, at: 2, in: &b)            // size
        Self.put16(UInt16(ST_PROBE_KFREE_SKB.rawValue), at: 4, in: &b) // probe
        Self.put16(0x0800, at: 6, in: &b)         // l3_proto
        Self.put32(5, at: 8, in: &b)              // cpu
        Self.put32(3, at: 12, in: &b)             // lost_before
        Self.put64(0x1122_3344_5566_7788, at: 16, in: &b) // ts_ns
        Self.put64(0xffff_8881_0000_1000, at: 24, in: &b) // skb
        Self.put64(0xffff_ffff_81a0_0010, at: 32, in: &b) // location
        Self.put32(100, at: 40, in: &b)           // pid
        Self.put32(101, at: 44, in: &b)           // tid
        Self.put32(4_026_531_840, at: 48, in: &b) // netns
        Self.put32(4, at: 52, in: &b)             // ifindex
        Self.put32(0xdead_beef, at: 56, in: &b)   // mark
        Self.put32(1500, at: 60, in: &b)          // skb_len
        Self.put32(77, at: 64, in: &b)            // drop_reason
        Self.put16(1400, at: 68, in: &b)          // ip_len
        Self.put16(40000, at: 70, in: &b)         // sport
        Self.put16(22, at: 72, in: &b)            // dport
        Self.put16(0x0102, at: 74, in: &b)        // icmp_id
        Self.put16(0x0304, at: 76, in: &b)        // icmp_seq
        b[78] = 6                                 // l4_proto
        b[79] = 0x12                              // tcp_flags
        b[80] = 0xa1; b[81] = 0xa2                // icmp type/code
        b[82] = 3                                 // pkt_type
        b[83] = Fixtures.MAC | Fixtures.L3 | Fixtures.L4 | Fixtures.DROP | Fixtures.LOC
        b[84] = 61                                // ttl
        b.replaceSubrange(86..<92, with: [1, 2, 3, 4, 5, 6])          // dmac
        b.replaceSubrange(92..<98, with: [7, 8, 9, 10, 11, 12])       // smac
        b.replaceSubrange(98..<102, with: [192, 0, 2, 1])             // saddr
        b.replaceSubrange(114..<118, with: [192, 0, 2, 99])           // daddr
        b.replaceSubrange(130..<134, with: Array("eth7".utf8))        // ifname
        b.replaceSubrange(146..<152, with: Array("sshd-x".utf8))      // comm
        Self.put32(2_210_006, at: 168, in: &b)    // sock_ino
        Self.put32(1000, at: 172, in: &b)         // sock_uid

        let ev = try Fixtures.decode(b)
        let e = ev.raw
        #expect(e.cpu == 5)
        #expect(e.lost_before == 3)
        #expect(e.ts_ns == 0x1122_3344_5566_7788)
        #expect(e.skb == 0xffff_8881_0000_1000)
        #expect(e.location == 0xffff_ffff_81a0_0010)
        #expect(e.pid == 100 && e.tid == 101)
        #expect(e.netns == 4_026_531_840)
        #expect(e.ifindex == 4)
        #expect(e.mark == 0xdead_beef)
        #expect(e.skb_len == 1500)
        #expect(e.drop_reason == 77)
        #expect(e.ip_len == 1400)
        #expect(e.sport == 40000 && e.dport == 22)
        #expect(e.icmp_id == 0x0102 && e.icmp_seq == 0x0304)
        #expect(e.tcp_flags == 0x12)
        #expect(e.icmp_type == 0xa1 && e.icmp_code == 0xa2)
        #expect(e.pkt_type == 3)
        #expect(e.ttl == 61)
        #expect(e.sock_ino == 2_210_006 && e.sock_uid == 1000)
        #expect(ev.probeName == "kfree_skb")
        #expect(ev.isIPv4 && ev.isTCP && ev.hasMAC && ev.hasL3 && ev.hasL4 && ev.isDrop && ev.hasLocation)
        #expect(!ev.tupleFromSocket && !ev.isUDP && !ev.isICMP && !ev.isIPv6)
        #expect(ev.saddr?.description == "192.0.2.1")
        #expect(ev.daddr?.description == "192.0.2.99")
        #expect(ev.ifname == "eth7")
        #expect(ev.comm == "sshd-x")
        #expect(withUnsafeBytes(of: e.dmac) { Array($0) } == [1, 2, 3, 4, 5, 6])
        #expect(withUnsafeBytes(of: e.smac) { Array($0) } == [7, 8, 9, 10, 11, 12])
    }

    @Test func icmpEchoRequest() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.icmpEchoRequest()))
        #expect(ev.isIPv4 && ev.isICMP && ev.hasL4 && ev.hasMAC)
        #expect(!ev.isTCP && !ev.isUDP && !ev.isDrop)
        #expect(ev.saddr?.description == "198.18.10.2")
        #expect(ev.daddr?.description == "198.18.10.3")
        #expect(ev.saddr?.isIPv4 == true)
        #expect(ev.packet.raw.icmp_type == 8 && ev.packet.raw.icmp_id == 7 && ev.packet.raw.icmp_seq == 1)
        #expect(ev.ifname == "ceth0")
        #expect(ev.comm == "ping")
        #expect(ev.probeName == "net_dev_queue")
        #expect(ev.probe?.group == .linkOut)
    }

    @Test func ipv6TCPSyn() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.ipv6TCPSyn()))
        #expect(ev.isIPv6 && ev.isTCP && !ev.isIPv4 && !ev.isICMP)
        #expect(!ev.hasMAC)
        #expect(ev.saddr?.description == "2001:db8::1")
        #expect(ev.daddr?.description == "2001:db8::2")
        #expect(ev.saddr?.bytes.count == 16)
        #expect(ev.packet.raw.sport == 40000 && ev.packet.raw.dport == 443)
        #expect(ev.packet.raw.tcp_flags == 0x02)
        #expect(ev.probeName == "netif_receive_skb")
    }

    @Test func udp() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.udp()))
        #expect(ev.isUDP && !ev.isTCP && ev.isIPv4)
        #expect(ev.saddr?.description == "10.0.0.1")
        #expect(ev.daddr?.description == "10.0.0.2")
        #expect(ev.packet.raw.sport == 5353 && ev.packet.raw.dport == 53)
    }

    @Test func arp() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.arpRequest()))
        #expect(ev.isARP && !ev.isIPv4 && !ev.isIPv6)
        #expect(!ev.isTCP && !ev.isUDP && !ev.isICMP)
        #expect(ev.saddr?.description == "10.0.0.1")
        #expect(ev.daddr?.description == "10.0.0.2")
        #expect(ev.saddr?.bytes.count == 4)
    }

    @Test func kfreeSkbDropWithReason() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.kfreeSkbDrop()))
        #expect(ev.isDrop && ev.hasLocation)
        #expect(ev.raw.drop_reason == 2)
        #expect(ev.location == Fixtures.tcpV4Rcv + 0x10)
        #expect(ev.probeName == "kfree_skb")
        #expect(ev.probe?.group == .life)
        #expect(ev.comm == "swapper/3")
        #expect(ev.ifname == "")
    }

    /// Without ST_EVF_L3 the address bytes are not valid and must not be shown.
    @Test func addressesNeedL3Flag() throws {
        var e = Fixtures.icmpEchoRequest()
        e.flags = Fixtures.MAC
        let ev = try Fixtures.decode(Fixtures.bytes(of: e))
        #expect(ev.saddr == nil && ev.daddr == nil)
        #expect(!ev.isICMP && !ev.isTCP && !ev.isUDP)
    }

    /// ICMP is protocol 1 only over IPv4 and 58 only over IPv6.
    @Test func icmpNeedsMatchingFamily() {
        var e = Fixtures.icmpEchoRequest()
        e.l4_proto = 58
        #expect(!TraceEvent(raw: e).isICMP)
        e.l3_proto = 0x86DD
        #expect(TraceEvent(raw: e).isICMP)
        e.l4_proto = 1
        #expect(!TraceEvent(raw: e).isICMP)
    }

    /// ifname and comm fill all 16 bytes without a NUL: read up to the end.
    @Test func unterminatedStrings() throws {
        var e = Fixtures.base()
        Fixtures.set(&e.ifname, string: "abcdefghijklmnop")
        Fixtures.set(&e.comm, string: "0123456789abcdef")
        let ev = try Fixtures.decode(Fixtures.bytes(of: e))
        #expect(ev.ifname == "abcdefghijklmnop")
        #expect(ev.comm == "0123456789abcdef")
    }

    @Test func unknownProbeID() {
        var e = Fixtures.base()
        e.probe = 99
        let ev = TraceEvent(raw: e)
        #expect(ev.probe == nil)
        #expect(ev.probeName == "probe-99")
    }

    /// Ring records are 8-byte aligned, but the decoder must not rely on it.
    @Test func decodesFromUnalignedBuffer() throws {
        let record = Fixtures.bytes(of: Fixtures.udp())
        let shifted = [0xee] + record
        let ev = try shifted.withUnsafeBytes { buf in
            try TraceEvent(bytes: UnsafeRawBufferPointer(rebasing: buf[1...]))
        }
        #expect(ev.packet.raw.sport == 5353)
        #expect(ev.header.ts_ns == 6_500_000_000)
    }

    /// A longer buffer (ring padding) decodes the first record only.
    @Test func ignoresTrailingBytes() throws {
        let ev = try Fixtures.decode(Fixtures.bytes(of: Fixtures.udp()) + [UInt8](repeating: 0xff, count: 8))
        #expect(ev.packet.raw.dport == 53)
    }

    // MARK: Errors

    struct BadRecord: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let error: TraceEvent.DecodeError
        var testDescription: String { name }
    }

    static var badRecords: [BadRecord] {
        let good = Fixtures.bytes(of: Fixtures.icmpEchoRequest())
        var unknownKind = good
        unknownKind[0] = 2
        var zeroKind = good
        zeroKind[0] = 0
        var bigSize = good
        bigSize[2] = 184
        var smallSize = good
        smallSize[2] = 160
        var swappedSize = good   // 176 big-endian
        swappedSize[2] = 0; swappedSize[3] = 176
        return [
            BadRecord(name: "empty", bytes: [], error: .truncated(0)),
            BadRecord(name: "3 bytes", bytes: [1, 0, 176], error: .truncated(3)),
            BadRecord(name: "header only", bytes: Array(good.prefix(4)), error: .truncated(4)),
            BadRecord(name: "one byte short", bytes: Array(good.prefix(175)), error: .truncated(175)),
            BadRecord(name: "half a record", bytes: Array(good.prefix(84)), error: .truncated(84)),
            BadRecord(name: "kind 2", bytes: unknownKind, error: .unknownKind(2)),
            BadRecord(name: "kind 0", bytes: zeroKind, error: .unknownKind(0)),
            BadRecord(name: "size 184", bytes: bigSize, error: .sizeMismatch(184)),
            BadRecord(name: "size 160", bytes: smallSize, error: .sizeMismatch(160)),
            BadRecord(name: "size byte-swapped", bytes: swappedSize, error: .sizeMismatch(0xb000)),
            // Kind is checked before size, size before length.
            BadRecord(name: "kind 7, size 0, short", bytes: [7, 0, 0, 0, 0, 0], error: .unknownKind(7)),
            BadRecord(name: "good kind, size 12, short", bytes: [1, 0, 12, 0], error: .sizeMismatch(12)),
        ]
    }

    @Test(arguments: badRecords)
    func rejectsBadRecord(_ c: BadRecord) {
        #expect(throws: c.error) { try Fixtures.decode(c.bytes) }
    }
}
