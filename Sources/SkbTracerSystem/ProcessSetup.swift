import BPFKit
import CBPFShim

/// What the process entry point needs from the layers below it, so the
/// command-line target imports neither the C shim nor the libbpf layer.
public enum ProcessSetup {
    /// Journeys allocate and free millions of small objects a second; with
    /// glibc's adaptive thresholds the freed memory stayed in the heap (RSS
    /// 126 MB under a UDP flood with --timeline, 72 MB with fixed ones).
    public static func fixMallocThresholds() {
        shim_fixed_malloc_thresholds(128 << 10)
    }

    /// The one line of a failure while running (exit status 1), from any layer;
    /// nil for errors that are not failures of that kind.
    public static func failureDescription(_ error: Error) -> String? {
        if let e = error as? RuntimeError { return e.description }
        if let e = error as? BPFError { return e.description }
        return nil
    }
}
