import CBPFShim
import Glibc

/// An opened, possibly loaded, BPF object (`struct bpf_object`).
///
/// The object owns its links: `close()` (or deinit) destroys every link before the
/// object, so an error path or a signal leaves nothing attached.
public final class BPFObject {
    private var handle: OpaquePointer?
    private var links: [OpaquePointer] = []
    /// Links libbpf has no object for (netfilter links): closing the fd detaches.
    private var linkFDs: [Int32] = []
    private let image: [UInt8]

    /// bpf_object__open_mem(). The ELF image is kept alive for the object's life.
    public init(elf: [UInt8], name: String) throws {
        image = elf
        var obj: OpaquePointer?
        let rc = image.withUnsafeBytes { buf in
            shim_object_open_mem(buf.baseAddress, buf.count, name, &obj)
        }
        try check(rc, "open BPF object '\(name)'")
        handle = obj
    }

    deinit { close() }

    /// Destroys every link (bpf_link__destroy): the programs stop firing, while
    /// maps stay readable until `close()`.
    public func detachAll() {
        // Hundreds of kprobe links (one per function) take a grace period each
        // to unregister: destroyed from many threads, the waits overlap.
        if links.count > 64 {
            var all: [OpaquePointer?] = links
            all.withUnsafeMutableBufferPointer { buf in
                shim_links_destroy_parallel(buf.baseAddress, buf.count, 32)
            }
        } else {
            for link in links.reversed() { bpf_link__destroy(link) }
        }
        links.removeAll()
        for fd in linkFDs.reversed() { Glibc.close(fd) }
        linkFDs.removeAll()
    }

    /// Destroys links first, then the object (bpf_link__destroy, bpf_object__close).
    public func close() {
        detachAll()
        if let handle { bpf_object__close(handle) }
        handle = nil
    }

    public var programs: [BPFProgram] {
        var result: [BPFProgram] = []
        var prog = bpf_object__next_program(handle, nil)
        while let p = prog {
            result.append(BPFProgram(handle: p))
            prog = bpf_object__next_program(handle, p)
        }
        return result
    }

    public var maps: [BPFMap] {
        var result: [BPFMap] = []
        var map = bpf_object__next_map(handle, nil)
        while let m = map {
            result.append(BPFMap(handle: m))
            map = bpf_object__next_map(handle, m)
        }
        return result
    }

    public func program(named name: String) -> BPFProgram? {
        bpf_object__find_program_by_name(handle, name).map(BPFProgram.init(handle:))
    }

    public func map(named name: String) -> BPFMap? {
        bpf_object__find_map_by_name(handle, name).map(BPFMap.init(handle:))
    }

    /// bpf_object__load(): relocates (CO-RE) and verifies every autoloaded program.
    public func load() throws {
        try check(bpf_object__load(handle), "load BPF object")
    }

    /// bpf_program__attach(); the link lives until `close()`.
    public func attach(_ program: BPFProgram) throws {
        var link: OpaquePointer?
        try check(shim_program_attach(program.handle, &link), "attach program '\(program.name)'")
        if let link { links.append(link) }
    }

    /// bpf_program__attach_kprobe_multi_opts(): one link for every symbol, or an error.
    public func attachKprobeMulti(_ program: BPFProgram, symbols: [String]) throws {
        var link: OpaquePointer?
        let rc = withCStrings(symbols) { ptrs in
            shim_program_attach_kprobe_multi(program.handle, ptrs, symbols.count, &link)
        }
        try check(rc, "attach '\(program.name)' to \(symbols.count) functions (kprobe-multi)")
        if let link { links.append(link) }
    }

    /// bpf_program__attach_kprobe() at a function's entry.
    public func attachKprobe(_ program: BPFProgram, function: String) throws {
        var link: OpaquePointer?
        try check(shim_program_attach_kprobe(program.handle, function, &link),
                  "attach '\(program.name)' to \(function) (kprobe)")
        if let link { links.append(link) }
    }

    /// A netfilter link (Linux 6.4+) for `program` at hook `hook` of family `family`
    /// (NFPROTO_*) with `priority`, in the calling thread's network namespace;
    /// it lives until `detachAll()` or `close()`.
    public func attachNetfilter(_ program: BPFProgram, family: UInt32, hook: UInt32, priority: Int32) throws {
        var fd: Int32 = -1
        try check(shim_netfilter_link_create(program.handle, family, hook, priority, &fd),
                  "attach '\(program.name)' to netfilter hook \(family):\(hook)")
        linkFDs.append(fd)
    }

    /// Makes this (not yet loaded) object use `other`'s maps wherever a map has
    /// the same name (bpf_map__reuse_fd), so two objects share one ring buffer,
    /// one set of tables and one frozen configuration. Both objects must be
    /// opened under the same name for their global-data maps to match.
    public func reuseMaps(of other: BPFObject) throws {
        var map = bpf_object__next_map(handle, nil)
        while let m = map {
            let name = String(cString: bpf_map__name(m))
            guard let theirs = other.map(named: name), theirs.fd >= 0 else {
                throw BPFError("share map '\(name)': the other object has no such loaded map", errno: 2)
            }
            // reuse_fd adopts the other map's layout silently: a global present in
            // one object only would shift .bss or .rodata under the other's code.
            guard bpf_map__type(m) == bpf_map__type(theirs.handle), bpf_map__key_size(m) == bpf_map__key_size(theirs.handle),
                  bpf_map__value_size(m) == bpf_map__value_size(theirs.handle) else {
                throw BPFError("share map '\(name)': its type, key or value size differs between the two objects", errno: 22,
                               hint: "the BPF objects were built from different headers; rebuild skbtracer")
            }
            try check(bpf_map__reuse_fd(m, theirs.fd), "share map '\(name)'")
            map = bpf_object__next_map(handle, m)
        }
    }

    public var attachedLinkCount: Int { links.count + linkFDs.count }
}

/// Calls `body` with a C array of the strings, valid only during the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers = copies.map { $0.map { UnsafePointer<CChar>($0) } }
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}

/// A program inside a BPFObject (`struct bpf_program`); valid while the object is open.
public struct BPFProgram {
    let handle: OpaquePointer

    public var name: String { String(cString: bpf_program__name(handle)) }
    public var sectionName: String { String(cString: bpf_program__section_name(handle)) }

    /// bpf_program__set_autoload(): programs nobody asked for are not even loaded.
    public func setAutoload(_ on: Bool) {
        bpf_program__set_autoload(handle, on)
    }

    public var autoload: Bool { bpf_program__autoload(handle) }

    /// Makes it a netfilter program (libbpf 1.1 does not know the section); before load.
    public func setNetfilterType() throws {
        try check(shim_program_set_netfilter(handle), "set program '\(name)' type to netfilter")
    }
}

/// A map inside a BPFObject (`struct bpf_map`).
public struct BPFMap {
    let handle: OpaquePointer

    public var name: String { String(cString: bpf_map__name(handle)) }
    public var fd: Int32 { bpf_map__fd(handle) }
    public var valueSize: Int { Int(bpf_map__value_size(handle)) }

    /// bpf_map__set_max_entries(); before load only.
    public func setMaxEntries(_ n: UInt32) throws {
        try check(bpf_map__set_max_entries(handle, n), "resize map '\(name)'")
    }

    /// Writes `value` at the start of a global-data map (.rodata) before load.
    /// bpf_map__initial_value()
    public func writeInitialValue<T>(_ value: T) throws {
        var size = 0
        guard let base = bpf_map__initial_value(handle, &size) else {
            throw BPFError("write initial value of map '\(name)'", errno: 22)
        }
        guard size >= MemoryLayout<T>.size else {
            throw BPFError("write initial value of map '\(name)': holds \(size) bytes, need \(MemoryLayout<T>.size)", errno: 22)
        }
        UnsafeMutableRawPointer(mutating: base).storeBytes(of: value, as: T.self)
    }

    /// Sums a per-CPU array element over all possible CPUs (bpf_map_lookup_elem).
    public func perCPUValues<T>(key: UInt32, as: T.Type) throws -> [T] {
        let ncpu = Int(libbpf_num_possible_cpus())
        guard ncpu > 0 else { throw BPFError("count possible CPUs", errno: 22) }
        // Per-CPU values are copied out at an 8-byte stride.
        let stride = (MemoryLayout<T>.size + 7) & ~7
        var buffer = [UInt8](repeating: 0, count: stride * ncpu)
        var k = key
        let rc = buffer.withUnsafeMutableBytes { shim_map_lookup(fd, &k, $0.baseAddress) }
        try check(rc, "read map '\(name)'")
        return (0..<ncpu).map { cpu in
            buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: cpu * stride, as: T.self) }
        }
    }
}

extension BPFMap {
    /// bpf_map_lookup_elem() on an ordinary (not per-CPU) map; nil when the key is absent.
    public func lookup<K, V>(_ key: K, as: V.Type) -> V? {
        var k = key
        var v = [UInt8](repeating: 0, count: max(valueSize, MemoryLayout<V>.size))
        let rc = v.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &k, $0.baseAddress) }
        guard rc == 0 else { return nil }
        return v.withUnsafeBytes { $0.loadUnaligned(as: V.self) }
    }

    /// bpf_map_update_elem(BPF_ANY) on an ordinary map; false on failure.
    @discardableResult
    public func update<K, V>(_ key: K, _ value: V) -> Bool {
        var k = key, v = value
        return bpf_map_update_elem(fd, &k, &v, UInt64(BPF_ANY)) == 0
    }

    /// bpf_map_delete_elem(); false when the key was already gone.
    @discardableResult
    public func delete<K>(_ key: K) -> Bool {
        var k = key
        return bpf_map_delete_elem(fd, &k) == 0
    }

    /// Every key, walked with bpf_map_get_next_key(). A hash map that changes
    /// during the walk may skip or repeat keys; callers treat the result as a snapshot.
    public func keys<K>(as: K.Type, limit: Int = 1 << 20) -> [K] {
        var result: [K] = []
        var key = [UInt8](repeating: 0, count: MemoryLayout<K>.size)
        var next = key
        var first = true
        while result.count < limit {
            let rc = key.withUnsafeBytes { cur in
                next.withUnsafeMutableBytes { nxt in
                    bpf_map_get_next_key(fd, first ? nil : cur.baseAddress, nxt.baseAddress)
                }
            }
            guard rc == 0 else { break }
            first = false
            key = next
            result.append(key.withUnsafeBytes { $0.loadUnaligned(as: K.self) })
        }
        return result
    }
}
