import CBPFShim

/// The running kernel's BTF (/sys/kernel/btf/vmlinux), for questions asked at run
/// time: does a tracepoint exist, what are its arguments, what does an enum hold.
public final class KernelBTF {
    private var handle: OpaquePointer?

    /// A function-prototype parameter: a pointer to a struct `sk_buff` is
    /// `Parameter(isPointer: true, kind: .struct, typeName: "sk_buff")`.
    public struct Parameter: Equatable, Sendable {
        public enum Kind: Equatable, Sendable { case void, int, pointerToVoid, `struct`, `enum`, other }
        public var isPointer: Bool
        public var kind: Kind
        public var typeName: String

        public init(isPointer: Bool, kind: Kind, typeName: String) {
            self.isPointer = isPointer
            self.kind = kind
            self.typeName = typeName
        }
    }

    /// btf__load_vmlinux_btf()
    public init() throws {
        var btf: OpaquePointer?
        try check(shim_btf_load_vmlinux(&btf), "read kernel BTF",
                  hint: "this kernel needs CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux)")
        handle = btf
    }

    /// A module's BTF (/sys/kernel/btf/<module>), split on top of vmlinux's:
    /// btf__load_module_btf(). `base` must outlive this object.
    public init(module: String, base: KernelBTF) throws {
        var btf: OpaquePointer?
        try check(shim_btf_load_module(module, base.handle, &btf), "read BTF of module \(module)")
        handle = btf
        self.base = base
    }

    private var base: KernelBTF?

    deinit { if let handle { btf__free(handle) } }

    /// Functions defined in this BTF (not its base's) that take a `struct
    /// sk_buff *`, with the 1-based position of the first such parameter, if
    /// it is at most `maxPosition`.
    public func skbFunctions(maxPosition: Int) -> [(name: String, position: Int)] {
        var room = 4096
        while true {
            var raw = [shim_skb_function](repeating: shim_skb_function(), count: room)
            let n = Int(shim_btf_skb_functions(handle, Int32(maxPosition), &raw, Int32(room)))
            if n > room { room = n; continue }
            return raw.prefix(n).map { (String(cString: $0.name), Int($0.position)) }
        }
    }

    /// Parameters of the function prototype a typedef points to (tracepoints:
    /// `btf_trace_<name>`, whose first parameter is the tracepoint's `void *`).
    public func typedefParameters(_ name: String) -> [Parameter]? {
        var raw = [shim_btf_param](repeating: shim_btf_param(), count: 12)
        let n = shim_btf_typedef_params(handle, name, &raw, Int32(raw.count))
        guard n >= 0 else { return nil }
        return raw.prefix(Int(n)).map { p in
            let typeName = p.type_name.map { String(cString: $0) } ?? ""
            let kind: Parameter.Kind
            switch shim_btf_kind(UInt32(p.kind)) {
            case SHIM_BTF_VOID: kind = p.is_pointer != 0 ? .pointerToVoid : .void
            case SHIM_BTF_INT: kind = .int
            case SHIM_BTF_STRUCT: kind = .struct
            case SHIM_BTF_ENUM: kind = .enum
            default: kind = .other
            }
            return Parameter(isPointer: p.is_pointer != 0, kind: kind, typeName: typeName)
        }
    }

    /// Whether vmlinux's BTF has this struct (a module's types are in its own BTF).
    public func hasStruct(_ name: String) -> Bool {
        btf__find_by_name_kind(handle, name, UInt32(BTF_KIND_STRUCT)) >= 0
    }

    /// Every enumerator of an enum, in declaration order.
    public func enumValues(_ name: String) -> [(name: String, value: Int64)] {
        var result: [(String, Int64)] = []
        var index: Int32 = 0
        while true {
            var cname: UnsafePointer<CChar>?
            var value: Int64 = 0
            guard shim_btf_enum_value(handle, name, index, &cname, &value) == 0 else { break }
            result.append((cname.map { String(cString: $0) } ?? "", value))
            index += 1
        }
        return result
    }
}
