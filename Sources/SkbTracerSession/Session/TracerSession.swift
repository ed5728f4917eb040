import BPFKit
import CSkbTracerABI
import Foundation
import SkbTracerAnalysis
import SkbTracerBPFObject
import SkbTracerModel
import SkbTracerNetfilter
import SkbTracerOutput
import SkbTracerSystem

/// One trace: load and attach the probes, read events, detach.
///
/// `start()` attaches; `poll()` reads what arrived; `finish()` drains the ring,
/// reads the loss counters and releases every link and program. The object owns
/// its links, so an error anywhere in between still leaves nothing attached.
public final class TracerSession {
    public let options: TracerOptions
    public private(set) var summary = TraceSummary()
    public private(set) var supports: [ProbeSupport] = []
    public private(set) var warnings: [String] = []
    /// What the user should know that is not a problem (the curated default).
    public private(set) var notes: [String] = []
    /// The curated default's note, said once its functions are loaded (`auto` may fall back).
    private var curatedLine: String?

    private let sink: OutputSink
    private let formatter: any EventFormatter
    private let context: FormatContext
    public let names: JourneyNames
    private let interfaceNames: InterfaceNames
    /// Where decoded events go (printed, grouped into journeys, or counted as drops).
    public var consumer: any TraceConsumer { pipeline.consumer }
    /// Enrichment, selection and the view: the path replay shares.
    private let pipeline: TracePipeline
    private var lastSweepNs: UInt64 = 0
    /// The last poll's time at which the ring buffer was drained (see poll()).
    private var settledNs: UInt64 = 0
    private var lastPinNs: UInt64 = 0
    private let btf: KernelBTF
    private var object: BPFObject?
    /// Kernel function probes (`--backend`), sharing `object`'s maps.
    private var functionProbes: FunctionProbeSet?
    /// `--netfilter`'s hook programs, sharing `object`'s maps, and the
    /// namespaces they go into.
    private var netfilterHooks: NetfilterHookSet?
    private lazy var tracedNamespaces = TracedNamespaces(named: options.filter.netns)
    /// `--netfilter`'s rule verdicts (nftrace), a second source: the ring's events
    /// of each poll wait in `batch` until the verdicts read after them are placed
    /// among them by `merger`.
    private var nftrace: NftraceSource?
    private let merger = VerdictMerger()
    private var batch: [TraceEvent] = []
    private var ring: RingBuffer?
    private var startNs: UInt64 = 0
    /// Called for every decoded event before it is formatted (tests, the demo).
    public var onEvent: ((TraceEvent) -> Void)? {
        get { pipeline.onEvent }
        set { pipeline.onEvent = newValue }
    }
    /// A user-space filter after the BPF one (the demo keeps its lab's packets).
    public var acceptEvent: ((TraceEvent) -> Bool)? {
        get { pipeline.select }
        set { pipeline.select = newValue }
    }

    /// A write error other than a closed pipe (ENOSPC, EIO): the run failed.
    public var outputError: RuntimeError? {
        // EPIPE: the reader left; EINTR: a stop signal ended a blocked write.
        guard let e = sink.writeError, e != EPIPE, e != EINTR else { return nil }
        return RuntimeError("write output: \(String(cString: strerror(e))) (errno \(e))",
                            hint: "check the output file's disk or use another -o path")
    }

    public var isDone: Bool {
        if let c = options.count, summary.printed >= UInt64(c) { return true }
        return sink.writeError != nil
    }

    public init(options: TracerOptions, sink: OutputSink? = nil) throws {
        self.options = options
        guard FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") else {
            throw RuntimeError("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)",
                               hint: "skbtracer needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")
        }
        btf = try KernelBTF()
        if options.recordPath == "-" {
            // A recording to stdout, for a pipe (`| ssh host 'cat > t.skbt'`), never a terminal.
            guard isatty(1) == 0 else {
                throw RuntimeError("--record - would write a binary recording to the terminal",
                                   hint: "redirect stdout to a file or a pipe, or give --record a file name")
            }
            self.sink = OutputSink(fd: 1)
        } else if options.writePath == "-" {
            guard isatty(1) == 0 else {
                throw RuntimeError("--write - would write pcap-ng to the terminal",
                                   hint: "pipe it into wireshark -k -i - or tshark -r -, or give --write a file name")
            }
            self.sink = OutputSink(fd: 1)
        } else if let path = options.recordPath ?? options.outputPath {
            self.sink = try OutputSink(path: path, mode: options.fileMode)
        } else {
            self.sink = sink ?? OutputSink()
        }
        context = FormatContext(dropReasons: DropReasons(btf: btf), symbols: KernelSymbols(),
                                timeFormat: options.timeFormat)
        if options.owner { context.owners = SocketOwners(procRoot: "/proc") }
        context.color = options.color
        formatter = makeFormatter(options.format, context: context)
        names = JourneyNames(dropReasons: context.dropReasons, symbols: context.symbols, netns: NetnsNames())
        interfaceNames = InterfaceNames(netns: names.netns)
        let consumer: any TraceConsumer
        if options.recordPath != nil {
            let header = RecordFormat.Header(realtimeOffsetNs: context.clock.realtimeOffsetNs,
                                             utcOffsetSeconds: context.clock.utcOffsetSeconds,
                                             hostNetns: names.netns.hostInode ?? 0, startNs: MonotonicClock.now())
            consumer = Recorder(sink: self.sink, header: header, dropReasons: context.dropReasons,
                                symbols: context.symbols, netns: names.netns, owners: context.owners)
        } else {
            consumer = Self.makeConsumer(options, sink: self.sink, formatter: formatter, context: context, names: names)
        }
        pipeline = TracePipeline(consumer: consumer, count: options.count, symbols: context.symbols,
                                 dumpExpected: options.skbDump, tickOnEventTime: false)
    }

    static func makeConsumer(_ options: TracerOptions, sink: OutputSink, formatter: any EventFormatter,
                             context: FormatContext, names: JourneyNames) -> any TraceConsumer {
        let tracker = JourneyTracker(names: names, maxOpen: options.maxJourneys,
                                     timeoutNs: UInt64(options.journeyTimeout * 1e9))
        if options.writePath != nil {
            let writer = PcapngWriter(sink: sink, names: names, context: context, snaplen: options.snaplen ?? 256,
                                      tracker: tracker)
            writer.limit = options.count.map { UInt64($0) }
            return writer
        }
        let journeys = makeJourneyFormatter(options.format, context: context, names: names)
        switch options.view {
        case .events:
            let diag = options.diagnose ? DiagnosisCollector(tracker: tracker, formatter: journeys) : nil
            return EventStream(sink: sink, formatter: formatter, header: options.printHeader, diagnosis: diag)
        case .timeline:
            let stream = JourneyStream(sink: sink, formatter: journeys, lostFormatter: formatter, tracker: tracker,
                                       printDiagnosis: true)
            stream.limit = options.count.map { UInt64($0) }
            stream.filter = options.journeyFilter
            return stream
        case .drops:
            return DropWatch(sink: sink, json: options.format == .json, names: names, context: context,
                             intervalNs: UInt64(options.dropInterval * 1e9))
        }
    }

    /// Which of the requested probes this kernel can attach, and why not.
    public static func resolveSupport(_ probes: [Probe], btf: KernelBTF) -> [ProbeSupport] {
        probes.map { ProbeSupport.resolve($0, btf: btf) }
    }

    public func start() throws {
        if let ready = options.readyFile { unlink(ready) }
        LibbpfLog.setVerbose(options.verbose)
        supports = Self.resolveSupport(options.probes, btf: btf)
        // CO-RE finds nf_conn in vmlinux or in a loaded module's BTF; without either the
        // conntrack reads compile away and --ct would show nothing without a word.
        if options.conntrack && !btf.hasStruct("nf_conn") && !FileManager.default.fileExists(atPath: "/sys/kernel/btf/nf_conntrack") {
            warnings.append("--ct: this kernel has no conntrack (or nf_conntrack was not loaded when tracing started): no event will show one")
        }
        for s in supports {
            if case .missing(let why) = s.status { warnings.append("probe \(s.probe.name) skipped: \(why)") }
        }
        var usable = supports.filter(\.isAvailable)
        if options.view == .timeline || options.diagnose,
           !usable.contains(where: { [ST_PROBE_KFREE_SKB, ST_PROBE_CONSUME_SKB].map(ProbeCatalogue.probe).contains($0.probe) }) {
            warnings.append("no kfree_skb/consume_skb probe: journeys end only after --journey-timeout (add -t life)")
        }
        summary.requested = options.probes.count
        let functions = try chooseFunctions(tracepoints: usable.count)
        guard !usable.isEmpty || functions != nil else {
            if options.probes.isEmpty, options.backend == .auto, !FunctionProbes.kprobesAvailable() {
                throw RuntimeError("-t picks only kernel functions, and --backend auto found no function backend: this kernel has no kprobes",
                                   hint: "add tracepoints to -t (e.g. -t default,\(options.functions.groups.map(\.rawValue).sorted().first ?? "ip")), or use a kernel with kprobes")
            }
            throw RuntimeError("none of the selected probes exists on this kernel",
                               hint: "run `skbtracer --list` to see what this kernel supports")
        }

        // A program the verifier rejects is dropped and the rest loaded again:
        // one odd tracepoint must not cost the whole trace.
        var attempts = 0
        while true {
            attempts += 1
            let obj = try openObject(usable)
            do {
                try obj.load()
                object = obj
                break
            } catch let error as BPFError {
                let log = LibbpfLog.take()
                obj.close()
                if options.verbose == false, attempts <= 3,
                   let failed = Self.failedProgram(in: log), let i = usable.firstIndex(where: { $0.probe.program.rawValue == failed }),
                   error.errno != 1, usable.count > 1 {
                    warnings.append("probe \(usable[i].probe.name) skipped: the verifier rejected it (run with --verbose for its log)")
                    usable.remove(at: i)
                    continue
                }
                throw RuntimeError("load BPF programs: \(BPFError.message(error.errno)) (errno \(error.errno))",
                                   hint: error.errno == 1
                                       ? "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
                                       : "run with --verbose to see libbpf's and the verifier's log")
            }
        }
        guard let object else { return }
        try writeExpression(into: object)
        if let functions {
            do {
                try functions.load(sharing: object)
                functionProbes = functions
                if let curated = curatedLine { notes.append(curated) }
            } catch where options.backend == .auto {
                warnings.append("--backend auto: \(Self.describe(error)): tracing with tracepoints only")
            } catch {
                object.close()
                self.object = nil
                throw error
            }
        }
        // --owner-pid matches in BPF through the map: the process's sockets from
        // before the trace go in before any probe runs; BPF notes the ones it uses
        // later, and poll() puts them back if the LRU evicted them.
        pinTargetSockets()
        for s in usable {
            guard let prog = object.program(s.probe.program) else { continue }
            do {
                try object.attach(prog)
                summary.attached += 1
                if s.probe == ProbeCatalogue.probe(ST_PROBE_KFREE_SKB) { summary.dropsTraced = true }
            } catch let error as BPFError {
                warnings.append("probe \(s.probe.name) not attached: \(error)")
            }
        }
        for owner in ownerPrograms {
            guard let prog = object.program(owner) else { continue }
            do { try object.attach(prog) } catch let error as BPFError {
                warnings.append("--owner: \(Self.tracepoint(of: owner)) not attached (\(error)): owners come from /proc only")
            }
        }
        if let functions = functionProbes {
            do {
                try functions.attach(base: object)
                summary.functionBackend = functions.backend.rawValue
                summary.functionsAttached = functions.attached
                summary.functionsRequested = functions.functions.count
                for f in functions.failures.prefix(3) { warnings.append("function \(f.function) not attached: \(f.error)") }
                if functions.failures.count > 3 { warnings.append("\(functions.failures.count - 3) more functions not attached") }
            } catch {
                functions.close()
                functionProbes = nil
                guard options.backend == .auto else {
                    object.close()
                    self.object = nil
                    throw error
                }
                warnings.append("--backend auto: \(Self.describe(error)): tracing with tracepoints only")
            }
        }
        if options.netfilter { startNetfilter(object) }
        guard summary.attached + summary.functionsAttached > 0 else {
            object.close()
            self.object = nil
            throw RuntimeError("no probe could be attached", hint: "run with --verbose to see libbpf's log")
        }
        if options.owner, let owners = object.map(TracepointsObject.Map.sockOwners) {
            context.owners.lookupMap = { owners.lookup($0, as: st_sock_owner.self) }
        }
        guard let events = object.map(TracepointsObject.Map.events) else {
            throw RuntimeError("BPF object has no 'events' map", hint: "rebuild skbtracer")
        }
        ring = try RingBuffer(map: events) { [unowned self] bytes in self.handle(bytes) }
        consumer.begin()
        startNs = MonotonicClock.now()
        if let ready = options.readyFile {
            guard FileManager.default.createFile(atPath: ready, contents: Data("ready\n".utf8)) else {
                throw RuntimeError("cannot create ready file \(ready)", hint: "check the directory exists and is writable")
            }
        }
    }

    /// `--netfilter`: the hook programs, linked in the traced namespaces, and the
    /// nftrace tables and listeners there. A kernel without either costs a
    /// warning only: the rest of the trace runs.
    private func startNetfilter(_ object: BPFObject) {
        let hooks = NetfilterHookSet()
        do {
            try hooks.load(sharing: object, btf: btf)
            netfilterHooks = hooks
        } catch {
            warnings.append("\(Self.describe(error)): no hook events; rule verdicts and the rest of the trace go on")
        }
        nftrace = NftraceSource(filter: options.filter)
        if NftraceTable.tracesEverything(options.filter) {
            // A tcpdump expression narrows the BPF events but cannot be said in nft.
            let what = options.filter.expression == nil ? "--netfilter without a packet filter" : "--netfilter with only a tcpdump expression"
            warnings.append("\(what): nf_tables traces every packet through every chain, "
                            + "which costs each packet several netlink messages; narrow it with -H, -s, -d, --proto, --port, --mark or -i")
        }
        addNetfilterNamespaces(tracedNamespaces.fresh(), first: true)
        if let inode = tracedNamespaces.unreachable {
            warnings.append("--netfilter: no path reaches namespace \(inode) (no process in it, no name in /run/netns): no hook events or verdicts there")
        }
        if netfilterHooks?.namespaces.isEmpty == true {
            hooks.close()
            netfilterHooks = nil
        }
        if nftrace?.namespaces == 0 {
            nftrace?.close()
            nftrace = nil
        }
        summary.netfilterNamespaces = netfilterHooks?.namespaces.count ?? 0
        summary.nftraceNamespaces = nftrace?.namespaces ?? 0
    }

    /// Hook programs and nftrace in each namespace. Failures in the first round
    /// are warnings (once per kind); a namespace gone meanwhile later is no news.
    private func addNetfilterNamespaces(_ namespaces: [NetnsDirectory.Entry], first: Bool = false) {
        // Each namespace that ends up without them is named (three per kind at most).
        var said: [String: Int] = [:]
        func warn(_ what: String, _ ns: NetnsDirectory.Entry, _ error: Error, still: String) {
            guard first || ns.inode == names.netns.hostInode else { return }
            said[what, default: 0] += 1
            guard said[what]! <= 3 else { return }
            warnings.append("--netfilter: no \(what) in \(names.netns.name(ns.inode)): \(Self.describe(error)); \(still)")
        }
        for ns in namespaces {
            if let hooks = netfilterHooks {
                do { try hooks.attach(netnsPath: ns.path, inode: ns.inode) } catch {
                    warn("hook programs", ns, error, still: "rule verdicts and the rest of the trace go on")
                }
            }
            if let nftrace {
                do { try nftrace.add(netnsPath: ns.path, inode: ns.inode) } catch {
                    warn("rule verdicts (nftrace)", ns, error, still: "hook events and the rest of the trace go on")
                }
            }
        }
        if let hooks = netfilterHooks { summary.netfilterNamespaces = hooks.namespaces.count }
        if let nftrace { summary.nftraceNamespaces = nftrace.namespaces }
    }

    /// Loads (verifies) the tracepoint programs and `backend`'s programs for every
    /// argument position under these options, attaches nothing and closes both:
    /// the function programs are checked on kernels that cannot attach them.
    public func verifyPrograms(functionBackend backend: FunctionBackend) throws {
        let usable = Self.resolveSupport(options.probes, btf: btf).filter(\.isAvailable)
        let obj = try openObject(usable)
        defer { obj.close() }
        do { try obj.load() } catch let error as BPFError {
            throw RuntimeError("load tracepoint programs: \(error)\n\(LibbpfLog.take())", hint: "")
        }
        let all = (1...FunctionProbes.maxPosition).map { KernelFunction(name: "position\($0)", position: $0, module: nil) }
        let functions = FunctionProbeSet(backend: backend, mayFallBack: false, functions: all)
        functions.verboseErrors = true
        defer { functions.close() }
        try functions.load(sharing: obj)
    }

    /// An error as one phrase for a warning: the message and, for a RuntimeError,
    /// its hint (which says what the kernel lacks).
    static func describe(_ error: Error) -> String {
        guard let e = error as? RuntimeError else { return "\(error)" }
        return e.hint.map { "\(e.message) (\($0))" } ?? e.message
    }

    /// The kernel functions `--backend` asks for, or nil for tracepoints only.
    /// A backend this kernel cannot offer is an error, except with `auto`.
    private func chooseFunctions(tracepoints: Int) throws -> FunctionProbeSet? {
        let backend: FunctionBackend
        switch options.backend {
        case .tracepoint: return nil
        case .kprobe: backend = .kprobe
        case .kprobeMulti, .auto: backend = .kprobeMulti
        }
        // A function named in -t that this kernel lacks is bad input, here or on a kernel with kprobes.
        var candidates: [KernelFunction]?
        if !options.functions.names.isEmpty {
            candidates = FunctionProbes.candidates(btf: btf)
            _ = try options.functions.pick(from: candidates ?? [])
        }
        guard FunctionProbes.kprobesAvailable() else {
            let why = "this kernel has no kprobes (no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events in tracefs)"
            if options.backend == .auto {
                warnings.append("--backend auto: \(why): tracing with tracepoints only")
                return nil
            }
            throw RuntimeError("--backend \(options.backend.rawValue): \(why)",
                               hint: "use the tracepoint backend (the default), or a kernel built with CONFIG_KPROBES")
        }
        if options.functions.isEmpty {
            warnings.append("-t picks no kernel function: tracepoints only (add a function group, a function or \(FunctionRequest.everyName); see --list)")
            return nil
        }
        let traceable = FunctionProbes.traceable()
        if traceable == nil {
            warnings.append("cannot read available_filter_functions (tracefs): probing the chosen functions with an sk_buff in BTF; some may fail to attach")
        }
        let all = candidates ?? FunctionProbes.candidates(btf: btf)
        let (chosen, _) = try FunctionProbes.select(all, request: options.functions, traceable: traceable,
                                                    pattern: options.functionPattern)
        if chosen.isEmpty {
            let what = options.functionPattern.map { "--filter-func '\($0)' matches no chosen kernel function with an sk_buff" }
                ?? "no traceable kernel function with an sk_buff was found in BTF among the chosen ones"
            if tracepoints == 0 { throw RuntimeError(what, hint: "run `skbtracer --list` to see the tracepoint probes") }
            warnings.append("\(what): tracepoints only")
            return nil
        }
        if options.functions == .curated && options.functionPattern == nil {
            curatedLine = Self.curatedNote(chosen: chosen.count, of: try FunctionProbes.select(all, traceable: traceable, pattern: nil).chosen.count)
        }
        return FunctionProbeSet(backend: backend, mayFallBack: options.backend == .auto, functions: chosen)
    }

    /// The line that says the default is the curated set, and how to get every function.
    static func curatedNote(chosen: Int, of all: Int) -> String {
        "skbtracer: note: probing \(chosen) curated kernel functions (of \(all) with an sk_buff; groups in `skbtracer --list`); "
            + "-t \(FunctionRequest.everyName) probes every one, -t GROUP,... some groups"
    }

    /// `--owner`'s programs that this kernel's tracepoints allow: they note which
    /// process uses each socket. Without them owners come from /proc alone
    /// (sockets of processes still running).
    private lazy var ownerPrograms: [TracepointsObject.Program] = {
        guard options.owner else { return [] }
        let btfTyped = Self.ownerBTFPrograms
        let present = btfTyped.filter { btf.typedefParameters("btf_trace_\(Self.tracepoint(of: $0))") != nil }
        let syscalls = Self.ownerSyscallPrograms.filter { p in
            ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].contains {
                FileManager.default.fileExists(atPath: "\($0)/events/\(Self.tracepoint(of: p))/id")
            }
        }
        for missing in btfTyped where !present.contains(missing) {
            warnings.append("--owner: this kernel has no \(Self.tracepoint(of: missing)) tracepoint: fewer owners are known")
        }
        if syscalls.isEmpty {
            warnings.append("--owner: no syscall tracepoints for accept(): an accepted connection's owner is known after its first send or receive")
        }
        return present + syscalls
    }()

    /// `--owner`'s programs on BTF-typed tracepoints (bpf/tracepoints.bpf.c).
    static let ownerBTFPrograms: [TracepointsObject.Program] = [.ownerSockSendLength, .ownerSockRecvLength, .ownerInetSockSetState]
    /// accept(): syscall tracepoints, which need the kernel's syscall tracing.
    static let ownerSyscallPrograms: [TracepointsObject.Program] = [.ownerSysExitAccept4, .ownerSysExitAccept]

    /// The tracepoint a program attaches to, from its section: `sock_send_length`
    /// (tp_btf/sock_send_length), `syscalls/sys_exit_accept4` (tracepoint/syscalls/...).
    static func tracepoint(of program: TracepointsObject.Program) -> Substring {
        program.section.split(separator: "/", maxSplits: 1).last ?? ""
    }

    /// Route probes note every skb per CPU; their lookups are attributed to the packet
    /// just received only when the receive probes can tell a single packet from a GRO
    /// list (whose lookups come after the whole list was traced).
    static func routeMode(_ probes: [Probe]) -> UInt8 {
        guard probes.contains(where: \.isRoute) else { return 0 }
        func has(_ id: st_probe_id) -> Bool { probes.contains(ProbeCatalogue.probe(id)) }
        let attribute = has(ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY)
            && (has(ST_PROBE_NETIF_RECEIVE_SKB) || has(ST_PROBE_NETIF_RECEIVE_SKB_ENTRY))
        return UInt8(ST_ROUTE_NOTE.rawValue) | (attribute ? UInt8(ST_ROUTE_ATTRIBUTE.rawValue) : 0)
    }

    private func openObject(_ usable: [ProbeSupport]) throws -> BPFObject {
        guard let elf = Data(base64Encoded: TracepointsObject.elf) else {
            throw RuntimeError("embedded BPF object is corrupt", hint: "rebuild skbtracer")
        }
        let obj = try BPFObject(elf: [UInt8](elf), name: "skbtracer")
        var config = st_config()
        options.filter.apply(to: &config, conntrack: options.track || options.conntrack)
        config.wakeup_bytes = options.wakeupBytes
        config.track = options.track ? UInt8(ST_TRACK_SKB.rawValue) | (options.trackFlows ? UInt8(ST_TRACK_FLOWS.rawValue) : 0) : 0
        config.stack_mode = options.stacks.rawValue
        config.route = Self.routeMode(usable.map(\.probe))
        config.ct = options.conntrack ? 1 : 0
        config.owner = options.owner ? 1 : 0
        config.skb_dump = options.skbDump ? 1 : 0
        config.tunnel = options.writesTunnelSections ? 1 : 0
        config.caller = options.outputCaller ? 1 : 0
        // A multiple of 8: the payload section's size, so every later section stays aligned.
        config.snaplen = options.snaplen.map { min(UInt16(ST_SNAPLEN_MAX), ($0 + 7) & ~7) } ?? 0
        withUnsafeMutableBytes(of: &config.probe_args) { raw in
            let args = raw.bindMemory(to: st_probe_args.self)
            for i in 0..<args.count {
                args[i] = st_probe_args(skb: UInt8(ST_ARG_NONE), sk: UInt8(ST_ARG_NONE),
                                        reason: UInt8(ST_ARG_NONE), location: UInt8(ST_ARG_NONE))
            }
            for s in usable { args[Int(s.probe.id)] = s.arguments }
        }
        let wanted = Set((usable.map(\.probe.program) + ownerPrograms).map(\.rawValue))
        for prog in obj.programs { prog.setAutoload(wanted.contains(prog.name)) }
        guard let rodata = obj.map(TracepointsObject.Map.rodata) else {
            throw RuntimeError("BPF object has no .rodata", hint: "rebuild skbtracer")
        }
        try rodata.writeInitialValue(config)
        try obj.map(TracepointsObject.Map.events)?.setMaxEntries(options.ringBytes)
        try obj.map(TracepointsObject.Map.trackedSkbs)?.setMaxEntries(max(options.trackMax, 1))
        // An LRU preallocates its entries: only --owner needs them.
        if !options.owner { try obj.map(TracepointsObject.Map.sockOwners)?.setMaxEntries(1) }
        return obj
    }

    /// The tcpdump expression's two programs, into the map every object shares,
    /// before anything is attached.
    private func writeExpression(into obj: BPFObject) throws {
        guard let expression = options.filter.expression else { return }
        guard let map = obj.map(TracepointsObject.Map.pcapProgs) else {
            throw RuntimeError("BPF object has no map pcap_progs", hint: "rebuild skbtracer")
        }
        for form in [ST_PCAP_LINK, ST_PCAP_NETWORK] where !map.update(form.rawValue, expression.kernelProgram(form)) {
            throw RuntimeError("write the tcpdump expression into map pcap_progs: \(String(cString: strerror(errno)))",
                               hint: "run as root")
        }
    }

    /// `--owner-pid`: the target's sockets as /proc/PID/fd lists them, written into
    /// the map where it does not already name the target.
    private func pinTargetSockets() {
        guard let pid = options.filter.ownerPid, let map = object?.map(TracepointsObject.Map.sockOwners) else { return }
        for (inode, owner) in ProcSocketScanner.scan("/proc", pids: [pid]) {
            if map.lookup(inode, as: st_sock_owner.self)?.tgid == pid { continue }
            var entry = st_sock_owner()
            entry.tgid = owner.pid
            withUnsafeMutableBytes(of: &entry.comm) { raw in
                for (i, c) in owner.comm.utf8.prefix(raw.count - 1).enumerated() { raw[i] = c }
            }
            map.update(inode, entry)
        }
    }

    /// Forgets tracked skbs with no event for `trackTimeout`: their free happened
    /// where no tracepoint fires, and the kernel will reuse the address.
    private func sweepTracked(nowNs: UInt64) {
        guard let map = object?.map(TracepointsObject.Map.trackedSkbs) else { return }
        let limit = UInt64(options.trackTimeout * 1e9)
        for key in map.keys(as: UInt64.self, limit: Int(options.trackMax)) {
            guard let t = map.lookup(key, as: st_track.self) else { continue }
            if nowNs > t.last_ns, nowNs - t.last_ns > limit, map.delete(key) { summary.trackExpired += 1 }
        }
    }

    private func readTrackStats() {
        guard options.track, let bss = object?.map(TracepointsObject.Map.bss),
              let stats = bss.lookup(UInt32(0), as: st_track_stats.self) else { return }
        summary.trackFull = stats.full
        summary.natFlows = stats.flows
        summary.tracking = true
        if let stream = consumer as? JourneyStream { summary.journeysEvicted = stream.tracker.evicted }
    }

    /// libbpf names the program that failed: "prog 'tp_x': failed to load".
    static func failedProgram(in log: String) -> String? {
        guard let r = log.range(of: "prog '") else { return nil }
        let rest = log[r.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    /// Returns false once reading should stop (count reached, output failed, a
    /// stop signal), so a flood cannot keep libbpf's consume loop going forever.
    private func handle(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if options.skbDump, let dump = SkbDumps.decode(bytes) {
            pipeline.skbDumps.add(dump.key, dump.text)
            return keepReading
        }
        var event: TraceEvent
        do { event = try TraceEvent(bytes: bytes) } catch {
            summary.malformed += 1
            return true
        }
        // Names from this machine, before anything reads them: a recording keeps them too.
        if event.route == nil { interfaceNames.fill(&event) }
        if nftrace != nil {
            merger.note(event)
            batch.append(event)
            return keepReading
        }
        let more = pipeline.event(&event)
        summary.events = pipeline.events
        summary.printed = pipeline.emitted
        return more && keepReading
    }

    /// The verdicts that arrived, each placed right after its packet's event
    /// (VerdictMerger), among this poll's events; then all of them go on. A
    /// verdict whose packet's event came in an earlier poll goes first; one
    /// matched with no event keeps no skb (the event view still shows it, when
    /// the filter takes its packet).
    private func mergeVerdicts(nowNs: UInt64) {
        guard let nftrace else { return }
        var verdicts = nftrace.drain(nowNs: nowNs)
        var after: [UInt64: [TraceEvent]] = [:]
        var first: [TraceEvent] = []
        let inBatch = Set(batch.map { $0.header.skb &+ $0.header.ts_ns })
        for i in verdicts.indices {
            interfaceNames.fill(&verdicts[i])
            if let anchor = merger.place(&verdicts[i]) {
                if inBatch.contains(anchor.skb &+ anchor.ts) {
                    after[anchor.skb &+ anchor.ts, default: []].append(verdicts[i])
                } else {
                    first.append(verdicts[i])
                }
            } else if options.filter.matches(verdicts[i]) {
                // No event of its packet: shown if the filter takes it (not one
                // traced for another skbtracer's filter in the same namespace).
                first.append(verdicts[i])
            }
        }
        var events = batch
        batch.removeAll(keepingCapacity: true)
        if !after.isEmpty {
            events = events.flatMap { e in [e] + (after.removeValue(forKey: e.header.skb &+ e.header.ts_ns) ?? []) }
        }
        summary.nftVerdicts += UInt64(verdicts.count)
        for var e in first + events {
            guard pipeline.event(&e) else { break }
        }
        summary.events = pipeline.events
        summary.printed = pipeline.emitted
        summary.nftraceOverflows = nftrace.overflows
    }

    /// While tracing, a stop signal ends a consume round early (a flood would
    /// otherwise keep it going); the final drain, after detaching, reads everything.
    private var draining = false
    private var keepReading: Bool {
        sink.writeError == nil && (draining || !StopSignals.requested)
    }

    /// Waits up to the poll timeout, reads everything available, flushes output.
    /// Returns false once the trace should end.
    @discardableResult
    public func poll(timeoutMs: Int32? = nil) -> Bool {
        guard let ring else { return false }
        ring.poll(timeoutMs: timeoutMs ?? options.pollTimeoutMs)
        // Producers wake the reader only in batches: read whatever is there.
        // The time is read before the ring is: once it is drained, every event
        // of a program that finished by then has been read.
        let ns = MonotonicClock.now()
        ring.consume()
        if nftrace != nil { mergeVerdicts(nowNs: ns) }
        // Not drained: a record is reserved and not yet submitted, and its event
        // came before those read since. Until the ring is drained again, journey
        // timeouts run on the last time it was (settledNs): a journey waiting
        // for that event only looks idle (in CI a record was held back 2 s, its
        // vCPU descheduled mid-program, and an echo reply split in two).
        if ring.isDrained { settledNs = ns }
        pipeline.tick(nowNs: ns, settledNs: min(settledNs, ns))
        summary.printed = pipeline.emitted
        if options.track, ns - lastSweepNs >= 1_000_000_000 {
            lastSweepNs = ns
            sweepTracked(nowNs: ns)
        }
        if netfilterHooks != nil || nftrace != nil { addNetfilterNamespaces(tracedNamespaces.fresh(nowNs: ns)) }
        if options.filter.ownerPid != nil, ns - lastPinNs >= 1_000_000_000 {
            lastPinNs = ns
            pinTargetSockets()
        }
        sink.flush()
        if let d = options.duration {
            if Double(ns - startNs) / 1e9 >= d { summary.stopReason = "duration reached"; return false }
        }
        if let c = options.count, summary.printed >= UInt64(c) { summary.stopReason = "count reached"; return false }
        if sink.writeError != nil || sink.pipeReaderGone {
            summary.stopReason = sink.writeError == nil || sink.readerClosed ? "output closed" : "output error"
            return false
        }
        if StopSignals.requested { summary.stopReason = "signal"; return false }
        return true
    }

    /// Polls until a stop condition: signal, count, duration, closed output.
    public func run() {
        while poll() {}
    }

    /// Drains the ring, accounts for every lost event, releases all BPF objects.
    @discardableResult
    public func finish() -> TraceSummary {
        if let ring {
            // Detach first: with no producers left, the drain ends, and every
            // event written before the stop is still read.
            object?.detachAll()
            functionProbes?.detachAll()
            netfilterHooks?.detachAll()
            draining = true
            ring.consume()
            if nftrace != nil { mergeVerdicts(nowNs: MonotonicClock.now()) }
            if let lossMap = object?.map(TracepointsObject.Map.lostEvents),
               let perCPU = try? lossMap.perCPUValues(key: 0, as: st_loss.self) {
                summary.lost = perCPU.reduce(0) { $0 + $1.total }
                summary.lostByProbe = Self.lossesByProbe(perCPU)
                summary.skbDumpsLost = perCPU.reduce(0) { $0 + $1.skb_dumps }
                (consumer as? Recorder)?.lostByProbe(summary.lostByProbe)
                // Losses after a CPU's last record have no event to carry them.
                if summary.lost > pipeline.lostMarkers, !pipeline.countReached {
                    pipeline.lost(count: summary.lost - pipeline.lostMarkers, cpu: UInt32.max)
                }
            }
            readTrackStats()
            summary.drops = pipeline.dropTally.byReason(context.dropReasons)
            consumer.end()
            summary.printed = consumer.emitted
            sink.flush()
            ring.free()
        }
        ring = nil
        context.owners.lookupMap = nil // the map goes with the object
        functionProbes?.close()
        functionProbes = nil
        netfilterHooks?.close()
        netfilterHooks = nil
        nftrace?.close()
        nftrace = nil
        object?.close()
        object = nil
        return summary
    }

    /// Each probe's losses summed over the CPUs, largest first; probes without
    /// a loss left out.
    static func lossesByProbe(_ perCPU: [st_loss]) -> [(probe: String, lost: UInt64)] {
        var totals = [UInt64](repeating: 0, count: Int(ST_PROBE_COUNT.rawValue))
        for var loss in perCPU {
            withUnsafeBytes(of: &loss.by_probe) { raw in
                for (i, n) in raw.bindMemory(to: UInt64.self).enumerated() where i < totals.count { totals[i] += n }
            }
        }
        let functions = perCPU.reduce(0) { $0 + $1.functions }
        let hooks = perCPU.reduce(0) { $0 + $1.nf_hooks }
        return (totals.enumerated().filter { $0.element > 0 }
            .map { (probe: ProbeCatalogue.probe(id: UInt16($0.offset))?.name ?? "probe-\($0.offset)", lost: $0.element) }
            + (functions > 0 ? [(probe: "functions", lost: functions)] : [])
            + (hooks > 0 ? [(probe: "netfilter hooks", lost: hooks)] : []))
            .sorted { $0.lost != $1.lost ? $0.lost > $1.lost : $0.probe < $1.probe }
    }

    deinit {
        ring?.free()
        functionProbes?.close()
        object?.close()
    }
}
