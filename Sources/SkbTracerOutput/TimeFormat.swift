import Foundation
import SkbTracerModel
import SkbTracerSystem

/// How event times print: skbtracer's `-T` (wall clock HH:MM:SS.micro, the
/// default), `--timestamp` (seconds.micro of CLOCK_MONOTONIC, as bpf_ktime_get_ns),
/// seconds since the first event, nettrace's `--date` (the date too), or no time
/// column (pwru's `--timestamp none`; JSON keeps its time fields).
public enum TimeFormat: String, Sendable, CaseIterable {
    case wallClock = "time"
    case monotonic = "timestamp"
    case relative = "relative"
    case date = "date"
    case none = "none"

    /// pwru's `--timestamp VALUE`: current is the wall clock, absolute the kernel's
    /// monotonic timestamp, relative since the first event.
    public init?(pwru value: String) {
        switch value {
        case "none": self = .none
        case "current": self = .wallClock
        case "relative": self = .relative
        case "absolute": self = .monotonic
        default: return nil
        }
    }

    public static let pwruValues = ["none", "current", "relative", "absolute"]
}

/// Turns bpf_ktime_get_ns() values into printed times.
public struct Clock: Sendable {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns, read once at start.
    public let realtimeOffsetNs: Int64
    /// Seconds east of UTC for HH:MM:SS in local time.
    public let utcOffsetSeconds: Int64

    public init() {
        var rt = timespec()
        let mono = MonotonicClock.now()
        clock_gettime(CLOCK_REALTIME, &rt)
        realtimeOffsetNs = Int64(rt.tv_sec) * 1_000_000_000 + Int64(rt.tv_nsec) - Int64(mono)
        var t = time_t(rt.tv_sec)
        var parts = tm()
        localtime_r(&t, &parts)
        utcOffsetSeconds = Int64(parts.tm_gmtoff)
    }

    public init(realtimeOffsetNs: Int64, utcOffsetSeconds: Int64) {
        self.realtimeOffsetNs = realtimeOffsetNs
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    public func wallNs(_ ktimeNs: UInt64) -> Int64 { Int64(bitPattern: ktimeNs) &+ realtimeOffsetNs }

    /// Whole seconds (rounded down) and the nanoseconds after them (0..<1e9), also
    /// before 1970: a corrupt record's ts_ns can put wallNs anywhere in Int64.
    public static func split(_ ns: Int64) -> (seconds: Int64, nanoseconds: Int64) {
        let s = ns / 1_000_000_000, r = ns % 1_000_000_000
        return r < 0 ? (s - 1, r + 1_000_000_000) : (s, r)
    }

    /// HH:MM:SS.uuuuuu (local time).
    public func appendWallClock(_ ktimeNs: UInt64, to b: inout ByteBuffer) {
        // Wrapping: ts_ns is whatever the record says.
        let (seconds, nanoseconds) = Self.split(wallNs(ktimeNs) &+ utcOffsetSeconds &* 1_000_000_000)
        let secOfDay = UInt64(seconds % 86_400 + 86_400) % 86_400
        b.appendDecimal(secOfDay / 3600, width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(secOfDay / 60 % 60, width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(secOfDay % 60, width: 2); b.append(UInt8(ascii: "."))
        b.appendDecimal(UInt64(nanoseconds) / 1000, width: 6)
    }

    /// YYYY-MM-DD HH:MM:SS.uuuuuu (local time).
    public func appendDateTime(_ ktimeNs: UInt64, to b: inout ByteBuffer) {
        // Wrapping: ts_ns is whatever the record says; Int64 seconds fit gmtime_r.
        let (seconds, nanoseconds) = Self.split(wallNs(ktimeNs) &+ utcOffsetSeconds &* 1_000_000_000)
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        b.appendDecimal(UInt64(max(0, parts.tm_year + 1900)), width: 4); b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(parts.tm_mon + 1), width: 2); b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(parts.tm_mday), width: 2); b.append(UInt8(ascii: " "))
        b.appendDecimal(UInt64(parts.tm_hour), width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(UInt64(parts.tm_min), width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(UInt64(parts.tm_sec), width: 2); b.append(UInt8(ascii: "."))
        b.appendDecimal(UInt64(nanoseconds) / 1000, width: 6)
    }

    /// seconds.uuuuuu
    public static func appendSeconds(_ ns: UInt64, to b: inout ByteBuffer) {
        b.appendDecimal(ns / 1_000_000_000)
        b.append(UInt8(ascii: "."))
        b.appendDecimal(ns % 1_000_000_000 / 1000, width: 6)
    }

    /// RFC 3339 in UTC with microseconds, for JSON.
    public func appendISO8601(_ ktimeNs: UInt64, to b: inout ByteBuffer) {
        // Int64 nanoseconds span 1677-2262: gmtime_r always succeeds, years have 4 digits.
        let (seconds, nanoseconds) = Self.split(wallNs(ktimeNs))
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        b.appendDecimal(UInt64(parts.tm_year + 1900), width: 4); b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(parts.tm_mon + 1), width: 2); b.append(UInt8(ascii: "-"))
        b.appendDecimal(UInt64(parts.tm_mday), width: 2); b.append(UInt8(ascii: "T"))
        b.appendDecimal(UInt64(parts.tm_hour), width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(UInt64(parts.tm_min), width: 2); b.append(UInt8(ascii: ":"))
        b.appendDecimal(UInt64(parts.tm_sec), width: 2); b.append(UInt8(ascii: "."))
        b.appendDecimal(UInt64(nanoseconds) / 1000, width: 6); b.append(UInt8(ascii: "Z"))
    }
}
