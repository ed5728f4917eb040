import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem

/// `--write FILE` (pcap-ng, for Wireshark and tshark): each event that carries
/// the packet's bytes (`Payload`) as an enhanced packet block, on an interface
/// block per namespace, interface and link type seen, with its direction where
/// the probe says one and a comment naming the probe, namespace, interface, skb,
/// journey and drop. Times are the wall clock's, in nanoseconds.
///
/// The journey number is `--timeline`'s: the events go through the same
/// `JourneyTracker`, and a journey's packets are written when the tracker hands
/// the journey out (at its free, its timeout or an eviction, in the order
/// journeys started), since only then is a copy's number final. Events that
/// join no journey are written at once, without a number.
public final class PcapngWriter: TraceConsumer {
    private let sink: OutputSink
    private let names: JourneyNames
    private let context: FormatContext
    private let snaplen: UInt32
    private let tracker: JourneyTracker
    /// `-c`: packets written at most (journeys end several at once).
    public var limit: UInt64?
    private struct InterfaceKey: Hashable { let netns: UInt32; let ifindex: UInt32; let link: Payload.Link }
    private var interfaces: [InterfaceKey: UInt32] = [:]
    public private(set) var emitted: UInt64 = 0
    /// Events that carried no packet bytes (no header read, a socket's tuple, a verdict).
    public private(set) var withoutBytes: UInt64 = 0

    // pcap-ng block types and option codes (IETF draft-ietf-opsawg-pcapng).
    static let sectionHeader: UInt32 = 0x0A0D_0D0A
    static let interfaceDescription: UInt32 = 1
    static let enhancedPacket: UInt32 = 6
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
    static let optComment: UInt16 = 1
    static let shbUserApplication: UInt16 = 4
    static let ifName: UInt16 = 2
    static let ifDescription: UInt16 = 3
    static let ifTsresol: UInt16 = 9
    static let epbFlags: UInt16 = 2
    /// LINKTYPE_ETHERNET, LINKTYPE_RAW (IPv4 or IPv6 by the version nibble).
    static func linkType(_ link: Payload.Link) -> UInt16 { link == .ethernet ? 1 : 101 }

    public init(sink: OutputSink, names: JourneyNames, context: FormatContext, snaplen: UInt16, tracker: JourneyTracker) {
        self.sink = sink
        self.names = names
        self.context = context
        self.snaplen = UInt32(snaplen)
        self.tracker = tracker
    }

    public func begin() {
        sink.write { b in
            Self.block(Self.sectionHeader, into: &b) { b in
                b.appendNative(Self.byteOrderMagic)
                b.appendNative(UInt16(1)); b.appendNative(UInt16(0)) // version 1.0
                b.appendNative(Int64(-1))                            // section length: unknown
                Self.option(Self.shbUserApplication, Array("skbtracer".utf8), into: &b)
                Self.endOfOptions(into: &b)
            }
        }
    }

    public func consume(_ e: TraceEvent) {
        let unjoined = tracker.unjoined
        let ended = tracker.add(e)
        if tracker.unjoined != unjoined { write(e, journey: nil) }
        write(ended)
    }

    public func tick(nowNs: UInt64, settledNs: UInt64) { write(tracker.expire(nowNs: settledNs)) }

    public func end() {
        write(tracker.flush())
        sink.flush()
    }

    /// A journey's packets, its copies' among them in time order.
    private func write(_ journeys: [Journey]) {
        for j in journeys {
            if j.copies.isEmpty {
                for e in j.events { write(e, journey: j.id) }
            } else {
                let all = (j.events + j.copies.flatMap(\.events)).sorted { $0.header.ts_ns < $1.header.ts_ns }
                for e in all { write(e, journey: j.id) }
            }
        }
    }

    private func write(_ e: TraceEvent, journey: Int?) {
        if let limit, emitted >= limit { return }
        guard let payload = e.payload else {
            withoutBytes += 1
            return
        }
        let key = InterfaceKey(netns: e.context.netns, ifindex: e.context.ifindex, link: payload.link)
        let id = interfaces[key] ?? describe(key, e)
        // A damaged recording's time can be anything: wrapped, as the text views do, and never before 1970.
        let ts = UInt64(max(0, context.clock.wallNs(e.header.ts_ns)))
        sink.write { b in
            Self.block(Self.enhancedPacket, into: &b) { b in
                b.appendNative(id)
                b.appendNative(UInt32(truncatingIfNeeded: ts >> 32)); b.appendNative(UInt32(truncatingIfNeeded: ts))
                b.appendNative(UInt32(payload.bytes.count)); b.appendNative(payload.wireLength)
                b.append(contentsOf: payload.bytes)
                Self.pad(payload.bytes.count, into: &b)
                Self.option(Self.optComment, Array(comment(e, journey: journey).utf8), into: &b)
                if let flags = Self.direction(e) {
                    var v = flags
                    Self.option(Self.epbFlags, withUnsafeBytes(of: &v) { Array($0) }, into: &b)
                }
                Self.endOfOptions(into: &b)
            }
        }
        emitted += 1
    }

    /// An interface block for a (namespace, interface, link type) first seen.
    private func describe(_ key: InterfaceKey, _ e: TraceEvent) -> UInt32 {
        let id = UInt32(interfaces.count)
        interfaces[key] = id
        let ns = names.netns.name(key.netns)
        let ifname = e.ifname.isEmpty ? (key.ifindex == 0 ? "-" : "if\(key.ifindex)") : e.ifname
        sink.write { b in
            Self.block(Self.interfaceDescription, into: &b) { b in
                b.appendNative(Self.linkType(key.link)); b.appendNative(UInt16(0))
                b.appendNative(snaplen)
                Self.option(Self.ifName, Array("\(ns):\(ifname)".utf8), into: &b)
                Self.option(Self.ifDescription, Array("interface \(ifname) in network namespace \(ns) (\(key.netns))".utf8), into: &b)
                Self.option(Self.ifTsresol, [9], into: &b) // 10^-9 s
                Self.endOfOptions(into: &b)
            }
        }
        return id
    }

    /// `probe=netif_receive_skb netns=r if=eth0 skb=0xffff... journey=3 drop=NO_SOCKET at=...`.
    func comment(_ e: TraceEvent, journey: Int?) -> String {
        var s = "probe=\(e.probeName) netns=\(names.netns.name(e.context.netns)) if=\(e.ifname.isEmpty ? "-" : e.ifname) skb=0x"
            + String(e.skb, radix: 16)
        if let journey { s += " journey=\(journey)" }
        if let reason = e.dropReason { s += " drop=\(names.dropReasons.name(reason))" }
        if e.hasLocation { s += " at=\(names.symbols.symbolize(e.location))" }
        if let pass = e.netfilterHook { s += " nf=\(pass.familyName) \(pass.hookName) \(pass.verb)" }
        return s
    }

    /// epb_flags' direction: inbound (1) for probes of packets an interface
    /// received, outbound (2) for those it sends; nil for the others.
    static func direction(_ e: TraceEvent) -> UInt32? {
        switch e.probe?.group {
        case .linkIn: return 1
        case .linkOut: return 2
        default: return nil
        }
    }

    public func lost(count: UInt64, cpu: UInt32) {}

    // MARK: Blocks

    /// A block: type, total length, body, total length again (patched in).
    static func block(_ type: UInt32, into b: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        let start = b.count
        b.appendNative(type)
        b.appendNative(UInt32(0))
        body(&b)
        let length = UInt32(b.count - start + 4)
        b.appendNative(length)
        b.patch(length, at: start + 4)
    }

    static func option(_ code: UInt16, _ value: [UInt8], into b: inout ByteBuffer) {
        let v = value.prefix(0xfff0)
        b.appendNative(code); b.appendNative(UInt16(v.count))
        b.append(contentsOf: v)
        pad(v.count, into: &b)
    }

    static func endOfOptions(into b: inout ByteBuffer) { b.appendNative(UInt32(0)) }

    static func pad(_ n: Int, into b: inout ByteBuffer) {
        for _ in 0..<((4 - n % 4) % 4) { b.append(UInt8(0)) }
    }
}
