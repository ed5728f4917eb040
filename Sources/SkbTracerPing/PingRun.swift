import BPFKit
import Foundation
import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSession
import SkbTracerSystem

/// `skbtracer ping DEST`: an L2 mtr. Sends probes with ProbeSender, traces
/// exactly those packets and their replies (by ICMP id or by the probes' source
/// port, followed through NAT), prints each probe's journeys hop by hop, and
/// ends with a ping-like summary, a hop table and the diagnosis.
public final class PingRun {
    public struct Options: Sendable {
        public var destination: IPAddress
        public var proto: PingProtocol = .icmp
        public var fromNetns: String?
        public var count = 3
        public var interval: Double = 1
        /// Seconds to wait for each probe's reply.
        public var timeout: Double = 1
        public var format: OutputFormat = .text
        public var readyFile: String?
        public var verbose = false
        /// `--netfilter`: hook events and nf_tables verdicts, so a probe a rule
        /// dropped names the rule.
        public var netfilter = false
        /// `--color`, decided: drops in colour in the text journeys.
        public var color = false

        public init(destination: IPAddress) { self.destination = destination }
    }

    /// One probe's result and the journeys it caused.
    public struct ProbeResult: Sendable {
        public let seq: UInt16
        public let sentNs: UInt64
        public let reply: ProbeReply?
        public var journeys: [Journey] = []
    }

    public let options: Options
    public private(set) var results: [ProbeResult] = []
    private let sender: ProbeSender
    private let session: TracerSession
    private let sink: OutputSink
    private var pending: [Journey] = []

    public init(options: Options, sink: OutputSink = OutputSink()) throws {
        self.options = options
        self.sink = sink
        sender = try ProbeSender(destination: options.destination, protocol: options.proto, netns: options.fromNetns)
        var t = TracerOptions()
        var f = TraceFilter.Options()
        let v6 = !options.destination.isIPv4
        f.addr = options.destination.description
        switch options.proto {
        case .icmp:
            f.proto = v6 ? "icmp6" : "icmp"
            f.icmpID = sender.icmpID.map { String($0) }
        case .tcp:
            f.proto = "tcp"
            f.port = sender.sourcePort.map { String($0) }
        case .udp:
            f.proto = "udp"
            f.port = sender.sourcePort.map { String($0) }
        }
        do {
            t.filter = try TraceFilter.parse(f)
        } catch {
            sender.close()
            throw error
        }
        t.view = .timeline
        t.track = true
        t.format = options.format
        t.readyFile = options.readyFile
        t.verbose = options.verbose
        t.netfilter = options.netfilter
        t.color = options.color
        t.printHeader = false
        // Journeys end at their free; a probe's are all done well within its timeout.
        t.journeyTimeout = max(options.timeout, 0.5)
        do {
            session = try TracerSession(options: t, sink: sink)
        } catch {
            sender.close()
            throw error
        }
        if let stream = session.consumer as? JourneyStream {
            stream.onJourney = { [unowned self] j in self.pending.append(j) }
        }
    }

    /// The filter the tracer uses, for the banner.
    public var what: String {
        switch options.proto {
        case .icmp: return "\(options.destination.isIPv4 ? "ICMP" : "ICMPv6") echo, id \(sender.icmpID ?? 0)"
        case .tcp(let p): return "TCP SYN to port \(p), from port \(sender.sourcePort ?? 0)"
        case .udp(let p): return "UDP to port \(p), from port \(sender.sourcePort ?? 0)"
        }
    }

    /// Attaches, sends every probe, prints, detaches. Returns the number of probes answered.
    @discardableResult
    public func run() throws -> Int {
        defer { sender.close() }
        do {
            try session.start()
        } catch {
            session.finish()
            throw error
        }
        // Detach on every way out, a failed probe included (finish() is idempotent).
        defer { session.finish() }
        if options.format == .text {
            let from = options.fromNetns.map { " from netns \($0)" } ?? ""
            sink.write { $0.append(string: "skbtracer ping \(self.options.destination)\(from): \(self.what), \(self.options.count) probes\n\n") }
            sink.flush()
        }
        for i in 0..<options.count {
            if StopSignals.requested { break }
            let seq = UInt16(truncatingIfNeeded: i + 1)
            let sent = MonotonicClock.now()
            let reply = try sender.probe(seq: seq, timeout: options.timeout)
            // Let the probe's last frees arrive (the request is freed after the reply is sent).
            settle(seconds: 0.15)
            results.append(ProbeResult(seq: seq, sentNs: sent, reply: reply))
            assignJourneys()
            let last = results[results.count - 1]
            sink.write { self.appendProbeLine(last, into: &$0) }
            sink.flush()
            if i + 1 < options.count {
                let rest = options.interval - Double(MonotonicClock.now() - sent) / 1e9
                if rest > 0 { settle(seconds: rest) }
            }
        }
        settle(seconds: 0.1)
        session.finish()
        assignJourneys()
        sink.write { self.appendSummary(into: &$0) }
        sink.flush()
        return answered.count
    }

    /// Probes that got an answer from the network (a probe the local kernel
    /// refused to send is not answered).
    var answered: [ProbeReply] {
        results.compactMap(\.reply).filter { if case .localError = $0.kind { return false }; return true }
    }

    public var summary: TraceSummary { session.summary }
    public var warnings: [String] { session.warnings }

    private func settle(seconds: Double) {
        let end = MonotonicClock.now() + UInt64(max(0, seconds) * 1e9)
        while !StopSignals.requested {
            // One clock read per round: `end - now` must not underflow.
            let now = MonotonicClock.now()
            guard now < end else { break }
            session.poll(timeoutMs: Int32(max(1, min(50, Double(end - now) / 1e6))))
        }
    }

    /// A journey belongs to the last probe sent before it started.
    private func assignJourneys() {
        for j in pending {
            guard let i = results.lastIndex(where: { $0.sentNs <= j.startNs }) else { continue }
            results[i].journeys.append(j)
        }
        pending.removeAll()
    }

    private func reached(_ r: ProbeResult) -> (request: [Journey], reply: [Journey]) {
        let dest = options.destination
        var request: [Journey] = [], reply: [Journey] = []
        for j in r.journeys.sorted(by: { $0.id < $1.id }) {
            if j.replyTo != nil || j.originalTuple?.saddr == dest { reply.append(j) } else { request.append(j) }
        }
        return (request, reply)
    }

    static func replyText(_ k: ProbeReply.Kind) -> String {
        switch k {
        case .echoReply: return "echo reply"
        case .synAck: return "SYN-ACK (port open)"
        case .reset: return "RST (port closed)"
        case .udpReply: return "UDP reply"
        case .refused: return "ICMP port unreachable"
        case .icmpError(let t, let c): return "ICMP error type \(t) code \(c)"
        case .localError(let e): return "not sent: \(String(cString: strerror(e)))"
        }
    }

    /// Where the probe died, if a journey of it was dropped (real failures only).
    private func death(_ r: ProbeResult) -> (journey: Journey, direction: String)? {
        let (req, rep) = reached(r)
        if let j = req.first(where: { $0.outcome.isFailure }) { return (j, "request") }
        if let j = rep.first(where: { $0.outcome.isFailure }) { return (j, "reply") }
        return nil
    }

    private func appendProbeLine(_ r: ProbeResult, into b: inout ByteBuffer) {
        let names = session.names
        let dead = death(r)
        if options.format == .json {
            b.append("{\"type\":\"ping_probe\",\"seq\":"); b.appendDecimal(r.seq)
            b.append(",\"reply\":")
            if let reply = r.reply { b.appendJSONString(Self.replyText(reply.kind)) } else { b.append("null") }
            b.append(",\"rtt_ns\":"); if let reply = r.reply { b.appendDecimal(reply.rttNs) } else { b.append("null") }
            b.append(",\"journeys\":[")
            b.append(string: r.journeys.map { String($0.id) }.joined(separator: ","))
            b.append("],\"died\":")
            if let (j, dir) = dead, case .dropped(let reason, let location, _) = j.outcome {
                b.append(string: "{\"direction\":\"\(dir)\",\"journey\":\(j.id),\"reason\":"); b.appendJSONString(reason)
                b.append(",\"location\":"); b.appendJSONString(location)
                b.append(",\"netns_name\":"); b.appendJSONString(names.netns.name(j.last.context.netns))
                let x = DropExplanations.explain(reason)
                b.append(",\"explanation\":"); if let x { b.appendJSONString(x.explanation) } else { b.append("null") }
                b.append(",\"hint\":"); if let x { b.appendJSONString(x.hint) } else { b.append("null") }
                b.append(",\"rule\":"); if let v = j.droppingVerdict { b.appendJSONString(NetfilterText.ruleText(v)) } else { b.append("null") }
                b.append("}")
            } else { b.append("null") }
            b.append("}\n")
            return
        }
        let (req, rep) = reached(r)
        if let reply = r.reply {
            b.append(string: "probe \(r.seq): \(Self.replyText(reply.kind))")
            if let who = reply.responder { b.append(string: " from \(who)") }
            b.append(string: " in \(JourneyText.duration(reply.rttNs))\n")
        } else {
            b.append(string: "probe \(r.seq): no reply within \(options.timeout)s\n")
        }
        for j in req { b.append(string: "  request #\(j.id): \(JourneyPath(j, names: names.netns).line(outcome: j.outcome))\n") }
        for j in rep { b.append(string: "  reply   #\(j.id): \(JourneyPath(j, names: names.netns).line(outcome: j.outcome))\n") }
        if let (j, dir) = dead, case .dropped(let reason, let location, _) = j.outcome {
            let hop = JourneyPath(j, names: names.netns).hops.last.map { "\($0.netnsName):\($0.ifname)" } ?? names.netns.name(j.last.context.netns)
            b.append(string: "  the \(dir) died after \(hop): \(reason) at \(location)")
            if let x = DropExplanations.explain(reason) { b.append(string: ": \(x.explanation)\n  hint: \(x.hint)\n") } else { b.append("\n") }
            if let v = j.droppingVerdict { b.append(string: "  dropped by: \(NetfilterText.ruleText(v))\n") }
        } else if r.reply == nil {
            if let last = (rep.last ?? req.last) {
                let hop = JourneyPath(last, names: names.netns).hops.last.map { "\($0.netnsName):\($0.ifname)" } ?? "?"
                b.append(string: "  no drop seen; last seen at \(hop) (\(last.last.probeName))\n")
            } else {
                b.append("  no packet of this probe was seen\n")
            }
        }
    }

    private func appendSummary(into b: inout ByteBuffer) {
        let sent = results.count
        let answered = self.answered
        let rtts = answered.map(\.rttNs)
        let loss = sent == 0 ? 0 : (sent - answered.count) * 100 / sent
        let hops = hopTable()
        if options.format == .json {
            b.append("{\"type\":\"ping_summary\",\"destination\":"); b.appendJSONString(options.destination.description)
            b.append(",\"transmitted\":"); b.appendDecimal(sent)
            b.append(",\"replies\":"); b.appendDecimal(answered.count)
            b.append(",\"loss_percent\":"); b.appendDecimal(loss)
            b.append(",\"rtt_min_ns\":"); if let m = rtts.min() { b.appendDecimal(m) } else { b.append("null") }
            b.append(",\"rtt_avg_ns\":"); if !rtts.isEmpty { b.appendDecimal(rtts.reduce(0, +) / UInt64(rtts.count)) } else { b.append("null") }
            b.append(",\"rtt_max_ns\":"); if let m = rtts.max() { b.appendDecimal(m) } else { b.append("null") }
            b.append(",\"hops\":[")
            for (i, h) in hops.enumerated() {
                if i > 0 { b.append(",") }
                b.append(string: "{\"direction\":\"\(h.direction)\",\"netns_name\":"); b.appendJSONString(h.netns)
                b.append(",\"ifname\":"); b.appendJSONString(h.ifname)
                b.append(",\"seen\":"); b.appendDecimal(h.seen)
                b.append(",\"avg_since_sent_ns\":"); b.appendDecimal(h.avgNs); b.append("}")
            }
            b.append("]}\n")
            return
        }
        b.append(string: "\n--- \(options.destination) skbtracer ping statistics ---\n")
        b.append(string: "\(sent) probes transmitted, \(answered.count) replies, \(loss)% loss")
        if let mn = rtts.min(), let mx = rtts.max() {
            let avg = rtts.reduce(0, +) / UInt64(rtts.count)
            b.append(string: ", rtt min/avg/max = \(JourneyText.duration(mn))/\(JourneyText.duration(avg))/\(JourneyText.duration(mx))")
        }
        b.append("\n")
        guard !hops.isEmpty else { return }
        b.append("\n  HOP  DIRECTION  WHERE                            SEEN   AVG SINCE SENT\n")
        for (i, h) in hops.enumerated() {
            var line = "  \(String(i + 1).padding(toLength: 5, withPad: " ", startingAt: 0))"
            line += h.direction.padding(toLength: 11, withPad: " ", startingAt: 0)
            line += "\(h.netns):\(h.ifname)".padding(toLength: 33, withPad: " ", startingAt: 0)
            line += "\(h.seen)/\(sent)".padding(toLength: 7, withPad: " ", startingAt: 0)
            line += "+" + JourneyText.duration(h.avgNs)
            b.append(string: line + "\n")
        }
    }

    struct HopRow { let direction: String; let netns: String; let ifname: String; var seen: Int; var avgNs: UInt64 }

    /// Per hop (direction, namespace, interface), in path order: how many probes
    /// passed it, and on average how long after the probe was sent.
    func hopTable() -> [HopRow] {
        var rows: [HopRow] = []
        var sums: [String: (index: Int, total: UInt64)] = [:]
        for r in results {
            let (req, rep) = reached(r)
            for (direction, journeys) in [("request", req), ("reply", rep)] {
                var seenHere = Set<String>()
                for j in journeys {
                    for e in j.events where !e.ifname.isEmpty {
                        let ns = session.names.netns.name(e.context.netns)
                        let key = "\(direction)|\(ns)|\(e.ifname)"
                        guard seenHere.insert(key).inserted else { continue }
                        let since = e.header.ts_ns > r.sentNs ? e.header.ts_ns - r.sentNs : 0
                        if let s = sums[key] {
                            rows[s.index].seen += 1
                            sums[key] = (s.index, s.total + since)
                        } else {
                            sums[key] = (rows.count, since)
                            rows.append(HopRow(direction: direction, netns: ns, ifname: e.ifname, seen: 1, avgNs: 0))
                        }
                    }
                }
            }
        }
        for (_, s) in sums { rows[s.index].avgNs = s.total / UInt64(max(rows[s.index].seen, 1)) }
        return rows
    }
}
