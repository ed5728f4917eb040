import CSkbTracerABI

/// Pieces of an event rendered as text, shared by the text and JSON formatters.
public enum PacketText {
    static let pktTypes = ["host", "broadcast", "multicast", "otherhost", "outgoing", "loopback", "user", "kernel"]

    public static func pktType(_ v: UInt8) -> String { Int(v) < pktTypes.count ? pktTypes[Int(v)] : "type\(v)" }

    public static func appendMAC<T>(_ mac: T, to b: inout ByteBuffer) {
        withUnsafeBytes(of: mac) { b.appendHexBytes(UnsafeRawBufferPointer(rebasing: $0.prefix(6)), separator: UInt8(ascii: ":")) }
    }

    public static func appendIPv4<T>(_ addr: T, to b: inout ByteBuffer) {
        withUnsafeBytes(of: addr) { b.appendDottedQuad($0) }
    }

    public static func appendAddress<T>(_ addr: T, ipv6: Bool, to b: inout ByteBuffer) {
        if ipv6 {
            withUnsafeBytes(of: addr) { appendIPv6($0, to: &b) }
        } else {
            appendIPv4(addr, to: &b)
        }
    }

    /// `a:p->b:q` (IPv6 `[a]:p`), or `a->b` without ports.
    public static func appendEndpoints<T>(_ saddr: T, _ sport: UInt16, _ daddr: T, _ dport: UInt16, ipv6 v6: Bool, ports: Bool,
                                   to b: inout ByteBuffer) {
        if v6 && ports { b.append(UInt8(ascii: "[")) }
        appendAddress(saddr, ipv6: v6, to: &b)
        if v6 && ports { b.append(UInt8(ascii: "]")) }
        if ports { b.append(UInt8(ascii: ":")); b.appendDecimal(sport) }
        b.append("->")
        if v6 && ports { b.append(UInt8(ascii: "[")) }
        appendAddress(daddr, ipv6: v6, to: &b)
        if v6 && ports { b.append(UInt8(ascii: "]")) }
        if ports { b.append(UInt8(ascii: ":")); b.appendDecimal(dport) }
    }

    /// IPv6 text exactly as glibc's inet_ntop writes it (RFC 5952 zero
    /// compression, lowercase hex, embedded IPv4 for mapped and compatible
    /// addresses), without its sprintf: that was a seventh of the JSON cost.
    static func appendIPv6(_ a: UnsafeRawBufferPointer, to b: inout ByteBuffer) {
        var words = (UInt16(0), UInt16(0), UInt16(0), UInt16(0), UInt16(0), UInt16(0), UInt16(0), UInt16(0))
        withUnsafeMutableBytes(of: &words) { w in
            for i in 0..<8 { w.storeBytes(of: UInt16(a[2 * i]) << 8 | UInt16(a[2 * i + 1]), toByteOffset: 2 * i, as: UInt16.self) }
        }
        withUnsafeBytes(of: words) { raw in
            let word = raw.bindMemory(to: UInt16.self)
            // The longest run of at least two zero words; the first one on a tie.
            var best = -1, bestLen = 0, cur = -1, curLen = 0
            for i in 0..<8 {
                if word[i] == 0 {
                    if cur < 0 { cur = i; curLen = 1 } else { curLen += 1 }
                    if curLen > bestLen { best = cur; bestLen = curLen }
                } else {
                    cur = -1; curLen = 0
                }
            }
            if bestLen < 2 { best = -1 }
            var i = 0
            while i < 8 {
                if i == best {
                    b.append(UInt8(ascii: ":"))
                    i += bestLen
                    if i == 8 { b.append(UInt8(ascii: ":")) }
                    continue
                }
                if i > 0 { b.append(UInt8(ascii: ":")) }
                // ::a.b.c.d and ::ffff:a.b.c.d, as glibc decides.
                if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 7 && word[7] != 1) || (bestLen == 5 && word[5] == 0xffff)) {
                    for k in 12..<16 {
                        if k > 12 { b.append(UInt8(ascii: ".")) }
                        b.appendDecimal(a[k])
                    }
                    return
                }
                appendHexWord(word[i], to: &b)
                i += 1
            }
        }
    }

    static func appendHexWord(_ v: UInt16, to b: inout ByteBuffer) {
        b.appendHexDigits(UInt64(v))
    }

    static let tcpFlagNames: [(UInt8, StaticString)] = [
        (0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x20, "URG"),
        (0x40, "ECE"), (0x80, "CWR"),
    ]

    public static func appendTCPFlags(_ flags: UInt8, to b: inout ByteBuffer) {
        var first = true
        for (bit, name) in tcpFlagNames where flags & bit != 0 {
            if !first { b.append(UInt8(ascii: ",")) }
            b.append(name)
            first = false
        }
        if first { b.append("none") }
    }

    /// ICMP/ICMPv6 type names for the types a path trace meets.
    public static func icmpTypeName(_ type: UInt8, v6: Bool) -> String? {
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

    public static func l4Name(_ p: UInt8) -> String {
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

    public static func l3Name(_ p: UInt16) -> String {
        switch p {
        case 0x0800: return "ipv4"
        case 0x86DD: return "ipv6"
        case 0x0806: return "arp"
        default: return "0x" + String(p, radix: 16)
        }
    }
}
