import BPFKit
import Foundation
import SkbTracerModel
import SkbTracerSession
import SkbTracerSystem

/// `skbtracer demo`: builds the lab, traces pings through it, prints the trace,
/// removes the lab (also on Ctrl-C or error).
public enum Demo {
    public struct Step: Sendable {
        public let title: String
        public let namespace: String
        public let command: [String]
        /// Commands run before and after the step (`ip netns exec` into a lab namespace).
        public var setup: [(ns: String, args: [String])] = []
        public var teardown: [(ns: String, args: [String])] = []
        /// Whether a reply is expected.
        public var expectReply = true
    }

    public static func steps(for lab: Lab) -> [Step] {
        [
            Step(title: "ping container c1 -> container c2 across the bridge \(lab.bridge) (IPv4)",
                 namespace: lab.container1, command: ["ping", "-c", "1", "-W", "1", lab.c2IPv4]),
            Step(title: "ping container c1 -> routed namespace r through the host and MASQUERADE",
                 namespace: lab.container1, command: ["ping", "-c", "1", "-W", "1", lab.routedIPv4]),
            Step(title: "ping container c1 -> container c2 across the bridge (IPv6)",
                 namespace: lab.container1, command: ["ping", "-6", "-c", "1", "-W", "1", lab.c2IPv6]),
            // The firewall rule lives in c2's namespace: it goes away with the lab.
            Step(title: "ping container c1 -> container c2 while c2's firewall drops echo requests: where and why it died",
                 namespace: lab.container1, command: ["ping", "-c", "1", "-W", "1", lab.c2IPv4],
                 setup: [(lab.container2, dropRule("-A"))], teardown: [(lab.container2, dropRule("-D"))],
                 expectReply: false),
        ]
    }

    static func dropRule(_ op: String) -> [String] {
        ["iptables", "-w", op, "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"]
    }

    /// Runs the demo; `options` carries output settings (format, time format).
    public static func run(options base: TracerOptions, log: (String) -> Void) throws -> TraceSummary {
        var options = base
        // The demo writes its section titles into the same sink as the events.
        let sink = try options.outputPath.map { try OutputSink(path: $0, mode: options.fileMode) } ?? OutputSink()
        options.outputPath = nil
        StopSignals.install()
        log("skbtracer demo: building a lab (bridge, two containers, a routed namespace behind NAT)...")
        let lab = try Lab.create()
        defer {
            lab.destroy()
            log("skbtracer demo: lab \(lab.prefix) removed")
        }
        log("skbtracer demo: lab \(lab.prefix): \(lab.container1) \(lab.c1IPv4), \(lab.container2) \(lab.c2IPv4), \(lab.routed) \(lab.routedIPv4), bridge \(lab.bridge)")
        if StopSignals.requested { return TraceSummary() }
        let session = try TracerSession(options: options, sink: sink)
        defer { session.finish() }
        // Keep only the pings of this lab: echo requests and replies in its
        // namespaces or on its interfaces in the host (IPv6 multicast chatter of
        // new interfaces would bury them).
        let labNetns = Set([lab.container1, lab.container2, lab.routed].compactMap { lab.netnsInode($0) })
        let prefix = lab.prefix
        session.acceptEvent = { e in
            guard e.isICMP, e.hasL4, [0, 8, 128, 129].contains(e.packet.raw.icmp_type) else { return false }
            return labNetns.contains(e.context.netns) || e.ifname.hasPrefix(prefix)
        }
        try session.start()
        for n in session.notes { log(n) }
        for w in session.warnings { log("skbtracer: warning: \(w)") }
        for step in steps(for: lab) {
            if StopSignals.requested { break }
            let json = options.format == .json
            sink.write { b in
                if json {
                    b.append("{\"type\":\"demo_step\",\"title\":"); b.appendJSONString(step.title); b.append("}\n")
                } else {
                    b.append("\n== "); b.append(string: step.title); b.append(" ==\n")
                }
            }
            sink.flush()
            for (ns, args) in step.setup { try lab.exec(ns, args, timeout: 10) }
            defer { for (ns, args) in step.teardown { _ = try? lab.exec(ns, args, timeout: 10) } }
            let p = try Subprocess(["ip", "netns", "exec", step.namespace] + step.command, capture: false)
            // Bounded: ping -c 1 -W 1 ends within about a second.
            let deadline = MonotonicClock.deadline(after: 5)
            while p.isRunning && MonotonicClock.now() < deadline && session.poll(timeoutMs: 50) {}
            let status = p.wait(timeout: 0)
            // Late events (the reply's free) arrive just after ping exits.
            for _ in 0..<3 { session.poll(timeoutMs: 50) }
            sink.write { b in
                if json {
                    b.append("{\"type\":\"demo_result\",\"reply\":"); b.append(status == 0 ? "true" : "false")
                    b.append(",\"exit_status\":"); b.appendDecimal(status); b.append("}\n")
                } else if status == 0 {
                    b.append("-- reply received\n")
                } else {
                    b.append("-- no reply (ping exit status "); b.appendDecimal(status)
                    b.append(step.expectReply ? ")\n" : "), as expected: the trace shows where it died\n")
                }
            }
            sink.flush()
        }
        return session.finish()
    }
}
