import Foundation
import CSkbTracerABI

/// One tracepoint skbtracer can attach to.
public struct Probe: Sendable, Hashable {
    /// The tracepoint's name (`net_dev_queue`); the BPF program is `tp_<name>`.
    public let name: String
    public let id: UInt16
    public let group: ProbeGroup
    /// Part of the default path trace. The others duplicate a default probe or
    /// read an skb the driver may already have freed.
    public let isDefault: Bool
    public let summary: String

    public var programName: String { "tp_\(name)" }
    /// A route lookup: a flow, not an skb (records are st_route_event).
    public var isRoute: Bool { group == .route }
    public var tracepoint: String { "\(group.tracepointSystem(for: name)):\(name)" }
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

    func tracepointSystem(for probe: String) -> String {
        switch self {
        case .linkIn, .linkOut: return "net"
        case .qdisc: return "qdisc"
        case .life: return "skb"
        case .socket: return probe == "skb_copy_datagram_iovec" ? "skb" : "sock"
        case .tcp: return "tcp"
        case .udp: return "udp"
        case .icmp: return "icmp"
        case .route: return probe == "fib6_table_lookup" ? "fib6" : "fib"
        }
    }
}

/// Every probe of the tracepoint backend, in the order a packet meets them.
public enum ProbeCatalogue {
    public static let all: [Probe] = [
        Probe(name: "net_dev_queue", id: id(ST_PROBE_NET_DEV_QUEUE), group: .linkOut, isDefault: true,
              summary: "queued for transmit (dev_queue_xmit)"),
        Probe(name: "net_dev_start_xmit", id: id(ST_PROBE_NET_DEV_START_XMIT), group: .linkOut, isDefault: false,
              summary: "handed to the driver"),
        Probe(name: "net_dev_xmit", id: id(ST_PROBE_NET_DEV_XMIT), group: .linkOut, isDefault: false,
              summary: "driver returned; the skb may already be freed, so headers can be stale"),
        Probe(name: "qdisc_enqueue", id: id(ST_PROBE_QDISC_ENQUEUE), group: .qdisc, isDefault: true,
              summary: "enqueued on a qdisc"),
        Probe(name: "qdisc_dequeue", id: id(ST_PROBE_QDISC_DEQUEUE), group: .qdisc, isDefault: true,
              summary: "dequeued from a qdisc"),
        Probe(name: "netif_rx_entry", id: id(ST_PROBE_NETIF_RX_ENTRY), group: .linkIn, isDefault: false,
              summary: "netif_rx() called (fires with netif_rx)"),
        Probe(name: "netif_rx", id: id(ST_PROBE_NETIF_RX), group: .linkIn, isDefault: true,
              summary: "queued to the backlog (veth, loopback)"),
        Probe(name: "napi_gro_receive_entry", id: id(ST_PROBE_NAPI_GRO_RECEIVE_ENTRY), group: .linkIn, isDefault: true,
              summary: "received through NAPI/GRO"),
        Probe(name: "netif_receive_skb_entry", id: id(ST_PROBE_NETIF_RECEIVE_SKB_ENTRY), group: .linkIn, isDefault: false,
              summary: "netif_receive_skb() called"),
        Probe(name: "netif_receive_skb_list_entry", id: id(ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY), group: .linkIn, isDefault: true,
              summary: "received as part of a list"),
        Probe(name: "netif_receive_skb", id: id(ST_PROBE_NETIF_RECEIVE_SKB), group: .linkIn, isDefault: true,
              summary: "entering the protocol stack"),
        Probe(name: "icmp_send", id: id(ST_PROBE_ICMP_SEND), group: .icmp, isDefault: true,
              summary: "the kernel answers this packet with an ICMP error"),
        Probe(name: "tcp_retransmit_skb", id: id(ST_PROBE_TCP_RETRANSMIT_SKB), group: .tcp, isDefault: true,
              summary: "TCP retransmission (tuple from the socket)"),
        Probe(name: "tcp_send_reset", id: id(ST_PROBE_TCP_SEND_RESET), group: .tcp, isDefault: true,
              summary: "answered with a TCP RST"),
        Probe(name: "tcp_bad_csum", id: id(ST_PROBE_TCP_BAD_CSUM), group: .tcp, isDefault: true,
              summary: "TCP checksum error"),
        Probe(name: "udp_fail_queue_rcv_skb", id: id(ST_PROBE_UDP_FAIL_QUEUE_RCV_SKB), group: .udp, isDefault: true,
              summary: "could not queue to a UDP socket"),
        Probe(name: "sock_rcvqueue_full", id: id(ST_PROBE_SOCK_RCVQUEUE_FULL), group: .socket, isDefault: true,
              summary: "socket receive queue full"),
        Probe(name: "skb_copy_datagram_iovec", id: id(ST_PROBE_SKB_COPY_DATAGRAM_IOVEC), group: .socket, isDefault: true,
              summary: "copied to a process (TCP, raw, ICMP; not linear UDP)"),
        Probe(name: "kfree_skb", id: id(ST_PROBE_KFREE_SKB), group: .life, isDefault: true,
              summary: "dropped, with the kernel's drop reason"),
        Probe(name: "consume_skb", id: id(ST_PROBE_CONSUME_SKB), group: .life, isDefault: true,
              summary: "freed after normal use (UDP delivery frees without it)"),
        Probe(name: "fib_table_lookup", id: id(ST_PROBE_FIB_TABLE_LOOKUP), group: .route, isDefault: false,
              summary: "IPv4 route lookup: table, gateway, device or error"),
        Probe(name: "fib6_table_lookup", id: id(ST_PROBE_FIB6_TABLE_LOOKUP), group: .route, isDefault: false,
              summary: "IPv6 route lookup: table, gateway, device or error"),
    ]

    /// What recordings call ST_PROBE_FUNCTION (every kernel function probe; the
    /// function itself is named by the event's location).
    public static let functionProbeName = "function"

    private static func id(_ p: st_probe_id) -> UInt16 { UInt16(p.rawValue) }

    static let byName: [String: Probe] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    static let byID: [UInt16: Probe] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    /// Probe names as bytes indexed by id, for the formatters' hot path.
    static let namesByID: [[UInt8]] = {
        var names = [[UInt8]](repeating: [], count: Int(ST_PROBE_COUNT.rawValue))
        for p in all where Int(p.id) < names.count { names[Int(p.id)] = Array(p.name.utf8) }
        return names
    }()

    static func nameBytes(id: UInt16) -> [UInt8] {
        Int(id) < namesByID.count ? namesByID[Int(id)] : Array("probe-\(id)".utf8)
    }

    public static func probe(named name: String) -> Probe? { byName[name] }
    public static func probe(id: UInt16) -> Probe? { byID[id] }

    public static var defaults: [Probe] { all.filter(\.isDefault) }

    /// Resolves `-t` items (group names, probe names, `all`, `default`) to probes.
    public static func select(_ items: [String]) throws(UsageError) -> [Probe] {
        var chosen = Set<String>()
        for raw in items {
            let item = raw.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            if item == "all" {
                // Every skb probe: route lookups are flows, asked for by name (--route, -t route).
                all.filter { !$0.isRoute }.forEach { chosen.insert($0.name) }
            } else if item == "default" {
                defaults.forEach { chosen.insert($0.name) }
            } else if let group = ProbeGroup(rawValue: item) {
                all.filter { $0.group == group }.forEach { chosen.insert($0.name) }
            } else if byName[item] != nil {
                chosen.insert(item)
            } else {
                throw UsageError("unknown probe or group '\(item)' for --trace",
                                 hint: "run `skbtracer --list` to see the probe tree")
            }
        }
        if chosen.isEmpty {
            throw UsageError("--trace selects no probe", hint: "e.g. -t link-in,life or -t all")
        }
        return all.filter { chosen.contains($0.name) }
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
