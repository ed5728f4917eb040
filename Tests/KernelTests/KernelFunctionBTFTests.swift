import BPFKit
import Foundation
import SkbTracerModel
import SkbTracerSystem
import Testing

extension KernelTests {
    /// The function backends' candidates come from this kernel's BTF: functions
    /// known to take an sk_buff are found, at the right argument position.
    @Test("kernel functions with an sk_buff are found in BTF")
    func skbFunctionsInBTF() throws {
        let found = FunctionProbes.candidates(btf: try KernelBTF())
        let byName = Dictionary(found.map { ($0.name, $0.position) }, uniquingKeysWith: { a, _ in a })
        #expect(found.count > 300, "only \(found.count) functions")
        #expect(byName["ip_rcv"] == 1)          // ip_rcv(struct sk_buff *skb, ...)
        #expect(byName["ip_output"] == 3)       // ip_output(struct net *, struct sock *, struct sk_buff *)
        #expect(byName["__dev_queue_xmit"] == 1)
        #expect(byName["schedule"] == nil)
        #expect(!found.contains { $0.name.hasPrefix("__traceiter_") || $0.name.hasPrefix("__probestub_") })
        #expect(Set(found.map(\.name)).count == found.count, "names are unique")
    }

    /// `--list` says whether the function backends can run here and, with
    /// --backend, lists the functions --filter-func picks.
    @Test("--list shows the kernel functions a function backend would probe")
    func listFunctions() throws {
        let r = try Command.run([try KT.binaryPath(), "--list", "--backend", "kprobe-multi", "--filter-func", "^(ip_rcv|ip_output)$"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.contains("ip_rcv sk_buff is argument 1") && lines.contains("ip_output sk_buff is argument 3"), "\(r.stdout)")
        #expect(r.stdout.contains("2 match '^(ip_rcv|ip_output)$'"))
        #expect(r.stdout.contains(FunctionProbes.kprobesAvailable() ? "this kernel has kprobes" : "not on this kernel (no kprobes)"))
    }

    /// `-t` names a kernel function: one this kernel's BTF has no sk_buff function
    /// of is bad input (exit 2) before anything is attached, kprobes or not; the
    /// curated groups show in `--list` with what this kernel has.
    @Test("-t with an unknown kernel function is exit 2; --list marks the curated functions this kernel has")
    func curatedAndNamedFunctions() throws {
        let bin = try KT.binaryPath()
        let r = try Command.run([bin, "--backend", "kprobe-multi", "-t", "ip_rcv,skbtracer_no_such_function", "--duration", "1"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("'skbtracer_no_such_function'"), "\(r.stderr)")
        let list = try Command.run([bin, "--list"])
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("│   ├── [+] ip_rcv"), "\(list.stdout)")
        #expect(lines.contains { $0.hasPrefix("├── bridge ") })
    }
}
