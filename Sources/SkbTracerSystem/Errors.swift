/// An error that prints as one line: what went wrong, then how to fix it.
public protocol HintedError: Error, CustomStringConvertible {
    var message: String { get }
    var hint: String? { get }
}

extension HintedError {
    public var description: String {
        hint.map { "\(message). Hint: \($0)" } ?? message
    }
}

/// A bad option value or combination: one line on stderr, exit status 2.
public struct UsageError: HintedError, Equatable, Sendable {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}

/// A failure while running (privileges, kernel features, the lab): one line on
/// stderr, exit status 1.
public struct RuntimeError: HintedError, Sendable {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}
