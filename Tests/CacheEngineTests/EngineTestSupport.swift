// Helpers for driving a CacheEngine from tests: one engine per test, a clock set by hand, no
// background threads (tests call maintainLRUs(), crawlAll() and hashExpanderStep() themselves).
@testable import CacheEngine
import Platform
import SlabAllocator
import Testing

/// The Unix time the test clocks start at.
let testUnixNow = 1_700_000_000

/// An engine and the clock it reads.
struct Harness {
    let engine: CacheEngine
    let clock: ProcessClock

    init(_ configure: (inout EngineSettings) -> Void = { _ in }) throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        configure(&settings)
        clock = ProcessClock(unixNow: testUnixNow)
        engine = try #require(CacheEngine(settings: settings, clock: clock))
    }

    /// Moves the clock forward by `seconds`.
    func advance(_ seconds: UInt32) {
        clock.set(clock.current + seconds)
    }
}

/// A copy of what `get` returned.
struct Fetched: Equatable {
    var value: [UInt8]
    var flags: UInt32
    var cas: UInt64
    var string: String { String(decoding: value, as: UTF8.self) }
}

extension CacheEngine {
    func withKey<R>(_ key: String, _ body: (UnsafeRawBufferPointer, UInt32) throws -> R) rethrows -> R {
        try Array(key.utf8).withUnsafeBytes { try body($0, CacheEngine.hash($0)) }
    }

    /// allocate → writeValue → store → release, as a connection does. Records an issue and
    /// returns (.notStored, 0) when the allocation fails.
    @discardableResult
    func put(_ key: String, _ value: [UInt8], flags: UInt32 = 0, exptime: Int64 = 0,
             mode: StoreMode = .set, cas: UInt64 = 0,
             sourceLocation: SourceLocation = #_sourceLocation) -> (result: StoreResult, cas: UInt64) {
        withKey(key) { k, hv in
            let expiry = clock.expiry(fromClient: exptime)
            guard case .item(let it) = allocate(key: k, flags: flags, expiry: expiry, valueLength: value.count) else {
                Issue.record("allocation failed for \(key) (\(value.count) bytes)", sourceLocation: sourceLocation)
                return (.notStored, 0)
            }
            value.withUnsafeBytes { writeValue(it, at: 0, $0) }
            let r = store(it, hash: hv, mode: mode, casIn: cas)
            release(it)
            return r
        }
    }

    @discardableResult
    func put(_ key: String, _ value: String, flags: UInt32 = 0, exptime: Int64 = 0,
             mode: StoreMode = .set, cas: UInt64 = 0,
             sourceLocation: SourceLocation = #_sourceLocation) -> (result: StoreResult, cas: UInt64) {
        put(key, Array(value.utf8), flags: flags, exptime: exptime, mode: mode, cas: cas, sourceLocation: sourceLocation)
    }

    /// The whole value of an item, across chunks.
    func valueBytes(_ it: Item) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(it.valueLength)
        for i in 0..<valueSegmentCount(it) {
            out.append(contentsOf: UnsafeRawBufferPointer(valueSegment(it, i)))
        }
        return out
    }

    /// get, copy, release.
    func fetch(_ key: String) -> Fetched? {
        var outcome = GetOutcome.miss
        return fetch(key, outcome: &outcome)
    }

    func fetch(_ key: String, outcome: inout GetOutcome) -> Fetched? {
        guard let it = withKey(key, { k, hv in get(k, hash: hv, outcome: &outcome) }) else { return nil }
        defer { release(it) }
        return Fetched(value: valueBytes(it), flags: it.clientFlags, cas: it.cas)
    }

    func outcome(_ key: String) -> GetOutcome {
        var outcome = GetOutcome.miss
        _ = fetch(key, outcome: &outcome)
        return outcome
    }

    func string(_ key: String) -> String? { fetch(key)?.string }

    /// get with the reference kept (the caller releases).
    func hold(_ key: String) -> Item? {
        var outcome = GetOutcome.miss
        return withKey(key) { k, hv in get(k, hash: hv, outcome: &outcome) }
    }

    func remove(_ key: String) -> Bool {
        withKey(key) { k, hv in delete(k, hash: hv) }
    }

    func delta(_ key: String, incr: Bool, by amount: UInt64) -> DeltaResult {
        withKey(key) { k, hv in delta(k, hash: hv, incr: incr, by: amount) }
    }

    func touch(_ key: String, exptime: Int64) -> Bool {
        var outcome = GetOutcome.miss
        guard let it = withKey(key, { k, hv in touch(k, hash: hv, expiry: clock.expiry(fromClient: exptime), outcome: &outcome) })
        else { return false }
        release(it)
        return true
    }

    /// The slab class an unchunked item of this key and value length lands in.
    func classID(keyLength: Int, valueLength: Int) -> Int {
        slabs.table.classID(forSize: ItemLayout.totalSize(keyLength: keyLength, valueLength: valueLength))
    }

    var currentItems: Int { itemStats().number }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure is reproducible.
func patternBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

/// Stores `value` under `key` in `database` with `type` and `expiry` (the keyspace tests' store:
/// any value type, any database); .notStored when the allocation fails.
@discardableResult
func put(_ h: Harness, _ key: String, _ value: String, database: Int = 0, type: ItemType = .string,
         expiry: ExpiryTime = .never) -> StoreResult {
    h.engine.withKey(key) { k, hv in
        guard case .item(let it) = h.engine.allocate(key: k, flags: 0, expiry: 0, valueLength: value.utf8.count,
                                                    database: database, type: type) else { return .notStored }
        Array(value.utf8).withUnsafeBytes { h.engine.writeValue(it, at: 0, $0) }
        h.engine.setExpiry(it, expiry)
        defer { h.engine.release(it) }
        return h.engine.store(it, hash: hv, mode: .set, casIn: 0).0
    }
}
