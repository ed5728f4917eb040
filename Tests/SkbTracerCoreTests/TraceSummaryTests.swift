@testable import SkbTracerCore
import Testing

/// The exit summary on stderr: says what needs saying, and nothing that is not so.
@Suite("Exit summary")
struct TraceSummaryTests {
    /// A journey run that filled nothing used to end with "tracking: 0 events of
    /// untracked skbs (table full)", a false alarm.
    @Test func fullTrackingTableOnlyWhenItWasFull() {
        var s = TraceSummary()
        s.events = 4
        s.printed = 4
        s.tracking = true
        #expect(!s.line.contains("untracked"), "\(s.line)")
        #expect(!s.line.contains("tracking"), "\(s.line)")
        s.trackExpired = 2
        #expect(s.line.contains("; tracking: 2 expired"), "\(s.line)")
        #expect(!s.line.contains("untracked"), "\(s.line)")
        s.trackFull = 3
        #expect(s.line.contains("; tracking: 3 events of untracked skbs (table full), 2 expired"), "\(s.line)")
    }
}
