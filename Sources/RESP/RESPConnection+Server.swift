// Server commands of the Redis port: INFO, CONFIG GET|SET|RESETSTAT|REWRITE, DBSIZE, TIME,
// LASTSAVE, SAVE and BGSAVE (refused: the Redis keyspace has no snapshot yet), WAIT (no replicas),
// with redis-server 7.0's replies and errors.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPConnection {
    static let serverCommands: [RESPCommand] = [
        RESPCommand("info", arity: -1) { c, out in c.info(out) },
        RESPCommand("config", arity: -2) { c, out in c.config(out) },
        RESPCommand("dbsize", arity: 1) { c, out in
            out.appendRESPInteger(Int64(c.engine.stats.items.number))
            return .proceed
        },
        RESPCommand("time", arity: 1) { _, out in
            var t = timeval()
            gettimeofday(&t, nil)
            out.appendRESPArrayHeader(2)
            out.appendRESPBulk(decimal: Int64(t.tv_sec))
            out.appendRESPBulk(decimal: Int64(t.tv_usec))
            return .proceed
        },
        RESPCommand("lastsave", arity: 1) { c, out in
            // Never saved: redis reports its start time until its first save.
            out.appendRESPInteger(Int64(c.service.host().startedAt))
            return .proceed
        },
        RESPCommand("save", arity: 1) { c, out in c.noSnapshot(out) },
        RESPCommand("bgsave", arity: -1) { c, out in c.noSnapshot(out) },
        RESPCommand("wait", arity: 3) { c, out in c.wait(out) },
    ]

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
        guard let replicas = integerArgument(1), let timeout = integerArgument(2) else { return notAnInteger(out) }
        guard timeout >= 0 else { return error(out, "ERR timeout is negative") }
        guard replicas <= 0 else { return error(out, "ERR swiftcached has no replicas to wait for") }
        out.appendRESPInteger(0)
        return .proceed
    }
}
