// A multi-get past one piece (1,024 values or 1 MB) is written as the client reads: the same bytes
// as one reply (memcached's, including the reference limit's 59,999 values then END), the rest
// of its hits held as references only, released if the client goes away.
import CacheEngine
@testable import MemcacheProtocol
import Platform
import TestSupport
import Testing

@Suite("multi-get stream")
struct MultiGetStreamTests {
    private func stat(_ c: Client, _ name: String) -> String? {
        c.service.generalStats().first { $0.0 == name }?.1
    }

    @Test("3,000 keys: every VALUE in order then END, in pieces of 1,024 values, counted once")
    func piecesInOrder() throws {
        let c = try Client()
        var load = ""
        var expected = ""
        var line = "gets"
        for i in 0..<3000 {
            load += "set mg-\(i) \(i) 0 \(i % 10) noreply\r\n\(String(repeating: "v", count: i % 10))\r\n"
            line += " mg-\(i)"
            if i % 7 == 0 { line += " missing-\(i)" }
        }
        _ = c.send(load)
        let casOf = { (i: Int) -> String in
            let r = Array(c.send("gets mg-\(i)\r\n").utf8)
            return String(decoding: r.split(separator: 0x20)[4].prefix { $0 != 0x0d }, as: UTF8.self)
        }
        for i in 0..<3000 {
            expected += "VALUE mg-\(i) \(i) \(i % 10) \(casOf(i))\r\n\(String(repeating: "v", count: i % 10))\r\n"
        }
        expected += "END\r\n"
        let before = c.streamPieces
        let reply = c.send(line + "\r\n")
        #expect(reply == expected)
        #expect(c.streamPieces - before == 2)  // 1,024 + 1,024 + 952
        #expect(stat(c, "get_streamed_replies") == "1")
        // The few-keys path does not stream.
        #expect(c.send("get mg-1 mg-2\r\n") == "VALUE mg-1 1 1\r\nv\r\nVALUE mg-2 2 2\r\nvv\r\nEND\r\n")
        #expect(stat(c, "get_streamed_replies") == "1")
    }

    @Test("one item named 60,000 times: 59,999 values then END (memcached's reference limit), streamed")
    func referenceLimit() throws {
        let c = try Client()
        _ = c.send("set one 0 0 3\r\nabc\r\n")
        let line = "get" + String(repeating: " one", count: 60_000) + "\r\n"
        let reply = c.send(line)
        #expect(reply == String(repeating: "VALUE one 0 3\r\nabc\r\n", count: 59_999) + "END\r\n")
        #expect(stat(c, "get_streamed_replies") == "1")
        // Every reference went back with its piece: the same get gives the same reply again.
        #expect(c.send(line) == reply)
    }

    @Test("a bad key after the first piece: the error alone, every reference released")
    func badKeyReleases() throws {
        let c = try Client()
        _ = c.send("set one 0 0 3\r\nabc\r\n")
        let bad = "get" + String(repeating: " one", count: 5_000) + " " + String(repeating: "k", count: 251) + "\r\n"
        #expect(c.send(bad) == "CLIENT_ERROR bad command line format\r\n")
        let line = "get" + String(repeating: " one", count: 60_000) + "\r\n"
        #expect(c.send(line) == String(repeating: "VALUE one 0 3\r\nabc\r\n", count: 59_999) + "END\r\n")
    }

    @Test("a client that goes away mid-stream gives every reference back")
    func closedMidStream() throws {
        let c = try Client()
        _ = c.send("set one 0 0 3\r\nabc\r\n")
        let line = Array(("get" + String(repeating: " one", count: 50_000) + "\r\n").utf8)
        let output = OutputBuffer()
        let other = c.service.makeHandler(workerIndex: 0, fd: 100, output: output, waker: ConnectionWaker {})
        let (_, action) = line.withUnsafeBytes { other.process($0, output: output) }
        #expect(action == .stream)
        #expect(drainBytes(output).count < 1100 * 20)  // one piece, not 50,000 values
        #expect(other.continueStream(output: output) == .stream)
        other.connectionClosed()
        output.reset()
        let full = "get" + String(repeating: " one", count: 60_000) + "\r\n"
        #expect(c.send(full) == String(repeating: "VALUE one 0 3\r\nabc\r\n", count: 59_999) + "END\r\n")
    }
}

@Suite("multi-get stream over UDP")
struct MultiGetStreamUDPTests {
    @Test("a UDP get past 1 MB of values takes every piece into its one reply (END last)")
    func udpTakesEveryPiece() throws {
        let c = try Client()
        let value = String(repeating: "u", count: 600_000)
        // a and b fill the first piece (1 MB reached after b); c is streamed.
        _ = c.send("set a 0 0 600000\r\n\(value)\r\nset b 0 0 600000\r\n\(value)\r\nset c 0 0 600000\r\n\(value)\r\n")
        let handler = UDPHandler(service: c.service, workerIndex: 0, fd: 5)
        var datagram: [UInt8] = [0, 7, 0, 0, 0, 1, 0, 0]
        datagram += Array("get a b c\r\n".utf8)
        var payload: [UInt8] = []
        datagram.withUnsafeBytes { d in
            handler.receive(d) { frame in payload += frame[8...] }
        }
        let expected = ["a", "b", "c"].map { "VALUE \($0) 0 600000\r\n\(value)\r\n" }.joined() + "END\r\n"
        #expect(payload.count == expected.utf8.count)
        #expect(String(decoding: payload, as: UTF8.self) == expected)
        #expect(c.service.generalStats().first { $0.0 == "get_streamed_replies" }?.1 == "1")
    }
}
