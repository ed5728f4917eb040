import CSkbTracerABI
import Foundation
import SkbTracerModel
import SkbTracerNetfilter
import SkbTracerSystem

/// `--netfilter`'s rule verdicts: in each traced namespace, skbtracer's own
/// tables that set nftrace on the filter's packets (`NftraceTable`), a listener
/// for the traces and the rule texts. `drain()` turns what arrived into verdict
/// events (ST_PROBE_NFT_RULE records with their ST_SEC_NFT_VERDICT section), in
/// the kernel's order; `VerdictMerger` then gives each its packet's skb and time.
final class NftraceSource {
    private struct Space {
        let inode: UInt32
        let netns: NetnsSwitch
        let table: NftraceTable
        let listener: NftraceListener
        let texts: NftRuleText
    }

    /// What the first trace of a chain's run says of the packet; the traces after
    /// it (same id) say nothing of it.
    private struct Seen {
        var packet: st_packet
        var iif: UInt32?
        var oif: UInt32?
        var mark: UInt32
        /// The hook of the run's base chain: a jumped-to chain has none of its own.
        var hook: UInt8?
    }

    private let filter: TraceFilter
    private var spaces: [Space] = []
    private var seen: [UInt64: Seen] = [:]
    /// Traces the kernel could not queue (the listener's buffer was full).
    var overflows: Int { spaces.reduce(0) { $0 + $1.listener.overflows } }
    var namespaces: Int { spaces.count }

    init(filter: TraceFilter) { self.filter = filter }

    /// Makes the tables, the listener and the rule texts in the namespace at
    /// `path`: all three or none.
    func add(netnsPath path: String, inode: UInt32) throws {
        let ns = try NetnsSwitch(path)
        let listener = try NftraceListener(in: ns)
        let table: NftraceTable
        do { table = try NftraceTable(filter: filter, in: ns) } catch {
            listener.close()
            throw error
        }
        do {
            let texts = try NftRuleText(in: ns)
            spaces.append(Space(inode: inode, netns: ns, table: table, listener: listener, texts: texts))
        } catch {
            table.close()
            listener.close()
            throw error
        }
    }

    /// Every trace that arrived, as verdict events with the time `nowNs` and no
    /// skb yet.
    func drain(nowNs: UInt64) -> [TraceEvent] {
        var out: [TraceEvent] = []
        for space in spaces {
            guard let traces = try? space.listener.drain() else { continue }
            for t in traces {
                let e = event(t, in: space, nowNs: nowNs)
                // Recent kernels also trace a chain's end as a rule verdict
                // `continue` without a rule: no rule decided anything (nft
                // monitor leaves it out too); its packet fields are kept above.
                if t.type == .rule, t.ruleHandle == nil, t.verdict == -1 { continue }
                out.append(e)
            }
        }
        if seen.count > 65536 { seen.removeAll() }
        return out
    }

    private func event(_ t: NftTrace, in space: Space, nowNs: UInt64) -> TraceEvent {
        let key = UInt64(space.inode) << 32 | UInt64(t.id)
        if !t.networkHeader.isEmpty {
            let packet = HeaderBytes.packet(link: t.linkHeader, network: t.networkHeader, transport: t.transportHeader)
            seen[key] = Seen(packet: packet, iif: t.iif, oif: t.oif, mark: t.mark ?? 0)
        }
        let verdict = verdict(t, texts: space.texts)
        if let hook = verdict.hook { seen[key]?.hook = hook }
        let s = seen[key]
        var header = st_record()
        header.probe = UInt16(ST_PROBE_NFT_RULE)
        header.cpu = UInt32.max
        header.ts_ns = nowNs
        var context = st_sec_context()
        context.netns = space.inode
        // Where the packet is: its output device on the way out (OUTPUT and
        // POSTROUTING: a forwarded packet still names its input device there too),
        // else its input device.
        let hook = verdict.hook ?? s?.hook
        let outward = hook == 3 || hook == 4
        context.ifindex = (outward ? s?.oif ?? s?.iif : s?.iif ?? s?.oif) ?? 0
        context.mark = s?.mark ?? 0
        var e = TraceEvent(header: header, context: context, packet: Packet(raw: s?.packet ?? st_packet()))
        e.nftVerdict = verdict
        return e
    }

    private func verdict(_ t: NftTrace, texts: NftRuleText) -> NftVerdict {
        let chain = try? texts.chain(family: t.family, table: t.table, chain: t.chain)
        let hook = chain?.hook.flatMap(Self.hookNumber)
        var rule: String?
        var iptables = false
        if t.type == .rule, let handle = t.ruleHandle,
           let r = try? texts.rule(family: t.family, table: t.table, chain: t.chain, handle: handle) {
            rule = r.rule.text
            iptables = r.syntax == .iptables
        }
        let kind: NftVerdict.Kind = t.type == .policy ? .policy : t.type == .return ? .returned : .rule
        return NftVerdict(family: t.family, kind: kind, table: t.table, chain: t.chain, hook: hook,
                          priority: hook != nil ? chain?.priority : nil, handle: t.ruleHandle, verdict: t.verdict,
                          target: t.target, rule: rule, fromIptables: iptables, traceID: t.id)
    }

    /// nft's hook names, as numbered for ip, ip6, inet and bridge chains
    /// (NF_INET_PRE_ROUTING 0 ... NF_INET_POST_ROUTING 4: NftraceTable.Hook's order).
    static func hookNumber(_ name: String) -> UInt8? {
        NftraceTable.Hook.allCases.firstIndex { $0.rawValue == name }.map(UInt8.init)
    }

    func close() {
        for s in spaces {
            s.texts.close()
            s.table.close()
            s.listener.close()
            s.netns.close()
        }
        spaces = []
    }

    deinit { close() }
}
