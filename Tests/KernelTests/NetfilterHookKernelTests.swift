import Foundation
import SkbTracerSystem
import Testing

/// `--netfilter`'s hook programs on real hooks: BPF netfilter programs at the
/// first and last priority of each IPv4 hook in every namespace, a packet
/// dropped by an iptables-nft rule in r's FORWARD chain and one that passes.
extension KernelTests {
@Suite("netfilter hook programs (--netfilter)")
struct NetfilterHookKernelTests {
    typealias Event = KT.Event

    /// The hook events of packets matching `keep` in namespace `ns`, as
    /// `HOOK:entry` / `HOOK:exit`, in time order.
    static func passes(_ events: [Event], ns: UInt32, _ keep: (Event) -> Bool) -> [String] {
        events.filter { $0.probe == "nf_hook" && $0.netns == ns && keep($0) }.sorted { $0.ts < $1.ts }.compactMap { e in
            guard let nf = e.json["netfilter"] as? [String: Any], let hook = nf["hook"] as? String,
                  let at = nf["at"] as? String else { return nil }
            return "\(hook):\(at)"
        }
    }

    @Test("a packet a FORWARD rule drops entered FORWARD and never left it; one that passes left every hook it entered; no link remains")
    func forwardDropAndPass() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        try DropLab.with { lab in
            try lab.check(lab.r, ["iptables", "-w", "-A", "FORWARD", "-p", "udp", "--dport", "\(lab.port)", "-j", "DROP"])
            let tracer = try KT.Tracer.start(["--netfilter", "-H", lab.bIPv4])
            defer { tracer.cleanup() }
            // Both ends of 5 hooks in 2 families, in at least the root namespace and the lab's three.
            let held = tracer.bpfLinkIDs().intersection(try KT.netfilterHookLinkIDs())
            #expect(held.count >= 4 * 20, "netfilter links held by the tracer: \(held.count)")
            try DropScenario.udpToB(lab)
            try lab.ping(from: lab.a, to: lab.bIPv4)
            #expect(tracer.stop() == 0, "stderr: \(tracer.stderr)")
            #expect(tracer.stderr.contains("netfilter hooks in"), "\(tracer.stderr)")
            let events = try tracer.events()
            let r = try #require(lab.netnsInode(lab.r)), a = try #require(lab.netnsInode(lab.a))
            let udp = { (e: Event) in e.l4 == "udp" && e.dport == lab.port && e.daddr == lab.bIPv4 }
            let echo = { (e: Event) in e.icmpType == 8 && e.icmpID == lab.icmpID }
            // Dropped in r's FORWARD: entered it, never left, and kfree_skb says NETFILTER_DROP there.
            #expect(Self.passes(events, ns: r, udp) == ["PREROUTING:entry", "PREROUTING:exit", "FORWARD:entry"],
                    "\(KT.dump(events.filter(udp)))")
            #expect(events.contains { udp($0) && $0.netns == r && $0.dropReason == "NETFILTER_DROP" }, "\(KT.dump(events.filter(udp)))")
            // The echo request is forwarded: every hook it enters in r it leaves, in order.
            #expect(Self.passes(events, ns: r, echo) == ["PREROUTING:entry", "PREROUTING:exit", "FORWARD:entry", "FORWARD:exit",
                                                           "POSTROUTING:entry", "POSTROUTING:exit"], "\(KT.dump(events.filter(echo)))")
            // Sent from a: OUTPUT, then POSTROUTING; the comm is ping's (read from the task).
            #expect(Self.passes(events, ns: a, echo) == ["OUTPUT:entry", "OUTPUT:exit", "POSTROUTING:entry", "POSTROUTING:exit"])
            #expect(events.contains { echo($0) && $0.probe == "nf_hook" && $0.netns == a && $0.str("comm") == "ping" })
        }
        #expect(try KT.netfilterHookLinkIDs().isEmpty, "a netfilter link of skbtracer's remains")
    }

    @Test("--timeline: the dropped packet's journey says it entered FORWARD and never left it")
    func journeyNamesTheHook() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        try DropLab.with { lab in
            try lab.check(lab.r, ["iptables", "-w", "-A", "FORWARD", "-p", "udp", "--dport", "\(lab.port)", "-j", "DROP"])
            let tracer = try KT.Tracer.start(["--netfilter", "--timeline", "-H", lab.bIPv4, "--proto", "udp"])
            defer { tracer.cleanup() }
            try DropScenario.udpToB(lab)
            #expect(tracer.stop() == 0, "stderr: \(tracer.stderr)")
            let journeys = KernelTests.journeys(try KernelTests.Record.parse(tracer.output))
            let dropped = try #require(journeys.first { $0.outcomeKind == "dropped" }, "\(tracer.output)")
            let never = try #require(dropped.json["netfilter_never_left"] as? [String: Any], "\(dropped)")
            #expect(never["hook"] as? String == "FORWARD" && never["family"] as? String == "ip")
            #expect((never["meaning"] as? String ?? "").contains("dropped"))
        }
    }

    /// The tracer's netfilter links, from its fdinfo and bpftool.
    static func heldLinks(_ tracer: KT.Tracer) throws -> Int {
        tracer.bpfLinkIDs().intersection(try KT.netfilterHookLinkIDs()).count
    }

    @Test("a namespace made during the trace gets hook programs within seconds; SIGKILL leaves no link behind")
    func lateNamespaceAndKill() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        let ns = "stn" + String(format: "%04x", UInt16.random(in: 0...UInt16.max)) + "-late"
        let id = Int.random(in: 1000...60000)
        let tracer = try KT.Tracer.start(["--netfilter", "--proto", "icmp", "--icmpid", "\(id)"])
        defer {
            tracer.cleanup()
            _ = try? Command.run(["ip", "netns", "del", ns])
        }
        let before = try Self.heldLinks(tracer)
        try Command.check(["ip", "netns", "add", ns])
        try Command.check(["ip", "-n", ns, "link", "set", "lo", "up"])
        // Both ends of 5 hooks in 2 families: 20 more links once the rescan found it.
        let deadline = Date().addingTimeInterval(10)
        while try Self.heldLinks(tracer) < before + 20, Date() < deadline { usleep(100_000) }
        #expect(try Self.heldLinks(tracer) == before + 20, "links before \(before)")
        let ping = try Command.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "-e", "\(id)", "127.0.0.1"], timeout: 5)
        #expect(ping.status == 0, "\(ping.stderr)")
        #expect(tracer.stop() == 0, "stderr: \(tracer.stderr)")
        var st = stat()
        #expect(stat("/run/netns/\(ns)", &st) == 0)
        let inode = UInt32(truncatingIfNeeded: st.st_ino)
        let events = try tracer.events()
        let hooks = Self.passes(events, ns: inode) { $0.icmpType == 8 && $0.icmpID == id }
        #expect(hooks.starts(with: ["OUTPUT:entry", "OUTPUT:exit", "POSTROUTING:entry", "POSTROUTING:exit",
                                    "PREROUTING:entry", "PREROUTING:exit", "INPUT:entry", "INPUT:exit"]), "\(KT.dump(events))")

        // SIGKILL: the kernel closes the link fds, and the hooks go with them.
        let killed = try KT.Tracer.start(["--netfilter", "--proto", "icmp", "--icmpid", "\(id)"])
        defer { killed.cleanup() }
        #expect(try Self.heldLinks(killed) >= 20)
        killed.child?.kill9()
        _ = killed.waitExit(timeout: 10)
        #expect(try KT.netfilterHookLinkIDs().isEmpty, "a netfilter link of skbtracer's outlived SIGKILL")
    }
}
}
