import CSkbTracerABI
import SkbTracerModel

/// skbtracer's columns: TIME NETWORK_NS CPU INTERFACE DEST_MAC IP_LEN PKT_INFO
/// TRACE_INFO, then the task, and the drop reason and location on drops.
///
///     04:38:12.123456 4026532290 1   ceth0            aa:bb:cc:dd:ee:ff 84     I_request:198.18.10.2->198.18.10.3 id=7 seq=1  0xffff88810a3b5d00.host:net_dev_queue ping/1234
public struct TextFormatter: EventFormatter {
    public let context: FormatContext

    public init(context: FormatContext) { self.context = context }

    public func start(into b: inout ByteBuffer) {}

    static let timeWidth = 16
    static let dateTimeWidth = 27
    var timeColumn: Int { context.timeFormat == .date ? Self.dateTimeWidth : Self.timeWidth }
    var hasTimeColumn: Bool { context.timeFormat != .none }
    static let netnsWidth = 11
    static let cpuWidth = 4
    static let ifWidth = 17
    static let macWidth = 18
    static let lenWidth = 7
    static let pktWidth = 52

    public func header(into b: inout ByteBuffer) {
        var s = b.count
        switch context.timeFormat {
        case .wallClock, .date: b.append("TIME")
        case .monotonic: b.append("TIMESTAMP")
        case .relative: b.append("RELATIVE")
        case .none: break
        }
        if hasTimeColumn { b.pad(from: s, to: timeColumn); s = b.count }
        b.append("NETWORK_NS"); b.pad(from: s, to: Self.netnsWidth); s = b.count
        b.append("CPU"); b.pad(from: s, to: Self.cpuWidth); s = b.count
        b.append("INTERFACE"); b.pad(from: s, to: Self.ifWidth); s = b.count
        b.append("DEST_MAC"); b.pad(from: s, to: Self.macWidth); s = b.count
        b.append("IP_LEN"); b.pad(from: s, to: Self.lenWidth); s = b.count
        b.append("PKT_INFO"); b.pad(from: s, to: Self.pktWidth)
        b.append("TRACE_INFO\n")
    }

    public func lost(count: UInt64, cpu: UInt32, into b: inout ByteBuffer) {
        if context.color { b.append(TextColor.loss) }
        b.append("--- ")
        b.appendDecimal(count)
        if cpu == UInt32.max {
            b.append(" events lost at the end of the trace (ring buffer full) ---")
        } else {
            b.append(" events lost on CPU ")
            b.appendDecimal(cpu)
            b.append(" (ring buffer full) ---")
        }
        if context.color { b.append(TextColor.reset) }
        b.append(UInt8(ascii: "\n"))
    }

    public func event(_ ev: TraceEvent, into b: inout ByteBuffer) {
        let e = ev.context, p = ev.packet
        var s = b.count
        if hasTimeColumn {
            Self.appendTime(ev.time, context: context, to: &b)
            b.pad(from: s, to: timeColumn); s = b.count
        }
        b.appendDecimal(e.netns); b.pad(from: s, to: Self.netnsWidth); s = b.count
        if ev.hasTask { b.appendDecimal(ev.cpu) } else { b.append("-") }
        b.pad(from: s, to: Self.cpuWidth); s = b.count
        withUnsafeBytes(of: e.ifname) { name in
            let end = name.firstIndex(of: 0) ?? name.count
            if end > 0 { b.appendPrintableCString(e.ifname) } else if e.ifindex != 0 {
                b.append("if"); b.appendDecimal(e.ifindex)
            } else { b.append("-") }
        }
        b.pad(from: s, to: Self.ifWidth); s = b.count
        if p.hasMAC { PacketText.appendMAC(p.raw.dmac, to: &b) } else { b.append("-") }
        b.pad(from: s, to: Self.macWidth); s = b.count
        if let length = p.ipLength, !ev.isRouteFlow { b.appendDecimal(length) } else { b.append("-") }
        b.pad(from: s, to: Self.lenWidth); s = b.count
        Self.appendPacketInfo(ev, to: &b)
        b.pad(from: s, to: Self.pktWidth)

        if ev.isRouteFlow { b.append("-:") } else {
            b.appendHex(ev.skb); b.append(UInt8(ascii: "."))
            b.append(string: PacketText.pktType(e.pkt_type)); b.append(UInt8(ascii: ":"))
        }
        b.append(contentsOf: ev.probeNameBytes)
        b.append(UInt8(ascii: " "))
        if ev.hasTask {
            b.appendPrintableCString(e.comm)
            b.append(UInt8(ascii: "/")); b.appendDecimal(e.pid)
        } else { b.append("-") }
        if let socket = ev.socket, socket.inode != 0 { SocketText.append(socket, owners: context.owners, to: &b) }
        if e.mark != 0 { b.append(" mark="); b.appendHex(UInt64(e.mark)) }
        if let reason = ev.dropReason {
            // Colour is looked at on drops only: other events pay nothing for it.
            if context.color { b.append(TextColor.drop) }
            b.append(" drop="); b.append(string: context.dropReasons.name(reason))
            if ev.hasLocation { b.append(" at="); b.append(string: context.symbols.symbolize(ev.location)) }
            if context.color { b.append(TextColor.reset) }
        } else if ev.hasLocation {
            b.append(" at="); b.append(string: context.symbols.symbolize(ev.location))
        }
        if let caller = ev.caller { b.append(" caller="); b.append(string: context.symbols.symbolize(caller)) }
        if let route = ev.route { RouteText.append(ev, route, to: &b) }
        if let pass = ev.netfilterHook { NetfilterText.append(pass, to: &b) }
        if let v = ev.nftVerdict { NetfilterText.append(v, to: &b) }
        if let ct = ev.ct { ConntrackText.append(ct, to: &b) }
        if let tunnel = ev.tunnel { Self.appendTunnel(tunnel, to: &b) }
        b.append(UInt8(ascii: "\n"))
        if let rule = context.dropRule(for: ev) {
            b.append("    "); context.appendColored("dropped by: \(NetfilterText.ruleText(rule))", TextColor.drop, to: &b)
        }
        if ev.isDrop { appendDropExplanation(ev, to: &b) }
        if let stack = ev.stack { Self.appendStack(stack, symbols: context.symbols, indent: "    ", to: &b) }
        if let dump = ev.skbDump { Self.appendSkbDump(dump, to: &b) }
    }

    /// Under the first drop of each reason and location (and noise verdict): what the
    /// reason means and what to check, or why it is known noise, as journeys say it.
    /// Once, not under every drop: a flood of one drop would bury its packets under the
    /// same two lines (docs/design.md); JSON carries them on every drop.
    private func appendDropExplanation(_ ev: TraceEvent, to b: inout ByteBuffer) {
        let noise = context.dropNoise(ev)
        guard context.firstOfItsKind(ev, noise: noise) else { return }
        if let noise {
            b.append("    known noise: "); b.append(string: noise); b.append(UInt8(ascii: "\n"))
        } else if let x = DropExplanations.explain(context.dropReasons.name(ev.dropReason ?? 0)) {
            b.append("    why: "); b.append(string: x.explanation); b.append(UInt8(ascii: "\n"))
            b.append("    hint: "); b.append(string: x.hint); b.append(UInt8(ascii: "\n"))
        }
    }

    /// The TIME column's text for a bpf_ktime_get_ns() value, in the chosen format.
    static func appendTime(_ ts: UInt64, context: FormatContext, to b: inout ByteBuffer) {
        switch context.timeFormat {
        case .wallClock: context.clock.appendWallClock(ts, to: &b)
        case .monotonic: Clock.appendSeconds(ts, to: &b)
        case .relative: Clock.appendSeconds(context.relativeNs(ts), to: &b)
        case .date: context.clock.appendDateTime(ts, to: &b)
        case .none: break
        }
    }

    /// `--output-skb`: the dump's lines, indented under the event.
    static func appendSkbDump(_ dump: String, to b: inout ByteBuffer) {
        guard !dump.isEmpty else {
            b.append("    (no skb dump came: the ring buffer had no room for it; see the summary)\n")
            return
        }
        for line in dump.split(separator: "\n", omittingEmptySubsequences: true) {
            b.append("    "); b.append(string: String(line)); b.append(UInt8(ascii: "\n"))
        }
    }

    /// One `at symbol+0xoff` line per frame (--dropstack, --callstack).
    static func appendStack(_ stack: [UInt64], symbols: KernelSymbols, indent: StaticString, to b: inout ByteBuffer) {
        let frames = StackFrames.symbolize(stack, symbols: symbols)
        if frames.isEmpty { b.append(indent); b.append("(no kernel stack)\n") }
        for f in frames {
            b.append(indent); b.append("at "); b.append(string: f); b.append(UInt8(ascii: "\n"))
        }
    }

    /// A route lookup's flow: `U:a:sport->b:dport`, `T:...`, `I:a->b`, `I6:a->b`, or
    /// `a->b` when the caller left the protocol open (0.0.0.0: source not chosen yet).
    static func appendFlowInfo(_ ev: TraceEvent, to b: inout ByteBuffer) {
        let e = ev.packet.raw, v6 = ev.isIPv6, ports = ev.hasL4
        switch e.l4_proto {
        case 6: b.append("T:")
        case 17: b.append("U:")
        case 1, 58: b.append(v6 ? "I6:" : "I:")
        case 0: break
        default: b.append("P_"); b.appendDecimal(e.l4_proto); b.append(UInt8(ascii: ":"))
        }
        PacketText.appendEndpoints(e.saddr, e.sport, e.daddr, e.dport, ipv6: v6, ports: ports, to: &b)
    }

    /// `T_SYN,ACK:10.0.0.1:22->10.0.0.2:5000`, `U:...`, `I_request:a->b id=1 seq=2`,
    /// `I6_reply:...`, `A_request:a->b` (ARP), `P_47:a->b`, `L3_0x88cc`, or `-`.
    public static func appendPacketInfo(_ ev: TraceEvent, to b: inout ByteBuffer) {
        if ev.isRouteFlow { appendFlowInfo(ev, to: &b); return }
        appendPacketInfo(ev.packet, to: &b)
    }

    /// ` tunnel=vxlan vni=42 inner=I_request:10.0.0.1->10.0.0.2 id=7 seq=1`.
    static func appendTunnel(_ t: Tunnel, to b: inout ByteBuffer) {
        b.append(" tunnel="); b.append(string: t.kind.name)
        if let vni = t.vni { b.append(" vni="); b.appendDecimal(vni) }
        b.append(" inner="); appendPacketInfo(t.inner, to: &b)
    }

    static func appendPacketInfo(_ p: Packet, to b: inout ByteBuffer) {
        let e = p.raw
        guard p.hasL3 else {
            if e.l3_proto != 0 { b.append("L3_"); b.append(string: PacketText.l3Name(e.l3_proto)) } else { b.append("-") }
            return
        }
        let v6 = p.isIPv6
        if p.isARP {
            if let op = p.arpOperation { b.append("A_"); b.append(string: op); b.append(UInt8(ascii: ":")) } else { b.append("A:") }
            PacketText.appendIPv4(e.saddr, to: &b); b.append("->"); PacketText.appendIPv4(e.daddr, to: &b)
            return
        }
        if p.isTCP || p.isUDP {
            if p.isTCP {
                // A tuple from the socket has no flags to show.
                if p.hasL4 && !p.fromSocket {
                    b.append("T_"); PacketText.appendTCPFlags(e.tcp_flags, to: &b); b.append(UInt8(ascii: ":"))
                } else {
                    b.append("T:")
                }
            } else {
                b.append("U:")
            }
            // No L4 header (a non-first fragment): addresses only, no made-up ports.
            let ports = p.hasL4
            PacketText.appendEndpoints(e.saddr, e.sport, e.daddr, e.dport, ipv6: v6, ports: ports, to: &b)
            if !ports { b.append(" (fragment)") }
            if p.fromSocket { b.append(" (socket)") }
            return
        }
        if p.isICMP {
            b.append(v6 ? "I6_" : "I_")
            if p.hasL4 {
                if let name = PacketText.icmpTypeName(e.icmp_type, v6: v6) { b.append(string: name) } else {
                    b.append("type"); b.appendDecimal(e.icmp_type)
                }
                if !p.isEcho && e.icmp_code != 0 { b.append("/"); b.appendDecimal(e.icmp_code) }
            }
            b.append(UInt8(ascii: ":"))
            PacketText.appendAddress(e.saddr, ipv6: v6, to: &b); b.append("->")
            PacketText.appendAddress(e.daddr, ipv6: v6, to: &b)
            if let echo = p.echo {
                b.append(" id="); b.appendDecimal(echo.id); b.append(" seq="); b.appendDecimal(echo.seq)
            }
            return
        }
        b.append("P_"); b.appendDecimal(e.l4_proto); b.append(UInt8(ascii: ":"))
        PacketText.appendAddress(e.saddr, ipv6: v6, to: &b); b.append("->")
        PacketText.appendAddress(e.daddr, ipv6: v6, to: &b)
    }
}
