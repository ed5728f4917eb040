import Foundation
import SkbTracerLab
import SkbTracerSystem
import Testing

/// Issue 4: the tracer is stopped by SIGINT, SIGTERM, SIGKILL or by its output
/// pipe's reader going away, at three moments: start-up (right after exec, and
/// once its handlers are installed but before any BPF object), while attaching
/// (`-t all`, at its first BPF program), and while tracing a UDP flood (events,
/// and --timeline). It must end within a bound (SIGKILL 137; otherwise 0 with a
/// summary once past start-up) and leave no BPF program, link or map behind,
/// and no nft table. SKBTRACER_KT_LOG=1 prints one line per case.
///
/// Other tests (and other people) may run tracers on this machine at the same
/// time, so nothing here counts BPF objects globally: the ids checked are the
/// ones this case's own process held (sampled from /proc/PID/fdinfo while it
/// ran, plus bpftool's `pids` where bpftool has them), and an orphan scan looks
/// only at objects with skbtracer's names, created after the case began, that
/// no live process holds.
///
/// Network safety: the only traffic is a bounded UDP flood from the lab's c1
/// to the lab's c2 (KT.withLab), stopped and removed on every path out.
// Nested in the serialized real-kernel suite: its labs add iptables-nft tables
// in the root namespace, which DropLab's "nothing touched the root" check reads,
// and its floods would skew the timing of tests running beside it.
extension KernelTests {
@Suite("skbtracer killed: signals and a closed pipe at start-up, attach and under load", .serialized)
struct KillTests {
    enum Stop: String, CaseIterable, Sendable {
        case sigint, sigterm, sigkill, closedPipe

        var signal: Int32? {
            switch self {
            case .sigint: SIGINT
            case .sigterm: SIGTERM
            case .sigkill: SIGKILL
            case .closedPipe: nil
            }
        }
        /// How long the process may take to end after the stop.
        var bound: Double { self == .sigkill ? 2 : 5 }
    }

    enum Moment: String, CaseIterable, Sendable {
        /// Right after exec: before skbtracer installs its signal handlers.
        case startup
        /// Its stop handlers installed (SigCgt), no BPF object yet.
        case startupHandled
        /// `-t all`: as soon as its first BPF program appears in its fdinfo.
        case attaching
        /// Ready, a UDP flood in the lab, every datagram matching the filter.
        case load
        /// The same with --timeline (journeys, a diagnosis at exit).
        case loadTimeline

        var needsLab: Bool { self == .load || self == .loadTimeline }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let stop: Stop
        let moment: Moment
        var testDescription: String { "\(stop.rawValue) at \(moment.rawValue)" }
    }

    static let cases = Stop.allCases.flatMap { s in Moment.allCases.map { Case(stop: s, moment: $0) } }

    @Test("ends within a bound, status and summary as expected, no BPF object or nft table left", arguments: cases)
    func stopAt(_ c: Case) throws {
        let tablesBefore = try Nft.tables()
        let labsBefore = try Nft.otherLabs()
        let baseline = try BPFListing.take()
        var labPrefix: String?
        if c.moment.needsLab {
            try KT.withLab { lab in
                labPrefix = lab.prefix
                try run(c, lab: lab, baseline: baseline)
            }
        } else {
            try run(c, lab: nil, baseline: baseline)
        }
        let tablesAfter = try Nft.tables()
        let ours = labPrefix.map { [$0] } ?? []
        try Nft.expectUnchanged(before: tablesBefore, after: tablesAfter, ours: ours,
                                others: labsBefore.union(try Nft.otherLabs(than: ours)))
        if ProcessInfo.processInfo.environment["SKBTRACER_KT_LOG"] != nil {
            print("kill-case \(c.testDescription): nft tables \(tablesBefore == tablesAfter ? "unchanged" : "CHANGED"): \(tablesAfter.sorted())")
        }
    }

    // MARK: - One case

    private func run(_ c: Case, lab: Lab?, baseline: BPFListing) throws {
        let spawnTime = Int(Date().timeIntervalSince1970) - 1
        var args: [String]
        switch c.moment {
        case .startup, .startupHandled:
            // TEST-NET-1: matches nothing; no traffic needed.
            args = ["-H", "192.0.2.1", "--proto", "udp"]
        case .attaching:
            args = ["-t", "all", "-H", "192.0.2.1", "--proto", "udp"]
        case .load, .loadTimeline:
            args = []
        }
        let port = KT.randomPort()
        if let lab {
            // Every datagram of the flood matches; the port is closed in c2, so each
            // one also ends in kfree_skb (NO_SOCKET): several events per packet.
            args = ["--proto", "udp", "--dport", "\(port)", "-d", lab.c2IPv4]
            if c.moment == .loadTimeline { args.append("--timeline") }
        }
        // The pipe cases print text (a header, columns or journeys) to stdout;
        // the others JSON to a file.
        let run = try TracerRun(args, json: c.stop != .closedPipe && c.moment != .loadTimeline,
                                toPipe: c.stop == .closedPipe)
        defer { run.cleanup() }
        var flood: KT.Background?
        defer { if let f = flood { f.cleanup() } }

        // Reach the moment.
        var note = ""
        switch c.moment {
        case .startup:
            try run.waitExec(timeout: 5)
            note = "objects held at the stop: \(run.sampled)"
        case .startupHandled:
            try run.waitHandlers(timeout: 5)
            note = "objects held at the stop: \(run.sampled)"
            #expect(run.sampled.isEmpty, "\(c.testDescription): BPF objects already existed at the stop: \(run.sampled)")
        case .attaching:
            try run.waitFirstProgram(timeout: 15)
            let readyAlready = FileManager.default.fileExists(atPath: run.readyFile)
            note = "held at the stop: \(run.sampled)"
            #expect(!readyAlready, "\(c.testDescription): the tracer was already attached when stopped (not a mid-attach stop)")
        case .load, .loadTimeline:
            let lab = try #require(lab)
            try run.waitReady(timeout: 15)
            try run.checkListedByBpftool()
            flood = try Self.startLoad(run, lab: lab, port: port)
            usleep(300_000)
            run.drain()
            note = "output before the stop: \(run.outputBytes) bytes"
            #expect(flood?.child.isRunning == true, "the flood ended before the stop: \(flood?.output ?? "")")
        }

        // Stop, and watch the process (and what it holds) until it ends.
        let stoppedAt = Date()
        if let sig = c.stop.signal { run.child.signal(sig) } else { run.closeReader() }
        let ended = run.watchUntilExit(timeout: c.stop.bound)
        let took = Date().timeIntervalSince(stoppedAt)
        if !ended { run.child.kill9() }
        let status = run.child.status ?? -1
        let stderr = run.stderr
        let what = "\(c.testDescription) (pid \(run.child.pid), status \(status), \(String(format: "%.2f", took)) s; \(note))"
        #expect(ended, "\(what): still running \(c.stop.bound) s after the stop; stderr:\n\(stderr)")
        if let f = flood { f.stop(timeout: 10) }

        // Status and stderr.
        checkStatus(c, status: status, stderr: stderr, what: what)
        if c.moment == .load || c.moment == .loadTimeline, c.stop != .sigkill, status == 0 {
            let events = Self.summaryEvents(stderr)
            #expect((events ?? 0) > 0, "\(what): no events counted under load; stderr:\n\(stderr)")
        }
        if c.moment != .startup && c.moment != .startupHandled {
            #expect(!run.sampled.progs.isEmpty && !run.sampled.maps.isEmpty,
                    "\(what): never saw the tracer hold a BPF program and map (sampling broken?): \(run.sampled)")
        }
        if c.moment == .load || c.moment == .loadTimeline {
            #expect(!run.sampled.links.isEmpty, "\(what): the ready tracer held no BPF link")
        }

        // Nothing of it remains.
        let goneFrom = Date()
        let remaining = try BPFListing.waitGone(run.sampled, timeout: 3)
        #expect(remaining.isEmpty, "\(what): BPF objects of the exited tracer remain: \(remaining)")
        let orphans = try BPFListing.waitNoOrphans(newerThan: baseline, loadedSince: spawnTime, timeout: 3)
        #expect(orphans.isEmpty, "\(what): skbtracer BPF objects created during the case that no process holds: \(orphans)")
        if ProcessInfo.processInfo.environment["SKBTRACER_KT_LOG"] != nil {
            let last = stderr.split(separator: "\n").last.map(String.init) ?? "(no stderr)"
            print("kill-case \(what); sampled \(run.sampled.progs.count) progs \(run.sampled.maps.count) maps "
                + "\(run.sampled.links.count) links; gone after \(String(format: "%.2f", Date().timeIntervalSince(goneFrom))) s; "
                + "flood: \(flood?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "-"); stderr: \(last)")
        }
    }

    private func checkStatus(_ c: Case, status: Int32, stderr: String, what: String) {
        let lines = stderr.split(separator: "\n").map(String.init)
        let summary = lines.last { $0.hasPrefix("skbtracer: ") && $0.contains(" events") }
        switch (c.stop, c.moment) {
        case (.sigkill, _):
            #expect(status == 137, "\(what): SIGKILL must give 137; stderr:\n\(stderr)")
        case (.sigint, .startup), (.sigterm, .startup):
            // Before skbtracer installs its handlers the default action ends it
            // (128 + signal); after, it stops by itself (0) with a summary.
            let sig = c.stop.signal ?? 0
            #expect(status == 0 || status == 1 || status == 128 + sig,
                    "\(what): expected 0, 1 or \(128 + sig); stderr:\n\(stderr)")
            if status == 0 {
                #expect(summary?.contains("stopped: signal") == true, "\(what): no summary with 'stopped: signal':\n\(stderr)")
            } else if status == 1 {
                #expect(lines.contains { $0.hasPrefix("skbtracer: ") }, "\(what): exit 1 without a message:\n\(stderr)")
            }
        case (.sigint, _), (.sigterm, _):
            #expect(status == 0, "\(what): expected a clean stop (0); stderr:\n\(stderr)")
            #expect(summary?.contains("stopped: signal") == true, "\(what): no summary with 'stopped: signal':\n\(stderr)")
        case (.closedPipe, _):
            // A closed pipe is a normal end (`skbtracer | head`), at any moment.
            #expect(status == 0, "\(what): expected 0 for a closed output pipe; stderr:\n\(stderr)")
            #expect(summary?.contains("stopped: output closed") == true,
                    "\(what): no summary with 'stopped: output closed':\n\(stderr)")
        }
        // Nothing but the summary (and probe warnings) on a clean stop: no crash text.
        if status == 0 {
            for l in lines where !l.hasPrefix("skbtracer: ") {
                Issue.record("\(what): unexpected stderr line: \(l)")
            }
        }
    }

    /// N of the summary line `skbtracer: N events ...`.
    static func summaryEvents(_ stderr: String) -> Int? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.hasPrefix("skbtracer: ") && $0.contains(" events") }),
              let n = line.dropFirst("skbtracer: ".count).split(separator: " ").first else { return nil }
        return Int(n)
    }

    /// Puts the ready tracer under load: one datagram first, and its output
    /// awaited (its drop makes skbtracer read /proc/kallsyms for the location,
    /// which takes seconds in a debug build on a busy machine and would eat the
    /// flood's time), then the flood, until the tracer writes the flood's events.
    private static func startLoad(_ run: TracerRun, lab: Lab, port: Int) throws -> KT.Background {
        let warm = try KT.sendUDP(lab, from: lab.container1, to: lab.c2IPv4, port: port, sport: KT.randomPort())
        try #require(warm.ok, "warm-up datagram: \(warm.stderr)")
        // Text to the pipe starts with a 136-byte header: wait for more.
        try run.waitOutput(moreThan: run.fifo == nil ? 0 : 200, timeout: 15)
        let before = run.outputBytes
        let flood = try startFlood(lab, port: port)
        do {
            try run.waitOutput(moreThan: before + 8192, timeout: 30)
        } catch {
            flood.cleanup()
            throw error
        }
        return flood
    }

    /// A bounded UDP flood c1 -> c2:port (closed), lab-internal: until the test
    /// stops it (at most 5,000,000 datagrams), not for a fixed time that a slow
    /// start-up could use up before the stop.
    static func startFlood(_ lab: Lab, port: Int) throws -> KT.Background {
        try KT.Background.python(lab, ns: lab.container1) { preamble in preamble + """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('\(lab.c1IPv4)', 0))
            n = 0
            while n < 5000000 and (n % 1000 or not stopped()):
                try:
                    s.sendto(b'skbtracer-kill-flood', ('\(lab.c2IPv4)', \(port)))
                except OSError:
                    pass
                n += 1
            print('sent', n)
            """
        }
    }
}
}

// MARK: - The tracer process, watched

/// `skbtracer --ready-file R [--json] [-o O | stdout to a pipe] <args>`, spawned
/// with KT.Child (clean signal mask), and the BPF object ids it is seen holding.
private final class TracerRun {
    let dir: URL
    let readyFile: String
    let outputFile: String
    let stderrFile: String
    let fifo: String?
    let child: KT.Child
    let binary: String
    private var readFD: Int32 = -1
    private(set) var drained = 0
    /// Every BPF id seen in its fdinfo (or bpftool `pids`) while it ran.
    private(set) var sampled = BPFIDs()

    init(_ args: [String], json: Bool, toPipe: Bool) throws {
        binary = try KT.binaryPath()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        readyFile = dir.appendingPathComponent("ready").path
        outputFile = dir.appendingPathComponent("out").path
        stderrFile = dir.appendingPathComponent("stderr").path
        var full = ["--ready-file", readyFile]
        if json { full.append("--json") }
        if toPipe {
            let path = dir.appendingPathComponent("out.fifo").path
            guard mkfifo(path, 0o600) == 0 else { throw KT.Failure("mkfifo \(path): \(String(cString: strerror(errno)))") }
            // Our read end first (non-blocking open needs no writer), so the child's
            // O_WRONLY open does not block; CLOEXEC so no other child inherits it
            // and keeps the pipe open after we close it.
            readFD = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard readFD >= 0 else { throw KT.Failure("open \(path): \(String(cString: strerror(errno)))") }
            fifo = path
        } else {
            fifo = nil
            full += ["-o", outputFile]
        }
        do {
            child = try KT.Child(binary, full + args, stdout: fifo, stderr: stderrFile)
        } catch {
            if readFD >= 0 { close(readFD) }
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
    }

    var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// Bytes of output so far: the file's size, or what was read from the pipe.
    var outputBytes: Int {
        fifo != nil ? drained : ((try? FileManager.default.attributesOfItem(atPath: outputFile)[.size] as? Int) ?? 0)
    }

    func sample() { sampled.formUnion(BPFIDs.held(by: child.pid)) }

    /// Until the process runs skbtracer's own code (exec done).
    func waitExec(timeout: Double) throws {
        let want = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/exe"),
               exe == want { sample(); return }
            guard child.isRunning else { throw KT.Failure("skbtracer ended before exec was seen: \(stderr)") }
            usleep(200)
        }
        throw KT.Failure("skbtracer did not exec within \(timeout) s")
    }

    /// Until skbtracer catches SIGINT and SIGTERM (SigCgt in /proc/PID/status),
    /// sampling its fds on the way.
    func waitHandlers(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            sample()
            if let status = try? String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
               let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) {
                let want = UInt64(1) << UInt64(SIGINT - 1) | UInt64(1) << UInt64(SIGTERM - 1)
                if mask & want == want { return }
            }
            guard child.isRunning else { throw KT.Failure("skbtracer ended before installing its handlers: \(stderr)") }
            usleep(200)
        }
        throw KT.Failure("skbtracer did not catch SIGINT/SIGTERM within \(timeout) s: \(stderr)")
    }

    /// Until its first BPF program appears (sampling fdinfo every ~0.5 ms).
    func waitFirstProgram(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            sample()
            if !sampled.progs.isEmpty { return }
            guard child.isRunning else { throw KT.Failure("skbtracer ended before loading a program: \(stderr)") }
            usleep(500)
        }
        throw KT.Failure("no BPF program of skbtracer within \(timeout) s: \(stderr)")
    }

    func waitReady(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            sample()
            drain()
            if FileManager.default.fileExists(atPath: readyFile) { sample(); return }
            guard child.isRunning else { throw KT.Failure("skbtracer exited (\(child.status ?? -1)) before ready: \(stderr)") }
            usleep(20_000)
        }
        throw KT.Failure("skbtracer not ready within \(timeout) s: \(stderr)")
    }

    /// bpftool lists what fdinfo shows it holds now, with skbtracer's names; and
    /// where bpftool reports owners (`pids`), those ids join the sampled ones.
    /// Not everything sampled: during start-up libbpf loads and closes probe
    /// programs of its own (feature detection), which are rightly gone by now.
    func checkListedByBpftool() throws {
        let held = BPFIDs.held(by: child.pid)
        let listing = try BPFListing.take()
        sampled.formUnion(held)
        sampled.formUnion(listing.owned(by: child.pid))
        let missing = held.subtracting(listing.ids)
        #expect(missing.isEmpty, "ids in fdinfo of pid \(child.pid) that bpftool does not list: \(missing)")
        for id in sampled.progs {
            if let p = listing.progs[id] { #expect(p.name.hasPrefix("tp_"), "program \(id) of the tracer is named \(p.name)") }
        }
        for id in sampled.maps {
            if let m = listing.maps[id] { #expect(BPFListing.isOurMapName(m.name), "map \(id) of the tracer is named \(m.name)") }
        }
    }

    /// Until its output (file size, or bytes read from the pipe) exceeds `bytes`.
    func waitOutput(moreThan bytes: Int, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            sample()
            drain()
            if outputBytes > bytes { return }
            guard child.isRunning else { throw KT.Failure("skbtracer ended while tracing: \(stderr)") }
            usleep(20_000)
        }
        throw KT.Failure("output not beyond \(bytes) bytes within \(timeout) s (\(outputBytes) bytes): \(stderr)")
    }

    /// Reads whatever the pipe holds (non-blocking).
    func drain() {
        guard readFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            drained += n
        }
    }

    func closeReader() {
        if readFD >= 0 { close(readFD); readFD = -1 }
    }

    /// Until the process sleeps in a pipe write (/proc/PID/wchan), sampling its fds.
    func waitBlockedInPipeWrite(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && child.isRunning {
            sample()
            let wchan = (try? String(contentsOfFile: "/proc/\(child.pid)/wchan", encoding: .utf8)) ?? ""
            if wchan.contains("pipe_write") {
                // Still there a moment later: blocked, not passing through.
                usleep(100_000)
                let again = (try? String(contentsOfFile: "/proc/\(child.pid)/wchan", encoding: .utf8)) ?? ""
                if again.contains("pipe_write") { return true }
            }
            usleep(20_000)
        }
        return false
    }

    /// Samples fdinfo every ~2 ms until the process ends; false on timeout.
    func watchUntilExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            sample()
            if !child.isRunning { return true }
            usleep(2_000)
        }
        return !child.isRunning
    }

    func cleanup() {
        child.kill9()
        closeReader()
        try? FileManager.default.removeItem(at: dir)
    }
}



extension KernelTests.KillTests {
    /// `skbtracer | less` with less scrolled back, or a stuck consumer on a fifo:
    /// the reader is alive but stalled, the pipe is full and the tracer sits in
    /// write(). The stop signal interrupts it (EINTR, no SA_RESTART) and
    /// OutputSink.flush() gives up the rest once a stop was requested; before
    /// that fix it retried and only SIGKILL ended the tracer.
    /// The BPF objects must go in any case (after the SIGKILL fallback).
    @Test("SIGINT while blocked writing to a stalled pipe reader ends the tracer")
    func sigintWhileBlockedOnStalledPipe() throws {
        let tablesBefore = try Nft.tables()
        let labsBefore = try Nft.otherLabs()
        let baseline = try BPFListing.take()
        let spawnTime = Int(Date().timeIntervalSince1970) - 1
        var labPrefix: String?
        try KT.withLab { lab in
            labPrefix = lab.prefix
            let port = KT.randomPort()
            let run = try TracerRun(["--proto", "udp", "--dport", "\(port)", "-d", lab.c2IPv4], json: false, toPipe: true)
            defer { run.cleanup() }
            try run.waitReady(timeout: 15)
            let flood = try Self.startLoad(run, lab: lab, port: port)
            defer { flood.cleanup() }
            // No more reading: the pipe fills and the tracer blocks in write().
            let blocked = run.waitBlockedInPipeWrite(timeout: 3)
            try #require(blocked, "the tracer never blocked writing to the full pipe (wchan)")
            run.child.signal(SIGINT)
            let ended = run.watchUntilExit(timeout: Stop.sigint.bound)
            #expect(ended, "still blocked \(Stop.sigint.bound) s after SIGINT; stderr:\n\(run.stderr)")
            if !ended { run.child.kill9() }
            flood.stop(timeout: 10)
            #expect(run.child.status == 0, "status \(run.child.status ?? -1); stderr:\n\(run.stderr)")
            #expect(!run.sampled.links.isEmpty, "the ready tracer held no BPF link")
            let remaining = try BPFListing.waitGone(run.sampled, timeout: 3)
            #expect(remaining.isEmpty, "BPF objects of the ended tracer remain: \(remaining)")
            let orphans = try BPFListing.waitNoOrphans(newerThan: baseline, loadedSince: spawnTime, timeout: 3)
            #expect(orphans.isEmpty, "skbtracer BPF objects that no process holds: \(orphans)")
        }
        let ours = labPrefix.map { [$0] } ?? []
        try Nft.expectUnchanged(before: tablesBefore, after: try Nft.tables(), ours: ours,
                                others: labsBefore.union(try Nft.otherLabs(than: ours)))
    }
}

extension KernelTests.KillTests {
    /// `skbtracer 2>&1 | head`: the reader is gone when the exit summary goes to
    /// stderr. FileHandle's write trapped there (SIGILL, exit 132); the summary
    /// is lost, the exit must stay clean, in every view.
    @Test("a closed stderr at exit loses the summary, not the exit status", arguments: [["--drop"], ["-t", "kfree_skb"], ["--timeline"]])
    func closedStderrAtExit(_ view: [String]) throws {
        let exe = try KT.binaryPath()
        let args = ([exe, "-H", "198.51.100.99", "--duration", "0.5", "-o", "/dev/null"] + view).map { "'\($0)'" }.joined(separator: ", ")
        let r = try Command.run([KT.python, "-c", """
            import os, signal, subprocess
            r, w = os.pipe()
            os.close(r)
            # As a shell pipeline leaves it: SIGPIPE ignored (skbtracer ignores it while tracing anyway).
            p = subprocess.run([\(args)], stderr=w, stdout=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
            print(p.returncode)
            """], timeout: 60)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "exit status \(r.stdout) \(r.stderr)")
    }
}
