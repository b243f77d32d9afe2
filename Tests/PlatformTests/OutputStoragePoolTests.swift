// OutputBuffer with a pool: no storage until the first reply, given back once all is written,
// reused by the next connection, and a grown one freed rather than kept.
import Platform
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("output storage pool")
struct OutputStoragePoolTests {
    /// Writes everything pending, as `Connection.flush` does, and returns it.
    func write(_ out: OutputBuffer) -> String {
        let text = drainText(out)
        out.compact()
        return text
    }

    @Test("storage is held only while there is output, and reused")
    func heldWhileOutput() {
        let pool = OutputStoragePool(keep: 2)
        let a = OutputBuffer(pool: pool)
        let b = OutputBuffer(pool: pool)
        #expect(!a.hasStorage && !b.hasStorage)
        a.append("VALUE k 0 1\r\n" as StaticString)
        #expect(a.hasStorage)
        #expect(write(a) == "VALUE k 0 1\r\n")
        #expect(!a.hasStorage && pool.count == 1)
        b.append(decimal: 42)
        #expect(b.hasStorage && pool.count == 0)
        #expect(write(b) == "42")
        #expect(pool.count == 1)
    }

    @Test("a partial write keeps the storage; a reset gives it back")
    func partialWrite() {
        let pool = OutputStoragePool()
        let out = OutputBuffer(pool: pool)
        out.append("hello world" as StaticString)
        out.consume(5)
        out.compact()
        #expect(out.hasStorage && pool.count == 0)
        #expect(write(out) == " world")
        #expect(!out.hasStorage && pool.count == 1)
        out.append("x" as StaticString)
        out.reset()
        #expect(!out.hasStorage && pool.count == 1)
    }

    @Test("replies withdrawn to nothing give the storage back on compact")
    func rollbackToNothing() {
        let pool = OutputStoragePool()
        let out = OutputBuffer(pool: pool)
        let mark = out.mark()
        out.append("VALUE k 0 1\r\n" as StaticString)
        out.rollback(to: mark)
        #expect(out.isEmpty && out.hasStorage)
        out.compact()
        #expect(!out.hasStorage && pool.count == 1)
    }

    @Test("storage grown past the kept size is freed, and at most `keep` sets are kept")
    func boundedPool() {
        let pool = OutputStoragePool(keep: 1, maxKeptBytes: 8 * 1024)
        let big = OutputBuffer(pool: pool)
        for _ in 0..<1000 { big.append("0123456789" as StaticString) }
        #expect(write(big).utf8.count == 10_000)
        #expect(pool.count == 0)
        let a = OutputBuffer(pool: pool)
        let b = OutputBuffer(pool: pool)
        a.append(byte: 0x61)
        b.append(byte: 0x62)
        #expect(write(a) == "a" && write(b) == "b")
        #expect(pool.count == 1)
    }
}
