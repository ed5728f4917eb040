import Foundation

/// Kernel text symbols from /proc/kallsyms, for drop locations (`sym+0x1a`).
///
/// Loaded on first use: about 200k lines, read once. Needs kptr_restrict=0 (or
/// CAP_SYSLOG) to see real addresses; otherwise locations print as hex.
public final class KernelSymbols: @unchecked Sendable {
    private var addresses: [UInt64] = []
    private var names: [String] = []
    private var loaded = false
    private var cache: [UInt64: String] = [:]
    private let path: String
    static let maxCached = 65_536
    var cachedCount: Int { cache.count }

    public init(path: String = "/proc/kallsyms") { self.path = path }

    /// For tests: symbols given directly.
    public init(symbols: [(UInt64, String)]) {
        path = ""
        let sorted = symbols.sorted { $0.0 < $1.0 }
        addresses = sorted.map(\.0)
        names = sorted.map(\.1)
        loaded = true
    }

    private func load() {
        loaded = true
        // procfs files report size 0, so read to the end instead of by size.
        guard let handle = FileHandle(forReadingAtPath: path),
              let data = try? handle.readToEnd() else { return }
        try? handle.close()
        var pairs: [(UInt64, String)] = []
        pairs.reserveCapacity(250_000)
        data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            for line in buf.split(separator: UInt8(ascii: "\n")) {
                // "ffffffff81000000 T _stext [module]"
                let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 3)
                guard fields.count >= 3, let type = fields[1].first else { continue }
                guard type == UInt8(ascii: "t") || type == UInt8(ascii: "T") else { continue }
                guard let addr = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16), addr != 0 else { continue }
                var name = String(decoding: fields[2], as: UTF8.self)
                if let tab = name.firstIndex(of: "\t") { name = String(name[..<tab]) }
                // __pfx_ symbols are the padding before a function, never a location.
                if name.hasPrefix("__pfx_") { continue }
                pairs.append((addr, name))
            }
        }
        pairs.sort { $0.0 < $1.0 }
        addresses = pairs.map(\.0)
        names = pairs.map(\.1)
    }

    /// `symbol+0xoffset`, or the address in hex when no symbol covers it.
    public func symbolize(_ address: UInt64) -> String {
        if let hit = cache[address] { return hit }
        if !loaded { load() }
        var result = "0x" + String(address, radix: 16)
        // Binary search for the last symbol at or below the address.
        var lo = 0, hi = addresses.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if addresses[mid] <= address { lo = mid + 1 } else { hi = mid }
        }
        if lo > 0 {
            let offset = address - addresses[lo - 1]
            if offset < 1 << 20 { result = "\(names[lo - 1])+0x\(String(offset, radix: 16))" }
        }
        // Real drop sites and stack frames are a few thousand addresses; corrupt
        // records could be any: start over rather than grow without bound.
        if cache.count >= Self.maxCached { cache.removeAll(keepingCapacity: true) }
        cache[address] = result
        return result
    }
}
