import BPFKit
import CSkbTracerABI
import Foundation
import SkbTracerBPFObject
import SkbTracerSystem

/// `--netfilter`'s hook programs (bpf/netfilter.bpf.c): one link at the first
/// and one at the last priority of each IPv4 and IPv6 hook, in each traced
/// namespace. Loaded on the tracepoint object's maps, as the function probes
/// are, so their events share its ring buffer, tracking and configuration.
final class NetfilterHookSet {
    private var object: BPFObject?
    /// Namespaces with their links, by inode.
    private(set) var namespaces: [UInt32] = []
    private(set) var links = 0

    static let families: [UInt32] = [2, 10] // NFPROTO_IPV4, NFPROTO_IPV6
    static let hooks: [UInt32] = Array(0...4) // NF_INET_PRE_ROUTING ... NF_INET_POST_ROUTING

    func load(sharing base: BPFObject, btf: KernelBTF) throws {
        // The program type came with its context type (Linux 6.4): without it
        // the load could only fail, with a less telling error.
        guard btf.hasStruct("bpf_nf_ctx") else {
            throw RuntimeError("--netfilter: this kernel has no BPF netfilter programs (no struct bpf_nf_ctx in its BTF)",
                               hint: "Linux 6.4 and later have them")
        }
        guard let elf = Data(base64Encoded: NetfilterObject.elf) else {
            throw RuntimeError("embedded BPF object is corrupt", hint: "rebuild skbtracer")
        }
        // The tracepoint object's name, so the global-data maps are shared too.
        let obj = try BPFObject(elf: [UInt8](elf), name: "skbtracer")
        do {
            for prog in obj.programs { try prog.setNetfilterType() }
            try obj.reuseMaps(of: base)
            try obj.load()
        } catch let error as BPFError {
            obj.close()
            _ = LibbpfLog.take() // printed already with --verbose
            throw RuntimeError("--netfilter: cannot load the netfilter hook programs: \(BPFError.message(error.errno)) (errno \(error.errno))",
                               hint: "run with --verbose to see libbpf's and the verifier's log")
        }
        object = obj
    }

    /// Links both programs at every hook of both families in the namespace at
    /// `path`, entered for the links' creation (a link hooks the namespace of the
    /// thread that makes it). Links made before a refused one stay until
    /// `detachAll()`.
    func attach(netnsPath path: String, inode: UInt32) throws {
        guard let object, let entry = object.program(NetfilterObject.Program.nfHookEntry),
              let exit = object.program(NetfilterObject.Program.nfHookExit) else { return }
        let ns = try NetnsSwitch(path)
        defer { ns.close() }
        let made = try ns.run { () throws -> Int in
            var n = 0
            for family in Self.families {
                for hook in Self.hooks {
                    try Self.attach(object, entry, family: family, hook: hook, priority: ST_NF_HOOK_ENTRY_PRIORITY, step: 1)
                    try Self.attach(object, exit, family: family, hook: hook, priority: ST_NF_HOOK_EXIT_PRIORITY, step: -1)
                    n += 2
                }
            }
            return n
        }
        links += made
        namespaces.append(inode)
    }

    /// How far from the extreme priority a program may go when another BPF
    /// netfilter program holds it (the kernel allows one per priority, EBUSY):
    /// a second skbtracer, or another tool's.
    static let priorityTries: Int32 = 16

    private static func attach(_ object: BPFObject, _ program: BPFProgram, family: UInt32, hook: UInt32,
                               priority: Int32, step: Int32) throws {
        var p = priority
        for _ in 0..<priorityTries {
            do {
                return try object.attachNetfilter(program, family: family, hook: hook, priority: p)
            } catch let error as BPFError where error.errno == EBUSY {
                p += step
            }
        }
        try object.attachNetfilter(program, family: family, hook: hook, priority: p)
    }

    func detachAll() { object?.detachAll() }

    func close() {
        object?.close()
        object = nil
    }

    deinit { close() }
}
