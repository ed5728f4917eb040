import CBPFShim
import CSkbTracerABI
import Foundation
import SkbTracerSystem

/// The packet filters, evaluated in BPF. Build one with `TraceFilter.parse`.
public struct TraceFilter: Equatable, Sendable {
    public var l3Proto: UInt16?
    public var l4Proto: UInt8?
    public var addr: IPAddress?
    public var saddr: IPAddress?
    public var daddr: IPAddress?
    public var port: UInt16?
    public var sport: UInt16?
    public var dport: UInt16?
    public var icmpID: UInt16?
    public var tcpFlags: UInt8?
    public var netns: UInt32?
    public var ifname: String?
    public var mark: UInt32?
    public var markMask: UInt32 = 0xffff_ffff
    public var pid: UInt32?
    /// `--owner-pid`: the process owning the skb's socket (see SocketOwners).
    public var ownerPid: UInt32?
    /// IP length range (IPv4 total length, IPv6 payload + 40), as IP_LEN prints it.
    public var ipLen: ClosedRange<UInt16>?
    /// A tcpdump expression (the positional argument), in BPF as ST_F_PCAP.
    public var expression: PacketExpression?

    public init() {}

    /// The option values as typed by the user; nil means not given.
    public struct Options: Sendable {
        public var proto: String?
        public var addr: String?
        public var saddr: String?
        public var daddr: String?
        public var port: String?
        public var sport: String?
        public var dport: String?
        public var icmpID: String?
        public var tcpFlags: String?
        public var netns: String?
        public var ifname: String?
        public var mark: String?
        public var pid: String?
        public var ownerPid: String?
        public var pktLen: String?
        /// `-p`: a protocol name means --proto (nettrace), a number --pid.
        public var protoOrPid: String?
        /// The positional words, joined by spaces as tcpdump and pwru join them.
        public var expression: String?

        public init() {}
    }

    /// Parses and checks every filter option; the error names the bad value.
    public static func parse(_ options: Options) throws(UsageError) -> TraceFilter {
        var o = options
        if let v = o.protoOrPid { try resolveProtoOrPid(v, into: &o) }
        var f = TraceFilter()
        if let p = o.proto { (f.l3Proto, f.l4Proto) = try parseProto(p) }
        if let a = o.addr { f.addr = try parseAddress(a, option: "--addr") }
        if let a = o.saddr { f.saddr = try parseAddress(a, option: "--saddr") }
        if let a = o.daddr { f.daddr = try parseAddress(a, option: "--daddr") }
        if let p = o.port { f.port = try parsePort(p, option: "--port") }
        if let p = o.sport { f.sport = try parsePort(p, option: "--sport") }
        if let p = o.dport { f.dport = try parsePort(p, option: "--dport") }
        if let i = o.icmpID { f.icmpID = try parseUInt16(i, option: "--icmpid") }
        if let t = o.tcpFlags { f.tcpFlags = try parseTCPFlags(t) }
        if let n = o.netns { f.netns = try parseNetns(n) }
        if let i = o.ifname { f.ifname = try parseIfname(i) }
        if let m = o.mark { (f.mark, f.markMask) = try parseMark(m) }
        if let p = o.pid { f.pid = try parsePid(p) }
        if let p = o.ownerPid { f.ownerPid = try parsePid(p, option: "--owner-pid") }
        if let l = o.pktLen { f.ipLen = try parseLengthRange(l) }
        if let e = o.expression, !e.allSatisfy(\.isWhitespace) { f.expression = try PacketExpression.compile(e) }
        try f.checkConsistency()
        return f
    }

    /// `-p VALUE`: nettrace's protocol option and skbtracer.py's pid share the
    /// letter; digits are a pid, anything --proto accepts is a protocol.
    static func resolveProtoOrPid(_ v: String, into o: inout Options) throws(UsageError) {
        if let chosen = try? parseProto(v) {
            if let other = o.proto, (try? parseProto(other)).map({ $0 != chosen }) ?? true {
                throw UsageError("-p \(v) and --proto \(other) name two protocols", hint: "pick one")
            }
            o.proto = v
        } else if v.first?.isNumber == true {
            let pid = try parsePid(v, option: "-p")
            if let other = o.pid, (try? parsePid(other)) != pid {
                throw UsageError("-p \(v) and --pid \(other) name two processes", hint: "pick one")
            }
            o.pid = v
        } else {
            throw UsageError("invalid value '\(v)' for -p",
                             hint: "give a protocol as --proto takes (\(protocolNames)) or a process id")
        }
    }

    /// What --proto (and -p) accept, for help texts and hints; parseProto decides.
    public static let protocolNames = "icmp, icmp6, tcp, udp, ip, ip6, arp, any"

    static func parseProto(_ s: String) throws(UsageError) -> (UInt16?, UInt8?) {
        switch s.lowercased() {
        case "any", "all": return (nil, nil)
        case "ip", "ipv4", "ip4": return (Packet.Number.ipv4, nil)
        case "ip6", "ipv6": return (Packet.Number.ipv6, nil)
        case "arp": return (Packet.Number.arp, nil)
        case "icmp": return (Packet.Number.ipv4, Packet.Number.icmp)
        case "icmp6", "icmpv6": return (Packet.Number.ipv6, Packet.Number.icmpv6)
        case "tcp": return (nil, Packet.Number.tcp)
        case "udp": return (nil, Packet.Number.udp)
        default:
            throw UsageError("unknown protocol '\(s)' for --proto", hint: "use one of \(protocolNames)")
        }
    }

    static func parseAddress(_ s: String, option: String) throws(UsageError) -> IPAddress {
        guard let a = IPAddress(s.trimmingCharacters(in: .whitespaces)) else {
            throw UsageError("invalid address '\(s)' for \(option)",
                             hint: "give an IPv4 or IPv6 address, e.g. \(option) 10.0.0.1 or \(option) fd00::1")
        }
        return a
    }

    static func parseUInt16(_ s: String, option: String) throws(UsageError) -> UInt16 {
        guard let v = parseInteger(s), v <= 0xffff else {
            throw UsageError("invalid value '\(s)' for \(option)", hint: "expected a number from 0 to 65535")
        }
        return UInt16(v)
    }

    static func parsePort(_ s: String, option: String) throws(UsageError) -> UInt16 {
        guard let v = parseInteger(s) else {
            throw UsageError("invalid port '\(s)' for \(option)", hint: "expected a number from 0 to 65535")
        }
        guard v <= 0xffff else {
            throw UsageError("port '\(s)' for \(option) is out of range", hint: "ports go from 0 to 65535")
        }
        return UInt16(v)
    }

    /// Letters as in nettrace (`SA` = SYN and ACK) or names (`syn,ack`); every
    /// given flag must be set.
    static func parseTCPFlags(_ s: String) throws(UsageError) -> UInt8 {
        let names: [(String, Character, UInt8)] = [
            ("fin", "F", 0x01), ("syn", "S", 0x02), ("rst", "R", 0x04), ("psh", "P", 0x08),
            ("ack", "A", 0x10), ("urg", "U", 0x20), ("ece", "E", 0x40), ("cwr", "C", 0x80),
        ]
        var flags: UInt8 = 0
        let parts = s.split(whereSeparator: { $0 == "," || $0 == "|" || $0 == "+" })
        if parts.count > 1 || names.contains(where: { $0.0 == s.lowercased() }) {
            for part in parts {
                guard let n = names.first(where: { $0.0 == part.lowercased() }) else {
                    throw UsageError("unknown TCP flag '\(part)' in --tcp-flags '\(s)'",
                                     hint: "use letters FSRPAUEC (e.g. SA) or names like syn,ack")
                }
                flags |= n.2
            }
        } else {
            for c in s {
                guard let n = names.first(where: { $0.1 == Character(c.uppercased()) }) else {
                    throw UsageError("unknown TCP flag '\(c)' in --tcp-flags '\(s)'",
                                     hint: "use letters FSRPAUEC (e.g. SA) or names like syn,ack")
                }
                flags |= n.2
            }
        }
        guard flags != 0 else {
            throw UsageError("empty --tcp-flags", hint: "e.g. --tcp-flags S for SYN, SA for SYN+ACK")
        }
        return flags
    }

    /// Whether a --netns value is an inode number (decimal or 0x hex), not a name or path.
    public static func isInodeNumber(_ s: String) -> Bool { inodeNumber(s) != nil }

    /// Decimal, 0x hex, or pwru's inode:N.
    static func inodeNumber(_ s: String) -> UInt64? { parseInteger(s.hasPrefix("inode:") ? String(s.dropFirst(6)) : s) }

    /// An inode number, a path such as /proc/PID/ns/net, or a name in /run/netns.
    static func parseNetns(_ s: String) throws(UsageError) -> UInt32 {
        if let v = inodeNumber(s) {
            guard v > 0, v <= UInt64(UInt32.max) else {
                throw UsageError("invalid namespace inode '\(s)' for --netns", hint: "see `ls -L -i /proc/self/ns/net`")
            }
            return UInt32(v)
        }
        let path = s.contains("/") ? s : "/run/netns/\(s)"
        var st = stat()
        var fsType = 0
        // Namespace files live on nsfs; any other file's inode would filter on nothing.
        let nsfsMagic = 0x6e73_6673
        guard !s.isEmpty, stat(path, &st) == 0, shim_statfs_type(path, &fsType) == 0, fsType == nsfsMagic else {
            throw UsageError("no network namespace '\(s)' for --netns",
                             hint: "give an inode, a path like /proc/PID/ns/net, or a name from `ip netns list`")
        }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }

    static func parseIfname(_ s: String) throws(UsageError) -> String {
        guard !s.isEmpty, s.utf8.count < Int(ST_IFNAMSIZ), !s.contains("/"), !s.contains(where: \.isWhitespace) else {
            throw UsageError("invalid interface name '\(s)' for --ifname", hint: "names have 1 to 15 characters, e.g. -i eth0")
        }
        return s
    }

    /// VALUE or VALUE/MASK, decimal or 0x-hex.
    static func parseMark(_ s: String) throws(UsageError) -> (UInt32, UInt32) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let v = parseInteger(String(parts[0])), v <= UInt64(UInt32.max) else {
            throw UsageError("invalid mark '\(s)' for --mark", hint: "e.g. --mark 0x10 or --mark 0x10/0xff")
        }
        var mask: UInt64 = 0xffff_ffff
        if parts.count == 2 {
            guard let m = parseInteger(String(parts[1])), m <= UInt64(UInt32.max) else {
                throw UsageError("invalid mask in mark '\(s)' for --mark", hint: "e.g. --mark 0x10/0xff")
            }
            mask = m
        }
        return (UInt32(v & mask), UInt32(mask))
    }

    static func parsePid(_ s: String, option: String = "--pid") throws(UsageError) -> UInt32 {
        guard let v = parseInteger(s), v > 0, v <= UInt64(Int32.max) else {
            throw UsageError("invalid pid '\(s)' for \(option)", hint: "expected a process id, e.g. \(option) $(pidof nginx)")
        }
        return UInt32(v)
    }

    /// LEN or MIN-MAX (nettrace's --pkt-len), inclusive.
    static func parseLengthRange(_ s: String) throws(UsageError) -> ClosedRange<UInt16> {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        let bounds = parts.map { parseInteger(String($0)) }
        guard parts.count <= 2, bounds.allSatisfy({ $0 != nil && $0! <= 0xffff }) else {
            throw UsageError("invalid length '\(s)' for --pkt-len", hint: "give LEN or MIN-MAX in bytes (0 to 65535), e.g. --pkt-len 100-1500")
        }
        let lo = UInt16(bounds[0]!), hi = UInt16(bounds[bounds.count - 1]!)
        guard lo <= hi else {
            throw UsageError("empty length range '\(s)' for --pkt-len", hint: "the minimum comes first, e.g. --pkt-len 100-1500")
        }
        return lo...hi
    }

    static func parseInteger(_ s: String) -> UInt64? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        return UInt64(t, radix: 10)
    }

    func checkConsistency() throws(UsageError) {
        let addrs = [("--addr", addr), ("--saddr", saddr), ("--daddr", daddr)].compactMap { o, a in a.map { (o, $0) } }
        if let l3 = l3Proto {
            // ARP carries IPv4 addresses only.
            let wantsIPv4 = l3 == 0x0800 || l3 == 0x0806
            let name = l3 == 0x0800 ? "IPv4" : l3 == 0x0806 ? "ARP" : "IPv6"
            for (option, a) in addrs where a.isIPv4 != wantsIPv4 {
                throw UsageError("\(option) \(a) does not fit --proto \(name)",
                                 hint: "use an address of the protocol's family")
            }
        }
        if let first = addrs.first, let other = addrs.first(where: { $0.1.isIPv4 != first.1.isIPv4 }) {
            throw UsageError("\(first.0) and \(other.0) mix IPv4 and IPv6", hint: "a packet has one address family")
        }
        if icmpID != nil, let l4 = l4Proto, l4 != 1 && l4 != 58 {
            throw UsageError("--icmpid needs ICMP, but --proto selects another protocol", hint: "use --proto icmp or icmp6")
        }
        if tcpFlags != nil, let l4 = l4Proto, l4 != 6 {
            throw UsageError("--tcp-flags needs TCP, but --proto selects another protocol", hint: "use --proto tcp")
        }
        if ipLen != nil, l3Proto == 0x0806 {
            throw UsageError("--pkt-len is the IP length, but --proto arp has none", hint: "use --proto ip, ip6 or an L4 protocol")
        }
        if port != nil || sport != nil || dport != nil, let l4 = l4Proto, l4 != 6 && l4 != 17 {
            throw UsageError("port filters need TCP or UDP, but --proto selects another protocol",
                             hint: "use --proto tcp or udp")
        }
    }

    /// Writes the filters into the BPF config; `filter_flags` says which are on.
    /// `conntrack`: the address and port filters may pass on the skb's conntrack
    /// entry (`--track`, `--ct`; EventMatcher's `initiatorTuple`).
    public func apply(to c: inout st_config, conntrack: Bool = false) {
        var on: UInt32 = 0
        if let v = l3Proto { on |= ST_F_L3_PROTO.rawValue; c.filter_l3_proto = v }
        if let v = l4Proto { on |= ST_F_L4_PROTO.rawValue; c.filter_l4_proto = v }
        if let a = addr { on |= ST_F_ADDR.rawValue; c.filter_addr = Self.addrFilter(a) }
        if let a = saddr { on |= ST_F_SADDR.rawValue; c.filter_saddr = Self.addrFilter(a) }
        if let a = daddr { on |= ST_F_DADDR.rawValue; c.filter_daddr = Self.addrFilter(a) }
        if let v = port { on |= ST_F_PORT.rawValue; c.filter_port = v }
        if let v = sport { on |= ST_F_SPORT.rawValue; c.filter_sport = v }
        if let v = dport { on |= ST_F_DPORT.rawValue; c.filter_dport = v }
        if let v = icmpID { on |= ST_F_ICMP_ID.rawValue; c.filter_icmp_id = v }
        if let v = tcpFlags { on |= ST_F_TCP_FLAGS.rawValue; c.filter_tcp_flags = v }
        if let v = netns { on |= ST_F_NETNS.rawValue; c.filter_netns = v }
        if let v = pid { on |= ST_F_PID.rawValue; c.filter_pid = v }
        if let v = ownerPid { on |= ST_F_OWNER_PID.rawValue; c.filter_owner_pid = v }
        if let v = mark { on |= ST_F_MARK.rawValue; c.filter_mark = v; c.filter_mark_mask = markMask }
        if expression != nil { on |= ST_F_PCAP.rawValue }
        if let r = ipLen {
            on |= ST_F_IP_LEN.rawValue
            c.filter_ip_len_min = r.lowerBound
            c.filter_ip_len_max = r.upperBound
        }
        if let name = ifname {
            on |= ST_F_IFNAME.rawValue
            withUnsafeMutableBytes(of: &c.filter_ifname) { buf in
                buf.initializeMemory(as: UInt8.self, repeating: 0)
                for (i, b) in name.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
            }
        }
        if conntrack && hasTupleFilter { on |= ST_F_CT_TUPLE.rawValue }
        c.filter_flags = on
    }

    static func addrFilter(_ a: IPAddress) -> st_addr_filter {
        var f = st_addr_filter()
        f.family = a.isIPv4 ? 4 : 6
        withUnsafeMutableBytes(of: &f.addr) { buf in
            for (i, b) in a.bytes.enumerated() { buf[i] = b }
        }
        return f
    }
}
