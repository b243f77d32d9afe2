// The hash table doubling under load (memcached's assoc_expand / assoc_maintenance_thread), driven
// one step at a time with lookups and stores in between.
@testable import CacheEngine
import TestSupport
import Testing

@Suite("Hash table expansion")
struct HashExpansionTests {
    /// Runs the expander until it has nothing left to do (two idle answers in a row: the end of one
    /// expansion, then no reason to start another), calling `between` after every step.
    /// Returns the number of steps and whether an expansion was seen in progress.
    @discardableResult
    func expandFully(_ e: CacheEngine, bucketsPerStep: Int, between: () -> Void) -> (steps: Int, sawExpanding: Bool) {
        var idle = 0
        var steps = 0
        var sawExpanding = false
        while idle < 2 && steps < 100_000 {
            if e.hashExpanderStep(bucketsPerStep: bucketsPerStep) { idle = 0 } else { idle += 1 }
            steps += 1
            if e.stats.hashIsExpanding { sawExpanding = true }
            between()
        }
        return (steps, sawExpanding)
    }

    @Test("5000 items on a 2^10 table: it grows to 2^12 and every key keeps its value")
    func growsUnderLoad() throws {
        let e = try Harness { $0.hashPowerInit = 10 }.engine
        #expect(e.stats.hashPower == 10)
        #expect(e.stats.hashBytes == 1024 * 4)
        let n = 5000
        for i in 0..<n { #expect(e.put("key\(i)", "value-\(i)").result == .stored) }
        // Storing does not expand by itself: the expander thread does.
        #expect(e.stats.hashPower == 10)
        #expect(!e.stats.hashIsExpanding)

        var rng = SplitMix64(seed: 0x5eed)
        var misses = 0
        let (steps, sawExpanding) = expandFully(e, bucketsPerStep: 16) {
            for _ in 0..<8 {
                let i = Int.random(in: 0..<n, using: &rng)
                if e.string("key\(i)") != "value-\(i)" { misses += 1 }
            }
        }
        #expect(misses == 0)
        #expect(sawExpanding)
        #expect(steps > 100)                       // many steps, lookups between them
        // 5000 > 1.5 × 2^11 triggers a second doubling; 5000 < 1.5 × 2^12 stops there.
        #expect(e.stats.hashPower == 12)
        #expect(e.stats.hashBytes == 4096 * 4)
        #expect(!e.stats.hashIsExpanding)
        for i in 0..<n { #expect(e.string("key\(i)") == "value-\(i)", "key\(i)") }
        #expect(e.string("key\(n)") == nil)
        #expect(e.currentItems == n)
    }

    @Test("no expansion below 1.5 items per bucket")
    func noExpansionWhenLight() throws {
        let e = try Harness { $0.hashPowerInit = 10 }.engine
        for i in 0..<1536 { e.put("key\(i)", "v") }
        #expect(!e.hashExpanderStep())
        #expect(e.stats.hashPower == 10)
        e.put("one-more", "v")
        #expect(e.hashExpanderStep())
        #expect(e.stats.hashPower == 11)
        #expect(e.stats.hashIsExpanding)
    }

    @Test("gets, sets, replaces and deletes made during an expansion are all seen afterwards")
    func changesDuringExpansion() throws {
        let e = try Harness { $0.hashPowerInit = 10 }.engine
        let n = 2000
        for i in 0..<n { e.put("key\(i)", "old-\(i)") }
        #expect(e.hashExpanderStep(bucketsPerStep: 8))   // starts: 2000 > 1536
        #expect(e.stats.hashIsExpanding)
        #expect(e.stats.hashPower == 11)

        var rng = SplitMix64(seed: 7)
        var next = 0
        var expected: [String: String] = [:]
        for i in 0..<n { expected["key\(i)"] = "old-\(i)" }
        var wrong = 0
        expandFully(e, bucketsPerStep: 8) {
            // A new key, a replaced key, a deleted key, and a few reads.
            let newKey = "new\(next)"
            e.put(newKey, "fresh-\(next)")
            expected[newKey] = "fresh-\(next)"
            let r = Int.random(in: 0..<n, using: &rng)
            e.put("key\(r)", "changed-\(next)")
            expected["key\(r)"] = "changed-\(next)"
            let d = Int.random(in: 0..<n, using: &rng)
            if e.remove("key\(d)") != (expected["key\(d)"] != nil) { wrong += 1 }
            expected["key\(d)"] = nil
            for _ in 0..<4 {
                let g = Int.random(in: 0..<n, using: &rng)
                if e.string("key\(g)") != expected["key\(g)"] { wrong += 1 }
            }
            if e.string(newKey) != expected[newKey] { wrong += 1 }
            next += 1
        }
        #expect(wrong == 0)
        #expect(!e.stats.hashIsExpanding)
        #expect(e.stats.hashPower >= 11)
        for (k, v) in expected { #expect(e.string(k) == v, "\(k)") }
        for i in 0..<n where expected["key\(i)"] == nil { #expect(e.fetch("key\(i)") == nil) }
        #expect(e.currentItems == expected.count)
    }

    @Test("a key whose bucket moved and a key whose bucket did not are both found mid-expansion")
    func lookupsMidExpansion() throws {
        let e = try Harness { $0.hashPowerInit = 10 }.engine
        let n = 3000
        for i in 0..<n { e.put("key\(i)", "v\(i)") }
        #expect(e.hashExpanderStep(bucketsPerStep: 1))       // start
        #expect(e.hashExpanderStep(bucketsPerStep: 512))     // half of the 1024 old buckets moved
        #expect(e.stats.hashIsExpanding)
        var moved = 0, unmoved = 0
        for i in 0..<n {
            let k = Array("key\(i)".utf8)
            let oldBucket = Int(k.withUnsafeBytes { CacheEngine.hash($0) }) & 1023
            if oldBucket < 512 { moved += 1 } else { unmoved += 1 }
            #expect(e.string("key\(i)") == "v\(i)")
        }
        #expect(moved > 0 && unmoved > 0)
        // Deleting and re-adding on both sides of the boundary.
        for i in stride(from: 0, to: n, by: 3) { #expect(e.remove("key\(i)")) }
        for i in stride(from: 0, to: n, by: 3) { #expect(e.put("key\(i)", "again\(i)", mode: .add).result == .stored) }
        while e.hashExpanderStep(bucketsPerStep: 100) {}
        for i in 0..<n { #expect(e.string("key\(i)") == (i % 3 == 0 ? "again\(i)" : "v\(i)")) }
    }
}
