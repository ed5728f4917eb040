import Foundation
import Testing

extension KernelTests {
    @Test("--route: the host's forwarding lookup joins the echo request's skb; a socket's lookup and a failed one are flows")
    func routeLookups() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            let id = Int.random(in: 1000...60000)
            // c1 has no route there: `ip route get` looks it up, nothing is sent.
            let unrouted = "198.20.\(lab.index).9"
            let t = try KT.Tracer.start(["--route", "--proto", "icmp", "-H", lab.routedIPv4])
            defer { t.cleanup() }
            let failed = try KT.Tracer.start(["-t", "route", "-N", lab.container1, "-d", unrouted])
            defer { failed.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: lab.routedIPv4, count: 1, id: id).ok)
            let get = try lab.exec(lab.container1, ["ip", "route", "get", unrouted])
            #expect(!get.ok, "c1 has a route to \(unrouted): \(get.stdout)")
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            #expect(failed.stop(settle: 0) == 0, "stderr: \(failed.stderr)")

            let events = try t.events()
            let all = KT.dump(events)
            let lookups = events.filter { $0.probe == "fib_table_lookup" }
            for e in events where e.probe != "fib_table_lookup" { #expect(e.route == nil, "route on \(e)") }
            // The host routes c1's request out of hr: the request's own skb, in the root namespace.
            let forward = lookups.filter { $0.netns == ns.root && $0.icmpID == id && $0.icmpType == 8 }
            let f = try #require(forward.first, "no forwarding lookup in the root namespace:\n\(all)")
            #expect(f.routeDev == lab.hostVethRouted && f.routeError == nil, "forwarding lookup: \(f.line)")
            #expect(f.route?["table_name"] as? String == "main" && f.route?["gateway"] is NSNull, "\(f.line)")
            let received = events.filter { $0.probe.hasPrefix("netif_receive_skb") && $0.netns == ns.root && $0.icmpID == id && $0.icmpType == 8 }
            #expect(received.contains { $0.skb == f.skb && $0.ts <= f.ts }, "lookup not after its packet's receive:\n\(all)")
            // ping's socket in c1 choosing its route: a flow without skb, in c1, out of eth0.
            let socket = lookups.filter { $0.netns == ns.c1 && $0.skb == nil }
            #expect(!socket.isEmpty, "no socket lookup in c1:\n\(all)")
            for e in socket {
                #expect(e.daddr == lab.routedIPv4 && e.routeDev == lab.innerIf && e.routeError == nil, "c1 lookup: \(e.line)")
            }

            // Every lookup here is the request's, the reply's, or c1's socket's: none claims
            // another packet's skb (an output lookup is never attributed to a received packet).
            for e in lookups where e.skb != nil {
                let hop = events.filter { $0.skb == e.skb && $0.probe.hasPrefix("netif_receive_skb") && $0.netns == e.netns }
                #expect(!hop.isEmpty, "lookup attributed to an skb not received in its namespace: \(e.line)")
            }

            let misses = try failed.events()
            // No route in c1's main table: the table lookup says EAGAIN (no match there).
            #expect(misses.contains { $0.routeError == "EAGAIN" && $0.route?["table_name"] as? String == "main" && $0.skb == nil && $0.netns == ns.c1 },
                    "no failed lookup in c1's main table:\n\(misses.map(\.line).joined(separator: "\n"))")
            for e in misses { #expect(e.probe == "fib_table_lookup" && e.daddr == unrouted, "let through: \(e.line)") }
        }
    }

    @Test("--route -N: only that namespace's lookups; IPv6 delivery looks up without a false unreachable")
    func routeLookupsFilteredByNamespace() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            let id = Int.random(in: 1000...60000)
            let inC2 = try KT.Tracer.start(["--route", "-N", lab.container2])
            defer { inC2.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv6, count: 1, id: id, v6: true).ok)
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1, id: id + 1).ok)
            #expect(inC2.stop() == 0, "stderr: \(inC2.stderr)")
            let events = try inC2.events()
            let all = events.map(\.line).joined(separator: "\n")
            for e in events { #expect(e.netns == ns.c2, "-N \(lab.container2) let through: \(e.line)") }
            // c2 sends the echo replies and never receives them: a lookup of theirs with an skb
            // is c1's input lookup passed off as c2's.
            #expect(!events.contains { $0.probe.hasPrefix("fib") && $0.skb != nil && [0, 129].contains($0.icmpType ?? -1) },
                    "another namespace's lookup shown in c2:\n\(all)")
            for v6 in [true, false] {
                let request = events.filter { $0.probe.hasPrefix("fib") && $0.icmpID == (v6 ? id : id + 1) && $0.icmpType == (v6 ? 128 : 8) }
                #expect(request.contains { $0.routeDev == lab.innerIf && $0.routeError == nil && $0.skb != nil },
                        "no delivering lookup for the \(v6 ? "IPv6" : "IPv4") echo request in c2:\n\(all)")
                // A table without the route says so (EAGAIN), never "unreachable route".
                for e in request { #expect(e.routeError == nil || e.routeError == "EAGAIN", "\(e.line)") }
            }
        }
    }

    @Test("--route over loopback: no lookup is attributed (a packet received on lo keeps its output route)")
    func routeLookupsOnLoopback() throws {
        try KT.withLab { lab in
            let t = try KT.Tracer.start(["--route", "-N", lab.container1, "-H", "127.0.0.1", "--proto", "icmp"])
            defer { t.cleanup() }
            let ping = try lab.exec(lab.container1, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "127.0.0.1"], timeout: 6)
            #expect(ping.ok, "ping: \(ping.stderr)")
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            let events = try t.events()
            let lookups = events.filter { $0.probe == "fib_table_lookup" }
            #expect(!lookups.isEmpty, "no lookup traced:\n\(events.map(\.line).joined(separator: "\n"))")
            for e in lookups { #expect(e.skb == nil, "attributed over loopback: \(e.line)") }
            #expect(events.contains { $0.probe.hasPrefix("netif_receive_skb") && $0.icmpType == 0 }, "no reply received")
        }
    }
}
