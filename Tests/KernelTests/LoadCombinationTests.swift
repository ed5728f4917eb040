import Foundation
import SkbTracerCore
import Testing

extension KernelTests {
    /// Every program verifies with every mix of options: the config in .rodata prunes
    /// different code in each, and a program the verifier rejects is only a warning
    /// at run time (it is dropped and the rest reloaded), so it must fail here.
    @Test("every probe loads and attaches under each mix of options", arguments: [
        ["-t", "all"],
        ["-t", "all", "--route", "--ct", "--callstack", "--owner"],
        ["-t", "all", "--ct", "--dropstack", "--track", "--output-skb"],
        ["--timeline", "--route", "--ct", "--owner"],
        ["-t", "all", "--pkt-len", "0-1500", "-i", "lo", "--mark", "1/1", "-N", "/proc/self/ns/net", "--tcp-flags", "S",
         "--owner-pid", "1", "--route"],
    ])
    func everyProbeLoads(_ args: [String]) throws {
        let r = try Command.run([try KT.binaryPath(), "--duration", "0.3", "-o", "/dev/null"] + args, timeout: 60)
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
        #expect(!r.stderr.contains("verifier rejected") && !r.stderr.contains("not attached"), "\(r.stderr)")
        let counts = r.stderr.firstMatch(of: /([0-9]+)\/([0-9]+) probes attached/)
        #expect(counts != nil && counts?.1 == counts?.2, "summary: \(r.stderr)")
    }
}
