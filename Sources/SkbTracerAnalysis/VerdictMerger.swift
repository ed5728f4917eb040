import CSkbTracerABI
import SkbTracerModel

/// Puts nf_tables verdicts (nftrace: a second source, read from netlink) among
/// the BPF events of the packet they judged.
///
/// A trace message names no skb and carries no time, only the packet's headers
/// (and, in recent kernels, an id that is a keyed hash). So a verdict joins the
/// latest event, in the same namespace, of a packet with the same identity (what
/// NAT never rewrites: protocol, IP length and id, TCP flags and sequence, ICMP
/// type and sequence): preferably that packet's entry into the verdict's hook
/// (`--netfilter`'s hook programs), else its latest event. It takes that event's
/// skb, and its time plus a nanosecond per verdict already placed there, so it
/// sorts right after it. The kernel sends the message while the packet is in
/// the hook, after the entry event was written: reading the ring before the
/// netlink socket, every verdict's entry event has been noted.
public final class VerdictMerger {
    struct Key: Hashable {
        let netns: UInt32
        let l3: UInt16
        let identity: JourneyTracker.Identity
    }

    struct Anchor {
        let skb: UInt64
        let ts: UInt64
        /// For a hook entry: family << 8 | hook.
        let hook: UInt16?
    }

    /// The latest events per packet, oldest forgotten first.
    private var latest: [Key: [Anchor]] = [:]
    private var order: [Key] = []
    private var orderStart = 0
    private let capacity: Int
    /// Verdicts already placed after an anchor (skb, ts): the next goes one ns later.
    private var placed: [UInt64: UInt64] = [:]
    public private(set) var unmatched: UInt64 = 0

    public init(capacity: Int = 8192) { self.capacity = max(16, capacity) }

    static func key(_ e: TraceEvent) -> Key? {
        guard let identity = JourneyTracker.identity(e) else { return nil }
        return Key(netns: e.context.netns, l3: e.packet.raw.l3_proto, identity: identity)
    }

    /// The anchor of the latest verdict per trace (namespace << 32 | trace id):
    /// the verdicts of a chain reached by a jump, which has no hook of its own,
    /// follow the base chain's.
    private var byTrace: [UInt64: Anchor] = [:]

    /// Notes a BPF event (before it goes on): a verdict may join it later. Not a
    /// free: every verdict comes before it.
    public func note(_ e: TraceEvent) {
        guard e.header.skb != 0, e.nftVerdict == nil, !e.isFree, let key = Self.key(e) else { return }
        let hook = e.netfilterHook.flatMap { $0.isEntry ? UInt16($0.family) << 8 | UInt16($0.hook) : nil }
        let anchor = Anchor(skb: e.header.skb, ts: e.header.ts_ns, hook: hook)
        if latest[key] == nil {
            order.append(key)
            if order.count - orderStart > capacity { forgetOldest() }
        }
        // A few per packet: its latest event and its latest entry into each hook.
        var list = latest[key, default: []]
        if hook != nil { list.removeAll { $0.hook == hook } } else { list.removeAll { $0.hook == nil } }
        list.append(anchor)
        latest[key] = list
    }

    private func forgetOldest() {
        latest[order[orderStart]] = nil
        orderStart += 1
        if orderStart > capacity {
            order.removeFirst(orderStart)
            orderStart = 0
        }
        if placed.count > capacity { placed.removeAll() }
        if byTrace.count > capacity { byTrace.removeAll() }
    }

    /// Gives verdict event `v` its packet's skb and a time right after the event
    /// it joins, and returns that event's skb and time; nil (skb left 0) when no
    /// event of that packet was noted.
    @discardableResult
    public func place(_ v: inout TraceEvent) -> (skb: UInt64, ts: UInt64)? {
        guard let verdict = v.nftVerdict, let key = Self.key(v), let list = latest[key], !list.isEmpty else {
            unmatched += 1
            return nil
        }
        // An inet table's chain runs at the packet's own family's hook.
        let family = verdict.family == 1 ? (v.packet.isIPv6 ? UInt8(10) : UInt8(2)) : verdict.family
        let wanted = verdict.hook.map { UInt16(family) << 8 | UInt16($0) }
        let trace = UInt64(v.context.netns) << 32 | UInt64(verdict.traceID)
        let sameRun = wanted == nil ? byTrace[trace].flatMap { a in list.contains { $0.skb == a.skb } ? a : nil } : nil
        let anchor = sameRun ?? list.last { wanted != nil && $0.hook == wanted } ?? list.max { $0.ts < $1.ts }!
        byTrace[trace] = anchor
        let slot = anchor.skb &+ anchor.ts
        let n = (placed[slot] ?? 0) + 1
        placed[slot] = n
        v.header.skb = anchor.skb
        v.header.ts_ns = anchor.ts + n
        return (anchor.skb, anchor.ts)
    }
}
