import CSkbTracerABI
import Foundation
import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerOutput
@testable import SkbTracerSession
@testable import SkbTracerSystem
import Testing

@Suite("Function probes: choosing functions, naming their events")
struct FunctionProbeTests {
    static func fn(_ name: String, _ position: Int, _ module: String? = nil) -> KernelFunction {
        KernelFunction(name: name, position: position, module: module)
    }

    @Test("available_filter_functions: module suffixes dropped, names listed twice set apart")
    func traceableList() {
        let text = "ip_rcv\nveth_xmit [veth]\nlocal_fn\nlocal_fn [bridge]\n\n__pfx_x\n"
        let (unique, ambiguous) = FunctionProbes.parseTraceable(Data(text.utf8))
        #expect(unique == ["ip_rcv", "veth_xmit", "__pfx_x"])
        #expect(ambiguous == ["local_fn"])
    }

    @Test("a name defined twice is kept once, or dropped when its sk_buff moves")
    func duplicatesInBTF() {
        let list = [Self.fn("a", 1), Self.fn("a", 1, "m"), Self.fn("b", 1), Self.fn("b", 2, "m"), Self.fn("c", 3)]
        #expect(FunctionProbes.deduplicated(list).map(\.name) == ["a", "c"])
    }

    @Test("the tracing machinery's own functions are not probed")
    func machinery() {
        #expect(FunctionProbes.isMachinery("__traceiter_consume_skb") && FunctionProbes.isMachinery("__probestub_kfree_skb"))
        #expect(FunctionProbes.isMachinery("perf_trace_net_dev_xmit") && !FunctionProbes.isMachinery("ip_rcv"))
    }

    @Test("--filter-func narrows functions; untraceable ones are counted, not probed")
    func selection() throws {
        let candidates = [Self.fn("ip_rcv", 1), Self.fn("ip_output", 3), Self.fn("inlined_away", 1), Self.fn("tcp_v4_rcv", 1)]
        let traceable = (unique: Set(["ip_rcv", "ip_output", "tcp_v4_rcv"]), ambiguous: Set<String>())
        let all = try FunctionProbes.select(candidates, traceable: traceable, pattern: nil)
        #expect(all.chosen.map(\.name) == ["ip_rcv", "ip_output", "tcp_v4_rcv"] && all.untraceable == 1)
        let ip = try FunctionProbes.select(candidates, traceable: traceable, pattern: "^ip_")
        #expect(ip.chosen.map(\.name) == ["ip_rcv", "ip_output"])
        // No list (tracefs unreadable): every candidate is tried.
        #expect(try FunctionProbes.select(candidates, traceable: nil, pattern: nil).chosen.count == 4)
        #expect(throws: UsageError.self) { try FunctionProbes.select(candidates, traceable: nil, pattern: "(") }
    }

    @Test("each backend has one program per sk_buff position, as bpf/functions.bpf.c names them")
    func programNames() {
        #expect(FunctionBackend.kprobeMulti.program(position: 3)?.rawValue == "kprobe_multi_skb_3")
        #expect(FunctionBackend.kprobe.program(position: 1)?.rawValue == "kprobe_skb_1")
        #expect(FunctionBackend.kprobe.program(position: FunctionProbes.maxPosition + 1) == nil)
    }

    @Test("a function event is named by the function its address falls in, past an ENDBR or not")
    func functionNames() {
        let symbols = KernelSymbols(symbols: [(0xffff_ffff_8100_0000, "ip_rcv"), (0xffff_ffff_8100_0400, "ip_rcv_finish")])
        #expect(symbols.functionName(0xffff_ffff_8100_0000) == "ip_rcv")
        #expect(symbols.functionName(0xffff_ffff_8100_0004) == "ip_rcv")
        #expect(symbols.functionName(0xffff_ffff_8100_0404) == "ip_rcv_finish")
        #expect(symbols.functionName(0x1234) == "function-0x1234")
    }

    static func functionEvent(at address: UInt64) -> TraceEvent {
        var raw = Fixtures.icmpEchoRequest()
        raw.probe = UInt16(ST_PROBE_FUNCTION)
        raw.location = address
        var e = TraceEvent(raw: raw)
        e.function = FuzzEvents.symbols[2].1
        return e
    }

    @Test("text and JSON show the function's name; JSON marks it a function")
    func formatting() {
        let e = Self.functionEvent(at: FuzzEvents.symbols[2].0 + 4)
        let context = FormatContext(dropReasons: DropReasons(names: [:]), symbols: KernelSymbols(symbols: FuzzEvents.symbols))
        let text = FuzzRun.render { makeFormatter(.text, context: context).event(e, into: &$0) }
        let json = FuzzRun.render { makeFormatter(.json, context: context).event(e, into: &$0) }
        let name = FuzzEvents.symbols[2].1
        #expect(String(decoding: text, as: UTF8.self).contains(".host:\(name) "))
        #expect(String(decoding: json, as: UTF8.self).contains("\"probe\":\"\(name)\",\"function\":true,"))
        #expect(e.probeName == name && e.isFunction)
    }

    @Test("a recording names its function events by their symbols, and replays them by name")
    func recordAndReplay() throws {
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        var e = Self.functionEvent(at: FuzzEvents.symbols[2].0 + 4)
        e.function = nil // set by the replay from the recorded symbol
        try RecordTests.record([e], to: path)
        let text = try RecordTests.replay(path)
        #expect(String(decoding: text.out, as: UTF8.self).contains(".host:\(FuzzEvents.symbols[2].1) "))
        #expect(text.summary.unknownProbes == 0)
        let json = try RecordTests.replay(path) { $0.format = .json }
        #expect(String(decoding: json.out, as: UTF8.self).contains("\"function\":true"))
    }

    @Test("--output-caller: the caller section decodes, and text, JSON and a replay name the caller")
    func caller() throws {
        var e = Self.functionEvent(at: FuzzEvents.symbols[2].0 + 4)
        e.caller = FuzzEvents.symbols[1].0 + 0x1c
        let decoded = try Fixtures.decode(EventRecord.bytes(e))
        #expect(decoded.caller == e.caller)
        let context = FormatContext(dropReasons: DropReasons(names: [:]), symbols: KernelSymbols(symbols: FuzzEvents.symbols))
        let where_ = "\(FuzzEvents.symbols[1].1)+0x1c"
        let text = String(decoding: FuzzRun.render { makeFormatter(.text, context: context).event(decoded, into: &$0) }, as: UTF8.self)
        let json = String(decoding: FuzzRun.render { makeFormatter(.json, context: context).event(decoded, into: &$0) }, as: UTF8.self)
        #expect(text.contains(" caller=\(where_)"), "\(text)")
        #expect(json.contains("\"caller\":\"\(where_)\""), "\(json)")
        // Without the section: no caller, and JSON says null.
        let plain = String(decoding: FuzzRun.render { makeFormatter(.json, context: context).event(Self.functionEvent(at: e.location), into: &$0) },
                           as: UTF8.self)
        #expect(plain.contains("\"caller\":null"))
        // A recording names the caller too (its symbol record), so a replay elsewhere does.
        let path = RecordTests.tempPath()
        defer { unlink(path) }
        _ = try RecordTests.record([e], to: path)
        let replayed = try RecordTests.replay(path)
        #expect(String(decoding: replayed.out, as: UTF8.self).contains(" caller=\(where_)"))
    }

    /// A function event of `name` on `skb` at `ts`.
    static func call(_ name: String, skb: UInt64, ts: UInt64) -> TraceEvent {
        var e = JourneyTests.hop(Fixtures.udp(), ST_PROBE_NET_DEV_QUEUE, ns: JourneyTests.nsC2, ifname: "eth0", ts: ts, skb: skb)
        e.header.probe = UInt16(ST_PROBE_FUNCTION)
        e.function = name
        e.location = 0xffff_ffff_8100_0000
        return e
    }

    @Test("with functions on, a journey ends at the free functions, also where no free tracepoint fires; after one, they join nothing")
    func journeysEndAtFreeFunctions() {
        let tracker = JourneyTracker(names: JourneyTests.names())
        let udp: UInt64 = 0xffff_8881_0000_b000
        // A datagram copied to its reader: skb_consume_udp frees it without a tracepoint.
        #expect(tracker.add(Self.call("udp_queue_rcv_skb", skb: udp, ts: 1_000)).isEmpty)
        #expect(tracker.add(Self.call("skb_consume_udp", skb: udp, ts: 2_000)).isEmpty)
        let ended = tracker.add(Self.call("kfree_skbmem", skb: udp, ts: 3_000))
        #expect(ended.count == 1 && ended.first?.events.count == 3)
        #expect(ended.first.map { $0.outcome != JourneyOutcome.inFlight } == true, "\(String(describing: ended.first?.outcome))")
        #expect(tracker.openCount == 0)
        // A consume_skb tracepoint ends a journey; the __kfree_skb and kfree_skbmem
        // that follow it are its teardown, not a new packet.
        let tcp: UInt64 = 0xffff_8881_0000_c000
        #expect(tracker.add(Self.call("tcp_v4_rcv", skb: tcp, ts: 10_000)).isEmpty)
        var consume = JourneyTests.free(Fixtures.udp(), consume: true, at: JourneyTests.icmpRcv, ns: JourneyTests.nsC2, ts: 11_000, skb: tcp)
        consume.function = nil
        #expect(tracker.add(consume).count == 1)
        #expect(tracker.add(Self.call("__kfree_skb", skb: tcp, ts: 12_000)).isEmpty)
        #expect(tracker.add(Self.call("kfree_skbmem", skb: tcp, ts: 13_000)).isEmpty)
        #expect(tracker.openCount == 0 && tracker.teardownEvents == 2)
        // Within the teardown's time, a function that is no part of a free is a new
        // packet in the reused memory (a TCP segment's skb back from the fclone cache).
        #expect(tracker.add(Self.call("__tcp_transmit_skb", skb: tcp, ts: 14_000)).isEmpty)
        #expect(tracker.openCount == 1 && tracker.teardownEvents == 2)
        #expect(TraceEvent.freeFunctions.allSatisfy(FunctionGroup.life.functions.contains))
    }

    @Test("losses of function probes are reported as one line item")
    func losses() {
        var loss = st_loss()
        loss.functions = 7
        loss.total = 7
        let lines = TracerSession.lossesByProbe([loss, loss])
        #expect(lines.count == 1 && lines[0].probe == "functions" && lines[0].lost == 14)
        loss.nf_hooks = 2
        let both = TracerSession.lossesByProbe([loss])
        #expect(both.map(\.probe) == ["functions", "netfilter hooks"] && both.map(\.lost) == [7, 2])
    }
}
