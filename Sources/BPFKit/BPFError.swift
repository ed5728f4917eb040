import CBPFShim

/// A failed libbpf or system call: what was being done, the errno, and a fix.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public let hint: String?

    public init(_ operation: String, errno: Int32, hint: String? = nil) {
        self.operation = operation
        self.errno = errno < 0 ? -errno : errno
        self.hint = hint ?? BPFError.defaultHint(errno: self.errno)
    }

    public var description: String {
        var s = "\(operation): \(BPFError.message(errno)) (errno \(errno))"
        if let hint { s += ". Hint: \(hint)" }
        return s
    }

    public static func message(_ errno: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        shim_strerror(-errno, &buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The libbpf hint about `ulimit -l` is misleading on kernels that charge BPF
    /// memory to the cgroup, so privileges come first.
    static func defaultHint(errno: Int32) -> String? {
        switch errno {
        case 1, 13: return "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
        case 2: return "the kernel does not have this object; check `skbtracer --list`"
        default: return nil
        }
    }
}

/// Calls a shim function returning 0 or -errno and throws on failure.
@inline(__always)
func check(_ result: Int32, _ operation: @autoclosure () -> String, hint: String? = nil) throws {
    if result < 0 { throw BPFError(operation(), errno: result, hint: hint) }
}
