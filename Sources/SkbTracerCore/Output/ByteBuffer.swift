import Foundation

/// A reused byte buffer that formatters append to, written out in large chunks.
///
/// Formatting with `print()` costs about ten times more per event than appending
/// bytes here (docs/SWIFT-LIBBPF figures), and loses events under load.
public struct ByteBuffer {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 1 << 18) { bytes.reserveCapacity(capacity) }

    public var count: Int { bytes.count }
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always) public mutating func append(_ b: UInt8) { bytes.append(b) }
    @inline(__always) public mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }
    @inline(__always) public mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }
    public mutating func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 {
        bytes.append(contentsOf: c)
    }

    public mutating func appendDecimal<T: BinaryInteger>(_ v: T) {
        var n = UInt64(truncatingIfNeeded: v)
        if v < 0 { bytes.append(UInt8(ascii: "-")); n = UInt64(truncatingIfNeeded: -Int64(v)) }
        if n == 0 { bytes.append(UInt8(ascii: "0")); return }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 digit bytes on the stack
        var len = 0
        withUnsafeMutableBytes(of: &tmp) { d in
            while n > 0 { d[len] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10; len += 1 }
            for i in stride(from: len - 1, through: 0, by: -1) { bytes.append(d[i]) }
        }
    }

    /// Zero-padded to `width` digits.
    public mutating func appendDecimal(_ v: UInt64, width: Int) {
        var digits = 1, t = v
        while t >= 10 { t /= 10; digits += 1 }
        for _ in digits..<max(width, digits) { bytes.append(UInt8(ascii: "0")) }
        appendDecimal(v)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public mutating func appendHex(_ v: UInt64) {
        bytes.append(UInt8(ascii: "0")); bytes.append(UInt8(ascii: "x"))
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        var shift = 60
        while shift > 0 && (v >> UInt64(shift)) & 0xf == 0 { shift -= 4 }
        while shift >= 0 {
            bytes.append(Self.hexDigits[Int((v >> UInt64(shift)) & 0xf)])
            shift -= 4
        }
    }

    public mutating func appendHexByte(_ b: UInt8) {
        bytes.append(Self.hexDigits[Int(b >> 4)])
        bytes.append(Self.hexDigits[Int(b & 0xf)])
    }

    /// Pads with spaces up to `column` bytes after `start`, and at least one space.
    public mutating func pad(from start: Int, to width: Int) {
        let written = bytes.count - start
        for _ in 0..<max(1, width - written) { bytes.append(UInt8(ascii: " ")) }
    }

    /// A JSON string literal, escaped.
    public mutating func appendJSONString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0..<0x20:
                append("\\u00"); appendHexByte(b)
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Where formatted output goes: a file descriptor, written in large chunks.
public final class OutputSink {
    public private(set) var buffer = ByteBuffer()
    private let fd: Int32
    private let ownsFD: Bool
    /// Bytes waiting before a write; a poll round always ends with a flush.
    public var flushThreshold = 1 << 16
    public private(set) var writeError: Int32?

    public init(fd: Int32 = 1) { self.fd = fd; ownsFD = false }

    /// Opens (creates, truncates) a file for output.
    public init(path: String) throws {
        let f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard f >= 0 else {
            throw RuntimeError("cannot open output file \(path): \(String(cString: strerror(errno)))",
                               hint: "check the directory exists and is writable")
        }
        fd = f
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
        buffer.bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
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
