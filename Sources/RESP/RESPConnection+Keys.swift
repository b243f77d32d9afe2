// Key commands of the Redis port over the cache's items: DEL UNLINK EXISTS TOUCH TYPE, and
// expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT) TTL PTTL EXPIRETIME PEXPIRETIME PERSIST.
// They work on a key of any type in the connection's database; expiry is kept to the
// millisecond. (RENAME, COPY, MOVE, SCAN, KEYS: RESPConnection+Keyspace.swift.)
import CacheEngine
import Platform

extension RESPConnection {
    static let keyCommands: [RESPCommand] = [
        RESPCommand("del", arity: -2, keys: (1, -1, 1), flags: [.write]) { c, out in c.delete(out) },
        // Deleting an item frees it at once here, so UNLINK is DEL.
        RESPCommand("unlink", arity: -2, keys: (1, -1, 1), flags: [.write, .fast]) { c, out in c.delete(out) },
        RESPCommand("exists", arity: -2, keys: (1, -1, 1), flags: [.readonly, .fast]) { c, out in
            // redis counts a key named twice twice.
            var n: Int64 = 0
            for i in 1..<c.argumentCount {
                let key = c.argument(i)
                if key.count <= ItemLayout.maxKeyLength, c.inspectSilently(key, CacheEngine.hash(key)) != nil {
                    n += 1
                }
            }
            out.appendRESPInteger(n)
            return .proceed
        },
        // TOUCH: as EXISTS, but each read counts as an access (LRU bump).
        RESPCommand("touch", arity: -2, keys: (1, -1, 1), flags: [.readonly, .fast]) { c, out in
            var n: Int64 = 0
            for i in 1..<c.argumentCount {
                if let it = c.lookup(c.argument(i)) {
                    n += 1
                    c.engine.release(it)
                }
            }
            out.appendRESPInteger(n)
            return .proceed
        },
        RESPCommand("type", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in
            out.appendRESPSimple(c.inspect(c.argument(1)).map { RESPConnection.typeName($0.type) } ?? "none")
            return .proceed
        },
        RESPCommand("expire", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.expire(.relativeSeconds, "expire", out) },
        RESPCommand("pexpire", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.expire(.relativeMilliseconds, "pexpire", out) },
        RESPCommand("expireat", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.expire(.unixSeconds, "expireat", out) },
        RESPCommand("pexpireat", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.expire(.unixMilliseconds, "pexpireat", out) },
        RESPCommand("ttl", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.timeToLive(.relativeSeconds, out) },
        RESPCommand("pttl", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.timeToLive(.relativeMilliseconds, out) },
        RESPCommand("expiretime", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.timeToLive(.unixSeconds, out) },
        RESPCommand("pexpiretime", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.timeToLive(.unixMilliseconds, out) },
        RESPCommand("persist", arity: 2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in
            let key = c.argument(1)
            guard key.count <= ItemLayout.maxKeyLength else {
                out.appendRESPInteger(0)
                return .proceed
            }
            let change = c.engine.changeExpiry(key, hash: CacheEngine.hash(key), database: c.database, anyType: true) { current in
                current.expiry == 0 ? nil : .never
            }
            if change == .changed { c.notify(KeyspaceEvents.generic, "persist", key) }
            out.appendRESPInteger(change == .changed ? 1 : 0)
            return .proceed
        },
    ]

    /// TYPE's name for a value type.
    static func typeName(_ type: ItemType) -> StaticString {
        switch type {
        case .string: "string"
        case .list: "list"
        case .hash: "hash"
        case .set: "set"
        case .zset: "zset"
        case .stream: "stream"
        }
    }

    /// How an expiry argument counts time.
    enum ExpiryArgument {
        case relativeSeconds, relativeMilliseconds, unixSeconds, unixMilliseconds
    }

    /// The item's header as it is, counted as a keyspace hit or miss (TTL, TYPE).
    func inspect(_ key: UnsafeRawBufferPointer) -> ItemInfo? {
        guard key.count <= ItemLayout.maxKeyLength else { return nil }
        let info = inspectSilently(key, CacheEngine.hash(key))
        stats.add(info == nil ? RESPCounter.keyspaceMisses.rawValue : RESPCounter.keyspaceHits.rawValue)
        return info
    }

    /// The item's header without counting an access or a keyspace hit (a lookup that finds the
    /// key expired removes it, and the engine's removal hook publishes `expired`, as redis's
    /// expireIfNeeded).
    func inspectSilently(_ key: UnsafeRawBufferPointer, _ hv: UInt32) -> ItemInfo? {
        engine.inspect(key, hash: hv, database: database, anyType: true)
    }

    /// EXPIRE and its family, as redis 7.0's expireGenericCommand: the time, the NX/XX/GT/LT
    /// conditions against the key's expiry (none counts as infinite), a time already past
    /// removes the key (1).
    private func expire(_ unit: ExpiryArgument, _ name: StaticString, _ out: OutputBuffer) -> HandlerAction {
        var nx = false, xx = false, gt = false, lt = false
        for i in 3..<max(3, argumentCount) {
            if argument(i, is: "nx") { nx = true } else if argument(i, is: "xx") { xx = true }
            else if argument(i, is: "gt") { gt = true } else if argument(i, is: "lt") { lt = true }
            else { return error(out, "ERR Unsupported option " + String(decoding: argument(i), as: UTF8.self)) }
        }
        if nx && (xx || gt || lt) { return error(out, "ERR NX and XX, GT or LT options at the same time are not compatible") }
        if gt && lt { return error(out, "ERR GT and LT options at the same time are not compatible") }
        guard var when = integerArgument(2) else { return notAnInteger(out) }
        if unit == .relativeSeconds || unit == .unixSeconds {
            guard when <= Int.max / 1000 && when >= Int.min / 1000 else {
                return error(out, "ERR invalid expire time in '\(name)' command")
            }
            when *= 1000
        }
        let now = Int(engine.clock.milliseconds)
        if unit == .relativeSeconds || unit == .relativeMilliseconds {
            guard when <= Int.max - now else { return error(out, "ERR invalid expire time in '\(name)' command") }
            when += now
        }
        let key = argument(1)
        guard key.count <= ItemLayout.maxKeyLength else {
            out.appendRESPInteger(0)
            return .proceed
        }
        let processStarted = engine.clock.processStarted
        let change = engine.changeExpiry(key, hash: CacheEngine.hash(key), database: database, anyType: true) { current in
            let currentMs = current.expiryUnixMilliseconds(processStarted: processStarted)
            if nx && currentMs != nil { return nil }
            if xx && currentMs == nil { return nil }
            if gt && (currentMs == nil || when <= currentMs!) { return nil }
            if lt && currentMs != nil && when >= currentMs! { return nil }
            return .unixMilliseconds(when)  // already past: the engine removes the item
        }
        // A time already past removed the key: redis says del, else expire.
        if change == .changed { notify(KeyspaceEvents.generic, when <= Int(engine.clock.milliseconds) ? "del" : "expire", key) }
        out.appendRESPInteger(change == .changed ? 1 : 0)
        return .proceed
    }

    /// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for no key, -1 for no expiry.
    private func timeToLive(_ unit: ExpiryArgument, _ out: OutputBuffer) -> HandlerAction {
        guard let info = inspect(argument(1)) else {
            out.appendRESPInteger(-2)
            return .proceed
        }
        guard let at = info.expiryUnixMilliseconds(processStarted: engine.clock.processStarted) else {
            out.appendRESPInteger(-1)
            return .proceed
        }
        let remaining = max(0, at - Int(engine.clock.milliseconds))
        switch unit {
        case .relativeSeconds: out.appendRESPInteger(Int64((remaining + 500) / 1000))
        case .relativeMilliseconds: out.appendRESPInteger(Int64(remaining))
        case .unixSeconds: out.appendRESPInteger(Int64(at / 1000))
        case .unixMilliseconds: out.appendRESPInteger(Int64(at))
        }
        return .proceed
    }

    private func delete(_ out: OutputBuffer) -> HandlerAction {
        var n: Int64 = 0
        for i in 1..<argumentCount {
            let key = argument(i)
            guard key.count <= ItemLayout.maxKeyLength else { continue }
            if engine.delete(key, hash: CacheEngine.hash(key), database: database, anyType: true) {
                n += 1
                notify(KeyspaceEvents.generic, "del", key)
            }
        }
        out.appendRESPInteger(n)
        return .proceed
    }
}
