// MEMORY DOCTOR, MALLOC-STATS, PURGE and STATS, as redis 7.0 answers them, from this engine's
// figures: memory is the slab pages the engine has taken (INFO's used_memory), never given back,
// so the peak is the total; there is no startup allocation, replication backlog, AOF buffer or
// script cache, and client buffers are not engine memory (0, as a redis with none of them).
// The allocator is the slabs, not jemalloc: MALLOC-STATS answers as redis built without jemalloc,
// PURGE says OK as redis's (the slab pages are the cache's memory, kept until the limit; there is
// no allocator cache to purge).
import CacheEngine
import Platform

extension RESPConnection {
    /// The MEMORY subcommands other than USAGE and HELP; nil when argument 1 is none of them.
    func memoryReport(_ out: OutputBuffer) -> HandlerAction? {
        if argument(1, is: "doctor") {
            // redis's getMemoryDoctorReport: under 5 MB it says it cannot judge; its checks
            // (peak, fragmentation, big client buffers, replication) find nothing to say here.
            let text: StaticString = engine.totalMalloced < 5 * 1024 * 1024
                ? "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
                : "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            out.appendRESPVerbatim(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), version)
        } else if argument(1, is: "malloc-stats") {
            let text: StaticString = "Stats not supported for the current allocator"
            out.appendRESPVerbatim(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), version)
        } else if argument(1, is: "purge") {
            out.appendRESPOK()
        } else if argument(1, is: "stats") {
            memoryStats(out)
        } else {
            return nil
        }
        return .proceed
    }

    /// MEMORY STATS: redis 7.0's fields in its order (a map in RESP3, a flat array in RESP2).
    private func memoryStats(_ out: OutputBuffer) {
        let total = engine.totalMalloced
        let resident = service.host().residentBytes
        let databases = (0..<16).compactMap { db -> (Int, Int)? in
            let n = engine.keyCount(database: db)
            return n > 0 ? (db, n) : nil
        }
        let keys = databases.reduce(0) { $0 + $1.1 }
        // No per-key overhead outside the items: the hash table's buckets are counted with the
        // items' pages (each item header carries its chain link).
        let overhead = 0
        let dataset = total - overhead
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
        out.appendRESPMapHeader(27 + databases.count, version)
        func integer(_ name: StaticString, _ v: Int) { out.appendRESPBulk(name); out.appendRESPInteger(Int64(v)) }
        func double(_ name: StaticString, _ v: Double) { out.appendRESPBulk(name); out.appendRESPDouble(v, version) }
        integer("peak.allocated", total)
        integer("total.allocated", total)
        integer("startup.allocated", 0)
        integer("replication.backlog", 0)
        integer("clients.slaves", 0)
        integer("clients.normal", 0)
        integer("cluster.links", 0)
        integer("aof.buffer", 0)
        integer("lua.caches", 0)
        integer("functions.caches", 0)
        for (db, _) in databases {
            let name = "db.\(db)"
            name.utf8CString.withUnsafeBytes { out.appendRESPBulk(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
            out.appendRESPMapHeader(3, version)
            integer("overhead.hashtable.main", 0)
            integer("overhead.hashtable.expires", 0)
            integer("overhead.hashtable.slot-to-keys", 0)
        }
        integer("overhead.total", overhead)
        integer("keys.count", keys)
        integer("keys.bytes-per-key", keys == 0 ? 0 : total / keys)
        integer("dataset.bytes", dataset)
        double("dataset.percentage", ratio(dataset, total) * 100)
        double("peak.percentage", 100)
        integer("allocator.allocated", total)
        integer("allocator.active", total)
        integer("allocator.resident", resident)
        double("allocator-fragmentation.ratio", total == 0 ? 0 : 1)
        integer("allocator-fragmentation.bytes", 0)
        double("allocator-rss.ratio", ratio(resident, total))
        integer("allocator-rss.bytes", resident - total)
        double("rss-overhead.ratio", 1)
        integer("rss-overhead.bytes", 0)
        double("fragmentation", ratio(resident, total))
        integer("fragmentation.bytes", resident - total)
    }
}
