// The programs and maps of a compiled BPF object, read from its ELF section and
// symbol tables the way libbpf reads them when it opens the object.
import Foundation

struct BPFObjectContents {
    struct Program {
        let name: String
        /// Its section: SEC("tp_btf/net_dev_queue"), where libbpf attaches it.
        let section: String
    }

    var programs: [Program] = []
    /// Maps declared in SEC(".maps"), then the global-data sections (.rodata,
    /// .bss, ...), which libbpf turns into maps under the section's name.
    var maps: [String] = []

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses a little-endian ELF64 relocatable object (clang -target bpf on
    /// x86_64 and arm64 hosts).
    init(elf data: Data) throws {
        let b = [UInt8](data)
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o + 2 <= b.count else { throw Malformed(description: "truncated at \(o)") }
            return Int(b[o]) | Int(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int {
            let low = try u16(o), high = try u16(o + 2)
            return low | high << 16
        }
        func u64(_ o: Int) throws -> Int {
            let low = try u32(o), high = try u32(o + 4)
            return low | high << 32
        }
        func string(_ table: Int, _ offset: Int) throws -> String {
            var end = table + offset
            while end < b.count, b[end] != 0 { end += 1 }
            guard end < b.count else { throw Malformed(description: "unterminated name at \(table + offset)") }
            return String(decoding: b[(table + offset)..<end], as: UTF8.self)
        }
        guard b.count >= 64, b[0..<4] == [0x7f, 0x45, 0x4c, 0x46] else { throw Malformed(description: "not an ELF file") }
        guard b[4] == 2, b[5] == 1 else { throw Malformed(description: "not a little-endian ELF64 object") }

        struct Section { let name: String; let type: Int; let flags: Int; let offset: Int; let size: Int; let link: Int }
        let shoff = try u64(0x28), shentsize = try u16(0x3a), shnum = try u16(0x3c), shstrndx = try u16(0x3e)
        let shstrtab = try u64(shoff + shstrndx * shentsize + 24)
        var sections: [Section] = []
        for i in 0..<shnum {
            let h = shoff + i * shentsize
            sections.append(Section(name: try string(shstrtab, try u32(h)), type: try u32(h + 4), flags: try u64(h + 8),
                                    offset: try u64(h + 24), size: try u64(h + 32), link: try u32(h + 40)))
        }
        let SHT_SYMTAB = 2, SHT_NOBITS = 8, SHF_ALLOC = 0x2, SHF_EXECINSTR = 0x4
        let STT_OBJECT = 1, STT_FUNC = 2
        guard let symtab = sections.first(where: { $0.type == SHT_SYMTAB }) else { throw Malformed(description: "no symbol table") }
        let strtab = sections[symtab.link].offset
        for s in stride(from: symtab.offset, to: symtab.offset + symtab.size, by: 24) {
            let info = Int(b[s + 4]), shndx = try u16(s + 6)
            guard shndx > 0, shndx < sections.count else { continue }
            let section = sections[shndx]
            // Entry programs: functions in their own executable sections. Functions
            // in .text are subprograms, called by the programs.
            if info & 0xf == STT_FUNC, section.flags & SHF_EXECINSTR != 0, section.name != ".text" {
                programs.append(Program(name: try string(strtab, try u32(s)), section: section.name))
            } else if info & 0xf == STT_OBJECT, section.name == ".maps" {
                maps.append(try string(strtab, try u32(s)))
            }
        }
        // The global variables' sections, each one map for libbpf.
        maps += sections.filter { s in
            s.flags & SHF_ALLOC != 0 && s.size > 0 && (s.type != SHT_NOBITS || s.name.hasPrefix(".bss"))
                && [".rodata", ".data", ".bss"].contains { s.name == $0 || s.name.hasPrefix($0 + ".") }
        }.map(\.name)
        programs.sort { $0.name < $1.name }
    }
}
