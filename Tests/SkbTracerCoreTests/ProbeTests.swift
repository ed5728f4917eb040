import BPFKit
import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerSystem
import Testing

typealias Param = KernelBTF.Parameter

enum BTFParams {
    /// The tracepoint's own `void *__data`, always first in btf_trace_<name>.
    static let data = Param(isPointer: true, kind: .pointerToVoid, typeName: "")
    static let voidPtr = Param(isPointer: true, kind: .pointerToVoid, typeName: "")
    static let skb = Param(isPointer: true, kind: .struct, typeName: "sk_buff")
    static let sock = Param(isPointer: true, kind: .struct, typeName: "sock")
    static let reason = Param(isPointer: false, kind: .enum, typeName: "skb_drop_reason")
    static let int = Param(isPointer: false, kind: .int, typeName: "int")
    static let qdisc = Param(isPointer: true, kind: .struct, typeName: "Qdisc")
    static let txq = Param(isPointer: true, kind: .struct, typeName: "netdev_queue")
    static let netDevice = Param(isPointer: true, kind: .struct, typeName: "net_device")
}

@Suite("Probe argument resolution")
struct ProbeSupportTests {
    static let none = UInt8(ST_ARG_NONE)
    static func probe(_ name: String) throws -> Probe { try #require(ProbeCatalogue.probe(named: name)) }

    /// The route programs read fixed argument positions: another order is not loaded.
    @Test func routeArgumentsAreChecked() throws {
        func ptr(_ t: String) -> Param { Param(isPointer: true, kind: .struct, typeName: t) }
        let u32 = Param(isPointer: false, kind: .int, typeName: "u32")
        let fib = try Self.probe("fib_table_lookup"), fib6 = try Self.probe("fib6_table_lookup")
        #expect(ProbeSupport.resolve(fib, parameters: [BTFParams.data, u32, ptr("flowi4"), ptr("fib_nh_common"), BTFParams.int]).isAvailable)
        // 4.x: fib_table_lookup(u32 tb_id, const struct flowi4 *, const struct fib_nh *, int)
        #expect(!ProbeSupport.resolve(fib, parameters: [BTFParams.data, u32, ptr("flowi4"), ptr("fib_nh"), BTFParams.int]).isAvailable)
        #expect(ProbeSupport.resolve(fib6, parameters: [BTFParams.data, ptr("net"), ptr("fib6_result"), ptr("fib6_table"), ptr("flowi6")]).isAvailable)
        // 4.x: fib6_table_lookup(const struct net *, const struct rt6_info *, struct fib6_table *, const struct flowi6 *)
        let old = ProbeSupport.resolve(fib6, parameters: [BTFParams.data, ptr("net"), ptr("rt6_info"), ptr("fib6_table"), ptr("flowi6")])
        #expect(old.status == .missing("tracepoint arguments differ on this kernel"))
    }

    /// 6.x: kfree_skb(void *__data, struct sk_buff *skb, void *location,
    /// enum skb_drop_reason reason, struct sock *rx_sk)
    @Test func kfreeSkbModern() throws {
        let s = ProbeSupport.resolve(try Self.probe("kfree_skb"), parameters: [
            BTFParams.data, BTFParams.skb, BTFParams.voidPtr, BTFParams.reason, BTFParams.sock,
        ])
        #expect(s.status == .available)
        #expect(s.isAvailable)
        #expect(s.arguments.skb == 0)
        #expect(s.arguments.location == 1)
        #expect(s.arguments.reason == 2)
        #expect(s.arguments.sk == 3)
    }

    /// 5.x: kfree_skb(void *__data, struct sk_buff *skb, void *location): no reason.
    @Test func kfreeSkbWithoutReason() throws {
        let s = ProbeSupport.resolve(try Self.probe("kfree_skb"), parameters: [BTFParams.data, BTFParams.skb, BTFParams.voidPtr])
        #expect(s.isAvailable)
        #expect(s.arguments.skb == 0 && s.arguments.location == 1)
        #expect(s.arguments.reason == Self.none && s.arguments.sk == Self.none)
    }

    /// qdisc_dequeue(void *__data, struct Qdisc *, const struct netdev_queue *, int packets, struct sk_buff *)
    @Test func qdiscDequeueSkbAtIndexThree() throws {
        let s = ProbeSupport.resolve(try Self.probe("qdisc_dequeue"), parameters: [
            BTFParams.data, BTFParams.qdisc, BTFParams.txq, BTFParams.int, BTFParams.skb,
        ])
        #expect(s.isAvailable)
        #expect(s.arguments.skb == 3)
        #expect(s.arguments.sk == Self.none && s.arguments.reason == Self.none && s.arguments.location == Self.none)
    }

    @Test func tracepointWithoutSkb() throws {
        let s = ProbeSupport.resolve(try Self.probe("sock_rcvqueue_full"), parameters: [BTFParams.data, BTFParams.sock, BTFParams.int])
        #expect(!s.isAvailable)
        guard case .missing(let why) = s.status else { Issue.record("expected missing"); return }
        #expect(why.contains("sk_buff"))
        #expect(s.arguments.skb == Self.none)
    }

    @Test func noParametersAtAll() throws {
        #expect(!ProbeSupport.resolve(try Self.probe("net_dev_queue"), parameters: []).isAvailable)
        #expect(!ProbeSupport.resolve(try Self.probe("net_dev_queue"), parameters: [BTFParams.data]).isAvailable)
    }

    /// The BPF side reads ctx[0...4]; an skb in argument 5 cannot be read.
    @Test func skbBeyondIndexFour() throws {
        let params = [BTFParams.data] + Array(repeating: BTFParams.int, count: 5) + [BTFParams.skb]
        let s = ProbeSupport.resolve(try Self.probe("net_dev_xmit"), parameters: params)
        #expect(s.arguments.skb == 5)
        #expect(!s.isAvailable)
        guard case .missing(let why) = s.status else { Issue.record("expected missing"); return }
        #expect(why.contains("fifth"))
    }

    @Test func skbAtIndexFourIsStillReadable() throws {
        let params = [BTFParams.data] + Array(repeating: BTFParams.int, count: 4) + [BTFParams.skb]
        let s = ProbeSupport.resolve(try Self.probe("net_dev_xmit"), parameters: params)
        #expect(s.isAvailable)
        #expect(s.arguments.skb == 4)
    }

    /// net_dev_xmit(void *__data, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int len)
    @Test func otherStructPointersAreIgnored() throws {
        let s = ProbeSupport.resolve(try Self.probe("net_dev_xmit"), parameters: [
            BTFParams.data, BTFParams.skb, BTFParams.int, BTFParams.netDevice, BTFParams.int,
        ])
        #expect(s.isAvailable)
        #expect(s.arguments.skb == 0)
        #expect(s.arguments.sk == Self.none && s.arguments.location == Self.none && s.arguments.reason == Self.none)
    }

    /// `void *__data` itself is never taken as the drop location.
    @Test func dataPointerIsNotALocation() throws {
        let s = ProbeSupport.resolve(try Self.probe("consume_skb"), parameters: [BTFParams.data, BTFParams.skb])
        #expect(s.arguments.location == Self.none)
        #expect(s.arguments.skb == 0)
    }

    @Test func firstOfEachKindWins() throws {
        let s = ProbeSupport.resolve(try Self.probe("kfree_skb"), parameters: [
            BTFParams.data, BTFParams.skb, BTFParams.skb, BTFParams.voidPtr, BTFParams.voidPtr,
        ])
        #expect(s.arguments.skb == 0)
        #expect(s.arguments.location == 2)
    }

    @Test func skbByValueOrWrongNameIsNotAnSkb() throws {
        let byValue = Param(isPointer: false, kind: .struct, typeName: "sk_buff")
        let other = Param(isPointer: true, kind: .struct, typeName: "sk_buff_head")
        let s = ProbeSupport.resolve(try Self.probe("netif_rx"), parameters: [BTFParams.data, byValue, other])
        #expect(!s.isAvailable)
        // A drop reason passed by pointer is not the enum value.
        let reasonPtr = Param(isPointer: true, kind: .enum, typeName: "skb_drop_reason")
        let r = ProbeSupport.resolve(try Self.probe("kfree_skb"), parameters: [BTFParams.data, BTFParams.skb, reasonPtr])
        #expect(r.arguments.reason == Self.none)
    }
}

@Suite("Probe catalogue")
struct ProbeCatalogueTests {
    static func names(_ p: [Probe]) -> [String] { p.map(\.name) }

    @Test func oneProbePerBPFProbeID() {
        #expect(ProbeCatalogue.all.count == Int(ST_PROBE_COUNT.rawValue))
        #expect(Set(ProbeCatalogue.all.map(\.id)) == Set((0..<UInt16(ST_PROBE_COUNT.rawValue))))
        #expect(Set(ProbeCatalogue.all.map(\.name)).count == ProbeCatalogue.all.count)
        for p in ProbeCatalogue.all {
            #expect(ProbeCatalogue.probe(id: p.id) == p)
            #expect(ProbeCatalogue.probe(named: p.name) == p)
        }
        #expect(ProbeCatalogue.probe(id: UInt16(ST_PROBE_COUNT.rawValue)) == nil)
        #expect(ProbeCatalogue.probe(named: "nosuch") == nil)
    }

    /// The enum and the catalogue come from the same rows of skbtracer_probes.def,
    /// which spells each name twice (the preprocessor cannot change case): the
    /// constant must be the name in capitals, or Swift and BPF code naming
    /// ST_PROBE_KFREE_SKB would mean another probe than the list says.
    @Test func enumConstantsAreTheNamesInCapitals() throws {
        for p in ProbeCatalogue.all {
            let row = try #require(st_probe_lookup(UInt32(p.id))).pointee
            #expect(String(cString: row.id_name) == "ST_PROBE_" + p.name.uppercased())
        }
        #expect(st_probe_lookup(UInt32(ST_PROBE_COUNT.rawValue)) == nil)
        #expect(ProbeCatalogue.probe(id: UInt16(ST_PROBE_KFREE_SKB.rawValue))?.name == "kfree_skb")
        #expect(ProbeCatalogue.probe(id: UInt16(ST_PROBE_FIB6_TABLE_LOOKUP.rawValue))?.isRoute == true)
    }

    /// The list is in the order a packet meets the probes, and that order is the ids'.
    @Test func catalogueInListOrder() {
        #expect(ProbeCatalogue.all.map(\.id) == Array(0..<UInt16(ST_PROBE_COUNT.rawValue)))
        #expect(Self.names(Array(ProbeCatalogue.all.prefix(3))) == ["net_dev_queue", "net_dev_start_xmit", "net_dev_xmit"])
        #expect(Self.names(ProbeCatalogue.all.filter(\.isRoute)) == ["fib_table_lookup", "fib6_table_lookup"])
        #expect(ProbeCatalogue.all.allSatisfy { $0.isRoute == ($0.group == .route) })
    }

    @Test(arguments: [
        ("net_dev_queue", "net:net_dev_queue"), ("netif_receive_skb", "net:netif_receive_skb"),
        ("kfree_skb", "skb:kfree_skb"), ("consume_skb", "skb:consume_skb"),
        ("skb_copy_datagram_iovec", "skb:skb_copy_datagram_iovec"), ("sock_rcvqueue_full", "sock:sock_rcvqueue_full"),
        ("qdisc_dequeue", "qdisc:qdisc_dequeue"), ("tcp_send_reset", "tcp:tcp_send_reset"),
        ("udp_fail_queue_rcv_skb", "udp:udp_fail_queue_rcv_skb"), ("icmp_send", "icmp:icmp_send"),
    ])
    func tracepointSystem(_ name: String, _ tracepoint: String) throws {
        #expect(try #require(ProbeCatalogue.probe(named: name)).tracepoint == tracepoint)
    }

    @Test func selectGroup() throws {
        #expect(Self.names(try ProbeCatalogue.select(["life"])) == ["kfree_skb", "consume_skb"])
        #expect(Self.names(try ProbeCatalogue.select(["qdisc"])) == ["qdisc_enqueue", "qdisc_dequeue"])
        #expect(Self.names(try ProbeCatalogue.select(["link-in"])) == [
            "netif_rx_entry", "netif_rx", "napi_gro_receive_entry", "netif_receive_skb_entry",
            "netif_receive_skb_list_entry", "netif_receive_skb",
        ])
        #expect(Self.names(try ProbeCatalogue.select(["tcp"])) == ["tcp_retransmit_skb", "tcp_send_reset", "tcp_bad_csum"])
    }

    @Test func everyGroupHasProbes() throws {
        for g in ProbeGroup.allCases {
            let chosen = try ProbeCatalogue.select([g.rawValue])
            #expect(!chosen.isEmpty, "\(g)")
            #expect(chosen.allSatisfy { $0.group == g }, "\(g)")
        }
    }

    @Test func selectAllAndDefault() throws {
        #expect(try ProbeCatalogue.select(["all"]) == ProbeCatalogue.all.filter { !$0.isRoute })
        #expect(try ProbeCatalogue.select(["all", "route"]) == ProbeCatalogue.all)
        #expect(try ProbeCatalogue.select(["default"]) == ProbeCatalogue.defaults)
        let off = Set(ProbeCatalogue.all.filter { !$0.isDefault }.map(\.name))
        #expect(off == ["net_dev_start_xmit", "net_dev_xmit", "netif_rx_entry", "netif_receive_skb_entry",
                        "fib_table_lookup", "fib6_table_lookup"])
        #expect(ProbeCatalogue.defaults.count == 16)
        #expect(try ProbeCatalogue.select(["default", "net_dev_xmit"]).count == 17)
    }

    /// Catalogue order, no duplicates, whatever the order asked.
    @Test func selectMixesNamesAndGroups() throws {
        #expect(Self.names(try ProbeCatalogue.select(["consume_skb", "life", "net_dev_queue"]))
                == ["net_dev_queue", "kfree_skb", "consume_skb"])
        #expect(Self.names(try ProbeCatalogue.select([" qdisc ", "", "icmp_send"])) == ["qdisc_enqueue", "qdisc_dequeue", "icmp_send"])
    }

    @Test(arguments: ["nosuchprobe", "Life", "ALL", "kfree-skb", "link_in", "tp_kfree_skb"])
    func selectUnknownName(_ name: String) throws {
        let error = try #require(throws: UsageError.self) { try ProbeCatalogue.select(["life", name]) }
        #expect(error.message.contains("'\(name)'"))
        #expect(error.message.contains("--trace"))
        #expect(error.hint != nil)
    }

    @Test(arguments: [[String](), [""], [" ", ""]])
    func selectNothing(_ items: [String]) throws {
        let error = try #require(throws: UsageError.self) { try ProbeCatalogue.select(items) }
        #expect(error.message.contains("no probe"))
    }

    /// pwru's --filter-func: a regular expression searched in each name.
    @Test func filterFuncRegex() throws {
        #expect(Set(Self.names(try ProbeCatalogue.matching("skb$", among: ProbeCatalogue.all)))
                == ["netif_receive_skb", "kfree_skb", "consume_skb", "tcp_retransmit_skb", "udp_fail_queue_rcv_skb"])
        #expect(Self.names(try ProbeCatalogue.matching("^net_dev", among: ProbeCatalogue.defaults)) == ["net_dev_queue"])
        #expect(Self.names(try ProbeCatalogue.matching("kfree|consume", among: try ProbeCatalogue.select(["life", "link-out"])))
                == ["kfree_skb", "consume_skb"])
        let none = try #require(throws: UsageError.self) { try ProbeCatalogue.matching("^tcp", among: ProbeCatalogue.select(["life"])) }
        #expect(none.message.contains("matches no probe"))
        let bad = try #require(throws: UsageError.self) { try ProbeCatalogue.matching("[", among: ProbeCatalogue.all) }
        #expect(bad.message.contains("'['"))
    }

    @Test func treeRendering() throws {
        let unknown = ProbeTree.render(supports: nil)
        #expect(unknown.contains("[?] kfree_skb *"))
        #expect(!unknown.contains("── [+]") && !unknown.contains("── [-]"))
        for p in ProbeCatalogue.all { #expect(unknown.contains(" \(p.name)"), "\(p.name)") }

        let kfree = try #require(ProbeCatalogue.probe(named: "kfree_skb"))
        let xmit = try #require(ProbeCatalogue.probe(named: "net_dev_xmit"))
        let supports = [
            ProbeSupport.resolve(kfree, parameters: [BTFParams.data, BTFParams.skb, BTFParams.voidPtr]),
            ProbeSupport.resolve(xmit, parameters: [BTFParams.data, BTFParams.int]),
        ]
        let tree = ProbeTree.render(supports: supports)
        #expect(tree.contains("[+] kfree_skb *"))
        #expect(tree.split(separator: "\n").contains { $0.contains("[-] net_dev_xmit") && $0.hasSuffix("(tracepoint has no sk_buff argument on this kernel)") })
        #expect(tree.contains("[?] consume_skb *"))
        #expect(!tree.contains("net_dev_xmit *"))
    }
}
