import CBPFShim
import Glibc

/// A BPF ring-buffer consumer (`struct ring_buffer`).
///
/// The handler receives each record's bytes; they are only valid during the call.
/// It returns false to stop reading: libbpf keeps consuming while producers keep
/// writing, so under a flood a handler that never says stop never gives control back.
public final class RingBuffer {
    public typealias Handler = (UnsafeRawBufferPointer) -> Bool

    private var handle: OpaquePointer?
    private let box: HandlerBox
    /// The ring's consumer and producer position pages, mapped read-only: libbpf
    /// 1.1 has no accessor for them (1.3's ring__consumer_pos()).
    private var positions: (consumer: UnsafeRawPointer, producer: UnsafeRawPointer)?
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    private final class HandlerBox {
        let handler: Handler
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    /// ring_buffer__new()
    public init(map: BPFMap, handler: @escaping Handler) throws {
        box = HandlerBox(handler)
        var rb: OpaquePointer?
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let rc = shim_ring_buffer_new(map.fd, { ctx, data, size in
            guard let ctx, let data else { return 0 }
            let box = Unmanaged<HandlerBox>.fromOpaque(ctx).takeUnretainedValue()
            // A negative return ends ring_buffer__consume()/poll() early.
            return box.handler(UnsafeRawBufferPointer(start: data, count: Int(size))) ? 0 : -1
        }, ctx, &rb)
        try check(rc, "create ring buffer reader for map '\(map.name)'")
        handle = rb
        // The kernel lays a ring buffer map out as the consumer page, then the
        // producer page (then the data): both readable by anyone with the fd.
        let consumer = mmap(nil, pageSize, PROT_READ, MAP_SHARED, map.fd, 0)
        let producer = mmap(nil, pageSize, PROT_READ, MAP_SHARED, map.fd, off_t(pageSize))
        if let consumer, consumer != MAP_FAILED, let producer, producer != MAP_FAILED {
            positions = (UnsafeRawPointer(consumer), UnsafeRawPointer(producer))
        } else {
            if let consumer, consumer != MAP_FAILED { munmap(consumer, pageSize) }
            if let producer, producer != MAP_FAILED { munmap(producer, pageSize) }
        }
    }

    /// Whether every record reserved so far was read: after consume(), a record
    /// still unread is one a program reserved and has not submitted yet (it
    /// blocks the ones behind it). Its events happened before those read since,
    /// so a reader that judges idleness by the clock must wait for it. True when
    /// the positions could not be mapped.
    public var isDrained: Bool {
        guard let positions else { return true }
        let consumed = positions.consumer.load(as: UInt64.self)
        let produced = positions.producer.load(as: UInt64.self)
        return consumed >= produced
    }

    deinit { free() }

    public func free() {
        if let handle { ring_buffer__free(handle) }
        handle = nil
        if let positions {
            munmap(UnsafeMutableRawPointer(mutating: positions.consumer), pageSize)
            munmap(UnsafeMutableRawPointer(mutating: positions.producer), pageSize)
        }
        positions = nil
    }

    /// ring_buffer__poll(): waits up to `timeoutMs` for a wake-up, then consumes.
    /// Returns records consumed, or a negative errno (-EINTR on a signal).
    @discardableResult
    public func poll(timeoutMs: Int32) -> Int32 {
        ring_buffer__poll(handle, timeoutMs)
    }

    /// ring_buffer__consume(): reads whatever is there without waiting. The BPF
    /// side wakes the reader only in batches, so this runs after every poll.
    @discardableResult
    public func consume() -> Int32 {
        ring_buffer__consume(handle)
    }
}
