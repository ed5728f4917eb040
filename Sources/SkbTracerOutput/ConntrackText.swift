import CSkbTracerABI
import SkbTracerModel

/// How an skb's conntrack entry prints (`--ct`): ` ct=established,snat
/// orig=10.0.0.2:40000->10.1.0.2:80 reply=10.1.0.2:80->10.1.0.1:40000`, the reply
/// tuple only when NAT made it differ from the original one reversed.
enum ConntrackText {
    /// enum ip_conntrack_info: the state, and whether the packet goes the reply way.
    static func state(_ ctinfo: UInt8) -> (name: StaticString, reply: Bool) {
        switch ctinfo {
        case 0: return ("established", false)
        case 1: return ("related", false)
        case 2: return ("new", false)
        case 3: return ("established", true)
        case 4: return ("related", true)
        case 7: return ("untracked", false)
        default: return ("unknown", false)
        }
    }

    /// The IPS_* status bits worth showing (uapi nf_conntrack_common.h), in bit order.
    static let statusNames: [(bit: UInt32, name: StaticString)] = [
        (1 << 1, "seen_reply"), (1 << 2, "assured"), (1 << 3, "confirmed"), (1 << 4, "snat"), (1 << 5, "dnat"),
        (1 << 9, "dying"), (1 << 13, "helper"), (1 << 14, "offload"),
    ]

    static func isUntracked(_ ct: st_ct) -> Bool { ct.ctinfo == 7 && ct.family == 0 }
    /// A template (IPS_TEMPLATE: a raw-table `CT --zone/--helper` rule) until conntrack
    /// replaces it with the packet's entry: no tuples yet.
    static func isTemplate(_ ct: st_ct) -> Bool { ct.status & (1 << 11) != 0 }
    /// No tuples to show.
    static func isTupleless(_ ct: st_ct) -> Bool { isUntracked(ct) || isTemplate(ct) }

    static func hasPorts(_ proto: UInt8) -> Bool { proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 136 }
    static func isICMP(_ proto: UInt8) -> Bool { proto == 1 || proto == 58 }

    /// Whether the reply tuple is the original one reversed (no NAT).
    static func replyIsReversed(_ ct: st_ct) -> Bool {
        let o = ct.orig, r = ct.reply
        return withUnsafeBytes(of: o.saddr) { a in withUnsafeBytes(of: r.daddr) { a.elementsEqual($0) } }
            && withUnsafeBytes(of: o.daddr) { a in withUnsafeBytes(of: r.saddr) { a.elementsEqual($0) } }
            // ICMP: the echo id travels unchanged both ways unless NAT remapped it.
            && (isICMP(ct.protonum) ? o.sport == r.sport : (o.sport == r.dport && o.dport == r.sport))
    }

    static func appendTuple(_ t: st_ct_tuple, _ ct: st_ct, to b: inout ByteBuffer) {
        PacketText.appendEndpoints(t.saddr, t.sport, t.daddr, t.dport, ipv6: ct.family == 6, ports: hasPorts(ct.protonum), to: &b)
        if isICMP(ct.protonum) { b.append(" id="); b.appendDecimal(t.sport) }
    }

    static func append(_ ct: st_ct, to b: inout ByteBuffer) {
        if isTemplate(ct) { b.append(" ct=template"); return }
        let (name, reply) = state(ct.ctinfo)
        b.append(" ct="); b.append(name)
        if isUntracked(ct) { return }
        if reply { b.append(",reply") }
        if ct.status & (1 << 4) != 0 { b.append(",snat") }
        if ct.status & (1 << 5) != 0 { b.append(",dnat") }
        if ct.mark != 0 { b.append(" ctmark="); b.appendHex(UInt64(ct.mark)) }
        if ct.zone != 0 { b.append(" zone="); b.appendDecimal(ct.zone) }
        b.append(" orig="); appendTuple(ct.orig, ct, to: &b)
        if !replyIsReversed(ct) { b.append(" reply="); appendTuple(ct.reply, ct, to: &b) }
    }

    static func appendTupleJSON(_ t: st_ct_tuple, _ ct: st_ct, to b: inout ByteBuffer) {
        let v6 = ct.family == 6
        b.append("{\"saddr\":\""); PacketText.appendAddress(t.saddr, ipv6: v6, to: &b)
        b.append("\",\"daddr\":\""); PacketText.appendAddress(t.daddr, ipv6: v6, to: &b); b.append("\"")
        if hasPorts(ct.protonum) {
            b.append(",\"sport\":"); b.appendDecimal(t.sport); b.append(",\"dport\":"); b.appendDecimal(t.dport)
        } else if isICMP(ct.protonum) {
            b.append(",\"icmp_id\":"); b.appendDecimal(t.sport)
            b.append(",\"icmp_type\":"); b.appendDecimal(t.dport >> 8); b.append(",\"icmp_code\":"); b.appendDecimal(t.dport & 0xff)
        }
        b.append("}")
    }

    /// `{"state":"new","direction":"original","status":["confirmed","snat"],"mark":0,"zone":0,
    /// "l4_proto":"tcp","orig":{...},"reply":{...}}`
    static func appendJSON(_ ct: st_ct, to b: inout ByteBuffer) {
        let (name, reply) = state(ct.ctinfo)
        b.append("{\"state\":\""); if isTemplate(ct) { b.append("template") } else { b.append(name) }
        b.append("\",\"direction\":"); b.append(reply ? "\"reply\"" : "\"original\"")
        b.append(",\"status\":[")
        var first = true
        for (bit, statusName) in statusNames where ct.status & bit != 0 {
            if !first { b.append(UInt8(ascii: ",")) }
            first = false
            b.append(UInt8(ascii: "\"")); b.append(statusName); b.append(UInt8(ascii: "\""))
        }
        b.append("],\"mark\":"); b.appendDecimal(ct.mark)
        b.append(",\"zone\":"); b.appendDecimal(ct.zone)
        if isTupleless(ct) {
            b.append(",\"l4_proto\":null,\"orig\":null,\"reply\":null}")
            return
        }
        b.append(",\"l4_proto\":\""); b.append(string: PacketText.l4Name(ct.protonum))
        b.append("\",\"orig\":"); appendTupleJSON(ct.orig, ct, to: &b)
        b.append(",\"reply\":"); appendTupleJSON(ct.reply, ct, to: &b)
        b.append("}")
    }
}
