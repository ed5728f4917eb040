import Foundation
import ArgumentParser
import SkbTracerModel
import SkbTracerSession
import SkbTracerSystem

/// Prints a recording made with `--record` as a live trace would have.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print a recording made with `skbtracer --record FILE`: events, journeys or drops, as text or JSON.",
        discussion: """
        Recording costs no formatting while tracing; replay as often as needed, with filters.
        Examples:
          skbtracer --record trace.skbt -t all         record every probe until Ctrl-C
          skbtracer replay trace.skbt                  the events, as text
          skbtracer replay trace.skbt --timeline       one journey per packet
          skbtracer replay trace.skbt -H 10.0.0.2 --json -o events.json
          skbtracer replay trace.skbt --drop           drops per reason and location
          skbtracer replay trace.skbt 'udp port 53'    a tcpdump expression (record with --snaplen N)
        """
    )

    @Argument(help: ArgumentHelp("A file written by `skbtracer --record FILE`, or - for stdin.", valueName: "file"))
    var file: String
    @OptionGroup(title: "Filters (applied to the recorded events; -N also takes a recorded namespace name)")
    var filters: FilterOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @Flag(help: "Group events per packet, as `skbtracer --timeline` does.")
    var timeline = false
    @Flag(help: "Only drops, dropwatch-style, counted per interval of recorded time.")
    var drop = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds of recorded time between --drop count updates.", valueName: "seconds"))
    var dropInterval: Double = 1
    @Option(parsing: .unconditional, help: ArgumentHelp("Print a journey as in flight after this many recorded seconds without an event.", valueName: "seconds"))
    var journeyTimeout: Double = 2
    @Flag(inversion: .prefixedNo,
          help: "Follow an skb that matched the filters until its free, as a live --track does (default: on with --timeline).")
    var track: Bool?
    @Flag(help: "Print a diagnosis at the end (always on with --timeline).")
    var diag = false
    @OptionGroup var selection: JourneySelectionOptions
    @Option(name: [.short, .customLong("count")], parsing: .unconditional,
            help: ArgumentHelp("Stop after this many events (journeys with --timeline, drops with --drop).", valueName: "n"))
    var count: Int?

    func run() throws {
        var o = TracerOptions()
        var f = filters
        // A name is looked up in the recording, not on this machine.
        let netnsName = f.netns.flatMap { TraceFilter.isInodeNumber($0) || $0.contains("/") ? nil : $0 }
        if netnsName != nil { f.netns = nil }
        o.filter = try f.filter()
        o.format = output.json ? .json : .text
        o.timeFormat = try output.timeFormat()
        o.outputPath = output.output
        o.fileMode = try output.fileModeBits()
        o.color = output.colorOn()
        o.printHeader = !output.noHeader && !output.json
        try ViewChecks.count(count)
        try ViewChecks.views(timeline: timeline, drop: drop)
        o.journeyFilter = try selection.filter(drop: drop)
        let timeline = self.timeline || selection.isOn
        try ViewChecks.dropInterval(dropInterval)
        try ViewChecks.journeyTimeout(journeyTimeout)
        o.count = count
        o.view = timeline ? .timeline : drop ? .drops : .events
        o.dropInterval = dropInterval
        o.journeyTimeout = journeyTimeout
        o.diagnose = diag || timeline
        o.track = track ?? timeline
        try output.applyWrite(to: &o, recording: false)
        if o.writePath == "-", isatty(1) != 0 {
            throw UsageError("--write - would write pcap-ng to the terminal", hint: "pipe it into wireshark -k -i - or tshark -r -, or give --write a file name")
        }
        StopSignals.install()
        let replay = try Replay(path: file, options: o)
        replay.netnsName = netnsName
        let summary = try replay.run()
        Diagnostics.note(summary.line)
        if summary.withoutBytes > 0 && summary.withBytes == 0 {
            // Some events never have bytes (a socket's tuple); none at all means a recording without --snaplen.
            Diagnostics.warn("the recording holds no packet bytes, so the tcpdump expression matched nothing "
                             + "(record with --snaplen N to keep each packet's first N bytes)")
        }
        if o.filter.ownerPid != nil && summary.socketOwners == 0 {
            Diagnostics.warn("--owner-pid: the recording names no socket owners, so nothing matched (record with --owner)")
        }
    }
}
