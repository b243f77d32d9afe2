// The broker port's replies when a journal cannot be created or written (issue 11): an error in
// memcached's words, the data block read and dropped, nothing stored, never a silent STORED.
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
}
