import Foundation
import SkbTracerSystem
import Testing

/// `-i NAME -N NS` is NS's interface NAME (pwru's scoping); `-i NAME` alone is
/// that name in every namespace. The lab's c1 and c2 both have an `eth0`.
extension KernelTests {
    @Test("-i eth0 -N c1 shows only c1's eth0 though c2 has one too; a name the namespace lacks is an error before tracing")
    func interfaceScopedToNamespace() throws {
        try KT.withLab { lab in
            let ns = try Inodes(lab)
            let id = Int.random(in: 1000...60000)
            let scoped = try KT.Tracer.start(["-i", lab.innerIf, "-N", lab.container1, "--proto", "icmp"])
            defer { scoped.cleanup() }
            let everywhere = try KT.Tracer.start(["-i", lab.innerIf, "-H", lab.c2IPv4, "--proto", "icmp"])
            defer { everywhere.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 2, id: id).ok)
            #expect(scoped.stop() == 0, "stderr: \(scoped.stderr)")
            #expect(everywhere.stop() == 0, "stderr: \(everywhere.stderr)")
            let mine = try scoped.events().filter { $0.icmpID == id }
            let all = try everywhere.events().filter { $0.icmpID == id }
            #expect(mine.contains { $0.netns == ns.c1 }, "nothing from c1:\n\(KT.dump(mine))")
            for e in mine { #expect(e.netns == ns.c1 && e.ifname == lab.innerIf, "-N \(lab.container1) let through: \(e)") }
            // Without -N the other eth0 shows: -N is what kept c2's out.
            #expect(all.contains { $0.netns == ns.c2 && $0.ifname == lab.innerIf }, "no c2 eth0 without -N:\n\(KT.dump(all))")

            // An interface c1 does not have, by name and by inode: one line, exit 2, no trace.
            for netns in [lab.container1, "\(ns.c1)"] {
                let r = try Command.run([try KT.binaryPath(), "-i", "nosuch0", "-N", netns, "-c", "1", "--duration", "5"])
                #expect(r.status == 2, "stderr: \(r.stderr)")
                #expect(r.stdout.isEmpty && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
                #expect(r.stderr.hasPrefix("skbtracer: error: no interface 'nosuch0' in network namespace '\(netns)'"), "\(r.stderr)")
                #expect(r.stderr.contains(". Hint: "), "\(r.stderr)")
            }
            // The host's interface of the lab is not in c1 either.
            let host = try Command.run([try KT.binaryPath(), "-i", lab.hostVeth1, "-N", lab.container1, "-c", "1", "--duration", "5"])
            #expect(host.status == 2 && host.stderr.contains("no interface '\(lab.hostVeth1)'"), "\(host.stderr)")
        }
    }
}
