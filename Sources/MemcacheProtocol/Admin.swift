// delete and touch, and the admin commands' handlers: flush_all, version, verbosity,
// cache_memlimit, shutdown, lru_crawler, lru, slabs (the admin commands are declared, with their
// arity, in MemcacheConnection+Commands.swift).
import CacheEngine
import Platform

extension MemcacheConnection {
    func processDelete(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer) -> HandlerAction {
        guard !more, tokens.count >= 2, tokens.count <= 4 else {
            output.append(Reply.error)
            return .proceed
        }
        if tokens.count > 2 {
            // memcached accepts a legacy hold time of 0 and/or noreply, nothing else.
            let holdIsZero = TextParser.equals(input, tokens[2], "0")
            setNoreplyMaybe(input, tokens)
            let valid = (tokens.count == 3 && (holdIsZero || noreply)) || (tokens.count == 4 && holdIsZero && noreply)
            if !valid {
                reply(Reply.deleteUsage, output)
                return .proceed
            }
        }
        let keyToken = tokens[1]
        guard validKey(input, keyToken) else {
            reply(Reply.badFormat, output)
            return .proceed
        }
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        if service.prefixStats.isEnabled { service.prefixStats.record(key, .delete) }
        var outcome = GetOutcome.miss
        let deleted = engine.delete(key, hash: CacheEngine.hash(key), outcome: &outcome)
        stats.addDeadLookup(outcome)
        if deleted {
            stats.add(.deleteHits)
            reply(Reply.deleted, output)
        } else {
            stats.add(.deleteMisses)
            reply(Reply.notFound, output)
        }
        return .proceed
    }

    func processTouch(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ more: Bool, _ output: OutputBuffer) -> HandlerAction {
        guard !more, tokens.count == 3 || tokens.count == 4 else {
            output.append(Reply.error)
            return .proceed
        }
        setNoreplyMaybe(input, tokens)
        let keyToken = tokens[1]
        guard validKey(input, keyToken) else {
            reply(Reply.badFormat, output)
            return .proceed
        }
        guard let exptime = TextParser.memcachedInt32(input, tokens[2]) else {
            reply(Reply.invalidExptime, output)
            return .proceed
        }
        let key = UnsafeRawBufferPointer(rebasing: input[keyToken.start..<keyToken.start + keyToken.count])
        stats.add(.cmdTouch)
        var outcome = GetOutcome.miss
        if let item = engine.touch(key, hash: CacheEngine.hash(key), expiry: engine.clock.expiry(fromClient: Int64(exptime)), outcome: &outcome) {
            engine.release(item)
            stats.add(.touchHits)
            reply(Reply.touched, output)
        } else {
            // memcached's lookup (do_item_get) counts what it found dead, for touch too.
            switch outcome {
            case .expired: stats.add(.getExpired)
            case .flushed: stats.add(.getFlushed)
            default: break
            }
            stats.add(.touchMisses)
            reply(Reply.notFound, output)
        }
        return .proceed
    }

    /// `flush_all [delay] [noreply]`.
    func processFlushAll(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        let input = line.input, tokens = line.tokens
        setNoreplyMaybe(input, tokens)
        guard settings.flushEnabled else {
            reply(Reply.flushDisabled, output)
            return .proceed
        }
        var delay: Int64 = 0
        // As memcached: anything but a bare `flush_all [noreply]` reads its second token as
        // the delay.
        if tokens.count != (noreply ? 2 : 1) {
            guard let d = TextParser.memcachedInt32(input, tokens[1]) else {
                reply(Reply.invalidExptime, output)
                return .proceed
            }
            delay = Int64(d)
        }
        stats.add(.cmdFlush)
        engine.flushAll(delay: delay)
        reply(Reply.ok, output)
        return .proceed
    }

    func processVersion(_ output: OutputBuffer) -> HandlerAction {
        output.append("VERSION \(settings.version)\r\n")
        return .proceed
    }

    /// `verbosity <level> [noreply]`.
    func processVerbosity(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        setNoreplyMaybe(line.input, line.tokens)
        // memcached's safe_strtoul into an unsigned int: 2^40 is level 0, accepted.
        guard let level = TextParser.memcachedUInt32(line.input, line.tokens[1]) else {
            reply(Reply.badFormat, output)
            return .proceed
        }
        service.verbosity.reset(0)
        service.verbosity.add(0, UInt64(level))
        reply(Reply.ok, output)
        return .proceed
    }

    /// `cache_memlimit <MB> [noreply]`, memcached's process_memlimit_command: the megabytes are
    /// a uint32_t (safe_strtoul keeps the low 32 bits), under 8 is too small, over 10^9 must be a
    /// byte count by mistake. Any other limit is accepted as memcached accepts it; pages past the
    /// address space reserved at start are refused as memcached's failed mallocs are
    /// (`malloc_fails`), and the cache evicts instead.
    func processCacheMemlimit(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        setNoreplyMaybe(line.input, line.tokens)
        guard let mb = TextParser.memcachedUInt32(line.input, line.tokens[1]) else {
            reply(Reply.error, output)  // memcached 1.6.18's answer to a non-number
            return .proceed
        }
        if mb < 8 {
            reply("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", output)
        } else if mb > 1_000_000_000 {
            reply("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n", output)
        } else {
            engine.setMemoryLimit(Int(mb) * 1024 * 1024)
            reply(Reply.ok, output)
        }
        return .proceed
    }

    /// `shutdown [graceful]`, with -A only.
    func processShutdown(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        guard settings.allowShutdown else {
            output.append(Reply.shutdownDisabled)
            return .proceed
        }
        // `shutdown graceful` stops the same way: workers finish the batch in hand and close.
        if line.tokens.count == 2 && !TextParser.equals(line.input, line.tokens[1], "graceful") {
            output.append("CLIENT_ERROR invalid shutdown mode\r\n")
            return .proceed
        }
        service.onShutdown()
        return .closeNow
    }

    /// `refresh_certs [noreply]`, memcached's: the TLS certificate chain, key and CAs are loaded
    /// again for new connections. `OK` (which noreply silences), or why not (without -Z: `Error
    /// TLS not enabled`), sent whatever noreply says, as memcached sends it.
    func processRefreshCerts(_ line: TextLine, _ output: OutputBuffer) -> HandlerAction {
        setNoreplyMaybe(line.input, line.tokens)
        if let failure = service.refreshCertificates() {
            output.append(failure + "\r\n")
        } else {
            reply(Reply.ok, output)
        }
        return .proceed
    }

    /// `lru_crawler crawl <classes>|all`, `metadump <classes>|all`, `enable`, `disable`,
    /// `sleep <us>`, `tocrawl <n>`.
    func processLRUCrawler(_ input: UnsafeRawBufferPointer, _ tokens: Tokens, _ output: OutputBuffer) -> HandlerAction {
        let sub = tokens[1]
        let crawler = engine.crawler
        if TextParser.equals(input, sub, "metadump") && tokens.count == 3 {
            guard settings.dumpEnabled else {
                output.append("ERROR metadump not allowed\r\n")
                return .proceed
            }
            guard crawler.isEnabled else {
                output.append("CLIENT_ERROR lru crawler disabled\r\n")
                return .proceed
            }
            guard let classes = classList(input, tokens[2]) else {
                output.append("BADCLASS invalid class id\r\n")
                return .proceed
            }
            // One metadump at a time, server-wide, as memcached's crawler takes one request.
            // memcached walks `hash` in the hash table: a crawler start, no list items checked.
            let hashOrder = TextParser.equals(input, tokens[2], "hash")
            guard let walk = engine.beginMetadump(classes: classes, countChecked: !hashOrder) else {
                stats.add(.metadumpBusy)
                output.append("BUSY currently processing crawler request\r\n")
                return .proceed
            }
            metadumpWalk = walk
            return continueMetadump(output)
        }
        if TextParser.equals(input, sub, "crawl") && tokens.count == 3 {
            guard crawler.isEnabled else {
                output.append("CLIENT_ERROR lru crawler disabled\r\n")
                return .proceed
            }
            let list = tokens[2]
            if !TextParser.equals(input, list, "all") {
                // Comma-separated class ids, each one that exists.
                var i = list.start
                let end = list.start + list.count
                while i < end {
                    var j = i
                    while j < end && input[j] != UInt8(ascii: ",") { j += 1 }
                    guard let id = TextParser.parseUnsigned(input, Token(start: i, count: j - i)),
                          id >= 1, id <= UInt64(engine.largestSlabClass) else {
                        output.append("BADCLASS invalid class id\r\n")
                        return .proceed
                    }
                    i = j + 1
                }
            }
            crawler.requestCrawl()
            output.append(Reply.ok)
        } else if TextParser.equals(input, sub, "enable") && tokens.count == 2 {
            output.append(crawler.setEnabled(true) ? Reply.ok : "ERROR failed to start lru crawler thread\r\n")
        } else if TextParser.equals(input, sub, "disable") && tokens.count == 2 {
            output.append(crawler.setEnabled(false) ? Reply.ok : "ERROR failed to stop lru crawler thread\r\n")
        } else if TextParser.equals(input, sub, "sleep") && tokens.count == 3 {
            guard let us = TextParser.memcachedUInt32(input, tokens[2]) else {
                output.append(Reply.badFormat)
                return .proceed
            }
            guard us <= 1_000_000 else {
                output.append("CLIENT_ERROR sleep must be one second or less\r\n")
                return .proceed
            }
            crawler.setSleep(microseconds: Int(us))
            output.append(Reply.ok)
        } else if TextParser.equals(input, sub, "tocrawl") && tokens.count == 3 {
            // Items checked per list and pass at most (0 = all), as -o lru_crawler_tocrawl; read
            // as memcached's safe_strtoul into 32 bits.
            guard let n = TextParser.memcachedUInt32(input, tokens[2]) else {
                output.append(Reply.badFormat)
                return .proceed
            }
            crawler.setToCrawl(Int(n))
            output.append(Reply.ok)
        } else {
            output.append(Reply.error)
        }
        return .proceed
    }

    /// memcached's process_lru_command: `lru tune <hot pct> <warm pct> <hot factor> <warm factor>`,
    /// `lru mode flat|segmented`, `lru temp_ttl <seconds>` (negative: TEMP LRU off). mode and
    /// temp_ttl need the maintainer thread, as in memcached.
    func processLRU(_ input: UnsafeRawBufferPointer, _ tokens: Tokens) -> String {
        let sub = tokens[1]
        let tuning = engine.tuning
        func text(_ t: Token) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: input[t.start..<t.start + t.count]), as: UTF8.self)
        }
        if TextParser.equals(input, sub, "tune") && tokens.count >= 6 {
            guard let hot = TextParser.memcachedUInt32(input, tokens[2]).map(UInt64.init),
                  let warm = TextParser.memcachedUInt32(input, tokens[3]).map(UInt64.init),
                  let hotFactor = Double(text(tokens[4])), let warmFactor = Double(text(tokens[5])) else {
                return "ERROR\r\n"
            }
            if hot + warm > 80 { return "ERROR hot and warm pcts must not exceed 80\r\n" }
            // memcached's line for a factor at or below 0 (NaN and infinities too); a factor past
            // LRUTuning.maxAgeFactor (ages are 32-bit seconds) cannot be represented.
            if !(warmFactor > 0 && hotFactor > 0) || !warmFactor.isFinite || !hotFactor.isFinite {
                return "ERROR hot/warm age factors must be greater than 0\r\n"
            }
            if !LRUTuning.isValidAgeFactor(warmFactor) || !LRUTuning.isValidAgeFactor(hotFactor) {
                return "ERROR hot/warm age factors must be greater than 0 and at most 4294967295\r\n"
            }
            tuning.tune(hotPercent: Int(hot), warmPercent: Int(warm), hotMaxFactor: hotFactor, warmMaxFactor: warmFactor)
            return "OK\r\n"
        }
        if TextParser.equals(input, sub, "mode") && tokens.count >= 3 && engine.settings.lruMaintainer {
            if TextParser.equals(input, tokens[2], "flat") { tuning.setSegmented(false); return "OK\r\n" }
            if TextParser.equals(input, tokens[2], "segmented") { tuning.setSegmented(true); return "OK\r\n" }
            return "ERROR\r\n"
        }
        if TextParser.equals(input, sub, "temp_ttl") && tokens.count >= 3 && engine.settings.lruMaintainer {
            // safe_strtol into an int32_t: 4294967295 is -1, which turns the TEMP LRU off.
            guard let ttl = TextParser.memcachedInt32(input, tokens[2]) else { return "ERROR\r\n" }
            tuning.setTemporaryTTL(Int(ttl))
            return "OK\r\n"
        }
        return "ERROR\r\n"
    }

    /// memcached's process_slabs_command: `slabs reassign <src> <dst>`, `slabs automove <0|1|2>`.
    func processSlabs(_ input: UnsafeRawBufferPointer, _ tokens: Tokens) -> String {
        let sub = tokens[1]
        if TextParser.equals(input, sub, "reassign") && tokens.count == 4 {
            guard engine.settings.slabReassign else { return "CLIENT_ERROR slab reassignment disabled\r\n" }
            // safe_strtol into an int: 99999999999 is a class id that does not exist (BADCLASS).
            guard let src = TextParser.memcachedInt32(input, tokens[2]), let dst = TextParser.memcachedInt32(input, tokens[3]) else {
                return "CLIENT_ERROR bad command line format\r\n"
            }
            return engine.reassignPage(from: Int(src), to: Int(dst)).reply + "\r\n"
        }
        if TextParser.equals(input, sub, "automove") {
            guard let level = TextParser.memcachedUInt32(input, tokens[2]) else {
                return "CLIENT_ERROR bad command line format\r\n"
            }
            guard level <= 2 else { return "ERROR\r\n" }
            engine.automoveLevel = Int(level)
            return "OK\r\n"
        }
        return "ERROR\r\n"
    }

    /// `all`, or comma-separated class ids (1...63; those past the last class are skipped); nil on a bad one.
    private func classList(_ input: UnsafeRawBufferPointer, _ list: Token) -> [Int]? {
        let largest = engine.largestSlabClass
        // `hash` (memcached walks the hash table) lists the same live items, class by class.
        if TextParser.equals(input, list, "all") || TextParser.equals(input, list, "hash") { return Array(1...largest) }
        var out: [Int] = []
        var i = list.start
        let end = list.start + list.count
        while i < end {
            var j = i
            while j < end && input[j] != UInt8(ascii: ",") { j += 1 }
            // memcached refuses only ids outside 1...63; a class this table lacks dumps nothing.
            guard let id = TextParser.parseUnsigned(input, Token(start: i, count: j - i)), id >= 1, id <= 63 else {
                return nil
            }
            if id <= UInt64(largest) && !out.contains(Int(id)) { out.append(Int(id)) }
            i = j + 1
        }
        return out
    }

    /// Bytes of metadump lines per piece: the most a client that stops reading can pin.
    static let metadumpPiece = 64 * 1024

    /// The next piece of a metadump (memcached's lines, "\n"-terminated as memcached writes them,
    /// then END): key=<url-encoded> exp=<unix time, -1 = never> la=<last access, unix time>
    /// cas=<n> fetch=<yes|no> cls=<class> size=<item bytes>. `.stream` while more is to come:
    /// the connection asks for the next piece once the client has read this one.
    func continueMetadump(_ output: OutputBuffer) -> HandlerAction {
        guard let walk = metadumpWalk else { return .proceed }
        let limit = output.pendingBytes + Self.metadumpPiece
        let started = engine.clock.processStarted
        let done = walk.next { it in
            appendMetadumpLine(it, started: started, output)
            return output.pendingBytes < limit
        }
        guard done else { return .stream }
        metadumpWalk = nil
        output.append(Reply.end)
        return .proceed
    }

    private func appendMetadumpLine(_ it: Item, started: Int, _ output: OutputBuffer) {
        let cls = it.slabClass
        output.append("key=" as StaticString)
        for b in it.key {
            let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
            if unreserved {
                output.append(byte: b)
            } else {
                let hex: StaticString = "0123456789ABCDEF"
                output.append(byte: UInt8(ascii: "%"))
                output.append(byte: hex.utf8Start[Int(b >> 4)])
                output.append(byte: hex.utf8Start[Int(b & 15)])
            }
        }
        output.append(" exp=" as StaticString)
        if it.expiry == 0 {
            output.append("-1" as StaticString)
        } else {
            output.append(decimal: UInt64(started) + UInt64(it.expiry))
        }
        output.append(" la=" as StaticString)
        output.append(decimal: UInt64(started) + UInt64(it.lastAccess(now: engine.clock.current)))
        output.append(" cas=" as StaticString)
        output.append(decimal: it.cas)
        output.append(it.flags & ItemFlag.fetched != 0 ? " fetch=yes cls=" as StaticString : " fetch=no cls=" as StaticString)
        output.append(decimal: UInt64(cls))
        output.append(" size=" as StaticString)
        output.append(decimal: UInt64(ItemLayout.totalSize(keyLength: it.keyLength, valueLength: it.valueLength)))
        output.append(byte: 0x0a)
    }
}
