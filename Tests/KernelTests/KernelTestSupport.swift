import Foundation
import SkbTracerLab
import SkbTracerSystem
import Testing

// Shared helpers of the real-kernel suite: find the built binary, run it as a
// subprocess, wait for its ready file, parse its JSON lines, make bounded
// traffic between the lab's own namespaces.
//
// Network safety: every packet these helpers send goes from one lab namespace
// to an address of the same lab; every loop and wait is bounded.

enum KT {
    static let isRoot = geteuid() == 0

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    // MARK: - The binary

    /// The `skbtracer` executable next to the test bundle (`.build/debug`, or any
    /// --scratch-path), or $SKBTRACER_BIN.
    static func binaryPath() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["SKBTRACER_BIN"], fm.isExecutableFile(atPath: env) {
            return env
        }
        var candidates: [URL] = []
        if let a0 = CommandLine.arguments.first {
            var url = URL(fileURLWithPath: a0).standardizedFileURL.resolvingSymlinksInPath()
            // The runner may be .../debug/skbtracerPackageTests.xctest (a file on
            // Linux) or a path inside a bundle directory (macOS).
            for _ in 0..<5 {
                url = url.deletingLastPathComponent()
                candidates.append(url.appendingPathComponent("skbtracer"))
            }
        }
        if let exe = Bundle.main.executableURL {
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("skbtracer"))
        }
        for c in candidates {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: c.path, isDirectory: &isDir), !isDir.boolValue, fm.isExecutableFile(atPath: c.path) {
                return c.path
            }
        }
        throw Failure("skbtracer binary not found next to the test bundle (looked at \(candidates.map(\.path))); "
            + "build it first (swift build) or set SKBTRACER_BIN")
    }

    // MARK: - The lab

    /// A fresh lab; retries a few times when a random subnet index collides with
    /// another lab on the host.
    static func makeLab() throws -> Lab {
        var last: Error?
        for _ in 0..<5 {
            do { return try Lab.create() } catch { last = error }
        }
        throw last ?? Failure("cannot create a lab")
    }

    static func ifindex(_ name: String) -> Int? {
        guard let s = try? String(contentsOfFile: "/sys/class/net/\(name)/ifindex", encoding: .utf8) else { return nil }
        return Int(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // MARK: - Child processes

    /// A child process (Subprocess: posix_spawn, empty signal mask, default
    /// dispositions). Foundation's Process would hand down the test thread's
    /// mask, in which SIGINT and SIGTERM are blocked (skbtracer now unblocks its
    /// stop signals itself; `sigintWithBlockedMask` tests that, the other tests
    /// do not depend on it).
    final class Child {
        private let process: Subprocess
        var pid: pid_t { process.pid }

        /// `blockStopSignals` hands the child a mask with SIGINT, SIGTERM and
        /// SIGHUP blocked, as a thread of a test runner or a service manager may.
        init(_ executable: String, _ args: [String], stdout: String?, stderr: String?,
             blockStopSignals: Bool = false) throws {
            process = try Subprocess([executable] + args, stdout: stdout.map { .file($0) } ?? .null,
                                     stderr: stderr.map { .file($0) } ?? .null,
                                     blockedSignals: blockStopSignals ? [SIGINT, SIGTERM, SIGHUP] : [])
        }

        /// Reaps the child if it ended; true while it runs.
        var isRunning: Bool { process.isRunning }

        /// Exit status, or 128 + signal when killed; nil while running.
        var status: Int32? { process.status }

        func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }

        /// Bounded wait; true once the child ended.
        @discardableResult
        func wait(timeout: Double) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while isRunning && Date() < deadline { usleep(20_000) }
            return !isRunning
        }

        /// SIGKILL and reap.
        func kill9() {
            if isRunning {
                kill(pid, SIGKILL)
                wait(timeout: 5)
            }
        }
    }

    // MARK: - Running the tracer

    final class Tracer {
        let dir: URL
        let readyFile: String
        let outputFile: String
        let stderrFile: String
        private(set) var child: Child?

        private init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            readyFile = dir.appendingPathComponent("ready").path
            outputFile = dir.appendingPathComponent("events.json").path
            stderrFile = dir.appendingPathComponent("stderr").path
        }

        /// Starts `skbtracer --json --ready-file R -o O <args>` and waits for R
        /// (bounded). The caller must `cleanup()`.
        /// `formatted: false` leaves out --json and -o (for --record).
        static func start(_ args: [String], readyTimeout: Double = 15, blockStopSignals: Bool = false,
                          formatted: Bool = true) throws -> Tracer {
            let bin = try KT.binaryPath()
            let t = try Tracer()
            do {
                let output = formatted ? ["--json", "-o", t.outputFile] : []
                t.child = try Child(bin, ["--ready-file", t.readyFile] + output + args,
                                    stdout: nil, stderr: t.stderrFile, blockStopSignals: blockStopSignals)
                try t.waitReady(timeout: readyTimeout)
            } catch {
                t.cleanup()
                throw error
            }
            return t
        }

        var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }
        var output: String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }
        var pid: Int32 { child?.pid ?? -1 }
        var isRunning: Bool { child?.isRunning ?? false }
        /// Exit status (128 + signal when killed), nil while running.
        var status: Int32? { child?.status }

        func waitReady(timeout: Double) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if FileManager.default.fileExists(atPath: readyFile) { return }
                if !isRunning {
                    throw Failure("skbtracer exited (status \(status ?? -1)) before it was ready: \(stderr)")
                }
                usleep(50_000)
            }
            child?.kill9()
            throw Failure("skbtracer not ready within \(timeout) s: \(stderr)")
        }

        /// Waits for the process to end on its own; false on timeout.
        @discardableResult
        func waitExit(timeout: Double) -> Bool { child?.wait(timeout: timeout) ?? true }

        /// SIGINT, then a bounded wait; SIGKILL as a last resort (the status is
        /// then 137 and the test fails on it). Returns the exit status.
        @discardableResult
        func stop(settle: Double = 0.3, timeout: Double = 10) -> Int32 {
            // Late events (frees of the last replies) follow the traffic closely.
            if settle > 0 { usleep(UInt32(settle * 1_000_000)) }
            child?.signal(SIGINT)
            if !waitExit(timeout: timeout) { child?.kill9() }
            return status ?? -1
        }

        /// Every event line of the output file (`lost` records are skipped).
        func events() throws -> [Event] {
            try Event.parse(output)
        }

        func cleanup() {
            child?.kill9()
            try? FileManager.default.removeItem(at: dir)
        }

        /// The BPF links this process holds (from /proc/PID/fdinfo).
        func bpfLinkIDs() -> Set<Int> {
            KT.bpfLinkIDs(ofPID: pid)
        }
    }

    // MARK: - Events

    struct Event: CustomStringConvertible {
        let json: [String: Any]
        let line: String

        static func parse(_ text: String) throws -> [Event] {
            var out: [Event] = []
            for line in text.split(separator: "\n") where !line.isEmpty {
                guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw Failure("not a JSON object: \(line)")
                }
                let e = Event(json: obj, line: String(line))
                if e.type == "event" { out.append(e) }
            }
            return out
        }

        func str(_ k: String) -> String? { json[k] as? String }
        func int(_ k: String) -> Int? { (json[k] as? NSNumber)?.intValue }

        var type: String? { str("type") }
        var probe: String { str("probe") ?? "" }
        var netns: UInt32 { UInt32(truncatingIfNeeded: int("netns") ?? -1) }
        var ifname: String { str("ifname") ?? "" }
        var ifindex: Int { int("ifindex") ?? -1 }
        var saddr: String? { str("saddr") }
        var daddr: String? { str("daddr") }
        var sport: Int? { int("sport") }
        var dport: Int? { int("dport") }
        var l3: String? { str("l3_proto") }
        var l4: String? { str("l4_proto") }
        var icmpType: Int? { int("icmp_type") }
        var icmpID: Int? { int("icmp_id") }
        var icmpSeq: Int? { int("icmp_seq") }
        var ipLen: Int? { int("ip_len") }
        var skb: String? { str("skb") }
        var route: [String: Any]? { json["route"] as? [String: Any] }
        var routeDev: String? { route?["dev"] as? String }
        var routeError: String? { route?["error"] as? String }
        var ct: [String: Any]? { json["ct"] as? [String: Any] }
        var tcpFlags: [String]? { str("tcp_flags").map { $0.split(separator: ",").map(String.init) } }
        var dropReason: String? { str("drop_reason") }
        var location: String? { str("location") }
        var ts: UInt64 { (json["ts_ns"] as? NSNumber)?.uint64Value ?? 0 }

        var description: String {
            let flags = str("tcp_flags").map { " [\($0)]" } ?? ""
            let icmp = icmpType.map { " icmp t=\($0) id=\(icmpID.map(String.init) ?? "-") seq=\(icmpSeq.map(String.init) ?? "-")" } ?? ""
            let ports = sport.map { ":\($0)" } ?? ""
            let dports = dport.map { ":\($0)" } ?? ""
            let drop = dropReason.map { " drop=\($0)@\(location ?? "-")" } ?? ""
            return "\(probe) ns=\(netns) if=\(ifname)(\(ifindex)) \(saddr ?? "-")\(ports)->\(daddr ?? "-")\(dports)\(flags)\(icmp)\(drop)"
        }
    }

    static func dump(_ events: [Event]) -> String {
        events.isEmpty ? "(no events)" : events.map { "  \($0)" }.joined(separator: "\n")
    }

    /// A network location: namespace inode and interface name.
    struct Hop: CustomStringConvertible, Equatable {
        let netns: UInt32
        let ifname: String
        var description: String { "\(ifname)@\(netns)" }
    }

    /// Checks that `hops` occur in `events` (sorted by time) as a subsequence;
    /// returns the first missing hop, or nil.
    static func missingHop(_ hops: [Hop], in events: [Event]) -> Hop? {
        var i = 0
        for e in events.sorted(by: { $0.ts < $1.ts }) where i < hops.count {
            if e.netns == hops[i].netns && e.ifname == hops[i].ifname { i += 1 }
        }
        return i < hops.count ? hops[i] : nil
    }

    // MARK: - Traffic (lab-internal only, bounded)

    static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    /// `ping -c count` with a fixed echo id, inside `ns`, to a lab address.
    @discardableResult
    static func ping(_ lab: Lab, from ns: String, to addr: String, count: Int = 2, id: Int? = nil, v6: Bool = false) throws -> Command.Result {
        var args = ["ping"]
        if v6 { args.append("-6") }
        args += ["-c", "\(count)", "-i", "0.2", "-W", "1", "-w", "\(count + 3)"]
        if let id { args += ["-e", "\(id)"] }
        args.append(addr)
        return try lab.exec(ns, args, timeout: Double(count + 5))
    }

    /// One UDP datagram from `ns` (source port `sport`) to addr:port.
    @discardableResult
    static func sendUDP(_ lab: Lab, from ns: String, to addr: String, port: Int, sport: Int, payload: String = "skbtracer-kt") throws -> Command.Result {
        let fam = addr.contains(":") ? "AF_INET6" : "AF_INET"
        let code = """
        import socket
        s = socket.socket(socket.\(fam), socket.SOCK_DGRAM)
        s.bind(('', \(sport)))
        s.sendto(b'\(payload)', ('\(addr)', \(port)))
        s.close()
        """
        return try lab.exec(ns, [python, "-c", code], timeout: 10)
    }

    /// A helper inside a lab namespace (a listener, a receiver, a sink) that runs
    /// until the test stops it: its lifetime must not be a fixed number of seconds
    /// counted from before the tracer's start-up, which takes longer on a busy
    /// machine. `python(lab, ns:) { preamble in preamble + code }` gets Python
    /// lines that import os and time and define `stopped()`, true once `stop()`
    /// was called.
    final class Background {
        let child: Child
        let outFile: String
        /// Created by `stop()`; the helper polls for it (`stopped()`).
        let stopFile: String
        /// `args` run as they are; see `python` for a helper that can be stopped.
        init(_ lab: Lab, ns: String, _ args: [String], stopFile: String? = nil) throws {
            outFile = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-bg-\(UUID().uuidString)").path
            self.stopFile = stopFile ?? outFile + ".stop"
            child = try Child("ip", ["netns", "exec", ns] + args, stdout: outFile, stderr: outFile + ".err")
        }

        /// A Python helper; `code` gets the preamble that defines `stopped()`.
        static func python(_ lab: Lab, ns: String, _ code: (_ preamble: String) -> String) throws -> Background {
            let stopFile = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-stop-\(UUID().uuidString)").path
            return try Background(lab, ns: ns, [KT.python, "-c", code(untilStopped(stopFile))], stopFile: stopFile)
        }

        /// Python lines: `stopped()` is true once the test called `stop()`. The
        /// 600 s guard only keeps a helper from outliving a test process that died
        /// without cleanup; no test waits anywhere near it.
        static func untilStopped(_ stopFile: String) -> String {
            """
            import os, time
            _guard = time.monotonic() + 600
            def stopped():
                return os.path.exists('\(stopFile)') or time.monotonic() > _guard

            """
        }

        var output: String {
            ((try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "")
                + ((try? String(contentsOfFile: outFile + ".err", encoding: .utf8)) ?? "")
        }
        /// Bounded wait for the helper to end by itself; the exit status, or nil
        /// when it had to be killed.
        func wait(timeout: Double) -> Int32? {
            if child.wait(timeout: timeout) { return child.status }
            child.signal(SIGTERM)
            if !child.wait(timeout: 1) { child.kill9() }
            return nil
        }
        /// Asks a `python` helper to end (`stopped()` turns true) and waits for it;
        /// the exit status, or nil when it had to be killed.
        @discardableResult
        func stop(timeout: Double = 30) -> Int32? {
            FileManager.default.createFile(atPath: stopFile, contents: Data())
            return wait(timeout: timeout)
        }
        func cleanup() {
            _ = wait(timeout: 0)
            for f in [outFile, outFile + ".err", stopFile] { try? FileManager.default.removeItem(atPath: f) }
        }
    }

    /// Waits until a socket listens on `port` inside `ns` (`ss`), bounded.
    static func waitListening(_ lab: Lab, ns: String, port: Int, udp: Bool, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Command.Result?
        while Date() < deadline {
            let r = try lab.exec(ns, ["ss", "-Hn", udp ? "-uln" : "-tln", "sport = :\(port)"], timeout: 10)
            if r.ok && r.stdout.contains(":\(port)") { return }
            last = r
            usleep(50_000)
        }
        throw Failure("nothing listens on \(udp ? "udp" : "tcp") port \(port) in \(ns) within \(timeout) s; "
            + "last ss: status \(last?.status ?? -1) \(last?.stderr ?? "")")
    }

    /// A UDP listener in `ns` on addr:port: prints the first datagram it gets and
    /// ends; runs until then or until stopped.
    static func udpListener(_ lab: Lab, ns: String, addr: String, port: Int) throws -> Background {
        let bg = try Background.python(lab, ns: ns) { preamble in preamble + """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('\(addr)', \(port)))
            s.settimeout(0.2)
            while not stopped():
                try:
                    d, a = s.recvfrom(2048)
                except socket.timeout:
                    continue
                print('got', len(d), a)
                break
            """
        }
        try waitListening(lab, ns: ns, port: port, udp: true)
        return bg
    }

    /// A TCP server in `ns` on addr:port: accepts one connection, echoes one
    /// message, closes, ends; runs until then or until stopped.
    static func tcpServer(_ lab: Lab, ns: String, addr: String, port: Int) throws -> Background {
        let bg = try Background.python(lab, ns: ns) { preamble in preamble + """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('\(addr)', \(port)))
            s.listen(1)
            s.settimeout(0.2)
            while not stopped():
                try:
                    c, a = s.accept()
                except socket.timeout:
                    continue
                c.settimeout(30)
                d = c.recv(1024)
                c.sendall(d)
                c.close()
                print('served', a)
                break
            s.close()
            """
        }
        try waitListening(lab, ns: ns, port: port, udp: false)
        return bg
    }

    /// A TCP client in `ns` from source port `sport`: connects, sends, reads the echo, closes.
    @discardableResult
    static func tcpClient(_ lab: Lab, from ns: String, to addr: String, port: Int, sport: Int) throws -> Command.Result {
        let code = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('', \(sport)))
        s.settimeout(5)
        s.connect(('\(addr)', \(port)))
        s.sendall(b'hello-skbtracer')
        print(s.recv(1024))
        s.close()
        """
        return try lab.exec(ns, [python, "-c", code], timeout: 10)
    }

    /// A port number unlikely to be in use: 20000-29999.
    static func randomPort() -> Int { Int.random(in: 20000...29999) }

    // MARK: - BPF links

    /// bpf link ids held open by a process, from /proc/PID/fdinfo (`link_id:`).
    static func bpfLinkIDs(ofPID pid: Int32) -> Set<Int> {
        let dir = "/proc/\(pid)/fdinfo"
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var ids = Set<Int>()
        for fd in fds {
            guard let info = try? String(contentsOfFile: "\(dir)/\(fd)", encoding: .utf8) else { continue }
            for line in info.split(separator: "\n") where line.hasPrefix("link_id:") {
                if let v = Int(line.dropFirst("link_id:".count).trimmingCharacters(in: .whitespaces)) { ids.insert(v) }
            }
        }
        return ids
    }

    /// Ids of all BPF links whose program's name starts with `tp_` (skbtracer's
    /// programs), from `bpftool -j`.
    static func tracingLinkIDs() throws -> Set<Int> {
        try linkIDs { $0.hasPrefix("tp_") }
    }

    /// Ids of all netfilter links of skbtracer's hook programs (`nf_hook_*`).
    static func netfilterHookLinkIDs() throws -> Set<Int> {
        try linkIDs { $0.hasPrefix("nf_hook_") }
    }

    /// Ids of all BPF links whose program's name passes `wanted`, from `bpftool -j`.
    static func linkIDs(ofPrograms wanted: (String) -> Bool) throws -> Set<Int> {
        let progs = try Command.check(["bpftool", "-j", "prog", "list"]).stdout
        let links = try Command.check(["bpftool", "-j", "link", "list"]).stdout
        let progArr = (try JSONSerialization.jsonObject(with: Data(progs.utf8)) as? [[String: Any]]) ?? []
        let linkArr = (try JSONSerialization.jsonObject(with: Data(links.utf8)) as? [[String: Any]]) ?? []
        var tpProgs = Set<Int>()
        for p in progArr {
            if let name = p["name"] as? String, wanted(name), let id = (p["id"] as? NSNumber)?.intValue {
                tpProgs.insert(id)
            }
        }
        var ids = Set<Int>()
        for l in linkArr {
            guard let prog = (l["prog_id"] as? NSNumber)?.intValue, tpProgs.contains(prog),
                  let id = (l["id"] as? NSNumber)?.intValue else { continue }
            ids.insert(id)
        }
        return ids
    }

    // MARK: - Checks that cannot be made

    /// A check this run cannot make (the machine is shared): recorded as a known
    /// issue, so the run reports it instead of passing it in silence.
    static func skipped(_ why: String, sourceLocation: SourceLocation = #_sourceLocation) {
        withKnownIssue("check skipped", isIntermittent: true) {
            Issue.record("skipped: \(why)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - Leftovers

    /// Creates a lab, runs `body`, removes the lab (on every path out), then
    /// checks nothing with the lab's prefix remains.
    static func withLab(_ body: (Lab) throws -> Void) throws {
        let lab = try makeLab()
        let prefix = lab.prefix
        do {
            defer { lab.destroy() }
            try body(lab)
        }
        let left = try leftovers(prefix: prefix)
        #expect(left.isEmpty, "lab \(prefix) left things behind:\n\(left.joined(separator: "\n"))")
    }

    /// Everything of the lab still visible on the host: namespaces, links, iptables rules.
    static func leftovers(prefix: String) throws -> [String] {
        var found: [String] = []
        let ns = try Command.run(["ip", "netns", "list"]).stdout
        found += ns.split(separator: "\n").filter { $0.contains(prefix) }.map { "netns: \($0)" }
        let links = try Command.run(["ip", "-o", "link", "show"]).stdout
        found += links.split(separator: "\n").filter { $0.contains(prefix) }.map { "link: \($0)" }
        for table in ["filter", "nat"] {
            let rules = try Command.run(["iptables", "-w", "-t", table, "-S"]).stdout
            found += rules.split(separator: "\n").filter { $0.contains(prefix) }.map { "iptables \(table): \($0)" }
        }
        return found
    }
}
