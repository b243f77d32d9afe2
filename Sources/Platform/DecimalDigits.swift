// How many decimal digits an unsigned integer has: replies whose length lines or numbers are sized
// before they are written (OutputBuffer's decimals, a RESP stream entry's ID bulk, a stream batch's
// RESP lengths).

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
