import BPFKit
import CNetfilter
import Foundation
import SkbTracerSystem

/// The netfilter hooks registered in a network namespace, asked of the kernel's
/// hook listing (NFNL_SUBSYS_HOOK) one family and hook at a time, as `nft list hooks`
/// does: iptables' and conntrack's functions, nf_tables base chains, BPF programs.
/// Without that listing, the nf_tables base chains alone (`NetfilterChains`).
public enum NetfilterHooks {
    /// What a namespace's listing holds, and whether it is the kernel's own.
    public struct Listing: Sendable {
        public var hooks: [NetfilterHook]
        /// The kernel has no hook listing: `hooks` are the nf_tables base chains only
        /// (`NetfilterChains`), without iptables-legacy, conntrack, NAT or BPF entries.
        public var chainsOnly: Bool
    }

    /// Every hook entry of namespace `netns` (nil: skbtracer's own): families and
    /// hooks in `nft list hooks`' order, entries in the kernel's (by priority).
    /// The socket is made inside the namespace. Where the kernel has no hook
    /// listing, its nf_tables base chains instead. Throws UsageError when neither
    /// can be read or the privilege is missing.
    public static func list(in netns: NetnsSwitch?) throws -> Listing {
        if let netns { return try netns.run { try listHere() } }
        return try listHere()
    }

    private static func listHere() throws -> Listing {
        var hooks: [NetfilterHook] = []
        var asked = false
        for point in NetfilterHookPoint.all {
            for device in point.perDevice ? interfaces().map(Optional.some) : [nil] {
                let (entries, err) = dump(point, device: device)
                if !asked, noListing.contains(err) { return try chainsHere(orElse: failure(errno: err, first: true)!) }
                if err != 0, let error = failure(errno: err, first: !asked) { throw error }
                asked = true
                hooks += entries.map { NetfilterHook($0, point: point, device: device, progName: BPFProgramInfo.name(id:)) }
            }
        }
        return Listing(hooks: hooks, chainsOnly: false)
    }

    /// The base chains, where the hook listing is missing; `noListing` is the error
    /// to throw should nf_tables be missing too (or nfnetlink altogether).
    private static func chainsHere(orElse noListing: Error) throws -> Listing {
        let (chains, err) = NetfilterChains.dump()
        switch err {
        case 0:
            return Listing(hooks: NetfilterChains.hooks(chains, interfaces: interfaces()), chainsOnly: true)
        case EPERM, EACCES:
            throw failure(errno: err, first: false)!
        default:
            throw noListing
        }
    }

    /// Which answers stop the listing. An empty hook may come back as ENOENT; a
    /// family the kernel lacks (the bridge's without CONFIG_NETFILTER_FAMILY_BRIDGE,
    /// netdev egress before 5.16) or an interface gone meanwhile is an empty answer too.
    /// On the first question, though, "not supported" means there is no listing at
    /// all: nfnetlink answers EINVAL for a subsystem it does not have, and the
    /// socket fails with EPROTONOSUPPORT without nfnetlink. The chains stand in then;
    /// this error is for when they cannot be read either.
    static func failure(errno err: Int32, first: Bool) -> Error? {
        let what = "\(String(cString: strerror(err))) (errno \(err))"
        switch err {
        case ENOENT:
            return nil
        case EPERM, EACCES:
            return UsageError("list the netfilter hooks: \(what)",
                              hint: "run as root (the kernel lists hooks to CAP_NET_ADMIN only)")
        case _ where noListing.contains(err):
            guard first else { return nil }
            return UsageError("this kernel cannot list its netfilter hooks: it has no nfnetlink hook subsystem (\(what)), nor nf_tables chains to show instead",
                              hint: "it needs CONFIG_NETFILTER_NETLINK_HOOK (Linux 5.14+, module nfnetlink_hook), or nf_tables for its base chains")
        default:
            return RuntimeError("list the netfilter hooks: \(what)", hint: "run `nft list hooks` to compare")
        }
    }

    /// The first question's answers that mean the kernel has no hook listing.
    static let noListing: Set<Int32> = [EINVAL, EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT, ENODEV]

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
