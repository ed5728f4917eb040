import CSkbTracerABI

/// One decoded ring-buffer event: the C record plus typed accessors.
///
/// Decoding copies the fixed-size C struct out of the ring (about 260
/// instructions); everything else is read lazily by the formatters.
public struct TraceEvent: @unchecked Sendable {
    public var raw: st_event
    /// Kernel return addresses at the probe, innermost first (`--dropstack`,
    /// `--callstack`); nil when none was recorded.
    public var stack: [UInt64]?
    /// The lookup's result, for route probes (`fib_table_lookup`, `fib6_table_lookup`).
    public var route: st_route?

    public enum DecodeError: Error, Equatable {
        case truncated(Int)
        case unknownKind(UInt16)
        case sizeMismatch(UInt16)
    }

    public init(raw: st_event, stack: [UInt64]? = nil, route: st_route? = nil) {
        self.raw = raw
        self.stack = stack
        self.route = route
    }

    /// Checks kind and size before reading the record.
    public init(bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        guard bytes.count >= 4 else { throw .truncated(bytes.count) }
        let kind = bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        let size = bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        guard kind == UInt16(ST_RECORD_EVENT.rawValue) else { throw .unknownKind(kind) }
        let plain = MemoryLayout<st_event>.size
        guard Int(size) == plain || Int(size) == MemoryLayout<st_stack_event>.size
                || Int(size) == MemoryLayout<st_route_event>.size else { throw .sizeMismatch(size) }
        guard bytes.count >= Int(size) else { throw .truncated(bytes.count) }
        raw = bytes.loadUnaligned(as: st_event.self)
        stack = nil
        route = nil
        if Int(size) == MemoryLayout<st_route_event>.size {
            route = bytes.loadUnaligned(fromByteOffset: plain, as: st_route.self)
            return
        }
        if Int(size) == MemoryLayout<st_stack_event>.size {
            // st_stack_event: nr_frames, pad, then ips[ST_STACK_MAX].
            let n = min(Int(bytes.loadUnaligned(fromByteOffset: plain, as: UInt32.self)), Int(ST_STACK_MAX))
            stack = (0..<n).map { bytes.loadUnaligned(fromByteOffset: plain + 8 + 8 * $0, as: UInt64.self) }
        }
    }

    public var probe: Probe? { ProbeCatalogue.probe(id: raw.probe) }
    /// A route lookup that is no packet's (a socket choosing its route): its
    /// tuple is the lookup's flow, and it has no skb, length or interface.
    public var isRouteFlow: Bool { route != nil && raw.skb == 0 }
    public var probeName: String { probe?.name ?? "probe-\(raw.probe)" }
    public var flags: UInt8 { raw.flags }
    public var hasMAC: Bool { raw.flags & UInt8(ST_EVF_MAC.rawValue) != 0 }
    public var hasL3: Bool { raw.flags & UInt8(ST_EVF_L3.rawValue) != 0 }
    public var hasL4: Bool { raw.flags & UInt8(ST_EVF_L4.rawValue) != 0 }
    public var isDrop: Bool { raw.flags & UInt8(ST_EVF_DROP.rawValue) != 0 }
    public var hasLocation: Bool { raw.flags & UInt8(ST_EVF_LOCATION.rawValue) != 0 }
    /// Followed by skb address or a NATed flow, not matched by the filter.
    /// BPF followed this skb from an earlier event: the same packet (not a flow match).
    public var isSameTrackedSkb: Bool { raw.match == UInt8(ST_MATCH_SKB.rawValue) }
    public var isTracked: Bool { raw.flags & UInt8(ST_EVF_TRACKED.rawValue) != 0 }
    public var isFree: Bool { raw.probe == UInt16(ST_PROBE_KFREE_SKB.rawValue) || raw.probe == UInt16(ST_PROBE_CONSUME_SKB.rawValue) }
    public var tupleFromSocket: Bool { raw.flags & UInt8(ST_EVF_FROM_SOCK.rawValue) != 0 }
    public var isIPv4: Bool { raw.l3_proto == 0x0800 }
    public var isIPv6: Bool { raw.l3_proto == 0x86DD }
    public var isARP: Bool { raw.l3_proto == 0x0806 }
    public var isTCP: Bool { hasL3 && raw.l4_proto == 6 }
    public var isUDP: Bool { hasL3 && raw.l4_proto == 17 }
    public var isICMP: Bool { hasL3 && (raw.l4_proto == 1 && isIPv4 || raw.l4_proto == 58 && isIPv6) }

    public var ifname: String { Self.string(raw.ifname) }
    public var comm: String { Self.string(raw.comm) }

    public var saddr: IPAddress? { address(raw.saddr) }
    public var daddr: IPAddress? { address(raw.daddr) }

    private func address(_ t: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                               UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> IPAddress? {
        guard hasL3, isIPv4 || isIPv6 || isARP else { return nil }
        return withUnsafeBytes(of: t) { IPAddress(raw: $0, isIPv4: !isIPv6) }
    }

    /// A fixed-size C char array up to its first NUL.
    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { buf in
            let end = buf.firstIndex(of: 0) ?? buf.count
            return String(decoding: buf[..<end], as: UTF8.self)
        }
    }
}
