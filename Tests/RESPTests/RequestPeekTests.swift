// RESPRequestParser.peekRequest: the arguments and end of a pipelined request not yet
// parsed (the key and field hints, RESPConnection+KeyHints.swift). Only a complete, usual
// multibulk answers; a request cut at any byte, an inline one, one argument, an empty argument or
// a long count line does not, and nothing past the input is read. `hintField` names the argument
// a hash, set or sorted-set command looks up in its key's field index, and nothing for others.
@testable import RESP
import Testing

@Suite("RESP request peek")
struct RequestPeekTests {
    private func peek(_ bytes: [UInt8], at start: Int = 0) -> (key: String, end: Int)? {
        bytes.withUnsafeBytes { b in
            RESPRequestParser.peekRequest(b, at: start).map { (String(decoding: $0.key, as: UTF8.self), $0.end) }
        }
    }

    @Test("a whole request: its key and end, from any start")
    func whole() {
        let get = Array("*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n".utf8)
        let set = Array("*3\r\n$3\r\nSET\r\n$3\r\nabc\r\n$10\r\n0123456789\r\n".utf8)
        #expect(peek(get)?.key == "key:1")
        #expect(peek(get)?.end == get.count)
        #expect(peek(set)?.key == "abc")
        #expect(peek(set)?.end == set.count)
        let both = get + set
        #expect(peek(both, at: get.count)?.key == "abc")
        #expect(peek(both, at: get.count)?.end == both.count)
        // MGET's first key; the end after its last.
        let mget = Array("*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$2\r\nbb\r\n$3\r\nccc\r\n".utf8)
        #expect(peek(mget)?.key == "a")
        #expect(peek(mget)?.end == mget.count)
    }

    @Test("a request cut at any byte gives no answer")
    func cut() {
        let set = Array("*3\r\n$3\r\nSET\r\n$3\r\nabc\r\n$10\r\n0123456789\r\n".utf8)
        for n in 0..<set.count { #expect(peek(Array(set[..<n])) == nil, "cut at \(n)") }
    }

    @Test("unusual forms give no answer")
    func unusual() {
        #expect(peek(Array("*1\r\n$4\r\nPING\r\n".utf8)) == nil)
        #expect(peek(Array("GET key\r\n".utf8)) == nil)
        #expect(peek(Array("*2\r\n$3\r\nGET\r\n$0\r\n\r\n".utf8)) == nil)
        #expect(peek(Array("*65\r\n$3\r\nGET\r\n$1\r\na\r\n".utf8)) == nil)
        #expect(peek(Array("*2\r\n:3\r\nGET\r\n$1\r\na\r\n".utf8)) == nil)
        #expect(peek(Array("*0\r\n".utf8)) == nil)
        // A data length whose bytes are not all here (a big value on its way).
        #expect(peek(Array("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1000000\r\nxyz".utf8)) == nil)
    }

    /// The field `hintField` names in the request made of `words`, or nil.
    private func hintField(_ words: [String]) -> String? {
        multibulk(words).withUnsafeBytes { b in
            RESPRequestParser.peekRequest(b, at: 0).flatMap { RESPConnection.hintField($0) }.map { String(decoding: $0, as: UTF8.self) }
        }
    }

    @Test("peekRequest: the name, key, third and fourth arguments, empty past the count")
    func arguments() {
        let words = ["ZADD", "myzset", "1.5", "member", "2", "other"]
        let bytes = multibulk(words)
        bytes.withUnsafeBytes { b in
            let r = RESPRequestParser.peekRequest(b, at: 0)
            #expect(r.map { String(decoding: $0.name, as: UTF8.self) } == "ZADD")
            #expect(r.map { String(decoding: $0.key, as: UTF8.self) } == "myzset")
            #expect(r.map { String(decoding: $0.third, as: UTF8.self) } == "1.5")
            #expect(r.map { String(decoding: $0.fourth, as: UTF8.self) } == "member")
            #expect(r?.count == 6)
            #expect(r?.end == bytes.count)
        }
        multibulk(["HLEN", "h"]).withUnsafeBytes { b in
            let r = RESPRequestParser.peekRequest(b, at: 0)
            #expect(r?.third.count == 0 && r?.fourth.count == 0)
            #expect(r.flatMap { RESPConnection.hintField($0) } == nil)
        }
    }

    @Test("hintField: the field or member of the commands that look one up, any case; nothing for others")
    func fields() {
        for name in ["HSET", "hset", "HsEt", "HSETNX", "HMSET", "HGET", "HMGET", "HDEL", "HEXISTS", "HSTRLEN", "HINCRBY", "HINCRBYFLOAT",
                     "SADD", "sadd", "SREM", "SISMEMBER", "SMISMEMBER", "ZREM", "ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK"] {
            #expect(hintField([name, "key", "field", "value"]) == "field", "\(name)")
        }
        #expect(hintField(["ZADD", "z", "1", "member"]) == "member")
        #expect(hintField(["zincrby", "z", "1", "member"]) == "member")
        // ZADD with flags or several pairs: not guessed.
        #expect(hintField(["ZADD", "z", "NX", "1", "member"]) == nil)
        #expect(hintField(["ZADD", "z", "1", "a", "2", "b"]) == nil)
        for words in [["SET", "k", "v"], ["GET", "k", "x"], ["HSCAN", "h", "0"], ["HRANDFIELD", "h", "3"], ["HLEN", "h"],
                      ["SPOP", "s", "2"], ["SMOVE", "a", "b", "m"], ["SETEX", "k", "10", "v"], ["ZPOPMIN", "z", "1"],
                      ["ZRANGE", "z", "0", "-1"], ["SELECT", "1", "2"], ["LPUSH", "l", "x"], ["ZADD", "z", "1"]] {
            #expect(hintField(words) == nil, "\(words)")
        }
    }

    @Test("a pipeline's requests peeked one after another from each end; a partial or malformed tail gives none")
    func chain() {
        let a = multibulk(["HSET", "h", "f1", "v"])
        let b = multibulk(["SADD", "s", "m"])
        let partial = Array(multibulk(["HGET", "h", "f2"]).dropLast(3))
        let all = a + b + partial
        all.withUnsafeBytes { buf in
            let r1 = RESPRequestParser.peekRequest(buf, at: 0)
            #expect(r1?.end == a.count)
            let r2 = RESPRequestParser.peekRequest(buf, at: a.count)
            #expect(r2.map { String(decoding: $0.key, as: UTF8.self) } == "s")
            #expect(r2?.end == a.count + b.count)
            #expect(RESPRequestParser.peekRequest(buf, at: a.count + b.count) == nil)
            #expect(RESPRequestParser.peekRequest(buf, at: all.count) == nil)
        }
        for bad in ["*3\r\n$4\r\nHSET\r\n$1\r\nh\r\n$2\r\nf\r\n", "*3\r\n$4\r\nHSET\r\n$1\r\nh\r\n+f\r\n",
                    "*3\r\n$4\r\nHSET\r\n$-1\r\n$1\r\nf\r\n", "*-1\r\n", "*3\r\n$4\r\nHSET\r\n$1\r\nhX\r\n$1\r\nf\r\n"] {
            let bytes = Array(bad.utf8)
            // A peek answers nothing or stays within the bytes (the parser judges the request later).
            let r = bytes.withUnsafeBytes { RESPRequestParser.peekRequest($0, at: 0) }
            #expect(r == nil || r!.end <= bytes.count, "\(bad)")
        }
    }
}
