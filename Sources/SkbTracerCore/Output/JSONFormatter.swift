import CSkbTracerABI

/// One JSON object per line; the schema is documented in docs/json-schema.md.
/// Every field is always present; fields that do not apply are null.
public struct JSONFormatter: EventFormatter {
    public let context: FormatContext

    public init(context: FormatContext) { self.context = context }

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
        let e = ev.raw
        let l3 = ev.hasL3
        let ip = l3 && (ev.isIPv4 || ev.isIPv6)
        let packet = !ev.tupleFromSocket && !ev.isRouteFlow // the length and TTL are a packet's
        let v6 = ev.isIPv6
        b.append("\"time\":\"")
        context.appendISO8601(e.ts_ns, to: &b)
        b.append("\",\"ts_ns\":"); b.appendDecimal(e.ts_ns)
        b.append(",\"relative_ns\":"); b.appendDecimal(context.relativeNs(e.ts_ns))
        b.append(",\"probe\":\""); b.append(contentsOf: ev.probeNameBytes)
        b.append(ev.isFunction ? "\",\"function\":true" : "\",\"function\":false")
        b.append(",\"cpu\":"); b.appendDecimal(e.cpu)
        b.append(",\"pid\":"); b.appendDecimal(e.pid)
        b.append(",\"tid\":"); b.appendDecimal(e.tid)
        b.append(",\"comm\":"); b.appendJSONCString(e.comm)
        b.append(",\"netns\":"); b.appendDecimal(e.netns)
        b.append(",\"ifindex\":"); b.appendDecimal(e.ifindex)
        b.append(",\"ifname\":"); b.appendJSONCString(e.ifname)
        b.append(",\"dmac\":")
        if ev.hasMAC { b.append("\""); PacketText.appendMAC(e.dmac, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"smac\":")
        if ev.hasMAC { b.append("\""); PacketText.appendMAC(e.smac, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"l3_proto\":")
        if e.l3_proto != 0 { b.append("\""); b.append(string: PacketText.l3Name(e.l3_proto)); b.append("\"") } else { b.append("null") }
        b.append(",\"ip_len\":"); if ip && packet { b.appendDecimal(e.ip_len) } else { b.append("null") }
        b.append(",\"ttl\":"); if ip && packet { b.appendDecimal(e.ttl) } else { b.append("null") }
        b.append(",\"saddr\":")
        if l3 { b.append("\""); PacketText.appendAddress(e.saddr, ipv6: v6, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"daddr\":")
        if l3 { b.append("\""); PacketText.appendAddress(e.daddr, ipv6: v6, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"l4_proto\":")
        if ip { b.append("\""); b.append(string: PacketText.l4Name(e.l4_proto)); b.append("\"") } else { b.append("null") }
        let ports = ev.hasL4 && (ev.isTCP || ev.isUDP)
        b.append(",\"sport\":"); if ports { b.appendDecimal(e.sport) } else { b.append("null") }
        b.append(",\"dport\":"); if ports { b.appendDecimal(e.dport) } else { b.append("null") }
        b.append(",\"tcp_flags\":")
        if ev.hasL4 && ev.isTCP && !ev.tupleFromSocket {
            b.append("\""); PacketText.appendTCPFlags(e.tcp_flags, to: &b); b.append("\"")
        } else { b.append("null") }
        let icmp = ev.hasL4 && ev.isICMP
        let echo = icmp && PacketText.isEcho(e)
        b.append(",\"icmp_type\":"); if icmp { b.appendDecimal(e.icmp_type) } else { b.append("null") }
        b.append(",\"icmp_code\":"); if icmp { b.appendDecimal(e.icmp_code) } else { b.append("null") }
        b.append(",\"icmp_id\":"); if echo { b.appendDecimal(e.icmp_id) } else { b.append("null") }
        b.append(",\"icmp_seq\":"); if echo { b.appendDecimal(e.icmp_seq) } else { b.append("null") }
        b.append(",\"arp_op\":"); if l3 && ev.isARP { b.appendDecimal(e.icmp_type) } else { b.append("null") }
        b.append(",\"tuple_from_socket\":"); b.append(ev.tupleFromSocket ? "true" : "false")
        if ev.isRouteFlow {
            b.append(",\"skb\":null,\"pkt_type\":null")
        } else {
            b.append(",\"skb\":\""); b.appendHex(e.skb)
            b.append("\",\"pkt_type\":\""); b.append(string: PacketText.pktType(e.pkt_type)); b.append("\"")
        }
        b.append(",\"mark\":"); b.appendDecimal(e.mark)
        b.append(",\"len\":"); b.appendDecimal(e.skb_len)
        b.append(",\"drop_reason\":")
        if ev.isDrop { b.append("\""); b.append(string: context.dropReasons.name(e.drop_reason)); b.append("\"") } else { b.append("null") }
        b.append(",\"drop_reason_code\":"); if ev.isDrop { b.appendDecimal(e.drop_reason) } else { b.append("null") }
        let location = ev.hasLocation && e.location != 0 ? context.symbols.symbolize(e.location) : nil
        b.append(",\"location\":")
        if let location { b.appendJSONString(location) } else { b.append("null") }
        if ev.isDrop { context.appendDropTextJSON(e.drop_reason, to: &b) } else {
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
        if let route = ev.route { RouteText.appendJSON(e, route, to: &b) } else { b.append("null") }
        b.append(",\"ct\":")
        if let ct = ev.ct { ConntrackText.appendJSON(ct, to: &b) } else { b.append("null") }
        b.append(",\"sock\":")
        if e.sock_ino != 0 { SocketText.appendJSON(e, owners: context.owners, to: &b) } else { b.append("null") }
        b.append(",\"skb_dump\":")
        if let dump = ev.skbDump, !dump.isEmpty { b.appendJSONString(dump) } else { b.append("null") }
        b.append(",\"lost_before\":"); b.appendDecimal(e.lost_before)
    }
}
