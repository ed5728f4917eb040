import Glibc
import SkbTracerAnalysis
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem

/// Everything a trace run needs, independent of how it was asked for.
public struct TracerOptions: Sendable {
    public var filter = TraceFilter()
    public var probes: [Probe] = ProbeCatalogue.defaults
    /// `--backend`: tracepoints only, or kernel functions with an sk_buff too.
    public var backend: BackendChoice = .tracepoint
    /// `-t`'s kernel functions, for a function backend: the curated groups unless
    /// `-t` (or `--filter-func` alone, which looks among all) says otherwise.
    public var functions: FunctionRequest = .curated
    /// `--filter-func`: with a function backend, narrows `functions`.
    public var functionPattern: String?
    public var format: OutputFormat = .text
    public var timeFormat: TimeFormat = .wallClock
    /// Stop after this many printed events.
    public var count: Int?
    /// Stop after this many seconds.
    public var duration: Double?
    /// Created once every probe is attached.
    public var readyFile: String?
    /// Output file instead of stdout.
    public var outputPath: String?
    /// `--record FILE`: raw events to this file (RecordFormat), nothing printed.
    public var recordPath: String?
    /// `--write FILE`: the events' packets as pcap-ng ("-": stdout), nothing printed.
    public var writePath: String?
    /// Packet bytes each event carries (`--snaplen`; --write's default 256); nil: none.
    public var snaplen: UInt16?
    public var printHeader = true
    /// Ring buffer size in bytes (a power of two, a multiple of the page size).
    public var ringBytes: UInt32 = 8 << 20
    /// The BPF side wakes the reader once this much data waits; the reader also
    /// polls with a timeout, so quiet traces still show up within `pollTimeoutMs`.
    public var wakeupBytes: UInt32 = 256 << 10
    public var pollTimeoutMs: Int32 = 100
    public var verbose = false
    /// `--ct`: the skb's conntrack entry on each event that has one.
    public var conntrack = false
    /// `--netfilter`: netfilter hook programs at each hook's first and last priority.
    public var netfilter = false
    /// `--owner`: each event's socket (inode) and the process owning it.
    public var owner = false
    /// `--output-skb`: each event's sk_buff as BTF prints it (pwru's --output-skb).
    public var skbDump = false
    /// `--output-caller`: each function event's caller (ST_SEC_CALLER).
    public var outputCaller = false
    /// `--output-tunnel`: a tunnel packet's inner headers (pwru's --output-tunnel).
    public var tunnel = false

    /// Tunnel packets' events carry their inner headers with --output-tunnel,
    /// and also when filters on packet headers are on (a tunnel packet may
    /// have matched by its inner packet: the event shows why) or when
    /// recording (a replay's filters then see what BPF's saw).
    public var writesTunnelSections: Bool { tunnel || recordPath != nil || filter.hasPacketFilter }

    /// What the run prints: events, journeys (`--timeline`), or drop counts (`--drop`).
    public var view: TraceView = .events
    /// Follow a matched skb by address until its free, through NAT and namespaces.
    public var track = false
    /// Also follow the replies of tracked packets whose tuple NAT rewrote.
    public var trackFlows = true
    /// Entries in the BPF tracking table; a full table is counted, never silent.
    public var trackMax: UInt32 = 16384
    /// A tracked skb with no event for this long is forgotten (its free had no tracepoint).
    public var trackTimeout: Double = 5
    /// A journey with no event for this long is printed as still in flight.
    public var journeyTimeout: Double = 2
    /// `--min-latency`, `--diag-quiet`: which journeys `--timeline` prints.
    public var journeyFilter = JourneyFilter()
    /// Open journeys kept in memory at most.
    public var maxJourneys = 65536
    /// Record the kernel stack at drops or at every event.
    public var stacks: StackMode = .none
    /// Print the exit diagnosis (always on in the journey and drop views).
    public var diagnose = false
    /// `--drop`: seconds between count updates.
    public var dropInterval: Double = 1
    /// `--file-mode`: the permission bits of the files written (`-o`, `--record`).
    public var fileMode: mode_t = OutputFile.defaultMode
    /// `--color`, decided: drops and losses in colour in the text views.
    public var color = false

    public init() {}
}

public enum TraceView: String, Sendable {
    case events, timeline, drops
}

public enum StackMode: UInt8, Sendable {
    case none = 0, drops = 1, all = 2
}
