// stats, stats settings, stats items, stats slabs, stats reset — memcached's names and order.
// Not a hot path: lines are composed as Strings.
import CacheEngine
import Platform

extension MemcacheConnection {
    func processStats(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        if tokens.count == 1 {
            writeStats(service.generalStats(), output)
            return .proceed
        }
        let sub = tokens[1]
        if TextParser.equals(input, sub, "settings") {
            writeStats(service.sources.settings(), output)
        } else if TextParser.equals(input, sub, "items") {
            writeStats(service.itemsStats(), output)
        } else if TextParser.equals(input, sub, "slabs") {
            writeStats(service.slabsStats(), output)
        } else if TextParser.equals(input, sub, "detail") {
            let prefixes = service.prefixStats
            if tokens.count == 3 && TextParser.equals(input, tokens[2], "on") {
                prefixes.enabled.store(true, ordering: .relaxed)
                output.append(Reply.ok)
            } else if tokens.count == 3 && TextParser.equals(input, tokens[2], "off") {
                prefixes.enabled.store(false, ordering: .relaxed)
                output.append(Reply.ok)
            } else if tokens.count == 3 && TextParser.equals(input, tokens[2], "dump") {
                output.append(prefixes.dump())
            } else {
                output.append("CLIENT_ERROR usage: stats detail on|off|dump\r\n")
            }
        } else if TextParser.equals(input, sub, "cachedump") {
            guard settings.dumpEnabled else {
                output.append("CLIENT_ERROR stats cachedump not allowed\r\n")
                return .proceed
            }
            guard tokens.count == 4, let cls = TextParser.parseUnsigned(input, tokens[2]),
                  let limit = TextParser.parseUnsigned(input, tokens[3], max: UInt64(Int32.max)) else {
                output.append("CLIENT_ERROR bad command line\r\n")
                return .proceed
            }
            guard cls >= 1, cls <= UInt64(engine.largestSlabClass) else {
                output.append("CLIENT_ERROR Illegal slab id\r\n")
                return .proceed
            }
            // memcached 1.6 dumps the class's COLD list, most recent first, at most 2 MB.
            var text = ""
            let processStarted = engine.clock.processStarted
            engine.dumpCold(classID: Int(cls), limit: Int(limit), maxBytes: 2 * 1024 * 1024) { key, valueLength, expiry in
                let exp = expiry == 0 ? 0 : Int(expiry) + processStarted
                text += "ITEM \(String(decoding: key, as: UTF8.self)) [\(valueLength) b; \(exp) s]\r\n"
                return text.utf8.count
            }
            output.append(text + "END\r\n")
        } else if TextParser.equals(input, sub, "conns") {
            writeStats(service.sources.connections(), output)
        } else if TextParser.equals(input, sub, "sizes") {
            // memcached 1.6 tracks item sizes only with -o track_sizes, which is not implemented.
            writeStats([("sizes_status", "disabled")], output)
        } else if TextParser.equals(input, sub, "reset") {
            service.resetStats()
            output.append("RESET\r\n")
        } else {
            output.append(Reply.error)
        }
        return .proceed
    }

    private func writeStats(_ lines: [(String, String)], _ output: OutputBuffer) {
        var text = ""
        for (k, v) in lines { text += "STAT \(k) \(v)\r\n" }
        text += "END\r\n"
        output.append(text)
    }
}

extension MemcacheService {
    func generalStats() -> [(String, String)] {
        var lines = sources.general()
        let e = engine.stats
        let counters: [CommandCounter] = [.cmdGet, .cmdSet, .cmdFlush, .cmdTouch, .getHits, .getMisses,
                                          .getExpired, .getFlushed, .deleteMisses, .deleteHits, .incrMisses,
                                          .incrHits, .decrMisses, .decrHits, .casMisses, .casHits, .casBadval,
                                          .touchHits, .touchMisses]
        for c in counters { lines.append((c.statName, String(total(c)))) }
        lines.append(("auth_cmds", String(total(.authCmds))))
        lines.append(("auth_errors", String(total(.authErrors))))
        lines.append(("limit_maxbytes", String(engine.memoryLimit)))
        lines.append(("threads", String(workerStats.count - 1)))
        lines.append(("hash_power_level", String(e.hashPower)))
        lines.append(("hash_bytes", String(e.hashBytes)))
        lines.append(("hash_is_expanding", e.hashIsExpanding ? "1" : "0"))
        let r = engine.pageMoveStats
        lines.append(("slab_reassign_rescues", String(r.rescues)))
        lines.append(("slab_reassign_chunk_rescues", "0"))
        lines.append(("slab_reassign_evictions_nomem", String(r.evictionsNoMemory)))
        lines.append(("slab_reassign_inline_reclaim", "0"))
        lines.append(("slab_reassign_busy_items", String(r.busyItems)))
        lines.append(("slab_reassign_busy_deletes", "0"))
        lines.append(("slab_reassign_running", r.running ? "1" : "0"))
        lines.append(("slabs_moved", String(r.moved)))
        lines.append(("slab_global_page_pool", "0"))
        lines.append(("expired_unfetched", String(e.items.expiredUnfetched)))
        lines.append(("evicted_unfetched", String(e.items.evictedUnfetched)))
        lines.append(("evicted_active", String(e.items.evictedActive)))
        lines.append(("evictions", String(e.items.evicted)))
        lines.append(("reclaimed", String(e.items.reclaimed)))
        lines.append(("crawler_reclaimed", String(e.items.crawlerReclaimed)))
        lines.append(("crawler_items_checked", String(e.items.crawlerItemsChecked)))
        lines.append(("lrutail_reflocked", String(e.items.lrutailReflocked)))
        lines.append(("moves_to_cold", String(e.items.movesToCold)))
        lines.append(("moves_to_warm", String(e.items.movesToWarm)))
        lines.append(("moves_within_lru", String(e.items.movesWithinLRU)))
        lines.append(("curr_items", String(e.items.number)))
        lines.append(("total_items", String(e.items.totalItems)))
        lines.append(("bytes", String(e.items.bytes)))
        lines.append(("store_too_large", String(total(.storeTooLarge))))
        lines.append(("store_no_memory", String(total(.storeNoMemory))))
        lines.append(("total_malloced", String(e.totalMalloced)))
        return lines
    }

    func itemsStats() -> [(String, String)] {
        var lines: [(String, String)] = []
        let now = engine.clock.current
        for cls in 1...engine.largestSlabClass {
            let s = engine.itemStats(classID: cls)
            if s.number == 0 && s.evicted == 0 && s.totalItems == 0 { continue }
            let seg = engine.segmentCounts(classID: cls)
            let ages = engine.tailTimes(classID: cls).map { $0 == 0 ? 0 : Int(now &- $0) }
            let p = "items:\(cls):"
            lines += [
                (p + "number", String(s.number)),
                (p + "number_hot", String(seg[0])),
                (p + "number_warm", String(seg[1])),
                (p + "number_cold", String(seg[2])),
                (p + "age_hot", String(ages[0])),
                (p + "age_warm", String(ages[1])),
                (p + "age", String(ages[2])),
                (p + "mem_requested", String(s.bytes)),
                (p + "evicted", String(s.evicted)),
                (p + "evicted_nonzero", String(s.evictedNonzero)),
                (p + "evicted_time", String(s.evictedTime)),
                (p + "outofmemory", String(s.outOfMemory)),
                (p + "tailrepairs", String(s.tailRepairs)),
                (p + "reclaimed", String(s.reclaimed)),
                (p + "expired_unfetched", String(s.expiredUnfetched)),
                (p + "evicted_unfetched", String(s.evictedUnfetched)),
                (p + "evicted_active", String(s.evictedActive)),
                (p + "crawler_reclaimed", String(s.crawlerReclaimed)),
                (p + "crawler_items_checked", String(s.crawlerItemsChecked)),
                (p + "lrutail_reflocked", String(s.lrutailReflocked)),
                (p + "moves_to_cold", String(s.movesToCold)),
                (p + "moves_to_warm", String(s.movesToWarm)),
                (p + "moves_within_lru", String(s.movesWithinLRU)),
            ]
        }
        return lines
    }

    func slabsStats() -> [(String, String)] {
        var lines: [(String, String)] = []
        var active = 0
        for cls in 1...engine.largestSlabClass {
            let s = engine.slabClassStats(cls)
            if s.totalPages == 0 { continue }
            active += 1
            let p = "\(cls):"
            lines += [
                (p + "chunk_size", String(s.chunkSize)),
                (p + "chunks_per_page", String(s.chunksPerPage)),
                (p + "total_pages", String(s.totalPages)),
                (p + "total_chunks", String(s.totalChunks)),
                (p + "used_chunks", String(s.usedChunks)),
                (p + "free_chunks", String(s.freeChunks)),
                (p + "free_chunks_end", String(s.freeChunksEnd)),
            ]
        }
        lines.append(("active_slabs", String(active)))
        lines.append(("total_malloced", String(engine.totalMalloced)))
        return lines
    }

    func resetStats() {
        for w in workerStats {
            for c in CommandCounter.allCases { w.reset(c.rawValue) }
        }
        sources.resetServer()
    }
}
