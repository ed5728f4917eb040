import SkbTracerSystem

/// The namespaces and interfaces a journey crossed, in order: the journey line
/// (`c1:eth0 -> host:veth1 -> ... -> delivered (icmp_rcv)`) and the picture of
/// namespace boundaries tracepkt made familiar.
public struct JourneyPath: Sendable {
    public struct Hop: Equatable, Sendable {
        public let netns: UInt32
        public let netnsName: String
        public let ifname: String
    }

    public let hops: [Hop]

    public init(_ j: Journey, names: NetnsNames) {
        var hops: [Hop] = []
        for e in j.events {
            let name = e.ifname
            guard !name.isEmpty else { continue }
            if let last = hops.last, last.netns == e.context.netns, last.ifname == name { continue }
            hops.append(Hop(netns: e.context.netns, netnsName: names.name(e.context.netns), ifname: name))
        }
        self.hops = hops
    }

    /// `ns1:ceth0 -> host:vh1 -> ns2:ceth0 -> delivered (icmp_rcv)`.
    public func line(outcome: JourneyOutcome) -> String {
        (hops.map { Self.printable("\($0.netnsName):\($0.ifname)") } + [Self.describe(outcome)]).joined(separator: " -> ")
    }

    /// Control characters as '?', as the event lines print names: an interface
    /// name may hold any byte but NUL, '/', ':' and whitespace (ESC, for one), and
    /// must not break the one-line path or move the terminal's cursor.
    public static func printable(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
    }

    /// Two lines: namespace columns separated by `|`, and the interfaces under them.
    ///
    ///     stl1-c1 netns | host netns              | stl1-c2 netns
    ///     eth0      ---> stl1-h1 ---> stl1-h2 ---> eth0
    public func picture() -> [String] {
        guard !hops.isEmpty else { return [] }
        var groups: [(name: String, ifs: [String])] = []
        var lastNetns: UInt32?
        for h in hops {
            let ifname = Self.printable(h.ifname)
            if h.netns == lastNetns { groups[groups.count - 1].ifs.append(ifname) } else {
                groups.append((Self.printable(h.netnsName), [ifname]))
                lastNetns = h.netns
            }
        }
        var top = "", bottom = ""
        for (i, g) in groups.enumerated() {
            let label = "\(g.name) netns"
            let cell = g.ifs.joined(separator: " ---> ")
            let width = max(label.count, cell.count)
            if i > 0 {
                top += "  |   "
                bottom += " ---> "
            }
            top += label.padding(toLength: width, withPad: " ", startingAt: 0)
            bottom += cell.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        return [Self.trimmed(top), Self.trimmed(bottom)]
    }

    static func trimmed(_ s: String) -> String {
        var s = s
        while s.last == " " { s.removeLast() }
        return s
    }

    public static func describe(_ outcome: JourneyOutcome) -> String {
        switch outcome {
        case .delivered(let at): return "delivered (\(at))"
        case .dropped(let reason, let location, let noise):
            return noise == nil ? "dropped (\(reason) at \(location))" : "freed (\(reason) at \(location), known noise)"
        case .consumed(let at):
            // neigh_probe() (inlined there) clones the packet waiting for the
            // neighbour and frees the clone after sending the ARP/ND solicitation.
            if JourneyNames.neighbourFunctions.contains(at) {
                return "consumed (\(at): a copy that carried the ARP/ND solicitation)"
            }
            return "consumed (\(at))"
        case .transmitted(let at): return "transmitted (\(at))"
        case .inFlight: return "no free seen (still queued, or freed where no tracepoint fires, as TCP does)"
        }
    }
}
