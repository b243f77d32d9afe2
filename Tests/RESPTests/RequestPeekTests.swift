// RESPRequestParser.peekKey: the second argument and end of a pipelined request not yet parsed
// (the key hints, RESPConnection+KeyHints.swift). Only a complete, usual multibulk answers; a
// request cut at any byte, an inline one, one argument, an empty key or a long count line does
// not, and nothing past the input is read.
@testable import RESP
import Testing

@Suite("RESP request peek")
struct RequestPeekTests {
    private func peek(_ bytes: [UInt8], at start: Int = 0) -> (key: String, end: Int)? {
        bytes.withUnsafeBytes { b in
            RESPRequestParser.peekKey(b, at: start).map { (String(decoding: $0.key, as: UTF8.self), $0.end) }
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
}
