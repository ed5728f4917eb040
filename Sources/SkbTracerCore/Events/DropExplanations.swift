// TEMPORARY STUB by the lead engineer so the package builds; helper replaces this whole file.
public struct DropExplanation: Sendable, Equatable {
    public let explanation: String
    public let hint: String
}
public enum DropExplanations {
    public static func explain(_ reason: String) -> DropExplanation? { nil }
    public static var explainedReasons: [String] { [] }
    public static func noise(reason: String, function: String?, event: TraceEvent) -> String? { nil }
}
