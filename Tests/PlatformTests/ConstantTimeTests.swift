// Secret comparison: right answers for every kind of difference, and no early exit (the time
// for a difference in the first byte and in the last is the same, within a factor far below
// what an early exit would make).
import Platform
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("constant-time compare")
struct ConstantTimeTests {
    private func eq(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { ConstantTime.equals($0, b) }
    }

    @Test("equal, differing bytes, prefixes, lengths, empty")
    func answers() {
        let secret = Array("s3cret-password".utf8)
        #expect(eq(secret, secret))
        #expect(!eq(Array("S3cret-password".utf8), secret))
        #expect(!eq(Array("s3cret-passwore".utf8), secret))
        #expect(!eq(Array("s3cret".utf8), secret))                   // a prefix
        #expect(!eq(secret + secret, secret))                        // the secret twice
        #expect(!eq(secret + [0], secret))
        #expect(!eq([], secret))
        #expect(!eq(secret, []))
        #expect(eq([], []))
        #expect(!eq([0], []))
    }

    private func nanoseconds(_ body: () -> Void) -> UInt64 {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_MONOTONIC, &a)
        body()
        clock_gettime(CLOCK_MONOTONIC, &b)
        return UInt64(b.tv_sec - a.tv_sec) * 1_000_000_000 &+ UInt64(b.tv_nsec) &- UInt64(a.tv_nsec)
    }

    @Test("no early exit: a first-byte and a last-byte difference take the same time", .hangGuard)
    func noEarlyExit() {
        let size = 1 << 20
        let secret = [UInt8](repeating: 0x61, count: size)
        var firstDiffers = secret
        firstDiffers[0] = 0x62
        var lastDiffers = secret
        lastDiffers[size - 1] = 0x62
        let shorter = [UInt8](repeating: 0x62, count: size)  // same length as given, all differ
        var medians: [UInt64] = []
        for given in [firstDiffers, lastDiffers, shorter] {
            var times: [UInt64] = []
            for _ in 0..<9 {
                times.append(nanoseconds { #expect(!eq(given, secret)) })
            }
            medians.append(times.sorted()[4])
        }
        // An early exit makes the first case about a million times faster than the second; the
        // bound is loose because the box is shared and a median can be slowed several times over.
        let lo = medians.min()!, hi = medians.max()!
        #expect(hi < lo * 100, "medians \(medians) ns")
        // A length difference does not cut the loop short: the work follows what was given.
        let short = Array(secret[0..<(size / 2)])
        let t = (0..<9).map { _ in nanoseconds { #expect(!eq(secret + [0], short)) } }.sorted()[4]
        #expect(t * 100 > medians[1], "length-mismatch compare \(t) ns vs \(medians[1]) ns")
    }
}
