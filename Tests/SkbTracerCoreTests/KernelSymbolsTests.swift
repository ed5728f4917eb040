import Testing
@testable import SkbTracerCore

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
}
