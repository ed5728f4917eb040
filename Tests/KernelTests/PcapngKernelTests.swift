import Foundation
import SkbTracerSystem
import Testing

/// `--write`: packets in pcap-ng, read back by tshark (Debian's), live and from
/// a recording, through a DropLab's namespaces.
extension KernelTests {
@Suite("pcap-ng (--write), read by tshark")
struct PcapngKernelTests {
    /// tshark's fields of every frame of `file`, one array per frame (tab-separated).
    static func tshark(_ file: String, _ fields: [String]) throws -> [[String]] {
        let r = try Command.run(["tshark", "-n", "-r", file, "-T", "fields", "-E", "occurrence=f"] + fields.flatMap { ["-e", $0] },
                                timeout: 60)
        guard r.status == 0 else { throw KT.Failure("tshark -r \(file): exit \(r.status): \(r.stderr)") }
        #expect(!r.stderr.contains("damaged") && !r.stderr.contains("cut short"), "\(r.stderr)")
        return r.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// `journey=N` of a comment.
    static func journey(_ comment: String) -> Int? {
        comment.split(separator: " ").first { $0.hasPrefix("journey=") }.flatMap { Int($0.dropFirst(8)) }
    }

    static let fields = ["frame.interface_name", "frame.comment", "ip.src", "ip.dst", "icmp.type", "icmp.ident", "frame.cap_len",
                         "frame.encap_type"]

    @Test("a ping's packets at each probe, on an interface per namespace and device, with the probe in each comment")
    func livePing() throws {
        guard KT.isRoot else { return KT.skipped("needs root") }
        guard (try? Command.run(["tshark", "--version"]))?.status == 0 else { return KT.skipped("no tshark (scripts/install-deps.sh installs it)") }
        try DropLab.with { lab in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-pcap-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let live = dir.appendingPathComponent("live.pcapng").path
            let recording = dir.appendingPathComponent("rec.skbt").path
            let replayed = dir.appendingPathComponent("replayed.pcapng").path
            let filter = ["-H", lab.bIPv4, "--proto", "icmp"]
            let writer = try KT.Tracer.start(["--write", live, "--snaplen", "128"] + filter, formatted: false)
            defer { writer.cleanup() }
            let recorder = try KT.Tracer.start(["--record", recording, "--snaplen", "128"] + filter, formatted: false)
            defer { recorder.cleanup() }
            try lab.ping(from: lab.a, to: lab.bIPv4)
            #expect(writer.stop() == 0, "\(writer.stderr)")
            #expect(recorder.stop() == 0, "\(recorder.stderr)")

            let frames = try Self.tshark(live, Self.fields)
            let requests = frames.filter { $0.count == Self.fields.count && $0[4] == "8" && $0[5] == String(lab.icmpID) }
            #expect(!requests.isEmpty, "\(frames)")
            // Sent from a, received in r, forwarded to b: each on its namespace's interface.
            let interfaces = Set(requests.map { $0[0] })
            #expect(interfaces.isSuperset(of: ["\(lab.a):\(lab.aIf)", "\(lab.r):\(lab.rIfA)", "\(lab.r):\(lab.rIfB)", "\(lab.b):\(lab.bIf)"]),
                    "\(interfaces)")
            #expect(requests.allSatisfy { $0[1].hasPrefix("probe=") && $0[1].contains(" skb=0x") && $0[2] == lab.aIPv4 && $0[3] == lab.bIPv4 },
                    "\(requests)")
            #expect(requests.contains { $0[1].hasPrefix("probe=net_dev_queue netns=\(lab.a) if=\(lab.aIf)") }, "\(requests)")
            // Under the snap length, the whole packet: 98 bytes from the Ethernet header
            // (encapsulation 1), 84 from the IP header where no MAC header was read (7, raw IP).
            #expect(requests.contains { $0[7] == "1" })
            #expect(requests.allSatisfy { ($0[7] == "1" && $0[6] == "98") || ($0[7] == "7" && $0[6] == "84") }, "\(requests)")

            // The same packets from a recording made with --snaplen.
            let r = try Command.run([try KT.binaryPath(), "replay", recording, "--write", replayed], timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            let again = try Self.tshark(replayed, Self.fields)
            let replayedRequests = again.filter { $0.count == Self.fields.count && $0[4] == "8" && $0[5] == String(lab.icmpID) }
            #expect(Set(replayedRequests.map { $0[0] }) == interfaces, "\(again)")

            // Each comment's journey is the one --timeline gives its event (skb and
            // probe) in a replay of the same recording; live comments name one too.
            #expect(frames.allSatisfy { $0.count > 1 && Self.journey($0[1]) != nil }, "\(frames.map { $0.count > 1 ? $0[1] : "" })")
            let t = try Command.run([try KT.binaryPath(), "replay", recording, "--timeline", "--json"], timeout: 60)
            #expect(t.status == 0, "\(t.stderr)")
            var hops: [Int: Set<String>] = [:]
            for r in try KernelTests.Record.parse(t.stdout) where r.type == "journey" {
                let copies = (r["copies"] as? [[String: Any]] ?? []).flatMap { $0["hops"] as? [[String: Any]] ?? [] }
                hops[r.int("journey") ?? -1] = Set((r.hops + copies).map { "\($0["skb"] as? String ?? "") \($0["probe"] as? String ?? "")" })
            }
            var named: Set<Int> = []
            for f in again where f.count > 1 {
                let n = try #require(Self.journey(f[1]), "\(f[1])")
                named.insert(n)
                let words = f[1].split(separator: " ")
                let skb = words.first { $0.hasPrefix("skb=") }?.dropFirst(4) ?? "", probe = words[0].dropFirst(6)
                #expect(hops[n]?.contains("\(skb) \(probe)") == true, "\(f[1]) is not in --timeline's journey \(n): \(hops[n] ?? [])")
            }
            #expect(named.count >= 2 && named.isSubset(of: Set(hops.keys)), "\(named) of \(hops.keys.sorted())")
        }
    }

    @Test("bad --write and --snaplen values: one error line, exit 2")
    func badInput() throws {
        let bin = try KT.binaryPath()
        for args in [["--write", "/tmp/x.pcapng", "--record", "/tmp/x.skbt"], ["--write", "/tmp/x.pcapng", "--snaplen", "0"],
                     ["--write", "/tmp/x.pcapng", "--snaplen", "99999"], ["--write", "/tmp/x.pcapng", "-o", "/tmp/y"],
                     ["--write", "/tmp/x.pcapng", "--timeline"]] {
            let r = try Command.run([bin] + args + ["--duration", "0.1"], timeout: 30)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("skbtracer: error: "), "\(args): \(r.stderr)")
        }
    }
}
}
