import Foundation
import SkbTracerModel
import SkbTracerSystem
import Testing

/// Files skbtracer writes hold kernel addresses and packet contents: 0600 unless
/// --file-mode says otherwise, whatever the umask (OutputFile).
@Suite("File modes (--file-mode)")
struct FileModeTests {
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-mode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func mode(_ path: String) throws -> mode_t {
        var st = stat()
        guard stat(path, &st) == 0 else { throw RuntimeError("stat \(path): errno \(errno)") }
        return st.st_mode & 0o7777
    }

    static func size(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test(arguments: [("0600", 0o600), ("640", 0o640), ("0o644", 0o644), ("0", 0), ("0777", 0o777), ("0000", 0)] as [(String, mode_t)])
    func parsesOctal(_ text: String, _ mode: mode_t) throws {
        #expect(try OutputFile.parseMode(text) == mode)
    }

    @Test(arguments: ["", "0888", "1777", "04755", "rw-------", "0x1a4", "12345", "-1", "0o", "6 4 0"])
    func rejectsWhatIsNotPermissionBits(_ text: String) {
        do {
            let mode = try OutputFile.parseMode(text)
            Issue.record("'\(text)' taken as \(String(mode, radix: 8))")
        } catch {
            #expect(error.message.contains("'\(text)'") && error.message.contains("--file-mode") && error.hint != nil, "\(error)")
        }
    }

    /// A new file gets exactly the mode asked for: not widened by O_CREAT's 0644
    /// under umask 022 as before, nor narrowed by the umask when --file-mode widens.
    @Test(arguments: [0o600, 0o640, 0o666] as [mode_t])
    func newFileGetsExactlyTheMode(_ mode: mode_t) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        do {
            let sink = try OutputSink(path: path, mode: mode)
            sink.write { $0.append("0xffff888100001000\n") }
        }
        #expect(try Self.mode(path) == mode)
        #expect(try Self.size(path) == 19)
    }

    @Test func defaultIsTheOwnersAlone() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        _ = try OutputSink(path: path)
        #expect(try Self.mode(path) == 0o600)
    }

    /// An existing file is overwritten as before, and its old mode goes with its old contents.
    @Test func existingFileIsTruncatedAndNarrowed() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, 0o644) == 0)
        do {
            let sink = try OutputSink(path: path)
            sink.write { $0.append("new\n") }
        }
        #expect(try Self.mode(path) == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new\n")
    }

    /// `-o /dev/null` (or /dev/stdout) is not the trace's file: its mode stays.
    @Test func deviceKeepsItsMode() throws {
        let before = try Self.mode("/dev/null")
        _ = try OutputSink(path: "/dev/null")
        #expect(try Self.mode("/dev/null") == before)
    }

    @Test func missingDirectoryIsOneHintedError() throws {
        #expect {
            _ = try OutputSink(path: "/nonexistent-skbtracer-dir/out.txt")
        } throws: { error in
            "\(error)".hasPrefix("cannot open output file /nonexistent-skbtracer-dir/out.txt: ") && "\(error)".contains(". Hint: ")
        }
    }

    // MARK: - The binary, under umask 022 (the usual one)

    /// `skbtracer ARGS` with umask 022, as a login shell has it.
    static func runUnderUmask022(_ args: [String]) throws -> CLI.Result {
        let exe = try #require(CLI.binary, "skbtracer binary not found; build the package first")
        let p = try Subprocess(["/bin/sh", "-c", "umask 022 && exec \"$@\"", "sh", exe.path] + args, capture: true)
        let r = p.collect(timeout: 20)
        return CLI.Result(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
                          stderr: String(decoding: r.stderr, as: UTF8.self))
    }

    static let recording = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Recordings/format3.rec").path

    /// `replay -o`: no root needed. Before 0600, this file was 0644.
    @Test func replayOutputIsTheOwnersAloneUnderUmask022() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("replay.txt").path
        let r = try Self.runUnderUmask022(["replay", Self.recording, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.mode(out) == 0o600)
        #expect(try Self.size(out) > 1000)
        // Replayed again into the same file: still 0600, and --file-mode widens it.
        #expect(chmod(out, 0o644) == 0)
        #expect(try Self.runUnderUmask022(["replay", Self.recording, "-o", out, "-c", "1"]).status == 0)
        #expect(try Self.mode(out) == 0o600)
        let r2 = try Self.runUnderUmask022(["replay", Self.recording, "-o", out, "--json", "--file-mode", "0640"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(try Self.mode(out) == 0o640)
    }
}
