// Writes a BPF object's skeleton: Swift enums of its program and map names, so
// Swift code names them by type (a renamed program is a build error, not a
// failed lookup at run time), as `bpftool gen skeleton` does for C.

/// `tp_net_dev_queue` -> `tpNetDevQueue`, `.rodata` -> `rodata`.
func swiftIdentifier(_ name: String) -> String {
    let words = name.split { !($0.isLetter || $0.isNumber) }
    var id = words.enumerated().map { i, w in i == 0 ? w.lowercased() : w.prefix(1).uppercased() + w.dropFirst() }.joined()
    if id.first?.isNumber ?? true { id = "_" + id }
    return "`\(id)`"
}

func skeleton(typeName: String, source: String, base64: String, contents: BPFObjectContents) throws -> String {
    for names in [contents.programs.map(\.name), contents.maps] {
        let ids = names.map(swiftIdentifier)
        if Set(ids).count != ids.count { throw BPFObjectContents.Malformed(description: "\(source): two names give one Swift name: \(names)") }
    }
    var s = "/// \(source): the compiled object and the names of its programs and maps.\n"
    s += "public enum \(typeName) {\n"
    s += "    /// The ELF object (with BTF, DWARF stripped), base64-encoded: an array literal of bytes compiles far too slowly.\n"
    s += "    public static let elf = \"\(base64)\"\n\n"
    s += "    public enum Program: String, CaseIterable, Sendable, BPFProgramName {\n"
    for p in contents.programs {
        s += "        case \(swiftIdentifier(p.name)) = \"\(p.name)\"\n"
    }
    s += "\n        /// Its section, SEC(): where libbpf attaches it (`tp_btf/net_dev_queue`).\n"
    s += "        public var section: String {\n            switch self {\n"
    for p in contents.programs {
        s += "            case .\(swiftIdentifier(p.name)): return \"\(p.section)\"\n"
    }
    s += "            }\n        }\n    }\n\n"
    s += "    public enum Map: String, CaseIterable, Sendable, BPFMapName {\n"
    for m in contents.maps {
        s += "        case \(swiftIdentifier(m)) = \"\(m)\"\n"
    }
    s += "    }\n}\n"
    return s
}
