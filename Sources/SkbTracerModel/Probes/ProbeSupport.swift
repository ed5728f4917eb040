import BPFKit
import CSkbTracerABI

/// Where a probe's tracepoint keeps its arguments on the running kernel, or why
/// it cannot be used.
public struct ProbeSupport: Sendable {
    public enum Status: Equatable, Sendable {
        case available
        case missing(String)
    }

    public let probe: Probe
    public let status: Status
    public let arguments: st_probe_args

    public var isAvailable: Bool { status == .available }

    static let none = UInt8(ST_ARG_NONE)

    /// Reads `btf_trace_<name>` from the kernel's BTF. The BPF programs can read
    /// ctx[0...4] only, so a tracepoint whose skb sits later is unsupported.
    public static func resolve(_ probe: Probe, btf: KernelBTF) -> ProbeSupport {
        guard let params = btf.typedefParameters("btf_trace_\(probe.name)") else {
            return ProbeSupport(probe: probe, status: .missing("tracepoint not in this kernel"),
                                arguments: st_probe_args(skb: none, sk: none, reason: none, location: none))
        }
        return resolve(probe, parameters: params)
    }

    /// The classification itself, separate so it can be tested without a kernel.
    public static func resolve(_ probe: Probe, parameters: [KernelBTF.Parameter]) -> ProbeSupport {
        var args = st_probe_args(skb: none, sk: none, reason: none, location: none)
        // Route probes read fixed arguments (bpf/route_event.bpf.h): check they are where it expects.
        if probe.isRoute {
            let ok = routeArgumentsMatch(probe, Array(parameters.dropFirst()))
            return ProbeSupport(probe: probe, status: ok ? .available : .missing("tracepoint arguments differ on this kernel"),
                                arguments: args)
        }
        // Parameter 0 is the tracepoint's own `void *__data`.
        for (i, p) in parameters.enumerated().dropFirst() {
            let index = UInt8(i - 1)
            if p.isPointer && p.kind == .struct && p.typeName == "sk_buff" && args.skb == none {
                args.skb = index
            } else if p.isPointer && p.kind == .struct && p.typeName == "sock" && args.sk == none {
                args.sk = index
            } else if !p.isPointer && p.kind == .enum && p.typeName == "skb_drop_reason" && args.reason == none {
                args.reason = index
            } else if p.kind == .pointerToVoid && args.location == none {
                args.location = index
            }
        }
        let status: Status
        if args.skb == none {
            status = .missing("tracepoint has no sk_buff argument on this kernel")
        } else if args.skb > 4 || (args.sk != none && args.sk > 4) || (args.reason != none && args.reason > 4)
                    || (args.location != none && args.location > 4) {
            status = .missing("tracepoint arguments beyond the fifth are not supported")
        } else {
            status = .available
        }
        if args.sk != none && args.sk > 4 { args.sk = none }
        if args.reason != none && args.reason > 4 { args.reason = none }
        if args.location != none && args.location > 4 { args.location = none }
        return ProbeSupport(probe: probe, status: status, arguments: args)
    }

    /// fib_table_lookup(u32 tb_id, const struct flowi4 *, const struct fib_nh_common *, int err);
    /// fib6_table_lookup(const struct net *, const struct fib6_result *, struct fib6_table *, const struct flowi6 *).
    static func routeArgumentsMatch(_ probe: Probe, _ p: [KernelBTF.Parameter]) -> Bool {
        func ptr(_ i: Int, _ type: String) -> Bool { i < p.count && p[i].isPointer && p[i].kind == .struct && p[i].typeName == type }
        switch probe {
        case ProbeCatalogue.probe(ST_PROBE_FIB_TABLE_LOOKUP): return p.count == 4 && ptr(1, "flowi4") && ptr(2, "fib_nh_common")
        case ProbeCatalogue.probe(ST_PROBE_FIB6_TABLE_LOOKUP):
            return p.count == 4 && ptr(0, "net") && ptr(1, "fib6_result") && ptr(2, "fib6_table") && ptr(3, "flowi6")
        default: return false
        }
    }
}
