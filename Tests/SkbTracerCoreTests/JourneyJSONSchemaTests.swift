import CSkbTracerABI
import Foundation
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
import Testing

/// The key sets of the journey, diagnosis, --drop and ping JSON records, as
/// docs/json-schema.md lists them. The one place these sets are written down
/// in the tests: the schema tests below check the formatters' output against
/// them, and `docTablesListExactlyTheseKeys` checks the doc's tables.
enum JSONSchemaKeys {
    static let journey: Set<String> = [
        "type", "journey", "skb", "summary", "reply_to", "start_ns", "duration_ns", "forwarded", "outcome",
        "path_text", "path", "nat", "tunnels", "hops", "copies", "note", "dropped_by_rule", "netfilter_never_left",
    ]
    static let tunnelEntry: Set<String> = ["kind", "tunnel", "vni", "from", "to", "netns", "ifname", "probe"]
    static let copyEntry: Set<String> = ["skb", "kind", "path_text", "hops"]
    static let outcome: Set<String> = ["kind", "at", "reason", "location", "netns", "explanation", "hint", "noise"]
    static let pathEntry: Set<String> = ["netns", "netns_name", "ifname"]
    static let natEntry: Set<String> = ["rule", "from", "to", "netns", "ifname", "probe"]
    static let natTuple: Set<String> = ["l4_proto", "saddr", "daddr", "sport", "dport"]
    /// A hop's own fields; a hop also has every event field but `type`.
    static let hopOwn: Set<String> = ["since_start_ns", "since_prev_ns", "netns_name"]
    static var hop: Set<String> { JSONFormatterTests.eventKeys.subtracting(["type"]).union(hopOwn) }

    static let diagnosis: Set<String> = ["type", "packets", "flows", "drops"]
    static let outcomeKinds = ["delivered", "transmitted", "dropped", "noise", "consumed", "in_flight"]
    static let flow: Set<String> = Set(["flow", "packets", "forwarded"] + outcomeKinds)
    static let diagnosisDrop: Set<String> = [
        "reason", "location", "netns", "netns_name", "count", "example_journey", "example_skb", "example_ts_ns", "explanation", "hint", "noise",
        "rule",
    ]

    static let dropCounts: Set<String> = ["type", "time", "counts"]
    static let dropSummary: Set<String> = ["type", "counts"]
    static let dropEntry: Set<String> = [
        "reason", "location", "netns", "netns_name", "new", "total", "explanation", "hint", "noise", "rule", "stack",
    ]

    /// PingRun needs sockets and BPF: these are checked against the doc only.
    static let pingProbe: Set<String> = ["type", "seq", "reply", "rtt_ns", "journeys", "died"]
    static let pingDied: Set<String> = ["direction", "journey", "reason", "location", "netns_name", "explanation", "hint", "rule"]
    static let pingSummary: Set<String> = [
        "type", "destination", "transmitted", "replies", "loss_percent", "rtt_min_ns", "rtt_avg_ns", "rtt_max_ns", "hops",
    ]
    static let pingHop: Set<String> = ["direction", "netns_name", "ifname", "seen", "avg_since_sent_ns"]

    static let lost: Set<String> = ["type", "cpu", "count"]

    /// docs/json-schema.md heading -> the keys its (first) table lists.
    static var docTables: [(heading: String, keys: Set<String>)] {
        [
            ("## `\"type\": \"event\"`: one probe hit by one packet", JSONFormatterTests.eventKeys),
            ("## `\"type\": \"lost\"`: events that could not be recorded", lost),
            ("## `\"type\": \"journey\"`: one packet's life", journey),
            ("### Journey `outcome`", outcome),
            ("### Journey `path` entries", pathEntry),
            ("### Journey `nat` entries", natEntry),
            ("### NAT tuples (`from`, `to`)", natTuple),
            ("### Journey `hops` entries", hopOwn),
            ("### Journey `copies` entries", copyEntry),
            ("### Journey `tunnels` entries", tunnelEntry),
            ("## `\"type\": \"diagnosis\"`: the exit report", diagnosis),
            ("### Diagnosis `flows` entries", flow),
            ("### Diagnosis `drops` entries", diagnosisDrop),
            ("## `\"type\": \"drop_counts\"`: new drops in the last interval", dropCounts),
            ("## `\"type\": \"drop_summary\"`: all drops at exit", dropSummary),
            ("### Drop `counts` entries", dropEntry),
            ("## `\"type\": \"ping_probe\"`: one probe", pingProbe),
            ("### Ping `died`", pingDied),
            ("## `\"type\": \"ping_summary\"`: the end of `skbtracer ping`", pingSummary),
            ("### Ping summary `hops` entries", pingHop),
        ]
    }
}

/// Object keys in the order written, duplicates kept: JSONSerialization keeps
/// one value per key and would hide a key written twice.
enum RawJSONKeys {
    /// Every object's key list, nested objects included.
    static func objects(in text: String) -> [[String]] {
        var result: [[String]] = []
        var stack: [(isObject: Bool, keys: [String], expectKey: Bool)] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"): stack.append((true, [], true))
            case UInt8(ascii: "["): stack.append((false, [], false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if let top = stack.popLast(), top.isObject { result.append(top.keys) }
            case UInt8(ascii: ","):
                if !stack.isEmpty, stack[stack.count - 1].isObject { stack[stack.count - 1].expectKey = true }
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < bytes.count, bytes[j] != UInt8(ascii: "\"") { j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1 }
                if !stack.isEmpty, stack[stack.count - 1].isObject, stack[stack.count - 1].expectKey {
                    stack[stack.count - 1].keys.append(String(decoding: bytes[(i + 1)..<j], as: UTF8.self))
                    stack[stack.count - 1].expectKey = false
                }
                i = j
            default: break
            }
            i += 1
        }
        return result
    }

    static func duplicates(in text: String) -> [String] {
        objects(in: text).flatMap { keys in
            Dictionary(grouping: keys, by: { $0 }).filter { $0.value.count > 1 }.map(\.key)
        }
    }
}

/// The records of the journey features (`--timeline`, `--diag`, `--drop`) have
/// exactly the keys docs/json-schema.md lists, with null where it says so.
@Suite("Journey JSON schema")
struct JourneyJSONSchemaTests {
    typealias J = JourneyTests
    typealias K = JSONSchemaKeys

    static let hostKfree: UInt64 = 0xffff_ffff_81f0_0000

    /// One journey of every outcome kind, a NAT rewrite, reply links, an
    /// unexplained reason, a recorded stack and a packet without IP.
    static func journeys() -> [Journey] {
        // r 10.0.0.1:40000 -> VIP 10.0.0.2:8080, DNATed to 198.18.10.3:80 and transmitted;
        // its SYN-ACK is linked to it and dropped (NO_SOCKET: explained, not noise).
        let (syn, natted, synack) = J.dnatHandshake()

        // An echo reply freed by ping_rcv whose raw-socket copy was read: known noise.
        let reply = J.echo(type: 0, from: Fixtures.v4_198_18_10_3, to: Fixtures.v4_198_18_10_2)

        // A drop with a reason this kernel table does not explain, with a stack.
        var unexplained = J.free(Fixtures.udp(), consume: false, at: Fixtures.ipRcv + 0x20, reason: 1234,
                                 ns: J.nsHost, ts: 9_000_000, skb: 0xe)
        unexplained.stack = [Fixtures.tcpV4Rcv + 0x10, Fixtures.ipRcv + 0x20]

        let events: [TraceEvent] = J.requestEvents()   // #1 delivered, forwarded
            + [
                J.hop(reply, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC2, ifname: "eth0", ts: 1_040_000, skb: 0xb),
                J.hop(reply, ST_PROBE_NETIF_RECEIVE_SKB, ns: J.nsC1, ifname: "eth0", ts: 1_050_000, skb: 0xb, tracked: true),
                J.free(reply, consume: false, at: J.pingRcv + 0xab, reason: 2, ns: J.nsC1, ts: 1_060_000, skb: 0xb),
                J.hop(reply, ST_PROBE_SKB_COPY_DATAGRAM_IOVEC, ns: J.nsC1, ifname: "", ts: 1_070_000, skb: 0xb2),
                J.free(reply, consume: true, at: JourneyCopyTests.rawRecvmsg + 0xb1, ns: J.nsC1, ts: 1_080_000, skb: 0xb2),
                J.hop(syn, ST_PROBE_NETIF_RECEIVE_SKB, ns: J.nsHost, ifname: "hr", ts: 2_000_000, skb: 0xc),
                J.hop(natted, ST_PROBE_NET_DEV_QUEUE, ns: J.nsHost, ifname: "h2", ts: 2_000_100, skb: 0xc, tracked: true),
                J.free(natted, consume: true, at: J.devKfree + 4, ns: J.nsHost, ts: 2_000_200, skb: 0xc),
                J.hop(synack, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC2, ifname: "eth0", ts: 2_000_300, skb: 0xd),
                J.free(synack, consume: false, at: Fixtures.tcpV4Rcv + 0x10, reason: 2, ns: J.nsHost, ts: 2_000_400, skb: 0xd),
                unexplained,
                // Freed with no receive or transmit event before it: consumed.
                J.free(Fixtures.udp(), consume: true, at: hostKfree, ns: J.nsHost, ts: 9_100_000, skb: 0xf),
                // Never freed: in flight at the end.
                J.hop(Fixtures.arpRequest(), ST_PROBE_NETIF_RECEIVE_SKB, ns: J.nsHost, ifname: "veth1", ts: 9_200_000, skb: 0x10),
            ]
        return J.feed(JourneyTracker(names: names()), events)
    }

    static func names() -> JourneyNames {
        let n = J.names()
        return JourneyNames(dropReasons: n.dropReasons,
                            symbols: KernelSymbols(symbols: [(Fixtures.tcpV4Rcv, "tcp_v4_rcv"), (Fixtures.ipRcv, "ip_rcv"),
                                                             (J.icmpRcv, "icmp_rcv"), (J.pingRcv, "ping_rcv"),
                                                             (J.devKfree, "__dev_kfree_skb_any"), (hostKfree, "skb_release_head"),
                                                             (JourneyCopyTests.rawRecvmsg, "raw_recvmsg")]),
                            netns: n.netns)
    }

    static var formatter: JourneyJSONFormatter { JourneyJSONFormatter(context: Fixtures.context(), names: names()) }

    static func render(_ j: Journey) -> String {
        var b = ByteBuffer()
        formatter.journey(j, into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    static func renderDiagnosis(_ journeys: [Journey]) -> String {
        let d = Diagnosis()
        for j in journeys { d.add(j) }
        var b = ByteBuffer()
        formatter.diagnosis(d, into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    static func objects(_ o: [String: Any], _ key: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        try #require(o[key] as? [[String: Any]], "\(key) is not an array of objects", sourceLocation: sourceLocation)
    }

    static func journey(_ journeys: [Journey], kind: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let j = try #require(journeys.first { $0.outcome.kind == kind }, "no \(kind) journey", sourceLocation: sourceLocation)
        return try JSONFormatterTests.object(render(j), sourceLocation: sourceLocation)
    }

    @Test func theFixturesCoverEveryOutcomeKind() {
        let kinds = Set(Self.journeys().map(\.outcome.kind))
        #expect(kinds == Set(K.outcomeKinds))
    }

    @Test func everyJourneyHasExactlyTheDocumentedKeys() throws {
        let journeys = Self.journeys()
        var natEntries = 0, pathEntries = 0, copyEntries = 0
        for j in journeys {
            let line = Self.render(j)
            let o = try JSONFormatterTests.object(line)
            #expect(Set(o.keys) == K.journey, "#\(j.id)")
            #expect(o["type"] as? String == "journey")
            #expect(RawJSONKeys.duplicates(in: line).isEmpty, "#\(j.id): \(RawJSONKeys.duplicates(in: line))")
            let outcome = try #require(o["outcome"] as? [String: Any])
            #expect(Set(outcome.keys) == K.outcome, "#\(j.id)")
            for p in try Self.objects(o, "path") {
                #expect(Set(p.keys) == K.pathEntry, "#\(j.id)")
                pathEntries += 1
            }
            for n in try Self.objects(o, "nat") {
                #expect(Set(n.keys) == K.natEntry, "#\(j.id)")
                for side in ["from", "to"] {
                    let t = try #require(n[side] as? [String: Any])
                    #expect(Set(t.keys) == K.natTuple, "#\(j.id) \(side)")
                }
                natEntries += 1
            }
            let hops = try Self.objects(o, "hops")
            #expect(hops.count == j.events.count)
            for h in hops {
                #expect(Set(h.keys) == K.hop, "#\(j.id): \(Set(h.keys).symmetricDifference(K.hop))")
            }
            let copies = try Self.objects(o, "copies")
            #expect(copies.count == j.copies.count)
            for c in copies {
                #expect(Set(c.keys) == K.copyEntry, "#\(j.id)")
                for h in try Self.objects(c, "hops") { #expect(Set(h.keys) == K.hop, "#\(j.id) copy") }
                copyEntries += 1
            }
        }
        #expect(natEntries == 1)
        #expect(pathEntries > 0, "the fixtures exercise path entries")
        #expect(copyEntries == 1, "the fixtures exercise copy entries")
    }

    @Test func hopsCarryTheEventFieldsAndTheirTimes() throws {
        let o = try Self.journey(Self.journeys(), kind: "delivered")
        let hops = try Self.objects(o, "hops")
        #expect(hops.map { $0["since_start_ns"] as? Int } == [0, 2_000, 5_000, 9_000, 20_000])
        #expect(hops.map { $0["since_prev_ns"] as? Int } == [0, 2_000, 3_000, 4_000, 11_000])
        #expect(hops.map { $0["netns_name"] as? String } == ["c1", "host", "host", "c2", "c2"])
        #expect(hops.map { $0["tracked"] as? Bool } == [false, true, true, true, true])
        #expect(hops.allSatisfy { $0["type"] == nil }, "hops have no type")
        #expect(hops.allSatisfy { $0["stack"] is NSNull })
    }

    @Test func outcomeNullsFollowTheKind() throws {
        let journeys = Self.journeys()
        let nullUnlessDropped = ["reason", "location", "netns", "explanation", "hint", "noise"]

        for kind in ["delivered", "transmitted", "consumed"] {
            let outcome = try #require(try Self.journey(journeys, kind: kind)["outcome"] as? [String: Any])
            #expect(outcome["kind"] as? String == kind)
            #expect(outcome["at"] is String, "\(kind)")
            for k in nullUnlessDropped { #expect(outcome[k] is NSNull, "\(kind): \(k)") }
        }
        let delivered = try #require(try Self.journey(journeys, kind: "delivered")["outcome"] as? [String: Any])
        #expect(delivered["at"] as? String == "icmp_rcv")
        let transmitted = try #require(try Self.journey(journeys, kind: "transmitted")["outcome"] as? [String: Any])
        #expect(transmitted["at"] as? String == "__dev_kfree_skb_any")
        let consumed = try #require(try Self.journey(journeys, kind: "consumed")["outcome"] as? [String: Any])
        #expect(consumed["at"] as? String == "skb_release_head")

        let inFlight = try #require(try Self.journey(journeys, kind: "in_flight")["outcome"] as? [String: Any])
        for k in ["at"] + nullUnlessDropped { #expect(inFlight[k] is NSNull, "in_flight: \(k)") }

        // The SYN-ACK: a real, explained drop.
        let dropped = try #require(journeys.first { $0.outcome.kind == "dropped" && $0.replyTo != nil })
        let d = try #require(try JSONFormatterTests.object(Self.render(dropped))["outcome"] as? [String: Any])
        #expect(d["at"] as? String == "tcp_v4_rcv")
        #expect(d["reason"] as? String == "NO_SOCKET")
        #expect(d["location"] as? String == "tcp_v4_rcv+0x10")
        #expect((d["netns"] as? NSNumber)?.uint32Value == J.nsHost)
        #expect(d["explanation"] is String && d["hint"] is String)
        #expect(d["noise"] is NSNull)

        // A reason without an entry: no explanation, no hint.
        let unexplained = try #require(journeys.first { $0.outcome == .dropped(reason: "REASON_1234", location: "ip_rcv+0x20", noise: nil) })
        let u = try #require(try JSONFormatterTests.object(Self.render(unexplained))["outcome"] as? [String: Any])
        #expect(u["reason"] as? String == "REASON_1234")
        #expect(u["explanation"] is NSNull && u["hint"] is NSNull && u["noise"] is NSNull)

        // Known noise: still explained, plus the note.
        let noise = try #require(try Self.journey(journeys, kind: "noise")["outcome"] as? [String: Any])
        #expect(noise["reason"] as? String == "NO_SOCKET")
        #expect(noise["at"] as? String == "ping_rcv")
        #expect(noise["explanation"] is String && noise["hint"] is String && noise["noise"] is String)
    }

    @Test func replyLinksNatAndForwarding() throws {
        let journeys = Self.journeys()
        let request = try Self.journey(journeys, kind: "delivered")
        #expect(request["reply_to"] is NSNull)
        #expect(request["forwarded"] as? Bool == true)
        #expect(try Self.objects(request, "nat").isEmpty)
        let noise = try Self.journey(journeys, kind: "noise")
        #expect((noise["reply_to"] as? NSNumber)?.intValue == request["journey"] as? Int)

        let syn = try Self.journey(journeys, kind: "transmitted")
        #expect(syn["summary"] as? String == "TCP 10.0.0.1:40000 > 10.0.0.2:8080 [SYN]")
        let nat = try #require(try Self.objects(syn, "nat").first)
        let from = try #require(nat["from"] as? [String: Any]), to = try #require(nat["to"] as? [String: Any])
        #expect(from["daddr"] as? String == "10.0.0.2" && from["dport"] as? Int == 8080)
        #expect(to["daddr"] as? String == "198.18.10.3" && to["dport"] as? Int == 80)
        #expect(to["l4_proto"] as? String == "tcp")
        #expect(nat["ifname"] as? String == "h2" && nat["probe"] as? String == "net_dev_queue")
        let synack = try #require(journeys.first { $0.outcome.kind == "dropped" && $0.replyTo != nil })
        #expect(synack.replyTo == syn["journey"] as? Int)

        // ARP: no IP, empty nat; a path all the same.
        let arp = try Self.journey(journeys, kind: "in_flight")
        #expect(arp["summary"] as? String == "ARP request 10.0.0.1 > 10.0.0.2")
        #expect(try Self.objects(arp, "nat").isEmpty)
        #expect(try Self.objects(arp, "path").map { $0["ifname"] as? String } == ["veth1"])
    }

    @Test func stackIsAnArrayOfSymbolizedFrames() throws {
        let journeys = Self.journeys()
        let j = try #require(journeys.first { $0.outcome == .dropped(reason: "REASON_1234", location: "ip_rcv+0x20", noise: nil) })
        let hop = try #require(try Self.objects(try JSONFormatterTests.object(Self.render(j)), "hops").first)
        #expect(hop["stack"] as? [String] == ["tcp_v4_rcv+0x10", "ip_rcv+0x20"])
        #expect(hop["drop_explanation"] is NSNull && hop["drop_hint"] is NSNull && hop["drop_noise"] is NSNull)
        // No consume or socket-level event has an interface here: an empty path.
        #expect(try Self.objects(try JSONFormatterTests.object(Self.render(j)), "path").isEmpty)
    }

    @Test func diagnosisHasExactlyTheDocumentedKeys() throws {
        let journeys = Self.journeys()
        let line = Self.renderDiagnosis(journeys)
        let o = try JSONFormatterTests.object(line)
        #expect(Set(o.keys) == K.diagnosis)
        #expect(o["type"] as? String == "diagnosis")
        #expect(o["packets"] as? Int == journeys.count)
        #expect(RawJSONKeys.duplicates(in: line).isEmpty, "\(RawJSONKeys.duplicates(in: line))")
        let flows = try Self.objects(o, "flows")
        #expect(!flows.isEmpty)
        for f in flows { #expect(Set(f.keys) == K.flow, "\(f["flow"] ?? "?")") }
        #expect(flows.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) } == journeys.count)
        for f in flows {
            let byKind = K.outcomeKinds.reduce(0) { $0 + (f[$1] as? Int ?? -1) }
            #expect(byKind == f["packets"] as? Int, "outcome counters add up: \(f)")
        }
        #expect(flows.map { $0["flow"] as? String }.contains("arp"))
        #expect(flows.map { $0["flow"] as? String }.contains("tcp 10.0.0.1:40000 > 10.0.0.2:8080"), "the tuple before NAT")

        let drops = try Self.objects(o, "drops")
        #expect(drops.count == 3)
        for d in drops { #expect(Set(d.keys) == K.diagnosisDrop, "\(d["reason"] ?? "?")") }
        // Real failures first, known noise last.
        #expect(drops.map { $0["noise"] is NSNull } == [true, true, false])
        let unexplained = try #require(drops.first { $0["reason"] as? String == "REASON_1234" })
        #expect(unexplained["explanation"] is NSNull && unexplained["hint"] is NSNull)
        #expect(unexplained["netns_name"] as? String == "host")
    }

    @Test func emptyDiagnosisKeepsItsArrays() throws {
        let o = try JSONFormatterTests.object(Self.renderDiagnosis([]))
        #expect(Set(o.keys) == K.diagnosis)
        #expect(o["packets"] as? Int == 0)
        #expect(try Self.objects(o, "flows").isEmpty && Self.objects(o, "drops").isEmpty)
    }

    // MARK: --drop

    static func dropEvent(reason: UInt32, at location: UInt64, ns: UInt32, ts: UInt64, base: FlatEvent = Fixtures.udp()) -> TraceEvent {
        J.free(base, consume: false, at: location, reason: reason, ns: ns, ts: ts)
    }

    /// Feeds DropWatch through a file and returns the lines it wrote.
    static func dropWatchLines(_ steps: (DropWatch) -> Void) throws -> [String] {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("skbtracer-dropwatch-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).json").path
        defer { unlink(path) }
        do {
            let sink = try OutputSink(path: path)
            let watch = DropWatch(sink: sink, json: true, names: names(), context: Fixtures.context(), intervalNs: 1_000)
            watch.begin()
            steps(watch)
            watch.end()
            sink.flush()
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        #expect(text.hasPrefix(JSONSchema.line), "the schema object first")
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().dropLast().map { String($0) + "\n" }
    }

    @Test func dropCountsAndSummaryHaveExactlyTheDocumentedKeys() throws {
        let reply = J.echo(type: 0, from: Fixtures.v4_198_18_10_3, to: Fixtures.v4_198_18_10_2)
        let lines = try Self.dropWatchLines { w in
            w.tick(nowNs: 1)
            w.consume(Self.dropEvent(reason: 2, at: Fixtures.tcpV4Rcv + 0x10, ns: J.nsC2, ts: 10))
            w.consume(Self.dropEvent(reason: 2, at: Fixtures.tcpV4Rcv + 0x10, ns: J.nsC2, ts: 20))
            var withStack = Self.dropEvent(reason: 1234, at: Fixtures.ipRcv + 0x20, ns: J.nsHost, ts: 30)
            withStack.stack = [Fixtures.tcpV4Rcv + 0x10, Fixtures.ipRcv + 0x20]   // --dropstack
            w.consume(withStack)
            w.consume(TraceEvent(raw: Fixtures.udp()))   // not a drop: ignored
            w.tick(nowNs: 2_000)
            w.consume(Self.dropEvent(reason: 2, at: Fixtures.tcpV4Rcv + 0x10, ns: J.nsC2, ts: 2_500))
            w.tick(nowNs: 2_500)   // within the interval: nothing written
            w.tick(nowNs: 3_500)
            w.tick(nowNs: 5_000)   // no new drops: nothing written
            w.consume(Self.dropEvent(reason: 2, at: J.pingRcv + 0xab, ns: J.nsC1, ts: 6_000, base: reply))
        }
        #expect(lines.count == 4, "\(lines)")
        let objects = try lines.map { try JSONFormatterTests.object($0) }
        for (line, o) in zip(lines, objects) {
            #expect(RawJSONKeys.duplicates(in: line).isEmpty, "\(line)")
            let entries = try Self.objects(o, "counts")
            for e in entries { #expect(Set(e.keys) == K.dropEntry, "\(e)") }
        }
        let counts = objects.dropLast(), summary = objects[objects.count - 1]
        for o in counts {
            #expect(Set(o.keys) == K.dropCounts)
            #expect(o["type"] as? String == "drop_counts")
        }
        #expect(Set(summary.keys) == K.dropSummary)
        #expect(summary["type"] as? String == "drop_summary")

        // Only the keys with new drops, with their totals; time of the latest drop.
        let first = try Self.objects(objects[0], "counts")
        #expect(first.map { $0["reason"] as? String } == ["NO_SOCKET", "REASON_1234"])
        #expect(first.map { $0["new"] as? Int } == [2, 1] && first.map { $0["total"] as? Int } == [2, 1])
        #expect(objects[0]["time"] as? String == "2023-11-14T22:13:15.000000Z")
        let second = try Self.objects(objects[1], "counts")
        #expect(second.map { $0["new"] as? Int } == [1] && second.map { $0["total"] as? Int } == [3])
        // The last drop_counts at exit, then the summary, most drops first.
        let last = try Self.objects(objects[2], "counts")
        #expect(last.map { $0["location"] as? String } == ["ping_rcv+0xab"])
        let all = try Self.objects(summary, "counts")
        #expect(all.count == 3)
        #expect(all.first?["total"] as? Int == 3)
        #expect(all.allSatisfy { $0["new"] as? Int == 0 })

        // Nulls: explanation and hint only for explained reasons, noise only for noise.
        let explained = try #require(all.first { $0["location"] as? String == "tcp_v4_rcv+0x10" })
        #expect(explained["explanation"] is String && explained["hint"] is String && explained["noise"] is NSNull)
        #expect(explained["netns_name"] as? String == "c2")
        #expect((explained["netns"] as? NSNumber)?.uint32Value == J.nsC2)
        let unexplained = try #require(all.first { $0["reason"] as? String == "REASON_1234" })
        #expect(unexplained["explanation"] is NSNull && unexplained["hint"] is NSNull && unexplained["noise"] is NSNull)
        #expect(unexplained["stack"] as? [String] == ["tcp_v4_rcv+0x10", "ip_rcv+0x20"], "the stack of the key's first drop")
        #expect(explained["stack"] is NSNull, "no stack recorded")
        let noise = try #require(all.first { $0["location"] as? String == "ping_rcv+0xab" })
        #expect(noise["explanation"] is String && noise["noise"] is String)
    }

    @Test func dropSummaryWithoutDrops() throws {
        let lines = try Self.dropWatchLines { w in w.tick(nowNs: 1); w.tick(nowNs: 5_000) }
        #expect(lines == ["{\"type\":\"drop_summary\",\"counts\":[]}\n"])
    }

    // MARK: The doc

    static func docText() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/json-schema.md")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The backquoted names in the first column of the first table after `heading`.
    static func docTableKeys(_ doc: String, heading: String) -> Set<String>? {
        let lines = doc.components(separatedBy: "\n")
        guard let h = lines.firstIndex(of: heading) else { return nil }
        guard let start = lines[(h + 1)...].firstIndex(where: { $0.hasPrefix("|") }) else { return nil }
        var keys: Set<String> = []
        for line in lines[(start + 2)...] {   // past the header and the |---| row
            guard line.hasPrefix("|") else { break }
            let cell = line.split(separator: "|", omittingEmptySubsequences: false)[1]
            let parts = cell.split(separator: "`", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() where i % 2 == 1 { keys.insert(String(p)) }
        }
        return keys
    }

    @Test func docTablesListExactlyTheseKeys() throws {
        let doc = try Self.docText()
        for (heading, keys) in K.docTables {
            let listed = try #require(Self.docTableKeys(doc, heading: heading), "no table under \(heading)")
            #expect(listed == keys, "\(heading): only in the doc \(listed.subtracting(keys)), only in the code \(keys.subtracting(listed))")
        }
    }

    /// Every example line in the doc parses, and records of a known type have
    /// exactly its keys (examples are real output, cut only in `hops`).
    @Test func docExamplesHaveTheDocumentedKeys() throws {
        let doc = try Self.docText()
        var inJSON = false, checked: [String: Int] = [:]
        for line in doc.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inJSON = line == "```json"; continue }
            guard inJSON, line.hasPrefix("{") else { continue }
            let o = try JSONFormatterTests.object(line + "\n")
            #expect(RawJSONKeys.duplicates(in: line).isEmpty, "\(line.prefix(60))")
            let type = try #require(o["type"] as? String)
            checked[type, default: 0] += 1
            switch type {
            case "event": #expect(Set(o.keys) == JSONFormatterTests.eventKeys)
            case "journey":
                #expect(Set(o.keys) == K.journey)
                #expect(Set(try #require(o["outcome"] as? [String: Any]).keys) == K.outcome)
                for p in try Self.objects(o, "path") { #expect(Set(p.keys) == K.pathEntry) }
                for n in try Self.objects(o, "nat") { #expect(Set(n.keys) == K.natEntry) }
                for h in try Self.objects(o, "hops") { #expect(Set(h.keys) == K.hop) }
            case "diagnosis":
                #expect(Set(o.keys) == K.diagnosis)
                for f in try Self.objects(o, "flows") { #expect(Set(f.keys) == K.flow) }
                for d in try Self.objects(o, "drops") { #expect(Set(d.keys) == K.diagnosisDrop) }
            case "drop_counts", "drop_summary":
                #expect(Set(o.keys) == (type == "drop_counts" ? K.dropCounts : K.dropSummary))
                for e in try Self.objects(o, "counts") { #expect(Set(e.keys) == K.dropEntry) }
            case "ping_probe":
                #expect(Set(o.keys) == K.pingProbe)
                if let died = o["died"] as? [String: Any] { #expect(Set(died.keys) == K.pingDied) }
            case "ping_summary":
                #expect(Set(o.keys) == K.pingSummary)
                for h in try Self.objects(o, "hops") { #expect(Set(h.keys) == K.pingHop) }
            default: break
            }
        }
        for type in ["event", "journey", "diagnosis", "drop_counts", "drop_summary", "ping_probe", "ping_summary"] {
            #expect(checked[type, default: 0] > 0, "no \(type) example in the doc")
        }
    }
}
