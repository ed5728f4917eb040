import CSkbTracerABI
@testable import SkbTracerModel
@testable import SkbTracerSession

/// The fields of the flat `struct st_event` of formats 1-3, by their old names,
/// so fixtures read as one list of facts. `event` turns it into the header and
/// sections a `TraceEvent` has: the DROP and LOCATION flags say whether
/// `drop_reason` and `location` apply (as when LegacyEvent reads them), TRACKED (or `match`) sets the header's
/// match, and a socket inode other than 0 makes a socket section.
struct FlatEvent {
    var header = st_record()
    var context = st_sec_context()
    var packet = st_packet()
    /// Old st_event.flags: the packet's bits (ST_PKT_*, same values) and the ones below.
    var flags: UInt8 = 0
    var drop_reason: UInt32 = 0
    var location: UInt64 = 0
    var sock_ino: UInt32 = 0
    var sock_uid: UInt32 = 0

    static let DROP = LegacyEvent.flagDrop
    static let LOCATION = LegacyEvent.flagLocation
    static let STACK: UInt8 = 1 << 6
    static let TRACKED: UInt8 = 1 << 7
    static let packetFlags: UInt8 = 0x0F

    init() { header.kind = UInt16(ST_RECORD_EVENT.rawValue) }

    /// The flat view of a decoded event.
    init(_ e: TraceEvent) {
        header = e.header
        context = e.context
        packet = e.packet.raw
        flags = packet.flags & Self.packetFlags
        if let reason = e.dropReason { flags |= Self.DROP; drop_reason = reason }
        if e.hasLocation { flags |= Self.LOCATION }
        location = e.location
        if e.stack != nil { flags |= Self.STACK }
        if e.isTracked { flags |= Self.TRACKED }
        sock_ino = e.socket?.inode ?? 0
        sock_uid = e.socket?.uid ?? 0
    }

    var event: TraceEvent {
        var p = packet
        p.flags = flags & Self.packetFlags
        var h = header
        if flags & Self.TRACKED != 0 && h.match == UInt8(ST_MATCH_FILTER.rawValue) {
            h.match = UInt8(ST_MATCH_FLOW.rawValue) // tracked, but not as the same skb
        }
        var e = TraceEvent(header: h, context: context, packet: Packet(raw: p))
        if flags & Self.DROP != 0 { e.dropReason = drop_reason }
        // As LegacyEvent reads the old flags: LOCATION says the location applies.
        if flags & Self.LOCATION != 0 || e.isFunction { e.location = location }
        if sock_ino != 0 { e.socket = TraceEvent.Socket(inode: sock_ino, uid: sock_uid) }
        return e
    }

    /// A record with a context and a packet section only.
    static let plainSize = MemoryLayout<st_record>.size + MemoryLayout<st_sec_context>.size + MemoryLayout<st_sec_packet>.size
    /// The record of an event with a route result.
    static let routeSize = plainSize + MemoryLayout<st_sec_route>.size

    /// The record as BPF writes it.
    var bytes: [UInt8] { EventRecord.bytes(event) }

    // st_record
    var kind: UInt16 { get { header.kind } set { header.kind = newValue } }
    var probe: UInt16 { get { header.probe } set { header.probe = newValue } }
    var match: UInt8 { get { header.match } set { header.match = newValue } }
    var cpu: UInt32 { get { header.cpu } set { header.cpu = newValue } }
    var lost_before: UInt32 { get { header.lost_before } set { header.lost_before = newValue } }
    var ts_ns: UInt64 { get { header.ts_ns } set { header.ts_ns = newValue } }
    var skb: UInt64 { get { header.skb } set { header.skb = newValue } }
    // st_sec_context
    var netns: UInt32 { get { context.netns } set { context.netns = newValue } }
    var ifindex: UInt32 { get { context.ifindex } set { context.ifindex = newValue } }
    var mark: UInt32 { get { context.mark } set { context.mark = newValue } }
    var skb_len: UInt32 { get { context.skb_len } set { context.skb_len = newValue } }
    var pid: UInt32 { get { context.pid } set { context.pid = newValue } }
    var tid: UInt32 { get { context.tid } set { context.tid = newValue } }
    var pkt_type: UInt8 { get { context.pkt_type } set { context.pkt_type = newValue } }
    var ifname: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar,
                 CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar) {
        get { context.ifname } set { context.ifname = newValue }
    }
    var comm: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar,
               CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar) {
        get { context.comm } set { context.comm = newValue }
    }
    // st_packet
    var l3_proto: UInt16 { get { packet.l3_proto } set { packet.l3_proto = newValue } }
    var l4_proto: UInt8 { get { packet.l4_proto } set { packet.l4_proto = newValue } }
    var ip_len: UInt16 { get { packet.ip_len } set { packet.ip_len = newValue } }
    var ip_id: UInt16 { get { packet.ip_id } set { packet.ip_id = newValue } }
    var ttl: UInt8 { get { packet.ttl } set { packet.ttl = newValue } }
    var tcp_flags: UInt8 { get { packet.tcp_flags } set { packet.tcp_flags = newValue } }
    var icmp_type: UInt8 { get { packet.icmp_type } set { packet.icmp_type = newValue } }
    var icmp_code: UInt8 { get { packet.icmp_code } set { packet.icmp_code = newValue } }
    var icmp_id: UInt16 { get { packet.icmp_id } set { packet.icmp_id = newValue } }
    var icmp_seq: UInt16 { get { packet.icmp_seq } set { packet.icmp_seq = newValue } }
    var sport: UInt16 { get { packet.sport } set { packet.sport = newValue } }
    var dport: UInt16 { get { packet.dport } set { packet.dport = newValue } }
    var tcp_seq: (UInt8, UInt8, UInt8, UInt8) { get { packet.tcp_seq } set { packet.tcp_seq = newValue } }
    var dmac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) { get { packet.dmac } set { packet.dmac = newValue } }
    var smac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) { get { packet.smac } set { packet.smac = newValue } }
    var saddr: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        get { packet.saddr } set { packet.saddr = newValue }
    }
    var daddr: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        get { packet.daddr } set { packet.daddr = newValue }
    }
}

extension TraceEvent {
    /// An event from flat fixture fields and the parts that follow them.
    init(raw: FlatEvent, stack: [UInt64]? = nil, route: st_route? = nil, ct: st_ct? = nil) {
        self = raw.event
        self.stack = stack
        self.route = route
        self.ct = ct
    }

    /// The event's fields by their flat names; setting them keeps the stack,
    /// route, conntrack entry, dump and function.
    var raw: FlatEvent {
        get { FlatEvent(self) }
        set {
            let kept = self
            self = newValue.event
            stack = kept.stack
            route = kept.route
            ct = kept.ct
            skbDump = kept.skbDump
            function = kept.function
        }
    }
}
