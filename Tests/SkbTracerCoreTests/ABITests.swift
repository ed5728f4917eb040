import CSkbTracerABI
@testable import SkbTracerSession
import Testing

/// The structs in skbtracer_abi.h are the BPF/Swift contract. The expected
/// numbers below are computed by hand from the header's field list, so a
/// reordered, resized or repadded field fails here before it garbles events.
@Suite("ABI layout")
struct ABITests {
    /// A record is a 32-byte header, then sections of their own sizes.
    @Test func recordAndSectionSizes() {
        #expect(MemoryLayout<st_record>.size == 32)
        #expect(MemoryLayout<st_record>.alignment == 8)
        #expect(MemoryLayout<st_section>.size == 4)
        #expect(MemoryLayout<st_sec_context>.size == 64)
        #expect(MemoryLayout<st_packet>.size == 68)
        #expect(MemoryLayout<st_sec_packet>.size == 72)
        #expect(MemoryLayout<st_sec_location>.size == 16)
        #expect(MemoryLayout<st_sec_socket>.size == 16)
        #expect(MemoryLayout<st_route>.size == 96)
        #expect(MemoryLayout<st_sec_route>.size == 104)
        #expect(MemoryLayout<st_ct>.size == Int(ST_CT_SIZE))
        #expect(MemoryLayout<st_ct>.size == 88)
        #expect(MemoryLayout<st_sec_ct>.size == 96)
        #expect(MemoryLayout<st_sec_stack>.size == 8 + 8 * 32)
        #expect(ST_STACK_MAX == 32)
    }

    /// Every section keeps the next one 8-byte aligned: its size is a multiple of 8.
    @Test func sectionSizesAreMultiplesOfEight() {
        let sizes = [MemoryLayout<st_record>.size, MemoryLayout<st_sec_context>.size, MemoryLayout<st_sec_packet>.size,
                     MemoryLayout<st_sec_location>.size, MemoryLayout<st_sec_socket>.size, MemoryLayout<st_sec_route>.size,
                     MemoryLayout<st_sec_ct>.size, MemoryLayout<st_sec_tunnel>.size, MemoryLayout<st_sec_stack>.size]
        for size in sizes { #expect(size % 8 == 0, "\(size)") }
    }

    /// Section types are what recordings carry: they never change their values.
    @Test func sectionTypeValues() {
        #expect([ST_SEC_CONTEXT, ST_SEC_PACKET, ST_SEC_DROP, ST_SEC_LOCATION, ST_SEC_SOCKET, ST_SEC_ROUTE,
                  ST_SEC_CONNTRACK, ST_SEC_TUNNEL, ST_SEC_STACK].map(\.rawValue) == Array(1...9))
        #expect([ST_TUNNEL_VXLAN, ST_TUNNEL_GENEVE, ST_TUNNEL_GRE, ST_TUNNEL_IPIP, ST_TUNNEL_IP6].map(\.rawValue) == Array(1...5))
        #expect([ST_MATCH_FILTER, ST_MATCH_SKB, ST_MATCH_FLOW].map(\.rawValue) == [0, 1, 2])
        #expect(ST_RECORD_SKB_DUMP.rawValue == 2)
        #expect(ST_PROBE_FUNCTION == 0x8000)
        #expect(ST_SOCK_KERNEL == 0xffff_ffff)
    }

    /// u16 kind@0 size@2 probe@4, u8 match@6 pad@7, u32 cpu@8 lost_before@12,
    /// u64 ts_ns@16 skb@24, end 32.
    @Test func recordOffsets() {
        let fields: [(PartialKeyPath<st_record>, Int)] = [
            (\st_record.kind, 0), (\st_record.size, 2), (\st_record.probe, 4), (\st_record.match, 6),
            (\st_record.pad, 7), (\st_record.cpu, 8), (\st_record.lost_before, 12), (\st_record.ts_ns, 16),
            (\st_record.skb, 24),
        ]
        for (field, expected) in fields {
            #expect(MemoryLayout<st_record>.offset(of: field) == expected, "\(field)")
        }
        #expect(MemoryLayout<st_section>.offset(of: \.type) == 0)
        #expect(MemoryLayout<st_section>.offset(of: \.size) == 2)
    }

    /// sec@0, u32 netns@4 ifindex@8 mark@12 skb_len@16 pid@20 tid@24,
    /// u8 pkt_type@28, ifname@32 comm@48, end 64.
    @Test func contextOffsets() {
        let fields: [(PartialKeyPath<st_sec_context>, Int)] = [
            (\st_sec_context.sec, 0), (\st_sec_context.netns, 4), (\st_sec_context.ifindex, 8),
            (\st_sec_context.mark, 12), (\st_sec_context.skb_len, 16), (\st_sec_context.pid, 20),
            (\st_sec_context.tid, 24), (\st_sec_context.pkt_type, 28), (\st_sec_context.ifname, 32),
            (\st_sec_context.comm, 48),
        ]
        for (field, expected) in fields {
            #expect(MemoryLayout<st_sec_context>.offset(of: field) == expected, "\(field)")
        }
        #expect(MemoryLayout.size(ofValue: st_sec_context().ifname) == Int(ST_IFNAMSIZ))
        #expect(MemoryLayout.size(ofValue: st_sec_context().comm) == Int(ST_COMMSIZ))
    }

    /// u16 l3_proto@0, u8 l4_proto@2 flags@3, u16 ip_len@4 ip_id@6, u8 ttl@8
    /// tcp_flags@9 icmp_type@10 icmp_code@11, u16 sport@12 dport@14 icmp_id@16
    /// icmp_seq@18, tcp_seq@20 dmac@24 smac@30 saddr@36 daddr@52, end 68; the
    /// packet section puts it at 4.
    @Test func packetOffsets() {
        let fields: [(PartialKeyPath<st_packet>, Int)] = [
            (\st_packet.l3_proto, 0), (\st_packet.l4_proto, 2), (\st_packet.flags, 3), (\st_packet.ip_len, 4),
            (\st_packet.ip_id, 6), (\st_packet.ttl, 8), (\st_packet.tcp_flags, 9), (\st_packet.icmp_type, 10),
            (\st_packet.icmp_code, 11), (\st_packet.sport, 12), (\st_packet.dport, 14), (\st_packet.icmp_id, 16),
            (\st_packet.icmp_seq, 18), (\st_packet.tcp_seq, 20), (\st_packet.dmac, 24), (\st_packet.smac, 30),
            (\st_packet.saddr, 36), (\st_packet.daddr, 52),
        ]
        for (field, expected) in fields {
            #expect(MemoryLayout<st_packet>.offset(of: field) == expected, "\(field)")
        }
        #expect(MemoryLayout.size(ofValue: st_packet().saddr) == 16)
        #expect(MemoryLayout.size(ofValue: st_packet().tcp_seq) == 4)
        #expect(MemoryLayout<st_sec_packet>.offset(of: \.pkt) == 4)
    }

    /// The other sections: their header, then 8-byte aligned contents.
    @Test func sectionOffsets() {
        #expect(MemoryLayout<st_sec_location>.offset(of: \.drop_reason) == 4)
        #expect(MemoryLayout<st_sec_location>.offset(of: \.location) == 8)
        #expect(MemoryLayout<st_sec_socket>.offset(of: \.ino) == 4)
        #expect(MemoryLayout<st_sec_socket>.offset(of: \.uid) == 8)
        #expect(MemoryLayout<st_sec_route>.offset(of: \.route) == 8)
        #expect(MemoryLayout<st_sec_ct>.offset(of: \.ct) == 8)
        #expect(MemoryLayout<st_sec_stack>.offset(of: \.nr_frames) == 4)
        #expect(MemoryLayout<st_sec_stack>.offset(of: \.ips) == 8)
    }

    @Test func configSizeMatchesPinnedConstant() {
        #expect(MemoryLayout<st_config>.size == Int(ST_CONFIG_SIZE))
        #expect(MemoryLayout<st_config>.size == 220)
        #expect(MemoryLayout<st_config>.offset(of: \.filter_owner_pid) == 212)
        #expect(MemoryLayout<st_config>.offset(of: \.snaplen) == 216)
        #expect(MemoryLayout<st_sec_payload>.size == 16)
        #expect(MemoryLayout<st_sock_owner>.size == 24)
        #expect(MemoryLayout<st_probe_args>.size == 4)
        #expect(MemoryLayout<st_addr_filter>.size == 20)
        #expect(MemoryLayout<st_loss>.size == 40 + 8 * Int(ST_PROBE_COUNT.rawValue))
        #expect(MemoryLayout<st_sec_nf_hook>.size == 8)
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
        // The values formats 1-3 had in their flags: LegacyEvent copies them over.
        #expect([ST_PKT_MAC, ST_PKT_L3, ST_PKT_L4, ST_PKT_FROM_SOCK].map(\.rawValue) == [1, 2, 4, 8])
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
