import SkbTracerModel

/// `--color`: whether the text views make drops and losses stand out.
public enum ColorChoice: String, CaseIterable, Sendable {
    case auto, always, never

    /// `auto`: only on a terminal that shows colour (TERM is not "dumb"), and not
    /// when NO_COLOR is set to anything (no-color.org). A file or a pipe is not a
    /// terminal. `always` asks for it anywhere (`| less -R`).
    public func enabled(isTerminal: Bool, environment: [String: String]) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto: return isTerminal && environment["TERM"] != "dumb" && (environment["NO_COLOR"] ?? "").isEmpty
        }
    }
}

/// ANSI SGR sequences the text formatters write around what must stand out,
/// only when FormatContext.color is on: with it off, an event costs nothing more.
enum TextColor {
    /// Drops: bold red.
    static let drop: StaticString = "\u{1b}[1;31m"
    /// Events the ring buffer lost: bold yellow, a fault of the trace, not of the packet.
    static let loss: StaticString = "\u{1b}[1;33m"
    static let reset: StaticString = "\u{1b}[0m"
}

extension FormatContext {
    /// `text` and a newline, in `color` when colour is on.
    func appendColored(_ text: String, _ color: StaticString, to b: inout ByteBuffer) {
        if self.color { b.append(color) }
        b.append(string: text)
        if self.color { b.append(TextColor.reset) }
        b.append(UInt8(ascii: "\n"))
    }
}
