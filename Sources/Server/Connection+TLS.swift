// A connection's TLS, on a non-blocking socket. The handshake runs on the connection's first
// events; after it, reads go through SSL_read into the same input (or item memory) a plain read
// would fill, and output through SSL_write: a large segment is written from where it lies, small
// ones are gathered into the worker's write buffer (memcached's ssl_wbuf, `ssl_wbuf_size`) so
// that a reply of many pieces becomes few records. OpenSSL's WANT_READ / WANT_WRITE decide which
// socket readiness the connection waits for next, so nothing spins; bytes OpenSSL holds already
// decrypted (libevent cannot see them) are read on the next turn of the loop. A plain connection
// has no session and never enters this file.
import CLibevent
import COpenSSL
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// One connection's OpenSSL session and what it waits for.
final class TLSSession {
    let ssl: OpaquePointer
    /// The handshake is done: application data flows.
    var established = false
    /// The last read (or handshake step) needs the socket writable before it can go on.
    var readWantsWrite = false
    /// The last write needs the socket readable before it can go on.
    var writeWantsRead = false

    init(ssl: OpaquePointer) {
        self.ssl = ssl
    }

    deinit {
        SSL_free(ssl)
    }

    /// Sends close_notify when a session was established (best effort on a non-blocking socket).
    func shutdown() {
        if established { _ = SSL_shutdown(ssl) }
        ERR_clear_error()
    }
}

extension Connection {
    /// Runs the handshake on; true once it is done (and application data may be read), false
    /// while it waits for the socket or after it failed (the connection is then closed, and a
    /// client that sent something that was no handshake counts in ssl_handshake_errors).
    func continueHandshake(_ tls: TLSSession) -> Bool {
        tls.readWantsWrite = false
        let r = SSL_do_handshake(tls.ssl)
        if r == 1 {
            tls.established = true
            return true
        }
        switch SSL_get_error(tls.ssl, r) {
        case SSL_ERROR_WANT_READ:
            return false
        case SSL_ERROR_WANT_WRITE:
            tls.readWantsWrite = true
            return false
        default:
            // A client that closed before sending a byte (a port probe) did not try a handshake.
            if copenssl_bytes_read(tls.ssl) > 0 {
                worker.stats.add(ServerCounter.tlsHandshakeErrors.rawValue)
            }
            ERR_clear_error()
            close()
            return false
        }
    }

    /// SSL_read with read(2)'s answers: bytes, 0 at the peer's close, -1 with EAGAIN while
    /// OpenSSL waits for the socket (which way: `readWantsWrite`), -1 with ECONNRESET on an error.
    func tlsReceive(_ tls: TLSSession, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        tls.readWantsWrite = false
        let r = SSL_read(tls.ssl, buffer, Int32(clamping: count))
        if r > 0 { return Int(r) }
        switch SSL_get_error(tls.ssl, r) {
        case SSL_ERROR_WANT_READ:
            errno = EAGAIN
        case SSL_ERROR_WANT_WRITE:
            tls.readWantsWrite = true
            errno = EAGAIN
        case SSL_ERROR_ZERO_RETURN:
            return 0
        default:
            ERR_clear_error()
            errno = ECONNRESET
        }
        return -1
    }

    /// Writes queued output through the session; true when all of it is out, false while the
    /// socket cannot take more (or after a hard error, which closes). A write retried after
    /// WANT_WRITE is rebuilt from the same output, so it carries the same bytes, as OpenSSL asks.
    func flushTLS(_ tls: TLSSession) -> Bool {
        tls.writeWantsRead = false
        let iov = worker.iov
        while !output.isEmpty {
            let n = output.fill(iov, capacity: Worker.iovecCapacity)
            var base = UnsafeRawPointer(iov[0].iov_base!)
            var length = iov[0].iov_len
            let gather = worker.tlsWriteBuffer!
            let capacity = worker.tlsWriteBufferCapacity
            if n > 1 && length < capacity {
                // Small pieces: one record of up to `capacity` bytes instead of one per piece.
                length = 0
                for i in 0..<n where length < capacity {
                    let take = min(iov[i].iov_len, capacity - length)
                    (gather + length).copyMemory(from: iov[i].iov_base!, byteCount: take)
                    length += take
                }
                base = UnsafeRawPointer(gather)
            }
            let r = SSL_write(tls.ssl, base, Int32(clamping: length))
            if r > 0 {
                worker.stats.add(ServerCounter.bytesWritten.rawValue, UInt64(r))
                output.consume(Int(r))
                continue
            }
            switch SSL_get_error(tls.ssl, r) {
            case SSL_ERROR_WANT_WRITE:
                return false
            case SSL_ERROR_WANT_READ:
                tls.writeWantsRead = true
                return false
            default:
                ERR_clear_error()
                close()
                return false
            }
        }
        output.compact()
        return true
    }

    /// After every event, wake-up or timer of a TLS connection: wait for the readiness OpenSSL
    /// asked for, and come back at once for bytes it already holds decrypted (no socket event
    /// would announce them).
    func settleTLS(_ tls: TLSSession) {
        guard !closed, !readPaused else { return }
        let wantWrite = writing ? !tls.writeWantsRead : tls.readWantsWrite
        arm(forWrite: wantWrite)
        if !wantWrite && !writing && !parked && tls.established && SSL_pending(tls.ssl) > 0 {
            event_active(event, Int32(EV_READ), 1)
        }
    }
}
