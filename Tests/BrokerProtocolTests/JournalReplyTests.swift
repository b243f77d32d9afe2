// The broker port's replies when a journal cannot be created or written (issue 11): an error in
// memcached's words, the data block read and dropped, nothing stored, never a silent STORED. With
// --fsync=always a STORED already waiting for the fsync when the disk fails becomes the same
// refusal once the flusher gives up, and its message leaves the queue; a binary set's response
// likewise becomes the binary refusal.
@testable import Broker
import BrokerProtocol
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("broker port journal replies")
struct JournalReplyTests {
    @Test func aJournalThatCannotBeCreatedIsAServerError() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .never }
        let c = BrokerClient(port)
        #expect(mkdir(dir + "/blocked.journal", 0o755) == 0)
        #expect(c.send("set blocked 0 0 5\r\nhello\r\n") == "SERVER_ERROR cannot open the queue's journal\r\n")
        #expect(c.send("set blocked 0 0 5 noreply\r\nhello\r\n") == "")
        #expect(c.send("queue blocked max_items=3\r\n") == "SERVER_ERROR cannot open the queue's journal\r\n")
        #expect(c.send("set fine 0 0 2\r\nok\r\n") == "STORED\r\n")
        #expect(c.send("get fine\r\n") == "VALUE fine 0 2\r\nok\r\nEND\r\n")
        #expect(c.send("stats\r\n").contains("STAT broker_journal_open_errors 3\r\n"))
        c.close()
    }

    @Test func aJournalThatCannotBeWrittenRefusesAndKeepsNothing() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .never }
        let c = BrokerClient(port)
        #expect(c.send("set q 0 0 5\r\nfirst\r\n") == "STORED\r\n")
        let q = try #require(port.broker.queue(named: "q", create: false))
        q.journal!.file.failWritesForTesting()
        #expect(q.journal!.flush(sync: false) == .failed)
        #expect(c.send("set q 0 0 6\r\nsecond\r\n") == "SERVER_ERROR journal not writable; not stored\r\n")
        #expect(c.send("set q 0 0 6 noreply\r\nsecond\r\n") == "")
        #expect(c.send("publish amq.default q 0 0 5\r\nthird\r\n") == "SERVER_ERROR journal not writable; not stored\r\n")
        #expect(c.send("stats\r\n").contains("STAT broker_journal_refused 3\r\n"))
        #expect(c.send("get q\r\n") == "VALUE q 0 5\r\nfirst\r\nEND\r\n")
        #expect(c.send("get q\r\n") == "END\r\n")
        // Writable again: the same set is stored once.
        q.journal!.file.setFreeSpaceForTesting(nil)
        #expect(q.journal!.flush(sync: false) == .wrote)
        #expect(c.send("set q 0 0 6\r\nsecond\r\n") == "STORED\r\n")
        #expect(c.send("get q\r\n") == "VALUE q 0 6\r\nsecond\r\nEND\r\n")
        c.close()
    }

    /// The disk fills while a set's STORED waits for its fsync (--fsync=always): after the
    /// flusher's grace period the reply is the refusal and the message is gone from the queue
    /// (no consumer gets it, a restart does not bring it back), counted in broker_journal_refused;
    /// the producer's retry, once the disk has room, is stored once. Before: the connection was
    /// closed and the message kept, so the retry made a duplicate.
    @Test(.hangGuard) func aSetWaitingForAnFsyncThatFailsIsRefusedAndNotKept() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        try withDurableBroker(dir) { port in
            let c = BrokerClient(port)
            #expect(c.sendHeld("set q 0 0 6\r\nbefore\r\n") == "STORED\r\n")
            let q = try #require(port.broker.queue(named: "q", create: false))
            q.journal!.file.setFreeSpaceForTesting(0)
            // Pipelined: a set, a noreply set (held too, or refused if the flusher failed first:
            // no reply either way), and a version, whose reply waits behind them.
            let reply = c.sendHeld("set q 0 0 9\r\nin flight\r\nset q 0 0 6 noreply\r\nsilent\r\nversion\r\n")
            #expect(reply.hasPrefix("SERVER_ERROR journal not writable; not stored\r\nVERSION "), "\(reply)")
            #expect(c.lastAction == .proceed)
            #expect(c.sendHeld("stats\r\n").contains("STAT broker_journal_refused 2\r\n"))
            #expect(q.lock.withLock { q.readyCount } == 1)
            #expect(c.sendHeld("get q/peek\r\n") == "VALUE q/peek 0 6\r\nbefore\r\nEND\r\n")
            // Still failing: a new set is refused at once.
            #expect(c.sendHeld("set q 0 0 5\r\nlater\r\n") == "SERVER_ERROR journal not writable; not stored\r\n")
            // Room again: the producer's retry is stored, once.
            roomAgain(port, q)
            #expect(c.sendHeld("set q 0 0 9\r\nin flight\r\n") == "STORED\r\n")
            c.close()
        }
        // After a restart: what was acknowledged, each once, and nothing of what was refused.
        try expectQueueAfterRestart(dir, ["before", "in flight"])
    }

    /// The same with the binary protocol: the held set's response and a held setq's (which had
    /// none to give) become the response of a binary set refused up front ("Temporary failure",
    /// the broker's text as body), each with its request's opcode and opaque; the pipelined noop
    /// is answered after them, the connection stays open, and the retry is stored once.
    @Test(.hangGuard) func aBinarySetWaitingForAnFsyncThatFailsIsRefusedAndNotKept() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        let refused = Array("journal not writable; not stored".utf8)
        try withDurableBroker(dir) { port in
            let c = BrokerClient(port)
            #expect(c.sendHeld(bytes: binaryRequest(0x01, key: "q", value: "before", opaque: 1))
                    == binaryResponse(0x01, status: 0, opaque: 1))
            // A setq that is stored says nothing (and leaves no empty output behind: sendHeld).
            #expect(c.sendHeld(bytes: binaryRequest(0x11, key: "q", value: "quiet", opaque: 2)) == [])
            let q = try #require(port.broker.queue(named: "q", create: false))
            q.journal!.file.setFreeSpaceForTesting(0)
            // Pipelined: a set, a setq (held too, or refused at once if the flusher failed first:
            // the same response either way), and a noop, whose response waits behind them.
            let reply = c.sendHeld(bytes: binaryRequest(0x01, key: "q", value: "in flight", opaque: 0x0a0b_0c0d)
                                   + binaryRequest(0x11, key: "q", value: "silent", opaque: 0x1122_3344)
                                   + binaryRequest(0x0a, opaque: 7))
            #expect(reply == binaryResponse(0x01, status: 0x86, opaque: 0x0a0b_0c0d, body: refused)
                    + binaryResponse(0x11, status: 0x86, opaque: 0x1122_3344, body: refused)
                    + binaryResponse(0x0a, status: 0, opaque: 7))
            #expect(c.lastAction == .proceed)
            let stats = binaryStats(c.sendHeld(bytes: binaryRequest(0x10, opaque: 8)))
            #expect(stats["broker_journal_refused"] == "2")
            #expect(q.lock.withLock { q.readyCount } == 2)
            // Room again: the producer's retry is stored, once.
            roomAgain(port, q)
            #expect(c.sendHeld(bytes: binaryRequest(0x01, key: "q", value: "in flight", opaque: 9))
                    == binaryResponse(0x01, status: 0, opaque: 9))
            #expect(q.lock.withLock { q.readyCount } == 3)
            c.close()
        }
        // After a restart: what was acknowledged, each once, and nothing of what was refused.
        try expectQueueAfterRestart(dir, ["before", "quiet", "in flight"])
    }

    /// The same, but a reader parked on the queue was handed the message before its fsync: it
    /// cannot be withdrawn, so the producer must not be told either way. Both connections are
    /// closed without their replies (as before), nothing is counted as refused, and the message
    /// is in no queue, now or after a restart (its add and its removal reach the journal together).
    @Test(.hangGuard) func aSetWhoseMessageAReaderAlreadyHasClosesTheConnectionAsBefore() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        try withDurableBroker(dir) { port in
            let producer = BrokerClient(port)
            #expect(producer.sendHeld("set q 0 0 6\r\nbefore\r\n") == "STORED\r\n")
            let reader = BrokerClient(port)
            #expect(reader.sendHeld("get q\r\n") == "VALUE q 0 6\r\nbefore\r\nEND\r\n")
            #expect(reader.send("get q/t=10000\r\n") == "")
            guard case .park = reader.lastAction else {
                Issue.record("the read did not park: \(reader.lastAction)")
                return
            }
            let q = try #require(port.broker.queue(named: "q", create: false))
            q.journal!.file.setFreeSpaceForTesting(0)
            let woken = reader.wakeCount
            #expect(producer.sendHeld("set q 0 0 9\r\nin flight\r\n") == "<closed>")
            #expect(reader.wakeCount > woken)
            // Its reply waits for the same disk: the connection is closed and the reply dropped.
            #expect(reader.handler.resume(output: reader.output, timedOut: false) == .closeNow)
            reader.close()
            producer.close()
            #expect(q.lock.withLock { q.readyCount } == 0)
            #expect(port.broker.journalRefusedCount.load(ordering: .relaxed) == 0)
            roomAgain(port, q)
        }
        try expectQueueAfterRestart(dir, [])
    }
}

/// The disk has room again: the flusher's next cycle succeeds.
private func roomAgain(_ port: BrokerPort, _ q: BrokerQueue) {
    q.journal!.file.setFreeSpaceForTesting(nil)
    for _ in 0..<500 where port.broker.flusher!.isFailing { usleep(10_000) }
    #expect(!port.broker.flusher!.isFailing)
}

/// A broker restarted on `dir` (`--fsync=always`) holds exactly `values` in queue q, in order.
private func expectQueueAfterRestart(_ dir: String, _ values: [String]) throws {
    try withDurableBroker(dir) { port in
        let c = BrokerClient(port)
        for v in values {
            #expect(c.sendHeld("get q\r\n") == "VALUE q 0 \(v.utf8.count)\r\n\(v)\r\nEND\r\n")
        }
        #expect(c.sendHeld("get q\r\n") == "END\r\n")
        c.close()
    }
}

/// A started broker port on `dir` with `--fsync=always`, stopped once `body` returns.
private func withDurableBroker(_ dir: String, _ body: (BrokerPort) throws -> Void) throws {
    let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .always }
    port.broker.start()
    defer { port.broker.stop() }
    try body(port)
}

/// A binary request (a set's or setq's extras: flags and exptime 0), the opaque as sent.
private func binaryRequest(_ opcode: UInt8, key: String = "", value: String = "", opaque: UInt32) -> [UInt8] {
    let extras = opcode == 0x01 || opcode == 0x11 ? [UInt8](repeating: 0, count: 8) : []
    let k = Array(key.utf8)
    let body = extras + k + Array(value.utf8)
    return [0x80, opcode] + bigEndian(UInt64(k.count), 2) + [UInt8(extras.count), 0, 0, 0]
        + bigEndian(UInt64(body.count), 4) + bigEndian(UInt64(opaque), 4) + [UInt8](repeating: 0, count: 8) + body
}

/// A response with no extras, key or CAS: the whole frame, byte for byte.
private func binaryResponse(_ opcode: UInt8, status: UInt16, opaque: UInt32, body: [UInt8] = []) -> [UInt8] {
    [0x81, opcode, 0, 0, 0, 0] + bigEndian(UInt64(status), 2) + bigEndian(UInt64(body.count), 4)
        + bigEndian(UInt64(opaque), 4) + [UInt8](repeating: 0, count: 8) + body
}

private func bigEndian(_ v: UInt64, _ n: Int) -> [UInt8] {
    (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64(n - 1 - $0))) }
}

/// The name-value pairs of a binary `stat`'s responses.
private func binaryStats(_ bytes: [UInt8]) -> [String: String] {
    var out: [String: String] = [:]
    var i = 0
    while bytes.count - i >= 24 {
        let keyLength = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        let bodyLength = bytes[(i + 8)..<(i + 12)].reduce(0) { $0 << 8 | Int($1) }
        guard bytes.count - i - 24 >= bodyLength else { break }
        let b = i + 24 + Int(bytes[i + 4])
        out[String(decoding: bytes[b..<(b + keyLength)], as: UTF8.self)] =
            String(decoding: bytes[(b + keyLength)..<(i + 24 + bodyLength)], as: UTF8.self)
        i += 24 + bodyLength
    }
    return out
}

extension BrokerClient {
    /// Sends `text` as the server would process it with --fsync=always: replies held while the
    /// connection is parked go out only when the handler, woken, resumes (at most 10 s each).
    /// "<closed>" ends the replies when the handler closes the connection.
    func sendHeld(_ text: String) -> String {
        String(decoding: sendHeld(bytes: Array(text.utf8)), as: UTF8.self)
    }

    /// `sendHeld` with bytes (the binary protocol).
    func sendHeld(bytes: [UInt8]) -> [UInt8] {
        input += bytes
        var reply: [UInt8] = []
        while true {
            var woken = wakeCount
            let (consumed, action) = input.withUnsafeBytes { handler.process($0, output: output) }
            input.removeFirst(consumed)
            lastAction = action
            while case .park = lastAction {
                let deadline = ContinuousClock.now + .seconds(10)
                while wakeCount == woken && ContinuousClock.now < deadline { usleep(1_000) }
                guard wakeCount != woken else { return reply + Array("<still parked>".utf8) }
                woken = wakeCount
                lastAction = handler.resume(output: output, timedOut: false)
            }
            if case .closeNow = lastAction {
                output.reset()
                return reply + Array("<closed>".utf8)
            }
            // A writer takes an output that is not empty for one with bytes to write.
            #expect(output.isEmpty || output.pendingBytes > 0)
            reply += drainBytes(output)
            if case .yield = lastAction, !input.isEmpty { continue }
            return reply
        }
    }
}
