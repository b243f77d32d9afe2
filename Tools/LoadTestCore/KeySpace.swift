// The keys and values of a run, laid out once before the load starts so that composing a request
// is a few memcpy's: printable fixed-width keys ("key" + zero-padded index) in one arena, and value
// bytes derived from the key.
//
// Values with `verify`:   <key> '|' <filler> '|' <16 hex digits: FNV-1a 64 of all bytes before>
// so each value embeds its key and a checksum, and a reader can check a hit knowing only the value
// (see `ValueLayout.selfCheck`). The harness checks every hit byte for byte against the value it
// would have written for that key, which implies the same. Without `verify` a value is the filler.
#if canImport(Glibc)
import Glibc
#endif

public final class KeySpace: @unchecked Sendable {
    // Safe to share: written only in init.
    public static let prefix: StaticString = "key"
    public let count: Int
    public let keyWidth: Int
    public let valueSize: Int
    public let verify: Bool
    /// count * keyWidth key bytes.
    private let keys: UnsafeMutablePointer<UInt8>
    /// valueSize bytes: the value without verify; with verify, bytes keyWidth ..< valueSize-16 of
    /// every value ('|' filler '|') start at offset keyWidth of this buffer.
    private let filler: UnsafeMutablePointer<UInt8>
    /// count * 16 checksum hex digits (verify only).
    private let checksums: UnsafeMutablePointer<UInt8>?

    /// The smallest value size that can carry a key and its checksum.
    public static func minimumVerifiedValueSize(keys: Int) -> Int { keyWidth(for: keys) + 18 }

    public static func keyWidth(for count: Int) -> Int {
        var digits = 1
        var n = max(count - 1, 0)
        while n >= 10 { n /= 10; digits += 1 }
        return prefix.utf8CodeUnitCount + max(7, digits)
    }

    public init(count: Int, valueSize: Int, verify: Bool) {
        precondition(count > 0 && valueSize >= 0)
        precondition(!verify || valueSize >= Self.minimumVerifiedValueSize(keys: count))
        self.count = count
        self.valueSize = valueSize
        self.verify = verify
        let width = Self.keyWidth(for: count)
        keyWidth = width
        keys = .allocate(capacity: count * width)
        let digits = width - Self.prefix.utf8CodeUnitCount
        for i in 0..<count {
            let k = keys + i * width
            k.update(from: Self.prefix.utf8Start, count: Self.prefix.utf8CodeUnitCount)
            var n = i
            var d = width - 1
            for _ in 0..<digits {
                k[d] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                d -= 1
            }
        }
        filler = .allocate(capacity: max(valueSize, 1))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        for i in 0..<valueSize { filler[i] = alphabet[i % alphabet.count] }
        if verify {
            filler[width] = UInt8(ascii: "|")
            filler[valueSize - 17] = UInt8(ascii: "|")
            let sums = UnsafeMutablePointer<UInt8>.allocate(capacity: count * 16)
            for i in 0..<count {
                var h = FNV1a64()
                h.add(keys + i * width, width)
                h.add(filler + width, valueSize - 16 - width)
                writeHex(h.value, into: sums + i * 16)
            }
            checksums = sums
        } else {
            checksums = nil
        }
    }

    deinit {
        keys.deallocate()
        filler.deallocate()
        checksums?.deallocate()
    }

    @inline(__always)
    public func key(_ index: Int) -> UnsafePointer<UInt8> { UnsafePointer(keys + index * keyWidth) }

    public func keyString(_ index: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: key(index), count: keyWidth), as: UTF8.self)
    }

    /// Writes the `valueSize` bytes of the value of key `index` at `p`.
    @inline(__always)
    public func writeValue(_ index: Int, into p: UnsafeMutablePointer<UInt8>) {
        if let checksums {
            p.update(from: keys + index * keyWidth, count: keyWidth)
            (p + keyWidth).update(from: filler + keyWidth, count: valueSize - 16 - keyWidth)
            (p + valueSize - 16).update(from: checksums + index * 16, count: 16)
        } else {
            p.update(from: filler, count: valueSize)
        }
    }

    /// The first `length` bytes of the filler (value-size ranges; not with verify).
    @inline(__always)
    public func writeFiller(into p: UnsafeMutablePointer<UInt8>, length: Int) {
        p.update(from: filler, count: length)
    }

    /// The key index of a key as the server echoed it (`VALUE <key> ...`), nil if not one of ours.
    @inline(__always)
    public func index(ofKey k: UnsafeRawBufferPointer) -> Int? {
        guard k.count == keyWidth, let base = k.baseAddress else { return nil }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let pl = Self.prefix.utf8CodeUnitCount
        guard memcmp(p, Self.prefix.utf8Start, pl) == 0 else { return nil }
        var n = 0
        for i in pl..<keyWidth {
            let d = p[i] &- 0x30
            guard d < 10 else { return nil }
            n = n &* 10 &+ Int(d)
        }
        return n < count ? n : nil
    }

    /// True if `bytes`, found at `offset` of a hit's value for key `index`, are what that key's value
    /// holds there (verify only; callers also check that the length is `valueSize`).
    @inline(__always)
    public func check(_ index: Int, offset: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard var q = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), let checksums else { return true }
        var off = offset
        var rem = bytes.count
        guard off + rem <= valueSize else { return false }
        if rem > 0 && off < keyWidth {
            let n = min(rem, keyWidth - off)
            if memcmp(q, keys + index * keyWidth + off, n) != 0 { return false }
            q += n; off += n; rem -= n
        }
        let sumStart = valueSize - 16
        if rem > 0 && off < sumStart {
            let n = min(rem, sumStart - off)
            if memcmp(q, filler + off, n) != 0 { return false }
            q += n; off += n; rem -= n
        }
        if rem > 0 {
            if memcmp(q, checksums + index * 16 + (off - sumStart), rem) != 0 { return false }
        }
        return true
    }
}

/// Checks a value of the verify layout on its own: its checksum matches its bytes, and the key it
/// embeds is `key`.
public enum ValueLayout {
    public static func selfCheck(value: [UInt8], key: [UInt8]) -> Bool {
        guard value.count >= key.count + 18,
              Array(value[0..<key.count]) == key, value[key.count] == UInt8(ascii: "|"),
              value[value.count - 17] == UInt8(ascii: "|") else { return false }
        var h = FNV1a64()
        value.withUnsafeBufferPointer { h.add($0.baseAddress!, value.count - 16) }
        var hex = [UInt8](repeating: 0, count: 16)
        hex.withUnsafeMutableBufferPointer { writeHex(h.value, into: $0.baseAddress!) }
        return Array(value[(value.count - 16)...]) == hex
    }
}

public struct FNV1a64 {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add(_ p: UnsafePointer<UInt8>, _ n: Int) {
        var h = value
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
        value = h
    }
}

@inline(__always)
func writeHex(_ v: UInt64, into p: UnsafeMutablePointer<UInt8>) {
    let digits: StaticString = "0123456789abcdef"
    for i in 0..<16 {
        p[i] = digits.utf8Start[Int((v >> UInt64(60 - 4 * i)) & 0xF)]
    }
}
