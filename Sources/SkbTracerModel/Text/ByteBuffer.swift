import BPFKit
import Foundation
import SkbTracerSystem

/// A reused byte buffer that formatters append to, written out in large chunks.
///
/// Formatting with `print()` costs about ten times more per event than appending
/// bytes here (docs/SWIFT-LIBBPF figures), and loses events under load. The
/// storage is a raw allocation rather than an Array: Array's uniqueness and
/// capacity checks on every small append were a third of the JSON formatter's
/// instructions. Noncopyable, so the allocation has exactly one owner.
public struct ByteBuffer: ~Copyable {
    // @usableFromInline and @inlinable below: the formatters, in other targets, append
    // about 70 literals per event; called, not inlined, JSON cost 40% more instructions.
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    public var count = 0
    @usableFromInline var capacity: Int

    public init(capacity: Int = 1 << 18) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// A copy of the bytes written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public mutating func removeAll() { count = 0 }

    /// Overwrites bytes already written: a record's size, known once its sections are.
    public mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        UnsafeMutableRawPointer(base + offset).storeBytes(of: value, as: T.self)
    }

    @inlinable @inline(__always) mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    @usableFromInline mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inlinable @inline(__always) public mutating func append(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inlinable @inline(__always) public mutating func append(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        reserve(n)
        Self.copySmall(from: UnsafeRawPointer(s.utf8Start), to: UnsafeMutableRawPointer(base + count), count: n)
        count += n
    }

    /// Most literals are 2-20 bytes: two overlapping word copies instead of a
    /// call to memcpy (the JSON formatter appends about 70 per event).
    @inlinable @inline(__always) static func copySmall(from src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count n: Int) {
        switch n {
        case 8...16:
            dst.storeBytes(of: src.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (dst + n - 8).storeBytes(of: (src + n - 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
        case 4..<8:
            dst.storeBytes(of: src.loadUnaligned(as: UInt32.self), as: UInt32.self)
            (dst + n - 4).storeBytes(of: (src + n - 4).loadUnaligned(as: UInt32.self), as: UInt32.self)
        case 0..<4:
            for i in 0..<n { dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
        default:
            dst.copyMemory(from: src, byteCount: n)
        }
    }

    /// A String's bytes. Labelled so that literals pick the StaticString overload:
    /// unlabelled, a literal became a String (String is the default literal type),
    /// and each of the JSON formatter's 70 literal appends per event paid a
    /// String copy, a release and a copyMemory call: 27% of its instructions.
    @inlinable @inline(__always) public mutating func append(string s: String) {
        var s = s
        s.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// An integer's bytes in this machine's order (records and recordings are native-order).
    public mutating func appendNative<T: FixedWidthInteger>(_ v: T) {
        var v = v
        Swift.withUnsafeBytes(of: &v) { append(bytes: $0) }
    }

    @inlinable @inline(__always) public mutating func append(bytes raw: UnsafeRawBufferPointer) {
        guard let src = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: src, byteCount: raw.count)
        count += raw.count
    }

    public mutating func append(contentsOf a: [UInt8]) {
        a.withUnsafeBytes { append(bytes: $0) }
    }

    public mutating func append(contentsOf s: ArraySlice<UInt8>) {
        s.withUnsafeBytes { append(bytes: $0) }
    }

    public mutating func appendDecimal<T: BinaryInteger>(_ v: T) {
        var n = UInt64(truncatingIfNeeded: v)
        if v < 0 { append(UInt8(ascii: "-")); n = UInt64(truncatingIfNeeded: 0 &- Int64(v)) }
        if n < 10 { append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n)); return }
        // Counted by comparison, not division; 10^19 is the last power below 2^64.
        var digits = 2, power: UInt64 = 100
        while n >= power && digits < 20 { digits += 1; if digits < 20 { power = power &* 10 } }
        reserve(digits)
        // Two digits per division: timestamps have 19 of them.
        var p = base + count + digits
        while n >= 100 {
            let pair = Int(n % 100); n /= 100
            p -= 2
            p[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair / 10)
            p[1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair % 10)
        }
        if n >= 10 {
            p -= 2
            p[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n / 10)
            p[1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n % 10)
        } else {
            p -= 1
            p[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n)
        }
        count += digits
    }

    /// Zero-padded to `width` digits.
    /// `a.b.c.d` from 4 bytes: one capacity check and plain stores. An address
    /// through four appendDecimal calls was ~280 instructions, and events print two.
    public mutating func appendDottedQuad(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 4)
        reserve(15)
        var p = base + count
        for i in 0..<4 {
            if i > 0 { p.pointee = UInt8(ascii: "."); p += 1 }
            let v = bytes[i]
            if v >= 100 {
                p[0] = UInt8(ascii: "0") &+ v / 100; p[1] = UInt8(ascii: "0") &+ (v / 10) % 10; p[2] = UInt8(ascii: "0") &+ v % 10
                p += 3
            } else if v >= 10 {
                p[0] = UInt8(ascii: "0") &+ v / 10; p[1] = UInt8(ascii: "0") &+ v % 10
                p += 2
            } else {
                p.pointee = UInt8(ascii: "0") &+ v
                p += 1
            }
        }
        count = p - base
    }

    public mutating func appendDecimal(_ v: UInt64, width: Int) {
        var digits = 1, t = v
        while t >= 10 { t /= 10; digits += 1 }
        appendRepeated(UInt8(ascii: "0"), width - digits)
        appendDecimal(v)
    }

    /// A lowercase hex digit by arithmetic: a static table costs a lazy-init check
    /// and a bounds check per digit.
    @inline(__always) static func hexDigit(_ v: UInt64) -> UInt8 {
        let d = UInt8(truncatingIfNeeded: v & 0xf)
        return d < 10 ? UInt8(ascii: "0") &+ d : UInt8(ascii: "a") &+ (d &- 10)
    }

    /// `0x` and lowercase hex digits, no leading zeros.
    public mutating func appendHex(_ v: UInt64) {
        reserve(18)
        base[count] = UInt8(ascii: "0"); base[count + 1] = UInt8(ascii: "x")
        count += 2
        appendHexDigits(v)
    }

    /// Lowercase hex digits, no leading zeros ("0" for 0): one capacity check,
    /// the digit count from the leading zero bits.
    public mutating func appendHexDigits(_ v: UInt64) {
        let digits = max(1, (64 - v.leadingZeroBitCount + 3) / 4)
        reserve(digits)
        var p = base + count + digits
        var v = v
        for _ in 0..<digits {
            p -= 1
            p.pointee = Self.hexDigit(v)
            v >>= 4
        }
        count += digits
    }

    public mutating func appendHexByte(_ b: UInt8) {
        reserve(2)
        base[count] = Self.hexDigit(UInt64(b >> 4))
        base[count + 1] = Self.hexDigit(UInt64(b))
        count += 2
    }

    /// Bytes as two hex digits each, with `separator` between them (MAC addresses).
    public mutating func appendHexBytes(_ bytes: UnsafeRawBufferPointer, separator: UInt8) {
        guard !bytes.isEmpty else { return }
        reserve(bytes.count * 3)
        var p = base + count
        for (i, b) in bytes.enumerated() {
            if i > 0 { p.pointee = separator; p += 1 }
            p[0] = Self.hexDigit(UInt64(b >> 4))
            p[1] = Self.hexDigit(UInt64(b))
            p += 2
        }
        count = p - base
    }

    /// Pads with spaces up to `column` bytes after `start`, and at least one space.
    public mutating func pad(from start: Int, to width: Int) {
        appendRepeated(UInt8(ascii: " "), max(1, width - (count - start)))
    }

    public mutating func appendRepeated(_ b: UInt8, _ n: Int) {
        guard n > 0 else { return }
        reserve(n)
        (base + count).update(repeating: b, count: n)
        count += n
    }

    /// A JSON string literal, escaped.
    public mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { appendJSONString(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// A fixed-size C char array (ifname, comm) up to its first NUL, as raw bytes.
    @inlinable public mutating func appendCString<T>(_ tuple: T) {
        Swift.withUnsafeBytes(of: tuple) { c in append(bytes: UnsafeRawBufferPointer(rebasing: c[..<(c.firstIndex(of: 0) ?? c.count)])) }
    }

    /// A fixed-size C char array as an escaped JSON string, without making a String.
    @inlinable public mutating func appendJSONCString<T>(_ tuple: T) {
        Swift.withUnsafeBytes(of: tuple) { c in
            // Names are short and plain (comm, ifname): copied as they are
            // when no byte needs escaping or repair, checked in one pass.
            var n = 0, plain = true
            while n < c.count, c[n] != 0 {
                let b = c[n]
                plain = plain && b >= 0x20 && b < 0x80 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\")
                n += 1
            }
            guard plain else { return appendJSONString(bytes: UnsafeRawBufferPointer(rebasing: c[..<n])) }
            reserve(n + 2)
            let p = base + count
            p.pointee = UInt8(ascii: "\"")
            if n > 0 { (p + 1).update(from: c.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n) }
            p[n + 1] = UInt8(ascii: "\"")
            count += n + 2
        }
    }

    /// Escapes quotes, backslashes and control bytes. Kernel strings are bytes
    /// (comm is cut at 15 bytes, possibly inside a character), so non-ASCII input
    /// goes through String(decoding:), which replaces invalid UTF-8 with U+FFFD:
    /// JSON output must be valid UTF-8.
    public mutating func appendJSONString(bytes raw: UnsafeRawBufferPointer) {
        if raw.contains(where: { $0 >= 0x80 }) {
            var repaired = String(decoding: raw, as: UTF8.self)
            repaired.withUTF8 { appendJSONEscaped(UnsafeRawBufferPointer($0)) }
        } else {
            appendJSONEscaped(raw)
        }
    }

    private mutating func appendJSONEscaped(_ raw: UnsafeRawBufferPointer) {
        // Room for the worst case (every byte \u00XX) once, then plain stores:
        // a capacity check per byte was most of the cost of comm and ifname.
        reserve(raw.count * 6 + 2)
        var p = base + count
        p.pointee = UInt8(ascii: "\""); p += 1
        for b in raw {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                p[0] = UInt8(ascii: "\\"); p[1] = b; p += 2
            case 0..<0x20:
                p[0] = UInt8(ascii: "\\"); p[1] = UInt8(ascii: "u"); p[2] = UInt8(ascii: "0"); p[3] = UInt8(ascii: "0")
                p[4] = Self.hexDigit(UInt64(b >> 4)); p[5] = Self.hexDigit(UInt64(b)); p += 6
            default:
                p.pointee = b; p += 1
            }
        }
        p.pointee = UInt8(ascii: "\""); p += 1
        count = p - base
    }

    /// A fixed-size C char array for text output: control bytes become '?' so a
    /// task name cannot break the one-line-per-event format.
    public mutating func appendPrintableCString<T>(_ tuple: T) {
        Swift.withUnsafeBytes(of: tuple) { c in
            let n = c.firstIndex(of: 0) ?? c.count
            reserve(n)
            let p = base + count
            for i in 0..<n {
                let b = c[i]
                p[i] = b < 0x20 || b == 0x7f ? UInt8(ascii: "?") : b
            }
            count += n
        }
    }
}

/// Where formatted output goes: a file descriptor, written in large chunks.
public final class OutputSink {
    // Unchecked exclusivity: every event is formatted into it through inout
    // (write(_:)); the sink belongs to one thread and the closure never reaches
    // the sink again.
    @exclusivity(unchecked) public private(set) var buffer = ByteBuffer()
    private let fd: Int32
    private let ownsFD: Bool
    /// Bytes waiting before a write; a poll round always ends with a flush.
    public var flushThreshold = 1 << 16
    public private(set) var writeError: Int32?

    /// The reader went away (EPIPE): a normal way for a trace to end (`| head`).
    public var readerClosed: Bool { writeError == EPIPE }

    /// A pipe whose reader has gone reports POLLERR on its write end: this notices
    /// `skbtracer | head` ending even when no event arrives to be written.
    public var pipeReaderGone: Bool {
        var p = pollfd(fd: fd, events: 0, revents: 0)
        return Foundation.poll(&p, 1, 0) == 1 && p.revents & Int16(POLLERR) != 0
    }

    public init(fd: Int32 = 1) { self.fd = fd; ownsFD = false }

    /// Opens (creates, truncates) a file for output, with exactly `mode` (OutputFile).
    public init(path: String, mode: mode_t = OutputFile.defaultMode) throws {
        fd = try OutputFile.open(path, mode: mode)
        ownsFD = true
    }

    deinit {
        flush()
        if ownsFD { close(fd) }
    }

    /// Appends through a formatter closure; flushes when the buffer is large.
    @inline(__always)
    public func write(_ body: (inout ByteBuffer) -> Void) {
        body(&buffer)
        if buffer.count >= flushThreshold { flush() }
    }

    /// Writes everything buffered. A closed pipe (EPIPE) is remembered, not fatal:
    /// the caller stops tracing and cleans up.
    public func flush() {
        guard buffer.count > 0, writeError == nil else { buffer.removeAll(); return }
        buffer.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                // After a stop signal, a reader that stopped reading (`| less`
                // while scrolling) must not hold the exit: wait up to a second
                // for room, then drop the rest.
                if StopSignals.requested {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if Foundation.poll(&p, 1, 1000) == 0 {
                        writeError = EINTR
                        return
                    }
                }
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    // A stop signal interrupts a blocked write (no SA_RESTART): the
                    // loop then polls with a timeout instead of blocking again.
                    if errno == EINTR { continue }
                    writeError = errno
                    return
                }
                off += n
            }
        }
        buffer.removeAll()
    }
}
