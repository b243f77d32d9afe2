// DEBUG (SLEEP, SET-ACTIVE-EXPIRE, OBJECT, LOG) and FUNCTION (FLUSH, LIST), the parts redis test
// suites and clients use, with redis-server 7.0's replies. DEBUG is always allowed here (redis
// needs enable-debug-command). Differences, by nature of this server:
// - DEBUG SLEEP parks the connection for the time asked instead of stopping the whole server, so
//   other clients go on; past 2^31-1 ms it is cut to that (resp_debug_sleeps_clamped).
// - DEBUG SET-ACTIVE-EXPIRE is accepted and changes nothing: expired items are reclaimed when
//   read, by the crawler and at allocation, as the cache port's are.
// - DEBUG OBJECT's serializedlength is the RDB length without LZF compression (redis compresses
//   strings over 20 bytes when it can; a hash's is estimated from its pairs' bytes); its address is
//   the item's, its lru the item's last access.
// - FUNCTION keeps no functions: LIST is empty, FLUSH succeeds, the others are refused.
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPConnection {
    static let debugCommands: [RESPCommand] = [
        RESPCommand("debug", arity: -2, flags: [.admin, .noscript, .loading, .stale]) { c, out in c.debug(out) },
        RESPCommand("function", arity: -2, subcommands: ["flush", "list", "help"]) { c, out in c.containerHelp(out) ?? c.function(out) },
    ]

    /// The longest DEBUG SLEEP: the park timer's limit.
    private static let longestSleepMs = Int(Int32.max)

    /// redis's addReplySubcommandSyntaxError.
    private func subcommandSyntaxError(_ out: OutputBuffer) -> HandlerAction {
        let command = String(decoding: argument(0), as: UTF8.self).uppercased()
        return error(out, "ERR unknown subcommand or wrong number of arguments for '" + String(decoding: argument(1).prefix(128), as: UTF8.self)
                     + "'. Try " + command + " HELP.")
    }

    private func debug(_ out: OutputBuffer) -> HandlerAction {
        if argument(1, is: "help") && argumentCount == 2 {
            appendHelp(Self.debugHelp, out)
        } else if argument(1, is: "sleep") && argumentCount == 3 {
            // strtod, as redis reads it: what is not a number sleeps 0.
            let text = String(decoding: argument(2), as: UTF8.self)
            let seconds = text.withCString { strtod($0, nil) }
            stats.add(RESPCounter.debugSleeps.rawValue)
            // redis takes `(long long)(seconds * 1e6)` microseconds for nanosleep: NaN, infinities
            // and products past 2^63 convert to LLONG_MIN on x86-64, and a negative time is
            // refused by nanosleep, so all of these answer at once.
            let micros = seconds * 1_000_000
            guard micros >= 1, micros < 0x1p63 else {
                out.appendRESPOK()
                return .proceed
            }
            let whole = Int(micros)
            var ms = Self.longestSleepMs
            if whole / 1000 < Self.longestSleepMs { ms = (whole + 999) / 1000 } else {
                stats.add(RESPCounter.debugSleepsClamped.rawValue)
            }
            sleeping = true
            sleepReplyWithheld = replyMode != .on
            return .park(timeoutMs: ms)
        } else if argument(1, is: "set-active-expire") && argumentCount == 3 {
            out.appendRESPOK()
        } else if argument(1, is: "object") && argumentCount == 3 {
            return debugObject(out)
        } else if argument(1, is: "log") && argumentCount == 3 {
            // redis logs it at its warning level.
            service.log("DEBUG LOG: " + String(decoding: argument(2), as: UTF8.self))
            out.appendRESPOK()
        } else {
            return subcommandSyntaxError(out)
        }
        return .proceed
    }

    /// A parked DEBUG SLEEP: +OK once its time has passed (a wake-up before it, for pushes, keeps
    /// it waiting).
    func finishSleep(_ output: OutputBuffer, timedOut: Bool) -> HandlerAction {
        guard timedOut else { return .park(timeoutMs: 0) }
        sleeping = false
        if !sleepReplyWithheld { output.appendRESPOK() }
        return .proceed
    }

    /// DEBUG OBJECT key: `Value at:… refcount:… encoding:… serializedlength:… lru:… lru_seconds_idle:…`.
    private func debugObject(_ out: OutputBuffer) -> HandlerAction {
        let key = argument(2)
        guard let it = lookup(key), let info = engine.inspect(key, hash: CacheEngine.hash(key), database: database, anyType: true) else {
            return error(out, "ERR no such key")
        }
        defer { engine.release(it) }
        // Lists' quicklist fields (ql_nodes ...) are not rendered yet.
        if it.type == .hash || it.type == .set || it.type == .zset, let s = engine.hashSummary(key, hash: CacheEngine.hash(key), database: database, type: it.type) {
            // RDB's length of the pairs, one length byte each (an estimate past 63 bytes).
            let serialized = (s.count < 64 ? 1 : 5) + s.bytes + 2 * s.count
            return debugObjectLine(it, info, encoding: Self.encodingName(s.encoding).description, refcount: 1,
                                   serialized: serialized, out)
        }
        guard it.type == .string else { return unsupportedType(command: "DEBUG OBJECT", it.type, out) }
        var integer: Int? = nil
        if it.valueLength <= 20 && engine.valueSegmentCount(it) == 1 {
            integer = parseInteger(UnsafeRawPointer(engine.valueSegment(it, 0).baseAddress!), it.valueLength)
        }
        let encoding = integer != nil ? "int" : it.valueLength <= 44 ? "embstr" : "raw"
        let refcount = integer.map { $0 >= 0 && $0 < 10_000 } == true ? Int(Int32.max) : 1
        let serialized: Int
        if let v = integer, v >= Int(Int32.min) && v <= Int(Int32.max) {
            serialized = v >= -128 && v <= 127 ? 2 : v >= -32768 && v <= 32767 ? 3 : 5
        } else {
            let n = it.valueLength
            serialized = (n < 64 ? 1 : n < 16384 ? 2 : n <= Int(UInt32.max) ? 5 : 9) + n
        }
        return debugObjectLine(it, info, encoding: encoding, refcount: refcount, serialized: serialized, out)
    }

    private func debugObjectLine(_ it: Item, _ info: ItemInfo, encoding: String, refcount: Int, serialized: Int,
                                 _ out: OutputBuffer) -> HandlerAction {
        let now = engine.clock.current
        let lru = (engine.clock.processStarted + Int(info.lastAccess)) & 0xFF_FFFF
        let idle = now &- min(info.lastAccess, now)
        let address = String(UInt(bitPattern: it.raw), radix: 16)
        var line = "Value at:0x\(address) refcount:\(refcount) encoding:\(encoding) serializedlength:\(serialized) lru:\(lru) lru_seconds_idle:\(idle)"
        line.withUTF8 { text in
            out.append(byte: UInt8(ascii: "+"))
            out.append(UnsafeRawBufferPointer(text))
            out.append("\r\n" as StaticString)
        }
        return .proceed
    }

    /// FUNCTION FLUSH [ASYNC|SYNC] | LIST [WITHCODE] [LIBRARYNAME pattern].
    private func function(_ out: OutputBuffer) -> HandlerAction {
        let known: [StaticString] = ["delete", "dump", "flush", "help", "kill", "list", "load", "restore", "stats"]
        if argument(1, is: "flush") {
            guard argumentCount <= 3 else { return subcommandSyntaxError(out) }
            if argumentCount == 3 && !argument(2, is: "sync") && !argument(2, is: "async") {
                return error(out, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
            }
            out.appendRESPOK()
        } else if argument(1, is: "list") {
            var withCode = false, libraryName = false
            var i = 2
            while i < argumentCount {
                if !withCode && argument(i, is: "withcode") {
                    withCode = true
                } else if !libraryName && argument(i, is: "libraryname") {
                    guard i + 1 < argumentCount else { return error(out, "ERR library name argument was not given") }
                    libraryName = true
                    i += 1
                } else {
                    return error(out, "ERR Unknown argument " + String(decoding: argument(i), as: UTF8.self))
                }
                i += 1
            }
            out.appendRESPArrayHeader(0)
        } else if known.contains(where: { argument(1, is: $0) }) {
            return error(out, "ERR swiftcached does not keep functions: FUNCTION " + String(decoding: argument(1).prefix(128), as: UTF8.self).uppercased() + " is not supported")
        } else {
            return error(out, "ERR unknown subcommand '" + String(decoding: argument(1).prefix(128), as: UTF8.self) + "'. Try FUNCTION HELP.")
        }
        return .proceed
    }
}
