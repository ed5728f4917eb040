import Foundation
@testable import SkbTracerCLI
@testable import SkbTracerModel
@testable import SkbTracerSession
import SkbTracerSystem
import Testing

@Suite("Curated kernel functions: groups, -t, the default set, --list")
struct CuratedFunctionTests {
    static func fn(_ name: String, _ position: Int = 1) -> KernelFunction {
        KernelFunction(name: name, position: position, module: nil)
    }

    static func parse(_ items: String, backend: Bool = true) throws(UsageError) -> TraceSelection {
        try TraceSelection.parse(items.split(separator: ",").map(String.init), functionBackend: backend)
    }

    /// A kernel with a few functions of several groups, one curated function
    /// missing (ip_forward) and one function no group lists.
    static let kernel = [fn("ip_rcv"), fn("br_forward", 2), fn("br_handle_frame_finish", 3), fn("nf_hook_slow"),
                         fn("ipt_do_table", 2), fn("tcp_v4_rcv"), fn("skb_clone_sk"), fn("veth_xmit")]

    @Test("the list: about 150 to 200 C names, none twice, every group filled")
    func listShape() {
        let names = FunctionGroup.allCases.flatMap(\.functions)
        #expect((150...220).contains(names.count), "\(names.count)")
        #expect(Set(names).count == names.count, "a function in two groups or twice in one")
        #expect(names.allSatisfy(TraceSelection.isFunctionName))
        for g in FunctionGroup.allCases { #expect(!g.functions.isEmpty, "\(g)") }
        // The groups the issue names, nettrace's tracer tree.
        #expect(FunctionGroup.allCases.map(\.rawValue) == ["link-in", "link-out", "bridge", "netfilter", "ip", "ip6", "neigh",
                                                          "tcp", "udp", "icmp", "tunnels", "xfrm", "tc", "xdp", "qdisc", "life"])
    }

    @Test("-t GROUP,GROUP picks curated groups; a name both families use picks both")
    func groups() throws {
        let s = try Self.parse("bridge,netfilter")
        #expect(s.probes.isEmpty && s.functions == FunctionRequest(groups: [.bridge, .netfilter]))
        let tcp = try Self.parse("tcp")
        #expect(try tcp.probes == ProbeCatalogue.select(["tcp"]) && tcp.functions.groups == [.tcp])
        let linkIn = try Self.parse("link-in,life")
        #expect(linkIn.probes.map(\.name).contains("netif_receive_skb") && linkIn.probes.map(\.name).contains("kfree_skb"))
        // life is both: the free tracepoints and the free functions.
        #expect(linkIn.functions == FunctionRequest(groups: [.linkIn, .life]))
        // The functions the groups pick on a kernel: only those it has, in its order.
        let picked = try FunctionRequest(groups: [.bridge, .netfilter]).pick(from: Self.kernel)
        #expect(picked.map(\.name) == ["br_forward", "br_handle_frame_finish", "nf_hook_slow", "ipt_do_table"])
    }

    @Test("without a function backend: tracepoint groups as before, function words an error that names --backend")
    func withoutBackend() throws {
        let tcp = try Self.parse("tcp", backend: false)
        #expect(tcp.probes.count == 3 && tcp.functions.isEmpty)
        for word in ["bridge", "all-functions", "ip6"] {
            let error = try #require(throws: UsageError.self) { try Self.parse("life,\(word)", backend: false) }
            #expect(error.message.contains("'\(word)'") && error.hint?.contains("--backend") == true)
        }
        // A function's name is no probe without --backend.
        let error = try #require(throws: UsageError.self) { try Self.parse("ip_rcv", backend: false) }
        #expect(error.message.contains("unknown probe or group 'ip_rcv'") && error.hint?.contains("--backend") == true)
    }

    @Test("-t FUNCTION picks that function; a tracepoint's name stays the tracepoint")
    func names() throws {
        let s = try Self.parse("ip_rcv,skb_clone_sk,kfree_skb")
        #expect(s.functions.names == ["ip_rcv", "skb_clone_sk"] && s.probes.map(\.name) == ["kfree_skb"])
        #expect(try s.functions.pick(from: Self.kernel).map(\.name) == ["ip_rcv", "skb_clone_sk"])
        // A name this kernel has no sk_buff function for: an error naming it, not an empty trace.
        let missing = try Self.parse("tcp,no_such_function")
        let error = try #require(throws: UsageError.self) { try missing.functions.pick(from: Self.kernel) }
        #expect(error.message.contains("'no_such_function'") && error.hint?.contains("--list") == true)
        // Not a C name: rejected at once.
        for bad in ["bad-name", "9lives", "ip_rcv.cold"] {
            #expect(throws: UsageError.self) { try Self.parse(bad) }
        }
    }

    @Test("all-functions is every candidate; the curated default only the listed ones; --filter-func narrows either")
    func everyAndDefault() throws {
        #expect(try Self.parse("all-functions").functions == .all)
        #expect(try FunctionRequest.all.pick(from: Self.kernel) == Self.kernel)
        let curated = try FunctionRequest.curated.pick(from: Self.kernel).map(\.name)
        #expect(curated == ["ip_rcv", "br_forward", "br_handle_frame_finish", "nf_hook_slow", "ipt_do_table", "tcp_v4_rcv", "veth_xmit"])
        let traceable = (unique: Set(Self.kernel.map(\.name)).subtracting(["veth_xmit"]), ambiguous: Set<String>())
        let narrowed = try FunctionProbes.select(Self.kernel, request: .curated, traceable: traceable, pattern: "^(br_|veth)")
        #expect(narrowed.chosen.map(\.name) == ["br_forward", "br_handle_frame_finish"] && narrowed.untraceable == 1)
        #expect(try FunctionProbes.select(Self.kernel, request: .all, traceable: nil, pattern: "clone").chosen.map(\.name) == ["skb_clone_sk"])
    }

    @Test("the command line: no -t means the curated set, --filter-func alone every function, -t its own choice")
    func commandLine() throws {
        func selection(_ args: String...) throws -> TraceSelection { try TraceCommand.parse(args).probes.selection() }
        let plain = try selection("--backend", "kprobe-multi")
        #expect(plain.functions == .curated && plain.probes == ProbeCatalogue.defaults)
        #expect(try selection("--backend", "kprobe", "--filter-func", "^ip_").functions == .all)
        let bridge = try selection("--backend", "auto", "-t", "bridge,default")
        #expect(bridge.functions == FunctionRequest(groups: [.bridge]) && bridge.probes == ProbeCatalogue.defaults)
        #expect(try selection("--backend", "kprobe-multi", "-t", "bridge", "--filter-func", "forward").probes.isEmpty)
        #expect(throws: UsageError.self) { try selection("-t", "bridge") }
    }

    @Test("--list: the groups as a tree, marking what the kernel has and ftrace can trace")
    func listTree() {
        let traceable = (unique: Set(Self.kernel.map(\.name)).subtracting(["ipt_do_table"]), ambiguous: Set<String>())
        let text = ProbeTree.renderGroups(candidates: Self.kernel, traceable: traceable)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("│   ├── [+] ip_rcv"))
        #expect(lines.contains("│   ├── [-] ipt_do_table"), "untraceable is not there")
        #expect(lines.contains("│   ├── [-] ip_forward"))
        #expect(lines.contains { $0.hasPrefix("├── bridge ") && $0.hasSuffix("(2 of \(FunctionGroup.bridge.functions.count))") })
        #expect(lines.contains { $0.hasPrefix("├── qdisc ") } && lines.contains { $0.hasPrefix("└── life ") })
        #expect(text.contains(": 6 of \(FunctionGroup.allCases.flatMap(\.functions).count)\n"))
        #expect(text.contains("-t all-functions"))
        // Every curated function has its line.
        #expect(lines.filter { $0.contains("── [") }.count == FunctionGroup.allCases.flatMap(\.functions).count)
    }

    @Test("--list on a kernel without kprobes says so once, and still shows the tree")
    func listWithoutKprobes() throws {
        let text = try ProbeTree.renderFunctions(candidates: Self.kernel, traceable: nil, kprobes: false, listing: false, pattern: nil)
        #expect(text.components(separatedBy: "no kprobes").count == 2)
        #expect(text.contains("[+] tcp_v4_rcv") && text.contains("List every function with --list --backend"))
        let listed = try ProbeTree.renderFunctions(candidates: Self.kernel, traceable: nil, kprobes: true, listing: true, pattern: "^skb_")
        #expect(listed.contains("  skb_clone_sk") && !listed.contains("  tcp_v4_rcv "))
    }

    @Test("the default's stderr line says how many and how to get every function")
    func note() {
        let line = TracerSession.curatedNote(chosen: 148, of: 1595)
        #expect(line.contains("148 curated") && line.contains("of 1595") && line.contains("-t all-functions"))
    }
}
