// memcached's UDP frame (-U): every datagram starts with an 8-byte header — request id, sequence
// number, datagram count, reserved (16 bits each, network order). A request must fit one datagram
// (a multi-datagram request is refused); a reply is cut into datagrams of at most 1400 bytes of
// payload, each carrying the request's id, its own sequence number and the total count. The count
// is 16 bits, so a reply longer than 65535 datagrams cannot be framed at all. Pure functions over
// bytes: no sockets (the server's datagram transport sends what `frames` produces).

/// memcached's UDP framing: header layout, request classification and reply slicing.
public enum UDPFrame {
    /// Bytes of the frame header ahead of every datagram's payload.
    public static let headerSize = 8
    /// The most payload bytes one reply datagram carries (memcached's UDP_MAX_PAYLOAD_SIZE).
    public static let maxPayload = 1400
    /// The largest reply datagram: header plus payload.
    public static let maxDatagram = headerSize + maxPayload
    /// The longest reply whose datagram count fits the header's 16 bits.
    public static let maxReplyLength = Int(UInt16.max) * maxPayload

    /// What memcached answers a request spread over several datagrams.
    static let multiPacketRefusal: StaticString = "SERVER_ERROR multi-packet request not supported\r\n"

    /// The 8-byte frame header (the reserved field is always written as zero).
    public struct Header: Equatable, Sendable {
        /// Chosen by the client; echoed in every datagram of the reply.
        public var requestID: UInt16
        /// This datagram's position in its message, from 0.
        public var sequence: UInt16
        /// The number of datagrams in the message.
        public var count: UInt16

        /// A header with the given fields.
        public init(requestID: UInt16, sequence: UInt16, count: UInt16) {
            self.requestID = requestID
            self.sequence = sequence
            self.count = count
        }

        /// The header at the start of `datagram`; nil when the datagram is shorter than one.
        public init?(_ datagram: UnsafeRawBufferPointer) {
            guard datagram.count >= UDPFrame.headerSize else { return nil }
            requestID = UInt16(bigEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
            sequence = UInt16(bigEndian: datagram.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            count = UInt16(bigEndian: datagram.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        }

        /// Writes the header's 8 bytes at `buffer`.
        public func write(to buffer: UnsafeMutableRawPointer) {
            buffer.storeBytes(of: requestID.bigEndian, toByteOffset: 0, as: UInt16.self)
            buffer.storeBytes(of: sequence.bigEndian, toByteOffset: 2, as: UInt16.self)
            buffer.storeBytes(of: count.bigEndian, toByteOffset: 4, as: UInt16.self)
            buffer.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        }
    }

    /// What a request datagram holds.
    public enum Request {
        /// Shorter than a header: dropped without an answer.
        case malformed
        /// One datagram of several: refused with `multiPacketRefusal` (memcached supports none).
        case multiPacket(requestID: UInt16)
        /// A whole request: the commands after the header.
        case complete(requestID: UInt16, payload: UnsafeRawBufferPointer)
    }

    /// Classifies a received datagram.
    public static func request(_ datagram: UnsafeRawBufferPointer) -> Request {
        guard let header = Header(datagram) else { return .malformed }
        if header.count != 1 { return .multiPacket(requestID: header.requestID) }
        return .complete(requestID: header.requestID,
                         payload: UnsafeRawBufferPointer(rebasing: datagram[headerSize...]))
    }

    /// Datagrams needed for a reply of `length` bytes (0: no reply at all).
    public static func datagramCount(replyLength length: Int) -> Int {
        (length + maxPayload - 1) / maxPayload
    }

    /// Cuts `reply` into framed datagrams for `requestID`, building each in `scratch` (at least
    /// `maxDatagram` bytes) and handing it to `send`. An empty reply (noreply, a request cut
    /// short) sends nothing; so does one too long to count (callers refuse those first).
    public static func frames(of reply: UnsafeRawBufferPointer, requestID: UInt16, scratch: UnsafeMutableRawPointer,
                              _ send: (UnsafeRawBufferPointer) -> Void) {
        let count = datagramCount(replyLength: reply.count)
        guard count > 0, count <= Int(UInt16.max) else { return }
        for sequence in 0..<count {
            let start = sequence * maxPayload
            let piece = min(maxPayload, reply.count - start)
            Header(requestID: requestID, sequence: UInt16(sequence), count: UInt16(count)).write(to: scratch)
            (scratch + headerSize).copyMemory(from: reply.baseAddress! + start, byteCount: piece)
            send(UnsafeRawBufferPointer(start: scratch, count: headerSize + piece))
        }
    }
}
