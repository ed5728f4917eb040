import ArgumentParser
import SkbTracerLab
import SkbTracerSession
import SkbTracerSystem

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a Docker-like lab, trace pings through it, remove it.",
        discussion: """
        The lab: a bridge in the root namespace, two container namespaces on veth pairs,
        and a routed namespace reached through MASQUERADE. It is removed at the end,
        on Ctrl-C and on error. Needs root.

        Examples:
          skbtracer demo
          skbtracer demo --timeline    one journey per packet, with paths and a diagnosis
          skbtracer demo --json
          skbtracer demo -t link-in,link-out
          skbtracer demo --cleanup     remove labs left by a killed demo or test
          skbtracer demo --cleanup --lab stl1a2b    only the lab stl1a2b (others may be in use)
        """
    )

    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Probes") var probes: ProbeOptions
    @Flag(help: "Show journeys: each packet's hops with times, its path, how it ended; a diagnosis at the end.")
    var timeline = false
    @Flag(name: [.short, .long], help: "Print libbpf's and the verifier's log to stderr.")
    var verbose = false
    @Flag(help: "Remove labs left behind by a killed demo or test (stl* namespaces, links, iptables rules), then exit.")
    var cleanup = false
    @Option(help: "With --cleanup: remove only the lab with this prefix (stlXXXX or stdXXXX, as the demo prints it).")
    var lab: String?

    func run() throws {
        if let lab {
            guard cleanup else { throw UsageError("--lab only goes with --cleanup", hint: "skbtracer demo --cleanup --lab \(lab)") }
            guard Lab.isPrefix(lab) else {
                throw UsageError("invalid lab prefix '\(lab)' for --lab", hint: "give stl or std and 4 hex digits, e.g. stl1a2b")
            }
        }
        if cleanup {
            let removed = try Lab.removeStale(prefix: lab)
            for r in removed { Diagnostics.note("removed \(r)") }
            Diagnostics.note("skbtracer demo: \(removed.count) stale lab objects removed")
            return
        }
        var o = TracerOptions()
        let selection = try probes.selection()
        o.probes = selection.probes
        o.functions = selection.functions
        o.backend = probes.backend
        o.functionPattern = probes.filterFunc
        o.format = output.json ? .json : .text
        o.timeFormat = try output.timeFormat()
        o.outputPath = output.output
        o.fileMode = try output.fileModeBits()
        o.color = output.colorOn()
        o.printHeader = !output.noHeader && !output.json
        o.verbose = verbose
        if timeline {
            o.view = .timeline
            o.track = true
            o.diagnose = true
        }
        let summary = try Demo.run(options: o, log: Diagnostics.note)
        Diagnostics.note(summary.line)
    }
}
