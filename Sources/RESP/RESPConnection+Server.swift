// Server commands of the Redis port: INFO, CONFIG GET|SET|RESETSTAT|REWRITE, DBSIZE (the
// connection's database), TIME,
// LASTSAVE, SAVE and BGSAVE (refused: the Redis keyspace has no snapshot yet), WAIT (no replicas),
// with redis-server 7.0's replies and errors.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPConnection {
    static let serverCommands: [RESPCommand] = [
        RESPCommand("info", arity: -1, flags: [.loading, .stale]) { c, out in c.info(out) },
        RESPCommand("config", arity: -2, subcommands: ["get", "set", "resetstat", "rewrite", "help"]) { c, out in c.containerHelp(out) ?? c.config(out) },
        RESPCommand("dbsize", arity: 1, flags: [.readonly, .fast]) { c, out in
            out.appendRESPInteger(Int64(c.engine.keyCount(database: c.database)))
            return .proceed
        },
        RESPCommand("time", arity: 1, flags: [.loading, .stale, .fast]) { _, out in
            var t = timeval()
            gettimeofday(&t, nil)
            out.appendRESPArrayHeader(2)
            out.appendRESPBulk(decimal: Int64(t.tv_sec))
            out.appendRESPBulk(decimal: Int64(t.tv_usec))
            return .proceed
        },
        RESPCommand("lastsave", arity: 1, flags: [.loading, .stale, .fast]) { c, out in
            // Never saved: redis reports its start time until its first save.
            out.appendRESPInteger(Int64(c.service.host().startedAt))
            return .proceed
        },
        RESPCommand("save", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], transaction: .refused) { c, out in c.noSnapshot(out) },
        RESPCommand("bgsave", arity: -1, flags: [.admin, .noscript, .noAsyncLoading]) { c, out in c.noSnapshot(out) },
        RESPCommand("wait", arity: 3, flags: [.noscript]) { c, out in c.wait(out) },
        RESPCommand("slowlog", arity: -2, subcommands: ["get", "len", "reset", "help"]) { c, out in c.containerHelp(out) ?? c.slowlog(out) },
        RESPCommand("object", arity: -2, subcommands: ["encoding", "refcount", "idletime", "freq", "help"]) { c, out in c.containerHelp(out) ?? c.object(out) },
        RESPCommand("memory", arity: -2, subcommands: ["usage", "doctor", "malloc-stats", "purge", "stats", "help"]) { c, out in
            c.containerHelp(out) ?? c.memoryReport(out) ?? c.memory(out)
        },
    ]

    /// SLOWLOG GET [count] | LEN | RESET.
    private func slowlog(_ out: OutputBuffer) -> HandlerAction {
        let log = service.slowLog
        if argument(1, is: "get") && argumentCount <= 3 {
            var count: Int? = 10
            if argumentCount == 3 {
                // redis's getRangeLongFromObjectOrReply: one message for a non-number and a bad one.
                guard let n = integerArgument(2), n >= -1 else { return error(out, "ERR count should be greater than or equal to -1") }
                count = n == -1 ? nil : n
            }
            let entries = log.newest(count)
            out.appendRESPArrayHeader(entries.count)
            for e in entries {
                out.appendRESPArrayHeader(6)
                out.appendRESPInteger(Int64(e.id))
                out.appendRESPInteger(Int64(e.time))
                out.appendRESPInteger(Int64(e.microseconds))
                out.appendRESPArrayHeader(e.arguments.count)
                for a in e.arguments { a.withUnsafeBytes { out.appendRESPBulk($0) } }
                var client = e.client
                client.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
                e.name.withUnsafeBytes { out.appendRESPBulk($0) }
            }
        } else if argument(1, is: "len") && argumentCount == 2 {
            out.appendRESPInteger(Int64(log.count))
        } else if argument(1, is: "reset") && argumentCount == 2 {
            log.reset()
            out.appendRESPOK()
        } else {
            return unknownSubcommand("SLOWLOG", known: ["get", "len", "reset"], out)
        }
        return .proceed
    }

    /// redis's reply to a subcommand it does not know, or to a known one (`known`, lower case)
    /// with arguments it refuses (redis's addReplySubcommandSyntaxError: a count that breaks the
    /// subcommand's own arity was answered before, by `execute`).
    func unknownSubcommand(_ command: String, known: [StaticString], _ out: OutputBuffer) -> HandlerAction {
        let sub = argument(1)
        if known.contains(where: { equalFolded(sub, $0) }) {
            return error(out, "ERR unknown subcommand or wrong number of arguments for '" + String(decoding: sub.prefix(128), as: UTF8.self) + "'. Try \(command) HELP.")
        }
        return error(out, "ERR unknown subcommand '" + String(decoding: sub.prefix(128), as: UTF8.self) + "'. Try \(command) HELP.")
    }

    /// OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ key, for strings: "int" for a value redis
    /// would keep as a number, "embstr" up to 44 bytes, "raw" beyond (APPEND and SETRANGE
    /// results included, which redis always makes raw).
    private func object(_ out: OutputBuffer) -> HandlerAction {
        let sub = argument(1)
        guard argumentCount == 3, equalFolded(sub, "encoding") || equalFolded(sub, "refcount") || equalFolded(sub, "idletime") || equalFolded(sub, "freq") else {
            return unknownSubcommand("OBJECT", known: ["encoding", "refcount", "idletime", "freq"], out)
        }
        if equalFolded(sub, "idletime") || equalFolded(sub, "freq") { return objectAccess(out) }
        let it: Item
        switch readString(argument(2)) {
        case .value(let found): it = found
        case .none:
            out.appendRESPNull(version)
            return .proceed
        case .wrongType:
            return objectOfContainer(out)
        }
        defer { engine.release(it) }
        let isInteger = it.valueLength <= 20 && engine.valueSegmentCount(it) == 1
            && parseInteger(UnsafeRawPointer(engine.valueSegment(it, 0).baseAddress!), it.valueLength) != nil
        if equalFolded(sub, "encoding") {
            out.appendRESPBulk(isInteger ? "int" : it.valueLength <= 44 ? "embstr" : "raw")
        } else {
            // redis shares the integers 0 ... 9999 and reports them with INT_MAX references.
            let v = isInteger ? parseInteger(UnsafeRawPointer(engine.valueSegment(it, 0).baseAddress!), it.valueLength)! : -1
            out.appendRESPInteger(v >= 0 && v < 10_000 ? Int64(Int32.max) : 1)
        }
        return .proceed
    }

    /// OBJECT IDLETIME | FREQ key, of any type, without counting as an access (redis's
    /// LOOKUP_NOTOUCH): the idle seconds, refused under an LFU policy, or the LFU counter decayed
    /// to now, refused under any other, in redis's words.
    private func objectAccess(_ out: OutputBuffer) -> HandlerAction {
        let key = argument(2)
        guard key.count <= ItemLayout.maxKeyLength,
              let info = engine.inspect(key, hash: CacheEngine.hash(key), database: database, anyType: true) else {
            out.appendRESPNull(version)
            return .proceed
        }
        let lfu = engine.tuning.policy.usesLFU
        if argument(1, is: "freq") {
            guard lfu else { return error(out, Self.noLFUError) }
            out.appendRESPInteger(Int64(info.frequency))
        } else {
            guard !lfu else { return error(out, Self.lfuIdleError) }
            out.appendRESPInteger(Int64(engine.clock.current &- min(info.lastAccess, engine.clock.current)))
        }
        return .proceed
    }

    /// MEMORY USAGE key [SAMPLES n]: the slab chunk the item takes (its own size when chunked).
    private func memory(_ out: OutputBuffer) -> HandlerAction {
        guard argument(1, is: "usage") && argumentCount >= 3 else {
            return unknownSubcommand("MEMORY", known: ["usage", "doctor", "malloc-stats", "purge", "stats"], out)
        }
        // redis's options loop: SAMPLES n any number of times, each n read then refused below 0.
        var j = 3
        while j < argumentCount {
            guard argument(j, is: "samples") && j + 1 < argumentCount else { return syntaxError(out) }
            guard let n = integerArgument(j + 1) else { return notAnInteger(out) }
            if n < 0 { return syntaxError(out) }
            j += 2
        }
        guard argument(2).count <= ItemLayout.maxKeyLength, let info = inspect(argument(2)) else {
            out.appendRESPNull(version)
            return .proceed
        }
        let chunk = engine.slabClassStats(info.slabClass).chunkSize
        var usage = info.size <= chunk ? chunk : info.size
        // A hash's fields and index are its memory too (the chunks they take).
        if info.type == .hash || info.type == .set || info.type == .zset,
           let s = engine.hashSummary(argument(2), hash: CacheEngine.hash(argument(2)), database: database, type: info.type) {
            usage += s.memory
        }
        out.appendRESPInteger(Int64(usage))
        return .proceed
    }

    /// OBJECT of a key that is not a string: lists are redis 7.0's quicklists, hashes its listpack
    /// or hashtable (the engine's encoding, converted at redis's thresholds), streams `stream`;
    /// never shared.
    private func objectOfContainer(_ out: OutputBuffer) -> HandlerAction {
        let sub = argument(1), key = argument(2)
        guard let info = engine.inspect(key, hash: CacheEngine.hash(key), database: database, anyType: true) else {
            out.appendRESPNull(version)
            return .proceed
        }
        if equalFolded(sub, "encoding") {
            if info.type == .stream {
                out.appendRESPBulk("stream")
            } else if info.type == .hash || info.type == .set || info.type == .zset {
                let s = engine.hashSummary(key, hash: CacheEngine.hash(key), database: database, type: info.type)
                out.appendRESPBulk(Self.encodingName(s?.encoding ?? .listpack))
            } else {
                out.appendRESPBulk("quicklist")
            }
        } else {
            out.appendRESPInteger(1)
        }
        return .proceed
    }

    /// OBJECT ENCODING's word for a hash's, set's or sorted set's encoding.
    static func encodingName(_ e: HashEncoding) -> StaticString {
        switch e {
        case .listpack: "listpack"
        case .hashtable: "hashtable"
        case .intset: "intset"
        case .skiplist: "skiplist"
        }
    }

    static let lfuIdleError: StaticString = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    static let noLFUError: StaticString = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."

    private func noSnapshot(_ out: OutputBuffer) -> HandlerAction {
        error(out, "ERR swiftcached does not save the Redis keyspace to disk yet")
    }

    /// INFO [section ...]: `default`, `all`, `everything` or section names, any case.
    private func info(_ out: OutputBuffer) -> HandlerAction {
        var sections = Set<RESPInfoSection>()
        if argumentCount == 1 { sections.formUnion(RESPInfoSection.defaults) }
        for i in 1..<max(1, argumentCount) {
            let word = String(decoding: argument(i), as: UTF8.self).lowercased()
            switch word {
            case "default": sections.formUnion(RESPInfoSection.defaults)
            case "all", "everything": sections.formUnion(RESPInfoSection.allCases)
            default: if let s = RESPInfoSection(rawValue: word) { sections.insert(s) }
            }
        }
        var text = service.info(sections)
        text.withUTF8 { out.appendRESPVerbatim(UnsafeRawBufferPointer($0), version) }
        return .proceed
    }

    private func config(_ out: OutputBuffer) -> HandlerAction {
        if argument(1, is: "get") {
            guard argumentCount >= 3 else { return error(out, "ERR wrong number of arguments for 'config|get' command") }
            return configGet(out)
        } else if argument(1, is: "set") {
            guard argumentCount >= 4 && argumentCount % 2 == 0 else {
                return error(out, "ERR wrong number of arguments for 'config|set' command")
            }
            return configSet(out)
        } else if argument(1, is: "resetstat") && argumentCount == 2 {
            // This port's counters; the engine's (evictions, expiries) are the cache's, shared
            // with the memcached port, whose `stats reset` resets them.
            service.resetStatistics()
            out.appendRESPOK()
            return .proceed
        } else if argument(1, is: "rewrite") && argumentCount == 2 {
            return error(out, "ERR The server is running without a config file")
        }
        return error(out, "ERR unknown subcommand '" + String(decoding: argument(1).prefix(128), as: UTF8.self) + "'. Try CONFIG HELP.")
    }

    /// CONFIG GET pattern [pattern ...]: every parameter any pattern matches, once; a name
    /// without `*?[` is looked up directly and answered under the name as given, as redis does.
    private func configGet(_ out: OutputBuffer) -> HandlerAction {
        let host = service.host()
        var matched: [(name: String, value: String)] = []
        func add(_ p: RESPConfig.Parameter, as name: String) {
            if !matched.contains(where: { $0.name.lowercased() == p.name }) { matched.append((name, p.get(service.config, host))) }
        }
        for i in 2..<argumentCount {
            let pattern = argument(i)
            if !pattern.contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }) {
                if let p = RESPConfig.parameter(named: pattern) { add(p, as: String(decoding: pattern, as: UTF8.self)) }
                continue
            }
            for p in RESPConfig.parameters {
                var name = p.name
                if name.withUTF8({ globMatches(pattern, UnsafeRawBufferPointer($0)) }) { add(p, as: p.name) }
            }
        }
        out.appendRESPMapHeader(matched.count, version)
        for (name, value) in matched {
            var n = name, v = value
            n.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
            v.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
        }
        return .proceed
    }

    /// CONFIG SET name value [name value ...]: every value checked before any is applied.
    private func configSet(_ out: OutputBuffer) -> HandlerAction {
        var changes: [(RESPConfig.Parameter, [UInt8])] = []
        var i = 2
        while i < argumentCount {
            guard let p = RESPConfig.parameter(named: argument(i)) else {
                return error(out, "ERR Unknown option or number of arguments for CONFIG SET - '" + String(decoding: argument(i), as: UTF8.self) + "'")
            }
            func failed(_ reason: String) -> HandlerAction {
                error(out, "ERR CONFIG SET failed (possibly related to argument '" + p.name + "') - " + reason)
            }
            if changes.contains(where: { $0.0.name == p.name }) { return failed("duplicate parameter") }
            guard let check = p.check else { return failed("can't set immutable config") }
            let value = Array(argument(i + 1))
            if let reason = check(service.config, value) { return failed(reason) }
            changes.append((p, value))
            i += 2
        }
        for (p, value) in changes { p.apply!(service.config, value) }
        out.appendRESPOK()
        return .proceed
    }

    /// WAIT numreplicas timeout: a server without replicas answers 0 at once when no replica is
    /// asked for; asking for one would wait for ever (or the timeout) in redis, and is refused.
    private func wait(_ out: OutputBuffer) -> HandlerAction {
        guard let replicas = integerArgument(1) else { return notAnInteger(out) }
        // redis's getTimeoutFromObjectOrReply in milliseconds, in its words.
        guard let timeout = integerArgument(2) else { return error(out, "ERR timeout is not an integer or out of range") }
        guard timeout >= 0 else { return error(out, "ERR timeout is negative") }
        guard replicas <= 0 else { return error(out, "ERR swiftcached has no replicas to wait for") }
        out.appendRESPInteger(0)
        return .proceed
    }
}
