import CSkbTracerABI
import SkbTracerModel

/// Events of recording formats 1 to 3: one `struct st_event` of 168 bytes (1, 2)
/// or 176 (3, with the socket), followed by a route result, a conntrack entry
/// and/or a stack, told apart by the record's size. That struct is gone from
/// the ABI header; its layout lives here, for reading old files only.
enum LegacyEvent {
    /// st_event's size in versions 1 and 2, and in 3.
    static let sizeBeforeSocket = 168
    static let sizeWithSocket = 176
    static let routeSize = 96, ctSize = 88, stackSize = 8 + 8 * 32

    /// Old st_event.flags bits beyond the packet's own (which keep their values).
    static let flagDrop: UInt8 = 1 << 4
    static let flagLocation: UInt8 = 1 << 5

    static func eventSize(version: UInt16) -> Int { version < 3 ? sizeBeforeSocket : sizeWithSocket }

    /// Nil when the size fits none of the old layouts.
    static func decode(_ r: UnsafeRawBufferPointer, eventSize n: Int) -> TraceEvent? {
        let size = Int(r.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        guard size <= r.count, size >= n else { return nil }
        let tail = size - n
        let hasRoute = tail == routeSize
        let hasCT = tail == ctSize || tail == ctSize + stackSize
        let hasStack = tail == stackSize || tail == ctSize + stackSize
        guard tail == 0 || hasRoute || hasCT || hasStack else { return nil }
        func u8(_ o: Int) -> UInt8 { r[o] }
        func u16(_ o: Int) -> UInt16 { r.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { r.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { r.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
        func bytes<T>(_ o: Int, into value: inout T) {
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: r[o..<o + $0.count])) }
        }

        var e = TraceEvent()
        e.header.probe = u16(4)
        e.header.cpu = u32(8)
        e.header.lost_before = u32(12)
        e.header.ts_ns = u64(16)
        e.header.skb = u64(24)
        e.header.match = u8(85)
        let location = u64(32), flags = u8(83)
        e.context.pid = u32(40)
        e.context.tid = u32(44)
        e.context.netns = u32(48)
        e.context.ifindex = u32(52)
        e.context.mark = u32(56)
        e.context.skb_len = u32(60)
        e.context.pkt_type = u8(82)
        bytes(130, into: &e.context.ifname)
        bytes(146, into: &e.context.comm)
        var p = st_packet()
        p.l3_proto = u16(6)
        p.ip_len = u16(68)
        p.sport = u16(70)
        p.dport = u16(72)
        p.icmp_id = u16(74)
        p.icmp_seq = u16(76)
        p.l4_proto = u8(78)
        p.tcp_flags = u8(79)
        p.icmp_type = u8(80)
        p.icmp_code = u8(81)
        p.flags = flags & 0x0F // MAC, L3, L4, FROM_SOCK: the same bits as ST_PKT_*
        p.ttl = u8(84)
        bytes(86, into: &p.dmac)
        bytes(92, into: &p.smac)
        bytes(98, into: &p.saddr)
        bytes(114, into: &p.daddr)
        p.ip_id = u16(162)
        bytes(164, into: &p.tcp_seq)
        e.packet = Packet(raw: p)
        if flags & flagDrop != 0 { e.dropReason = u32(64) }
        if flags & flagLocation != 0 || e.isFunction { e.location = location }
        if n == sizeWithSocket, u32(168) != 0 { e.socket = TraceEvent.Socket(inode: u32(168), uid: u32(172)) }
        var at = n
        if hasRoute {
            var route = st_route()
            bytes(at, into: &route)
            e.route = route
        }
        if hasCT {
            var ct = st_ct()
            bytes(at, into: &ct)
            e.ct = ct
            at += ctSize
        }
        if hasStack {
            let count = min(Int(u32(at)), 32)
            e.stack = (0..<count).map { u64(at + 8 + 8 * $0) }
        }
        return e
    }
}
