import Platform
import Testing

@Suite("LockedValue")
struct LockedValueTests {
    @Test("four threads' read-modify-writes under withLock are none of them lost")
    func noLostUpdates() {
        let counts = LockedValue((total: 0, perThread: [Int](repeating: 0, count: 4)))
        onThreads(4) { t in
            for _ in 0..<20_000 {
                counts.withLock { v in
                    v.total += 1
                    v.perThread[t] += 1
                }
            }
        }
        let (total, perThread) = counts.withLock { ($0.total, $0.perThread) }
        #expect(total == 80_000)
        #expect(perThread == [20_000, 20_000, 20_000, 20_000])
    }

    @Test("withLock returns the body's result and rethrows its error with the value as the body left it")
    func resultAndError() {
        struct Stop: Error {}
        let v = LockedValue([1, 2])
        #expect(v.withLock { $0.count } == 2)
        #expect(throws: Stop.self) { try v.withLock { $0.append(3); throw Stop() } }
        #expect(v.withLock { $0 } == [1, 2, 3])
    }

    @Test("a closure read 300,000 times with load() is the closure stored, not one wrapped per read")
    func functionValueLoads() {
        let hook = LockedValue<(@Sendable (Int) -> Int)?>(nil)
        hook.withLock { $0 = { $0 + 1 } }
        // With withLock({ $0 }) each read added two thunks to the stored closure: calling it
        // after this many reads overflowed the stack.
        for _ in 0..<300_000 { _ = hook.load() }
        #expect(hook.load()?(41) == 42)
    }
}
