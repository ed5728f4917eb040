import CSkbTracerABI
import SkbTracerModel

/// How a route lookup's result prints (`--route`): `route=main via 10.0.0.1 dev eth0`,
/// `route=main dev eth0`, `route=main EAGAIN (no matching route in this table)`.
enum RouteText {
    /// The names `ip route` uses for the reserved tables.
    static func tableName(_ id: UInt32) -> String {
        switch id {
        case 253: return "default"
        case 254: return "main"
        case 255: return "local"
        default: return String(id)
        }
    }

    /// The lookup's error by its errno name; nil for success.
    static func errorName(_ err: Int32) -> String? {
        switch err {
        case 0: return nil
        case -101: return "ENETUNREACH"  // no route
        case -113: return "EHOSTUNREACH" // an unreachable route
        case -13: return "EACCES"        // a prohibit route
        case -22: return "EINVAL"        // a blackhole route
        case -11: return "EAGAIN"        // no route matches in this table (the next rule's table is tried)
        default: return "err\(err)"
        }
    }

    /// What the error means, for the JSON `route.result`.
    static func result(_ err: Int32) -> String {
        switch err {
        case 0: return "found"
        case -101: return "no route"
        case -113: return "unreachable route"
        case -13: return "prohibit route"
        case -22: return "blackhole route"
        case -11: return "no matching route in this table"
        default: return "error"
        }
    }

    /// Whether the kernel named a device ("-" or "" when the lookup found none).
    static func hasDevice(_ r: st_route) -> Bool {
        withUnsafeBytes(of: r.dev) { raw in raw[0] != 0 && !(raw[0] == UInt8(ascii: "-") && raw[1] == 0) }
    }

    static func appendGateway(_ r: st_route, to b: inout ByteBuffer) {
        PacketText.appendAddress(r.gateway, ipv6: r.gw_family == 6, to: &b)
    }

    static func isIPv6(_ e: TraceEvent) -> Bool { e.probeID == UInt16(ST_PROBE_FIB6_TABLE_LOOKUP.rawValue) }

    /// Whether the addresses looked up are the event's (not after DNAT or de-SNAT).
    static func lookedUpOwnAddresses(_ e: TraceEvent, _ r: st_route) -> Bool {
        withUnsafeBytes(of: e.packet.raw.saddr) { a in withUnsafeBytes(of: r.saddr) { a.elementsEqual($0) } }
            && withUnsafeBytes(of: e.packet.raw.daddr) { a in withUnsafeBytes(of: r.daddr) { a.elementsEqual($0) } }
    }

    /// ` route=TABLE via GW dev DEV`, or ` route=TABLE ERRNO (what it means)`; a
    /// packet's lookup for other addresses than its own adds ` lookup=SADDR->DADDR`.
    static func append(_ e: TraceEvent, _ r: st_route, to b: inout ByteBuffer) {
        if !lookedUpOwnAddresses(e, r) {
            let v6 = isIPv6(e)
            b.append(" lookup="); PacketText.appendAddress(r.saddr, ipv6: v6, to: &b)
            b.append("->"); PacketText.appendAddress(r.daddr, ipv6: v6, to: &b)
        }
        b.append(" route="); b.append(string: tableName(r.table))
        if let error = errorName(r.err) {
            b.append(UInt8(ascii: " ")); b.append(string: error)
            b.append(" ("); b.append(string: result(r.err)); b.append(UInt8(ascii: ")"))
            return
        }
        if r.gw_family != 0 { b.append(" via "); appendGateway(r, to: &b) }
        if hasDevice(r) { b.append(" dev "); b.appendPrintableCString(r.dev) }
    }

    /// `{"table":254,"table_name":"main","result":"found","error":null,"gateway":"10.0.0.1","dev":"eth0",
    /// "saddr":"10.0.0.2","daddr":"10.1.0.2","iif":2,"oif":0}`
    static func appendJSON(_ e: TraceEvent, _ r: st_route, to b: inout ByteBuffer) {
        let v6 = isIPv6(e)
        b.append("{\"table\":"); b.appendDecimal(r.table)
        b.append(",\"table_name\":"); b.appendJSONString(tableName(r.table))
        b.append(",\"result\":"); b.appendJSONString(result(r.err))
        b.append(",\"error\":")
        if let error = errorName(r.err) { b.appendJSONString(error) } else { b.append("null") }
        b.append(",\"gateway\":")
        if r.gw_family != 0 { b.append("\""); appendGateway(r, to: &b); b.append("\"") } else { b.append("null") }
        b.append(",\"dev\":")
        if hasDevice(r) { b.appendJSONCString(r.dev) } else { b.append("null") }
        b.append(",\"saddr\":\""); PacketText.appendAddress(r.saddr, ipv6: v6, to: &b)
        b.append("\",\"daddr\":\""); PacketText.appendAddress(r.daddr, ipv6: v6, to: &b)
        b.append("\",\"iif\":"); b.appendDecimal(r.iif)
        b.append(",\"oif\":"); b.appendDecimal(r.oif)
        b.append("}")
    }
}
