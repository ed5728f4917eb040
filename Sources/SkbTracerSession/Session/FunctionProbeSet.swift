import BPFKit
import Foundation
import SkbTracerBPFObject
import SkbTracerModel
import SkbTracerSystem

/// The function backends' BPF object (bpf/functions.bpf.c) and its links. It is
/// loaded on top of the tracepoint object's maps, so its events share their ring
/// buffer, tracking table and configuration.
final class FunctionProbeSet {
    private(set) var backend: FunctionBackend
    /// Whether kprobe-multi may fall back to one kprobe per function (`--backend auto`).
    private let mayFallBack: Bool
    let functions: [KernelFunction]
    private var object: BPFObject?
    private(set) var attached = 0
    /// Functions that could not be attached, with libbpf's reason.
    private(set) var failures: [(function: String, error: String)] = []

    /// kprobe-multi links take this many functions at a time when the whole list
    /// is refused: one bad name then costs its chunk a retry, not the trace.
    static let chunk = 128

    /// Puts libbpf's log into a load error (tests).
    var verboseErrors = false

    init(backend: FunctionBackend, mayFallBack: Bool, functions: [KernelFunction]) {
        self.backend = backend
        self.mayFallBack = mayFallBack
        self.functions = functions
    }

    private var positions: [Int: [String]] {
        Dictionary(grouping: functions, by: \.position).mapValues { $0.map(\.name) }
    }

    /// Opens the object with the programs this backend needs, shares the maps of
    /// `base` (already loaded) and loads it.
    func load(sharing base: BPFObject) throws {
        guard let elf = Data(base64Encoded: FunctionsObject.elf) else {
            throw RuntimeError("embedded BPF object is corrupt", hint: "rebuild skbtracer")
        }
        // The same object name as the tracepoint object, so the global-data maps
        // (.rodata, .bss) have the same names and are shared too.
        let obj = try BPFObject(elf: [UInt8](elf), name: "skbtracer")
        let wanted = Set(positions.keys.compactMap { backend.program(position: $0)?.rawValue })
        for prog in obj.programs { prog.setAutoload(wanted.contains(prog.name)) }
        do {
            try obj.reuseMaps(of: base)
            try obj.load()
        } catch let error as BPFError {
            obj.close()
            let log = LibbpfLog.take()
            let noCast = log.contains("bpf_rdonly_cast")
            throw RuntimeError("load function probes (\(backend.rawValue)): \(BPFError.message(error.errno)) (errno \(error.errno))"
                                   + (verboseErrors ? "\n" + log : ""),
                               hint: noCast
                                   ? "this kernel lacks the bpf_rdonly_cast kfunc (Linux 6.2 and later have it): use --backend tracepoint"
                                   : "run with --verbose to see libbpf's and the verifier's log, or use --backend tracepoint")
        }
        object = obj
    }

    /// Attaches every function; failures are counted, not fatal. Throws only
    /// when no function at all could be attached.
    func attach(base: BPFObject) throws {
        guard object != nil else { return }
        if backend == .kprobeMulti {
            do {
                try attachMulti()
            } catch let error as BPFError where error.errno == EOPNOTSUPP {
                guard mayFallBack else {
                    throw RuntimeError("--backend kprobe-multi: this kernel cannot attach kprobe-multi links (no fprobe: CONFIG_FPROBE is off)",
                                       hint: "use --backend kprobe (one kprobe per function, slower to attach) or --backend auto")
                }
                // No fprobe (CONFIG_FPROBE off, as in Debian's 6.1): one kprobe each.
                object?.close()
                backend = .kprobe
                try load(sharing: base)
                attachSingle()
            }
        } else {
            attachSingle()
        }
        if attached == 0, let first = failures.first {
            throw RuntimeError("no kernel function could be attached (\(backend.rawValue)): \(first.function): \(first.error)",
                               hint: "run with --verbose to see libbpf's log, or use --backend tracepoint")
        }
    }

    /// One link per argument position. A refused list is retried in chunks and a
    /// refused chunk one function at a time, so one function the kernel will not
    /// probe costs only itself. EOPNOTSUPP (no kprobe-multi at all) is thrown.
    private func attachMulti() throws {
        guard let object else { return }
        for (position, names) in positions.sorted(by: { $0.key < $1.key }) {
            guard let name = backend.program(position: position), let prog = object.program(name) else { continue }
            var pending = [names]
            while !pending.isEmpty {
                var retry: [[String]] = []
                for group in pending {
                    do {
                        try object.attachKprobeMulti(prog, symbols: group)
                        attached += group.count
                    } catch {
                        if (error as? BPFError)?.errno == EOPNOTSUPP && attached == 0 { throw error }
                        if group.count == 1 {
                            failures.append((group[0], Self.reason(error)))
                        } else {
                            let size = group.count > Self.chunk ? Self.chunk : 1
                            retry += stride(from: 0, to: group.count, by: size).map { Array(group[$0..<min($0 + size, group.count)]) }
                        }
                    }
                }
                pending = retry
            }
        }
    }

    private func attachSingle() {
        guard let object else { return }
        Self.raiseOpenFileLimit(to: 2 * rlim_t(functions.count) + 1024)
        for f in functions {
            guard let name = backend.program(position: f.position), let prog = object.program(name) else { continue }
            do {
                try object.attachKprobe(prog, function: f.name)
                attached += 1
            } catch {
                failures.append((f.name, Self.reason(error)))
            }
        }
    }

    /// Each kprobe link holds two file descriptors (the perf event and the BPF
    /// link): a few hundred functions
    /// are past the usual soft limit of 1024. Raises the soft limit, and the hard
    /// one when allowed (root), to `needed`; on failure attaching reports EMFILE.
    static func raiseOpenFileLimit(to needed: rlim_t) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < needed else { return }
        var wanted = rlimit(rlim_cur: needed, rlim_max: max(limit.rlim_max, needed))
        if setrlimit(RLIMIT_NOFILE_VALUE, &wanted) != 0 {
            wanted = rlimit(rlim_cur: max(limit.rlim_cur, min(needed, limit.rlim_max)), rlim_max: limit.rlim_max)
            _ = setrlimit(RLIMIT_NOFILE_VALUE, &wanted)
        }
    }

    private static func reason(_ error: Error) -> String {
        (error as? BPFError).map { BPFError.message($0.errno) } ?? "\(error)"
    }

    func detachAll() { object?.detachAll() }

    func close() {
        object?.close()
        object = nil
    }

    deinit { close() }
}

/// Glibc imports RLIMIT_NOFILE as an enum case of __rlimit_resource on Linux.
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
