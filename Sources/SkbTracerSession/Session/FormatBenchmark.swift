import CSkbTracerABI
import Foundation
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem

/// Replays a fixed mix of events through decoding and formatting, for the
/// consumer-throughput benchmark (`skbtracer bench-format`). The mix is what a
/// path trace sees: ICMP echo, UDP, TCP over IPv4 and IPv6, and drops.
public enum FormatBenchmark {
    public static func sampleEvents() -> [TraceEvent] {
        func make(_ probe: st_probe_id, l3: UInt16, l4: UInt8, v6: Bool, drop: Bool = false) -> TraceEvent {
            var ev = TraceEvent()
            ev.header.probe = UInt16(probe.rawValue)
            ev.header.cpu = 1
            ev.header.ts_ns = 3_338_453_724_047
            ev.header.skb = 0xffff_8881_1bde_4900
            ev.context.pid = 4242; ev.context.tid = 4242
            ev.context.netns = 4_026_531_833
            ev.context.ifindex = 7
            var e = st_packet()
            e.l3_proto = l3
            e.l4_proto = l4
            e.ip_len = 84
            e.sport = 40000; e.dport = 9000
            e.icmp_type = 8; e.icmp_id = 77; e.icmp_seq = 3
            e.tcp_flags = 0x12
            e.ttl = 64
            e.flags = UInt8(ST_PKT_MAC.rawValue | ST_PKT_L3.rawValue | ST_PKT_L4.rawValue)
            if drop {
                ev.dropReason = 2
                ev.location = 0xffff_ffff_8206_e0eb
            }
            withUnsafeMutableBytes(of: &e.dmac) { for i in 0..<6 { $0[i] = UInt8(0x10 + i) } }
            withUnsafeMutableBytes(of: &e.saddr) { a in
                if v6 { for i in 0..<16 { a[i] = UInt8(i) }; a[0] = 0xfd } else { a[0] = 198; a[1] = 18; a[2] = 250; a[3] = 1 }
            }
            withUnsafeMutableBytes(of: &e.daddr) { a in
                if v6 { for i in 0..<16 { a[i] = UInt8(i) }; a[0] = 0xfd; a[15] = 3 } else { a[0] = 198; a[1] = 18; a[2] = 250; a[3] = 2 }
            }
            withUnsafeMutableBytes(of: &ev.context.ifname) { n in for (i, c) in "stl1234-h1".utf8.enumerated() { n[i] = c } }
            withUnsafeMutableBytes(of: &ev.context.comm) { n in for (i, c) in "python3".utf8.enumerated() { n[i] = c } }
            ev.packet = Packet(raw: e)
            return ev
        }
        return [
            make(ST_PROBE_NET_DEV_QUEUE, l3: 0x0800, l4: 17, v6: false),
            make(ST_PROBE_NETIF_RX, l3: 0x0800, l4: 17, v6: false),
            make(ST_PROBE_NETIF_RECEIVE_SKB, l3: 0x0800, l4: 1, v6: false),
            make(ST_PROBE_NET_DEV_QUEUE, l3: 0x0800, l4: 6, v6: false),
            make(ST_PROBE_NETIF_RX, l3: 0x86DD, l4: 6, v6: true),
            make(ST_PROBE_NETIF_RECEIVE_SKB, l3: 0x86DD, l4: 17, v6: true),
            make(ST_PROBE_CONSUME_SKB, l3: 0x0800, l4: 17, v6: false),
            make(ST_PROBE_KFREE_SKB, l3: 0x0800, l4: 17, v6: false, drop: true),
        ]
    }

    /// Decodes and formats `count` events into a reused buffer that is discarded
    /// every 64 KiB (as the sink would write it). Returns events per second.
    public static func run(format: OutputFormat, count: Int) -> (eventsPerSecond: Double, bytes: Int) {
        let records = sampleEvents().map(EventRecord.bytes)
        let symbols = KernelSymbols(symbols: [(0xffff_ffff_8206_e040, "ping_rcv")])
        let context = FormatContext(dropReasons: DropReasons(names: [2: "NOT_SPECIFIED"]), symbols: symbols,
                                    clock: Clock(realtimeOffsetNs: 1_700_000_000_000_000_000, utcOffsetSeconds: 0))
        return measure(records: records, context: context, format: format, count: count)
    }

    /// The same over a recording (`skbtracer --record`): its event records as
    /// they came from the ring, with its symbols and names, replayed in a loop.
    public static func run(format: OutputFormat, recording path: String, count: Int) throws
        -> (eventsPerSecond: Double, bytes: Int, distinct: Int) {
        let reader = try RecordReader(path: path)
        let symbols = KernelSymbols(symbols: [])
        var reasons: [UInt32: String] = [:]
        var records: [[UInt8]] = []
        try reader.forEach { item in
            switch item {
            case .event(let e):
                var b = ByteBuffer()
                RecordFormat.appendEvent(e, to: &b)
                records.append(b.bytes)
            case .symbol(let address, let name): symbols.remember(address, as: name)
            case .dropReason(let code, let name): reasons[code] = name
            default: break
            }
            // Enough for a representative mix; the loop repeats it.
            return records.count < 1 << 20
        }
        guard !records.isEmpty else {
            throw RuntimeError("\(path) holds no events", hint: "record some traffic first: skbtracer --record FILE")
        }
        let context = FormatContext(dropReasons: DropReasons(names: reasons), symbols: symbols,
                                    clock: Clock(realtimeOffsetNs: reader.header.realtimeOffsetNs,
                                                 utcOffsetSeconds: reader.header.utcOffsetSeconds))
        let r = measure(records: records, context: context, format: format, count: count)
        return (r.eventsPerSecond, r.bytes, records.count)
    }

    private static func measure(records: [[UInt8]], context: FormatContext, format: OutputFormat, count: Int)
        -> (eventsPerSecond: Double, bytes: Int) {
        let formatter = makeFormatter(format, context: context)
        var buffer = ByteBuffer()
        var bytes = 0
        let start = MonotonicClock.now()
        var i = 0
        for _ in 0..<count {
            let event = records[i].withUnsafeBytes { try? TraceEvent(bytes: $0) }
            if let event { formatter.event(event, into: &buffer) }
            if buffer.count >= 1 << 16 { bytes += buffer.count; buffer.removeAll() }
            i = i + 1 == records.count ? 0 : i + 1
        }
        bytes += buffer.count
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        return (Double(count) / seconds, bytes)
    }
}
