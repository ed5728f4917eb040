import Foundation

/// stderr is for diagnostics; stdout carries only trace output.
enum Diagnostics {
    /// write(2), not FileHandle: its write traps when stderr is a closed pipe
    /// (`skbtracer 2>&1 | head`), and a lost diagnostic must not crash the exit.
    static func write(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
    static func warn(_ message: String) { write("skbtracer: warning: \(message)") }
    static func note(_ message: String) { write(message) }
    static func error(_ message: String) { write("skbtracer: error: \(message)") }
}
