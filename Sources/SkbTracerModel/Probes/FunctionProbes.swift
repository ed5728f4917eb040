import BPFKit
import Foundation
import SkbTracerBPFObject
import SkbTracerSystem

/// How kernel functions are probed (bpf/functions.bpf.c).
public enum FunctionBackend: String, Sendable, CaseIterable {
    /// One link for every function (fprobe, CONFIG_FPROBE): attaches a thousand
    /// functions in a fraction of a second.
    case kprobeMulti = "kprobe-multi"
    /// One kprobe link per function: any kernel with kprobes, seconds to attach.
    case kprobe

    /// The BPF program for functions whose sk_buff is parameter `position`
    /// (1...FunctionProbes.maxPosition).
    public func program(position: Int) -> FunctionsObject.Program? {
        switch (self, position) {
        case (.kprobeMulti, 1): return .kprobeMultiSkb1
        case (.kprobeMulti, 2): return .kprobeMultiSkb2
        case (.kprobeMulti, 3): return .kprobeMultiSkb3
        case (.kprobeMulti, 4): return .kprobeMultiSkb4
        case (.kprobeMulti, 5): return .kprobeMultiSkb5
        case (.kprobe, 1): return .kprobeSkb1
        case (.kprobe, 2): return .kprobeSkb2
        case (.kprobe, 3): return .kprobeSkb3
        case (.kprobe, 4): return .kprobeSkb4
        case (.kprobe, 5): return .kprobeSkb5
        default: return nil
        }
    }
}

/// `--backend`: tracepoints only (the default), or also kernel functions.
public enum BackendChoice: String, Sendable, CaseIterable {
    case tracepoint
    case kprobeMulti = "kprobe-multi"
    case kprobe
    /// The best function backend this kernel offers, else tracepoints with a warning.
    case auto
}

/// A kernel function with an sk_buff parameter: where a function probe reads it.
public struct KernelFunction: Sendable, Hashable {
    public let name: String
    /// 1-based position of the first `struct sk_buff *` parameter (1...5).
    public let position: Int
    /// The module that defines it; nil for vmlinux.
    public let module: String?

    public init(name: String, position: Int, module: String?) {
        self.name = name
        self.position = position
        self.module = module
    }
}

/// Finds the functions the function backends probe, the way pwru does: every
/// function whose BTF prototype has a `struct sk_buff *` among its first five
/// parameters (the registers a kprobe reads), in vmlinux and in loaded modules
/// (veth, bridge and nf_tables are modules on most distributions), that ftrace
/// lists as traceable.
public enum FunctionProbes {
    public static let maxPosition = 5

    /// The candidates in BTF, deduplicated by name. A name defined twice with the
    /// sk_buff in different places cannot be probed by name: it is left out.
    public static func candidates(btf: KernelBTF, btfDir: String = "/sys/kernel/btf") -> [KernelFunction] {
        var all = btf.skbFunctions(maxPosition: maxPosition).map { KernelFunction(name: $0.name, position: $0.position, module: nil) }
        let modules = ((try? FileManager.default.contentsOfDirectory(atPath: btfDir)) ?? [])
            .filter { $0 != "vmlinux" }.sorted()
        for module in modules {
            guard let split = try? KernelBTF(module: module, base: btf) else { continue }
            all += split.skbFunctions(maxPosition: maxPosition).map { KernelFunction(name: $0.name, position: $0.position, module: module) }
        }
        return deduplicated(all.filter { !isMachinery($0.name) })
    }

    /// The tracing machinery's own functions that take a tracepoint's sk_buff:
    /// __traceiter_* and __probestub_* run for every hit of the tracepoint (which
    /// the tracepoint backend already shows), the event and perf callbacks too.
    static let machineryPrefixes = ["__traceiter_", "__probestub_", "trace_event_raw_event_", "perf_trace_",
                                    "__bpf_trace_", "trace_raw_output_"]

    static func isMachinery(_ name: String) -> Bool {
        machineryPrefixes.contains { name.hasPrefix($0) }
    }

    static func deduplicated(_ functions: [KernelFunction]) -> [KernelFunction] {
        var positions: [String: Int] = [:]
        var conflicting = Set<String>()
        for f in functions {
            if let p = positions[f.name], p != f.position { conflicting.insert(f.name) }
            positions[f.name] = f.position
        }
        var seen = Set<String>()
        return functions.filter { !conflicting.contains($0.name) && seen.insert($0.name).inserted }
    }

    /// Names in tracefs' available_filter_functions ("name" or "name [module]"):
    /// what ftrace, and so fprobe, can attach to. Names listed more than once
    /// (static functions of the same name) are ambiguous to attach by name and
    /// are returned apart. nil when the file cannot be read.
    public static func traceable(paths: [String] = ["/sys/kernel/tracing/available_filter_functions",
                                                     "/sys/kernel/debug/tracing/available_filter_functions"])
        -> (unique: Set<String>, ambiguous: Set<String>)? {
        for path in paths {
            guard let data = readWhole(path), !data.isEmpty else { continue }
            return parseTraceable(data)
        }
        return nil
    }

    /// tracefs files report a size of 0: read to the end in chunks.
    static func readWhole(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return try? handle.readToEnd() ?? Data()
    }

    static func parseTraceable(_ data: Data) -> (unique: Set<String>, ambiguous: Set<String>) {
        var unique = Set<String>(), ambiguous = Set<String>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let name = line.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            guard !name.isEmpty else { continue }
            let s = String(decoding: name, as: UTF8.self)
            if !unique.insert(s).inserted { ambiguous.insert(s) }
        }
        unique.subtract(ambiguous)
        return (unique, ambiguous)
    }

    /// Whether this kernel has kprobes: the kprobe PMU (perf_event_open) or
    /// tracefs' kprobe_events (libbpf's fallback).
    public static func kprobesAvailable(sysfs: String = "/sys", tracefs: [String] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]) -> Bool {
        if FileManager.default.fileExists(atPath: "\(sysfs)/bus/event_source/devices/kprobe/type") { return true }
        return tracefs.contains { FileManager.default.fileExists(atPath: "\($0)/kprobe_events") }
    }

    /// What to probe: the candidates `request` picks (`-t`; the curated groups by
    /// default) that ftrace can trace (all of them when the list is unreadable),
    /// narrowed by `--filter-func`'s regular expression.
    public static func select(_ candidates: [KernelFunction], request: FunctionRequest = .all,
                              traceable: (unique: Set<String>, ambiguous: Set<String>)?,
                              pattern: String?) throws(UsageError) -> (chosen: [KernelFunction], untraceable: Int) {
        var regex: Regex<AnyRegexOutput>?
        if let pattern {
            do { regex = try Regex(pattern) } catch {
                throw UsageError("invalid regular expression '\(pattern)' for --filter-func", hint: "e.g. --filter-func 'skb$' or 'netif_.*'")
            }
        }
        var untraceable = 0
        let chosen = try request.pick(from: candidates).filter { f in
            if let regex, !f.name.contains(regex) { return false }
            if let traceable, !traceable.unique.contains(f.name) { untraceable += 1; return false }
            return true
        }
        return (chosen, untraceable)
    }
}
