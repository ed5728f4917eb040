import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import SkbTracerSystem
import Testing

/// `--write`: the payload section, and the pcap-ng blocks PcapngWriter makes of
/// events (read back here block by block; the kernel tests read them with tshark).
@Suite struct PcapngTests {
    struct BadBlock: Error { let offset: Int }

    static func event(ifname: String, ifindex: UInt32, netns: UInt32 = JourneyTests.nsHost, probe: st_probe_id,
                      bytes: [UInt8]?) -> TraceEvent {
        let req = JourneyTests.echo(type: 8, from: Fixtures.v4_198_18_10_2, to: Fixtures.v4_198_18_10_3)
        var e = JourneyTests.hop(req, probe, ns: netns, ifname: ifname, ts: 1_000_000)
        e.context.ifindex = ifindex
        e.payload = bytes.map { Payload(link: .ethernet, wireLength: UInt32($0.count + 100), bytes: $0) }
        return e
    }

    @Test func payloadSectionRoundTrips() throws {
        let bytes = (0..<61).map { UInt8($0) }
        let e = Self.event(ifname: "eth0", ifindex: 2, probe: ST_PROBE_NET_DEV_QUEUE, bytes: bytes)
        let record = EventRecord.bytes(e)
        #expect(record.count % 8 == 0)
        let back = try Fixtures.decode(record)
        #expect(back.payload == e.payload)
        // A caplen past the section's end is a malformed section.
        var bad = record
        let at = record.count - ((16 + 61 + 7) & ~7)
        bad[at + 4] = 0xff; bad[at + 5] = 0xff
        #expect(throws: TraceEvent.DecodeError.self) { try Fixtures.decode(bad) }
    }

    /// pcap-ng blocks: (type, body) in file order, each length checked.
    static func blocks(_ data: [UInt8]) throws -> [(type: UInt32, body: [UInt8])] {
        var out: [(UInt32, [UInt8])] = []
        var at = 0
        func u32(_ o: Int) -> UInt32 { data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        while at < data.count {
            let type = u32(at), length = Int(u32(at + 4))
            guard length % 4 == 0, length >= 12, at + length <= data.count, Int(u32(at + length - 4)) == length else {
                throw BadBlock(offset: at)
            }
            out.append((type, Array(data[(at + 8)..<(at + length - 4)])))
            at += length
        }
        return out
    }

    /// A writer with the test names and a 256-byte snap length.
    static func writer(_ sink: OutputSink) -> PcapngWriter {
        PcapngWriter(sink: sink, names: JourneyTests.names(), context: Fixtures.context(), snaplen: 256,
                     tracker: JourneyTracker(names: JourneyTests.names()))
    }

    @Test func blocksAreWhatPcapngSays() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-pcapng-\(getpid()).pcapng").path
        defer { unlink(path) }
        do {
            let sink = try OutputSink(path: path)
            let w = Self.writer(sink)
            w.begin()
            w.consume(Self.event(ifname: "eth0", ifindex: 2, probe: ST_PROBE_NETIF_RECEIVE_SKB, bytes: Array(repeating: 0xab, count: 42)))
            w.consume(Self.event(ifname: "eth0", ifindex: 2, probe: ST_PROBE_NET_DEV_QUEUE, bytes: Array(repeating: 0xcd, count: 43)))
            w.consume(Self.event(ifname: "h1", ifindex: 5, probe: ST_PROBE_KFREE_SKB, bytes: [1, 2, 3]))
            w.consume(Self.event(ifname: "h1", ifindex: 5, probe: ST_PROBE_KFREE_SKB, bytes: nil))
            w.end()
            #expect(w.emitted == 3 && w.withoutBytes == 1)
            sink.flush()
        }
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let blocks = try Self.blocks(data)
        #expect(blocks.map(\.type) == [0x0A0D_0D0A, 1, 6, 6, 1, 6], "one interface block per interface, before its first packet")
        let epb = blocks[2].body
        func u32(_ b: [UInt8], _ o: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        #expect(u32(epb, 0) == 0 && u32(epb, 12) == 42 && u32(epb, 16) == 142, "interface 0, caplen 42, original length")
        let text = String(decoding: epb, as: UTF8.self)
        #expect(text.contains("probe=netif_receive_skb netns=host if=eth0 skb=0xffff88810000a000 journey=1"), "\(text)")
        #expect(u32(blocks[5].body, 0) == 1, "the second interface")
        let idb = String(decoding: blocks[1].body, as: UTF8.self)
        #expect(idb.contains("host:eth0"))
        // Direction: inbound for netif_receive_skb (link-in), outbound for net_dev_queue.
        #expect(PcapngWriter.direction(Self.event(ifname: "", ifindex: 0, probe: ST_PROBE_NETIF_RECEIVE_SKB, bytes: nil)) == 1)
        #expect(PcapngWriter.direction(Self.event(ifname: "", ifindex: 0, probe: ST_PROBE_NET_DEV_QUEUE, bytes: nil)) == 2)
    }

    @Test("a time past Int64 (a damaged recording's) is written, as 1970 or wrapped, never a trap")
    func anyTime() throws {
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        do {
            let sink = try OutputSink(path: path)
            let w = Self.writer(sink)
            w.begin()
            for ts: UInt64 in [UInt64.max, UInt64(Int64.max), UInt64(Int64.max) + 1, 0] {
                var e = Self.event(ifname: "eth0", ifindex: 2, probe: ST_PROBE_KFREE_SKB, bytes: [1, 2, 3])
                e.header.ts_ns = ts
                w.consume(e)
            }
            w.end()
            #expect(w.emitted == 4)
            sink.flush()
        }
        let blocks = try Self.blocks([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(blocks.filter { $0.type == 6 }.count == 4)
    }

    // MARK: Journey numbers

    /// The packets' (index, comment) in file order: each event's index is its bytes.
    static func packets(_ data: [UInt8]) throws -> [(index: Int, comment: String)] {
        func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt16.self) }) }
        func u32(_ b: [UInt8], _ o: Int) -> Int { Int(b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) }) }
        return try blocks(data).filter { $0.type == 6 }.map { epb in
            let body = epb.body
            let caplen = u32(body, 12)
            var at = 20 + (caplen + 3) & ~3
            var comment = ""
            while at + 4 <= body.count, u16(body, at) != 0 {
                let code = u16(body, at), length = u16(body, at + 2)
                if code == 1 { comment = String(decoding: body[(at + 4)..<(at + 4 + length)], as: UTF8.self) }
                at += 4 + (length + 3) & ~3
            }
            return (u32(body, 20), comment)
        }
    }

    /// `journey=N` of a comment, nil without one.
    static func journey(_ comment: String) -> Int? {
        comment.split(separator: " ").first { $0.hasPrefix("journey=") }.flatMap { Int($0.dropFirst(8)) }
    }

    /// Each event's journey as `--timeline --json` prints it, by `key`: a journey's
    /// hops and its copies' hops.
    static func timelineJourneys(_ out: [UInt8]) throws -> [String: Int] {
        var by: [String: Int] = [:]
        for line in String(decoding: out, as: UTF8.self).split(separator: "\n") {
            let o = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard o["type"] as? String == "journey", let id = o["journey"] as? Int else { continue }
            let copies = (o["copies"] as? [[String: Any]] ?? []).flatMap { $0["hops"] as? [[String: Any]] ?? [] }
            for hop in (o["hops"] as? [[String: Any]] ?? []) + copies {
                let key = "\(hop["skb"] as? String ?? "-")@\((hop["ts_ns"] as? NSNumber)?.uint64Value ?? 0)@\(hop["probe"] as? String ?? "")"
                by[key] = id
            }
        }
        return by
    }

    /// The events of `Recordings/format3.rec` (probe ids as this build numbers
    /// them), recorded again with their index as packet bytes.
    static func format3WithBytes(to path: String) throws -> [TraceEvent] {
        let reader = try RecordReader(path: OldRecordingTests.directory.appendingPathComponent("format3.rec").path)
        var events: [TraceEvent] = [], reasons: [UInt32: String] = [:], netns: [UInt32: String] = [:]
        var probes: [UInt16: UInt16] = [:]
        let symbols = KernelSymbols(symbols: [])
        try reader.forEach { item in
            switch item {
            case .probe(let id, let name): probes[id] = ProbeCatalogue.id(named: name) ?? UInt16.max
            case .dropReason(let code, let name): reasons[code] = name
            case .symbol(let address, let name): symbols.remember(address, as: name)
            case .netns(let inode, let name): netns[inode] = name
            case .event(var e):
                e.header.probe = probes[e.header.probe] ?? e.header.probe
                events.append(e)
            default: break
            }
            return true
        }
        events = withIndexBytes(events)
        let sink = try OutputSink(path: path)
        let recorder = Recorder(sink: sink, header: reader.header, dropReasons: DropReasons(names: reasons), symbols: symbols,
                                netns: NetnsNames(names: netns, hostInode: reader.header.hostNetns))
        recorder.begin()
        for e in events { recorder.consume(e) }
        recorder.end()
        sink.flush()
        return events
    }

    /// Each event carries its index as its packet's bytes.
    static func withIndexBytes(_ events: [TraceEvent]) -> [TraceEvent] {
        events.enumerated().map { i, e in
            var e = e
            e.payload = Payload(link: .ethernet, wireLength: 60, bytes: withUnsafeBytes(of: UInt32(i).littleEndian) { Array($0) })
            return e
        }
    }

    @Test("each packet's comment names the journey --timeline gives its event (a recording replayed both ways), eviction included",
          arguments: [("format3", 65536), ("fuzz", 65536), ("fuzz", 16)])
    func journeyNumbersAreTimelines(_ source: String, _ maxJourneys: Int) throws {
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        let events: [TraceEvent]
        if source == "format3" {
            events = try Self.format3WithBytes(to: path)
        } else {
            events = Self.withIndexBytes(RecordTests.events(3000))
            try RecordTests.record(events, to: path)
        }
        let (pcap, _) = try RecordTests.replay(path) { o in
            o.writePath = "x.pcapng"
            o.maxJourneys = maxJourneys
        }
        let (timeline, _) = try RecordTests.replay(path) { o in
            o.view = .timeline
            o.format = .json
            o.maxJourneys = maxJourneys
        }
        let journeys = try Self.timelineJourneys(timeline)
        let packets = try Self.packets(pcap)
        #expect(packets.map(\.index).sorted() == Array(events.indices), "every event written once")
        // An event is known in the timeline by (skb, time, probe): the fuzz stream
        // repeats a few of those (its times include 0 and 2^63), left out here.
        func key(_ e: TraceEvent) -> String { "\(e.header.skb == 0 ? "-" : "0x" + String(e.header.skb, radix: 16))@\(e.header.ts_ns)@\(e.probeName)" }
        let repeated = Set(Dictionary(grouping: events.map(key), by: { $0 }).filter { $0.value.count > 1 }.keys)
        #expect(repeated.count <= events.count / 100)
        var mismatches: [String] = []
        for p in packets where !repeated.contains(key(events[p.index])) {
            let k = key(events[p.index])
            if Self.journey(p.comment) != journeys[k] { mismatches.append("#\(p.index) \(k): \(p.comment) vs \(journeys[k] ?? -1)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(packets.count): \(mismatches.prefix(5))")
        #expect(Set(journeys.values).count > (source == "format3" ? 5 : 100), "\(Set(journeys.values).count) journeys")
        if source == "format3" {
            // Journey 3's copy (the clone that carried the ARP request) is written with it.
            #expect(packets.filter { Self.journey($0.comment) == 3 }.map { events[$0.index].header.skb }.count == 6)
        }
    }
}
