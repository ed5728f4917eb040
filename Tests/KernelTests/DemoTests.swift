import Foundation
import SkbTracerCore
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
            #expect(ended && child.status == 0, "demo status \(String(describing: child.status)); stderr: \(stderr)")

            let lines = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n")
            let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            let steps = objects.filter { $0["type"] as? String == "demo_step" }
            let results = objects.filter { $0["type"] as? String == "demo_result" }
            #expect(steps.count == 4 && results.count == 4, "steps/results:\n\(lines.joined(separator: "\n"))")
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
    
        @Test("demo --cleanup removes what a killed lab left: namespaces, links, iptables rules")
        func cleanupRemovesStaleLab() throws {
            let lab = try KT.makeLab()
            defer { lab.destroy() }
            #expect(try !KT.leftovers(prefix: lab.prefix).isEmpty, "the lab should exist before cleanup")
            let bin = try KT.binaryPath()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-clean-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let err = dir.appendingPathComponent("stderr").path
            let child = try KT.Child(bin, ["demo", "--cleanup"], stdout: nil, stderr: err)
            #expect(child.wait(timeout: 30) && child.status == 0, "cleanup status \(String(describing: child.status))")
            let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            #expect(log.contains("netns \(lab.container1)") && log.contains("link \(lab.bridge)")
                    && log.contains("MASQUERADE"), "cleanup log: \(log)")
            let left = try KT.leftovers(prefix: lab.prefix)
            #expect(left.isEmpty, "still there after cleanup: \(left)")
        }
}
}
