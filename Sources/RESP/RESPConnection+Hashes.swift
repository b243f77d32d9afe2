// Redis hashes on the shared engine (CacheEngine+Hash.swift: a root item per key, fields in
// slab memory under -m): HSET HMSET HSETNX HGET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS
// HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, with redis 7.0's argument checks in its order
// (t_hash.c) and its replies: HGETALL a map in RESP3, HRANDFIELD's WITHVALUES pairs as
// two-element arrays in RESP3. Every command passes the connection's database and sees keys of
// any type, answering WRONGTYPE for a key that holds something else. Events: hset, hdel (and del
// when the hash is emptied), hincrby, hincrbyfloat, and new when a write made the key.
import CacheEngine
import Platform

extension RESPConnection {
    static let hashCommands: [RESPCommand] = [
        RESPCommand("hset", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.hashSet(okReply: false, out) },
        RESPCommand("hmset", arity: -4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.hashSet(okReply: true, out) },
        RESPCommand("hsetnx", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.hashSetIfAbsent(out) },
        RESPCommand("hget", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.hashGet(out) },
        RESPCommand("hmget", arity: -3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.hashGetMany(out) },
        RESPCommand("hdel", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.hashDelete(out) },
        RESPCommand("hlen", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.hashLength(out) },
        RESPCommand("hstrlen", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.hashFieldFact(length: true, out) },
        RESPCommand("hexists", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.hashFieldFact(length: false, out) },
        RESPCommand("hkeys", arity: 2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.hashAll(fields: true, values: false, out) },
        RESPCommand("hvals", arity: 2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.hashAll(fields: false, values: true, out) },
        RESPCommand("hgetall", arity: 2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.hashAll(fields: true, values: true, out) },
        RESPCommand("hincrby", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.hashIncrement(out) },
        RESPCommand("hincrbyfloat", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.hashIncrementFloat(out) },
        RESPCommand("hrandfield", arity: -2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.fieldRandom(out, type: .hash) },
        RESPCommand("hscan", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.fieldScan(out, type: .hash, withValues: true) },
    ]

    static let hashPairTooLarge: StaticString = "ERR hash field and value exceed maximum allowed size (the item size limit, -I)"
    /// HRANDFIELD's repeated picks past this many are refused (counted): a reply of that many
    /// pairs would be built in memory at once.
    static let hashRandomRepeatLimit = 1 << 22

    /// A bulk reply of a field or value.
    @inline(__always)
    func appendHashBytes(_ b: HashBytes, _ out: OutputBuffer) {
        out.appendRESPBulkHeader(b.count)
        b.forEachPiece { out.append($0) }
        out.append("\r\n" as StaticString)
    }

    /// A hash's value, or a sorted set's score as a double.
    @inline(__always)
    func appendFieldValue(_ v: HashBytes, type: ItemType, _ out: OutputBuffer) {
        if type == .zset { out.appendRESPDouble(v.score, version) } else { appendHashBytes(v, out) }
    }

    /// A score's text as redis writes it in a listpack or ZSCAN (`%.17g`, `inf`, `-inf`).
    func scoreText(_ d: Double) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 40)
        let n = buffer.withUnsafeMutableBytes { formatDouble(d, into: $0) }
        buffer.removeLast(buffer.count - n)
        return buffer
    }

    /// The error reply for a failed hash write (nil: not an error).
    func hashWriteError(_ r: HashWriteResult, _ out: OutputBuffer) -> HandlerAction? {
        switch r {
        case .wrongType: return error(out, Self.wrongType)
        case .outOfMemory: return error(out, Self.outOfMemory)
        case .tooLarge:
            stats.add(RESPCounter.hashPairsTooLarge.rawValue)
            return error(out, Self.hashPairTooLarge)
        default: return nil
        }
    }

    /// Whether the key is missing, asked only when `new` events are on (the write then says
    /// whether it made the key; a key found expired is published by the engine's lookup).
    @inline(__always)
    func keyMissingForNew(_ key: UnsafeRawBufferPointer, _ hv: UInt32) -> Bool {
        notifying(KeyspaceEvents.new) && inspectSilently(key, hv) == nil
    }

    // MARK: commands

    /// The shape SADD, HSET/HMSET and HSETNX share: whether the key is missing (asked only while
    /// `new` events are on), the engine's write, its refusal in the type's words (`refused`), then,
    /// when something was added (or always, `notifyUnchanged`: HSET's event whatever it changed, as
    /// redis), `new` for a key it made and the type's event, and the count as the reply (`ok`: +OK).
    func addAndNotify(_ key: UnsafeRawBufferPointer, _ hv: UInt32, _ out: OutputBuffer,
                      event type: Int, _ name: StaticString, notifyUnchanged: Bool = false, ok: Bool = false,
                      refused: (HashWriteResult, OutputBuffer) -> HandlerAction?,
                      write: () -> HashWriteResult) -> HandlerAction {
        let created = keyMissingForNew(key, hv)
        let r = write()
        if let failed = refused(r, out) { return failed }
        if case .added(let n) = r {
            if n > 0 || notifyUnchanged {
                if created { notify(KeyspaceEvents.new, "new", key) }
                notify(type, name, key)
            }
            if ok { out.appendRESPOK() } else { out.appendRESPInteger(Int64(n)) }
        }
        return .proceed
    }

    /// HSET key field value [field value ...] (the number of added fields) / HMSET (+OK).
    private func hashSet(okReply: Bool, _ out: OutputBuffer) -> HandlerAction {
        if argumentCount % 2 == 1 {
            return error(out, "ERR wrong number of arguments for '\(okReply ? "hmset" : "hset")' command")
        }
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        return addAndNotify(key, hv, out, event: KeyspaceEvents.hash, "hset", notifyUnchanged: true, ok: okReply,
                            refused: hashWriteError) {
            engine.hashSet(key, hash: hv, database: database, count: (argumentCount - 2) / 2) { i in
                (self.argument(2 + 2 * i), self.argument(3 + 2 * i))
            }
        }
    }

    private func hashSetIfAbsent(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        return addAndNotify(key, hv, out, event: KeyspaceEvents.hash, "hset", refused: hashWriteError) {
            engine.hashSet(key, hash: hv, database: database, count: 1, onlyIfAbsent: true) { _ in
                (self.argument(2), self.argument(3))
            }
        }
    }

    private func hashGet(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPNull(version); return .proceed }
        let r = engine.hashGet(key, hash: hv, database: database, field: { _ in self.argument(2) }) { v in
            if let v { self.appendHashBytes(v, out) } else { out.appendRESPNull(self.version) }
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPNull(version)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    private func hashGetMany(_ out: OutputBuffer) -> HandlerAction {
        let n = argumentCount - 2
        func nulls() -> HandlerAction {
            out.appendRESPArrayHeader(n)
            for _ in 0..<n { out.appendRESPNull(version) }
            return .proceed
        }
        guard let (key, hv) = listKey(1) else { return nulls() }
        var started = false
        let r = engine.hashGet(key, hash: hv, database: database, count: n, field: { self.argument($0 + 2) }) { v in
            if !started { out.appendRESPArrayHeader(n); started = true }
            if let v { self.appendHashBytes(v, out) } else { out.appendRESPNull(self.version) }
        }
        switch r {
        case .ok: return .proceed
        case .noKey: return nulls()
        case .wrongType: return error(out, Self.wrongType)
        }
    }

    private func hashDelete(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.hashDelete(key, hash: hv, database: database, count: argumentCount - 2, field: { self.argument($0 + 2) }) else {
            return error(out, Self.wrongType)
        }
        if n > 0 {
            notify(KeyspaceEvents.hash, "hdel", key)
            notifyIfEmptied(key, hv)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    private func hashLength(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.hashLength(key, hash: hv, database: database) else { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    /// HSTRLEN (the value's length, 0 for none) / HEXISTS (1 or 0).
    private func hashFieldFact(length: Bool, _ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        var answer = 0
        let r = engine.hashGet(key, hash: hv, database: database, field: { _ in self.argument(2) }) { v in
            if let v { answer = length ? v.count : 1 }
        }
        if r == .wrongType { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(answer))
        return .proceed
    }

    /// HKEYS / HVALS / HGETALL (a map in RESP3).
    private func hashAll(fields: Bool, values: Bool, _ out: OutputBuffer) -> HandlerAction {
        let both = fields && values
        func empty() {
            if both { out.appendRESPMapHeader(0, version) } else { out.appendRESPArrayHeader(0) }
        }
        guard let (key, hv) = listKey(1) else { empty(); return .proceed }
        let r = engine.hashVisit(key, hash: hv, database: database, willVisit: { n in
            if both { out.appendRESPMapHeader(n, self.version) } else { out.appendRESPArrayHeader(n) }
        }) { f, v in
            if fields { self.appendHashBytes(f, out) }
            if values { self.appendHashBytes(v, out) }
        }
        switch r {
        case .ok: break
        case .noKey: empty()
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// HINCRBY key field increment: redis's string2ll on the old value, overflow refused.
    private func hashIncrement(_ out: OutputBuffer) -> HandlerAction {
        guard let by = integerArgument(3) else { return notAnInteger(out) }
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        let created = keyMissingForNew(key, hv)
        var failure: StaticString? = nil
        var result = 0
        let r = engine.hashUpdate(key, hash: hv, database: database, field: argument(2)) { old in
            var current = 0
            if let old {
                var parsed: Int? = nil
                if old.count <= 20, let text = old.contiguous, text.count > 0 { parsed = parseInteger(text.baseAddress!, text.count) }
                guard let v = parsed else { failure = "ERR hash value is not an integer"; return nil }
                current = v
            }
            let (sum, overflow) = current.addingReportingOverflow(by)
            guard !overflow else { failure = "ERR increment or decrement would overflow"; return nil }
            result = sum
            return Array(String(sum).utf8)
        }
        if let failure { return error(out, failure) }
        if let failed = hashWriteError(r, out) { return failed }
        if created { notify(KeyspaceEvents.new, "new", key) }
        notify(KeyspaceEvents.hash, "hincrby", key)
        out.appendRESPInteger(Int64(result))
        return .proceed
    }

    /// HINCRBYFLOAT key field increment: long double as redis, written as INCRBYFLOAT writes.
    private func hashIncrementFloat(_ out: OutputBuffer) -> HandlerAction {
        guard let by = longDoubleValue(argument(3)) else { return error(out, "ERR value is not a valid float") }
        guard by.isFinite else { return error(out, "ERR value is NaN or Infinity") }
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        let created = keyMissingForNew(key, hv)
        var failure: StaticString? = nil
        var text: [UInt8] = []
        let r = engine.hashUpdate(key, hash: hv, database: database, field: argument(2)) { old in
            var current: Float80 = 0
            if let old {
                let bytes = old.count < 5 * 1024 ? old.bytes : []
                guard let v = bytes.withUnsafeBytes({ longDoubleValue($0) }) else {
                    failure = "ERR hash value is not a float"
                    return nil
                }
                current = v
            }
            let sum = current + by
            guard sum.isFinite else { failure = "ERR increment would produce NaN or Infinity"; return nil }
            text = humanLongDouble(sum)
            return text
        }
        if let failure { return error(out, failure) }
        if let failed = hashWriteError(r, out) { return failed }
        if created { notify(KeyspaceEvents.new, "new", key) }
        notify(KeyspaceEvents.hash, "hincrbyfloat", key)
        text.withUnsafeBytes { out.appendRESPBulk($0) }
        return .proceed
    }

    /// HRANDFIELD key [count [WITHVALUES]]; ZRANDMEMBER key [count [WITHSCORES]] (`type: .zset`,
    /// the values are scores).
    func fieldRandom(_ out: OutputBuffer, type: ItemType) -> HandlerAction {
        guard argumentCount >= 3 else {
            guard let (key, hv) = listKey(1) else { out.appendRESPNull(version); return .proceed }
            let r = engine.hashRandom(key, hash: hv, database: database, type: type, count: 1, distinct: true, willVisit: { _ in }) { f, _ in
                self.appendHashBytes(f, out)
            }
            switch r {
            case .ok: break
            case .noKey: out.appendRESPNull(version)
            case .wrongType: return error(out, Self.wrongType)
            }
            return .proceed
        }
        guard let l = integerArgument(2) else { return notAnInteger(out) }
        guard l != Int.min else {
            return error(out, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        var withValues = false
        let word: StaticString = type == .zset ? "withscores" : "withvalues"
        if argumentCount > 4 || (argumentCount == 4 && !argument(3, is: word)) { return syntaxError(out) }
        if argumentCount == 4 {
            withValues = true
            if l < -(Int.max / 2) || l > Int.max / 2 { return error(out, "ERR value is out of range") }
        }
        guard let (key, hv) = listKey(1) else { out.appendRESPArrayHeader(0); return .proceed }
        let count = l.magnitude
        if l < 0 && count > UInt(Self.hashRandomRepeatLimit) {
            // Refused only for a key that holds a hash (redis answers an empty or WRONGTYPE first).
            guard let n = engine.hashLength(key, hash: hv, database: database, type: type) else { return error(out, Self.wrongType) }
            if n == 0 { out.appendRESPArrayHeader(0); return .proceed }
            stats.add(RESPCounter.hashRandomRefused.rawValue)
            return error(out, "ERR value is out of range")
        }
        if count == 0 {
            guard engine.hashLength(key, hash: hv, database: database, type: type) != nil else { return error(out, Self.wrongType) }
            out.appendRESPArrayHeader(0)
            return .proceed
        }
        let pairs = withValues && version == .resp3
        let r = engine.hashRandom(key, hash: hv, database: database, type: type, count: Int(count), distinct: l > 0, willVisit: { n in
            out.appendRESPArrayHeader(withValues && !pairs ? 2 * n : n)
        }) { f, v in
            if pairs { out.appendRESPArrayHeader(2) }
            self.appendHashBytes(f, out)
            if withValues { self.appendFieldValue(v, type: type, out) }
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPArrayHeader(0)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// HSCAN key cursor [MATCH pattern] [COUNT count]: the cursor first, then the key (an empty
    /// scan for none, WRONGTYPE), then the options, as redis's scanGenericCommand. SSCAN is the
    /// same walk over a set (`type: .set`), members only.
    func fieldScan(_ out: OutputBuffer, type: ItemType, withValues: Bool) -> HandlerAction {
        guard let cursor = scanCursor(argument(2)) else { return error(out, "ERR invalid cursor") }
        func emptyScan() -> HandlerAction {
            out.appendRESPArrayHeader(2)
            out.appendRESPBulk("0")
            out.appendRESPArrayHeader(0)
            return .proceed
        }
        guard let (key, hv) = listKey(1) else { return emptyScan() }
        guard let n = engine.hashLength(key, hash: hv, database: database, type: type) else { return error(out, Self.wrongType) }
        if n == 0 { return emptyScan() }
        var count = 10
        var pattern: UnsafeRawBufferPointer? = nil
        var i = 3
        while i < argumentCount {
            let more = argumentCount - i
            if argument(i, is: "count") && more >= 2 {
                guard let c = integerArgument(i + 1) else { return notAnInteger(out) }
                guard c >= 1 else { return syntaxError(out) }
                count = c
            } else if argument(i, is: "match") && more >= 2 {
                let p = argument(i + 1)
                pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
            } else {
                return syntaxError(out)
            }
            i += 2
        }
        var found: [[UInt8]] = []
        let (r, next) = engine.hashScan(key, hash: hv, database: database, type: type, cursor: cursor, count: count) { f, v in
            let field = f.bytes
            if let pattern, !field.withUnsafeBytes({ globMatches(pattern, $0, ignoringCase: false) }) { return }
            found.append(field)
            if withValues {
                if type == .zset { found.append(self.scoreText(v.score)) } else { found.append(v.bytes) }
            }
        }
        switch r {
        case .ok: break
        case .noKey: return emptyScan()
        case .wrongType: return error(out, Self.wrongType)
        }
        out.appendRESPArrayHeader(2)
        var text = String(next)
        text.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
        out.appendRESPArrayHeader(found.count)
        for b in found { b.withUnsafeBytes { out.appendRESPBulk($0) } }
        return .proceed
    }
}
