import CSkbTracerABI

/// The packet's first bytes (`--write`, ST_SEC_PAYLOAD), as BPF copied them from
/// the skb's linear part: from the Ethernet header when the event read one,
/// else from the IP header.
public struct Payload: Equatable, Sendable {
    public enum Link: UInt8, Sendable {
        case ethernet = 1, ip = 2
    }

    public var link: Link
    /// The packet's length from where `bytes` start (what pcap calls the original length).
    public var wireLength: UInt32
    public var bytes: [UInt8]

    public init(link: Link, wireLength: UInt32, bytes: [UInt8]) {
        self.link = link
        self.wireLength = wireLength
        self.bytes = bytes
    }

    static let headerSize = MemoryLayout<st_sec_payload>.size

    /// The section at `at` of `length` bytes: nil when nothing was captured or
    /// the link is unknown; `valid` false when it is malformed (caplen past its end).
    static func decode(_ bytes: UnsafeRawBufferPointer, at: Int, length: Int) -> (payload: Payload?, valid: Bool) {
        guard length >= headerSize else { return (nil, false) }
        let s = bytes.loadUnaligned(fromByteOffset: at, as: st_sec_payload.self)
        let n = Int(s.caplen)
        guard n <= length - headerSize else { return (nil, false) }
        guard n > 0, let link = Link(rawValue: s.link) else { return (nil, true) }
        let start = at + headerSize
        return (Payload(link: link, wireLength: max(s.wire_len, UInt32(n)), bytes: Array(bytes[start..<(start + n)])), true)
    }

    /// The section as a record carries it: the header, the bytes, padding to 8.
    func append(to b: inout ByteBuffer) {
        let n = min(bytes.count, Int(ST_SNAPLEN_MAX))
        let size = (Self.headerSize + n + 7) & ~7
        var s = st_sec_payload()
        s.sec = st_section(type: UInt16(ST_SEC_PAYLOAD.rawValue), size: UInt16(size))
        s.caplen = UInt16(n)
        s.link = link.rawValue
        s.wire_len = wireLength
        withUnsafeBytes(of: &s) { b.append(bytes: $0) }
        b.append(contentsOf: bytes.prefix(n))
        for _ in (Self.headerSize + n)..<size { b.append(UInt8(0)) }
    }
}
