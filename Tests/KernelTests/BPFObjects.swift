import Foundation
import SkbTracerBPFObject
import SkbTracerSystem

// The BPF objects a test's own tracer held, and skbtracer-named objects nobody
// holds. Other tests (and other people) run tracers on this machine at the same
// time, so residue checks never count objects globally: they look at the ids
// this test's process held (sampled from /proc/PID/fdinfo while it ran, plus
// bpftool's `pids`), and at orphans: objects with skbtracer's names, created
// after the test began, that no live process holds.

// MARK: - BPF object ids

struct BPFIDs: CustomStringConvertible, Equatable {
    var progs = Set<Int>(), maps = Set<Int>(), links = Set<Int>()

    var isEmpty: Bool { progs.isEmpty && maps.isEmpty && links.isEmpty }

    mutating func formUnion(_ o: BPFIDs) {
        progs.formUnion(o.progs); maps.formUnion(o.maps); links.formUnion(o.links)
    }
    func intersection(_ o: BPFIDs) -> BPFIDs {
        BPFIDs(progs: progs.intersection(o.progs), maps: maps.intersection(o.maps), links: links.intersection(o.links))
    }
    func subtracting(_ o: BPFIDs) -> BPFIDs {
        BPFIDs(progs: progs.subtracting(o.progs), maps: maps.subtracting(o.maps), links: links.subtracting(o.links))
    }

    var description: String {
        func f(_ s: Set<Int>) -> String { s.sorted().map(String.init).joined(separator: ",") }
        return "progs [\(f(progs))] maps [\(f(maps))] links [\(f(links))]"
    }

    /// The ids behind a process's BPF fds (`prog_id:`, `map_id:`, `link_id:` in
    /// /proc/PID/fdinfo; a link's line also names its program).
    static func held(by pid: Int32) -> BPFIDs {
        var ids = BPFIDs()
        let fdDir = "/proc/\(pid)/fd"
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDir) else { return ids }
        var target = [CChar](repeating: 0, count: 64)
        for fd in fds {
            let n = readlink("\(fdDir)/\(fd)", &target, target.count)
            guard n > 0 else { continue }
            let name = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard name.hasPrefix("anon_inode:bpf") else { continue }
            guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { continue }
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let v = Int(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
                switch parts[0] {
                case "prog_id": ids.progs.insert(v)
                case "map_id": ids.maps.insert(v)
                case "link_id": ids.links.insert(v)
                default: break
                }
            }
        }
        return ids
    }

    /// Every BPF id any live process holds an fd to.
    static func heldByAnyProcess() -> BPFIDs {
        var ids = BPFIDs()
        for e in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            if let pid = Int32(e) { ids.formUnion(held(by: pid)) }
        }
        return ids
    }
}

/// `bpftool -j prog/map/link show`.
struct BPFListing {
    struct Prog { let id: Int; let name: String; let loadedAt: Int; let mapIDs: [Int]; let pids: [Int32] }
    struct Map { let id: Int; let name: String; let pids: [Int32] }
    struct Link { let id: Int; let progID: Int; let pids: [Int32] }
    var progs: [Int: Prog] = [:]
    var maps: [Int: Map] = [:]
    var links: [Int: Link] = [:]

    static func take() throws -> BPFListing {
        func list(_ kind: String) throws -> [[String: Any]] {
            let out = try Command.check(["bpftool", "-j", kind, "show"]).stdout
            if out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [] }
            return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]) ?? []
        }
        func int(_ o: [String: Any], _ k: String) -> Int? { (o[k] as? NSNumber)?.intValue }
        func pids(_ o: [String: Any]) -> [Int32] {
            ((o["pids"] as? [[String: Any]]) ?? []).compactMap { ($0["pid"] as? NSNumber)?.int32Value }
        }
        var l = BPFListing()
        for p in try list("prog") {
            guard let id = int(p, "id") else { continue }
            l.progs[id] = Prog(id: id, name: p["name"] as? String ?? "", loadedAt: int(p, "loaded_at") ?? 0,
                               mapIDs: ((p["map_ids"] as? [NSNumber]) ?? []).map(\.intValue), pids: pids(p))
        }
        for m in try list("map") {
            guard let id = int(m, "id") else { continue }
            l.maps[id] = Map(id: id, name: m["name"] as? String ?? "", pids: pids(m))
        }
        for k in try list("link") {
            guard let id = int(k, "id") else { continue }
            l.links[id] = Link(id: id, progID: int(k, "prog_id") ?? 0, pids: pids(k))
        }
        return l
    }

    var ids: BPFIDs { BPFIDs(progs: Set(progs.keys), maps: Set(maps.keys), links: Set(links.keys)) }

    /// Ids whose bpftool `pids` name `pid` (empty with a bpftool built without them).
    func owned(by pid: Int32) -> BPFIDs {
        BPFIDs(progs: Set(progs.values.filter { $0.pids.contains(pid) }.map(\.id)),
               maps: Set(maps.values.filter { $0.pids.contains(pid) }.map(\.id)),
               links: Set(links.values.filter { $0.pids.contains(pid) }.map(\.id)))
    }

    /// The maps skbtracer's object defines, and libbpf's internal ones
    /// (`skbtrace.rodata`, `skbtrace.bss`: the object name cut to 8 bytes).
    static func isOurMapName(_ name: String) -> Bool {
        TracepointsObject.Map.allCases.contains { $0.rawValue == name } || name.hasPrefix("skbtrace.")
    }

    /// skbtracer-named objects newer than `baseline` (ids only grow) that no live
    /// process holds, directly or through a held link or program.
    func orphans(newerThan baseline: BPFListing, loadedSince: Int) -> BPFIDs {
        let maxProg = baseline.progs.keys.max() ?? 0, maxMap = baseline.maps.keys.max() ?? 0
        let maxLink = baseline.links.keys.max() ?? 0
        var candidates = BPFIDs()
        for p in progs.values where p.id > maxProg && p.name.hasPrefix("tp_") && p.loadedAt >= loadedSince {
            candidates.progs.insert(p.id)
        }
        for m in maps.values where m.id > maxMap && Self.isOurMapName(m.name) { candidates.maps.insert(m.id) }
        for k in links.values where k.id > maxLink && (progs[k.progID]?.name.hasPrefix("tp_") ?? false) {
            candidates.links.insert(k.id)
        }
        guard !candidates.isEmpty else { return candidates }
        // Another tracer (someone else's) holds its objects through its fds.
        var held = BPFIDs.heldByAnyProcess()
        for id in held.links { if let k = links[id] { held.progs.insert(k.progID) } }
        for id in held.progs { if let p = progs[id] { held.maps.formUnion(p.mapIDs) } }
        return candidates.subtracting(held)
    }

    /// Bounded wait (RCU frees after the last fd closes) until none of `ids` is
    /// listed; returns those still listed.
    static func waitGone(_ ids: BPFIDs, timeout: Double) throws -> BPFIDs {
        let deadline = Date().addingTimeInterval(timeout)
        var left = ids.intersection(try take().ids)
        while !left.isEmpty && Date() < deadline {
            usleep(50_000)
            left = ids.intersection(try take().ids)
        }
        return left
    }

    /// Bounded wait until no orphan of ours is listed; returns those left.
    static func waitNoOrphans(newerThan baseline: BPFListing, loadedSince: Int, timeout: Double) throws -> BPFIDs {
        let deadline = Date().addingTimeInterval(timeout)
        var left = try take().orphans(newerThan: baseline, loadedSince: loadedSince)
        while !left.isEmpty && Date() < deadline {
            usleep(100_000)
            left = try take().orphans(newerThan: baseline, loadedSince: loadedSince)
        }
        return left
    }
}
