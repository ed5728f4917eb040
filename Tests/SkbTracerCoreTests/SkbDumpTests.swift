import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// `--output-skb`: the dump record BPF writes before its event, joined to it,
/// printed under it, recorded and replayed.
@Suite struct SkbDumpTests {
    static let dump = "(struct sk_buff){\n .len = (unsigned int)98,\n .protocol = (__be16)8,\n}"

    static func event(cpu: UInt32 = 1, skb: UInt64 = 0xffff_8881_0000_a000, ts: UInt64 = 5_000) -> TraceEvent {
        var e = Fixtures.udp()
        e.cpu = cpu
        e.skb = skb
        e.ts_ns = ts
        return e.event
    }

    @Test func recordRoundTripAndBadRecords() throws {
        let e = Self.event()
        let bytes = SkbDumps.record(for: e, text: Self.dump)
        #expect(bytes.count == 24 + Self.dump.utf8.count + 1)
        let back = try #require(bytes.withUnsafeBytes { SkbDumps.decode($0) })
        #expect(back.key == SkbDumps.Key(cpu: 1, skb: e.skb, ts: 5_000) && back.text == Self.dump)
        // Too short, a size past the bytes or past the struct, another kind: not a dump.
        #expect(Array(bytes.prefix(20)).withUnsafeBytes { SkbDumps.decode($0) } == nil)
        #expect(Array(bytes.dropLast()).withUnsafeBytes { SkbDumps.decode($0) } == nil)
        var huge = bytes
        huge[2] = 0xff; huge[3] = 0xff
        #expect(huge.withUnsafeBytes { SkbDumps.decode($0) } == nil)
        var event = bytes
        event[0] = 1
        #expect(event.withUnsafeBytes { SkbDumps.decode($0) } == nil)
        // A text longer than the record holds is cut, still NUL-terminated.
        let long = SkbDumps.record(for: e, text: String(repeating: "x", count: 5000))
        #expect(long.count == MemoryLayout<st_skb_dump>.size && long.last == 0)
    }

    @Test func joinedByCpuSkbAndTime() {
        let dumps = SkbDumps()
        dumps.add(SkbDumps.Key(cpu: 1, skb: 0xa000, ts: 5), "one")
        dumps.add(SkbDumps.Key(cpu: 0, skb: 0xa000, ts: 5), "other cpu")
        #expect(dumps.take(for: Self.event(cpu: 1, skb: 0xa000, ts: 6)) == nil, "another time")
        #expect(dumps.take(for: Self.event(cpu: 1, skb: 0xa000, ts: 5)) == "one")
        #expect(dumps.take(for: Self.event(cpu: 1, skb: 0xa000, ts: 5)) == nil, "taken once")
        #expect(dumps.take(for: Self.event(cpu: 0, skb: 0xa000, ts: 5)) == "other cpu")
        // Orphans (their event was lost) go per CPU, oldest first; another CPU's stay.
        dumps.add(SkbDumps.Key(cpu: 3, skb: 1, ts: 1), "cpu 3")
        for i in 0..<SkbDumps.maxPendingPerCPU + 10 { dumps.add(SkbDumps.Key(cpu: 1, skb: 2, ts: UInt64(100 + i)), "orphan") }
        #expect(dumps.pendingCount == SkbDumps.maxPendingPerCPU + 1)
        #expect(dumps.take(for: Self.event(cpu: 1, skb: 2, ts: 100)) == nil, "the oldest went")
        #expect(dumps.take(for: Self.event(cpu: 1, skb: 2, ts: UInt64(100 + SkbDumps.maxPendingPerCPU + 9))) == "orphan")
        #expect(dumps.take(for: Self.event(cpu: 3, skb: 1, ts: 1)) == "cpu 3")
    }

    @Test func printedUnderTheEventAndInJSON() throws {
        var ev = Self.event()
        ev.skbDump = Self.dump
        var b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).event(ev, into: &b)
        let lines = String(decoding: b.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.count == 5 && lines[1] == "    (struct sk_buff){" && lines[2] == "     .len = (unsigned int)98," && lines[4] == "    }",
                "\(lines)")
        ev.skbDump = ""
        b = ByteBuffer()
        TextFormatter(context: Fixtures.context()).event(ev, into: &b)
        #expect(String(decoding: b.bytes, as: UTF8.self).hasSuffix("\n    (no skb dump came: the ring buffer had no room for it; see the summary)\n"))

        for (dump, expected) in [(Self.dump, Self.dump as String?), ("", nil), (nil, nil)] as [(String?, String?)] {
            ev.skbDump = dump
            b = ByteBuffer()
            JSONFormatter(context: Fixtures.context()).event(ev, into: &b)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
            #expect(o["skb_dump"] as? String == expected && (expected != nil || o["skb_dump"] is NSNull))
        }
    }

    @Test("dumps are recorded before their events and replay as they printed live")
    func recordAndReplay() throws {
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        var events = RecordTests.events(400, seed: 31)
        for i in events.indices where events[i].route == nil {
            events[i].skbDump = i % 7 == 3 ? "" : "(struct sk_buff){\n .len = (unsigned int)\(i),\n}"
        }
        try RecordTests.record(events, to: path)
        for format in [OutputFormat.text, .json] {
            let (out, summary) = try RecordTests.replay(path) { $0.format = format }
            #expect(summary.events == 400 && summary.damage == RecordReader.Damage(), "\(summary)")
            #expect(out == RecordTests.direct(events, format: format), "\(format)")
        }
    }
}
