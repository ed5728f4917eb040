import CSkbTracerABI
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
@testable import SkbTracerSystem
import Testing

/// Events without a device name get one from their input interface index, in their namespace.
@Suite struct InterfaceNamesTests {
    static func event(netns: UInt32, ifindex: UInt32, ts: UInt64 = 1_000, name: String = "") -> TraceEvent {
        var e = Fixtures.base(ST_PROBE_CONSUME_SKB)
        e.netns = netns
        e.ifindex = ifindex
        e.ts_ns = ts
        Fixtures.set(&e.ifname, string: name)
        return e.event
    }

    @Test func namesAnIndexInTheEventsNamespace() {
        var asked: [String] = []
        let netns = NetnsNames(names: [7: "lab-c2"], hostInode: 1, directory: "/run/netns")
        let names = InterfaceNames(netns: netns) { path, index in
            asked.append("\(path)#\(index)")
            return index == 2 ? Array((path.isEmpty ? "host-eth" : "eth0").utf8) : nil
        }
        var inLab = Self.event(netns: 7, ifindex: 2)
        names.fill(&inLab)
        #expect(inLab.ifname == "eth0")
        var onHost = Self.event(netns: 1, ifindex: 2)
        names.fill(&onHost)
        #expect(onHost.ifname == "host-eth")
        #expect(asked == ["/run/netns/lab-c2#2", "#2"])

        // Unknown index, unknown namespace, a name already there, no index: left alone.
        var unknownIndex = Self.event(netns: 7, ifindex: 9)
        names.fill(&unknownIndex)
        #expect(unknownIndex.ifname == "")
        var unknownNetns = Self.event(netns: 8, ifindex: 2)
        names.fill(&unknownNetns)
        #expect(unknownNetns.ifname == "")
        var named = Self.event(netns: 7, ifindex: 2, name: "veth9")
        names.fill(&named)
        #expect(named.ifname == "veth9")
        var none = Self.event(netns: 7, ifindex: 0)
        names.fill(&none)
        #expect(none.ifname == "")
        #expect(asked.count == 3, "\(asked)")

        // Remembered for a second of trace time, then asked again.
        var again = Self.event(netns: 7, ifindex: 2, ts: 900_000_000)
        names.fill(&again)
        #expect(asked.count == 3)
        var later = Self.event(netns: 7, ifindex: 2, ts: 2_000_000_000)
        names.fill(&later)
        #expect(asked.count == 4 && later.ifname == "eth0")
    }
}
