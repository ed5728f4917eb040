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

    /// inet_ntop's text, written by PacketText (no sprintf: journeys print
    /// several addresses each).
    public var description: String {
        var b = ByteBuffer(capacity: 64)
        bytes.withUnsafeBytes { raw in
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
