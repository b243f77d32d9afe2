// Names to file names. Queues, topics and keys are arbitrary byte strings (binary memcached keys,
// Redis keys), but a file name may hold neither `/` nor NUL, should not be `.`/`..` or hidden, and
// is limited in length. The rule, in order:
//
//  1. Bytes that are letters, digits or `_ - . :` stand for themselves, except a `.` as the very
//     first byte (so no name is `.`, `..` or hidden).
//  2. Every other byte, `%` included, is `%` and two upper-case hex digits (`/` is `%2F`, NUL is
//     `%00`, 0xFF is `%FF`, `%` is `%25`, a leading `.` is `%2E`).
//  3. The empty name is a lone `%` (no other rule produces it).
//  4. An encoding longer than `maxLength` (200) bytes keeps its first 183 bytes (never cutting an
//     escape) and ends in `~` and 16 lower-case hex digits of the name's 64-bit FNV-1a hash. `~`
//     is never produced otherwise (it is escaped as `%7E`), so such a name is recognisable; it
//     cannot be decoded, and its owner keeps the full name elsewhere (in the file or its metadata).
//
// So every name that queues have been allowed so far (1...200 bytes of letters, digits and
// `_ - . :`, not starting with `.`) maps to itself, and existing data directories read as before;
// the encoding is reversible below the length limit; and a suffix such as `.journal.compact` (16
// bytes) still fits in NAME_MAX (255).
//
// Encoding allocates one String: it is for opening files, never for the request path.

/// The reversible encoding of byte-string names into file-safe names (see the rule above).
public enum FileNames {
    /// The longest encoded name; longer encodings are shortened with a hash (rule 4).
    public static let maxLength = 200
    /// Bytes of the encoding kept in front of `~` and the hash of an over-long name.
    static let hashedPrefixLength = maxLength - 17

    /// True for the bytes that stand for themselves (rule 1), a leading `.` aside.
    @inline(__always)
    static func isSafe(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
             UInt8(ascii: "."), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    private static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The file name for the byte string `name`.
    public static func encode(_ name: UnsafeRawBufferPointer) -> String {
        if name.isEmpty { return "%" }
        var out: [UInt8] = []
        out.reserveCapacity(name.count)
        // Where each escape or plain byte starts, to cut an over-long name at a boundary.
        var cut = 0
        for (i, b) in name.enumerated() {
            if isSafe(b) && !(i == 0 && b == UInt8(ascii: ".")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xf)])
            }
            if out.count <= hashedPrefixLength { cut = out.count }
        }
        if out.count > maxLength {
            out.removeSubrange(cut...)
            out.append(UInt8(ascii: "~"))
            var h = fnv1a64(name)
            var digits = [UInt8](repeating: 0, count: 16)
            for k in (0..<16).reversed() {
                digits[k] = lowerHexDigits[Int(h & 0xf)]
                h >>= 4
            }
            out += digits
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The file name for `name`'s UTF-8 bytes.
    public static func encode(_ name: String) -> String {
        var n = name
        return n.withUTF8 { encode(UnsafeRawBufferPointer($0)) }
    }

    /// The name `fileName` encodes, or nil when it is not an encoding this type produces (a
    /// hashed over-long name, a malformed or non-canonical escape, an unescaped unsafe byte).
    /// For every byte string `n`, `decode(encode(n)) == n` when the encoding is not hashed.
    public static func decode(_ fileName: String) -> [UInt8]? {
        let f = Array(fileName.utf8)
        if f == [UInt8(ascii: "%")] { return [] }
        guard !f.isEmpty, f.count <= maxLength else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(f.count)
        var i = 0
        while i < f.count {
            let b = f[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < f.count, let hi = hexValue(f[i + 1]), let lo = hexValue(f[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else if isSafe(b) && !(i == 0 && b == UInt8(ascii: ".")) {
                out.append(b)
                i += 1
            } else {
                return nil
            }
        }
        // Canonical only: an escape of a byte that stands for itself is not an encoding.
        return out.withUnsafeBytes { encode($0) } == fileName ? out : nil
    }

    /// True when `fileName` is a shortened over-long name (rule 4), which `decode` cannot reverse.
    public static func isHashed(_ fileName: String) -> Bool {
        fileName.utf8.contains(UInt8(ascii: "~"))
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// 64-bit FNV-1a: stable across runs and machines (unlike `Hasher`), enough to tell apart
    /// over-long names that share their first 183 encoded bytes.
    static func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}
