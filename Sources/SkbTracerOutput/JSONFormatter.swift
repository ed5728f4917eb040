import CSkbTracerABI
import SkbTracerModel

/// One JSON object per line; the schema is documented in docs/json-schema.md.
/// Every field is always present; fields that do not apply are null.
public struct JSONFormatter: EventFormatter {
    public let context: FormatContext

    public init(context: FormatContext) { self.context = context }

    public func start(into b: inout ByteBuffer) { JSONSchema.append(to: &b) }
    public func header(into b: inout ByteBuffer) {}

    public func lost(count: UInt64, cpu: UInt32, into b: inout ByteBuffer) {
        b.append("{\"type\":\"lost\",\"cpu\":"); b.appendDecimal(cpu)
        b.append(",\"count\":"); b.appendDecimal(count); b.append("}\n")
    }

    public func event(_ ev: TraceEvent, into b: inout ByteBuffer) {
        b.append("{\"type\":\"event\",")
        appendFields(ev, into: &b)
        b.append("}\n")
    }

    /// The event's fields without braces: shared by events and journey hops.
    func appendFields(_ ev: TraceEvent, into b: inout ByteBuffer) {
        let c = ev.context, p = ev.packet
        let length = ev.isRouteFlow ? nil : p.ipLength // the length and TTL are a packet's
        b.append("\"time\":\"")
        context.appendISO8601(ev.time, to: &b)
        b.append("\",\"ts_ns\":"); b.appendDecimal(ev.time)
        b.append(",\"relative_ns\":"); b.appendDecimal(context.relativeNs(ev.time))
        b.append(",\"probe\":\""); b.append(contentsOf: ev.probeNameBytes)
        b.append(ev.isFunction ? "\",\"function\":true" : "\",\"function\":false")
        if ev.hasTask {
            b.append(",\"cpu\":"); b.appendDecimal(ev.cpu)
            b.append(",\"pid\":"); b.appendDecimal(c.pid)
            b.append(",\"tid\":"); b.appendDecimal(c.tid)
            b.append(",\"comm\":"); b.appendJSONCString(c.comm)
        } else {
            b.append(",\"cpu\":null,\"pid\":null,\"tid\":null,\"comm\":null")
        }
        b.append(",\"netns\":"); b.appendDecimal(c.netns)
        b.append(",\"ifindex\":"); b.appendDecimal(c.ifindex)
        b.append(",\"ifname\":"); b.appendJSONCString(c.ifname)
        b.append(",")
        appendPacketFields(p, length: length, to: &b)
        if ev.isRouteFlow {
            b.append(",\"skb\":null,\"pkt_type\":null")
        } else {
            b.append(",\"skb\":\""); b.appendHex(ev.skb)
            b.append("\",\"pkt_type\":\""); b.append(string: PacketText.pktType(c.pkt_type)); b.append("\"")
        }
        b.append(",\"mark\":"); b.appendDecimal(c.mark)
        b.append(",\"len\":"); b.appendDecimal(c.skb_len)
        b.append(",\"drop_reason\":")
        if let reason = ev.dropReason { b.append("\""); b.append(string: context.dropReasons.name(reason)); b.append("\"") } else { b.append("null") }
        b.append(",\"drop_reason_code\":"); if let reason = ev.dropReason { b.appendDecimal(reason) } else { b.append("null") }
        let location = ev.hasLocation ? context.symbols.symbolize(ev.location) : nil
        b.append(",\"location\":")
        if let location { b.appendJSONString(location) } else { b.append("null") }
        b.append(",\"caller\":")
        if let caller = ev.caller { b.appendJSONString(context.symbols.symbolize(caller)) } else { b.append("null") }
        if let reason = ev.dropReason { context.appendDropTextJSON(reason, to: &b) } else {
            b.append(",\"drop_explanation\":null,\"drop_hint\":null")
        }
        let noise = ev.isDrop ? context.dropNoise(ev) : nil
        b.append(",\"drop_noise\":")
        if let noise { b.appendJSONString(noise) } else { b.append("null") }
        b.append(",\"tracked\":"); b.append(ev.isTracked ? "true" : "false")
        b.append(",\"stack\":")
        if let stack = ev.stack {
            b.append("[")
            for (i, frame) in StackFrames.symbolize(stack, symbols: context.symbols).enumerated() {
                if i > 0 { b.append(",") }
                b.appendJSONString(frame)
            }
            b.append("]")
        } else { b.append("null") }
        b.append(",\"route\":")
        if let route = ev.route { RouteText.appendJSON(ev, route, to: &b) } else { b.append("null") }
        b.append(",\"netfilter\":")
        NetfilterText.appendJSON(ev, to: &b)
        b.append(",\"ct\":")
        if let ct = ev.ct { ConntrackText.appendJSON(ct, to: &b) } else { b.append("null") }
        b.append(",\"sock\":")
        if let socket = ev.socket, socket.inode != 0 { SocketText.appendJSON(socket, owners: context.owners, to: &b) } else { b.append("null") }
        b.append(",\"skb_dump\":")
        if let dump = ev.skbDump, !dump.isEmpty { b.appendJSONString(dump) } else { b.append("null") }
        b.append(",\"tunnel\":")
        if let tunnel = ev.tunnel { appendTunnel(tunnel, to: &b) } else { b.append("null") }
        b.append(",\"lost_before\":"); b.appendDecimal(ev.header.lost_before)
    }

    /// A packet's fields, from `"dmac"` to `"tuple_from_socket"`: the event's
    /// own and a tunnel's inner packet. `length`: the IP length and TTL apply.
    func appendPacketFields(_ p: Packet, length: UInt16?, to b: inout ByteBuffer) {
        let e = p.raw
        let l3 = p.hasL3
        let ip = l3 && (p.isIPv4 || p.isIPv6)
        let v6 = p.isIPv6
        b.append("\"dmac\":")
        if p.hasMAC { b.append("\""); PacketText.appendMAC(e.dmac, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"smac\":")
        if p.hasMAC { b.append("\""); PacketText.appendMAC(e.smac, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"l3_proto\":")
        if e.l3_proto != 0 { b.append("\""); b.append(string: PacketText.l3Name(e.l3_proto)); b.append("\"") } else { b.append("null") }
        b.append(",\"ip_len\":"); if let length { b.appendDecimal(length) } else { b.append("null") }
        b.append(",\"ttl\":"); if length != nil { b.appendDecimal(e.ttl) } else { b.append("null") }
        b.append(",\"saddr\":")
        if l3 { b.append("\""); PacketText.appendAddress(e.saddr, ipv6: v6, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"daddr\":")
        if l3 { b.append("\""); PacketText.appendAddress(e.daddr, ipv6: v6, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"l4_proto\":")
        if ip { b.append("\""); b.append(string: PacketText.l4Name(e.l4_proto)); b.append("\"") } else { b.append("null") }
        let ports = p.ports
        b.append(",\"sport\":"); if let ports { b.appendDecimal(ports.sport) } else { b.append("null") }
        b.append(",\"dport\":"); if let ports { b.appendDecimal(ports.dport) } else { b.append("null") }
        b.append(",\"tcp_flags\":")
        if p.hasL4 && p.isTCP && !p.fromSocket {
            b.append("\""); PacketText.appendTCPFlags(e.tcp_flags, to: &b); b.append("\"")
        } else { b.append("null") }
        let icmp = p.hasL4 && p.isICMP
        let echo = p.echo
        b.append(",\"icmp_type\":"); if icmp { b.appendDecimal(e.icmp_type) } else { b.append("null") }
        b.append(",\"icmp_code\":"); if icmp { b.appendDecimal(e.icmp_code) } else { b.append("null") }
        b.append(",\"icmp_id\":"); if let echo { b.appendDecimal(echo.id) } else { b.append("null") }
        b.append(",\"icmp_seq\":"); if let echo { b.appendDecimal(echo.seq) } else { b.append("null") }
        b.append(",\"arp_op\":"); if l3 && p.isARP { b.appendDecimal(e.icmp_type) } else { b.append("null") }
        b.append(",\"tuple_from_socket\":"); b.append(p.fromSocket ? "true" : "false")
    }

    /// A tunnel packet's inner headers (pwru's --output-tunnel):
    /// `{"kind":"vxlan","vni":42,"inner":{"dmac":...}}`.
    func appendTunnel(_ t: Tunnel, to b: inout ByteBuffer) {
        b.append("{\"kind\":"); b.appendJSONString(t.kind.name)
        b.append(",\"vni\":")
        if let vni = t.vni { b.appendDecimal(vni) } else { b.append("null") }
        b.append(",\"inner\":{")
        appendPacketFields(t.inner, length: t.inner.ipLength, to: &b)
        b.append("}}")
    }
}
