import CSkbTracerABI

/// The packet inside a tunnel packet (`struct st_sec_tunnel`), and which
/// tunnels there are: the ports and protocols come from the ABI header, the
/// one list BPF reads too.
public struct Tunnel: @unchecked Sendable {
    public enum Kind: UInt8, Sendable {
        case vxlan = 1, geneve = 2, gre = 3, ipip = 4, ip6 = 5

        /// Lower case, for JSON and the event line.
        public var name: String {
            switch self {
            case .vxlan: return "vxlan"
            case .geneve: return "geneve"
            case .gre: return "gre"
            case .ipip: return "ipip"
            case .ip6: return "ip6"
            }
        }
    }

    public var kind: Kind
    /// VXLAN's and GENEVE's virtual network identifier; nil for the others.
    public var vni: UInt32?
    public var inner: Packet

    public init(kind: Kind, vni: UInt32?, inner: Packet) {
        self.kind = kind
        self.vni = vni
        self.inner = inner
    }

    init?(_ s: st_sec_tunnel) {
        guard let kind = Kind(rawValue: s.kind) else { return nil }
        self.init(kind: kind, vni: kind == .vxlan || kind == .geneve ? s.vni : nil, inner: Packet(raw: s.inner))
    }

    var section: st_sec_tunnel {
        st_sec_tunnel(sec: st_section(type: UInt16(ST_SEC_TUNNEL.rawValue), size: UInt16(MemoryLayout<st_sec_tunnel>.size)),
                      kind: kind.rawValue, pad: (0, 0, 0), vni: vni ?? 0, inner: inner.raw)
    }

    /// The tunnel whose outer header a tuple is, as people name it: UDP to a
    /// tunnel's port, or an IP protocol that carries IP. nil for anything else.
    public static func name(l4: UInt8, dport: UInt16, ipv4: Bool) -> String? {
        switch l4 {
        case Packet.Number.udp:
            switch dport {
            case UInt16(ST_PORT_VXLAN), UInt16(ST_PORT_VXLAN_LINUX): return "VXLAN"
            case UInt16(ST_PORT_VXLAN_GPE): return "VXLAN-GPE"
            case UInt16(ST_PORT_GENEVE): return "GENEVE"
            default: return nil
            }
        case UInt8(ST_IPPROTO_IPIP): return ipv4 ? "IPIP" : "IPv4-in-IPv6"
        case UInt8(ST_IPPROTO_IPV6): return ipv4 ? "SIT (IPv6-in-IPv4)" : "IPv6-in-IPv6"
        case UInt8(ST_IPPROTO_GRE): return "GRE"
        default: return nil
        }
    }
}
