import CSkbTracerABI

/// A packet's fields from its header bytes as the kernel copied them (nftrace's
/// network and transport headers): the same st_packet BPF fills from the skb,
/// as far as the bytes go.
public enum HeaderBytes {
    static let ethHeader = 14

    /// `link`: the link-layer header (Ethernet: its MACs are taken), `network`:
    /// IPv4 or IPv6 from its first byte (IPv6 extension headers are walked while
    /// they are there), `transport`: TCP, UDP, ICMP or ICMPv6 by the protocol found.
    public static func packet(link: [UInt8], network: [UInt8], transport: [UInt8]) -> st_packet {
        var p = st_packet()
        if link.count >= ethHeader {
            withUnsafeMutableBytes(of: &p.dmac) { $0.copyBytes(from: link[0..<6]) }
            withUnsafeMutableBytes(of: &p.smac) { $0.copyBytes(from: link[6..<12]) }
            p.flags |= UInt8(ST_PKT_MAC.rawValue)
        }
        guard let first = network.first else { return p }
        let l4: UInt8
        switch first >> 4 {
        case 4 where network.count >= 20:
            p.l3_proto = 0x0800
            p.ip_len = be16(network, 2)
            p.ip_id = be16(network, 4)
            p.ttl = network[8]
            l4 = network[9]
            withUnsafeMutableBytes(of: &p.saddr) { $0.copyBytes(from: network[12..<16]) }
            withUnsafeMutableBytes(of: &p.daddr) { $0.copyBytes(from: network[16..<20]) }
        case 6 where network.count >= 40:
            p.l3_proto = 0x86DD
            p.ip_len = be16(network, 4) &+ 40
            p.ttl = network[7]
            l4 = lastNextHeader(network)
            withUnsafeMutableBytes(of: &p.saddr) { $0.copyBytes(from: network[8..<24]) }
            withUnsafeMutableBytes(of: &p.daddr) { $0.copyBytes(from: network[24..<40]) }
        default:
            return p
        }
        p.l4_proto = l4
        p.flags |= UInt8(ST_PKT_L3.rawValue)
        let t = transport
        switch l4 {
        case 6 where t.count >= 14:
            p.sport = be16(t, 0); p.dport = be16(t, 2)
            withUnsafeMutableBytes(of: &p.tcp_seq) { $0.copyBytes(from: t[4..<8]) }
            p.tcp_flags = t[13]
        case 17 where t.count >= 4:
            p.sport = be16(t, 0); p.dport = be16(t, 2)
        case 1 where t.count >= 8, 58 where t.count >= 8:
            p.icmp_type = t[0]; p.icmp_code = t[1]
            p.icmp_id = be16(t, 4); p.icmp_seq = be16(t, 6)
        default:
            return p
        }
        p.flags |= UInt8(ST_PKT_L4.rawValue)
        return p
    }

    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }

    /// IPv6: the protocol after the extension headers the bytes hold (hop-by-hop,
    /// routing, destination options; a fragment header's 8 bytes).
    static func lastNextHeader(_ n: [UInt8]) -> UInt8 {
        var next = n[6], at = 40
        while [0, 43, 60, 44].contains(next), at + 8 <= n.count {
            let length = next == 44 ? 8 : (Int(n[at + 1]) + 1) * 8
            next = n[at]
            at += length
        }
        return next
    }
}
