import Foundation
import Testing

extension KernelTests {
    /// pwru's --output-skb: each event carries the sk_buff as BTF prints it, taken
    /// at the same probe hit (its len is the event's).
    @Test("--output-skb: every event of a ping carries its sk_buff, dumped at that probe")
    func skbDumps() throws {
        try KT.withLab { lab in
            let id = Int.random(in: 1000...60000)
            let t = try KT.Tracer.start(["--output-skb", "-H", lab.c2IPv4, "--proto", "icmp", "--icmpid", "\(id)"])
            defer { t.cleanup() }
            #expect(try KT.ping(lab, from: lab.container1, to: lab.c2IPv4, count: 1, id: id).ok)
            #expect(t.stop() == 0, "stderr: \(t.stderr)")
            let events = try t.events().filter { $0.type == "event" }
            try #require(events.count >= 6, "\(KT.dump(events))")
            for e in events {
                let dump = try #require(e.str("skb_dump"), "no dump: \(e.line)")
                #expect(dump.hasPrefix("(struct sk_buff){"), "\(dump.prefix(80))")
                // Same hit, same skb: the dump's len is the event's (netif_receive_skb
                // has pulled the Ethernet header: 84; net_dev_queue has it: 98).
                let len = try #require(e.int("len"))
                #expect(dump.contains(".len = (unsigned int)\(len),"), "len \(len) not in the dump of \(e.probe)")
            }
        }
    }
}
