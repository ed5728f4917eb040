/// A bad option value or combination: one line on stderr, exit status 2.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String {
        hint.map { "\(message). Hint: \($0)" } ?? message
    }
}

/// A failure while running (privileges, kernel features, the lab): one line on
/// stderr, exit status 1.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String {
        hint.map { "\(message). Hint: \($0)" } ?? message
    }
}
