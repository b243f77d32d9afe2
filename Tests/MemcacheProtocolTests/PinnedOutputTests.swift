// What a client can make the handler hold: the binary header is judged before its body is awaited
// (memcached's replies), and `lru_crawler metadump` is produced in pieces, one dump at a time.
import CacheEngine
@testable import MemcacheProtocol
import Platform
import TestSupport
import Testing

/// A binary header with its lengths as declared (the body is not appended).
private func declared(_ opcode: UInt8, key: Int = 0, extras: Int = 0, body: Int, magic: UInt8 = 0x80) -> [UInt8] {
    var out: [UInt8] = [magic, opcode, UInt8(key >> 8), UInt8(key & 0xff), UInt8(extras), 0, 0, 0]
    out += withUnsafeBytes(of: UInt32(body).bigEndian, Array.init)
    return out + [UInt8](repeating: 0, count: 12)
}

@Suite("pinned output")
struct PinnedOutputTests {
    private func verdict(_ opcode: UInt8, key: Int = 0, extras: Int = 0, body: Int, magic: UInt8 = 0x80) -> BinaryHeaderVerdict {
        BinaryHeader.check(magic: magic, BinaryHeader(opcode: opcode, keyLength: key, extrasLength: extras,
                                                      bodyLength: body, opaque: 0, cas: 0))
    }

    @Test("the header check: memcached 1.6.18's verdicts from the 24 bytes alone")
    func headerVerdicts() {
        let invalid = BinaryHeaderVerdict.reject(status: BinaryStatus.invalidArguments)
        let unknown = BinaryHeaderVerdict.reject(status: BinaryStatus.unknownCommand)
        #expect(verdict(0x00, key: 1, body: 1, magic: 0x81) == .badMagic)
        #expect(verdict(0x00, key: 3, body: 1) == unknown)             // key past the body
        #expect(verdict(0x01, key: 2, extras: 8, body: 9) == unknown)  // key + extras past the body
        #expect(verdict(0x00, key: 251, body: 251) == invalid)
        #expect(verdict(0x00, key: 250, body: 250) == .accept)
        #expect(verdict(0x00, key: 1, body: 2 << 20) == invalid)       // GET with a 2 MB body
        #expect(verdict(0x00, key: 1, body: 2) == invalid)
        #expect(verdict(0x00, key: 0, body: 0) == invalid)
        #expect(verdict(0x09, key: 1, extras: 4, body: 5) == invalid)  // getq with extras
        #expect(verdict(0x1b, body: 0) == .unknownCommand)             // verbosity, as 1.6.18
        #expect(verdict(0x1b, extras: 4, body: 4) == .unknownCommand)
        #expect(verdict(0x55, body: 1 << 30) == .unknownCommand)       // skipped, never buffered
        #expect(verdict(0x0a, body: 0) == .accept)
        #expect(verdict(0x0a, body: 3) == invalid)                     // noop with a body
        #expect(verdict(0x0b, extras: 4, body: 4) == invalid)
        #expect(verdict(0x08, extras: 4, body: 4) == .accept)          // flush with a delay
        #expect(verdict(0x08, extras: 2, body: 2) == invalid)
        // Storage: the value streams into the item, any declared size is judged by the allocator.
        #expect(verdict(0x01, key: 1, extras: 8, body: 9 + (64 << 20)) == .accept)
        #expect(verdict(0x01, key: 1, extras: 0, body: 5) == invalid)
        #expect(verdict(0x01, key: 0, extras: 8, body: 8) == invalid)
        #expect(verdict(0x0e, key: 1, body: 100) == .accept)           // append
        #expect(verdict(0x0e, key: 1, extras: 8, body: 100) == invalid)
        #expect(verdict(0x05, key: 1, extras: 20, body: 21) == .accept)
        #expect(verdict(0x05, key: 1, extras: 20, body: 22) == invalid)
        #expect(verdict(0x04, key: 1, extras: 4, body: 5) == invalid)  // delete with extras
        #expect(verdict(0x10, key: 5, body: 5) == .accept)             // stat <group>
        #expect(verdict(0x10, extras: 4, body: 4) == invalid)
        #expect(verdict(0x1c, key: 1, body: 1) == invalid)             // touch without extras
        #expect(verdict(0x1d, key: 1, extras: 4, body: 5) == .accept)
    }

    @Test("a GET declaring 1 MB is refused from its header: Invalid arguments, close, nothing awaited")
    func refusedBeforeBody() throws {
        let c = try Client()
        let reply = c.feed(declared(0x00, key: 1, body: 1 << 20) + [0x6b])
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.map(\.status) == [BinaryStatus.invalidArguments])
        #expect(r.first?.value == Array("Invalid arguments".utf8))
        #expect(c.lastAction == .close)
        let stats = c.service.generalStats()
        #expect(stats.first { $0.0 == "binary_header_invalid" }?.1 == "1")
    }

    @Test("issue 12's binary rows: verbosity is an unknown command; a noop is answered before a bad packet closes")
    func edgeRows() throws {
        let c = try Client()
        let reply = c.feed(binaryRequest(0x1b) + binaryRequest(0x0a))
        let r = try #require(BinaryResponse.all(reply))
        #expect(r.map(\.opcode) == [0x1b, 0x0a])
        #expect(r.map(\.status) == [BinaryStatus.unknownCommand, 0])
        #expect(r[0].value == Array("Unknown command".utf8))
        #expect(c.lastAction == .proceed)

        let d = try Client()
        let reply2 = d.feed(binaryRequest(0x0a) + declared(0x0a, body: 0, magic: 0x12))
        #expect(try #require(BinaryResponse.all(reply2)).map(\.opcode) == [0x0a])
        #expect(d.lastAction == .close)  // written, then closed (not dropped)

        // An unknown opcode's body is skipped as it arrives and the connection goes on.
        let e = try Client()
        var bytes = declared(0x55, body: 5)
        bytes += Array("hello".utf8) + binaryRequest(0x0a)
        let r3 = try #require(BinaryResponse.all(e.feed(bytes)))
        #expect(r3.map(\.status) == [BinaryStatus.unknownCommand, 0])
    }

    @Test("metadump in pieces: each piece about 64 KB, every item listed once, END last")
    func metadumpPieces() throws {
        let c = try Client()
        var load = ""
        let count = 5000
        for i in 0..<count { load += "set metadump-piece-key-\(i) 0 0 1 noreply\r\nx\r\n" }
        _ = c.send(load)
        let dump = c.send("lru_crawler metadump all\r\n")
        // By bytes: "\r\n" is one Character to Swift's String.
        let lines = Array(dump.utf8).split(separator: 0x0a).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.last == "END\r")
        #expect(Set(lines.dropLast()).count == count)
        // ~85 bytes a line: over 400 KB, so several pieces after the first.
        #expect(c.streamPieces >= dump.utf8.count / MemcacheConnection.metadumpPiece - 1)
        #expect(c.streamPieces >= 5)
    }

    @Test("one metadump at a time: a second answers BUSY (counted); closing the first frees the slot")
    func metadumpBusy() throws {
        let c = try Client()
        var load = ""
        for i in 0..<3000 { load += "set busy-key-\(i) 0 0 1 noreply\r\nx\r\n" }
        _ = c.send(load)
        let request = Array("lru_crawler metadump all\r\n".utf8)
        let firstOutput = OutputBuffer()
        let first = c.service.makeHandler(workerIndex: 0, fd: 100, output: firstOutput, waker: ConnectionWaker {})
        let (_, action) = request.withUnsafeBytes { first.process($0, output: firstOutput) }
        #expect(action == .stream)
        let firstPiece = drainBytes(firstOutput)
        #expect(firstPiece.count >= MemcacheConnection.metadumpPiece)
        #expect(firstPiece.count < MemcacheConnection.metadumpPiece + 1024)

        #expect(c.send("lru_crawler metadump all\r\n") == "BUSY currently processing crawler request\r\n")
        #expect(c.service.generalStats().first { $0.0 == "metadump_busy" }?.1 == "1")

        first.connectionClosed()
        firstOutput.reset()
        let full = c.send("lru_crawler metadump all\r\n")
        #expect(full.hasSuffix("END\r\n"))
        #expect(Array(full.utf8).split(separator: 0x0a).count == 3001)
    }
}
