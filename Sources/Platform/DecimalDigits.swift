// Decimal numbers written straight into reply memory: how many digits an unsigned integer has,
// and its digits at a pointer (OutputBuffer's decimals, RESP count and length lines of stream
// replies, stream IDs' `<ms>-<seq>` text), so a reply is sized before it is written and no
// number goes through a String.

/// The decimal digits of `v` (1 for 0).
@inline(__always)
public func decimalDigits(_ v: UInt64) -> Int {
    var n = 1
    var x = v
    while x >= 10 {
        x /= 10
        n += 1
    }
    return n
}

/// Writes the `digits` (`decimalDigits(v)`) decimal digits of `v` at `p`.
@inline(__always)
public func writeDecimal(_ v: UInt64, digits: Int, _ p: UnsafeMutableRawPointer) {
    var x = v
    var k = digits
    repeat {
        k -= 1
        p.storeBytes(of: UInt8(truncatingIfNeeded: x % 10) &+ 0x30, toByteOffset: k, as: UInt8.self)
        x /= 10
    } while k > 0
}

/// Writes `v` in decimal at `p` (room for 20 bytes); returns the digits written.
@inline(__always)
public func writeDecimal(_ v: UInt64, _ p: UnsafeMutableRawPointer) -> Int {
    let n = decimalDigits(v)
    writeDecimal(v, digits: n, p)
    return n
}
