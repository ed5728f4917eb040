import SkbTracerModel

/// How netfilter facts print (`--netfilter`): a hook program's event as
/// `nf=ip FORWARD entered`, and in JSON a `netfilter` object.
enum NetfilterText {
    static func append(_ pass: NetfilterHookPass, to b: inout ByteBuffer) {
        b.append(" nf="); b.append(string: pass.familyName)
        b.append(" "); b.append(string: pass.hookName)
        b.append(" "); b.append(string: pass.verb)
    }

    /// `{"family":"ip","hook":"FORWARD","at":"entry"}`.
    static func appendJSON(_ pass: NetfilterHookPass, to b: inout ByteBuffer) {
        b.append("{\"family\":\""); b.append(string: pass.familyName)
        b.append("\",\"hook\":\""); b.append(string: pass.hookName)
        b.append("\",\"at\":\""); b.append(pass.isEntry ? "entry" : "exit")
        b.append("\"}")
    }
}
