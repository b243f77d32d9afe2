// Before a request of a pipelined read runs, the engine is told the keys of the two requests
// behind it, and the field or member each looks up in its key when it is a hash, set or sorted
// set command that names one (CacheEngine+KeyHints.swift: the operation that runs this request
// starts loading the next key's first item and the key after's bucket, and, inside the key it
// holds, the next field's first entry and the field after's bucket). Each request is peeked
// once: the one after next at this request's turn, its hashes kept for the next turn. A read of
// one request peeks at an empty rest and names nothing. (A peeked key's hash handed to its own
// request, instead of the command hashing it again, took murmur3 from 1.7 % to 1.1 % of the
// server's samples under `redis-benchmark -t set -P 16` and moved no rate: not done.)
import CacheEngine

/// A pipelined request looked at ahead of its turn (`RESPRequestParser.peekRequest`).
struct KeyPeek {
    /// The request's input offset (-1: none).
    var at = -1
    /// Its key's hash.
    var hash: UInt32 = 0
    /// The hash of the field or member it looks up in its key (nil: none).
    var field: UInt32? = nil
    /// The input offset after it.
    var end = 0
}

extension RESPConnection {
    /// The argument of a peeked request that names a field or member its command finds in its
    /// key's field index (HashIndex), or nil: HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HSTRLEN
    /// HINCRBY HINCRBYFLOAT, SADD SREM SISMEMBER SMISMEMBER, ZREM ZSCORE ZMSCORE ZRANK ZREVRANK
    /// (their first field), ZADD key score member and ZINCRBY key increment member. A name is
    /// matched by its length and bytes; a wrong guess only loads a line for nothing.
    @inline(__always)
    static func hintField(_ r: PeekedRequest) -> UnsafeRawBufferPointer? {
        let n = r.name
        guard r.count >= 3, n.count >= 4 else { return nil }
        switch n[0] | 0x20 {
        case UInt8(ascii: "h"):
            // Every hash command with a third argument names a field there but HSCAN (a cursor)
            // and HRANDFIELD (a count).
            if n.count == 5 && equalFolded(n, "hscan") || n.count == 10 && equalFolded(n, "hrandfield") { return nil }
            return r.third
        case UInt8(ascii: "s"):
            switch n.count {
            case 4: return equalFolded(n, "sadd") || equalFolded(n, "srem") ? r.third : nil
            case 9: return equalFolded(n, "sismember") ? r.third : nil
            case 10: return equalFolded(n, "smismember") ? r.third : nil
            default: return nil
            }
        case UInt8(ascii: "z"):
            switch n.count {
            case 4:
                if equalFolded(n, "zadd") { return r.count == 4 ? r.fourth : nil }
                return equalFolded(n, "zrem") ? r.third : nil
            case 5: return equalFolded(n, "zrank") ? r.third : nil
            case 6: return equalFolded(n, "zscore") ? r.third : nil
            case 7:
                if equalFolded(n, "zincrby") { return r.count == 4 ? r.fourth : nil }
                return equalFolded(n, "zmscore") ? r.third : nil
            case 8: return equalFolded(n, "zrevrank") ? r.third : nil
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The request at `at`, peeked and hashed; nil when it cannot be (see `peekRequest`) or its
    /// key is one no item can have.
    @inline(__always)
    static func peek(_ input: UnsafeRawBufferPointer, at: Int) -> KeyPeek? {
        guard let r = RESPRequestParser.peekRequest(input, at: at), let h = CacheEngine.hintHash(r.key) else { return nil }
        return KeyPeek(at: at, hash: h,
                       field: hintField(r).flatMap { CacheEngine.hintHash($0) }, end: r.end)
    }

    /// The request ending at `end` is about to run: the two requests after it are named to the
    /// engine.
    @inline(__always)
    func hintNextKeys(_ input: UnsafeRawBufferPointer, after end: Int) {
        if peekedAfter.at == end {
            peekedNext = peekedAfter
        } else if let p = Self.peek(input, at: end) {
            peekedNext = p
        } else {
            peekedNext = KeyPeek()
            peekedAfter = KeyPeek()
            CacheEngine.hintKeys(next: nil, after: nil)
            return
        }
        peekedAfter = Self.peek(input, at: peekedNext.end) ?? KeyPeek()
        let after: UInt32? = peekedAfter.at >= 0 ? peekedAfter.hash : nil
        CacheEngine.hintKeys(next: peekedNext.hash, after: after, nextField: peekedNext.field, afterField: peekedAfter.field)
    }
}
