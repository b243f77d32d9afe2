// The keyspace commands of the Redis port: RENAME RENAMENX COPY MOVE (one engine operation each,
// atomic, keeping type, value and the exact expiry: CacheEngine+Transfer.swift), SWAPDB (the
// engine's logical → physical database map, O(1)), KEYS, SCAN (redis's reverse-binary cursor
// over the hash table, CacheEngine+Walk.swift) and RANDOMKEY, with redis-server 7.0's replies.
// SELECT, FLUSHDB and FLUSHALL are in +Connection, DBSIZE in +Server.
import CacheEngine
import Platform

extension RESPConnection {
    static let keyspaceCommands: [RESPCommand] = [
        RESPCommand("rename", arity: 3, keys: (1, 2, 1), flags: [.write]) { c, out in c.rename(nx: false, out) },
        RESPCommand("renamenx", arity: 3, keys: (1, 2, 1), flags: [.write, .fast]) { c, out in c.rename(nx: true, out) },
        RESPCommand("copy", arity: -3, keys: (1, 2, 1), flags: [.write, .denyoom]) { c, out in c.copy(out) },
        RESPCommand("move", arity: 3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.move(out) },
        RESPCommand("swapdb", arity: 3, flags: [.write, .fast]) { c, out in c.swapdb(out) },
        RESPCommand("keys", arity: 2, flags: [.readonly]) { c, out in c.keys(out) },
        RESPCommand("scan", arity: -2, flags: [.readonly]) { c, out in c.scan(out) },
        RESPCommand("randomkey", arity: 1, flags: [.readonly]) { c, out in
            if let key = c.engine.randomKey(database: c.database) {
                key.withUnsafeBytes { out.appendRESPBulk($0) }
            } else {
                out.appendRESPNull(c.version)
            }
            return .proceed
        },
    ]

    /// Buckets one SCAN call visits at most: redis's COUNT x 10, at least 8,192, and at least
    /// twice the buckets that hold COUNT of this database's keys on average (the table is shared
    /// by 16 databases and sized for the cache, so most buckets are empty for any one: redis's
    /// table, sized to its keys, finds COUNT keys in COUNT buckets or so, where a fixed budget
    /// here answered page after empty page for a few keys in a large table), at most 2^20. A
    /// call the budget ends before COUNT keys is counted (`resp_scan_cut_short`).
    static let scanBucketsMin = 8192
    static let scanBucketsMax = 1 << 20

    static func scanBudget(count: Int, keys: Int, buckets: Int) -> Int {
        let tenfold = count > scanBucketsMax / 10 ? scanBucketsMax : count * 10
        var dense = scanBucketsMax
        if keys > 0 {
            let (n, overflow) = (buckets / keys).multipliedReportingOverflow(by: count)
            if !overflow && n < scanBucketsMax / 2 { dense = n * 2 }
        }
        return min(scanBucketsMax, max(scanBucketsMin, tenfold, dense))
    }

    /// A type this port cannot yet move, copy or describe (lists and the other types come with
    /// their own work): a clear error, counted (`resp_unsupported_type_errors`).
    func unsupportedType(command: StaticString, _ type: ItemType? = nil, _ out: OutputBuffer) -> HandlerAction {
        stats.add(RESPCounter.unsupportedTypes.rawValue)
        let name = type.map { " of type " + Self.typeName($0).description } ?? " of this type"
        return error(out, "ERR swiftcached cannot \(command) a key\(name) yet")
    }

    /// A transfer's reply for what the engine did; `done`: the success reply.
    private func transferReply(_ r: KeyTransferResult, command: StaticString, done: () -> Void,
                               _ out: OutputBuffer) -> HandlerAction {
        switch r {
        case .done: done()
        case .noSource, .destinationExists: out.appendRESPInteger(0)
        case .unsupportedType(let t): return unsupportedType(command: command, t, out)
        case .tooLarge: return error(out, "ERR string exceeds maximum allowed size (the item size limit, -I)")
        case .outOfMemory: return error(out, "OOM command not allowed when used memory > 'maxmemory'.")
        }
        return .proceed
    }

    /// RENAME key newkey (OK, or `ERR no such key`) and RENAMENX (1, or 0 when newkey exists).
    private func rename(nx: Bool, _ out: OutputBuffer) -> HandlerAction {
        let key = argument(1), newKey = argument(2)
        guard key.count <= ItemLayout.maxKeyLength else { return error(out, "ERR no such key") }
        guard newKey.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        if key.elementsEqual(newKey) {
            // redis: the same key is no operation, but a missing one is still an error.
            guard inspect(key) != nil else { return error(out, "ERR no such key") }
            if nx { out.appendRESPInteger(0) } else { out.appendRESPOK() }
            return .proceed
        }
        let r = engine.renameKey(key, to: newKey, database: database, replace: !nx)
        if r == .noSource { return error(out, "ERR no such key") }
        return transferReply(r, command: nx ? "RENAMENX" : "RENAME", done: {
            notify(KeyspaceEvents.generic, "rename_from", key)
            notify(KeyspaceEvents.generic, "rename_to", newKey)
            if nx { out.appendRESPInteger(1) } else { out.appendRESPOK() }
            serveBlocked(newKey)
        }, out)
    }

    /// COPY source destination [DB destination-db] [REPLACE]: 1, or 0 (no source, or the
    /// destination exists without REPLACE).
    private func copy(_ out: OutputBuffer) -> HandlerAction {
        var target = database
        var replace = false
        var j = 3
        while j < argumentCount {
            if argument(j, is: "replace") {
                replace = true
            } else if argument(j, is: "db") && j + 1 < argumentCount {
                guard let db = databaseArgument(j + 1, out) else { return .proceed }
                guard Self.validDatabase(db) else { return error(out, "ERR DB index is out of range") }
                target = db
                j += 1
            } else {
                return syntaxError(out)
            }
            j += 1
        }
        let key = argument(1), newKey = argument(2)
        if target == database && key.elementsEqual(newKey) {
            return error(out, "ERR source and destination objects are the same")
        }
        guard newKey.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        guard key.count <= ItemLayout.maxKeyLength else {
            out.appendRESPInteger(0)
            return .proceed
        }
        let r = engine.copyKey(key, from: database, to: newKey, database: target, replace: replace)
        return transferReply(r, command: "COPY", done: {
            notify(KeyspaceEvents.generic, "copy_to", newKey, database: target)
            out.appendRESPInteger(1)
            serveBlocked(newKey, database: target)
        }, out)
    }

    /// MOVE key db: 1, or 0 (no key here, or one there).
    private func move(_ out: OutputBuffer) -> HandlerAction {
        guard let db = databaseArgument(2, out) else { return .proceed }
        guard Self.validDatabase(db) else { return error(out, "ERR DB index is out of range") }
        guard db != database else { return error(out, "ERR source and destination objects are the same") }
        let key = argument(1)
        guard key.count <= ItemLayout.maxKeyLength else {
            out.appendRESPInteger(0)
            return .proceed
        }
        let r = engine.moveKey(key, from: database, to: db)
        return transferReply(r, command: "MOVE", done: {
            notify(KeyspaceEvents.generic, "move_from", key)
            notify(KeyspaceEvents.generic, "move_to", key, database: db)
            out.appendRESPInteger(1)
            serveBlocked(key, database: db)
        }, out)
    }

    /// SWAPDB index1 index2: for every client, the memcached port included (logical 0).
    private func swapdb(_ out: OutputBuffer) -> HandlerAction {
        guard let a = databaseArgument(1, out, message: "ERR invalid first DB index") else { return .proceed }
        guard let b = databaseArgument(2, out, message: "ERR invalid second DB index") else { return .proceed }
        guard Self.validDatabase(a) && Self.validDatabase(b) else { return error(out, "ERR DB index is out of range") }
        engine.swapDatabases(a, b)
        out.appendRESPOK()
        // redis's scanDatabaseForReadyKeys on both: a client blocked on a key that is a list
        // after the swap is served; and its scanDatabaseForDeletedStreams: a blocked XREADGROUP
        // whose key holds no stream after the swap answers UNBLOCKED.
        for db in a == b ? [a] : [a, b] {
            for key in service.listWaits.blockedKeys(database: db) {
                key.withUnsafeBytes { serveBlocked($0, database: db) }
                if a != b && streamUnder(key, database: db) == nil {
                    key.withUnsafeBytes { service.listWaits.streamKeySwappedAway($0, database: db) }
                }
            }
        }
        return .proceed
    }

    /// KEYS pattern: every live key of this database that matches (redis's glob, case kept).
    private func keys(_ out: OutputBuffer) -> HandlerAction {
        let pattern = argument(1)
        let all = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
        var found: [[UInt8]] = []
        engine.forEachKey(database: database) { key, _ in
            if all || globMatches(pattern, key, ignoringCase: false) { found.append(Array(key)) }
        }
        out.appendRESPArrayHeader(found.count)
        for k in found { k.withUnsafeBytes { out.appendRESPBulk($0) } }
        return .proceed
    }

    /// redis's parseScanCursorOrReply: strtoul's decimal (a sign allowed, "-1" wraps), no
    /// leading space, nothing after, no overflow.
    func scanCursor(_ a: UnsafeRawBufferPointer) -> UInt64? {
        var i = 0
        if a.count > 0 && (a[0] == 0x20 || (a[0] >= 0x09 && a[0] <= 0x0D)) { return nil }
        var negative = false
        if i < a.count && (a[i] == UInt8(ascii: "+") || a[i] == UInt8(ascii: "-")) {
            negative = a[i] == UInt8(ascii: "-")
            i += 1
        }
        // strtoul without digits consumes nothing: the whole text must then be empty.
        if i == a.count { return a.count == 0 ? 0 : nil }
        var v: UInt64 = 0
        while i < a.count {
            let d = a[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            v = s
            i += 1
        }
        return negative ? 0 &- v : v
    }

    /// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
    private func scan(_ out: OutputBuffer) -> HandlerAction {
        guard let cursor = scanCursor(argument(1)) else { return error(out, "ERR invalid cursor") }
        var count = 10
        var pattern: UnsafeRawBufferPointer? = nil
        var type: UnsafeRawBufferPointer? = nil
        var i = 2
        while i < argumentCount {
            let more = argumentCount - i
            if argument(i, is: "count") && more >= 2 {
                guard let n = integerArgument(i + 1) else { return notAnInteger(out) }
                guard n >= 1 else { return syntaxError(out) }
                count = n
            } else if argument(i, is: "match") && more >= 2 {
                let p = argument(i + 1)
                pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
            } else if argument(i, is: "type") && more >= 2 {
                type = argument(i + 1)
            } else {
                return syntaxError(out)
            }
            i += 2
        }
        let keysHere = engine.keyCount(database: database)
        let budget = Self.scanBudget(count: count, keys: keysHere, buckets: engine.hashBucketCount)
        // A database with no more keys than COUNT is walked to the table's end in one call (within
        // the largest bucket budget): redis's table, sized to its keys, answers a small database in
        // one SCAN with cursor 0, from cursor 0 all of it, from another cursor the keys after it.
        let small = keysHere <= count
        let page = engine.scan(cursor: cursor, database: database, count: small ? Int.max : count,
                               bucketBudget: small ? Self.scanBucketsMax : budget)
        if page.cutShort { stats.add(RESPCounter.scanCutShort.rawValue) }
        var keys: [Int] = []
        for (n, k) in page.keys.enumerated() {
            if let type, !equalFolded(type, Self.typeName(page.types[n])) { continue }
            if let pattern, !k.withUnsafeBytes({ globMatches(pattern, $0, ignoringCase: false) }) { continue }
            keys.append(n)
        }
        out.appendRESPArrayHeader(2)
        var text = String(page.cursor)
        text.withUTF8 { out.appendRESPBulk(UnsafeRawBufferPointer($0)) }
        out.appendRESPArrayHeader(keys.count)
        for n in keys { page.keys[n].withUnsafeBytes { out.appendRESPBulk($0) } }
        return .proceed
    }
}
