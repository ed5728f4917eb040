import BPFKit
import SkbTracerModel

// Here, not with the probe tree in the model: the listing asks the kernel which probes
// it has, as a session's start does (TracerSession.resolveSupport).
extension ProbeTree {
    /// `--list`: the probe tree with what this kernel has, then the kernel
    /// functions (`listing`: each one, as `--backend` would attach them).
    public static func listing(functions listing: Bool, pattern: String?) throws -> String {
        let btf = try? KernelBTF()
        let supports = btf.map { TracerSession.resolveSupport(ProbeCatalogue.all, btf: $0) }
        var text = render(supports: supports)
        if let btf {
            text += try renderFunctions(candidates: FunctionProbes.candidates(btf: btf),
                                        traceable: FunctionProbes.traceable(),
                                        kprobes: FunctionProbes.kprobesAvailable(),
                                        listing: listing, pattern: pattern)
        }
        return text
    }
}
