// Kestrel's per-read options, written into the queue key (`get work/t=500/open`).

/// A queue key with Kestrel's options: `name[/t=MS][/open][/close][/abort][/peek][/priority=N]`,
/// and swiftcached's `/redelivery` (the VALUE line carries the redelivery and death counts; without
/// it the line is exactly memcached's, which strict clients need).
struct QueueKey {
    var nameLength = 0
    var timeoutMs = -1
    var open = false
    var close = false
    var abort = false
    var peek = false
    var priority: UInt8 = 0
    var redelivery = false

    init?(_ key: UnsafeRawBufferPointer) {
        var i = 0
        while i < key.count && key[i] != UInt8(ascii: "/") { i += 1 }
        nameLength = i
        if nameLength == 0 { return nil }
        while i < key.count {
            i += 1
            let s = i
            while i < key.count && key[i] != UInt8(ascii: "/") { i += 1 }
            let opt = UnsafeRawBufferPointer(rebasing: key[s..<i])
            if Self.equals(opt, "open") { open = true }
            else if Self.equals(opt, "close") { close = true }
            else if Self.equals(opt, "abort") { abort = true }
            else if Self.equals(opt, "peek") { peek = true }
            else if Self.equals(opt, "redelivery") { redelivery = true }
            else if opt.starts(with: "t=".utf8), let n = Self.number(opt.dropFirst(2)), n <= Int(Int32.max) { timeoutMs = n }
            else if opt.starts(with: "priority=".utf8), let n = Self.number(opt.dropFirst(9)), n <= 255 { priority = UInt8(n) }
            else { return nil }
        }
        if open && abort { return nil }
    }

    private static func equals(_ b: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
    }

    private static func number(_ b: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !b.isEmpty, b.count <= 10 else { return nil }
        var v = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v
    }
}

#if canImport(Glibc)
import Glibc
#endif
