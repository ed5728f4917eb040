import Foundation
import SkbTracerModel
import SkbTracerSession
import SkbTracerSystem
import Testing

extension KernelTests {
    /// Every program verifies with every mix of options: the config in .rodata prunes
    /// different code in each, and a program the verifier rejects is only a warning
    /// at run time (it is dropped and the rest reloaded), so it must fail here.
    @Test("every probe loads and attaches under each mix of options", arguments: [
        ["-t", "all"],
        ["-t", "all", "--route", "--ct", "--callstack", "--owner", "--output-tunnel", "--netfilter"],
        ["-t", "all", "--ct", "--dropstack", "--track", "--output-skb", "--output-tunnel", "--netfilter"],
        ["--timeline", "--route", "--ct", "--owner", "--netfilter"],
        // The conntrack entry's tuple under the address and port filters (ST_F_CT_TUPLE).
        ["-t", "all", "--track", "--ct", "--callstack", "-s", "10.1.2.3", "-d", "10.1.2.4", "--port", "80",
         "--tcp-flags", "S", "--pkt-len", "0-1500", "--route"],
        // With a tcpdump expression (its interpreter), in the hook programs too.
        ["-t", "all", "--pkt-len", "0-1500", "-i", "lo", "--mark", "1/1", "-N", "/proc/self/ns/net", "--tcp-flags", "S",
         "--owner-pid", "1", "--route", "--netfilter", "tcp port 80 and host 10.1.2.3"],
        // Packet bytes (--write's payload section) beside every other section, at the largest snap length.
        ["-t", "all", "--write", "/dev/null", "--snaplen", "1536", "--ct", "--callstack", "--owner", "--output-tunnel",
         "--track", "--netfilter", "vlan or ip6"],
    ])
    func everyProbeLoads(_ args: [String]) throws {
        // --write writes where -o would.
        let output = args.contains("--write") ? [] : ["-o", "/dev/null"]
        let r = try Command.run([try KT.binaryPath(), "--duration", "0.3"] + output + args, timeout: 60)
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
        #expect(!r.stderr.contains("verifier rejected") && !r.stderr.contains("not attached"), "\(r.stderr)")
        // The netfilter hook programs (a separate object) load and link too.
        if args.contains("--netfilter") {
            #expect(!r.stderr.contains("--netfilter:") && r.stderr.contains("netfilter hooks in"), "\(r.stderr)")
        }
        let counts = r.stderr.firstMatch(of: /([0-9]+)\/([0-9]+) probes attached/)
        #expect(counts != nil && counts?.1 == counts?.2, "summary: \(r.stderr)")
    }
}

extension KernelTests {
    /// Option mixes for the function programs: the config in .rodata prunes
    /// different code in each, as for the tracepoint programs above.
    static let functionMixes: [(String, @Sendable (inout TracerOptions) -> Void)] = [
        ("plain", { _ in }),
        ("route, ct, callstack, owner, caller", { o in
            o.probes = ProbeCatalogue.defaults + ProbeCatalogue.all.filter(\.isRoute)
            o.conntrack = true; o.stacks = .all; o.owner = true; o.tunnel = true; o.outputCaller = true
        }),
        ("ct, dropstack, track, output-skb, owner-pid", { o in
            o.conntrack = true; o.stacks = .drops; o.track = true; o.skbDump = true; o.owner = true; o.filter.ownerPid = 1
        }),
        ("every filter, tracking", { o in
            o.track = true
            o.filter.ipLen = 0...1500; o.filter.ifname = "lo"; o.filter.mark = 1; o.filter.markMask = 1
            o.filter.tcpFlags = 2; o.filter.l4Proto = 6; o.filter.addr = IPAddress("10.1.2.3"); o.filter.pid = 1
            o.filter.netns = 4026531840
            o.filter.expression = try? PacketExpression.compile("tcp port 80 and (vlan or host 10.1.2.3)")
        }),
    ]

    /// The function backends' programs cannot attach here (no kprobes), but the
    /// kernel still verifies them: each argument position, under each mix.
    @Test("function probe programs verify under each mix of options", arguments: 0..<4)
    func functionProgramsVerify(_ mix: Int) throws {
        var options = TracerOptions()
        Self.functionMixes[mix].1(&options)
        options.verbose = ProcessInfo.processInfo.environment["ST_VERBOSE"] != nil
        for backend in FunctionBackend.allCases {
            let session = try TracerSession(options: options)
            defer { session.finish() }
            do {
                try session.verifyPrograms(functionBackend: backend)
            } catch {
                Issue.record("\(Self.functionMixes[mix].0), \(backend.rawValue): \(error)")
            }
        }
    }
}
