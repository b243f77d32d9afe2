// Key choice (uniform, zipf), the key space and the verify value layout, histogram merge.
import Testing
@testable import LoadTestCore

@Suite("key distributions")
struct KeyDistributionTests {
    @Test("zipf 0.99 over 1000 keys: rank 1 and rank 10 at 1/k^s normalised, all keys in range")
    func zipfFrequencies() {
        let n = 1000, s = 0.99, samples = 1_000_000
        let table = ZipfTable(count: n, exponent: s)
        var chooser = KeyChooser(keys: n, zipf: table, seed: 42)
        var counts = [Int](repeating: 0, count: n)
        var outOfRange = 0
        for _ in 0..<samples {
            let k = chooser.next()
            if k >= 0 && k < n { counts[k] += 1 } else { outOfRange += 1 }
        }
        #expect(outOfRange == 0)
        // Theoretical P(k) = k^-s / H(n, s), computed independently of the table.
        var h = 0.0
        for k in 1...n { h += 1 / pow(Double(k), s) }
        for rank in [1, 2, 10, 100] {
            let expected = 1 / pow(Double(rank), s) / h
            #expect(abs(table.probability(ofRank: rank) - expected) < 1e-12)
            let observed = Double(counts[rank - 1]) / Double(samples)
            // 5 % relative: rank 1 (p ≈ 0.13) is ~50 σ wide at 1M samples, rank 10 ~6 σ.
            let tolerance = rank <= 10 ? 0.05 : 0.15
            #expect(abs(observed - expected) / expected < tolerance, "rank \(rank): observed \(observed), expected \(expected)")
        }
        #expect(counts[0] > counts[9] && counts[9] > counts[99])
        #expect(counts.reduce(0, +) == samples)
    }

    @Test("uniform: all keys in range, every key drawn, flat within 10 %")
    func uniform() {
        let n = 100, samples = 1_000_000
        var chooser = KeyChooser(keys: n, zipf: nil, seed: 7)
        var counts = [Int](repeating: 0, count: n)
        var outOfRange = 0
        for _ in 0..<samples {
            let k = chooser.next()
            if k >= 0 && k < n { counts[k] += 1 } else { outOfRange += 1 }
        }
        #expect(outOfRange == 0)
        let mean = Double(samples) / Double(n)
        for c in counts { #expect(abs(Double(c) - mean) / mean < 0.1) }
    }

    @Test("parsing --key-dist")
    func parsing() {
        #expect(KeyDistribution(parsing: "uniform") == .uniform)
        #expect(KeyDistribution(parsing: "zipf:0.99") == .zipf(0.99))
        #expect(KeyDistribution(parsing: "zipf:0") == nil)
        #expect(KeyDistribution(parsing: "zipf") == nil)
        #expect(KeyDistribution(parsing: "normal") == nil)
    }
}

@Suite("key space and values")
struct KeySpaceTests {
    @Test("keys are printable, fixed width, and parse back to their index")
    func keys() {
        let ks = KeySpace(count: 100_000, valueSize: 100, verify: false)
        #expect(ks.keyWidth == 10)
        #expect(ks.keyString(0) == "key0000000")
        #expect(ks.keyString(99_999) == "key0099999")
        for i in [0, 1, 42, 99_999] {
            let k = Array(ks.keyString(i).utf8)
            #expect(k.withUnsafeBytes { ks.index(ofKey: $0) } == i)
        }
        for bad in ["key0100000", "key000000", "kex0000001", "key00000x1"] {
            #expect(Array(bad.utf8).withUnsafeBytes { ks.index(ofKey: $0) } == nil, "\(bad)")
        }
        #expect(KeySpace.keyWidth(for: 20_000_000) == 11)
    }

    @Test("verify values embed the key and a checksum; the check accepts exactly the written value")
    func verifiedValues() {
        let ks = KeySpace(count: 1000, valueSize: 64, verify: true)
        for i in [0, 7, 999] {
            var value = [UInt8](repeating: 0, count: 64)
            value.withUnsafeMutableBufferPointer { ks.writeValue(i, into: $0.baseAddress!) }
            let key = Array(ks.keyString(i).utf8)
            #expect(ValueLayout.selfCheck(value: value, key: key))
            #expect(value.withUnsafeBytes { ks.check(i, offset: 0, $0) })
            // In pieces, as reads deliver it.
            for cut in [1, 10, 11, 47, 48, 63] {
                #expect(value[..<cut].withUnsafeBytes { ks.check(i, offset: 0, $0) })
                #expect(value[cut...].withUnsafeBytes { ks.check(i, offset: cut, $0) })
            }
            // Another key's value, or any flipped byte, fails.
            #expect(!value.withUnsafeBytes { ks.check((i + 1) % 1000, offset: 0, $0) })
            for pos in [0, 9, 10, 30, 47, 48, 63] {
                var bad = value
                bad[pos] ^= 1
                #expect(!bad.withUnsafeBytes { ks.check(i, offset: 0, $0) }, "byte \(pos)")
                #expect(!ValueLayout.selfCheck(value: bad, key: key), "byte \(pos)")
            }
        }
    }
}

@Suite("latency histogram")
struct HistogramTests {
    @Test("two per-thread histograms merged: count, p50 and max")
    func merge() {
        var a = LatencyHistogram(), b = LatencyHistogram()
        for us in 1...1000 { a.record(UInt64(us) * 1000) }           // 1 µs ... 1 ms
        for us in 1001...3000 { b.record(UInt64(us) * 1000) }        // 1.001 ms ... 3 ms
        b.record(250_000_000)                                         // one 250 ms outlier
        var merged = LatencyHistogram()
        merged.merge(a)
        merged.merge(b)
        let s = merged.summary
        #expect(s.count == 3001)
        #expect(s.max == 250_000_000)
        // p50 of 1...3000 µs (+1 outlier) is ~1.5 ms; 3 significant digits → within 0.1 %.
        #expect(abs(Double(s.p50) - 1_501_000) / 1_501_000 < 0.002, "p50 \(s.p50)")
        #expect(abs(Double(s.p99) - 2_971_000) / 2_971_000 < 0.002, "p99 \(s.p99)")
        #expect(a.summary.count == 1000 && abs(Double(a.summary.p50) - 500_000) / 500_000 < 0.002)
    }

    @Test("an empty histogram summarises to zeros; huge values are clamped")
    func edges() {
        #expect(LatencyHistogram().summary == .empty)
        var h = LatencyHistogram()
        h.record(0)
        h.record(UInt64.max)
        #expect(h.count == 2)
        #expect(h.summary.max == LatencyHistogram.highestTrackable)
    }
}

#if canImport(Glibc)
import Glibc
#endif
