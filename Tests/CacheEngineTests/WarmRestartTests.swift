// Warm restart in process: an engine on a memory file saves, a second engine on the same file
// restores. Checks what comes back (values, flags, CAS, TTL, LRU segment, a chunked item), what
// does not (an allocated item never linked, as a broker message; an item whose TTL passed; an
// item whose bytes were damaged; a handle out of bounds; a sorted set, never saved) and that
// the allocator's free chunks are rebuilt.
@testable import CacheEngine
import Foundation
import Platform
import SlabAllocator
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("warm restart (engine)")
struct WarmRestartEngineTests {
    /// An engine on a fresh memory file in a new temporary directory.
    struct FileEngine {
        let engine: CacheEngine
        let clock: ProcessClock
        let fd: Int32
        let path: String
    }

    static func settings() -> EngineSettings {
        var s = EngineSettings()
        s.memoryLimit = 16 * 1024 * 1024
        s.hashPowerInit = 10
        return s
    }

    static func open(_ path: String, _ settings: EngineSettings = settings(), meta: WarmRestartMeta? = nil,
                     clock: ProcessClock? = nil) throws -> FileEngine {
        let fd = try MemoryFile.open(path).get()
        let prepared = try MemoryFile.prepare(fd, bytes: MemoryFile.bytes(for: settings), keep: meta != nil).get()
        #expect(prepared.kept == (meta != nil))
        let c = clock ?? meta.map { ProcessClock(processStarted: $0.processStarted, current: $0.resumeTime(unixNow: Int(time(nil)))) } ?? ProcessClock()
        let engine = try #require(CacheEngine(settings: settings, clock: c, memoryFile: fd))
        return FileEngine(engine: engine, clock: c, fd: fd, path: path)
    }

    static func tempPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warm-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("cache.mem").path
    }

    static func save(_ e: FileEngine) throws -> WarmRestartMeta {
        _ = try e.engine.saveWarmRestart(memoryFile: e.path, serverVersion: "test").get()
        close(e.fd)
        guard case .meta(let m) = WarmRestartMeta.load(memoryFile: e.path) else {
            Issue.record("meta not readable")
            throw IntegrationError()
        }
        #expect(!FileManager.default.fileExists(atPath: WarmRestartMeta.metaPath(memoryFile: e.path)), "load removes the meta")
        return m
    }

    struct IntegrationError: Error {}

    @Test("items, CAS, flags, TTL and a chunked item come back; an unlinked item's chunk is free")
    func roundTrip() throws {
        let path = try Self.tempPath()
        var casOf: [String: UInt64] = [:]
        let meta: WarmRestartMeta
        do {
            let a = try Self.open(path)
            for i in 0..<500 {
                let r = a.engine.put("k\(i)", Array("value-\(i)".utf8), flags: UInt32(i), exptime: i % 2 == 0 ? 0 : 1000)
                casOf["k\(i)"] = r.cas
            }
            let big = [UInt8](repeating: 0x5a, count: 700_000)
            casOf["big"] = a.engine.put("big", big, flags: 9).cas
            a.engine.put("short", Array("gone".utf8), exptime: 2)
            // A broker message: allocated, never linked, still referenced at the stop.
            let msg = Array("message".utf8).withUnsafeBytes { k in a.engine.allocate(key: k, flags: 0, expiry: 0, valueLength: 10) }
            guard case .item = msg else { Issue.record("allocate failed"); return }
            meta = try Self.save(a)
            #expect(meta.mismatch(with: Self.settings(), serverVersion: "test") == nil)
        }
        // Ten seconds of downtime: "short" (2 s TTL) expires, the 1000 s TTLs have 990 left.
        let resumed = ProcessClock(processStarted: meta.processStarted, current: meta.resumeTime(unixNow: meta.stopTime + 10))
        let b = try Self.open(path, meta: meta, clock: resumed)
        defer { close(b.fd) }
        let report = b.engine.restore(meta)
        #expect(report.refusal == nil)
        #expect(report.restored == 501)
        #expect(report.expired == 1)
        #expect(report.damaged == 0)
        for i in 0..<500 {
            let got = try #require(b.engine.fetch("k\(i)"))
            #expect(got.string == "value-\(i)")
            #expect(got.flags == UInt32(i))
            #expect(got.cas == casOf["k\(i)"])
        }
        let big = try #require(b.engine.fetch("big"))
        #expect(big.value.count == 700_000 && big.value.allSatisfy { $0 == 0x5a })
        #expect(big.cas == casOf["big"])
        #expect(b.engine.fetch("short") == nil)
        #expect(b.engine.fetch("message") == nil)
        // TTL kept counting across the downtime.
        let info = try #require(b.engine.withKey("k1") { k, hv in b.engine.inspectExpiry(k, hv) })
        #expect(info >= 989 && info <= 990)
        // Used chunks: the 500 small items, big's header and its two value chunks; the
        // message's and the expired item's chunks came back free.
        let used = (1...b.engine.slabs.table.largest).reduce(0) { $0 + b.engine.slabs.classStats($1).usedChunks }
        #expect(used == 503)
        // The free lists were rebuilt: new items fit, and a new CAS is above every restored one.
        let fresh = b.engine.put("fresh", Array("x".utf8))
        #expect(fresh.cas > casOf.values.max()!)
        #expect(b.engine.stats.items.number == 502)
    }

    @Test("a skip-list sorted set is not saved (only strings are): the string comes back, a new set over the freed chunks is exact")
    func sortedSetsNotSaved() throws {
        let path = try Self.tempPath()
        let meta: WarmRestartMeta
        do {
            let a = try Self.open(path)
            a.engine.put("s", Array("kept".utf8))
            a.engine.zadd("z", (0..<300).map { (Double($0 % 40), "m\($0)") })
            #expect(a.engine.zencoding("z") == .skiplist)
            let saved = try a.engine.saveWarmRestart(memoryFile: path, serverVersion: "test").get()
            #expect(saved.saved == 1 && saved.droppedNonStrings == 1)
            close(a.fd)
            guard case .meta(let m) = WarmRestartMeta.load(memoryFile: path) else {
                Issue.record("meta not readable")
                return
            }
            meta = m
        }
        let b = try Self.open(path, meta: meta)
        defer { close(b.fd) }
        let report = b.engine.restore(meta)
        #expect(report.refusal == nil && report.restored == 1 && report.damaged == 0)
        #expect(b.engine.fetch("s")?.string == "kept")
        #expect(b.engine.zencoding("z") == nil)
        // The set's chunks came back free and a new set over them links exactly.
        b.engine.zadd("z", (0..<300).map { (Double($0 % 40), "m\($0)") })
        b.engine.zadd("z", (0..<300).filter { $0 % 4 == 0 }.map { (Double($0 % 7) + 0.5, "m\($0)") })
        #expect(b.engine.zslProblems("z") == [])
        #expect(b.engine.zrankOf("z", "m0") == 0)
    }

    @Test("a damaged item is dropped, the others restored; a handle out of bounds never read")
    func damage() throws {
        let path = try Self.tempPath()
        var meta: WarmRestartMeta
        var damageAt = 0
        do {
            let a = try Self.open(path)
            for i in 0..<100 { a.engine.put("d\(i)", Array("payload-\(i)".utf8)) }
            let victim = try #require(a.engine.withKey("d7") { k, hv -> Item? in
                var o = GetOutcome.miss
                return a.engine.get(k, hash: hv, outcome: &o)
            })
            damageAt = victim.value - a.engine.arena.base
            a.engine.release(victim)
            meta = try Self.save(a)
        }
        // Damage one value byte in the file (the first engine, and its lock, are gone).
        let fd = Glibc.open(path, O_WRONLY)
        var bang: UInt8 = 0x21
        #expect(pwrite(fd, &bang, 1, off_t(damageAt)) == 1)
        close(fd)
        // Handles that point outside the pages, into the reserved prefix, and off a chunk start.
        meta.handles[0] = UInt32.max
        meta.handles[1] = 1
        meta.handles[2] = meta.handles[2] &+ 1
        let b = try Self.open(path, meta: meta)
        defer { close(b.fd) }
        let report = b.engine.restore(meta)
        #expect(report.damaged == 4)
        #expect(report.restored == 96)
        #expect(b.engine.fetch("d7") == nil)
        for i in 0..<100 {
            if let got = b.engine.fetch("d\(i)") { #expect(got.string == "payload-\(i)") }
        }
    }

    @Test("settings that change the layout refuse the restore; a damaged meta is refused")
    func refusals() throws {
        let path = try Self.tempPath()
        let a = try Self.open(path)
        a.engine.put("x", Array("y".utf8))
        let meta = try Self.save(a)
        var s = Self.settings()
        s.memoryLimit *= 2
        #expect(meta.mismatch(with: s, serverVersion: "test")?.contains("-m") == true)
        s = Self.settings()
        s.itemSizeMax = 2 << 20
        #expect(meta.mismatch(with: s, serverVersion: "test")?.contains("-I") == true)
        s = Self.settings()
        s.useCAS = false
        #expect(meta.mismatch(with: s, serverVersion: "test") != nil)
        #expect(meta.mismatch(with: Self.settings(), serverVersion: "other") != nil)
        var bytes = meta.encode()
        for cut in [0, 10, bytes.count / 2, bytes.count - 1] {
            let r = Array(bytes[0..<cut]).withUnsafeBytes { WarmRestartMeta.decode($0) }
            if case .success = r { Issue.record("a meta cut at \(cut) was accepted") }
        }
        bytes[bytes.count / 2] ^= 0x40
        if case .success = bytes.withUnsafeBytes({ WarmRestartMeta.decode($0) }) { Issue.record("a flipped bit was accepted") }
    }

    @Test("the allocator refuses a saved layout that does not fit its table and file")
    func layoutChecks() throws {
        let table = SlabClassTable(factor: 1.25, minimumSpace: 48, pageSize: 1 << 20, chunkMax: 512 << 10)
        let slabs = try #require(SlabAllocator(table: table, memoryLimit: 8 << 20))
        _ = slabs.allocate(classID: 3)
        let good = slabs.layout()
        #expect(slabs.check(good) == nil)
        var l = good
        l.nextPage = SlabArena.reservedPrefix + 3
        #expect(slabs.check(l) != nil)
        l = good
        l.pageOwners[0] = 0
        #expect(slabs.check(l) != nil)
        l = good
        l.pageOwners[0] = 200
        #expect(slabs.check(l) != nil)
        l = good
        l.carveNext[3] += 8
        #expect(slabs.check(l) != nil)
        l = good
        l.nextPage = Int(UInt32.max) * 8
        #expect(slabs.check(l) != nil)
    }
}

extension CacheEngine {
    /// The remaining TTL in seconds of a linked item, nil when absent or without a TTL.
    func inspectExpiry(_ key: UnsafeRawBufferPointer, _ hv: UInt32) -> UInt32? {
        var o = GetOutcome.miss
        guard let it = get(key, hash: hv, outcome: &o) else { return nil }
        defer { release(it) }
        return it.expiry == 0 ? nil : it.expiry - clock.current
    }
}
