import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// `--netfilter`'s hook events (ST_SEC_NF_HOOK): decoding, their text and JSON,
/// and what a journey makes of a hook the packet entered and never left.
@Suite struct NetfilterHookEventTests {
    static let ns = JourneyTests.nsHost

    /// An echo request passing one end of a hook.
    static func pass(_ hook: UInt8, entry: Bool, ts: UInt64, family: UInt8 = 2) -> TraceEvent {
        let req = JourneyTests.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3)
        var e = JourneyTests.hop(req, ST_PROBE_NET_DEV_QUEUE, ns: ns, ifname: "h1", ts: ts, tracked: ts > 1_000_000)
        e.header.probe = UInt16(ST_PROBE_NF_HOOK)
        e.netfilterHook = NetfilterHookPass(family: family, hook: hook, isEntry: entry)
        return e
    }

    @Test func sectionRoundTripsAndNamesTheProbe() throws {
        let e = Self.pass(2, entry: false, ts: 1_000_000, family: 10)
        let decoded = try Fixtures.decode(EventRecord.bytes(e))
        #expect(decoded.netfilterHook == NetfilterHookPass(family: 10, hook: 2, isEntry: false))
        #expect(decoded.probeName == "nf_hook")
        #expect(!decoded.hasLocation)
        #expect(decoded.netfilterHook?.familyName == "ip6" && decoded.netfilterHook?.hookName == "FORWARD")
    }

    @Test func anUnknownEndIsNoHookPass() throws {
        var bytes = EventRecord.bytes(Self.pass(0, entry: true, ts: 1))
        // The section is the last 8 bytes; `where` is its 7th.
        bytes[bytes.count - 2] = 9
        #expect(try Fixtures.decode(bytes).netfilterHook == nil)
    }

    @Test func textAndJSONSayWhichHookAndWhichEnd() throws {
        let context = Fixtures.context()
        var b = ByteBuffer()
        TextFormatter(context: context).event(Self.pass(2, entry: true, ts: 1), into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self).contains(":nf_hook ") )
        #expect(String(decoding: b.bytes, as: UTF8.self).contains(" nf=ip FORWARD entered"))
        b = ByteBuffer()
        JSONFormatter(context: context).event(Self.pass(4, entry: false, ts: 1), into: &b)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
        #expect(json["probe"] as? String == "nf_hook")
        let nf = try #require(json["netfilter"] as? [String: Any])
        #expect(nf["family"] as? String == "ip" && nf["hook"] as? String == "POSTROUTING" && nf["at"] as? String == "exit")
        #expect(Set(nf.keys) == NetfilterVerdictTests.netfilterKeys)
        #expect(nf["table"] is NSNull && nf["verdict"] is NSNull)
        b = ByteBuffer()
        JSONFormatter(context: context).event(TraceEvent(raw: Fixtures.icmpEchoRequest()), into: &b)
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
        #expect(plain["netfilter"] is NSNull)
    }

    static func journey(_ events: [TraceEvent]) -> Journey {
        let tracker = JourneyTracker(names: JourneyTests.names())
        let ended = JourneyTests.feed(tracker, events)
        #expect(ended.count == 1)
        return ended[0]
    }

    @Test func aPacketThatEnteredForwardAndDiedThereNeverLeftIt() throws {
        let drop = JourneyTests.free(JourneyTests.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3),
                                     consume: false, at: JourneyTests.icmpRcv, reason: 5, ns: Self.ns, ts: 1_000_040)
        let j = Self.journey([Self.pass(0, entry: true, ts: 1_000_000), Self.pass(0, entry: false, ts: 1_000_010),
                              Self.pass(2, entry: true, ts: 1_000_020), drop])
        let open = try #require(j.hookNeverLeft)
        #expect(open.hook == 2 && open.isEntry)
        let text = String(decoding: FuzzRun.render { JourneyTextFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        #expect(text.contains("netfilter: entered ip FORWARD and never left it: a rule or hook function there dropped it"), "\(text)")
        let json = String(decoding: FuzzRun.render { JourneyJSONFormatter(context: Fixtures.context(), names: JourneyTests.names()).journey(j, into: &$0) }, as: UTF8.self)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let never = try #require(obj["netfilter_never_left"] as? [String: String])
        #expect(never["hook"] == "FORWARD" && never["family"] == "ip")
    }

    @Test func aPacketThatLeftEveryHookItEnteredHasNoOpenHook() throws {
        let events = [Self.pass(2, entry: true, ts: 1_000_000), Self.pass(2, entry: false, ts: 1_000_010),
                      Self.pass(4, entry: true, ts: 1_000_020), Self.pass(4, entry: false, ts: 1_000_030)]
        let j = Self.journey(events)
        #expect(j.hookNeverLeft == nil)
        // An exit of another hook does not close the open one.
        #expect(Self.journey([Self.pass(2, entry: true, ts: 1_000_000), Self.pass(4, entry: false, ts: 1_000_010)]).hookNeverLeft?.hook == 2)
    }
}
