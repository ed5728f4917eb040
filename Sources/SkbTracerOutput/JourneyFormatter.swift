import CSkbTracerABI
import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerSystem

/// Renders finished journeys (`--timeline`, `skbtracer ping`) and the exit diagnosis.
public protocol JourneyFormatter {
    /// Printed once at the start of the output: JSON's schema object, nothing in text.
    func start(into b: inout ByteBuffer)
    func journey(_ j: Journey, into b: inout ByteBuffer)
    func diagnosis(_ d: Diagnosis, into b: inout ByteBuffer)
}

public func makeJourneyFormatter(_ format: OutputFormat, context: FormatContext, names: JourneyNames) -> any JourneyFormatter {
    switch format {
    case .text: return JourneyTextFormatter(context: context, names: names)
    case .json: return JourneyJSONFormatter(context: context, names: names)
    }
}

/// Words shared by the text and JSON journey output.
public enum JourneyText {
    /// What a packet that entered a netfilter hook and never left it met there.
    static func hookNeverLeft(_ j: Journey) -> String {
        switch j.outcome {
        case .dropped(let reason, _, _) where reason == "NETFILTER_DROP":
            return "a rule or hook function there dropped it"
        case .dropped(let reason, _, _):
            return "dropped there (\(reason))"
        case .inFlight:
            return "stolen or queued there (NF_STOLEN, NF_QUEUE), or the trace ended first"
        default:
            return "a hook function there took it over (NF_STOLEN)"
        }
    }

    /// `ICMP echo request 10.0.0.1 > 10.0.0.2 id 7 seq 1`, `TCP 10.0.0.1:5000 > 10.0.0.2:80 [SYN]`.
    static func headline(_ e: TraceEvent) -> String {
        let r = e.packet.raw
        guard e.hasL3, let s = e.saddr, let d = e.daddr else {
            return e.packet.raw.l3_proto != 0 ? "L3 \(PacketText.l3Name(e.packet.raw.l3_proto))" : "unknown packet"
        }
        if e.isARP { return "ARP \(e.packet.arpOperation ?? "op \(r.icmp_type)") \(s) > \(d)" }
        if e.isICMP {
            let family = e.isIPv6 ? "ICMPv6" : "ICMP"
            guard e.hasL4 else { return "\(family) \(s) > \(d)" }
            if let echo = e.packet.echo {
                let kind = e.packet.isEchoRequest ? "echo request" : "echo reply"
                return "\(family) \(kind) \(s) > \(d) id \(echo.id) seq \(echo.seq)"
            }
            let name = PacketText.icmpTypeName(r.icmp_type, v6: e.isIPv6) ?? "type \(r.icmp_type)"
            return "\(family) \(name) code \(r.icmp_code) \(s) > \(d)"
        }
        if (e.isTCP || e.isUDP) && e.hasL4 {
            var text = "\(e.isTCP ? "TCP" : "UDP") \(FlowTuple.endpoint(s, r.sport)) > \(FlowTuple.endpoint(d, r.dport))"
            if e.isTCP && !e.tupleFromSocket {
                var flags = ByteBuffer(capacity: 32)
                PacketText.appendTCPFlags(r.tcp_flags, to: &flags)
                text += " [\(String(decoding: flags.bytes, as: UTF8.self))]"
            }
            return text
        }
        return "\(PacketText.l4Name(r.l4_proto)) \(s) > \(d)"
    }

    /// `12.3us`, `1.234ms`, `2.000s`.
    public static func duration(_ ns: UInt64) -> String {
        if ns < 1_000_000 { return "\(ns / 1000).\(ns % 1000 / 100)us" }
        if ns < 1_000_000_000 { return "\(ns / 1_000_000).\(String(ns % 1_000_000 / 1000).leftPadded(3))ms" }
        return "\(ns / 1_000_000_000).\(String(ns % 1_000_000_000 / 1_000_000).leftPadded(3))s"
    }

    static func rewriteText(_ r: (from: FlowTuple, to: FlowTuple, at: TraceEvent), names: NetnsNames) -> String {
        var changes: [String] = []
        if r.from.saddr != r.to.saddr || r.from.sport != r.to.sport {
            changes.append("source \(endpoint(r.from.saddr, r.from.sport, r.from)) -> \(endpoint(r.to.saddr, r.to.sport, r.to))")
        }
        if r.from.daddr != r.to.daddr || r.from.dport != r.to.dport {
            changes.append("destination \(endpoint(r.from.daddr, r.from.dport, r.from)) -> \(endpoint(r.to.daddr, r.to.dport, r.to))")
        }
        if changes.isEmpty { changes.append("\(r.from) -> \(r.to)") }
        return "NAT: \(changes.joined(separator: ", ")) (first seen at \(place(r.at, names: names)))"
    }

    /// `netns:ifname probe` of the event where a change first showed.
    static func place(_ e: TraceEvent, names: NetnsNames) -> String {
        let at = JourneyPath.printable(e.ifname.isEmpty ? names.name(e.context.netns) : "\(names.name(e.context.netns)):\(e.ifname)")
        return "\(at) \(e.probeName)"
    }

    /// `encapsulated in VXLAN (VNI 42): 10.0.0.1:5000 > 10.0.0.2:4789 (first seen at ...)`.
    static func tunnelText(_ c: TupleChange, names: NetnsNames) -> String? {
        let vni = c.vni.map { " (VNI \($0))" } ?? ""
        switch c.kind {
        case .nat: return nil
        case .encapsulation(let tunnel):
            return "encapsulated in \(tunnel)\(vni): \(c.to) (first seen at \(place(c.at, names: names)))"
        case .decapsulation(let tunnel):
            return "decapsulated from \(tunnel)\(vni): \(c.to) (first seen at \(place(c.at, names: names)))"
        }
    }

    static func endpoint(_ a: IPAddress, _ port: UInt16, _ t: FlowTuple) -> String {
        t.l4 == 6 || t.l4 == 17 ? FlowTuple.endpoint(a, port) : "\(a)"
    }
}

extension String {
    public func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// The journey view: a headline, one line per hop with the time since the first
/// event and since the previous one, the path, the namespace picture, NAT
/// rewrites, and how it ended with the drop's explanation and hint.
public struct JourneyTextFormatter: JourneyFormatter {
    public let context: FormatContext
    public let names: JourneyNames

    public init(context: FormatContext, names: JourneyNames) {
        self.context = context
        self.names = names
    }

    public func start(into b: inout ByteBuffer) {}

    public func journey(_ j: Journey, into b: inout ByteBuffer) {
        b.append(string: "#\(j.id) \(JourneyText.headline(j.first))")
        if let r = j.replyTo { b.append(string: " (reply to #\(r))") }
        b.append("  skb ")
        b.appendHex(j.skb)
        b.append(string: ", \(j.events.count) event\(j.events.count == 1 ? "" : "s") in \(JourneyText.duration(j.durationNs))\n")
        var prev = j.startNs
        for e in j.events {
            let ts = e.header.ts_ns
            var s = b.count
            b.append("  +"); b.append(string: JourneyText.duration(ts > j.startNs ? ts - j.startNs : 0)); b.pad(from: s, to: 12); s = b.count
            b.append(" +"); b.append(string: JourneyText.duration(ts > prev ? ts - prev : 0)); b.pad(from: s, to: 12); s = b.count
            prev = max(prev, ts)
            b.append(" "); b.append(string: names.netns.name(e.context.netns)); b.pad(from: s, to: 14); s = b.count
            b.append(" ")
            if !e.ifname.isEmpty { b.appendPrintableCString(e.context.ifname) } else if e.context.ifindex != 0 {
                b.append("if"); b.appendDecimal(e.context.ifindex)
            } else { b.append("-") }
            b.pad(from: s, to: 18); s = b.count
            b.append(" "); b.append(contentsOf: e.probeNameBytes); b.pad(from: s, to: 27)
            b.append(" ")
            TextFormatter.appendPacketInfo(e, to: &b)
            if let reason = e.dropReason {
                if context.color { b.append(TextColor.drop) }
                b.append(" drop="); b.append(string: names.dropReasons.name(reason))
                if e.hasLocation { b.append(" at="); b.append(string: names.symbols.symbolize(e.location)) }
                if context.color { b.append(TextColor.reset) }
            } else if e.hasLocation {
                b.append(" at="); b.append(string: names.symbols.symbolize(e.location))
            }
            if let route = e.route { RouteText.append(e, route, to: &b) }
            if let pass = e.netfilterHook { NetfilterText.append(pass, to: &b) }
            if let v = e.nftVerdict { NetfilterText.appendHop(v, to: &b) }
            if let ct = e.ct { ConntrackText.append(ct, to: &b) }
            b.append(UInt8(ascii: "\n"))
            if let stack = e.stack { TextFormatter.appendStack(stack, symbols: names.symbols, indent: "        ", to: &b) }
        }
        let path = JourneyPath(j, names: names.netns)
        b.append(string: "  path: \(path.line(outcome: j.outcome))\n")
        let picture = path.picture()
        if picture.count == 2, path.hops.count > 1 {
            for line in picture { b.append(string: "    \(line)\n") }
        }
        for c in j.tupleChanges {
            let line = c.isNAT ? JourneyText.rewriteText((c.from, c.to, c.at), names: names.netns)
                               : JourneyText.tunnelText(c, names: names.netns) ?? ""
            b.append(string: "  \(line)\n")
            if c.isNAT, let rule = j.natRule(upTo: c.at) { b.append(string: "    by \(NetfilterText.ruleText(rule))\n") }
        }
        for c in j.copies {
            b.append("  copy (skb "); b.appendHex(c.skb)
            b.append(string: ", \(c.events.count) event\(c.events.count == 1 ? "" : "s")): \(JourneyPath.describe(c.outcome))\n")
        }
        if case .dropped(let reason, let location, let noise) = j.outcome {
            if let noise {
                b.append(string: "  known noise: \(reason) at \(location): \(noise)\n")
            } else if let x = DropExplanations.explain(reason) {
                b.append("  ")
                context.appendColored("dropped: \(reason) at \(location) in \(names.netns.name(j.last.context.netns)): \(x.explanation)",
                                      TextColor.drop, to: &b)
                b.append(string: "  hint: \(x.hint)\n")
            } else {
                b.append("  ")
                context.appendColored("dropped: \(reason) at \(location) in \(names.netns.name(j.last.context.netns))", TextColor.drop, to: &b)
            }
        }
        if let note = j.note { b.append(string: "  note: \(note)\n") }
        if let v = j.droppingVerdict {
            b.append("  "); context.appendColored("dropped by: \(NetfilterText.ruleText(v))", TextColor.drop, to: &b)
        }
        if let pass = j.hookNeverLeft {
            b.append(string: "  netfilter: entered \(pass.familyName) \(pass.hookName) and never left it: \(JourneyText.hookNeverLeft(j))\n")
        }
        b.append(UInt8(ascii: "\n"))
    }

    public func diagnosis(_ d: Diagnosis, into b: inout ByteBuffer) {
        b.append(string: "=== diagnosis: \(d.journeys) packet\(d.journeys == 1 ? "" : "s"), \(d.flows.count) flow\(d.flows.count == 1 ? "" : "s") ===\n")
        for f in d.flows {
            var parts: [String] = []
            for kind in ["delivered", "transmitted", "dropped", "noise", "consumed", "in_flight"] {
                if let n = f.outcomes[kind], n > 0 { parts.append("\(n) \(kind.replacingOccurrences(of: "_", with: " "))") }
            }
            if f.forwarded > 0 { parts.append("\(f.forwarded) forwarded") }
            b.append(string: "  \(f.label): \(f.packets) packet\(f.packets == 1 ? "" : "s"): \(parts.joined(separator: ", "))\n")
        }
        let drops = d.sortedDrops
        if drops.isEmpty {
            b.append("  no drops\n")
        } else {
            b.append("drops:\n")
            for x in drops {
                let ns = names.netns.name(x.key.netns)
                // Known noise is no problem to point at.
                let color = context.color && x.noise == nil
                b.append("  ")
                if color { b.append(TextColor.drop) }
                b.append(string: "\(x.count)x \(x.key.reason) at \(x.key.location) in \(ns)")
                if let rule = x.key.rule { b.append(string: " by \(NetfilterText.ruleText(rule))") }
                if let noise = x.noise { b.append(string: " (known noise: \(noise))") }
                b.append(", e.g. ")
                appendExample(x, into: &b)
                if color { b.append(TextColor.reset) }
                b.append(UInt8(ascii: "\n"))
                if x.noise != nil { continue }
                if let e = DropExplanations.explain(x.key.reason) {
                    b.append(string: "      \(e.explanation)\n      hint: \(e.hint)\n")
                }
            }
        }
    }

    /// `#7` when that journey was printed; else the dropping event as the event view
    /// shows it, `skb 0xffff888104704500 at 12:00:01.123456` (the time as -T, -t... print it).
    private func appendExample(_ x: Diagnosis.DropCounts, into b: inout ByteBuffer) {
        if let id = x.exampleJourney {
            b.append("#"); b.appendDecimal(id)
            return
        }
        b.append("skb "); b.appendHex(x.exampleSkb)
        guard context.timeFormat != .none else { return }
        b.append(" at ")
        TextFormatter.appendTime(x.exampleTsNs, context: context, to: &b)
    }
}

/// `{"type":"journey",...}` per journey and `{"type":"diagnosis",...}` at exit;
/// documented in docs/json-schema.md.
public struct JourneyJSONFormatter: JourneyFormatter {
    public let context: FormatContext
    public let names: JourneyNames
    private let events: JSONFormatter

    public init(context: FormatContext, names: JourneyNames) {
        self.context = context
        self.names = names
        events = JSONFormatter(context: context)
    }

    public func start(into b: inout ByteBuffer) { events.start(into: &b) }

    public func journey(_ j: Journey, into b: inout ByteBuffer) {
        b.append("{\"type\":\"journey\",\"journey\":"); b.appendDecimal(j.id)
        b.append(",\"skb\":\""); b.appendHex(j.skb)
        b.append("\",\"summary\":"); b.appendJSONString(JourneyText.headline(j.first))
        b.append(",\"reply_to\":"); if let r = j.replyTo { b.appendDecimal(r) } else { b.append("null") }
        b.append(",\"start_ns\":"); b.appendDecimal(j.startNs)
        b.append(",\"duration_ns\":"); b.appendDecimal(j.durationNs)
        b.append(",\"forwarded\":"); b.append(j.wasForwarded ? "true" : "false")
        appendOutcome(j, into: &b)
        let path = JourneyPath(j, names: names.netns)
        b.append(",\"path_text\":"); b.appendJSONString(path.line(outcome: j.outcome))
        b.append(",\"path\":[")
        for (i, h) in path.hops.enumerated() {
            if i > 0 { b.append(",") }
            b.append("{\"netns\":"); b.appendDecimal(h.netns)
            b.append(",\"netns_name\":"); b.appendJSONString(h.netnsName)
            b.append(",\"ifname\":"); b.appendJSONString(h.ifname); b.append("}")
        }
        let changes = j.tupleChanges
        b.append("],\"nat\":[")
        for (i, c) in changes.lazy.filter(\.isNAT).enumerated() {
            if i > 0 { b.append(",") }
            b.append("{\"rule\":")
            if let rule = j.natRule(upTo: c.at) { b.appendJSONString(NetfilterText.ruleText(rule)) } else { b.append("null") }
            b.append(",")
            appendChange(c, into: &b)
        }
        b.append("],\"tunnels\":[")
        for (i, c) in changes.lazy.filter({ !$0.isNAT }).enumerated() {
            if i > 0 { b.append(",") }
            switch c.kind {
            case .nat: break
            case .encapsulation(let t): b.append("{\"kind\":\"encapsulation\",\"tunnel\":"); b.appendJSONString(t)
            case .decapsulation(let t): b.append("{\"kind\":\"decapsulation\",\"tunnel\":"); b.appendJSONString(t)
            }
            b.append(",\"vni\":")
            if let vni = c.vni { b.appendDecimal(vni) } else { b.append("null") }
            b.append(",")
            appendChange(c, into: &b)
        }
        b.append("],\"hops\":")
        appendHops(j, into: &b)
        b.append(",\"copies\":[")
        for (i, c) in j.copies.enumerated() {
            if i > 0 { b.append(",") }
            b.append("{\"skb\":\""); b.appendHex(c.skb)
            b.append("\",\"kind\":\""); b.append(string: c.outcome.kind)
            b.append("\",\"path_text\":"); b.appendJSONString(JourneyPath.describe(c.outcome))
            b.append(",\"hops\":"); appendHops(c, into: &b)
            b.append("}")
        }
        b.append("],\"note\":"); appendOptional(j.note, into: &b)
        b.append(",\"dropped_by_rule\":")
        if let v = j.droppingVerdict, let e = j.events.last(where: { $0.nftVerdict == v }) {
            NetfilterText.appendJSON(e, to: &b)
        } else { b.append("null") }
        b.append(",\"netfilter_never_left\":")
        if let pass = j.hookNeverLeft {
            b.append("{\"family\":\""); b.append(string: pass.familyName)
            b.append("\",\"hook\":\""); b.append(string: pass.hookName)
            b.append("\",\"meaning\":"); b.appendJSONString(JourneyText.hookNeverLeft(j)); b.append("}")
        } else { b.append("null") }
        b.append("}\n")
    }

    private func appendHops(_ j: Journey, into b: inout ByteBuffer) {
        b.append("[")
        var prev = j.startNs
        for (i, e) in j.events.enumerated() {
            if i > 0 { b.append(",") }
            let ts = e.header.ts_ns
            b.append("{\"since_start_ns\":"); b.appendDecimal(ts > j.startNs ? ts - j.startNs : 0)
            b.append(",\"since_prev_ns\":"); b.appendDecimal(ts > prev ? ts - prev : 0)
            prev = max(prev, ts)
            b.append(",\"netns_name\":"); b.appendJSONString(names.netns.name(e.context.netns))
            b.append(",")
            events.appendFields(e, into: &b)
            b.append("}")
        }
        b.append("]")
    }

    private func appendOutcome(_ j: Journey, into b: inout ByteBuffer) {
        b.append(",\"outcome\":{\"kind\":\""); b.append(string: j.outcome.kind); b.append("\"")
        var at: String?, reason: String?, location: String?, noise: String?
        switch j.outcome {
        case .delivered(let a), .consumed(let a), .transmitted(let a): at = a
        case .dropped(let r, let l, let n): reason = r; location = l; noise = n; at = JourneyNames.function(of: l)
        case .inFlight: break
        }
        let explained = reason.flatMap { DropExplanations.explain($0) }
        b.append(",\"at\":"); appendOptional(at, into: &b)
        b.append(",\"reason\":"); appendOptional(reason, into: &b)
        b.append(",\"location\":"); appendOptional(location, into: &b)
        b.append(",\"netns\":"); if reason != nil { b.appendDecimal(j.last.context.netns) } else { b.append("null") }
        b.append(",\"explanation\":"); appendOptional(explained?.explanation, into: &b)
        b.append(",\"hint\":"); appendOptional(explained?.hint, into: &b)
        b.append(",\"noise\":"); appendOptional(noise, into: &b)
        b.append("}")
    }

    /// A tuple change's tuples and where it first showed, and the closing brace.
    private func appendChange(_ c: TupleChange, into b: inout ByteBuffer) {
        b.append("\"from\":"); appendTuple(c.from, into: &b)
        b.append(",\"to\":"); appendTuple(c.to, into: &b)
        b.append(",\"netns\":"); b.appendDecimal(c.at.context.netns)
        b.append(",\"ifname\":"); b.appendJSONString(c.at.ifname)
        b.append(",\"probe\":"); b.appendJSONString(c.at.probeName); b.append("}")
    }

    private func appendOptional(_ s: String?, into b: inout ByteBuffer) {
        if let s { b.appendJSONString(s) } else { b.append("null") }
    }

    private func appendTuple(_ t: FlowTuple, into b: inout ByteBuffer) {
        b.append("{\"l4_proto\":"); b.appendJSONString(t.protocolName)
        b.append(",\"saddr\":"); b.appendJSONString(t.saddr.description)
        b.append(",\"daddr\":"); b.appendJSONString(t.daddr.description)
        b.append(",\"sport\":"); b.appendDecimal(t.sport)
        b.append(",\"dport\":"); b.appendDecimal(t.dport); b.append("}")
    }

    public func diagnosis(_ d: Diagnosis, into b: inout ByteBuffer) {
        b.append("{\"type\":\"diagnosis\",\"packets\":"); b.appendDecimal(d.journeys)
        b.append(",\"flows\":[")
        for (i, f) in d.flows.enumerated() {
            if i > 0 { b.append(",") }
            b.append("{\"flow\":"); b.appendJSONString(f.label)
            b.append(",\"packets\":"); b.appendDecimal(f.packets)
            b.append(",\"forwarded\":"); b.appendDecimal(f.forwarded)
            for kind in ["delivered", "transmitted", "dropped", "noise", "consumed", "in_flight"] {
                b.append(",\""); b.append(string: kind); b.append("\":"); b.appendDecimal(f.outcomes[kind] ?? 0)
            }
            b.append("}")
        }
        b.append("],\"drops\":[")
        for (i, x) in d.sortedDrops.enumerated() {
            if i > 0 { b.append(",") }
            let explained = DropExplanations.explain(x.key.reason)
            b.append("{\"reason\":"); b.appendJSONString(x.key.reason)
            b.append(",\"location\":"); b.appendJSONString(x.key.location)
            b.append(",\"netns\":"); b.appendDecimal(x.key.netns)
            b.append(",\"netns_name\":"); b.appendJSONString(names.netns.name(x.key.netns))
            b.append(",\"count\":"); b.appendDecimal(x.count)
            b.append(",\"example_journey\":"); if let id = x.exampleJourney { b.appendDecimal(id) } else { b.append("null") }
            b.append(",\"example_skb\":\""); b.appendHex(x.exampleSkb)
            b.append("\",\"example_ts_ns\":"); b.appendDecimal(x.exampleTsNs)
            b.append(",\"explanation\":"); appendOptional(explained?.explanation, into: &b)
            b.append(",\"hint\":"); appendOptional(explained?.hint, into: &b)
            b.append(",\"noise\":"); appendOptional(x.noise, into: &b)
            b.append(",\"rule\":"); appendOptional(x.key.rule.map(NetfilterText.ruleText), into: &b)
            b.append("}")
        }
        b.append("]}\n")
    }
}
