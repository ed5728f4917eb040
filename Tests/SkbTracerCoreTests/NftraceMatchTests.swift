import Foundation
import SkbTracerModel
@testable import SkbTracerNetfilter
import SkbTracerSystem
import Testing

/// The rules that set nftrace, from the user's filter: what nft can express of it,
/// one rule per alternative (nft has no "or" within a rule).
@Suite("nftrace rules from the filter")
struct NftraceMatchTests {
    static func filter(_ set: (inout TraceFilter.Options) -> Void) throws -> TraceFilter {
        var o = TraceFilter.Options()
        set(&o)
        return try TraceFilter.parse(o)
    }

    static func rules(_ f: TraceFilter, _ family: NftraceTable.Family = .inet, _ hook: NftraceTable.Hook = .forward) -> [String] {
        NftraceMatch.rules(f, family: family, hook: hook)
    }

    @Test("no filter: one rule that matches every packet, at each hook of both families")
    func empty() {
        for family in NftraceTable.Family.allCases {
            for hook in NftraceTable.Hook.allCases { #expect(Self.rules(TraceFilter(), family, hook) == [""]) }
        }
    }

    @Test("protocols: the network one by EtherType, the transport one by number")
    func protocols() throws {
        #expect(Self.rules(try Self.filter { $0.proto = "icmp" }) == ["meta protocol 0x0800 meta l4proto 1"])
        #expect(Self.rules(try Self.filter { $0.proto = "icmp6" }) == ["meta protocol 0x86dd meta l4proto 58"])
        #expect(Self.rules(try Self.filter { $0.proto = "tcp" }) == ["meta l4proto 6"])
        #expect(Self.rules(try Self.filter { $0.proto = "ip6" }) == ["meta protocol 0x86dd"])
    }

    @Test("ARP: never in an inet table, by EtherType in a bridge table")
    func arp() throws {
        let f = try Self.filter { $0.proto = "arp" }
        #expect(Self.rules(f, .inet).isEmpty)
        #expect(Self.rules(f, .bridge) == ["meta protocol 0x0806"])
        let withAddr = try Self.filter { $0.proto = "arp"; $0.saddr = "10.0.0.1" }
        #expect(Self.rules(withAddr, .inet).isEmpty)
        #expect(Self.rules(withAddr, .bridge) == ["arp saddr ip 10.0.0.1"])
    }

    @Test("--addr either way: a rule per direction; a bridge table also matches ARP's addresses, as the BPF filter does")
    func eitherAddress() throws {
        let f = try Self.filter { $0.addr = "10.0.0.1" }
        #expect(Self.rules(f, .inet) == ["ip saddr 10.0.0.1", "ip daddr 10.0.0.1"])
        #expect(Self.rules(f, .bridge) == ["ip saddr 10.0.0.1", "ip daddr 10.0.0.1", "arp saddr ip 10.0.0.1", "arp daddr ip 10.0.0.1"])
        let v6 = try Self.filter { $0.addr = "fd00::1"; $0.proto = "icmp6" }
        #expect(Self.rules(v6, .bridge) == ["ip6 saddr fd00::1 meta l4proto 58", "ip6 daddr fd00::1 meta l4proto 58"])
        let both = try Self.filter { $0.saddr = "10.0.0.1"; $0.daddr = "10.0.0.2"; $0.proto = "icmp" }
        #expect(Self.rules(both) == ["ip saddr 10.0.0.1 ip daddr 10.0.0.2 meta l4proto 1"])
    }

    @Test("ports: TCP's and UDP's only (ports_match); --port either way")
    func ports() throws {
        #expect(Self.rules(try Self.filter { $0.port = "53" })
                == ["meta l4proto { 6, 17 } th sport 53", "meta l4proto { 6, 17 } th dport 53"])
        #expect(Self.rules(try Self.filter { $0.proto = "tcp"; $0.sport = "1"; $0.dport = "2" }) == ["meta l4proto 6 th sport 1 th dport 2"])
        // A port excludes ARP, so the bridge table has no ARP rule for the address.
        #expect(Self.rules(try Self.filter { $0.addr = "10.0.0.1"; $0.dport = "80" }, .bridge)
                == ["ip saddr 10.0.0.1 meta l4proto { 6, 17 } th dport 80", "ip daddr 10.0.0.1 meta l4proto { 6, 17 } th dport 80"])
    }

    @Test("--ifname: iifname where the hook has an input device, oifname where it has an output one")
    func ifname() throws {
        let f = try Self.filter { $0.ifname = "veth0" }
        #expect(Self.rules(f, .inet, .prerouting) == ["iifname \"veth0\""])
        #expect(Self.rules(f, .inet, .input) == ["iifname \"veth0\""])
        #expect(Self.rules(f, .bridge, .forward) == ["iifname \"veth0\"", "oifname \"veth0\""])
        #expect(Self.rules(f, .inet, .output) == ["oifname \"veth0\""])
        #expect(Self.rules(f, .inet, .postrouting) == ["oifname \"veth0\""])
        let product = try Self.filter { $0.ifname = "veth0"; $0.addr = "10.0.0.1" }
        #expect(Self.rules(product, .inet, .forward) == ["ip saddr 10.0.0.1 iifname \"veth0\"", "ip saddr 10.0.0.1 oifname \"veth0\"",
                                                         "ip daddr 10.0.0.1 iifname \"veth0\"", "ip daddr 10.0.0.1 oifname \"veth0\""])
        // nft has no escapes in strings, and a trailing * is a wildcard: left to the BPF filter.
        for odd in ["we\"ird", "eth*"] {
            var f = TraceFilter()
            f.ifname = odd
            #expect(Self.rules(f) == [""], "\(odd)")
        }
    }

    @Test("--mark, with and without a mask; fields nft cannot express are left out")
    func markAndTheRest() throws {
        #expect(Self.rules(try Self.filter { $0.mark = "0x10" }) == ["meta mark 0x10"])
        #expect(Self.rules(try Self.filter { $0.mark = "0x10/0xff" }) == ["meta mark & 0xff == 0x10"])
        #expect(Self.rules(try Self.filter { $0.pid = "1"; $0.pktLen = "100-200"; $0.icmpID = "7" }) == [""])
    }

    @Test("the rules' --netfilter cost: every packet when nothing of the filter is said in nft")
    func everything() throws {
        #expect(NftraceTable.tracesEverything(TraceFilter()))
        #expect(NftraceTable.tracesEverything(try Self.filter { $0.pid = "1"; $0.ifname = "eth*" }))
        #expect(!NftraceTable.tracesEverything(try Self.filter { $0.proto = "tcp" }))
        #expect(!NftraceTable.tracesEverything(try Self.filter { $0.ifname = "eth0" }))
    }

    @Test("the script: an owner table, a chain per hook at INT_MIN + 1, each rule ending in meta nftrace set 1")
    func script() throws {
        let s = NftraceTable.script(table: "skbtracer_9", family: .bridge, filter: try Self.filter { $0.proto = "icmp" })
        #expect(s == """
            add table bridge skbtracer_9 { flags owner; }
            add chain bridge skbtracer_9 prerouting { type filter hook prerouting priority -2147483647; policy accept; }
            add rule bridge skbtracer_9 prerouting meta protocol 0x0800 meta l4proto 1 meta nftrace set 1
            add chain bridge skbtracer_9 input { type filter hook input priority -2147483647; policy accept; }
            add rule bridge skbtracer_9 input meta protocol 0x0800 meta l4proto 1 meta nftrace set 1
            add chain bridge skbtracer_9 forward { type filter hook forward priority -2147483647; policy accept; }
            add rule bridge skbtracer_9 forward meta protocol 0x0800 meta l4proto 1 meta nftrace set 1
            add chain bridge skbtracer_9 output { type filter hook output priority -2147483647; policy accept; }
            add rule bridge skbtracer_9 output meta protocol 0x0800 meta l4proto 1 meta nftrace set 1
            add chain bridge skbtracer_9 postrouting { type filter hook postrouting priority -2147483647; policy accept; }
            add rule bridge skbtracer_9 postrouting meta protocol 0x0800 meta l4proto 1 meta nftrace set 1

            """)
        #expect(NftraceTable.script(table: "skbtracer_9", family: .inet, filter: TraceFilter())
            .contains("add rule inet skbtracer_9 input meta nftrace set 1\n"))
    }

    /// nft's error output for a failed command.
    static func failure(_ reason: String, _ command: String) -> NftContext.Failure {
        NftContext.Failure(text: "Error: Could not process rule: \(reason)\n\(command)\n^^^^^\n")
    }

    @Test("failures: no owner flag (EOPNOTSUPP, or EINVAL before 5.12), no bridge family, no privilege, anything else")
    func failures() {
        let table = "add table inet skbtracer_9 { flags owner; }"
        for reason in ["Operation not supported", "Invalid argument"] {
            let e = NftraceTable.failure(Self.failure(reason, table), family: .inet, table: "skbtracer_9")
            #expect(e is RuntimeError && e.message.contains("no owner flag") && e.message.contains(reason)
                    && e.hint?.contains("5.12") == true, "\(e)")
        }
        let bridge = NftraceTable.failure(Self.failure("Address family not supported by protocol",
                                                       "add table bridge skbtracer_9 { flags owner; }"), family: .bridge, table: "skbtracer_9")
        #expect(bridge.message.contains("no nf_tables bridge family") && bridge.hint?.contains("CONFIG_NF_TABLES_BRIDGE") == true, "\(bridge)")
        let perm = NftraceTable.failure(Self.failure("Operation not permitted", table), family: .inet, table: "skbtracer_9")
        #expect(perm is UsageError && perm.hint?.contains("run as root") == true, "\(perm)")
        // EINVAL on a rule is not the owner flag.
        let rule = NftraceTable.failure(Self.failure("Invalid argument", "add rule inet skbtracer_9 input meta nftrace set 1"),
                                        family: .inet, table: "skbtracer_9")
        #expect(rule.message == "create nf_tables table inet skbtracer_9: Invalid argument", "\(rule)")
        #expect(NftContext.Failure(text: "netlink: Error: cache initialization failed: Protocol not supported\n").reason
                == "Protocol not supported")
        let none = NftContext.unavailable(errno: EOPNOTSUPP)
        #expect(none is RuntimeError && none.message.contains("nf_tables does not answer (Operation not supported (errno 95))")
                && none.hint?.contains("CONFIG_NF_TABLES") == true, "\(none)")
        let root = NftContext.unavailable(errno: EPERM)
        #expect(root is UsageError && root.hint?.contains("run as root") == true, "\(root)")
    }
}
