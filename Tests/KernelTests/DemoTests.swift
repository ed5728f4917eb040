import Foundation
import SkbTracerOutput
import SkbTracerSystem
import Testing

extension KernelTests {
    /// The README's first command: the demo builds its lab, traces three pings,
    /// and removes the lab.
    @Suite("skbtracer demo")
    struct DemoTests {
        @Test("demo --json: three steps, each answered, echo events in the lab, nothing left behind")
        func demoRunsAndCleansUp() throws {
            let bin = try KT.binaryPath()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-demo-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let out = dir.appendingPathComponent("demo.json").path
            let err = dir.appendingPathComponent("stderr").path
            let child = try KT.Child(bin, ["demo", "--json", "-o", out], stdout: nil, stderr: err)
            let ended = child.wait(timeout: 60)
            if !ended { child.kill9() }
            let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            #expect(ended, "demo still running after 60 s; stderr: \(stderr)")
            #expect(child.status == 0, "demo status \(String(describing: child.status)); stderr: \(stderr)")

            let lines = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n")
            let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            #expect(lines.first.map(String.init) == String(JSONSchema.line.dropLast()), "the schema object first: \(lines.first ?? "")")
            #expect(objects.filter { $0["type"] as? String == "schema" }.count == 1)
            let steps = objects.filter { $0["type"] as? String == "demo_step" }
            let results = objects.filter { $0["type"] as? String == "demo_result" }
            #expect(steps.count == 4, "steps:\n\(lines.joined(separator: "\n"))")
            try #require(results.count == 4, "results:\n\(lines.joined(separator: "\n"))")
            #expect(results.prefix(3).allSatisfy { $0["reply"] as? Bool == true }, "a ping got no reply: \(results)")
            #expect(results.last?["reply"] as? Bool == false, "the firewalled ping was answered: \(results)")
            // Every step shows both an echo request and an echo reply.
            var step = -1
            var kinds: [Int: Set<Int>] = [:]
            for o in objects {
                if o["type"] as? String == "demo_step" { step += 1; continue }
                if o["type"] as? String == "event", let t = o["icmp_type"] as? Int { kinds[step, default: []].insert(t) }
            }
            #expect(kinds[0] == [8, 0] && kinds[1] == [8, 0] && kinds[2] == [128, 129] && kinds[3] == [8],
                    "echo types per step: \(kinds)")
            let drop = objects.first { $0["type"] as? String == "event" && $0["drop_reason"] as? String == "NETFILTER_DROP" }
            #expect(drop?["drop_hint"] is String, "the firewalled ping's drop with its hint: \(String(describing: drop))")

            // The lab's prefix comes from the demo's own log line.
            let prefix = try #require(stderr.split(separator: " ").first { $0.hasPrefix("stl") && $0.hasSuffix(":") }?.dropLast(),
                                      "no lab prefix in: \(stderr)")
            #expect(stderr.contains("lab \(prefix) removed"), "stderr: \(stderr)")
            let left = try KT.leftovers(prefix: String(prefix))
            #expect(left.isEmpty, "demo left: \(left)")
        }
    
        /// Scoped to a lab of its own: an unscoped cleanup would remove other
        /// runs' labs in use on this machine. Another lab of its own must survive.
        @Test("demo --cleanup --lab removes that lab's namespaces, links and iptables rules, and no other lab")
        func cleanupRemovesOneStaleLab() throws {
            let lab = try KT.makeLab()
            defer { lab.destroy() }
            let other = try KT.makeLab()
            defer { other.destroy() }
            #expect(try !KT.leftovers(prefix: lab.prefix).isEmpty, "the lab should exist before cleanup")
            let otherBefore = try KT.leftovers(prefix: other.prefix)
            let bin = try KT.binaryPath()
            let r = try Command.run([bin, "demo", "--cleanup", "--lab", lab.prefix], timeout: 60)
            #expect(r.status == 0, "cleanup status \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("netns \(lab.container1)"), "cleanup log: \(r.stderr)")
            #expect(r.stderr.contains("link \(lab.bridge)"), "cleanup log: \(r.stderr)")
            #expect(r.stderr.contains("MASQUERADE"), "cleanup log: \(r.stderr)")
            #expect(!r.stderr.contains(other.prefix), "the other lab was touched: \(r.stderr)")
            let left = try KT.leftovers(prefix: lab.prefix)
            #expect(left.isEmpty, "still there after cleanup: \(left)")
            #expect(try KT.leftovers(prefix: other.prefix) == otherBefore, "the other lab changed")
            #expect(try KT.ping(other, from: other.container1, to: other.c2IPv4, count: 1).ok, "the other lab no longer works")
        }

        @Test("demo --lab: a bad prefix, or without --cleanup, is a usage error")
        func cleanupLabUsage() throws {
            let bin = try KT.binaryPath()
            for args in [["--cleanup", "--lab", "stl12"], ["--cleanup", "--lab", "eth0"], ["--lab", "stl1a2b"]] {
                let r = try Command.run([bin, "demo"] + args, timeout: 30)
                #expect(r.status == 2, "\(args): status \(r.status)")
                #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
                #expect(r.stderr.hasPrefix("skbtracer: error: "), "\(args): \(r.stderr)")
                #expect(r.stderr.contains("Hint: "), "\(args): \(r.stderr)")
            }
        }
}
}
