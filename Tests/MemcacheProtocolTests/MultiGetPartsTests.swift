// A multi-get's reply goes out in parts (Retrieval.swift): the line stays in the input, the
// handler yields after `keysPerReplyPart` keys or `bytesPerReplyPart` value bytes, and the line is
// executed again from the next key. The client sees the same bytes as one reply; a bad key
// anywhere still gets the error alone, as memcached answers it.
import CacheEngine
@testable import MemcacheProtocol
import Platform
import Testing

@Suite("multi-get replies in parts")
struct MultiGetPartsTests {
    @Test("3,000 keys: the reply is the whole reply, sent in parts, and the line is consumed once",
          arguments: ["get", "gets", "gat 0"])
    func manyKeys(_ command: String) throws {
        let c = try Client()
        var keys: [String] = []
        var expected = ""
        for i in 0..<3000 {
            let k = "k\(i)"
            keys.append(k)
            if i % 3 != 0 {
                c.send("set \(k) \(i) 0 \(k.utf8.count)\r\n\(k)\r\n")
            }
        }
        var cas: UInt64 = 0
        for (i, k) in keys.enumerated() where i % 3 != 0 {
            cas += 1
            expected += command == "gets"
                ? "VALUE \(k) \(i) \(k.utf8.count) \(cas)\r\n\(k)\r\n"
                : valueReply(k, k, flags: UInt32(i))
        }
        expected += "END\r\n"
        let callsBefore = c.calls
        let reply = c.send(command + " " + keys.joined(separator: " ") + "\r\nversion\r\n")
        #expect(reply == expected + "VERSION 1.6.18-swiftcached\r\n")
        // 3,000 keys in parts of 1,024: two yields, then the rest and the next line.
        #expect(c.calls - callsBefore == 3)
        #expect(c.actions.suffix(3) == [.yield, .yield, .proceed])
        #expect(c.input.isEmpty)
        let hits = c.service.workerStats[0][CommandCounter.getHits.rawValue]
        #expect(hits == (command == "gat 0" ? 0 : 2000))
    }

    @Test("a bad key past the first part gets the error alone, nothing sent before it")
    func badKeyLate() throws {
        let c = try Client()
        c.send("set a 0 0 1\r\nx\r\n")
        let keys = Array(repeating: "a", count: 1500) + [String(repeating: "b", count: 251)] + ["a"]
        let reply = c.send("get " + keys.joined(separator: " ") + "\r\n")
        #expect(reply == "CLIENT_ERROR bad command line format\r\n")
        #expect(c.send("get a\r\n") == valueReply("a", "x") + "END\r\n")
    }

    @Test("large values: a part ends after 1 MB of value bytes")
    func largeValues() throws {
        let c = try Client { $0.memoryLimit = 32 << 20 }
        let value = String(repeating: "v", count: 600_000)
        for k in ["x", "y", "z"] { #expect(c.send("set \(k) 0 0 \(value.utf8.count)\r\n\(value)\r\n") == "STORED\r\n") }
        let before = c.calls
        let reply = c.send("get x y z\r\n")
        #expect(reply == valueReply("x", value) + valueReply("y", value) + valueReply("z", value) + "END\r\n")
        #expect(c.actions.suffix(c.calls - before) == [.yield, .proceed])
    }
}
