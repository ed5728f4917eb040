import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
import Testing

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

    /// A record written byte by byte at the header's offsets (not through EventRecord),
    /// so the decoder is checked against the C layout rather than against itself:
    /// header, context, packet, drop and socket sections, 200 bytes.
    static func recordLaidOutByHand() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 200)
        Self.put16(1, at: 0, in: &b)              // kind
        Self.put16(200, at: 2, in: &b)            // size
        Self.put16(UInt16(ST_PROBE_KFREE_SKB.rawValue), at: 4, in: &b) // probe
        b[6] = UInt8(ST_MATCH_SKB.rawValue)       // match
        Self.put32(5, at: 8, in: &b)              // cpu
        Self.put32(3, at: 12, in: &b)             // lost_before
        Self.put64(0x1122_3344_5566_7788, at: 16, in: &b) // ts_ns
        Self.put64(0xffff_8881_0000_1000, at: 24, in: &b) // skb
        // Context section at 32.
        Self.put16(1, at: 32, in: &b); Self.put16(64, at: 34, in: &b)
        Self.put32(4_026_531_840, at: 36, in: &b) // netns
        Self.put32(4, at: 40, in: &b)             // ifindex
        Self.put32(0xdead_beef, at: 44, in: &b)   // mark
        Self.put32(1500, at: 48, in: &b)          // skb_len
        Self.put32(100, at: 52, in: &b)           // pid
        Self.put32(101, at: 56, in: &b)           // tid
        b[60] = 3                                 // pkt_type
        b.replaceSubrange(64..<68, with: Array("eth7".utf8))          // ifname
        b.replaceSubrange(80..<86, with: Array("sshd-x".utf8))        // comm
        // Packet section at 96, its st_packet at 100.
        Self.put16(2, at: 96, in: &b); Self.put16(72, at: 98, in: &b)
        Self.put16(0x0800, at: 100, in: &b)       // l3_proto
        b[102] = 6                                // l4_proto
        b[103] = Fixtures.MAC | Fixtures.L3 | Fixtures.L4
        Self.put16(1400, at: 104, in: &b)         // ip_len
        Self.put16(0x4321, at: 106, in: &b)       // ip_id
        b[108] = 61                               // ttl
        b[109] = 0x12                             // tcp_flags
        b[110] = 0xa1; b[111] = 0xa2              // icmp type/code
        Self.put16(40000, at: 112, in: &b)        // sport
        Self.put16(22, at: 114, in: &b)           // dport
        Self.put16(0x0102, at: 116, in: &b)       // icmp_id
        Self.put16(0x0304, at: 118, in: &b)       // icmp_seq
        b.replaceSubrange(120..<124, with: [0x0a, 0x0b, 0x0c, 0x0d])  // tcp_seq
        b.replaceSubrange(124..<130, with: [1, 2, 3, 4, 5, 6])        // dmac
        b.replaceSubrange(130..<136, with: [7, 8, 9, 10, 11, 12])     // smac
        b.replaceSubrange(136..<140, with: [192, 0, 2, 1])            // saddr
        b.replaceSubrange(152..<156, with: [192, 0, 2, 99])           // daddr
        // Drop section at 168.
        Self.put16(3, at: 168, in: &b); Self.put16(16, at: 170, in: &b)
        Self.put32(77, at: 172, in: &b)           // drop_reason
        Self.put64(0xffff_ffff_81a0_0010, at: 176, in: &b) // location
        // Socket section at 184.
        Self.put16(5, at: 184, in: &b); Self.put16(16, at: 186, in: &b)
        Self.put32(2_210_006, at: 188, in: &b)    // ino
        Self.put32(1000, at: 192, in: &b)         // uid
        return b
    }

    @Test func decodesRecordLaidOutByHand() throws {
        let ev = try Fixtures.decode(Self.recordLaidOutByHand())
        let h = ev.header, c = ev.context, p = ev.packet.raw
        #expect(h.cpu == 5)
        #expect(h.lost_before == 3)
        #expect(h.ts_ns == 0x1122_3344_5566_7788)
        #expect(h.skb == 0xffff_8881_0000_1000)
        #expect(ev.isSameTrackedSkb && ev.isTracked)
        #expect(ev.location == 0xffff_ffff_81a0_0010)
        #expect(c.pid == 100 && c.tid == 101)
        #expect(c.netns == 4_026_531_840)
        #expect(c.ifindex == 4)
        #expect(c.mark == 0xdead_beef)
        #expect(c.skb_len == 1500)
        #expect(ev.dropReason == 77)
        #expect(p.ip_len == 1400 && p.ip_id == 0x4321)
        #expect(p.sport == 40000 && p.dport == 22)
        #expect(p.icmp_id == 0x0102 && p.icmp_seq == 0x0304)
        #expect(p.tcp_flags == 0x12)
        #expect(ev.packet.tcpSeq == 0x0a0b_0c0d)
        #expect(p.icmp_type == 0xa1 && p.icmp_code == 0xa2)
        #expect(c.pkt_type == 3)
        #expect(p.ttl == 61)
        #expect(ev.socket == TraceEvent.Socket(inode: 2_210_006, uid: 1000))
        #expect(ev.stack == nil && ev.route == nil && ev.ct == nil)
        #expect(ev.probeName == "kfree_skb")
        #expect(ev.isIPv4 && ev.isTCP && ev.hasMAC && ev.hasL3 && ev.hasL4 && ev.isDrop && ev.hasLocation)
        #expect(!ev.tupleFromSocket && !ev.isUDP && !ev.isICMP && !ev.isIPv6)
        #expect(ev.saddr?.description == "192.0.2.1")
        #expect(ev.daddr?.description == "192.0.2.99")
        #expect(ev.ifname == "eth7")
        #expect(ev.comm == "sshd-x")
        #expect(withUnsafeBytes(of: p.dmac) { Array($0) } == [1, 2, 3, 4, 5, 6])
        #expect(withUnsafeBytes(of: p.smac) { Array($0) } == [7, 8, 9, 10, 11, 12])
        // What EventRecord writes for it is what BPF wrote.
        #expect(EventRecord.bytes(ev) == Self.recordLaidOutByHand())
    }

    /// A section of a newer build (type 99) between known ones, and one at the
    /// end, are stepped over; the sections around them still decode.
    @Test func unknownSectionsAreSteppedOver() throws {
        let known = Self.recordLaidOutByHand()
        var unknown = [UInt8](repeating: 0xee, count: 24)
        Self.put16(99, at: 0, in: &unknown); Self.put16(24, at: 2, in: &unknown)
        // After the packet section (168), and after the socket section (the end).
        var b = Array(known[..<168]) + unknown + Array(known[168...]) + Array(unknown.prefix(8))
        Self.put16(8, at: b.count - 6, in: &b)
        Self.put16(UInt16(b.count), at: 2, in: &b)
        let ev = try Fixtures.decode(b)
        let plain = try Fixtures.decode(known)
        #expect(ev.dropReason == 77 && ev.location == 0xffff_ffff_81a0_0010)
        #expect(ev.socket == TraceEvent.Socket(inode: 2_210_006, uid: 1000))
        #expect(EventRecord.bytes(ev) == EventRecord.bytes(plain))
        // Before the context: the context and packet that follow it still count.
        var first = Array(known[..<32]) + unknown + Array(known[32...])
        Self.put16(UInt16(first.count), at: 2, in: &first)
        #expect(EventRecord.bytes(try Fixtures.decode(first)) == known)
    }

    /// Every section EventRecord writes comes back from TraceEvent(bytes:): the
    /// decoder and the writer agree on each section's layout.
    @Test func everySectionRoundTrips() throws {
        var drop = Fixtures.kfreeSkbDrop()
        drop.match = UInt8(ST_MATCH_FLOW.rawValue)
        drop.lost_before = 9
        drop.sock_ino = 4242
        drop.sock_uid = ST_SOCK_KERNEL
        var route = st_route()
        route.table = 254; route.err = -113; route.iif = 3; route.oif = 4; route.gw_family = 4
        Fixtures.set(&route.gateway, Fixtures.v4_10_0_0_1)
        Fixtures.set(&route.dev, string: "eth1")
        Fixtures.set(&route.saddr, Fixtures.v4_10_0_0_1)
        Fixtures.set(&route.daddr, Fixtures.v4_10_0_0_2)
        var ct = st_ct()
        Fixtures.set(&ct.orig.saddr, Fixtures.v4_10_0_0_1)
        Fixtures.set(&ct.reply.daddr, Fixtures.v4_10_0_0_2)
        ct.orig.sport = 40000; ct.reply.dport = 22; ct.status = 0x1a8; ct.mark = 5; ct.zone = 3
        ct.ctinfo = 2; ct.family = 4; ct.protonum = 6
        let stack = (0..<Int(ST_STACK_MAX)).map { 0xffff_ffff_8100_0000 + UInt64($0) * 0x40 }
        let ev = TraceEvent(raw: drop, stack: stack, route: route, ct: ct)
        let bytes = EventRecord.bytes(ev)
        #expect(bytes.count == FlatEvent.plainSize + MemoryLayout<st_sec_location>.size + MemoryLayout<st_sec_socket>.size
                + MemoryLayout<st_sec_route>.size + MemoryLayout<st_sec_ct>.size + MemoryLayout<st_sec_stack>.size)
        let back = try Fixtures.decode(bytes)
        #expect(back.dropReason == 2 && back.location == Fixtures.tcpV4Rcv + 0x10)
        #expect(back.socket == TraceEvent.Socket(inode: 4242, uid: ST_SOCK_KERNEL) && back.socket?.isKernel == true)
        #expect(back.stack == stack)
        let r = try #require(back.route)
        #expect(r.table == 254 && r.err == -113 && r.iif == 3 && r.oif == 4 && r.gw_family == 4)
        #expect(TraceEvent.string(r.dev) == "eth1")
        let c = try #require(back.ct)
        #expect(c.orig.sport == 40000 && c.reply.dport == 22 && c.status == 0x1a8 && c.mark == 5 && c.zone == 3)
        #expect(c.ctinfo == 2 && c.family == 4 && c.protonum == 6)
        #expect(withUnsafeBytes(of: c) { Array($0) } == withUnsafeBytes(of: ct) { Array($0) })
        #expect(withUnsafeBytes(of: r) { Array($0) } == withUnsafeBytes(of: route) { Array($0) })
        #expect(back.header.match == UInt8(ST_MATCH_FLOW.rawValue) && back.header.lost_before == 9)
        #expect(withUnsafeBytes(of: back.context) { Array($0[4...]) } == withUnsafeBytes(of: ev.context) { Array($0[4...]) })
        #expect(withUnsafeBytes(of: back.packet.raw) { Array($0) } == withUnsafeBytes(of: ev.packet.raw) { Array($0) })
        #expect(EventRecord.bytes(back) == bytes)
        // A consume_skb's location alone is a location section, not a drop.
        var consume = Fixtures.kfreeSkbDrop()
        consume.probe = UInt16(ST_PROBE_CONSUME_SKB.rawValue)
        consume.flags &= ~FlatEvent.DROP
        let freed = try Fixtures.decode(consume.bytes)
        #expect(!freed.isDrop && freed.dropReason == nil && freed.location == Fixtures.tcpV4Rcv + 0x10 && freed.hasLocation)
        #expect(consume.bytes.count == FlatEvent.plainSize + MemoryLayout<st_sec_location>.size)
        #expect(consume.bytes[FlatEvent.plainSize] == UInt8(ST_SEC_LOCATION.rawValue))
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
        #expect(ev.dropReason == 2)
        #expect(ev.location == Fixtures.tcpV4Rcv + 0x10)
        #expect(ev.probeName == "kfree_skb")
        #expect(ev.probe?.group == .life)
        #expect(ev.comm == "swapper/3")
        #expect(ev.ifname == "")
    }

    /// Without ST_PKT_L3 the address bytes are not valid and must not be shown.
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
        let good = Fixtures.bytes(of: Fixtures.icmpEchoRequest())   // 168 bytes: header, context, packet
        let n = good.count
        func sized(_ b: [UInt8], _ size: Int) -> [UInt8] {
            var b = b
            put16(UInt16(size), at: 2, in: &b)
            return b
        }
        /// `good` with the section at `at` given another size field.
        func section(at: Int, size: UInt16, record: [UInt8]? = nil) -> [UInt8] {
            var b = record ?? good
            put16(size, at: at + 2, in: &b)
            return b
        }
        var unknownKind = good
        unknownKind[0] = 2
        var zeroKind = good
        zeroKind[0] = 0
        var swappedSize = good   // 168 big-endian
        swappedSize[2] = 0; swappedSize[3] = UInt8(n)
        let packet = UInt16(ST_SEC_PACKET.rawValue), context = UInt16(ST_SEC_CONTEXT.rawValue)
        // More bytes: an empty section (type 0, size 0), a section header whose
        // section runs past the record, half a section header.
        let zeroSection = sized(good + [UInt8](repeating: 0, count: 8), n + 8)
        let pastTheEnd = sized(good + [99, 0, 8, 0], n + 4)
        let halfHeader = sized(good + [99, 0], n + 2)
        // Sections of 12 bytes (and 4 bytes of padding): an unknown one, and a
        // stack of no frames, whose sizes are not multiples of 8.
        let unknown12 = sized(good + [99, 0, 12, 0] + [UInt8](repeating: 0, count: 12), n + 16)
        let stack12 = sized(good + [UInt8(ST_SEC_STACK.rawValue), 0, 12, 0] + [UInt8](repeating: 0, count: 12), n + 16)
        return [
            BadRecord(name: "empty", bytes: [], error: .truncated(0)),
            BadRecord(name: "3 bytes", bytes: [1, 0, UInt8(n)], error: .truncated(3)),
            BadRecord(name: "header only", bytes: Array(good.prefix(4)), error: .truncated(4)),
            BadRecord(name: "one byte short", bytes: Array(good.prefix(n - 1)), error: .truncated(n - 1)),
            BadRecord(name: "half a record", bytes: Array(good.prefix(84)), error: .truncated(84)),
            BadRecord(name: "kind 2", bytes: unknownKind, error: .unknownKind(2)),
            BadRecord(name: "kind 0", bytes: zeroKind, error: .unknownKind(0)),
            BadRecord(name: "size past the bytes", bytes: sized(good, n + 8), error: .truncated(n)),
            BadRecord(name: "size byte-swapped", bytes: swappedSize, error: .truncated(n)),
            BadRecord(name: "size below the header", bytes: sized(good, 24), error: .sizeMismatch(24)),
            BadRecord(name: "size ends in the packet section", bytes: sized(good, n - 8), error: .badSection(packet)),
            BadRecord(name: "a section of size 0", bytes: zeroSection, error: .badSection(0)),
            BadRecord(name: "a section header past the record", bytes: pastTheEnd, error: .badSection(99)),
            BadRecord(name: "half a section header", bytes: halfHeader, error: .badSection(0)),
            BadRecord(name: "unknown section of 12 bytes", bytes: unknown12, error: .badSection(99)),
            BadRecord(name: "stack section of 12 bytes", bytes: stack12, error: .badSection(UInt16(ST_SEC_STACK.rawValue))),
            BadRecord(name: "packet section size not a multiple of 8", bytes: section(at: 96, size: 68), error: .badSection(packet)),
            BadRecord(name: "packet section past the record", bytes: section(at: 96, size: 80), error: .badSection(packet)),
            BadRecord(name: "context section a multiple of 8 but short", bytes: section(at: 32, size: 56), error: .badSection(context)),
            BadRecord(name: "no packet section", bytes: sized(Array(good.prefix(96)), 96), error: .badSection(packet)),
            BadRecord(name: "header only, sized so", bytes: sized(Array(good.prefix(32)), 32), error: .badSection(context)),
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
