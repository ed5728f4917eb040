import CNetfilter

/// What `--list-hooks` shows where the kernel has no hook listing: the namespace's
/// nf_tables base chains (an NFT_MSG_GETCHAIN dump), at the hooks the kernel
/// registers them on. Nothing else registered at a hook (iptables-legacy,
/// conntrack, NAT, BPF programs) is visible this way.
public enum NetfilterChains {
    /// One base chain, as the dump describes it.
    struct BaseChain: Equatable {
        var family: UInt8  // the table's NFPROTO_*
        var hooknum: UInt32
        var priority: Int32
        var table: String
        var name: String
        var devices: [String]

        init(family: UInt8, hooknum: UInt32, priority: Int32, table: String, name: String, devices: [String] = []) {
            self.family = family; self.hooknum = hooknum; self.priority = priority
            self.table = table; self.name = name; self.devices = devices
        }

        init(_ c: st_nfchain) {
            func text<T>(_ tuple: T) -> String {
                withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
            let kept = Int(min(c.ndevices, UInt32(ST_NFCHAIN_MAX_DEVICES)))
            let devices = withUnsafeBytes(of: c.devices) { raw in
                (0..<kept).map { i in
                    String(decoding: raw[(i * 16)..<(i * 16 + 16)].prefix { $0 != 0 }, as: UTF8.self)
                }
            }
            self.init(family: c.family, hooknum: c.hooknum, priority: c.priority,
                      table: text(c.table), name: text(c.name), devices: devices)
        }
    }

    /// The entries `chains` make, ordered as the kernel's listing: families and hooks
    /// in `NetfilterHookPoint.all`'s order, netdev devices in `interfaces`' order (then
    /// by name), entries by priority (then table and chain, for a stable order).
    static func hooks(_ chains: [BaseChain], interfaces: [String]) -> [NetfilterHook] {
        var keyed: [(point: Int, device: Int, hook: NetfilterHook)] = []
        let points = NetfilterHookPoint.all
        for c in chains {
            var idx = [0, 0]
            let n = st_nfchain_points(c.family, c.hooknum, &idx)
            let family = st_nfhook_family_name(c.family).map { String(cString: $0) } ?? "family\(c.family)"
            let chain = NetfilterHook.Chain(family: family, table: c.table, name: c.name)
            for i in idx.prefix(n) {
                let point = points[i]
                // A netdev hook is per device: a chain whose devices are gone hooks nothing.
                for device in point.perDevice ? c.devices.map(Optional.some) : [nil] {
                    let order = device.map { interfaces.firstIndex(of: $0) ?? interfaces.count } ?? 0
                    keyed.append((i, order, NetfilterHook(family: point.family, hook: point.hook, device: device,
                                                          priority: c.priority, chain: chain)))
                }
            }
        }
        return keyed.sorted { a, b in
            (a.point, a.device, a.hook.device ?? "", a.hook.priority, a.hook.chain!.table, a.hook.chain!.name)
                < (b.point, b.device, b.hook.device ?? "", b.hook.priority, b.hook.chain!.table, b.hook.chain!.name)
        }.map(\.hook)
    }

    /// The base chains of this thread's namespace, and the errno that ended the dump (0: none).
    static func dump() -> ([BaseChain], Int32) {
        final class Box { var chains: [BaseChain] = [] }
        let box = Box()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = withExtendedLifetime(box) {
            st_nfchain_dump({ chain, ctx in
                Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().chains.append(BaseChain(chain!.pointee))
                return 0
            }, ctx)
        }
        return (box.chains, -rc)
    }
}
