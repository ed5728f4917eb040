import SkbTracerModel

/// The version of the JSON output's schema (docs/json-schema.md), written once
/// as the first object of every JSON output: `{"type":"schema","version":"1.0"}`.
/// The minor number grows when a field or a type of object is added, the major
/// one when something is removed or changes meaning. Once per output, not per
/// object: events pay nothing for it.
public enum JSONSchema {
    public static let version = "1.0"

    public static func append(to b: inout ByteBuffer) {
        b.append("{\"type\":\"schema\",\"version\":\""); b.append(string: version); b.append("\"}\n")
    }

    /// The schema object as a line of text (outputs built as strings).
    public static var line: String {
        var b = ByteBuffer(capacity: 64)
        append(to: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }
}
