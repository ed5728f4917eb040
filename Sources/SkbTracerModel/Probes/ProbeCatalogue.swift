import CSkbTracerABI
import Foundation
import SkbTracerBPFObject
import SkbTracerSystem

/// One tracepoint skbtracer can attach to: a row of the probe list,
/// Sources/CSkbTracerABI/include/skbtracer_probes.def.
public struct Probe: Sendable, Hashable {
    /// The tracepoint's name (`net_dev_queue`).
    public let name: String
    public let id: UInt16
    public let group: ProbeGroup
    /// Part of the default path trace. The others duplicate a default probe or
    /// read an skb the driver may already have freed.
    public let isDefault: Bool
    public let summary: String
    /// The tracepoint's system (`net`).
    public let system: String
    /// The BPF program that attaches to it (`tp_net_dev_queue`).
    public let program: TracepointsObject.Program
    /// A route lookup: a flow, not an skb (records are st_route_event).
    public let isRoute: Bool

    public var tracepoint: String { "\(system):\(name)" }
}

/// Probe groups, like nettrace's tracer tree.
public enum ProbeGroup: String, CaseIterable, Sendable {
    case linkIn = "link-in"
    case linkOut = "link-out"
    case qdisc
    case life
    case socket
    case tcp
    case udp
    case icmp
    case route

    public var summary: String {
        switch self {
        case .linkIn: return "packets received by an interface"
        case .linkOut: return "packets sent by an interface"
        case .qdisc: return "queueing disciplines (needs a qdisc on the device)"
        case .life: return "end of an skb's life: drops (with reason) and normal frees"
        case .socket: return "delivery to and overflow of sockets"
        case .tcp: return "TCP retransmits, resets, bad checksums"
        case .udp: return "UDP delivery failures"
        case .icmp: return "ICMP errors the kernel sends"
        case .route: return "route lookups: table, gateway, device or error (--route; not in `all`)"
        }
    }
}

/// Every probe of the tracepoint backend, in the order a packet meets them: the
/// probe list (skbtracer_probes.def), through the C table built from it.
public enum ProbeCatalogue {
    public static let all: [Probe] = (0..<UInt32(ST_PROBE_COUNT.rawValue)).map(row)

    /// Probe `id` as the probe list declares it (st_probe_lookup in abi.c).
    private static func row(_ id: UInt32) -> Probe {
        guard let row = st_probe_lookup(id)?.pointee else { preconditionFailure("skbtracer_probes.def has no probe \(id)") }
        let name = String(cString: row.name), groupName = String(cString: row.group)
        guard let group = ProbeGroup(rawValue: groupName) else {
            preconditionFailure("skbtracer_probes.def: probe \(name) is in group '\(groupName)', which ProbeGroup does not know")
        }
        // tracepoints.bpf.c generates the program from the same row: a test checks
        // every row against the compiled object.
        guard let program = TracepointsObject.Program(rawValue: String(cString: row.program)) else {
            preconditionFailure("probe \(name): the BPF object has no program \(String(cString: row.program))")
        }
        return Probe(name: name, id: UInt16(id), group: group, isDefault: row.is_default != 0,
                     summary: String(cString: row.summary), system: String(cString: row.system),
                     program: program, isRoute: row.kind == ST_PROBE_KIND_route)
    }

    /// What recordings call ST_PROBE_FUNCTION (every kernel function probe; the
    /// function itself is named by the event's location).
    public static let functionProbeName = "function"

    /// Probe ids outside skbtracer_probes.def, with the names events and
    /// recordings give them: kernel function probes, netfilter hook programs
    /// (their section names the hook) and nf_tables verdicts (nftrace's, not BPF's).
    public static let otherProbes: [(id: UInt16, name: String)] = [
        (UInt16(ST_PROBE_FUNCTION), functionProbeName),
        (UInt16(ST_PROBE_NF_HOOK), "nf_hook"),
        (UInt16(ST_PROBE_NFT_RULE), "nft_rule"),
    ]

    static let byName: [String: Probe] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    static let byID: [UInt16: Probe] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    /// Probe names as bytes indexed by id, for the formatters' hot path.
    static let namesByID: [[UInt8]] = {
        var names = [[UInt8]](repeating: [], count: Int(ST_PROBE_COUNT.rawValue))
        for p in all where Int(p.id) < names.count { names[Int(p.id)] = Array(p.name.utf8) }
        return names
    }()

    static let otherNameBytes: [UInt16: [UInt8]] = Dictionary(uniqueKeysWithValues: otherProbes.map { ($0.id, Array($0.name.utf8)) })

    static func nameBytes(id: UInt16) -> [UInt8] {
        Int(id) < namesByID.count ? namesByID[Int(id)] : otherNameBytes[id] ?? Array("probe-\(id)".utf8)
    }

    /// A probe id's name: a row of skbtracer_probes.def or one of `otherProbes`.
    public static func name(id: UInt16) -> String? {
        probe(id: id)?.name ?? otherProbes.first { $0.id == id }?.name
    }

    /// The id of a probe named in a recording.
    public static func id(named name: String) -> UInt16? {
        probe(named: name)?.id ?? otherProbes.first { $0.name == name }?.id
    }

    /// The probe an enum constant names: Swift code says which probe it means as
    /// the BPF code does, so a misspelt probe is a build error.
    public static func probe(_ id: st_probe_id) -> Probe { all[Int(id.rawValue)] }
    public static func probe(named name: String) -> Probe? { byName[name] }
    public static func probe(id: UInt16) -> Probe? { byID[id] }

    public static var defaults: [Probe] { all.filter(\.isDefault) }
    /// `--drop`'s one probe: kfree_skb, with the drop reason.
    public static var drops: Probe { probe(ST_PROBE_KFREE_SKB) }

    /// Resolves `-t` items (group names, probe names, `all`, `default`) to
    /// tracepoint probes, as without a function backend.
    public static func select(_ items: [String]) throws(UsageError) -> [Probe] {
        try TraceSelection.parse(items, functionBackend: false).probes
    }

    /// The probes whose name contains a match of `pattern` (pwru's --filter-func).
    public static func matching(_ pattern: String, among candidates: [Probe], allowingNone: Bool = false) throws(UsageError) -> [Probe] {
        let regex: Regex<AnyRegexOutput>
        do {
            regex = try Regex(pattern)
        } catch {
            throw UsageError("invalid regular expression '\(pattern)' for --filter-func", hint: "e.g. --filter-func 'skb$' or 'netif_.*'")
        }
        let chosen = candidates.filter { $0.name.contains(regex) }
        if chosen.isEmpty && !allowingNone {
            throw UsageError("--filter-func '\(pattern)' matches no probe", hint: "run `skbtracer --list` to see the probe names")
        }
        return chosen
    }
}
