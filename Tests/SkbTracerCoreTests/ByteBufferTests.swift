import Foundation
@testable import SkbTracerModel
@testable import SkbTracerSystem
import Testing

@Suite("ByteBuffer")
struct ByteBufferTests {
    static func text(_ body: (inout ByteBuffer) -> Void) -> String {
        var b = ByteBuffer(capacity: 16)
        body(&b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    @Test func decimalUnsignedEdges() {
        #expect(Self.text { $0.appendDecimal(UInt64(0)) } == "0")
        #expect(Self.text { $0.appendDecimal(UInt64(9)) } == "9")
        #expect(Self.text { $0.appendDecimal(UInt64(10)) } == "10")
        #expect(Self.text { $0.appendDecimal(UInt64(1_000_000)) } == "1000000")
        #expect(Self.text { $0.appendDecimal(UInt64.max) } == "18446744073709551615")
        #expect(Self.text { $0.appendDecimal(UInt32.max) } == "4294967295")
        #expect(Self.text { $0.appendDecimal(UInt16.max) } == "65535")
        #expect(Self.text { $0.appendDecimal(UInt8.max) } == "255")
        // Above Int64.max must not be read as negative.
        #expect(Self.text { $0.appendDecimal(UInt64(Int64.max) + 1) } == "9223372036854775808")
    }

    @Test func decimalSigned() {
        #expect(Self.text { $0.appendDecimal(Int(0)) } == "0")
        #expect(Self.text { $0.appendDecimal(-1) } == "-1")
        #expect(Self.text { $0.appendDecimal(-120) } == "-120")
        #expect(Self.text { $0.appendDecimal(Int8.min) } == "-128")
        #expect(Self.text { $0.appendDecimal(Int32.min) } == "-2147483648")
        #expect(Self.text { $0.appendDecimal(Int64.max) } == "9223372036854775807")
        #expect(Self.text { $0.appendDecimal(Int64.min + 1) } == "-9223372036854775807")
    }

    @Test func decimalMatchesDescription() {
        var rng = SplitMix(seed: 1)
        for _ in 0..<2000 {
            let v = rng.next() >> (rng.next() % 64)
            #expect(Self.text { $0.appendDecimal(v) } == String(v))
            let s = Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63)
            if s != Int64.min { #expect(Self.text { $0.appendDecimal(s) } == String(s)) }
        }
    }

    /// Int64.min has no positive counterpart; negating it must not trap.
    @Test func decimalInt64Min() {
        #expect(Self.text { $0.appendDecimal(Int64.min) } == "-9223372036854775808")
        #expect(Self.text { $0.appendDecimal(Int.min) } == "-9223372036854775808")
    }

    @Test func paddedDecimal() {
        #expect(Self.text { $0.appendDecimal(UInt64(0), width: 6) } == "000000")
        #expect(Self.text { $0.appendDecimal(UInt64(7), width: 2) } == "07")
        #expect(Self.text { $0.appendDecimal(UInt64(42), width: 2) } == "42")
        #expect(Self.text { $0.appendDecimal(UInt64(123), width: 2) } == "123")
        #expect(Self.text { $0.appendDecimal(UInt64(123_456), width: 6) } == "123456")
        #expect(Self.text { $0.appendDecimal(UInt64(1), width: 0) } == "1")
        #expect(Self.text { $0.appendDecimal(UInt64(0), width: 0) } == "0")
        #expect(Self.text { $0.appendDecimal(UInt64.max, width: 25) } == "00000" + "18446744073709551615")
        #expect(Self.text { $0.appendDecimal(UInt64(999_999), width: 7) } == "0999999")
    }

    @Test func hex() {
        #expect(Self.text { $0.appendHex(0) } == "0x0")
        #expect(Self.text { $0.appendHex(1) } == "0x1")
        #expect(Self.text { $0.appendHex(0xf) } == "0xf")
        #expect(Self.text { $0.appendHex(0x10) } == "0x10")
        #expect(Self.text { $0.appendHex(0xdead_beef) } == "0xdeadbeef")
        #expect(Self.text { $0.appendHex(0x1000_0000_0000_0000) } == "0x1000000000000000")
        #expect(Self.text { $0.appendHex(0xffff_8881_0a3b_5d00) } == "0xffff88810a3b5d00")
        #expect(Self.text { $0.appendHex(UInt64.max) } == "0xffffffffffffffff")
        #expect(Self.text { $0.appendHex(0x0100) } == "0x100")
    }

    @Test func hexMatchesStringRadix() {
        var rng = SplitMix(seed: 2)
        for _ in 0..<2000 {
            let v = rng.next() >> (rng.next() % 64)
            #expect(Self.text { $0.appendHex(v) } == "0x" + String(v, radix: 16))
        }
    }

    @Test func hexByte() {
        #expect(Self.text { $0.appendHexByte(0); $0.appendHexByte(0x0a); $0.appendHexByte(0xa0); $0.appendHexByte(0xff) } == "000aa0ff")
    }

    @Test func hexBytesAndPrintableCStrings() {
        let mac: [UInt8] = [0x00, 0x1a, 0xa0, 0xff, 0x09, 0x10]
        #expect(Self.text { b in mac.withUnsafeBytes { b.appendHexBytes($0, separator: UInt8(ascii: ":")) } } == "00:1a:a0:ff:09:10")
        #expect(Self.text { b in [UInt8]().withUnsafeBytes { b.appendHexBytes($0, separator: UInt8(ascii: ":")) } } == "")
        let name: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x61, 0x1b, 0x7f, 0x62, 0, 0x63)
        #expect(Self.text { $0.appendPrintableCString(name) } == "a??b")
        let full: (UInt8, UInt8, UInt8) = (0x78, 0x79, 0x7a)
        #expect(Self.text { $0.appendPrintableCString(full) } == "xyz")
    }

    /// Each writer reserves once for all it writes: a small buffer must grow right.
    @Test func singleReservationsGrow() {
        var b = ByteBuffer(capacity: 1)
        for _ in 0..<40 {
            b.appendHex(UInt64.max)
            b.pad(from: b.count, to: 3)
            [UInt8](repeating: 0xab, count: 6).withUnsafeBytes { b.appendHexBytes($0, separator: UInt8(ascii: "-")) }
            b.appendDecimal(UInt64(7), width: 9)
        }
        let one = "0xffffffffffffffff   ab-ab-ab-ab-ab-ab000000007"
        #expect(String(decoding: b.bytes, as: UTF8.self) == String(repeating: one, count: 40))
    }

    /// Literal appends copy short lengths by overlapping words: every length
    /// 0-40, at every offset in the buffer.
    @Test func smallCopiesOfEveryLength() {
        let source = (0..<48).map { UInt8(0x41 + $0 % 26) }
        for n in 0...40 {
            for offset in 0..<9 {
                var dst = [UInt8](repeating: 0x2e, count: 64)
                source.withUnsafeBytes { src in
                    dst.withUnsafeMutableBytes { d in ByteBuffer.copySmall(from: src.baseAddress!, to: d.baseAddress! + offset, count: n) }
                }
                #expect(Array(dst[offset..<offset + n]) == Array(source[0..<n]), "n \(n) offset \(offset)")
                #expect(dst[..<offset].allSatisfy { $0 == 0x2e } && dst[(offset + n)...].allSatisfy { $0 == 0x2e }, "n \(n) offset \(offset)")
            }
        }
        #expect(Self.text { $0.append("{\"type\":\"event\",\"time\":\""); $0.append(""); $0.append("ab") } == "{\"type\":\"event\",\"time\":\"ab")
    }

    @Test func padding() {
        #expect(Self.text { b in b.append("ab"); b.pad(from: 0, to: 5); b.append("|") } == "ab   |")
        // At least one space, even when the column is full or overfull.
        #expect(Self.text { b in b.append("abcde"); b.pad(from: 0, to: 5); b.append("|") } == "abcde |")
        #expect(Self.text { b in b.append("abcdefg"); b.pad(from: 0, to: 5); b.append("|") } == "abcdefg |")
        // Counted from `start`, not from the buffer's beginning.
        #expect(Self.text { b in b.append("xyz"); b.append("a"); b.pad(from: 3, to: 3); b.append("|") } == "xyza  |")
    }

    @Test func jsonStrings() {
        #expect(Self.text { $0.appendJSONString("") } == #""""#)
        #expect(Self.text { $0.appendJSONString("plain") } == #""plain""#)
        #expect(Self.text { $0.appendJSONString("a\"b") } == #""a\"b""#)
        #expect(Self.text { $0.appendJSONString("a\\b") } == #""a\\b""#)
        #expect(Self.text { $0.appendJSONString("\n\r\t") } == #""\u000a\u000d\u0009""#)
        #expect(Self.text { $0.appendJSONString("\u{0}\u{1b}\u{1f}") } == #""\u0000\u001b\u001f""#)
        #expect(Self.text { $0.appendJSONString(" ~\u{7f}") } == "\" ~\u{7f}\"")
        #expect(Self.text { $0.appendJSONString("é✓") } == "\"é✓\"")
        #expect(Self.text { $0.appendJSONString("/") } == #""/""#)
    }

    /// Every string, once escaped, parses back to itself.
    @Test func jsonStringsRoundTrip() throws {
        let samples = ["", "x", "\"\\\"", String((0..<32).map { Character(UnicodeScalar($0)!) }), "tab\there", "ümlaut ☃ 𝄞"]
        for s in samples {
            var b = ByteBuffer()
            b.append("[")
            b.appendJSONString(s)
            b.append("]")
            let parsed = try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String]
            #expect(parsed == [s])
        }
    }

    /// Every power-of-ten boundary and random values, against String(describing:).
    @Test func decimalsMatchTheStandardLibrary() {
        var values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, UInt64.max, UInt64.max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 { p *= 10; values += [p - 1, p, p + 1] }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { values.append(rng.next() >> UInt64.random(in: 0...63)) }
        for v in values {
            #expect(Self.text { $0.appendDecimal(v) } == String(v), "\(v)")
            let signed = Int64(bitPattern: v)
            #expect(Self.text { $0.appendDecimal(signed) } == String(signed), "\(signed)")
        }
    }

    /// Every ASCII byte once, in a buffer that must grow for it.
    @Test func jsonEscapingOfEveryByte() {
        let all = (0..<128).map { UInt8($0) }  // ASCII: bytes above are UTF-8-checked elsewhere
        var b = ByteBuffer(capacity: 16)
        all.withUnsafeBytes { b.appendJSONString(bytes: $0) }
        var expected: [UInt8] = [0x22]
        for c in all {
            switch c {
            case 0x22, 0x5c: expected += [0x5c, c]
            case 0..<0x20: expected += Array(String(format: "\\u%04x", c).utf8)
            default: expected.append(c)
            }
        }
        expected.append(0x22)
        #expect(b.bytes == expected)
    }

    @Test func appendVariantsAndRemoveAll() {
        var b = ByteBuffer()
        b.append(UInt8(ascii: "a"))
        b.append("b" as StaticString)
        b.append(string: String("c"))
        b.append(contentsOf: [UInt8(ascii: "d")])
        b.append(contentsOf: Array("xex".utf8)[1..<2])
        Array("f".utf8).withUnsafeBytes { b.append(bytes: $0) }
        b.append(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(String(decoding: b.bytes, as: UTF8.self) == "abcdef")
        #expect(b.count == 6)
        b.withUnsafeBytes { #expect(Array($0) == Array("abcdef".utf8)) }
        b.removeAll()
        #expect(b.count == 0)
        #expect(b.bytes.isEmpty)
        b.append("g" as StaticString)
        #expect(b.bytes == [UInt8(ascii: "g")])
    }

    /// The buffer starts small and must grow without losing or reordering bytes.
    @Test func growsPastInitialCapacity() {
        var b = ByteBuffer(capacity: 0)
        var expected: [UInt8] = []
        var rng = SplitMix(seed: 3)
        for i in 0..<5000 {
            switch i % 4 {
            case 0:
                let v = rng.next()
                b.appendDecimal(v); expected += Array(String(v).utf8)
            case 1:
                let chunk = [UInt8](repeating: UInt8(i % 251), count: Int(rng.next() % 300))
                b.append(contentsOf: chunk); expected += chunk
            case 2:
                b.append("-static-" as StaticString); expected += Array("-static-".utf8)
            default:
                let v = rng.next()
                b.appendHex(v); expected += Array(("0x" + String(v, radix: 16)).utf8)
            }
        }
        #expect(b.count == expected.count)
        #expect(b.bytes == expected)
        // One append far larger than the current capacity.
        let big = [UInt8](repeating: 7, count: 3 << 20)
        b.append(contentsOf: big)
        #expect(b.count == expected.count + big.count)
        #expect(b.bytes.suffix(big.count) == big[...])
        #expect(Array(b.bytes.prefix(expected.count)) == expected)
    }

    @Test func cStrings() {
        var name: (CChar, CChar, CChar, CChar, CChar, CChar) = (0, 0, 0, 0, 0, 0)
        Fixtures.set(&name, Array(#"e\"0"#.utf8))
        #expect(Self.text { $0.appendCString(name) } == #"e\"0"#)
        #expect(Self.text { $0.appendJSONCString(name) } == #""e\\\"0""#)
        // No NUL at all: the whole array.
        Fixtures.set(&name, Array("abcdef".utf8))
        #expect(Self.text { $0.appendCString(name) } == "abcdef")
        #expect(Self.text { $0.appendJSONCString(name) } == #""abcdef""#)
        // Empty.
        Fixtures.set(&name, [0])
        #expect(Self.text { $0.appendCString(name) } == "")
        #expect(Self.text { $0.appendJSONCString(name) } == #""""#)
    }

    @Test func outputSinkWritesToFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-sink-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).txt").path
        defer { unlink(path) }
        do {
            let sink = try OutputSink(path: path)
            sink.flushThreshold = 4
            sink.write { $0.append("ab") }
            #expect(sink.buffer.count == 2)
            sink.write { $0.append("cd") }
            #expect(sink.buffer.count == 0, "reaching the threshold flushes")
            sink.write { $0.append("e\n") }
            sink.flush()
            #expect(sink.writeError == nil)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "abcde\n")
    }

    @Test func outputSinkBadPath() {
        #expect(throws: RuntimeError.self) { try OutputSink(path: "/nonexistent-dir-skbtracer/out.txt") }
    }
}

/// A small deterministic generator for table-free value coverage.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
