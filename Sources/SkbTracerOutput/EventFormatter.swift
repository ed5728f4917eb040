import CSkbTracerABI
import SkbTracerAnalysis
import SkbTracerModel

/// What every formatter needs besides the event.
public final class FormatContext: @unchecked Sendable {
    public let dropReasons: DropReasons
    public let symbols: KernelSymbols
    public let clock: Clock
    public let timeFormat: TimeFormat
    /// ktime of the first event, for relative times.
    public var firstEventNs: UInt64?
    /// Socket owners by inode (`--owner`; a replay's come from the recording).
    public var owners = SocketOwners()
    /// `--color`: drops and losses in colour (text only; JSON never has it).
    public var color = false

    public init(dropReasons: DropReasons, symbols: KernelSymbols, clock: Clock = Clock(),
                timeFormat: TimeFormat = .wallClock) {
        self.dropReasons = dropReasons
        self.symbols = symbols
        self.clock = clock
        self.timeFormat = timeFormat
    }

    /// `,"drop_explanation":...,"drop_hint":...` per drop-reason code, escaped
    /// once: the strings are long, and a drop-heavy stream would escape them
    /// again for every event.
    private var dropTextJSON: [UInt32: [UInt8]] = [:]
    /// The function part of each location's symbol.
    private var locationFunctions: [UInt64: String] = [:]
    /// `--netfilter`: the latest nf_tables drop verdict per skb, until its drop
    /// is printed (the verdict comes first in the stream); bounded.
    private var dropVerdicts: [UInt64: NftVerdict] = [:]

    /// Notes a verdict event; for a drop, the rule whose drop verdict its skb met.
    func dropRule(for e: TraceEvent) -> NftVerdict? {
        if let v = e.nftVerdict {
            if v.isDrop, e.header.skb != 0 {
                if dropVerdicts.count >= 4096 { dropVerdicts.removeAll() }
                dropVerdicts[e.header.skb] = v
            }
            return nil
        }
        guard e.isDrop, !dropVerdicts.isEmpty else { return nil }
        return dropVerdicts.removeValue(forKey: e.header.skb)
    }

    func appendDropTextJSON(_ code: UInt32, to b: inout ByteBuffer) {
        if let cached = dropTextJSON[code] {
            b.append(contentsOf: cached)
            return
        }
        var t = ByteBuffer(capacity: 1024)
        let explained = DropExplanations.explain(dropReasons.name(code))
        t.append(",\"drop_explanation\":")
        if let explained { t.appendJSONString(explained.explanation) } else { t.append("null") }
        t.append(",\"drop_hint\":")
        if let explained { t.appendJSONString(explained.hint) } else { t.append("null") }
        let bytes = t.bytes
        if dropTextJSON.count < 4096 { dropTextJSON[code] = bytes }
        b.append(contentsOf: bytes)
    }

    /// Everything DropExplanations.noise() looks at, as plain numbers.
    struct NoiseKey: Hashable {
        let reason: UInt32, location: UInt64, proto: UInt64, dport: UInt16
        let daddrHi: UInt64, daddrLo: UInt64
    }
    private var noiseCache: [NoiseKey: String?] = [:]
    private var lastNoise: (key: NoiseKey, noise: String?)?

    /// DropExplanations.noise() for a drop event, remembered per reason,
    /// location and packet kind: it works on strings, and drops can be most
    /// of a stream.
    func dropNoise(_ ev: TraceEvent) -> String? {
        let e = ev.packet.raw, reason = ev.dropReason ?? 0
        let location = ev.hasLocation ? ev.location : 0
        let (hi, lo) = withUnsafeBytes(of: e.daddr) { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        // pkt_type and the destination MAC's group bit: the UDP broadcast/multicast rule reads them.
        let key = NoiseKey(reason: reason, location: location,
                           proto: UInt64(e.l3_proto) | UInt64(e.l4_proto) << 16 | UInt64(e.icmp_type) << 24
                               | UInt64(e.tcp_flags) << 32 | UInt64(e.flags) << 40
                               | UInt64(ev.context.pkt_type) << 48 | UInt64(e.dmac.0 & 1) << 56,
                           dport: e.dport, daddrHi: hi, daddrLo: lo)
        // Drops come in runs of one kind: the last answer first, without hashing.
        if let last = lastNoise, last.key == key { return last.noise }
        if let hit = noiseCache[key] { lastNoise = (key, hit); return hit }
        let noise = DropExplanations.noise(reason: dropReasons.name(reason),
                                           function: location == 0 ? nil : locationFunction(location), event: ev)
        if noiseCache.count >= 4096 { noiseCache.removeAll(keepingCapacity: true) }
        noiseCache[key] = noise
        lastNoise = (key, noise)
        return noise
    }

    /// A drop's reason, location and noise verdict, to explain each kind once.
    /// The verdict as a flag: hashing its text for every drop cost more than the rest.
    private struct DropKind: Hashable { let reason: UInt32, location: UInt64, noise: Bool }
    private var explainedDrops: Set<DropKind> = []
    private var lastDropKind: DropKind?

    /// Whether this is the stream's first drop of its reason, location and noise
    /// verdict (the text view explains those once).
    func firstOfItsKind(_ ev: TraceEvent, noise: String?) -> Bool {
        let kind = DropKind(reason: ev.dropReason ?? 0, location: ev.hasLocation ? ev.location : 0, noise: noise != nil)
        if kind == lastDropKind { return false }
        lastDropKind = kind
        // Only corrupt records make thousands of kinds: then explain again rather than grow.
        if explainedDrops.count >= 4096 { explainedDrops.removeAll(keepingCapacity: true) }
        return explainedDrops.insert(kind).inserted
    }

    func locationFunction(_ address: UInt64) -> String {
        if let f = locationFunctions[address] { return f }
        let f = JourneyNames.function(of: symbols.symbolize(address))
        if locationFunctions.count < 65536 { locationFunctions[address] = f }
        return f
    }

    private var isoSecond: Int64 = .min
    private var isoPrefix: [UInt8] = []

    /// RFC 3339 time; the date and time up to the second change rarely, so they
    /// are formatted once per second (gmtime_r per event is the costly part).
    public func appendISO8601(_ ts: UInt64, to b: inout ByteBuffer) {
        let (second, nanoseconds) = Clock.split(clock.wallNs(ts))
        if second != isoSecond {
            isoSecond = second
            var full = ByteBuffer(capacity: 32)
            clock.appendISO8601(ts, to: &full)
            // Keep "YYYY-MM-DDTHH:MM:SS." only.
            isoPrefix = Array(full.bytes.prefix(20))
        }
        b.append(contentsOf: isoPrefix)
        b.appendDecimal(UInt64(nanoseconds) / 1000, width: 6)
        b.append(UInt8(ascii: "Z"))
    }

    func relativeNs(_ ts: UInt64) -> UInt64 {
        if firstEventNs == nil { firstEventNs = ts }
        // Records from different CPUs arrive slightly out of order: never negative.
        return ts > firstEventNs! ? ts - firstEventNs! : 0
    }
}

/// Renders events and stream markers into a byte buffer.
public protocol EventFormatter {
    /// Printed once at the start of the output, whatever else is printed: JSON's
    /// schema object, nothing in text.
    func start(into b: inout ByteBuffer)
    /// Printed once before the first event (column titles), or nothing.
    func header(into b: inout ByteBuffer)
    func event(_ e: TraceEvent, into b: inout ByteBuffer)
    /// A marker where the ring buffer was full and `count` events were lost on `cpu`.
    func lost(count: UInt64, cpu: UInt32, into b: inout ByteBuffer)
}

public enum OutputFormat: String, Sendable {
    case text, json
}

public func makeFormatter(_ format: OutputFormat, context: FormatContext) -> any EventFormatter {
    switch format {
    case .text: return TextFormatter(context: context)
    case .json: return JSONFormatter(context: context)
    }
}
