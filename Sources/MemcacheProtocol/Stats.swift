// stats, stats settings, stats items, stats slabs, stats reset: the subcommands, rendered from the
// tables declared in CommandStats.swift. Not a hot path: lines are composed as Strings.
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
            // memcached refuses only ids past its last possible class (63); a class that does not
            // exist (0, or past this table's last) dumps nothing.
            guard cls <= 63 else {
                output.append("CLIENT_ERROR Illegal slab id\r\n")
                return .proceed
            }
            guard cls >= 1, cls <= UInt64(engine.largestSlabClass) else {
                output.append("END\r\n")
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
            writeStats(service.sources.connections().statsLines, output)
        } else if TextParser.equals(input, sub, "sizes") {
            writeStats(service.sizesStats(), output)
        } else if TextParser.equals(input, sub, "sizes_enable") || TextParser.equals(input, sub, "sizes_disable") {
            let (name, value) = service.setSizesTracking(TextParser.equals(input, sub, "sizes_enable"))
            output.append("STAT \(name) \(value)\r\n")  // memcached sends no END here
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
    /// `stats`: the process and server lines, then the protocol's (CommandStats.swift).
    func generalStats() -> [(String, String)] {
        let source = GeneralStatsSource(service: self, engine: engine.stats, pageMoves: engine.pageMoveStats)
        if let all = sources.memcachedStats { return all(source) }
        return sources.general() + Self.generalStatTable.lines(source)
    }

    func itemsStats() -> [(String, String)] {
        var lines: [(String, String)] = []
        let now = engine.clock.current
        for cls in 1...engine.largestSlabClass {
            let s = engine.itemStats(classID: cls)
            // memcached lists a class only while it holds items (so not once flush_all's items
            // are gone), whatever its counters say.
            if s.number == 0 { continue }
            let ages = engine.tailTimes(classID: cls).map { $0 == 0 ? 0 : Int(now &- $0) }
            let c = engine.classCommands
            let hits = [c.value(.hitsToHot, cls), c.value(.hitsToWarm, cls), c.value(.hitsToCold, cls), c.value(.hitsToTemp, cls)]
            let figures = ItemClassStats(items: s, segments: engine.segmentCounts(classID: cls), ages: ages, hits: hits,
                                         segmented: engine.tuning.isSegmented, tempLRU: engine.tuning.isTempLRU)
            lines += Self.itemsStatTable.lines(figures, prefix: "items:\(cls):")
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
            lines += Self.slabClassStatTable.lines(SlabClassFigures(slab: s, classID: cls, commands: engine.classCommands), prefix: "\(cls):")
        }
        return lines + Self.slabTotalsStatTable.lines(SlabTotals(activeSlabs: active, totalMalloced: engine.totalMalloced))
    }

    /// `stats sizes`: items per 32-byte size step (-o track_sizes or `stats sizes_enable`), or
    /// memcached's one line while tracking is off.
    func sizesStats() -> [(String, String)] {
        engine.sizes.isEnabled ? engine.sizes.lines() : [("sizes_status", "disabled")]
    }

    /// `stats sizes_enable|sizes_disable`: switches tracking and returns memcached's one line.
    func setSizesTracking(_ on: Bool) -> (String, String) {
        engine.sizes.setEnabled(on)
        return ("sizes_status", on ? "enabled" : "disabled")
    }

    /// `stats reset`: what memcached's stats reset zeroes (command counters, the engine's
    /// per-list and per-class counters, the server's totals, the watch counts, `stats detail`'s
    /// prefixes).
    func resetStats() {
        for w in workerStats { w.resetAll() }
        prefixStats.clear()
        engine.resetStats()
        watch.resetCounts()
        sources.resetServer()
    }
}
