import CNetfilter

/// One nftrace message: what a rule, a chain's return or a base chain's policy did
/// to a packet whose nf_trace bit is set (NFT_MSG_TRACE, decoded by libnftnl).
///
/// The kernel sends the packet's interfaces (`iif`, `oif`) and headers with the
/// first trace of each base chain's run only; the traces after it in that run (a
/// jumped-to chain's too) carry the same `id` and none of them. `nfproto` comes
/// with every trace, `mark` with every trace of a marked packet.
public struct NftTrace: Sendable, Equatable {
    /// NFT_TRACETYPE_*.
    public enum Kind: UInt32, Sendable {
        /// The base chain's policy decided (`verdict` is the policy).
        case policy = 1
        /// The end of a regular chain: back to the chain that jumped to it.
        case `return` = 2
        /// A rule's verdict (`ruleHandle` names the rule).
        case rule = 3
    }

    /// The same for every trace of one skb (a keyed hash of it on recent kernels).
    public var id: UInt32
    public var type: Kind
    /// The table's family, NFPROTO_* (inet 1, ip 2, bridge 7, ip6 10...).
    public var family: UInt8
    public var table: String
    public var chain: String
    public var ruleHandle: UInt64?
    /// NF_DROP 0, NF_ACCEPT 1, NF_STOLEN 2, NF_QUEUE 3 (upper bits: the queue),
    /// NFT_CONTINUE -1, NFT_BREAK -2, NFT_JUMP -3, NFT_GOTO -4, NFT_RETURN -5;
    /// a policy trace's policy.
    public var verdict: Int32?
    /// The chain a jump or goto goes to.
    public var target: String?
    /// The packet's NFPROTO_* (an inet table sees ipv4 2 or ipv6 10).
    public var nfproto: UInt8?
    /// The input and output interfaces' indexes (the namespace's).
    public var iif: UInt32?
    public var oif: UInt32?
    /// The packet's mark; nil when it is 0 (the kernel sends none).
    public var mark: UInt32?
    public var linkHeader: [UInt8]
    public var networkHeader: [UInt8]
    public var transportHeader: [UInt8]

    public init(id: UInt32, type: Kind, family: UInt8, table: String, chain: String, ruleHandle: UInt64? = nil,
                verdict: Int32? = nil, target: String? = nil, nfproto: UInt8? = nil, iif: UInt32? = nil,
                oif: UInt32? = nil, mark: UInt32? = nil, linkHeader: [UInt8] = [], networkHeader: [UInt8] = [],
                transportHeader: [UInt8] = []) {
        self.id = id; self.type = type; self.family = family; self.table = table; self.chain = chain
        self.ruleHandle = ruleHandle; self.verdict = verdict; self.target = target; self.nfproto = nfproto
        self.iif = iif; self.oif = oif; self.mark = mark
        self.linkHeader = linkHeader; self.networkHeader = networkHeader; self.transportHeader = transportHeader
    }

    /// nil for a type this code does not know (a newer kernel's).
    init?(_ t: st_nftrace) {
        guard let type = Kind(rawValue: t.type) else { return nil }
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        func bytes<T>(_ tuple: T, _ count: UInt16) -> [UInt8] {
            withUnsafeBytes(of: tuple) { Array($0.prefix(Int(count))) }
        }
        func has(_ bit: st_nftrace_present) -> Bool { t.present & bit.rawValue != 0 }
        self.init(id: t.id, type: type, family: t.family, table: text(t.table), chain: text(t.chain),
                  ruleHandle: has(ST_NFTRACE_HAS_RULE_HANDLE) ? t.rule_handle : nil,
                  verdict: has(ST_NFTRACE_HAS_VERDICT) ? t.verdict : nil,
                  target: has(ST_NFTRACE_HAS_TARGET) ? text(t.target) : nil,
                  nfproto: has(ST_NFTRACE_HAS_NFPROTO) ? UInt8(truncatingIfNeeded: t.nfproto) : nil,
                  iif: has(ST_NFTRACE_HAS_IIF) ? t.iif : nil, oif: has(ST_NFTRACE_HAS_OIF) ? t.oif : nil,
                  mark: has(ST_NFTRACE_HAS_MARK) ? t.mark : nil,
                  linkHeader: bytes(t.ll, t.ll_len), networkHeader: bytes(t.nh, t.nh_len),
                  transportHeader: bytes(t.th, t.th_len))
    }

    /// The table's family as nft names it (ip, ip6, inet, arp, bridge, netdev).
    public var familyName: String {
        st_nfhook_family_name(family).map { String(cString: $0) } ?? "family\(family)"
    }

    public var isPolicy: Bool { type == .policy }

    /// The verdict as nft prints it: "accept", "drop", "queue 3", "continue",
    /// "jump NAME", "goto NAME", "return"; nil without a verdict.
    public var verdictName: String? {
        guard let v = verdict else { return nil }
        switch v {
        case ST_NFT_CONTINUE.rawValue: return "continue"
        case ST_NFT_BREAK.rawValue: return "break"
        case ST_NFT_JUMP.rawValue: return "jump \(target ?? "?")"
        case ST_NFT_GOTO.rawValue: return "goto \(target ?? "?")"
        case ST_NFT_RETURN.rawValue: return "return"
        case ..<0: return "verdict \(v)"
        default: break
        }
        // The low byte is the NF_* code; NF_QUEUE keeps its queue number above it.
        switch UInt32(v) & 0xff {
        case UInt32(ST_NF_DROP.rawValue): return "drop"
        case UInt32(ST_NF_ACCEPT.rawValue): return "accept"
        case UInt32(ST_NF_STOLEN.rawValue): return "stolen"
        case UInt32(ST_NF_QUEUE.rawValue): return "queue \(UInt32(v) >> 16)"
        case UInt32(ST_NF_REPEAT.rawValue): return "repeat"
        case UInt32(ST_NF_STOP.rawValue): return "stop"
        default: return "verdict \(v)"
        }
    }

    /// Whether this trace ends the packet's way through netfilter here: a drop
    /// (a rule's or the policy's).
    public var isDrop: Bool {
        guard let v = verdict, v >= 0 else { return false }
        return UInt32(v) & 0xff == UInt32(ST_NF_DROP.rawValue)
    }
}
