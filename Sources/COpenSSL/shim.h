// OpenSSL for the Server module's TLS. Swift cannot call OpenSSL's function-like macros
// (SSL_CTX_set_min_proto_version and friends are SSL_CTX_ctrl calls) nor read the 64-bit option
// bits built with SSL_OP_BIT, so these inline wrappers name them.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>

static inline int copenssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline void copenssl_ctx_set_session_cache(SSL_CTX *ctx, int on) {
    SSL_CTX_set_session_cache_mode(ctx, on ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
}

/// Renegotiation refused; kernel TLS offload when asked.
static inline void copenssl_ctx_set_options(SSL_CTX *ctx, int kernel_tls) {
    uint64_t options = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_ENABLE_KTLS
    if (kernel_tls) options |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(ctx, options);
}

/// Whether this OpenSSL can offload records to the kernel (memcached refuses ssl_kernel_tls
/// otherwise).
static inline int copenssl_has_kernel_tls(void) {
#ifdef SSL_OP_ENABLE_KTLS
    return 1;
#else
    return 0;
#endif
}

/// Idle connections give their record buffers back (as memcached); a write retried after
/// WANT_WRITE may come from another address with the same bytes (the worker's shared write
/// buffer is refilled from the connection's output), and may complete one record at a time.
static inline void copenssl_ctx_set_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
}

static inline int copenssl_set_connection(SSL *ssl, void *connection) {
    return SSL_set_ex_data(ssl, 0, connection);
}

static inline void *copenssl_get_connection(const SSL *ssl) {
    return SSL_get_ex_data(ssl, 0);
}

/// Bytes read from the socket so far (a handshake that failed before any byte arrived is a
/// connection closed, not a failed handshake).
static inline unsigned long copenssl_bytes_read(SSL *ssl) {
    BIO *rbio = SSL_get_rbio(ssl);
    return rbio ? (unsigned long)BIO_number_read(rbio) : 0;
}
#endif
