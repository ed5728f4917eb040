import ArgumentParser
import Foundation
import SkbTracerModel
import SkbTracerOutput
import SkbTracerPing
import SkbTracerSystem

/// `skbtracer ping DEST`: an L2 mtr.
struct PingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Send probes and show each one's journey hop by hop: an L2 mtr.",
        discussion: """
        Sends ICMP (or ICMPv6) echo requests, TCP SYNs (--tcp) or UDP datagrams (--udp), from this
        namespace or --from NETNS, traces exactly those packets and their replies (by ICMP id or by
        the probes' source port, followed through NAT), and prints each probe's journey: interfaces,
        namespaces, NAT rewrites, and delivered / replied / dropped with the reason. When no reply
        comes, it says where the request or the reply died and why.

        Examples:
          skbtracer ping 10.0.0.2 --from ns1            three echo requests from namespace ns1
          skbtracer ping fd00::2 -c 5 -i 0.2            five ICMPv6 echo requests
          skbtracer ping 10.0.0.2 --tcp 80              TCP SYNs to port 80
          skbtracer ping 10.0.0.2 --udp 53 --json       UDP probes, journeys as JSON
        """
    )

    @Argument(help: ArgumentHelp("IPv4 or IPv6 address to probe.", valueName: "dest"))
    var destination: String
    @Option(help: ArgumentHelp("Send TCP SYNs to this port.", valueName: "port"))
    var tcp: String?
    @Option(help: ArgumentHelp("Send UDP datagrams to this port.", valueName: "port"))
    var udp: String?
    @Option(help: ArgumentHelp("Send from this network namespace: a name from `ip netns list` or a path.", valueName: "netns"))
    var from: String?
    @Option(name: [.short, .customLong("count")], parsing: .unconditional, help: ArgumentHelp("Number of probes.", valueName: "n"))
    var count: Int = 3
    @Option(name: [.short, .customLong("interval")], parsing: .unconditional,
            help: ArgumentHelp("Seconds between probes.", valueName: "seconds"))
    var interval: Double = 1
    @Option(name: [.customShort("W"), .customLong("timeout")], parsing: .unconditional,
            help: ArgumentHelp("Seconds to wait for each reply.", valueName: "seconds"))
    var timeout: Double = 1
    @Flag(help: "JSON lines: journeys, one record per probe, a summary (docs/json-schema.md).")
    var json = false
    @Option(help: ArgumentHelp("Create this file once tracing is attached.", valueName: "path"))
    var readyFile: String?
    @Flag(name: [.short, .long], help: "Print libbpf's and the verifier's log to stderr.")
    var verbose = false
    @Flag(name: [.customLong("netfilter"), .customLong("iptable")],
          help: "Show the netfilter hooks the probes pass and the nf_tables rule verdicts on them: a probe a rule dropped names the rule.")
    var netfilter = false
    @Option(help: ArgumentHelp("Colour drops in the journeys: auto (on a terminal, unless TERM=dumb or NO_COLOR is set), always, never.",
                               valueName: "when"))
    var color: ColorChoice = .auto

    static func port(_ text: String, _ option: String) throws(UsageError) -> UInt16 {
        guard let p = UInt16(text), p > 0 else {
            throw UsageError("invalid port '\(text)' for \(option)", hint: "give a port from 1 to 65535")
        }
        return p
    }

    func pingOptions() throws(UsageError) -> PingRun.Options {
        guard let dest = IPAddress(destination) else {
            throw UsageError("invalid address '\(destination)'", hint: "give an IPv4 or IPv6 address, e.g. 10.0.0.2 or fd00::2")
        }
        var o = PingRun.Options(destination: dest)
        if tcp != nil && udp != nil { throw UsageError("--tcp and --udp exclude each other", hint: "pick one probe type") }
        if let tcp { o.proto = .tcp(port: try Self.port(tcp, "--tcp")) }
        if let udp { o.proto = .udp(port: try Self.port(udp, "--udp")) }
        guard count > 0 && count <= 100_000 else {
            throw UsageError("invalid count '\(count)' for --count", hint: "give 1 to 100000 probes")
        }
        guard interval >= 0.01 && interval <= 3600 else {
            throw UsageError("invalid interval '\(interval)' for --interval", hint: "give seconds from 0.01 to 3600")
        }
        guard timeout > 0 && timeout <= 60 else {
            throw UsageError("invalid timeout '\(timeout)' for --timeout", hint: "give seconds from 0.001 to 60")
        }
        o.fromNetns = from
        o.count = count
        o.interval = interval
        o.timeout = timeout
        o.format = json ? .json : .text
        o.readyFile = readyFile
        o.verbose = verbose
        o.netfilter = netfilter
        o.color = !json && color.enabled(isTerminal: isatty(1) == 1, environment: ProcessInfo.processInfo.environment)
        return o
    }

    func run() throws {
        let options = try pingOptions()
        StopSignals.install()
        let ping = try PingRun(options: options)
        for w in ping.warnings { Diagnostics.warn(w) }
        let answered = try ping.run()
        Diagnostics.note(ping.summary.line)
        // Like ping: non-zero when no probe was answered.
        if answered == 0 { throw ExitCode(1) }
    }
}
