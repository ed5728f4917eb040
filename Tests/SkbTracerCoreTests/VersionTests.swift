import Foundation
import SkbTracerSystem
import Testing

@Suite("--version")
struct VersionTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// `skbtracer 0.15.0 (git 1a2b3c4)` or `(git 1a2b3c4-dirty)`; in a checkout, the
    /// commit git names for HEAD (a binary older than the last commit fails: rebuild).
    @Test func versionNamesTheCommitBuiltFrom() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)")
        let line = r.stdout.trimmingCharacters(in: .newlines)
        let match = try #require(line.wholeMatch(of: /skbtracer (\d+\.\d+\.\d+) \(git ([0-9a-f]{7,40}|unknown)(-dirty)?\)/),
                                 "\(line)")
        let head = try Command.run(["git", "-C", Self.packageRoot, "rev-parse", "--short", "HEAD"])
        if head.ok {
            #expect(String(match.2) == head.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(line)")
        } else {
            #expect(match.2 == "unknown", "not in a git checkout, yet: \(line)")
        }
    }
}
