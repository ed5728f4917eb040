import CBPFShim
import Foundation
import SkbTracerModel
import SkbTracerSystem

/// What `skbtracer ping` sends.
public enum PingProtocol: Sendable, Equatable {
    /// ICMP (IPv4) or ICMPv6 echo requests from a raw socket.
    case icmp
    /// TCP SYNs (a non-blocking connect) to `port`, from one fixed source port.
    case tcp(port: UInt16)
    /// Small UDP datagrams to `port`, from one fixed source port.
    case udp(port: UInt16)
}

/// How one probe was answered.
public struct ProbeReply: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// ICMP echo reply with our id and seq.
        case echoReply
        /// TCP: the connection was accepted (it is then reset, leaving no TIME_WAIT).
        case synAck
        /// TCP: RST (connection refused).
        case reset
        /// UDP: a datagram came back.
        case udpReply
        /// An ICMP or ICMPv6 error that quotes the probe (unreachable, time exceeded).
        case icmpError(type: UInt8, code: UInt8)
        /// UDP: ICMP port unreachable (ECONNREFUSED).
        case refused
        /// The local kernel would not send the probe: the errno of sendto()/connect(),
        /// e.g. EPERM (dropped by netfilter OUTPUT), ENETUNREACH (no route). rttNs is
        /// the time the call took.
        case localError(errno: Int32)
    }

    public let kind: Kind
    /// From sending the probe to receiving its answer, CLOCK_MONOTONIC.
    public let rttNs: UInt64
    /// Who answered: the destination, or the router that sent an ICMP error; nil
    /// when unknown (local errors, UDP errors without an offender address).
    public let responder: IPAddress?

    public init(kind: Kind, rttNs: UInt64, responder: IPAddress? = nil) {
        self.kind = kind
        self.rttNs = rttNs
        self.responder = responder
    }
}

/// Sends the probes of `skbtracer ping DEST` and waits for their answers, from a
/// chosen network namespace. The tracer follows the probes by `icmpID` or
/// `sourcePort`.
///
/// The sockets are created inside `netns` and keep that namespace; the calling
/// thread returns to its own namespace before any call returns. Use one
/// ProbeSender from one thread at a time.
public final class ProbeSender {
    public let destination: IPAddress
    public let pingProtocol: PingProtocol
    /// The ICMP echo id of every probe (icmp), else nil.
    public private(set) var icmpID: UInt16?
    /// The source port of every probe (tcp, udp), else nil.
    public private(set) var sourcePort: UInt16?

    /// icmp: the raw socket; udp: the connected socket; tcp: a bound, never
    /// connected socket that holds the source port for the probes' sockets.
    private var fd: Int32 = -1
    /// The target namespace, held for TCP (a new socket per probe is made there).
    private var namespace: NetnsSwitch?
    private var isV6: Bool { !destination.isIPv4 }

    /// Opens the socket(s) inside `netns` (nil: the current namespace; else a name in
    /// /run/netns, or a path like /proc/PID/ns/net or /run/netns/X) and returns to the
    /// caller's namespace before returning. socket(2), bind(2), setns(2)
    /// Throws UsageError for a bad namespace or port, RuntimeError (with a hint) for
    /// socket errors such as EPERM.
    public init(destination: IPAddress, protocol proto: PingProtocol, netns: String?) throws {
        self.destination = destination
        pingProtocol = proto
        do {
            if let netns { namespace = try NetnsSwitch(netns) }
            switch proto {
            case .icmp:
                try openICMP()
            case .tcp(let port):
                try Self.checkPort(port, "tcp")
                try openTCPPortHolder()
            case .udp(let port):
                try Self.checkPort(port, "udp")
                try openUDP(port: port)
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Releases the sockets and the namespace. Safe to call more than once.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        namespace?.close()
        namespace = nil
    }

    /// Sends probe `seq` and waits up to `timeout` seconds for its answer; nil when none
    /// came (or a stop signal arrived, see StopSignals). Answers to earlier probes that
    /// arrive late are skipped.
    public func probe(seq: UInt16, timeout: Double) throws -> ProbeReply? {
        guard fd >= 0 else { throw RuntimeError("probe after close()", hint: "make a new ProbeSender") }
        let timeoutNs = UInt64((timeout.isFinite ? min(max(timeout, 0), 3600) : 0) * 1e9)
        switch pingProtocol {
        case .icmp: return try probeICMP(seq: seq, timeoutNs: timeoutNs)
        case .tcp(let port): return try probeTCP(port: port, timeoutNs: timeoutNs)
        case .udp: return try probeUDP(seq: seq, timeoutNs: timeoutNs)
        }
    }

    // MARK: - Opening

    private func inNamespace<T>(_ body: () throws -> T) throws -> T {
        if let namespace { return try namespace.run(body) }
        return try body()
    }

    private static func checkPort(_ port: UInt16, _ proto: String) throws {
        if port == 0 {
            throw UsageError("invalid \(proto) destination port 0", hint: "give a port from 1 to 65535")
        }
    }

    /// socket(2) with CLOEXEC (and NONBLOCK), or a RuntimeError with a hint.
    private static func socket(v6: Bool, type: Int32, proto: Int32, what: String) throws -> Int32 {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let s = Glibc.socket(v6 ? AF_INET6 : AF_INET, type | flags, proto)
        guard s >= 0 else {
            let err = errno
            let hint: String
            switch err {
            case EPERM, EACCES:
                hint = type == Int32(SOCK_RAW.rawValue) ? "run as root or grant CAP_NET_RAW" : "run as root"
            case EAFNOSUPPORT:
                hint = "IPv6 is disabled here (net.ipv6.conf.all.disable_ipv6 or ipv6.disable=1); use an IPv4 address"
            default:
                hint = "check the socket limits (ulimit -n)"
            }
            throw Self.error("open \(what) socket", err, hint: hint)
        }
        return s
    }

    private static func setOption<T: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T, _ what: String) throws {
        let rc = withUnsafeBytes(of: value) { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }
        let err = errno
        guard rc == 0 else { throw Self.error("setsockopt \(what)", err, hint: "this kernel may lack the option") }
    }

    private func openICMP() throws {
        let v6 = isV6
        icmpID = UInt16.random(in: 1...UInt16.max)
        fd = try inNamespace {
            try Self.socket(v6: v6, type: Int32(SOCK_RAW.rawValue),
                            proto: v6 ? Sys.ipprotoICMPv6 : Sys.ipprotoICMP, what: v6 ? "raw ICMPv6" : "raw ICMP")
        }
        // Let the kernel pass only what can answer a probe; the parser checks again.
        if v6 {
            var filter = [UInt32](repeating: .max, count: 8)    // a set bit blocks the type
            for type in [Sys.icmp6DestUnreach, Sys.icmp6TimeExceeded, Sys.icmp6EchoReply] {
                filter[Int(type) >> 5] &= ~(UInt32(1) << (UInt32(type) & 31))
            }
            let rc = filter.withUnsafeBytes { setsockopt(fd, Sys.ipprotoICMPv6, Sys.icmp6Filter, $0.baseAddress, socklen_t($0.count)) }
            let err = errno
            guard rc == 0 else { throw Self.error("setsockopt ICMP6_FILTER", err, hint: "this kernel may lack the option") }
        } else {
            let pass = [Sys.icmpEchoReply, Sys.icmpDestUnreach, Sys.icmpTimeExceeded].reduce(UInt32(0)) { $0 | 1 << UInt32($1) }
            try Self.setOption(fd, Sys.solRaw, Sys.icmpFilter, ~pass, "ICMP_FILTER")
        }
    }

    /// A TCP socket bound to an ephemeral port and never connected: it holds the port
    /// for the probes' sockets (each binds the same port with SO_REUSEADDR) and keeps
    /// connect() from handing it to anyone else.
    private func openTCPPortHolder() throws {
        let v6 = isV6
        fd = try inNamespace { try Self.socket(v6: v6, type: Int32(SOCK_STREAM.rawValue), proto: 0, what: "TCP") }
        // Bound without SO_REUSEADDR, so the kernel picks a port no one else holds;
        // set afterwards, so the probes' sockets can share it.
        try Self.bind(fd, SocketAddress.any(v6: v6, port: 0), "TCP")
        try Self.setOption(fd, SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
        sourcePort = try Self.localPort(fd)
    }

    private func openUDP(port: UInt16) throws {
        let v6 = isV6
        fd = try inNamespace { try Self.socket(v6: v6, type: Int32(SOCK_DGRAM.rawValue), proto: 0, what: "UDP") }
        try Self.setRecvErr(fd, v6: v6)
        try Self.bind(fd, SocketAddress.any(v6: v6, port: 0), "UDP")
        sourcePort = try Self.localPort(fd)
        let dest = SocketAddress(destination, port: port)
        let rc = dest.withSockaddr { Glibc.connect(fd, $0, $1) }
        let err = errno
        guard rc == 0 else {
            let inNamespace = namespace.map { " in network namespace \($0.spec)" } ?? ""
            throw Self.error("connect UDP socket to \(destination) port \(port)", err,
                             hint: "check the routes\(inNamespace): ip route get \(destination)")
        }
    }

    /// IP_RECVERR: ICMP errors are queued with their type, code and sender, and are
    /// reported at once even in states where TCP would only note them.
    private static func setRecvErr(_ fd: Int32, v6: Bool) throws {
        if v6 {
            try setOption(fd, Sys.solIPv6, Sys.ipv6RecvErr, Int32(1), "IPV6_RECVERR")
        } else {
            try setOption(fd, Sys.solIP, Sys.ipRecvErr, Int32(1), "IP_RECVERR")
        }
    }

    private static func bind(_ fd: Int32, _ addr: SocketAddress, _ what: String) throws {
        let rc = addr.withSockaddr { Glibc.bind(fd, $0, $1) }
        let err = errno
        guard rc == 0 else {
            throw error("bind \(what) socket to port \(addr.port)", err,
                        hint: "the port may be in use; see `ss -tuanp sport = :\(addr.port)`")
        }
    }

    private static func localPort(_ fd: Int32) throws -> UInt16 {
        var st = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &st) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let err = errno
        guard rc == 0, let port = SocketAddress.decode(st)?.port else {
            throw error("getsockname", rc == 0 ? EAFNOSUPPORT : err, hint: nil)
        }
        return port
    }

    // MARK: - ICMP

    private func probeICMP(seq: UInt16, timeoutNs: UInt64) throws -> ProbeReply? {
        let id = icmpID ?? 0
        Self.drain(fd)
        let t0 = MonotonicClock.now()
        let packet = Self.echoRequest(v6: isV6, id: id, seq: seq, timestampNs: t0)
        let dest = SocketAddress(destination, port: 0)
        let sent = packet.withUnsafeBytes { p in dest.withSockaddr { sendto(fd, p.baseAddress, p.count, 0, $0, $1) } }
        let sendErr = errno
        if sent < 0 { return try Self.localFailure("send ICMP echo request to \(destination)", sendErr, since: t0) }

        let deadline = t0 + timeoutNs
        var buf = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<Self.maxWakeups {
            guard try Self.wait(fd, events: Int16(POLLIN), deadline: deadline) != 0 else { return nil }
            // Everything queued now; bounded, the socket is non-blocking.
            for _ in 0..<Self.maxBatch {
                var from = sockaddr_storage()
                var fromLen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = buf.withUnsafeMutableBytes { b in
                    withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, &fromLen)
                        }
                    }
                }
                if n < 0 {
                    let err = errno
                    if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { break }
                    throw Self.error("receive ICMP", err, hint: nil)
                }
                let now = MonotonicClock.now()
                let bytes = Array(buf[0..<n])
                let match: ICMPMatch?
                if isV6 {
                    guard let source = SocketAddress.decode(from)?.address else { continue }
                    match = Self.matchICMPv6(bytes, source: source, destination: destination, id: id, seq: seq)
                } else {
                    match = Self.matchICMPv4(bytes, destination: destination, id: id, seq: seq)
                }
                if let match {
                    return ProbeReply(kind: match.kind, rttNs: now &- t0, responder: match.responder)
                }
            }
        }
        return nil
    }

    // MARK: - TCP

    private func probeTCP(port: UInt16, timeoutNs: UInt64) throws -> ProbeReply? {
        let v6 = isV6
        let s = try inNamespace { try Self.socket(v6: v6, type: Int32(SOCK_STREAM.rawValue), proto: 0, what: "TCP") }
        // close() resets a connected socket (SO_LINGER 0): RST, no TIME_WAIT, so the
        // next probe can use the same 4-tuple at once.
        defer { Glibc.close(s) }
        try Self.setOption(s, SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
        try Self.setOption(s, SOL_SOCKET, SO_LINGER, linger(l_onoff: 1, l_linger: 0), "SO_LINGER")
        try Self.setRecvErr(s, v6: v6)
        try Self.bind(s, SocketAddress.any(v6: v6, port: sourcePort ?? 0), "TCP")

        let dest = SocketAddress(destination, port: port)
        let t0 = MonotonicClock.now()
        let rc = dest.withSockaddr { Glibc.connect(s, $0, $1) }
        var err: Int32 = 0
        if rc < 0 {
            err = errno
            if err == EINPROGRESS {
                let ready = try Self.wait(s, events: Int16(POLLOUT), deadline: t0 + timeoutNs)
                if ready == 0 { return nil }
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(s, SOL_SOCKET, SO_ERROR, &soError, &len) == 0 else {
                    let e = errno
                    throw Self.error("getsockopt SO_ERROR", e, hint: nil)
                }
                err = soError
            }
        }
        let rtt = MonotonicClock.now() &- t0
        if err == 0 { return ProbeReply(kind: .synAck, rttNs: rtt, responder: destination) }
        if let (ee, _) = Self.readErrorQueue(s) {
            return ProbeReply(kind: Self.classify(ee, udp: false), rttNs: rtt, responder: ee.offender)
        }
        if err == ECONNREFUSED { return ProbeReply(kind: .reset, rttNs: rtt, responder: destination) }
        return try Self.localFailure("connect to \(destination) port \(port)", err, since: t0)
    }

    // MARK: - UDP

    private func probeUDP(seq: UInt16, timeoutNs: UInt64) throws -> ProbeReply? {
        Self.drain(fd)
        let t0 = MonotonicClock.now()
        let payload = Self.udpPayload(seq: seq, timestampNs: t0)
        var sent = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var sendErr = errno
        if sent < 0 && sendErr == ECONNREFUSED {
            // A late error about an earlier probe, reported by this send: send again.
            sent = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            sendErr = errno
        }
        if sent < 0 { return try Self.localFailure("send UDP datagram to \(destination)", sendErr, since: t0) }

        let deadline = t0 + timeoutNs
        var buf = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<Self.maxWakeups {
            let revents = try Self.wait(fd, events: Int16(POLLIN), deadline: deadline)
            guard revents != 0 else { return nil }
            if revents & Int16(POLLERR) != 0, let (ee, quoted) = Self.readErrorQueue(fd) {
                // Linux quotes the whole datagram; an error about an earlier probe is stale.
                if let q = Self.udpPayloadSeq(quoted), q != seq { continue }
                return ProbeReply(kind: Self.classify(ee, udp: true), rttNs: MonotonicClock.now() &- t0,
                                  responder: ee.offender)
            }
            for _ in 0..<Self.maxBatch {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                let now = MonotonicClock.now()
                if n < 0 {
                    let err = errno
                    if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { break }
                    if err == ECONNREFUSED { return ProbeReply(kind: .refused, rttNs: now &- t0, responder: destination) }
                    return try Self.localFailure("receive UDP from \(destination)", err, since: t0)
                }
                // An echo of an earlier probe is late; any other datagram answers this one.
                if let q = Self.udpPayloadSeq(Array(buf[0..<n])), q != seq { continue }
                return ProbeReply(kind: .udpReply, rttNs: now &- t0, responder: destination)
            }
        }
        return nil
    }

    // MARK: - Socket helpers

    /// Bounds of the receive loops (besides the deadline): poll wake-ups per probe,
    /// datagrams read per wake-up.
    static let maxWakeups = 10_000
    static let maxBatch = 256

    /// Discards what earlier probes left queued: datagrams, queued errors, a pending
    /// socket error.
    private static func drain(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<maxBatch {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            let err = errno
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) { break }
        }
        for _ in 0..<maxBatch {
            guard receiveErrorQueue(fd) != nil else { break }
        }
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
    }

    /// One entry of the socket's error queue (IP_RECVERR), decoded, and the data it
    /// returned (for UDP, the datagram the error quotes); nil when the queue is empty
    /// or the entry carries no extended error.
    private static func readErrorQueue(_ fd: Int32) -> (ExtendedError, [UInt8])? {
        guard let (control, data) = receiveErrorQueue(fd), let ee = parseExtendedError(control: control) else { return nil }
        return (ee, data)
    }

    /// recvmsg(MSG_ERRQUEUE): the control buffer and the data of one entry; nil when empty.
    private static func receiveErrorQueue(_ fd: Int32) -> (control: [UInt8], data: [UInt8])? {
        var data = [UInt8](repeating: 0, count: 1024)
        var control = [UInt8](repeating: 0, count: 512)
        let (n, controlLength) = data.withUnsafeMutableBytes { d in
            control.withUnsafeMutableBytes { c in
                var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = c.baseAddress
                    msg.msg_controllen = c.count
                    let n = recvmsg(fd, &msg, Int32(MSG_ERRQUEUE) | Int32(MSG_DONTWAIT))
                    return (n, Int(msg.msg_controllen))
                }
            }
        }
        guard n >= 0 else { return nil }
        return (Array(control[0..<min(controlLength, control.count)]), Array(data[0..<min(n, data.count)]))
    }

    /// poll(2) one descriptor until `events`, the deadline, or a stop request (Ctrl-C
    /// under StopSignals); returns revents, 0 when nothing came.
    private static func wait(_ fd: Int32, events: Int16, deadline: UInt64) throws -> Int16 {
        for _ in 0..<maxWakeups {
            if shim_stop_requested() != 0 { return 0 }
            let now = MonotonicClock.now()
            guard now < deadline else { return 0 }
            // Round up, so a short remainder does not spin; at most 100 ms, to notice a stop.
            let ms = Int32(min((deadline - now + 999_999) / 1_000_000, 100))
            var p = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&p, 1, ms)
            let err = errno
            if rc < 0 {
                if err == EINTR { continue }
                throw error("poll", err, hint: nil)
            }
            if rc > 0 { return p.revents }
        }
        return 0
    }

    /// Errors that mean "the kernel would not send this probe": reported as a reply,
    /// so the tracer can show where it died. Anything else throws.
    static let localErrnos: Set<Int32> = [EPERM, EACCES, ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN,
                                          EMSGSIZE, ENOBUFS, EADDRNOTAVAIL, ETIMEDOUT, ECONNRESET]

    private static func localFailure(_ what: String, _ err: Int32, since t0: UInt64) throws -> ProbeReply {
        guard localErrnos.contains(err) else { throw error(what, err, hint: nil) }
        return ProbeReply(kind: .localError(errno: err), rttNs: MonotonicClock.now() &- t0)
    }

    static func error(_ what: String, _ err: Int32, hint: String?) -> RuntimeError {
        RuntimeError("\(what): \(String(cString: strerror(err))) (errno \(err))", hint: hint)
    }

}

// MARK: - Packets (pure: built and parsed from bytes, tested with fixtures)

extension ProbeSender {
    /// The payload's marker, after the timestamp, so a capture shows whose packet it is.
    static let marker = Array("skbtracer".utf8)
    /// Bytes after the 8-byte ICMP header, as ping sends by default.
    static let echoPayloadSize = 56

    /// An echo request: type 8 (ICMP) or 128 (ICMPv6), code 0, id, seq, then 56 bytes:
    /// the CLOCK_MONOTONIC send time (8 bytes, big-endian), "skbtracer", and the
    /// byte offsets as filler. ICMP gets its checksum; for ICMPv6 the kernel fills it
    /// (it covers a pseudo-header the raw socket does not see).
    static func echoRequest(v6: Bool, id: UInt16, seq: UInt16, timestampNs: UInt64) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: 8 + echoPayloadSize)
        p[0] = v6 ? Sys.icmp6EchoRequest : Sys.icmpEchoRequest
        put16(id, at: 4, in: &p)
        put16(seq, at: 6, in: &p)
        for i in 0..<8 { p[8 + i] = UInt8(truncatingIfNeeded: timestampNs >> (56 - 8 * UInt64(i))) }
        p.replaceSubrange(16..<16 + marker.count, with: marker)
        for i in (16 + marker.count)..<p.count { p[i] = UInt8(truncatingIfNeeded: i) }
        if !v6 { put16(internetChecksum(p), at: 2, in: &p) }
        return p
    }

    /// RFC 1071: the one's complement of the one's complement sum of 16-bit
    /// big-endian words (an odd last byte is padded with zero).
    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum &+= UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum &+= UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) &+ (sum >> 16) }
        return ~UInt16(sum)
    }

    /// A received ICMP message that answers our probe.
    struct ICMPMatch: Equatable {
        let kind: ProbeReply.Kind
        let responder: IPAddress
    }

    /// Matches an IPv4 raw-socket read (IPv4 header included): an echo reply from the
    /// destination with our id and seq, or a destination unreachable / time exceeded
    /// whose quoted header is our echo request (to the destination, our id and seq).
    /// Everything else (other pings, the kernel's copies of requests) gives nil.
    static func matchICMPv4(_ p: [UInt8], destination: IPAddress, id: UInt16, seq: UInt16) -> ICMPMatch? {
        guard p.count >= 20, p[0] >> 4 == 4, p[9] == 1 else { return nil }
        let ihl = Int(p[0] & 0x0f) * 4
        guard ihl >= 20, p.count >= ihl + 8, let source = IPAddress(bytes: Array(p[12..<16])) else { return nil }
        let type = p[ihl], code = p[ihl + 1]
        switch type {
        case Sys.icmpEchoReply:
            guard code == 0, source == destination, get16(p, ihl + 4) == id, get16(p, ihl + 6) == seq else { return nil }
            return ICMPMatch(kind: .echoReply, responder: source)
        case Sys.icmpDestUnreach, Sys.icmpTimeExceeded:
            // ICMP header (8), then the offending IPv4 header and its first 8 bytes.
            let inner = ihl + 8
            guard p.count >= inner + 20, p[inner] >> 4 == 4, p[inner + 9] == 1 else { return nil }
            let innerIHL = Int(p[inner] & 0x0f) * 4
            let l4 = inner + innerIHL
            guard innerIHL >= 20, p.count >= l4 + 8, Array(p[inner + 16..<inner + 20]) == destination.bytes,
                  p[l4] == Sys.icmpEchoRequest, get16(p, l4 + 4) == id, get16(p, l4 + 6) == seq else { return nil }
            return ICMPMatch(kind: .icmpError(type: type, code: code), responder: source)
        default:
            return nil
        }
    }

    /// Matches an ICMPv6 raw-socket read (no IPv6 header; `source` from recvfrom): an
    /// echo reply from the destination with our id and seq, or a destination
    /// unreachable / time exceeded quoting our echo request.
    static func matchICMPv6(_ p: [UInt8], source: IPAddress, destination: IPAddress, id: UInt16, seq: UInt16) -> ICMPMatch? {
        guard p.count >= 8 else { return nil }
        let type = p[0], code = p[1]
        switch type {
        case Sys.icmp6EchoReply:
            guard code == 0, source == destination, get16(p, 4) == id, get16(p, 6) == seq else { return nil }
            return ICMPMatch(kind: .echoReply, responder: source)
        case Sys.icmp6DestUnreach, Sys.icmp6TimeExceeded:
            // ICMPv6 header (8), then the offending IPv6 header (40) and its payload.
            // Extension headers before ICMPv6 are not followed: our probes carry none.
            let inner = 8, l4 = inner + 40
            guard p.count >= l4 + 8, p[inner] >> 4 == 6, p[inner + 6] == UInt8(Sys.ipprotoICMPv6),
                  Array(p[inner + 24..<inner + 40]) == destination.bytes,
                  p[l4] == Sys.icmp6EchoRequest, get16(p, l4 + 4) == id, get16(p, l4 + 6) == seq else { return nil }
            return ICMPMatch(kind: .icmpError(type: type, code: code), responder: source)
        default:
            return nil
        }
    }

    /// A UDP probe's payload: "skbtracer", seq (2 bytes), CLOCK_MONOTONIC send time
    /// (8 bytes), big-endian.
    static func udpPayload(seq: UInt16, timestampNs: UInt64) -> [UInt8] {
        var p = marker + [0, 0]
        put16(seq, at: marker.count, in: &p)
        for i in 0..<8 { p.append(UInt8(truncatingIfNeeded: timestampNs >> (56 - 8 * UInt64(i)))) }
        return p
    }

    /// The seq of a UDP probe payload (echoed back, or quoted in an error); nil when
    /// the bytes are not one.
    static func udpPayloadSeq(_ p: [UInt8]) -> UInt16? {
        guard p.count >= marker.count + 2, Array(p[0..<marker.count]) == marker else { return nil }
        return get16(p, marker.count)
    }

    /// struct sock_extended_err (linux/errqueue.h) and the offender's address.
    struct ExtendedError: Equatable {
        var errno: Int32
        var origin: UInt8
        var type: UInt8
        var code: UInt8
        var offender: IPAddress?
    }

    /// Finds the IP_RECVERR / IPV6_RECVERR control message in a recvmsg(MSG_ERRQUEUE)
    /// control buffer (host byte order, as the kernel writes it) and decodes it.
    static func parseExtendedError(control c: [UInt8]) -> ExtendedError? {
        let header = MemoryLayout<cmsghdr>.size
        let align = MemoryLayout<Int>.size
        var off = 0
        for _ in 0..<16 {
            guard off + header <= c.count else { return nil }
            let len = Int(c.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off, as: UInt.self) })
            let level = c.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + align, as: Int32.self) }
            let type = c.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + align + 4, as: Int32.self) }
            guard len >= header, off + len <= c.count else { return nil }
            let isRecvErr = (level == Sys.solIP && type == Sys.ipRecvErr) || (level == Sys.solIPv6 && type == Sys.ipv6RecvErr)
            let data = off + header
            if isRecvErr, len >= header + 16 {
                var ee = ExtendedError(
                    errno: Int32(bitPattern: c.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: data, as: UInt32.self) }),
                    origin: c[data + 4], type: c[data + 5], code: c[data + 6], offender: nil)
                // SO_EE_OFFENDER: a sockaddr right after the struct.
                let sa = data + 16, end = off + len
                if sa + 2 <= end {
                    let family = Int32(c.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: sa, as: UInt16.self) })
                    if family == AF_INET, sa + 8 <= end {
                        ee.offender = IPAddress(bytes: Array(c[sa + 4..<sa + 8]))
                    } else if family == AF_INET6, sa + 24 <= end {
                        ee.offender = IPAddress(bytes: Array(c[sa + 8..<sa + 24]))
                    }
                }
                return ee
            }
            off += (len + align - 1) / align * align
        }
        return nil
    }

    /// What a queued error means for a probe: port unreachable is `refused` for UDP;
    /// any other ICMP error is `icmpError`; an error raised locally is `localError`.
    static func classify(_ ee: ExtendedError, udp: Bool) -> ProbeReply.Kind {
        switch ee.origin {
        case Sys.eeOriginICMP:
            return udp && ee.type == Sys.icmpDestUnreach && ee.code == 3 ? .refused : .icmpError(type: ee.type, code: ee.code)
        case Sys.eeOriginICMP6:
            return udp && ee.type == Sys.icmp6DestUnreach && ee.code == 4 ? .refused : .icmpError(type: ee.type, code: ee.code)
        default:
            return .localError(errno: ee.errno)
        }
    }

    static func put16(_ v: UInt16, at o: Int, in p: inout [UInt8]) {
        p[o] = UInt8(v >> 8)
        p[o + 1] = UInt8(v & 0xff)
    }

    static func get16(_ p: [UInt8], _ o: Int) -> UInt16 { UInt16(p[o]) << 8 | UInt16(p[o + 1]) }
}

extension ProbeSender {
    /// Linux constants Swift's Glibc module does not import (or imports as enums).
    enum Sys {
        static let ipprotoICMP: Int32 = 1
        static let ipprotoICMPv6: Int32 = 58
        static let solIP: Int32 = 0
        static let solIPv6: Int32 = 41
        static let solRaw: Int32 = 255
        static let ipRecvErr: Int32 = 11          // IP_RECVERR
        static let ipv6RecvErr: Int32 = 25        // IPV6_RECVERR
        static let icmpFilter: Int32 = 1          // ICMP_FILTER (SOL_RAW)
        static let icmp6Filter: Int32 = 1         // ICMP6_FILTER (IPPROTO_ICMPV6)
        static let eeOriginICMP: UInt8 = 2        // SO_EE_ORIGIN_ICMP
        static let eeOriginICMP6: UInt8 = 3       // SO_EE_ORIGIN_ICMP6
        static let icmpEchoReply: UInt8 = 0
        static let icmpDestUnreach: UInt8 = 3
        static let icmpEchoRequest: UInt8 = 8
        static let icmpTimeExceeded: UInt8 = 11
        static let icmp6DestUnreach: UInt8 = 1
        static let icmp6TimeExceeded: UInt8 = 3
        static let icmp6EchoRequest: UInt8 = 128
        static let icmp6EchoReply: UInt8 = 129
    }

    /// A sockaddr_in or sockaddr_in6 for an IPAddress and port.
    struct SocketAddress {
        private var storage = sockaddr_storage()
        private(set) var length: socklen_t = 0
        let address: IPAddress
        let port: UInt16

        init(_ address: IPAddress, port: UInt16) {
            self.address = address
            self.port = port
            if address.isIPv4 {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = port.bigEndian
                withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.bytes) }
                withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: sin) { s.copyMemory(from: $0) } }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            } else {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.bytes) }
                withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: sin6) { s.copyMemory(from: $0) } }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        }

        /// The wildcard address (0.0.0.0 or ::) of a family.
        static func any(v6: Bool, port: UInt16) -> SocketAddress {
            SocketAddress(IPAddress(bytes: [UInt8](repeating: 0, count: v6 ? 16 : 4))!, port: port)
        }

        func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
            try withUnsafeBytes(of: storage) { try body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
        }

        /// Address and port of a sockaddr_in / sockaddr_in6 filled by the kernel.
        static func decode(_ st: sockaddr_storage) -> (address: IPAddress, port: UInt16)? {
            withUnsafeBytes(of: st) { raw in
                switch Int32(st.ss_family) {
                case AF_INET:
                    let sin = raw.loadUnaligned(as: sockaddr_in.self)
                    let bytes = withUnsafeBytes(of: sin.sin_addr) { Array($0) }
                    return IPAddress(bytes: bytes).map { ($0, UInt16(bigEndian: sin.sin_port)) }
                case AF_INET6:
                    let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
                    let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
                    return IPAddress(bytes: bytes).map { ($0, UInt16(bigEndian: sin6.sin6_port)) }
                default:
                    return nil
                }
            }
        }
    }
}
