// MurmurHash3 x86_32, the hash memcached 1.6 uses by default (hash_algorithm=murmur3). The item
// lock stripe, the bucket and the expansion all derive from its low bits.

@inlinable
public func murmur3(_ key: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    let c1: UInt32 = 0xcc9e_2d51
    let c2: UInt32 = 0x1b87_3593
    var h = seed
    let n = key.count
    let blocks = n / 4
    var i = 0
    while i < blocks {
        var k = key.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
        k = k &* c1
        k = (k << 15) | (k >> 17)
        k = k &* c2
        h ^= k
        h = (h << 13) | (h >> 19)
        h = h &* 5 &+ 0xe654_6b64
        i += 1
    }
    let tail = blocks * 4
    var k1: UInt32 = 0
    switch n & 3 {
    case 3:
        k1 ^= UInt32(key[tail + 2]) << 16
        fallthrough
    case 2:
        k1 ^= UInt32(key[tail + 1]) << 8
        fallthrough
    case 1:
        k1 ^= UInt32(key[tail])
        k1 = k1 &* c1
        k1 = (k1 << 15) | (k1 >> 17)
        k1 = k1 &* c2
        h ^= k1
    default:
        break
    }
    h ^= UInt32(truncatingIfNeeded: n)
    h ^= h >> 16
    h = h &* 0x85eb_ca6b
    h ^= h >> 13
    h = h &* 0xc2b2_ae35
    h ^= h >> 16
    return h
}
