// A datagram socket as one worker serves it: every worker watches each datagram listener's shared
// socket and races the others for what arrives. A datagram is read whole, given to the worker's
// handler for the listener, and each datagram the handler answers with goes back to the sender.
// The framing (headers, sizes, refusals) is the handler's.
import CLibevent
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A datagram listener's socket, shared by every worker's transport.
final class DatagramSocket: Sendable {
    let fd: Int32
    /// The listener's index in the server's `configurations`.
    let listener: Int
    /// Server seconds of the last datagram read (any worker), for connection listings.
    let lastRequest: Atomic<UInt32>

    init(fd: Int32, listener: Int, boundAt: UInt32) {
        self.fd = fd
        self.listener = listener
        lastRequest = Atomic(boundAt)
    }
}

final class DatagramTransport {
    // Owned by one worker; touched only on its thread.
    /// The largest datagram read (the most UDP carries).
    static let maxDatagram = 65536
    let socket: DatagramSocket
    var fd: Int32 { socket.fd }
    unowned(unsafe) let worker: Worker
    let handler: DatagramHandler
    var event: OpaquePointer?
    private let receiveBuffer: UnsafeMutableRawPointer

    init(socket: DatagramSocket, worker: Worker, handler: DatagramHandler) {
        self.socket = socket
        self.worker = worker
        self.handler = handler
        receiveBuffer = .allocate(byteCount: Self.maxDatagram, alignment: 8)
    }

    deinit {
        receiveBuffer.deallocate()
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
            socket.lastRequest.store(worker.server.clock.current, ordering: .relaxed)
            handler.receive(UnsafeRawBufferPointer(start: receiveBuffer, count: n)) { datagram in
                let sent = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, datagram.baseAddress, datagram.count, 0, $0, peerLength)
                    }
                }
                if sent > 0 { worker.stats.add(ServerCounter.bytesWritten.rawValue, UInt64(sent)) }
            }
        }
    }
}
