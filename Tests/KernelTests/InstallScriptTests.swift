import Foundation
import SkbTracerSystem
import Testing

/// scripts/install.sh, as CI runs it (issue 15): into a temporary prefix, with the
/// debug binary (SKBTRACER_BIN; a release build would take minutes), then --uninstall.
/// Needs no root and no kernel feature: only the built binary, the swift toolchain
/// (to build generate-manual once), man and bash.
@Suite("scripts/install.sh")
struct InstallScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/install.sh").path

    static let installed = [
        "bin/skbtracer",
        "share/man/man1/skbtracer.1",
        "share/bash-completion/completions/skbtracer",
        "share/zsh/site-functions/_skbtracer",
        "share/fish/vendor_completions.d/skbtracer.fish",
    ]

    /// Every path under `dir` whose name mentions skbtracer.
    static func skbtracerFiles(under dir: URL) -> [String] {
        let all = FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []
        return all.filter { $0.contains("skbtracer") }.sorted()
    }

    static func install(_ args: [String], bin: String) throws -> Command.Result {
        // The first run builds generate-manual (about a minute on a busy machine).
        try Command.run(["env", "SKBTRACER_BIN=\(bin)", "bash", script] + args, timeout: 600)
    }

    @Test("installs into a prefix: the man page renders, bash loads a completion that completes, --uninstall removes exactly what was installed")
    func installAndUninstall() throws {
        let bin = try KT.binaryPath()
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: prefix) }
        // Somebody else's file in the prefix: uninstall must leave it.
        let foreign = prefix.appendingPathComponent("bin/other-tool")
        try "#!/bin/sh\n".write(to: foreign, atomically: true, encoding: .utf8)

        let r = try Self.install([prefix.path], bin: bin)
        try #require(r.ok, "install.sh exit status \(r.status):\n\(r.stderr)")
        #expect(Self.skbtracerFiles(under: prefix) == Self.installed.sorted(), "\(Self.skbtracerFiles(under: prefix))")
        let p = prefix.path
        #expect(FileManager.default.isExecutableFile(atPath: "\(p)/bin/skbtracer"))
        #expect(FileManager.default.contentsEqual(atPath: "\(p)/bin/skbtracer", andPath: bin))

        // The page renders, from the parser: a trace option and a subcommand are in it.
        let man = try Command.run(["env", "MANWIDTH=80", "man", "-l", "\(p)/share/man/man1/skbtracer.1"])
        #expect(man.ok, "man -l: status \(man.status): \(man.stderr)")
        // No "mdoc warning: Empty input line" (generate-manual keeps a discussion's blank lines).
        #expect(man.stderr.isEmpty, "man -l warns: \(man.stderr)")
        #expect(man.stdout.hasPrefix("SKBTRACER(1)"), "\(man.stdout.prefix(300))")
        #expect(man.stdout.contains("--netfilter"), "\(man.stdout.prefix(300))")
        #expect(man.stdout.contains("bench-format"), "\(man.stdout.prefix(300))")

        // bash loads the completion, and it completes a trace option.
        let bashFile = "\(p)/share/bash-completion/completions/skbtracer"
        let loaded = try Command.run(["bash", "-c", "source \"$1\" && complete -p skbtracer", "bash", bashFile])
        #expect(loaded.ok && loaded.stdout.contains("-F _skbtracer skbtracer"), "\(loaded.stdout) \(loaded.stderr)")
        let completed = try Command.run(["bash", "-c", """
            source "$1"
            COMP_WORDS=(skbtracer trace --netf); COMP_CWORD=2
            COMP_LINE='skbtracer trace --netf'; COMP_POINT=${#COMP_LINE}
            _skbtracer skbtracer --netf trace
            printf '%s\\n' "${COMPREPLY[@]}"
            """, "bash", bashFile])
        #expect(completed.stdout.split(separator: "\n").contains("--netfilter"), "\(completed.stdout) \(completed.stderr)")

        // The completions are the binary's own, for each shell.
        for (shell, file) in [("bash", bashFile), ("zsh", "\(p)/share/zsh/site-functions/_skbtracer"),
                              ("fish", "\(p)/share/fish/vendor_completions.d/skbtracer.fish")] {
            let expected = try Command.check([bin, "--generate-completion-script", shell]).stdout
            #expect(try String(contentsOfFile: file, encoding: .utf8) == expected, "\(file) is not \(shell)'s script")
        }

        let u = try Self.install(["--uninstall", prefix.path], bin: bin)
        #expect(u.ok, "install.sh --uninstall exit status \(u.status):\n\(u.stderr)")
        #expect(Self.skbtracerFiles(under: prefix).isEmpty, "left: \(Self.skbtracerFiles(under: prefix))")
        #expect(FileManager.default.fileExists(atPath: foreign.path), "uninstall removed another tool's file")
    }

    @Test("DESTDIR stages PREFIX's files under it (a package build), and --uninstall with it removes them")
    func destdir() throws {
        let bin = try KT.binaryPath()
        let stage = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-destdir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stage) }
        let r = try Command.run(["env", "DESTDIR=\(stage.path)", "SKBTRACER_BIN=\(bin)", "bash", Self.script, "/usr"], timeout: 600)
        try #require(r.ok, "install.sh exit status \(r.status):\n\(r.stderr)")
        #expect(Self.skbtracerFiles(under: stage) == Self.installed.map { "usr/" + $0 }.sorted(), "\(Self.skbtracerFiles(under: stage))")
        let u = try Command.run(["env", "DESTDIR=\(stage.path)", "bash", Self.script, "--uninstall", "/usr"])
        #expect(u.ok, "\(u.stderr)")
        #expect(Self.skbtracerFiles(under: stage).isEmpty, "left: \(Self.skbtracerFiles(under: stage))")
    }

    @Test("bad arguments: one line on stderr with a hint, exit 2, nothing installed", arguments: [
        ["--bogus"], ["/tmp/a", "/tmp/b"],
    ])
    func badArguments(args: [String]) throws {
        let r = try Self.install(args, bin: try KT.binaryPath())
        #expect(r.status == 2, "status \(r.status): \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("install.sh: error: ") && lines[0].contains("Hint: "), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "\(r.stdout)")
    }
}
