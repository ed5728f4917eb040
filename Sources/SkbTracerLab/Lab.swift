import Foundation
import SkbTracerSystem

/// A Docker-host-like lab: a bridge in the root namespace with two "container"
/// namespaces on veth pairs, and a routed namespace reached through MASQUERADE.
///
///     c1 (eth0 .2) ─┐                       ┌ host:<p>-hr 198.19.N.1 ── r (eth0 198.19.N.2)
///                   ├ host:<p>-br 198.18.N.1 ┤  (MASQUERADE on the way out)
///     c2 (eth0 .3) ─┘
///
/// Every object is named with a unique prefix (`stl` + 4 hex digits) so cleanup
/// never touches anything else. Lab namespaces get no default route: c1 and c2
/// reach the routed subnet through a route for that subnet only. `destroy()`
/// removes everything it created, including its iptables rules; run it on
/// every path out.
public final class Lab: @unchecked Sendable {
    public let prefix: String
    public let index: Int
    private var created: [() -> Void] = []
    private var destroyed = false

    public var bridge: String { "\(prefix)-br" }
    public var hostVeth1: String { "\(prefix)-h1" }
    public var hostVeth2: String { "\(prefix)-h2" }
    public var hostVethRouted: String { "\(prefix)-hr" }
    public var container1: String { "\(prefix)-c1" }
    public var container2: String { "\(prefix)-c2" }
    public var routed: String { "\(prefix)-r" }
    /// The interface inside each namespace, as Docker names it.
    public let innerIf = "eth0"

    public var bridgeIPv4: String { "198.18.\(index).1" }
    public var c1IPv4: String { "198.18.\(index).2" }
    public var c2IPv4: String { "198.18.\(index).3" }
    public var hostRoutedIPv4: String { "198.19.\(index).1" }
    public var routedIPv4: String { "198.19.\(index).2" }
    public var bridgeIPv6: String { "fd00:5b:\(index)::1" }
    public var c1IPv6: String { "fd00:5b:\(index)::2" }
    public var c2IPv6: String { "fd00:5b:\(index)::3" }

    /// A fresh prefix: `stl` + 4 hex digits (interface names must stay under 16 bytes).
    public static func uniquePrefix() -> String {
        "stl" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }

    /// Builds the lab. On any failure, what was built is removed before the error
    /// is thrown. `index` (1...250) picks the subnets 198.18.index.0/24 and
    /// 198.19.index.0/24 (RFC 2544 benchmarking space).
    public static func create(prefix: String = uniquePrefix(), index: Int = Int.random(in: 100...250)) throws -> Lab {
        let lab = Lab(prefix: prefix, index: index)
        do {
            try lab.build()
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    private init(prefix: String, index: Int) {
        self.prefix = prefix
        self.index = index
    }

    deinit { destroy() }

    private func ip(_ args: String...) throws { try Command.check(["ip"] + args) }
    private func inNS(_ ns: String, _ args: String...) throws { try Command.check(["ip", "-n", ns] + args) }

    private func undo(_ args: [String]) { created.append { _ = try? Command.run(args) } }

    private func build() throws {
        guard geteuid() == 0 else {
            throw RuntimeError("building the lab needs root", hint: "run with sudo")
        }
        for subnet in ["198.18.\(index).", "198.19.\(index)."] {
            let routes = try Command.run(["ip", "-4", "route", "show"]).stdout
            if routes.contains(subnet) {
                throw RuntimeError("subnet \(subnet)0/24 is already in use on this host", hint: "pick another lab index")
            }
        }
        // The bridge (the "docker0") with the containers' gateway addresses.
        try ip("link", "add", bridge, "type", "bridge")
        undo(["ip", "link", "del", bridge])
        try ip("addr", "add", "\(bridgeIPv4)/24", "dev", bridge)
        try ip("-6", "addr", "add", "\(bridgeIPv6)/64", "dev", bridge, "nodad")
        try ip("link", "set", bridge, "up")

        for (ns, hostIf, addr4, addr6) in [(container1, hostVeth1, c1IPv4, c1IPv6), (container2, hostVeth2, c2IPv4, c2IPv6)] {
            try addNamespace(ns)
            try ip("link", "add", hostIf, "type", "veth", "peer", "name", innerIf, "netns", ns)
            undo(["ip", "link", "del", hostIf])
            try ip("link", "set", hostIf, "master", bridge)
            try ip("link", "set", hostIf, "up")
            try inNS(ns, "addr", "add", "\(addr4)/24", "dev", innerIf)
            try inNS(ns, "-6", "addr", "add", "\(addr6)/64", "dev", innerIf, "nodad")
            try inNS(ns, "link", "set", innerIf, "up")
            try inNS(ns, "link", "set", "lo", "up")
            // No default route: only the routed lab subnet goes through the host.
            try inNS(ns, "route", "add", "198.19.\(index).0/24", "via", bridgeIPv4)
        }

        // The routed namespace, reached from the containers through NAT.
        try addNamespace(routed)
        try ip("link", "add", hostVethRouted, "type", "veth", "peer", "name", innerIf, "netns", routed)
        undo(["ip", "link", "del", hostVethRouted])
        try ip("addr", "add", "\(hostRoutedIPv4)/24", "dev", hostVethRouted)
        try ip("link", "set", hostVethRouted, "up")
        try inNS(routed, "addr", "add", "\(routedIPv4)/24", "dev", innerIf)
        try inNS(routed, "link", "set", innerIf, "up")
        try inNS(routed, "link", "set", "lo", "up")

        // Forwarding only on the lab's own host interfaces (the input device's
        // setting decides): the global net.ipv4.ip_forward stays untouched, and
        // the setting goes away with the interfaces.
        for dev in [bridge, hostVethRouted] {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/conf/\(dev)/forwarding", atomically: false, encoding: .utf8)
        }
        let comment = ["-m", "comment", "--comment", "skbtracer-lab-\(prefix)"]
        // iptables-nft creates the `ip nat` / `ip filter` tables on first use and
        // never removes them: remove them again if this lab created them and they
        // hold no rule anymore (registered before the rules, so it runs after them).
        // A table that holds only other labs' rules was created by one of them:
        // whichever lab ends last removes it (two labs at once had left it behind).
        for table in ["nat", "filter"] where !Self.nftTableExists(table) || Self.holdsOnlyLabRules(table) {
            created.append { Self.deleteNftTableIfEmpty(table) }
        }
        try iptables(["-t", "nat", "-A", "POSTROUTING", "-s", "198.18.\(index).0/24", "-o", hostVethRouted, "-j", "MASQUERADE"] + comment)
        // A host whose FORWARD policy is DROP (as Docker sets it) must still pass lab traffic.
        try iptables(["-I", "FORWARD", "-i", bridge, "-j", "ACCEPT"] + comment)
        try iptables(["-I", "FORWARD", "-o", bridge, "-j", "ACCEPT"] + comment)
    }

    static func nftTableExists(_ table: String) -> Bool {
        (try? Command.run(["nft", "list", "table", "ip", table]))?.ok ?? false
    }

    /// True when the table has rules and every one is a skbtracer lab's (by comment).
    static func holdsOnlyLabRules(_ table: String) -> Bool {
        guard let rules = try? Command.run(["iptables", "-w", "-t", table, "-S"]), rules.ok else { return false }
        let lines = rules.stdout.split(separator: "\n").filter { !$0.hasPrefix("-P ") }
        return !lines.isEmpty && lines.allSatisfy { $0.contains("skbtracer-lab-") }
    }

    /// Deletes `ip <table>` when it only holds empty base chains (`-P` policies).
    static func deleteNftTableIfEmpty(_ table: String) {
        guard let rules = try? Command.run(["iptables", "-w", "-t", table, "-S"]), rules.ok else { return }
        let onlyPolicies = rules.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("-P ") }
        if onlyPolicies { _ = try? Command.run(["nft", "delete", "table", "ip", table]) }
    }

    private func addNamespace(_ ns: String) throws {
        try ip("netns", "add", ns)
        undo(["ip", "netns", "del", ns])
    }

    /// Adds a rule and remembers the matching delete.
    private func iptables(_ rule: [String]) throws {
        try Command.check(["iptables", "-w"] + rule)
        var del = rule
        if let i = del.firstIndex(where: { $0 == "-A" || $0 == "-I" }) { del[i] = "-D" }
        undo(["iptables", "-w"] + del)
    }

    /// Removes everything, newest first. Safe to call more than once.
    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for undo in created.reversed() { undo() }
        created.removeAll()
    }

    /// Runs a command inside a lab namespace (`ip netns exec`).
    @discardableResult
    public func exec(_ ns: String, _ args: [String], timeout: Double = 30) throws -> Command.Result {
        try Command.run(["ip", "netns", "exec", ns] + args, timeout: timeout)
    }

    /// The namespace's inode, as events report it.
    public func netnsInode(_ ns: String) -> UInt32? {
        var st = stat()
        guard stat("/run/netns/\(ns)", &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }

    /// The namespace the lab's host side (bridge, host veths) lives in.
    public static func rootNetnsInode() -> UInt32? {
        var st = stat()
        // /proc/self, not /proc/1: the host-side interfaces are created in the
        // caller's namespace, and stat of /proc/1/ns/net fails with EACCES in
        // sandboxed VMs/containers even for root (seen on the 6.18 test VM).
        guard stat("/proc/self/ns/net", &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }
}

extension Lab {
    /// Whether `text` is a lab's prefix: `stl` (the demo's and the tests' Lab) or
    /// `std` (the tests' drop-reason chain lab), then 4 hex digits.
    public static func isPrefix(_ text: String) -> Bool {
        text.wholeMatch(of: #/(stl|std)[0-9a-f]{4}/#) != nil
    }

    /// Removes what labs left behind when their process was killed (SIGKILL gives
    /// no chance to clean up): namespaces and links named `stlXXXX-...` and
    /// iptables rules commented `skbtracer-lab-stlXXXX`, and the tests' `stdXXXX-a/r/b` drop labs.
    /// Without `prefix` it also removes labs that are still in use, so it is for
    /// when no demo or test is running; with one, only that lab's objects go.
    /// Returns one line per removed object.
    @discardableResult
    public static func removeStale(prefix: String? = nil) throws -> [String] {
        guard geteuid() == 0 else { throw RuntimeError("removing stale labs needs root", hint: "run with sudo") }
        var removed: [String] = []
        // stl: the demo's and the tests' Lab; std: the tests' drop-reason chain lab.
        let labObject = #/^(stl[0-9a-f]{4}-(c1|c2|r|br|h1|h2|hr)|std[0-9a-f]{4}-(a|r|b))$/#
        func ours(_ name: String) -> Bool {
            name.wholeMatch(of: labObject) != nil && prefix.map { name.hasPrefix($0 + "-") } != false
        }
        for line in try Command.run(["ip", "netns", "list"]).stdout.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            if ours(name), try Command.run(["ip", "netns", "del", name]).ok {
                removed.append("netns \(name)")
            }
        }
        for line in try Command.run(["ip", "-o", "link", "show"]).stdout.split(separator: "\n") {
            // "12: stl1234-br: <...>" or "13: stl1234-h1@if2: <...>"
            let fields = line.split(separator: ":", maxSplits: 2)
            guard fields.count >= 2 else { continue }
            let name = String(fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first ?? "")
            if ours(name), try Command.run(["ip", "link", "del", name]).ok {
                removed.append("link \(name)")
            }
        }
        for table in ["filter", "nat"] {
            for rule in try Command.run(["iptables", "-w", "-t", table, "-S"]).stdout.split(separator: "\n")
            where rule.hasPrefix("-A ") && rule.contains("skbtracer-lab-\(prefix ?? "stl")") {
                // iptables -S prints the rule as it was added; -D with the same words deletes it.
                var args = rule.split(separator: " ").map(String.init).map { $0.replacingOccurrences(of: "\"", with: "") }
                args[0] = "-D"
                if try Command.run(["iptables", "-w", "-t", table] + args).ok { removed.append("iptables \(table): \(rule)") }
            }
        }
        return removed
    }
}
