import CBPFShim

/// A BPF ring-buffer consumer (`struct ring_buffer`).
///
/// The handler receives each record's bytes; they are only valid during the call.
/// It returns false to stop reading: libbpf keeps consuming while producers keep
/// writing, so under a flood a handler that never says stop never gives control back.
public final class RingBuffer {
    public typealias Handler = (UnsafeRawBufferPointer) -> Bool

    private var handle: OpaquePointer?
    private let box: HandlerBox

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
    }

    deinit { free() }

    public func free() {
        if let handle { ring_buffer__free(handle) }
        handle = nil
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
