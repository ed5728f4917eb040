import Foundation
import Testing

extension KernelTests {
    @Test("--ct: after the host's conntrack hook the echo request shows state new with MASQUERADE's reply tuple; the reply shows established")
    func conntrackThroughMasquerade() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            let id = Int.random(in: 1000...60000)
            let t = try KT.Tracer.start(["--ct", "-H", lab.routedIPv4, "--proto", "icmp"])
            defer { t.cleanup() }
            // The layout with both tails: event, conntrack entry, stack.
            let withStacks = try KT.Tracer.start(["--ct", "--callstack", "-H", lab.routedIPv4, "--proto", "icmp"])
            defer { withStacks.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: lab.routedIPv4, count: 1, id: id).ok)
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            #expect(withStacks.stop(settle: 0) == 0, "stderr: \(withStacks.stderr)")
            let stacked = try withStacks.events().filter { $0.icmpID == id && $0.ct != nil }
            #expect(!stacked.isEmpty, "no event with a ct entry under --callstack")
            for e in stacked {
                #expect(!(e.json["stack"] as? [String] ?? []).isEmpty && e.ct?["orig"] != nil, "ct and stack: \(e.line)")
            }
            let events = try t.events().filter { $0.icmpID == id }
            let all = events.map(\.line).joined(separator: "\n")
            // Leaving the host on hr: conntrack saw it in PREROUTING, MASQUERADE rewrote it.
            let out = try #require(events.first { $0.netns == ns.root && $0.ifname == lab.hostVethRouted && $0.icmpType == 8 },
                                   "no request on \(lab.hostVethRouted):\n\(all)")
            let ct = try #require(out.ct, "no ct on the request leaving the host: \(out.line)")
            #expect(ct["state"] as? String == "new" && ct["direction"] as? String == "original", "\(out.line)")
            #expect((ct["status"] as? [String] ?? []).contains("snat"), "\(out.line)")
            let orig = ct["orig"] as? [String: Any], reply = ct["reply"] as? [String: Any]
            #expect(orig?["saddr"] as? String == lab.c1IPv4 && orig?["daddr"] as? String == lab.routedIPv4, "\(out.line)")
            #expect(reply?["saddr"] as? String == lab.routedIPv4 && reply?["daddr"] as? String == lab.hostRoutedIPv4, "\(out.line)")
            #expect(orig?["icmp_id"] as? Int == id, "\(out.line)")
            // The reply leaving the host towards c1: the same entry, reply direction.
            let back = try #require(events.first { $0.netns == ns.root && $0.ifname == lab.hostVeth1 && $0.icmpType == 0 && $0.ct != nil },
                                    "no reply with ct towards c1:\n\(all)")
            #expect(back.ct?["state"] as? String == "established" && back.ct?["direction"] as? String == "reply", "\(back.line)")
            // A namespace change scrubs the entry: nothing in c1 or r carries the host's.
            for e in events where e.netns == ns.c1 || e.netns == ns.r {
                if let c = e.ct { #expect((c["status"] as? [String] ?? []).contains("snat") == false, "host entry in another namespace: \(e.line)") }
            }
        }
    }
}

extension KernelTests {
    @Test("a local DNAT (nat OUTPUT) hides nothing: -d with the address ping used finds the packet with --track, its reply too with --ct")
    func localDNATFoundByTheApplicationsAddress() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            // An address of the bridge's subnet that nothing owns: only the DNAT makes it answer.
            let x = "198.18.\(lab.index).77"
            let rule = ["OUTPUT", "-d", x, "-p", "icmp", "-j", "DNAT", "--to-destination", lab.c2IPv4]
            let added = try lab.exec(lab.container1, ["iptables", "-w", "-t", "nat", "-A"] + rule)
            try #require(added.ok, "iptables in \(lab.container1): \(added.stderr)")
            // Deleting the namespace deletes its rules too; removed here first all the same.
            defer { _ = try? lab.exec(lab.container1, ["iptables", "-w", "-t", "nat", "-D"] + rule) }
            let id = Int.random(in: 1000...60000)
            let tracked = try KT.Tracer.start(["--track", "-d", x, "--proto", "icmp"])
            defer { tracked.cleanup() }
            let withCt = try KT.Tracer.start(["--ct", "-H", x, "--proto", "icmp"])
            defer { withCt.cleanup() }
            let untracked = try KT.Tracer.start(["-d", x, "--proto", "icmp"])
            defer { untracked.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: x, count: 1, id: id).ok, "ping \(x) through the DNAT failed")
            #expect(tracked.stop() == 0, "stderr: \(tracked.stderr)")
            #expect(withCt.stop(settle: 0) == 0, "stderr: \(withCt.stderr)")
            #expect(untracked.stop(settle: 0) == 0, "stderr: \(untracked.stderr)")

            // Every tracepoint in c1 sees the rewritten destination; the filter matched the entry's original one.
            let t = try tracked.events().filter { $0.icmpID == id }
            let sent = t.filter { $0.icmpType == 8 && $0.netns == ns.c1 }
            #expect(!sent.isEmpty, "--track -d \(x): no request in \(lab.container1):\n\(KT.dump(t))")
            for e in sent { #expect(e.daddr == lab.c2IPv4, "request in c1 not rewritten: \(e)") }
            // Then followed as that skb (its journey) into c2.
            #expect(t.contains { $0.icmpType == 8 && $0.netns == ns.c2 && $0.ifname == lab.innerIf },
                    "--track -d \(x): the request was not followed into \(lab.container2):\n\(KT.dump(t))")

            let c = try withCt.events().filter { $0.icmpID == id }
            let req = c.filter { $0.icmpType == 8 && $0.netns == ns.c1 && $0.ct != nil }
            #expect(!req.isEmpty, "--ct -H \(x): no request with its entry in c1:\n\(KT.dump(c))")
            for e in req {
                #expect((e.ct?["orig"] as? [String: Any])?["daddr"] as? String == x, "entry's original tuple: \(e.line)")
            }
            // The reply with its entry, in the reply direction (the original tuple reversed: from x).
            let rep = c.filter { $0.icmpType == 0 && $0.netns == ns.c1 && $0.ct?["direction"] as? String == "reply" }
            #expect(!rep.isEmpty, "--ct -H \(x): no reply with its entry in c1:\n\(KT.dump(c))")

            // Without --track or --ct the filters look at the packet alone.
            let u = try untracked.events().filter { $0.icmpID == id }
            #expect(u.isEmpty, "-d \(x) without --track or --ct matched the rewritten packet:\n\(KT.dump(u))")
        }
    }
}
