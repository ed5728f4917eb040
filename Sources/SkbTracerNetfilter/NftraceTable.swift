import Foundation
import SkbTracerModel
import SkbTracerSystem

/// skbtracer's own nf_tables tables in one network namespace: `skbtracer_<pid>`
/// in families inet and bridge, with a base chain at each of prerouting, input,
/// forward, output and postrouting at priority INT_MIN + 1 (before any other
/// chain), each holding rules `<match> meta nftrace set 1` built from the user's
/// filter (`NftraceMatch`). The kernel then traces matching packets through every
/// later chain of the namespace (`NftraceListener`). No other table is touched.
///
/// The tables carry the owner flag (NFT_TABLE_F_OWNER, Linux 5.12+): the kernel
/// deletes them when the netlink socket that made them closes, so they go with
/// the process even on SIGKILL. That socket (a libnftables context, close-on-exec)
/// stays open for the object's life; `close()` deletes the tables and closes it.
public final class NftraceTable {
    /// The table families: inet (IPv4 and IPv6 hooks) and bridge.
    public enum Family: String, CaseIterable, Sendable {
        case inet, bridge
    }

    /// The hooks a chain is made at, in a packet's order; chains are named after them.
    public enum Hook: String, CaseIterable, Sendable {
        case prerouting, input, forward, output, postrouting
        /// Whether the packet has an input (`iifname`) or output (`oifname`) device here.
        var hasInput: Bool { self == .prerouting || self == .input || self == .forward }
        var hasOutput: Bool { self == .forward || self == .output || self == .postrouting }
    }

    /// Before every other base chain: NF_IP_PRI_FIRST (INT_MIN) + 1.
    public static let priority = Int32.min + 1
    static let prefix = "skbtracer_"

    /// skbtracer's table name for process `pid`.
    public static func name(pid: Int32 = getpid()) -> String { "\(prefix)\(pid)" }

    /// Whether `table` is named as skbtracer names its own (any skbtracer process's).
    public static func isOwn(table: String) -> Bool {
        table.hasPrefix(prefix) && table.count > prefix.count && table.dropFirst(prefix.count).allSatisfy(\.isASCII)
            && table.dropFirst(prefix.count).allSatisfy(\.isNumber)
    }

    public let name: String
    /// The families whose table exists: inet always, bridge unless the kernel has
    /// no bridge family (`bridgeUnavailable` says why).
    public private(set) var families: [Family] = []
    public private(set) var bridgeUnavailable: String?
    /// Nothing of the filter could be said in nft: every packet is traced, which
    /// costs a trace message per chain it passes (the caller warns).
    public let tracesEverything: Bool
    private var nft: NftContext?

    /// Creates the tables in namespace `netns` (nil: the calling thread's), each in
    /// one transaction: a table is whole or absent. Throws UsageError without the
    /// privilege, RuntimeError when the kernel has no nf_tables or no owner flag
    /// (nothing is left then).
    public init(filter: TraceFilter, in netns: NetnsSwitch?, name: String = NftraceTable.name()) throws {
        self.name = name
        tracesEverything = Self.tracesEverything(filter)
        let make = { [self] in try self.create(filter) }
        if let netns { try netns.run(make) } else { try make() }
    }

    deinit { close() }

    /// Deletes the tables and closes the socket (which would delete them anyway).
    public func close() {
        guard let nft else { return }
        for family in families { _ = try? nft.run("delete table \(family.rawValue) \(name)") }
        nft.close()
        self.nft = nil
        families = []
    }

    private func create(_ filter: TraceFilter) throws {
        let nft = try NftContext(listing: false)
        do { try nft.run(Self.script(table: name, family: .inet, filter: filter)) } catch {
            throw Self.failure(error, family: .inet, table: name)
        }
        self.nft = nft
        families = [.inet]
        do {
            try nft.run(Self.script(table: name, family: .bridge, filter: filter))
            families.append(.bridge)
        } catch {
            bridgeUnavailable = Self.failure(error, family: .bridge, table: name).description
        }
    }

    /// Whether no part of `filter` can be said in nft (every packet would be traced).
    public static func tracesEverything(_ filter: TraceFilter) -> Bool {
        Hook.allCases.allSatisfy { NftraceMatch.rules(filter, family: .inet, hook: $0) == [""] }
    }

    /// The nft commands that make one family's table.
    static func script(table: String, family: Family, filter: TraceFilter) -> String {
        var lines = ["add table \(family.rawValue) \(table) { flags owner; }"]
        for hook in Hook.allCases {
            lines.append("add chain \(family.rawValue) \(table) \(hook.rawValue) "
                + "{ type filter hook \(hook.rawValue) priority \(priority); policy accept; }")
            for match in NftraceMatch.rules(filter, family: family, hook: hook) {
                lines.append("add rule \(family.rawValue) \(table) \(hook.rawValue) "
                    + (match.isEmpty ? "" : match + " ") + "meta nftrace set 1")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func privilege(_ error: NftContext.Failure) -> any HintedError {
        UsageError("create skbtracer's nftrace tables: \(error.reason)", hint: "run as root (nf_tables needs CAP_NET_ADMIN)")
    }

    /// A table that could not be made. EOPNOTSUPP (or EINVAL before Linux 5.12's
    /// NFT_TABLE_F_MASK check) on the table itself is the missing owner flag; the
    /// bridge family's absence is EAFNOSUPPORT (or EOPNOTSUPP) on its table.
    static func failure(_ error: NftContext.Failure, family: Family, table: String) -> any HintedError {
        if error.isErrno(EPERM) || error.isErrno(EACCES) { return privilege(error) }
        let onTable = error.command?.hasPrefix("add table ") ?? false
        if family == .bridge, onTable, error.isErrno(EAFNOSUPPORT) || error.isErrno(EOPNOTSUPP) {
            return RuntimeError("this kernel has no nf_tables bridge family (\(error.reason)): bridged packets are not traced by rule",
                                hint: "it needs CONFIG_NF_TABLES_BRIDGE (module nf_tables_bridge)")
        }
        if onTable, error.isErrno(EOPNOTSUPP) || error.isErrno(EINVAL) {
            return RuntimeError("this kernel's nf_tables has no owner flag (\(error.reason)), so skbtracer's tables could outlive it: netfilter rules are not traced",
                                hint: "it needs Linux 5.12 or later; the rest of the trace runs without it")
        }
        return RuntimeError("create nf_tables table \(family.rawValue) \(table): \(error.reason)",
                            hint: "run `nft list ruleset` to compare; the rest of the trace runs without it")
    }
}
