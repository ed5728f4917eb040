import Foundation
import SkbTracerLab
import Testing

extension KernelTests {
    /// Frees on TCP's receiving side, after tcp_v4_rcv cleared skb->dev: the
    /// SYN a listener consumes (tcp_rcv_state_process) has no socket either, and
    /// data the reader took (skb_defer_free_flush) lost its socket before.
    private static func receiverFree(_ e: Event, lab: Lab, port: Int) -> Bool {
        guard e.probe == "consume_skb", e.daddr == lab.c2IPv4, e.dport == port, let at = e.location else { return false }
        return at.hasPrefix("tcp_rcv_state_process+") || at.hasPrefix("skb_defer_free_flush+")
    }

    @Test("TCP frees on the receiving side carry the receiver's namespace and interface; -N keeps them")
    func receiverFreesHaveNamespace() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            let port = KT.randomPort(), sport = port + 1
            let filter = ["--proto", "tcp", "--port", "\(port)"]
            let all = try KT.Tracer.start(filter)
            defer { all.cleanup() }
            let byNetns = try KT.Tracer.start(["-N", lab.container2] + filter)
            defer { byNetns.cleanup() }
            // Tracked: the namespace of a free without socket or route comes from the skb's last hop.
            let tracked = try KT.Tracer.start(["--track", "-N", lab.container2] + filter)
            defer { tracked.cleanup() }
            let server = try KT.tcpServer(lab, ns: lab.container2, addr: lab.c2IPv4, port: port)
            defer { server.cleanup() }
            let r = try KT.tcpClient(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: sport)
            #expect(r.ok, "tcp client failed: \(r.stdout) \(r.stderr)")
            _ = server.wait(timeout: 6)
            #expect(all.stop() == 0, "stderr: \(all.stderr)")
            #expect(byNetns.stop(settle: 0) == 0, "stderr: \(byNetns.stderr)")
            #expect(tracked.stop(settle: 0) == 0, "stderr: \(tracked.stderr)")

            let a = try all.events()
            let synFree = a.filter { Self.receiverFree($0, lab: lab, port: port) && $0.tcpFlags == ["SYN"] }
            #expect(!synFree.isEmpty, "no consume_skb of the SYN in the listener:\n\(KT.dump(a))")
            for e in synFree {
                #expect(e.netns == ns.c2 && e.ifname == lab.innerIf, "receiver's free without its namespace or interface: \(e)")
            }

            let n = try byNetns.events()
            #expect(n.contains { Self.receiverFree($0, lab: lab, port: port) && $0.tcpFlags == ["SYN"] },
                    "-N \(lab.container2) dropped the listener's free of the SYN:\n\(KT.dump(n))")
            for e in n { #expect(e.netns == ns.c2, "-N \(lab.container2) let through: \(e)") }

            let t = try tracked.events()
            let frees = t.filter { Self.receiverFree($0, lab: lab, port: port) }
            #expect(!frees.isEmpty, "--track -N \(lab.container2): no receiver frees:\n\(KT.dump(t))")
            for e in frees {
                #expect(e.netns == ns.c2 && e.ifname == lab.innerIf, "--track: receiver's free without its namespace or interface: \(e)")
            }
        }
    }
}
