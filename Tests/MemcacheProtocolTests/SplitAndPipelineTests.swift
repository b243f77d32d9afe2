// Requests arrive in arbitrary pieces and in pipelined batches: the replies must not depend on
// where the reads were cut, and a batch is answered in order within the -R budget.
import CacheEngine
import MemcacheProtocol
import Platform
import TestSupport
import Testing

@Suite("Reads split anywhere")
struct SplitTests {
    /// A batch touching every kind of request state: command lines, data blocks (empty, normal,
    /// with a bad terminator), noreply, multi-get, incr/decr in place and growing, unknown commands.
    static let batch =
        "set k 0 0 5\r\nhello\r\n" +
        "get k\r\n" +
        "gets k\r\n" +
        "set n 5 0 2\r\n10\r\n" +
        "incr n 1\r\n" +
        "decr n 5\r\n" +
        "incr n 18446744073709551615\r\n" +
        "append k 0 0 3\r\n!!!\r\n" +
        "prepend k 0 0 1\r\n>\r\n" +
        "get k n missing\r\n" +
        "cas k 0 0 1 999\r\nx\r\n" +
        "touch n 100\r\n" +
        "add k 0 0 1\r\nz\r\n" +
        "replace k 3 0 4\r\nrepl\r\n" +
        "set e 0 0 0\r\n\r\n" +
        "get e\r\n" +
        "set bad 0 0 3\r\nabcde\r\n" +
        "set k2 0 0 2 noreply\r\nhi\r\n" +
        "incr k2 1\r\n" +
        "delete k\r\n" +
        "delete k\r\n" +
        "get k k2\r\n" +
        "set big 0 0 40\r\n" + String(repeating: "0123456789", count: 4) + "\r\n" +
        "gets big\r\n" +
        "bogus command\r\n" +
        "incr n 99\r\n" +
        "version\r\n"

    static let expected =
        "STORED\r\n" +
        valueReply("k", "hello") +
        "END\r\n" +
        "VALUE k 0 5 1\r\nhello\r\nEND\r\n" +
        "STORED\r\n" +
        "11\r\n" +
        "6\r\n" +
        "5\r\n" +
        "STORED\r\n" +
        "STORED\r\n" +
        valueReply("k", ">hello!!!") + valueReply("n", "5 ", flags: 5) + "END\r\n" +
        "EXISTS\r\n" +
        "TOUCHED\r\n" +
        "NOT_STORED\r\n" +
        "STORED\r\n" +
        "STORED\r\n" +
        valueReply("e", "") + "END\r\n" +
        "CLIENT_ERROR bad data chunk\r\n" +
        "ERROR\r\n" +                                     // the "\r\n" left after the bad block
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n" +
        "DELETED\r\n" +
        "NOT_FOUND\r\n" +
        valueReply("k2", "hi") + "END\r\n" +
        "STORED\r\n" +
        "VALUE big 0 40 11\r\n" + String(repeating: "0123456789", count: 4) + "\r\nEND\r\n" +
        "ERROR\r\n" +
        "104\r\n" +
        "VERSION 1.6.18\r\n"

    @Test("the batch fed whole gives memcached's replies")
    func whole() throws {
        let c = try Client()
        let reply = c.send(Self.batch)
        #expect(reply == Self.expected)
        #expect(c.input.isEmpty)
        #expect(c.lastAction == .proceed)
    }

    @Test("split in two at every offset: the same reply bytes")
    func everySplit() throws {
        let batch = Self.batch.bytes
        let expected = try Client().feed(batch)
        #expect(String(decoding: expected, as: UTF8.self) == Self.expected)
        var mismatches: [Int] = []
        for cut in 0...batch.count {
            let c = try Client()
            var reply = c.feed(batch[0..<cut])
            reply += c.feed(batch[cut...])
            if reply != expected || !c.input.isEmpty { mismatches.append(cut) }
        }
        #expect(mismatches.isEmpty, "reply differs when cut at \(mismatches)")
    }

    @Test("split in three at many offset pairs: the same reply bytes")
    func threePieces() throws {
        let batch = Self.batch.bytes
        let expected = Self.expected.bytes
        var mismatches: [(Int, Int)] = []
        for a in stride(from: 0, through: batch.count, by: 7) {
            for b in stride(from: a, through: batch.count, by: 13) {
                let c = try Client()
                var reply = c.feed(batch[0..<a])
                reply += c.feed(batch[a..<b])
                reply += c.feed(batch[b...])
                if reply != expected { mismatches.append((a, b)) }
            }
        }
        #expect(mismatches.isEmpty, "reply differs when cut at \(mismatches.prefix(10))")
    }

    @Test("fed one byte at a time: the same reply bytes")
    func oneByteAtATime() throws {
        let c = try Client()
        var reply: [UInt8] = []
        for b in Self.batch.bytes { reply += c.feed([b]) }
        #expect(String(decoding: reply, as: UTF8.self) == Self.expected)
        #expect(c.input.isEmpty)
    }

    @Test("a large value arriving in many reads is copied straight into the item")
    func largeValueInPieces() throws {
        let c = try Client()
        let value = (0..<300_000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        #expect(c.send("set big 7 0 \(value.count)\r\n") == "")
        var pos = 0
        var piece = 1
        while pos < value.count {
            let n = min(piece, value.count - pos)
            #expect(c.feed(value[pos..<pos + n]) == [])
            // Nothing piles up in the input buffer: every data byte is consumed at once.
            #expect(c.input.isEmpty)
            pos += n
            piece = piece * 2 + 1
        }
        #expect(c.send("\r") == "")
        #expect(c.send("\n") == "STORED\r\n")
        let reply = c.feed("get big\r\n".bytes)
        expectBytes(reply, Array("VALUE big 7 \(value.count)\r\n".utf8) + value + Array("\r\nEND\r\n".utf8))
    }
}

@Suite("Pipelining")
struct PipelineTests {
    static func pairs(_ n: Int) -> (request: String, replies: [String]) {
        var request = ""
        var replies: [String] = []
        for i in 0..<n {
            let v = String(repeating: "v\(i).", count: i % 7 + 1)
            request += "set key\(i) \(i) 0 \(v.utf8.count)\r\n\(v)\r\nget key\(i)\r\n"
            replies.append("STORED\r\n" + valueReply("key\(i)", v, flags: UInt32(i)) + "END\r\n")
        }
        return (request, replies)
    }

    @Test("100 set+get pairs in one read are answered in order")
    func hundredPairs() throws {
        let (request, replies) = Self.pairs(100)
        let c = try Client()
        #expect(c.send(request) == replies.joined())
        #expect(c.input.isEmpty)
    }

    @Test("the -R budget yields with the rest unconsumed, and the next call continues",
          arguments: [1, 3, 20, 1000])
    func requestsPerEvent(_ budget: Int) throws {
        var settings = ProtocolSettings()
        settings.requestsPerEvent = budget
        let c = try Client(protocolSettings: settings)
        let n = 100
        let (request, replies) = Self.pairs(n)
        let bytes = request.bytes
        // The byte offset where each pair (2 requests) ends.
        var pairEnds: [Int] = []
        var offset = 0
        for i in 0..<n {
            let v = String(repeating: "v\(i).", count: i % 7 + 1)
            offset += "set key\(i) \(i) 0 \(v.utf8.count)\r\n\(v)\r\nget key\(i)\r\n".utf8.count
            pairEnds.append(offset)
        }
        #expect(offset == bytes.count)

        var pos = 0
        var answered = 0   // requests answered so far
        var calls = 0
        var reply: [UInt8] = []
        while pos < bytes.count {
            let (consumed, action) = bytes[pos...].withUnsafeBytes { c.handler.process($0, output: c.output) }
            calls += 1
            reply += drainBytes(c.output)
            let handled = min(budget, 2 * n - answered)
            answered += handled
            // Each call handles exactly `budget` requests (the last call what is left).
            let expectedEnd: Int
            if answered % 2 == 0 {
                expectedEnd = pairEnds[answered / 2 - 1]
            } else {
                // Ends after a set and its data block, before the get.
                let v = String(repeating: "v\(answered / 2).", count: answered / 2 % 7 + 1)
                expectedEnd = (answered / 2 == 0 ? 0 : pairEnds[answered / 2 - 1])
                    + "set key\(answered / 2) \(answered / 2) 0 \(v.utf8.count)\r\n\(v)\r\n".utf8.count
            }
            #expect(pos + consumed == expectedEnd, "call \(calls)")
            #expect(action == (pos + consumed < bytes.count ? .yield : .proceed), "call \(calls)")
            let expectedReply = replies.prefix(answered / 2).joined()
                + (answered % 2 == 1 ? "STORED\r\n" : "")
            #expect(String(decoding: reply, as: UTF8.self) == expectedReply, "call \(calls)")
            if consumed == 0 { break }
            pos += consumed
        }
        #expect(calls == (2 * n + budget - 1) / budget)
        #expect(String(decoding: reply, as: UTF8.self) == replies.joined())
    }

    @Test("a yield leaves an incomplete trailing request alone")
    func yieldWithPartialTail() throws {
        var settings = ProtocolSettings()
        settings.requestsPerEvent = 2
        let c = try Client(protocolSettings: settings)
        let input = "version\r\nversion\r\nversion\r\nset k 0 0 5\r\nhel".bytes
        let (consumed, action) = input.withUnsafeBytes { c.handler.process($0, output: c.output) }
        #expect(action == .yield)
        #expect(consumed == 18)
        #expect(drainBytes(c.output) == "VERSION 1.6.18\r\nVERSION 1.6.18\r\n".bytes)
        let rest = Array(input[consumed...])
        let (consumed2, action2) = rest.withUnsafeBytes { c.handler.process($0, output: c.output) }
        #expect(action2 == .proceed)
        #expect(consumed2 == rest.count)       // the partial data block is taken into the item
        #expect(drainBytes(c.output) == "VERSION 1.6.18\r\n".bytes)
        #expect(c.send("lo\r\nget k\r\n") == "STORED\r\n" + valueReply("k", "hello") + "END\r\n")
    }
}
