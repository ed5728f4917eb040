import CSkbTracerABI
import SkbTracerModel

/// The file `skbtracer --record FILE` writes and `skbtracer replay FILE` reads
/// (docs/record-format.md): a header, then records, each starting with a
/// 16-bit kind and a 16-bit size in bytes, the record included.
///
/// Events are the ring buffer's records as BPF wrote them (kind
/// ST_RECORD_EVENT), so recording costs a copy and no formatting. What the
/// formatters need from the recording machine travels in records of the
/// file-only kinds: probe and drop-reason names (before the first event), symbols of drop
/// locations and stack frames and names of namespaces (each before the first
/// event that needs it), losses found at exit, and the totals at the end.
/// Native byte order, like the events; the header says which.
public enum RecordFormat {
    public static let magic: [UInt8] = Array("SKBTRACE".utf8)
    /// 2: route and conntrack records (their sizes at 48 and 50). A version-1 reader
    /// would drop those records without a word, so it must refuse the file.
    /// 3: st_event grew by 8 bytes (the socket, `--owner`), socket-owner records, and
    /// sk_buff dumps (`--output-skb`, ring records of kind ST_RECORD_SKB_DUMP).
    /// 4: events are a header and tagged sections (skbtracer_abi.h), not one of
    /// five structs told apart by size; a reader steps over sections it does not know.
    public static let version: UInt16 = 4
    /// Versions this reader takes: 1 to 3 through LegacyEvent (1 is 2 without route
    /// and conntrack records; 1 and 2 have 168-byte events, without the socket).
    public static let readableVersions: ClosedRange<UInt16> = 1...4
    public static let headerSize = 64
    /// Written in native order: reads back as another value on a machine of the
    /// other byte order.
    static let byteOrderMark: UInt32 = 0x0102_0304

    /// File-only record kinds. Ring records use small numbers (enum
    /// st_record_kind); these stay clear of them.
    public enum Kind: UInt16 {
        /// u32 code, then the name (no NUL).
        case dropReason = 0x101
        /// u32 zero, u64 address, then `symbol+0xoff` or `0x...`.
        case symbol = 0x102
        /// u32 inode, then the name (`host`, an `ip netns` name, `netns:N`).
        case netns = 0x103
        /// u32 cpu (UInt32.max: found at exit), u64 events lost there.
        case lost = 0x104
        /// u32 zero, u64 events recorded, u64 events lost in all.
        case end = 0x105
        /// u32 probe id as this build numbers it (st_event.probe), then the probe's
        /// name: another build may number its probes differently.
        case probe = 0x106
        /// u32 socket inode, u64 owner pid, then the owner's comm (`--owner`).
        case socketOwner = 0x107
        /// u32 zero, u64 events that probe lost in all, then the probe's name.
        case lostByProbe = 0x108
    }

    /// What the header carries besides the format's own fields.
    public struct Header: Equatable, Sendable {
        /// CLOCK_REALTIME minus CLOCK_MONOTONIC when the recording started.
        public var realtimeOffsetNs: Int64
        public var utcOffsetSeconds: Int64
        /// The namespace the recorder ran in (printed as "host"); 0 if unknown.
        public var hostNetns: UInt32
        /// CLOCK_MONOTONIC when the recording started.
        public var startNs: UInt64

        public init(realtimeOffsetNs: Int64, utcOffsetSeconds: Int64, hostNetns: UInt32, startNs: UInt64) {
            self.realtimeOffsetNs = realtimeOffsetNs
            self.utcOffsetSeconds = utcOffsetSeconds
            self.hostNetns = hostNetns
            self.startNs = startNs
        }
    }

    /*
     * Header layout (64 bytes):
     *   0  magic "SKBTRACE"       8  u16 version     10 u16 header size
     *   12 u16 record header size (format 4: st_record; 1-3: st_event)
     *   14 u16 zero (1-3: stack event size)
     *   16 u32 byte-order mark    20 u32 host netns inode
     *   24 i64 realtime offset    32 i64 UTC offset (s)
     *   40 u64 start (monotonic)  48 u16 zero (2-3: route event size)  50 u16 zero (2-3: conntrack event size)
     *   52 reserved, zero
     */
    static func appendHeader(_ h: Header, to b: inout ByteBuffer) {
        let start = b.count
        b.append(contentsOf: magic)
        b.appendNative(version)
        b.appendNative(UInt16(headerSize))
        b.appendNative(UInt16(MemoryLayout<st_record>.size))
        b.appendNative(UInt16(0))
        b.appendNative(byteOrderMark)
        b.appendNative(h.hostNetns)
        b.appendNative(h.realtimeOffsetNs)
        b.appendNative(h.utcOffsetSeconds)
        b.appendNative(h.startNs)
        while b.count - start < headerSize { b.append(0) }
    }

    /// A file-only record: kind, size, a 32-bit field, optional 64-bit fields, then text.
    static func appendRecord(_ kind: Kind, _ word: UInt32, _ wides: [UInt64] = [], text: String = "",
                             to b: inout ByteBuffer) {
        // Names are short; a corrupt one is cut rather than overflow the 16-bit size.
        let bytes = text.utf8.prefix(1024)
        let size = 8 + 8 * wides.count + bytes.count
        b.appendNative(kind.rawValue)
        b.appendNative(UInt16(size))
        b.appendNative(word)
        for w in wides { b.appendNative(w) }
        b.append(contentsOf: Array(bytes))
    }

    /// An event as BPF writes it: a header and its sections.
    static func appendEvent(_ e: TraceEvent, to b: inout ByteBuffer) {
        EventRecord.append(e, to: &b)
    }

}
