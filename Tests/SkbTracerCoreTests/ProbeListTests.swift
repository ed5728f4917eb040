import BPFKit
import CSkbTracerABI
import Foundation
import SkbTracerBPFObject
@testable import SkbTracerModel
@testable import SkbTracerSession
import Testing

/// The probe list (skbtracer_probes.def) generates the C enum, the BPF programs and
/// the Swift catalogue, and BPFEmbed reads each object's skeleton (its program and
/// map names) from the compiled ELF. These check that all of them agree with the
/// embedded objects as libbpf opens them (opening needs no privileges or kernel).
@Suite("Probe list")
struct ProbeListTests {
    static func open(_ base64: String) throws -> BPFObject {
        try BPFObject(elf: [UInt8](try #require(Data(base64Encoded: base64))), name: "skbtracer")
    }

    /// Each catalogue probe's program is in the object, on its own tracepoint, and
    /// the object has no program that is neither a probe's nor --owner's.
    @Test func everyProbeHasItsProgramAndEveryProgramItsProbe() throws {
        let obj = try Self.open(TracepointsObject.elf)
        defer { obj.close() }
        for p in ProbeCatalogue.all {
            let prog = try #require(obj.program(p.program), "no program for probe \(p.name)")
            #expect(prog.sectionName == "tp_btf/\(p.name)", "\(p.name)")
        }
        let owners = TracerSession.ownerBTFPrograms + TracerSession.ownerSyscallPrograms
        #expect(Set(obj.programs.map(\.name)) == Set((ProbeCatalogue.all.map(\.program) + owners).map(\.rawValue)))
        #expect(Set(ProbeCatalogue.all.map(\.program)).count == ProbeCatalogue.all.count)
    }

    /// The skeleton BPFEmbed generated lists what libbpf finds in each object: every
    /// program with its section, every map (global-data sections included).
    @Test func skeletonsListWhatLibbpfFinds() throws {
        func check<P: BPFProgramName & CaseIterable, M: BPFMapName & CaseIterable>(
            _ elf: String, _ programs: P.Type, _ maps: M.Type, section: (P) -> String
        ) throws {
            let obj = try Self.open(elf)
            defer { obj.close() }
            #expect(Set(obj.programs.map(\.name)) == Set(P.allCases.map(\.rawValue)))
            for p in P.allCases { #expect(obj.program(p)?.sectionName == section(p), "\(p.rawValue)") }
            #expect(obj.maps.count == M.allCases.count)
            for m in M.allCases { #expect(obj.map(m) != nil, "\(m.rawValue)") }
        }
        try check(TracepointsObject.elf, TracepointsObject.Program.self, TracepointsObject.Map.self, section: \.section)
        try check(FunctionsObject.elf, FunctionsObject.Program.self, FunctionsObject.Map.self, section: \.section)
        // The function object shares the tracepoint object's maps, by name.
        #expect(Set(FunctionsObject.Map.allCases.map(\.rawValue)) == Set(TracepointsObject.Map.allCases.map(\.rawValue)))
    }

    /// Every function program is some backend's program for some position, and
    /// each backend has one for every position.
    @Test func functionProgramsCoverEveryPosition() {
        var reached = Set<FunctionsObject.Program>()
        for backend in FunctionBackend.allCases {
            for position in 1...FunctionProbes.maxPosition {
                guard let p = backend.program(position: position) else {
                    Issue.record("\(backend) has no program for position \(position)")
                    continue
                }
                #expect(p.section == (backend == .kprobeMulti ? "kprobe.multi" : "kprobe"))
                reached.insert(p)
            }
        }
        #expect(reached == Set(FunctionsObject.Program.allCases))
    }

    /// --owner's programs attach where their sections say: a BTF tracepoint, or a
    /// syscall tracepoint under tracefs' events/.
    @Test func ownerTracepointsComeFromTheSections() {
        #expect(TracerSession.tracepoint(of: .ownerSockSendLength) == "sock_send_length")
        #expect(TracerSession.tracepoint(of: .ownerSysExitAccept4) == "syscalls/sys_exit_accept4")
    }
}
