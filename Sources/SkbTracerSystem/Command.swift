import Foundation

/// Runs a helper program (ip, iptables, ping) and captures its output.
public enum Command {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var ok: Bool { status == 0 }
    }

    /// Runs `args[0]` found on PATH. Never throws for a non-zero exit; see `check`.
    @discardableResult
    public static func run(_ args: [String], timeout: Double = 30) throws -> Result {
        // Through env, as a shell would: a missing program is exit status 127.
        let child = try Subprocess(["/usr/bin/env"] + args, capture: true)
        let r = child.collect(timeout: timeout)
        return Result(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
                      stderr: String(decoding: r.stderr, as: UTF8.self))
    }

    /// Runs and throws with the command's own error text on a non-zero exit.
    @discardableResult
    public static func check(_ args: [String], timeout: Double = 30) throws -> Result {
        let r = try run(args, timeout: timeout)
        guard r.ok else {
            let detail = r.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(r.status)"
            throw RuntimeError("`\(args.joined(separator: " "))` failed: \(detail)",
                               hint: "skbtracer's labs need root and iproute2/iptables")
        }
        return r
    }
}
