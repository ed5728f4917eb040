import CPcap
import CSkbTracerABI
import SkbTracerSystem

/// A tcpdump (pcap-filter) expression, `skbtracer 'tcp port 80 and host 10.1.2.3'`,
/// compiled by libpcap to classic BPF in two forms, as pwru does: for a packet
/// seen from its Ethernet header and for one seen from its IP header (a probe
/// before the link layer, a tunnel device). The kernel runs the form that fits
/// each probe (bpf/pcap_filter.bpf.h); a replay runs the same programs on the
/// recorded bytes with libpcap's own interpreter.
public struct PacketExpression: Equatable, Sendable {
    /// The expression as given.
    public let text: String
    /// From the Ethernet header (DLT_EN10MB).
    let link: [st_cbpf_insn]
    /// From the IPv4 or IPv6 header (DLT_RAW); nil when the expression needs a
    /// link-layer header (`ether host`, `vlan`, `arp`...): packets seen without
    /// one never match, rather than all of them.
    let network: [st_cbpf_insn]?

    /// Compiles `text`; libpcap's message when it rejects it.
    public static func compile(_ text: String) throws(UsageError) -> PacketExpression {
        let link: [st_cbpf_insn]
        switch compile(text, rawIP: false) {
        case .success(let program): link = program
        case .failure(let message):
            throw UsageError("tcpdump expression '\(text)': \(message)", hint: "see `man pcap-filter` for the syntax")
        case .tooLong:
            throw UsageError("tcpdump expression '\(text)' compiles to more than the \(ST_PCAP_INSNS_MAX) instructions the kernel side runs",
                             hint: "shorten it: some conditions have options of their own (-H, --port, --proto)")
        }
        switch compile(text, rawIP: true) {
        case .success(let network): return PacketExpression(text: text, link: link, network: network)
        // Only about the link layer: no IP form, never a match without an Ethernet header.
        case .failure: return PacketExpression(text: text, link: link, network: nil)
        case .tooLong:
            throw UsageError("tcpdump expression '\(text)' compiles to more than the \(ST_PCAP_INSNS_MAX) instructions the kernel side runs, from an IP header",
                             hint: "shorten it: some conditions have options of their own (-H, --port, --proto)")
        }
    }

    enum Compiled {
        case success([st_cbpf_insn])
        case failure(String)
        case tooLong
    }

    private static func compile(_ text: String, rawIP: Bool) -> Compiled {
        var insns = [st_cbpf_insn](repeating: st_cbpf_insn(), count: Int(ST_PCAP_INSNS_MAX))
        var error = [CChar](repeating: 0, count: 512)
        let n = st_pcap_compile(text, rawIP ? 1 : 0, &insns, Int32(insns.count), &error, error.count)
        switch n {
        case -2: return .tooLong
        case ..<0: return .failure(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default: return .success(Array(insns.prefix(Int(n))))
        }
    }

    public static func == (a: PacketExpression, b: PacketExpression) -> Bool { a.text == b.text }

    /// Whether the expression takes a recorded packet (libpcap's interpreter on
    /// the bytes BPF copied; the kernel ran the same program on the live skb).
    public func matches(_ payload: Payload) -> Bool {
        guard let program = payload.link == .ethernet ? link : network, !payload.bytes.isEmpty else { return false }
        return st_pcap_run(program, Int32(program.count), payload.bytes, payload.wireLength, UInt32(payload.bytes.count)) != 0
    }

    /// One form as map pcap_progs holds it; `len` 0 for a form that matches nothing.
    public func kernelProgram(_ form: st_pcap_form) -> st_pcap_prog {
        var p = st_pcap_prog()
        let insns = (form == ST_PCAP_LINK ? link : network) ?? []
        p.len = UInt32(insns.count)
        withUnsafeMutableBytes(of: &p.insns) { raw in
            let out = raw.bindMemory(to: st_cbpf_insn.self)
            for (i, insn) in insns.enumerated() { out[i] = insn }
        }
        return p
    }

    /// Whether packets seen from their IP header can match (see `network`).
    public var matchesWithoutLinkLayer: Bool { network != nil }
}
