import Foundation
import SkbTracerModel
import SkbTracerNetfilter
import SkbTracerOutput
import SkbTracerSystem

/// `--list-hooks [-N NS] [--json]`: the netfilter hooks of a namespace, as
/// `nft list hooks` shows them (nettrace's --hooks).
enum HookListing {
    /// Prints the hooks of `netnsSpec` (-N's value, already checked by the filter
    /// parser; nil: skbtracer's own namespace). A listing runs nothing, so whatever
    /// stops it (no namespace, no privilege, neither a hook listing nor nf_tables in
    /// the kernel) is a usage error: one line, exit status 2. Where the kernel lists
    /// no hooks, one note line says the nf_tables base chains stand in.
    static func run(netnsSpec: String?, json: Bool) throws {
        do {
            var netns: NetnsSwitch?
            var path = "/proc/self/ns/net"
            if let spec = netnsSpec {
                guard let found = InterfaceInNetns.path(of: spec) else {
                    throw UsageError("no process or /run/netns entry holds network namespace '\(spec)', so it cannot be entered",
                                     hint: "give a name from `ip netns list` or a path like /proc/PID/ns/net")
                }
                path = found
                netns = try NetnsSwitch(path)
            }
            defer { netns?.close() }
            let listing = try NetfilterHooks.list(in: netns)
            let hooks = listing.hooks
            if listing.chainsOnly {
                Diagnostics.note("skbtracer: note: this kernel has no hook listing (CONFIG_NETFILTER_NETLINK_HOOK); showing nf_tables base chains only, "
                                 + "not iptables-legacy rules, conntrack or NAT functions, or BPF programs")
            }
            var st = stat()
            let inode = stat(path, &st) == 0 ? UInt32(truncatingIfNeeded: st.st_ino) : 0
            let out = json ? JSONSchema.line + NetfilterHookText.json(hooks, netns: inode, netnsName: NetnsNames().name(inode))
                : NetfilterHookText.text(hooks)
            print(out, terminator: "")
        } catch let e as RuntimeError {
            throw UsageError(e.message, hint: e.hint)
        }
    }
}
