import CBPFShim

/// libbpf's own log (and the verifier's): printed with --verbose, else kept so an
/// error can show its last lines.
public enum LibbpfLog {
    public static func setVerbose(_ on: Bool) { shim_set_libbpf_verbose(on ? 1 : 0) }
    public static func take() -> String { String(cString: shim_take_libbpf_log()) }
}

