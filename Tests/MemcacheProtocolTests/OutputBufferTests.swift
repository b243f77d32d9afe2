// OutputBuffer: reply text coalesced into one arena, external (item) segments written without a
// copy and released once fully written, partial writes, and rollback; deferred lines (a count
// written after what it counts) and text written in place.
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The unwritten bytes as the writer would see them through fill(), without consuming.
func pending(_ out: OutputBuffer) -> [UInt8] {
    let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 256)
    defer { iov.deallocate() }
    let n = out.fill(iov, capacity: 256)
    var bytes: [UInt8] = []
    for i in 0..<n { bytes += UnsafeRawBufferPointer(start: iov[i].iov_base, count: iov[i].iov_len) }
    return bytes
}

/// External bytes with a reference token, and a log of releases.
final class ExternalBytes {
    let storage: UnsafeMutableRawBufferPointer
    let token: UnsafeMutableRawPointer
    init(_ s: String) {
        storage = .allocate(byteCount: max(1, s.utf8.count), alignment: 8)
        storage.copyBytes(from: Array(s.utf8))
        token = storage.baseAddress!
        count = s.utf8.count
    }
    let count: Int
    var base: UnsafeRawPointer { UnsafeRawPointer(storage.baseAddress!) }
    deinit { storage.deallocate() }
}

final class ReleaseLog {
    var released: [UnsafeMutableRawPointer] = []
    func attach(_ out: OutputBuffer) {
        out.releaseReference = { [unowned self] in self.released.append($0) }
    }
}

@Suite("OutputBuffer")
struct OutputBufferTests {
    @Test("consecutive text appends coalesce into one segment")
    func textCoalesces() {
        let out = OutputBuffer()
        out.append("VALUE " as StaticString)
        out.append(UnsafeRawBufferPointer(start: nil, count: 0))     // nothing, no segment
        Array("key".utf8).withUnsafeBytes { out.append($0) }
        out.append(byte: 0x20)
        out.append(decimal: 0)
        out.append(byte: 0x20)
        out.append(decimal: UInt64.max)
        out.append("\r\n")
        let expected = Array("VALUE key 0 18446744073709551615\r\n".utf8)
        #expect(out.segmentCount == 1)
        #expect(pending(out) == expected)
        #expect(out.pendingBytes == expected.count)
        #expect(!out.isEmpty)
        out.consume(out.pendingBytes)
        #expect(out.isEmpty)
        #expect(out.pendingBytes == 0)
        #expect(out.segmentCount == 0 && out.textCount == 0)
    }

    @Test("decimal formatting", arguments: [UInt64(0), 7, 10, 99, 100, 12345, 4_294_967_295, UInt64.max])
    func decimals(_ v: UInt64) {
        let out = OutputBuffer()
        out.append(decimal: v)
        #expect(pending(out) == Array(String(v).utf8))
    }

    @Test("external segments break the text; text after them starts a new segment")
    func externalSegments() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let value = ExternalBytes("hello")
        out.append("VALUE k 0 5\r\n" as StaticString)
        out.appendExternal(value.base, count: value.count, reference: value.token)
        out.append("\r\n" as StaticString)
        out.append("END\r\n" as StaticString)
        #expect(out.segmentCount == 3)
        #expect(pending(out) == Array("VALUE k 0 5\r\nhello\r\nEND\r\n".utf8))
        // The value bytes are not copied: the iovec points into the external memory.
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 4)
        defer { iov.deallocate() }
        #expect(out.fill(iov, capacity: 4) == 3)
        #expect(UnsafeRawPointer(iov[1].iov_base!) == value.base)
        // fill respects its capacity.
        #expect(out.fill(iov, capacity: 2) == 2)
        #expect(log.released.isEmpty)
        out.consume(out.pendingBytes)
        #expect(log.released == [value.token])
        #expect(out.isEmpty)
    }

    @Test("a reference is released only when its segment is fully written")
    func partialConsume() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let a = ExternalBytes("XYZ")
        let b = ExternalBytes("0123456789")
        out.append("abcd" as StaticString)
        out.appendExternal(a.base, count: a.count, reference: a.token)
        out.append("ef" as StaticString)
        out.appendExternal(b.base, count: b.count, reference: b.token)
        out.append("!" as StaticString)
        let all = Array("abcdXYZef0123456789!".utf8)
        #expect(pending(out) == all)

        out.consume(3)                                 // inside the first text segment
        #expect(pending(out) == Array(all[3...]))
        #expect(out.pendingBytes == all.count - 3)
        out.consume(2)                                 // "d" and "X": into the external one
        #expect(pending(out) == Array(all[5...]))
        #expect(log.released.isEmpty)
        out.consume(2)                                 // "YZ": a's segment is done
        #expect(log.released == [a.token])
        out.consume(1)                                 // "e"
        out.consume(6)                                 // "f01234": across a boundary
        #expect(pending(out) == Array("56789!".utf8))
        #expect(log.released == [a.token])
        out.consume(5)
        #expect(log.released == [a.token, b.token])
        #expect(pending(out) == Array("!".utf8))
        // Text appended while a write is partial goes on the end.
        out.append("more" as StaticString)
        #expect(pending(out) == Array("!more".utf8))
        out.consume(5)
        #expect(out.isEmpty)
        #expect(log.released.count == 2)
    }

    @Test("an empty external segment with a reference is released when reached")
    func emptyExternal() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let v = ExternalBytes("")
        out.append("VALUE e 0 0\r\n" as StaticString)
        out.appendExternal(v.base, count: 0, reference: v.token)
        out.append("\r\nEND\r\n" as StaticString)
        #expect(pending(out) == Array("VALUE e 0 0\r\n\r\nEND\r\n".utf8))
        out.consume(13)
        #expect(log.released == [v.token])
        out.consume(7)
        #expect(out.isEmpty)
    }

    @Test("rollback withdraws text and segments since the mark and releases their references")
    func rollback() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let a = ExternalBytes("AAA")
        let b = ExternalBytes("BBB")
        out.append("STORED\r\n" as StaticString)
        let mark = out.mark()
        out.append("VALUE a 0 3\r\n" as StaticString)      // coalesces into the marked segment
        out.appendExternal(a.base, count: 3, reference: a.token)
        out.append("\r\nVALUE b 0 3\r\n" as StaticString)
        out.appendExternal(b.base, count: 3, reference: b.token)
        out.rollback(to: mark)
        #expect(Set(log.released) == [a.token, b.token])
        #expect(pending(out) == Array("STORED\r\n".utf8))
        #expect(out.segmentCount == 1)
        out.append("CLIENT_ERROR bad command line format\r\n" as StaticString)
        #expect(pending(out) == Array("STORED\r\nCLIENT_ERROR bad command line format\r\n".utf8))
        #expect(out.segmentCount == 1)
        out.consume(out.pendingBytes)
        #expect(log.released.count == 2)
    }

    @Test("rollback to a mark taken on an empty buffer empties it")
    func rollbackToEmpty() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let a = ExternalBytes("AAA")
        let mark = out.mark()
        out.append("VALUE a 0 3\r\n" as StaticString)
        out.appendExternal(a.base, count: 3, reference: a.token)
        out.rollback(to: mark)
        #expect(out.isEmpty)
        #expect(log.released == [a.token])
        out.append("END\r\n" as StaticString)
        #expect(pending(out) == Array("END\r\n".utf8))
    }

    @Test("rollback after a partial write keeps what is pending before the mark")
    func rollbackAfterPartialWrite() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let a = ExternalBytes("AAA")
        out.append("first reply\r\n" as StaticString)
        out.consume(6)
        let mark = out.mark()
        out.append("more" as StaticString)
        out.appendExternal(a.base, count: 3, reference: a.token)
        out.rollback(to: mark)
        #expect(pending(out) == Array("reply\r\n".utf8))
        #expect(log.released == [a.token])
    }

    @Test("reset drops everything and releases every reference")
    func reset() {
        let out = OutputBuffer()
        let log = ReleaseLog()
        log.attach(out)
        let a = ExternalBytes("AAA")
        let b = ExternalBytes("BBB")
        out.append("x" as StaticString)
        out.appendExternal(a.base, count: 3, reference: a.token)
        out.appendExternal(b.base, count: 3, reference: nil)
        out.appendExternal(b.base, count: 3, reference: b.token)
        out.consume(4)                                  // a is written and released
        #expect(log.released == [a.token])
        out.reset()
        #expect(log.released == [a.token, b.token])
        #expect(out.isEmpty)
    }

    @Test("the text arena and the segment list grow past their initial capacity")
    func growth() {
        let out = OutputBuffer(textCapacity: 16, segmentCapacity: 2)
        let log = ReleaseLog()
        log.attach(out)
        let values = (0..<100).map { ExternalBytes("<\($0)>") }
        var expected: [UInt8] = []
        for (i, v) in values.enumerated() {
            let line = "VALUE key\(i) 0 \(v.count)\r\n"
            out.append(line)
            out.appendExternal(v.base, count: v.count, reference: v.token)
            expected += Array(line.utf8) + Array("<\(i)>".utf8)
        }
        let big = String(repeating: "z", count: 10_000)
        out.append(big)
        expected += Array(big.utf8)
        #expect(out.segmentCount == 201)
        #expect(out.pendingBytes == expected.count)
        #expect(drainBytes(out) == expected)
        #expect(log.released == values.map(\.token))
        out.compact()
        out.append("END\r\n" as StaticString)
        #expect(drainBytes(out) == Array("END\r\n".utf8))
    }
}

/// A line written before what it counts is known (a stream range's count: `beginDeferred`,
/// `endDeferred`), and text written in place (`append(upTo:)`).
@Suite("OutputBuffer deferred lines")
struct OutputBufferDeferredTests {
    static func line(_ s: String) -> (UnsafeMutableRawPointer) -> Int {
        { p in
            let b = Array(s.utf8)
            b.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
            return b.count
        }
    }

    @Test("a deferred line goes out before what followed it; its unused room never does; nested; past the arena's growth")
    func deferredLines() {
        let out = OutputBuffer(textCapacity: 64, segmentCapacity: 2)
        out.append("+PONG\r\n" as StaticString)
        let outer = out.beginDeferred(room: 22)
        out.append("$1\r\ns\r\n" as StaticString)
        let inner = out.beginDeferred(room: 22)
        // Enough to grow the 64-byte arena (and the 2-segment array) while both are open.
        let body = String(repeating: "x", count: 5000)
        Array(body.utf8).withUnsafeBytes { out.append($0) }
        out.endDeferred(inner, room: 22, Self.line("*1234\r\n"))
        out.endDeferred(outer, room: 22, Self.line("%1\r\n"))
        out.append("+OK\r\n" as StaticString)
        #expect(pending(out) == Array(("+PONG\r\n%1\r\n$1\r\ns\r\n*1234\r\n" + body + "+OK\r\n").utf8))
        #expect(out.pendingBytes == pending(out).count)
        // A line that fills its room exactly, and an empty part.
        out.consume(out.pendingBytes)
        let full = out.beginDeferred(room: 4)
        out.endDeferred(full, room: 4, Self.line("*0\r\n"))
        #expect(pending(out) == Array("*0\r\n".utf8))
        out.consume(out.pendingBytes)
        #expect(out.isEmpty)
    }

    @Test("a rollback past a deferred line takes it back with what followed it")
    func rollbackPastDeferred() {
        let out = OutputBuffer()
        out.append(":1\r\n" as StaticString)
        let mark = out.mark()
        _ = out.beginDeferred(room: 22)
        out.append("$1\r\nk\r\n" as StaticString)
        out.rollback(to: mark)
        out.append(":2\r\n" as StaticString)
        #expect(pending(out) == Array(":1\r\n:2\r\n".utf8))
    }

    @Test("append(upTo:) counts what was written, not the room asked for")
    func appendInPlace() {
        let out = OutputBuffer(textCapacity: 8, segmentCapacity: 4)
        out.append("a" as StaticString)
        out.append(upTo: 100, Self.line("bcd"))
        out.append(upTo: 10) { _ in 0 }
        out.append("e" as StaticString)
        #expect(pending(out) == Array("abcde".utf8))
        #expect(out.segmentCount == 1)
    }
}
