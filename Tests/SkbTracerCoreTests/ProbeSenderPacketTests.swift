import Foundation
@testable import SkbTracerModel
@testable import SkbTracerPing
import Testing

/// The packets `skbtracer ping` builds and the answers it recognises, checked
/// against bytes laid out by hand (no sockets, no root).
@Suite("ProbeSender packets")
struct ProbeSenderPacketTests {
    static func hex(_ s: String) -> [UInt8] {
        let digits = Array(s.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    static let dest4 = ip("198.18.7.3"), src4 = ip("198.18.7.2"), router4 = ip("198.18.7.1")
    static let dest6 = ip("fd00:5b:7::3"), src6 = ip("fd00:5b:7::2"), router6 = ip("fd00:5b:7::1")

    // MARK: Checksum

    @Test func checksumRFC1071Example() {
        // RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2, its complement 220d.
        #expect(ProbeSender.internetChecksum(Self.hex("0001 f203 f4f5 f6f7")) == 0x220d)
    }

    @Test func checksumOfIPv4Header() {
        // A textbook IPv4 header with its checksum field zeroed; the checksum is b861,
        // and summing the header with it filled in gives 0.
        let header = Self.hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7")
        #expect(ProbeSender.internetChecksum(header) == 0xb861)
        var filled = header
        filled[10] = 0xb8; filled[11] = 0x61
        #expect(ProbeSender.internetChecksum(filled) == 0)
    }

    @Test func checksumOddLengthPadsWithZero() {
        #expect(ProbeSender.internetChecksum([0x12, 0x34, 0x56]) == ProbeSender.internetChecksum([0x12, 0x34, 0x56, 0x00]))
        #expect(ProbeSender.internetChecksum([]) == 0xffff)
    }

    // MARK: Echo request

    @Test func echoRequestIPv4Bytes() {
        let p = ProbeSender.echoRequest(v6: false, id: 0x1234, seq: 1, timestampNs: 0x0102_0304_0506_0708)
        // Computed independently (Python struct + RFC 1071 sum).
        let expected = Self.hex("""
            0800 709c 1234 0001  0102 0304 0506 0708
            736b 6274 7261 6365 72 191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f
            303132333435363738393a3b3c3d3e3f
            """)
        #expect(p == expected)
        #expect(p.count == 64, "8-byte header + 56-byte payload, as ping sends")
        #expect(ProbeSender.internetChecksum(p) == 0, "a packet with a correct checksum sums to 0")
        #expect(String(decoding: p[16..<25], as: UTF8.self) == "skbtracer")
    }

    @Test func echoRequestIPv4ChecksumFollowsIDAndSeq() {
        for (id, seq) in [(UInt16(1), UInt16(0)), (0xffff, 0xffff), (0xbeef, 42)] {
            let p = ProbeSender.echoRequest(v6: false, id: id, seq: seq, timestampNs: 987_654_321)
            #expect(ProbeSender.internetChecksum(p) == 0, "id \(id) seq \(seq)")
            #expect(ProbeSender.get16(p, 4) == id && ProbeSender.get16(p, 6) == seq)
        }
    }

    @Test func echoRequestIPv6LeavesChecksumToKernel() {
        let p = ProbeSender.echoRequest(v6: true, id: 0xabcd, seq: 0x0102, timestampNs: 5)
        #expect(Array(p[0..<8]) == [128, 0, 0, 0, 0xab, 0xcd, 0x01, 0x02])
        #expect(Array(p[8..<16]) == [0, 0, 0, 0, 0, 0, 0, 5])
        #expect(p.count == 64)
    }

    // MARK: IPv4 replies

    /// A 20-byte IPv4 header (checksum not filled: the parser does not check it).
    static func ipv4Header(proto: UInt8, src: IPAddress, dst: IPAddress, totalLength: Int) -> [UInt8] {
        [0x45, 0, UInt8(totalLength >> 8), UInt8(totalLength & 0xff), 0, 0, 0x40, 0, 64, proto, 0, 0]
            + src.bytes + dst.bytes
    }

    static func echoV4(type: UInt8, id: UInt16, seq: UInt16) -> [UInt8] {
        var p = ProbeSender.echoRequest(v6: false, id: id, seq: seq, timestampNs: 1)
        p[0] = type
        return p
    }

    static func replyV4(from: IPAddress = dest4, type: UInt8 = 0, id: UInt16 = 0x1234, seq: UInt16 = 7) -> [UInt8] {
        let icmp = echoV4(type: type, id: id, seq: seq)
        return ipv4Header(proto: 1, src: from, dst: src4, totalLength: 20 + icmp.count) + icmp
    }

    /// An ICMP error from `router` quoting our request (inner header + 8 bytes).
    static func errorV4(type: UInt8, code: UInt8, innerDst: IPAddress = dest4, innerProto: UInt8 = 1,
                        id: UInt16 = 0x1234, seq: UInt16 = 7) -> [UInt8] {
        let quoted = ipv4Header(proto: innerProto, src: src4, dst: innerDst, totalLength: 84)
            + Array(echoV4(type: 8, id: id, seq: seq)[0..<8])
        let icmp: [UInt8] = [type, code, 0, 0, 0, 0, 0, 0] + quoted
        return ipv4Header(proto: 1, src: router4, dst: src4, totalLength: 20 + icmp.count) + icmp
    }

    func match4(_ p: [UInt8], id: UInt16 = 0x1234, seq: UInt16 = 7) -> ProbeSender.ICMPMatch? {
        ProbeSender.matchICMPv4(p, destination: Self.dest4, id: id, seq: seq)
    }

    @Test func ipv4EchoReplyMatches() {
        #expect(match4(Self.replyV4()) == .init(kind: .echoReply, responder: Self.dest4))
    }

    @Test func ipv4EchoReplyWithIPOptionsMatches() {
        var p = Self.replyV4()
        p[0] = 0x46                                   // IHL 6: one 4-byte option word
        p.insert(contentsOf: [1, 1, 1, 0], at: 20)    // NOP NOP NOP EOL
        #expect(match4(p)?.kind == .echoReply)
    }

    @Test func ipv4OthersIgnored() {
        #expect(match4(Self.replyV4(id: 0x1235)) == nil, "another ping's id")
        #expect(match4(Self.replyV4(seq: 6)) == nil, "an earlier probe's late reply")
        #expect(match4(Self.replyV4(type: 8)) == nil, "the kernel's copy of an echo request")
        #expect(match4(Self.replyV4(from: Self.router4)) == nil, "a reply from someone else")
        #expect(match4(Array(Self.replyV4().prefix(27))) == nil, "truncated")
        var udp = Self.replyV4()
        udp[9] = 17
        #expect(match4(udp) == nil, "not ICMP")
        #expect(match4([]) == nil)
    }

    @Test func ipv4ErrorsQuotingOurProbe() {
        #expect(match4(Self.errorV4(type: 11, code: 0)) == .init(kind: .icmpError(type: 11, code: 0), responder: Self.router4))
        #expect(match4(Self.errorV4(type: 3, code: 1))?.kind == .icmpError(type: 3, code: 1))
        #expect(match4(Self.errorV4(type: 3, code: 3))?.kind == .icmpError(type: 3, code: 3))
    }

    @Test func ipv4ErrorsAboutOtherPacketsIgnored() {
        #expect(match4(Self.errorV4(type: 3, code: 1, innerDst: Self.router4)) == nil, "another destination")
        #expect(match4(Self.errorV4(type: 3, code: 1, innerProto: 17)) == nil, "a UDP packet")
        #expect(match4(Self.errorV4(type: 3, code: 1, id: 1)) == nil, "another id")
        #expect(match4(Self.errorV4(type: 3, code: 1, seq: 8)) == nil, "another seq")
        #expect(match4(Self.errorV4(type: 5, code: 1)) == nil, "a redirect")
        #expect(match4(Array(Self.errorV4(type: 3, code: 1).dropLast(2))) == nil, "quote cut short")
    }

    // MARK: IPv6 replies (the raw socket delivers no IPv6 header)

    static func messageV6(type: UInt8, id: UInt16 = 0x1234, seq: UInt16 = 7) -> [UInt8] {
        var p = ProbeSender.echoRequest(v6: true, id: id, seq: seq, timestampNs: 1)
        p[0] = type
        return p
    }

    static func errorV6(type: UInt8, code: UInt8, innerDst: IPAddress = dest6, next: UInt8 = 58,
                        id: UInt16 = 0x1234, seq: UInt16 = 7) -> [UInt8] {
        let inner: [UInt8] = [0x60, 0, 0, 0, 0, 64, next, 64] + src6.bytes + innerDst.bytes
        return [type, code, 0, 0, 0, 0, 0, 0] + inner + messageV6(type: 128, id: id, seq: seq)
    }

    func match6(_ p: [UInt8], from: IPAddress = dest6, seq: UInt16 = 7) -> ProbeSender.ICMPMatch? {
        ProbeSender.matchICMPv6(p, source: from, destination: Self.dest6, id: 0x1234, seq: seq)
    }

    @Test func ipv6EchoReplyMatches() {
        #expect(match6(Self.messageV6(type: 129)) == .init(kind: .echoReply, responder: Self.dest6))
        #expect(match6(Self.messageV6(type: 129), seq: 8) == nil)
        #expect(match6(Self.messageV6(type: 129, id: 9)) == nil)
        #expect(match6(Self.messageV6(type: 129), from: Self.router6) == nil)
        #expect(match6(Self.messageV6(type: 128)) == nil, "the kernel's copy of an echo request")
        #expect(match6(Self.messageV6(type: 135)) == nil, "neighbour solicitation")
    }

    @Test func ipv6ErrorsQuotingOurProbe() {
        #expect(match6(Self.errorV6(type: 1, code: 3), from: Self.router6)
                == .init(kind: .icmpError(type: 1, code: 3), responder: Self.router6))
        #expect(match6(Self.errorV6(type: 3, code: 0), from: Self.router6)?.kind == .icmpError(type: 3, code: 0))
        #expect(match6(Self.errorV6(type: 1, code: 3, innerDst: Self.router6)) == nil)
        #expect(match6(Self.errorV6(type: 1, code: 3, next: 17)) == nil)
        #expect(match6(Self.errorV6(type: 1, code: 3, seq: 1)) == nil)
        #expect(match6(Self.errorV6(type: 2, code: 0)) == nil, "packet too big is not reported")
        #expect(match6(Array(Self.errorV6(type: 1, code: 3).prefix(55))) == nil)
    }

    // MARK: UDP payload

    @Test func udpPayloadRoundTrip() {
        let p = ProbeSender.udpPayload(seq: 0x0304, timestampNs: 0x1122_3344_5566_7788)
        #expect(p == Array("skbtracer".utf8) + [0x03, 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
        #expect(ProbeSender.udpPayloadSeq(p) == 0x0304)
        #expect(ProbeSender.udpPayloadSeq(Array("hello".utf8)) == nil)
        #expect(ProbeSender.udpPayloadSeq(Array("skbtracer".utf8)) == nil, "no seq")
        #expect(ProbeSender.udpPayloadSeq([]) == nil)
    }

    // MARK: Error queue (IP_RECVERR)

    /// A control message as the kernel lays it out on 64-bit Linux: cmsg_len (8),
    /// level (4), type (4), data, padded to 8.
    static func cmsg(level: Int32, type: Int32, _ data: [UInt8]) -> [UInt8] {
        let len = 16 + data.count
        var b = withUnsafeBytes(of: UInt64(len).littleEndian) { Array($0) }
        b += withUnsafeBytes(of: level.littleEndian) { Array($0) } + withUnsafeBytes(of: type.littleEndian) { Array($0) }
        b += data
        while b.count % 8 != 0 { b.append(0) }
        return b
    }

    /// struct sock_extended_err + the offender's sockaddr.
    static func extendedError(errno: UInt32, origin: UInt8, type: UInt8, code: UInt8, offender: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: errno.littleEndian) { Array($0) } + [origin, type, code, 0] + [UInt8](repeating: 0, count: 8) + offender
    }

    static func sockaddrIn(_ a: IPAddress) -> [UInt8] { [2, 0, 0, 0] + a.bytes + [UInt8](repeating: 0, count: 8) }
    static func sockaddrIn6(_ a: IPAddress) -> [UInt8] { [10, 0, 0, 0, 0, 0, 0, 0] + a.bytes + [0, 0, 0, 0] }

    @Test func extendedErrorIPv4HostUnreachable() throws {
        try #require(MemoryLayout<Int>.size == 8, "fixtures are laid out for 64-bit Linux")
        let c = Self.cmsg(level: 0, type: 11, Self.extendedError(errno: 113, origin: 2, type: 3, code: 1,
                                                                  offender: Self.sockaddrIn(Self.router4)))
        let ee = try #require(ProbeSender.parseExtendedError(control: c))
        #expect(ee == .init(errno: 113, origin: 2, type: 3, code: 1, offender: Self.router4))
        #expect(ProbeSender.classify(ee, udp: true) == .icmpError(type: 3, code: 1))
    }

    @Test func extendedErrorIPv6AfterAnotherMessage() throws {
        try #require(MemoryLayout<Int>.size == 8, "fixtures are laid out for 64-bit Linux")
        // An unrelated message first (SOL_SOCKET SO_TIMESTAMP with a 16-byte timeval).
        let other = Self.cmsg(level: 1, type: 29, [UInt8](repeating: 0xee, count: 16))
        let err = Self.cmsg(level: 41, type: 25, Self.extendedError(errno: 111, origin: 3, type: 1, code: 4,
                                                                   offender: Self.sockaddrIn6(Self.dest6)))
        let ee = try #require(ProbeSender.parseExtendedError(control: other + err))
        #expect(ee == .init(errno: 111, origin: 3, type: 1, code: 4, offender: Self.dest6))
        #expect(ProbeSender.classify(ee, udp: true) == .refused)
        #expect(ProbeSender.classify(ee, udp: false) == .icmpError(type: 1, code: 4))
    }

    @Test func extendedErrorLocalAndMalformed() throws {
        try #require(MemoryLayout<Int>.size == 8, "fixtures are laid out for 64-bit Linux")
        // A local error (SO_EE_ORIGIN_LOCAL, e.g. EMSGSIZE) has an AF_UNSPEC offender.
        let local = Self.cmsg(level: 0, type: 11, Self.extendedError(errno: 90, origin: 1, type: 0, code: 0,
                                                                      offender: [UInt8](repeating: 0, count: 16)))
        let ee = try #require(ProbeSender.parseExtendedError(control: local))
        #expect(ee.offender == nil)
        #expect(ProbeSender.classify(ee, udp: true) == .localError(errno: 90))
        // Port unreachable over IPv4: refused for UDP.
        let refused = ProbeSender.ExtendedError(errno: 111, origin: 2, type: 3, code: 3, offender: nil)
        #expect(ProbeSender.classify(refused, udp: true) == .refused)
        #expect(ProbeSender.classify(refused, udp: false) == .icmpError(type: 3, code: 3))

        #expect(ProbeSender.parseExtendedError(control: []) == nil)
        #expect(ProbeSender.parseExtendedError(control: Self.cmsg(level: 1, type: 29, [1, 2, 3, 4])) == nil)
        var tooLong = local
        tooLong[0] = 200                              // cmsg_len past the buffer
        #expect(ProbeSender.parseExtendedError(control: tooLong) == nil)
        #expect(ProbeSender.parseExtendedError(control: Array(local.prefix(20))) == nil)
    }
}
