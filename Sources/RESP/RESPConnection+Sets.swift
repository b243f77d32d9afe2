// Redis sets on the shared engine (CacheEngine+Set.swift: the hash structure with empty values,
// intset or hashtable as redis 7.0): SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER
// SPOP SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN, with redis's
// argument checks in its order (t_set.c) and its replies (SMEMBERS, SINTER, SUNION, SDIFF and
// SPOP with a count are RESP3 sets; SRANDMEMBER with a count an array). The set algebra reads each
// key's members under its own lock (`setSnapshot`) and computes here; a result redis would build
// as an intset (every member an integer, at most 512) is answered in ascending order, as redis's.
// Events: sadd, srem, spop, sinterstore/sunionstore/sdiffstore, del when emptied, new.
import CacheEngine
import Platform

extension RESPConnection {
    static let setCommands: [RESPCommand] = [
        RESPCommand("sadd", arity: -3, keys: (1, 1, 1), flags: [.write, .denyoom, .fast]) { c, out in c.setAdd(out) },
        RESPCommand("srem", arity: -3, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.setRemove(out) },
        RESPCommand("scard", arity: 2, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.setCard(out) },
        RESPCommand("sismember", arity: 3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.setIsMember(many: false, out) },
        RESPCommand("smismember", arity: -3, keys: (1, 1, 1), flags: [.readonly, .fast]) { c, out in c.setIsMember(many: true, out) },
        RESPCommand("smembers", arity: 2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.setMembers(out) },
        RESPCommand("srandmember", arity: -2, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.setRandomMember(out) },
        RESPCommand("spop", arity: -2, keys: (1, 1, 1), flags: [.write, .fast]) { c, out in c.setPop(out) },
        RESPCommand("smove", arity: 4, keys: (1, 2, 1), flags: [.write, .fast]) { c, out in c.setMove(out) },
        RESPCommand("sinter", arity: -2, keys: (1, -1, 1), flags: [.readonly]) { c, out in c.setAlgebra(.inter, first: 1, store: nil, out) },
        RESPCommand("sintercard", arity: -3, flags: [.readonly, .movableKeys]) { c, out in c.setInterCard(out) },
        RESPCommand("sinterstore", arity: -3, keys: (1, -1, 1), flags: [.write, .denyoom]) { c, out in c.setAlgebra(.inter, first: 2, store: 1, out) },
        RESPCommand("sunion", arity: -2, keys: (1, -1, 1), flags: [.readonly]) { c, out in c.setAlgebra(.union, first: 1, store: nil, out) },
        RESPCommand("sunionstore", arity: -3, keys: (1, -1, 1), flags: [.write, .denyoom]) { c, out in c.setAlgebra(.union, first: 2, store: 1, out) },
        RESPCommand("sdiff", arity: -2, keys: (1, -1, 1), flags: [.readonly]) { c, out in c.setAlgebra(.diff, first: 1, store: nil, out) },
        RESPCommand("sdiffstore", arity: -3, keys: (1, -1, 1), flags: [.write, .denyoom]) { c, out in c.setAlgebra(.diff, first: 2, store: 1, out) },
        RESPCommand("sscan", arity: -3, keys: (1, 1, 1), flags: [.readonly]) { c, out in c.fieldScan(out, type: .set, withValues: false) },
    ]

    static let setMemberTooLarge: StaticString = "ERR set member exceeds maximum allowed size (the item size limit, -I)"

    enum SetOperation { case inter, union, diff }

    /// The error reply for a failed set write (nil: not an error).
    func setWriteError(_ r: HashWriteResult, _ out: OutputBuffer) -> HandlerAction? {
        if r == .tooLarge {
            stats.add(RESPCounter.hashPairsTooLarge.rawValue)
            return error(out, Self.setMemberTooLarge)
        }
        return hashWriteError(r, out)
    }

    // MARK: commands

    private func setAdd(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { return error(out, Self.keyTooLong) }
        return addAndNotify(key, hv, out, event: KeyspaceEvents.set, "sadd", refused: setWriteError) {
            engine.setAdd(key, hash: hv, database: database, count: argumentCount - 2) { self.argument($0 + 2) }
        }
    }

    private func setRemove(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.hashDelete(key, hash: hv, database: database, type: .set, count: argumentCount - 2,
                                        field: { self.argument($0 + 2) }) else {
            return error(out, Self.wrongType)
        }
        if n > 0 {
            notify(KeyspaceEvents.set, "srem", key)
            notifyIfEmptied(key, hv)
        }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    private func setCard(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let n = engine.hashLength(key, hash: hv, database: database, type: .set) else { return error(out, Self.wrongType) }
        out.appendRESPInteger(Int64(n))
        return .proceed
    }

    /// SISMEMBER (1 or 0) / SMISMEMBER (an array of them).
    private func setIsMember(many: Bool, _ out: OutputBuffer) -> HandlerAction {
        let n = argumentCount - 2
        func none() -> HandlerAction {
            if many { out.appendRESPArrayHeader(n) }
            for _ in 0..<n { out.appendRESPInteger(0) }
            return .proceed
        }
        guard let (key, hv) = listKey(1) else { return none() }
        var started = false
        let r = engine.hashGet(key, hash: hv, database: database, type: .set, count: n, field: { self.argument($0 + 2) }) { v in
            if many && !started { out.appendRESPArrayHeader(n); started = true }
            out.appendRESPInteger(v == nil ? 0 : 1)
        }
        switch r {
        case .ok: return .proceed
        case .noKey: return none()
        case .wrongType: return error(out, Self.wrongType)
        }
    }

    private func setMembers(_ out: OutputBuffer) -> HandlerAction {
        guard let (key, hv) = listKey(1) else { out.appendRESPSetHeader(0, version); return .proceed }
        let r = engine.hashVisit(key, hash: hv, database: database, type: .set, willVisit: { out.appendRESPSetHeader($0, self.version) }) { m, _ in
            self.appendHashBytes(m, out)
        }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPSetHeader(0, version)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// SRANDMEMBER key [count].
    private func setRandomMember(_ out: OutputBuffer) -> HandlerAction {
        if argumentCount > 3 { return syntaxError(out) }
        guard argumentCount == 3 else {
            guard let (key, hv) = listKey(1) else { out.appendRESPNull(version); return .proceed }
            let r = engine.hashRandom(key, hash: hv, database: database, type: .set, count: 1, distinct: true, willVisit: { _ in }) { m, _ in
                self.appendHashBytes(m, out)
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
        guard let (key, hv) = listKey(1) else { out.appendRESPArrayHeader(0); return .proceed }
        guard let size = engine.hashLength(key, hash: hv, database: database, type: .set) else { return error(out, Self.wrongType) }
        if size == 0 || l == 0 { out.appendRESPArrayHeader(0); return .proceed }
        if l < 0 && l.magnitude > UInt(Self.hashRandomRepeatLimit) {
            stats.add(RESPCounter.hashRandomRefused.rawValue)
            return error(out, "ERR value is out of range")
        }
        let r = engine.hashRandom(key, hash: hv, database: database, type: .set, count: Int(l.magnitude), distinct: l > 0,
                                  willVisit: { out.appendRESPArrayHeader($0) }) { m, _ in self.appendHashBytes(m, out) }
        switch r {
        case .ok: break
        case .noKey: out.appendRESPArrayHeader(0)
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    /// SPOP key [count]: a bulk without a count, a set with one.
    private func setPop(_ out: OutputBuffer) -> HandlerAction {
        if argumentCount > 3 { return syntaxError(out) }
        var count: Int? = nil
        if argumentCount == 3 {
            guard let n = integerArgument(2), n >= 0 else { return error(out, "ERR value is out of range, must be positive") }
            count = n
        }
        func empty() {
            if count != nil { out.appendRESPSetHeader(0, version) } else { out.appendRESPNull(version) }
        }
        guard let (key, hv) = listKey(1) else { empty(); return .proceed }
        if count == 0 {
            guard engine.hashLength(key, hash: hv, database: database, type: .set) != nil else { return error(out, Self.wrongType) }
            empty()
            return .proceed
        }
        var popped = 0
        let r = engine.setPop(key, hash: hv, database: database, count: count ?? 1, willVisit: { n in
            popped = n
            if count != nil { out.appendRESPSetHeader(n, self.version) }
        }) { m in self.appendHashBytes(m, out) }
        switch r {
        case .ok:
            if popped > 0 {
                notify(KeyspaceEvents.set, "spop", key)
                notifyIfEmptied(key, hv)
            }
        case .noKey: empty()
        case .wrongType: return error(out, Self.wrongType)
        }
        return .proceed
    }

    private func setMove(_ out: OutputBuffer) -> HandlerAction {
        guard let (source, sh) = listKey(1) else { out.appendRESPInteger(0); return .proceed }
        guard let (destination, dh) = listKey(2) else { return error(out, Self.keyTooLong) }
        let created = keyMissingForNew(destination, dh)
        // sadd is published only when the destination gains the member: asked only while set events are on.
        var destinationHadMember = false
        if notifying(KeyspaceEvents.set) {
            _ = engine.hashGet(destination, hash: dh, database: database, type: .set, field: { _ in self.argument(3) }) { v in
                destinationHadMember = v != nil
            }
        }
        switch engine.setMove(source, hash: sh, destination, hash: dh, database: database, member: argument(3)) {
        case .moved(let moved):
            let same = source.count == destination.count && source.elementsEqual(destination)
            if moved && !same {
                notify(KeyspaceEvents.set, "srem", source)
                notifyIfEmptied(source, sh)
                if created { notify(KeyspaceEvents.new, "new", destination) }
                if !destinationHadMember { notify(KeyspaceEvents.set, "sadd", destination) }
            }
            out.appendRESPInteger(moved ? 1 : 0)
        case .wrongType: return error(out, Self.wrongType)
        case .outOfMemory: return error(out, Self.outOfMemory)
        case .tooLarge:
            stats.add(RESPCounter.hashPairsTooLarge.rawValue)
            return error(out, Self.setMemberTooLarge)
        }
        return .proceed
    }

    /// The members of the keys `first ..< end`, each key's in its order (nil: no key, an empty
    /// set), or nil after a WRONGTYPE reply.
    private func setOperands(from first: Int, to end: Int, _ out: OutputBuffer) -> [[[UInt8]]?]? {
        var sets: [[[UInt8]]?] = []
        for i in first..<end {
            let key = argument(i)
            guard key.count <= ItemLayout.maxKeyLength else { sets.append(nil); continue }
            switch engine.setSnapshot(key, hash: CacheEngine.hash(key), database: database) {
            case .members(let m): sets.append(m)
            case .noKey: sets.append(nil)
            case .wrongType:
                _ = error(out, Self.wrongType)
                return nil
            }
        }
        return sets
    }

    /// A result redis builds as a set: an intset's members come out in ascending order.
    private func setOrder(_ members: [[UInt8]]) -> [[UInt8]] {
        guard members.count <= engine.encodingLimits.setIntsetEntries else { return members }
        var numbers: [(Int, [UInt8])] = []
        numbers.reserveCapacity(members.count)
        for m in members {
            guard let v = m.withUnsafeBytes({ $0.count > 0 ? parseInteger($0.baseAddress!, $0.count) : nil }),
                  String(v).utf8.elementsEqual(m) else { return members }
            numbers.append((v, m))
        }
        return numbers.sorted { $0.0 < $1.0 }.map { $0.1 }
    }

    /// The result of `op` over `sets` (nil entries are empty sets), and whether its order is
    /// the result's own (SINTER: the smallest set's order) or a built set's.
    private func setResult(_ op: SetOperation, _ sets: [[[UInt8]]?], limit: Int = 0) -> [[UInt8]] {
        switch op {
        case .inter:
            if sets.contains(where: { $0 == nil || $0!.isEmpty }) { return [] }
            let ordered = sets.map { $0! }.sorted { $0.count < $1.count }
            let others = ordered.dropFirst().map { Set($0) }
            var out: [[UInt8]] = []
            for m in ordered[0] where others.allSatisfy({ $0.contains(m) }) {
                out.append(m)
                if limit > 0 && out.count == limit { break }
            }
            return out
        case .union:
            var seen = Set<[UInt8]>()
            var out: [[UInt8]] = []
            for s in sets { for m in s ?? [] where seen.insert(m).inserted { out.append(m) } }
            return out
        case .diff:
            guard let first = sets[0] else { return [] }
            let others = sets.dropFirst().map { Set($0 ?? []) }
            var seen = Set<[UInt8]>()
            return first.filter { m in !others.contains { $0.contains(m) } && seen.insert(m).inserted }
        }
    }

    /// SINTER SUNION SDIFF (a set reply) and their STORE forms (the result's size).
    private func setAlgebra(_ op: SetOperation, first: Int, store: Int?, _ out: OutputBuffer) -> HandlerAction {
        guard let sets = setOperands(from: first, to: argumentCount, out) else { return .proceed }
        var result = setResult(op, sets)
        if op != .inter || store != nil { result = setOrder(result) }
        guard let store else {
            out.appendRESPSetHeader(result.count, version)
            for m in result { m.withUnsafeBytes { out.appendRESPBulk($0) } }
            return .proceed
        }
        let key = argument(store)
        guard key.count <= ItemLayout.maxKeyLength else { return error(out, Self.keyTooLong) }
        let hv = CacheEngine.hash(key)
        let created = keyMissingForNew(key, hv)
        guard let existed = engine.setStore(key, hash: hv, database: database, members: result) else { return error(out, Self.outOfMemory) }
        if result.isEmpty {
            if existed { notify(KeyspaceEvents.generic, "del", key) }
        } else {
            if created { notify(KeyspaceEvents.new, "new", key) }
            notify(KeyspaceEvents.set, op == .inter ? "sinterstore" : op == .union ? "sunionstore" : "sdiffstore", key)
        }
        out.appendRESPInteger(Int64(result.count))
        return .proceed
    }

    /// SINTERCARD numkeys key [key ...] [LIMIT limit].
    private func setInterCard(_ out: OutputBuffer) -> HandlerAction {
        guard let n = integerArgument(1), n > 0 else { return error(out, "ERR numkeys should be greater than 0") }
        guard n <= argumentCount - 2 else { return error(out, "ERR Number of keys can't be greater than number of args") }
        var limit = 0
        var i = 2 + n
        while i < argumentCount {
            if argument(i, is: "limit") && i + 1 < argumentCount {
                guard let l = integerArgument(i + 1), l >= 0 else { return error(out, "ERR LIMIT can't be negative") }
                limit = l
                i += 2
            } else {
                return syntaxError(out)
            }
        }
        guard let sets = setOperands(from: 2, to: 2 + n, out) else { return .proceed }
        out.appendRESPInteger(Int64(setResult(.inter, sets, limit: limit).count))
        return .proceed
    }
}
