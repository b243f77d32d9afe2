// The engine's random draws for the data structures (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER
// picks, a skip-list node's level). Swift's SystemRandomNumberGenerator makes a getrandom(2)
// system call per draw: under SPOP at pipeline 16 that was a fifth of the server's samples
// (BENCHMARKS.md, 2026-12-07). These draws need no secrecy, so they come from the engine's
// splitmix64 (`nextRandom`, one relaxed atomic add), as eviction's sampling already did.
import Synchronization

/// A `RandomNumberGenerator` over the engine's splitmix64, for `shuffle(using:)` and
/// `Int.random(in:using:)`.
struct EngineRandom: RandomNumberGenerator {
    // unowned(unsafe): made and used inside one engine call, which the caller's engine
    // reference keeps alive; no reference count is paid per draw.
    unowned(unsafe) let engine: CacheEngine

    @inline(__always) mutating func next() -> UInt64 { engine.nextRandom() }
}

extension CacheEngine {
    @inline(__always) var randomSource: EngineRandom { EngineRandom(engine: self) }

    /// A draw in 0..<n (n > 0): the high half of a 64x64-bit product (Lemire), whose bias of at
    /// most n / 2^64 no pick can show.
    @inline(__always)
    func randomBelow(_ n: Int) -> Int {
        Int(truncatingIfNeeded: nextRandom().multipliedFullWidth(by: UInt64(n)).high)
    }
}
