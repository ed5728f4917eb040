import CSkbTracerABI

/// What nf_tables decided about a packet, as nftrace reports it (`--netfilter`,
/// ST_SEC_NFT_VERDICT): the table, chain and rule, and the verdict; or the
/// chain's policy, or the end of a chain without one.
public struct NftVerdict: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        case policy = 1, returned = 2, rule = 3
    }

    /// The table's family (NFPROTO_*: inet 1, ip 2, bridge 7, ip6 10).
    public var family: UInt8
    public var kind: Kind
    public var table: String
    public var chain: String
    /// The base chain's hook and priority; nil for a regular chain (reached by a jump).
    public var hook: UInt8?
    public var priority: Int32?
    /// The rule's handle (`nft -a`); nil for a policy or a return.
    public var handle: UInt64?
    /// NF_DROP 0, NF_ACCEPT 1, ..., NFT_JUMP -3, NFT_GOTO -4; nil when none was sent.
    public var verdict: Int32?
    /// A jump's or goto's chain.
    public var target: String?
    /// The rule as its author wrote it: nft syntax, or iptables' for a table
    /// iptables-nft made (`fromIptables`); nil when unknown.
    public var rule: String?
    public var fromIptables: Bool
    /// nf_tables' trace id: the same for one packet in one hook.
    public var traceID: UInt32

    public init(family: UInt8, kind: Kind, table: String, chain: String, hook: UInt8? = nil, priority: Int32? = nil,
                handle: UInt64? = nil, verdict: Int32? = nil, target: String? = nil, rule: String? = nil,
                fromIptables: Bool = false, traceID: UInt32 = 0) {
        self.family = family; self.kind = kind; self.table = table; self.chain = chain; self.hook = hook
        self.priority = priority; self.handle = handle; self.verdict = verdict; self.target = target
        self.rule = rule; self.fromIptables = fromIptables; self.traceID = traceID
    }

    public var familyName: String { NetfilterHookPass.familyName(family) }
    /// The base chain's hook as iptables names it (`FORWARD`); nil for a regular chain.
    public var hookName: String? { hook.map(NetfilterHookPass.hookName) }
    public var isPolicy: Bool { kind == .policy }
    /// The verdict dropped the packet (NF_DROP; a reject is a drop too).
    public var isDrop: Bool { verdict == 0 }
    /// Ends the packet's way through this hook (accept, drop, stolen, queue):
    /// not continue, jump, goto, return or break.
    public var isFinal: Bool { verdict.map { $0 >= 0 } ?? false }

    /// `accept`, `drop`, `jump NAME`, `return`...: nft's words.
    public var verdictName: String {
        guard let v = verdict else { return kind == .returned ? "return" : "unknown" }
        switch v {
        case 0: return "drop"
        case 1: return "accept"
        case 2: return "stolen"
        case 3: return "queue"
        case 4: return "repeat"
        case 5: return "stop"
        case -1: return "continue"
        case -2: return "break"
        case -3: return "jump" + (target.map { " \($0)" } ?? "")
        case -4: return "goto" + (target.map { " \($0)" } ?? "")
        case -5: return "return"
        default: return v >= 0 && v & 0xff == 3 ? "queue \(UInt32(v) >> 16)" : "verdict \(v)"
        }
    }

    /// A rule that translates addresses (nft's dnat, snat, masquerade, redirect;
    /// iptables' -j DNAT...), by its text: it names a journey's NAT rewrite.
    public var isNAT: Bool {
        guard kind == .rule, let r = rule?.lowercased() else { return false }
        return ["dnat", "snat", "masquerade", "redirect", "netmap"].contains { r.contains($0) }
    }

    /// The verdict's word without its target: `drop`, `jump`, `return`.
    public var verdictWord: String { String(verdictName.split(separator: " ").first ?? "") }

    /// `ip filter FORWARD #7 drop`, `inet guard input policy drop`,
    /// `ip filter DOCKER return`: the event's words for it.
    public var summary: String {
        var s = "\(familyName) \(table) \(chain)"
        switch kind {
        case .policy: s += " policy \(verdictName)"
        case .returned: s += " return"
        case .rule: s += (handle.map { " #\($0)" } ?? "") + " \(verdictName)"
        }
        return s
    }

    // MARK: The section (skbtracer_abi.h)

    static let fixedSize = MemoryLayout<st_sec_nft_verdict>.size

    /// Decodes the section at `at` of `length` bytes; nil when malformed.
    init?(_ bytes: UnsafeRawBufferPointer, at: Int, length: Int) {
        guard length >= Self.fixedSize, at + length <= bytes.count else { return nil }
        let s = bytes.loadUnaligned(fromByteOffset: at, as: st_sec_nft_verdict.self)
        guard let kind = Kind(rawValue: s.type) else { return nil }
        var strings: [String] = []
        var p = at + Self.fixedSize
        for n in [s.table_len, s.chain_len, s.target_len, s.rule_len].map(Int.init) {
            guard n >= 1, p + n <= at + length, bytes[p + n - 1] == 0 else { return nil }
            strings.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[p..<(p + n - 1)]), as: UTF8.self))
            p += n
        }
        let flags = UInt32(s.flags)
        let hasHook = flags & ST_NFT_HAS_HOOK.rawValue != 0
        self.init(family: s.family, kind: kind, table: strings[0], chain: strings[1],
                  hook: hasHook ? s.hook : nil, priority: hasHook ? s.priority : nil,
                  handle: flags & ST_NFT_HAS_HANDLE.rawValue != 0 ? s.handle : nil,
                  verdict: flags & ST_NFT_HAS_VERDICT.rawValue != 0 ? s.verdict : nil,
                  target: strings[2].isEmpty ? nil : strings[2], rule: strings[3].isEmpty ? nil : strings[3],
                  fromIptables: flags & ST_NFT_FROM_IPTABLES.rawValue != 0, traceID: s.trace_id)
    }

    /// The section as a record carries it: the fixed part, the four strings, padding to 8.
    public func append(to b: inout ByteBuffer) {
        let names = [table, chain, target ?? "", rule ?? ""].map { Array($0.utf8.prefix(4000)) + [0] }
        let unpadded = Self.fixedSize + names.reduce(0) { $0 + $1.count }
        let size = (unpadded + 7) & ~7
        var flags: UInt32 = 0
        if verdict != nil { flags |= ST_NFT_HAS_VERDICT.rawValue }
        if handle != nil { flags |= ST_NFT_HAS_HANDLE.rawValue }
        if hook != nil { flags |= ST_NFT_HAS_HOOK.rawValue }
        if fromIptables { flags |= ST_NFT_FROM_IPTABLES.rawValue }
        var s = st_sec_nft_verdict()
        s.sec = st_section(type: UInt16(ST_SEC_NFT_VERDICT.rawValue), size: UInt16(size))
        s.family = family
        s.type = kind.rawValue
        s.hook = hook ?? 0
        s.flags = UInt8(flags)
        s.verdict = verdict ?? 0
        s.priority = priority ?? 0
        s.trace_id = traceID
        s.handle = handle ?? 0
        s.table_len = UInt16(names[0].count)
        s.chain_len = UInt16(names[1].count)
        s.target_len = UInt16(names[2].count)
        s.rule_len = UInt16(names[3].count)
        withUnsafeBytes(of: &s) { b.append(bytes: $0) }
        for n in names { b.append(contentsOf: n) }
        for _ in unpadded..<size { b.append(UInt8(0)) }
    }
}
