import CSkbTracerABI
import SkbTracerModel
import SkbTracerSystem
import Testing

/// tcpdump expressions: libpcap's two compiled forms, the program the kernel gets,
/// and the user-space verdict on recorded bytes (the kernel's is proven against
/// tcpdump itself in TcpdumpAgreementKernelTests).
@Suite struct PacketExpressionTests {
    /// Ethernet + IPv4 + UDP from 10.0.0.1:1234 to 10.0.0.2:53, 8 bytes of data.
    static let udpFrame: [UInt8] = [
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
        0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0x04, 0xd2, 0, 53, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ]
    static var udpPacket: [UInt8] { Array(udpFrame.dropFirst(14)) }

    static func ethernet(_ bytes: [UInt8]) -> Payload { Payload(link: .ethernet, wireLength: UInt32(bytes.count), bytes: bytes) }
    static func ip(_ bytes: [UInt8]) -> Payload { Payload(link: .ip, wireLength: UInt32(bytes.count), bytes: bytes) }

    @Test(arguments: [
        ("udp port 53", true), ("udp dst port 53 and src port 1234", true), ("tcp", false), ("udp port 54", false),
        ("host 10.0.0.2", true), ("src net 10.0.0.0/8 and not dst host 10.0.0.1", true), ("ip6", false),
        ("ip[8] == 64", true), ("udp[8:4] == 0x01020304", true), ("greater 50", true), ("less 49", false),
        ("ether src 02:00:00:00:00:01", true), ("ether dst 02:00:00:00:00:01", false), ("vlan", false),
    ])
    func ethernetFrame(_ text: String, _ expected: Bool) throws {
        let e = try PacketExpression.compile(text)
        #expect(e.matches(Self.ethernet(Self.udpFrame)) == expected)
    }

    /// The IP form: the same verdicts on the packet without its Ethernet header.
    @Test(arguments: [("udp port 53", true), ("host 10.0.0.3", false), ("ip[9] == 17", true), ("ip6 or tcp", false)])
    func ipPacket(_ text: String, _ expected: Bool) throws {
        let e = try PacketExpression.compile(text)
        #expect(e.matchesWithoutLinkLayer)
        #expect(e.matches(Self.ip(Self.udpPacket)) == expected)
    }

    /// An expression about the link layer has no IP form: never a match there,
    /// rather than every packet.
    @Test(arguments: ["ether host 02:00:00:00:00:01", "vlan 10", "arp", "ether broadcast"])
    func linkOnly(_ text: String) throws {
        let e = try PacketExpression.compile(text)
        #expect(!e.matchesWithoutLinkLayer)
        #expect(e.kernelProgram(ST_PCAP_NETWORK).len == 0)
        #expect(e.kernelProgram(ST_PCAP_LINK).len > 0)
        #expect(!e.matches(Self.ip(Self.udpPacket)))
    }

    @Test func noBytesNoMatch() throws {
        #expect(!(try PacketExpression.compile("ip")).matches(Self.ethernet([])))
    }

    /// The map's copy is libpcap's program instruction for instruction; the rest is zero.
    @Test func kernelProgram() throws {
        let e = try PacketExpression.compile("udp port 53")
        let p = e.kernelProgram(ST_PCAP_LINK)
        #expect(p.len > 4 && p.len < 40)
        let insns = withUnsafeBytes(of: p.insns) { Array($0.bindMemory(to: st_cbpf_insn.self)) }
        #expect(insns.count == Int(ST_PCAP_INSNS_MAX))
        // ldh [12] (the EtherType) first, a return last.
        #expect(insns[0].code == 0x28 && insns[0].k == 12)
        #expect(insns[Int(p.len) - 1].code & 0x07 == 0x06)
        #expect(insns[Int(p.len)...].allSatisfy { $0.code == 0 && $0.k == 0 })
    }

    @Test(arguments: [("tcp port", "syntax error"), ("host 10.0.0.300", "10.0.0.300"), ("portrange 5-", "syntax error"),
                      ("ip proto nosuch", "nosuch")])
    func rejected(_ text: String, _ says: String) {
        #expect {
            _ = try PacketExpression.compile(text)
        } throws: { error in
            let d = "\(error)"
            return d.contains("tcpdump expression '\(text)'") && d.contains(says) && (error as? UsageError)?.hint != nil
        }
    }

    @Test func filterSwitchesItOn() throws {
        var o = TraceFilter.Options()
        o.expression = "tcp port 80"
        let f = try TraceFilter.parse(o)
        #expect(f.expression?.text == "tcp port 80")
        var c = st_config()
        f.apply(to: &c)
        #expect(c.filter_flags & ST_F_PCAP.rawValue != 0)
        o.expression = "   "
        let none = try TraceFilter.parse(o)
        #expect(none.expression == nil && none.isEmpty)
    }
}
