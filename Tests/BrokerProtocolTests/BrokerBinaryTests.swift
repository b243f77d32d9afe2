// The broker port's binary protocol without a network (BrokerConnection+Binary.swift): frames in
// through `process`, response frames read out, parking and resuming as the server would.
// broker_binary.py drives the same through pylibmc and raw sockets against the real binary. Topics
// too (BrokerConnection+BinaryLogs.swift): appends, group reads, refusals, a parked read.
import Broker
import BrokerProtocol
import CacheEngine
import MemcacheProtocol
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A binary request frame.
private func frame(_ opcode: UInt8, key: String = "", extras: [UInt8] = [], value: [UInt8] = [],
                   opaque: UInt32 = 0, bodyLength: Int? = nil, magic: UInt8 = 0x80) -> [UInt8] {
    let k = Array(key.utf8)
    let body = extras + k + value
    let n = UInt32(bodyLength ?? body.count)
    var h: [UInt8] = [magic, opcode, UInt8(k.count >> 8), UInt8(k.count & 0xff), UInt8(extras.count), 0, 0, 0]
    h += [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
    h += [UInt8(opaque >> 24), UInt8((opaque >> 16) & 0xff), UInt8((opaque >> 8) & 0xff), UInt8(opaque & 0xff)]
    h += [UInt8](repeating: 0, count: 8)
    return h + body
}

/// One response frame: opcode, status, opaque, cas, extras, key, value.
private struct Response: Equatable {
    var opcode: UInt8, status: UInt16, opaque: UInt32, cas: UInt64
    var extras: [UInt8], key: [UInt8], value: [UInt8]
}

private func responses(_ bytes: [UInt8]) -> [Response]? {
    var out: [Response] = []
    var i = 0
    func be(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 << 8 | UInt64(bytes[at + $1]) } }
    while i < bytes.count {
        guard bytes.count - i >= 24, bytes[i] == 0x81 else { return nil }
        let klen = Int(be(i + 2, 2)), elen = Int(bytes[i + 4]), blen = Int(be(i + 8, 4))
        guard bytes.count - i - 24 >= blen else { return nil }
        let b = i + 24
        out.append(Response(opcode: bytes[i + 1], status: UInt16(be(i + 6, 2)), opaque: UInt32(be(i + 12, 4)),
                            cas: be(i + 16, 8), extras: Array(bytes[b..<b + elen]),
                            key: Array(bytes[b + elen..<b + elen + klen]), value: Array(bytes[b + elen + klen..<b + blen])))
        i = b + blen
    }
    return out
}

/// A connection fed raw bytes.
private final class BinaryClient {
    let output = OutputBuffer()
    let handler: ConnectionHandler
    var input: [UInt8] = []
    var lastAction: HandlerAction = .proceed

    init(_ port: BrokerPort) {
        handler = port.service.makeHandler(workerIndex: 0, fd: 9, output: output, waker: ConnectionWaker {})
    }

    func send(_ bytes: [UInt8]) -> [UInt8] {
        input += bytes
        var reply: [UInt8] = []
        while !input.isEmpty {
            let (consumed, action) = input.withUnsafeBytes { handler.process($0, output: output) }
            input.removeFirst(consumed)
            lastAction = action
            reply += drainBytes(output)
            if case .yield = action { continue }
            break
        }
        return reply
    }

    func resume(timedOut: Bool) -> [UInt8] {
        lastAction = handler.resume(output: output, timedOut: timedOut)
        return drainBytes(output)
    }
}

@Suite("broker port, binary protocol")
struct BrokerBinaryTests {
    @Test("set enqueues, get dequeues with the flags as extras and the message id as CAS, an empty queue is Not found")
    func setThenGet() throws {
        let port = try BrokerPort()
        let c = BinaryClient(port)
        let flags: [UInt8] = [0, 0, 0, 9, 0, 0, 0, 0]
        let stored = try #require(responses(c.send(frame(0x01, key: "bq", extras: flags, value: Array("hello".utf8), opaque: 1))))
        #expect(stored.map { [$0.opcode, UInt8($0.status), UInt8($0.opaque)] } == [[0x01, 0, 1]])
        let got = try #require(responses(c.send(frame(0x00, key: "bq", opaque: 2))))
        #expect(got.count == 1)
        #expect(got[0].status == 0 && got[0].extras == [0, 0, 0, 9] && got[0].value == Array("hello".utf8))
        #expect(got[0].cas != 0)
        let miss = try #require(responses(c.send(frame(0x00, key: "bq", opaque: 3))))
        #expect(miss.map(\.status) == [0x01])
        // getkq on an empty queue says nothing; the noop after it answers.
        let quiet = try #require(responses(c.send(frame(0x0d, key: "bq", opaque: 4) + frame(0x0a, opaque: 5))))
        #expect(quiet.map(\.opaque) == [5])
    }

    @Test("the expiration is unsigned, as memcached reads it: an absolute time past 2^31 is far off, not past")
    func expirationIsUnsigned() throws {
        let port = try BrokerPort()
        let c = BinaryClient(port)
        // 0x80000001 seconds: a Unix time in 2038, which a signed read takes for a time long past.
        let extras: [UInt8] = [0, 0, 0, 0, 0x80, 0, 0, 1]
        let stored = try #require(responses(c.send(frame(0x01, key: "bx", extras: extras, value: Array("later".utf8), opaque: 1))))
        #expect(stored.map(\.status) == [0])
        let got = try #require(responses(c.send(frame(0x00, key: "bx", opaque: 2))))
        #expect(got.map(\.status) == [0] && got.first?.value == Array("later".utf8), "the message expired at once")
    }

    @Test("opcodes the broker does not serve are Unknown command, body skipped; a malformed header is answered and closed")
    func unknownAndMalformed() throws {
        let port = try BrokerPort()
        let c = BinaryClient(port)
        let r = try #require(responses(c.send(frame(0x02, key: "q", extras: [UInt8](repeating: 0, count: 8), value: [1, 2, 3], opaque: 1)
                                              + frame(0x1b, extras: [0, 0, 0, 1], opaque: 2) + frame(0x0a, opaque: 3))))
        #expect(r.map(\.status) == [0x81, 0x81, 0])
        #expect(r.map(\.opaque) == [1, 2, 3])
        #expect(c.lastAction == .proceed)
        let before = port.broker.binaryHeaderInvalid
        let bad = try #require(responses(c.send(frame(0x00, key: "q", opaque: 4, bodyLength: 0))))
        #expect(bad.map(\.status) == [0x81])
        #expect(c.lastAction == .close)
        #expect(port.broker.binaryHeaderInvalid == before + 1)
    }

    @Test("a blocking binary get parks and is answered by the producer's message, or Not found at its timeout")
    func blockingGet() throws {
        let port = try BrokerPort()
        let c = BinaryClient(port)
        #expect(c.send(frame(0x00, key: "w/t=1000", opaque: 7)) == [])
        #expect(c.lastAction == .park(timeoutMs: 1000))
        let p = BinaryClient(port)
        _ = p.send(frame(0x01, key: "w", extras: [UInt8](repeating: 0, count: 8), value: Array("late".utf8)))
        let woken = try #require(responses(c.resume(timedOut: false)))
        #expect(woken.map(\.opaque) == [7] && woken.first?.value == Array("late".utf8))
        #expect(c.send(frame(0x00, key: "w/t=1000", opaque: 8)) == [])
        let timedOut = try #require(responses(c.resume(timedOut: true)))
        #expect(timedOut.map { [UInt8($0.status), UInt8($0.opaque)] } == [[0x01, 8]])
    }
}

@Suite("broker port, binary protocol on topics")
struct BrokerBinaryTopicTests {
    let noExtras = [UInt8](repeating: 0, count: 8)

    /// A topic declared over a text connection.
    private func declare(_ port: BrokerPort, _ line: String) {
        let text = BinaryClient(port)
        #expect(text.send(Array((line + "\r\n").utf8)) == Array("OK\r\n".utf8))
    }

    @Test("set appends (key and partition in the key), get reads a group's next record: flags as extras, offset as CAS, then Not found")
    func appendAndRead() throws {
        let port = try BrokerPort()
        declare(port, "log bt partitions=2")
        let c = BinaryClient(port)
        let flags: [UInt8] = [0, 0, 0, 5, 0, 0, 0, 0]
        let stored = try #require(responses(c.send(frame(0x01, key: "bt/partition=1", extras: flags, value: Array("v1".utf8), opaque: 1)
                                                   + frame(0x11, key: "bt/partition=1", extras: noExtras, value: Array("v2".utf8), opaque: 2)
                                                   + frame(0x0a, opaque: 3))))
        // setq says nothing when it succeeds.
        #expect(stored.map { [UInt8($0.status), UInt8($0.opaque)] } == [[0, 1], [0, 3]])
        let first = try #require(responses(c.send(frame(0x00, key: "bt/group=g/partition=1", opaque: 4))))
        #expect(first.count == 1 && first[0].status == 0 && first[0].extras == [0, 0, 0, 5] && first[0].value == Array("v1".utf8))
        #expect(first[0].cas == 0)
        let second = try #require(responses(c.send(frame(0x0c, key: "bt/group=g/partition=1", opaque: 5))))
        #expect(second.count == 1 && second[0].cas == 1 && second[0].key == Array("bt/group=g/partition=1".utf8)
                && second[0].value == Array("v2".utf8))
        let miss = try #require(responses(c.send(frame(0x00, key: "bt/group=g/partition=1", opaque: 6))))
        #expect(miss.map(\.status) == [0x01])
        let quiet = try #require(responses(c.send(frame(0x0d, key: "bt/group=g/partition=1", opaque: 7) + frame(0x0a, opaque: 8))))
        #expect(quiet.map(\.opaque) == [8])
        // Another group reads the same records from the start.
        let other = try #require(responses(c.send(frame(0x00, key: "bt/group=h/partition=1", opaque: 9))))
        #expect(other.first?.value == Array("v1".utf8))
    }

    @Test("refusals carry the text reply's words: no such partition, a read without a group, /max= above 1, a compacted topic's keyless record")
    func refusals() throws {
        let port = try BrokerPort()
        declare(port, "log bt partitions=2")
        declare(port, "log bc cleanup=compact")
        let c = BinaryClient(port)
        let r = try #require(responses(c.send(frame(0x01, key: "bt/partition=9", extras: noExtras, value: Array("x".utf8), opaque: 1)
                                              + frame(0x00, key: "bt", opaque: 2)
                                              + frame(0x00, key: "bt/group=g/max=5", opaque: 3)
                                              + frame(0x01, key: "bc", extras: noExtras, value: Array("x".utf8), opaque: 4)
                                              + frame(0x01, key: "bc/key=k", extras: noExtras, value: Array("y".utf8), opaque: 5))))
        #expect(r.map(\.status) == [0x04, 0x04, 0x04, 0x04, 0])
        #expect(r.map { String(decoding: $0.value, as: UTF8.self) } == [
            "no such partition", "a topic read needs /group=<name>", "bad topic key",
            "compacted topic cannot accept a record without a key", ""])
    }

    @Test("a get with /timeout= parks and is answered by the next append, or Not found at its timeout")
    func blockingRead() throws {
        let port = try BrokerPort()
        declare(port, "log bw")
        let c = BinaryClient(port)
        #expect(c.send(frame(0x00, key: "bw/group=g/timeout=1000", opaque: 7)) == [])
        // The park's timeout is what is left of the read's 1,000 ms when it parks: a millisecond
        // or more may have gone by on a loaded machine (a full suite once saw 999).
        guard case .park(let ms) = c.lastAction else {
            Issue.record("not parked: \(c.lastAction)")
            return
        }
        #expect(ms > 900 && ms <= 1000)
        let p = BinaryClient(port)
        _ = p.send(frame(0x01, key: "bw", extras: noExtras, value: Array("late".utf8)))
        let woken = try #require(responses(c.resume(timedOut: false)))
        #expect(woken.map(\.opaque) == [7] && woken.first?.value == Array("late".utf8))
        #expect(c.send(frame(0x00, key: "bw/group=g/timeout=1000", opaque: 8)) == [])
        let timedOut = try #require(responses(c.resume(timedOut: true)))
        #expect(timedOut.map { [UInt8($0.status), UInt8($0.opaque)] } == [[0x01, 8]])
    }
}

@Suite("queue names and keys")
struct QueueNameTests {
    @Test("a proxy's hash tag braces are part of a queue name, within the file-name bound")
    func bracesInNames() {
        #expect(Broker.isValidName("{orders}"))
        #expect(Broker.isValidName("a{b}c"))
        #expect(!Broker.isValidName("or ders"))
        // Each brace takes 3 bytes of the 200-byte file name (%7B, %7D).
        #expect(Broker.isValidName("{" + String(repeating: "x", count: 194) + "}"))
        #expect(!Broker.isValidName("{" + String(repeating: "x", count: 195) + "}"))
    }
}
