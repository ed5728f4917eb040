import CSkbTracerABI

/// Writes an event back as BPF writes it (skbtracer_abi.h): the header, then
/// its sections in the order of enum st_section_type. The recorder writes
/// events read from older files this way, and tests build records with it.
public enum EventRecord {
    public static func append(_ e: TraceEvent, to b: inout ByteBuffer) {
        let start = b.count
        var header = e.header
        header.kind = UInt16(ST_RECORD_EVENT.rawValue)
        header.size = 0 // patched below
        withUnsafeBytes(of: &header) { b.append(bytes: $0) }
        var context = e.context
        context.sec = st_section(type: UInt16(ST_SEC_CONTEXT.rawValue), size: UInt16(MemoryLayout<st_sec_context>.size))
        withUnsafeBytes(of: &context) { b.append(bytes: $0) }
        var packet = st_sec_packet(sec: st_section(type: UInt16(ST_SEC_PACKET.rawValue),
                                                   size: UInt16(MemoryLayout<st_sec_packet>.size)), pkt: e.packet.raw)
        withUnsafeBytes(of: &packet) { b.append(bytes: $0) }
        if e.dropReason != nil || e.location != 0 {
            let type = e.dropReason != nil ? ST_SEC_DROP : ST_SEC_LOCATION
            var l = st_sec_location(sec: st_section(type: UInt16(type.rawValue), size: UInt16(MemoryLayout<st_sec_location>.size)),
                                    drop_reason: e.dropReason ?? 0, location: e.location)
            withUnsafeBytes(of: &l) { b.append(bytes: $0) }
        }
        if let c = e.caller {
            var sec = st_sec_caller(sec: st_section(type: UInt16(ST_SEC_CALLER.rawValue), size: UInt16(MemoryLayout<st_sec_caller>.size)),
                                    pad: 0, caller: c)
            withUnsafeBytes(of: &sec) { b.append(bytes: $0) }
        }
        if let s = e.socket {
            var sec = st_sec_socket(sec: st_section(type: UInt16(ST_SEC_SOCKET.rawValue), size: UInt16(MemoryLayout<st_sec_socket>.size)),
                                    ino: s.inode, uid: s.uid, pad: 0)
            withUnsafeBytes(of: &sec) { b.append(bytes: $0) }
        }
        if let route = e.route {
            var sec = st_sec_route(sec: st_section(type: UInt16(ST_SEC_ROUTE.rawValue), size: UInt16(MemoryLayout<st_sec_route>.size)),
                                   pad: 0, route: route)
            withUnsafeBytes(of: &sec) { b.append(bytes: $0) }
        }
        if let ct = e.ct {
            var sec = st_sec_ct(sec: st_section(type: UInt16(ST_SEC_CONNTRACK.rawValue), size: UInt16(MemoryLayout<st_sec_ct>.size)),
                                pad: 0, ct: ct)
            withUnsafeBytes(of: &sec) { b.append(bytes: $0) }
        }
        if var tunnel = e.tunnel?.section {
            withUnsafeBytes(of: &tunnel) { b.append(bytes: $0) }
        }
        if var hook = e.netfilterHook?.section {
            withUnsafeBytes(of: &hook) { b.append(bytes: $0) }
        }
        e.nftVerdict?.append(to: &b)
        e.payload?.append(to: &b)
        if let stack = e.stack {
            // Only the frames there are: a reader takes the count from the size too.
            let n = min(stack.count, Int(ST_STACK_MAX))
            b.appendNative(UInt16(ST_SEC_STACK.rawValue))
            b.appendNative(UInt16(8 + 8 * n))
            b.appendNative(UInt32(n))
            for frame in stack.prefix(n) { b.appendNative(frame) }
        }
        b.patch(UInt16(b.count - start), at: start + 2)
    }

    public static func bytes(_ e: TraceEvent) -> [UInt8] {
        var b = ByteBuffer()
        append(e, to: &b)
        return b.bytes
    }

}
