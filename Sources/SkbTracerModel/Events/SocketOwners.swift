import CSkbTracerABI
import Foundation
import SkbTracerSystem

/// The process that owns a socket (`--owner`).
public struct SocketOwner: Equatable, Sendable {
    public let pid: UInt32
    public let comm: String

    /// The name is printed as it is, so anything but printable ASCII, a quote
    /// or a backslash (a process may name itself anything) becomes "?", the same
    /// live and from a recording.
    public init(pid: UInt32, comm: String) {
        self.pid = pid
        self.comm = String(decoding: comm.utf8.map { $0 < 0x20 || $0 > 0x7e || $0 == 0x22 || $0 == 0x5c ? 0x3f : $0 },
                           as: UTF8.self)
    }
}

/// Socket inodes to their owning processes, for `--owner`.
///
/// Events carry the inode of their skb's socket. The owner is, first, what the
/// BPF map `sock_owners` says: the process last seen sending, receiving,
/// connecting or listening on the socket. An answer is asked of the map again at
/// most once a second, so a socket handed to another process (a fork, a worker)
/// follows. Sockets the map does not know (idle since before the trace) are
/// looked up in /proc/PID/fd, as `ss -p` does, by a scan in the background: the
/// event path never waits for it. A replay knows only what the recording says.
public final class SocketOwners: @unchecked Sendable {
    /// Reads the BPF map while the trace's object is open.
    public var lookupMap: ((UInt32) -> st_sock_owner?)?
    private let scanner: ProcSocketScanner?
    private struct Known {
        var owner: SocketOwner
        var checkedNs: UInt64
        /// From /proc: a guess (the lowest pid holding it) the map soon corrects.
        var guessed = false
        var recheckNs: UInt64 { guessed ? SocketOwners.recheckGuessNs : SocketOwners.recheckNs }
    }
    private var known: [UInt32: Known] = [:]
    static let maxRemembered = 1 << 16
    static let recheckNs: UInt64 = 1_000_000_000
    static let recheckGuessNs: UInt64 = 100_000_000

    /// - Parameters:
    ///   - lookupMap: reads the BPF map (nil: no live map).
    ///   - procRoot: where to scan for sockets' file descriptors (nil: never).
    ///     The first scan starts at once, in the background.
    public init(lookupMap: ((UInt32) -> st_sock_owner?)? = nil, procRoot: String? = nil) {
        self.lookupMap = lookupMap
        scanner = procRoot.map { ProcSocketScanner(root: $0) }
        scanner?.request()
    }

    /// An owner learnt elsewhere (a replayed recording): a later one replaces it.
    public func add(_ owner: SocketOwner, inode: UInt32) {
        remember(owner, inode, now: .max)
    }

    /// The owner of the socket with this inode; nil when none is known (yet), or
    /// for inode 0 (no socket).
    public func owner(_ inode: UInt32) -> SocketOwner? {
        guard inode != 0 else { return nil }
        let k = known[inode]
        if let k, k.checkedNs == .max { return k.owner } // from a recording
        guard let lookupMap else { return k?.owner ?? scanned(inode) }
        let now = MonotonicClock.now()
        if let k, now &- k.checkedNs < k.recheckNs { return k.owner }
        if let m = lookupMap(inode) {
            let o = SocketOwner(pid: m.tgid, comm: TraceEvent.string(m.comm))
            remember(o, inode, now: now)
            return o
        }
        if let k {
            known[inode]?.checkedNs = now
            return k.owner
        }
        return scanned(inode)
    }

    /// From the latest /proc scan; a miss asks for another (rate-limited).
    private func scanned(_ inode: UInt32) -> SocketOwner? {
        guard let scanner else { return nil }
        if let o = scanner.owner(inode) {
            remember(o, inode, now: MonotonicClock.now(), guessed: true)
            return o
        }
        scanner.request()
        return nil
    }

    private func remember(_ o: SocketOwner, _ inode: UInt32, now: UInt64, guessed: Bool = false) {
        if known.count >= Self.maxRemembered, known[inode] == nil { known.removeAll(keepingCapacity: true) }
        known[inode] = Known(owner: o, checkedNs: now, guessed: guessed)
    }

    /// Tests: waits until a scan has been published.
    func waitForScan(timeout: Double) -> Bool { scanner?.waitForScan(timeout: timeout) ?? false }
}

/// Scans /proc/PID/fd for `socket:[INODE]` links on a thread of its own, at
/// most once per interval (ten times the last scan's duration, at least two
/// seconds: a machine with tens of thousands of sockets takes half a second).
public final class ProcSocketScanner: @unchecked Sendable {
    private let root: String
    private let lock = NSCondition()
    private var table: [UInt32: SocketOwner] = [:]
    private var running = false
    private var scans = 0
    private var nextAllowedNs: UInt64 = 0
    static let minIntervalNs: UInt64 = 2_000_000_000

    init(root: String) { self.root = root }

    func owner(_ inode: UInt32) -> SocketOwner? {
        lock.lock(); defer { lock.unlock() }
        return table[inode]
    }

    /// Starts a scan unless one runs or the last ended too recently.
    func request() {
        lock.lock()
        let now = MonotonicClock.now()
        guard !running, now >= nextAllowedNs else { lock.unlock(); return }
        running = true
        lock.unlock()
        Thread.detachNewThread { [self] in
            let start = MonotonicClock.now()
            let fresh = Self.scan(root)
            let end = MonotonicClock.now()
            lock.lock()
            table = fresh
            running = false
            scans += 1
            nextAllowedNs = end + max(Self.minIntervalNs, 10 * (end - start))
            lock.broadcast()
            lock.unlock()
        }
    }

    func waitForScan(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock(); defer { lock.unlock() }
        while scans == 0 {
            if !lock.wait(until: deadline) { return scans > 0 }
        }
        return true
    }

    /// Every `socket:[INODE]` among the processes' file descriptors, with the
    /// process (the lowest pid when several share the socket: the parent).
    /// `pids`: only these processes (nil: all).
    public static func scan(_ root: String, pids only: [UInt32]? = nil) -> [UInt32: SocketOwner] {
        var owners: [UInt32: SocketOwner] = [:]
        guard let pids = only.map({ $0.map(String.init) }) ?? (try? FileManager.default.contentsOfDirectory(atPath: root)) else {
            return owners
        }
        var link = [CChar](repeating: 0, count: 64)
        let prefix = Array("socket:[".utf8)
        for name in pids {
            guard let pid = UInt32(name) else { continue }
            let fdDir = "\(root)/\(name)/fd"
            guard let dir = opendir(fdDir) else { continue }
            defer { closedir(dir) }
            var comm: String?
            while let entry = readdir(dir) {
                let fd = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard fd.first != "." else { continue }
                let n = readlink("\(fdDir)/\(fd)", &link, link.count - 1)
                guard n > prefix.count + 1 else { continue }
                let target = link.prefix(n).map { UInt8(bitPattern: $0) }
                guard target.starts(with: prefix), target.last == UInt8(ascii: "]"),
                      let inode = UInt32(String(decoding: target.dropFirst(prefix.count).dropLast(), as: UTF8.self)) else { continue }
                if let have = owners[inode], have.pid < pid { continue }
                if comm == nil {
                    comm = (try? String(contentsOfFile: "\(root)/\(name)/comm", encoding: .utf8))?
                        .trimmingCharacters(in: .newlines) ?? "?"
                }
                owners[inode] = SocketOwner(pid: pid, comm: comm ?? "?")
            }
        }
        return owners
    }
}
