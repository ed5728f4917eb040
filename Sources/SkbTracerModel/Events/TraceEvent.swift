import CSkbTracerABI

/// One event, decoded once from its record (a header and tagged sections,
/// skbtracer_abi.h): the header, the context and packet every event has, and
/// the optional sections. Readers ask this type and `Packet` what applies.
public struct TraceEvent: @unchecked Sendable {
    /// Probe, CPU, time, skb, why it was emitted, losses before it.
    public var header: st_record
    /// Where and in which task the probe fired.
    public var context: st_sec_context
    public var packet: Packet
    /// kfree_skb's drop reason (nil: not a drop).
    public var dropReason: UInt32?
    /// kfree_skb's and consume_skb's caller, or the function a function probe
    /// fired in; 0 when the probe has none.
    public var location: UInt64 = 0
    /// The skb's socket (`--owner`): nil when not asked for.
    public var socket: Socket?
    /// Kernel return addresses at the probe, innermost first (`--dropstack`,
    /// `--callstack`); nil when none was recorded.
    public var stack: [UInt64]?
    /// The lookup's result, for route probes (`fib_table_lookup`, `fib6_table_lookup`).
    public var route: st_route?
    /// The skb's conntrack entry (`--ct`); nil when it had none or --ct is off.
    public var ct: st_ct?
    /// The packet inside, for a tunnel packet whose inner headers BPF read.
    public var tunnel: Tunnel?
    /// `--output-skb`: the sk_buff as BTF prints it; "" when asked for but none
    /// came (the ring was full), nil when not asked for.
    public var skbDump: String?
    /// The kernel function a function probe (kprobe backends) fired in, named
    /// from `location` when the event is decoded; nil for tracepoints.
    public var function: String?
    /// A netfilter hook program's event (`--netfilter`): which hook, which end.
    public var netfilterHook: NetfilterHookPass?
    /// An nf_tables verdict (`--netfilter`, nftrace): an ST_PROBE_NFT_RULE event's rule.
    public var nftVerdict: NftVerdict?
    /// `--write`: the packet's first bytes; nil when none were captured.
    public var payload: Payload?
    /// `--output-caller`: the return address of the probed function (function
    /// events only); nil when not asked for or not read.
    public var caller: UInt64?

    public struct Socket: Equatable, Sendable {
        /// The socket's inode (ss -e, /proc/PID/fd); 0: no full socket.
        public var inode: UInt32
        /// Its uid; `UInt32.max` (ST_SOCK_KERNEL) for a kernel socket.
        public var uid: UInt32
        public var isKernel: Bool { uid == ST_SOCK_KERNEL }
        public init(inode: UInt32, uid: UInt32) { self.inode = inode; self.uid = uid }
    }

    public enum DecodeError: Error, Equatable {
        case truncated(Int)
        case unknownKind(UInt16)
        case sizeMismatch(UInt16)
        /// A section whose size is not a multiple of 8 or runs past the record,
        /// or a known section of the wrong size.
        case badSection(UInt16)
    }

    public init(header: st_record = st_record(), context: st_sec_context = st_sec_context(), packet: Packet = Packet()) {
        self.header = header
        self.context = context
        self.packet = packet
        self.header.kind = UInt16(ST_RECORD_EVENT.rawValue)
    }

    static let headerSize = MemoryLayout<st_record>.size
    static let contextSize = MemoryLayout<st_sec_context>.size
    static let fixedStart = headerSize + contextSize + MemoryLayout<st_sec_packet>.size
    /// A section's first four bytes (type, then size; little-endian hosts and
    /// big-endian alike, as the file's byte order is the host's).
    static func tag(_ type: st_section_type, size: Int) -> UInt32 {
        var s = st_section(type: UInt16(type.rawValue), size: UInt16(size))
        return withUnsafeBytes(of: &s) { $0.loadUnaligned(as: UInt32.self) }
    }
    static let contextTag = tag(ST_SEC_CONTEXT, size: contextSize)
    static let packetTag = tag(ST_SEC_PACKET, size: MemoryLayout<st_sec_packet>.size)

    /// Checks kind and sizes, then takes the sections it knows and steps over the others.
    public init(bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        guard bytes.count >= 4 else { throw .truncated(bytes.count) }
        let kind = bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        let size = Int(bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        guard kind == UInt16(ST_RECORD_EVENT.rawValue) else { throw .unknownKind(kind) }
        guard size >= Self.headerSize else { throw .sizeMismatch(UInt16(size)) }
        guard bytes.count >= size else { throw .truncated(bytes.count) }
        self.init(header: bytes.loadUnaligned(as: st_record.self))
        var at = Self.headerSize
        var sawContext = false, sawPacket = false
        // BPF writes the context and packet sections first: taken without the
        // walk's checks when they are there, as most events are decoded live.
        if size >= Self.fixedStart, bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self) == Self.contextTag,
           bytes.loadUnaligned(fromByteOffset: at + Self.contextSize, as: UInt32.self) == Self.packetTag {
            context = bytes.loadUnaligned(fromByteOffset: at, as: st_sec_context.self)
            packet = Packet(raw: bytes.loadUnaligned(fromByteOffset: at + Self.contextSize + 4, as: st_packet.self))
            sawContext = true
            sawPacket = true
            at = Self.fixedStart
        }
        while at < size {
            guard size - at >= 4 else { throw .badSection(0) }
            let type = bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: at + 2, as: UInt16.self))
            guard length >= 8, length % 8 == 0, length <= size - at else { throw .badSection(type) }
            try decodeSection(type, length: length, bytes, at: at, sawContext: &sawContext, sawPacket: &sawPacket)
            at += length
        }
        guard sawContext, sawPacket else { throw .badSection(sawContext ? UInt16(ST_SEC_PACKET.rawValue) : UInt16(ST_SEC_CONTEXT.rawValue)) }
    }

    private mutating func decodeSection(_ type: UInt16, length: Int, _ bytes: UnsafeRawBufferPointer, at: Int,
                                        sawContext: inout Bool, sawPacket: inout Bool) throws(DecodeError) {
        func load<T>(_: T.Type) throws(DecodeError) -> T {
            guard length == MemoryLayout<T>.size else { throw .badSection(type) }
            return bytes.loadUnaligned(fromByteOffset: at, as: T.self)
        }
        switch UInt32(type) {
        case ST_SEC_CONTEXT.rawValue:
            context = try load(st_sec_context.self)
            sawContext = true
        case ST_SEC_PACKET.rawValue:
            packet = Packet(raw: try load(st_sec_packet.self).pkt)
            sawPacket = true
        case ST_SEC_DROP.rawValue, ST_SEC_LOCATION.rawValue:
            let l = try load(st_sec_location.self)
            location = l.location
            dropReason = UInt32(type) == ST_SEC_DROP.rawValue ? l.drop_reason : nil
        case ST_SEC_SOCKET.rawValue:
            let s = try load(st_sec_socket.self)
            socket = Socket(inode: s.ino, uid: s.uid)
        case ST_SEC_ROUTE.rawValue:
            route = try load(st_sec_route.self).route
        case ST_SEC_CONNTRACK.rawValue:
            ct = try load(st_sec_ct.self).ct
        case ST_SEC_TUNNEL.rawValue:
            tunnel = Tunnel(try load(st_sec_tunnel.self))
        case ST_SEC_NF_HOOK.rawValue:
            netfilterHook = NetfilterHookPass(try load(st_sec_nf_hook.self))
        case ST_SEC_PAYLOAD.rawValue:
            let (p, valid) = Payload.decode(bytes, at: at, length: length)
            guard valid else { throw .badSection(type) }
            payload = p
        case ST_SEC_CALLER.rawValue:
            let c = try load(st_sec_caller.self).caller
            caller = c == 0 ? nil : c
        case ST_SEC_NFT_VERDICT.rawValue:
            guard let v = NftVerdict(bytes, at: at, length: length) else { throw .badSection(type) }
            nftVerdict = v
        case ST_SEC_STACK.rawValue:
            guard length >= 8 else { throw .badSection(type) }
            let frames = (length - 8) / 8
            let count = min(Int(bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)), frames, Int(ST_STACK_MAX))
            stack = (0..<count).map { bytes.loadUnaligned(fromByteOffset: at + 8 + 8 * $0, as: UInt64.self) }
        default:
            break // a section of a newer build: stepped over
        }
    }

    // The header's and context's facts, by name.
    public var time: UInt64 { header.ts_ns }
    public var skb: UInt64 { header.skb }
    public var probeID: UInt16 { header.probe }
    public var cpu: UInt32 { header.cpu }
    public var netns: UInt32 { context.netns }
    public var ifindex: UInt32 { context.ifindex }

    public var probe: Probe? { ProbeCatalogue.probe(id: header.probe) }
    /// A route lookup that is no packet's (a socket choosing its route): its
    /// tuple is the lookup's flow, and it has no skb, length or interface.
    public var isRouteFlow: Bool { route != nil && header.skb == 0 }
    public var probeName: String { function ?? ProbeCatalogue.name(id: header.probe) ?? "probe-\(header.probe)" }
    /// Fired at a kernel function's entry (kprobe backends): `location` is the function.
    public var isFunction: Bool { header.probe == UInt16(ST_PROBE_FUNCTION) }
    /// The probe's name as the formatters print it.
    public var probeNameBytes: [UInt8] { function.map { Array($0.utf8) } ?? ProbeCatalogue.nameBytes(id: header.probe) }
    public var isDrop: Bool { dropReason != nil }
    /// An nf_tables verdict (nftrace's, read from netlink): no BPF program
    /// wrote it, so it has no CPU or task.
    public var isNftVerdict: Bool { header.probe == UInt16(ST_PROBE_NFT_RULE) }
    public var hasTask: Bool { !isNftVerdict }
    public var hasLocation: Bool { location != 0 && !isFunction }
    /// BPF followed this skb from an earlier event: the same packet (not a flow match).
    public var isSameTrackedSkb: Bool { header.match == UInt8(ST_MATCH_SKB.rawValue) }
    /// Followed by skb address or a NATed flow, not matched by the filter.
    public var isTracked: Bool { header.match != UInt8(ST_MATCH_FILTER.rawValue) }
    /// The skb's end: the free tracepoints, or with a function backend the
    /// functions every free ends in (`freeFunctions`).
    public var isFree: Bool {
        header.probe == UInt16(ST_PROBE_KFREE_SKB.rawValue) || header.probe == UInt16(ST_PROBE_CONSUME_SKB.rawValue)
            || (isFunction && function.map(Self.freeFunctions.contains) == true)
    }

    /// Where every skb free ends (`__kfree_skb` and the `kfree_skbmem` it calls;
    /// also reached from frees that fire no tracepoint), as pwru ends tracking.
    public static let freeFunctions = ["__kfree_skb", "kfree_skbmem"]

    // The packet's, for the many readers that need only these.
    public var hasMAC: Bool { packet.hasMAC }
    public var hasL3: Bool { packet.hasL3 }
    public var hasL4: Bool { packet.hasL4 }
    public var tupleFromSocket: Bool { packet.fromSocket }
    public var isIPv4: Bool { packet.isIPv4 }
    public var isIPv6: Bool { packet.isIPv6 }
    public var isARP: Bool { packet.isARP }
    public var isTCP: Bool { packet.isTCP }
    public var isUDP: Bool { packet.isUDP }
    public var isICMP: Bool { packet.isICMP }
    public var saddr: IPAddress? { packet.saddr }
    public var daddr: IPAddress? { packet.daddr }

    public var ifname: String { Self.string(context.ifname) }
    public var comm: String { Self.string(context.comm) }

    /// 16 address bytes in the family of the event's packet (its conntrack tuples' too).
    func address(_ t: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                       UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> IPAddress? {
        packet.address(t)
    }

    /// A fixed-size C char array up to its first NUL.
    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { buf in
            let end = buf.firstIndex(of: 0) ?? buf.count
            return String(decoding: buf[..<end], as: UTF8.self)
        }
    }
}
