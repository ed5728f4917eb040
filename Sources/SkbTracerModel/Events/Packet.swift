import CSkbTracerABI

/// A packet's headers as BPF read them (`struct st_packet`), and the rules of
/// which of its fields apply: every reader (matcher, formatters, journeys,
/// diagnosis) asks this type rather than testing flags and protocol numbers.
public struct Packet: @unchecked Sendable {
    public var raw: st_packet

    public init(raw: st_packet = st_packet()) { self.raw = raw }

    /// Protocol numbers, in one place.
    public enum Number {
        public static let ipv4: UInt16 = 0x0800
        public static let ipv6: UInt16 = 0x86DD
        public static let arp: UInt16 = 0x0806
        public static let icmp: UInt8 = 1
        public static let tcp: UInt8 = 6
        public static let udp: UInt8 = 17
        public static let icmpv6: UInt8 = 58
    }

    /// The network layer, when it was read (or taken from the socket).
    public enum L3: Equatable {
        case ipv4, ipv6
        /// Ethernet/IPv4 ARP; `opcode` 1 request, 2 reply.
        case arp(opcode: UInt8)
    }

    /// The transport layer, when it was read (or, for TCP and UDP, taken from the socket).
    public enum L4: Equatable {
        /// `seq` is nil for a tuple taken from the socket (no header was read).
        case tcp(sport: UInt16, dport: UInt16, flags: UInt8, seq: UInt32?)
        case udp(sport: UInt16, dport: UInt16)
        /// ICMP or ICMPv6; `echo` (id, seq) for echo requests and replies only.
        case icmp(type: UInt8, code: UInt8, echo: Echo?)
        /// Another protocol (GRE, SCTP, ...): nothing of it was read.
        case other(UInt8)
    }

    public struct Echo: Equatable {
        public var id: UInt16
        public var seq: UInt16
    }

    var flags: UInt8 { raw.flags }
    public var hasMAC: Bool { flags & UInt8(ST_PKT_MAC.rawValue) != 0 }
    public var hasL3: Bool { flags & UInt8(ST_PKT_L3.rawValue) != 0 }
    public var hasL4: Bool { flags & UInt8(ST_PKT_L4.rawValue) != 0 }
    /// The tuple came from the packet's socket: the skb had no headers yet.
    public var fromSocket: Bool { flags & UInt8(ST_PKT_FROM_SOCK.rawValue) != 0 }

    public var isIPv4: Bool { raw.l3_proto == Number.ipv4 }
    public var isIPv6: Bool { raw.l3_proto == Number.ipv6 }
    public var isARP: Bool { raw.l3_proto == Number.arp }
    public var isTCP: Bool { hasL3 && raw.l4_proto == Number.tcp }
    public var isUDP: Bool { hasL3 && raw.l4_proto == Number.udp }
    public var isICMP: Bool {
        hasL3 && (raw.l4_proto == Number.icmp && isIPv4 || raw.l4_proto == Number.icmpv6 && isIPv6)
    }

    public var l3: L3? {
        guard hasL3 else { return nil }
        switch raw.l3_proto {
        case Number.ipv4: return .ipv4
        case Number.ipv6: return .ipv6
        case Number.arp: return .arp(opcode: raw.icmp_type)
        default: return nil
        }
    }

    public var l4: L4? {
        guard hasL3, isIPv4 || isIPv6 else { return nil }
        if !hasL4 { return raw.l4_proto == 0 ? nil : .other(raw.l4_proto) }
        switch raw.l4_proto {
        case Number.tcp: return .tcp(sport: raw.sport, dport: raw.dport, flags: fromSocket ? 0 : raw.tcp_flags,
                                     seq: fromSocket ? nil : tcpSeq)
        case Number.udp: return .udp(sport: raw.sport, dport: raw.dport)
        case Number.icmp, Number.icmpv6:
            guard isICMP else { return .other(raw.l4_proto) }
            return .icmp(type: raw.icmp_type, code: raw.icmp_code, echo: echo)
        default: return .other(raw.l4_proto)
        }
    }

    /// The IP length as printed (IP_LEN): IPv4 and IPv6 headers only, not a
    /// tuple taken from the socket (it has no packet length).
    public var ipLength: UInt16? {
        hasL3 && !fromSocket && (isIPv4 || isIPv6) ? raw.ip_len : nil
    }

    /// TCP and UDP ports.
    public var ports: (sport: UInt16, dport: UInt16)? {
        hasL4 && (isTCP || isUDP) ? (raw.sport, raw.dport) : nil
    }

    /// An ICMP or ICMPv6 echo request (8, 128) or reply (0, 129).
    public var isEcho: Bool { Self.isEcho(l4Proto: raw.l4_proto, type: raw.icmp_type) }

    public static func isEcho(l4Proto: UInt8, type: UInt8) -> Bool {
        l4Proto == Number.icmp ? (type == 0 || type == 8) : (type == 128 || type == 129)
    }

    /// An ICMP error (destination unreachable 3, source quench 4, redirect 5,
    /// time exceeded 11, parameter problem 12) or ICMPv6 error (1 to 4), its
    /// header read: the kernel's answer to another packet.
    public var isICMPError: Bool {
        guard hasL4 else { return false }
        if raw.l4_proto == Number.icmp { return [3, 4, 5, 11, 12].contains(raw.icmp_type) }
        return raw.l4_proto == Number.icmpv6 && (1...4).contains(raw.icmp_type)
    }

    /// ICMP echo request (8) or ICMPv6 echo request (128), its header read.
    public var isEchoRequest: Bool { echo != nil && (raw.icmp_type == 8 || raw.icmp_type == 128) }
    /// ICMP echo reply (0) or ICMPv6 echo reply (129), its header read.
    public var isEchoReply: Bool { echo != nil && (raw.icmp_type == 0 || raw.icmp_type == 129) }

    /// ARP's opcode as a word: `request`, `reply`, or nil for another.
    public var arpOperation: String? {
        guard case .arp(let op) = l3 else { return nil }
        return op == 1 ? "request" : op == 2 ? "reply" : nil
    }

    /// Id and sequence of an echo request or reply.
    public var echo: Echo? {
        hasL4 && isICMP && isEcho ? Echo(id: raw.icmp_id, seq: raw.icmp_seq) : nil
    }

    /// The TCP sequence number, host order.
    public var tcpSeq: UInt32 {
        withUnsafeBytes(of: raw.tcp_seq) { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    /// Same addresses, protocols, ports and echo id, compared in place: journeys
    /// ask this for every event, and building tuples would allocate.
    public func hasSameTuple(as other: Packet) -> Bool {
        let a = raw, b = other.raw
        guard a.l3_proto == b.l3_proto, a.l4_proto == b.l4_proto, a.sport == b.sport, a.dport == b.dport,
              a.icmp_id == b.icmp_id else { return false }
        return withUnsafeBytes(of: a.saddr) { x in withUnsafeBytes(of: b.saddr) { y in x.elementsEqual(y) } }
            && withUnsafeBytes(of: a.daddr) { x in withUnsafeBytes(of: b.daddr) { y in x.elementsEqual(y) } }
    }

    public var saddr: IPAddress? { address(raw.saddr) }
    public var daddr: IPAddress? { address(raw.daddr) }

    /// 16 address bytes in this packet's family (its conntrack tuples' too).
    func address(_ t: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                       UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> IPAddress? {
        guard hasL3, isIPv4 || isIPv6 || isARP else { return nil }
        return withUnsafeBytes(of: t) { IPAddress(raw: $0, isIPv4: !isIPv6) }
    }
}
