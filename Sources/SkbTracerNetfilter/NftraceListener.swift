import CNetfilter
import Foundation
import SkbTracerSystem

/// The nftrace messages of one network namespace: a NETLINK_NETFILTER socket in
/// the NFNLGRP_NFTRACE group, made inside the namespace (a socket keeps the
/// namespace it was made in). Non-blocking: poll `fd` for POLLIN, then `drain()`.
///
/// Traces of skbtracer's own tables (`NftraceTable.isOwn`: their rule that sets
/// nftrace, and their chains' policy) are dropped here.
public final class NftraceListener {
    /// The socket to poll; -1 after `close()`.
    public private(set) var fd: Int32
    /// How often the kernel found the receive buffer full and dropped traces
    /// (ENOBUFS; how many each time is unknown).
    public private(set) var overflows = 0
    /// Trace messages that could not be decoded.
    public private(set) var malformed = 0
    private var buffer: [UInt8]

    /// Joins the trace group in namespace `netns` (nil: the calling thread's).
    /// `receiveBuffer`: the socket's buffer in bytes, room for the traces of a
    /// burst (each is 150 to 300 bytes). Throws UsageError without the privilege
    /// (CAP_NET_ADMIN), RuntimeError when the kernel has no nf_tables tracing.
    public convenience init(in netns: NetnsSwitch?, receiveBuffer: Int32 = 8 << 20) throws {
        let rc = try netns.map { try $0.run { st_nftrace_open(receiveBuffer) } } ?? st_nftrace_open(receiveBuffer)
        guard rc >= 0 else { throw Self.failure(errno: -rc) }
        self.init(fd: rc)
    }

    /// Reads datagrams from `fd`, which it then owns (tests give a socketpair).
    init(fd: Int32) {
        self.fd = fd
        // One datagram holds one trace message; 64 KB fits any.
        buffer = [UInt8](repeating: 0, count: 65536)
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Every trace pending on the socket, in the kernel's order, without those of
    /// skbtracer's own tables. At most `maxReads` datagrams are read per call: under
    /// a flood, call again while `fd` is readable. Throws on a socket failure other
    /// than a full buffer (counted in `overflows`).
    public func drain(maxReads: Int32 = 4096) throws -> [NftTrace] {
        precondition(fd >= 0, "NftraceListener used after close()")
        final class Box { var traces: [NftTrace] = [] }
        let box = Box()
        var counts = st_nftrace_counts()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = withExtendedLifetime(box) {
            buffer.withUnsafeMutableBytes { buf in
                st_nftrace_drain(fd, buf.baseAddress, buf.count, maxReads, { raw, ctx in
                    if let trace = NftTrace(raw!.pointee), !(NftraceTable.isOwn(table: trace.table)) {
                        Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().traces.append(trace)
                    }
                    return 0
                }, ctx, &counts)
            }
        }
        overflows += Int(counts.overflows)
        malformed += Int(counts.malformed)
        guard rc >= 0 else {
            throw RuntimeError("read nftrace messages: \(String(cString: strerror(-rc))) (errno \(-rc))",
                               hint: "run `nft monitor trace` to compare")
        }
        return box.traces
    }

    static func failure(errno err: Int32) -> Error {
        let what = "\(String(cString: strerror(err))) (errno \(err))"
        switch err {
        case EPERM, EACCES:
            return UsageError("listen to nftrace: \(what)", hint: "run as root (the trace group needs CAP_NET_ADMIN)")
        case EPROTONOSUPPORT, EAFNOSUPPORT, ENOENT, EINVAL:
            return RuntimeError("this kernel cannot trace netfilter rules: no nfnetlink trace group (\(what))",
                                hint: "it needs nf_tables (CONFIG_NF_TABLES); the rest of the trace runs without it")
        default:
            return RuntimeError("listen to nftrace: \(what)", hint: "run `nft monitor trace` to compare")
        }
    }
}
