import Foundation

/// stderr is for diagnostics; stdout carries only trace output.
enum Diagnostics {
    static func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    static func warn(_ message: String) { write("skbtracer: warning: \(message)") }
    static func note(_ message: String) { write(message) }
    static func error(_ message: String) { write("skbtracer: error: \(message)") }
}
