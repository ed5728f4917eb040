import BPFKit
import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
import Testing

@Suite("Drop explanations and known noise")
struct DropExplanationsTests {
    /// Reasons the README, the design notes and the lead call out by name.
    static let keyReasons = [
        "NOT_SPECIFIED", "NO_SOCKET", "NETFILTER_DROP", "IP_INNOROUTES", "IP_RPFILTER", "IP_INHDR",
        "SOCKET_RCVBUFF", "QDISC_DROP", "TC_INGRESS", "TC_EGRESS", "OTHERHOST", "IP_NOPROTO",
        "NEIGH_FAILED", "IPV6DISABLED", "TCP_ZEROWINDOW", "TCP_LISTEN_OVERFLOW",
    ]

    /// Drops a user meets on a host, container, router or bridge: each one this kernel has must
    /// be explained (older kernels lack some, and those are skipped).
    static let mustExplain = [
        "NOT_SPECIFIED", "NO_SOCKET", "SOCKET_FILTER", "SOCKET_RCVBUFF", "SOCKET_BACKLOG",
        "PKT_TOO_SMALL", "TCP_CSUM", "UDP_CSUM", "IP_CSUM", "NETFILTER_DROP", "OTHERHOST",
        "IP_INHDR", "IP_RPFILTER", "IP_NOPROTO", "XFRM_POLICY", "TCP_FLAGS", "TCP_ZEROWINDOW",
        "TCP_OLD_DATA", "TCP_OVERWINDOW", "TCP_INVALID_SEQUENCE", "TCP_RESET", "TCP_INVALID_SYN",
        "TCP_CLOSE", "TCP_LISTEN_OVERFLOW", "IP_OUTNOROUTES", "IP_INNOROUTES", "IP_INADDRERRORS",
        "IPV6DISABLED", "NEIGH_FAILED", "NEIGH_QUEUEFULL", "TC_EGRESS", "TC_INGRESS", "QDISC_DROP",
        "CPU_BACKLOG", "XDP", "UNHANDLED_PROTO", "PKT_TOO_BIG", "FRAG_REASM_TIMEOUT",
        "BPF_CGROUP_EGRESS", "IP_LOCALNET",
    ]

    // MARK: The table

    @Test func everyEntryIsOneNonEmptyLine() throws {
        let names = DropExplanations.explainedReasons
        #expect(Set(names).count == names.count, "a reason is listed twice")
        for name in names {
            #expect(!name.hasPrefix("SKB_DROP_REASON_") && name.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" },
                    "\(name): write the name without SKB_DROP_REASON_")
            let x = try #require(DropExplanations.explain(name), "\(name) is listed but not explained")
            for (what, text) in [("explanation", x.explanation), ("hint", x.hint)] {
                #expect(!text.isEmpty, "\(name): empty \(what)")
                #expect(!text.contains("\n"), "\(name): \(what) spans lines")
                #expect(text.trimmingCharacters(in: .whitespaces) == text, "\(name): \(what) has outer blanks")
                // One style: one sentence, no trailing period (callers embed it in a line).
                #expect(!text.hasSuffix("."), "\(name): \(what) ends with a period")
                #expect(!text.contains(". "), "\(name): \(what) has more than one sentence")
                // The docs table is generated from these strings.
                #expect(!text.contains("|"), "\(name): \(what) contains '|', which breaks the docs table")
            }
            #expect(x.explanation.first?.isUppercase == true, "\(name): explanation starts lower case")
        }
    }

    @Test func hintsAreSpecific() {
        let hints = DropExplanations.explainedReasons.compactMap { DropExplanations.explain($0)?.hint }
        #expect(Set(hints).count > 1)
        // Only renamed reasons (TCP_FILTER/SOCKET_FILTER, PTYPE_ABSENT/UNHANDLED_PROTO) share a hint.
        #expect(hints.count - Set(hints).count <= 2)
        // A hint names something to run or look at, not just "check the configuration".
        let concrete = hints.filter { $0.contains("`") || $0.contains("nstat") || $0.contains("sysctl") }
        #expect(concrete.count * 10 >= hints.count * 8, "fewer than 80% of hints name a command")
    }

    @Test func keyReasonsAreExplained() {
        for name in Self.keyReasons + Self.mustExplain {
            #expect(DropExplanations.explain(name) != nil, "\(name) has no explanation")
        }
        #expect(DropExplanations.explainedReasons.count >= 100)
        #expect(DropExplanations.explain("SKB_DROP_REASON_NO_SOCKET") == nil, "names are written without the prefix")
        #expect(DropExplanations.explain("NO_SUCH_REASON") == nil)
    }

    @Test func hintsPointWhereTheBriefSays() throws {
        func hint(_ n: String) throws -> String { try #require(DropExplanations.explain(n)).hint }
        #expect(try hint("NETFILTER_DROP").contains("nft list ruleset"))
        #expect(try hint("NETFILTER_DROP").contains("iptables -L -v -n"))
        #expect(try hint("NETFILTER_DROP").contains("nft monitor trace"))
        #expect(try hint("NO_SOCKET").contains("ss -l"))
        #expect(try hint("IP_INNOROUTES").contains("ip route get"))
        #expect(try hint("IP_OUTNOROUTES").contains("ip route get"))
        #expect(try hint("IP_RPFILTER").contains("rp_filter"))
        #expect(try hint("IP_INHDR").contains("ttl"))
        #expect(try hint("SOCKET_RCVBUFF").contains("ss -m"))
        #expect(try hint("SOCKET_RCVBUFF").contains("rmem_max"))
        #expect(try hint("QDISC_DROP").contains("tc -s qdisc show dev IF"))
        #expect(try hint("IP_INADDRERRORS").contains("ip_forward"))
    }

    /// Reads the running kernel's enum through BTF, as the tracer does.
    ///
    /// Names explained but not in 6.18 (reported below, allowed): TCP_FILTER (5.17's name for
    /// SOCKET_FILTER), PTYPE_ABSENT (5.18's name for UNHANDLED_PROTO), VXLAN_NO_REMOTE (older name
    /// of NO_TX_TARGET), SOCKET_RCV_SHUTDOWN and BLACKHOLE (newer kernels).
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"),
                   "needs /sys/kernel/btf/vmlinux"))
    func coversTheRunningKernel() throws {
        let btf = try KernelBTF()
        let notReasons: Set = ["SKB_NOT_DROPPED_YET", "SKB_CONSUMED", "SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK"]
        let kernel = btf.enumValues("skb_drop_reason").map(\.name).filter { !notReasons.contains($0) }
            .map { $0.hasPrefix("SKB_DROP_REASON_") ? String($0.dropFirst(16)) : $0 }
        try #require(!kernel.isEmpty, "BTF has no enum skb_drop_reason")
        let inKernel = Set(kernel)
        let explained = DropExplanations.explainedReasons

        let notInKernel = explained.filter { !inKernel.contains($0) }
        let unexplained = kernel.filter { DropExplanations.explain($0) == nil }
        print("DropExplanations: this kernel has \(kernel.count) drop reasons, \(kernel.count - unexplained.count) explained")
        print("DropExplanations: explained but not in this kernel: \(notInKernel.isEmpty ? "none" : notInKernel.joined(separator: " "))")
        print("DropExplanations: in this kernel without an explanation: \(unexplained.isEmpty ? "none" : unexplained.joined(separator: " "))")

        for name in Self.mustExplain where inKernel.contains(name) {
            #expect(DropExplanations.explain(name) != nil, "\(name) is in this kernel but not explained")
        }
    }

    // MARK: Known noise

    /// `e` as freed by kfree_skb with a drop location.
    static func dropped(_ e: FlatEvent) -> TraceEvent {
        var e = e
        e.probe = UInt16(ST_PROBE_KFREE_SKB.rawValue)
        e.flags |= Fixtures.DROP | Fixtures.LOC
        return TraceEvent(raw: e)
    }

    /// The reply to Fixtures.icmpEchoRequest(), coming back.
    static func echoReply() -> FlatEvent {
        var e = Fixtures.icmpEchoRequest()
        e.icmp_type = 0
        Fixtures.set(&e.saddr, Fixtures.v4_198_18_10_3)
        Fixtures.set(&e.daddr, Fixtures.v4_198_18_10_2)
        return e
    }

    /// ICMPv6 of `type` from 2001:db8::1 to `daddr`.
    static func icmp6(type: UInt8, to daddr: String) throws -> FlatEvent {
        var e = Fixtures.ipv6TCPSyn()
        e.l4_proto = 58
        e.sport = 0; e.dport = 0; e.tcp_flags = 0
        e.icmp_type = type
        Fixtures.set(&e.daddr, try #require(IPAddress(daddr)).bytes)
        return e
    }

    static func udp(to daddr: [UInt8], pktType: UInt8 = 0) -> FlatEvent {
        var e = Fixtures.udp()
        Fixtures.set(&e.daddr, daddr)
        e.pkt_type = pktType
        return e
    }

    @Test func pingRawSocketCloneIsNoise() throws {
        let reply = Self.dropped(Self.echoReply())
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "ping_rcv", event: reply) != nil)
        // Older kernels drop in icmp_rcv; a hidden kallsyms gives an address.
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "icmp_rcv", event: reply) != nil)
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: nil, event: reply) != nil)
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "0xffffffff8206e0ab", event: reply) != nil)
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "ping_rcv+0xab", event: reply) != nil)
        // IPv6 echo reply (129) goes through the same ping_rcv.
        let reply6 = Self.dropped(try Self.icmp6(type: 129, to: "2001:db8::2"))
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "ping_rcv", event: reply6) != nil)

        // Not an echo reply, another reason, or another function: not this rule.
        let request = Self.dropped(Fixtures.icmpEchoRequest())
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "ping_rcv", event: request) == nil)
        #expect(DropExplanations.noise(reason: "NETFILTER_DROP", function: "nft_do_chain", event: reply) == nil)
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "__udp4_lib_rcv", event: reply) == nil)
    }

    @Test func ipv6MulticastNobodyJoinedIsNoise() throws {
        // A neighbour solicitation for another host's solicited-node group, and MLD to ff02::16.
        let ns = Self.dropped(try Self.icmp6(type: 135, to: "ff02::1:ff00:9"))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip6_mc_input", event: ns) != nil)
        let mld = Self.dropped(try Self.icmp6(type: 143, to: "ff02::16"))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip6_mc_input", event: mld) != nil)
        // UDP to a group nobody joined (mDNS).
        var mdns = try Self.icmp6(type: 0, to: "ff02::fb")
        mdns.l4_proto = 17; mdns.dport = 5353
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip6_mc_input", event: Self.dropped(mdns)) != nil)
        // ip6_mc_input with a unicast destination is not this rule.
        let unicast = Self.dropped(try Self.icmp6(type: 128, to: "2001:db8::2"))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip6_mc_input", event: unicast) == nil)
    }

    @Test func neighbourDiscoveryChatterIsNoise() throws {
        let ns = Self.dropped(try Self.icmp6(type: 135, to: "ff02::1:ff00:9"))
        #expect(DropExplanations.noise(reason: "IPV6_NDISC_NS_OTHERHOST", function: "icmpv6_rcv", event: ns) != nil)
        let ra = Self.dropped(try Self.icmp6(type: 134, to: "ff02::1"))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "icmpv6_rcv", event: ra) != nil)
        // Malformed neighbour discovery is a broken sender, not chatter.
        #expect(DropExplanations.noise(reason: "IPV6_NDISC_BAD_OPTIONS", function: "icmpv6_rcv", event: ra) == nil)
        #expect(DropExplanations.noise(reason: "IPV6_NDISC_HOP_LIMIT", function: "icmpv6_rcv", event: ra) == nil)
        // Unicast neighbour discovery is not this rule.
        let unicastNS = Self.dropped(try Self.icmp6(type: 135, to: "2001:db8::2"))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "icmpv6_rcv", event: unicastNS) == nil)
    }

    @Test func udpBroadcastAndMulticastWithoutListenerIsNoise() {
        // 6.18 inlines __udp4_lib_mcast_deliver into __udp4_lib_rcv (seen with perf).
        let limited = Self.dropped(Self.udp(to: [255, 255, 255, 255]))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "__udp4_lib_rcv", event: limited) != nil)
        let subnet = Self.dropped(Self.udp(to: [10, 0, 0, 255], pktType: 1))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "__udp4_lib_rcv", event: subnet) != nil)
        let mdns = Self.dropped(Self.udp(to: [224, 0, 0, 251], pktType: 2))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "__udp4_lib_mcast_deliver", event: mdns) != nil)

        // Unicast UDP without a listener is a real failure, and so is NOT_SPECIFIED for unicast.
        let unicast = Self.dropped(Fixtures.udp())
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "__udp4_lib_rcv", event: unicast) == nil)
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "__udp4_lib_rcv", event: unicast) == nil)
        // The same broadcast dropped by a firewall is a real drop.
        #expect(DropExplanations.noise(reason: "NETFILTER_DROP", function: "nft_do_chain", event: limited) == nil)
    }

    @Test func ipv4MulticastNobodyJoinedIsNoise() {
        let group = Self.dropped(Self.udp(to: [239, 1, 2, 3], pktType: 2))
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip_rcv_finish_core", event: group) != nil)
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: "ip_rcv_finish_core.isra.0", event: group) != nil)
        #expect(DropExplanations.noise(reason: "IP_RPFILTER", function: "ip_rcv_finish_core", event: group) == nil)
        #expect(DropExplanations.noise(reason: "NOT_SPECIFIED", function: nil, event: group) == nil)
    }

    @Test func tcpResetForAForgottenConnectionIsNoise() {
        var rst = Fixtures.kfreeSkbDrop()
        rst.tcp_flags = 0x14 // RST,ACK
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "tcp_v4_rcv", event: TraceEvent(raw: rst)) != nil)
        // A SYN to a closed port is the classic real failure.
        let syn = TraceEvent(raw: Fixtures.kfreeSkbDrop())
        #expect(DropExplanations.noise(reason: "NO_SOCKET", function: "tcp_v4_rcv", event: syn) == nil)
        #expect(DropExplanations.noise(reason: "NETFILTER_DROP", function: "nft_do_chain", event: syn) == nil)
    }

    @Test func switchChatterIsNoise() {
        var lldp = Fixtures.base(ST_PROBE_KFREE_SKB)
        lldp.flags = Fixtures.MAC | Fixtures.DROP | Fixtures.LOC
        Fixtures.set(&lldp.dmac, [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e])
        lldp.l3_proto = 0x88CC
        let fn = "__netif_receive_skb_core.constprop.0"
        #expect(DropExplanations.noise(reason: "UNHANDLED_PROTO", function: fn, event: TraceEvent(raw: lldp)) != nil)
        var stp = lldp
        stp.l3_proto = 0x0026 // an 802.3 length: LLC, here a spanning-tree BPDU
        #expect(DropExplanations.noise(reason: "UNHANDLED_PROTO", function: fn, event: TraceEvent(raw: stp)) != nil)
        var vlan = lldp
        vlan.l3_proto = 0x8100
        #expect(DropExplanations.noise(reason: "UNHANDLED_PROTO", function: fn, event: TraceEvent(raw: vlan)) == nil)
    }

    @Test func socketClosedWithUnreadDataIsNoise() {
        let e = Self.dropped(Self.echoReply())
        #expect(DropExplanations.noise(reason: "QUEUE_PURGE", function: "inet_sock_destruct", event: e) != nil)
        #expect(DropExplanations.noise(reason: "QUEUE_PURGE", function: "dev_deactivate_many", event: e) == nil)
    }

    @Test func realFailuresAreNotNoise() {
        let syn = TraceEvent(raw: Fixtures.kfreeSkbDrop())
        for reason in ["NETFILTER_DROP", "IP_RPFILTER", "IP_INNOROUTES", "OTHERHOST", "TCP_LISTEN_OVERFLOW",
                       "SOCKET_RCVBUFF", "QDISC_DROP", "NEIGH_FAILED", "NOT_SPECIFIED"] {
            #expect(DropExplanations.noise(reason: reason, function: "tcp_v4_rcv", event: syn) == nil, "\(reason)")
            #expect(DropExplanations.noise(reason: reason, function: nil, event: syn) == nil, "\(reason)")
        }
    }

    // MARK: docs/drop-reasons.md

    static let beginMarker = "<!-- BEGIN GENERATED TABLE: DropExplanationsTests.docsTableIsCurrent -->"
    static let endMarker = "<!-- END GENERATED TABLE -->"

    static func markdownTable() -> String {
        var lines = ["| reason | what happened | what to check |", "|---|---|---|"]
        for name in DropExplanations.explainedReasons {
            guard let x = DropExplanations.explain(name) else { continue }
            lines.append("| `\(name)` | \(x.explanation) | \(x.hint) |")
        }
        return lines.joined(separator: "\n")
    }

    /// The docs table is generated from the Swift table. To regenerate it:
    /// `SKBTRACER_UPDATE_DOCS=1 swift test --filter DropExplanations`.
    @Test func docsTableIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let url = root.appendingPathComponent("docs/drop-reasons.md")
        let doc = try String(contentsOf: url, encoding: .utf8)
        let begin = try #require(doc.range(of: Self.beginMarker), "docs/drop-reasons.md lacks the begin marker")
        let end = try #require(doc.range(of: Self.endMarker, range: begin.upperBound..<doc.endIndex),
                               "docs/drop-reasons.md lacks the end marker")
        let current = doc[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        let wanted = Self.markdownTable()
        if current != wanted, ProcessInfo.processInfo.environment["SKBTRACER_UPDATE_DOCS"] == "1" {
            let updated = doc[..<begin.upperBound] + "\n" + wanted + "\n" + doc[end.lowerBound...]
            try String(updated).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        #expect(current == wanted,
                "docs/drop-reasons.md is stale: run SKBTRACER_UPDATE_DOCS=1 swift test --filter DropExplanations")
    }
}
