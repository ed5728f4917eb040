import Foundation
@testable import SkbTracerModel
import Testing

@Suite("Kernel symbols")
struct KernelSymbolsTests {
    static let symbols = KernelSymbols(symbols: [(0xffff_ffff_8100_0000, "_stext"), (0xffff_ffff_81a0_0000, "tcp_v4_rcv"),
                                                 (0xffff_ffff_81a0_1000, "tcp_v4_do_rcv")])

    @Test func symbolPlusOffsetOrHex() {
        #expect(Self.symbols.symbolize(0xffff_ffff_81a0_0010) == "tcp_v4_rcv+0x10")
        #expect(Self.symbols.symbolize(0xffff_ffff_81a0_1000) == "tcp_v4_do_rcv+0x0")
        #expect(Self.symbols.symbolize(0x1234) == "0x1234")
        // More than 1 MiB past the last symbol: not believed.
        #expect(Self.symbols.symbolize(0xffff_ffff_81c0_0000) == "0xffffffff81c00000")
    }

    /// Garbage locations (corrupt records, fuzzing) must not grow the cache forever.
    @Test func cacheStaysBounded() {
        let s = KernelSymbols(symbols: [(0xffff_ffff_8100_0000, "_stext")])
        for i in 0..<UInt64(KernelSymbols.maxCached + 1000) {
            _ = s.symbolize(0xffff_ffff_8100_0000 + i)
        }
        #expect(s.cachedCount <= KernelSymbols.maxCached)
        #expect(s.symbolize(0xffff_ffff_8100_0010) == "_stext+0x10")
    }

    /// The kallsyms format, read in chunks: lines across chunk boundaries, module
    /// symbols, data symbols and __pfx_ padding skipped, unsorted module addresses.
    @Test func loadsAKallsymsFile() throws {
        var text = "ffffffff81000000 T _stext\n"
        for i in 0..<30_000 {  // about 1.2 MB: several 256 KiB chunks
            let base = 0xffff_ffff_8200_0000 + UInt64(i) * 0x100
            text += String(base - 0x10, radix: 16) + " t __pfx_function_number_\(i)\n"
            text += String(base, radix: 16) + " t function_number_\(i)\n"
            text += String(base + 0x80, radix: 16) + " d data_number_\(i)\n"
        }
        text += "ffffffffc0001000 t mod_func\t[some_module]\n"
        text += "ffffffffa0000000 T before_modules_unsorted\n"
        text += "garbage line\n"
        text += "ffffffffc0002000 T last_without_newline"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kallsyms-\(getpid())").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = KernelSymbols(path: path)
        #expect(s.symbolize(0xffff_ffff_8200_0000 + 12_345 * 0x100 + 0x90) == "function_number_12345+0x90")
        // The __pfx_ padding belongs to the previous function, data symbols are skipped.
        #expect(s.symbolize(0xffff_ffff_8200_0000 + 7 * 0x100 - 0x8) == "function_number_6+0xf8")
        #expect(s.symbolize(0xffff_ffff_c000_1004) == "mod_func+0x4")
        #expect(s.symbolize(0xffff_ffff_a000_0010) == "before_modules_unsorted+0x10")
        #expect(s.symbolize(0xffff_ffff_c000_2000) == "last_without_newline+0x0")
        #expect(s.symbolCount == 30_000 + 4)
    }
}
