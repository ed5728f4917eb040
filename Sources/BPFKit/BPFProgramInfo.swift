import CBPFShim

/// Facts about a BPF program loaded by someone else, found by its id.
public enum BPFProgramInfo {
    /// The name of loaded program `id` (bpf_prog_get_fd_by_id, bpf_obj_get_info_by_fd);
    /// nil when no program has that id any more or it cannot be opened.
    public static func name(id: UInt32) -> String? {
        var buf = [CChar](repeating: 0, count: 64)
        guard shim_prog_name(id, &buf, buf.count) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
