// The cache port over UDP (-U): each worker answers datagrams with a fresh text-protocol handler
// per datagram (UDP keeps no state between datagrams), gathers the whole reply, and frames it with
// memcached's UDP header (UDPFrame). The replies to the commands of one datagram go back as one
// sequence (memcached sends one sequence per command).
import Platform

extension MemcacheService: DatagramHandlerFactory {
    /// The cache port's UDP handler for one worker and socket.
    public func makeDatagramHandler(workerIndex: Int, fd: Int32) -> DatagramHandler {
        UDPHandler(service: self, workerIndex: workerIndex, fd: fd)
    }
}

final class UDPHandler: DatagramHandler {
    // Owned by one worker; touched only on its thread.
    let service: MemcacheService
    let workerIndex: Int
    let fd: Int32
    private let output = OutputBuffer()
    /// The whole reply to one datagram, before it is cut into datagrams.
    private var reply: [UInt8] = []
    /// One framed reply datagram at a time.
    private let scratch: UnsafeMutableRawPointer

    init(service: MemcacheService, workerIndex: Int, fd: Int32) {
        self.service = service
        self.workerIndex = workerIndex
        self.fd = fd
        reply.reserveCapacity(64 * 1024)
        scratch = .allocate(byteCount: UDPFrame.maxDatagram, alignment: 8)
    }

    deinit {
        scratch.deallocate()
    }

    func receive(_ datagram: UnsafeRawBufferPointer, send: (UnsafeRawBufferPointer) -> Void) {
        let requestID: UInt16
        switch UDPFrame.request(datagram) {
        case .malformed:
            return
        case .multiPacket(let id):
            requestID = id
            reply.removeAll(keepingCapacity: true)
            append(UDPFrame.multiPacketRefusal)
        case .complete(let id, let payload):
            requestID = id
            run(payload)
        }
        reply.withUnsafeBytes { UDPFrame.frames(of: $0, requestID: requestID, scratch: scratch, send) }
        // One large reply should not pin its memory for the life of the worker.
        if reply.capacity > 1 << 20 {
            reply = []
            reply.reserveCapacity(64 * 1024)
        }
    }

    /// Runs the payload through a fresh handler and gathers its reply into `reply`.
    private func run(_ payload: UnsafeRawBufferPointer) {
        let handler = service.makeHandler(workerIndex: workerIndex, fd: fd, output: output, waker: ConnectionWaker {})
        defer { handler.connectionClosed() }
        var offset = 0
        while offset < payload.count {
            let (consumed, action) = handler.process(UnsafeRawBufferPointer(rebasing: payload[offset...]), output: output)
            offset += consumed
            if case .yield = action { continue }
            // A multi-get streamed piece by piece (Retrieval+Stream.swift): every piece goes into
            // this one reply, up to the longest a reply can be.
            var streaming = action == .stream
            while streaming && output.pendingBytes <= UDPFrame.maxReplyLength {
                streaming = handler.continueStream(output: output) == .stream
            }
            break
        }
        reply.removeAll(keepingCapacity: true)
        // The frame header counts datagrams in 16 bits: a longer reply cannot be sent, and is
        // not copied either (memcached answers the same way).
        if output.pendingBytes > UDPFrame.maxReplyLength {
            output.reset()
            append(Reply.getOverflow)
            return
        }
        output.drain { reply.append(contentsOf: $0) }
        output.reset()
    }

    private func append(_ s: StaticString) {
        reply.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
