// CRC-32C against published vectors.
import Durability
import Testing

struct CRC32CTests {
    @Test func knownVectors() {
        // RFC 3720 B.4: CRC-32C of "123456789" is 0xE3069283; of 32 zero bytes, 0x8A9136AA.
        let digits = Array("123456789".utf8)
        #expect(digits.withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
        let zeros = [UInt8](repeating: 0, count: 32)
        #expect(zeros.withUnsafeBytes { CRC32C.checksum($0) } == 0x8A91_36AA)
        let ones = [UInt8](repeating: 0xff, count: 32)
        #expect(ones.withUnsafeBytes { CRC32C.checksum($0) } == 0x62A8_AB43)
        let ascending = (0..<32).map { UInt8($0) }
        #expect(ascending.withUnsafeBytes { CRC32C.checksum($0) } == 0x46DD_794E)
        #expect([UInt8]().withUnsafeBytes { CRC32C.checksum($0) } == 0)
    }

    @Test func slicedAndBytewisePathsAgree() {
        // Lengths around the 8-byte step, at every misalignment.
        let data = (0..<80).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for start in 0..<8 {
            for length in 0..<(data.count - start) {
                let sliced = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
                var c: UInt32 = 0xffff_ffff
                for b in data[start..<(start + length)] {
                    c ^= UInt32(b)
                    for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
                }
                #expect(sliced == ~c)
            }
        }
    }
}
