import Foundation
import SkbTracerModel
@testable import SkbTracerNetfilter
import SkbTracerSystem
import Testing

/// nftrace in namespaces of the test's own: a router namespace between two hosts,
/// skbtracer's tables in the router, real nft and iptables-nft rules there, and a
/// bounded ping between the hosts (ping -c 2 -W 1).
extension KernelTests {
    @Suite("nftrace: skbtracer's tables, the trace listener and rule texts")
    struct NftraceKernelTests {
        /// a (10.231.1.2) — (10.231.1.1) r (10.231.2.1) — b (10.231.2.2); r forwards.
        /// No default routes: each host reaches the other subnet only.
        final class RouterLab {
            let prefix = "stnt" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
            var a: String { "\(prefix)-a" }
            var r: String { "\(prefix)-r" }
            var b: String { "\(prefix)-b" }
            let aAddr = "10.231.1.2", rAddr = "10.231.1.1", bAddr = "10.231.2.2"
            let aAddr6 = "fd00:231:1::2", bAddr6 = "fd00:231:2::2"

            init() throws {
                do {
                    for ns in [a, r, b] { try Command.check(["ip", "netns", "add", ns]) }
                    try Command.check(["ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "ra", "netns", r])
                    try Command.check(["ip", "-n", b, "link", "add", "eth0", "type", "veth", "peer", "name", "rb", "netns", r])
                    for (ns, dev, addr) in [(a, "eth0", "10.231.1.2/24"), (r, "ra", "10.231.1.1/24"),
                                            (r, "rb", "10.231.2.1/24"), (b, "eth0", "10.231.2.2/24")] {
                        try Command.check(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
                        try Command.check(["ip", "-n", ns, "link", "set", dev, "up"])
                    }
                    for (ns, dev, addr) in [(a, "eth0", "fd00:231:1::2/64"), (r, "ra", "fd00:231:1::1/64"),
                                            (r, "rb", "fd00:231:2::1/64"), (b, "eth0", "fd00:231:2::2/64")] {
                        try Command.check(["ip", "-n", ns, "-6", "addr", "add", addr, "dev", dev, "nodad"])
                    }
                    try Command.check(["ip", "-n", a, "route", "add", "10.231.2.0/24", "via", rAddr])
                    try Command.check(["ip", "-n", b, "route", "add", "10.231.1.0/24", "via", "10.231.2.1"])
                    try Command.check(["ip", "-n", a, "-6", "route", "add", "fd00:231:2::/64", "via", "fd00:231:1::1"])
                    try Command.check(["ip", "-n", b, "-6", "route", "add", "fd00:231:1::/64", "via", "fd00:231:2::1"])
                    // The router's own namespace only.
                    try Command.check(["ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                                       "net.ipv6.conf.all.forwarding=1"])
                } catch {
                    destroy()
                    throw error
                }
            }

            deinit { destroy() }

            /// The namespaces take their links, rules and our tables with them.
            func destroy() {
                for ns in [a, r, b] { _ = try? Command.run(["ip", "netns", "del", ns]) }
            }

            @discardableResult
            func inRouter(_ args: [String]) throws -> Command.Result {
                try Command.check(["ip", "netns", "exec", r] + args)
            }

            /// Stateless: counters count the test's own pings.
            func ruleset() throws -> String { try inRouter(["nft", "-s", "list", "ruleset"]).stdout }

            /// A ping from a, which the router's rules drop: bounded, its failure expected.
            func ping(_ to: String) throws {
                _ = try Command.run(["ip", "netns", "exec", a, "ping", "-n", "-q", "-c", "2", "-W", "1", "-i", "0.2", to], timeout: 10)
            }

            /// The handle of `chain`'s only rule, from nft's listing.
            func handle(family: String, table: String, chain: String) throws -> UInt64 {
                let text = try inRouter(["nft", "-a", "list", "chain", family, table, chain]).stdout
                let handles = text.split(separator: "\n").compactMap { line -> UInt64? in
                    guard line.hasPrefix("\t\t"), let r = line.range(of: "# handle ") else { return nil }
                    return UInt64(line[r.upperBound...])
                }
                guard handles.count == 1 else { throw KT.Failure("expected one rule in \(chain):\n\(text)") }
                return handles[0]
            }
        }

        /// Traces until `done` holds or 3 s pass.
        static func traces(_ listener: NftraceListener, until done: ([NftTrace]) -> Bool) throws -> [NftTrace] {
            var all: [NftTrace] = []
            let deadline = MonotonicClock.deadline(after: 3)
            while !done(all) && MonotonicClock.now() < deadline {
                var p = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 100)
                all += try listener.drain()
            }
            return all
        }

        static func icmpFilter(addr: String) throws -> TraceFilter {
            var o = TraceFilter.Options()
            o.proto = "icmp"
            o.addr = addr
            return try TraceFilter.parse(o)
        }

        static func ipv4(_ s: String) -> [UInt8] { IPAddress(s)!.bytes }

        @Test("an nft drop rule and a policy drop: the rule trace (table, chain, handle, verdict, packet), the policy trace, their texts and the chain's hook, priority and policy; our tables only while the object lives; the ruleset as before")
        func nftDropAndPolicy() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            let t = lab.prefix
            try lab.inRouter(["sh", "-ec", """
                nft add table inet \(t)
                nft add chain inet \(t) fwdc '{ type filter hook forward priority 0; policy accept; }'
                nft add rule inet \(t) fwdc ip daddr \(lab.bAddr) icmp type echo-request counter drop
                nft add chain inet \(t) inpc '{ type filter hook input priority 0; policy drop; }'
                """])
            let handle = try lab.handle(family: "inet", table: t, chain: "fwdc")
            let before = try lab.ruleset()

            let netns = try NetnsSwitch(lab.r)
            let table = try NftraceTable(filter: Self.icmpFilter(addr: lab.aAddr), in: netns)
            let listener = try NftraceListener(in: netns)
            let texts = try NftRuleText(in: netns)
            let during = try lab.ruleset()
            #expect(table.families == [.inet, .bridge], "bridge: \(table.bridgeUnavailable ?? "")")
            for family in ["inet", "bridge"] {
                #expect(during.contains("table \(family) \(table.name) {"), "\(during)")
            }
            #expect(during.contains("flags owner"), "\(during)")

            try lab.ping(lab.bAddr)
            try lab.ping(lab.rAddr)
            let traces = try Self.traces(listener) { all in
                all.contains { $0.chain == "fwdc" && $0.type == .rule } && all.contains { $0.chain == "inpc" && $0.type == .policy }
            }
            #expect(!traces.contains { $0.table == table.name }, "our own tables' traces are dropped")
            let drop = try #require(traces.first { $0.table == t && $0.chain == "fwdc" && $0.type == .rule }, "\(traces)")
            #expect(drop.family == 1 && drop.familyName == "inet" && drop.ruleHandle == handle && drop.verdict == 0
                    && drop.verdictName == "drop" && drop.isDrop && drop.nfproto == 2, "\(drop)")
            // The first trace of the chain's run carries the packet: the echo request to b.
            #expect(Array(drop.networkHeader.prefix(1)) == [0x45] && Array(drop.networkHeader.dropFirst(12).prefix(8))
                    == Self.ipv4(lab.aAddr) + Self.ipv4(lab.bAddr), "\(drop.networkHeader)")
            #expect(drop.transportHeader.first == 8, "an echo request: \(drop.transportHeader)")
            #expect(drop.iif != nil && drop.oif != nil)
            let policy = try #require(traces.first { $0.table == t && $0.chain == "inpc" && $0.type == .policy }, "\(traces)")
            #expect(policy.isPolicy && policy.verdict == 0 && policy.verdictName == "drop" && policy.ruleHandle == nil, "\(policy)")

            let rule = try #require(try texts.rule(for: drop))
            #expect(rule.syntax == .nft && rule.rule.text == "ip daddr \(lab.bAddr) icmp type echo-request counter drop",
                    "\(rule)")
            let inp = try #require(try texts.chain(for: policy))
            #expect(try texts.rule(for: policy) == nil, "a policy trace names no rule")
            #expect(inp.hook == "input" && inp.priority == 0 && inp.policy == "drop" && inp.type == "filter" && inp.rules.isEmpty,
                    "\(inp)")
            #expect(try texts.rule(family: 1, table: t, chain: "fwdc", handle: handle + 1000) == nil)
            let refreshes = texts.refreshes
            #expect(try texts.rule(family: 1, table: t, chain: "fwdc", handle: handle + 1000) == nil)
            #expect(texts.refreshes == refreshes, "an unknown handle is remembered, not listed again")

            table.close()
            let after = try lab.ruleset()
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
        }

        @Test("a jump into a user chain that drops: the jump names its target and carries the packet; the drop in the user chain names its rule")
        func jumpThenDrop() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            let t = lab.prefix
            try lab.inRouter(["sh", "-ec", """
                nft add table inet \(t)
                nft add chain inet \(t) userc
                nft add rule inet \(t) userc icmp type echo-request drop
                nft add chain inet \(t) fwdc '{ type filter hook forward priority 0; policy accept; }'
                nft add rule inet \(t) fwdc ip daddr \(lab.bAddr) jump userc
                """])
            let jumpHandle = try lab.handle(family: "inet", table: t, chain: "fwdc")
            let dropHandle = try lab.handle(family: "inet", table: t, chain: "userc")
            let netns = try NetnsSwitch(lab.r)
            let table = try NftraceTable(filter: Self.icmpFilter(addr: lab.aAddr), in: netns)
            defer { table.close() }
            let listener = try NftraceListener(in: netns)
            try lab.ping(lab.bAddr)
            let traces = try Self.traces(listener) { $0.contains { $0.chain == "userc" && $0.isDrop } }
            let jump = try #require(traces.first { $0.table == t && $0.chain == "fwdc" && $0.type == .rule }, "\(traces)")
            #expect(jump.ruleHandle == jumpHandle && jump.verdict == -3 && jump.target == "userc" && jump.verdictName == "jump userc",
                    "\(jump)")
            #expect(jump.networkHeader.count >= 20 && jump.nfproto == 2, "the first trace of the chain's run carries the packet")
            let drop = try #require(traces.first { $0.id == jump.id && $0.chain == "userc" && $0.type == .rule }, "\(traces)")
            #expect(drop.ruleHandle == dropHandle && drop.isDrop, "\(drop)")
            // Later traces of the same run carry no headers or interfaces: the id ties them to the first.
            #expect(drop.networkHeader.isEmpty && drop.iif == nil && drop.oif == nil && drop.nfproto == 2, "\(drop)")
            let texts = try NftRuleText(in: netns)
            #expect(try texts.rule(for: jump)?.rule.text == "ip daddr \(lab.bAddr) jump userc")
            #expect(try texts.rule(for: drop)?.rule.text == "icmp type echo-request drop")
            #expect(try texts.chain(for: drop)?.hook == nil, "a user chain has no hook")
        }

        @Test("an iptables-nft -j DROP rule: the trace names table filter, chain FORWARD, the rule's handle and drop; its text in iptables syntax")
        func iptablesDrop() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            try lab.inRouter(["iptables-nft", "-A", "FORWARD", "-s", "\(lab.aAddr)/32", "-p", "icmp", "-j", "DROP"])
            let handle = try lab.handle(family: "ip", table: "filter", chain: "FORWARD")
            let before = try lab.ruleset()

            let netns = try NetnsSwitch(lab.r)
            let table = try NftraceTable(filter: Self.icmpFilter(addr: lab.aAddr), in: netns)
            let listener = try NftraceListener(in: netns)
            try lab.ping(lab.bAddr)
            let traces = try Self.traces(listener) { $0.contains { $0.table == "filter" && $0.type == .rule } }
            let drop = try #require(traces.first { $0.table == "filter" && $0.type == .rule }, "\(traces)")
            #expect(drop.family == 2 && drop.familyName == "ip" && drop.chain == "FORWARD" && drop.ruleHandle == handle
                    && drop.verdictName == "drop", "\(drop)")

            let texts = try NftRuleText(in: netns)
            let rule = try #require(try texts.rule(family: 2, table: "filter", chain: "FORWARD", handle: handle))
            #expect(rule.syntax == .iptables && rule.rule.text == "-s \(lab.aAddr)/32 -p icmp -j DROP", "\(rule)")
            let chain = try #require(try texts.chain(family: 2, table: "filter", chain: "FORWARD"))
            #expect(chain.hook == "forward" && chain.policy == "accept" && chain.priority == 0, "\(chain)")
            table.close()
            let after = try lab.ruleset()
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
        }

        @Test("a receive buffer too small for a burst: the overflow is counted, not fatal, and later traces still come")
        func overflowCounted() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            try lab.inRouter(["sh", "-ec", """
                nft add table inet \(lab.prefix)
                nft add chain inet \(lab.prefix) fwdc '{ type filter hook forward priority 0; policy accept; }'
                nft add rule inet \(lab.prefix) fwdc counter
                """])
            let netns = try NetnsSwitch(lab.r)
            let table = try NftraceTable(filter: TraceFilter(), in: netns)
            defer { table.close() }
            // The kernel's smallest buffer holds a trace or two; a ping's request and
            // reply make a dozen (our chains' rules and policies at each hook, and yours).
            let listener = try NftraceListener(in: netns, receiveBuffer: 1)
            _ = try Command.run(["ip", "netns", "exec", lab.a, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", lab.bAddr], timeout: 10)
            _ = try listener.drain()
            #expect(listener.overflows > 0, "no overflow counted")
            // Room again: the same socket goes on delivering.
            var size: Int32 = 1 << 20
            #expect(setsockopt(listener.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) == 0)
            try lab.ping(lab.bAddr)
            var later: [NftTrace] = []
            let deadline = MonotonicClock.deadline(after: 3)
            while later.isEmpty && MonotonicClock.now() < deadline {
                var p = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 100)
                later += try listener.drain()
            }
            #expect(later.contains { $0.table == lab.prefix && $0.chain == "fwdc" && $0.verdictName == "continue" }, "\(later)")
        }

        @Test("nft takes every rule shape the filter makes: addresses both ways, ports, interface, mark, ARP in the bridge table")
        func everyShapeAccepted() throws {
            let ns = "stnt" + String(format: "%04x", UInt16.random(in: 0...UInt16.max)) + "-s"
            try Command.check(["ip", "netns", "add", ns])
            defer { _ = try? Command.run(["ip", "netns", "del", ns]) }
            let netns = try NetnsSwitch(ns)
            var filters: [TraceFilter] = []
            for set in [{ (o: inout TraceFilter.Options) in o.addr = "10.0.0.1"; o.port = "53"; o.ifname = "eth0"; o.mark = "0x10/0xff" },
                        { o in o.addr = "fd00::1"; o.proto = "icmp6"; o.ifname = "veth-1" },
                        { o in o.saddr = "10.0.0.1"; o.daddr = "10.0.0.2" },
                        { o in o.proto = "arp" },
                        { o in o.proto = "tcp"; o.sport = "1"; o.dport = "2"; o.mark = "7" }] as [(inout TraceFilter.Options) -> Void] {
                var o = TraceFilter.Options()
                set(&o)
                filters.append(try TraceFilter.parse(o))
            }
            for f in filters {
                let table = try NftraceTable(filter: f, in: netns)
                for family in table.families {
                    let listed = try Command.check(["ip", "netns", "exec", ns, "nft", "list", "table", family.rawValue, table.name]).stdout
                    for hook in NftraceTable.Hook.allCases {
                        let expected = NftraceMatch.rules(f, family: family, hook: hook).count
                        let chain = listed.components(separatedBy: "chain \(hook.rawValue) {").dropFirst().first?
                            .components(separatedBy: "\n\t}").first ?? ""
                        let count = chain.components(separatedBy: "meta nftrace set 1").count - 1
                        #expect(count == expected, "\(family) \(hook): \(count) rules for \(expected):\n\(listed)")
                    }
                }
                #expect(table.families == [.inet, .bridge])
                table.close()
                #expect(try Command.check(["ip", "netns", "exec", ns, "nft", "list", "ruleset"]).stdout.isEmpty)
            }
        }

        @Test("an IPv6 drop by ip6tables-nft: the trace names ip6 filter FORWARD, the handle, drop and the IPv6 packet; the text in ip6tables syntax")
        func ip6tablesDrop() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            try lab.inRouter(["ip6tables-nft", "-A", "FORWARD", "-d", "\(lab.bAddr6)/128", "-p", "ipv6-icmp", "-j", "DROP"])
            let handle = try lab.handle(family: "ip6", table: "filter", chain: "FORWARD")
            let before = try lab.ruleset()
            let netns = try NetnsSwitch(lab.r)
            var o = TraceFilter.Options()
            o.proto = "icmp6"
            o.daddr = lab.bAddr6
            let table = try NftraceTable(filter: try TraceFilter.parse(o), in: netns)
            let listener = try NftraceListener(in: netns)
            _ = try Command.run(["ip", "netns", "exec", lab.a, "ping", "-6", "-n", "-q", "-c", "2", "-W", "1", "-i", "0.2", lab.bAddr6], timeout: 10)
            let traces = try Self.traces(listener) { $0.contains { $0.table == "filter" && $0.type == .rule } }
            let drop = try #require(traces.first { $0.table == "filter" && $0.type == .rule }, "\(traces)")
            #expect(drop.family == 10 && drop.familyName == "ip6" && drop.chain == "FORWARD" && drop.ruleHandle == handle
                    && drop.verdictName == "drop" && drop.nfproto == 10, "\(drop)")
            // Version 6, and the destination at bytes 24..<40.
            #expect(drop.networkHeader.first.map { $0 >> 4 } == 6
                    && Array(drop.networkHeader.dropFirst(24).prefix(16)) == IPAddress(lab.bAddr6)!.bytes, "\(drop.networkHeader)")
            let texts = try NftRuleText(in: netns)
            let rule = try #require(try texts.rule(for: drop))
            #expect(rule.syntax == .iptables && rule.rule.text == "-d \(lab.bAddr6)/128 -p ipv6-icmp -j DROP", "\(rule)")
            table.close()
            let after = try lab.ruleset()
            #expect(after == before, "before:\n\(before)\nafter:\n\(after)")
        }

        @Test("without privilege: one error line that says to run as root, and nothing made")
        func withoutPrivilege() throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
                KT.skipped("no setpriv (util-linux) to drop privileges")
                return
            }
            let ns = "stnt" + String(format: "%04x", UInt16.random(in: 0...UInt16.max)) + "-p"
            try Command.check(["ip", "netns", "add", ns])
            defer { _ = try? Command.run(["ip", "netns", "del", ns]) }
            let holder = URL(fileURLWithPath: try KT.binaryPath()).deletingLastPathComponent().appendingPathComponent("NftraceHolder").path
            let r = try Command.run(["ip", "netns", "exec", ns, "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     "--inh-caps=-all", holder, "-", "/dev/null"], timeout: 10)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].contains("Operation not permitted")
                    && lines[0].contains("Hint: run as root"), "exit \(r.status): \(r.stderr)")
            #expect(try Command.check(["ip", "netns", "exec", ns, "nft", "list", "ruleset"]).stdout.isEmpty)
        }

        @Test("the tables go with the process that made them on SIGKILL, though a child it spawned still runs (owner flag, close-on-exec socket)")
        func goneAfterSigkill() throws {
            let lab = try RouterLab()
            defer { lab.destroy() }
            let before = try lab.ruleset()
            let holderPath = URL(fileURLWithPath: try KT.binaryPath()).deletingLastPathComponent()
                .appendingPathComponent("NftraceHolder").path
            let ready = FileManager.default.temporaryDirectory.appendingPathComponent("\(lab.prefix).ready").path
            defer { try? FileManager.default.removeItem(atPath: ready) }
            let holder = try Subprocess([holderPath, lab.r, ready], stdout: .null, stderr: .pipe)
            var sleeper: pid_t?
            defer {
                if let sleeper { kill(sleeper, SIGKILL) }
                if holder.isRunning { kill(holder.pid, SIGKILL) }
            }
            let deadline = MonotonicClock.deadline(after: 10)
            while sleeper == nil && holder.isRunning && MonotonicClock.now() < deadline {
                sleeper = (try? String(contentsOfFile: ready, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                if sleeper == nil { usleep(20_000) }
            }
            let child = try #require(sleeper, "the holder made no tables: \(String(decoding: holder.collect(timeout: 1).stderr, as: UTF8.self))")
            let name = NftraceTable.name(pid: holder.pid)
            let during = try lab.ruleset()
            #expect(during.contains("table inet \(name) {") && during.contains("table bridge \(name) {"), "\(during)")

            kill(holder.pid, SIGKILL)
            _ = holder.wait(timeout: 2)
            let gone = MonotonicClock.deadline(after: 3)
            var after = try lab.ruleset()
            while after != before && MonotonicClock.now() < gone {
                usleep(50_000)
                after = try lab.ruleset()
            }
            #expect(kill(child, 0) == 0, "the holder's child still runs (and holds no socket of the tables)")
            #expect(after == before, "left after SIGKILL:\n\(after)")
        }
    }
}
