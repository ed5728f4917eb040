/// A program's name from a generated skeleton (BPFEmbed's `Program` enums): code
/// that names programs by type breaks at build time when one is renamed, instead
/// of finding nothing at run time (libbpf-bootstrap's `skel->progs`).
public protocol BPFProgramName: RawRepresentable<String>, Hashable, Sendable {}

/// A map's name from a generated skeleton (BPFEmbed's `Map` enums; `skel->maps`).
public protocol BPFMapName: RawRepresentable<String>, Hashable, Sendable {}

extension BPFObject {
    /// bpf_object__find_program_by_name() with a skeleton's name.
    public func program(_ name: some BPFProgramName) -> BPFProgram? { program(named: name.rawValue) }

    /// bpf_object__find_map_by_name() with a skeleton's name.
    public func map(_ name: some BPFMapName) -> BPFMap? { map(named: name.rawValue) }
}
