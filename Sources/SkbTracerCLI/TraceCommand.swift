import ArgumentParser
import Foundation
import SkbTracerModel
import SkbTracerSession
import SkbTracerSystem

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace packets through the kernel (the default command).",
        discussion: """
        Examples:
          skbtracer -H 10.0.0.2 --proto icmp          pings to or from 10.0.0.2
          skbtracer --proto tcp --dport 80 --tcp-flags S   TCP SYNs to port 80
          skbtracer 'tcp port 80 and host 10.0.0.2'   a tcpdump expression, run in the kernel
          skbtracer -N ns1 -i veth0 -c 20             20 events on veth0 in namespace ns1
          skbtracer -t life --json -o drops.json      frees and drops, as JSON, to a file
          skbtracer --timeline -H 10.0.0.2            one journey per packet: hops, times, path, fate
          skbtracer --drop --dropstack                dropwatch: drops per reason and location, with stacks
          skbtracer --record trace.skbt --track       record unformatted (cheapest); `skbtracer replay trace.skbt`
          skbtracer ping 10.0.0.2 --from ns1          an L2 mtr: send probes, show each one's journey
          skbtracer --list                            the probe tree, and the curated kernel functions
          skbtracer --backend kprobe-multi -t default,bridge   kernel functions too (kprobes): the bridge's
          skbtracer --list-hooks -N ns1               the netfilter hooks of ns1 (nft list hooks)
        """
    )

    @OptionGroup(title: "Filters") var filters: FilterOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Probes") var probes: ProbeOptions
    @OptionGroup(title: "Journeys, tracking and drops") var journeys: JourneyOptions

    // .unconditional: "-c -5" reaches our check (and its hint) instead of
    // ArgumentParser reading "-5" as an option.
    @Option(name: [.short, .customLong("count"), .customLong("catch-count"), .customLong("output-limit-lines")], parsing: .unconditional,
            help: ArgumentHelp("Stop after this many events (journeys with --timeline, drops with --drop).", valueName: "n"))
    var count: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
    var duration: Double?
    @Option(help: ArgumentHelp("Create this file once every probe is attached.", valueName: "path"))
    var readyFile: String?
    @Option(help: ArgumentHelp("Write the events to this file (- for stdout) unformatted, for `skbtracer replay` (nothing is printed).",
                               valueName: "file"))
    var record: String?
    @Option(help: ArgumentHelp("Ring buffer size in MiB (a power of two).", valueName: "mib"))
    var ringSize: UInt32 = 8
    @Flag(help: "Show each event's conntrack entry: state, direction, NAT, mark, zone, original and reply tuples (Retis' ct).")
    var ct = false
    @Flag(help: "Show each event's socket (its inode, as in ss -e and /proc/PID/fd) and the process that owns it, whichever task the probe fired in.")
    var owner = false
    @Flag(help: "Print each event's sk_buff, every non-zero field, as the kernel's BTF describes it (pwru's --output-skb; about 2-3 KB an event).")
    var outputSkb = false
    @Flag(help: "Show the packet inside each VXLAN, GENEVE, GRE, IPIP or IPv6-in-IP packet: the tunnel, its VNI and the inner headers (pwru's --output-tunnel). Filters match the inner packet with or without it.")
    var outputTunnel = false
    @Flag(help: "With a function backend, show where each probed kernel function was called from (its return address, as symbol+offset; pwru's --output-caller).")
    var outputCaller = false
    @Flag(name: [.customLong("netfilter"), .customLong("iptable")],
          help: "Show each netfilter hook the packet enters and leaves (BPF netfilter programs, Linux 6.4+), in skbtracer's namespace and -N's, or in every namespace without -N (skbtracer.py's --iptable).")
    var netfilter = false
    @Flag(name: [.short, .long], help: "Print libbpf's and the verifier's log to stderr.")
    var verbose = false
    @Flag(help: "List the netfilter hooks of the namespace (-N, else skbtracer's own) per family and hook, with priorities and what they call (nf_tables chains, iptables, conntrack, BPF programs), as `nft list hooks`; on a kernel without that listing (CONFIG_NETFILTER_NETLINK_HOOK), the nf_tables base chains only. --json for JSON lines. Then exit.")
    var listHooks = false

    /// Checked in run(), not validate(): ArgumentParser wraps what validate()
    /// throws, and these must stay UsageErrors (exit status 2, our hint).
    func checkValues() throws(UsageError) {
        try ViewChecks.count(count)
        if let duration, !(duration > 0) { throw UsageError("invalid duration '\(duration)' for --duration", hint: "give seconds > 0") }
        if ringSize == 0 || ringSize & (ringSize - 1) != 0 || ringSize > 1024 {
            throw UsageError("invalid ring size '\(ringSize)' for --ring-size", hint: "give a power of two from 1 to 1024 (MiB)")
        }
        if outputSkb && (journeys.timeline || journeys.selection.isOn) && !output.json {
            throw UsageError("--output-skb prints dumps under events, and the text journey view has no room for them",
                             hint: "add --json (each hop carries skb_dump), or drop --timeline")
        }
        if outputCaller && probes.backend == .tracepoint {
            throw UsageError("--output-caller shows who called a probed kernel function, and tracepoints are not functions",
                             hint: "add --backend kprobe-multi (or auto), or use --callstack for a tracepoint's whole stack")
        }
        if journeys.drop, let (option, _) = [("--ct", ct), ("--owner", owner), ("--output-skb", outputSkb),
                                             ("--output-tunnel", outputTunnel), ("--output-caller", outputCaller)].first(where: { $0.1 }) {
            throw UsageError("--drop prints counts of drops, not events: \(option) would show nothing",
                             hint: "use \(option) with -t life (every drop as an event) instead of --drop")
        }
        if record != nil {
            let printing = [("--json", output.json), ("-o/--output", output.output != nil), ("--timeline", journeys.timeline),
                            ("--min-latency", journeys.selection.minLatency != nil), ("--diag-quiet", journeys.selection.diagQuiet),
                            ("--drop", journeys.drop), ("--diag", journeys.diag)]
            if let (option, _) = printing.first(where: { $0.1 }) {
                throw UsageError("--record writes events unformatted and cannot take \(option)",
                                 hint: "record, then `skbtracer replay FILE \(option == "-o/--output" ? "-o OUT" : option == "--min-latency" ? "--min-latency MS" : option)`")
            }
        }
    }

    /// --owner-pid names a running process, by its process id: BPF notes owners
    /// by tgid, so a thread's id would match only what /proc lists at the start.
    static func checkProcess(_ pid: UInt32) throws(UsageError) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            throw UsageError("no process '\(pid)' for --owner-pid", hint: "give the id of a running process, e.g. --owner-pid $(pidof nginx)")
        }
        let tgid = status.split(separator: "\n").first { $0.hasPrefix("Tgid:") }
            .flatMap { UInt32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
        if let tgid, tgid != pid {
            throw UsageError("'\(pid)' for --owner-pid is a thread of process \(tgid)", hint: "give the process id: --owner-pid \(tgid)")
        }
    }

    func tracerOptions() throws -> TracerOptions {
        try checkValues()
        var o = TracerOptions()
        o.filter = try filters.filter()
        // Live only: a replay's -N and -i name the recording machine's.
        if let name = filters.ifname, let ns = filters.netnsSpec { try InterfaceInNetns.check(ifname: name, netns: ns) }
        let selection = try probes.selection()
        o.probes = selection.probes
        o.functions = selection.functions
        o.backend = probes.backend
        o.functionPattern = probes.filterFunc
        o.format = output.json ? .json : .text
        o.timeFormat = try output.timeFormat()
        o.count = count
        o.duration = duration
        o.readyFile = readyFile
        o.outputPath = output.output
        o.recordPath = record
        o.fileMode = try output.fileModeBits()
        o.color = output.colorOn()
        o.printHeader = !output.noHeader && !output.json
        o.ringBytes = ringSize << 20
        o.verbose = verbose
        o.conntrack = ct
        o.netfilter = netfilter
        o.owner = owner || o.filter.ownerPid != nil
        if let pid = o.filter.ownerPid { try Self.checkProcess(pid) }
        o.skbDump = outputSkb
        o.tunnel = outputTunnel
        o.outputCaller = outputCaller
        try journeys.apply(to: &o, probesGiven: probes.given)
        try output.applyWrite(to: &o, recording: record != nil)
        return o
    }

    func run() throws {
        if listHooks {
            _ = try tracerOptions()
            try HookListing.run(netnsSpec: filters.netnsSpec, json: output.json)
            return
        }
        if probes.list {
            // The other options are still checked: a bad value is an error here too.
            _ = try tracerOptions()
            print(try ProbeTree.listing(functions: probes.backend != .tracepoint, pattern: probes.filterFunc), terminator: "")
            return
        }
        let options = try tracerOptions()
        StopSignals.install()
        let session = try TracerSession(options: options)
        defer { session.finish() }
        do {
            try session.start()
        } catch {
            session.finish()
            throw error
        }
        for n in session.notes { Diagnostics.note(n) }
        for w in session.warnings { Diagnostics.warn(w) }
        session.run()
        let summary = session.finish()
        Diagnostics.note(summary.line)
        if let error = session.outputError { throw error }
    }
}
