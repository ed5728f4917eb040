/// Kernel stacks from bpf_get_stack(), symbolized, without skbtracer's own frames.
public enum StackFrames {
    /// Frames that belong to the BPF program and the tracepoint machinery that
    /// called it, not to the packet's path: they are always on top of the stack.
    static let tracerPrefixes = ["bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_", "bpf_trampoline_",
                                 "__bpf_prog_enter", "__bpf_prog_exit", "trace_event_raw_event_", "perf_trace_"]

    static func isTracerFrame(_ symbol: String) -> Bool {
        tracerPrefixes.contains { symbol.hasPrefix($0) }
    }

    /// `symbol+0xoff` per frame, innermost first, from the first frame that is
    /// not the tracer's own.
    public static func symbolize(_ ips: [UInt64], symbols: KernelSymbols) -> [String] {
        let frames = ips.filter { $0 != 0 }.map(symbols.symbolize)
        // BPF programs have no kallsyms entry of type t/T: an unresolved address
        // at the top of the stack is the program itself.
        let start = frames.firstIndex { !isTracerFrame($0) && !$0.hasPrefix("0x") } ?? frames.count
        return Array(frames[start...])
    }
}
