// redis's glob matching (util.c stringmatchlen), for CONFIG GET's parameter patterns and pub/sub's
// PSUBSCRIBE and PUBSUB CHANNELS patterns (KEYS and SCAN MATCH will use it too).

/// redis's stringmatchlen: `*`, `?`, `[...]` with ranges and `^`, and `\` escapes; CONFIG GET
/// ignores case, pub/sub patterns do not.
func globMatches(_ pattern: UnsafeRawBufferPointer, _ text: UnsafeRawBufferPointer, ignoringCase: Bool = true) -> Bool {
    func lower(_ b: UInt8) -> UInt8 { ignoringCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
    func match(_ p: Int, _ t: Int) -> Bool {
        var p = p, t = t
        while p < pattern.count {
            switch pattern[p] {
            case UInt8(ascii: "*"):
                while p + 1 < pattern.count && pattern[p + 1] == UInt8(ascii: "*") { p += 1 }
                if p + 1 == pattern.count { return true }
                for start in t...text.count where match(p + 1, start) { return true }
                return false
            case UInt8(ascii: "?"):
                guard t < text.count else { return false }
                t += 1
            case UInt8(ascii: "["):
                guard t < text.count else { return false }
                p += 1
                let negate = p < pattern.count && pattern[p] == UInt8(ascii: "^")
                if negate { p += 1 }
                var found = false
                while p < pattern.count && pattern[p] != UInt8(ascii: "]") {
                    if pattern[p] == UInt8(ascii: "\\") && p + 1 < pattern.count {
                        p += 1
                        if lower(pattern[p]) == lower(text[t]) { found = true }
                    } else if p + 2 < pattern.count && pattern[p + 1] == UInt8(ascii: "-") && pattern[p + 2] != UInt8(ascii: "]") {
                        let (a, b) = (min(lower(pattern[p]), lower(pattern[p + 2])), max(lower(pattern[p]), lower(pattern[p + 2])))
                        if lower(text[t]) >= a && lower(text[t]) <= b { found = true }
                        p += 2
                    } else if lower(pattern[p]) == lower(text[t]) {
                        found = true
                    }
                    p += 1
                }
                if found == negate { return false }
                t += 1
            case UInt8(ascii: "\\") where p + 1 < pattern.count:
                p += 1
                guard t < text.count, lower(pattern[p]) == lower(text[t]) else { return false }
                t += 1
            default:
                guard t < text.count, lower(pattern[p]) == lower(text[t]) else { return false }
                t += 1
            }
            p += 1
        }
        return t == text.count
    }
    return match(0, 0)
}
