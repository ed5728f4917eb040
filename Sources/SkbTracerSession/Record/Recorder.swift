import CSkbTracerABI
import SkbTracerModel
import SkbTracerOutput
import SkbTracerSystem
/// `--record FILE`: writes each event as the ring gave it, plus what a replay on
/// another machine or after a reboot needs to print it as this one would: probe
/// and drop-reason names, the symbols of drop locations and stack frames (kernel
/// addresses change with every boot), and namespace names.
public final class Recorder: TraceConsumer {
    private let sink: OutputSink
    private let header: RecordFormat.Header
    private let dropReasons: DropReasons
    private let symbols: KernelSymbols
    private let netns: NetnsNames
    private let owners: SocketOwners
    public private(set) var emitted: UInt64 = 0
    private var lost: UInt64 = 0
    /// Addresses and namespaces already described in the file.
    private var symbolsWritten: Set<UInt64> = []
    private var netnsWritten: [UInt32: String] = [:]
    private var ownersWritten: [UInt32: SocketOwner] = [:]
    private var lastNetnsCheckNs: UInt64 = 0
    /// Bounds on what is remembered as written: past them the tables start over
    /// and descriptions are written again (harmless: the later one wins).
    static let maxRemembered = 1 << 16

    public init(sink: OutputSink, header: RecordFormat.Header, dropReasons: DropReasons, symbols: KernelSymbols,
                netns: NetnsNames, owners: SocketOwners = SocketOwners()) {
        self.sink = sink
        self.owners = owners
        self.header = header
        self.dropReasons = dropReasons
        self.symbols = symbols
        self.netns = netns
    }

    public func begin() {
        sink.write { b in
            RecordFormat.appendHeader(header, to: &b)
            for probe in ProbeCatalogue.all {
                RecordFormat.appendRecord(.probe, UInt32(probe.id), text: probe.name, to: &b)
            }
            for other in ProbeCatalogue.otherProbes {
                RecordFormat.appendRecord(.probe, UInt32(other.id), text: other.name, to: &b)
            }
            for (code, name) in dropReasons.table.sorted(by: { $0.key < $1.key }) {
                RecordFormat.appendRecord(.dropReason, code, text: name, to: &b)
            }
        }
        sink.flush()
    }

    public func consume(_ e: TraceEvent) {
        describe(e)
        // --output-skb: the dump before its event, as the ring had it ("" when
        // none came, so a replay says so too).
        if let dump = e.skbDump { sink.write { $0.append(contentsOf: SkbDumps.record(for: e, text: dump)) } }
        sink.write { RecordFormat.appendEvent(e, to: &$0) }
        emitted += 1
        lost += UInt64(e.header.lost_before)
    }

    /// Losses carried by events (lost_before) travel inside them; only those found
    /// at exit, after a CPU's last event, need a record of their own.
    public func lost(count: UInt64, cpu: UInt32) {
        guard cpu == UInt32.max else { return }
        lost += count
        sink.write { RecordFormat.appendRecord(.lost, cpu, [count], to: &$0) }
    }

    /// Namespaces created after their first event was recorded get their `ip
    /// netns` name once it shows up (NetnsNames rescans at most once a second).
    public func tick(nowNs: UInt64, settledNs: UInt64) {
        guard nowNs > lastNetnsCheckNs, nowNs - lastNetnsCheckNs >= 1_000_000_000 else { return }
        lastNetnsCheckNs = nowNs
        for (inode, written) in netnsWritten where written.hasPrefix("netns:") {
            let name = netns.name(inode)
            if name != written { writeNetns(inode, name) }
        }
    }

    /// Each probe's losses, found at exit (before end()): a replay's summary names them too.
    public func lostByProbe(_ losses: [(probe: String, lost: UInt64)]) {
        sink.write { b in
            for l in losses { RecordFormat.appendRecord(.lostByProbe, 0, [l.lost], text: l.probe, to: &b) }
        }
    }

    public func end() {
        sink.write { RecordFormat.appendRecord(.end, 0, [emitted, lost], to: &$0) }
    }

    private func describe(_ e: TraceEvent) {
        let inode = e.context.netns
        if inode != 0, netnsWritten[inode] == nil {
            if netnsWritten.count >= Self.maxRemembered { netnsWritten.removeAll() }
            writeNetns(inode, netns.name(inode))
        }
        // --owner: a socket's owner once it is known, and again when it changes
        // (the later record wins in a replay).
        if let socket = e.socket, case let sock = socket.inode, sock != 0, let owner = SocketText.owner(socket, owners),
           ownersWritten[sock] != owner {
            if ownersWritten.count >= Self.maxRemembered { ownersWritten.removeAll() }
            ownersWritten[sock] = owner
            sink.write { RecordFormat.appendRecord(.socketOwner, sock, [UInt64(owner.pid)], text: owner.comm, to: &$0) }
        }
        if e.hasLocation || e.isFunction { describeAddress(e.location) }
        if let caller = e.caller { describeAddress(caller) }
        for ip in e.stack ?? [] where ip != 0 { describeAddress(ip) }
    }

    private func describeAddress(_ address: UInt64) {
        guard !symbolsWritten.contains(address) else { return }
        if symbolsWritten.count >= Self.maxRemembered { symbolsWritten.removeAll() }
        symbolsWritten.insert(address)
        let name = symbols.symbolize(address)
        sink.write { RecordFormat.appendRecord(.symbol, 0, [address], text: name, to: &$0) }
    }

    private func writeNetns(_ inode: UInt32, _ name: String) {
        netnsWritten[inode] = name
        sink.write { RecordFormat.appendRecord(.netns, inode, text: name, to: &$0) }
    }
}
