// Base64 for meta commands' binary keys (the b flag): decode into a caller's buffer, encode into
// the output. Standard alphabet with padding, as memcached.

enum Base64 {
    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    @inline(__always)
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// Decodes `src` into `dst`; the decoded length, or nil when `src` is not valid base64 or
    /// does not fit.
    static func decode(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Int? {
        guard src.count % 4 == 0, src.count > 0 else { return nil }
        var out = 0
        var i = 0
        while i < src.count {
            let c0 = src[i], c1 = src[i + 1], c2 = src[i + 2], c3 = src[i + 3]
            guard let v0 = value(c0), let v1 = value(c1) else { return nil }
            let last = i + 4 == src.count
            let pad2 = c2 == UInt8(ascii: "="), pad3 = c3 == UInt8(ascii: "=")
            if (pad2 || pad3) && !last { return nil }
            if pad2 && !pad3 { return nil }
            let v2 = pad2 ? 0 : value(c2), v3 = pad3 ? 0 : value(c3)
            guard let v2, let v3 else { return nil }
            let n = pad2 ? 1 : pad3 ? 2 : 3
            guard out + n <= dst.count else { return nil }
            dst[out] = v0 << 2 | v1 >> 4
            if n > 1 { dst[out + 1] = (v1 & 0x0f) << 4 | v2 >> 2 }
            if n > 2 { dst[out + 2] = (v2 & 0x03) << 6 | v3 }
            out += n
            i += 4
        }
        return out
    }

    /// Appends the base64 form of `src` to `output`.
    static func encode(_ src: UnsafeRawBufferPointer, appendingTo append: (UInt8) -> Void) {
        let a = alphabet.utf8Start
        var i = 0
        while i < src.count {
            let b0 = src[i]
            let b1: UInt8 = i + 1 < src.count ? src[i + 1] : 0
            let b2: UInt8 = i + 2 < src.count ? src[i + 2] : 0
            append(a[Int(b0 >> 2)])
            append(a[Int((b0 & 0x03) << 4 | b1 >> 4)])
            append(i + 1 < src.count ? a[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            append(i + 2 < src.count ? a[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
    }
}
