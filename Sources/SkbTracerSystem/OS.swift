import CBPFShim
import Glibc

/// The one monotonic clock: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(),
/// so times taken here compare with the events' own. Deadlines use it too: the
/// wall clock can jump.
public enum MonotonicClock {
    /// Nanoseconds.
    public static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    /// `seconds` from now, in nanoseconds.
    public static func deadline(after seconds: Double) -> UInt64 {
        now() &+ UInt64(max(0, seconds) * 1e9)
    }

    /// Seconds left until `deadline` (negative once past).
    public static func secondsLeft(until deadline: UInt64) -> Double {
        (Double(deadline) - Double(now())) / 1e9
    }
}

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
