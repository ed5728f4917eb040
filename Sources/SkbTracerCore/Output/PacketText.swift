import CSkbTracerABI

/// Pieces of an event rendered as text, shared by the text and JSON formatters.
enum PacketText {
    static let pktTypes = ["host", "broadcast", "multicast", "otherhost", "outgoing", "loopback", "user", "kernel"]

    static func pktType(_ v: UInt8) -> String { Int(v) < pktTypes.count ? pktTypes[Int(v)] : "type\(v)" }

    static func appendMAC<T>(_ mac: T, to b: inout ByteBuffer) {
        withUnsafeBytes(of: mac) { m in
            for i in 0..<6 {
                if i > 0 { b.append(UInt8(ascii: ":")) }
                b.appendHexByte(m[i])
            }
        }
    }

    static func appendIPv4<T>(_ addr: T, to b: inout ByteBuffer) {
        withUnsafeBytes(of: addr) { a in
            for i in 0..<4 {
                if i > 0 { b.append(UInt8(ascii: ".")) }
                b.appendDecimal(a[i])
            }
        }
    }

    static func appendAddress<T>(_ addr: T, ipv6: Bool, to b: inout ByteBuffer) {
        if ipv6 {
            withUnsafeBytes(of: addr) { a in
                b.append(IPAddress.format(a.bindMemory(to: UInt8.self).baseAddress!, isIPv4: false))
            }
        } else {
            appendIPv4(addr, to: &b)
        }
    }

    static let tcpFlagNames: [(UInt8, StaticString)] = [
        (0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x20, "URG"),
        (0x40, "ECE"), (0x80, "CWR"),
    ]

    static func appendTCPFlags(_ flags: UInt8, to b: inout ByteBuffer) {
        var first = true
        for (bit, name) in tcpFlagNames where flags & bit != 0 {
            if !first { b.append(UInt8(ascii: ",")) }
            b.append(name)
            first = false
        }
        if first { b.append("none") }
    }

    /// ICMP/ICMPv6 type names for the types a path trace meets.
    static func icmpTypeName(_ type: UInt8, v6: Bool) -> String? {
        if v6 {
            switch type {
            case 1: return "unreachable"
            case 2: return "too-big"
            case 3: return "time-exceeded"
            case 4: return "param-problem"
            case 128: return "request"
            case 129: return "reply"
            case 133: return "router-solicit"
            case 134: return "router-advert"
            case 135: return "neigh-solicit"
            case 136: return "neigh-advert"
            case 143: return "mld2-report"
            default: return nil
            }
        }
        switch type {
        case 0: return "reply"
        case 3: return "unreachable"
        case 5: return "redirect"
        case 8: return "request"
        case 11: return "time-exceeded"
        case 12: return "param-problem"
        default: return nil
        }
    }

    static func isEcho(_ e: st_event) -> Bool {
        e.l4_proto == 1 ? (e.icmp_type == 0 || e.icmp_type == 8) : (e.icmp_type == 128 || e.icmp_type == 129)
    }

    static func l4Name(_ p: UInt8) -> String {
        switch p {
        case 1: return "icmp"
        case 6: return "tcp"
        case 17: return "udp"
        case 58: return "icmpv6"
        case 132: return "sctp"
        case 47: return "gre"
        case 50: return "esp"
        default: return "proto-\(p)"
        }
    }

    static func l3Name(_ p: UInt16) -> String {
        switch p {
        case 0x0800: return "ipv4"
        case 0x86DD: return "ipv6"
        case 0x0806: return "arp"
        default: return "0x" + String(p, radix: 16)
        }
    }
}
