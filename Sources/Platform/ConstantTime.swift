// Secret comparison that takes the same time wherever the bytes differ (-Y's passwords, a
// requirepass): no exit on the first differing byte, and a length difference does not cut the
// loop short either. The time depends only on the length of what the client sent.

public enum ConstantTime {
    /// True when `given` (what the client sent) equals `secret`. Every byte of `given` is
    /// compared, against the secret's bytes taken cyclically, and the lengths' difference is
    /// folded into the same accumulator, so the loop's work is `given.count` steps whatever the
    /// contents. Not inlined, so that the optimiser cannot specialise it into an early exit.
    @inline(never)
    public static func equals(_ given: UnsafeRawBufferPointer, _ secret: UnsafeRawBufferPointer) -> Bool {
        var diff = UInt(bitPattern: given.count ^ secret.count)
        let n = given.count
        let m = secret.count
        if n > 0 {
            // An empty secret is compared against zeros; the length difference already fails it.
            var j = 0
            for i in 0..<n {
                let s: UInt8 = m > 0 ? secret[j] : 0
                diff |= UInt(given[i] ^ s)
                j += 1
                if j == m { j = 0 }
            }
        }
        return diff == 0
    }

    public static func equals(_ given: UnsafeRawBufferPointer, _ secret: [UInt8]) -> Bool {
        secret.withUnsafeBytes { equals(given, $0) }
    }
}
