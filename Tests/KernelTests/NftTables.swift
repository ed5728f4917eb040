import Foundation
import SkbTracerSystem
import Testing

/// The root namespace's nft tables, compared before and after a test. Other
/// tests (and other people) build labs on this machine at the same time, and
/// iptables-nft tables are shared by every lab in the root namespace.
enum Nft {
    static func tables() throws -> Set<String> {
        let r = try Command.check(["nft", "list", "tables"])
        return Set(r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Lab namespaces (the tests' `stl`/`std` labs) other than those of `ours`, by prefix.
    static func otherLabs(than ours: [String] = []) throws -> Set<String> {
        let netns = try Command.run(["ip", "netns", "list"]).stdout
        return Set(netns.split(separator: "\n").compactMap { line -> String? in
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix("stl") || name.hasPrefix("std") else { return nil }
            return ours.contains { name.hasPrefix($0 + "-") } ? nil : String(name.prefix(7))
        })
    }

    /// skbtracer creates no nft table, and a lab removes the iptables-nft tables
    /// it created. Tables naming skbtracer or one of `ours` labs, or holding their
    /// rules, fail the test always. Any other change fails it when no other lab
    /// ran during the test (`others`: seen before or after it); when one did, the
    /// table may be that lab's, and the skipped check is recorded (KT.skipped).
    static func expectUnchanged(before: Set<String>, after: Set<String>, ours: [String], others: Set<String>,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard before != after else { return }
        let added = after.subtracting(before), removed = before.subtracting(after)
        let ownNamed = added.filter { t in t.contains("skbtracer") || ours.contains { t.contains($0) } }
        #expect(ownNamed.isEmpty, "nft tables of skbtracer or its lab remain: \(ownNamed.sorted())",
                sourceLocation: sourceLocation)
        for t in added.subtracting(ownNamed) where !ours.isEmpty {
            let body = try Command.run(["nft", "list"] + t.split(separator: " ").map(String.init)).stdout
            for prefix in ours {
                #expect(!body.contains(prefix), "nft \(t) holds rules of lab \(prefix):\n\(body)",
                        sourceLocation: sourceLocation)
            }
        }
        if others.isEmpty {
            #expect(added.isEmpty && removed.isEmpty,
                    "nft tables changed: added \(added.sorted()), removed \(removed.sorted())", sourceLocation: sourceLocation)
        } else {
            KT.skipped("nft tables changed (added \(added.sorted()), removed \(removed.sorted())) while other labs ran "
                + "(\(others.sorted())): not attributable to this test", sourceLocation: sourceLocation)
        }
    }
}
