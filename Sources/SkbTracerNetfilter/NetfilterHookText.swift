import SkbTracerModel

/// `--list-hooks` output: `nft list hooks`' layout, or one JSON object per entry
/// (docs/json-schema.md, "Netfilter hooks").
public enum NetfilterHookText {
    /// Family blocks, hook blocks (netdev's per device), one line per entry:
    /// its priority, then the chain, BPF program or function it calls.
    public static func text(_ hooks: [NetfilterHook]) -> String {
        var out = ""
        var family: String?
        var hook: (String, String?)?
        for h in hooks {
            if h.family != family {
                if family != nil { out += "\t}\n}\n" }
                out += "family \(h.family) {\n"
                family = h.family
                hook = nil
            }
            if hook.map({ $0 != (h.hook, h.device) }) ?? true {
                if hook != nil { out += "\t}\n" }
                out += "\thook \(h.hook)\(h.device.map { " device \($0)" } ?? "") {\n"
                hook = (h.hook, h.device)
            }
            out += "\t\t\(priority(h.priority)) \(target(h))\n"
        }
        if family != nil { out += "\t}\n}\n" }
        return out
    }

    /// nft's column: a sign and ten digits, a space for zero (`-0000000200`,
    /// ` 0000000000`, `+2147483647`), so the entries line up.
    public static func priority(_ p: Int32) -> String {
        let digits = String(p.magnitude)
        return (p < 0 ? "-" : p > 0 ? "+" : " ") + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    /// What the entry calls: `chain FAMILY TABLE CHAIN [nf_tables]`, `bpf prog ID NAME`,
    /// or `FUNCTION [MODULE]`.
    static func target(_ h: NetfilterHook) -> String {
        if let c = h.chain { return "chain \(c.family) \(c.table) \(c.name) [\(h.module ?? "nf_tables")]" }
        if let id = h.bpfProgID { return "bpf prog \(id)" + (h.bpfProgName.map { " \($0)" } ?? "") }
        return (h.function ?? "?") + (h.module.map { " [\($0)]" } ?? "")
    }

    /// One JSON object per line, every field present (null when absent). `netns` is
    /// the namespace's inode, `netnsName` its name (docs/json-schema.md's words).
    public static func json(_ hooks: [NetfilterHook], netns: UInt32, netnsName: String) -> String {
        var b = ByteBuffer(capacity: 256 * max(1, hooks.count))
        func string(_ key: StaticString, _ value: String?, comma: Bool = true) {
            if comma { b.append(",") }
            b.append("\""); b.append(key); b.append("\":")
            if let value { b.appendJSONString(value) } else { b.append("null") }
        }
        for h in hooks {
            b.append("{\"type\":\"netfilter_hook\",\"netns\":"); b.appendDecimal(netns)
            string("netns_name", netnsName)
            string("family", h.family)
            string("hook", h.hook)
            string("device", h.device)
            b.append(",\"priority\":"); b.appendDecimal(h.priority)
            string("function", h.function)
            string("module", h.module)
            b.append(",\"chain\":")
            if let c = h.chain {
                b.append("{")
                string("family", c.family, comma: false)
                string("table", c.table)
                string("name", c.name)
                b.append("}")
            } else {
                b.append("null")
            }
            b.append(",\"bpf_prog_id\":")
            if let id = h.bpfProgID { b.appendDecimal(id) } else { b.append("null") }
            string("bpf_prog_name", h.bpfProgName)
            b.append("}\n")
        }
        return String(decoding: b.bytes, as: UTF8.self)
    }
}
