import Foundation

/// An IPv4 or IPv6 address as 4 or 16 network-order bytes.
public struct IPAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes.count == 4 }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// inet_pton(AF_INET) then inet_pton(AF_INET6).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var description: String {
        bytes.withUnsafeBufferPointer { IPAddress.format($0.baseAddress!, isIPv4: isIPv4) }
    }

    /// inet_ntop() from raw bytes.
    public static func format(_ p: UnsafePointer<UInt8>, isIPv4: Bool) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = inet_ntop(isIPv4 ? AF_INET : AF_INET6, p, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
