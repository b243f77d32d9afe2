// A connection driven the way the server drives it: bytes are appended to an input buffer, the
// handler consumes what it can, the unconsumed tail waits for the next read, and the reply bytes
// are collected from the OutputBuffer (fill → copy → consume) after every call.
import CacheEngine
import MemcacheProtocol
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

let testUnixNow = 1_700_000_000

final class Client {
    let clock: ProcessClock
    let engine: CacheEngine
    let service: MemcacheService
    let output = OutputBuffer()
    let handler: ConnectionHandler
    /// Bytes received and not consumed yet.
    private(set) var input: [UInt8] = []
    /// Every action `process` returned, in order.
    private(set) var actions: [HandlerAction] = []
    private(set) var closed = false
    /// Calls of `process`.
    private(set) var calls = 0
    /// Calls of `continueStream` (pieces after the first of streamed replies).
    private(set) var streamPieces = 0

    init(protocolSettings: ProtocolSettings = ProtocolSettings(),
         configure: (inout EngineSettings) -> Void = { _ in }) throws {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        configure(&settings)
        clock = ProcessClock(unixNow: testUnixNow)
        engine = try #require(CacheEngine(settings: settings, clock: clock))
        service = MemcacheService(engine: engine, settings: protocolSettings, workers: 1)
        handler = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
    }

    deinit {
        handler.connectionClosed()
        output.reset()
    }

    /// Receives `bytes` and processes them like a server: again after `.yield`, until the handler
    /// waits for more input or closes. Returns the reply bytes produced.
    @discardableResult
    func feed(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        precondition(!closed, "fed a closed connection")
        input.append(contentsOf: bytes)
        var reply: [UInt8] = []
        while !input.isEmpty {
            var (consumed, action) = input.withUnsafeBytes { handler.process($0, output: output) }
            calls += 1
            actions.append(action)
            #expect(consumed >= 0 && consumed <= input.count)
            input.removeFirst(consumed)
            reply += drainBytes(output)
            // A streamed reply: the client read each piece, the next is asked for.
            while case .stream = action {
                action = handler.continueStream(output: output)
                streamPieces += 1
                reply += drainBytes(output)
            }
            switch action {
            case .yield:
                continue
            case .proceed:
                return reply
            case .park:
                Issue.record("the cache protocol never parks a connection")
                return reply
            case .stream:
                return reply
            case .close, .closeNow:
                closed = true
                return reply
            }
        }
        return reply
    }

    /// feed(), as text.
    @discardableResult
    func send(_ text: String) -> String {
        String(decoding: feed(Array(text.utf8)), as: UTF8.self)
    }

    var lastAction: HandlerAction? { actions.last }
}

/// "VALUE <key> <flags> <bytes>\r\n<data>\r\n"
func valueReply(_ key: String, _ data: String, flags: UInt32 = 0) -> String {
    "VALUE \(key) \(flags) \(data.utf8.count)\r\n\(data)\r\n"
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

/// What the engine holds under a key, read directly (get → copy → release).
struct Stored {
    var raw: UnsafeMutableRawPointer
    var expiry: UInt32
    var flags: UInt32
    var value: [UInt8]
}

extension CacheEngine {
    func lookup(_ key: String) -> Stored? {
        Array(key.utf8).withUnsafeBytes { k -> Stored? in
            var outcome = GetOutcome.miss
            guard let it = get(k, hash: CacheEngine.hash(k), outcome: &outcome) else { return nil }
            defer { release(it) }
            var value: [UInt8] = []
            for i in 0..<valueSegmentCount(it) { value += UnsafeRawBufferPointer(valueSegment(it, i)) }
            return Stored(raw: it.raw, expiry: it.expiry, flags: it.clientFlags, value: value)
        }
    }
}
