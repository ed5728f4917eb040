import CSkbTracerABI

/// How an event's socket prints (`--owner`): ` sock=40211 owner=nc/4242`, with
/// ` uid=N` for a socket of another user than root, `owner=kernel` for a kernel
/// socket (ICMP errors and echo replies, TCP resets) and `owner=?` when no owner
/// is known (a process that ended before it was seen).
enum SocketText {
    static func isKernel(_ e: st_event) -> Bool { e.sock_uid == ST_SOCK_KERNEL }

    /// The owner to show: none for a kernel socket (not looked up: no process has one).
    static func owner(_ e: st_event, _ owners: SocketOwners) -> SocketOwner? {
        isKernel(e) ? nil : owners.owner(e.sock_ino)
    }

    static func append(_ e: st_event, owners: SocketOwners, to b: inout ByteBuffer) {
        b.append(" sock="); b.appendDecimal(e.sock_ino)
        b.append(" owner=")
        if isKernel(e) {
            b.append("kernel")
            return
        }
        if let owner = owner(e, owners) {
            b.append(string: owner.comm); b.append(UInt8(ascii: "/")); b.appendDecimal(owner.pid)
        } else {
            b.append(UInt8(ascii: "?"))
        }
        if e.sock_uid != 0 { b.append(" uid="); b.appendDecimal(e.sock_uid) }
    }

    /// `{"inode":N,"kernel":B,"uid":N|null,"owner_pid":N|null,"owner_comm":S|null}`.
    static func appendJSON(_ e: st_event, owners: SocketOwners, to b: inout ByteBuffer) {
        let kernel = isKernel(e), owner = owner(e, owners)
        b.append("{\"inode\":"); b.appendDecimal(e.sock_ino)
        b.append(kernel ? ",\"kernel\":true,\"uid\":null" : ",\"kernel\":false,\"uid\":")
        if !kernel { b.appendDecimal(e.sock_uid) }
        b.append(",\"owner_pid\":")
        if let owner { b.appendDecimal(owner.pid) } else { b.append("null") }
        b.append(",\"owner_comm\":")
        if let owner { b.appendJSONString(owner.comm) } else { b.append("null") }
        b.append("}")
    }
}
