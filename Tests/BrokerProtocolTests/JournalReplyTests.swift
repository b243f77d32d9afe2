// The broker port's replies when a journal cannot be created or written (issue 11): an error in
// memcached's words, the data block read and dropped, nothing stored, never a silent STORED. With
// --fsync=always a STORED already waiting for the fsync when the disk fails becomes the same
// refusal once the flusher gives up, and its message leaves the queue.
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
        do {
            let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .always }
            port.broker.start()
            defer { port.broker.stop() }
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
            q.journal!.file.setFreeSpaceForTesting(nil)
            for _ in 0..<500 where port.broker.flusher!.isFailing { usleep(10_000) }
            #expect(!port.broker.flusher!.isFailing)
            #expect(c.sendHeld("set q 0 0 9\r\nin flight\r\n") == "STORED\r\n")
            c.close()
        }
        // After a restart: what was acknowledged, each once, and nothing of what was refused.
        let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .always }
        port.broker.start()
        defer { port.broker.stop() }
        let c = BrokerClient(port)
        #expect(c.sendHeld("get q\r\n") == "VALUE q 0 6\r\nbefore\r\nEND\r\n")
        #expect(c.sendHeld("get q\r\n") == "VALUE q 0 9\r\nin flight\r\nEND\r\n")
        #expect(c.sendHeld("get q\r\n") == "END\r\n")
        c.close()
    }

    /// The same, but a reader parked on the queue was handed the message before its fsync: it
    /// cannot be withdrawn, so the producer must not be told either way. Both connections are
    /// closed without their replies (as before), nothing is counted as refused, and the message
    /// is in no queue, now or after a restart (its add and its removal reach the journal together).
    @Test(.hangGuard) func aSetWhoseMessageAReaderAlreadyHasClosesTheConnectionAsBefore() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let dir = scratch.path
        do {
            let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .always }
            port.broker.start()
            defer { port.broker.stop() }
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
            q.journal!.file.setFreeSpaceForTesting(nil)
            for _ in 0..<500 where port.broker.flusher!.isFailing { usleep(10_000) }
            #expect(!port.broker.flusher!.isFailing)
        }
        let port = try BrokerPort { $0.dataDirectory = dir; $0.fsync = .always }
        port.broker.start()
        defer { port.broker.stop() }
        let c = BrokerClient(port)
        #expect(c.sendHeld("get q\r\n") == "END\r\n")
        c.close()
    }
}

extension BrokerClient {
    /// Sends `text` as the server would process it with --fsync=always: replies held while the
    /// connection is parked go out only when the handler, woken, resumes (at most 10 s each).
    /// "<closed>" ends the replies when the handler closes the connection.
    func sendHeld(_ text: String) -> String {
        input += Array(text.utf8)
        var reply = ""
        while true {
            var woken = wakeCount
            let (consumed, action) = input.withUnsafeBytes { handler.process($0, output: output) }
            input.removeFirst(consumed)
            lastAction = action
            while case .park = lastAction {
                let deadline = ContinuousClock.now + .seconds(10)
                while wakeCount == woken && ContinuousClock.now < deadline { usleep(1_000) }
                guard wakeCount != woken else { return reply + "<still parked>" }
                woken = wakeCount
                lastAction = handler.resume(output: output, timedOut: false)
            }
            if case .closeNow = lastAction {
                output.reset()
                return reply + "<closed>"
            }
            reply += drainText(output)
            if case .yield = lastAction, !input.isEmpty { continue }
            return reply
        }
    }
}
