import Foundation

/// An IPv4 or IPv6 address as 4 or 16 network-order bytes.
///
/// Stored inline (two words), not as an array: journeys and the diagnosis make
/// flow tuples for every packet, and an array per address was two heap
/// allocations per tuple.
public struct IPAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The bytes in memory order; an IPv4 address uses the first four, the rest zero.
    private let storage: (UInt64, UInt64)
    public let isIPv4: Bool

    public static func == (a: IPAddress, b: IPAddress) -> Bool {
        a.isIPv4 == b.isIPv4 && a.storage == b.storage
    }

    public func hash(into h: inout Hasher) {
        h.combine(isIPv4)
        h.combine(storage.0)
        h.combine(storage.1)
    }

    /// The 4 or 16 bytes.
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// The 4 or 16 bytes, without copying them out.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(isIPv4 ? 4 : 16))) }
    }

    /// 4 or 16 bytes, network order.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.init(raw: bytes.withUnsafeBytes { $0 }, isIPv4: bytes.count == 4)
    }

    /// The first 4 (IPv4) or 16 bytes of `raw`, which must hold that many.
    init(raw: UnsafeRawBufferPointer, isIPv4: Bool) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { w in
            w.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw.prefix(isIPv4 ? 4 : 16)))
        }
        storage = words
        self.isIPv4 = isIPv4
    }

    /// inet_pton(AF_INET) then inet_pton(AF_INET6).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(raw: withUnsafeBytes(of: &v4) { $0 }, isIPv4: true)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(raw: withUnsafeBytes(of: &v6) { $0 }, isIPv4: false)
            return
        }
        return nil
    }

    /// inet_ntop's text, written by PacketText (no sprintf: journeys print
    /// several addresses each).
    public var description: String {
        var b = ByteBuffer(capacity: 64)
        withBytes { raw in
            if isIPv4 {
                for i in 0..<4 {
                    if i > 0 { b.append(UInt8(ascii: ".")) }
                    b.appendDecimal(raw[i])
                }
            } else {
                PacketText.appendIPv6(raw, to: &b)
            }
        }
        return b.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// inet_ntop() from raw bytes.
    public static func format(_ p: UnsafePointer<UInt8>, isIPv4: Bool) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = inet_ntop(isIPv4 ? AF_INET : AF_INET6, p, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
