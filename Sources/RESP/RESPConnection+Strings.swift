// Redis strings on the cache's items: a Redis string is a cache item with client flags 0, so the
// memcached port's `get` reads what SET wrote and GET reads what `set` wrote, under the same -m.
// Commands that read and then write one key (SET with GET/KEEPTTL, GETDEL, INCR, APPEND) run as a
// compare-and-swap loop over the engine's storage operations: read the item and its CAS, build
// the new item, store it only if the CAS still matches (or add it if there was none), and start
// again if another writer came between. Every key is the connection's database's (`database:`);
// a string command on a key of another type answers WRONGTYPE, SET and MSET replace any type.
// Expiry is kept to the millisecond (`ExpiryTime.unixMilliseconds`), and the commands that
// rebuild a value keep the old one's exactly (`copyExpiry`).
import CacheEngine
import Platform
#if canImport(Glibc)
import Glibc
#endif

extension RESPConnection {
    static let stringCommands: [RESPCommand] = [
        RESPCommand("get", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.get(out) },
        RESPCommand("set", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.set(out) },
        RESPCommand("setnx", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in
            let r = c.write(key: c.argument(1), value: c.argument(2), expiry: .none, condition: .ifAbsent, wantOld: false)
            return c.reply(r, out) {
                if r.stored { c.notify(KeyspaceEvents.string, "set", c.argument(1)) }
                out.appendRESPInteger(r.stored ? 1 : 0)
            }
        },
        RESPCommand("setex", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.setWithExpiry(out, milliseconds: false) },
        RESPCommand("psetex", arity: 4, keys: (1, 1, 1), flags: [.write, .denyoom]) { c, out in c.setWithExpiry(out, milliseconds: true) },
        RESPCommand("getset", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in
            let r = c.write(key: c.argument(1), value: c.argument(2), expiry: .none, condition: .always, wantOld: true)
            return c.reply(r, out) {
                c.notify(KeyspaceEvents.string, "set", c.argument(1))
                c.appendOld(r.old, out)
            }
        },
        RESPCommand("getdel", arity: 2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.getdel(out) },
        RESPCommand("mget", arity: -2, keys: (1, -1, 1), flags: [.readonly, .fast]) { c, out in c.mget(out) },
        RESPCommand("mset", arity: -3, keys: (1, -1, 2), flags: [.write, .denyoom]) { c, out in c.mset(out) },
        RESPCommand("msetnx", arity: -3, keys: (1, -1, 2), flags: [.write, .denyoom]) { c, out in c.msetnx(out) },
        RESPCommand("getex", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.getex(out) },
        RESPCommand("incrbyfloat", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.incrementByFloat(out) },
        RESPCommand("strlen", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in
            switch c.readString(c.argument(1)) {
            case .wrongType: return c.wrongType(out)
            case .none: out.appendRESPInteger(0)
            case .value(let it):
                out.appendRESPInteger(Int64(it.valueLength))
                c.engine.release(it)
            }
            return .proceed
        },
        RESPCommand("append", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.append(out) },
        RESPCommand("incr", arity: 2, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.incrementBy(1, out) },
        RESPCommand("decr", arity: 2, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.incrementBy(-1, out) },
        RESPCommand("incrby", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in
            guard let by = c.integerArgument(2) else { return c.notAnInteger(out) }
            return c.incrementBy(by, out)
        },
        RESPCommand("decrby", arity: 3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in
            guard let by = c.integerArgument(2) else { return c.notAnInteger(out) }
            guard by != Int.min else { return c.error(out, "ERR decrement would overflow") }
            return c.incrementBy(-by, out)
        },
    ]

    // MARK: reads

    /// The live item for `key` in this connection's database, of any type, with a reference the
    /// caller releases (or hands to the output); counted as a keyspace hit or miss.
    func lookup(_ key: UnsafeRawBufferPointer, hash: UInt32? = nil) -> Item? {
        guard key.count <= ItemLayout.maxKeyLength else {
            stats.add(RESPCounter.keyspaceMisses.rawValue)
            return nil
        }
        var outcome = GetOutcome.miss
        let it = engine.get(key, hash: hash ?? CacheEngine.hash(key), database: database, anyType: true, outcome: &outcome)
        stats.add(it == nil ? RESPCounter.keyspaceMisses.rawValue : RESPCounter.keyspaceHits.rawValue)
        return it
    }

    /// What a string command finds under a key.
    enum StringRead {
        case value(Item)
        case none
        /// A list, hash, ...: WRONGTYPE (no reference held).
        case wrongType
    }

    /// `lookup` for a string command.
    func readString(_ key: UnsafeRawBufferPointer, hash: UInt32? = nil) -> StringRead {
        guard let it = lookup(key, hash: hash) else { return .none }
        if it.type != .string {
            engine.release(it)
            return .wrongType
        }
        return .value(it)
    }

    static let wrongTypeError: StaticString = "WRONGTYPE Operation against a key holding the wrong kind of value"

    func wrongType(_ out: OutputBuffer) -> HandlerAction { error(out, Self.wrongTypeError) }

    /// A bulk reply of `key`'s value, null, or WRONGTYPE.
    func appendValue(of key: UnsafeRawBufferPointer, _ out: OutputBuffer) {
        switch readString(key) {
        case .value(let it): appendOld(it, out)
        case .none: out.appendRESPNull(version)
        case .wrongType: _ = wrongType(out)
        }
    }

    /// Values up to this size are copied into the reply rather than referenced: measured with
    /// redis-benchmark -t get -P 16, about a fifth less server CPU (BENCHMARKS.md).
    static let copiedValueMax = 128

    /// A bulk reply straight from item memory (the output releases the reference once written;
    /// a small value is copied), or null for nil.
    func appendOld(_ item: Item?, _ out: OutputBuffer) {
        guard let item else { return out.appendRESPNull(version) }
        out.appendRESPBulkHeader(item.valueLength)
        engine.appendValue(of: item, to: out, copyLimit: Self.copiedValueMax)
        out.append("\r\n" as StaticString)
    }

    private func get(_ out: OutputBuffer) -> HandlerAction {
        appendValue(of: argument(1), out)
        return .proceed
    }

    // MARK: writes

    enum Expiry {
        case none
        /// KEEPTTL: the old item's.
        case keep
        case at(ExpiryTime)
    }

    enum Condition {
        case always
        /// NX.
        case ifAbsent
        /// XX.
        case ifPresent
    }

    struct WriteResult {
        var stored = false
        /// The value before the write (GET, GETSET), referenced: the caller replies with it.
        var old: Item? = nil
        var failure: StaticString? = nil
    }

    /// Stores `value` under `key` as a Redis string, under `condition`, atomically with reading
    /// the old value when `wantOld` or `expiry == .keep` need it.
    func write(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, expiry: Expiry,
               condition: Condition, wantOld: Bool) -> WriteResult {
        guard key.count <= ItemLayout.maxKeyLength else { return WriteResult(failure: Self.keyTooLong) }
        let hv = CacheEngine.hash(key)
        var needsOld = wantOld
        if case .keep = expiry { needsOld = true }
        // `new` needs to know what was there: the read and compare-and-swap path, taken only
        // while those events are on (`expired`, for a key found expired, comes from the engine's
        // lookup whichever path is taken).
        if notifying(KeyspaceEvents.new) { needsOld = true }
        if !needsOld {
            // One storage operation: the engine's set, add or replace, over a key of any type.
            let mode: StoreMode = condition == .ifAbsent ? .add : condition == .ifPresent ? .replace : .set
            // Over a string of the same size class, in its own chunk (no allocation, no free);
            // else a new item. (NX stores a new item or nothing: one lookup, in store.)
            if mode != .add {
                switch engine.overwrite(key, hash: hv, database: database, value: value, expiry: expiry.fixed, mode: mode) {
                case .stored: return WriteResult(stored: true)
                case .notStored: return WriteResult(stored: false)
                case .needsItem: break
                }
            }
            let item: Item
            switch newItem(key: key, expiry: expiry.fixed, length: value.count) {
            case .ok(let it): item = it
            case .failed(let why): return WriteResult(failure: why)
            }
            defer { engine.release(item) }
            engine.writeValue(item, at: 0, value)
            return WriteResult(stored: engine.store(item, hash: hv, mode: mode, casIn: 0, anyType: true).0 == .stored)
        }
        while true {
            var outcome = GetOutcome.miss
            let old = engine.get(key, hash: hv, database: database, anyType: true, outcome: &outcome)
            // SET ... GET and GETSET read the old value as a string: another type is WRONGTYPE
            // (and nothing is written), as redis.
            if wantOld, let o = old, o.type != .string {
                engine.release(o)
                return WriteResult(failure: Self.wrongTypeError)
            }
            if (condition == .ifAbsent && old != nil) || (condition == .ifPresent && old == nil) {
                if !wantOld, let old { engine.release(old) }
                return WriteResult(stored: false, old: wantOld ? old : nil)
            }
            let item: Item
            switch newItem(key: key, expiry: expiry.fixed, length: value.count) {
            case .ok(let it): item = it
            case .failed(let why):
                if let old { engine.release(old) }
                return WriteResult(failure: why)
            }
            if case .keep = expiry, let old { engine.copyExpiry(from: old, to: item) }
            engine.writeValue(item, at: 0, value)
            let (result, _) = engine.store(item, hash: hv, mode: old == nil ? .add : .cas, casIn: old?.cas ?? 0, anyType: true)
            engine.release(item)
            if result == .stored {
                if old == nil { notify(KeyspaceEvents.new, "new", key) }
                if !wantOld, let old { engine.release(old) }
                return WriteResult(stored: true, old: wantOld ? old : nil)
            }
            // Another writer came between the read and the store: read again.
            if let old { engine.release(old) }
        }
    }

    enum NewItem {
        case ok(Item)
        /// The error reply: the item size limit (-I), or memory (-m) in redis's OOM words.
        case failed(StaticString)
    }

    /// A fresh item for a Redis string (client flags 0) in this connection's database.
    func newItem(key: UnsafeRawBufferPointer, expiry: ExpiryTime, length: Int) -> NewItem {
        switch engine.allocate(key: key, flags: 0, expiry: 0, valueLength: length, database: database) {
        case .item(let it):
            if expiry != .never { engine.setExpiry(it, expiry) }
            return .ok(it)
        case .tooLarge: return .failed("ERR string exceeds maximum allowed size (the item size limit, -I)")
        case .outOfMemory: return .failed("OOM command not allowed when used memory > 'maxmemory'.")
        }
    }

    static let keyTooLong: StaticString = "ERR key is longer than 250 bytes, the longest key swiftcached's items hold"

    /// Answers a write: its failure, or `ok`.
    func reply(_ r: WriteResult, _ out: OutputBuffer, ok: () -> Void) -> HandlerAction {
        if let failure = r.failure {
            if let old = r.old { engine.release(old) }
            return error(out, failure)
        }
        ok()
        return .proceed
    }

    /// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL], parsed as redis 7.0's
    /// parseExtendedStringArgumentsOrReply.
    private func set(_ out: OutputBuffer) -> HandlerAction {
        var condition = Condition.always
        var wantOld = false
        var keepTTL = false
        var unit: ExpiryUnit? = nil
        var expiryArgument = 0
        var j = 3
        while j < argumentCount {
            let hasNext = j + 1 < argumentCount
            if argument(j, is: "nx") && condition != .ifPresent {
                condition = .ifAbsent
            } else if argument(j, is: "xx") && condition != .ifAbsent {
                condition = .ifPresent
            } else if argument(j, is: "get") {
                wantOld = true
            } else if argument(j, is: "keepttl") && unit == nil {
                keepTTL = true
            } else if let u = ExpiryUnit(argument(j)), hasNext, !keepTTL, unit == nil || unit == u {
                unit = u
                expiryArgument = j + 1
                j += 1
            } else {
                return syntaxError(out)
            }
            j += 1
        }
        var expiry = keepTTL ? Expiry.keep : .none
        if let unit {
            guard let at = expiryTime(expiryArgument, unit, command: "set", out) else { return .proceed }
            expiry = .at(at)
        }
        let r = write(key: argument(1), value: argument(2), expiry: expiry, condition: condition, wantOld: wantOld)
        return reply(r, out) {
            if r.stored {
                notify(KeyspaceEvents.string, "set", argument(1))
                if unit != nil { notify(KeyspaceEvents.generic, "expire", argument(1)) }
            }
            if wantOld {
                appendOld(r.old, out)
            } else if r.stored {
                out.appendRESPOK()
            } else {
                out.appendRESPNull(version)
            }
        }
    }

    /// SETEX / PSETEX key time value.
    private func setWithExpiry(_ out: OutputBuffer, milliseconds: Bool) -> HandlerAction {
        guard let at = expiryTime(2, milliseconds ? .px : .ex, command: milliseconds ? "psetex" : "setex", out) else { return .proceed }
        let r = write(key: argument(1), value: argument(3), expiry: .at(at), condition: .always, wantOld: false)
        return reply(r, out) {
            notify(KeyspaceEvents.string, "set", argument(1))
            notify(KeyspaceEvents.generic, "expire", argument(1))
            out.appendRESPOK()
        }
    }

    enum ExpiryUnit: Equatable {
        case ex, px, exat, pxat

        init?(_ word: UnsafeRawBufferPointer) {
            if equalFolded(word, "ex") { self = .ex } else if equalFolded(word, "px") { self = .px }
            else if equalFolded(word, "exat") { self = .exat } else if equalFolded(word, "pxat") { self = .pxat }
            else { return nil }
        }
    }

    /// Argument `i` as an expiry in `unit`: a Unix time in milliseconds, as redis 7.0's
    /// getExpireMillisecondsOrReply computes it; nil after writing redis's error (not an
    /// integer; not positive, or overflowing once in milliseconds: invalid expire time). A time
    /// already past stores the key expired, as redis deletes it.
    func expiryTime(_ i: Int, _ unit: ExpiryUnit, command: StaticString, _ out: OutputBuffer) -> ExpiryTime? {
        guard var v = integerArgument(i) else {
            _ = notAnInteger(out)
            return nil
        }
        let inSeconds = unit == .ex || unit == .exat
        guard v > 0, !inSeconds || v <= Int.max / 1000 else {
            _ = error(out, "ERR invalid expire time in '\(command)' command")
            return nil
        }
        if inSeconds { v *= 1000 }
        if unit == .ex || unit == .px {
            let (sum, overflow) = v.addingReportingOverflow(Int(engine.clock.milliseconds))
            guard !overflow else {
                _ = error(out, "ERR invalid expire time in '\(command)' command")
                return nil
            }
            v = sum
        }
        return .unixMilliseconds(v)
    }

    private func mset(_ out: OutputBuffer) -> HandlerAction {
        guard argumentCount % 2 == 1 else { return error(out, "ERR wrong number of arguments for 'mset' command") }
        var i = 1
        while i < argumentCount {
            let r = write(key: argument(i), value: argument(i + 1), expiry: .none, condition: .always, wantOld: false)
            if let failure = r.failure { return error(out, failure) }
            notify(KeyspaceEvents.string, "set", argument(i))
            i += 2
        }
        out.appendRESPOK()
        return .proceed
    }

    /// MSETNX: every pair stored only if no key exists (1), else none (0). The keys are checked,
    /// then added one by one: a writer racing on one of them makes the add of that one fail, the
    /// pairs added before it stay (README lists the difference). A key named twice is set twice,
    /// the later value winning, as redis's msetnx does: an add that fails on a key this command
    /// already added overwrites it.
    private func msetnx(_ out: OutputBuffer) -> HandlerAction {
        guard argumentCount % 2 == 1 else { return error(out, "ERR wrong number of arguments for 'msetnx' command") }
        for i in stride(from: 1, to: argumentCount, by: 2) {
            guard argument(i).count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
            if let it = lookup(argument(i)) {
                engine.release(it)
                out.appendRESPInteger(0)
                return .proceed
            }
        }
        var all = true
        // The keys added so far, made only when a key turns out to exist (a repeat, or a race).
        var added: Set<[UInt8]>? = nil
        for i in stride(from: 1, to: argumentCount, by: 2) {
            var r = write(key: argument(i), value: argument(i + 1), expiry: .none, condition: .ifAbsent, wantOld: false)
            if let failure = r.failure { return error(out, failure) }
            if !r.stored {
                if added == nil {
                    added = Set(stride(from: 1, to: i, by: 2).map { Array(argument($0)) })
                }
                if added!.contains(Array(argument(i))) {
                    r = write(key: argument(i), value: argument(i + 1), expiry: .none, condition: .always, wantOld: false)
                    if let failure = r.failure { return error(out, failure) }
                }
            }
            if r.stored, added != nil { added!.insert(Array(argument(i))) }
            all = all && r.stored
            if r.stored { notify(KeyspaceEvents.string, "set", argument(i)) }
        }
        out.appendRESPInteger(all ? 1 : 0)
        return .proceed
    }

    /// GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]: the value, and the expiry set on that same
    /// item (its CAS checked under the item lock; another writer in between: read again).
    private func getex(_ out: OutputBuffer) -> HandlerAction {
        var newExpiry: ExpiryTime? = nil
        var i = 2
        while i < argumentCount {
            if argument(i, is: "persist") && argumentCount == 3 {
                newExpiry = .never
                i += 1
            } else if let unit = ExpiryUnit(argument(i)), i + 1 < argumentCount, newExpiry == nil {
                guard let at = expiryTime(i + 1, unit, command: "getex", out) else { return .proceed }
                newExpiry = at
                i += 2
            } else {
                return syntaxError(out)
            }
        }
        let key = argument(1)
        guard let expiry = newExpiry else {
            appendValue(of: key, out)
            return .proceed
        }
        while true {
            let it: Item
            switch readString(key) {
            case .value(let found): it = found
            case .none:
                out.appendRESPNull(version)
                return .proceed
            case .wrongType: return wrongType(out)
            }
            let cas = it.cas
            // PERSIST of a key without a TTL changes nothing: no new CAS (a WATCH of the key
            // holds) and no event, as redis's removeExpire finding none.
            var noTTL = false
            let change = engine.changeExpiry(key, hash: CacheEngine.hash(key), database: database) { current in
                guard current.cas == cas else { return nil }
                if expiry == .never && current.expiry == 0 {
                    noTTL = true
                    return nil
                }
                return expiry
            }
            if noTTL {
                appendOld(it, out)
                return .proceed
            }
            if change == .changed {
                if expiry == .never { notify(KeyspaceEvents.generic, "persist", key) }
                else { notify(KeyspaceEvents.generic, "expire", key) }
                appendOld(it, out)
                return .proceed
            }
            engine.release(it)
        }
    }

    /// INCRBYFLOAT key increment: in long double as redis, written with `%.17Lf` and its trailing
    /// zeros removed (redis's ld2string LD_STR_HUMAN).
    private func incrementByFloat(_ out: OutputBuffer) -> HandlerAction {
        guard let by = RESP.longDoubleValue(argument(2)) else { return error(out, "ERR value is not a valid float") }
        var text: [UInt8] = []
        let outcome = rewrite(argument(1), plan: { old in
            var current: Float80 = 0
            if let old {
                guard let v = longDoubleValue(of: old) else { return .fail("ERR value is not a valid float") }
                current = v
            }
            let sum = current + by
            guard sum.isFinite else { return .fail("ERR increment would produce NaN or Infinity") }
            text = humanLongDouble(sum)
            return .write(length: text.count)
        }, fill: { _, item in
            text.withUnsafeBytes { engine.writeValue(item, at: 0, $0) }
        })
        if case .failed(let why) = outcome { return error(out, why) }
        notify(KeyspaceEvents.string, "incrbyfloat", argument(1))
        text.withUnsafeBytes { out.appendRESPBulk($0) }
        return .proceed
    }

    /// A string value read as redis's string2ld reads it (at most 5 KB, no blanks, finite).
    private func longDoubleValue(of it: Item) -> Float80? {
        guard it.valueLength <= 5 * 1024, engine.valueSegmentCount(it) == 1 else { return nil }
        return RESP.longDoubleValue(UnsafeRawBufferPointer(engine.valueSegment(it, 0)))
    }

    /// GETDEL: the value, deleted only if it is still the one read (its CAS).
    private func getdel(_ out: OutputBuffer) -> HandlerAction {
        let key = argument(1)
        while true {
            let old: Item
            switch readString(key) {
            case .value(let found): old = found
            case .none:
                out.appendRESPNull(version)
                return .proceed
            case .wrongType: return wrongType(out)
            }
            switch engine.delete(key, hash: CacheEngine.hash(key), database: database, casIn: old.cas) {
            case .deleted:
                notify(KeyspaceEvents.generic, "del", key)
                appendOld(old, out)
                return .proceed
            default:
                engine.release(old)
            }
        }
    }

    /// What a read-modify-write command makes of the old value.
    enum RewritePlan {
        /// Build a value of this length (`fill` writes it).
        case write(length: Int)
        /// Write nothing: the reply needs no change (SETRANGE of nothing on a missing key).
        case skip
        case fail(String)
    }

    enum RewriteOutcome {
        case stored, skipped
        case failed(String)
    }

    /// The compare-and-swap loop of the commands that rebuild a string from its old value
    /// (APPEND, SETRANGE, SETBIT, INCR and INCRBYFLOAT's families): `plan` sees the old item (nil:
    /// none) and says what to build; `fill` writes the new value into the fresh item, which keeps
    /// the old one's expiry to the millisecond. A key of another type is WRONGTYPE. If another
    /// writer stored between the read and the store, both run again on what it stored.
    func rewrite(_ key: UnsafeRawBufferPointer, plan: (Item?) -> RewritePlan, fill: (Item?, Item) -> Void) -> RewriteOutcome {
        guard key.count <= ItemLayout.maxKeyLength else { return .failed(Self.keyTooLong.description) }
        let hv = CacheEngine.hash(key)
        while true {
            var outcome = GetOutcome.miss
            let old = engine.get(key, hash: hv, database: database, anyType: true, outcome: &outcome)
            defer { if let old { engine.release(old) } }
            if let old, old.type != .string { return .failed(Self.wrongTypeError.description) }
            let length: Int
            switch plan(old) {
            case .write(let n): length = n
            case .skip: return .skipped
            case .fail(let why): return .failed(why)
            }
            let item: Item
            switch newItem(key: key, expiry: .never, length: length) {
            case .ok(let it): item = it
            case .failed(let why): return .failed(why.description)
            }
            if let old { engine.copyExpiry(from: old, to: item) }
            fill(old, item)
            let (result, _) = engine.store(item, hash: hv, mode: old == nil ? .add : .cas, casIn: old?.cas ?? 0, anyType: true)
            engine.release(item)
            if result == .stored {
                if old == nil { notify(KeyspaceEvents.new, "new", key) }
                return .stored
            }
        }
    }

    /// APPEND key value: the new length.
    private func append(_ out: OutputBuffer) -> HandlerAction {
        let value = argument(2)
        var length = 0
        let outcome = rewrite(argument(1), plan: { old in
            length = (old?.valueLength ?? 0) + value.count
            return .write(length: length)
        }, fill: { old, item in
            if let old { engine.copyValue(from: old, to: item, at: 0) }
            engine.writeValue(item, at: old?.valueLength ?? 0, value)
        })
        if case .failed(let why) = outcome { return error(out, why) }
        notify(KeyspaceEvents.string, "append", argument(1))
        out.appendRESPInteger(Int64(length))
        return .proceed
    }

    /// INCR, DECR, INCRBY, DECRBY: one storage operation (the engine's `addToInteger`), in place
    /// when the digits keep their length.
    private func incrementBy(_ by: Int, _ out: OutputBuffer) -> HandlerAction {
        let key = argument(1)
        guard key.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        let hv = CacheEngine.hash(key)
        // addToInteger creates a missing key silently: only when `new` events are on, a lookup
        // first says whether the key exists.
        let created = keyMissingForNew(key, hv)
        let update = engine.addToInteger(key, hash: hv, database: database, by: by,
                                         parse: { $0.count == 0 ? nil : parseInteger($0.baseAddress!, $0.count) },
                                         format: { formatSigned($0, into: $1) })
        switch update {
        case .value(let sum):
            if created { notify(KeyspaceEvents.new, "new", key) }
            notify(KeyspaceEvents.string, "incrby", key)
            out.appendRESPInteger(Int64(sum))
            return .proceed
        case .notInteger: return error(out, "ERR value is not an integer or out of range")
        case .overflow: return error(out, "ERR increment or decrement would overflow")
        case .wrongType: return wrongType(out)
        case .outOfMemory: return error(out, "OOM command not allowed when used memory > 'maxmemory'.")
        }
    }
}

extension RESPConnection.Expiry {
    /// A fixed expiry (`.never` for none); `.keep` is resolved by the caller.
    var fixed: ExpiryTime {
        if case .at(let t) = self { return t }
        return .never
    }
}

/// redis's string2ld: the whole text is one long double (strtold), no leading blank, not NaN.
func longDoubleValue(_ text: UnsafeRawBufferPointer) -> Float80? {
    guard text.count > 0, text.count < 5 * 1024, !isBlankByte(text[0]) else { return nil }
    var buffer = [CChar](repeating: 0, count: text.count + 1)
    for i in 0..<text.count { buffer[i] = CChar(bitPattern: text[i]) }
    return buffer.withUnsafeBufferPointer { p -> Float80? in
        var end: UnsafeMutablePointer<CChar>? = nil
        errno = 0
        let v = strtold(p.baseAddress!, &end)
        guard let end, end - UnsafeMutablePointer(mutating: p.baseAddress!) == text.count, !v.isNaN, errno != ERANGE || v.isFinite else { return nil }
        return v
    }
}

private func isBlankByte(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

/// `%.17Lf` without trailing zeros (and a lone "-0" as "0"), as redis writes INCRBYFLOAT's result.
func humanLongDouble(_ v: Float80) -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 5 * 1024)
    let n = withVaList([v]) { vsnprintf(&buffer, buffer.count, "%.17Lf", $0) }
    var text = buffer.prefix(Int(max(0, min(n, Int32(buffer.count - 1))))).map { UInt8(bitPattern: $0) }
    if text.contains(UInt8(ascii: ".")) {
        while text.last == UInt8(ascii: "0") { text.removeLast() }
        if text.last == UInt8(ascii: ".") { text.removeLast() }
    }
    if text == Array("-0".utf8) { text = [UInt8(ascii: "0")] }
    return text
}

/// The decimal form of `v` into `out` (at least 20 bytes); returns its length.
func formatSigned(_ v: Int, into out: UnsafeMutableRawBufferPointer) -> Int {
    var m = v.magnitude
    var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
    return withUnsafeMutableBytes(of: &tmp) { t in
        var n = 0
        repeat {
            t[n] = UInt8(truncatingIfNeeded: m % 10) + 0x30
            m /= 10
            n += 1
        } while m != 0
        var k = 0
        if v < 0 { out[0] = UInt8(ascii: "-"); k = 1 }
        for i in 0..<n { out[k + i] = t[n - 1 - i] }
        return k + n
    }
}
