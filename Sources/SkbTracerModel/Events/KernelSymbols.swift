import Foundation

/// Kernel text symbols from /proc/kallsyms, for drop locations (`sym+0x1a`).
///
/// Loaded on first use: about 120k lines, about 100k of them text symbols. Kept
/// compact (all names in one byte array, a sorted table of address and name
/// offset) and read in chunks: a String per symbol and the whole file in memory
/// had made the first drop cost the tracer about 14 MB of RSS.
/// Needs kptr_restrict=0 (or CAP_SYSLOG) to see real addresses; otherwise
/// locations print as hex.
public final class KernelSymbols: @unchecked Sendable {
    private struct Entry { let address: UInt64; let nameStart: UInt32; let nameLength: UInt32 }
    private var entries: [Entry] = []
    private var nameBytes: [UInt8] = []
    private var loaded = false
    private var cache: [UInt64: String] = [:]
    /// Addresses resolved elsewhere (a replayed recording): never evicted.
    private var resolved: [UInt64: String] = [:]
    private let path: String
    static let maxCached = 65_536
    var cachedCount: Int { cache.count }
    var symbolCount: Int { loaded ? entries.count : 0 }

    public init(path: String = "/proc/kallsyms") { self.path = path }

    /// For tests: symbols given directly.
    public init(symbols: [(UInt64, String)]) {
        path = ""
        for (address, name) in symbols { add(address, Array(name.utf8)[...]) }
        finish()
    }

    /// An address the recording machine resolved. Bounded like the cache: a
    /// crafted file could name any number of addresses.
    public func remember(_ address: UInt64, as name: String) {
        if resolved.count >= Self.maxCached, resolved[address] == nil { return }
        resolved[address] = name
        cache[address] = nil
    }

    private func add(_ address: UInt64, _ name: ArraySlice<UInt8>) {
        entries.append(Entry(address: address, nameStart: UInt32(nameBytes.count), nameLength: UInt32(name.count)))
        nameBytes.append(contentsOf: name)
    }

    private func finish() {
        loaded = true
        // Usually sorted already (modules may not be); the sort is stable enough
        // for equal addresses: any of the aliases names the place.
        entries.sort { $0.address < $1.address }
        // Fresh storage of the exact size: the reserve was a guess.
        entries = entries.withUnsafeBufferPointer { Array($0) }
        nameBytes = nameBytes.withUnsafeBufferPointer { Array($0) }
    }

    private func load() {
        defer { finish() }
        // procfs files report size 0: read in chunks to the end.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        entries.reserveCapacity(131_072)
        nameBytes.reserveCapacity(2 << 20)
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        var pending: [UInt8] = []
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var lineStart = 0
            for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                if pending.isEmpty {
                    parseLine(chunk[lineStart..<i])
                } else {
                    pending.append(contentsOf: chunk[lineStart..<i])
                    parseLine(pending[...])
                    pending.removeAll(keepingCapacity: true)
                }
                lineStart = i + 1
            }
            pending.append(contentsOf: chunk[lineStart..<n])
        }
        if !pending.isEmpty { parseLine(pending[...]) }
    }

    /// "ffffffff81000000 T _stext\t[module]": text symbols only.
    private func parseLine(_ line: ArraySlice<UInt8>) {
        let space = UInt8(ascii: " ")
        guard let firstSpace = line.firstIndex(of: space), line.index(firstSpace, offsetBy: 3) < line.endIndex else { return }
        let type = line[firstSpace + 1]
        guard type == UInt8(ascii: "t") || type == UInt8(ascii: "T"), line[firstSpace + 2] == space else { return }
        var address: UInt64 = 0
        for c in line[line.startIndex..<firstSpace] {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return
            }
            guard address >> 60 == 0 else { return }
            address = address << 4 | UInt64(digit)
        }
        guard address != 0 else { return }
        var name = line[(firstSpace + 3)...]
        if let end = name.firstIndex(where: { $0 == UInt8(ascii: "\t") || $0 == space }) { name = name[..<end] }
        // __pfx_ symbols are the padding before a function, never a location.
        guard !name.isEmpty, !name.starts(with: "__pfx_".utf8) else { return }
        add(address, name)
    }

    /// The function an address is in, without the offset: a function probe's
    /// name from bpf_get_func_ip() (which may point past an ENDBR instruction).
    public func functionName(_ address: UInt64) -> String {
        if let hit = functionNames[address] { return hit }
        let symbol = symbolize(address)
        let name = symbol.hasPrefix("0x") ? "function-\(symbol)" : String(symbol[..<(symbol.lastIndex(of: "+") ?? symbol.endIndex)])
        if functionNames.count >= Self.maxCached { functionNames.removeAll(keepingCapacity: true) }
        functionNames[address] = name
        return name
    }

    private var functionNames: [UInt64: String] = [:]

    /// `symbol+0xoffset`, or the address in hex when no symbol covers it.
    public func symbolize(_ address: UInt64) -> String {
        if let hit = cache[address] { return hit }
        if let hit = resolved[address] { return hit }
        if !loaded { load() }
        var result = "0x" + String(address, radix: 16)
        // Binary search for the last symbol at or below the address.
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        if lo > 0 {
            let e = entries[lo - 1]
            let offset = address - e.address
            if offset < 1 << 20 {
                let start = Int(e.nameStart)
                let name = String(decoding: nameBytes[start..<start + Int(e.nameLength)], as: UTF8.self)
                result = "\(name)+0x\(String(offset, radix: 16))"
            }
        }
        // Real drop sites and stack frames are a few thousand addresses; corrupt
        // records could be any: start over rather than grow without bound.
        if cache.count >= Self.maxCached { cache.removeAll(keepingCapacity: true) }
        cache[address] = result
        return result
    }
}
