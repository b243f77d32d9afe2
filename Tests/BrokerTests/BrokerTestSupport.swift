// A broker over a small engine with a clock the test moves by hand, and helpers that put
// strings in and take strings out.
@testable import Broker
import CacheEngine
import Platform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The engine's process clock with its milliseconds pinned, moved by the test.
struct TestClock: Sendable {
    let clock = ProcessClock()
    init() { clock.setMilliseconds(1_700_000_000_000) }
    func advance(_ d: UInt64) { clock.advanceMilliseconds(d) }
    var now: UInt64 { clock.milliseconds }
}

/// Counts wake-ups of a parked reader.
final class WakeCounter: Sendable {
    let count = Atomic<Int>(0)
    var waker: ConnectionWaker { ConnectionWaker { self.count.wrappingAdd(1, ordering: .relaxed) } }
    var value: Int { count.load(ordering: .relaxed) }
}

struct BrokerHarness {
    let engine: CacheEngine
    let broker: Broker
    let clock: TestClock

    /// `memoryMB` is the broker's share (--broker-memory); `engineMemoryMB` and `itemSizeMax`
    /// are the engine's -m and -I.
    init(dataDirectory: String? = nil, memoryMB: Int = 16, engineMemoryMB: Int = 64, itemSizeMax: Int = 1 << 20,
         configure: (inout BrokerSettings) -> Void = { _ in }) throws {
        var es = EngineSettings()
        es.hashPowerInit = 10
        es.memoryLimit = engineMemoryMB << 20
        es.itemSizeMax = itemSizeMax
        es.slabChunkMax = min(es.slabChunkMax, itemSizeMax)
        let clock = TestClock()
        self.clock = clock
        engine = try #require(CacheEngine(settings: es, clock: clock.clock))
        var bs = BrokerSettings()
        bs.dataDirectory = dataDirectory
        bs.memoryLimit = memoryMB << 20
        configure(&bs)
        broker = try Broker(engine: engine, settings: bs)
    }

    /// A body item holding `text`.
    func item(_ text: String, flags: UInt32 = 0) -> Item {
        let bytes = Array(text.utf8)
        let empty = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 8), count: 0)
        guard case .item(let it) = engine.allocate(key: empty, flags: flags, expiry: 0, valueLength: bytes.count) else {
            fatalError("test engine out of memory")
        }
        bytes.withUnsafeBytes { engine.writeValue(it, at: 0, $0) }
        return it
    }

    @discardableResult
    func put(_ queue: String, _ text: String, priority: UInt8 = 0, ttlMs: UInt64 = 0) -> EnqueueResult {
        let q = broker.queue(named: queue)!
        let it = item(text)
        let (r, _) = broker.enqueue(q, item: it, expiresMs: ttlMs == 0 ? 0 : clock.now + ttlMs, priority: priority)
        if r != .stored { engine.release(it) }
        return r
    }

    /// The body of a message (and drops the reader's reference).
    func text(_ m: Message) -> String {
        defer { engine.release(m.item) }
        // Every segment: a body past slab_chunk_max is a chunked item.
        var bytes: [UInt8] = []
        for i in 0..<engine.valueSegmentCount(m.item) { bytes += UnsafeRawBufferPointer(engine.valueSegment(m.item, i)) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A plain get: the body, or nil when empty.
    func take(_ queue: String, consumer: UInt64 = 1) -> String? {
        guard case .message(let m) = broker.take(broker.queue(named: queue)!, consumer: consumer, open: false, peek: false) else { return nil }
        return text(m)
    }

    /// A reliable read: the message (the caller must `text` it to drop its reference).
    func open(_ queue: String, consumer: UInt64 = 1) -> Message? {
        guard case .message(let m) = broker.take(broker.queue(named: queue)!, consumer: consumer, open: true, peek: false) else { return nil }
        return m
    }

    func drain(_ queue: String) -> [String] {
        var out: [String] = []
        while let s = take(queue) { out.append(s) }
        return out
    }

    func stat(_ name: String) -> String? {
        broker.statsLines().first { $0.0 == name }?.1
    }
}

// The log tests' shared steps.

enum LogTestError: Error { case badConfig }

extension BrokerHarness {
    /// A topic declared with `words` in `log`'s syntax (`partitions=2 cleanup=compact ...`), which
    /// must be accepted.
    func declareTopic(_ name: String, _ words: String = "") throws -> LogTopic {
        guard case .success(let c) = LogConfig.parse(words.split(separator: " ")) else { throw LogTestError.badConfig }
        #expect(broker.declareLog(name, c) == .ok)
        return try #require(broker.logTopic(named: name))
    }

    /// One record appended to `partition` (nil: the key's, or the connection's sticky one).
    @discardableResult
    func appendRecord(_ t: LogTopic, _ value: String, key: String? = nil, flags: UInt32 = 0,
                      partition: Int? = nil) -> Broker.LogAppendOutcome {
        let v = Array(value.utf8)
        let k = key.map { Array($0.utf8) } ?? []
        return k.withUnsafeBytes { kb in
            broker.appendLog(t, partition: partition, key: key == nil ? nil : kb, valueLength: v.count, flags: flags) { dst in
                v.withUnsafeBytes { if let b = $0.baseAddress { dst.copyMemory(from: b, byteCount: v.count) } }
            }.0
        }
    }
}

/// A group's committed offsets, by partition (empty for a group the topic does not know).
func committedOffsets(_ t: LogTopic, _ group: String) -> [UInt64] {
    t.groupFigures.first { $0.group == group }?.committed ?? []
}

extension CacheEngine {
    /// A body item for `enqueue` (the harness's `item`, as an optional for #require).
    func allocateForTest(_ h: BrokerHarness, _ text: String) -> Item? { h.item(text) }
}
