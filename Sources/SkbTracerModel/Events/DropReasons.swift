import BPFKit

/// Drop-reason names from the running kernel's `enum skb_drop_reason` (read from
/// BTF at run time: the numbers differ between kernels).
public struct DropReasons: Sendable {
    private let names: [UInt32: String]

    public init(names: [UInt32: String]) { self.names = names }

    public init(btf: KernelBTF) {
        var names: [UInt32: String] = [:]
        for (name, value) in btf.enumValues("skb_drop_reason") {
            let short = name.hasPrefix("SKB_DROP_REASON_") ? String(name.dropFirst(16)) : name
            names[UInt32(truncatingIfNeeded: value)] = short
        }
        self.names = names
    }

    /// NO_SOCKET, NETFILTER_DROP, ...; an unknown value prints as its number.
    public func name(_ value: UInt32) -> String {
        names[value] ?? "REASON_\(value)"
    }

    public var count: Int { names.count }
    /// Every known code and its name (a recording carries them to the replay).
    public var table: [UInt32: String] { names }
}
