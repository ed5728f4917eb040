import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
@testable import SkbTracerSystem
import Testing

/// `--record` files and `skbtracer replay`: a replay prints exactly what the live
/// trace would have printed; damaged files are read as far as they go.
@Suite("Record and replay")
struct RecordTests {
    /// A scratch file, removed by the caller.
    static func tempPath(_ name: String = "trace") -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-rec-\(UUID().uuidString)-\(name).skbt").path
    }

    static let reasonNames: [UInt32: String] = Dictionary(uniqueKeysWithValues:
        FuzzEvents.reasonNames.enumerated().map { (UInt32($0.offset + 1), $0.element) })

    /// A realistic stream (the fuzz stream: drops, stacks, losses, clones, NAT),
    /// with stacks of at most the ring record's ST_STACK_MAX frames, as the
    /// kernel gives them (the fuzz stream makes longer ones for the decoder).
    static func events(_ n: Int, seed: UInt64 = 0x5EC0_4D00) -> [TraceEvent] {
        var s = FuzzStream(seed: seed)
        return (0..<n).map { _ in
            var e = s.next()
            e.stack = e.stack.map { Array($0.prefix(Int(ST_STACK_MAX))) }
            return e
        }
    }

    static let netns = NetnsNames(names: [FuzzEvents.netnsPool[0]: "ns-a", FuzzEvents.netnsPool[1]: "ns-b"],
                                  hostInode: FuzzEvents.netnsPool[2])

    /// Records `events` as TracerSession does with --record; returns the file's bytes.
    @discardableResult
    static func record(_ events: [TraceEvent], to path: String, lostAtExit: UInt64 = 0) throws -> [UInt8] {
        let sink = try OutputSink(path: path)
        let header = RecordFormat.Header(realtimeOffsetNs: FuzzRun.clock.realtimeOffsetNs,
                                         utcOffsetSeconds: FuzzRun.clock.utcOffsetSeconds,
                                         hostNetns: FuzzEvents.netnsPool[2], startNs: 1_000)
        let recorder = Recorder(sink: sink, header: header, dropReasons: DropReasons(names: reasonNames),
                                symbols: KernelSymbols(symbols: FuzzEvents.symbols), netns: netns,
                                owners: FuzzEvents.socketOwners())
        recorder.begin()
        for e in events { recorder.consume(e) }
        if lostAtExit > 0 {
            recorder.lost(count: lostAtExit, cpu: UInt32.max)
            let some = min(2, lostAtExit)
            recorder.lostByProbe([(probe: "kfree_skb", lost: lostAtExit - some), (probe: "netif_rx", lost: some)])
        }
        recorder.end()
        sink.flush()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// What the live trace prints for `events`: the same formatter, with this
    /// machine's symbols and names, and the loss markers carried by the events.
    static func direct(_ events: [TraceEvent], format: OutputFormat) -> [UInt8] {
        let context = FormatContext(dropReasons: DropReasons(names: reasonNames), symbols: KernelSymbols(symbols: FuzzEvents.symbols),
                                    clock: FuzzRun.clock)
        context.owners = FuzzEvents.socketOwners()
        let formatter = makeFormatter(format, context: context)
        return FuzzRun.render { b in
            formatter.start(into: &b)
            if format == .text { formatter.header(into: &b) }
            for e in events {
                if e.header.lost_before > 0 { formatter.lost(count: UInt64(e.header.lost_before), cpu: e.header.cpu, into: &b) }
                formatter.event(e, into: &b)
            }
        }
    }

    static func replay(_ path: String, _ configure: (inout TracerOptions) -> Void = { _ in }) throws -> (out: [UInt8], summary: Replay.Summary) {
        let out = tempPath("out")
        defer { unlink(out) }
        var o = TracerOptions()
        configure(&o)
        o.outputPath = out
        let summary = try Replay(path: path, options: o).run()
        return (Array(try Data(contentsOf: URL(fileURLWithPath: out))), summary)
    }

    @Test("replay prints byte for byte what the live trace printed, text and JSON, stacks, drops and losses included",
          arguments: [OutputFormat.text, .json])
    func replayEqualsLiveOutput(_ format: OutputFormat) throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        let events = Self.events(3000)
        #expect(events.contains { $0.stack != nil } && events.contains { $0.isDrop } && events.contains { $0.header.lost_before > 0 })
        #expect(events.contains { FuzzEvents.owners[$0.raw.sock_ino] != nil && $0.raw.sock_uid != ST_SOCK_KERNEL })
        try Self.record(events, to: path)
        let (out, summary) = try Self.replay(path) { $0.format = format }
        let expected = Self.direct(events, format: format)
        let outLines = String(decoding: out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = String(decoding: expected, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let firstDiff = Array(zip(outLines, expectedLines)).firstIndex { $0 != $1 }
        #expect(out == expected, "line \(firstDiff ?? -1) of \(outLines.count)/\(expectedLines.count):\n replay: \(firstDiff.map { outLines[$0] } ?? "")\n live:   \(firstDiff.map { expectedLines[$0] } ?? "")")
        #expect(summary.events == 3000 && summary.complete)
        #expect(summary.recorded?.events == 3000)
        #expect(summary.lost == events.reduce(0) { $0 + UInt64($1.header.lost_before) })
        #expect(summary.damage == RecordReader.Damage())
    }

    @Test("symbols, namespace names and drop reasons come from the recording, not from the machine that replays")
    func namesTravelWithTheRecording() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        var drop = Fixtures.udp()
        drop.probe = UInt16(ST_PROBE_KFREE_SKB.rawValue)
        drop.flags |= Fixtures.DROP | Fixtures.LOC
        drop.drop_reason = 1
        drop.location = FuzzEvents.symbol(FuzzEvents.symbols[3].1) + 0x2a
        drop.netns = FuzzEvents.netnsPool[1]
        try Self.record([TraceEvent(raw: drop, stack: [drop.location, FuzzEvents.symbols[4].0 + 8])], to: path, lostAtExit: 7)
        var seen: [String] = []
        let reader = try RecordReader(path: path)
        try reader.forEach { item in
            switch item {
            case .dropReason(let code, let name) where code == 1: seen.append("reason \(name)")
            case .symbol(_, let name): seen.append("symbol \(name)")
            case .netns(let inode, let name): seen.append("netns \(inode) \(name)")
            case .lost(let count, _): seen.append("lost \(count)")
            case .lostByProbe(let probe, let count): seen.append("\(probe) \(count)")
            case .end(let events, let lost): seen.append("end \(events) \(lost)")
            case .event: seen.append("event")
            default: break
            }
            return true
        }
        #expect(seen == ["reason \(FuzzEvents.reasonNames[0])", "netns \(FuzzEvents.netnsPool[1]) ns-b",
                         "symbol \(FuzzEvents.symbols[3].1)+0x2a", "symbol \(FuzzEvents.symbols[4].1)+0x8", "event",
                         "lost 7", "kfree_skb 5", "netif_rx 2", "end 1 7"])
        let (out, summary) = try Self.replay(path) { $0.format = .json }
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains("\"drop_reason\":\"\(FuzzEvents.reasonNames[0])\""), "\(text)")
        #expect(text.contains("\"location\":\"\(FuzzEvents.symbols[3].1)+0x2a\""), "\(text)")
        #expect(text.contains("\"stack\":[\"\(FuzzEvents.symbols[3].1)+0x2a\",\"\(FuzzEvents.symbols[4].1)+0x8\"]"), "\(text)")
        #expect(text.contains("\"type\":\"lost\""), "\(text)")
        #expect(summary.lost == 7)
        #expect(summary.line.contains(", 7 lost while recording (kfree_skb 5, netif_rx 2)"), "\(summary.line)")
    }

    @Test("a recording cut off anywhere replays every whole record before the cut and says so")
    func truncatedRecordings() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        let events = Self.events(40, seed: 77)
        let full = try Self.record(events, to: path)
        // Offsets where each event record ends: a cut there loses nothing before it.
        var cut = full.count
        var r = FuzzRandom(seed: 99)
        for _ in 0..<200 {
            cut = RecordFormat.headerSize + r.below(full.count - RecordFormat.headerSize)
            try Data(full[..<cut]).write(to: URL(fileURLWithPath: path))
            let (_, summary) = try Self.replay(path) { $0.format = .json }
            #expect(summary.events <= 40 && summary.recorded == nil)
            let reader = try RecordReader(path: path)
            var whole = 0
            try reader.forEach { if case .event = $0 { whole += 1 }; return true }
            #expect(UInt64(whole) == summary.events)
            #expect(reader.damage.truncatedBytes < 65_536)
        }
        // Exactly at the end of an event: no damage, that event replayed.
        let headerOnly = Array(full[..<RecordFormat.headerSize])
        try Data(headerOnly).write(to: URL(fileURLWithPath: path))
        let (out, summary) = try Self.replay(path) { $0.format = .json }
        #expect(out == Array(JSONSchema.line.utf8) && summary.events == 0 && summary.damage == RecordReader.Damage())
        #expect(summary.line.contains("no end record"))
    }

    @Test("garbage after a valid header: no crash, whatever is whole is read, the rest counted")
    func fuzzCorruptRecordings() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        let full = try Self.record(Self.events(30, seed: 5), to: path)
        let runs = Int(ProcessInfo.processInfo.environment["SKBTRACER_FUZZ_RECORDINGS"] ?? "") ?? 1500
        var r = FuzzRandom(seed: 0xBAD_F11E)
        for i in 0..<runs {
            var bytes = full
            for _ in 0..<(1 + r.below(8)) {
                let at = RecordFormat.headerSize + r.below(bytes.count - RecordFormat.headerSize)
                switch r.below(3) {
                case 0: bytes[at] = r.byte()
                case 1: bytes.insert(contentsOf: (0..<r.below(16)).map { _ in r.byte() }, at: at)
                default: bytes.removeSubrange(at..<min(bytes.count, at + r.below(300)))
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            for format in [OutputFormat.text, .json] {
                let (out, summary) = try Self.replay(path) { o in
                    o.format = format
                    o.view = i % 3 == 0 ? .timeline : i % 3 == 1 ? .drops : .events
                }
                #expect(summary.events <= UInt64(bytes.count / FlatEvent.plainSize))
                if format == .json { #expect(FuzzCheck.json(out) == nil, "input \(i)") }
            }
        }
    }

    /// Fuzz finding: a drop-reason name changed in the file (a quote, a control
    /// byte, invalid UTF-8) went into the JSON unescaped, as the kernel's own
    /// names never need escaping. Names from a file are made safe when read.
    @Test("names in a recording cannot break the JSON or put control bytes on a terminal")
    func hostileNamesAreMadeSafe() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        var b = ByteBuffer()
        RecordFormat.appendHeader(.init(realtimeOffsetNs: 0, utcOffsetSeconds: 0, hostNetns: 0, startNs: 0), to: &b)
        RecordFormat.appendRecord(.dropReason, 2, text: "NO_\"SOCKET\u{1b}[2J\\", to: &b)
        var drop = Fixtures.udp()
        drop.probe = UInt16(ST_PROBE_KFREE_SKB.rawValue)
        drop.flags |= Fixtures.DROP | Fixtures.LOC
        drop.drop_reason = 2
        drop.location = 0xffff_ffff_8100_0000
        RecordFormat.appendRecord(.symbol, 0, [drop.location], text: "evil\"},{\"x\":\n", to: &b)
        RecordFormat.appendEvent(TraceEvent(raw: drop), to: &b)
        var bytes = b.bytes
        // Invalid UTF-8 inside the name, as a flipped byte would leave it.
        bytes[RecordFormat.headerSize + 8] = 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let json = try Self.replay(path) { $0.format = .json }.out
        #expect(FuzzCheck.json(json) == nil, "\(String(decoding: json, as: UTF8.self))")
        let line = String(decoding: json, as: UTF8.self)
        #expect(line.contains("\"drop_reason\":\"?O_?SOCKET?[2J?\"") && line.contains("\"location\":\"evil?},{?x?:?\""), "\(line)")
        let text = try Self.replay(path) { $0.format = .text }.out
        #expect(!text.contains(0x1b) && text.filter { $0 == 0x0a }.count == 2, "\(String(decoding: text, as: UTF8.self))")
    }

    /// A recording made by hand: header, then `body`.
    static func handMade(_ path: String, _ body: (inout ByteBuffer) -> Void) throws {
        var b = ByteBuffer()
        RecordFormat.appendHeader(.init(realtimeOffsetNs: 0, utcOffsetSeconds: 0, hostNetns: 0, startNs: 0), to: &b)
        body(&b)
        try Data(b.bytes).write(to: URL(fileURLWithPath: path))
    }

    static func event(skb: UInt64, ts: UInt64, probe: st_probe_id = ST_PROBE_NETIF_RECEIVE_SKB, saddr: [UInt8] = Fixtures.v4_198_18_10_2,
                      lostBefore: UInt32 = 0) -> TraceEvent {
        var e = Fixtures.udp()
        e.skb = skb
        e.ts_ns = ts
        e.probe = UInt16(probe.rawValue)
        e.lost_before = lostBefore
        Fixtures.set(&e.saddr, saddr)
        return TraceEvent(raw: e)
    }

    /// Review finding: --drop's end added the interval to the last recorded time,
    /// and a file can hold any time: a trap on overflow. Times going backwards too.
    @Test("recorded times near the end of UInt64 or going backwards cannot crash any view")
    func hostileTimes() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Self.handMade(path) { b in
            for (i, ts) in [UInt64.max - 5, 3, UInt64.max - 100_000_000, 0, UInt64.max].enumerated() {
                var e = Self.event(skb: 0xffff_8881_0000_0100 + UInt64(i) * 0x100, ts: ts, probe: ST_PROBE_KFREE_SKB).raw
                e.flags |= Fixtures.DROP
                e.drop_reason = 2
                RecordFormat.appendEvent(TraceEvent(raw: e), to: &b)
            }
        }
        for view in [TraceView.drops, .timeline, .events] {
            for format in [OutputFormat.text, .json] {
                let (out, summary) = try Self.replay(path) { $0.view = view; $0.format = format; $0.diagnose = true }
                #expect(summary.events == 5, "\(view) \(format)")
                if format == .json { #expect(FuzzCheck.json(out) == nil) }
            }
        }
    }

    /// Review finding: losses carried by events the filter dropped vanished.
    @Test("losses are reported whatever the replay filter keeps")
    func lossesSurviveFilters() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Self.handMade(path) { b in
            RecordFormat.appendEvent(Self.event(skb: 0xffff_8881_0000_0100, ts: 1_000, lostBefore: 5), to: &b)
            RecordFormat.appendRecord(.lost, UInt32.max, [2], to: &b)
        }
        let (out, summary) = try Self.replay(path) { o in
            o.format = .json
            o.filter = try! TraceFilter.parse({ var f = TraceFilter.Options(); f.addr = "203.0.113.9"; return f }())
        }
        let text = String(decoding: out, as: UTF8.self)
        #expect(summary.events == 0 && summary.lost == 7, "\(summary.line)")
        // The schema object and one loss marker.
        #expect(text.split(separator: "\n").count == 3 && !text.contains("\"type\":\"event\""), "\(text)")
    }

    @Test("replay --track keeps an skb's hops after NAT rewrote the filtered address; --no-track drops them")
    func replayFollowsMatchedSkbs() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        let skb: UInt64 = 0xffff_8881_0000_0200
        try Self.handMade(path) { b in
            RecordFormat.appendEvent(Self.event(skb: skb, ts: 1_000, probe: ST_PROBE_NET_DEV_QUEUE), to: &b)
            // MASQUERADE: the source is now 10.0.0.1.
            RecordFormat.appendEvent(Self.event(skb: skb, ts: 2_000, probe: ST_PROBE_NET_DEV_XMIT, saddr: Fixtures.v4_10_0_0_1), to: &b)
            RecordFormat.appendEvent(Self.event(skb: skb, ts: 3_000, probe: ST_PROBE_CONSUME_SKB, saddr: Fixtures.v4_10_0_0_1), to: &b)
            // The address is reused by another packet that does not match.
            RecordFormat.appendEvent(Self.event(skb: skb, ts: 4_000, probe: ST_PROBE_NET_DEV_QUEUE, saddr: Fixtures.v4_10_0_0_2), to: &b)
        }
        let filter = try TraceFilter.parse({ var f = TraceFilter.Options(); f.saddr = "198.18.10.2"; return f }())
        for (track, expected) in [(true, 3), (false, 1)] {
            let replay = try Replay(path: path, options: { var o = TracerOptions(); o.track = track; o.outputPath = "/dev/null"; return o }())
            replay.filter = filter
            var probes: [String] = []
            replay.onEvent = { probes.append($0.probeName) }
            let summary = try replay.run()
            #expect(summary.events == UInt64(expected), "track \(track): \(probes)")
        }
    }

    @Test("probes are matched by name: a recording from a build that numbers them differently prints the right names")
    func probesByName() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Self.handMade(path) { b in
            RecordFormat.appendRecord(.probe, 200, text: "kfree_skb", to: &b)
            RecordFormat.appendRecord(.probe, 201, text: "a_probe_of_the_future", to: &b)
            var known = Self.event(skb: 1, ts: 1_000).raw
            known.probe = 200
            var unknown = Self.event(skb: 2, ts: 2_000).raw
            unknown.probe = 201
            RecordFormat.appendEvent(TraceEvent(raw: known), to: &b)
            RecordFormat.appendEvent(TraceEvent(raw: unknown), to: &b)
        }
        let (out, summary) = try Self.replay(path) { $0.format = .json }
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n").dropFirst() // the schema object
        #expect(lines.count == 2 && lines[1].contains("\"probe\":\"kfree_skb\"") && lines[2].contains("\"probe\":\"probe-65535\""),
                "\(lines)")
        #expect(summary.unknownProbes == 1 && summary.line.contains("1 events of probes this skbtracer does not know"))
    }

    @Test("replay refuses to write its output over the recording")
    func outputIsNotTheInput() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Self.record(Self.events(10, seed: 8), to: path)
        var o = TracerOptions()
        o.outputPath = path
        #expect(throws: RuntimeError.self) { try Replay(path: path, options: o) }
        let r = try RecordReader(path: path)
        var n = 0
        try r.forEach { if case .event = $0 { n += 1 }; return true }
        #expect(n == 10, "the recording was kept")
    }

    /// Format 4: the header gives the record header's size; the old per-layout
    /// sizes are zero (sections say their own sizes), and the reader takes it.
    @Test func formatFourHeader() throws {
        var b = ByteBuffer()
        RecordFormat.appendHeader(.init(realtimeOffsetNs: 1, utcOffsetSeconds: 2, hostNetns: 3, startNs: 4), to: &b)
        let h = b.bytes
        func u16(_ o: Int) -> UInt16 { UInt16(h[o]) | UInt16(h[o + 1]) << 8 }
        #expect(h.count == 64 && Array(h[0..<8]) == Array("SKBTRACE".utf8))
        #expect(u16(8) == 4 && RecordFormat.version == 4 && u16(10) == 64 && u16(12) == 32)
        #expect(u16(14) == 0 && u16(48) == 0 && u16(50) == 0)
        let path = Self.tempPath()
        defer { unlink(path) }
        try Data(h).write(to: URL(fileURLWithPath: path))
        #expect(try RecordReader(path: path).header == RecordFormat.Header(realtimeOffsetNs: 1, utcOffsetSeconds: 2, hostNetns: 3, startNs: 4))
    }

    /// Version-1 files (before route and conntrack records) have zeros there, and still replay.
    @Test func headerFromBeforeRouteAndConntrack() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Data(Self.header(version: 1, eventSize: 168, stackSize: 432, routeSize: 0, ctSize: 0)).write(to: URL(fileURLWithPath: path))
        _ = try RecordReader(path: path)
    }

    /// Versions 1 and 2 have 168-byte events (no socket), version 3 176-byte ones
    /// (the socket at 168), each followed by a route result, a conntrack entry
    /// and/or a stack, told apart by size: their records, every layout, are read
    /// through LegacyEvent and replay as the same events recorded now do.
    @Test(arguments: [UInt16(2), 3])
    func legacyEventsAreWidened(version: UInt16) throws {
        let path = Self.tempPath(), legacyPath = Self.tempPath("v\(version)")
        defer { unlink(path); unlink(legacyPath) }
        let eventSize = version < 3 ? 168 : 176
        let events = Self.events(2000, seed: 21).map { e -> TraceEvent in
            var e = e
            if version < 3 { e.socket = nil }
            return e
        }
        #expect(events.contains { $0.stack != nil } && events.contains { $0.route != nil } && events.contains { $0.ct != nil })
        #expect(events.contains { $0.ct != nil && $0.stack != nil } && events.contains { $0.isDrop })
        #expect(version < 3 || events.contains { $0.socket != nil })
        let bytes = try Self.record(events, to: path)
        // The same file as a build of that version wrote it: its header, the same
        // file-only records, each event in the flat layout.
        var legacy = Self.header(version: version, eventSize: UInt16(eventSize), stackSize: UInt16(eventSize + 264),
                                 routeSize: UInt16(eventSize + 96), ctSize: UInt16(eventSize + 88))
        legacy.replaceSubrange(20..<48, with: bytes[20..<48]) // host netns, clocks and start as recorded
        var at = RecordFormat.headerSize
        var flattened = 0
        while at + 4 <= bytes.count {
            let kind = UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
            let size = Int(UInt16(bytes[at + 2]) | UInt16(bytes[at + 3]) << 8)
            let record = Array(bytes[at..<at + size])
            if kind == UInt16(ST_RECORD_EVENT.rawValue) {
                legacy += Self.legacyRecord(try Fixtures.decode(record), eventSize: eventSize)
                flattened += 1
            } else {
                legacy += record
            }
            at += size
        }
        #expect(flattened == events.count)
        try Data(legacy).write(to: URL(fileURLWithPath: legacyPath))
        for format in [OutputFormat.text, .json] {
            let (out, summary) = try Self.replay(legacyPath) { $0.format = format }
            #expect(summary.events == UInt64(events.count) && summary.damage == RecordReader.Damage())
            let expected = try Self.replay(path) { $0.format = format }.out
            let a = String(decoding: out, as: UTF8.self).split(separator: "\n"), b = String(decoding: expected, as: UTF8.self).split(separator: "\n")
            let diff = Array(zip(a, b)).firstIndex { $0 != $1 }
            #expect(out == expected, "\(format) line \(diff ?? -1) of \(a.count)/\(b.count): \(diff.map { a[$0] } ?? "")\n vs \(diff.map { b[$0] } ?? "")")
        }
    }

    /// An event as builds of formats 1-3 wrote it, laid out by hand: struct
    /// st_event (168 bytes, 176 with the socket), then the route result (96), or
    /// the conntrack entry (88) and/or the stack (nr_frames, pad, 32 frames).
    static func legacyRecord(_ e: TraceEvent, eventSize: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: eventSize)
        func put<T>(_ v: T, at o: Int) {
            withUnsafeBytes(of: v) { b.replaceSubrange(o..<o + $0.count, with: $0) }
        }
        let p = e.packet.raw, c = e.context
        var flags = p.flags & 0x0F                               // MAC, L3, L4, FROM_SOCK
        if e.dropReason != nil { flags |= 1 << 4 }               // DROP
        if e.location != 0 && !e.isFunction { flags |= 1 << 5 }  // LOCATION
        if e.stack != nil { flags |= 1 << 6 }                    // STACK
        if e.isTracked { flags |= 1 << 7 }                       // TRACKED
        put(UInt16(ST_RECORD_EVENT.rawValue), at: 0)
        put(e.header.probe, at: 4); put(p.l3_proto, at: 6)
        put(e.header.cpu, at: 8); put(e.header.lost_before, at: 12)
        put(e.header.ts_ns, at: 16); put(e.header.skb, at: 24); put(e.location, at: 32)
        put(c.pid, at: 40); put(c.tid, at: 44); put(c.netns, at: 48); put(c.ifindex, at: 52)
        put(c.mark, at: 56); put(c.skb_len, at: 60); put(e.dropReason ?? 0, at: 64)
        put(p.ip_len, at: 68); put(p.sport, at: 70); put(p.dport, at: 72); put(p.icmp_id, at: 74); put(p.icmp_seq, at: 76)
        put(p.l4_proto, at: 78); put(p.tcp_flags, at: 79); put(p.icmp_type, at: 80); put(p.icmp_code, at: 81)
        put(c.pkt_type, at: 82); put(flags, at: 83); put(p.ttl, at: 84); put(e.header.match, at: 85)
        put(p.dmac, at: 86); put(p.smac, at: 92); put(p.saddr, at: 98); put(p.daddr, at: 114)
        put(c.ifname, at: 130); put(c.comm, at: 146); put(p.ip_id, at: 162); put(p.tcp_seq, at: 164)
        if eventSize == 176, let s = e.socket { put(s.inode, at: 168); put(s.uid, at: 172) }
        if let route = e.route { withUnsafeBytes(of: route) { b += $0 } }
        if let ct = e.ct { withUnsafeBytes(of: ct) { b += $0 } }
        if let stack = e.stack {
            var tail = [UInt8](repeating: 0, count: 8 + 8 * 32)
            withUnsafeBytes(of: UInt32(stack.count)) { tail.replaceSubrange(0..<4, with: $0) }
            for (i, ip) in stack.prefix(32).enumerated() { withUnsafeBytes(of: ip) { tail.replaceSubrange(8 + 8 * i..<16 + 8 * i, with: $0) } }
            b += tail
        }
        put(UInt16(b.count), at: 2)
        return b
    }

    @Test("files that are not recordings of this version fail with one clear error", arguments: [
        ("empty", [UInt8](), "is not a skbtracer recording"),
        ("text", Array("TIME NETWORK_NS CPU INTERFACE\n".utf8) + [UInt8](repeating: 0x20, count: 64), "is not a skbtracer recording"),
        ("version", RecordTests.header(version: 9), "version 9 recording"),
        ("byte order", RecordTests.header(byteOrder: 0x0403_0201), "other byte order"),
        ("record header size", RecordTests.header(eventSize: 40), "another layout"),
        ("version-3 event size", RecordTests.header(version: 3, eventSize: 168, stackSize: 168 + 264), "another layout"),
        ("version-2 event size", RecordTests.header(version: 2, eventSize: 176, stackSize: 176 + 264), "another layout"),
        ("version-3 stack event size", RecordTests.header(version: 3, eventSize: 176, stackSize: 176 + 256), "another layout"),
        ("version-3 route event size", RecordTests.header(version: 3, eventSize: 176, stackSize: 176 + 264, routeSize: 200), "another layout"),
        ("version-3 conntrack event size", RecordTests.header(version: 3, eventSize: 176, stackSize: 176 + 264, ctSize: 300), "another layout"),
    ])
    func badHeaders(_ name: String, _ bytes: [UInt8], _ message: String) throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try RecordReader(path: path)
            Issue.record("\(name): read as a recording")
        } catch let e as RuntimeError {
            #expect(e.description.contains(message), "\(e)")
            #expect(!e.description.contains("\n"))
        }
    }

    static func header(version: UInt16 = RecordFormat.version, byteOrder: UInt32 = RecordFormat.byteOrderMark,
                       eventSize: UInt16 = UInt16(MemoryLayout<st_record>.size),
                       stackSize: UInt16 = 0, routeSize: UInt16 = 0, ctSize: UInt16 = 0) -> [UInt8] {
        var b = ByteBuffer()
        RecordFormat.appendHeader(.init(realtimeOffsetNs: 0, utcOffsetSeconds: 0, hostNetns: 0, startNs: 0), to: &b)
        var bytes = b.bytes
        withUnsafeBytes(of: version) { bytes.replaceSubrange(8..<10, with: $0) }
        withUnsafeBytes(of: eventSize) { bytes.replaceSubrange(12..<14, with: $0) }
        withUnsafeBytes(of: stackSize) { bytes.replaceSubrange(14..<16, with: $0) }
        withUnsafeBytes(of: byteOrder) { bytes.replaceSubrange(16..<20, with: $0) }
        withUnsafeBytes(of: routeSize) { bytes.replaceSubrange(48..<50, with: $0) }
        withUnsafeBytes(of: ctSize) { bytes.replaceSubrange(50..<52, with: $0) }
        return bytes
    }

    @Test("replay runs from the command line; a missing or foreign file is one line and exit status 1")
    func replayCommandLine() throws {
        let path = Self.tempPath()
        defer { unlink(path) }
        try Self.record(Self.events(50, seed: 3), to: path)
        let ok = try CLI.run(["replay", path, "--json", "-c", "5"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.split(separator: "\n").filter { $0.hasPrefix("{\"type\":\"event\"") }.count == 5, "\(ok.stdout)")
        #expect(ok.stderr.contains("replayed 5 events"), "\(ok.stderr)")

        // "-": the recording on stdin.
        let exe = try #require(CLI.binary).path
        let piped = try Command.run(["sh", "-c", "cat '\(path)' | '\(exe)' replay - --json -c 3"])
        #expect(piped.ok && piped.stdout.split(separator: "\n").count == 4 && piped.stdout.hasPrefix(JSONSchema.line), "\(piped.stderr)")

        let missing = try CLI.run(["replay", path + ".missing"])
        #expect(missing.status == 1 && missing.stderrLines.count == 1 && missing.stderr.contains(".missing"), "\(missing.stderr)")
        try Data("not a recording at all, but long enough to have a header of sixty-four bytes".utf8).write(to: URL(fileURLWithPath: path))
        let foreign = try CLI.run(["replay", path])
        #expect(foreign.status == 1 && foreign.stderrLines.count == 1 && foreign.stderr.contains("not a skbtracer recording"),
                "\(foreign.stderr)")
    }
}

/// The user-space filters of replay mean what the BPF ones mean.
@Suite("Event matcher")
struct EventMatcherTests {
    static func filter(_ o: (inout TraceFilter.Options) -> Void) throws -> TraceFilter {
        var opts = TraceFilter.Options()
        o(&opts)
        return try TraceFilter.parse(opts)
    }

    /// A VXLAN packet (UDP to 4789 between 10.0.0.1 and 10.0.0.2) carrying the
    /// ICMP echo request 198.18.10.2 -> 198.18.10.3: filters match it by either
    /// packet, each whole (BPF's inner_matches()).
    @Test func tunnelPacketsMatchByTheirInnerPacket() throws {
        var outer = Fixtures.udp()
        Fixtures.set(&outer.packet.saddr, Fixtures.v4_10_0_0_1)
        Fixtures.set(&outer.packet.daddr, Fixtures.v4_10_0_0_2)
        outer.packet.dport = 4789
        var e = outer.event
        e.tunnel = Tunnel(kind: .vxlan, vni: 42, inner: TraceEvent(raw: Fixtures.icmpEchoRequest()).packet)
        let plain = outer.event
        let cases: [(TraceFilter, tunnel: Bool, plain: Bool)] = [
            (try Self.filter { $0.addr = "198.18.10.3" }, true, false),
            (try Self.filter { $0.addr = "198.18.10.3"; $0.proto = "icmp" }, true, false),
            (try Self.filter { $0.addr = "10.0.0.2" }, true, true),
            (try Self.filter { $0.port = "4789" }, true, true),
            // Each packet whole: the inner address with the outer protocol is neither.
            (try Self.filter { $0.addr = "198.18.10.3"; $0.proto = "udp" }, false, false),
            (try Self.filter { $0.icmpID = "7" }, true, false),
            (try Self.filter { $0.addr = "198.18.10.9" }, false, false),
        ]
        for c in cases {
            #expect(c.0.matches(e) == c.tunnel, "\(c.0) on the tunnel packet")
            #expect(c.0.matches(plain) == c.plain, "\(c.0) without the tunnel section")
        }
    }

    @Test func filtersMatchAsInBPF() throws {
        let icmp = TraceEvent(raw: Fixtures.icmpEchoRequest())
        let syn6 = TraceEvent(raw: Fixtures.ipv6TCPSyn())
        let udp = TraceEvent(raw: Fixtures.udp())
        let cases: [(TraceFilter, [Bool])] = [
            (TraceFilter(), [true, true, true]),
            (try Self.filter { $0.proto = "icmp" }, [true, false, false]),
            (try Self.filter { $0.proto = "tcp" }, [false, true, false]),
            (try Self.filter { $0.proto = "ip6" }, [false, true, false]),
            (try Self.filter { $0.addr = "198.18.10.3" }, [true, false, udp.daddr?.description == "198.18.10.3" || udp.saddr?.description == "198.18.10.3"]),
            (try Self.filter { $0.saddr = "2001:db8::1" }, [false, syn6.saddr?.description == "2001:db8::1", false]),
            (try Self.filter { $0.icmpID = "7" }, [true, false, false]),
            (try Self.filter { $0.tcpFlags = "S" }, [false, true, false]),
            (try Self.filter { $0.port = "\(udp.packet.raw.dport)" }, [false, syn6.packet.raw.sport == udp.packet.raw.dport || syn6.packet.raw.dport == udp.packet.raw.dport, true]),
            (try Self.filter { $0.ifname = "ceth0" }, [icmp.ifname == "ceth0", syn6.ifname == "ceth0", udp.ifname == "ceth0"]),
            (try Self.filter { $0.mark = "0x1/0x1" }, [icmp.context.mark & 1 == 1, syn6.context.mark & 1 == 1, udp.context.mark & 1 == 1]),
        ]
        for (f, expected) in cases {
            #expect([icmp, syn6, udp].map { f.matches($0) } == expected, "\(f)")
        }
        // --owner-pid: the owner as the recording named it; a kernel socket or an
        // unknown one never matches.
        let owners = SocketOwners()
        owners.add(SocketOwner(pid: 4242, comm: "nc"), inode: 77)
        var owned = udp, kernel = udp
        owned.raw.sock_ino = 77
        kernel.raw.sock_ino = 77
        kernel.raw.sock_uid = ST_SOCK_KERNEL
        let byOwner = try Self.filter { $0.ownerPid = "4242" }
        #expect(byOwner.matches(owned, owners: owners) && !byOwner.matches(udp, owners: owners))
        #expect(!byOwner.matches(kernel, owners: owners) && !byOwner.matches(owned))
        #expect(!(try Self.filter { $0.ownerPid = "4243" }).matches(owned, owners: owners))
        #expect(try Self.filter { $0.addr = "198.18.10.2" }.matches(icmp))
        #expect(try !Self.filter { $0.daddr = "198.18.10.2" }.matches(icmp))
    }

    /// --pkt-len is the printed IP length: inclusive bounds, and never an event
    /// without one (ARP, or a tuple taken from the socket).
    @Test func pktLenMatchesTheIPLength() throws {
        var icmp = Fixtures.icmpEchoRequest()
        let len = icmp.ip_len
        for (range, expected) in [("\(len)", true), ("\(len - 1)", false), ("\(len)-\(len + 10)", true),
                                  ("0-\(len - 1)", false), ("\(len + 1)-65535", false), ("0-65535", true)] {
            #expect(try Self.filter { $0.pktLen = range }.matches(TraceEvent(raw: icmp)) == expected, "\(range)")
        }
        icmp.flags |= UInt8(ST_PKT_FROM_SOCK.rawValue)
        #expect(try !Self.filter { $0.pktLen = "0-65535" }.matches(TraceEvent(raw: icmp)))
        var arp = Fixtures.icmpEchoRequest()
        arp.l3_proto = 0x0806
        #expect(try !Self.filter { $0.pktLen = "0-65535" }.matches(TraceEvent(raw: arp)))
    }
}
