// The binary protocol's response frames: a 24-byte header (magic 0x81, the request's opcode and
// opaque) and memcached's error texts as error bodies. Shared by the cache port and the broker
// port, which answer the same frames.
import Platform

extension OutputBuffer {
    /// A response header to `h`; the caller appends extras, key and value making up `bodyLength`.
    public func appendBinaryResponse(_ h: BinaryHeader, _ status: UInt16, keyLength: Int = 0, extrasLength: Int = 0,
                                     bodyLength: Int = 0, cas: UInt64 = 0, opcode: UInt8? = nil) {
        var hdr = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &hdr) { b in
            b[0] = 0x81
            b[1] = opcode ?? h.opcode
            b.storeBytes(of: UInt16(keyLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            b[4] = UInt8(extrasLength)
            b[5] = 0
            b.storeBytes(of: status.bigEndian, toByteOffset: 6, as: UInt16.self)
            b.storeBytes(of: UInt32(bodyLength).bigEndian, toByteOffset: 8, as: UInt32.self)
            b.storeBytes(of: h.opaque, toByteOffset: 12, as: UInt32.self)
            b.storeBytes(of: cas.bigEndian, toByteOffset: 16, as: UInt64.self)
            append(UnsafeRawBufferPointer(b))
        }
    }

    /// An error response to `h` with memcached's text for `status` as its body.
    public func appendBinaryError(_ h: BinaryHeader, _ status: UInt16) {
        let text = BinaryStatus.text(status)
        appendBinaryResponse(h, status, bodyLength: text.utf8CodeUnitCount)
        append(text)
    }

    /// A 32-bit field of a response body (the flags extras), big-endian.
    public func appendBigEndian32(_ v: UInt32) {
        var be = v.bigEndian
        withUnsafeBytes(of: &be) { append($0) }
    }
}
