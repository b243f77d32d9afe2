// Kafka's default partitioner: murmur2 of the key bytes (Kafka's `Utils.murmur2`, seed
// 0x9747b28c), made positive with `& 0x7fffffff`, modulo the partition count. Byte for byte
// Kafka's arithmetic (wrapping 32-bit multiplies, logical shifts), so that a Kafka user's keys land
// in the same partition here as there. Checked against Kafka's UtilsTest vectors (LogTests).

/// Kafka's murmur2 and its key → partition rule.
public enum Murmur2 {
    /// Kafka's `Utils.murmur2(byte[])`, as a signed 32-bit value.
    public static func hash(_ data: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        var i = 0
        while i + 4 <= length {
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
            i += 4
        }
        let tail = length & ~3
        switch length & 3 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 1:
            h ^= UInt32(data[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// `toPositive(murmur2(key)) % partitions`, Kafka's choice for a keyed record.
    public static func partition(forKey key: UnsafeRawBufferPointer, partitions: Int) -> Int {
        Int(UInt32(bitPattern: hash(key)) & 0x7fff_ffff) % max(1, partitions)
    }
}
