import CSkbTracerABI

/// `--output-skb`: joins each `st_skb_dump` record to its event. BPF writes the
/// dump just before the event, from the same program on the same CPU, but other
/// CPUs' records may come between, so the two are matched by cpu, skb and time.
public final class SkbDumps {
    public struct Key: Hashable {
        public let cpu: UInt32, skb: UInt64, ts: UInt64

        public init(cpu: UInt32, skb: UInt64, ts: UInt64) {
            self.cpu = cpu; self.skb = skb; self.ts = ts
        }
    }

    private var pending: [Key: String] = [:]
    /// Per CPU, the keys waiting, oldest first: a dump whose event never came
    /// (the ring refused the event) goes once its CPU has this many waiting,
    /// without touching the other CPUs' (their events may still be on the way).
    private var waiting: [UInt32: [Key]] = [:]
    static let maxPendingPerCPU = 64

    public init() {}

    /// A dump record's key and text; nil when it is not one or is malformed.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> (key: Key, text: String)? {
        let header = MemoryLayout<st_skb_dump>.offset(of: \st_skb_dump.text)!
        guard bytes.count >= header,
              bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self) == UInt16(ST_RECORD_SKB_DUMP.rawValue) else { return nil }
        let size = Int(bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        guard size >= header, size <= MemoryLayout<st_skb_dump>.size, size <= bytes.count else { return nil }
        let key = Key(cpu: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                      skb: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                      ts: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let text = bytes[header..<size].prefix { $0 != 0 }
        return (key, String(decoding: text, as: UTF8.self))
    }

    /// A dump record as the ring holds it (the recorder writes dumps back this way).
    public static func record(for e: TraceEvent, text: String) -> [UInt8] {
        let header = MemoryLayout<st_skb_dump>.offset(of: \st_skb_dump.text)!
        let body = Array(text.utf8.prefix(Int(ST_SKB_DUMP_MAX) - 1)) + [0]
        var b = [UInt8](repeating: 0, count: header)
        withUnsafeBytes(of: UInt16(ST_RECORD_SKB_DUMP.rawValue)) { b.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: UInt16(header + body.count)) { b.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: e.cpu) { b.replaceSubrange(4..<8, with: $0) }
        withUnsafeBytes(of: e.skb) { b.replaceSubrange(8..<16, with: $0) }
        withUnsafeBytes(of: e.time) { b.replaceSubrange(16..<24, with: $0) }
        return b + body
    }

    public func add(_ key: Key, _ text: String) {
        var keys = waiting[key.cpu, default: []]
        if keys.count >= Self.maxPendingPerCPU { pending[keys.removeFirst()] = nil }
        keys.append(key)
        waiting[key.cpu] = keys
        pending[key] = text
    }

    /// The event's dump, taken out; nil when none came.
    public func take(for e: TraceEvent) -> String? {
        // Most traces have no dumps: no key to hash for every event.
        if pending.isEmpty { return nil }
        let key = Key(cpu: e.cpu, skb: e.skb, ts: e.time)
        guard let text = pending.removeValue(forKey: key) else { return nil }
        if let i = waiting[key.cpu]?.firstIndex(of: key) { waiting[key.cpu]?.remove(at: i) }
        return text
    }

    var pendingCount: Int { pending.count }
}
