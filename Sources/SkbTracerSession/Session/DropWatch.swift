import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput

/// `--drop`: a dropwatch-style view. Only drops are traced; every interval it
/// prints how many new drops each (reason, location, namespace) had, and at the
/// end the totals with explanations and hints.
public final class DropWatch: TraceConsumer {
    /// `rule`: with `--netfilter`, the nf_tables rule whose drop verdict came
    /// just before the drop, so each rule is counted apart.
    struct Key: Hashable { let reason: String; let location: String; let netns: UInt32; var rule: String? = nil }
    struct Counts {
        var total: UInt64 = 0
        var new: UInt64 = 0
        let noise: String?
        /// The kernel stack of the first drop here (`--dropstack`).
        var stack: [String]?
    }

    private let sink: OutputSink
    private let json: Bool
    private let names: JourneyNames
    private let context: FormatContext
    private let intervalNs: UInt64
    private var counts: [Key: Counts] = [:]
    private var order: [Key] = []
    private var lastPrintNs: UInt64 = 0
    private var lastTs: UInt64 = 0
    /// Drop verdicts waiting for their skb's drop (bounded).
    private var dropVerdicts: [UInt64: NftVerdict] = [:]
    public private(set) var emitted: UInt64 = 0
    /// Distinct keys kept at most; beyond, drops are summed under one "other" row.
    let maxKeys = 4096

    init(sink: OutputSink, json: Bool, names: JourneyNames, context: FormatContext, intervalNs: UInt64) {
        self.sink = sink
        self.json = json
        self.names = names
        self.context = context
        self.intervalNs = intervalNs
    }

    public func begin() {
        sink.write { b in
            makeFormatter(json ? .json : .text, context: context).start(into: &b)
            if !json { b.append("Watching drops (kfree_skb); counts every interval, totals at exit.\n") }
        }
    }

    public func consume(_ e: TraceEvent) {
        if let v = e.nftVerdict, v.isDrop, e.header.skb != 0 {
            if dropVerdicts.count >= 4096 { dropVerdicts.removeAll() }
            dropVerdicts[e.header.skb] = v
        }
        guard e.isDrop else { return }
        let reason = names.dropReasons.name(e.dropReason ?? 0)
        let location = names.location(e)
        let rule = dropVerdicts.removeValue(forKey: e.header.skb).map(NetfilterText.ruleText)
        var key = Key(reason: reason, location: location, netns: e.context.netns, rule: rule)
        if counts[key] == nil && counts.count >= maxKeys { key = Key(reason: "other", location: "?", netns: 0) }
        if counts[key] == nil {
            counts[key] = Counts(noise: DropExplanations.noise(reason: reason, function: JourneyNames.function(of: location), event: e))
            order.append(key)
        }
        if counts[key]!.stack == nil, let stack = e.stack {
            counts[key]!.stack = StackFrames.symbolize(stack, symbols: names.symbols)
        }
        counts[key]!.total += 1
        counts[key]!.new += 1
        lastTs = e.header.ts_ns
        emitted += 1
    }

    public func lost(count: UInt64, cpu: UInt32) {
        let formatter = makeFormatter(json ? .json : .text, context: context)
        sink.write { formatter.lost(count: count, cpu: cpu, into: &$0) }
    }

    public func tick(nowNs: UInt64, settledNs: UInt64) {
        if lastPrintNs == 0 { lastPrintNs = nowNs }
        // A replayed file's times can be anything: never subtract backwards.
        guard nowNs >= lastPrintNs, nowNs - lastPrintNs >= intervalNs else { return }
        lastPrintNs = nowNs
        printCounts()
    }

    /// The counts that changed since the last print.
    private func printCounts() {
        let fresh = order.filter { counts[$0]!.new > 0 }
        guard !fresh.isEmpty else { return }
        sink.write { b in
            if json {
                b.append("{\"type\":\"drop_counts\",\"time\":\"")
                context.appendISO8601(lastTs, to: &b)
                b.append("\",\"counts\":[")
                for (i, k) in fresh.enumerated() {
                    if i > 0 { b.append(",") }
                    appendJSON(k, into: &b)
                }
                b.append("]}\n")
            } else {
                context.clock.appendWallClock(lastTs, to: &b)
                b.append("\n")
                for k in fresh {
                    let c = counts[k]!
                    b.append(string: "  \(String(c.new).leftPadded(6, with: " ")) \(k.reason) at \(k.location) in \(names.netns.name(k.netns)) (total \(c.total))")
                    if let rule = k.rule { b.append(string: " by \(rule)") }
                    if c.noise != nil { b.append(" [known noise]") }
                    b.append("\n")
                }
            }
        }
        for k in fresh { counts[k]!.new = 0 }
    }

    public func end() {
        printCounts()
        let sorted = order.sorted { counts[$0]!.total > counts[$1]!.total }
        sink.write { b in
            if json {
                b.append("{\"type\":\"drop_summary\",\"counts\":[")
                for (i, k) in sorted.enumerated() {
                    if i > 0 { b.append(",") }
                    appendJSON(k, into: &b)
                }
                b.append("]}\n")
                return
            }
            b.append("=== drops by reason and location ===\n")
            if sorted.isEmpty { b.append("  no drops\n") }
            for k in sorted {
                let c = counts[k]!
                b.append(string: "  \(String(c.total).leftPadded(6, with: " ")) \(k.reason) at \(k.location) in \(names.netns.name(k.netns))")
                b.append(string: k.rule.map { " by \($0)\n" } ?? "\n")
                if let noise = c.noise {
                    b.append(string: "         known noise: \(noise)\n")
                } else if let x = DropExplanations.explain(k.reason) {
                    b.append(string: "         \(x.explanation)\n         hint: \(x.hint)\n")
                }
                for frame in c.stack ?? [] { b.append(string: "           at \(frame)\n") }
            }
        }
    }

    private func appendJSON(_ k: Key, into b: inout ByteBuffer) {
        let c = counts[k]!
        let x = DropExplanations.explain(k.reason)
        b.append("{\"reason\":"); b.appendJSONString(k.reason)
        b.append(",\"location\":"); b.appendJSONString(k.location)
        b.append(",\"netns\":"); b.appendDecimal(k.netns)
        b.append(",\"netns_name\":"); b.appendJSONString(names.netns.name(k.netns))
        b.append(",\"new\":"); b.appendDecimal(c.new)
        b.append(",\"total\":"); b.appendDecimal(c.total)
        b.append(",\"explanation\":"); if let x { b.appendJSONString(x.explanation) } else { b.append("null") }
        b.append(",\"hint\":"); if let x { b.appendJSONString(x.hint) } else { b.append("null") }
        b.append(",\"noise\":"); if let n = c.noise { b.appendJSONString(n) } else { b.append("null") }
        b.append(",\"rule\":"); if let r = k.rule { b.appendJSONString(r) } else { b.append("null") }
        b.append(",\"stack\":")
        if let stack = c.stack {
            b.append("[")
            for (i, f) in stack.enumerated() {
                if i > 0 { b.append(",") }
                b.appendJSONString(f)
            }
            b.append("]")
        } else { b.append("null") }
        b.append("}")
    }
}
