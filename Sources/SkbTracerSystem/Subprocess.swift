import CBPFShim
import Foundation

/// A child process started with posix_spawn, its output read with poll().
///
/// Why not Foundation's Process: on Linux it waits through a RunLoop and a
/// Dispatch source, and the tests, which run many commands from many threads
/// at once, saw the test process die with SIGSEGV once in three full runs.
/// This has no threads, no run loop and no shared state. The child also gets
/// an empty signal mask (unless asked otherwise) and default dispositions for the stop signals, so a
/// mask or an ignored SIGPIPE of ours (or of our parent) is not handed down.
public final class Subprocess {
    public let pid: pid_t
    private var waitStatus: Int32?
    private var outFD: Int32, errFD: Int32

    /// Where a child's stdout or stderr goes.
    public enum Output: Sendable {
        case null
        /// A pipe to read with `collect`.
        case pipe
        /// A file, created or truncated.
        case file(String)
    }

    /// Starts `args[0]`, found on PATH. Output goes to pipes when `capture`, else to /dev/null.
    public convenience init(_ args: [String], capture: Bool) throws {
        try self.init(args, stdout: capture ? .pipe : .null, stderr: capture ? .pipe : .null)
    }

    /// `blockedSignals`: the child starts with these blocked, as a thread of a test
    /// runner or a service manager may hand them down (tests of our own unblocking).
    public init(_ args: [String], stdout: Output, stderr: Output, blockedSignals: [Int32] = []) throws {
        precondition(!args.isEmpty)
        var pipes: [[Int32]] = [[-1, -1], [-1, -1]]
        for (i, out) in [stdout, stderr].enumerated() {
            guard case .pipe = out else { continue }
            // O_CLOEXEC: a child spawned at the same time from another thread
            // must not hold our pipe's write end open.
            let rc = shim_pipe_cloexec(&pipes[i])
            guard rc == 0 else {
                for fd in pipes.joined() where fd >= 0 { close(fd) }
                throw Self.error(args, -rc)
            }
        }
        defer { for p in pipes where p[1] >= 0 { close(p[1]) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (i, out) in [stdout, stderr].enumerated() {
            let fd = Int32(i + 1)
            switch out {
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .pipe: posix_spawn_file_actions_adddup2(&actions, pipes[i][1], fd)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t()
        sigemptyset(&mask)
        for sig in blockedSignals { sigaddset(&mask, sig) }
        posix_spawnattr_setsigmask(&attr, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, args[0], &actions, &attr, argv, environ)
        guard rc == 0 else {
            for p in pipes where p[0] >= 0 { close(p[0]) }
            throw Self.error(args, rc)
        }
        self.pid = pid
        outFD = pipes[0][0]
        errFD = pipes[1][0]
    }

    deinit {
        if outFD >= 0 { close(outFD) }
        if errFD >= 0 { close(errFD) }
        if isRunning { kill(pid, SIGKILL); _ = reap(blocking: true) }
    }

    private static func error(_ args: [String], _ code: Int32) -> RuntimeError {
        RuntimeError("cannot run \(args[0]): \(String(cString: strerror(code)))",
                     hint: "install it (scripts/install-deps.sh)")
    }

    /// Reaps the child if it ended; true while it runs.
    public var isRunning: Bool { waitStatus == nil && !reap(blocking: false) }

    /// Exit status, or 128 + signal when killed; nil while it runs.
    public var status: Int32? {
        guard !isRunning, let st = waitStatus else { return nil }
        let sig = st & 0x7f
        return sig == 0 ? (st >> 8) & 0xff : 128 + sig
    }

    private func reap(blocking: Bool) -> Bool {
        var st: Int32 = 0
        while true {
            let r = waitpid(pid, &st, blocking ? 0 : WNOHANG)
            if r == pid { waitStatus = st; return true }
            if r == -1 && errno == EINTR { continue }
            // ECHILD: somebody else reaped it; count it as ended.
            if r == -1 { waitStatus = waitStatus ?? 0; return true }
            return false
        }
    }

    public func terminate() { if isRunning { kill(pid, SIGTERM) } }

    /// Waits up to `timeout` seconds, then SIGTERM, then (after a second) SIGKILL.
    /// Returns the exit status.
    @discardableResult
    public func wait(timeout: Double) -> Int32 {
        let deadline = MonotonicClock.deadline(after: timeout)
        while isRunning && MonotonicClock.now() < deadline { usleep(5_000) }
        stop()
        return status ?? 128 + SIGKILL
    }

    private func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let grace = MonotonicClock.deadline(after: 1)
        while isRunning && MonotonicClock.now() < grace { usleep(5_000) }
        if isRunning { kill(pid, SIGKILL); _ = reap(blocking: true) }
    }

    /// Reads stdout and stderr to their ends (both at once, so a full pipe
    /// cannot block the child) and waits for the exit, all within `timeout`.
    public func collect(timeout: Double) -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        let deadline = MonotonicClock.deadline(after: timeout)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while outFD >= 0 || errFD >= 0 {
            let left = MonotonicClock.secondsLeft(until: deadline)
            if left <= 0 { stop(); break }
            var fds = [pollfd(fd: outFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, Int32(min(left * 1000, 1000)) + 1)
            if n < 0 && errno != EINTR { break }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let got = chunk.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if got > 0 {
                    if i == 0 { out += chunk[0..<got] } else { err += chunk[0..<got] }
                } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fds[i].fd)
                    if i == 0 { outFD = -1 } else { errFD = -1 }
                }
            }
        }
        // Output closed: the child is ending (or handed its pipes on to a
        // daemon, which the deadline bounds).
        let status = wait(timeout: max(MonotonicClock.secondsLeft(until: deadline), 0))
        return (status, out, err)
    }
}
