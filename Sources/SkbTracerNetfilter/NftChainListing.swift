import Foundation

/// One chain as `nft -a list ruleset` prints it, its rules as the user wrote them:
/// nft syntax, or iptables syntax for chains iptables-nft can show. Parsing only;
/// `NftRuleText` runs the listings.
public struct NftChainListing: Sendable, Equatable {
    public enum Syntax: String, Sendable {
        case nft, iptables
    }

    public struct Rule: Sendable, Equatable {
        public var handle: UInt64
        /// nft: the rule without its `# handle N` comment and without counter
        /// values (a stateless listing); iptables: the `-A CHAIN` line's rest.
        public var text: String

        public init(handle: UInt64, text: String) {
            self.handle = handle; self.text = text
        }
    }

    /// The table's NFPROTO_* family.
    public var family: UInt8
    public var table: String
    public var chain: String
    /// A base chain's type (filter, nat, route), hook, priority and policy; nil
    /// for a regular chain (reached by jump or goto only).
    public var type: String?
    public var hook: String?
    public var priority: Int32?
    public var policy: String?
    /// The rules in the chain's order (the order the kernel runs them).
    public var rules: [Rule]
    public var syntax: Syntax

    public init(family: UInt8, table: String, chain: String, type: String? = nil, hook: String? = nil,
                priority: Int32? = nil, policy: String? = nil, rules: [Rule] = [], syntax: Syntax = .nft) {
        self.family = family; self.table = table; self.chain = chain; self.type = type; self.hook = hook
        self.priority = priority; self.policy = policy; self.rules = rules; self.syntax = syntax
    }

    public func rule(handle: UInt64) -> Rule? { rules.first { $0.handle == handle } }

    /// The chains of `nft -a -s -y list ruleset FAMILY` output (`family`: its
    /// NFPROTO_*). nft prints tables at column 0, their chains (and sets, maps,
    /// flowtables) one tab in, a chain's lines two tabs in, one rule per line
    /// ending in `# handle N`.
    static func parse(ruleset text: String, family: UInt8) -> [NftChainListing] {
        var chains: [NftChainListing] = []
        var table: String?
        var current: NftChainListing?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("table ") {
                // table FAMILY NAME { # handle N ...
                let words = line.dropFirst(6).split(separator: " ", maxSplits: 1)
                table = words.count == 2 ? name(before: " {", in: words[1]) : nil
            } else if line.hasPrefix("\tchain "), let t = table {
                current = NftChainListing(family: family, table: t, chain: name(before: " {", in: line.dropFirst(7)))
            } else if line == "\t}" {
                if let c = current { chains.append(c) }
                current = nil
            } else if current != nil, line.hasPrefix("\t\t"), !line.hasPrefix("\t\t\t") {
                let body = line.dropFirst(2)
                if body.hasPrefix("type ") {
                    current!.readType(body)
                } else if let (text, handle) = splitHandle(body) {
                    current!.rules.append(Rule(handle: handle, text: text))
                }
            }
        }
        return chains
    }

    /// `type filter hook input priority 0; policy accept;` (a netdev chain has
    /// `device NAME` too).
    mutating func readType(_ line: Substring) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init)
        func after(_ key: String) -> String? {
            words.firstIndex(of: key).flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
        }
        type = after("type")
        hook = after("hook")
        priority = after("priority").flatMap { Int32($0) }
        policy = after("policy")
    }

    /// A rule line's text and handle: `TEXT # handle N`.
    static func splitHandle(_ line: Substring) -> (String, UInt64)? {
        guard let r = line.range(of: " # handle ", options: .backwards),
              let handle = UInt64(line[r.upperBound...].prefix { $0.isNumber }) else { return nil }
        return (line[..<r.lowerBound].trimmingCharacters(in: .whitespaces), handle)
    }

    /// A name as nft prints it before `terminator`, without quotes.
    static func name(before terminator: String, in s: Substring) -> String {
        let raw = s.range(of: terminator).map { s[..<$0.lowerBound] } ?? s
        let t = raw.trimmingCharacters(in: .whitespaces)
        return t.count >= 2 && t.hasPrefix("\"") && t.hasSuffix("\"") ? String(t.dropFirst().dropLast()) : t
    }

    // MARK: - iptables-nft

    /// The tables iptables-nft makes (in families ip and ip6).
    static let iptablesTables: Set<String> = ["filter", "nat", "mangle", "raw", "security"]

    /// The program that prints family `family`'s iptables-nft tables, nil for
    /// families iptables-nft does not use here.
    static func iptablesSave(family: UInt8) -> String? {
        switch family {
        case 2: return "iptables-nft-save"   // NFPROTO_IPV4
        case 10: return "ip6tables-nft-save" // NFPROTO_IPV6
        default: return nil
        }
    }

    /// `iptables-nft-save -t TABLE` output: each chain's `-A` lines in order
    /// (their text after `-A CHAIN `), every chain it declares (`:CHAIN`) present.
    /// nil when it calls the whole table incompatible (nft rules it cannot show); a
    /// chain it leaves out ("incompatible base-chains") is absent.
    static func parse(iptablesSave text: String) -> [String: [String]]? {
        var chains: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# Table ") && line.contains(" is incompatible") { return nil }
            if line.hasPrefix(":") {
                chains[String(line.dropFirst().prefix { $0 != " " }), default: []] += []
            } else if line.hasPrefix("-A ") {
                let rest = line.dropFirst(3)
                let chain = String(rest.prefix { $0 != " " })
                chains[chain, default: []].append(rest.dropFirst(chain.count).trimmingCharacters(in: .whitespaces))
            }
        }
        return chains
    }

    /// This chain in iptables syntax, when iptables-nft shows it with as many rules
    /// as nft does: both list the kernel's order, so the n-th `-A` line is the n-th
    /// rule. A count that differs (rules changed between the two listings) keeps nft's.
    func inIptablesSyntax(_ saved: [String: [String]]) -> NftChainListing? {
        guard let lines = saved[chain], lines.count == rules.count else { return nil }
        var c = self
        c.rules = zip(rules, lines).map { Rule(handle: $0.handle, text: $1) }
        c.syntax = .iptables
        return c
    }
}
