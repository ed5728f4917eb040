import Foundation

/// Network namespace inodes to names: `ip netns` names from /run/netns, and
/// "host" for the namespace skbtracer runs in. Namespaces created after the
/// trace started are found by rescanning, at most once a second.
public final class NetnsNames: @unchecked Sendable {
    private var names: [UInt32: String] = [:]
    private var lastScanNs: UInt64 = 0
    private let directory: String
    public let hostInode: UInt32?

    public init(directory: String = "/run/netns") {
        self.directory = directory
        var st = stat()
        // /proc/self: stat of /proc/1/ns/net fails with EACCES in some sandboxed VMs.
        hostInode = stat("/proc/self/ns/net", &st) == 0 ? UInt32(truncatingIfNeeded: st.st_ino) : nil
        scan()
    }

    /// For tests: a fixed table.
    public init(names: [UInt32: String], hostInode: UInt32?, directory: String = "") {
        self.directory = directory
        self.names = names
        self.hostInode = hostInode
        lastScanNs = .max
    }

    /// A name learnt elsewhere (a replayed recording).
    public func set(_ name: String, for inode: UInt32) {
        names[inode] = name
    }

    private func scan() {
        guard !directory.isEmpty else { return }
        lastScanNs = MonotonicClock.now()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        var fresh: [UInt32: String] = [:]
        for name in entries {
            var st = stat()
            if stat("\(directory)/\(name)", &st) == 0 { fresh[UInt32(truncatingIfNeeded: st.st_ino)] = name }
        }
        names = fresh
    }

    /// "host", an `ip netns` name, or "netns:<inode>"; "?" when unknown (0).
    public func name(_ inode: UInt32) -> String {
        if inode == 0 { return "?" }
        if inode == hostInode { return "host" }
        return netnsName(inode) ?? "netns:\(inode)"
    }

    /// The file of an `ip netns` namespace, to enter it; nil for any other.
    public func path(_ inode: UInt32) -> String? {
        inode == 0 || directory.isEmpty ? nil : netnsName(inode).map { "\(directory)/\($0)" }
    }

    private func netnsName(_ inode: UInt32) -> String? {
        // Rescanned at most once a second, known names too: nsfs reuses the
        // inode of a deleted namespace at once for the next one.
        if lastScanNs != .max {
            let now = MonotonicClock.now()
            if now > lastScanNs, now - lastScanNs > 1_000_000_000 { scan() }
        }
        return names[inode]
    }
}
