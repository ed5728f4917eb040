import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerSystem
import Testing

/// Builds TraceFilter.Options from option names as the CLI spells them.
func filterOptions(_ pairs: KeyValuePairs<String, String>) -> TraceFilter.Options {
    var o = TraceFilter.Options()
    for (k, v) in pairs {
        switch k {
        case "proto": o.proto = v
        case "addr": o.addr = v
        case "saddr": o.saddr = v
        case "daddr": o.daddr = v
        case "port": o.port = v
        case "sport": o.sport = v
        case "dport": o.dport = v
        case "icmpid": o.icmpID = v
        case "tcp-flags": o.tcpFlags = v
        case "netns": o.netns = v
        case "ifname": o.ifname = v
        case "mark": o.mark = v
        case "pid": o.pid = v
        case "pkt-len": o.pktLen = v
        default: fatalError("unknown option \(k) in test table")
        }
    }
    return o
}

func parseFilter(_ pairs: KeyValuePairs<String, String>) throws(UsageError) -> TraceFilter {
    try TraceFilter.parse(filterOptions(pairs))
}

func config(_ f: TraceFilter) -> st_config {
    var c = st_config()
    f.apply(to: &c)
    return c
}

func addrBytes(_ a: st_addr_filter) -> [UInt8] { withUnsafeBytes(of: a.addr) { Array($0) } }

@Suite("Filter options")
struct FilterGoodValueTests {
    @Test func noOptionsNoFilter() throws {
        let f = try parseFilter([:])
        #expect(f == TraceFilter())
        #expect(config(f).filter_flags == 0)
    }

    @Test(arguments: [
        ("icmp", UInt16?(0x0800), UInt8?(1)), ("ICMP", 0x0800, 1),
        ("icmp6", 0x86DD, 58), ("icmpv6", 0x86DD, 58),
        ("tcp", nil, 6), ("Tcp", nil, 6), ("udp", nil, 17),
        ("ip", 0x0800, nil), ("ipv4", 0x0800, nil), ("ip4", 0x0800, nil),
        ("ip6", 0x86DD, nil), ("ipv6", 0x86DD, nil), ("arp", 0x0806, nil),
        ("any", nil, nil), ("all", nil, nil),
    ])
    func protocolNames(_ name: String, _ l3: UInt16?, _ l4: UInt8?) throws {
        let f = try parseFilter(["proto": name])
        #expect(f.l3Proto == l3)
        #expect(f.l4Proto == l4)
        let c = config(f)
        let expectedFlags = (l3 != nil ? 1 : 0) | (l4 != nil ? 2 : 0)
        #expect(c.filter_flags == UInt32(expectedFlags))
        #expect(c.filter_l3_proto == (l3 ?? 0))
        #expect(c.filter_l4_proto == (l4 ?? 0))
    }

    @Test func ipv4AddressIntoConfig() throws {
        let c = config(try parseFilter(["addr": "10.0.0.1"]))
        #expect(c.filter_flags == 1 << 2)
        #expect(c.filter_addr.family == 4)
        #expect(addrBytes(c.filter_addr) == [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12))
    }

    @Test func ipv6AddressesIntoConfig() throws {
        let c = config(try parseFilter(["saddr": "fd00::1", "daddr": "2001:db8::2"]))
        #expect(c.filter_flags == (1 << 3) | (1 << 4))
        #expect(c.filter_saddr.family == 6)
        #expect(addrBytes(c.filter_saddr) == [0xfd] + [UInt8](repeating: 0, count: 14) + [1])
        #expect(c.filter_daddr.family == 6)
        #expect(addrBytes(c.filter_daddr) == Fixtures.v6_db8_2)
        #expect(c.filter_addr.family == 0)
    }

    @Test(arguments: ["127.0.0.1", "0.0.0.0", "255.255.255.255", " 10.1.2.3 ", "::", "::1", "fe80::1:2",
                      "2001:DB8::ABCD"])
    func acceptedAddresses(_ text: String) throws {
        let f = try parseFilter(["addr": text])
        let a = try #require(f.addr)
        #expect(a == IPAddress(text.trimmingCharacters(in: .whitespaces)))
        #expect(a.isIPv4 == text.contains("."))
        #expect(a.isIPv4 || a.bytes.count == 16)
    }

    @Test func ipv4MappedIPv6IsIPv6() throws {
        let f = try parseFilter(["addr": "::ffff:10.0.0.1"])
        #expect(f.addr?.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1])
        #expect(config(f).filter_addr.family == 6)
    }

    @Test(arguments: [("0", UInt16(0)), ("65535", 65535), ("80", 80), ("0x50", 80), (" 443 ", 443), ("00022", 22)])
    func portValues(_ text: String, _ value: UInt16) throws {
        let f = try parseFilter(["port": text, "sport": text, "dport": text])
        #expect(f.port == value && f.sport == value && f.dport == value)
        let c = config(f)
        // Port 0 is still a filter: its flag must be on.
        #expect(c.filter_flags == (1 << 5) | (1 << 6) | (1 << 7))
        #expect(c.filter_port == value && c.filter_sport == value && c.filter_dport == value)
    }

    @Test func portsFitTCPAndUDP() throws {
        #expect(try parseFilter(["proto": "tcp", "dport": "22"]).dport == 22)
        #expect(try parseFilter(["proto": "udp", "sport": "53"]).sport == 53)
    }

    @Test func icmpID() throws {
        let c = config(try parseFilter(["proto": "icmp", "icmpid": "65535"]))
        #expect(c.filter_flags == 1 | 2 | (1 << 8))
        #expect(c.filter_icmp_id == 65535)
        #expect(try parseFilter(["proto": "icmp6", "icmpid": "0"]).icmpID == 0)
        #expect(try parseFilter(["icmpid": "0x10"]).icmpID == 16)
    }

    @Test(arguments: [
        ("S", UInt8(0x02)), ("SA", 0x12), ("sa", 0x12), ("AS", 0x12), ("FSRPAUEC", 0xff), ("R", 0x04),
        ("syn", 0x02), ("SYN", 0x02), ("syn,ack", 0x12), ("ack,syn", 0x12), ("fin|psh", 0x09),
        ("cwr+ece", 0xc0), ("rst", 0x04), ("urg", 0x20), ("ece", 0x40), ("fin", 0x01),
    ])
    func tcpFlags(_ text: String, _ bits: UInt8) throws {
        let c = config(try parseFilter(["proto": "tcp", "tcp-flags": text]))
        #expect(c.filter_tcp_flags == bits)
        #expect(c.filter_flags == 2 | (1 << 9))
    }

    @Test(arguments: [
        ("16", UInt32(16), UInt32(0xffff_ffff)), ("0x10", 0x10, 0xffff_ffff), ("0x10/0xff", 0x10, 0xff),
        ("0X1F/0XF0", 0x10, 0xf0), ("0x1ff/0xff", 0xff, 0xff), ("4294967295", 0xffff_ffff, 0xffff_ffff),
        ("0", 0, 0xffff_ffff), ("0/0", 0, 0), ("256/0x100", 256, 0x100),
    ])
    func markValues(_ text: String, _ value: UInt32, _ mask: UInt32) throws {
        let f = try parseFilter(["mark": text])
        #expect(f.mark == value)
        #expect(f.markMask == mask)
        let c = config(f)
        #expect(c.filter_flags == 1 << 12)
        #expect(c.filter_mark == value)
        #expect(c.filter_mark_mask == mask)
    }

    @Test func netnsInode() throws {
        let c = config(try parseFilter(["netns": "4026531840"]))
        #expect(c.filter_flags == 1 << 10)
        #expect(c.filter_netns == 4_026_531_840)
        #expect(try parseFilter(["netns": "4294967295"]).netns == UInt32.max)
    }

    /// The inode of /proc/self/ns/net, read through the symlink text `net:[INODE]`.
    @Test func netnsPath() throws {
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        #expect(link.hasPrefix("net:["))
        let inode = try #require(UInt32(link.dropFirst(5).dropLast()))
        let f = try parseFilter(["netns": "/proc/self/ns/net"])
        #expect(f.netns == inode)
        #expect(config(f).filter_netns == inode)
        #expect(try parseFilter(["netns": "/proc/\(getpid())/ns/net"]).netns == inode)
    }

    @Test func ifnameIntoConfig() throws {
        var c = st_config()
        // Leftovers in the buffer must not survive a shorter name.
        Fixtures.set(&c.filter_ifname, [UInt8](repeating: UInt8(ascii: "x"), count: 16))
        try parseFilter(["ifname": "eth0"]).apply(to: &c)
        #expect(c.filter_flags == 1 << 11)
        #expect(withUnsafeBytes(of: c.filter_ifname) { Array($0) } == Array("eth0".utf8) + [UInt8](repeating: 0, count: 12))
    }

    @Test func fifteenCharacterIfname() throws {
        let c = config(try parseFilter(["ifname": "abcdefghijklmno"]))
        let bytes = withUnsafeBytes(of: c.filter_ifname) { Array($0) }
        #expect(bytes == Array("abcdefghijklmno".utf8) + [0])
    }

    @Test(arguments: [("1", UInt32(1)), ("2147483647", 2_147_483_647), ("0x10", 16), (" 42", 42)])
    func pidValues(_ text: String, _ pid: UInt32) throws {
        let c = config(try parseFilter(["pid": text]))
        #expect(c.filter_flags == 1 << 13)
        #expect(c.filter_pid == pid)
    }

    @Test(arguments: [("84", UInt16(84), UInt16(84)), ("100-1500", 100, 1500), ("0-65535", 0, 65535),
                      ("0x40-0x80", 64, 128), (" 60 - 70 ", 60, 70), ("7-7", 7, 7)])
    func pktLenRanges(_ text: String, _ lo: UInt16, _ hi: UInt16) throws {
        let c = config(try parseFilter(["pkt-len": text]))
        #expect(c.filter_flags == 1 << 14)
        #expect(c.filter_ip_len_min == lo && c.filter_ip_len_max == hi)
    }

    /// pwru writes a namespace inode as inode:N.
    @Test func netnsInodePrefix() throws {
        #expect(try parseFilter(["netns": "inode:4026531840"]).netns == 4_026_531_840)
        #expect(TraceFilter.isInodeNumber("inode:4026531840"))
        #expect(!TraceFilter.isInodeNumber("inode:"))
    }

    @Test func familiesThatFit() throws {
        #expect(try parseFilter(["proto": "icmp", "addr": "10.0.0.1"]).addr?.isIPv4 == true)
        #expect(try parseFilter(["proto": "ip6", "saddr": "fd00::1", "daddr": "fd00::2"]).saddr?.isIPv4 == false)
        #expect(try parseFilter(["proto": "arp", "addr": "10.0.0.1"]).l3Proto == 0x0806)
        #expect(try parseFilter(["proto": "tcp", "addr": "fd00::1"]).l4Proto == 6)
        #expect(try parseFilter(["addr": "10.0.0.1", "saddr": "10.0.0.2", "daddr": "10.0.0.3"]).daddr != nil)
    }

    @Test func everyFilterAtOnce() throws {
        let f = try parseFilter([
            "proto": "tcp", "addr": "10.0.0.1", "saddr": "10.0.0.2", "daddr": "10.0.0.3", "port": "1", "sport": "2",
            "dport": "3", "tcp-flags": "S", "netns": "4026531840", "ifname": "lo", "mark": "0x1/0x1", "pid": "99",
        ])
        var c = st_config()
        c.wakeup_bytes = 4096
        f.apply(to: &c)
        // Every bit except L3_PROTO (tcp leaves the family open) and ICMP_ID.
        #expect(c.filter_flags == 0x3fff & ~UInt32(1) & ~UInt32(1 << 8))
        #expect(addrBytes(c.filter_saddr).prefix(4) == [10, 0, 0, 2])
        #expect(addrBytes(c.filter_daddr).prefix(4) == [10, 0, 0, 3])
        #expect(c.filter_port == 1 && c.filter_sport == 2 && c.filter_dport == 3)
        #expect(c.filter_pid == 99)
        #expect(c.wakeup_bytes == 4096, "apply must not touch fields it does not own")
    }
}

@Suite("Filter option errors")
struct FilterBadValueTests {
    struct Bad: Sendable, CustomTestStringConvertible {
        let options: TraceFilter.Options
        /// Every fragment must appear in the message.
        let fragments: [String]
        let label: String
        var testDescription: String { label }

        init(_ pairs: KeyValuePairs<String, String>, _ fragments: String...) {
            options = filterOptions(pairs)
            self.fragments = fragments
            label = pairs.map { "--\($0.key) \($0.value)" }.joined(separator: " ")
        }
    }

    static let cases: [Bad] = [
        Bad(["proto": "arp", "addr": "fd00::1"], "fd00::1", "ARP"),
        Bad(["addr": "1.2.3"], "'1.2.3'", "--addr"),
        Bad(["addr": ""], "''", "--addr"),
        Bad(["saddr": "10.0.0.256"], "'10.0.0.256'", "--saddr"),
        Bad(["daddr": "fd00:::1"], "'fd00:::1'", "--daddr"),
        Bad(["addr": "example.com"], "'example.com'"),
        Bad(["addr": "10.0.0.0/8"], "'10.0.0.0/8'"),
        Bad(["port": "70000"], "'70000'", "--port", "out of range"),
        Bad(["dport": "65536"], "'65536'", "--dport", "out of range"),
        Bad(["sport": "abc"], "'abc'", "--sport"),
        Bad(["dport": "-1"], "'-1'", "--dport"),
        Bad(["port": ""], "''", "--port"),
        Bad(["port": "0x"], "'0x'", "--port"),
        Bad(["icmpid": "70000"], "'70000'", "--icmpid"),
        Bad(["proto": "foo"], "'foo'", "--proto"),
        Bad(["proto": "tcp6"], "'tcp6'", "--proto"),
        Bad(["proto": ""], "''", "--proto"),
        Bad(["tcp-flags": "X"], "'X'", "--tcp-flags"),
        Bad(["tcp-flags": "SX"], "'X'", "'SX'"),
        Bad(["tcp-flags": "syn,foo"], "'foo'", "'syn,foo'"),
        Bad(["tcp-flags": "synack"], "'synack'"),
        Bad(["tcp-flags": ""], "--tcp-flags"),
        Bad(["mark": "zz"], "'zz'", "--mark"),
        Bad(["mark": "0x10/zz"], "'0x10/zz'", "mask"),
        Bad(["mark": "1/2/3"], "'1/2/3'"),
        Bad(["mark": "0x100000000"], "'0x100000000'"),
        Bad(["mark": "1/0x100000000"], "'1/0x100000000'", "mask"),
        Bad(["mark": ""], "''", "--mark"),
        Bad(["ifname": "abcdefghijklmnop"], "'abcdefghijklmnop'", "--ifname"),
        Bad(["ifname": ""], "''", "--ifname"),
        Bad(["ifname": "eth 0"], "'eth 0'"),
        Bad(["ifname": "a/b"], "'a/b'"),
        Bad(["netns": "skbtracer-no-such-netns"], "'skbtracer-no-such-netns'", "--netns"),
        Bad(["netns": "/nonexistent/ns/net"], "'/nonexistent/ns/net'"),
        Bad(["netns": "0"], "'0'", "--netns"),
        Bad(["netns": "4294967296"], "'4294967296'"),
        Bad(["netns": ""], "''", "--netns"),
        Bad(["pid": "0"], "'0'", "--pid"),
        Bad(["pid": "2147483648"], "'2147483648'"),
        Bad(["pid": "abc"], "'abc'"),
        Bad(["pid": "-5"], "'-5'"),
        Bad(["pkt-len": "abc"], "'abc'", "--pkt-len"),
        Bad(["pkt-len": "300-200"], "'300-200'", "--pkt-len", "empty"),
        Bad(["pkt-len": "65536"], "'65536'", "--pkt-len"),
        Bad(["pkt-len": "1-2-3"], "'1-2-3'"),
        Bad(["pkt-len": "-5"], "'-5'"),
        Bad(["pkt-len": "100-"], "'100-'"),
        Bad(["pkt-len": ""], "''", "--pkt-len"),
        Bad(["proto": "arp", "pkt-len": "28"], "--pkt-len", "arp"),
        Bad(["netns": "inode:0"], "'inode:0'", "--netns"),
        Bad(["saddr": "1.2.3.4", "daddr": "fd00::1"], "--saddr", "--daddr", "mix IPv4 and IPv6"),
        Bad(["addr": "fd00::1", "daddr": "10.0.0.1"], "--addr", "--daddr"),
        Bad(["proto": "tcp", "icmpid": "1"], "--icmpid", "ICMP"),
        Bad(["proto": "udp", "tcp-flags": "S"], "--tcp-flags", "TCP"),
        Bad(["proto": "icmp", "tcp-flags": "S"], "--tcp-flags"),
        Bad(["proto": "icmp", "port": "80"], "port"),
        Bad(["proto": "icmp6", "dport": "80"], "port"),
        Bad(["proto": "ip6", "addr": "10.0.0.1"], "--addr 10.0.0.1", "IPv6"),
        Bad(["proto": "icmp", "daddr": "fd00::1"], "--daddr fd00::1", "IPv4"),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Bad) {
        #expect {
            _ = try TraceFilter.parse(c.options)
        } throws: { error in
            guard let u = error as? UsageError else { return false }
            // Usage errors are printed as one line: message. Hint: hint
            guard !u.description.contains("\n"), u.hint?.isEmpty == false else { return false }
            return c.fragments.allSatisfy { u.message.contains($0) }
        }
    }

    @Test func messageShape() throws {
        let error = try #require(throws: UsageError.self) { try parseFilter(["dport": "70000"]) }
        #expect(error.message == "port '70000' for --dport is out of range")
        #expect(error.description == "port '70000' for --dport is out of range. Hint: ports go from 0 to 65535")
    }

    /// The first bad option is the one reported.
    @Test func firstErrorWins() throws {
        let error = try #require(throws: UsageError.self) { try parseFilter(["proto": "foo", "dport": "70000"]) }
        #expect(error.message.contains("'foo'"))
    }
}
