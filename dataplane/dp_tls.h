/*
 * dp_tls: TLS 1.3 between a transport's TCP byte stream and the session layer, for both
 * transports (posix epoll and the DPDK userspace stack). SPEC.md §3, docs/dataplane.md "TLS".
 *
 *   TCP bytes in --dp_tls_conn_input()--> [in buffer] --SSL_read--> dp_session_input()
 *   TCP bytes out <--dp_tls_conn_out()-- [out buffer] <--SSL_write-- dp_session_out()
 *
 * OpenSSL never sees a socket: each connection's SSL reads and writes one memory BIO of
 * ours (bio_read / bio_write below) over two fixed buffers embedded in struct dp_tls_conn,
 * so no OpenSSL call can block or make a system call in a poll loop, and the DPDK stack's
 * bytes reach OpenSSL exactly as the kernel's do. The session layer sees plaintext frames,
 * unchanged. A connection with `tls = off` (or a plaintext one under `optional`) passes
 * straight through to the session: one switch per call.
 *
 * Link state machine (dp_tls_conn.state; every change through link_set_state):
 *
 *            open (tls off)                          first byte != 0x16, optional
 *   FREE ---------------------> PLAIN <----------------------------------+
 *     |                                                                  |
 *     | open (tls on)                                                    |
 *     +--------------------> UNDECIDED ---- first byte 0x16 -----> HANDSHAKE --done--> OPEN
 *                                |         (rate limit, SSL_new)       |               |
 *                                | not 0x16, required                  | refused,      | bad record,
 *                                v                                     | deadline      | key-update
 *                              FAILED <--------------------------------+---------------+ flood
 *   any --dp_tls_conn_close()--> FREE (SSL freed)
 *
 * FAILED puts the session in CLOSING (dp_session_abort, reason "tls", plus one tls_* counter
 * naming the cause); OpenSSL's alert, if it wrote one, is still flushed by the transport.
 *
 * Policy: TLS 1.3 only (min = max = TLS1_3_VERSION: a TLS 1.2 ClientHello is refused with
 * protocol_version); no renegotiation exists in 1.3 and SSL_OP_NO_RENEGOTIATION is set too;
 * a peer's KeyUpdate messages are counted and more than DP_TLS_KEYUPDATE_BURST within
 * DP_TLS_KEYUPDATE_WINDOW_NS close the connection (each one costs us a key schedule and,
 * when "update_requested", a reply); stateless session tickets (one per full handshake, the
 * key shared by every worker because the SSL_CTX is) make a reconnect an abbreviated
 * handshake; no 0-RTT data. Handshakes are rate-limited per source address (a token bucket,
 * the same lock-free limiter as failed logins) and must finish within a deadline, so a
 * client trickling one byte per second is cut. Client certificates (mTLS) are asked for when
 * a client CA is configured; a presented certificate must verify, and its identity (the SAN
 * URI "decp:master:<id>", else the CN "decp-master-<id>") must name the master that logs in
 * (dp_session.cert_master_id, checked by the session at Hello). When the handshake
 * completes, the connection's exporter (PROTO_LOGIN_EXPORTER_LABEL, proto_login.h) becomes the session's
 * channel binding, before any plaintext reaches it: a LoginProof made for another
 * connection (an active man in the middle relaying a login) does not verify.
 *
 * Records: dp_tls_conn_out encrypts everything the session has queued (up to 16 KiB) as one
 * record, and the transports call it once per poll iteration after the ACK ring, so a burst
 * of ACKs to one master costs one record (one AEAD seal), not one per ACK.
 *
 * Memory: the buffers are embedded (no allocation per record); OpenSSL allocates the SSL,
 * its BIO and its record buffers when a handshake starts (SSL_new) and frees them at close;
 * steady-state SSL_read/SSL_write do not allocate (SSL_MODE_RELEASE_BUFFERS is not set).
 *
 * Threading: dp_tls_create / dp_tls_destroy at start and stop (main thread); a connection
 * is used only by the worker that owns it; struct dp_tls is shared read-only by the
 * workers (OpenSSL's SSL_CTX is safe for concurrent SSL_new), its handshake limiter is
 * lock-free.
 */
#ifndef DECP_DP_TLS_H
#define DECP_DP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "dp_session.h"

/* Ciphertext staging. In: what arrived while the session could not take plaintext (its
 * reply buffer full); the transport reads only while DP_SESSION_RX_CHUNK fits. Out: the
 * handshake flight, or up to two full records (16 KiB plaintext + 22 bytes each). */
#define DP_TLS_IN_CAP (24u * 1024u)
#define DP_TLS_OUT_CAP (36u * 1024u)
#define DP_TLS_RECORD_MAX 16384u
#define DP_TLS_KEYUPDATE_BURST 16u
#define DP_TLS_KEYUPDATE_WINDOW_NS (10ull * 1000000000ull)
#define DP_TLS_HANDSHAKE_BYTE 0x16u /* TLS record type "handshake": a ClientHello starts so */

enum dp_tls_mode {
	DP_TLS_OFF = 0,        /* plaintext only */
	DP_TLS_OPTIONAL = 1,   /* first byte decides: 0x16 -> TLS, anything else -> plaintext */
	DP_TLS_REQUIRED = 2,   /* TLS only (the default) */
};

enum dp_tls_client_cert {
	DP_TLS_CLIENT_CERT_NONE = 0,     /* not asked for */
	DP_TLS_CLIENT_CERT_OPTIONAL = 1, /* asked; a presented one must verify and match */
	DP_TLS_CLIENT_CERT_REQUIRED = 2, /* a handshake without one is refused */
};

struct dp_tls_cfg {
	enum dp_tls_mode mode;
	const char *cert_file;            /* PEM server certificate (chain), required unless off */
	const char *key_file;             /* PEM private key */
	const char *client_ca_file;       /* PEM CA for client certificates, NULL = none */
	const char *crl_file;             /* PEM CRL(s) of that CA, NULL = none (dp_tls_crl_load) */
	enum dp_tls_client_cert client_cert;
	uint64_t handshake_timeout_ns;    /* open -> handshake done, else cut */
	uint32_t handshake_burst;         /* handshakes per source address ... */
	uint64_t handshake_refill_ns;     /* ... plus one more per this interval */
};

enum dp_tls_link {
	DP_TLS_LINK_FREE = 0,
	DP_TLS_LINK_PLAIN,
	DP_TLS_LINK_UNDECIDED,
	DP_TLS_LINK_HANDSHAKE,
	DP_TLS_LINK_OPEN,
	DP_TLS_LINK_FAILED,
};

struct dp_tls; /* process-wide: SSL_CTX, BIO method, handshake limiter */

/* One per connection slot, embedded in the transport's connection (buffers included). */
struct dp_tls_conn {
	enum dp_tls_link state;
	uint8_t stalled;           /* ciphertext or SSL work waits for the session's room */
	uint8_t shut_sent;         /* close_notify queued */
	uint8_t peer_closed;       /* close_notify received */
	uint32_t w_retry;          /* SSL_write length to repeat after WANT_WRITE (0 none) */
	struct dp_tls *tls;        /* NULL: tls off */
	struct dp_session *s;
	SSL *ssl;                  /* HANDSHAKE / OPEN / FAILED after a handshake began */
	uint64_t open_ns;
	uint64_t ku_window_ns;     /* start of the current key-update counting window */
	uint32_t ku_count;
	uint32_t in_head, in_tail;
	uint32_t out_head, out_tail;
	uint8_t in[DP_TLS_IN_CAP];
	uint8_t out[DP_TLS_OUT_CAP];
};

/*
 * Load the certificate and key, build the SSL_CTX and the limiter. cfg->mode == OFF
 * returns NULL with errno 0 (nothing to do); otherwise NULL on failure with errno set and
 * a message (naming the file and OpenSSL's reason) written to err. Main thread, at start.
 */
struct dp_tls *dp_tls_create(const struct dp_tls_cfg *cfg, char *err, size_t errlen);

/* Free (after every worker stopped and closed its connections). NULL ok. */
void dp_tls_destroy(struct dp_tls *tls);

/*
 * Client-certificate revocation: add every CRL in path (PEM, one or more X509 CRL blocks)
 * to the store that verifies masters' certificates and turn on CRL checking of the leaf
 * (X509_V_FLAG_CRL_CHECK). From then on a full handshake whose certificate is revoked, or
 * whose issuer has no CRL in the store, fails verification (counted tls_refused_cert).
 * Called by dp_tls_create for cfg->crl_file, and again to reload (decp-dataplane on
 * SIGHUP): the CRLs are added beside the loaded ones and OpenSSL uses, per issuer, the one
 * with the latest lastUpdate, so a reissued CRL replaces the old one; a CRL that does not
 * parse or verify leaves the store as it was. Main thread; safe while workers handshake
 * (the store locks). A resumed session (ticket) is not re-verified: it ends with the
 * ticket's lifetime, or at once with the master's token revoked.
 * Returns the number of CRLs read (>= 1), or -EINVAL (client certificates not enabled,
 * nothing parsed, or a CRL not signed by the client CA: err says which), -errno of fopen.
 */
int dp_tls_crl_load(struct dp_tls *tls, const char *path, char *err, size_t errlen);

/* SIGHUP's action (dp_ctrl_run's on_hup; arg a struct dp_tls *, NULL ok): reload the
 * configured CRL file (cfg->crl_file) with dp_tls_crl_load and say so on stderr, prefixed
 * with "decp-dataplane: " (how many CRLs, or why none was applied). Main thread. */
void dp_tls_hup(void *arg);

enum dp_tls_mode dp_tls_mode_of(const struct dp_tls *tls); /* NULL -> DP_TLS_OFF */

/* Parse "required" / "optional" / "off" (and for client certs "none" / "optional" /
 * "required"). Return 0 or -EINVAL. */
int dp_tls_mode_parse(const char *s, enum dp_tls_mode *out);
int dp_tls_client_cert_parse(const char *s, enum dp_tls_client_cert *out);

/*
 * A new connection whose session was just opened (dp_session_open). tls NULL: plaintext.
 * Allocates nothing (the handshake, when it starts, does).
 */
void dp_tls_conn_open(struct dp_tls_conn *t, struct dp_tls *tls, struct dp_session *s,
		      uint64_t now_ns);

/*
 * Bytes from TCP (len <= DP_SESSION_RX_CHUNK, and only while dp_tls_conn_rx_ok). len 0
 * resumes a stalled connection (call it when dp_tls_conn_stalled and the session's output
 * was flushed). Plaintext goes to dp_session_input; handshake bytes and alerts to the out
 * buffer (the session is kicked so the transport flushes them).
 * Returns 0; -ECONNRESET when the session is CLOSING (flush dp_tls_conn_out, then close);
 * -EPIPE when the peer sent close_notify (treat as EOF); -ENOBUFS when the bytes did not
 * fit (the transport ignored rx_ok: close).
 */
int dp_tls_conn_input(struct dp_tls_conn *t, const uint8_t *data, size_t len, uint64_t now_ns,
		      int64_t wall_ns);

/* Whether the transport may hand over another DP_SESSION_RX_CHUNK. */
bool dp_tls_conn_rx_ok(const struct dp_tls_conn *t);

/* Whether input waits for room in the session (resume with dp_tls_conn_input(t, NULL, 0)). */
bool dp_tls_conn_stalled(const struct dp_tls_conn *t);

/*
 * Bytes for TCP: encrypts what the session queued (one record per call, at most 16 KiB
 * plaintext, as room allows; then close_notify once the session is CLOSING and drained)
 * and returns the pending ciphertext (plaintext when PLAIN). 0 when none. Before the link
 * is OPEN or PLAIN the session's output stays queued in the session (never sent in clear);
 * the session is kicked when the link opens.
 */
size_t dp_tls_conn_out(struct dp_tls_conn *t, const uint8_t **p);

/* n bytes of what dp_tls_conn_out returned were sent. */
void dp_tls_conn_out_consume(struct dp_tls_conn *t, size_t n);

/* Handshake deadline (call with the session ticks). Returns 0, or -ECONNRESET when the
 * connection was cut (the session is CLOSING). */
int dp_tls_conn_tick(struct dp_tls_conn *t, uint64_t now_ns);

/* The connection is gone: free the SSL (if any), back to FREE. Idempotent. */
void dp_tls_conn_close(struct dp_tls_conn *t);

/*
 * Identity of a client certificate: the master id named by its SAN URI "decp:master:<id>"
 * or, failing that, its CN "decp-master-<id>"; 0 when it names none. Any thread.
 */
uint64_t dp_tls_cert_master_id(X509 *cert);

const char *dp_tls_link_name(enum dp_tls_link st);

#endif
