// memcached's UDP framing without sockets: a reply cut into 1400-byte datagrams with their
// headers, request datagrams classified, and the cache port's datagram handler answering (and
// refusing) whole datagrams the way the server's datagram transport hands them over.
import MemcacheProtocol
import Platform
import Testing

/// Every datagram `body` sends, copied.
private func collect(_ body: ((UnsafeRawBufferPointer) -> Void) -> Void) -> [[UInt8]] {
    var sent: [[UInt8]] = []
    body { sent.append(Array($0)) }
    return sent
}

/// A request datagram: the header, then `payload`.
private func datagram(id: UInt16, sequence: UInt16 = 0, count: UInt16 = 1, _ payload: String) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: UDPFrame.headerSize)
    bytes.withUnsafeMutableBytes {
        UDPFrame.Header(requestID: id, sequence: sequence, count: count).write(to: $0.baseAddress!)
    }
    return bytes + Array(payload.utf8)
}

private func header(_ d: [UInt8]) -> [UInt8] { Array(d.prefix(UDPFrame.headerSize)) }

@Suite("UDP frame")
struct UDPFrameTests {
    @Test("a 3000-byte reply goes out as three datagrams: 1400 + 1400 + 200 bytes, headers in network order")
    func framesAReply() {
        let reply = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: UDPFrame.maxDatagram, alignment: 8)
        defer { scratch.deallocate() }
        let sent = collect { send in reply.withUnsafeBytes { UDPFrame.frames(of: $0, requestID: 0x1234, scratch: scratch, send) } }
        #expect(UDPFrame.datagramCount(replyLength: 3000) == 3)
        #expect(sent.map(\.count) == [1408, 1408, 208])
        #expect(sent.map(header) == [
            [0x12, 0x34, 0, 0, 0, 3, 0, 0],
            [0x12, 0x34, 0, 1, 0, 3, 0, 0],
            [0x12, 0x34, 0, 2, 0, 3, 0, 0],
        ])
        #expect(sent.flatMap { $0.dropFirst(UDPFrame.headerSize) } == reply)
        sent[2].withUnsafeBytes { #expect(UDPFrame.Header($0) == UDPFrame.Header(requestID: 0x1234, sequence: 2, count: 3)) }
    }

    @Test("an empty reply sends no datagram; a reply of exactly 1400 bytes sends one")
    func edges() {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: UDPFrame.maxDatagram, alignment: 8)
        defer { scratch.deallocate() }
        let none = collect { send in [UInt8]().withUnsafeBytes { UDPFrame.frames(of: $0, requestID: 1, scratch: scratch, send) } }
        #expect(none.isEmpty)
        let one = collect { send in
            [UInt8](repeating: 0x41, count: 1400).withUnsafeBytes { UDPFrame.frames(of: $0, requestID: 1, scratch: scratch, send) }
        }
        #expect(one.map(\.count) == [1408])
        #expect(one.map(header) == [[0, 1, 0, 0, 0, 1, 0, 0]])
    }

    @Test("request datagrams: too short is dropped, several datagrams are refused, one is a request")
    func classifiesRequests() {
        [UInt8](repeating: 0, count: 7).withUnsafeBytes {
            guard case .malformed = UDPFrame.request($0) else { Issue.record("7 bytes: not malformed"); return }
        }
        datagram(id: 9, count: 2, "get a\r\n").withUnsafeBytes {
            guard case .multiPacket(let id) = UDPFrame.request($0) else { Issue.record("count 2: not refused"); return }
            #expect(id == 9)
        }
        datagram(id: 7, "get a\r\n").withUnsafeBytes {
            guard case .complete(let id, let payload) = UDPFrame.request($0) else { Issue.record("count 1: not a request"); return }
            #expect(id == 7)
            #expect(Array(payload) == Array("get a\r\n".utf8))
        }
    }

    @Test("the cache port's datagram handler refuses a multi-datagram request and frames a long reply")
    func handler() throws {
        let c = try Client()
        let udp = c.service.makeDatagramHandler(workerIndex: 0, fd: 99)
        func ask(_ d: [UInt8]) -> [[UInt8]] { collect { send in d.withUnsafeBytes { udp.receive($0, send: send) } } }

        let refused = ask(datagram(id: 0xBEEF, sequence: 0, count: 2, "get a\r\n"))
        #expect(refused.map(header) == [[0xBE, 0xEF, 0, 0, 0, 1, 0, 0]])
        #expect(refused.first.map { String(decoding: $0.dropFirst(8), as: UTF8.self) }
                == "SERVER_ERROR multi-packet request not supported\r\n")

        #expect(ask([1, 2, 3]).isEmpty)
        #expect(ask(datagram(id: 1, "set k 0 0 1 noreply\r\nx\r\n")).isEmpty)

        let value = String(repeating: "v", count: 2900)
        #expect(c.send("set big 0 0 2900\r\n\(value)\r\n") == "STORED\r\n")
        let reply = ask(datagram(id: 5, "get big\r\n"))
        #expect(reply.map(header) == [[0, 5, 0, 0, 0, 3, 0, 0], [0, 5, 0, 1, 0, 3, 0, 0], [0, 5, 0, 2, 0, 3, 0, 0]])
        #expect(String(decoding: reply.flatMap { $0.dropFirst(8) }, as: UTF8.self) == valueReply("big", value) + "END\r\n")
    }
}
