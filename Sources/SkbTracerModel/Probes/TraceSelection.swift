import SkbTracerSystem

/// What `-t/--trace` picks: tracepoint probes and, with a function backend,
/// kernel functions. A word may mean both (`-t tcp`: the tcp tracepoints and the
/// tcp functions); a tracepoint's name means the tracepoint (`kfree_skb`).
public struct TraceSelection: Sendable, Equatable {
    public var probes: [Probe]
    public var functions: FunctionRequest

    public init(probes: [Probe], functions: FunctionRequest) {
        self.probes = probes
        self.functions = functions
    }

    /// `functionBackend`: whether `--backend` asks for kernel functions; without
    /// it a word that only names functions is an error that says so.
    public static func parse(_ items: [String], functionBackend: Bool) throws(UsageError) -> TraceSelection {
        var chosen = Set<String>()
        var functions = FunctionRequest()
        for raw in items {
            let item = raw.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            let probeGroup = ProbeGroup(rawValue: item), functionGroup = FunctionGroup(rawValue: item)
            if item == "all" {
                // Every skb probe: route lookups are flows, asked for by name (--route, -t route).
                ProbeCatalogue.all.filter { !$0.isRoute }.forEach { chosen.insert($0.name) }
            } else if item == "default" {
                ProbeCatalogue.defaults.forEach { chosen.insert($0.name) }
            } else if probeGroup != nil || ProbeCatalogue.probe(named: item) != nil {
                if let probeGroup {
                    ProbeCatalogue.all.filter { $0.group == probeGroup }.forEach { chosen.insert($0.name) }
                } else {
                    chosen.insert(item)
                }
                if functionBackend, let functionGroup { functions.groups.insert(functionGroup) }
            } else if functionGroup != nil || item == FunctionRequest.everyName {
                guard functionBackend else {
                    let what = functionGroup != nil ? "a group of kernel functions" : "every kernel function with an sk_buff"
                    throw UsageError("'\(item)' for --trace means \(what): it needs a function backend",
                                     hint: "add --backend kprobe-multi (or auto); `skbtracer --list` shows the groups")
                }
                if let functionGroup { functions.groups.insert(functionGroup) } else { functions.every = true }
            } else if functionBackend && isFunctionName(item) {
                // Checked against the kernel's functions when tracing starts (FunctionRequest.pick).
                functions.names.insert(item)
            } else {
                throw UsageError("unknown probe or group '\(item)' for --trace",
                                 hint: functionBackend ? "run `skbtracer --list --backend kprobe-multi` to see the probe tree and the functions"
                                     : "run `skbtracer --list` to see the probe tree (a kernel function needs --backend kprobe-multi)")
            }
        }
        if chosen.isEmpty && functions.isEmpty {
            throw UsageError("--trace selects no probe", hint: "e.g. -t link-in,life or -t all")
        }
        return TraceSelection(probes: ProbeCatalogue.all.filter { chosen.contains($0.name) }, functions: functions)
    }

    /// A C identifier: what a kernel function can be called (kallsyms' `.cold`,
    /// `.isra` suffixes are never in BTF).
    static func isFunctionName(_ s: String) -> Bool {
        guard let first = s.utf8.first, first == UInt8(ascii: "_") || (first | 0x20) >= UInt8(ascii: "a") && (first | 0x20) <= UInt8(ascii: "z")
        else { return false }
        return s.utf8.allSatisfy { c in
            c == UInt8(ascii: "_") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z"))
        }
    }
}
