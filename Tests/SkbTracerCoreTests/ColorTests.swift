import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// `--color`: drops and losses stand out on a terminal, never in a pipe or in JSON.
@Suite("Colour (--color)")
struct ColorTests {
    static let red = "\u{1b}[1;31m", yellow = "\u{1b}[1;33m", reset = "\u{1b}[0m"

    @Test func autoNeedsATerminalThatShowsColour() {
        let term = ["TERM": "xterm-256color"]
        #expect(ColorChoice.auto.enabled(isTerminal: true, environment: term))
        #expect(!ColorChoice.auto.enabled(isTerminal: false, environment: term))
        #expect(!ColorChoice.auto.enabled(isTerminal: true, environment: ["TERM": "dumb"]))
        #expect(!ColorChoice.auto.enabled(isTerminal: true, environment: ["TERM": "xterm", "NO_COLOR": "1"]))
        // no-color.org: an empty NO_COLOR does not count.
        #expect(ColorChoice.auto.enabled(isTerminal: true, environment: ["TERM": "xterm", "NO_COLOR": ""]))
        #expect(ColorChoice.always.enabled(isTerminal: false, environment: ["NO_COLOR": "1"]))
        #expect(!ColorChoice.never.enabled(isTerminal: true, environment: term))
    }

    static func text(_ e: FlatEvent, color: Bool) -> String {
        let context = Fixtures.context()
        context.color = color
        var b = ByteBuffer()
        TextFormatter(context: context).event(TraceEvent(raw: e), into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    @Test func dropStandsOutOnlyWithColour() {
        let colored = Self.text(Fixtures.kfreeSkbDrop(), color: true)
        #expect(colored.contains(" swapper/3/0\(Self.red) drop=NO_SOCKET at=tcp_v4_rcv+0x10\(Self.reset)\n"), "\(colored)")
        let plain = Self.text(Fixtures.kfreeSkbDrop(), color: false)
        #expect(!plain.contains("\u{1b}"))
        // The same line, less the escapes.
        #expect(colored.replacingOccurrences(of: Self.red, with: "").replacingOccurrences(of: Self.reset, with: "") == plain)
        // Not a drop: nothing coloured.
        #expect(!Self.text(Fixtures.icmpEchoRequest(), color: true).contains("\u{1b}"))
    }

    @Test func lossStandsOut() {
        let context = Fixtures.context()
        context.color = true
        var b = ByteBuffer()
        TextFormatter(context: context).lost(count: 12, cpu: 1, into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self) == "\(Self.yellow)--- 12 events lost on CPU 1 (ring buffer full) ---\(Self.reset)\n")
    }

    // MARK: - The binary, on a recording with drops

    static let recording = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Recordings/format3.rec").path

    @Test func alwaysColoursDropsAndJourneysDroppedLines() throws {
        let events = try CLI.run(["replay", Self.recording, "--color", "always"])
        #expect(events.status == 0, "\(events.stderr)")
        #expect(events.stdout.contains("\(Self.red) drop=NETFILTER_DROP at=nft_do_chain+0x46f\(Self.reset)"), "\(events.stdout)")
        let journeys = try CLI.run(["replay", Self.recording, "--timeline", "--color", "always"])
        #expect(journeys.stdout.contains("  \(Self.red)dropped: NETFILTER_DROP at nft_do_chain+0x46f in "), "\(journeys.stdout)")
    }

    /// The test reads stdout through a pipe: auto, like never, writes no escape.
    @Test(arguments: [["--color", "never"], ["--color", "auto"], [], ["--color", "always", "--json"], ["--timeline", "--json", "--color", "always"]])
    func noColourInAPipeOrInJSON(_ args: [String]) throws {
        let r = try CLI.run(["replay", Self.recording] + args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("NETFILTER_DROP"))
        #expect(!r.stdout.contains("\u{1b}"))
    }
}
