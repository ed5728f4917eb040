import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
@testable import SkbTracerSystem
import Testing

// Fuzzing (issue 4): random ring-buffer records through the decoder, and random
// but structurally valid events through everything downstream of it (text and
// JSON formatters, journeys and their formatters, the diagnosis, dropwatch, flow
// tuples, stacks). Nothing may crash or trap, JSON must always parse and be
// valid UTF-8, and text output must keep its lines, with no control bytes.
// Deterministic: every input comes from the seed and its index.
//
//     swift test --filter Fuzz                       # CI (debug): 200k records, 20k pipeline events
//     SKBTRACER_FUZZ_INPUTS=1000000 swift test -c release --filter Fuzz
//
// docs/hardening.md (Fuzzing) has the numbers. FuzzFindingTests, at the end, holds
// what the fuzzer found, as regression tests.
//
// SKBTRACER_FUZZ_INPUTS    records for the decoder (default 200000)
// SKBTRACER_FUZZ_PIPELINE  events through the pipeline (default INPUTS / 10)
// SKBTRACER_FUZZ_SEED      the seed (decimal or 0x hex; default FuzzConfig.defaultSeed)
// SKBTRACER_FUZZ_SHOW      record:N or event:N: print that input (test showFuzzInput)
//
// A trap cannot be caught in-process: a signal handler prints the seed and the
// input being processed before the process dies. Rebuild that input with
// SKBTRACER_FUZZ_SHOW (and the seed), and make it a regression test below.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for fuzzing.
struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    /// The generator for input `index` of a run: each input can be rebuilt alone.
    init(seed: UInt64, index: Int) {
        var g = FuzzRandom(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        state = g.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<n (n > 0); the modulo bias does not matter here.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// True with probability 1/n.
    mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func u16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
}

/// The environment knobs.
enum FuzzConfig {
    static let defaultSeed: UInt64 = 0x5EB7_2ACE_F022_0004

    static func number(_ name: String) -> UInt64? {
        guard let s = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces), !s.isEmpty else {
            return nil
        }
        let plain = s.replacingOccurrences(of: "_", with: "").lowercased()
        return plain.hasPrefix("0x") ? UInt64(plain.dropFirst(2), radix: 16) : UInt64(plain)
    }

    static var seed: UInt64 { number("SKBTRACER_FUZZ_SEED") ?? defaultSeed }
    static var records: Int { Int(number("SKBTRACER_FUZZ_INPUTS") ?? 200_000) }
    static var pipelineEvents: Int { Int(number("SKBTRACER_FUZZ_PIPELINE") ?? UInt64(max(1, records / 10))) }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
}

// MARK: - Crash reporting

/// What each fuzz test is doing, for the signal handler: plain integers, updated
/// per input without allocating. Slot 0 is the decoder, slot 1 the pipeline.
nonisolated(unsafe) private var fuzzActive: (Bool, Bool) = (false, false)
nonisolated(unsafe) private var fuzzIndex: (UInt64, UInt64) = (0, 0)
nonisolated(unsafe) private var fuzzSeed: UInt64 = 0

/// Async-signal-safe: a stack buffer and write(2).
private func writeHex(_ v: UInt64) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { d in
        d[0] = UInt8(ascii: "0"); d[1] = UInt8(ascii: "x")
        var n = 0
        repeat { n += 1 } while n < 16 && v >> UInt64(4 * n) != 0
        for i in 0..<n {
            let nibble = UInt8((v >> UInt64(4 * (n - 1 - i))) & 0xf)
            d[2 + i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        _ = write(2, d.baseAddress, 2 + n)
    }
}

private func writeText(_ s: StaticString) { _ = write(2, s.utf8Start, s.utf8CodeUnitCount) }

private let fuzzCrashHandler: @convention(c) (Int32) -> Void = { sig in
    if fuzzActive.0 || fuzzActive.1 {
        writeText("\nskbtracer fuzz: signal ")
        writeHex(UInt64(sig))
        writeText(" with seed ")
        writeHex(fuzzSeed)
        if fuzzActive.0 { writeText(", fuzzDecodeRecords at SKBTRACER_FUZZ_SHOW=record:"); writeHex(fuzzIndex.0) }
        if fuzzActive.1 { writeText(", fuzzPipeline at SKBTRACER_FUZZ_SHOW=event:"); writeHex(fuzzIndex.1) }
        writeText("\n")
    }
    signal(sig, SIG_DFL)
    raise(sig)
}

/// Installed once, for the rest of the process; it re-raises with the default
/// action and says nothing unless a fuzz test is running.
private let installCrashHandler: Void = {
    for s in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] { signal(s, fuzzCrashHandler) }
}()

// MARK: - Decoder inputs

enum FuzzInput {
    static let headerSize = MemoryLayout<st_record>.size
    /// Each known section type's size (the stack's is its largest).
    static let sectionSizes: [UInt16: Int] = [
        UInt16(ST_SEC_CONTEXT.rawValue): MemoryLayout<st_sec_context>.size,
        UInt16(ST_SEC_PACKET.rawValue): MemoryLayout<st_sec_packet>.size,
        UInt16(ST_SEC_DROP.rawValue): MemoryLayout<st_sec_location>.size,
        UInt16(ST_SEC_LOCATION.rawValue): MemoryLayout<st_sec_location>.size,
        UInt16(ST_SEC_SOCKET.rawValue): MemoryLayout<st_sec_socket>.size,
        UInt16(ST_SEC_ROUTE.rawValue): MemoryLayout<st_sec_route>.size,
        UInt16(ST_SEC_CONNTRACK.rawValue): MemoryLayout<st_sec_ct>.size,
        UInt16(ST_SEC_TUNNEL.rawValue): MemoryLayout<st_sec_tunnel>.size,
        UInt16(ST_SEC_STACK.rawValue): MemoryLayout<st_sec_stack>.size,
        UInt16(ST_SEC_NF_HOOK.rawValue): MemoryLayout<st_sec_nf_hook>.size,
        UInt16(ST_SEC_NFT_VERDICT.rawValue): MemoryLayout<st_sec_nft_verdict>.size + 32,
        UInt16(ST_SEC_PAYLOAD.rawValue): MemoryLayout<st_sec_payload>.size + 64,
        UInt16(ST_SEC_CALLER.rawValue): MemoryLayout<st_sec_caller>.size,
    ]
    /// Variable size: a header, then at least caplen bytes.
    static let payloadType = UInt16(ST_SEC_PAYLOAD.rawValue)
    static let stackType = UInt16(ST_SEC_STACK.rawValue)
    /// Variable size: the fixed part, then four NUL-terminated names.
    static let verdictType = UInt16(ST_SEC_NFT_VERDICT.rawValue)
    /// A record with every section at its largest.
    static let maxRecordSize = headerSize + sectionSizes.values.reduce(0, +)

    /// Bytes for TraceEvent(bytes:), 0...2*maxRecordSize long: anything; valid
    /// headers with random sections (known types of the right, a wrong or a
    /// misaligned size, unknown types, context or packet missing) and garbage
    /// bodies; truncated records; bad sizes and kinds; stack sections with
    /// nr_frames past ST_STACK_MAX or past the section; valid events with bytes
    /// flipped, cut or added, or an unknown section inserted.
    static func record(seed: UInt64, index: Int) -> [UInt8] {
        var r = FuzzRandom(seed: seed, index: index)
        let maxLength = 2 * maxRecordSize
        func garbage(_ n: Int) -> [UInt8] {
            // Eight bytes per draw: byte by byte was most of the time in a debug build.
            [UInt8](unsafeUninitializedCapacity: n) { buf, initialized in
                var i = 0
                while i < n {
                    var v = r.next()
                    for _ in 0..<min(8, n - i) { buf[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
                }
                initialized = n
            }
        }
        func put16(_ v: UInt16, at o: Int, in b: inout [UInt8]) {
            if o < b.count { b[o] = UInt8(v & 0xff) }
            if o + 1 < b.count { b[o + 1] = UInt8(v >> 8) }
        }
        func put32(_ v: UInt32, at o: Int, in b: inout [UInt8]) {
            put16(UInt16(truncatingIfNeeded: v), at: o, in: &b); put16(UInt16(truncatingIfNeeded: v >> 16), at: o + 2, in: &b)
        }
        func header(_ b: inout [UInt8], kind: UInt16, size: UInt16) {
            put16(kind, at: 0, in: &b); put16(size, at: 2, in: &b)
        }
        /// A length near `size`: exact, one short or long, much shorter or longer, a header only.
        func lengthAround(_ size: Int) -> Int {
            switch r.below(8) {
            case 0, 1, 2: return size
            case 3: return size - 1
            case 4: return size + 1 + r.below(max(1, maxLength - size))
            case 5: return r.below(size)
            case 6: return r.pick([0, 1, 2, 3, 4, 5, 8, 16])
            default: return r.below(maxLength + 1)
            }
        }
        /// A section of garbage: mostly its type's size, sometimes another.
        func section(_ type: UInt16) -> [UInt8] {
            let right = sectionSizes[type] ?? 8 * (1 + r.below(8))
            let size: Int
            switch r.below(12) {
            case 0: size = right + r.pick([-8, 8, -1, 1, -4, 4])
            case 1: size = r.pick([0, 2, 4, 6, 8, 12])
            default: size = type == stackType ? 8 + 8 * r.below(Int(ST_STACK_MAX) + 1) : right
            }
            var b = garbage(max(size, 4))
            put16(type, at: 0, in: &b); put16(UInt16(truncatingIfNeeded: size), at: 2, in: &b)
            // A verdict's names: mostly four that fit (some empty), each NUL-terminated.
            // A payload: mostly a caplen that fits and a known link.
            if type == payloadType, size >= MemoryLayout<st_sec_payload>.size, !r.oneIn(4) {
                put16(UInt16(r.below(size - MemoryLayout<st_sec_payload>.size + 1)), at: 4, in: &b)
                b[6] = UInt8(1 + r.below(2))
            }
            if type == verdictType, size >= right, !r.oneIn(4) {
                let fixed = MemoryLayout<st_sec_nft_verdict>.size
                var p = fixed
                for i in 0..<4 {
                    let n = 1 + r.below(8)
                    put16(UInt16(n), at: fixed - 8 + 2 * i, in: &b)
                    for k in 0..<n { b[p + k] = k == n - 1 ? 0 : UInt8(ascii: "a") + UInt8(r.below(26)) }
                    p += n
                }
                if !r.oneIn(8) { b[5] = UInt8(1 + r.below(3)) }
            }
            if type == stackType {
                let nr: UInt32 = r.pick([0, 1, 31, 32, 33, 64, 1000, UInt32.max, UInt32(Int32.max), UInt32(Int32.max) + 1, r.u32()])
                put32(nr, at: 4, in: &b)
            }
            return b
        }
        /// Header, context and packet (sometimes missing or repeated), then other sections in any order.
        func sections(stack: Bool) -> [UInt8] {
            var b = garbage(headerSize)
            var types: [UInt16] = []
            if !r.oneIn(20) { types.append(UInt16(ST_SEC_CONTEXT.rawValue)) }
            if !r.oneIn(20) { types.append(UInt16(ST_SEC_PACKET.rawValue)) }
            for _ in 0..<r.below(5) {
                types.insert(r.oneIn(6) ? r.pick([0, 9, 99, 0x100, 0xffff, r.u16()]) : UInt16(1 + r.below(12)),
                             at: r.below(types.count + 1))
            }
            if stack { types.insert(stackType, at: r.below(types.count + 1)) }
            for t in types { b += section(t) }
            let size = b.count
            // Cut short, or followed by ring padding.
            let n = lengthAround(size)
            var out = n <= size ? Array(b.prefix(n)) : b + garbage(n - size)
            header(&out, kind: UInt16(ST_RECORD_EVENT.rawValue), size: UInt16(truncatingIfNeeded: size))
            return out
        }
        let kindEvent = UInt16(ST_RECORD_EVENT.rawValue)
        switch r.below(8) {
        case 0:
            return garbage(r.below(maxLength + 1))
        case 1:
            return sections(stack: false)
        case 2, 3:
            return sections(stack: true)
        case 4:
            var b = garbage(r.below(maxLength + 1))
            let size: UInt16 = r.pick([0, 1, 4, 8, UInt16(headerSize - 1), UInt16(headerSize), UInt16(headerSize + 1),
                                       UInt16(headerSize + 4), UInt16(maxRecordSize), UInt16(maxLength), 0x7fff, 0x8000, 0xffff, r.u16()])
            header(&b, kind: kindEvent, size: size)
            return b
        case 5:
            var b = sections(stack: r.oneIn(2))
            let kind: UInt16 = r.pick([0, 2, 3, 0x100, 0x101, 0x8001, 0xffff, r.u16()])
            header(&b, kind: kind, size: UInt16(truncatingIfNeeded: b.count))
            return b
        default:
            var clock = r.next() >> 2
            var b = EventRecord.bytes(FuzzEvents.fresh(&r, clock: &clock))
            if r.oneIn(3) {
                // A section of a newer build, after the header or after any section.
                var at = headerSize, starts = [at]
                while at + 4 <= b.count {
                    at += Int(UInt16(b[at + 2]) | UInt16(b[at + 3]) << 8)
                    starts.append(at)
                }
                let unknown = section(r.pick([0, 9, 99, 0xffff]))
                b.insert(contentsOf: unknown, at: min(r.pick(starts), b.count))
                header(&b, kind: kindEvent, size: UInt16(truncatingIfNeeded: b.count))
            }
            for _ in 0..<r.below(4) { b[r.below(b.count)] = r.byte() }
            switch r.below(6) {
            case 0: b.removeLast(1 + r.below(b.count))
            case 1: b += garbage(r.below(max(1, maxLength - b.count + 1)))
            default: break
            }
            return b
        }
    }
}

// MARK: - Pipeline inputs

/// Structurally valid events (kind and size right, everything else random) from
/// pools that make packets meet: a few skb addresses, addresses, ports,
/// namespaces, kernel symbols, drop reasons.
enum FuzzEvents {
    static let hostNetns: UInt32 = 4_026_531_840
    static let netnsNames: [UInt32: String] = [4_026_532_001: "c1", 4_026_532_002: "c2", 4_026_532_003: "lab ns"]
    static let netnsPool: [UInt32] = [0, hostNetns, 4_026_532_001, 4_026_532_002, 4_026_532_003, 1, UInt32.max]
    /// Socket inodes; the first two have owners (`owners`), the others none.
    static let sockPool: [UInt32] = [2_210_006, 2_210_024, 1_116, 77]
    static let owners: [UInt32: SocketOwner] = [2_210_006: SocketOwner(pid: 4242, comm: "nc"),
                                                2_210_024: SocketOwner(pid: 7, comm: "py\"th on")]
    static func socketOwners() -> SocketOwners {
        let o = SocketOwners()
        for (inode, owner) in owners { o.add(owner, inode: inode) }
        return o
    }
    static let symbolBase: UInt64 = 0xffff_ffff_8100_0000
    static let symbolNames = [
        "ping_rcv", "icmp_rcv", "icmpv6_rcv", "tcp_v4_rcv", "tcp_v6_rcv", "skb_release_data", "ip6_mc_input",
        "__udp4_lib_rcv", "udp_rcv", "__udp6_lib_rcv", "ip_rcv_finish_core.constprop.0", "ip_route_input_slow",
        "__netif_receive_skb_core.constprop.0", "inet_sock_destruct", "ndisc_rcv", "mld_query_work",
        "__neigh_event_send", "neigh_probe", "__dev_kfree_skb_any", "sk_skb_reason_drop", "nf_hook_slow",
        "bpf_prog_6deef7357e7b4530_tp_kfree_skb", "bpf_trace_run2", "__traceiter_kfree_skb", "perf_trace_consume_skb",
        "br_handle_frame", "ip_forward", "unix_stream_sendmsg",
    ]
    /// One symbol per MiB (KernelSymbols resolves offsets below 1 MiB).
    static let symbols: [(UInt64, String)] = symbolNames.enumerated().map { (symbolBase + UInt64($0.offset) << 20, $0.element) }

    /// Reasons 1...n: every explained name and those the noise rules test; others are unknown numbers.
    static let reasonNames: [String] = DropExplanations.explainedReasons + [
        "NO_SOCKET", "NOT_SPECIFIED", "IPV6_NDISC_NS_OTHERHOST", "UNHANDLED_PROTO", "PTYPE_ABSENT", "QUEUE_PURGE",
        "OTHERHOST", "NETFILTER_DROP",
    ]
    static let dropReasons = DropReasons(names: Dictionary(reasonNames.enumerated().map { (UInt32($0.offset + 1), $0.element) },
                                                          uniquingKeysWith: { a, _ in a }))
    static let skbPool: [UInt64] = (0..<8).map { 0xffff_8881_0000_0000 + UInt64($0) << 8 }

    static let v4Pool: [[UInt8]] = [[10, 0, 0, 1], [10, 0, 0, 2], [198, 18, 10, 2], [224, 0, 0, 251], [255, 255, 255, 255],
                                    [0, 0, 0, 0], [10, 0, 0, 255]]
    static let v6Pool: [[UInt8]] = [
        [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16], [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1],
        [UInt8](repeating: 0, count: 16), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
    ]
    static let portPool: [UInt16] = [53, 80, 443, 22, 5353, 0, 65535]

    /// Bytes that hurt in names: quotes, backslashes, control bytes, ESC sequences,
    /// DEL, split, overlong and surrogate UTF-8, U+2028, NEL, format strings.
    static let nastyBytes: [[UInt8]] = [
        [0x22], [0x5c], [0x0a], [0x0d], [0x09], [0x1b, 0x5b, 0x32, 0x4a], [0x7f], [0x01], [0x1f],
        [0xc3], [0xc3, 0xa9], [0xe2, 0x80, 0xa8], [0xc2, 0x85], [0xff], [0xfe], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
        [0xc0, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0xf0, 0x9f], Array("%s%n".utf8), Array("\\u0000".utf8), Array("</".utf8),
        Array("a b".utf8), Array("+0x".utf8), Array("->".utf8), Array(":".utf8),
    ]
    static let namePool = ["eth0", "veth1", "br0", "lo", "ceth0", "stl1234-h1", "wlp0s20f3", "ping", "swapper/3",
                           "kworker/u8:2", "python3"]

    /// A C char array: a real name, random bytes (NULs inside), all 16 bytes with
    /// no NUL, empty, or nasty bytes.
    static func fillName<T>(_ field: inout T, _ r: inout FuzzRandom) {
        withUnsafeMutableBytes(of: &field) { buf in
            for i in 0..<buf.count { buf[i] = 0 }
            var bytes: [UInt8]
            switch r.below(5) {
            case 0: bytes = Array(r.pick(namePool).utf8)
            case 1: bytes = (0..<r.below(buf.count + 1)).map { _ in r.byte() }
            case 2: bytes = (0..<buf.count).map { _ in UInt8(1 + r.below(255)) }
            case 3: bytes = []
            default:
                bytes = []
                while bytes.count < buf.count { bytes += r.pick(nastyBytes) }
                if r.oneIn(2) { bytes = Array(bytes.prefix(r.below(buf.count + 1))) }
            }
            for (i, b) in bytes.prefix(buf.count).enumerated() { buf[i] = b }
        }
    }

    static func fillAddress<T>(_ field: inout T, v6: Bool, _ r: inout FuzzRandom) {
        withUnsafeMutableBytes(of: &field) { buf in
            if r.oneIn(4) { for i in 0..<buf.count { buf[i] = r.byte() }; return }
            // IPv4 in the first 4 bytes; the rest is usually 0, sometimes not.
            let rest = r.oneIn(8)
            for i in 0..<buf.count { buf[i] = rest ? r.byte() : 0 }
            let a = v6 ? r.pick(v6Pool) : r.pick(v4Pool)
            for (i, b) in a.enumerated() { buf[i] = b }
        }
    }

    /// Mostly a little later than the last event, sometimes earlier (CPUs disagree),
    /// sometimes an extreme: including the values whose wall-clock time is at the
    /// ends of Int64 nanoseconds, or just before 1970, for the fuzz clock.
    static func time(_ r: inout FuzzRandom, clock: inout UInt64) -> UInt64 {
        switch r.below(20) {
        case 0:
            let offset = FuzzRun.clock.realtimeOffsetNs, utc = FuzzRun.clock.utcOffsetSeconds * 1_000_000_000
            let k = Int64(r.below(2_000_000_000)) - 1_000_000_000
            return r.pick([0, 1, UInt64.max, UInt64(Int64.max), UInt64(Int64.max) + 1, r.next(),
                           UInt64(bitPattern: (Int64.max &- offset &- utc) &+ k),
                           UInt64(bitPattern: (Int64.min &- offset) &+ k),
                           UInt64(bitPattern: (0 &- offset) &+ k),
                           UInt64(bitPattern: (0 &- offset &- utc) &+ k)])
        case 1:
            return clock &- UInt64(r.below(1_000_000))
        default:
            clock &+= UInt64(r.below(r.oneIn(50) ? 5_000_000_000 : 100_000))
            return clock
        }
    }

    static func stack(_ r: inout FuzzRandom) -> [UInt64] {
        // Up to 40 frames: more than the decoder returns (32); TraceEvent(raw:stack:) takes any.
        (0..<r.below(41)).map { _ in
            switch r.below(4) {
            case 0: return 0
            case 1: return r.next()
            default: return r.pick(symbols).0 + UInt64(r.below(0x800))
            }
        }
    }

    static func setFree(_ e: inout FlatEvent, _ r: inout FuzzRandom) {
        e.probe = UInt16(r.oneIn(2) ? ST_PROBE_KFREE_SKB.rawValue : ST_PROBE_CONSUME_SKB.rawValue)
        if !r.oneIn(8) {
            e.flags |= FlatEvent.LOCATION
            if e.probe == UInt16(ST_PROBE_KFREE_SKB.rawValue) { e.flags |= FlatEvent.DROP }
        }
        e.location = location(&r)
        e.drop_reason = reason(&r)
    }

    /// Codes of the reasons the noise rules look at.
    static let noisyReasons: [UInt32] = ["NO_SOCKET", "NOT_SPECIFIED", "IPV6_NDISC_NS_OTHERHOST", "UNHANDLED_PROTO",
                                         "PTYPE_ABSENT", "QUEUE_PURGE"].map { UInt32(reasonNames.firstIndex(of: $0)! + 1) }

    static func reason(_ r: inout FuzzRandom) -> UInt32 {
        switch r.below(6) {
        case 0: return r.u32()
        case 1, 2: return r.pick(noisyReasons)
        default: return UInt32(r.below(reasonNames.count + 2))
        }
    }

    static func symbol(_ name: String) -> UInt64 { symbols.first { $0.1 == name }!.0 }
    static func reasonCode(_ name: String) -> UInt32 { UInt32(reasonNames.firstIndex(of: name)! + 1) }

    /// A drop made for one of the known-noise rules (function, reason, protocol,
    /// addresses as the rule wants them), often with one thing changed so the rule
    /// may or may not hold: random events almost never reach them.
    static func noiseShaped(_ e: inout FlatEvent, _ r: inout FuzzRandom) {
        e.probe = UInt16(ST_PROBE_KFREE_SKB.rawValue)
        e.flags = UInt8(ST_PKT_L3.rawValue | ST_PKT_L4.rawValue | UInt32(FlatEvent.DROP) | UInt32(FlatEvent.LOCATION))
            | (r.oneIn(2) ? UInt8(ST_PKT_MAC.rawValue) : 0)
        var v6 = r.oneIn(2)
        let functions: [String], reasons: [String]
        switch r.below(9) {
        case 0: // ping's raw socket got its copy of an echo reply
            functions = ["ping_rcv", "icmp_rcv", "icmpv6_rcv"]; reasons = ["NO_SOCKET"]
            e.l4_proto = v6 ? 58 : 1; e.icmp_type = r.pick(v6 ? [129, 161] : [0, 43])
        case 1: // a fragment freed with its reassembled packet
            functions = ["skb_release_data"]; reasons = ["NOT_SPECIFIED"]
        case 2: // IPv6 multicast nobody joined
            functions = ["ip6_mc_input"]; reasons = ["NOT_SPECIFIED"]; v6 = true
            e.daddr = FlatEvent().daddr; fillAddress(&e.daddr, v6: true, &r); e.daddr.0 = 0xff
        case 3: // neighbour discovery and MLD of no use here
            functions = ["icmpv6_rcv", "ndisc_rcv", "mld_query_work"]; reasons = ["NOT_SPECIFIED", "IPV6_NDISC_NS_OTHERHOST"]; v6 = true
            e.l4_proto = 58; e.icmp_type = r.pick([130, 131, 132, 133, 134, 135, 136, 137, 143]); e.daddr.0 = 0xff
        case 4: // UDP broadcast or multicast nobody listens for: by address, pkt_type or MAC
            functions = ["__udp4_lib_rcv", "udp_rcv", "__udp6_lib_rcv"]; reasons = ["NOT_SPECIFIED"]
            e.l4_proto = 17; e.pkt_type = UInt8(r.below(4)); e.dmac.0 = r.pick([0x00, 0x01, 0x02, 0x33])
        case 5: // IPv4 multicast nobody joined
            functions = ["ip_rcv_finish_core.constprop.0"]; reasons = ["NOT_SPECIFIED"]; v6 = false
            e.daddr.0 = r.pick([224, 239, 10])
        case 6: // a reset for a connection already gone
            functions = ["tcp_v4_rcv", "tcp_v6_rcv"]; reasons = ["NO_SOCKET"]
            e.l4_proto = 6; e.tcp_flags = r.pick([0x04, 0x14, 0x02])
        case 7: // LLDP and 802.3/LLC frames
            functions = ["__netif_receive_skb_core.constprop.0"]; reasons = ["UNHANDLED_PROTO", "PTYPE_ABSENT"]
            e.l3_proto = r.pick([0x88CC, 0x0026, 0x05DC, 0x0600, 0])
        default: // a socket closed before it read its packet
            functions = ["inet_sock_destruct"]; reasons = ["QUEUE_PURGE"]
        }
        if e.l3_proto != 0x88CC && e.l3_proto >= 0x0600 || e.l3_proto == 0 { e.l3_proto = v6 ? 0x86DD : 0x0800 }
        e.location = symbol(r.pick(functions)) + r.pick([0, 0x10, 0x2a])
        e.drop_reason = reasonCode(r.pick(reasons))
        // One thing changed, or not.
        switch r.below(8) {
        case 0: e.location = r.pick(symbols).0 + 0x10
        case 1: e.drop_reason = r.pick(noisyReasons)
        case 2: e.flags &= ~FlatEvent.LOCATION
        case 3: e.l3_proto = v6 ? 0x0800 : 0x86DD
        case 4: e.pkt_type = UInt8(r.below(8))
        default: break
        }
    }

    static func location(_ r: inout FuzzRandom) -> UInt64 {
        switch r.below(5) {
        case 0: return 0
        case 1: return r.next()
        case 2: return r.pick(symbols).0 + UInt64(r.oneIn(4) ? r.below(1 << 21) : r.below(0x400))
        default: return r.pick(symbols).0 + r.pick([0, 0x10, 0x2a])
        }
    }

    /// A record with every field random.
    static func fresh(_ r: inout FuzzRandom, clock: inout UInt64) -> TraceEvent {
        var e = FlatEvent()
        if r.oneIn(20) {
            e.probe = r.pick([UInt16(ST_PROBE_COUNT.rawValue), UInt16(ST_PROBE_COUNT.rawValue) + 1, 0xff, 0x100, 0xffff, r.u16()])
        } else {
            e.probe = UInt16(r.below(Int(ST_PROBE_COUNT.rawValue)))
        }
        e.l3_proto = r.oneIn(10) ? r.u16() : r.pick([0x0800, 0x0800, 0x86DD, 0x86DD, 0x0806, 0, 0x88CC, 0x0026, 0x8100])
        e.l4_proto = r.oneIn(10) ? r.byte() : r.pick([1, 6, 17, 58, 1, 6, 17, 58, 132, 47, 50, 0])
        e.flags = r.oneIn(3) ? r.byte()
            : UInt8(ST_PKT_MAC.rawValue | ST_PKT_L3.rawValue | ST_PKT_L4.rawValue) | (r.byte() & r.byte() & r.byte() & ~FlatEvent.STACK)
        e.match = r.oneIn(10) ? r.byte() : UInt8(r.below(3))
        e.cpu = r.oneIn(10) ? r.u32() : UInt32(r.below(8))
        e.lost_before = r.oneIn(20) ? (r.oneIn(2) ? r.u32() : UInt32(r.below(100))) : 0
        e.ts_ns = time(&r, clock: &clock)
        e.skb = r.oneIn(10) ? r.next() : r.pick(skbPool)
        e.location = location(&r)
        e.pid = r.oneIn(4) ? r.u32() : UInt32(r.below(5000))
        e.tid = r.u32()
        e.netns = r.oneIn(8) ? r.u32() : r.pick(netnsPool)
        e.ifindex = r.oneIn(4) ? r.u32() : UInt32(r.below(8))
        e.mark = r.oneIn(4) ? r.u32() : 0
        e.skb_len = r.u32()
        e.drop_reason = reason(&r)
        e.ip_len = r.u16()
        e.sport = r.oneIn(2) ? r.u16() : r.pick(portPool)
        e.dport = r.oneIn(2) ? r.u16() : r.pick(portPool)
        e.icmp_id = r.oneIn(2) ? r.u16() : UInt16(r.below(4))
        e.icmp_seq = r.oneIn(2) ? r.u16() : UInt16(r.below(4))
        e.tcp_flags = r.byte()
        e.icmp_type = r.oneIn(3) ? r.byte() : r.pick([0, 8, 3, 11, 128, 129, 133, 135, 136, 143, 1, 2, 43, 161])
        e.icmp_code = r.oneIn(2) ? r.byte() : 0
        e.pkt_type = r.oneIn(3) ? r.byte() : UInt8(r.below(8))
        e.ttl = r.byte()
        e.ip_id = r.oneIn(2) ? r.u16() : UInt16(r.below(4))
        withUnsafeMutableBytes(of: &e.tcp_seq) { for i in 0..<4 { $0[i] = r.oneIn(2) ? r.byte() : 0 } }
        withUnsafeMutableBytes(of: &e.dmac) { for i in 0..<6 { $0[i] = r.byte() } }
        withUnsafeMutableBytes(of: &e.smac) { for i in 0..<6 { $0[i] = r.byte() } }
        let v6 = e.l3_proto == 0x86DD
        fillAddress(&e.saddr, v6: v6, &r)
        fillAddress(&e.daddr, v6: v6, &r)
        fillName(&e.ifname, &r)
        fillName(&e.comm, &r)
        if r.oneIn(6) { setFree(&e, &r) }
        if r.oneIn(8) { noiseShaped(&e, &r) }
        var stack: [UInt64]?
        if r.oneIn(8) {
            e.flags |= FlatEvent.STACK
            stack = Self.stack(&r)
        }
        // Route lookups (sometimes a flow: no skb) and conntrack entries, of any bytes.
        var route: st_route?, ct: st_ct?
        if r.oneIn(10) {
            route = Self.garbage(st_route.self, &r)
            e.probe = UInt16(r.oneIn(2) ? ST_PROBE_FIB_TABLE_LOOKUP.rawValue : ST_PROBE_FIB6_TABLE_LOOKUP.rawValue)
            if r.oneIn(2) { e.skb = 0 }
            stack = nil
        } else if r.oneIn(6) {
            ct = Self.garbage(st_ct.self, &r)
            if r.oneIn(3) { ct!.ctinfo = UInt8(r.below(8)); ct!.family = r.pick([0, 4, 6]); ct!.protonum = r.pick([1, 6, 17, 58, 132, 47]) }
        }
        // --owner: a socket from the pool (owned, unknown, a kernel one) or any number.
        if r.oneIn(3) {
            e.sock_ino = r.oneIn(5) ? r.u32() : r.pick(sockPool)
            e.sock_uid = r.pick([0, 0, 1000, ST_SOCK_KERNEL, r.u32()])
        }
        return TraceEvent(raw: e, stack: stack, route: route, ct: ct)
    }

    static func garbage<T>(_ type: T.Type, _ r: inout FuzzRandom) -> T {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: MemoryLayout<T>.size) { buf in
            for i in 0..<buf.count { buf[i] = UInt8(truncatingIfNeeded: r.next()) }
            return UnsafeRawPointer(buf.baseAddress!).loadUnaligned(as: T.self)
        }
    }
}

/// The pipeline's event stream: fresh random events, the next hop of an earlier
/// packet (another probe, namespace or interface, sometimes NATed, sometimes a
/// byte changed), and replies to earlier packets, so journeys grow, cross
/// namespaces, get rewritten, answered, split and evicted.
struct FuzzStream {
    let seed: UInt64
    private(set) var index = 0
    private var clock: UInt64 = 1_000_000_000
    private var lastBySkb: [UInt64: FlatEvent] = [:]
    private var recent: [FlatEvent] = []

    init(seed: UInt64) { self.seed = seed }

    mutating func next() -> TraceEvent {
        var r = FuzzRandom(seed: seed, index: index)
        index += 1
        let ev: TraceEvent
        let choice = r.below(10)
        if choice < 5, let skb = lastBySkb.keys.sorted().dropFirst(r.below(max(1, lastBySkb.count))).first,
           var e = lastBySkb[skb] {
            // The same packet, further on.
            e.probe = UInt16(r.below(Int(ST_PROBE_COUNT.rawValue)))
            e.ts_ns = FuzzEvents.time(&r, clock: &clock)
            e.match = r.oneIn(5) ? UInt8(r.below(3)) : UInt8(ST_MATCH_SKB.rawValue)
            e.flags = (e.flags | (r.oneIn(2) ? FlatEvent.TRACKED : 0)) & ~UInt8(UInt32(FlatEvent.STACK) | UInt32(FlatEvent.DROP) | UInt32(FlatEvent.LOCATION))
            e.lost_before = r.oneIn(30) ? UInt32(r.below(10)) : 0
            if r.oneIn(2) { e.netns = r.pick(FuzzEvents.netnsPool) }
            if r.oneIn(2) { FuzzEvents.fillName(&e.ifname, &r) }
            // Each L2 hop has its own MAC header and packet type.
            if r.oneIn(2) { e.pkt_type = UInt8(r.below(8)) }
            if r.oneIn(2) { withUnsafeMutableBytes(of: &e.dmac) { for i in 0..<6 { $0[i] = r.byte() } } }
            if r.oneIn(5) {
                // NAT: one end rewritten.
                let v6 = e.l3_proto == 0x86DD
                if r.oneIn(2) { FuzzEvents.fillAddress(&e.daddr, v6: v6, &r); e.dport = r.pick(FuzzEvents.portPool) } else {
                    FuzzEvents.fillAddress(&e.saddr, v6: v6, &r); e.sport = r.u16()
                }
            }
            if r.oneIn(10) {
                // Any byte but the header.
                withUnsafeMutableBytes(of: &e) { $0[4 + r.below(MemoryLayout<FlatEvent>.size - 4)] = r.byte() }
            }
            if r.oneIn(5) { FuzzEvents.setFree(&e, &r) }
            var stack: [UInt64]?
            if r.oneIn(8) { e.flags |= FlatEvent.STACK; stack = FuzzEvents.stack(&r) }
            ev = TraceEvent(raw: e, stack: stack)
        } else if choice == 5, !recent.isEmpty {
            // A clone, as a bridge floods one to every port: the same headers (and,
            // for a drop, the same reason and place) with its own skb, MAC header
            // and packet type.
            let drops = recent.filter { $0.flags & FlatEvent.DROP != 0 }
            var e = drops.isEmpty || r.oneIn(3) ? r.pick(recent) : r.pick(drops)
            e.skb = r.pick(FuzzEvents.skbPool)
            e.pkt_type = UInt8(r.below(8))
            withUnsafeMutableBytes(of: &e.dmac) { for i in 0..<6 { $0[i] = r.byte() } }
            if r.oneIn(2) { FuzzEvents.fillName(&e.ifname, &r) }
            e.ts_ns = FuzzEvents.time(&r, clock: &clock)
            ev = TraceEvent(raw: e)
        } else if choice < 8, !recent.isEmpty {
            // A reply: ends swapped, echo request -> reply, SYN -> SYN-ACK, a new skb.
            var e = r.pick(recent)
            (e.saddr, e.daddr) = (e.daddr, e.saddr)
            (e.sport, e.dport) = (e.dport, e.sport)
            if e.icmp_type == 8 { e.icmp_type = 0 } else if e.icmp_type == 128 { e.icmp_type = 129 }
            if e.tcp_flags & 0x02 != 0 { e.tcp_flags |= 0x10 }
            e.skb = r.oneIn(10) ? r.next() : r.pick(FuzzEvents.skbPool)
            e.probe = UInt16(r.below(Int(ST_PROBE_COUNT.rawValue)))
            e.match = UInt8(r.below(3))
            e.flags &= ~UInt8(UInt32(FlatEvent.STACK) | UInt32(FlatEvent.DROP) | UInt32(FlatEvent.LOCATION))
            e.ts_ns = FuzzEvents.time(&r, clock: &clock)
            if r.oneIn(2) { e.netns = r.pick(FuzzEvents.netnsPool) }
            ev = TraceEvent(raw: e)
        } else {
            ev = FuzzEvents.fresh(&r, clock: &clock)
        }
        if ev.isFree { lastBySkb[ev.header.skb] = nil } else { lastBySkb[ev.header.skb] = ev.raw }
        if lastBySkb.count > 64 { lastBySkb.removeAll() }
        if recent.count < 32 { recent.append(ev.raw) } else { recent[r.below(32)] = ev.raw }
        return ev
    }

    /// Event `index` of the stream for `seed`, rebuilt by replaying the stream.
    static func event(seed: UInt64, index: Int) -> TraceEvent {
        var s = FuzzStream(seed: seed)
        var ev = s.next()
        while s.index <= index { ev = s.next() }
        return ev
    }
}

// MARK: - Output checks

/// Each check returns the problem in words, or nil.
enum FuzzCheck {
    static let newline = UInt8(ascii: "\n")

    /// Start offsets and lengths of the lines (without their newline); the bytes end with one.
    static func lines(_ bytes: [UInt8]) -> [(start: Int, count: Int)] {
        var result: [(Int, Int)] = []
        bytes.withUnsafeBufferPointer { p in
            var start = 0
            for i in 0..<p.count where p[i] == newline {
                result.append((start, i - start))
                start = i + 1
            }
        }
        return result
    }

    /// JSON objects, one per line, valid UTF-8, each parsed by JSONSerialization.
    static func json(_ bytes: [UInt8]) -> String? { jsonObjects(bytes).problem }

    static func jsonObjects(_ bytes: [UInt8]) -> (objects: [[String: Any]], problem: String?) {
        guard !bytes.isEmpty else { return ([], nil) }
        guard bytes.last == newline else { return ([], "JSON output does not end with a newline") }
        guard String(validating: bytes, as: UTF8.self) != nil else { return ([], "JSON output is not valid UTF-8") }
        var objects: [[String: Any]] = []
        for (start, count) in lines(bytes) {
            let line = bytes[start..<(start + count)]
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) else {
                return (objects, "JSON line does not parse: \(String(decoding: line, as: UTF8.self))")
            }
            guard let dict = object as? [String: Any], dict["type"] is String else {
                return (objects, "JSON line is not an object with a type: \(String(decoding: line, as: UTF8.self))")
            }
            objects.append(dict)
        }
        return (objects, nil)
    }

    /// An event's JSON, parsed, against what other code computes on its own:
    /// addresses (inet_ntop), the drop explanation and the known-noise note
    /// (DropExplanations, no cache).
    static func eventJSON(_ bytes: [UInt8], _ ev: TraceEvent, symbols: KernelSymbols) -> String? {
        let (objects, problem) = jsonObjects(bytes)
        if let problem { return problem }
        guard objects.count == 1, let o = objects.first else { return "\(objects.count) JSON objects for one event" }
        func string(_ key: String) -> String? { o[key] as? String }
        let e = ev.raw
        if ev.hasL3 {
            for (key, addr) in [("saddr", e.saddr), ("daddr", e.daddr)] {
                let want = withUnsafeBytes(of: addr) { IPAddress.format($0.bindMemory(to: UInt8.self).baseAddress!, isIPv4: !ev.isIPv6) }
                if string(key) != want { return "\(key) \(string(key) ?? "null"), inet_ntop says \(want)" }
            }
        }
        let name = FuzzEvents.dropReasons.name(e.drop_reason)
        let explanation = ev.isDrop ? DropExplanations.explain(name)?.explanation : nil
        if string("drop_explanation") != explanation { return "drop_explanation \(string("drop_explanation") ?? "null"), expected \(explanation ?? "null")" }
        let function = ev.hasLocation && e.location != 0 ? JourneyNames.function(of: symbols.symbolize(e.location)) : nil
        let noise = ev.isDrop ? DropExplanations.noise(reason: name, function: function, event: ev) : nil
        if string("drop_noise") != noise {
            return "drop_noise \(string("drop_noise") ?? "null"), DropExplanations.noise says \(noise ?? "null") (\(name) at \(function ?? "nil"), pkt_type \(e.pkt_type), dmac[0] \(e.dmac.0))"
        }
        return nil
    }

    /// Text ending in a newline, with no control bytes but newlines (a task or
    /// interface name must not start a line or move the terminal's cursor).
    static func text(_ bytes: [UInt8], lines expected: Int? = nil) -> String? {
        guard !bytes.isEmpty else { return expected == nil || expected == 0 ? nil : "no text output" }
        guard bytes.last == newline else { return "text output does not end with a newline" }
        let (bad, newlines) = bytes.withUnsafeBufferPointer { p -> (UInt8?, Int) in
            var n = 0
            for b in p {
                if b == newline { n += 1 } else if b < 0x20 || b == 0x7f { return (b, n) }
            }
            return (nil, n)
        }
        if let bad { return "text output has control byte 0x\(String(bad, radix: 16)): \(String(decoding: bytes, as: UTF8.self).debugDescription)" }
        if let expected, newlines != expected {
            return "text output has \(newlines) lines, expected \(expected): \(String(decoding: bytes, as: UTF8.self).debugDescription)"
        }
        return nil
    }

    static let stackLine = Array("    at ".utf8), noStack = Array("    (no kernel stack)".utf8)
    static let why = Array("    why: ".utf8), hint = Array("    hint: ".utf8), noise = Array("    known noise: ".utf8)

    /// An event line; under a drop, maybe its explanation (`why:` and `hint:`, or
    /// `known noise:`); then with a stack one `    at frame` line per frame, or `    (no kernel stack)`.
    static func eventText(_ bytes: [UInt8], hasStack: Bool, isDrop: Bool) -> String? {
        if let problem = text(bytes, lines: hasStack || isDrop ? nil : 1) { return problem }
        var rest = ArraySlice(lines(bytes).dropFirst())
        func line(_ l: (Int, Int)) -> ArraySlice<UInt8> { bytes[l.0..<(l.0 + l.1)] }
        if isDrop, let first = rest.first {
            if line(first).starts(with: noise) {
                rest = rest.dropFirst()
            } else if line(first).starts(with: why) {
                guard rest.count >= 2, line(rest[rest.startIndex + 1]).starts(with: hint) else {
                    return "why: without hint: \(String(decoding: bytes, as: UTF8.self).debugDescription)"
                }
                rest = rest.dropFirst(2)
            }
        }
        guard hasStack else {
            return rest.isEmpty ? nil : "lines after the event: \(String(decoding: bytes, as: UTF8.self).debugDescription)"
        }
        guard !rest.isEmpty else { return "no stack lines: \(String(decoding: bytes, as: UTF8.self).debugDescription)" }
        for (start, count) in rest {
            let line = bytes[start..<(start + count)]
            if !line.starts(with: stackLine) && !line.elementsEqual(noStack) {
                return "not a stack line: \(String(decoding: line, as: UTF8.self).debugDescription)"
            }
        }
        return nil
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// `pattern`: 'd' is a digit, anything else itself.
    static func shape(_ bytes: ArraySlice<UInt8>, _ pattern: StaticString) -> Bool {
        let p = UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount)
        guard bytes.count >= p.count else { return false }
        for (b, c) in zip(bytes, p) {
            if c == UInt8(ascii: "d") { if !isDigit(b) { return false } } else if b != c { return false }
        }
        return true
    }

    /// The time column: `HH:MM:SS.uuuuuu`, `seconds.uuuuuu`, or `YYYY-MM-DD HH:MM:SS.uuuuuu`.
    static func timeColumn(_ line: [UInt8], _ format: TimeFormat) -> String? {
        switch format {
        case .wallClock:
            if shape(line[...], "dd:dd:dd.dddddd ") { return nil }
        case .monotonic, .relative:
            let digits = line.prefix { isDigit($0) }
            if !digits.isEmpty, shape(line[digits.count...], ".dddddd ") { return nil }
        case .date:
            // Int64 nanoseconds span 1677-2262: the year has 4 digits.
            if shape(line[...], "dddd-dd-dd dd:dd:dd.dddddd ") { return nil }
        case .none:
            // The line starts with NETWORK_NS, padded to 11.
            let digits = line.prefix { isDigit($0) }
            if !digits.isEmpty, line.count > digits.count, line[digits.count] == UInt8(ascii: " ") { return nil }
        }
        return "bad time column: \(String(decoding: line.prefix(32), as: UTF8.self).debugDescription)"
    }

    /// An event's JSON "time": RFC 3339, and the same as formatting it afresh
    /// (the formatter caches the part up to the second).
    static func jsonTime(_ bytes: [UInt8], ts: UInt64, clock: Clock) -> String? {
        let key = Array("{\"type\":\"event\",\"time\":\"".utf8)
        guard bytes.starts(with: key) else { return "JSON event does not start with type and time" }
        let value = bytes[key.count...].prefix { $0 != UInt8(ascii: "\"") }
        guard value.count == 27, shape(value, "dddd-dd-ddTdd:dd:dd.ddddddZ") else {
            return "JSON time is not RFC 3339: \(String(decoding: value, as: UTF8.self))"
        }
        var fresh = ByteBuffer(capacity: 64)
        clock.appendISO8601(ts, to: &fresh)
        guard fresh.bytes.elementsEqual(value) else {
            return "JSON time \(String(decoding: value, as: UTF8.self)) differs from \(String(decoding: fresh.bytes, as: UTF8.self)) for ts_ns \(ts)"
        }
        return nil
    }
}

// MARK: - Shared state of a run

/// Names and contexts as the CLI builds them, and the problems found.
final class FuzzRun {
    static let clock = Clock(realtimeOffsetNs: 1_700_000_000_000_000_000, utcOffsetSeconds: 3600)

    /// KernelSymbols caches every address it resolves: renewed now and then, or
    /// random stacks would fill it with millions of entries.
    private(set) var symbols = KernelSymbols(symbols: FuzzEvents.symbols)
    func renewSymbols() { symbols = KernelSymbols(symbols: FuzzEvents.symbols) }
    let netns = NetnsNames(names: FuzzEvents.netnsNames, hostInode: FuzzEvents.hostNetns)
    var names: JourneyNames { JourneyNames(dropReasons: FuzzEvents.dropReasons, symbols: symbols, netns: netns) }

    func context(_ format: TimeFormat = .wallClock) -> FormatContext {
        let c = FormatContext(dropReasons: FuzzEvents.dropReasons, symbols: symbols, clock: Self.clock, timeFormat: format)
        c.owners = FuzzEvents.socketOwners()
        return c
    }

    let seed: UInt64
    private(set) var problems: [String] = []
    var full: Bool { problems.count >= 40 }

    init(seed: UInt64) { self.seed = seed }

    func report(_ problem: String?, _ what: @autoclosure () -> String) {
        guard let problem, !full else { return }
        problems.append("\(what()): \(problem)")
    }

    var summary: String {
        "\(problems.count) problems (seed \(FuzzConfig.hex(seed))):\n" + problems.joined(separator: "\n")
    }

    static func render(_ body: (inout ByteBuffer) -> Void) -> [UInt8] {
        var b = ByteBuffer(capacity: 1024)
        body(&b)
        return b.bytes
    }

    static func seconds(since start: UInt64) -> String {
        String(format: "%.2f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

// MARK: - The fuzz tests

@Suite("Fuzz: decoding and everything downstream")
struct FuzzTests {
    /// (a) Random records into TraceEvent(bytes:), checked against what the header
    /// says must happen; every record that decodes is printed as text and JSON.
    @Test func fuzzDecodeRecords() throws {
        _ = installCrashHandler
        let seed = FuzzConfig.seed, count = FuzzConfig.records
        let run = FuzzRun(seed: seed)
        let formats = TimeFormat.allCases
        var text: [TextFormatter] = [], json = JSONFormatter(context: run.context())
        var decoded = 0, stacks = 0
        var rejected: [String: Int] = [:]
        let start = DispatchTime.now().uptimeNanoseconds
        fuzzSeed = seed
        fuzzActive.0 = true
        defer { fuzzActive.0 = false }
        for i in 0..<count {
            fuzzIndex.0 = UInt64(i)
            if i % 16384 == 0 {
                run.renewSymbols()
                text = formats.map { TextFormatter(context: run.context($0)) }
                json = JSONFormatter(context: run.context())
            }
            let bytes = FuzzInput.record(seed: seed, index: i)
            func what() -> String { "record:\(i) \(bytes)" }
            // At an odd address and exactly as long as the record: loads must be
            // unaligned and stay inside it.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: 16)
            defer { buffer.deallocate() }
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[1...])
            bytes.withUnsafeBytes { slice.copyMemory(from: $0) }
            let result = Result<TraceEvent, TraceEvent.DecodeError> { () throws(TraceEvent.DecodeError) in
                try TraceEvent(bytes: UnsafeRawBufferPointer(slice))
            }
            run.report(Self.decodeProblem(bytes, result), what())
            let ev: TraceEvent
            switch result {
            case .success(let e): ev = e
            case .failure(let error):
                switch error {
                case .truncated: rejected["truncated", default: 0] += 1
                case .unknownKind: rejected["unknownKind", default: 0] += 1
                case .sizeMismatch: rejected["sizeMismatch", default: 0] += 1
                case .badSection: rejected["badSection", default: 0] += 1
                }
                continue
            }
            decoded += 1
            if ev.stack != nil { stacks += 1 }
            run.checkEvent(ev, text: text[i % formats.count], format: formats[i % formats.count], json: json, what: what())
            if run.full { break }
        }
        print("fuzz decode: \(count) records, \(decoded) decoded (\(stacks) with stacks), rejected \(rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); \(FuzzRun.seconds(since: start)) s, seed \(FuzzConfig.hex(seed))")
        #expect(run.problems.isEmpty, "\(run.summary)")
        // The generator must reach every branch of the decoder.
        #expect(count < 1000 || decoded > count / 20 && stacks > count / 50 && rejected.count == 4,
                "decoded \(decoded), stacks \(stacks), rejected \(rejected) (seed \(FuzzConfig.hex(seed)))")
    }

    /// The decoder's contract, from the record's bytes alone.
    static func decodeProblem(_ bytes: [UInt8], _ result: Result<TraceEvent, TraceEvent.DecodeError>) -> String? {
        // Little-endian, as BPF writes on x86-64 and arm64.
        func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        let context = UInt16(ST_SEC_CONTEXT.rawValue), packet = UInt16(ST_SEC_PACKET.rawValue)
        let drop = UInt16(ST_SEC_DROP.rawValue), location = UInt16(ST_SEC_LOCATION.rawValue)
        // The record's rules, from skbtracer_abi.h: where each section type last starts.
        var last: [UInt16: (at: Int, size: Int)] = [:]
        var lastLocation: (type: UInt16, at: Int)?
        func walk() -> TraceEvent.DecodeError? {
            if bytes.count < 4 { return .truncated(bytes.count) }
            if u16(0) != UInt16(ST_RECORD_EVENT.rawValue) { return .unknownKind(u16(0)) }
            let size = Int(u16(2))
            if size < FuzzInput.headerSize { return .sizeMismatch(u16(2)) }
            if bytes.count < size { return .truncated(bytes.count) }
            var at = FuzzInput.headerSize
            while at < size {
                if size - at < 4 { return .badSection(0) }
                let type = u16(at), length = Int(u16(at + 2))
                if length < 8 || length % 8 != 0 || length > size - at { return .badSection(type) }
                if type == FuzzInput.verdictType {
                    // The fixed part, a known kind, and four names that end in NUL inside the section.
                    if length < MemoryLayout<st_sec_nft_verdict>.size || !(1...3).contains(bytes[at + 5]) { return .badSection(type) }
                    var p = at + MemoryLayout<st_sec_nft_verdict>.size
                    for i in 0..<4 {
                        let n = Int(u16(at + 32 + 2 * i))
                        if n < 1 || p + n > at + length || bytes[p + n - 1] != 0 { return .badSection(type) }
                        p += n
                    }
                } else if type == FuzzInput.payloadType {
                    if length < MemoryLayout<st_sec_payload>.size
                        || Int(u16(at + 4)) > length - MemoryLayout<st_sec_payload>.size { return .badSection(type) }
                } else if let known = FuzzInput.sectionSizes[type], type != FuzzInput.stackType, length != known {
                    return .badSection(type)
                }
                last[type] = (at, length)
                if type == drop || type == location { lastLocation = (type, at) }
                at += length
            }
            if last[context] == nil { return .badSection(context) }
            if last[packet] == nil { return .badSection(packet) }
            return nil
        }
        let expected = walk()
        switch (result, expected) {
        case (.failure(let got), let want?):
            return got == want ? nil : "decode error \(got), expected \(want)"
        case (.failure(let got), nil):
            return "decode error \(got) for a valid record"
        case (.success, let want?):
            return "decoded a record that should fail with \(want)"
        case (.success(let ev), nil):
            func same<T>(_ value: T, at o: Int) -> Bool {
                withUnsafeBytes(of: value) { $0.elementsEqual(bytes[o..<o + $0.count]) }
            }
            if !same(ev.header, at: 0) { return "header differs from the record" }
            if !same(ev.context, at: last[context]!.at) { return "context is not the record's last" }
            if !same(ev.packet.raw, at: last[packet]!.at + 4) { return "packet is not the record's last" }
            if let l = lastLocation {
                if ev.location != u64(l.at + 8) { return "location is not the record's" }
                if ev.dropReason != (l.type == drop ? u32(l.at + 4) : nil) { return "drop reason \(String(describing: ev.dropReason)) for a section of type \(l.type)" }
            } else if ev.location != 0 || ev.dropReason != nil {
                return "a location or drop reason without their section"
            }
            if let sock = last[UInt16(ST_SEC_SOCKET.rawValue)] {
                if ev.socket != TraceEvent.Socket(inode: u32(sock.at + 4), uid: u32(sock.at + 8)) { return "socket is not the record's" }
            } else if ev.socket != nil { return "a socket without its section" }
            if let route = last[UInt16(ST_SEC_ROUTE.rawValue)] {
                guard let got = ev.route, same(got, at: route.at + 8) else { return "route is not the record's" }
            } else if ev.route != nil { return "a route without its section" }
            if let ct = last[UInt16(ST_SEC_CONNTRACK.rawValue)] {
                guard let got = ev.ct, same(got, at: ct.at + 8) else { return "conntrack entry is not the record's" }
            } else if ev.ct != nil { return "a conntrack entry without its section" }
            // A tunnel section of an unknown kind (1 to 5 are known) is no tunnel.
            if let t = last[UInt16(ST_SEC_TUNNEL.rawValue)], (1...5).contains(bytes[t.at + 4]) {
                guard let got = ev.tunnel, got.kind.rawValue == bytes[t.at + 4] else { return "tunnel kind is not the record's" }
                let vni: UInt32? = bytes[t.at + 4] <= 2 ? u32(t.at + 8) : nil
                if got.vni != vni || !same(got.inner.raw, at: t.at + 12) { return "tunnel is not the record's" }
            } else if ev.tunnel != nil { return "a tunnel without its section" }
            if let h = last[UInt16(ST_SEC_NF_HOOK.rawValue)], (1...2).contains(bytes[h.at + 6]) {
                if ev.netfilterHook != NetfilterHookPass(family: bytes[h.at + 4], hook: bytes[h.at + 5], isEntry: bytes[h.at + 6] == 1) {
                    return "hook pass is not the record's"
                }
            } else if ev.netfilterHook != nil { return "a hook pass without its section" }
            if let p = last[FuzzInput.payloadType], u16(p.at + 4) > 0, (1...2).contains(bytes[p.at + 6]) {
                let n = Int(u16(p.at + 4)), start = p.at + MemoryLayout<st_sec_payload>.size
                if ev.payload?.bytes != Array(bytes[start..<(start + n)]) { return "payload is not the record's" }
            } else if ev.payload != nil { return "a payload without its section" }
            if let v = last[FuzzInput.verdictType] {
                let n = Int(u16(v.at + 32)), start = v.at + MemoryLayout<st_sec_nft_verdict>.size
                let table = String(decoding: bytes[start..<(start + n - 1)], as: UTF8.self)
                if ev.nftVerdict?.table != table || ev.nftVerdict?.kind.rawValue != bytes[v.at + 5] { return "verdict is not the record's" }
            } else if ev.nftVerdict != nil { return "a verdict without its section" }
            if let c = last[UInt16(ST_SEC_CALLER.rawValue)], u64(c.at + 8) != 0 {
                if ev.caller != u64(c.at + 8) { return "caller is not the record's" }
            } else if ev.caller != nil { return "a caller without its section" }
            guard let stack = last[FuzzInput.stackType] else { return ev.stack == nil ? nil : "a record without stack decoded with a stack" }
            guard let frames = ev.stack else { return "a stack section decoded without its stack" }
            let n = min(Int(u32(stack.at + 4)), (stack.size - 8) / 8, Int(ST_STACK_MAX))
            if frames != (0..<n).map({ u64(stack.at + 8 + 8 * $0) }) { return "stack \(frames) is not the record's (nr_frames \(u32(stack.at + 4)))" }
            return nil
        }
    }

    /// (b) Valid records with random fields through every consumer: text and JSON
    /// events and loss markers, flow tuples, stacks, journeys (4 open at most, 8
    /// skb addresses: eviction, reuse, splitting, timeouts), both journey
    /// formatters, the diagnosis, and dropwatch writing text and JSON files.
    @Test func fuzzPipeline() throws {
        _ = installCrashHandler
        let seed = FuzzConfig.seed, count = FuzzConfig.pipelineEvents
        let run = FuzzRun(seed: seed)
        let names = run.names
        let formats = TimeFormat.allCases
        let text = formats.map { TextFormatter(context: run.context($0)) }
        let json = JSONFormatter(context: run.context())
        let journeyText = JourneyTextFormatter(context: run.context(), names: names)
        let journeyJSON = JourneyJSONFormatter(context: run.context(), names: names)
        let tracker = JourneyTracker(names: names, maxOpen: 4, timeoutNs: 50_000_000)
        let diagnosis = Diagnosis(maxFlows: 64)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-fuzz-\(getpid())-\(seed)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dropTextPath = dir.appendingPathComponent("drops.txt").path
        let dropJSONPath = dir.appendingPathComponent("drops.json").path

        var journeys = 0, journeyEvents = 0, longest = 0, replies = 0, rewritten = 0, forwarded = 0, tuples = 0
        var outcomes: [String: Int] = [:]
        let start = DispatchTime.now().uptimeNanoseconds
        fuzzSeed = seed
        fuzzActive.1 = true
        defer { fuzzActive.1 = false }
        do {
            let dropTextSink = try OutputSink(path: dropTextPath)
            let dropJSONSink = try OutputSink(path: dropJSONPath)
            let dropWatches = [DropWatch(sink: dropTextSink, json: false, names: names, context: run.context(), intervalNs: 1_000_000),
                               DropWatch(sink: dropJSONSink, json: true, names: names, context: run.context(), intervalNs: 1_000_000)]
            dropWatches.forEach { $0.begin() }
            var stream = FuzzStream(seed: seed)
            var now: UInt64 = 1_000_000_000

            func finished(_ ended: [Journey], at i: Int) {
                for j in ended {
                    journeys += 1
                    journeyEvents += j.events.count
                    longest = max(longest, j.events.count)
                    if j.replyTo != nil { replies += 1 }
                    if !j.rewrites.isEmpty { rewritten += 1 }
                    if j.wasForwarded { forwarded += 1 }
                    outcomes[j.outcome.kind, default: 0] += 1
                    diagnosis.add(j)
                    run.report(FuzzCheck.text(FuzzRun.render { journeyText.journey(j, into: &$0) }), "journey #\(j.id) ended by event:\(i) (text)")
                    run.report(FuzzCheck.json(FuzzRun.render { journeyJSON.journey(j, into: &$0) }), "journey #\(j.id) ended by event:\(i) (json)")
                }
            }

            for i in 0..<count {
                fuzzIndex.1 = UInt64(i)
                let ev = stream.next()
                var r = FuzzRandom(seed: ~seed, index: i)
                func what() -> String { "event:\(i)" }

                if ev.header.lost_before > 0 {
                    let lost = UInt64(ev.header.lost_before), cpu = r.oneIn(8) ? UInt32.max : ev.header.cpu
                    run.report(FuzzCheck.text(FuzzRun.render { text[0].lost(count: lost, cpu: cpu, into: &$0) }, lines: 1), what() + " (lost, text)")
                    run.report(FuzzCheck.json(FuzzRun.render { json.lost(count: lost, cpu: cpu, into: &$0) }), what() + " (lost, json)")
                    dropWatches.forEach { $0.lost(count: lost, cpu: cpu) }
                }

                run.checkEvent(ev, text: text[i % formats.count], format: formats[i % formats.count], json: json, what: what())

                if let t = FlowTuple(ev) {
                    tuples += 1
                    if t.reversed.reversed != t { run.report("reversed twice is not the tuple", what()) }
                    if t.description.isEmpty { run.report("empty tuple description", what()) }
                }
                if let stack = ev.stack, StackFrames.symbolize(stack, symbols: run.symbols).count > stack.count {
                    run.report("more frames than addresses", what())
                }

                finished(tracker.add(ev), at: i)
                if tracker.openCount > tracker.maxOpen { run.report("\(tracker.openCount) journeys open, max \(tracker.maxOpen)", what()) }
                dropWatches.forEach { $0.consume(ev) }

                if r.oneIn(50) {
                    // A poll round: journeys time out (also at absurd times), dropwatch prints.
                    now += UInt64(r.below(5_000_000))
                    finished(tracker.expire(nowNs: r.oneIn(8) ? r.next() : ev.header.ts_ns &+ UInt64(r.below(100_000_000))), at: i)
                    dropWatches.forEach { $0.tick(nowNs: now) }
                }
                if run.full { break }
            }
            fuzzIndex.1 = UInt64(count)
            finished(tracker.flush(), at: count)
            run.report(FuzzCheck.text(FuzzRun.render { journeyText.diagnosis(diagnosis, into: &$0) }), "diagnosis (text)")
            run.report(FuzzCheck.json(FuzzRun.render { journeyJSON.diagnosis(diagnosis, into: &$0) }), "diagnosis (json)")
            dropWatches.forEach { $0.end() }
            for sink in [dropTextSink, dropJSONSink] {
                sink.flush()
                run.report(sink.writeError.map { "write error \($0)" }, "dropwatch sink")
            }
        }
        // The sinks were closed when they went out of scope.
        let dropText = Array(try Data(contentsOf: URL(fileURLWithPath: dropTextPath)))
        let dropJSON = Array(try Data(contentsOf: URL(fileURLWithPath: dropJSONPath)))
        run.report(FuzzCheck.text(dropText), "dropwatch text file")
        run.report(FuzzCheck.json(dropJSON), "dropwatch json file")
        print("fuzz pipeline: \(count) events, \(journeys) journeys (\(journeyEvents) events, longest \(longest), \(replies) replies, \(rewritten) NATed, \(forwarded) forwarded, \(tracker.evicted) evicted), outcomes \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); \(tuples) tuples, \(diagnosis.flows.count) flows, \(diagnosis.drops.count) drop kinds; dropwatch \(dropText.count)+\(dropJSON.count) bytes; \(FuzzRun.seconds(since: start)) s, seed \(FuzzConfig.hex(seed))")
        #expect(run.problems.isEmpty, "\(run.summary)")
        #expect(count < 1000 || journeys > count / 50 && tracker.evicted > 0 && replies > 0 && rewritten > 0 && forwarded > 0 && outcomes.count == 6,
                "the generator must reach eviction, replies, NAT, forwarding and every outcome: \(journeys) journeys, \(tracker.evicted) evicted, \(replies) replies, \(rewritten) NATed, \(forwarded) forwarded, \(outcomes) (seed \(FuzzConfig.hex(seed)))")
    }

    /// Prints one input, to turn a crash report into a regression test:
    /// SKBTRACER_FUZZ_SHOW=record:17 or event:17 (hex 0x11 too), with the run's SKBTRACER_FUZZ_SEED.
    @Test func showFuzzInput() {
        guard let show = ProcessInfo.processInfo.environment["SKBTRACER_FUZZ_SHOW"],
              let colon = show.firstIndex(of: ":") else { return }
        let n = String(show[show.index(after: colon)...])
        guard let index = n.hasPrefix("0x") ? Int(n.dropFirst(2), radix: 16) : Int(n) else { return }
        let seed = FuzzConfig.seed
        if show.hasPrefix("record") {
            let bytes = FuzzInput.record(seed: seed, index: index)
            print("record:\(index) (seed \(FuzzConfig.hex(seed))), \(bytes.count) bytes: \(bytes)")
            if let ev = try? bytes.withUnsafeBytes({ try TraceEvent(bytes: $0) }) { print("decoded: \(ev.raw)") }
        } else {
            let ev = FuzzStream.event(seed: seed, index: index)
            print("event:\(index) (seed \(FuzzConfig.hex(seed))): \(ev.raw)\nstack: \(String(describing: ev.stack))")
        }
    }
}

// MARK: - Findings

/// What the fuzzer found, each with the input that failed (minimised to the
/// fields that matter; the record or event it came from is named).
@Suite("Fuzz findings")
struct FuzzFindingTests {
    /// The fuzz clock: realtime = ktime + 1.7e18 ns (2023-11-14), local time UTC+1.
    static let clock = FuzzRun.clock

    static func context(_ format: TimeFormat = .wallClock) -> FormatContext {
        FormatContext(dropReasons: DropReasons(names: [2: "NO_SOCKET", 3: "NOT_SPECIFIED"]),
                      symbols: KernelSymbols(symbols: [(FuzzEvents.symbol("__udp6_lib_rcv"), "__udp6_lib_rcv")]),
                      clock: clock, timeFormat: format)
    }

    static func text(_ body: (inout ByteBuffer) -> Void) -> String { String(decoding: FuzzRun.render(body), as: UTF8.self) }

    static func event(ts: UInt64) -> TraceEvent {
        var e = Fixtures.udp()
        e.ts_ns = ts
        return TraceEvent(raw: e)
    }

    static func jsonTime(_ json: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["time"] as? String
    }

    /// record:1 (seed 0x5eb72acef0220004): ts_ns 7676728373296693347 puts the wall
    /// clock before 1970 (ktime + offset wraps); JSON output trapped converting the
    /// negative nanoseconds to UInt64 ("Negative value is not representable").
    @Test func timeBefore1970() {
        let ev = Self.event(ts: 7_676_728_373_296_693_347)
        #expect(Self.jsonTime(Self.text { JSONFormatter(context: Self.context()).event(ev, into: &$0) }) == "1682-07-31T23:11:39.587141Z")
        #expect(Self.text { Self.clock.appendISO8601(ev.header.ts_ns, to: &$0) } == "1682-07-31T23:11:39.587141Z")
        #expect(Self.text { TextFormatter(context: Self.context()).event(ev, into: &$0) }.hasPrefix("00:11:39.587141 "))
    }

    /// record:465 (seed 0x5eb72acef0220004): ts_ns 7523372035968965150 puts the wall
    /// clock 0.9 s before Int64.max ns; adding the UTC offset for the text time
    /// column overflowed and trapped.
    @Test func timeAtTheEndOfInt64() {
        let ev = Self.event(ts: 7_523_372_035_968_965_150)
        #expect(Self.text { TextFormatter(context: Self.context()).event(ev, into: &$0) }.hasPrefix("01:12:42.259413 "))
        #expect(Self.jsonTime(Self.text { JSONFormatter(context: Self.context()).event(ev, into: &$0) }) == "2262-04-11T23:47:15.968965Z")
    }

    /// Half a second either side of 1970: the formatter caches the date and time up
    /// to the second, and truncating division put both in second 0.
    @Test func secondsRoundDownBefore1970() {
        let offset = Self.clock.realtimeOffsetNs
        let json = JSONFormatter(context: Self.context())
        let before = Self.event(ts: UInt64(bitPattern: -offset - 500_000_000))
        let after = Self.event(ts: UInt64(bitPattern: -offset + 500_000_000))
        #expect(Self.jsonTime(Self.text { json.event(before, into: &$0) }) == "1969-12-31T23:59:59.500000Z")
        #expect(Self.jsonTime(Self.text { json.event(after, into: &$0) }) == "1970-01-01T00:00:00.500000Z")
        #expect(Self.text { TextFormatter(context: Self.context()).event(before, into: &$0) }.hasPrefix("00:59:59.500000 "))
    }

    static func names() -> JourneyNames {
        JourneyNames(dropReasons: DropReasons(names: [:]), symbols: KernelSymbols(symbols: []),
                     netns: NetnsNames(names: FuzzEvents.netnsNames, hostInode: FuzzEvents.hostNetns))
    }

    /// Journeys from the first pipeline run: an interface name may hold any byte but
    /// NUL, '/', ':' and whitespace, and the journey's path line, namespace picture
    /// and NAT line printed it raw (a tab, DEL and two control bytes here; ESC in a
    /// real attack), breaking the text output's lines. Now '?' as in the event lines;
    /// JSON keeps the name, escaped.
    @Test func journeyTextHasNoControlBytes() throws {
        let ifname: [UInt8] = [0x25, 0x73, 0x25, 0x6e, 0x09, 0x7f, 0x1f, 0x01]   // "%s%n\t\x7f\x1f\x01"
        let esc: [UInt8] = [0x1b, 0x5b, 0x32, 0x4a, 0x0a]                        // ESC [2J, newline
        var first = Fixtures.udp()
        first.probe = UInt16(ST_PROBE_NETIF_RECEIVE_SKB.rawValue)
        first.netns = 4_026_532_003
        first.ifname = FlatEvent().ifname
        Fixtures.set(&first.ifname, ifname)
        var second = first
        second.probe = UInt16(ST_PROBE_NET_DEV_QUEUE.rawValue)
        second.netns = FuzzEvents.hostNetns
        second.ifname = FlatEvent().ifname
        Fixtures.set(&second.ifname, esc)
        second.match = UInt8(ST_MATCH_SKB.rawValue)
        second.daddr = FlatEvent().daddr
        Fixtures.set(&second.daddr, [10, 0, 0, 9])   // DNAT
        let tracker = JourneyTracker(names: Self.names())
        _ = tracker.add(TraceEvent(raw: first))
        _ = tracker.add(TraceEvent(raw: second))
        let journeys = tracker.flush()
        try #require(journeys.count == 1)
        let j = journeys[0]
        let text = Self.text { JourneyTextFormatter(context: Self.context(), names: Self.names()).journey(j, into: &$0) }
        #expect(FuzzCheck.text(Array(text.utf8)) == nil)
        #expect(text.contains("  path: lab ns:%s%n???? -> host:?[2J? -> no free seen"))
        #expect(text.contains("    %s%n????     ---> ?[2J?"))
        #expect(text.contains("(first seen at host:?[2J? net_dev_queue)"))
        let json = FuzzRun.render { JourneyJSONFormatter(context: Self.context(), names: Self.names()).journey(j, into: &$0) }
        #expect(FuzzCheck.json(json) == nil)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        let path = try #require(object["path"] as? [[String: Any]])
        #expect(path.map { $0["ifname"] as? String } == ["%s%n\t\u{7f}\u{1f}\u{01}", "\u{1b}[2J\n"])
        #expect((object["path_text"] as? String)?.hasPrefix("lab ns:%s%n???? -> host:?[2J? -> ") == true)
    }

    /// event:1114 (seed 0x5eb72acef0220004) and its clones: the JSON formatter
    /// caches the known-noise note per drop kind, but the key left out pkt_type and
    /// the destination MAC's group bit, which the UDP broadcast/multicast rule reads.
    /// A NOT_SPECIFIED drop in __udp6_lib_rcv of a unicast-addressed datagram sent
    /// to a multicast MAC is noise; the same datagram to a unicast MAC is not; the
    /// second one printed the first one's answer.
    @Test func dropNoiseCacheSeesPacketTypeAndMAC() throws {
        var e = FlatEvent()
        e.probe = UInt16(ST_PROBE_KFREE_SKB.rawValue)
        e.flags = Fixtures.MAC | Fixtures.L3 | Fixtures.L4 | Fixtures.DROP | Fixtures.LOC   // 55
        e.l3_proto = 0x86DD
        e.l4_proto = 17
        e.dport = 22
        e.drop_reason = 3   // NOT_SPECIFIED
        e.location = FuzzEvents.symbol("__udp6_lib_rcv") + 0x2a
        Fixtures.set(&e.daddr, [211, 81, 198, 127, 150, 65, 99, 55, 217, 136, 115, 93, 223, 228, 194, 54])
        var multicastMAC = e, unicastMAC = e, broadcastType = e
        multicastMAC.pkt_type = 4; multicastMAC.dmac.0 = 33   // event:1114
        unicastMAC.pkt_type = 0; unicastMAC.dmac.0 = 2
        broadcastType.pkt_type = 1; broadcastType.dmac.0 = 2
        func noise(_ events: [FlatEvent]) throws -> [Bool] {
            let json = JSONFormatter(context: Self.context())
            return try events.map { raw in
                let bytes = FuzzRun.render { json.event(TraceEvent(raw: raw), into: &$0) }
                let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
                return object["drop_noise"] is String
            }
        }
        #expect(try noise([unicastMAC, multicastMAC, broadcastType]) == [false, true, true])
        #expect(try noise([multicastMAC, unicastMAC, broadcastType, unicastMAC]) == [true, false, true, false])
    }
}

extension FuzzRun {
    /// One event through the text formatter (with the given time format) and the
    /// JSON formatter, each output checked.
    func checkEvent(_ ev: TraceEvent, text: TextFormatter, format: TimeFormat, json: JSONFormatter, what: String) {
        let line = FuzzRun.render { text.event(ev, into: &$0) }
        report(FuzzCheck.eventText(line, hasStack: ev.stack != nil, isDrop: ev.isDrop), what + " (text)")
        report(FuzzCheck.timeColumn(line, format), what + " (text)")
        let object = FuzzRun.render { json.event(ev, into: &$0) }
        report(FuzzCheck.eventJSON(object, ev, symbols: symbols), what + " (json)")
        report(FuzzCheck.jsonTime(object, ts: ev.header.ts_ns, clock: FuzzRun.clock), what + " (json)")
    }
}
