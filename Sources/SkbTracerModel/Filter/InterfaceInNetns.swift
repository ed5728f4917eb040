import Foundation
import SkbTracerSystem

/// `-i NAME -N NS` means the interface NAME of namespace NS (pwru scopes
/// --filter-ifname to its namespace the same way): the BPF filter ANDs the two.
/// A NAME that NS lacks would trace nothing without a word, so it is checked
/// before anything loads, by looking the name up inside NS.
public enum InterfaceInNetns {
    /// Throws a UsageError when NS has no interface NAME. `netns` is -N's value
    /// (a name, a path or an inode, already checked by TraceFilter); an inode that
    /// no /run/netns entry or process holds cannot be entered and is not checked.
    public static func check(ifname: String, netns spec: String) throws {
        guard let path = path(of: spec) else { return }
        let ns = try NetnsSwitch(path)
        defer { ns.close() }
        guard try ns.run({ if_nametoindex(ifname) }) == 0 else { return }
        let list = spec.contains("/") || TraceFilter.isInodeNumber(spec) ? "`nsenter --net=\(path) ip -br link`" : "`ip -n \(spec) -br link`"
        throw UsageError("no interface '\(ifname)' in network namespace '\(spec)' (-i with -N is that namespace's interface)",
                         hint: "\(list) lists them; without -N, -i \(ifname) matches that name in every namespace")
    }

    /// A file of the namespace: the path or /run/netns name given, or for an
    /// inode the first /run/netns entry or /proc/PID/ns/net that has it.
    public static func path(of spec: String) -> String? {
        guard let inode = TraceFilter.inodeNumber(spec) else { return spec.contains("/") ? spec : "/run/netns/\(spec)" }
        let fm = FileManager.default
        let named = ((try? fm.contentsOfDirectory(atPath: "/run/netns")) ?? []).map { "/run/netns/\($0)" }
        let processes = ((try? fm.contentsOfDirectory(atPath: "/proc")) ?? [])
            .filter { $0.allSatisfy(\.isNumber) }.map { "/proc/\($0)/ns/net" }
        return (named + processes).first { p in
            var st = stat()
            return stat(p, &st) == 0 && UInt64(st.st_ino) == inode
        }
    }
}
