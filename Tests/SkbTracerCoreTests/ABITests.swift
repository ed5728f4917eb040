import CSkbTracerABI
import Testing
@testable import SkbTracerCore

/// The structs in skbtracer_abi.h are the BPF/Swift contract. The expected
/// numbers below are computed by hand from the header's field list, so a
/// reordered, resized or repadded field fails here before it garbles events.
@Suite("ABI layout")
struct ABITests {
    @Test func eventSizeMatchesPinnedConstant() {
        #expect(MemoryLayout<st_event>.size == Int(ST_EVENT_SIZE))
        #expect(MemoryLayout<st_event>.size == 176)
        #expect(MemoryLayout<st_event>.stride == 176)
        #expect(MemoryLayout<st_event>.alignment == 8)
    }

    @Test func configSizeMatchesPinnedConstant() {
        #expect(MemoryLayout<st_config>.size == Int(ST_CONFIG_SIZE))
        #expect(MemoryLayout<st_config>.size == 216)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_owner_pid) == 212)
        #expect(MemoryLayout<st_sock_owner>.size == 24)
        #expect(MemoryLayout<st_probe_args>.size == 4)
        #expect(MemoryLayout<st_addr_filter>.size == 20)
        #expect(MemoryLayout<st_loss>.size == 32 + 8 * Int(ST_PROBE_COUNT.rawValue))
    }

    /// Offsets: u16 kind@0 size@2 probe@4 l3_proto@6, u32 cpu@8 lost_before@12,
    /// u64 ts_ns@16 skb@24 location@32, u32 pid@40 tid@44 netns@48 ifindex@52
    /// mark@56 skb_len@60 drop_reason@64, u16 ip_len@68 sport@70 dport@72
    /// icmp_id@74 icmp_seq@76, u8 l4_proto@78 tcp_flags@79 icmp_type@80
    /// icmp_code@81 pkt_type@82 flags@83 ttl@84 match@85, dmac@86 smac@92
    /// saddr@98 daddr@114 ifname@130 comm@146 ip_id@162 tcp_seq@164,
    /// sock_ino@168 sock_uid@172, end 176.
    @Test func eventScalarOffsets() {
        let fields: [(PartialKeyPath<st_event>, Int)] = [
        (\st_event.kind, 0), (\st_event.size, 2), (\st_event.probe, 4), (\st_event.l3_proto, 6),
        (\st_event.cpu, 8), (\st_event.lost_before, 12),
        (\st_event.ts_ns, 16), (\st_event.skb, 24), (\st_event.location, 32),
        (\st_event.pid, 40), (\st_event.tid, 44), (\st_event.netns, 48), (\st_event.ifindex, 52),
        (\st_event.mark, 56), (\st_event.skb_len, 60), (\st_event.drop_reason, 64),
        (\st_event.ip_len, 68), (\st_event.sport, 70), (\st_event.dport, 72),
        (\st_event.icmp_id, 74), (\st_event.icmp_seq, 76),
        (\st_event.l4_proto, 78), (\st_event.tcp_flags, 79), (\st_event.icmp_type, 80),
        (\st_event.icmp_code, 81), (\st_event.pkt_type, 82), (\st_event.flags, 83), (\st_event.ttl, 84),
        (\st_event.sock_ino, 168), (\st_event.sock_uid, 172),
        ]
        for (field, expected) in fields {
            #expect(MemoryLayout<st_event>.offset(of: field) == expected, "\(field)")
        }
    }

    @Test func eventArrayOffsets() {
        #expect(MemoryLayout<st_event>.offset(of: \.dmac) == 86)
        #expect(MemoryLayout<st_event>.offset(of: \.smac) == 92)
        #expect(MemoryLayout<st_event>.offset(of: \.saddr) == 98)
        #expect(MemoryLayout<st_event>.offset(of: \.daddr) == 114)
        #expect(MemoryLayout<st_event>.offset(of: \.ifname) == 130)
        #expect(MemoryLayout<st_event>.offset(of: \.comm) == 146)
        #expect(MemoryLayout<st_event>.offset(of: \.ip_id) == 162)
        #expect(MemoryLayout<st_event>.offset(of: \.tcp_seq) == 164)
        #expect(MemoryLayout.size(ofValue: st_event().saddr) == 16)
        #expect(MemoryLayout.size(ofValue: st_event().ifname) == Int(ST_IFNAMSIZ))
        #expect(MemoryLayout.size(ofValue: st_event().comm) == Int(ST_COMMSIZ))
    }

    /// u32 filter_flags@0, u16 l3@4, u8 l4@6 tcp_flags@7, addr filters (20 bytes)
    /// @8 @28 @48, u16 port@68 sport@70 dport@72 icmp_id@74 ip_len_min@76 ip_len_max@78,
    /// u32 netns@80 pid@84 mark@88 mark_mask@92, ifname@96, wakeup_bytes@112, route@118, ct@119,
    /// probe_args@120.
    @Test func configOffsets() {
        #expect(MemoryLayout<st_config>.offset(of: \.filter_flags) == 0)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_l3_proto) == 4)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_l4_proto) == 6)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_tcp_flags) == 7)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_addr) == 8)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_saddr) == 28)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_daddr) == 48)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_port) == 68)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_sport) == 70)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_dport) == 72)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_icmp_id) == 74)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_ip_len_min) == 76)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_ip_len_max) == 78)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_netns) == 80)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_pid) == 84)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_mark) == 88)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_mark_mask) == 92)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_ifname) == 96)
        #expect(MemoryLayout<st_config>.offset(of: \.wakeup_bytes) == 112)
        #expect(MemoryLayout<st_config>.offset(of: \.probe_args) == 120)
        #expect(MemoryLayout.size(ofValue: st_config().probe_args) == 4 * Int(ST_PROBE_COUNT.rawValue))
        #expect(MemoryLayout<st_addr_filter>.offset(of: \.family) == 16)
    }

    /// Bits the decoder and the filter writer test; each must be a distinct power of two.
    @Test func flagValues() {
        #expect([ST_EVF_MAC, ST_EVF_L3, ST_EVF_L4, ST_EVF_FROM_SOCK, ST_EVF_DROP, ST_EVF_LOCATION].map(\.rawValue)
                == [1, 2, 4, 8, 16, 32])
        #expect([ST_F_L3_PROTO, ST_F_L4_PROTO, ST_F_ADDR, ST_F_SADDR, ST_F_DADDR, ST_F_PORT, ST_F_SPORT,
                 ST_F_DPORT, ST_F_ICMP_ID, ST_F_TCP_FLAGS, ST_F_NETNS, ST_F_IFNAME, ST_F_MARK, ST_F_PID,
                 ST_F_IP_LEN].map(\.rawValue)
                == (0..<15).map { 1 << $0 })
        #expect(ST_RECORD_EVENT.rawValue == 1)
        #expect(ST_ARG_NONE == 0xff)
        #expect(ST_PROBE_COUNT.rawValue == 22)
    }
}

/// Retis-style per-probe loss counters: summed over CPUs, named, largest first.
@Suite("Losses per probe")
struct LossesByProbeTests {
    static func loss(_ counts: [Int: UInt64]) -> st_loss {
        var l = st_loss()
        withUnsafeMutableBytes(of: &l.by_probe) { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for (i, n) in counts { words[i] = n }
        }
        l.total = counts.values.reduce(0, +)
        return l
    }

    @Test func summedOverCPUsAndNamed() {
        let queue = Int(ST_PROBE_NET_DEV_QUEUE.rawValue), rx = Int(ST_PROBE_NETIF_RX.rawValue)
        let free = Int(ST_PROBE_KFREE_SKB.rawValue)
        let perCPU = [Self.loss([queue: 5, rx: 2]), Self.loss([rx: 7, free: 5])]
        let byProbe = TracerSession.lossesByProbe(perCPU)
        #expect(byProbe.map(\.probe) == ["netif_rx", "kfree_skb", "net_dev_queue"])
        #expect(byProbe.map(\.lost) == [9, 5, 5])
        var summary = TraceSummary()
        summary.events = 10
        summary.printed = 10
        summary.lost = 19
        summary.lostByProbe = byProbe
        #expect(summary.line.hasPrefix("skbtracer: 10 events, 19 lost (netif_rx 9, kfree_skb 5, net_dev_queue 5); "))
        summary.lostByProbe = TracerSession.lossesByProbe([st_loss()])
        summary.lost = 0
        #expect(summary.line.hasPrefix("skbtracer: 10 events, 0 lost; "))
    }
}
