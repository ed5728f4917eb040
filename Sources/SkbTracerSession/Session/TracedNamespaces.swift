import SkbTracerSystem

/// The network namespaces a trace puts its own hooks in (netfilter hook
/// programs, nftrace listeners): skbtracer's own and those `-N` names, or,
/// when none is named, every namespace a path reaches, found again at most
/// once a second so that a namespace made during the trace joins it.
final class TracedNamespaces {
    /// `-N`'s namespace (nil: every namespace).
    private let named: UInt32?
    private var known = Set<UInt32>()
    private var lastScanNs: UInt64 = 0
    /// `-N` names a namespace no path reaches (an inode of a namespace without
    /// a process or a name): said once.
    private(set) var unreachable: UInt32?

    init(named: UInt32?) { self.named = named }

    /// Namespaces not seen before; the first call returns all of them. Later
    /// calls scan again at most once a second (nil `nowNs`: scan now).
    func fresh(nowNs: UInt64? = nil) -> [NetnsDirectory.Entry] {
        if let nowNs {
            guard named == nil, nowNs >= lastScanNs + 1_000_000_000 else { return [] }
            lastScanNs = nowNs
        } else {
            lastScanNs = MonotonicClock.now()
        }
        var entries = NetnsDirectory.all()
        if let named {
            let own = entries.first
            entries = entries.filter { $0.inode == named }
            if entries.isEmpty { unreachable = named }
            if let own, own.inode != named { entries.insert(own, at: 0) }
        }
        return entries.filter { known.insert($0.inode).inserted }
    }
}
