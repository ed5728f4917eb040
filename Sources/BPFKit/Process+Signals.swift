import CBPFShim

/// Stop requests from SIGINT, SIGTERM, SIGHUP; SIGPIPE is ignored so a closed
/// output pipe surfaces as EPIPE from write().
public enum StopSignals {
    public static func install() { shim_install_stop_signals() }
    public static var requested: Bool { shim_stop_requested() != 0 }
    /// The signal that asked to stop, or nil (or -1 when stopped from code).
    public static var signal: Int32? { shim_stop_requested() != 0 ? shim_stop_signal() : nil }
    public static func request() { shim_request_stop() }
}

/// libbpf's own log (and the verifier's): printed with --verbose, else kept so an
/// error can show its last lines.
public enum LibbpfLog {
    public static func setVerbose(_ on: Bool) { shim_set_libbpf_verbose(on ? 1 : 0) }
    public static func take() -> String { String(cString: shim_take_libbpf_log()) }
}

/// Joins the network namespace at `path` (/proc/PID/ns/net, /run/netns/NAME)
/// for the calling thread. setns(2)
public func enterNetworkNamespace(_ path: String) throws {
    try check(shim_setns_net(path), "enter network namespace \(path)")
}
