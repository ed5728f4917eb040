import SkbTracerSystem
/// `skbtracer --list`: the probe tree, marking what the running kernel supports.
public enum ProbeTree {
    /// `supports` nil means the kernel could not be asked (no BTF).
    public static func render(supports: [ProbeSupport]?) -> String {
        let byName = Dictionary(uniqueKeysWithValues: (supports ?? []).map { ($0.probe.name, $0) })
        var out = "Probes of the tracepoint backend ([+] available on this kernel, [-] missing, * traced by default)\n"
        out += "Select with -t/--trace GROUP|PROBE[,...]; `all` selects every skb probe (route lookups only by name or --route), `default` the starred ones.\n\n"
        out += "all\n"
        let groups = ProbeGroup.allCases
        for (gi, group) in groups.enumerated() {
            let lastGroup = gi == groups.count - 1
            out += groupLine(group.rawValue, group.summary, last: lastGroup)
            let probes = ProbeCatalogue.all.filter { $0.group == group }
            for (pi, p) in probes.enumerated() {
                let mark: String
                switch byName[p.name]?.status {
                case .available?: mark = "[+]"
                case .missing?: mark = "[-]"
                case nil: mark = "[?]"
                }
                var line = itemPrefix(lastGroup: lastGroup, lastItem: pi == probes.count - 1)
                line += "\(mark) \(p.name)\(p.isDefault ? " *" : "")"
                line = line.padding(toLength: 46, withPad: " ", startingAt: 0)
                line += p.summary
                if case .missing(let why)? = byName[p.name]?.status { line += " (\(why))" }
                out += line + "\n"
            }
        }
        return out
    }

    /// A group's line in a tree: its branch, its name in a column, what it holds.
    static func groupLine(_ name: String, _ summary: String, last: Bool) -> String {
        (last ? "└── " : "├── ") + name.padding(toLength: 34, withPad: " ", startingAt: 0) + summary + "\n"
    }

    /// The branches before an item of a group.
    static func itemPrefix(lastGroup: Bool, lastItem: Bool) -> String {
        (lastGroup ? "    " : "│   ") + (lastItem ? "└── " : "├── ")
    }

    /// The curated functions as a tree of groups, marking what this kernel has:
    /// its BTF lists the function with an sk_buff and ftrace can trace it.
    public static func renderGroups(candidates: [KernelFunction], traceable: (unique: Set<String>, ambiguous: Set<String>)?) -> String {
        let present = Set(candidates.map(\.name).filter { traceable?.unique.contains($0) ?? true })
        let total = FunctionGroup.allCases.reduce(0) { $0 + $1.functions.count }
        let here = FunctionGroup.allCases.reduce(0) { $0 + $1.functions.filter(present.contains).count }
        var out = "\nCurated kernel functions, probed by default with --backend ([+] in this kernel, [-] not): \(here) of \(total)\n"
        out += "Select with -t GROUP|FUNCTION[,...] (a tracepoint group of the same name comes too); -t \(FunctionRequest.everyName) probes every function with an sk_buff.\n\n"
        out += "functions\n"
        let groups = FunctionGroup.allCases
        for (gi, group) in groups.enumerated() {
            let lastGroup = gi == groups.count - 1
            let has = group.functions.filter(present.contains).count
            out += groupLine(group.rawValue, group.summary + " (\(has) of \(group.functions.count))", last: lastGroup)
            for (fi, name) in group.functions.enumerated() {
                out += itemPrefix(lastGroup: lastGroup, lastItem: fi == group.functions.count - 1)
                    + (present.contains(name) ? "[+] " : "[-] ") + name + "\n"
            }
        }
        return out
    }

    /// The function backends' part of `--list`: whether this kernel has kprobes,
    /// how many functions take an sk_buff, and with `--backend` the functions
    /// themselves (narrowed by `--filter-func`), one per line.
    public static func renderFunctions(candidates: [KernelFunction], traceable: (unique: Set<String>, ambiguous: Set<String>)?,
                                       kprobes: Bool, listing: Bool, pattern: String?) throws(UsageError) -> String {
        var out = "\nKernel functions (--backend kprobe-multi|kprobe|auto): "
        out += kprobes ? "this kernel has kprobes" : "not on this kernel (no kprobes)"
        let (chosen, _) = try FunctionProbes.select(candidates, traceable: traceable, pattern: pattern)
        let (allTraceable, _) = try FunctionProbes.select(candidates, traceable: traceable, pattern: nil)
        out += "; \(candidates.count) functions take an sk_buff among their first \(FunctionProbes.maxPosition) parameters"
        if traceable != nil { out += ", \(allTraceable.count) of them traceable" }
        if let pattern { out += ", \(chosen.count) match '\(pattern)'" }
        out += "\n" + renderGroups(candidates: candidates, traceable: traceable)
        guard listing else { return out + "List every function with --list --backend kprobe-multi [--filter-func REGEX].\n" }
        out += "\nEvery kernel function with an sk_buff (-t \(FunctionRequest.everyName))\(pattern.map { " matching '\($0)'" } ?? ""):\n"
        for f in chosen.sorted(by: { $0.name < $1.name }) {
            out += "  \(f.name)".padding(toLength: 46, withPad: " ", startingAt: 0)
                + "sk_buff is argument \(f.position)\(f.module.map { " [\($0)]" } ?? "")\n"
        }
        return out
    }
}
