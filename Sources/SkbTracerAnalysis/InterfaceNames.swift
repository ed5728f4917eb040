import CSkbTracerABI
import Foundation
import SkbTracerModel
import SkbTracerSystem

/// Names for interfaces the BPF side knew only by index: an skb without a
/// usable device (freed after TCP cleared skb->dev, or waiting in a socket
/// queue) carries its input interface (skb_iif), which is named here in the
/// event's namespace: the host's directly, an `ip netns` one by entering it
/// (setns on this thread) for one if_indextoname(3). A lookup is kept for a
/// second of trace time, as NetnsNames keeps its scan: indexes and names are
/// reused when interfaces come and go.
public final class InterfaceNames {
    private struct Key: Hashable { let netns: UInt32; let ifindex: UInt32 }
    private struct Entry { let name: [UInt8]; let tsNs: UInt64 }
    private var cache: [Key: Entry] = [:]
    private let netns: NetnsNames
    /// Looks an index up in a namespace file's namespace ("" for the host's); nil when unknown.
    private let lookup: (_ path: String, _ ifindex: UInt32) -> [UInt8]?

    public init(netns: NetnsNames, lookup: ((String, UInt32) -> [UInt8]?)? = nil) {
        self.netns = netns
        self.lookup = lookup ?? Self.indexToName
    }

    /// Writes the name of `e.ifindex` into an empty `e.ifname`; leaves the event
    /// as it is when the namespace or the index is unknown.
    public func fill(_ e: inout TraceEvent) {
        guard e.ifindex != 0, e.netns != 0, e.context.ifname.0 == 0 else { return }
        let key = Key(netns: e.netns, ifindex: e.ifindex)
        var entry = cache[key]
        if entry == nil || e.time &- entry!.tsNs > 1_000_000_000 {
            guard let path = e.netns == netns.hostInode ? "" : netns.path(e.netns) else { return }
            entry = Entry(name: lookup(path, e.ifindex) ?? [], tsNs: e.time)
            if cache.count > 4096 { cache.removeAll() } // bounded: interfaces come and go
            cache[key] = entry
        }
        guard let name = entry?.name, !name.isEmpty else { return }
        withUnsafeMutableBytes(of: &e.context.ifname) { buf in
            for (i, b) in name.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
    }

    private static func indexToName(path: String, ifindex: UInt32) -> [UInt8]? {
        let name = { () -> [UInt8]? in
            var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
            guard if_indextoname(ifindex, &buf) != nil else { return nil }
            return buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        }
        if path.isEmpty { return name() }
        // A namespace that went away meanwhile: no name, as for an unknown one.
        return (try? NetnsSwitch(path).run(name)) ?? nil
    }
}
