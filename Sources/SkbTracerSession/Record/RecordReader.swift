import BPFKit
import CSkbTracerABI
import Foundation
import SkbTracerModel
import SkbTracerSystem

/// Reads a recording (RecordFormat) record by record, in chunks: a recording of
/// a flood is gigabytes, and replay must not hold it in memory.
public final class RecordReader {
    public enum Item {
        case event(TraceEvent)
        case dropReason(code: UInt32, name: String)
        case symbol(address: UInt64, name: String)
        case netns(inode: UInt32, name: String)
        case probe(id: UInt16, name: String)
        case lost(count: UInt64, cpu: UInt32)
        case end(events: UInt64, lost: UInt64)
        case socketOwner(inode: UInt32, owner: SocketOwner)
        /// A probe's losses over the whole recording.
        case lostByProbe(probe: String, count: UInt64)
        /// `--output-skb`: an sk_buff dump, for the event of that cpu, skb and time.
        case skbDump(cpu: UInt32, skb: UInt64, ts: UInt64, text: String)
    }

    /// How reading ended besides the normal end of the file.
    public struct Damage: Equatable, Sendable {
        /// Records skipped: an unknown kind or an event that did not decode.
        public var skipped: UInt64 = 0
        /// Bytes at the end that do not make a whole record (a recording cut off).
        public var truncatedBytes = 0
        /// A record whose size cannot be right: the rest of the file was not read.
        public var corruptAt: UInt64?
        /// read() failed (errno): the rest of the file was not read.
        public var readError: Int32?
    }

    public let header: RecordFormat.Header
    /// Files of versions 1 to 3: the size of their st_event (LegacyEvent); 0 for
    /// this build's records of a header and sections.
    let legacyEventSize: Int
    public private(set) var damage = Damage()
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var start = 0
    private var end = 0
    private var eof = false
    /// File offset of buffer[start], for messages.
    private var offset: UInt64 = UInt64(RecordFormat.headerSize)
    static let chunk = 1 << 20

    public init(path: String) throws {
        self.path = path
        // "-": a recording on stdin (`ssh host skbtracer --record - | skbtracer replay -`).
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw RuntimeError("cannot open recording \(path): \(why)", hint: "give a file written by `skbtracer --record FILE`")
        }
        var head = [UInt8](repeating: 0, count: RecordFormat.headerSize)
        let n = head.withUnsafeMutableBytes { Self.readFully(fd, $0) }
        do {
            (header, legacyEventSize) = try Self.parseHeader(head[..<max(n, 0)], path: path)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    static func parseHeader(_ head: ArraySlice<UInt8>, path: String) throws -> (RecordFormat.Header, legacyEventSize: Int) {
        let hint = "give a file written by `skbtracer --record FILE`"
        guard head.count == RecordFormat.headerSize, Array(head.prefix(8)) == RecordFormat.magic else {
            throw RuntimeError("\(path) is not a skbtracer recording", hint: hint)
        }
        return try head.withUnsafeBytes { raw throws -> (RecordFormat.Header, legacyEventSize: Int) in
            func u16(_ o: Int) -> UInt16 { raw.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
            guard raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self) == RecordFormat.byteOrderMark else {
                throw RuntimeError("\(path) was recorded on a machine of the other byte order",
                                   hint: "replay it on a machine like the one that recorded it")
            }
            let version = u16(8)
            guard RecordFormat.readableVersions.contains(version), Int(u16(10)) == RecordFormat.headerSize else {
                throw RuntimeError("\(path) is a version \(version) recording; this skbtracer reads versions \(RecordFormat.readableVersions.lowerBound) to \(RecordFormat.readableVersions.upperBound)",
                                   hint: "replay it with the skbtracer version that recorded it")
            }
            // Versions 1 to 3 give their struct sizes (route and conntrack: 0 in
            // files from before those records, which hold none).
            let legacy = version < 4 ? LegacyEvent.eventSize(version: version) : 0
            let route = Int(u16(48)), ct = Int(u16(50))
            let layoutOK = legacy == 0
                ? Int(u16(12)) == MemoryLayout<st_record>.size
                : Int(u16(12)) == legacy && Int(u16(14)) == legacy + LegacyEvent.stackSize
                    && (route == 0 || route == legacy + LegacyEvent.routeSize) && (ct == 0 || ct == legacy + LegacyEvent.ctSize)
            guard layoutOK else {
                throw RuntimeError("\(path) holds events of another layout (\(u16(12)) bytes, this skbtracer: \(legacy == 0 ? MemoryLayout<st_record>.size : legacy))",
                                   hint: "replay it with the skbtracer version that recorded it")
            }
            return (RecordFormat.Header(
                realtimeOffsetNs: raw.loadUnaligned(fromByteOffset: 24, as: Int64.self),
                utcOffsetSeconds: raw.loadUnaligned(fromByteOffset: 32, as: Int64.self),
                hostNetns: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self),
                startNs: raw.loadUnaligned(fromByteOffset: 40, as: UInt64.self)), legacy)
        }
    }

    /// The file's device and inode (replay refuses to write its output over it).
    public var fileIdentity: (dev: UInt64, ino: UInt64)? {
        var st = stat()
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
    }

    /// Calls `body` for each record until it returns false or the file ends.
    /// Damage (a cut-off end, unknown records) is counted in `damage`, not thrown.
    public func forEach(_ body: (Item) throws -> Bool) throws {
        while true {
            guard buffered(4) else { break }
            let size = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + 2, as: UInt16.self) })
            // Every record holds at least kind, size and one 32-bit field.
            guard size >= 8 else {
                damage.corruptAt = offset
                return
            }
            guard buffered(size) else { break }
            let item = buffer.withUnsafeBytes { raw in
                Self.decode(UnsafeRawBufferPointer(rebasing: raw[start..<start + size]), legacyEventSize: legacyEventSize)
            }
            start += size
            offset += UInt64(size)
            guard let item else {
                damage.skipped += 1
                continue
            }
            if try !body(item) { return }
        }
        damage.truncatedBytes = end - start
    }

    /// Whether `n` bytes are buffered, reading more as needed (records are at
    /// most 64 KiB, a chunk is 1 MiB: there is always room after compaction).
    private func buffered(_ n: Int) -> Bool {
        while end - start < n {
            if !fill() { return false }
        }
        return true
    }

    static func decode(_ r: UnsafeRawBufferPointer, legacyEventSize: Int = 0) -> Item? {
        let kind = r.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        if kind == UInt16(ST_RECORD_EVENT.rawValue) {
            guard legacyEventSize > 0 else { return (try? TraceEvent(bytes: r)).map(Item.event) }
            return LegacyEvent.decode(r, eventSize: legacyEventSize).map(Item.event)
        }
        if kind == UInt16(ST_RECORD_SKB_DUMP.rawValue) {
            return SkbDumps.decode(r).map { .skbDump(cpu: $0.key.cpu, skb: $0.key.skb, ts: $0.key.ts, text: $0.text) }
        }
        guard let k = RecordFormat.Kind(rawValue: kind) else { return nil }
        let word = r.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        func wide(_ i: Int) -> UInt64? {
            r.count >= 16 + 8 * i ? r.loadUnaligned(fromByteOffset: 8 + 8 * i, as: UInt64.self) : nil
        }
        func text(after wides: Int) -> String {
            safeName(r[min(8 + 8 * wides, r.count)...])
        }
        switch k {
        case .dropReason: return .dropReason(code: word, name: text(after: 0))
        case .netns: return .netns(inode: word, name: text(after: 0))
        case .probe: return word <= UInt32(UInt16.max) ? .probe(id: UInt16(word), name: text(after: 0)) : nil
        case .symbol: return wide(0).map { .symbol(address: $0, name: text(after: 1)) }
        case .lost: return wide(0).map { .lost(count: $0, cpu: word) }
        case .end:
            guard let events = wide(0), let lost = wide(1) else { return nil }
            return .end(events: events, lost: lost)
        case .lostByProbe:
            return wide(0).map { .lostByProbe(probe: text(after: 1), count: $0) }
        case .socketOwner:
            guard let pid = wide(0), pid <= UInt64(UInt32.max) else { return nil }
            // SocketOwner makes the name printable (spaces stay: "Web Content").
            let comm = String(decoding: r[min(16, r.count)...].prefix(64), as: UTF8.self)
            return .socketOwner(inode: word, owner: SocketOwner(pid: UInt32(pid), comm: comm))
        }
    }

    /// Names from a file are input: the formatters print drop-reason names and
    /// symbols as they are (the kernel's are identifiers), so anything but
    /// printable ASCII, a quote or a backslash becomes "?" (no JSON breakage,
    /// no terminal escapes). Real names (identifiers, `sym+0x1a`, `ip netns`
    /// names) pass unchanged.
    static func safeName(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        String(decoding: bytes.map { b in
            b < 0x21 || b > 0x7e || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") ? UInt8(ascii: "?") : b
        }, as: UTF8.self)
    }

    /// Called before a read that may block (stdin from a live recorder): the
    /// replay flushes its output there, so a slow stream shows up as it comes.
    public var beforeRead: (() -> Void)?

    /// Moves what is left to the front and reads once more (a pipe gives what it
    /// has); false at the end of the file, on an error, or on a stop signal.
    private func fill() -> Bool {
        guard !eof else { return false }
        if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: Self.chunk) }
        if start > 0 {
            buffer.withUnsafeMutableBytes { raw in
                if end > start { raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start) }
            }
            end -= start
            start = 0
        }
        beforeRead?()
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + end, raw.count - end) }
            if n > 0 {
                end += n
                return true
            }
            if n < 0 && errno == EINTR && !StopSignals.requested { continue }
            if n < 0 && errno != EINTR { damage.readError = errno }
            eof = true
            return false
        }
    }

    /// Reads until the buffer is full or the file ends; -1 on an error.
    static func readFully(_ fd: Int32, _ raw: UnsafeMutableRawBufferPointer) -> Int {
        var got = 0
        while got < raw.count {
            let n = read(fd, raw.baseAddress! + got, raw.count - got)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return got > 0 ? got : -1 }
            if n == 0 { break }
            got += n
        }
        return got
    }
}
