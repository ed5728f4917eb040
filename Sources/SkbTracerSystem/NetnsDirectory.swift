import Foundation

/// The network namespaces a path reaches: skbtracer's own, those `ip netns`
/// names under /run/netns, and those of running processes (containers), each
/// once, by inode.
public enum NetnsDirectory {
    public struct Entry: Equatable, Sendable {
        public let inode: UInt32
        /// A file to enter it by (NetnsSwitch): /proc/self/ns/net, /run/netns/NAME
        /// or /proc/PID/ns/net.
        public let path: String
        public init(inode: UInt32, path: String) { self.inode = inode; self.path = path }
    }

    /// Every namespace found, skbtracer's own first, then named ones, then
    /// processes' (the first process found for each).
    public static func all(netnsDirectory: String = "/run/netns", procRoot: String = "/proc") -> [Entry] {
        var seen = Set<UInt32>()
        var result: [Entry] = []
        func add(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return }
            let inode = UInt32(truncatingIfNeeded: st.st_ino)
            if seen.insert(inode).inserted { result.append(Entry(inode: inode, path: path)) }
        }
        add("\(procRoot)/self/ns/net")
        let named = (try? FileManager.default.contentsOfDirectory(atPath: netnsDirectory)) ?? []
        for name in named.sorted() { add("\(netnsDirectory)/\(name)") }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? []).compactMap { Int32($0) }
        for pid in pids.sorted() { add("\(procRoot)/\(pid)/ns/net") }
        return result
    }

    /// The namespace with this inode, if a path reaches it.
    public static func find(inode: UInt32, netnsDirectory: String = "/run/netns", procRoot: String = "/proc") -> Entry? {
        all(netnsDirectory: netnsDirectory, procRoot: procRoot).first { $0.inode == inode }
    }
}
