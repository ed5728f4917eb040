import CSkbTracerABI
import ArgumentParser
import Foundation
import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSession
import SkbTracerSystem

/// Packet filters, evaluated in BPF.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Protocol: \(TraceFilter.protocolNames).", valueName: "proto"))
    var proto: String?
    // nettrace's -p is the protocol, skbtracer.py's the pid: the value tells them apart.
    @Option(name: .customShort("p"), help: ArgumentHelp("A protocol name means --proto (nettrace's -p), a number --pid.", valueName: "proto|pid"))
    var protoOrPid: String?
    @Option(name: [.customShort("H"), .customLong("addr"), .customLong("ipaddr")],
            help: ArgumentHelp("IPv4 or IPv6 address, as source or destination.", valueName: "addr"))
    var addr: String?
    @Option(name: [.short, .long], help: ArgumentHelp("Source address.", valueName: "addr"))
    var saddr: String?
    @Option(name: [.short, .long], help: ArgumentHelp("Destination address.", valueName: "addr"))
    var daddr: String?
    @Option(name: [.customShort("P"), .long], help: ArgumentHelp("TCP/UDP port, source or destination.", valueName: "port"))
    var port: String?
    // -S/-D as in nettrace.
    @Option(name: [.customShort("S"), .long], help: ArgumentHelp("TCP/UDP source port.", valueName: "port"))
    var sport: String?
    @Option(name: [.customShort("D"), .long], help: ArgumentHelp("TCP/UDP destination port.", valueName: "port"))
    var dport: String?
    @Option(help: ArgumentHelp("ICMP/ICMPv6 echo id.", valueName: "id"))
    var icmpid: String?
    @Option(help: ArgumentHelp("TCP flags that must all be set: letters FSRPAUEC (SA = SYN+ACK) or names (syn,ack).", valueName: "flags"))
    var tcpFlags: String?
    @Option(help: ArgumentHelp("IP length as IP_LEN shows it (IPv4 total length, IPv6 payload + 40): LEN or MIN-MAX.",
                               valueName: "len"))
    var pktLen: String?
    // The --filter-* names are pwru's.
    @Option(name: [.customShort("N"), .long, .customLong("filter-netns")],
            help: ArgumentHelp("Network namespace: inode (or inode:N), /proc/PID/ns/net, or a name from `ip netns list`.",
                               valueName: "netns"))
    var netns: String?
    @Option(name: [.short, .long, .customLong("filter-ifname")],
            help: ArgumentHelp("Interface name: in every namespace, or with -N that namespace's interface (an error if it has none); socket-level probes have no interface and never match.",
                               valueName: "name"))
    var ifname: String?
    @Option(name: [.long, .customLong("filter-mark")], help: ArgumentHelp("skb mark, VALUE or VALUE/MASK (decimal or 0x hex).", valueName: "mark"))
    var mark: String?
    @Option(help: ArgumentHelp("Process id (tgid) the probe fires in.", valueName: "pid"))
    var pid: String?
    @Flag(help: ArgumentHelp("Same as -N /proc/self/ns/net: skbtracer's own namespace (nettrace).", visibility: .hidden))
    var netnsCurrent = false
    @Option(help: ArgumentHelp("Process (tgid) owning the packet's socket, whichever task the probe fires in (implies --owner).",
                               valueName: "pid"))
    var ownerPid: String?

    @Argument(help: ArgumentHelp("A tcpdump (pcap-filter) expression, e.g. 'tcp port 80 and host 10.1.2.3', compiled by libpcap and run in the kernel on each packet, from its Ethernet header where the probe sees one, else from its IP header (an expression about the link layer then never matches); combined with the options above, all must match.",
                                 valueName: "expression"))
    var expression: [String] = []

    /// -N's value as given (--netns-current is this process's namespace).
    var netnsSpec: String? { netnsCurrent ? "/proc/self/ns/net" : netns }

    func filter() throws(UsageError) -> TraceFilter {
        if netnsCurrent && netns != nil {
            throw UsageError("--netns-current and -N/--netns '\(netns ?? "")' name two namespaces", hint: "pick one")
        }
        var o = TraceFilter.Options()
        o.proto = proto; o.addr = addr; o.saddr = saddr; o.daddr = daddr
        o.port = port; o.sport = sport; o.dport = dport; o.icmpID = icmpid
        o.tcpFlags = tcpFlags; o.netns = netnsSpec
        o.ifname = ifname; o.mark = mark; o.pid = pid; o.ownerPid = ownerPid; o.pktLen = pktLen
        o.protoOrPid = protoOrPid
        o.expression = expression.isEmpty ? nil : expression.joined(separator: " ")
        return try TraceFilter.parse(o)
    }
}

/// How events are printed.
struct OutputOptions: ParsableArguments {
    @Flag(name: [.long, .customLong("output-json")], help: "One JSON object per event (schema: docs/json-schema.md).")
    var json = false
    @Flag(name: [.customShort("T"), .customLong("time")], help: "Wall-clock time HH:MM:SS.micro (the default).")
    var wallClock = false
    @Flag(name: .customLong("timestamp"),
          help: "Monotonic seconds.microseconds, as bpf_ktime_get_ns. pwru's --timestamp none|current|relative|absolute work too: no time, wall clock, since the first event, monotonic.")
    var timestamp = false
    /// `--timestamp VALUE`, which SkbTracerMain rewrites to this name: a flag
    /// with an optional value would swallow replay's FILE after a bare --timestamp.
    @Option(name: .customLong(PwruTimestamp.optionName), help: ArgumentHelp("", visibility: .private))
    var timestampValue: String?
    @Flag(help: "Seconds since the first event.")
    var relative = false
    @Flag(help: "Wall-clock date and time, YYYY-MM-DD HH:MM:SS.micro (nettrace's --date).")
    var date = false
    @Option(name: [.short, .long, .customLong("output-file")], help: ArgumentHelp("Write events to this file instead of stdout.", valueName: "file"))
    var output: String?
    @Flag(help: "Do not print the column header.")
    var noHeader = false
    @Option(help: ArgumentHelp("Permission bits, in octal, of the files skbtracer writes (-o, --record, --write): default 0600, the owner's alone, as perf.data, since they hold kernel addresses, process names and packet contents; e.g. 0640 to let a group read them. An existing file gets them too.",
                               valueName: "mode"))
    var fileMode: String?
    @Option(help: ArgumentHelp("Colour drops and lost events in the text views: auto (on a terminal, unless TERM=dumb or NO_COLOR is set), always, never. JSON is never coloured.",
                               valueName: "when"))
    var color: ColorChoice = .auto
    @Option(help: ArgumentHelp("Write each event's packet to this pcap-ng file for Wireshark or tshark (- for stdout: `| wireshark -k -i -`), with a comment naming the probe, namespace, interface, skb, drop and journey (--timeline's number: packets are written a journey at a time, when it ends); nothing else is printed.",
                               valueName: "file"))
    var write: String?
    @Option(help: ArgumentHelp("Bytes of each packet --write keeps (and --record, when given), from its Ethernet or IP header; default 256, at most \(ST_SNAPLEN_MAX).",
                               valueName: "bytes"))
    var snaplen: Int?

    /// `--write` and `--snaplen` into `o`: the pcap-ng view writes where -o would.
    func applyWrite(to o: inout TracerOptions, recording: Bool) throws(UsageError) {
        if let n = snaplen {
            guard n >= 1, n <= Int(ST_SNAPLEN_MAX) else {
                throw UsageError("invalid value '\(n)' for --snaplen", hint: "give 1 to \(ST_SNAPLEN_MAX) bytes")
            }
        }
        guard let path = write else {
            if recording, let n = snaplen { o.snaplen = UInt16(n) }
            return
        }
        guard output == nil else { throw UsageError("--write and -o exclude each other", hint: "--write writes the file; drop -o") }
        guard !recording else { throw UsageError("--write and --record exclude each other", hint: "record with --snaplen, then `skbtracer replay FILE --write OUT.pcapng`") }
        guard o.view == .events else { throw UsageError("--write and --timeline or --drop exclude each other", hint: "write the packets first, then look at them in Wireshark") }
        o.writePath = path
        if path != "-" { o.outputPath = path }
        o.snaplen = UInt16(snaplen ?? 256)
    }
    /// Peers' switches for what skbtracer always shows (process, interface, CPU,
    /// namespace, mark, length, tuple, TCP flags): accepted so their users'
    /// command lines work.
    @Flag(name: [.customLong("detail"), .customLong("output-meta"), .customLong("output-tuple"),
                 .customLong("output-tcp-flags")],
          help: ArgumentHelp("Accepted for nettrace's --detail and pwru's --output-meta, --output-tuple, --output-tcp-flags: always shown.",
                             visibility: .hidden))
    var alwaysShown = false

    /// `--color` for this run: `auto` looks at stdout, so -o FILE is never coloured by it.
    func colorOn() -> Bool {
        !json && color.enabled(isTerminal: output == nil && isatty(1) == 1, environment: ProcessInfo.processInfo.environment)
    }

    /// `--file-mode`, else the owner's alone.
    func fileModeBits() throws(UsageError) -> mode_t {
        try fileMode.map { m throws(UsageError) in try OutputFile.parseMode(m) } ?? OutputFile.defaultMode
    }

    func timeFormat() throws(UsageError) -> TimeFormat {
        let chosen = [wallClock, timestamp, timestampValue != nil, relative, date].filter { $0 }.count
        guard chosen <= 1 else {
            throw UsageError("-T/--time, --timestamp, --relative and --date exclude each other", hint: "pick one time format")
        }
        if let v = timestampValue {
            guard let format = TimeFormat(pwru: v) else {
                throw UsageError("invalid value '\(v)' for --timestamp",
                                 hint: "give \(TimeFormat.pwruValues.joined(separator: ", ")), or --timestamp alone for monotonic seconds")
            }
            return format
        }
        return timestamp ? .monotonic : relative ? .relative : date ? .date : .wallClock
    }
}

/// Which probes to attach.
struct ProbeOptions: ParsableArguments {
    @Option(name: [.short, .customLong("trace")],
            help: ArgumentHelp("Probes or groups to trace, comma-separated (see --list); default: the starred ones. With --backend, also groups of kernel functions (default: all groups, the curated set), a function's name, or all-functions (every one with an sk_buff): -t bridge,netfilter.",
                               valueName: "group|probe|function,..."))
    var trace: String?
    @Option(help: ArgumentHelp("Only the probes whose name matches this regular expression (among -t's, else among all); with a function backend, also the kernel functions to probe.",
                               valueName: "regex"))
    var filterFunc: String?
    @Option(help: ArgumentHelp("tracepoint (the default: works without kprobes), or also kernel functions with an sk_buff argument through kprobe-multi or kprobe (pwru's --backend): a curated set of about 150 by default, every one with -t all-functions; auto: the best this kernel offers.",
                               valueName: "tracepoint|kprobe-multi|kprobe|auto"))
    var backend: BackendChoice = .tracepoint
    @Flag(help: "Also trace route lookups (group `route`): table, gateway and device chosen, or the error (skbtracer.py's --route).")
    var route = false
    @Flag(help: "List the probe tree and what this kernel supports, then exit.")
    var list = false

    var given: Bool { trace != nil || filterFunc != nil || route || backend != .tracepoint }

    var functionBackend: Bool { backend != .tracepoint }

    /// The tracepoint probes and the kernel functions to attach.
    func selection() throws(UsageError) -> TraceSelection {
        let chosen = try trace.map { t throws(UsageError) in
            try TraceSelection.parse(t.split(separator: ",").map(String.init), functionBackend: functionBackend)
        }
        // Without -t: the curated functions, or all of them for --filter-func to choose from (pwru's way).
        let functions = chosen?.functions ?? (filterFunc != nil ? .all : .curated)
        var probes: [Probe]
        if let f = filterFunc, functionBackend {
            // The expression may name only kernel functions: the tracer checks
            // that it matches something once it has read the kernel's BTF.
            probes = try ProbeCatalogue.matching(f, among: chosen?.probes ?? ProbeCatalogue.all, allowingNone: true)
        } else {
            probes = try filterFunc.map { f throws(UsageError) in try ProbeCatalogue.matching(f, among: chosen?.probes ?? ProbeCatalogue.all) }
                ?? chosen?.probes ?? ProbeCatalogue.defaults
        }
        if route {
            probes += ProbeCatalogue.all.filter { $0.isRoute && !probes.contains($0) }
        }
        return TraceSelection(probes: probes, functions: functions)
    }
}

/// Value checks shared by the commands that print a view (trace, replay).
enum ViewChecks {
    static func views(timeline: Bool, drop: Bool) throws(UsageError) {
        if timeline && drop { throw UsageError("--timeline and --drop exclude each other", hint: "pick one view") }
    }

    static func count(_ count: Int?) throws(UsageError) {
        if let count, count <= 0 { throw UsageError("invalid count '\(count)' for --count", hint: "give a positive number") }
    }

    static func dropInterval(_ seconds: Double) throws(UsageError) {
        if !(seconds >= 0.1) || seconds > 3600 {
            throw UsageError("invalid interval '\(seconds)' for --drop-interval", hint: "give seconds from 0.1 to 3600")
        }
    }

    /// Bounded above too: seconds become UInt64 nanoseconds.
    static func journeyTimeout(_ seconds: Double) throws(UsageError) {
        if !(seconds > 0) || seconds > 3600 {
            throw UsageError("invalid timeout '\(seconds)' for --journey-timeout", hint: "give seconds from 0.001 to 3600")
        }
    }
}

/// Which journeys are printed (nettrace's names); either implies --timeline.
struct JourneySelectionOptions: ParsableArguments {
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Print only journeys that lasted at least this long, first event to last (nettrace's --min-latency; implies --timeline).",
                               valueName: "ms"))
    var minLatency: String?
    @Flag(help: "Print only journeys that were dropped, known noise aside (nettrace's --diag-quiet; implies --timeline).")
    var diagQuiet = false

    var isOn: Bool { minLatency != nil || diagQuiet }

    /// The filter; `drop`: --drop was given, which has no journeys.
    func filter(drop: Bool) throws(UsageError) -> JourneyFilter {
        guard isOn else { return JourneyFilter() }
        if drop { throw UsageError("--min-latency and --diag-quiet choose journeys, which --drop does not print", hint: "drop one, or use --timeline") }
        var minNs: UInt64?
        if let text = minLatency {
            // Plain decimal milliseconds: Double() would also take "0x10", "1e3" or "inf".
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  let ms = Double(text), ms <= 3_600_000 else {
                throw UsageError("invalid latency '\(text)' for --min-latency", hint: "give milliseconds from 0 to 3600000, e.g. --min-latency 0.5")
            }
            minNs = UInt64((ms * 1e6).rounded())
        }
        return JourneyFilter(minDurationNs: minNs, problemsOnly: diagQuiet)
    }
}

/// Journeys, tracking, drops and stacks.
struct JourneyOptions: ParsableArguments {
    @Flag(help: "Group events per packet: each packet's hops with times, its path, how it ended; a diagnosis at exit.")
    var timeline = false
    @Flag(help: "Only drops, dropwatch-style: counts per reason and location every interval, totals at exit.")
    var drop = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between --drop count updates.", valueName: "seconds"))
    var dropInterval: Double = 1
    @Flag(inversion: .prefixedNo,
          help: "Follow a matched skb by address until it is freed, through NAT and namespaces (default: on with --timeline).")
    var track: Bool?
    @Flag(name: [.customLong("keep"), .customLong("filter-track-skb")],
          help: ArgumentHelp("Same as --track (skbtracer.py, pwru).", visibility: .hidden))
    var trackAlias = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Size of the tracking table; a full table is counted and reported.", valueName: "n"))
    var trackMax: Int = 16384
    @Option(parsing: .unconditional, help: ArgumentHelp("Forget a tracked skb after this many seconds without an event.", valueName: "seconds"))
    var trackTimeout: Double = 5
    @Option(parsing: .unconditional, help: ArgumentHelp("Print a journey as in flight after this many seconds without an event.", valueName: "seconds"))
    var journeyTimeout: Double = 2
    @Flag(help: "Record the kernel stack at each drop.")
    var dropstack = false
    @Flag(name: [.long, .customLong("output-stack")], help: "Record the kernel stack at every event.")
    var callstack = false
    @Flag(help: "Print a diagnosis at exit: per flow delivered/forwarded/dropped, each drop with its hint (always on with --timeline).")
    var diag = false
    @OptionGroup var selection: JourneySelectionOptions

    func apply(to o: inout TracerOptions, probesGiven: Bool) throws(UsageError) {
        try ViewChecks.views(timeline: timeline, drop: drop)
        o.journeyFilter = try selection.filter(drop: drop)
        let timeline = self.timeline || selection.isOn
        if dropstack && callstack {
            throw UsageError("--dropstack and --callstack exclude each other", hint: "--callstack already includes drops")
        }
        if drop && probesGiven {
            throw UsageError("--drop traces kfree_skb only and cannot take -t, --filter-func, --route or --backend",
                             hint: "drop them, or use `-t life` without --drop")
        }
        try ViewChecks.dropInterval(dropInterval)
        if trackMax < 1 || trackMax > 1 << 22 {
            throw UsageError("invalid size '\(trackMax)' for --track-max", hint: "give 1 to 4194304 entries")
        }
        // Bounded above too: seconds become UInt64 nanoseconds.
        if !(trackTimeout > 0) || trackTimeout > 3600 {
            throw UsageError("invalid timeout '\(trackTimeout)' for --track-timeout", hint: "give seconds from 0.001 to 3600")
        }
        try ViewChecks.journeyTimeout(journeyTimeout)
        o.view = timeline ? .timeline : drop ? .drops : .events
        o.track = track ?? (trackAlias || timeline)
        if trackAlias && track == false {
            throw UsageError("--keep/--filter-track-skb contradicts --no-track", hint: "pick one")
        }
        o.trackMax = UInt32(trackMax)
        o.trackTimeout = trackTimeout
        o.journeyTimeout = journeyTimeout
        o.dropInterval = dropInterval
        o.stacks = callstack ? .all : dropstack ? .drops : .none
        o.diagnose = diag || timeline
        if drop {
            o.probes = [ProbeCatalogue.drops]
            o.track = false
        }
    }
}

extension BackendChoice: ExpressibleByArgument {}
extension ColorChoice: ExpressibleByArgument {}
