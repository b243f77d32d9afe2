// What TLS on the stream listeners is built from: memcached 1.6's -Z and `-o ssl_*` settings, as
// values the executable fills from its flags. The server loads them into a `TLSContext`.
#if canImport(Glibc)
import Glibc
#endif

/// memcached's TLS settings (`-Z`, `-o ssl_*`).
public struct TLSSettings: Sendable {
    /// The lowest protocol version a client may use (`ssl_min_version`, memcached's 0 to 3).
    public enum Version: Int, Sendable, CaseIterable {
        case tls1_0 = 0, tls1_1, tls1_2, tls1_3

        /// As memcached's `stats settings` shows it.
        public var name: String {
            switch self {
            case .tls1_0: "tlsv1.0"
            case .tls1_1: "tlsv1.1"
            case .tls1_2: "tlsv1.2"
            case .tls1_3: "tlsv1.3"
            }
        }

        /// OpenSSL's version number (TLS1_VERSION ... TLS1_3_VERSION).
        var protocolVersion: Int32 {
            switch self {
            case .tls1_0: 0x0301
            case .tls1_1: 0x0302
            case .tls1_2: 0x0303
            case .tls1_3: 0x0304
            }
        }
    }

    /// How a client certificate is asked for (`ssl_verify_mode`, memcached's 0 to 3).
    public enum VerifyMode: Int, Sendable, CaseIterable {
        case none = 0, request, require, once

        /// OpenSSL's SSL_VERIFY_* flags, as memcached keeps (and `stats settings` shows) them.
        public var flags: Int32 {
            switch self {
            case .none: 0  // SSL_VERIFY_NONE
            case .request: 1  // SSL_VERIFY_PEER
            case .require: 1 | 2  // + SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            case .once: 1 | 2 | 4  // + SSL_VERIFY_CLIENT_ONCE
            }
        }
    }

    /// -Z: the TCP listeners speak TLS.
    public var enabled = false
    /// `ssl_chain_cert`: the certificate chain, PEM.
    public var chainCert: String?
    /// `ssl_key`: the private key.
    public var key: String?
    /// `ssl_keyformat`: OpenSSL's SSL_FILETYPE_* (1 PEM, 2 ASN1/DER), passed as given.
    public var keyFormat: Int32 = 1
    public var verifyMode = VerifyMode.none
    /// `ssl_ciphers`: an OpenSSL cipher list (TLS 1.2 and below).
    public var ciphers: String?
    /// `ssl_ca_cert`: the CAs whose client certificates are accepted (PEM).
    public var caCert: String?
    /// `ssl_wbuf_size`, bytes: small reply pieces are gathered into one record up to this size.
    public var writeBufferSize = 16 * 1024
    /// `ssl_session_cache`: a server-side session cache, so clients can resume sessions.
    public var sessionCache = false
    /// `ssl_kernel_tls`: records are encrypted by the kernel once the handshake is done.
    public var kernelTLS = false
    public var minimumVersion = Version.tls1_2

    public init() {}
}
