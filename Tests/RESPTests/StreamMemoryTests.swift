// XADD on an engine with no memory left for a stream's log chunk (its slab items, SegmentMemory.swift):
// redis's -OOM, and every entry kept. A stream never drops its oldest entries for room, unlike a
// memory-only broker topic, which drops its partition's oldest segments (LogPartition.appendFramed).
// And an entry over 1 MB, refused for its size alone and counted (resp_stream_entries_too_large).
import Broker
import CacheEngine
import Platform
@testable import RESP
import TestSupport
import Testing
import Synchronization

@Suite("RESP stream memory")
struct StreamMemoryTests {
    /// A RESP client on an engine of `engineMB` whose streams have a share of `streamsMB`.
    func client(engineMB: Int, streamsMB: Int) throws -> (TransactionTests.Client, StreamStore) {
        var s = EngineSettings()
        s.hashPowerInit = 12
        s.memoryLimit = engineMB << 20
        let engine = try #require(CacheEngine(settings: s, clock: ProcessClock(unixNow: 1_700_000_000)))
        let streams = StreamStore(memoryLimit: streamsMB << 20, engine: engine, clockMs: { 1 })
        return (try TransactionTests.Client(engine: engine, streams: streams), streams)
    }
    @Test("XADD on a 2 MB engine under a 64 MB streams' share: -OOM once no log chunk is left, every entry kept")
    func xaddWithoutAChunk() throws {
        let (c, streams) = try client(engineMB: 2, streamsMB: 64)
        let v = String(repeating: "v", count: 1000)
        var added = 0
        var reply = ""
        for i in 1...10_000 {
            let id = "\(i)-0"
            reply = c.send(["XADD", "s", id, "f", v])
            guard reply == "$\(id.utf8.count)\r\n\(id)\r\n" else { break }
            added += 1
        }
        #expect(reply == "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
        #expect(added > 100)
        // The engine's refusal, not the share's: counted as a chunk refusal, nothing dropped.
        #expect(streams.memory.chunks.refusals.load(ordering: .relaxed) == 1)
        #expect(streams.memory.segmentsDropped.load(ordering: .relaxed) == 0)
        #expect(c.send(["XLEN", "s"]) == ":\(added)\r\n")
        #expect(c.send(["XRANGE", "s", "-", "+", "COUNT", "1"]) == "*1\r\n" + StreamReplyTests.entry("1-0", ["f", v]))
    }

    @Test("XADD on an 8 MB engine full of strings: pages of the strings' class go to the chunks' at once, no -OOM, -m kept")
    func xaddAfterStringsFilledTheEngine() throws {
        let (c, streams) = try client(engineMB: 8, streamsMB: 64)
        let e = c.engine
        // 100-byte strings, 100 a request, well past the 8 MB (about 55,000 fit).
        let v = String(repeating: "s", count: 100)
        for batch in 0..<1200 {
            var words = ["MSET"]
            for i in 0..<100 { words += ["k\(batch * 100 + i)", v] }
            #expect(c.send(words) == "+OK\r\n")
        }
        #expect(e.itemStats().evicted > 0, "the strings filled the engine")
        let malloced = e.totalMalloced
        // 3,000 entries of 1,000 bytes: about 3 MB of chunks, three pages of them and more.
        let value = String(repeating: "x", count: 1000)
        var added = 0
        for i in 1...3000 {
            let id = "\(i)-0"
            guard c.send(["XADD", "s", id, "f", value]) == "$\(id.utf8.count)\r\n\(id)\r\n" else { break }
            added += 1
        }
        #expect(added == 3000, "XADD refused after \(added) entries")
        #expect(streams.memory.chunks.refusals.load(ordering: .relaxed) == 0)
        #expect(e.forcedPageMoves >= 2)
        #expect(c.info("stats").contains("slab_reassign_forced:\(e.forcedPageMoves)\r\n"))
        // Pages changed class; none was taken but the first of the stream root's class and of the
        // chunks' (which any class may take past -m).
        #expect(e.totalMalloced <= max(malloced, e.memoryLimit) + (2 << 20))
        #expect(c.send(["XLEN", "s"]) == ":3000\r\n")
        #expect(c.send(["XRANGE", "s", "-", "+", "COUNT", "1"]) == "*1\r\n" + StreamReplyTests.entry("1-0", ["f", value]))
        // Strings still there (the moves evicted some, not all).
        #expect(e.itemStats().number > 10_000)
    }

    /// A connection handed to a thread.
    final class Connection: @unchecked Sendable {
        let client: TransactionTests.Client
        init(_ client: TransactionTests.Client) { self.client = client }
    }

    @Test("XADDs on two threads and SETs on a third, stream roots in the strings' class: forced moves evict roots under other streams' appends without a deadlock",
          .timeLimit(.minutes(2)))
    func forcedMovesUnderConcurrentAppends() throws {
        let (first, streams) = try client(engineMB: 8, streamsMB: 64)
        let e = first.engine
        let connections = [Connection(first)] + (0..<2).map { _ in Connection(try! TransactionTests.Client(engine: e, streams: streams)) }
        let unexpected = Atomic<Int>(0)
        let xaddsDone = Atomic<Int>(0)
        // Strings of 8 bytes under short keys: the class of the streams' roots (8-byte tokens),
        // until the engine evicts, and on while the XADDs run.
        var n = 0
        while e.itemStats().evicted == 0 {
            var words = ["MSET"]
            for i in 0..<100 { words += ["k\(n + i)", "12345678"] }
            n += 100
            _ = first.send(words)
        }
        let start = n
        let setter = BackgroundThread(name: "setter") {
            let c = connections[0].client
            var n = start
            while xaddsDone.load(ordering: .relaxed) < 2 {
                var words = ["MSET"]
                for i in 0..<100 { words += ["k\(n + i)", "12345678"] }
                n += 100
                if c.send(words) != "+OK\r\n" { unexpected.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        let writers = (1...2).map { t in
            BackgroundThread(name: "xadd\(t)") {
                let c = connections[t].client
                let value = String(repeating: "v", count: 500)
                for j in 0..<3000 {
                    let key = "s\(t)-\(j % 40)"
                    let reply = c.send(["XADD", key, "*", "f", value])
                    if !reply.hasPrefix("$") && !reply.hasPrefix("-OOM") { unexpected.wrappingAdd(1, ordering: .relaxed) }
                    // A stream's end now and then (its root's release, its chunks back).
                    if j % 200 == 199 { _ = c.send(["DEL", "s\(t)-\(j % 40)"]) }
                }
                xaddsDone.wrappingAdd(1, ordering: .relaxed)
            }
        }
        for w in writers { w.join() }
        setter.join()
        #expect(unexpected.load(ordering: .relaxed) == 0)
        #expect(e.forcedPageMoves > 0)
        #expect(e.pageMoveStats.evictionsNoMemory > 0, "the moves evicted strings and roots")
    }

    @Test("with -o no_slab_reassign the same XADD is refused as before (-OOM), counted")
    func xaddWithoutSlabReassign() throws {
        var s = EngineSettings()
        s.hashPowerInit = 12
        s.memoryLimit = 8 << 20
        s.slabReassign = false
        let engine = try #require(CacheEngine(settings: s, clock: ProcessClock(unixNow: 1_700_000_000)))
        let streams = StreamStore(memoryLimit: 64 << 20, engine: engine, clockMs: { 1 })
        let c = try TransactionTests.Client(engine: engine, streams: streams)
        let v = String(repeating: "s", count: 100)
        for batch in 0..<1200 {
            var words = ["MSET"]
            for i in 0..<100 { words += ["k\(batch * 100 + i)", v] }
            _ = c.send(words)
        }
        let value = String(repeating: "x", count: 1000)
        var reply = ""
        for i in 1...3000 {
            reply = c.send(["XADD", "s", "\(i)-0", "f", value])
            if reply.hasPrefix("-") { break }
        }
        #expect(reply == "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
        #expect(streams.memory.chunks.refusals.load(ordering: .relaxed) == 1)
        #expect(engine.forcedPageMoves == 0)
    }

    @Test("an entry over 1 MB is refused for its size alone, counted, and the stream goes on")
    func entryTooLarge() throws {
        let (c, streams) = try client(engineMB: 64, streamsMB: 32)
        #expect(c.send(["XADD", "s", "1-0", "f", String(repeating: "v", count: 1_000_000)]) == "$3\r\n1-0\r\n")
        #expect(c.send(["XADD", "s", "2-0", "f", String(repeating: "v", count: 1_100_000)]) == "-ERR Elements are too large to be stored\r\n")
        #expect(streams.entriesTooLarge.load(ordering: .relaxed) == 1)
        #expect(streams.appendsRefused.load(ordering: .relaxed) == 0)
        #expect(c.send(["XADD", "s", "2-0", "f", "v"]) == "$3\r\n2-0\r\n")
        #expect(c.send(["XLEN", "s"]) == ":2\r\n")
    }
}
