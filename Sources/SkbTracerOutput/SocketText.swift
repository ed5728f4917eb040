import CSkbTracerABI
import SkbTracerModel

/// How an event's socket prints (`--owner`): ` sock=40211 owner=nc/4242`, with
/// ` uid=N` for a socket of another user than root, `owner=kernel` for a kernel
/// socket (ICMP errors and echo replies, TCP resets) and `owner=?` when no owner
/// is known (a process that ended before it was seen).
public enum SocketText {
        /// The owner to show: none for a kernel socket (not looked up: no process has one).
    public static func owner(_ s: TraceEvent.Socket, _ owners: SocketOwners) -> SocketOwner? {
        s.isKernel ? nil : owners.owner(s.inode)
    }

    static func append(_ s: TraceEvent.Socket, owners: SocketOwners, to b: inout ByteBuffer) {
        b.append(" sock="); b.appendDecimal(s.inode)
        b.append(" owner=")
        if s.isKernel {
            b.append("kernel")
            return
        }
        if let owner = owner(s, owners) {
            b.append(string: owner.comm); b.append(UInt8(ascii: "/")); b.appendDecimal(owner.pid)
        } else {
            b.append(UInt8(ascii: "?"))
        }
        if s.uid != 0 { b.append(" uid="); b.appendDecimal(s.uid) }
    }

    /// `{"inode":N,"kernel":B,"uid":N|null,"owner_pid":N|null,"owner_comm":S|null}`.
    static func appendJSON(_ s: TraceEvent.Socket, owners: SocketOwners, to b: inout ByteBuffer) {
        let kernel = s.isKernel, owner = owner(s, owners)
        b.append("{\"inode\":"); b.appendDecimal(s.inode)
        b.append(kernel ? ",\"kernel\":true,\"uid\":null" : ",\"kernel\":false,\"uid\":")
        if !kernel { b.appendDecimal(s.uid) }
        b.append(",\"owner_pid\":")
        if let owner { b.appendDecimal(owner.pid) } else { b.append("null") }
        b.append(",\"owner_comm\":")
        if let owner { b.appendJSONString(owner.comm) } else { b.append("null") }
        b.append("}")
    }
}
