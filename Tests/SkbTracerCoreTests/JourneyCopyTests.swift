import CSkbTracerABI
@testable import SkbTracerAnalysis
@testable import SkbTracerModel
import Testing

/// Copies (clones) folded into their packet's journey, the evidence an echo
/// reply's noise needs, and journeys handed out in the order they started.
@Suite struct JourneyCopyTests {
    typealias J = JourneyTests
    static let neighSend: UInt64 = 0xffff_ffff_8170_0000
    static let rawRecvmsg: UInt64 = 0xffff_ffff_8180_0000
    static let packetRecvmsg: UInt64 = 0xffff_ffff_8160_0000

    static func names() -> JourneyNames {
        let n = J.names()
        return JourneyNames(dropReasons: n.dropReasons,
                            symbols: KernelSymbols(symbols: [(J.icmpRcv, "icmp_rcv"), (J.pingRcv, "ping_rcv"),
                                                             (neighSend, "__neigh_event_send"), (rawRecvmsg, "raw_recvmsg"),
                                                             (packetRecvmsg, "packet_recvmsg")]),
                            netns: n.netns)
    }

    static let reply = J.echo(type: 0, from: Fixtures.v4_198_18_10_3, to: Fixtures.v4_198_18_10_2)

    /// The reply from c2, freed in c1 by ping_rcv (no ICMP socket), at `t0`.
    static func replyEvents(t0: UInt64, skb: UInt64 = 0xb000) -> [TraceEvent] {
        [J.hop(reply, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC2, ifname: "eth0", ts: t0 - 10_000, skb: skb),
         J.free(reply, consume: false, at: J.pingRcv + 0xab, reason: 2, ns: J.nsC1, ts: t0, skb: skb)]
    }

    /// A raw socket's copy of the reply, read at `t0`.
    static func rawCopy(t0: UInt64, skb: UInt64 = 0xb100) -> [TraceEvent] {
        [J.hop(reply, ST_PROBE_SKB_COPY_DATAGRAM_IOVEC, ns: J.nsC1, ifname: "", ts: t0, skb: skb),
         J.free(reply, consume: true, at: rawRecvmsg + 0xb1, ns: J.nsC1, ts: t0 + 2_000, skb: skb)]
    }

    @Test func aReadCopyMakesTheUnclaimedReplyNoiseAndIsNoJourneyOfItsOwn() {
        let tracker = JourneyTracker(names: Self.names())
        var out: [Journey] = []
        for e in J.requestEvents() + Self.replyEvents(t0: 1_030_000) { out += tracker.add(e) }
        #expect(out.map(\.id) == [1], "the reply waits for its copy")
        for e in Self.rawCopy(t0: 1_040_000) { out += tracker.add(e) }
        #expect(out.map(\.id) == [1, 2])
        let reply = out[1]
        #expect(reply.replyTo == 1)
        #expect(reply.outcome.kind == "noise")
        #expect(reply.copies.map(\.skb) == [0xb100])
        #expect(reply.copies.first.map { if case .delivered = $0.outcome { true } else { false } } == true)
        #expect(reply.note == nil)
        #expect(tracker.flush().isEmpty)
        #expect(tracker.started == 2, "the copy took no number")
    }

    @Test func anUnreadReplyIsADropOnceTheCopyWindowPassed() {
        let tracker = JourneyTracker(names: Self.names())
        var out: [Journey] = []
        for e in J.requestEvents() + Self.replyEvents(t0: 1_030_000) { out += tracker.add(e) }
        out += tracker.expire(nowNs: 1_030_000 + JourneyTracker.copyWindowNs / 2)
        #expect(out.map(\.id) == [1], "still inside the window")
        out += tracker.expire(nowNs: 1_030_000 + JourneyTracker.copyWindowNs + 1)
        #expect(out.map(\.id) == [1, 2])
        #expect(out[1].outcome.isFailure, "\(out[1].outcome)")
        #expect(out[1].note == DropExplanations.echoReplyUnread)
    }

    @Test func anUnreadReplyIsADropAtTheEndOfTheTrace() {
        let tracker = JourneyTracker(names: Self.names())
        let out = J.feed(tracker, J.requestEvents() + Self.replyEvents(t0: 1_030_000))
        #expect(out.map(\.id) == [1, 2])
        #expect(out[1].outcome.isFailure)
        #expect(out[1].note != nil)
    }

    @Test func theSolicitationCopyBeforeItsPacketJoinsIt() {
        // A local packet waits for ARP: its clone is freed after carrying the
        // solicitation, before the packet itself leaves.
        let tracker = JourneyTracker(names: Self.names())
        let request = J.requestEvents(t0: 1_000_000)
        let clone = J.free(request[0].raw, consume: true, at: Self.neighSend + 0x230, ns: J.nsC1, ts: 900_000, skb: 0xa100)
        let journeys = J.feed(tracker, [clone] + request + Self.replyEvents(t0: 1_030_000) + Self.rawCopy(t0: 1_040_000))
        #expect(journeys.map(\.id) == [1, 2], "one request, one reply")
        #expect(journeys[0].copies.map(\.skb) == [0xa100])
        #expect(journeys[0].outcome == .delivered(at: "icmp_rcv"))
        #expect(journeys[1].replyTo == 1, "the reply answers the request, not its clone")
    }

    @Test func aSolicitationCopyWithoutItsPacketIsAJourneyAfterTheTimeout() {
        let tracker = JourneyTracker(names: Self.names(), timeoutNs: 1_000_000)
        let clone = J.free(J.requestEvents()[0].raw, consume: true, at: Self.neighSend + 0x230, ns: J.nsC1, ts: 900_000, skb: 0xa100)
        #expect(tracker.add(clone).isEmpty)
        let out = tracker.expire(nowNs: 900_000 + 2_000_000)
        #expect(out.count == 1)
        #expect(out.first?.skb == 0xa100)
    }

    @Test func journeysComeOutInTheOrderTheyStarted() {
        // #1 is still on its way when #2 ends: #2 waits for it.
        let tracker = JourneyTracker(names: Self.names())
        let first = J.requestEvents(skb: 0xa000, seq: 1, t0: 1_000_000)
        let second = J.requestEvents(skb: 0xc000, seq: 2, t0: 1_001_000)
        var out: [Journey] = []
        out += tracker.add(first[0])
        for e in second { out += tracker.add(e) }
        #expect(out.isEmpty, "#2 ended, but #1 started before it")
        for e in first.dropFirst() { out += tracker.add(e) }
        #expect(out.map(\.id) == [1, 2])
    }

    @Test func aLongJourneyHoldsBackNoMoreThanTheReorderLimit() {
        let tracker = JourneyTracker(names: Self.names(), maxOpen: 16)
        let long = J.requestEvents(skb: 0x1000, seq: 1, t0: 1_000_000)
        var out = tracker.add(long[0])
        for i in 0..<(tracker.reorderLimit + 1) {
            for e in J.requestEvents(skb: 0x2000 + UInt64(i) * 0x100, seq: UInt16(2 + i), t0: 1_100_000 + UInt64(i) * 100_000) {
                out += tracker.add(e)
            }
        }
        #expect(out.count == tracker.reorderLimit + 1, "held back beyond the limit: written out of order")
        #expect(out.map(\.id) == out.map(\.id).sorted())
        for e in long.dropFirst() { out += tracker.add(e) }
        #expect(out.last?.id == 1, "the long one when it ends")
    }

    @Test func aPacketSocketsReadIsNoEvidence() {
        // tcpdump's packet socket reads its copy (freed by packet_recvmsg): the
        // reply nobody else read is still a drop.
        let tracker = JourneyTracker(names: Self.names())
        var copy = Self.rawCopy(t0: 1_040_000)
        copy[1] = J.free(Self.reply, consume: true, at: Self.packetRecvmsg + 0x40, ns: J.nsC1, ts: 1_042_000, skb: 0xb100)
        let out = J.feed(tracker, J.requestEvents() + Self.replyEvents(t0: 1_030_000) + copy)
        #expect(out.map(\.id) == [1, 2])
        #expect(out[1].outcome.isFailure)
        #expect(out[1].copies.count == 1)
        #expect(out[1].note == DropExplanations.echoReplyUnread)
    }

    @Test func aCopyReadButNotFreedAtTheEndIsEvidence() {
        // The trace ends after the raw socket's read, before its free: the
        // read is what counts, whatever order the two come out of the table.
        for _ in 0..<20 {
            let tracker = JourneyTracker(names: Self.names())
            let copy = Self.rawCopy(t0: 1_040_000)
            let out = J.feed(tracker, J.requestEvents() + Self.replyEvents(t0: 1_030_000) + [copy[0]])
            #expect(out.map(\.id) == [1, 2])
            #expect(out[1].outcome.kind == "noise", "\(out[1].outcome)")
            #expect(out[1].note == nil)
        }
    }

    @Test func anIPv6CloneNeedsTheSameTuple() {
        // Without an IPv4 id, a clone of another flow with the same length and
        // sequence is not this packet's copy.
        var other = J.requestEvents()[0].raw
        other.ip_id = 0
        other.l3_proto = 0x86DD
        other.l4_proto = 58
        other.icmp_type = 128
        var mine = other
        Fixtures.set(&other.daddr, Fixtures.v4_10_0_0_2 + [UInt8](repeating: 0, count: 12))
        let clone = J.free(other, consume: true, at: Self.neighSend + 0x230, ns: J.nsC1, ts: 900_000, skb: 0xa100)
        mine.ts_ns = 1_000_000
        let tracker = JourneyTracker(names: Self.names())
        let out = J.feed(tracker, [clone, J.hop(mine, ST_PROBE_NET_DEV_QUEUE, ns: J.nsC1, ifname: "eth0", ts: 1_000_000, skb: 0xa000)])
        #expect(out.count == 2, "the clone of another flow stays a journey of its own")
        #expect(out.allSatisfy { $0.copies.isEmpty })
    }
}
