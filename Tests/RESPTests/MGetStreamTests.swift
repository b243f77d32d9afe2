// An MGET past one piece (1,024 keys or 1 MB) is written as the client reads: the same bytes as
// one reply, counted in resp_mget_streamed_replies; a few keys never stream.
import CacheEngine
import Platform
@testable import RESP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP MGET stream")
struct MGetStreamTests {
    /// Runs `request` through `handler`, taking every streamed piece; returns the reply and the
    /// number of pieces after the first.
    private func run(_ handler: ConnectionHandler, _ output: OutputBuffer, _ request: [UInt8]) -> (String, Int) {
        var reply: [UInt8] = []
        var pieces = 0
        func drain() { reply += drainBytes(output) }
        var (_, action) = request.withUnsafeBytes { handler.process($0, output: output) }
        drain()
        while action == .stream {
            action = handler.continueStream(output: output)
            pieces += 1
            drain()
        }
        return (String(decoding: reply, as: UTF8.self), pieces)
    }

    @Test("3,000 keys with misses: every bulk in order, in pieces of 1,024 keys, counted once")
    func piecesInOrder() throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: 1_700_000_000)))
        let service = RESPService(engine: engine, settings: RESPSettings(), workers: 1)
        let output = OutputBuffer()
        let handler = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        defer { handler.connectionClosed(); output.reset() }
        var words = ["MGET"]
        var expected = "*3000\r\n"
        for i in 0..<3000 {
            if i % 3 == 0 {
                words.append("missing-\(i)")
                expected += "$-1\r\n"
            } else {
                let value = String(repeating: "v", count: i % 10)
                #expect(run(handler, output, multibulk(["SET", "k\(i)", value])).0 == "+OK\r\n")
                words.append("k\(i)")
                expected += "$\(value.utf8.count)\r\n\(value)\r\n"
            }
        }
        let (reply, pieces) = run(handler, output, multibulk(words))
        #expect(reply == expected)
        #expect(pieces == 2)
        #expect(service.total(.mgetsStreamed) == 1)
        #expect(run(handler, output, multibulk(["MGET", "k1", "missing-0"])).0 == "*2\r\n$1\r\nv\r\n$-1\r\n")
        #expect(service.total(.mgetsStreamed) == 1)

        // A connection that goes away mid-stream gives its references back (no crash, no leak of
        // the engine's reference count: the item can still be replaced and read).
        let otherOutput = OutputBuffer()
        let other = service.makeHandler(workerIndex: 0, fd: 100, output: otherOutput, waker: ConnectionWaker {})
        let (_, action) = multibulk(words).withUnsafeBytes { other.process($0, output: otherOutput) }
        #expect(action == .stream)
        other.connectionClosed()
        otherOutput.reset()
        #expect(run(handler, output, multibulk(["SET", "k1", "w"])).0 == "+OK\r\n")
        #expect(run(handler, output, multibulk(["GET", "k1"])).0 == "$1\r\nw\r\n")
    }
}
