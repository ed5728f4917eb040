import CNetfilter
import Foundation
@testable import SkbTracerNetfilter
import Testing

/// `--list-hooks` where the kernel has no hook listing: nf_tables chain messages
/// (built here as net/netfilter/nf_tables_api.c writes them) decoded by libnftnl,
/// and the base chains placed at the hooks the kernel registers them on.
@Suite("netfilter base chains (--list-hooks without the kernel's listing)")
struct NetfilterChainTests {
    typealias M = NetfilterHookTests
    typealias Chain = NetfilterChains.BaseChain

    /// An NFT_MSG_NEWCHAIN message of table family `family`: table, name, and the
    /// hook nest when `hook` is given.
    static func chainMessage(family: UInt8, table: String, name: String, hook: [UInt8]? = nil) -> [UInt8] {
        var attrs = M.attr(1, M.str(table)) + M.attr(3, M.str(name))  // NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME
        if let hook { attrs += M.attr(4, hook, nested: true) }  // NFTA_CHAIN_HOOK
        attrs += M.attr(7, M.str("filter"))  // NFTA_CHAIN_TYPE
        return M.message(family: family, attrs, type: 10 << 8 | 3)
    }

    /// NFTA_HOOK_HOOKNUM and NFTA_HOOK_PRIORITY (be32), then `more`.
    static func hook(_ num: UInt32, _ prio: Int32, _ more: [UInt8] = []) -> [UInt8] {
        M.attr(1, M.be32(num)) + M.attr(2, M.be32(UInt32(bitPattern: prio))) + more
    }

    /// NFTA_HOOK_DEVS: NFTA_DEVICE_NAME per device.
    static func devs(_ names: [String]) -> [UInt8] {
        M.attr(4, names.flatMap { M.attr(1, M.str($0)) }, nested: true)
    }

    static func parse(_ msg: [UInt8]) -> (Int32, Chain) {
        var raw = st_nfchain()
        let rc = msg.withUnsafeBytes { st_nfchain_parse($0.baseAddress, $0.count, &raw) }
        return (rc, Chain(raw))
    }

    @Test("a base chain: the table's family, hook, signed priority, table and chain")
    func baseChain() {
        let (rc, c) = Self.parse(Self.chainMessage(family: 2, table: "t4", name: "fwdc", hook: Self.hook(2, -7)))
        #expect(rc == 0)
        #expect(c == Chain(family: 2, hooknum: 2, priority: -7, table: "t4", name: "fwdc"))
    }

    @Test("a chain without a hook is not a base chain: skipped")
    func regularChain() {
        #expect(Self.parse(Self.chainMessage(family: 2, table: "t", name: "jumped")).0 == 1)
    }

    @Test("netdev devices: one as NFTA_HOOK_DEV, several as NFTA_HOOK_DEVS, both (newer kernels) counted once")
    func devices() {
        let one = Self.parse(Self.chainMessage(family: 5, table: "n", name: "c", hook: Self.hook(0, -5, M.attr(3, M.str("lo"))))).1
        #expect(one.devices == ["lo"])
        let list = Self.parse(Self.chainMessage(family: 5, table: "n", name: "c", hook: Self.hook(0, -5, Self.devs(["lo", "veth0"])))).1
        #expect(list.devices == ["lo", "veth0"])
        let both = Self.parse(Self.chainMessage(family: 5, table: "n", name: "c",
                                                hook: Self.hook(0, -5, M.attr(3, M.str("lo")) + Self.devs(["lo"])))).1
        #expect(both.devices == ["lo"])
    }

    @Test("another message (the hook listing's), or a truncated one, is refused")
    func refused() {
        var raw = st_nfchain()
        let other = M.message(family: 2, M.attr(1, M.be32(1)))
        #expect(other.withUnsafeBytes { st_nfchain_parse($0.baseAddress, $0.count, &raw) } == -EINVAL)
        let short = Array(Self.chainMessage(family: 2, table: "t", name: "c", hook: Self.hook(1, 0)).prefix(12))
        #expect(short.withUnsafeBytes { st_nfchain_parse($0.baseAddress, $0.count, &raw) } == -EINVAL)
    }

    /// `family hook device priority chain-family table chain`, one line per entry.
    static func lines(_ hooks: [NetfilterHook]) -> [String] {
        hooks.map { h in
            "\(h.family) \(h.hook) \(h.device ?? "-") \(h.priority) \(h.chain.map { "\($0.family) \($0.table) \($0.name)" } ?? "?")"
        }
    }

    @Test("chains at the kernel's hooks: inet under ip and ip6, inet ingress and netdev per device; by family, hook, device, priority")
    func mapping() {
        let chains = [
            Chain(family: 1, hooknum: 1, priority: 11, table: "fw", name: "inc"),        // inet input
            Chain(family: 10, hooknum: 1, priority: 3, table: "t6", name: "in6c"),       // ip6 input
            Chain(family: 2, hooknum: 2, priority: -7, table: "t4", name: "fwdc"),       // ip forward
            Chain(family: 5, hooknum: 0, priority: -5, table: "n", name: "ingc", devices: ["veth0", "lo"]),
            Chain(family: 1, hooknum: 5, priority: -9, table: "fw", name: "ingi", devices: ["veth0"]),  // inet ingress
            Chain(family: 7, hooknum: 2, priority: -3, table: "b", name: "brfc"),        // bridge forward
            Chain(family: 3, hooknum: 0, priority: 0, table: "a", name: "arpin"),        // arp input
            Chain(family: 5, hooknum: 1, priority: 0, table: "n", name: "gone"),         // egress, its devices gone
            Chain(family: 2, hooknum: 0, priority: -300, table: "t4", name: "raw"),      // ip prerouting
        ]
        let hooks = NetfilterChains.hooks(chains, interfaces: ["lo", "veth0"])
        #expect(Self.lines(hooks) == [
            "ip prerouting - -300 ip t4 raw",
            "ip input - 11 inet fw inc",
            "ip forward - -7 ip t4 fwdc",
            "ip6 input - 3 ip6 t6 in6c",
            "ip6 input - 11 inet fw inc",
            "arp input - 0 arp a arpin",
            "bridge forward - -3 bridge b brfc",
            "netdev ingress lo -5 netdev n ingc",
            "netdev ingress veth0 -9 inet fw ingi",
            "netdev ingress veth0 -5 netdev n ingc",
        ])
        #expect(hooks.allSatisfy { $0.function == nil && $0.module == nil && $0.bpfProgID == nil })
    }

    @Test("devices the namespace no longer lists come after its own, by name; an unknown family or hook is left out")
    func oddOnes() {
        let chains = [
            Chain(family: 5, hooknum: 0, priority: 0, table: "n", name: "c", devices: ["zz", "aa", "lo"]),
            Chain(family: 99, hooknum: 0, priority: 0, table: "x", name: "x"),
            Chain(family: 2, hooknum: 9, priority: 0, table: "x", name: "y"),
        ]
        #expect(Self.lines(NetfilterChains.hooks(chains, interfaces: ["lo"])) == [
            "netdev ingress lo 0 netdev n c", "netdev ingress aa 0 netdev n c", "netdev ingress zz 0 netdev n c",
        ])
    }
}
