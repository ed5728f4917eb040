import CNetfilter
import Foundation
@testable import SkbTracerNetfilter
import Testing

/// nftrace messages (NFT_MSG_TRACE, built here as net/netfilter/nf_tables_trace.c
/// writes them) decoded by libnftnl, and the listener's drain over a socketpair.
@Suite("nftrace messages")
struct NftraceTests {
    typealias M = NetfilterHookTests

    static func be64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func be16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

    /// NFTA_VERDICT_CODE, and NFTA_VERDICT_CHAIN for a jump or goto.
    static func verdict(_ code: Int32, chain: String? = nil) -> [UInt8] {
        M.attr(5, M.attr(1, M.be32(UInt32(bitPattern: code))) + (chain.map { M.attr(2, M.str($0)) } ?? []), nested: true)
    }

    /// A trace of table family `family` with `type`, id, table and chain, then `more`.
    static func trace(family: UInt8 = 1, type: UInt32 = 3, id: UInt32 = 0xabcd, table: String = "t", chain: String = "c",
                      _ more: [UInt8] = []) -> [UInt8] {
        M.message(family: family, M.attr(1, M.str(table)) + M.attr(2, M.str(chain)) + M.attr(4, M.be32(type))
            + M.attr(6, M.be32(id)) + more, type: 10 << 8 | 17)
    }

    static func parse(_ msg: [UInt8]) -> (Int32, NftTrace?) {
        var raw = st_nftrace()
        let rc = msg.withUnsafeBytes { st_nftrace_parse($0.baseAddress, $0.count, &raw) }
        return (rc, rc == 0 ? NftTrace(raw) : nil)
    }

    static let ip: [UInt8] = [0x45, 0, 0, 84, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]

    @Test("a rule's drop: table, chain, handle, verdict, the packet's family, interfaces, mark and headers")
    func ruleDrop() {
        let msg = Self.trace(family: 1, type: 3, id: 77, table: "guard", chain: "fwd",
                             M.attr(3, Self.be64(7)) + Self.verdict(0) + M.attr(15, M.be32(2)) + M.attr(10, M.be32(4))
                                 + M.attr(11, Self.be16(1)) + M.attr(12, M.be32(5)) + M.attr(14, M.be32(0x10))
                                 + M.attr(7, [UInt8](repeating: 0xee, count: 14)) + M.attr(8, Self.ip) + M.attr(9, [8, 0, 0, 0]))
        let (rc, t) = Self.parse(msg)
        #expect(rc == 0)
        #expect(t == NftTrace(id: 77, type: .rule, family: 1, table: "guard", chain: "fwd", ruleHandle: 7, verdict: 0,
                              nfproto: 2, iif: 4, oif: 5, mark: 0x10, linkHeader: [UInt8](repeating: 0xee, count: 14),
                              networkHeader: Self.ip, transportHeader: [8, 0, 0, 0]))
        #expect(t?.familyName == "inet" && t?.verdictName == "drop" && t?.isDrop == true && t?.isPolicy == false)
    }

    @Test("a jump and a goto name their chain; continue, return, accept, queue with its number")
    func verdicts() {
        let jump = Self.parse(Self.trace(M.attr(3, Self.be64(3)) + Self.verdict(-3, chain: "user"))).1
        #expect(jump?.verdict == -3 && jump?.target == "user" && jump?.verdictName == "jump user" && jump?.isDrop == false)
        #expect(Self.parse(Self.trace(Self.verdict(-4, chain: "other"))).1?.verdictName == "goto other")
        #expect(Self.parse(Self.trace(Self.verdict(-1))).1?.verdictName == "continue")
        let ret = Self.parse(Self.trace(type: 2, Self.verdict(-5))).1
        #expect(ret?.type == .return && ret?.verdictName == "return")
        #expect(Self.parse(Self.trace(Self.verdict(1))).1?.verdictName == "accept")
        #expect(Self.parse(Self.trace(Self.verdict(3 | 5 << 16))).1?.verdictName == "queue 5")
        // NF_DROP_ERR(-EHOSTUNREACH): a drop with an errno above the code.
        #expect(Self.parse(Self.trace(Self.verdict(113 << 16))).1?.isDrop == true)
    }

    @Test("a policy trace: the chain's policy is its verdict; no rule handle")
    func policy() {
        let (rc, t) = Self.parse(Self.trace(type: 1, M.attr(16, M.be32(0))))
        #expect(rc == 0 && t?.isPolicy == true && t?.verdict == 0 && t?.verdictName == "drop" && t?.ruleHandle == nil)
        let accept = Self.parse(Self.trace(type: 1, M.attr(16, M.be32(1)))).1
        #expect(accept?.verdictName == "accept" && accept?.isDrop == false)
    }

    @Test("malformed traces are errors, not an exit: libnftnl exits the process on them (no id, a jump without its chain, an empty header, a short handle)")
    func malformed() {
        let noID = M.message(family: 1, M.attr(1, M.str("t")) + M.attr(4, M.be32(3)), type: 10 << 8 | 17)
        #expect(Self.parse(noID).0 == -EINVAL)
        let noType = M.message(family: 1, M.attr(6, M.be32(1)), type: 10 << 8 | 17)
        #expect(Self.parse(noType).0 == -EINVAL)
        #expect(Self.parse(Self.trace(Self.verdict(-3))).0 == -EINVAL)
        #expect(Self.parse(Self.trace(M.attr(5, [], nested: true))).0 == -EINVAL)
        #expect(Self.parse(Self.trace(M.attr(8, []))).0 == -EINVAL)
        #expect(Self.parse(Self.trace(M.attr(3, M.be32(7)))).0 == -EINVAL)
        #expect(Self.parse(Array(Self.trace().prefix(10))).0 == -EINVAL)
    }

    @Test("another nf_tables message is skipped; an unknown trace type is not a trace")
    func otherMessages() {
        #expect(Self.parse(M.message(family: 1, M.attr(1, M.str("t")), type: 10 << 8 | 0)).0 == 1)
        var raw = st_nftrace()
        let msg = Self.trace(type: 9)
        #expect(msg.withUnsafeBytes { st_nftrace_parse($0.baseAddress, $0.count, &raw) } == 0)
        #expect(NftTrace(raw) == nil)
    }

    @Test("drain: every pending datagram, skbtracer's own tables' traces dropped, malformed ones counted")
    func drain() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &fds) == 0)
        let listener = NftraceListener(fd: fds[0])
        defer { close(fds[1]) }
        for msg in [Self.trace(table: NftraceTable.name(pid: 42), Self.verdict(-1)),
                    Self.trace(id: 1, table: "filter", chain: "FORWARD", M.attr(3, Self.be64(9)) + Self.verdict(0)),
                    M.message(family: 1, M.attr(1, M.str("t")), type: 10 << 8 | 17),
                    Self.trace(type: 1, id: 2, table: "guard", chain: "input", M.attr(16, M.be32(0)))] {
            _ = msg.withUnsafeBytes { send(fds[1], $0.baseAddress, $0.count, 0) }
        }
        let traces = try listener.drain()
        #expect(traces.map { "\($0.table) \($0.chain) \($0.verdictName ?? "-")" } == ["filter FORWARD drop", "guard input drop"])
        #expect(listener.malformed == 1 && listener.overflows == 0)
        #expect(try listener.drain().isEmpty)
    }

    @Test("skbtracer's own table names: skbtracer_ and digits only")
    func ownTables() {
        #expect(NftraceTable.name(pid: 1234) == "skbtracer_1234")
        #expect(NftraceTable.isOwn(table: "skbtracer_1234"))
        for other in ["skbtracer_", "skbtracer_12a", "skbtracer", "filter", "skbtracer_１２"] {
            #expect(!NftraceTable.isOwn(table: other), "\(other)")
        }
    }
}
