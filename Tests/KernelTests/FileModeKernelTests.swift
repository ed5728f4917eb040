import Foundation
import SkbTracerSystem
import Testing

extension KernelTests {
    /// A live trace's files under umask 022: `-o` and `--record` are the owner's
    /// alone (they were 0644: kernel addresses readable by every local user), and
    /// --file-mode widens them on purpose.
    @Test("-o and --record files are 0600 under umask 022; --file-mode 0640 widens them")
    func outputFilesAreTheOwnersAlone() throws {
        let bin = try KT.binaryPath()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-kt-mode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func mode(_ path: String) throws -> mode_t {
            var st = stat()
            guard stat(path, &st) == 0 else { throw KT.Failure("\(path) was not written (errno \(errno))") }
            return st.st_mode & 0o7777
        }
        let cases: [(args: [String], file: String, mode: mode_t)] = [
            (["-o", "out.txt"], "out.txt", 0o600),
            (["--record", "trace.skbt"], "trace.skbt", 0o600),
            (["--json", "-o", "shared.json", "--file-mode", "0640"], "shared.json", 0o640),
            (["--record", "shared.skbt", "--file-mode", "640"], "shared.skbt", 0o640),
        ]
        for c in cases {
            // Loopback only, and no traffic is needed: the file exists once the session starts.
            let args = ["-i", "lo", "--duration", "0.2"] + c.args.map { $0.contains(".") ? dir.appendingPathComponent($0).path : $0 }
            let r = try Command.run(["/bin/sh", "-c", "umask 022 && exec \"$@\"", "sh", bin] + args, timeout: 60)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            #expect(try mode(dir.appendingPathComponent(c.file).path) == c.mode, "\(args)")
        }
        // A recording made 0600 replays, and the replay's own file is 0600 too.
        let replayed = dir.appendingPathComponent("replayed.txt").path
        let r = try Command.run(["/bin/sh", "-c", "umask 022 && exec \"$@\"", "sh", bin, "replay",
                                 dir.appendingPathComponent("trace.skbt").path, "-o", replayed])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try mode(replayed) == 0o600)
    }
}
