import CSkbTracerABI

/// A packet passing one end of a netfilter hook (`--netfilter`'s hook
/// programs, ST_SEC_NF_HOOK): it entered the hook (its first priority) or
/// left it (its last, so every hook function let it pass).
public struct NetfilterHookPass: Equatable, Sendable {
    /// NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10).
    public var family: UInt8
    /// NF_INET_PRE_ROUTING (0) ... NF_INET_POST_ROUTING (4).
    public var hook: UInt8
    public var isEntry: Bool

    public init(family: UInt8, hook: UInt8, isEntry: Bool) {
        self.family = family
        self.hook = hook
        self.isEntry = isEntry
    }

    init?(_ s: st_sec_nf_hook) {
        guard s.where == UInt8(ST_NF_HOOK_ENTRY.rawValue) || s.where == UInt8(ST_NF_HOOK_EXIT.rawValue) else { return nil }
        self.init(family: s.family, hook: s.hook, isEntry: s.where == UInt8(ST_NF_HOOK_ENTRY.rawValue))
    }

    var section: st_sec_nf_hook {
        st_sec_nf_hook(sec: st_section(type: UInt16(ST_SEC_NF_HOOK.rawValue), size: 8), family: family, hook: hook,
                       where: isEntry ? UInt8(ST_NF_HOOK_ENTRY.rawValue) : UInt8(ST_NF_HOOK_EXIT.rawValue), pad: 0)
    }

    public var familyName: String { Self.familyName(family) }
    public var hookName: String { Self.hookName(hook) }
    /// `entered FORWARD`, `left FORWARD`.
    public var verb: String { isEntry ? "entered" : "left" }

    /// nft's name of a family (NFPROTO_*): `ip`, `ip6`, `inet`, `bridge`, `arp`, `netdev`.
    public static func familyName(_ nfproto: UInt8) -> String {
        switch nfproto {
        case 1: return "inet"
        case 2: return "ip"
        case 3: return "arp"
        case 5: return "netdev"
        case 7: return "bridge"
        case 10: return "ip6"
        default: return "family\(nfproto)"
        }
    }

    /// An IPv4/IPv6 (and bridge) hook by the name iptables gives its chain.
    public static func hookName(_ hook: UInt8) -> String {
        switch hook {
        case 0: return "PREROUTING"
        case 1: return "INPUT"
        case 2: return "FORWARD"
        case 3: return "OUTPUT"
        case 4: return "POSTROUTING"
        default: return "hook\(hook)"
        }
    }
}
