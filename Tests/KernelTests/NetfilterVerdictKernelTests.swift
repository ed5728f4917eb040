import Foundation
import SkbTracerSystem
import Testing

/// Issue 13: `--netfilter`'s nf_tables verdicts on real nft and iptables-nft
/// rules in lab namespaces (DropLab's router r unless said): the rule's handle
/// as `nft -a` lists it, chain, hook and verdict on the test's own packet, and
/// the packet's journey (`dropped_by_rule`, `netfilter_never_left`).
extension KernelTests {
@Suite("nf_tables verdicts on real rules (--netfilter)", .serialized)
struct NetfilterVerdictKernelTests {
    typealias Verdict = VerdictTrace.Verdict

    /// The lab's UDP datagram a -> b:port, as its events report it (before any NAT).
    static func udpToB(_ lab: DropLab) -> (KT.Event) -> Bool {
        { $0.l4 == "udp" && $0.saddr == lab.aIPv4 && $0.daddr == lab.bIPv4 && $0.dport == lab.port }
    }

    /// The one journey of the test's packet.
    static func journey(_ trace: VerdictTrace, _ keep: (KT.Event) -> Bool,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> KernelTests.Record {
        let found = trace.journeys(keep)
        #expect(trace.status == 0, "stderr: \(trace.stderr)", sourceLocation: sourceLocation)
        return try #require(found.count == 1 ? found.first : nil, "\(found.count) journeys of the packet:\n\(trace.dump)",
                            sourceLocation: sourceLocation)
    }

    /// An nft table `name` of `family` in `ns` with one base chain and its rules.
    static func table(ns: String, family: String, name: String, chain: String, type: String = "filter", hook: String,
                      priority: String = "0", policy: String = "accept", rules: [String], extra: String = "") throws {
        try NftListing.load(ns: ns, """
            table \(family) \(name) {
                chain \(chain) {
                    type \(type) hook \(hook) priority \(priority); policy \(policy);
            \(rules.map { "        \($0)" }.joined(separator: "\n"))
                }
            \(extra)
            }
            """)
    }

    /// A UDP receiver in `ns` on port `port` that takes one datagram and exits 0,
    /// or gives up after 10 s and exits 3; returns once it listens.
    static func udpSink(_ lab: DropLab, ns: String, port: Int) throws -> KT.Child {
        let child = try KT.Child("ip", ["netns", "exec", ns, KT.python, "-c", """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('', \(port)))
            s.settimeout(10)
            try:
                s.recvfrom(2048)
            except socket.timeout:
                sys.exit(3)
            """], stdout: nil, stderr: nil)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try lab.exec(ns, ["ss", "-Huln", "sport = :\(port)"]).stdout.contains(":\(port)") { return child }
            usleep(50_000)
        }
        child.kill9()
        throw KT.Failure("no UDP socket on port \(port) in \(ns)")
    }

    /// The index of the FORWARD entry hop in namespace `netns`.
    static func forwardEntry(_ hops: [KT.Event], netns: UInt32) -> Int? {
        hops.firstIndex { e in
            let nf = e.json["netfilter"] as? [String: Any]
            return e.probe == "nf_hook" && e.netns == netns && nf?["hook"] as? String == "FORWARD" && nf?["at"] as? String == "entry"
        }
    }

    /// The verdicts that follow hop `index` with no other hop between them. Other
    /// skbtracers on this machine may add their own tables (and verdicts) to the
    /// lab's namespaces: callers keep their table's.
    static func verdictRun(_ hops: [KT.Event], after index: Int) -> [Verdict] {
        hops[(index + 1)...].prefix { $0.probe == "nft_rule" }.compactMap { e in
            (e.json["netfilter"] as? [String: Any]).map { Verdict(nf: $0, event: e) }
        }
    }

    // MARK: - 1. accept

    /// b's socket got the datagram (its exit status), and the journey reaches b
    /// and is not a drop. A UDP datagram read from its socket ends as
    /// "consumed", not "delivered": its copy path fires no tracepoint (README, Probes).
    static func expectReachedB(_ trace: VerdictTrace, _ j: KernelTests.Record, lab: DropLab, sink: KT.Child,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(sink.status == 0, "b's socket got no datagram (status \(sink.status.map(String.init) ?? "running"))",
                sourceLocation: sourceLocation)
        let b = try #require(lab.netnsInode(lab.b), sourceLocation: sourceLocation)
        #expect(VerdictTrace.hops(j).contains { e in
            e.probe == "nf_hook" && e.netns == b && (e.json["netfilter"] as? [String: Any])?["hook"] as? String == "INPUT"
                && (e.json["netfilter"] as? [String: Any])?["at"] as? String == "exit"
        }, "the journey does not leave b's INPUT:\n\(trace.dump)", sourceLocation: sourceLocation)
        #expect(j.outcomeKind != "dropped" && j.outcomeKind != "", "\(j.outcome)", sourceLocation: sourceLocation)
        #expect(j.json["dropped_by_rule"] is NSNull && j.json["netfilter_never_left"] is NSNull, "\(j.json)",
                sourceLocation: sourceLocation)
    }

    @Test("an nft accept rule in r's forward chain: verdict accept with its handle at FORWARD; the datagram reaches b's socket, no rule dropped it")
    func acceptRule() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) accept"])
            let rule = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "accept")
            let sink = try Self.udpSink(lab, ns: lab.b, port: lab.port)
            defer { sink.kill9() }
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
                sink.wait(timeout: 5)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            let r = try #require(lab.netnsInode(lab.r))
            let ours = VerdictTrace.verdicts(j).filter { $0.table == t }
            #expect(ours.count == 1, "\(trace.dump)")
            let v = try #require(ours.first)
            #expect(v.family == "inet" && v.chain == "fwdc" && v.hook == "FORWARD" && v.priority == 0 && v.handle == rule.handle
                    && v.verdict == "accept" && v.policy == false && v.target == nil && v.event.netns == r, "\(v)")
            #expect(v.rule == rule.text && v.syntax == "nft", "\(v) vs \(rule)")
            // Placed right after the FORWARD entry of the same skb (among the
            // verdicts of that hook's run).
            let hops = VerdictTrace.hops(j)
            let entry = try #require(Self.forwardEntry(hops, netns: r), "\(trace.dump)")
            let run = Self.verdictRun(hops, after: entry)
            #expect(run.contains { $0.table == t } && hops[entry].skb == v.event.skb, "\(trace.dump)")
            try Self.expectReachedB(trace, j, lab: lab, sink: sink)
        }
    }

    // MARK: - 2. drop (nft and iptables-nft)

    /// Checks a journey dropped by `rule` in r's FORWARD: the verdict, `dropped_by_rule`, `netfilter_never_left`.
    static func expectDroppedInForward(_ trace: VerdictTrace, _ j: KernelTests.Record, lab: DropLab, family: String, table: String,
                                       chain: String = "fwdc", hook: String? = "FORWARD", handle: Int?, text: String?,
                                       syntax: String?, policy: Bool = false,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try #require(lab.netnsInode(lab.r), sourceLocation: sourceLocation)
        let drops = VerdictTrace.verdicts(j).filter { $0.verdict == "drop" }
        #expect(drops.count == 1, "\(trace.dump)", sourceLocation: sourceLocation)
        let v = try #require(drops.first, sourceLocation: sourceLocation)
        #expect(v.family == family && v.table == table && v.chain == chain && v.hook == hook && v.handle == handle
                && v.policy == policy && v.event.netns == r && v.event.skb == j.str("skb"), "\(v)", sourceLocation: sourceLocation)
        #expect(v.rule == text && v.syntax == syntax, "\(v): want \(syntax ?? "nil") \"\(text ?? "nil")\"", sourceLocation: sourceLocation)
        #expect(j.outcomeKind == "dropped" && j.outcome["reason"] as? String == "NETFILTER_DROP", "\(j.outcome)",
                sourceLocation: sourceLocation)
        let by = try #require(VerdictTrace.droppedByRule(j), "\(j.json)", sourceLocation: sourceLocation)
        #expect(by.table == table && by.chain == chain && by.handle == handle && by.verdict == "drop" && by.policy == policy
                && by.rule == text, "\(by)", sourceLocation: sourceLocation)
        let never = try #require(j.json["netfilter_never_left"] as? [String: Any], "\(trace.dump)", sourceLocation: sourceLocation)
        #expect(never["family"] as? String == "ip" && never["hook"] as? String == "FORWARD", "\(never)", sourceLocation: sourceLocation)
    }

    @Test("an nft drop rule in an inet table: verdict drop with its handle and nft text; the journey names it and FORWARD")
    func nftDrop() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) drop"])
            let rule = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "drop")
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, handle: rule.handle,
                                            text: rule.text, syntax: "nft")
        }
    }

    @Test("an iptables-nft -A FORWARD ... -j DROP: verdict drop in table filter, chain FORWARD, with the handle nft lists and the text in iptables syntax")
    func iptablesDrop() throws {
        try DropLab.with { lab in
            try lab.check(lab.r, ["iptables-nft", "-w", "-A", "FORWARD", "-d", lab.bIPv4, "-p", "udp", "--dport", "\(lab.port)", "-j", "DROP"])
            let rule = try NftListing.rule(ns: lab.r, family: "ip", table: "filter", chain: "FORWARD", containing: "\(lab.port)")
            // iptables' own words for it, as iptables-save prints the rule.
            let saved = try lab.check(lab.r, ["iptables-nft-save", "-t", "filter"]).stdout.split(separator: "\n")
                .filter { $0.hasPrefix("-A FORWARD ") && $0.contains("\(lab.port)") }
            #expect(saved.count == 1, "\(saved)")
            let text = saved.first.map { String($0.dropFirst("-A FORWARD ".count)) }
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "ip", table: "filter", chain: "FORWARD",
                                            handle: rule.handle, text: text, syntax: "iptables")
            #expect(VerdictTrace.verdicts(j).first { $0.verdict == "drop" }?.priority == 0)
        }
    }

    // MARK: - 3. reject

    @Test("reject with icmp port-unreachable: verdict drop by that rule, and r's ICMP error to a answers the rejected packet's journey")
    func rejectRule() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) reject with icmp type port-unreachable"])
            let rule = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "reject")
            // a's address: the datagram from a and the ICMP error to a.
            let trace = try VerdictTrace.run(["-H", lab.aIPv4]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, handle: rule.handle,
                                            text: rule.text, syntax: "nft")
            // The error: ICMP destination unreachable (3), port unreachable (3), to a.
            let error = { (e: KT.Event) in e.l4 == "icmp" && e.icmpType == 3 && e.int("icmp_code") == 3 && e.daddr == lab.aIPv4 }
            let errors = trace.journeys(error)
            // Its own journey, which answers the rejected one (icmp_send ran on it just before).
            #expect(errors.count == 1, "\(trace.dump)")
            #expect(errors.first?.int("reply_to") != nil && errors.first?.int("reply_to") == j.int("journey"), "\(trace.dump)")
            // Made in r, received in a.
            let r = try #require(lab.netnsInode(lab.r)), a = try #require(lab.netnsInode(lab.a))
            let errorHops = errors.first.map(VerdictTrace.hops) ?? []
            #expect(errorHops.first?.netns == r && errorHops.contains { $0.netns == a }, "\(trace.dump)")
        }
    }

    // MARK: - 4. policy drop

    @Test("a forward chain with policy drop and no matching rule: verdict drop by policy, handle null; dropped_by_rule says policy")
    func policyDrop() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward", policy: "drop",
                           rules: ["ip daddr 192.0.2.1 accept"])
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, handle: nil, text: nil, syntax: nil,
                                            policy: true)
        }
    }

    // MARK: - 5. jump, then drop

    @Test("a rule jumps to a regular chain whose rule drops: jump (target that chain) then drop, in order, same skb, after the FORWARD entry")
    func jumpThenDrop() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) jump subc"],
                           extra: "    chain subc {\n        udp dport \(lab.port) drop\n    }")
            let jump = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "jump")
            let drop = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "subc", containing: "drop")
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            let r = try #require(lab.netnsInode(lab.r))
            let hops = VerdictTrace.hops(j)
            let entry = try #require(Self.forwardEntry(hops, netns: r), "\(trace.dump)")
            let after = Self.verdictRun(hops, after: entry).filter { $0.table == t }
            #expect(after.count == 2, "two verdicts right after the FORWARD entry:\n\(trace.dump)")
            guard after.count == 2 else { return }
            #expect(after[0].chain == "fwdc" && after[0].handle == jump.handle && after[0].verdict == "jump"
                    && after[0].target == "subc" && after[0].hook == "FORWARD" && after[0].rule == jump.text, "\(after[0])")
            #expect(after[1].chain == "subc" && after[1].handle == drop.handle && after[1].verdict == "drop"
                    && after[1].target == nil && after[1].rule == drop.text, "\(after[1])")
            #expect(Set(after.map(\.event.skb)) == [hops[entry].skb] && after[0].event.ts <= after[1].event.ts, "\(trace.dump)")
            // A chain reached by a jump has no hook or priority of its own (docs/json-schema.md).
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, chain: "subc", hook: nil, handle: drop.handle,
                                            text: drop.text, syntax: "nft")
        }
    }

    // MARK: - 6. two tables

    @Test("accept in a table at forward priority 0, drop in another at 10: both verdicts, in priority order; the second one dropped it")
    func acceptThenDropInAnotherTable() throws {
        try DropLab.with { lab in
            let first = lab.prefix + "a", second = lab.prefix + "b"
            try Self.table(ns: lab.r, family: "inet", name: first, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) accept"])
            try Self.table(ns: lab.r, family: "inet", name: second, chain: "fwdc", hook: "forward", priority: "10",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) drop"])
            let accept = try NftListing.rule(ns: lab.r, family: "inet", table: first, chain: "fwdc", containing: "accept")
            let drop = try NftListing.rule(ns: lab.r, family: "inet", table: second, chain: "fwdc", containing: "drop")
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            let ours = VerdictTrace.verdicts(j).filter { $0.table == first || $0.table == second }
            #expect(ours.map { "\($0.table ?? "-"):\($0.priority.map(String.init) ?? "-"):\($0.handle.map(String.init) ?? "-"):\($0.verdict ?? "-")" }
                    == ["\(first):0:\(accept.handle):accept", "\(second):10:\(drop.handle):drop"], "\(trace.dump)")
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: second, handle: drop.handle,
                                            text: drop.text, syntax: "nft")
        }
    }

    // MARK: - 7. NAT

    @Test("DNAT in r's prerouting and MASQUERADE in its postrouting: both rules' accept verdicts with their handles on the packet's journey")
    func natVerdicts() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try NftListing.load(ns: lab.r, """
                table ip \(t) {
                    chain prec {
                        type nat hook prerouting priority dstnat; policy accept;
                        ip daddr \(lab.rIPv4A) udp dport \(lab.port) dnat to \(lab.bIPv4)
                    }
                    chain postc {
                        type nat hook postrouting priority srcnat; policy accept;
                        ip daddr \(lab.bIPv4) oifname "\(lab.rIfB)" masquerade
                    }
                }
                """)
            let dnat = try NftListing.rule(ns: lab.r, family: "ip", table: t, chain: "prec", containing: "dnat")
            let masq = try NftListing.rule(ns: lab.r, family: "ip", table: t, chain: "postc", containing: "masquerade")
            let sink = try Self.udpSink(lab, ns: lab.b, port: lab.port)
            defer { sink.kill9() }
            // The port survives both NATs; the addresses do not.
            let trace = try VerdictTrace.run(["--proto", "udp", "--dport", "\(lab.port)"]) {
                try lab.python(lab.a, """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.sendto(b'skbtracer-nat', ('\(lab.rIPv4A)', \(lab.port)))
                    s.close()
                    """)
                sink.wait(timeout: 5)
            }
            let sent = { (e: KT.Event) in e.l4 == "udp" && e.saddr == lab.aIPv4 && e.daddr == lab.rIPv4A && e.dport == lab.port }
            let j = try Self.journey(trace, sent)
            let r = try #require(lab.netnsInode(lab.r))
            let ours = VerdictTrace.verdicts(j).filter { $0.table == t }
            #expect(ours.map { "\($0.chain ?? "-"):\($0.hook ?? "-"):\($0.handle.map(String.init) ?? "-"):\($0.verdict ?? "-")" }
                    == ["prec:PREROUTING:\(dnat.handle):accept", "postc:POSTROUTING:\(masq.handle):accept"], "\(trace.dump)")
            #expect(ours.allSatisfy { $0.event.netns == r && $0.family == "ip" && $0.event.skb == j.str("skb") }, "\(ours)")
            #expect(ours.map(\.rule) == [dnat.text, masq.text], "\(ours)")
            #expect(ours.map(\.priority) == [-100, 100], "dstnat and srcnat: \(ours)")
            try Self.expectReachedB(trace, j, lab: lab, sink: sink)
            // One pass through r: in on its a side, out on its b side (a verdict
            // event names the interface the packet is on at that hook).
            #expect(j.path.map { "\($0.0):\($0.1)" } == ["\(lab.a):\(lab.aIf)", "\(lab.r):\(lab.rIfA)", "\(lab.r):\(lab.rIfB)",
                                                         "\(lab.b):\(lab.bIf)"], "\(j.str("path_text") ?? "")")
            let masqEvent = try #require(ours.last?.event)
            #expect(masqEvent.ifname == lab.rIfB, "the POSTROUTING verdict's interface: \(masqEvent.ifname)")
            #expect(VerdictTrace.hops(j).contains { $0.saddr == lab.rIPv4B && $0.daddr == lab.bIPv4 }, "translated hops:\n\(trace.dump)")
        }
    }

    // MARK: - 8. IPv6

    /// Two namespaces x — y on a veth, IPv6 only (a ULA /64 of their own), no DAD.
    final class V6Pair {
        let prefix = "stv6" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        /// As events print it: no leading zeros in a group.
        let net = String(format: "fd%02x:%x:%x", UInt8.random(in: 0...255), UInt16.random(in: 0...UInt16.max),
                         UInt16.random(in: 0...UInt16.max))
        var x: String { "\(prefix)-x" }
        var y: String { "\(prefix)-y" }
        var xAddr: String { "\(net)::1" }
        var yAddr: String { "\(net)::2" }

        init() throws {
            do {
                for ns in [x, y] {
                    try Command.check(["ip", "netns", "add", ns])
                    try Command.check(["ip", "-n", ns, "link", "set", "lo", "up"])
                }
                try Command.check(["ip", "-n", x, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", y])
                for (ns, addr) in [(x, xAddr), (y, yAddr)] {
                    try Command.check(["ip", "-n", ns, "addr", "add", "\(addr)/64", "dev", "eth0", "nodad"])
                    try Command.check(["ip", "-n", ns, "link", "set", "eth0", "up"])
                }
                // Neighbours resolved before the test's datagram: a fresh link may lose
                // the first solicitation and hold the datagram for a second.
                let warm = try Command.run(["ip", "netns", "exec", x, "ping", "-6", "-c", "1", "-W", "2", yAddr], timeout: 5)
                guard warm.ok else { throw KT.Failure("warm-up ping6 x -> y got no reply: \(warm.stdout)\(warm.stderr)") }
            } catch {
                destroy()
                throw error
            }
        }

        deinit { destroy() }

        func destroy() {
            for ns in [x, y] { _ = try? Command.run(["ip", "netns", "del", ns]) }
        }
    }

    @Test("IPv6: an ip6 table's input rule drops a datagram in y: verdict drop (family ip6, hook INPUT) with its handle; the journey names it and ip6 INPUT")
    func ipv6Drop() throws {
        let pair = try V6Pair()
        defer { pair.destroy() }
        let port = KT.randomPort()
        let t = pair.prefix
        try Self.table(ns: pair.y, family: "ip6", name: t, chain: "inpc", hook: "input",
                       rules: ["ip6 saddr \(pair.xAddr) udp dport \(port) drop"])
        let rule = try NftListing.rule(ns: pair.y, family: "ip6", table: t, chain: "inpc", containing: "drop")
        let trace = try VerdictTrace.run(["-H", pair.yAddr, "--proto", "udp", "--dport", "\(port)"]) {
            try Command.check(["ip", "netns", "exec", pair.x, KT.python, "-c", """
                import socket
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.sendto(b'skbtracer-v6', ('\(pair.yAddr)', \(port)))
                s.close()
                """])
        }
        let j = try Self.journey(trace) { $0.l4 == "udp" && $0.daddr == pair.yAddr && $0.dport == port }
        var st = stat()
        #expect(stat("/run/netns/\(pair.y)", &st) == 0)
        let y = UInt32(truncatingIfNeeded: st.st_ino)
        let drops = VerdictTrace.verdicts(j).filter { $0.verdict == "drop" }
        #expect(drops.count == 1, "\(trace.dump)")
        let v = try #require(drops.first)
        #expect(v.family == "ip6" && v.table == t && v.chain == "inpc" && v.hook == "INPUT" && v.priority == 0
                && v.handle == rule.handle && v.rule == rule.text && v.syntax == "nft" && v.policy == false && v.event.netns == y, "\(v)")
        let by = try #require(VerdictTrace.droppedByRule(j), "\(j.json)")
        #expect(by.handle == rule.handle && by.table == t && by.verdict == "drop", "\(by)")
        let never = try #require(j.json["netfilter_never_left"] as? [String: Any], "\(j.json)")
        #expect(never["family"] as? String == "ip6" && never["hook"] as? String == "INPUT", "\(never)")
    }

    // MARK: - 9. -N

    @Test("-N naming the router's namespace: the drop verdict there, and only that namespace's events")
    func dropWithNetnsOption() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) drop"])
            let rule = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "drop")
            let trace = try VerdictTrace.run(["-N", lab.r, "-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            let j = try Self.journey(trace, Self.udpToB(lab))
            let r = try #require(lab.netnsInode(lab.r))
            #expect(VerdictTrace.hops(j).allSatisfy { $0.netns == r }, "\(trace.dump)")
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, handle: rule.handle,
                                            text: rule.text, syntax: "nft")
        }
    }

    @Test("a second skbtracer --netfilter in a namespace where another one runs gets its own hook events there")
    func twoTracersOneNamespace() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ip daddr \(lab.bIPv4) udp dport \(lab.port) drop"])
            // Someone else's trace of r: its links hold the hooks' first and last
            // priorities, where the kernel refuses a second BPF program (EBUSY).
            let first = try KT.Tracer.start(["--netfilter", "-N", lab.r, "--proto", "icmp", "--icmpid", "\(lab.icmpID)"])
            defer { first.cleanup() }
            let trace = try VerdictTrace.run(["-N", lab.r, "-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"]) {
                try DropScenario.udpToB(lab)
            }
            #expect(first.stop() == 0, "first tracer: \(first.stderr)")
            #expect(!trace.stderr.contains("no hook programs"), "\(trace.stderr)")
            let j = try Self.journey(trace, Self.udpToB(lab))
            let r = try #require(lab.netnsInode(lab.r))
            #expect(Self.forwardEntry(VerdictTrace.hops(j), netns: r) != nil, "no FORWARD entry in r:\n\(trace.dump)")
            let never = j.json["netfilter_never_left"] as? [String: Any]
            #expect(never?["hook"] as? String == "FORWARD", "\(trace.dump)")
        }
    }

    // MARK: - 10. residue

    @Test("stopped by SIGINT, SIGTERM or SIGKILL: every namespace's ruleset as before (no skbtracer_ table), no netfilter link left",
          arguments: [SIGINT, SIGTERM, SIGKILL])
    func noResidue(signal: Int32) throws {
        try DropLab.with { lab in
            try lab.check(lab.r, ["iptables-nft", "-w", "-A", "FORWARD", "-d", lab.bIPv4, "-p", "udp", "--dport", "\(lab.port)", "-j", "DROP"])
            let spaces = [lab.a, lab.r, lab.b]
            let before = try spaces.map { try NftListing.ruleset(ns: $0) }
            let tracer = try KT.Tracer.start(["--netfilter", "-H", lab.bIPv4, "--proto", "udp", "--dport", "\(lab.port)"])
            defer { tracer.cleanup() }
            let ours = "skbtracer_\(tracer.pid)"
            // While it runs: its tables in the lab's namespaces and the root one, and its links.
            for ns in (spaces as [String?]) + [nil] {
                #expect(try NftListing.ruleset(ns: ns).contains("table inet \(ours) {"), "no \(ours) in \(ns ?? "root") while tracing")
            }
            let held = tracer.bpfLinkIDs().intersection(try KT.netfilterHookLinkIDs())
            #expect(held.count >= 4 * 20, "netfilter links held: \(held.count); stderr: \(tracer.stderr)")
            try DropScenario.udpToB(lab)

            usleep(300_000)
            tracer.child?.signal(signal)
            #expect(tracer.waitExit(timeout: 10), "still running 10 s after signal \(signal)")
            if signal != SIGKILL { #expect(tracer.status == 0, "status \(tracer.status ?? -1): \(tracer.stderr)") }
            // The kernel removes owner tables when the netlink socket closes: soon, not at once.
            let pid = tracer.pid
            let rulesets = { try spaces.map { NftListing.withoutOtherTracers(try NftListing.ruleset(ns: $0), pid: pid) } }
            let was = before.map { NftListing.withoutOtherTracers($0, pid: pid) }
            let deadline = Date().addingTimeInterval(3)
            var after = try rulesets()
            var root = try Nft.tables()
            while (after != was || root.contains { $0.hasSuffix(" \(ours)") }) && Date() < deadline {
                usleep(50_000)
                after = try rulesets()
                root = try Nft.tables()
            }
            for (i, ns) in spaces.enumerated() {
                #expect(after[i] == was[i], "\(ns) after signal \(signal):\n\(after[i])\nbefore:\n\(was[i])")
            }
            #expect(!root.contains { $0.hasSuffix(" \(ours)") }, "root namespace keeps \(ours): \(root.sorted())")
            let left = held.intersection(try KT.netfilterHookLinkIDs())
            #expect(left.isEmpty, "netfilter links left after signal \(signal): \(left.sorted())")
        }
    }

    // MARK: - 11. conntrack INVALID

    @Test("ct state invalid drop: a TCP segment with SYN and FIN, which conntrack calls invalid, is dropped by that rule")
    func conntrackInvalidDrop() throws {
        try DropLab.with { lab in
            let t = lab.prefix
            try Self.table(ns: lab.r, family: "inet", name: t, chain: "fwdc", hook: "forward",
                           rules: ["ct state invalid drop"])
            let rule = try NftListing.rule(ns: lab.r, family: "inet", table: t, chain: "fwdc", containing: "invalid")
            let sport = KT.randomPort()
            let trace = try VerdictTrace.run(["-H", lab.bIPv4, "--proto", "tcp", "--dport", "\(lab.port)"]) {
                // A raw TCP segment (flags SYN|FIN) with a right checksum: invalid by its flags alone.
                try lab.python(lab.a, """
                    import socket, struct
                    src, dst = socket.inet_aton('\(lab.aIPv4)'), socket.inet_aton('\(lab.bIPv4)')
                    def csum(b):
                        s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
                        s = (s >> 16) + (s & 0xffff)
                        s += s >> 16
                        return ~s & 0xffff
                    def seg(c):
                        return struct.pack('!HHIIBBHHH', \(sport), \(lab.port), 1000, 0, 5 << 4, 0x03, 64240, c, 0)
                    c = csum(src + dst + struct.pack('!BBH', 0, 6, 20) + seg(0))
                    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
                    s.sendto(seg(c), ('\(lab.bIPv4)', 0))
                    s.close()
                    """)
            }
            let j = try Self.journey(trace) { $0.l4 == "tcp" && $0.saddr == lab.aIPv4 && $0.daddr == lab.bIPv4 && $0.dport == lab.port }
            try Self.expectDroppedInForward(trace, j, lab: lab, family: "inet", table: t, handle: rule.handle,
                                            text: rule.text, syntax: "nft")
        }
    }
}
}
