import SkbTracerModel

/// How netfilter facts print (`--netfilter`): a hook program's event as
/// `nf=ip FORWARD entered`, an nf_tables verdict as `nf=ip filter FORWARD #7 drop`
/// (in journeys with the rule's text), and in JSON one `netfilter` object for both.
public enum NetfilterText {
    static func append(_ pass: NetfilterHookPass, to b: inout ByteBuffer) {
        b.append(" nf="); b.append(string: pass.familyName)
        b.append(" "); b.append(string: pass.hookName)
        b.append(" "); b.append(string: pass.verb)
    }

    /// ` nf=ip filter FORWARD #7 drop`.
    static func append(_ v: NftVerdict, to b: inout ByteBuffer) {
        b.append(" nf="); b.append(string: v.summary)
    }

    /// A journey's hop: ` nf=ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP`,
    /// ` nf=inet guard input policy: DROP`.
    static func appendHop(_ v: NftVerdict, to b: inout ByteBuffer) {
        b.append(" nf="); b.append(string: ruleText(v))
    }

    /// `ip filter FORWARD rule #7 (-s 10.0.0.1/32 -p icmp -j DROP): DROP`.
    public static func ruleText(_ v: NftVerdict) -> String {
        var s = "\(v.familyName) \(v.table) \(v.chain)"
        switch v.kind {
        case .policy: s += " policy"
        case .returned: s += " end"
        case .rule:
            s += " rule"
            if let h = v.handle { s += " #\(h)" }
            if let rule = v.rule { s += " (\(rule))" }
        }
        return s + ": " + v.verdictName.uppercased()
    }

    static func appendJSON(_ e: TraceEvent, to b: inout ByteBuffer) {
        if let pass = e.netfilterHook {
            b.append("{\"family\":\""); b.append(string: pass.familyName)
            b.append("\",\"hook\":\""); b.append(string: pass.hookName)
            b.append("\",\"at\":\""); b.append(pass.isEntry ? "entry" : "exit")
            b.append("\",\"table\":null,\"chain\":null,\"priority\":null,\"handle\":null,\"rule\":null,\"rule_syntax\":null,")
            b.append("\"verdict\":null,\"policy\":null,\"target\":null}")
        } else if let v = e.nftVerdict {
            b.append("{\"family\":\""); b.append(string: v.familyName); b.append("\",\"hook\":")
            if let h = v.hookName { b.appendJSONString(h) } else { b.append("null") }
            b.append(",\"at\":null,\"table\":"); b.appendJSONString(v.table)
            b.append(",\"chain\":"); b.appendJSONString(v.chain)
            b.append(",\"priority\":"); if let p = v.priority { b.append(string: String(p)) } else { b.append("null") }
            b.append(",\"handle\":"); if let h = v.handle { b.appendDecimal(h) } else { b.append("null") }
            b.append(",\"rule\":"); if let r = v.rule { b.appendJSONString(r) } else { b.append("null") }
            b.append(",\"rule_syntax\":"); b.append(v.rule == nil ? "null" : v.fromIptables ? "\"iptables\"" : "\"nft\"")
            b.append(",\"verdict\":"); b.appendJSONString(v.verdictWord)
            b.append(",\"policy\":"); b.append(v.isPolicy ? "true" : "false")
            b.append(",\"target\":"); if let t = v.target { b.appendJSONString(t) } else { b.append("null") }
            b.append("}")
        } else {
            b.append("null")
        }
    }
}
