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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw RuntimeError("cannot run \(args.first ?? "?"): \(error)", hint: "install it (scripts/install-deps.sh)")
        }
        // Read both pipes while the child runs so a full pipe cannot block it.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = DispatchTime.now() + timeout
        let timer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: deadline, execute: timer)
        p.waitUntilExit()
        timer.cancel()
        group.wait()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
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
