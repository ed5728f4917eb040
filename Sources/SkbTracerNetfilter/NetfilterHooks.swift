import BPFKit
import CNetfilter
import Foundation
import SkbTracerSystem

/// The netfilter hooks registered in a network namespace, asked of the kernel's
/// hook listing (NFNL_SUBSYS_HOOK) one family and hook at a time, as `nft list hooks`
/// does: iptables' and conntrack's functions, nf_tables base chains, BPF programs.
public enum NetfilterHooks {
    /// Every hook entry of namespace `netns` (nil: skbtracer's own): families and
    /// hooks in `nft list hooks`' order, entries in the kernel's (by priority).
    /// The socket is made inside the namespace. Throws UsageError when the kernel
    /// cannot list hooks or the privilege is missing.
    public static func list(in netns: NetnsSwitch?) throws -> [NetfilterHook] {
        if let netns { return try netns.run { try listHere() } }
        return try listHere()
    }

    private static func listHere() throws -> [NetfilterHook] {
        var hooks: [NetfilterHook] = []
        var asked = false
        for point in NetfilterHookPoint.all {
            for device in point.perDevice ? interfaces().map(Optional.some) : [nil] {
                let (entries, err) = dump(point, device: device)
                if err != 0, let error = failure(errno: err, first: !asked) { throw error }
                asked = true
                hooks += entries.map { NetfilterHook($0, point: point, device: device, progName: BPFProgramInfo.name(id:)) }
            }
        }
        return hooks
    }

    /// Which answers stop the listing. An empty hook may come back as ENOENT; a
    /// family the kernel lacks (the bridge's without CONFIG_NETFILTER_FAMILY_BRIDGE,
    /// netdev egress before 5.16) or an interface gone meanwhile is an empty answer too.
    /// On the first question, though, "not supported" means there is no listing at
    /// all: nfnetlink answers EINVAL for a subsystem it does not have, and the
    /// socket fails with EPROTONOSUPPORT without nfnetlink.
    static func failure(errno err: Int32, first: Bool) -> Error? {
        let what = "\(String(cString: strerror(err))) (errno \(err))"
        switch err {
        case ENOENT:
            return nil
        case EPERM, EACCES:
            return UsageError("list the netfilter hooks: \(what)",
                              hint: "run as root (the kernel lists hooks to CAP_NET_ADMIN only)")
        case EINVAL, EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT, ENODEV:
            guard first else { return nil }
            return UsageError("this kernel cannot list its netfilter hooks: it has no nfnetlink hook subsystem (\(what))",
                              hint: "it needs CONFIG_NETFILTER_NETLINK_HOOK (Linux 5.14+, module nfnetlink_hook); `nft list chains` shows the nf_tables base chains")
        default:
            return RuntimeError("list the netfilter hooks: \(what)", hint: "run `nft list hooks` to compare")
        }
    }

    /// The names of this thread's namespace's interfaces (if_nameindex(3)).
    static func interfaces() -> [String] {
        guard let list = if_nameindex() else { return [] }
        defer { if_freenameindex(list) }
        var names: [String] = []
        var p = list
        while p.pointee.if_index != 0, let name = p.pointee.if_name {
            names.append(String(cString: name))
            p += 1
        }
        return names
    }

    /// The raw entries of one hook, and the errno that ended the dump (0: none).
    private static func dump(_ point: NetfilterHookPoint, device: String?) -> ([st_nfhook], Int32) {
        final class Box { var entries: [st_nfhook] = [] }
        let box = Box()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = withExtendedLifetime(box) {
            st_nfhook_dump(point.nfproto, point.hooknum, device, { hook, ctx in
                Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().entries.append(hook!.pointee)
                return 0
            }, ctx)
        }
        return (box.entries, -rc)
    }
}
