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
    /// The skb's conntrack entry (`--ct`); nil when it had none or --ct is off.
    public var ct: st_ct?
    /// `--output-skb`: the sk_buff as BTF prints it; "" when asked for but none
    /// came (the ring was full), nil when not asked for.
    public var skbDump: String?
    /// The kernel function a function probe (kprobe backends) fired in, named
    /// from `raw.location` when the event is decoded; nil for tracepoints.
    public var function: String?

    public enum DecodeError: Error, Equatable {
        case truncated(Int)
        case unknownKind(UInt16)
        case sizeMismatch(UInt16)
    }

    public init(raw: st_event, stack: [UInt64]? = nil, route: st_route? = nil, ct: st_ct? = nil) {
        self.raw = raw
        self.stack = stack
        self.route = route
        self.ct = ct
    }

    /// The record layouts, by size: what follows the st_event.
    static let plainSize = MemoryLayout<st_event>.size
    static let stackSize = MemoryLayout<st_stack_event>.size
    static let routeSize = MemoryLayout<st_route_event>.size
    static let ctSize = MemoryLayout<st_ct_event>.size
    static let ctStackSize = MemoryLayout<st_ct_stack_event>.size

    /// Checks kind and size before reading the record.
    public init(bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        guard bytes.count >= 4 else { throw .truncated(bytes.count) }
        let kind = bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        let size = bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        guard kind == UInt16(ST_RECORD_EVENT.rawValue) else { throw .unknownKind(kind) }
        let plain = Self.plainSize, n = Int(size)
        guard n == plain || n == Self.stackSize || n == Self.routeSize || n == Self.ctSize || n == Self.ctStackSize else {
            throw .sizeMismatch(size)
        }
        guard bytes.count >= n else { throw .truncated(bytes.count) }
        raw = bytes.loadUnaligned(as: st_event.self)
        stack = nil
        route = nil
        ct = nil
        skbDump = nil
        function = nil
        var tail = plain
        if n == Self.routeSize { route = bytes.loadUnaligned(fromByteOffset: plain, as: st_route.self) }
        if n == Self.ctSize || n == Self.ctStackSize {
            ct = bytes.loadUnaligned(fromByteOffset: plain, as: st_ct.self)
            tail += MemoryLayout<st_ct>.size
        }
        if n == Self.stackSize || n == Self.ctStackSize {
            // nr_frames, pad, then ips[ST_STACK_MAX].
            let count = min(Int(bytes.loadUnaligned(fromByteOffset: tail, as: UInt32.self)), Int(ST_STACK_MAX))
            let at = tail + 8
            stack = (0..<count).map { bytes.loadUnaligned(fromByteOffset: at + 8 * $0, as: UInt64.self) }
        }
    }

    public var probe: Probe? { ProbeCatalogue.probe(id: raw.probe) }
    /// A route lookup that is no packet's (a socket choosing its route): its
    /// tuple is the lookup's flow, and it has no skb, length or interface.
    public var isRouteFlow: Bool { route != nil && raw.skb == 0 }
    public var probeName: String { function ?? probe?.name ?? "probe-\(raw.probe)" }
    /// Fired at a kernel function's entry (kprobe backends): `raw.location` is the function.
    public var isFunction: Bool { raw.probe == UInt16(ST_PROBE_FUNCTION) }
    /// The probe's name as the formatters print it.
    var probeNameBytes: [UInt8] { function.map { Array($0.utf8) } ?? ProbeCatalogue.nameBytes(id: raw.probe) }
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

    /// 16 address bytes in the family of the event's packet (its conntrack tuples' too).
    func address(_ t: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
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
