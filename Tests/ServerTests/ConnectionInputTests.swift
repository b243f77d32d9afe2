// ConnectionInput: what a connection keeps of its input between events. Reads go into the
// worker's shared buffer; only a request cut short (or requests left for later) is copied into a
// buffer of the connection's own, sized to it, and that buffer is freed once consumed, so an idle
// connection holds nothing.
@testable import Server
import Testing

@Suite("connection input")
struct ConnectionInputTests {
    /// The worker's shared read buffer, as in `Worker`.
    final class Shared {
        let capacity: Int
        let base: UnsafeMutableRawPointer
        init(capacity: Int = 64) {
            self.capacity = capacity
            base = .allocate(byteCount: capacity, alignment: 8)
        }
        deinit { base.deallocate() }
    }

    /// Reads `text` the way `Connection.readAvailable` does (as much as the space takes).
    @discardableResult
    func read(_ text: String, into input: inout ConnectionInput, _ shared: Shared) -> Int {
        let bytes = Array(text.utf8)
        let space = input.readSpace(shared: shared.base, sharedCapacity: shared.capacity)
        let n = min(space.count, bytes.count)
        space.copyBytes(from: bytes[0..<n])
        input.received(n)
        return n
    }

    func string(_ input: ConnectionInput) -> String {
        String(decoding: input.bytes, as: UTF8.self)
    }

    @Test("a read consumed whole leaves no buffer behind")
    func consumedWhole() {
        let shared = Shared()
        var input = ConnectionInput()
        read("get a\r\n", into: &input, shared)
        #expect(input.bytes.baseAddress == UnsafeRawPointer(shared.base))
        input.consume(7)
        input.settle()
        #expect(input.isEmpty && input.ownBytes == 0)
    }

    @Test("a request cut short is kept in a small own buffer, then read on through the shared one")
    func partialRequest() {
        let shared = Shared()
        var input = ConnectionInput()
        read("get a\r\nget b", into: &input, shared)
        input.consume(7)
        input.settle()
        #expect(string(input) == "get b")
        #expect(input.ownBytes == ConnectionInput.minimumOwnCapacity)
        #expect(input.bytes.baseAddress != UnsafeRawPointer(shared.base))
        // Another connection uses the shared buffer meanwhile.
        shared.base.initializeMemory(as: UInt8.self, repeating: 0x21, count: shared.capacity)
        #expect(string(input) == "get b")
        // The next read goes into the shared buffer after the kept bytes.
        read("\r\n", into: &input, shared)
        #expect(input.bytes.baseAddress == UnsafeRawPointer(shared.base))
        #expect(string(input) == "get b\r\n")
        input.consume(7)
        input.settle()
        #expect(input.isEmpty && input.ownBytes == 0)
    }

    @Test("input held past half the shared buffer is read into the own buffer, grown as needed")
    func longLine() {
        let shared = Shared(capacity: 64)
        var input = ConnectionInput()
        // The shared buffer fills with a line that has no end yet: it moves to an own buffer.
        let first = String(repeating: "k", count: 64)
        #expect(read(first, into: &input, shared) == 64)
        #expect(read("x", into: &input, shared) == 1)
        #expect(input.count == 65)
        #expect(input.bytes.baseAddress != UnsafeRawPointer(shared.base))
        input.settle()
        // A read takes what fits; the rest comes with the next (the buffer grows when full).
        var left = 1000
        while left > 0 { left -= read(String(repeating: "m", count: min(left, 50)), into: &input, shared) }
        #expect(input.count == 65 + 1000)
        #expect(input.ownBytes >= 1065)
        #expect(string(input) == first + "x" + String(repeating: "m", count: 1000))
        input.consume(input.count)
        input.settle()
        #expect(input.ownBytes == 0)
    }

    @Test("requests left for later (a yield) keep their bytes in order")
    func leftForLater() {
        let shared = Shared()
        var input = ConnectionInput()
        read("a\r\nb\r\nc\r\n", into: &input, shared)
        input.consume(3)
        input.settle()
        #expect(string(input) == "b\r\nc\r\n")
        input.consume(3)
        input.settle()
        #expect(string(input) == "c\r\n")
        read("d\r\n", into: &input, shared)
        #expect(string(input) == "c\r\nd\r\n")
        input.release()
        #expect(input.isEmpty && input.ownBytes == 0)
    }
}
