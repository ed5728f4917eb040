import CBPFShim

/// Stop requests from SIGINT, SIGTERM, SIGHUP; SIGPIPE is ignored so a closed
/// output pipe surfaces as EPIPE from write(). (An OS matter, not libbpf's: it
/// lives with the other system calls, not in BPFKit.)
public enum StopSignals {
    public static func install() { shim_install_stop_signals() }
    public static var requested: Bool { shim_stop_requested() != 0 }
    /// The signal that asked to stop, or nil (or -1 when stopped from code).
    public static var signal: Int32? { shim_stop_requested() != 0 ? shim_stop_signal() : nil }
    public static func request() { shim_request_stop() }
}
