import CSkbTracerABI
import Foundation

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
/// Events carry the inode of their skb's socket; the owner is looked up here, in
/// order: what is already known (the first owner found for an inode stays: inode
/// numbers are not reused while the socket lives); the BPF map `sock_owners`,
/// filled when a process sends, receives, connects or listens on the socket; and
/// /proc/PID/fd (as `ss -p` does) for sockets idle since before the trace
/// started, rescanned at most once a second. A replay knows only what the
/// recording says (`add`).
public final class SocketOwners: @unchecked Sendable {
    /// Reads the BPF map while the trace's object is open.
    public var lookupMap: ((UInt32) -> st_sock_owner?)?
    private let procRoot: String?
    private var known: [UInt32: SocketOwner] = [:]
    /// Inodes no source knew, with when: asked again only after a rescan.
    private var unknownSince: [UInt32: UInt64] = [:]
    private var procOwners: [UInt32: SocketOwner] = [:]
    private var lastScanNs: UInt64 = 0
    static let maxRemembered = 1 << 16
    static let rescanNs: UInt64 = 1_000_000_000

    /// - Parameters:
    ///   - lookupMap: reads the BPF map (nil: no live map).
    ///   - procRoot: where to scan for sockets' file descriptors (nil: never).
    public init(lookupMap: ((UInt32) -> st_sock_owner?)? = nil, procRoot: String? = nil) {
        self.lookupMap = lookupMap
        self.procRoot = procRoot
    }

    /// An owner learnt elsewhere (a replayed recording).
    public func add(_ owner: SocketOwner, inode: UInt32) {
        remember(owner, inode)
    }

    /// The owner of the socket with this inode; nil when none is known (a kernel
    /// socket, a process gone before it was seen) or for inode 0 (no socket).
    public func owner(_ inode: UInt32) -> SocketOwner? {
        guard inode != 0 else { return nil }
        if let o = known[inode] { return o }
        if let m = lookupMap?(inode) {
            let o = SocketOwner(pid: m.tgid, comm: TraceEvent.string(m.comm))
            remember(o, inode)
            return o
        }
        guard let procRoot else { return nil }
        let now = NetnsNames.monotonicNs()
        if let since = unknownSince[inode], since >= lastScanNs, now - lastScanNs < Self.rescanNs { return nil }
        if now - lastScanNs >= Self.rescanNs || lastScanNs == 0 {
            procOwners = Self.scan(procRoot)
            lastScanNs = now
        }
        if let o = procOwners[inode] {
            remember(o, inode)
            return o
        }
        if unknownSince.count >= Self.maxRemembered { unknownSince.removeAll() }
        unknownSince[inode] = now
        return nil
    }

    private func remember(_ o: SocketOwner, _ inode: UInt32) {
        if known.count >= Self.maxRemembered { known.removeAll() }
        known[inode] = o
        unknownSince[inode] = nil
    }

    /// Every `socket:[INODE]` among the processes' file descriptors, with the
    /// process (the lowest pid when several share the socket).
    static func scan(_ root: String) -> [UInt32: SocketOwner] {
        var owners: [UInt32: SocketOwner] = [:]
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: root) else { return owners }
        var link = [CChar](repeating: 0, count: 64)
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
                guard n > 9 else { continue }
                let target = link.prefix(n).map { UInt8(bitPattern: $0) }
                // "socket:[12345]"
                guard target.starts(with: Array("socket:[".utf8)), target.last == UInt8(ascii: "]"),
                      let inode = UInt32(String(decoding: target.dropFirst(8).dropLast(), as: UTF8.self)) else { continue }
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
