import CNetfilter
import Foundation
import SkbTracerSystem

/// A libnftables context (nft's own library, `st_nftctx.h`): nft commands in,
/// nft's text out, over one netlink socket made in the namespace the thread was
/// in when it was opened. Not for concurrent use.
final class NftContext {
    private var ctx: OpaquePointer?

    /// Opens one in the calling thread's namespace. `listing`: handles, no
    /// counter values, numeric priorities in what it prints.
    init(listing: Bool) throws {
        var err: Int32 = 0
        guard let c = st_nft_open(listing ? st_nft_listing_flags() : 0, &err) else {
            throw NftContext.unavailable(errno: -err)
        }
        ctx = c
    }

    deinit { close() }

    func close() {
        st_nft_close(ctx)
        ctx = nil
    }

    /// Runs `commands` (one transaction); returns what nft printed, or nft's error
    /// text as thrown `Failure`.
    @discardableResult
    func run(_ commands: String) throws(Failure) -> String {
        guard let ctx else { preconditionFailure("NftContext used after close()") }
        guard st_nft_run(ctx, commands) == 0 else { throw Failure(text: String(cString: st_nft_error(ctx))) }
        return String(cString: st_nft_output(ctx))
    }

    /// nft's error output: "Error: Could not process rule: REASON", the command,
    /// and a marker line, per failed command.
    struct Failure: Error, Equatable {
        let text: String

        /// The first reason ("Operation not supported"), without nft's prefixes
        /// ("Error: Could not process rule: ", "netlink: Error: cache initialization failed: ").
        var reason: String {
            let lines = text.split(separator: "\n")
            guard let line = lines.first(where: { $0.contains("Error: ") }) ?? lines.first else { return "" }
            var r = line.range(of: "Error: ").map { line[$0.upperBound...] } ?? line
            for prefix in ["Could not process rule: ", "cache initialization failed: "] where r.hasPrefix(prefix) {
                r = r.dropFirst(prefix.count)
            }
            return r.trimmingCharacters(in: .whitespaces)
        }

        /// The command the first error points at (the line after its reason).
        var command: String? {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard let i = lines.firstIndex(where: { $0.contains("Error: ") }), i + 1 < lines.count else { return nil }
            return String(lines[i + 1])
        }

        func isErrno(_ err: Int32) -> Bool { reason.hasPrefix(String(cString: strerror(err))) }
    }

    /// Why nf_tables cannot be asked here (`st_nft_probe`'s errno).
    static func unavailable(errno err: Int32) -> any HintedError {
        let what = "\(String(cString: strerror(err))) (errno \(err))"
        if err == EPERM || err == EACCES {
            return UsageError("ask nf_tables: \(what)", hint: "run as root (nf_tables needs CAP_NET_ADMIN)")
        }
        return RuntimeError("this kernel cannot trace netfilter rules: nf_tables does not answer (\(what))",
                            hint: "it needs nf_tables (CONFIG_NF_TABLES, module nf_tables); the rest of the trace runs without it")
    }
}
