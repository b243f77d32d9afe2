// CRC-32C (Castagnoli), the checksum of every record file (and of Kafka's record batches).
// Hand-written because it is too small to import (DESIGN.md §8): slicing-by-8 over eight flat
// 256-entry tables, built once; no hardware instruction, so the result does not depend on the CPU.

/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected), as iSCSI, ext4 and Kafka use it.
public enum CRC32C {
    /// Eight 256-entry tables, flat; immutable after its lazy, thread-safe initialization.
    static let table: [UInt32] = {
        var t = Array(repeating: UInt32(0), count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xff)] }
        }
        return t
    }()

    /// The CRC-32C of `bytes` (`"123456789"` gives 0xE3069283).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        var i = 0
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            @inline(__always) func at(_ k: Int, _ b: UInt32) -> UInt32 { t[k &* 256 &+ Int(b & 0xff)] }
            while i + 8 <= n {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = at(7, lo) ^ at(6, lo >> 8) ^ at(5, lo >> 16) ^ at(4, lo >> 24)
                    ^ at(3, hi) ^ at(2, hi >> 8) ^ at(1, hi >> 16) ^ at(0, hi >> 24)
                i += 8
            }
            while i < n {
                c = at(0, c ^ UInt32(bytes[i])) ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }
}
