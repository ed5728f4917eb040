import Foundation
import SkbTracerModel
import SkbTracerSystem

/// A routed chain of three namespaces, built to make packets die in known places:
///
///     a ── <p>-ar 198.18.N.2 ══ <p>-ra 198.18.N.1 ── r ── <p>-rb 198.19.N.1 ══ <p>-br 198.19.N.2 ── b
///          (also 198.19.N.77/32)                    (forwards)
///
/// a reaches 198.19.N.0/24 and 198.20.N.0/24 through r; b reaches 198.18.N.0/24
/// through r; r has no route for 198.20.N.0/24. No namespace has a default route,
/// nothing is created in the root namespace, and every sysctl changed is r's own
/// (per-netns), so deleting the three namespaces removes everything: veths,
/// addresses, routes, qdiscs, iptables-nft tables and sysctls.
///
/// Every name starts with a unique prefix (`std` + 4 hex digits; `Lab` uses `stl`).
/// N is 1...99 (the Docker-like `Lab` uses 100...250), in RFC 2544 space.
final class DropLab: @unchecked Sendable {
    let prefix: String
    let index: Int
    /// A TCP/UDP port for this lab's traffic; nothing listens on it.
    let port: Int
    /// The ICMP echo id of this lab's pings.
    let icmpID: Int
    private var created: [() -> Void] = []
    private var destroyed = false

    var a: String { "\(prefix)-a" }
    var r: String { "\(prefix)-r" }
    var b: String { "\(prefix)-b" }
    /// a's interface (towards r), r's two interfaces, b's interface (towards r).
    var aIf: String { "\(prefix)-ar" }
    var rIfA: String { "\(prefix)-ra" }
    var rIfB: String { "\(prefix)-rb" }
    var bIf: String { "\(prefix)-br" }

    var aIPv4: String { "198.18.\(index).2" }
    var rIPv4A: String { "198.18.\(index).1" }
    var rIPv4B: String { "198.19.\(index).1" }
    var bIPv4: String { "198.19.\(index).2" }
    /// a's second address, in b's subnet: r routes it via b's side, so strict
    /// rp_filter in r rejects packets from it arriving from a.
    var spoofIPv4: String { "198.19.\(index).77" }
    /// Routed by a (via r), unknown to r.
    var unroutedIPv4: String { "198.20.\(index).5" }
    var subnets: [String] { ["198.18.\(index).", "198.19.\(index).", "198.20.\(index)."] }

    static func uniquePrefix() -> String {
        "std" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }

    /// Builds the lab; on any failure, removes what it built and rethrows.
    static func create(prefix: String = uniquePrefix(), index: Int = Int.random(in: 1...99)) throws -> DropLab {
        let lab = DropLab(prefix: prefix, index: index)
        do {
            try lab.build()
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    /// A fresh lab; retries when a random index or prefix collides.
    static func make() throws -> DropLab {
        var last: Error?
        for _ in 0..<5 {
            do { return try create() } catch { last = error }
        }
        throw last ?? KT.Failure("cannot create a drop lab")
    }

    /// Creates a lab, runs `body`, removes the lab on every path out, then checks
    /// that nothing with the lab's prefix remains (that check only after a
    /// successful body; a throwing body's error is rethrown).
    static func with(_ body: (DropLab) throws -> Void) throws {
        let lab = try make()
        let prefix = lab.prefix
        do {
            defer { lab.destroy() }
            try body(lab)
        }
        let left = try KT.leftovers(prefix: prefix)
        if !left.isEmpty {
            throw KT.Failure("drop lab \(prefix) left things behind:\n\(left.joined(separator: "\n"))")
        }
    }

    private init(prefix: String, index: Int) {
        self.prefix = prefix
        self.index = index
        port = KT.randomPort()
        icmpID = Int.random(in: 1000...60000)
    }

    deinit { destroy() }

    /// Removes everything, newest first. Safe to call more than once.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for undo in created.reversed() { undo() }
        created.removeAll()
    }

    // MARK: - Building

    private func inNS(_ ns: String, _ args: String...) throws { try Command.check(["ip", "-n", ns] + args) }

    private func sysctl(_ ns: String, _ settings: [String]) throws {
        try Command.check(["ip", "netns", "exec", ns, "sysctl", "-qw"] + settings)
    }

    private func build() throws {
        guard KT.isRoot else { throw KT.Failure("building the drop lab needs root") }
        try checkSubnetsFree()
        for ns in [a, r, b] {
            try Command.check(["ip", "netns", "add", ns])
            created.append { [ns] in _ = try? Command.run(["ip", "netns", "del", ns]) }
            try inNS(ns, "link", "set", "lo", "up")
        }
        // Created inside the namespaces: no end ever exists in the root namespace.
        try inNS(a, "link", "add", aIf, "type", "veth", "peer", "name", rIfA, "netns", r)
        try inNS(b, "link", "add", bIf, "type", "veth", "peer", "name", rIfB, "netns", r)
        try inNS(a, "addr", "add", "\(aIPv4)/24", "dev", aIf)
        try inNS(a, "addr", "add", "\(spoofIPv4)/32", "dev", aIf)
        try inNS(r, "addr", "add", "\(rIPv4A)/24", "dev", rIfA)
        try inNS(r, "addr", "add", "\(rIPv4B)/24", "dev", rIfB)
        try inNS(b, "addr", "add", "\(bIPv4)/24", "dev", bIf)
        for (ns, dev) in [(a, aIf), (r, rIfA), (r, rIfB), (b, bIf)] {
            try inNS(ns, "link", "set", dev, "up")
        }
        // No default routes. `src` keeps a's own traffic off the spoof address.
        for dst in ["198.19.\(index).0/24", "198.20.\(index).0/24"] {
            try inNS(a, "route", "add", dst, "via", rIPv4A, "src", aIPv4)
        }
        try inNS(b, "route", "add", "198.18.\(index).0/24", "via", rIPv4B)
        // a's ARP requests name 198.18.N.2, never the spoof address: r, with strict
        // rp_filter, would not answer "who has 198.18.N.1, tell 198.19.N.77".
        try sysctl(a, ["net.ipv4.conf.all.arp_announce=2"])
        // r's own settings (per-netns): forward, and no reverse-path filter until
        // the rp_filter scenario asks for one (a new netns may inherit the host's).
        try sysctl(r, ["net.ipv4.conf.all.forwarding=1", "net.ipv4.conf.all.rp_filter=0",
                       "net.ipv4.conf.\(rIfA).rp_filter=0", "net.ipv4.conf.\(rIfB).rp_filter=0"])
    }

    /// The subnets must be unused on the host and in any other drop lab, so the
    /// tracer's address filters see this lab's packets only.
    private func checkSubnetsFree() throws {
        var seen = try Command.check(["ip", "-4", "route", "show", "table", "all"]).stdout
        seen += try Command.check(["ip", "-4", "-o", "addr", "show"]).stdout
        let others = try Command.check(["ip", "netns", "list"]).stdout.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.wholeMatch(of: #/std[0-9a-f]{4}-[arb]/#) != nil }
        if others.contains(where: { $0.hasPrefix(prefix) }) {
            throw KT.Failure("prefix \(prefix) is already in use")
        }
        for ns in others where ns.hasSuffix("-r") {
            seen += (try? Command.run(["ip", "-n", ns, "-4", "-o", "addr", "show"]).stdout) ?? ""
        }
        for subnet in subnets where seen.contains(subnet) {
            throw KT.Failure("subnet \(subnet)0/24 is already in use on this host")
        }
    }

    // MARK: - Using

    /// Runs a command inside one of the lab's namespaces (bounded by `timeout`).
    @discardableResult
    func exec(_ ns: String, _ args: [String], timeout: Double = 10) throws -> Command.Result {
        try Command.run(["ip", "netns", "exec", ns] + args, timeout: timeout)
    }

    /// Like `exec`, and throws with the command's stderr on a non-zero exit.
    @discardableResult
    func check(_ ns: String, _ args: [String], timeout: Double = 10) throws -> Command.Result {
        let res = try exec(ns, args, timeout: timeout)
        guard res.ok else {
            throw KT.Failure("in \(ns): `\(args.joined(separator: " "))` exited \(res.status): \(res.stderr)\(res.stdout)")
        }
        return res
    }

    func setSysctl(_ ns: String, _ settings: [String]) throws { try sysctl(ns, settings) }

    /// One echo request from `ns` with this lab's echo id, waiting at most 1 s
    /// for the reply; its exit status is not checked
    /// (the scenarios expect no reply), only that ping ran (status 0 or 1).
    @discardableResult
    func ping(from ns: String, to addr: String, extra: [String] = []) throws -> Command.Result {
        let res = try exec(ns, ["ping", "-c", "1", "-W", "1", "-e", "\(icmpID)"] + extra + [addr], timeout: 5)
        guard res.status == 0 || res.status == 1 else {
            throw KT.Failure("ping in \(ns) failed (status \(res.status)): \(res.stderr)")
        }
        return res
    }

    /// Runs a one-shot python3 program in `ns`; throws unless it exits 0.
    @discardableResult
    func python(_ ns: String, _ code: String) throws -> Command.Result {
        try check(ns, [KT.python, "-c", code])
    }

    /// The namespace's inode, as events report it.
    func netnsInode(_ ns: String) -> UInt32? {
        var st = stat()
        guard stat("/run/netns/\(ns)", &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }
}

// MARK: - Scenarios

/// One way to make a packet die in the drop lab, and what this kernel reports
/// for it (measured on Linux 6.18; locations are `symbol+0xoff`, and the symbol
/// sets allow for inlining differences between builds).
///
/// Reusable: `prepare`, then a tracer with `tracerArgs` (plus any output
/// options), then `provoke`; the dropped packet is the one `packet` describes.
struct DropScenario: Sendable, CustomStringConvertible {
    /// The packet that is provoked and dropped: its tuple as events report it.
    struct Packet: Sendable, CustomStringConvertible {
        let saddr: String
        let daddr: String
        let l4: String
        var dport: Int? = nil
        /// For ICMP: echo requests with this id.
        var icmpID: Int? = nil

        func matches(_ e: KT.Event) -> Bool {
            e.saddr == saddr && e.daddr == daddr && e.l4 == l4
                && (dport == nil || e.dport == dport)
                && (icmpID == nil || (e.icmpType == 8 && e.icmpID == icmpID))
        }

        var description: String {
            "\(l4) \(saddr) -> \(daddr)" + (dport.map { ":\($0)" } ?? "") + (icmpID.map { " echo id \($0)" } ?? "")
        }
    }

    let name: String
    /// `drop_reason` of the packet's `kfree_skb` events.
    let expectedReasons: Set<String>
    /// The function part of their `location`.
    let expectedFunctions: Set<String>
    /// The namespace the packet dies in.
    let diesIn: @Sendable (DropLab) -> String
    /// The interface the drop is reported on (the skb's device at that point).
    let diesOn: @Sendable (DropLab) -> String
    /// Other probes that report the same packet in that namespace.
    let companions: Set<String>
    let packet: @Sendable (DropLab) -> Packet
    /// Set-up before the tracer starts (rules, sysctls, qdiscs, warm-up traffic).
    let prepare: @Sendable (DropLab) throws -> Void
    /// Filters that select this lab's packets for the scenario.
    let tracerArgs: @Sendable (DropLab) -> [String]
    /// Bounded traffic from inside the lab that makes the packet die.
    let provoke: @Sendable (DropLab) throws -> Void

    var description: String { name }

    /// The function name of a `symbol+0xoff` location.
    static func function(of location: String?) -> String {
        String((location ?? "").split(separator: "+").first ?? "")
    }

    /// Prepares `lab`, starts the tracer with the scenario's filters plus
    /// `extraArgs`, provokes the drop and stops the tracer. The caller reads the
    /// tracer's output and must `cleanup()` it.
    func run(in lab: DropLab, extraArgs: [String] = []) throws -> KT.Tracer {
        try prepare(lab)
        let tracer = try KT.Tracer.start(tracerArgs(lab) + extraArgs)
        do {
            try provoke(lab)
        } catch {
            tracer.cleanup()
            throw error
        }
        tracer.stop()
        return tracer
    }

    static let none: @Sendable (DropLab) throws -> Void = { _ in }

    /// One UDP datagram from a to b's lab port (nothing listens there).
    static func udpToB(_ lab: DropLab) throws {
        try lab.python(lab.a, """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b'skbtracer-droplab', ('\(lab.bIPv4)', \(lab.port)))
            s.close()
            """)
    }

    static let all: [DropScenario] = [
        DropScenario(
            name: "netfilter DROP in b's INPUT",
            expectedReasons: ["NETFILTER_DROP"],
            expectedFunctions: ["nft_do_chain", "nf_hook_slow"],
            diesIn: { $0.b }, diesOn: { $0.bIf }, companions: [],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.bIPv4, l4: "udp", dport: $0.port) },
            // In b's namespace only: the rule (and its nft table) goes with it.
            prepare: { lab in
                try lab.check(lab.b, ["iptables", "-w", "-A", "INPUT", "-p", "udp", "--dport", "\(lab.port)", "-j", "DROP"])
            },
            tracerArgs: { ["-H", $0.bIPv4, "--proto", "udp", "--dport", "\($0.port)"] },
            provoke: udpToB),
        DropScenario(
            name: "UDP to a closed port in b",
            expectedReasons: ["NO_SOCKET"],
            expectedFunctions: ["__udp4_lib_rcv", "udp_rcv"],
            diesIn: { $0.b }, diesOn: { $0.bIf }, companions: ["icmp_send"],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.bIPv4, l4: "udp", dport: $0.port) },
            prepare: none,
            tracerArgs: { ["-H", $0.bIPv4, "--proto", "udp", "--dport", "\($0.port)"] },
            provoke: udpToB),
        DropScenario(
            name: "TCP SYN to a closed port in b",
            expectedReasons: ["NO_SOCKET"],
            expectedFunctions: ["tcp_v4_rcv"],
            diesIn: { $0.b }, diesOn: { $0.bIf }, companions: ["tcp_send_reset"],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.bIPv4, l4: "tcp", dport: $0.port) },
            prepare: none,
            tracerArgs: { ["-H", $0.bIPv4, "--proto", "tcp", "--port", "\($0.port)"] },
            provoke: { lab in
                let res = try lab.python(lab.a, """
                    import socket
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.settimeout(2)
                    try:
                        s.connect(('\(lab.bIPv4)', \(lab.port)))
                        print('connected')
                    except ConnectionRefusedError:
                        print('refused')
                    s.close()
                    """)
                guard res.stdout.contains("refused") else { throw KT.Failure("connect was not refused: \(res.stdout)") }
            }),
        DropScenario(
            name: "no route at r for 198.20.N.0/24",
            expectedReasons: ["IP_INNOROUTES"],
            expectedFunctions: ["ip_error"],
            diesIn: { $0.r }, diesOn: { $0.rIfA }, companions: ["icmp_send"],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.unroutedIPv4, l4: "icmp", icmpID: $0.icmpID) },
            prepare: none,
            tracerArgs: { ["-H", $0.unroutedIPv4, "--proto", "icmp"] },
            provoke: { lab in try lab.ping(from: lab.a, to: lab.unroutedIPv4) }),
        DropScenario(
            name: "TTL 1 expires when r forwards",
            expectedReasons: ["IP_INHDR"],
            expectedFunctions: ["ip_forward"],
            diesIn: { $0.r }, diesOn: { $0.rIfA }, companions: ["icmp_send"],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.bIPv4, l4: "icmp", icmpID: $0.icmpID) },
            prepare: none,
            tracerArgs: { ["-H", $0.bIPv4, "--proto", "icmp"] },
            provoke: { lab in try lab.ping(from: lab.a, to: lab.bIPv4, extra: ["-t", "1"]) }),
        DropScenario(
            name: "strict rp_filter in r, source routed via b's side",
            expectedReasons: ["IP_RPFILTER"],
            expectedFunctions: ["ip_rcv_finish_core", "ip_rcv_finish", "ip_list_rcv_finish"],
            diesIn: { $0.r }, diesOn: { $0.rIfA }, companions: [],
            packet: { Packet(saddr: $0.spoofIPv4, daddr: $0.bIPv4, l4: "icmp", icmpID: $0.icmpID) },
            // The effective value is max(all, interface): set both, in r only.
            prepare: { lab in
                try lab.setSysctl(lab.r, ["net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.\(lab.rIfA).rp_filter=1"])
            },
            tracerArgs: { ["-H", $0.spoofIPv4, "--proto", "icmp"] },
            provoke: { lab in try lab.ping(from: lab.a, to: lab.bIPv4, extra: ["-I", lab.spoofIPv4]) }),
        DropScenario(
            name: "tbf qdisc on a's veth overflows",
            expectedReasons: ["QDISC_DROP"],
            expectedFunctions: ["__dev_queue_xmit", "__dev_xmit_skb", "dev_qdisc_enqueue", "tcf_kfree_skb_list"],
            diesIn: { $0.a }, diesOn: { $0.aIf }, companions: [],
            packet: { Packet(saddr: $0.aIPv4, daddr: $0.bIPv4, l4: "icmp", icmpID: $0.icmpID) },
            // One answered ping first resolves r's MAC (so the burst is not held in
            // the neighbour queue). tbf, not pfifo: a fifo lets packets bypass
            // enqueue. 3000 bytes of queue hold two of the 1028-byte requests.
            prepare: { lab in
                let warm = try lab.ping(from: lab.a, to: lab.bIPv4)
                guard warm.ok else { throw KT.Failure("warm-up ping a -> b got no reply: \(warm.stdout)") }
                try lab.check(lab.a, ["tc", "qdisc", "add", "dev", lab.aIf, "root", "tbf",
                                      "rate", "1mbit", "burst", "2kb", "limit", "3000"])
            },
            tracerArgs: { ["-H", $0.bIPv4, "--proto", "icmp"] },
            // 30 echo requests back to back from a raw socket (ping throttles
            // itself when a send fails with ENOBUFS; a raw socket without
            // IP_RECVERR does not see that error). The answered ones are consumed
            // by b's icmp_rcv; their replies are not this packet.
            provoke: { lab in
                try lab.python(lab.a, """
                    import socket, struct
                    def csum(b):
                        s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
                        s = (s >> 16) + (s & 0xffff)
                        s += s >> 16
                        return ~s & 0xffff
                    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                    payload = b'x' * 1000
                    for seq in range(1, 31):
                        c = csum(struct.pack('!BBHHH', 8, 0, 0, \(lab.icmpID), seq) + payload)
                        s.sendto(struct.pack('!BBHHH', 8, 0, c, \(lab.icmpID), seq) + payload, ('\(lab.bIPv4)', 0))
                    s.close()
                    """)
            }),
    ]
}
