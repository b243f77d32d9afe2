// memcached's UDP transport (-U): every worker watches the shared UDP sockets; a datagram is one
// request batch behind an 8-byte frame header (request id, sequence number, datagram count,
// reserved). The reply goes back in datagrams of at most 1400 bytes of payload, each with the
// request id, its sequence number and the total count. A request must fit one datagram; the
// replies to the commands of one datagram go back as one sequence (memcached sends one sequence
// per command).
import CLibevent
import Platform
#if canImport(Glibc)
import Glibc
#endif

final class UDPEndpoint {
    // Owned by one worker; touched only on its thread.
    static let headerSize = 8
    static let maxPayload = 1400
    static let maxDatagram = 65536
    let fd: Int32
    unowned(unsafe) let worker: Worker
    var event: OpaquePointer?
    private let receiveBuffer: UnsafeMutableRawPointer
    /// The whole reply of one datagram, before it is cut into datagrams.
    private var reply: [UInt8] = []
    private let datagram: UnsafeMutableRawPointer
    private let output = OutputBuffer()

    init(fd: Int32, worker: Worker) {
        self.fd = fd
        self.worker = worker
        receiveBuffer = .allocate(byteCount: Self.maxDatagram, alignment: 8)
        reply.reserveCapacity(64 * 1024)
        datagram = .allocate(byteCount: Self.headerSize + Self.maxPayload, alignment: 8)
    }

    deinit {
        receiveBuffer.deallocate()
        datagram.deallocate()
    }

    /// The socket is readable: answer every datagram waiting (other workers race for them).
    func drain() {
        while true {
            var peer = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, receiveBuffer, Self.maxDatagram, 0, $0, &peerLength)
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            worker.stats.add(ServerCounter.bytesRead.rawValue, UInt64(n))
            guard n >= Self.headerSize else { continue }
            let requestID = receiveBuffer.loadUnaligned(as: UInt16.self)  // echoed as sent
            let total = UInt16(bigEndian: receiveBuffer.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
            var length = 0
            if total != 1 {
                let msg: StaticString = "SERVER_ERROR multi-packet request not supported\r\n"
                reply.removeAll(keepingCapacity: true)
                reply.append(contentsOf: UnsafeBufferPointer(start: msg.utf8Start, count: msg.utf8CodeUnitCount))
                length = reply.count
            } else {
                length = handle(UnsafeRawBufferPointer(start: receiveBuffer + Self.headerSize, count: n - Self.headerSize))
            }
            send(length, requestID: requestID, to: &peer, peerLength)
            // One large reply should not pin its memory for the life of the worker.
            if reply.capacity > 1 << 20 {
                reply = []
                reply.reserveCapacity(64 * 1024)
            }
        }
    }

    /// Runs the payload through a fresh handler (UDP keeps no state between datagrams) and
    /// gathers its reply into `reply`; returns its length.
    private func handle(_ payload: UnsafeRawBufferPointer) -> Int {
        let handler = worker.factories[0].makeHandler(workerIndex: worker.index, fd: fd, output: output,
                                                      waker: ConnectionWaker {})
        defer { handler.connectionClosed() }
        var offset = 0
        while offset < payload.count {
            let (consumed, action) = handler.process(UnsafeRawBufferPointer(rebasing: payload[offset...]), output: output)
            offset += consumed
            if case .yield = action { continue }
            break
        }
        reply.removeAll(keepingCapacity: true)
        // The frame header counts datagrams in 16 bits: a longer reply cannot be sent, and is
        // not copied either (memcached answers the same way).
        if output.pendingBytes > Int(UInt16.max) * Self.maxPayload {
            output.reset()
            let msg: StaticString = "SERVER_ERROR out of memory writing get response\r\n"
            reply.append(contentsOf: UnsafeBufferPointer(start: msg.utf8Start, count: msg.utf8CodeUnitCount))
            return reply.count
        }
        output.drain { reply.append(contentsOf: $0) }
        output.reset()
        return reply.count
    }

    private func send(_ length: Int, requestID: UInt16, to peer: inout sockaddr_storage, _ peerLength: socklen_t) {
        // Nothing to say (noreply, or a request cut short): no datagram.
        if length == 0 { return }
        let count = max(1, (length + Self.maxPayload - 1) / Self.maxPayload)
        guard count <= Int(UInt16.max) else { return }
        for seq in 0..<count {
            let start = seq * Self.maxPayload
            let piece = min(Self.maxPayload, length - start)
            datagram.storeBytes(of: requestID, toByteOffset: 0, as: UInt16.self)
            datagram.storeBytes(of: UInt16(seq).bigEndian, toByteOffset: 2, as: UInt16.self)
            datagram.storeBytes(of: UInt16(count).bigEndian, toByteOffset: 4, as: UInt16.self)
            datagram.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
            if piece > 0 { reply.withUnsafeBytes { memcpy(datagram + Self.headerSize, $0.baseAddress! + start, piece) } }
            let sent = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, datagram, Self.headerSize + piece, 0, $0, peerLength)
                }
            }
            if sent > 0 { worker.stats.add(ServerCounter.bytesWritten.rawValue, UInt64(sent)) }
        }
    }
}
