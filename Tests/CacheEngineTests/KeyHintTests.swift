// Key hints (CacheEngine+KeyHints.swift): an operation told the next keys' hashes starts loading
// their buckets and first items. A hint changes what is in the caches, never an answer: lookups
// and stores hinted with present, absent and arbitrary hashes, before, during and after a table
// doubling, answer as unhinted ones; a hint serves one operation; threads hinting each other's
// keys while the expander doubles the table see every value they wrote (run under TSan by
// Tools/sanitize.sh: the look at another stripe's bucket and the bucket stores are atomic).
// The tables start at 2^6 buckets, so the item locks are 64 stripes (their power is at most the
// table's) and the expander's lockAll holds fewer than TSan's deadlock detector can track (128).
@testable import CacheEngine
import CPrefetch
import Platform
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Key hints")
struct KeyHintTests {
    private func hash(_ key: String) -> UInt32 { Array(key.utf8).withUnsafeBytes { CacheEngine.hash($0) } }

    @Test("hinted gets and sets answer as unhinted ones, across a table doubling")
    func hintsChangeNoAnswer() throws {
        let e = try Harness { $0.hashPowerInit = 6 }.engine
        let n = 3000
        for i in 0..<n { e.put("key\(i)", "v\(i)") }
        var rng = SplitMix64(seed: 0x4b1d)
        var expected = (0..<n).map { "v\($0)" }
        var steps = 0
        var sawExpanding = false
        for round in 0..<4000 {
            // Hints naming a present key, an absent one, or any 32 bits at all.
            func someHash() -> UInt32? {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return nil
                case 1: return hash("key\(Int.random(in: 0..<n, using: &rng))")
                case 2: return hash("absent\(round)")
                default: return UInt32.random(in: 0...UInt32.max, using: &rng)
                }
            }
            CacheEngine.hintKeys(next: someHash(), after: someHash())
            let i = Int.random(in: 0..<n, using: &rng)
            if round % 3 == 0 {
                expected[i] = "w\(round)"
                #expect(e.put("key\(i)", expected[i]).result == .stored)
            } else {
                #expect(e.string("key\(i)") == expected[i])
            }
            CacheEngine.hintKeys(next: someHash(), after: someHash())
            #expect(e.string("absent\(round)") == nil)
            if round % 8 == 0 {
                e.hashExpanderStep(bucketsPerStep: 4)
                steps += 1
                if e.stats.hashIsExpanding { sawExpanding = true }
            }
        }
        #expect(sawExpanding)
        #expect(e.stats.hashPower > 6)
        for i in 0..<n { #expect(e.string("key\(i)") == expected[i], "key\(i)") }
    }

    @Test("a hint serves one operation: the operation takes it")
    func takenOnce() throws {
        let e = try Harness().engine
        e.put("a", "1")
        CacheEngine.hintKeys(next: hash("a"), after: hash("b"))
        var h = cprefetch_hint_take()
        #expect(h.next == UInt64(hash("a")) | 1 << 32)
        #expect(h.after == UInt64(hash("b")) | 1 << 32)
        CacheEngine.hintKeys(next: 0, after: nil)
        h = cprefetch_hint_take()
        #expect(h.next == 1 << 32, "hash 0 is a hint too")
        #expect(h.after == 0)
        // A get takes the hints, and so does a store.
        CacheEngine.hintKeys(next: hash("a"), after: hash("b"))
        #expect(e.string("a") == "1")
        h = cprefetch_hint_take()
        #expect(h.next == 0 && h.after == 0)
        CacheEngine.hintKeys(next: hash("a"), after: hash("b"))
        e.put("b", "2")
        h = cprefetch_hint_take()
        #expect(h.next == 0 && h.after == 0)
    }

    @Test("threads hinting each other's keys while the table doubles see what they wrote")
    func concurrentHintsAndExpansion() throws {
        let e = try Harness { $0.hashPowerInit = 6 }.engine
        let perThread = 2500
        let bad = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let threads = (0..<2).map { t in
            BackgroundThread(name: "hinter\(t)") {
                let other = 1 - t
                for round in 0..<3 {
                    for i in 0..<perThread {
                        // The next keys of this thread and of the other one: buckets the other
                        // thread is writing into.
                        let next = Array("t\(other)-\((i + 1) % perThread)".utf8).withUnsafeBytes { CacheEngine.hash($0) }
                        let after = Array("t\(t)-\((i + 2) % perThread)".utf8).withUnsafeBytes { CacheEngine.hash($0) }
                        CacheEngine.hintKeys(next: next, after: after)
                        let value = "\(round)-\(i)"
                        if e.put("t\(t)-\(i)", value).result != .stored { bad.wrappingAdd(1, ordering: .relaxed) }
                        CacheEngine.hintKeys(next: after, after: next)
                        if e.string("t\(t)-\(i)") != value { bad.wrappingAdd(1, ordering: .relaxed) }
                    }
                }
                done.wrappingAdd(1, ordering: .relaxed)
            }
        }
        var sawExpanding = false
        while done.load(ordering: .relaxed) < 2 {
            if e.hashExpanderStep(bucketsPerStep: 16) {
                if e.stats.hashIsExpanding { sawExpanding = true }
            } else {
                usleep(50)
            }
        }
        for t in threads { t.join() }
        #expect(bad.load(ordering: .relaxed) == 0)
        #expect(sawExpanding)
        for t in 0..<2 { for i in 0..<perThread { #expect(e.string("t\(t)-\(i)") == "2-\(i)") } }
    }
}
