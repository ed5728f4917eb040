@testable import SkbTracerModel
@testable import SkbTracerSession
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

    /// Every summary ends with the drops seen per reason, most first.
    @Test func endsWithDropsPerReason() {
        var tally = DropTally()
        var events: [TraceEvent] = [TraceEvent(raw: Fixtures.udp())]
        for reason: UInt32 in [2, 5, 5, 5] {
            var e = Fixtures.kfreeSkbDrop()
            e.drop_reason = reason
            events.append(TraceEvent(raw: e))
        }
        for e in events { tally.add(e) }
        var s = TraceSummary()
        s.events = 5
        s.printed = 5
        s.stopReason = "signal"
        #expect(!s.line.contains("drops"), "nothing traced drops: \(s.line)")
        s.dropsTraced = true
        #expect(s.line.hasSuffix("; stopped: signal; no drops"), "\(s.line)")
        s.drops = tally.byReason(DropReasons(names: [2: "NO_SOCKET", 5: "NETFILTER_DROP"]))
        #expect(s.line.hasSuffix("; stopped: signal; drops: NETFILTER_DROP 3, NO_SOCKET 1"), "\(s.line)")
        var r = Replay.Summary()
        r.drops = s.drops
        #expect(r.line.hasSuffix("; drops: NETFILTER_DROP 3, NO_SOCKET 1"), "\(r.line)")
    }
}
