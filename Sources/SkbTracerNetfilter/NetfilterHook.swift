import CNetfilter

/// One function registered at a netfilter hook of a namespace, as the kernel's
/// hook listing (nfnetlink_hook, `nft list hooks`) reports it.
public struct NetfilterHook: Equatable, Sendable {
    /// An nf_tables base chain behind the hook.
    public struct Chain: Equatable, Sendable {
        /// The table's family as nft names it: inet chains sit in both ip and ip6 hooks.
        public var family: String
        public var table: String
        public var name: String
    }

    /// nft's family name: ip, ip6, arp, bridge, netdev.
    public var family: String
    /// nft's hook name: prerouting, input, forward, output, postrouting, ingress, egress.
    public var hook: String
    /// The interface of a netdev hook; nil for the other families.
    public var device: String?
    public var priority: Int32
    /// The kernel function called (%ps); nil when the kernel did not say.
    public var function: String?
    /// The module holding it; nil when it is built in.
    public var module: String?
    public var chain: Chain?
    /// A BPF netfilter program (Linux 6.4+): its id, and its name while it is loaded.
    public var bpfProgID: UInt32?
    public var bpfProgName: String?

    public init(family: String, hook: String, device: String? = nil, priority: Int32, function: String? = nil,
                module: String? = nil, chain: Chain? = nil, bpfProgID: UInt32? = nil, bpfProgName: String? = nil) {
        self.family = family; self.hook = hook; self.device = device; self.priority = priority
        self.function = function; self.module = module; self.chain = chain
        self.bpfProgID = bpfProgID; self.bpfProgName = bpfProgName
    }

    /// The entry a decoded reply describes, at the hook that was asked for. `progName`
    /// names a BPF program by its id (nil: unknown).
    init(_ c: st_nfhook, point: NetfilterHookPoint, device: String?, progName: (UInt32) -> String?) {
        func text<T>(_ tuple: T) -> String? {
            let s = withUnsafeBytes(of: tuple) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return s.isEmpty ? nil : s
        }
        family = point.family
        hook = point.hook
        self.device = device
        priority = c.priority
        function = text(c.function)
        module = text(c.module)
        switch c.type {
        case UInt32(ST_NFHOOK_TYPE_NFTABLES.rawValue):
            let family = st_nfhook_family_name(c.chain_family).map { String(cString: $0) } ?? "family\(c.chain_family)"
            chain = Chain(family: family, table: text(c.table) ?? "", name: text(c.chain) ?? "")
        case UInt32(ST_NFHOOK_TYPE_BPF.rawValue) where c.bpf_prog_id != 0:
            bpfProgID = c.bpf_prog_id
            bpfProgName = progName(c.bpf_prog_id)
        default:
            break
        }
    }
}

/// A family and hook to ask the kernel about (the C table `st_nfhook_points`).
struct NetfilterHookPoint: Sendable {
    let nfproto: UInt8
    let hooknum: UInt32
    let family: String
    let hook: String
    let perDevice: Bool

    static let all: [NetfilterHookPoint] = {
        var count = 0
        guard let table = st_nfhook_points(&count) else { return [] }
        return (0..<count).map { i in
            let p = table[i]
            return NetfilterHookPoint(nfproto: p.family, hooknum: p.hooknum, family: String(cString: p.family_name),
                                      hook: String(cString: p.hook_name), perDevice: p.per_device != 0)
        }
    }()
}
