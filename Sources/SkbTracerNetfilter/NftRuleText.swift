import CNetfilter
import SkbTracerSystem

/// The text of the rules and chains nftrace names, in one network namespace:
/// `nft -a list ruleset FAMILY` through libnftables (nft syntax, stateless, so no
/// counter values), and for tables iptables-nft made, its own syntax from
/// `iptables-nft-save` run inside the namespace.
///
/// A family's listing is cached and taken again when a trace names a chain or a
/// rule handle it lacks (a rule added since); a handle still unknown then (a rule
/// deleted since) is remembered as such. The `netns` given must stay open.
public final class NftRuleText {
    private let netns: NetnsSwitch?
    private var nft: NftContext?
    private var chains: [Key: NftChainListing] = [:]
    private var unknown: Set<Key> = []
    /// How many listings were taken (for tests and the lead's cost checks).
    public private(set) var refreshes = 0

    struct Key: Hashable {
        var family: UInt8
        var table: String
        var chain: String
        var handle: UInt64?
    }

    /// Opens a libnftables context in `netns` (nil: the calling thread's).
    public init(in netns: NetnsSwitch?) throws {
        self.netns = netns
        nft = try inNamespace { try NftContext(listing: true) }
    }

    /// The chain, with its hook, priority and policy (for a policy verdict) and rules.
    public func chain(family: UInt8, table: String, chain: String) throws -> NftChainListing? {
        let key = Key(family: family, table: table, chain: chain)
        if let c = chains[key] { return c }
        if unknown.contains(key) { return nil }
        try refresh(family: family)
        if chains[key] == nil { unknown.insert(key) }
        return chains[key]
    }

    /// The rule with `handle`, in the chain's syntax (`NftChainListing.syntax`).
    public func rule(family: UInt8, table: String, chain: String, handle: UInt64)
        throws -> (rule: NftChainListing.Rule, syntax: NftChainListing.Syntax)? {
        let key = Key(family: family, table: table, chain: chain)
        let ruleKey = Key(family: family, table: table, chain: chain, handle: handle)
        if let c = chains[key], let r = c.rule(handle: handle) { return (r, c.syntax) }
        if unknown.contains(ruleKey) { return nil }
        try refresh(family: family)
        guard let c = chains[key], let r = c.rule(handle: handle) else {
            unknown.insert(ruleKey)
            return nil
        }
        return (r, c.syntax)
    }

    /// The rule a trace names; nil for a policy or return trace (no handle).
    public func rule(for trace: NftTrace) throws -> (rule: NftChainListing.Rule, syntax: NftChainListing.Syntax)? {
        guard let handle = trace.ruleHandle else { return nil }
        return try rule(family: trace.family, table: trace.table, chain: trace.chain, handle: handle)
    }

    /// The chain a trace is in (its hook, priority and policy for a policy trace).
    public func chain(for trace: NftTrace) throws -> NftChainListing? {
        try chain(family: trace.family, table: trace.table, chain: trace.chain)
    }

    /// Forgets every listing (a table deleted and made again reuses handles).
    public func invalidate() {
        chains = [:]
        unknown = []
    }

    public func close() {
        nft?.close()
        nft = nil
    }

    private func refresh(family: UInt8) throws {
        guard let nft else { preconditionFailure("NftRuleText used after close()") }
        guard let name = st_nfhook_family_name(family).map({ String(cString: $0) }) else { return }
        refreshes += 1
        let listed = try inNamespace { () throws -> [NftChainListing] in
            let text: String
            do { text = try nft.run("list ruleset \(name)") } catch let error as NftContext.Failure {
                throw RuntimeError("list the \(name) nf_tables rules: \(error.reason)", hint: "run `nft list ruleset` to compare")
            }
            var chains = NftChainListing.parse(ruleset: text, family: family)
            guard let save = NftChainListing.iptablesSave(family: family) else { return chains }
            // One iptables-nft-save per table iptables-nft may have made.
            for table in Set(chains.map(\.table)) where NftChainListing.iptablesTables.contains(table) {
                guard let r = try? Command.run([save, "-t", table], timeout: 10), r.ok,
                      let saved = NftChainListing.parse(iptablesSave: r.stdout) else { continue }
                for i in chains.indices where chains[i].table == table {
                    if let shown = chains[i].inIptablesSyntax(saved) { chains[i] = shown }
                }
            }
            return chains
        }
        chains = chains.filter { $0.key.family != family }
        unknown = unknown.filter { $0.family != family }
        for c in listed { chains[Key(family: family, table: c.table, chain: c.chain)] = c }
    }

    private func inNamespace<T>(_ body: () throws -> T) throws -> T {
        if let netns { return try netns.run(body) }
        return try body()
    }
}
