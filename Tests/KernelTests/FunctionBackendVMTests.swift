import Foundation
import SkbTracerSystem
import Testing

/// The function backends cannot attach on this machine's kernel (no kprobes), so
/// they are proven in QEMU on Debian's own kernels (scripts/qemu/vm.sh): the
/// built binary traces a ping between namespaces inside the guest. The guest
/// scripts print one CHECK line per assertion; each must say ok.
extension KernelTests {
    @Suite("function backends in a QEMU guest")
    struct FunctionBackendVMTests {
        static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/qemu")

        /// Boots `kernel` with `guest` (given `arguments`) and returns its console, CHECK lines checked.
        static func boot(_ kernel: String, _ guest: String, arguments: [String] = [], expecting checks: [String]) throws -> String {
            let r = try Command.run(["bash", scripts.appendingPathComponent("vm.sh").path, "--kernel", kernel,
                                     "--bin", try KT.binaryPath(), scripts.appendingPathComponent("guest/\(guest)").path] + arguments,
                                    timeout: 900)
            let console = r.stdout.replacingOccurrences(of: "\r", with: "")
            let lines = console.split(separator: "\n").map(String.init)
            let results = Dictionary(lines.compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ")
                return parts.count == 3 && parts[0] == "CHECK" ? (String(parts[1]), String(parts[2])) : nil
            }, uniquingKeysWith: { a, _ in a })
            let tail = lines.suffix(40).joined(separator: "\n")
            #expect(r.status == 0, "vm.sh exit \(r.status): \(r.stderr)\n\(tail)")
            for name in checks {
                #expect(results[name] == "ok", "\(name): \(results[name] ?? "not run")\n\(tail)")
            }
            #expect(Set(results.keys) == Set(checks), "checks run: \(results.keys.sorted())")
            return console
        }

        @Test("Linux 6.12: every sk_buff function via kprobe-multi, the curated default and -t bridge, a few via kprobes, a tcpdump expression and --output-caller at functions, journeys, JSON, auto, every option mix; nothing left")
        func functionBackends() throws {
            let checks = ["control-sees-trace", "multi-exit"] + ["ip_rcv", "icmp_rcv", "veth_xmit", "br_handle_frame_finish", "__dev_queue_xmit",
                                           "net_dev_queue"].map { "multi-has-\($0)" }
                + ["multi-many-functions", "multi-no-loss", "multi-nothing-left",
                   "curated-exit", "curated-note", "curated-count", "curated-has-br_forward", "curated-has-ip_rcv",
                   "curated-has-icmp_rcv", "curated-nothing-left",
                   "bridge-exit", "bridge-no-note", "bridge-has-br_handle_frame_finish", "bridge-has-br_forward",
                   "bridge-has-br_dev_queue_push_xmit", "bridge-only-bridge", "bridge-order", "bridge-nothing-left",
                   "single-exit", "single-three-functions", "single-has-ip_rcv", "single-has-icmp_rcv",
                   "single-has-veth_xmit", "single-only-those", "single-nothing-left",
                   "pcap-exit", "pcap-has-veth_xmit", "pcap-has-icmp_rcv", "pcap-requests-only", "pcap-nothing-left",
                   "caller-exit", "caller-ip-rcv", "caller-on-every-function", "caller-nothing-left",
                   "timeline-exit", "timeline-hops", "timeline-path", "timeline-consumed", "timeline-nothing-left",
                   "auto-kprobe-multi", "auto-json", "auto-nothing-left"]
                + (1...6).flatMap { ["mix\($0)-tracepoints", "mix\($0)-functions"] } + ["mixes-nothing-left"]
            let console = try Self.boot("6.12", "function-backends.sh", expecting: checks)
            // Start-up in the guest (emulated CPU), for bench/RESULTS.md.
            for line in console.split(separator: "\n") where line.hasPrefix("STARTUP") { print(line) }
        }

        @Test("Linux 6.1 (no fprobe, no bpf_rdonly_cast): one clear error, nothing left; auto falls back to tracepoints; every tracepoint program loads")
        func oldKernel() throws {
            _ = try Self.boot("6.1", "old-kernel.sh", expecting: [
                "explicit-fails", "explicit-one-line", "explicit-names-cause", "explicit-nothing-left",
                "auto-exit", "auto-warns", "auto-no-curated-note", "auto-traces", "auto-nothing-left",
            ] + (1...6).map { "mix\($0)-tracepoints" } + ["mixes-nothing-left"])
        }
    }
}
