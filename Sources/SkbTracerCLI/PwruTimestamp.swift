import SkbTracerOutput

/// pwru's `--timestamp none|current|relative|absolute` next to skbtracer's bare
/// `--timestamp` (monotonic seconds). ArgumentParser cannot have one name be a
/// flag and an option with a value without the option also taking replay's FILE
/// (`replay --timestamp t.skbt`), so the valued forms are renamed before parsing.
enum PwruTimestamp {
    static let optionName = "timestamp-value"

    /// `--timestamp VALUE` (VALUE one of pwru's words) and `--timestamp=VALUE` (any
    /// VALUE, so a wrong one is named in the error) become `--timestamp-value VALUE`;
    /// nothing after `--` changes.
    static func rewrite(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { out += args[i...]; break }
            if a == "--timestamp", i + 1 < args.count, TimeFormat.pwruValues.contains(args[i + 1]) {
                out += ["--\(optionName)", args[i + 1]]
                i += 2
                continue
            }
            if a.hasPrefix("--timestamp=") {
                out += ["--\(optionName)", String(a.dropFirst("--timestamp=".count))]
            } else {
                out.append(a)
            }
            i += 1
        }
        return out
    }
}
