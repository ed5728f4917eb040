import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
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

    @Test func blocksAreWhatPcapngSays() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-pcapng-\(getpid()).pcapng").path
        defer { unlink(path) }
        do {
            let sink = try OutputSink(path: path)
            let w = PcapngWriter(sink: sink, names: JourneyTests.names(), context: Fixtures.context(), snaplen: 256)
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
        #expect(text.contains("probe=netif_receive_skb netns=host if=eth0 skb=0xffff88810000a000"), "\(text)")
        #expect(u32(blocks[5].body, 0) == 1, "the second interface")
        let idb = String(decoding: blocks[1].body, as: UTF8.self)
        #expect(idb.contains("host:eth0"))
        // Direction: inbound for netif_receive_skb (link-in), outbound for net_dev_queue.
        #expect(PcapngWriter.direction(Self.event(ifname: "", ifindex: 0, probe: ST_PROBE_NETIF_RECEIVE_SKB, bytes: nil)) == 1)
        #expect(PcapngWriter.direction(Self.event(ifname: "", ifindex: 0, probe: ST_PROBE_NET_DEV_QUEUE, bytes: nil)) == 2)
    }
}
