// The process's TLS context (memcached's settings.ssl_ctx): certificates, key, CAs and the
// handshake rules every TLS connection is made from. It is built whole, at start-up and on each
// refresh; a refresh that fails leaves the context in use untouched. A connection's session keeps
// the context it was made from (OpenSSL counts references), so a refresh never disturbs one.
import COpenSSL
import Platform
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why the TLS context could not be built: memcached's message.
public struct TLSError: Error, CustomStringConvertible {
    public let description: String
}

public final class TLSContext: @unchecked Sendable {
    // Safe to share: `context` is read and replaced only under `lock` (SSL_new takes its own
    // reference, so a context replaced meanwhile lives on in the sessions made from it); the
    // settings are immutable and the refresh time is atomic.
    public let settings: TLSSettings
    private let lock = PlainMutex()
    private var context: OpaquePointer
    /// When the certificates were last loaded (monotonic seconds: the context is made before the
    /// process clock, which a warm restart (-e) takes from its saved metadata).
    private let loadedAt: Atomic<Int>

    /// Builds the context from `settings`, or fails with memcached's message.
    public init(settings: TLSSettings) throws(TLSError) {
        self.settings = settings
        context = try Self.makeContext(settings)
        loadedAt = Atomic(Self.monotonicSeconds())
    }

    private static func monotonicSeconds() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// `refresh_certs`: loads the certificate chain, key and CAs again into a new context that
    /// new connections get; nil when it did, else why not (the context in use is kept).
    public func refresh() -> String? {
        let fresh: OpaquePointer
        do {
            fresh = try Self.makeContext(settings)
        } catch {
            return error.description
        }
        let old = lock.withLock { () -> OpaquePointer in
            let old = context
            context = fresh
            return old
        }
        SSL_CTX_free(old)
        // Nothing may be left queued on this worker thread for its connections' SSL_get_error.
        ERR_clear_error()
        loadedAt.store(Self.monotonicSeconds(), ordering: .relaxed)
        return nil
    }

    /// Seconds since the certificates were loaded (memcached's time_since_server_cert_refresh).
    public var secondsSinceRefresh: UInt32 {
        UInt32(clamping: Self.monotonicSeconds() - loadedAt.load(ordering: .relaxed))
    }

    /// A server-side session for the accepted socket `fd`, from the current context.
    func makeSession(fd: Int32) -> OpaquePointer? {
        let ssl = lock.withLock { SSL_new(context) }
        guard let ssl else {
            ERR_clear_error()
            return nil
        }
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
        return ssl
    }

    /// memcached's ssl_init and load_server_certificates, in their order and with their words.
    private static func makeContext(_ s: TLSSettings) throws(TLSError) -> OpaquePointer {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError(description: "Error creating the TLS context: \(openSSLError())")
        }
        do {
            try configure(ctx, s)
        } catch {
            SSL_CTX_free(ctx)
            ERR_clear_error()
            throw error
        }
        return ctx
    }

    private static func configure(_ ctx: OpaquePointer, _ s: TLSSettings) throws(TLSError) {
        if copenssl_ctx_set_min_proto_version(ctx, s.minimumVersion.protocolVersion) != 1 {
            throw TLSError(description: "Error setting the minimum TLS version \(s.minimumVersion.name): \(openSSLError())")
        }
        guard let chain = s.chainCert else {
            throw TLSError(description: "Error loading the certificate chain: (null) : -Z needs -o ssl_chain_cert=<file>")
        }
        if SSL_CTX_use_certificate_chain_file(ctx, chain) != 1 {
            throw TLSError(description: "Error loading the certificate chain: \(chain) : \(openSSLError())")
        }
        guard let key = s.key else {
            throw TLSError(description: "Error loading the key: (null) : -Z needs -o ssl_key=<file>")
        }
        if SSL_CTX_use_PrivateKey_file(ctx, key, s.keyFormat) != 1 {
            throw TLSError(description: "Error loading the key: \(key) : \(openSSLError())")
        }
        if SSL_CTX_check_private_key(ctx) != 1 {
            throw TLSError(description: "Error validating the certificate: \(openSSLError())")
        }
        if let ca = s.caCert {
            if SSL_CTX_load_verify_locations(ctx, ca, nil) != 1 {
                throw TLSError(description: "Error loading the CA certificate: \(ca) : \(openSSLError())")
            }
            SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca))
        }
        SSL_CTX_set_verify(ctx, s.verifyMode.flags, nil)
        if let ciphers = s.ciphers, SSL_CTX_set_cipher_list(ctx, ciphers) != 1 {
            throw TLSError(description: "Error setting the provided cipher(s): \(ciphers)")
        }
        if s.sessionCache {
            SSL_CTX_sess_set_new_cb(ctx, newSessionCallback)
            copenssl_ctx_set_session_cache(ctx, 1)
            let id = Array("swiftcached".utf8)
            SSL_CTX_set_session_id_context(ctx, id, UInt32(id.count))
        } else {
            copenssl_ctx_set_session_cache(ctx, 0)
        }
        if s.kernelTLS && copenssl_has_kernel_tls() == 0 {
            throw TLSError(description: "Kernel TLS offload is not available")
        }
        copenssl_ctx_set_options(ctx, s.kernelTLS ? 1 : 0)
        copenssl_ctx_set_modes(ctx)
    }

    /// The first error OpenSSL queued on this thread, as ERR_error_string_n writes it; the queue
    /// is emptied (SSL_get_error reads it on this thread's next TLS call).
    static func openSSLError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Called by OpenSSL, on the connection's worker thread, for each new session it may cache
/// (memcached's ssl_new_session_callback; TLS 1.3 sends two tickets per handshake, both counted
/// as memcached counts them). 0: OpenSSL keeps its own reference to the session.
private func newSessionCallback(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let raw = copenssl_get_connection(ssl) else { return 0 }
    let connection = Unmanaged<Connection>.fromOpaque(raw).takeUnretainedValue()
    connection.worker.stats.add(ServerCounter.tlsNewSessions.rawValue)
    return 0
}
