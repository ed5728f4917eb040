import CNetfilter
import Foundation
@testable import SkbTracerNetfilter
import SkbTracerSystem
import Testing

/// `--list-hooks`: decoding the kernel's hook messages (built here byte by byte, as
/// net/netfilter/nfnetlink_hook.c writes them), and the text and JSON renderings.
@Suite("netfilter hook listing")
struct NetfilterHookTests {
    // MARK: - Netlink messages

    /// A netlink attribute: length and type (host order), payload, padding to 4.
    static func attr(_ type: UInt16, _ payload: [UInt8], nested: Bool = false) -> [UInt8] {
        let len = UInt16(4 + payload.count)
        let t = nested ? type | 0x8000 : type  // NLA_F_NESTED, as nla_nest_start() sets it
        var b = withUnsafeBytes(of: len.littleEndian, Array.init) + withUnsafeBytes(of: t.littleEndian, Array.init) + payload
        while b.count % 4 != 0 { b.append(0) }
        return b
    }
    static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func str(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// An NFNL_MSG_HOOK_GET reply of `family` holding `attrs`.
    static func message(family: UInt8, _ attrs: [UInt8], type: UInt16 = 12 << 8) -> [UInt8] {
        let nfgen: [UInt8] = [family, 0, 0, 0]
        let len = UInt32(16 + nfgen.count + attrs.count)
        var b = withUnsafeBytes(of: len.littleEndian, Array.init)
        b += withUnsafeBytes(of: type.littleEndian, Array.init) + [0x02, 0x00]  // NLM_F_MULTI
        b += [0, 0, 0, 0] + [0, 0, 0, 0] + nfgen + attrs
        return b
    }

    static func decode(_ msg: [UInt8], point: NetfilterHookPoint, device: String? = nil,
                       progName: (UInt32) -> String? = { _ in nil }) throws -> NetfilterHook {
        var raw = st_nfhook()
        let rc = msg.withUnsafeBytes { st_nfhook_parse($0.baseAddress, $0.count, &raw) }
        try #require(rc == 0, "st_nfhook_parse: \(rc)")
        return NetfilterHook(raw, point: point, device: device, progName: progName)
    }

    static func point(_ family: String, _ hook: String) throws -> NetfilterHookPoint {
        try #require(NetfilterHookPoint.all.first { $0.family == family && $0.hook == hook })
    }

    @Test("an nf_tables chain: priority (signed), function, module, table, chain, the table's family (inet)")
    func nftablesChain() throws {
        let desc = Self.attr(1, Self.str("filter")) + Self.attr(3, Self.str("input")) + Self.attr(2, [1])  // NFPROTO_INET, u8
        let info = Self.attr(1, desc, nested: true) + Self.attr(2, Self.be32(1))
        let msg = Self.message(family: 2, Self.attr(1, Self.be32(1)) + Self.attr(2, Self.be32(UInt32(bitPattern: -150)))
            + Self.attr(4, Self.str("nft_do_chain_inet")) + Self.attr(5, Self.str("nf_tables")) + Self.attr(6, info, nested: true))
        let h = try Self.decode(msg, point: try Self.point("ip", "input"))
        #expect(h == NetfilterHook(family: "ip", hook: "input", priority: -150, function: "nft_do_chain_inet", module: "nf_tables",
                                   chain: .init(family: "inet", table: "filter", name: "input")))
    }

    @Test("the chain's family sent as a be32 reads the same")
    func chainFamilyBE32() throws {
        let desc = Self.attr(1, Self.str("t")) + Self.attr(3, Self.str("c")) + Self.attr(2, Self.be32(10))  // NFPROTO_IPV6
        let info = Self.attr(2, Self.be32(1)) + Self.attr(1, desc, nested: true)  // type before description
        let msg = Self.message(family: 10, Self.attr(2, Self.be32(3)) + Self.attr(6, info, nested: true))
        let h = try Self.decode(msg, point: try Self.point("ip6", "input"))
        #expect(h.chain == .init(family: "ip6", table: "t", name: "c") && h.priority == 3)
    }

    @Test("a BPF program (6.4+): its id, and its name when the id resolves; no chain")
    func bpfProgram() throws {
        let info = Self.attr(1, Self.attr(1, Self.be32(42)), nested: true) + Self.attr(2, Self.be32(2))
        let msg = Self.message(family: 2, Self.attr(2, Self.be32(UInt32(bitPattern: -128)))
            + Self.attr(4, Self.str("nf_hook_run_bpf")) + Self.attr(6, info, nested: true))
        let named = try Self.decode(msg, point: try Self.point("ip", "prerouting"), progName: { $0 == 42 ? "nf_drop_all" : nil })
        #expect(named.bpfProgID == 42 && named.bpfProgName == "nf_drop_all" && named.chain == nil && named.module == nil)
        let gone = try Self.decode(msg, point: try Self.point("ip", "prerouting"))
        #expect(gone.bpfProgID == 42 && gone.bpfProgName == nil)
    }

    @Test("a plain function: no chain, no program; strings without their NUL are cut at the attribute")
    func plainFunction() throws {
        let msg = Self.message(family: 2, Self.attr(2, Self.be32(UInt32(bitPattern: -200)))
            + Self.attr(4, Array("ipv4_conntrack_in".utf8)) + Self.attr(5, Self.str("nf_conntrack")))
        let h = try Self.decode(msg, point: try Self.point("ip", "prerouting"))
        #expect(h == NetfilterHook(family: "ip", hook: "prerouting", priority: -200, function: "ipv4_conntrack_in", module: "nf_conntrack"))
    }

    @Test("another subsystem's message, or a truncated one, is refused")
    func refused() {
        var raw = st_nfhook()
        let other = Self.message(family: 2, [], type: 10 << 8)  // nf_tables
        #expect(other.withUnsafeBytes { st_nfhook_parse($0.baseAddress, $0.count, &raw) } == -EINVAL)
        let short = Array(Self.message(family: 2, Self.attr(2, Self.be32(1))).prefix(12))
        #expect(short.withUnsafeBytes { st_nfhook_parse($0.baseAddress, $0.count, &raw) } == -EINVAL)
    }

    @Test("the hooks asked about: nft's families and hook names, netdev per device")
    func points() {
        let names = NetfilterHookPoint.all.map { "\($0.family) \($0.hook)\($0.perDevice ? " dev" : "")" }
        let inet = ["prerouting", "input", "forward", "output", "postrouting"]
        #expect(names == inet.map { "ip \($0)" } + inet.map { "ip6 \($0)" } + ["arp input", "arp output", "arp forward"]
                + inet.map { "bridge \($0)" } + ["netdev ingress dev", "netdev egress dev"])
    }

    // MARK: - Rendering

    static let sample: [NetfilterHook] = [
        NetfilterHook(family: "ip", hook: "prerouting", priority: -200, function: "ipv4_conntrack_in", module: "nf_conntrack"),
        NetfilterHook(family: "ip", hook: "prerouting", priority: 0, function: "nft_do_chain_ipv4", module: "nf_tables",
                      chain: .init(family: "ip", table: "t", name: "pre")),
        NetfilterHook(family: "ip", hook: "input", priority: 11, function: "nft_do_chain_inet", module: "nf_tables",
                      chain: .init(family: "inet", table: "fw", name: "in")),
        NetfilterHook(family: "ip", hook: "postrouting", priority: .max, function: "ipv4_confirm", module: "nf_conntrack"),
        NetfilterHook(family: "ip6", hook: "input", priority: -128, function: "nf_hook_run_bpf", bpfProgID: 42, bpfProgName: "drop_v6"),
        NetfilterHook(family: "ip6", hook: "output", priority: -225, function: "apparmor_ip_postroute"),
        NetfilterHook(family: "netdev", hook: "ingress", device: "eth0", priority: -5, function: "nft_do_chain_netdev",
                      module: "nf_tables", chain: .init(family: "netdev", table: "n", name: "ing")),
        NetfilterHook(family: "netdev", hook: "ingress", device: "eth1", priority: 0, function: "nft_do_chain_netdev",
                      chain: .init(family: "netdev", table: "n", name: "ing1")),
    ]

    @Test("text: family and hook blocks as nft list hooks prints them (netdev per device)")
    func text() {
        #expect(NetfilterHookText.text(Self.sample) == """
        family ip {
        \thook prerouting {
        \t\t-0000000200 ipv4_conntrack_in [nf_conntrack]
        \t\t 0000000000 chain ip t pre [nf_tables]
        \t}
        \thook input {
        \t\t+0000000011 chain inet fw in [nf_tables]
        \t}
        \thook postrouting {
        \t\t+2147483647 ipv4_confirm [nf_conntrack]
        \t}
        }
        family ip6 {
        \thook input {
        \t\t-0000000128 bpf prog 42 drop_v6
        \t}
        \thook output {
        \t\t-0000000225 apparmor_ip_postroute
        \t}
        }
        family netdev {
        \thook ingress device eth0 {
        \t\t-0000000005 chain netdev n ing [nf_tables]
        \t}
        \thook ingress device eth1 {
        \t\t 0000000000 chain netdev n ing1 [nf_tables]
        \t}
        }

        """)
        #expect(NetfilterHookText.text([]) == "")
    }

    @Test("priorities: sign, ten digits, a space for zero; the extremes fit")
    func priorities() {
        #expect(NetfilterHookText.priority(Int32.min) == "-2147483648")
        #expect(NetfilterHookText.priority(-1) == "-0000000001")
        #expect(NetfilterHookText.priority(0) == " 0000000000")
        #expect(NetfilterHookText.priority(300) == "+0000000300")
    }

    @Test("JSON: one object per entry, every field present, null when absent, strings escaped")
    func json() throws {
        var odd = Self.sample[1]
        odd.chain?.name = "a\"b\\c"
        let lines = NetfilterHookText.json(Self.sample + [odd], netns: 4026532290, netnsName: "ns\"1").split(separator: "\n")
        #expect(lines.count == Self.sample.count + 1)
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let keys: Set = ["type", "netns", "netns_name", "family", "hook", "device", "priority", "function", "module", "chain", "bpf_prog_id", "bpf_prog_name"]
        for o in objects { #expect(Set(o.keys) == keys && o["type"] as? String == "netfilter_hook" && o["netns"] as? Int == 4026532290) }
        #expect(objects[0]["netns_name"] as? String == "ns\"1" && objects[0]["priority"] as? Int == -200 && objects[0]["chain"] is NSNull
                && objects[0]["device"] is NSNull && objects[0]["bpf_prog_id"] is NSNull)
        #expect((objects[2]["chain"] as? [String: String]) == ["family": "inet", "table": "fw", "name": "in"])
        #expect(objects[4]["bpf_prog_id"] as? Int == 42 && objects[4]["bpf_prog_name"] as? String == "drop_v6")
        #expect(objects[5]["module"] is NSNull && objects[6]["device"] as? String == "eth0")
        #expect((objects.last?["chain"] as? [String: String])?["name"] == "a\"b\\c")
    }

    // MARK: - Errors

    @Test("answers: empty hooks and absent families are empty; no listing, or no privilege, is one usage error")
    func failures() {
        #expect(NetfilterHooks.failure(errno: ENOENT, first: true) == nil)
        for err in [EINVAL, EOPNOTSUPP, EPROTONOSUPPORT, ENODEV] {
            #expect(NetfilterHooks.failure(errno: err, first: false) == nil, "errno \(err)")
        }
        for err in [EINVAL, EPROTONOSUPPORT] {
            let e = NetfilterHooks.failure(errno: err, first: true) as? UsageError
            #expect(e?.message.contains("no nfnetlink hook subsystem") == true && e?.hint != nil, "errno \(err): \(String(describing: e))")
        }
        let perm = NetfilterHooks.failure(errno: EPERM, first: false) as? UsageError
        #expect(perm?.hint?.contains("root") == true)
        #expect(NetfilterHooks.failure(errno: ENOMEM, first: false) is RuntimeError)
    }
}
