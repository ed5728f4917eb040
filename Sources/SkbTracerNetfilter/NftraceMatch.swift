import SkbTracerModel

/// The matches of the rules that set nftrace, in nft syntax, from the user's
/// `TraceFilter`: what nftables can express of it (protocols, addresses, ports,
/// mark, interface). The rest is left out; the tracer's BPF filters still apply
/// to every packet, so leaving a field out only traces more.
///
/// nft has no "or" within a rule: a filter on either direction (`--addr`,
/// `--port`, `--ifname`) becomes one rule per direction, and their product when
/// several are given. An empty filter is one empty match: every packet.
enum NftraceMatch {
    /// The matches for a chain at `hook` of a table of `family`, one per rule; an
    /// empty list when no packet there can match (ARP in an inet table).
    static func rules(_ f: TraceFilter, family: NftraceTable.Family, hook: NftraceTable.Hook) -> [String] {
        var alternatives: [[String]] = []
        for proto in networkProtocols(f, family: family) {
            var terms: [[String]] = []
            if let p = proto { terms += addressTerms(f, proto: p) }
            if proto == nil || proto == .ip || proto == .ip6 {
                terms += transportTerms(f)
            }
            if let p = proto, !f.hasAddress { terms.insert(["meta protocol \(p.etherType)"], at: 0) }
            alternatives += product(terms)
        }
        var tail: [[String]] = []
        if let name = f.ifname, expressible(ifname: name) {
            var sides: [String] = []
            if hook.hasInput { sides.append("iifname \"\(name)\"") }
            if hook.hasOutput { sides.append("oifname \"\(name)\"") }
            tail.append(sides)
        }
        if let mark = f.mark {
            tail.append([f.markMask == 0xffff_ffff ? "meta mark \(hex(mark))"
                                                   : "meta mark & \(hex(f.markMask)) == \(hex(mark))"])
        }
        return product([alternatives.map { $0.joined(separator: " ") }] + tail).map {
            $0.filter { !$0.isEmpty }.joined(separator: " ")
        }
    }

    /// The network protocols a rule is written for: nil for no constraint.
    enum NetworkProtocol: Equatable {
        case ip, ip6, arp
        var etherType: String {
            switch self {
            case .ip: return hex16(Packet.Number.ipv4)
            case .ip6: return hex16(Packet.Number.ipv6)
            case .arp: return hex16(Packet.Number.arp)
            }
        }
    }

    /// An IPv4 address filter also matches ARP's addresses (filter.bpf.h's
    /// addr_family_matches): only a bridge table sees ARP.
    static func networkProtocols(_ f: TraceFilter, family: NftraceTable.Family) -> [NetworkProtocol?] {
        let l3: NetworkProtocol? = switch f.l3Proto {
        case Packet.Number.ipv4?: .ip
        case Packet.Number.ipv6?: .ip6
        case Packet.Number.arp?: .arp
        default: nil
        }
        let seesARP = family == .bridge && f.l4Proto == nil && !f.hasPortFilter
        if let a = f.addr ?? f.saddr ?? f.daddr {
            if !a.isIPv4 { return [.ip6] }
            if l3 == .arp { return seesARP ? [.arp] : [] }
            return l3 == nil && seesARP ? [.ip, .arp] : [.ip]
        }
        if l3 == .arp { return seesARP ? [.arp] : [] }
        return [l3]
    }

    /// The address matches, one list per filter: its alternatives.
    static func addressTerms(_ f: TraceFilter, proto: NetworkProtocol) -> [[String]] {
        func match(_ side: String, _ a: IPAddress) -> String {
            switch proto {
            case .ip: return "ip \(side) \(a)"
            case .ip6: return "ip6 \(side) \(a)"
            case .arp: return "arp \(side) ip \(a)"
            }
        }
        var terms: [[String]] = []
        if let a = f.addr { terms.append([match("saddr", a), match("daddr", a)]) }
        if let a = f.saddr { terms.append([match("saddr", a)]) }
        if let a = f.daddr { terms.append([match("daddr", a)]) }
        return terms
    }

    /// The transport matches: the protocol, then ports. Ports are TCP's and UDP's
    /// only, as the BPF filter takes them (ports_match).
    static func transportTerms(_ f: TraceFilter) -> [[String]] {
        var terms: [[String]] = []
        if let p = f.l4Proto {
            terms.append(["meta l4proto \(p)"])
        } else if f.hasPortFilter {
            terms.append(["meta l4proto { \(Packet.Number.tcp), \(Packet.Number.udp) }"])
        }
        if let p = f.port { terms.append(["th sport \(p)", "th dport \(p)"]) }
        if let p = f.sport { terms.append(["th sport \(p)"]) }
        if let p = f.dport { terms.append(["th dport \(p)"]) }
        return terms
    }

    /// nft strings have no escapes, and a trailing `*` is a wildcard there: other
    /// names are left to the BPF filter.
    static func expressible(ifname: String) -> Bool {
        ifname.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-@:+".contains($0)) }
    }

    /// Every choice of one term per list, in order.
    static func product(_ lists: [[String]]) -> [[String]] {
        lists.reduce([[]]) { acc, list in acc.flatMap { prefix in list.map { prefix + [$0] } } }
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
    static func hex16(_ v: UInt16) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}

extension TraceFilter {
    var hasAddress: Bool { addr != nil || saddr != nil || daddr != nil }
    var hasPortFilter: Bool { port != nil || sport != nil || dport != nil }
}
