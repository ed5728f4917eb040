import Glibc

/// The files skbtracer writes (`--record`, `-o`) hold kernel addresses, process
/// names and packet contents that a root trace saw: like perf.data, they are the
/// owner's alone (0600) whatever the umask, unless `--file-mode` widens them.
public enum OutputFile {
    public static let defaultMode: mode_t = 0o600

    /// `--file-mode`'s value: permission bits in octal (0640, 640 or 0o640).
    /// No set-id or sticky bits: nobody runs a trace.
    public static func parseMode(_ text: String) throws(UsageError) -> mode_t {
        let digits = text.hasPrefix("0o") ? text.dropFirst(2) : Substring(text)
        guard (1...4).contains(digits.count), digits.allSatisfy({ ("0"..."7").contains($0) }),
              let mode = mode_t(digits, radix: 8), mode <= 0o777 else {
            throw UsageError("invalid mode '\(text)' for --file-mode",
                             hint: "give permission bits in octal from 0000 to 0777, e.g. --file-mode 0640 (default 0600)")
        }
        return mode
    }

    /// `0600`, as --file-mode takes it.
    public static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Opens `path` for writing, truncated, with exactly `mode`: a new file is
    /// created with it (the umask can only narrow it, and fchmod then sets it
    /// whole); an existing regular file gets it before it is truncated, so its
    /// old mode never guards the new contents. A device or pipe (`/dev/null`,
    /// `/dev/stdout`) keeps its mode: it is not the trace's file. The
    /// descriptor is close-on-exec.
    public static func open(_ path: String, mode: mode_t = defaultMode) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw RuntimeError("cannot open output file \(path): \(String(cString: strerror(errno)))",
                               hint: "check the directory exists and is writable")
        }
        func fail(_ what: String, hint: String) -> RuntimeError {
            let e = errno
            close(fd)
            return RuntimeError("cannot \(what) output file \(path): \(String(cString: strerror(e)))", hint: hint)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("stat", hint: "check the path") }
        guard st.st_mode & S_IFMT == S_IFREG else { return fd }
        // Another user's file, without CAP_FOWNER: refused rather than leave the trace under its old mode.
        guard fchmod(fd, mode) == 0 else {
            throw fail("set mode \(octal(mode)) on", hint: "remove the file first or write to another path")
        }
        guard ftruncate(fd, 0) == 0 else { throw fail("truncate", hint: "check the file is writable") }
        return fd
    }
}
