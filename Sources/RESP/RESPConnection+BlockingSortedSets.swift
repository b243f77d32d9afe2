// BZPOPMIN BZPOPMAX BZMPOP on the list commands' blocking machinery (ListWaits, `.zpop`): each
// first runs as ZPOPMIN/ZPOPMAX/ZMPOP (the first key holding a sorted set, WRONGTYPE for a key of
// another type met first); with nothing to pop it blocks on every key. A command that makes a
// sorted set (ZADD, ZINCRBY, the STORE forms) serves the blocked clients (`serveBlocked`), which
// get the popped members and scores copied (member, the score's 8 bytes, ...). A client that
// closes while blocked gives back what was popped for it. Replies as redis 7.0's
// genericZpopCommand: BZPOPMIN/BZPOPMAX [key, member, score], BZMPOP [key, [[member, score]...]],
// a null array on timeout (and at once inside MULTI).
import CacheEngine
import Platform

extension RESPConnection {
    static let blockingSortedSetCommands: [RESPCommand] = [
        RESPCommand("bzpopmin", arity: -3, keys: (1, -2, 1), flags: [.write, .noscript, .blocking, .fast]) { c, out in c.blockingZPop(max: false, out) },
        RESPCommand("bzpopmax", arity: -3, keys: (1, -2, 1), flags: [.write, .noscript, .blocking, .fast]) { c, out in c.blockingZPop(max: true, out) },
        RESPCommand("bzmpop", arity: -5, flags: [.write, .blocking, .movableKeys]) { c, out in c.blockingZMPop(out) },
    ]

    /// A pop for a blocked client: member, score bytes, ... copied (empty: nothing to pop).
    static func zsetPopCopies(_ engine: CacheEngine, _ key: UnsafeRawBufferPointer, _ hv: UInt32, database: Int,
                              max: Bool, count: Int) -> [[UInt8]] {
        var elements: [[UInt8]] = []
        _ = engine.zsetPop(key, hash: hv, database: database, count: count, max: max, willVisit: { elements.reserveCapacity(2 * $0) }) { m, s in
            elements.append(m.bytes)
            elements.append(withUnsafeBytes(of: s.bitPattern) { Array($0) })
        }
        return elements
    }

    @inline(__always)
    private static func score(_ bytes: [UInt8]) -> Double {
        Double(bitPattern: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    }

    /// A served block's reply: [key, member, score] or (BZMPOP) [key, [[member, score] ...]].
    func replyZSetServed(_ key: [UInt8], _ elements: [[UInt8]], nested: Bool, _ out: OutputBuffer) {
        let n = elements.count / 2
        if nested {
            out.appendRESPArrayHeader(2)
            key.withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPArrayHeader(n)
        } else {
            out.appendRESPArrayHeader(2 * n + 1)
            key.withUnsafeBytes { out.appendRESPBulk($0) }
        }
        for i in 0..<n {
            if nested { out.appendRESPArrayHeader(2) }
            elements[2 * i].withUnsafeBytes { out.appendRESPBulk($0) }
            out.appendRESPDouble(Self.score(elements[2 * i + 1]), version)
        }
    }

    /// The connection closed after a pop was made for it: the members go back with their scores.
    func giveBackZSetPops(_ block: ListBlock, _ elements: [[UInt8]], source: Int) {
        let n = elements.count / 2
        guard n > 0 else { return }
        block.keys[source].withUnsafeBytes { k in
            let hv = CacheEngine.hash(k)
            for i in 0..<n {
                elements[2 * i].withUnsafeBytes { m in
                    let member = UnsafeRawBufferPointer(start: m.baseAddress ?? UnsafeRawPointer(bitPattern: 8), count: m.count)
                    _ = engine.zsetAdd(k, hash: hv, database: block.database, flags: [], count: 1,
                                       element: { _ in (Self.score(elements[2 * i + 1]), member) }) { _, _ in }
                }
            }
            serveWaiters(k, database: block.database)
        }
    }

    /// One pop as the non-blocking form would do it, over `keys` (argument indices): true when it
    /// answered (popped, or WRONGTYPE).
    private func zpopFirst(_ keys: Range<Int>, max: Bool, count: Int?, _ out: OutputBuffer) -> HandlerAction? {
        for i in keys {
            guard let (key, hv) = listKey(i) else { continue }
            var popped = 0
            let r = engine.zsetPop(key, hash: hv, database: database, count: count ?? 1, max: max, willVisit: { n in
                popped = n
                if count != nil {
                    out.appendRESPArrayHeader(2)
                    out.appendRESPBulk(key)
                    out.appendRESPArrayHeader(n)
                } else {
                    out.appendRESPArrayHeader(2 * n + 1)
                    out.appendRESPBulk(key)
                }
            }) { m, s in
                self.appendScoredMember(m, s, withScores: true, pairs: count != nil, out)
            }
            switch r {
            case .noKey: continue
            case .wrongType: return error(out, Self.wrongType)
            case .ok:
                if popped > 0 {
                    notify(KeyspaceEvents.zset, max ? "zpopmax" : "zpopmin", key)
                    notifyIfEmptied(key, hv)
                }
                return .proceed
            }
        }
        return nil
    }

    /// BZPOPMIN / BZPOPMAX key [key ...] timeout.
    private func blockingZPop(max: Bool, _ out: OutputBuffer) -> HandlerAction {
        let timeout: Int
        switch blockTimeout(argumentCount - 1) {
        case .success(let t): timeout = t
        case .failure(let e): return error(out, e.text)
        }
        if let done = zpopFirst(1..<(argumentCount - 1), max: max, count: nil, out) { return done }
        guard blockingAllowed else { out.appendRESPNullArray(version); return .proceed }
        return startBlock(keys: (1..<(argumentCount - 1)).map { Array(argument($0)) }, kind: .zpop(max: max, count: nil),
                          timeoutMs: timeout, out)
    }

    /// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
    private func blockingZMPop(_ out: OutputBuffer) -> HandlerAction {
        guard let (numkeys, max, count) = multiPopArguments(numkeysAt: 2, out) else { return .proceed }
        let timeout: Int
        switch blockTimeout(1) {
        case .success(let t): timeout = t
        case .failure(let e): return error(out, e.text)
        }
        if let done = zpopFirst(3..<(3 + numkeys), max: max, count: count, out) { return done }
        guard blockingAllowed else { out.appendRESPNullArray(version); return .proceed }
        return startBlock(keys: (3..<(3 + numkeys)).map { Array(argument($0)) }, kind: .zpop(max: max, count: count),
                          timeoutMs: timeout, out)
    }
}
