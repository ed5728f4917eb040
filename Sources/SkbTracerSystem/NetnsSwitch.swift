import CBPFShim
import Foundation

/// A network namespace held open by a file descriptor, which the calling thread
/// can visit for a while: setns(2) there, run a closure, setns(2) back.
///
/// Sockets keep the namespace they were created in, so a socket made inside
/// `run` sends and receives in the target namespace for its whole life, while
/// the thread (and everything else it does) stays in the caller's namespace.
/// setns(CLONE_NEWNET) affects only the calling thread; `run`'s body is
/// synchronous, so it never changes threads in between.
public final class NetnsSwitch {
    /// What the user gave (a name or a path), for messages.
    public let spec: String
    /// The resolved path (/run/netns/NAME or the path given).
    let path: String
    private var fd: Int32

    /// Opens the namespace `spec`: a name from /run/netns (`ip netns list`) or a path
    /// such as /proc/PID/ns/net or /run/netns/NAME. Holding the descriptor keeps the
    /// namespace alive even if its name is removed meanwhile.
    /// Throws UsageError when `spec` names no network namespace.
    public init(_ spec: String) throws {
        self.spec = spec
        path = spec.contains("/") ? spec : "/run/netns/\(spec)"
        let notFound = UsageError("no network namespace '\(spec)'",
                                  hint: "give a name from `ip netns list` or a path like /proc/PID/ns/net")
        var st = stat()
        var fsType = 0
        // Namespace files live on nsfs; setns() on any other file fails with EINVAL.
        let nsfsMagic = 0x6e73_6673
        guard !spec.isEmpty, !spec.contains("\0"), stat(path, &st) == 0,
              shim_statfs_type(path, &fsType) == 0, fsType == nsfsMagic else { throw notFound }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        let err = errno
        guard fd >= 0 else {
            throw Self.failure("open network namespace \(path)", errno: err)
        }
        // Enter once and back: a namespace file of another type (mnt, pid...) or a
        // missing privilege shows up here, before any socket is made.
        do { try run {} } catch {
            Glibc.close(fd)
            fd = -1
            throw error
        }
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Runs `body` with the calling thread in this namespace, and switches back
    /// on every path out.
    public func run<T>(_ body: () throws -> T) throws -> T {
        precondition(fd >= 0, "NetnsSwitch used after close()")
        // /proc/thread-self: setns() moves only this thread, which may already sit
        // elsewhere than the main thread. Not /proc/1: stat of /proc/1/ns/net fails
        // with EACCES on sandboxed VMs even for root (seen on the 6.18 test VM).
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let err = errno
        guard original >= 0 else {
            throw Self.failure("open this thread's network namespace (/proc/thread-self/ns/net)", errno: err)
        }
        defer { Glibc.close(original) }
        // The shim takes a path; /proc/self/fd/N reopens the namespace we hold open.
        let rc = shim_setns_net("/proc/self/fd/\(fd)")
        guard rc == 0 else {
            if -rc == EINVAL {
                throw UsageError("'\(spec)' is not a network namespace",
                                 hint: "give a name from `ip netns list` or a path like /proc/PID/ns/net")
            }
            throw Self.failure("enter network namespace \(path)", errno: -rc)
        }
        defer {
            let back = shim_setns_net("/proc/self/fd/\(original)")
            // Cannot happen (we were just there, with the same privileges); if it
            // did, this thread would silently work in the wrong namespace from now on.
            if back != 0 {
                fatalError("cannot return to the original network namespace: \(String(cString: strerror(-back))) (errno \(-back))")
            }
        }
        return try body()
    }

    static func failure(_ what: String, errno err: Int32) -> RuntimeError {
        let hint = (err == EPERM || err == EACCES)
            ? "run as root (entering a network namespace needs CAP_SYS_ADMIN)"
            : "check the namespace with `ip netns list` or `ls -l /proc/PID/ns/net`"
        return RuntimeError("\(what): \(String(cString: strerror(err))) (errno \(err))", hint: hint)
    }
}
