import BPFKit
import Foundation
import SkbTracerOutput
import SkbTracerSystem
import Testing

/// `--list-hooks`: the kernel's netfilter hook listing (nfnetlink_hook) read in a
/// namespace of the test's own, with nf_tables base chains at known priorities.
/// The CI machine's kernel is built without the listing, so there the base chains
/// stand in (an nf_tables chain dump) with a note; the kernel's listing is checked
/// in QEMU on Debian's 6.12, which has it, and the fallback on its 6.1, which has not.
extension KernelTests {
    @Suite("netfilter hook listing (--list-hooks)")
    struct HookListingKernelTests {
        /// Whether the running kernel was built with the hook listing, from its
        /// config (nil: no config to read).
        static func kernelHasHookListing() -> Bool? {
            let release = (try? Command.run(["uname", "-r"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
            let config = (try? Command.run(["sh", "-c", "zcat /proc/config.gz 2>/dev/null || cat /boot/config-\(release)"]))?.stdout ?? ""
            guard config.contains("CONFIG_NETFILTER_NETLINK=") else { return nil }
            return config.contains("CONFIG_NETFILTER_NETLINK_HOOK=y") || config.contains("CONFIG_NETFILTER_NETLINK_HOOK=m")
        }

        static func oneErrorLine(_ stderr: String) -> Bool {
            let lines = stderr.split(separator: "\n")
            return lines.count == 1 && lines[0].hasPrefix("skbtracer: error: ") && lines[0].contains(". Hint: ")
        }

        @Test("an unknown namespace: one line, exit 2, nothing on stdout")
        func unknownNamespace() throws {
            let name = "sthk-none-\(UInt32.random(in: 0...UInt32.max))"
            for extra in [[], ["--json"]] {
                let r = try Command.run([try KT.binaryPath(), "--list-hooks", "-N", name] + extra)
                #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
                #expect(Self.oneErrorLine(r.stderr) && r.stderr.contains(name), "stderr: \(r.stderr)")
                #expect(r.stdout.isEmpty, "stdout: \(r.stdout)")
            }
        }

        @Test("without privilege: one line, exit 2, in skbtracer's namespace (the kernel's EPERM) and in another (setns)")
        func withoutPrivilege() throws {
            try #require(KT.isRoot, "needs root: a namespace, and a user to drop to")
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
                KT.skipped("no setpriv (util-linux) to run skbtracer without privileges")
                return
            }
            let ns = "sthk\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            try Command.check(["ip", "netns", "add", ns])
            defer { _ = try? Command.run(["ip", "netns", "del", ns]) }
            let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", try KT.binaryPath()]
            for extra in [[], ["-N", ns]] {
                let r = try Command.run(nobody + ["--list-hooks"] + extra)
                #expect(r.status == 2, "\(extra): exit \(r.status): \(r.stderr)")
                #expect(Self.oneErrorLine(r.stderr) && r.stderr.contains("Operation not permitted") && r.stderr.contains("run as root"),
                        "\(extra): \(r.stderr)")
                #expect(r.stdout.isEmpty, "stdout: \(r.stdout)")
            }
        }

        @Test("a BPF program's name by its id, as bpftool reads it (what bpf_prog entries of the listing show)")
        func programNameByID() throws {
            try #require(KT.isRoot, "needs root: BPF")
            let tracer = try KT.Tracer.start(["-t", "kfree_skb", "-H", "198.18.0.254"])
            defer { tracer.cleanup() }
            var ids = Set<UInt32>()
            let dir = "/proc/\(tracer.pid)/fdinfo"
            for fd in try FileManager.default.contentsOfDirectory(atPath: dir) {
                guard let info = try? String(contentsOfFile: "\(dir)/\(fd)", encoding: .utf8) else { continue }
                for line in info.split(separator: "\n") where line.hasPrefix("prog_id:") {
                    if let v = UInt32(line.dropFirst("prog_id:".count).trimmingCharacters(in: .whitespaces)) { ids.insert(v) }
                }
            }
            try #require(!ids.isEmpty, "no BPF program held by skbtracer \(tracer.pid)")
            for id in ids {
                let shown = try Command.check(["bpftool", "-j", "prog", "show", "id", "\(id)"]).stdout
                let name = try #require(JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])["name"] as? String
                #expect(BPFProgramInfo.name(id: id) == name, "program \(id)")
            }
            #expect(ids.contains { BPFProgramInfo.name(id: $0)?.hasPrefix("tp_kfree_skb") == true })
            #expect(BPFProgramInfo.name(id: UInt32.max) == nil)
        }

        /// The text listing as "FAMILY HOOK DEVICE|- ENTRY" lines, from the block layout.
        static func flat(_ text: String) -> [String] {
            var family = "", hook = "", device = "-", flat: [String] = []
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if line.hasPrefix("family ") { family = String(words[1]) }
                else if line.hasPrefix("\thook ") {
                    hook = String(words[1])
                    device = words.count > 3 && words[2] == "device" ? String(words[3]) : "-"
                }
                else if line.hasPrefix("\t\t") { flat.append("\(family) \(hook) \(device) \(line.dropFirst(2))") }
            }
            return flat
        }

        @Test("a namespace's base chains by family and hook (inet in ip and ip6, netdev per device), at their priorities, in text and JSON; the kernel's listing, or the chains with a note where it has none; only the namespace's")
        func chainsInNamespace() throws {
            try #require(KT.isRoot, "needs root: namespaces and nft tables")
            let ns = "sthk\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            try Command.check(["ip", "netns", "add", ns])
            defer { _ = try? Command.run(["ip", "netns", "del", ns]) }
            // A veth pair inside the namespace, for a netdev chain; it goes with the namespace.
            try Command.check(["ip", "-n", ns, "link", "add", "st0", "type", "veth", "peer", "name", "st1"])
            let rules = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns).nft")
            defer { try? FileManager.default.removeItem(at: rules) }
            try """
            table ip \(ns)4 {
              chain fwdc { type filter hook forward priority -7; }
              chain plain { }
            }
            table ip6 \(ns)6 {
              chain in6c { type filter hook input priority 3; }
            }
            table inet \(ns)i {
              chain inc { type filter hook input priority 11; }
            }
            table bridge \(ns)b {
              chain brfc { type filter hook forward priority -3; }
            }
            table netdev \(ns)n {
              chain ingc { type filter hook ingress device st0 priority -5; }
            }
            """.write(to: rules, atomically: true, encoding: .utf8)
            try Command.check(["ip", "netns", "exec", ns, "nft", "-f", rules.path])

            let bin = try KT.binaryPath()
            let text = try Command.run([bin, "--list-hooks", "-N", ns])
            let json = try Command.run([bin, "--list-hooks", "-N", ns, "--json"])
            #expect(text.status == 0 && json.status == 0, "exit \(text.status)/\(json.status): \(text.stderr) \(json.stderr)")
            // Without the kernel's listing, one note says the chains stand in; with it, nothing.
            let listing = Self.kernelHasHookListing()
            for r in [text, json] {
                let note = r.stderr.split(separator: "\n")
                if listing == false {
                    #expect(note.count == 1 && note[0].hasPrefix("skbtracer: note: ") && note[0].contains("CONFIG_NETFILTER_NETLINK_HOOK")
                            && note[0].contains("base chains only") && note[0].contains("BPF"), "stderr: \(r.stderr)")
                } else if listing == true {
                    #expect(r.stderr.isEmpty, "stderr: \(r.stderr)")
                }
            }
            let flat = Self.flat(text.stdout)
            for expected in ["ip forward - -0000000007 chain ip \(ns)4 fwdc [nf_tables]",
                             "ip6 input - +0000000003 chain ip6 \(ns)6 in6c [nf_tables]",
                             "ip input - +0000000011 chain inet \(ns)i inc [nf_tables]",
                             "ip6 input - +0000000011 chain inet \(ns)i inc [nf_tables]",
                             "bridge forward - -0000000003 chain bridge \(ns)b brfc [nf_tables]",
                             "netdev ingress st0 -0000000005 chain netdev \(ns)n ingc [nf_tables]"] {
                #expect(flat.contains(expected), "\(expected) missing from:\n\(text.stdout)")
            }
            #expect(!text.stdout.contains("plain"), "a chain without a hook is listed:\n\(text.stdout)")
            // By priority within a hook.
            let ip6Input = flat.filter { $0.hasPrefix("ip6 input - ") && $0.contains(ns) }.map { String($0.split(separator: " ")[6]) }
            #expect(ip6Input == ["\(ns)6", "\(ns)i"], "ip6 input: \(ip6Input)")

            var objects = try json.stdout.split(separator: "\n").map {
                try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(objects.first?["type"] as? String == "schema" && objects.first?["version"] as? String == JSONSchema.version,
                    "the schema object first: \(json.stdout.prefix(200))")
            objects.removeFirst()
            #expect(objects.count == flat.count, "\(objects.count) JSON objects for \(flat.count) entries")
            let forward = objects.first { ($0["chain"] as? [String: Any])?["name"] as? String == "fwdc" }
            #expect(forward?["netns_name"] as? String == ns && forward?["type"] as? String == "netfilter_hook" && forward?["family"] as? String == "ip"
                    && forward?["hook"] as? String == "forward" && forward?["priority"] as? Int == -7
                    && (forward?["chain"] as? [String: Any])?["table"] as? String == "\(ns)4"
                    && forward?["bpf_prog_id"] is NSNull, "fwdc: \(String(describing: forward))")
            let ingress = objects.first { ($0["chain"] as? [String: Any])?["name"] as? String == "ingc" }
            #expect(ingress?["family"] as? String == "netdev" && ingress?["hook"] as? String == "ingress" && ingress?["device"] as? String == "st0"
                    && ingress?["priority"] as? Int == -5 && (ingress?["chain"] as? [String: Any])?["family"] as? String == "netdev",
                    "ingc: \(String(describing: ingress))")
            let inet = objects.filter { ($0["chain"] as? [String: Any])?["name"] as? String == "inc" }.compactMap { $0["family"] as? String }
            #expect(inet == ["ip", "ip6"], "inc in \(inet)")

            // skbtracer's own namespace shows none of them.
            let own = try Command.run([bin, "--list-hooks"])
            #expect(own.status == 0 && !own.stdout.contains(ns), "exit \(own.status): \(own.stderr)\n\(own.stdout)")
        }
    }

    /// The chains and the failure, on kernels that have the hook listing and not
    /// (scripts/qemu/guest/netfilter-hooks.sh).
    @Suite("netfilter hook listing in a QEMU guest")
    struct HookListingVMTests {
        static let common = ["no-nfnetlink-exit", "no-nfnetlink-one-line", "no-nfnetlink-names-cause", "no-nfnetlink-no-output",
                             "tables-added", "bridge-table-added"]
        static let unknown = ["nfv-exit", "nfv-verdict", "nfv-table-gone", "unknown-netns-exit", "unknown-netns-one-line"]

        @Test("Linux 6.12 (nfnetlink_hook): ip, ip6, inet, bridge and netdev chains at their hooks and priorities, in order, text and JSON; a BPF program by id and name; only the namespace's; --netfilter's hook programs listed while tracing and gone after; an nf_tables drop named")
        func listing() throws {
            _ = try FunctionBackendVMTests.boot("6.12", "netfilter-hooks.sh", expecting: Self.common + [
                "text-exit", "ip-forward", "ip6-input", "inet-in-ip", "inet-in-ip6", "netdev-ingress", "bridge-forward",
                "by-priority", "json-exit", "json-one-per-entry", "json-ip-forward", "json-netdev",
                "bpf-attached", "bpf-text", "bpf-json", "bpf-gone",
                "own-netns-exit", "own-netns-alone",
                "nf-exit", "nf-output-entered", "nf-input-left", "nf-listed", "nf-links-gone",
            ] + Self.unknown)
        }

        @Test("Linux 6.1 (no nfnetlink_hook, no netfilter programs): the nf_tables base chains instead, with a note; --netfilter warns, traces and names an nf_tables drop")
        func noListing() throws {
            _ = try FunctionBackendVMTests.boot("6.1", "netfilter-hooks.sh", arguments: ["expect-none"],
                                                expecting: Self.common + ["chains-exit", "chains-note", "chains-ip-forward", "chains-inet-in-ip6",
                                                                          "chains-netdev-ingress", "chains-bridge-forward", "chains-by-priority",
                                                                          "nf-old-exit", "nf-old-warns", "nf-old-traced"] + Self.unknown)
        }
    }
}
