import CSkbTracerABI
import Foundation
@testable import SkbTracerModel
@testable import SkbTracerOutput
import Testing

/// `--owner`: each event's socket and the process owning it, printed, and looked
/// up in the BPF map first and in /proc/PID/fd after.
@Suite struct SocketOwnerTests {
    /// A context whose owners come from a fake BPF map, counting its lookups.
    final class FakeMap: @unchecked Sendable {
        var table: [UInt32: st_sock_owner] = [:]
        var lookups = 0
        func add(_ inode: UInt32, pid: UInt32, comm: String) {
            var o = st_sock_owner()
            o.tgid = pid
            withUnsafeMutableBytes(of: &o.comm) { raw in
                for (i, c) in comm.utf8.prefix(15).enumerated() { raw[i] = c }
            }
            table[inode] = o
        }
    }

    static func context(_ map: FakeMap) -> FormatContext {
        let c = Fixtures.context()
        c.owners = SocketOwners(lookupMap: { map.lookups += 1; return map.table[$0] })
        return c
    }

    static func event(inode: UInt32, uid: UInt32 = 0) -> TraceEvent {
        var e = Fixtures.udp()
        e.sock_ino = inode
        e.sock_uid = uid
        return TraceEvent(raw: e)
    }

    static func text(_ ev: TraceEvent, _ c: FormatContext) -> String {
        var b = ByteBuffer()
        TextFormatter(context: c).event(ev, into: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    static func json(_ ev: TraceEvent, _ c: FormatContext) throws -> [String: Any] {
        var b = ByteBuffer()
        JSONFormatter(context: c).event(ev, into: &b)
        return try #require(try JSONSerialization.jsonObject(with: Data(b.bytes)) as? [String: Any])
    }

    @Test func textNamesTheOwnerNotTheTask() {
        let map = FakeMap()
        map.add(40211, pid: 4242, comm: "nc")
        let c = Self.context(map)
        // The task the probe fired in is dig/77; the socket is nc's.
        #expect(Self.text(Self.event(inode: 40211), c).hasSuffix(" dig/77 sock=40211 owner=nc/4242\n"))
        #expect(Self.text(Self.event(inode: 40211, uid: 1000), c).hasSuffix(" dig/77 sock=40211 owner=nc/4242 uid=1000\n"))
        #expect(Self.text(Self.event(inode: 5), c).hasSuffix(" dig/77 sock=5 owner=?\n"))
        #expect(Self.text(Self.event(inode: 1116, uid: ST_SOCK_KERNEL), c).hasSuffix(" dig/77 sock=1116 owner=kernel\n"))
        // No socket, or --owner off: nothing added.
        #expect(Self.text(Self.event(inode: 0), c).hasSuffix(" dig/77\n"))
        // Found once, then remembered; a kernel socket is never looked up.
        #expect(map.lookups == 2, "40211 once, 5 once")
    }

    @Test func jsonObject() throws {
        let map = FakeMap()
        map.add(40211, pid: 4242, comm: "nc")
        let c = Self.context(map)
        let owned = try #require(try Self.json(Self.event(inode: 40211, uid: 1000), c)["sock"] as? [String: Any])
        #expect(owned["inode"] as? Int == 40211 && owned["kernel"] as? Bool == false && owned["uid"] as? Int == 1000)
        #expect(owned["owner_pid"] as? Int == 4242 && owned["owner_comm"] as? String == "nc")
        let unknown = try #require(try Self.json(Self.event(inode: 5), c)["sock"] as? [String: Any])
        #expect(unknown["owner_pid"] is NSNull && unknown["owner_comm"] is NSNull && unknown["uid"] as? Int == 0)
        let kernel = try #require(try Self.json(Self.event(inode: 1116, uid: ST_SOCK_KERNEL), c)["sock"] as? [String: Any])
        #expect(kernel["kernel"] as? Bool == true && kernel["uid"] is NSNull && kernel["owner_pid"] is NSNull)
        #expect(try Self.json(Self.event(inode: 0), c)["sock"] is NSNull)
        #expect(Set(owned.keys) == ["inode", "kernel", "uid", "owner_pid", "owner_comm"])
    }

    /// A fake /proc: pid directories with fd symlinks to `socket:[N]` (readlink
    /// reads a dangling link) and a comm file.
    static func fakeProc(_ processes: [(pid: Int, comm: String, fds: [String])]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("skbtracer-proc-\(UUID().uuidString)").path
        for p in processes {
            let fd = "\(root)/\(p.pid)/fd"
            try FileManager.default.createDirectory(atPath: fd, withIntermediateDirectories: true)
            try Data((p.comm + "\n").utf8).write(to: URL(fileURLWithPath: "\(root)/\(p.pid)/comm"))
            for (i, target) in p.fds.enumerated() { #expect(symlink(target, "\(fd)/\(i)") == 0) }
        }
        try FileManager.default.createDirectory(atPath: "\(root)/self", withIntermediateDirectories: true)
        return root
    }

    @Test func procScanFindsSocketsOfRunningProcesses() throws {
        let root = try Self.fakeProc([
            (pid: 300, comm: "worker", fds: ["socket:[555]", "/dev/null", "pipe:[9]"]),
            (pid: 120, comm: "server", fds: ["socket:[555]", "socket:[556]"]),
            (pid: 7, comm: "odd\u{1b}[31m name", fds: ["socket:[557]", "socket:[bad]", "socket:[558"]),
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let owners = SocketOwners(procRoot: root)
        #expect(owners.waitForScan(timeout: 10), "the background scan never ended")
        // A socket shared after fork: the lowest pid, the parent.
        #expect(owners.owner(555) == SocketOwner(pid: 120, comm: "server"))
        #expect(owners.owner(556) == SocketOwner(pid: 120, comm: "server"))
        // A process may name itself anything: printed names stay printable.
        #expect(owners.owner(557) == SocketOwner(pid: 7, comm: "odd?[31m name"))
        #expect(owners.owner(558) == nil && owners.owner(0) == nil && owners.owner(99) == nil)
        // The map, when there is one, comes first.
        let map = FakeMap()
        map.add(555, pid: 9, comm: "sender")
        let both = SocketOwners(lookupMap: { map.table[$0] }, procRoot: root)
        #expect(both.waitForScan(timeout: 10))
        #expect(both.owner(555) == SocketOwner(pid: 9, comm: "sender"))
        #expect(both.owner(556)?.pid == 120)
        // /proc guessed the parent; once the map sees the child use the socket,
        // the child is the owner (a guess is checked against the map again soon).
        map.add(556, pid: 121, comm: "child")
        usleep(150_000)
        #expect(both.owner(556) == SocketOwner(pid: 121, comm: "child"))
    }

    /// The map's answer is asked again after a second: a socket handed to
    /// another process follows it, and is not asked on every event before.
    @Test func mapAnswersAreRechecked() {
        let map = FakeMap()
        map.add(40211, pid: 4242, comm: "nc")
        let owners = SocketOwners(lookupMap: { map.lookups += 1; return map.table[$0] })
        #expect(owners.owner(40211)?.pid == 4242)
        map.add(40211, pid: 4343, comm: "worker")
        #expect(owners.owner(40211)?.pid == 4242 && map.lookups == 1, "within the second: remembered")
        usleep(1_050_000)
        #expect(owners.owner(40211) == SocketOwner(pid: 4343, comm: "worker") && map.lookups == 2)
    }
}
