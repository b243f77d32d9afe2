// With the Redis port on, the memcached port's requests take the same command gate as Redis
// commands, so a memcached client's write never lands between an EXEC's commands.
import CacheEngine
import MemcacheProtocol
import Platform
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("memcached requests and the Redis port's EXEC gate")
struct ExecGateTests {
    final class Phase: Sendable {
        let value = Atomic<Int>(0)
    }

    /// A memcached service on the Redis port's gate, its engine, and an EXEC on worker 1 that
    /// holds the gate 150 ms checking that `key` stays absent meanwhile (phase 2 at its end; -1
    /// if the key appeared), started and holding the gate when this returns.
    private func serviceWithExecHolding(key: String) throws -> (MemcacheService, CommandGate, Phase, BackgroundThread) {
        var settings = EngineSettings()
        settings.hashPowerInit = 12
        settings.memoryLimit = 16 * 1024 * 1024
        let engine = try #require(CacheEngine(settings: settings, clock: ProcessClock(unixNow: testUnixNow)))
        let gate = CommandGate(workers: 2)
        let service = MemcacheService(engine: engine, settings: ProtocolSettings(), workers: 2, gate: gate)
        let phase = Phase()
        let exec = BackgroundThread(name: "exec") {
            gate.exclusively(1) {
                phase.value.store(1, ordering: .sequentiallyConsistent)
                usleep(150_000)
                let seen = Array(key.utf8).withUnsafeBytes { engine.inspect($0, hash: CacheEngine.hash($0)) }
                phase.value.store(seen == nil ? 2 : -1, ordering: .sequentiallyConsistent)
            }
        }
        while phase.value.load(ordering: .sequentiallyConsistent) == 0 { usleep(1000) }
        return (service, gate, phase, exec)
    }

    @Test("a set from the memcached port waits until the EXEC holding the gate ends", .hangGuard)
    func setWaitsForExec() throws {
        let (service, gate, phase, exec) = try serviceWithExecHolding(key: "k")
        let output = OutputBuffer()
        let handler = service.makeHandler(workerIndex: 0, fd: 99, output: output, waker: ConnectionWaker {})
        defer { handler.connectionClosed(); output.reset() }
        let request = Array("set k 0 0 1\r\nx\r\n".utf8)
        let (consumed, _) = request.withUnsafeBytes { handler.process($0, output: output) }
        // process returned: the EXEC had ended, and had not seen the set.
        #expect(phase.value.load(ordering: .sequentiallyConsistent) == 2)
        #expect(consumed == request.count)
        var reply: [UInt8] = []
        output.drain { reply.append(contentsOf: $0) }
        #expect(String(decoding: reply, as: UTF8.self) == "STORED\r\n")
        exec.join()
        #expect(!gate.isHeld)
    }

    @Test("a set in a UDP datagram waits until the EXEC holding the gate ends", .hangGuard)
    func udpSetWaitsForExec() throws {
        let (service, gate, phase, exec) = try serviceWithExecHolding(key: "u")
        // A datagram is answered through a handler made for it, which runs inside the gate as a
        // TCP connection's read does (UDPHandler.run).
        let udp = service.makeDatagramHandler(workerIndex: 0, fd: 99)
        // memcached's UDP frame: request id 7, sequence 0, one datagram, reserved 0.
        let datagram: [UInt8] = [0, 7, 0, 0, 0, 1, 0, 0] + Array("set u 0 0 1\r\nx\r\n".utf8)
        var replies: [[UInt8]] = []
        datagram.withUnsafeBytes { d in udp.receive(d) { replies.append(Array($0)) } }
        // receive returned: the EXEC had ended, and had not seen the set.
        #expect(phase.value.load(ordering: .sequentiallyConsistent) == 2)
        #expect(replies.count == 1)
        #expect(replies.first.map { Array($0.dropFirst(8)) } == Array("STORED\r\n".utf8))
        exec.join()
        #expect(!gate.isHeld)
    }
}
