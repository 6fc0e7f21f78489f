/*
 * tls_fx: an in-process fixture for dp_tls (tests/security units, the fuzz target and
 * perf/bench_tls). A real shared-memory segment and tables holding master 1 (token
 * "tls-token-1", secret 32 x 0x11) and master 2 (token "tls-token-2"), one dp_worker, a
 * server struct dp_tls made from a fresh certificate set (ctl_certs: CA, server, masters 1
 * and 2, in a private temp directory), and in-memory clients: an OpenSSL client SSL over a
 * BIO pair whose network end the fixture pumps to and from a server dp_tls_conn.
 * Everything is removed by tls_fx_fini. One thread.
 */
#ifndef DECP_TESTS_TLS_FX_H
#define DECP_TESTS_TLS_FX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "dp_session.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "dp_tls.h"

struct tls_fx {
	char dir[128];              /* certificates: ca, server, master-1, master-2 (.crt/.key) */
	struct dp_shm shm;
	struct dp_tables tables;
	struct dp_login_limiter login;
	struct dp_worker *w;
	struct dp_tls *tls;
	uint64_t now_ns;            /* the fixture's clock (advance it yourself) */
	int stage;                  /* what tls_fx_fini undoes: 1 shm, 2 tables, 3 worker */
	struct dp_session *live;    /* the last opened session: ACK records reach it */
	uint64_t server_ns;         /* thread CPU ns inside the server's dp_tls calls (pump) */
};

/* One connection: the server side (session + TLS link) and an in-memory client. */
struct tls_fx_conn {
	struct tls_fx *fx;
	struct dp_session *s;       /* heap: large */
	struct dp_tls_conn *t;      /* heap: large */
	SSL *c;                     /* client, NULL for raw-byte connections */
	BIO *net;                   /* the client's network end */
};

/* mode/cc: the server's settings (handshake timeout 2 s, burst hs_burst per source). */
int tls_fx_init(struct tls_fx *fx, enum dp_tls_mode mode, enum dp_tls_client_cert cc,
		uint32_t hs_burst);
void tls_fx_fini(struct tls_fx *fx);

/* Remove the certificate directory now (what is loaded stays usable): for processes that
 * never reach tls_fx_fini, such as a fuzzer. tls_fx_client_ctx needs the files. */
void tls_fx_remove_files(struct tls_fx *fx);

/* A client context trusting the fixture's CA, TLS versions min..max, with master
 * `cert_master`'s certificate (0: none). NULL on failure. */
SSL_CTX *tls_fx_client_ctx(struct tls_fx *fx, int min_version, int max_version,
			   uint64_t cert_master);

/* Open a server connection (and a client on cctx unless NULL; sess: resume it). */
int tls_fx_open(struct tls_fx *fx, struct tls_fx_conn *c, SSL_CTX *cctx, SSL_SESSION *sess);
void tls_fx_close(struct tls_fx_conn *c);

/*
 * Move bytes both ways until nothing moves (time in the server's calls is added to
 * fx->server_ns): client -> server through dp_tls_conn_input
 * (in DP_SESSION_RX_CHUNK pieces), server output (dp_tls_conn_out) -> client. ACK records
 * the worker receives are not involved. Returns the last dp_tls_conn_input result (0,
 * -ECONNRESET, -EPIPE).
 */
int tls_fx_pump(struct tls_fx_conn *c);

/* Raw bytes into the server (no client). Returns dp_tls_conn_input's result. */
int tls_fx_raw(struct tls_fx_conn *c, const uint8_t *p, size_t n);

/* Drive the client handshake to completion. Returns 0 or -1. */
int tls_fx_handshake(struct tls_fx_conn *c);

/* A Hello frame (length prefix included) for master_id with token "tls-token-<token_of>".
 * Returns its length or a negative errno (proto_msg_frame_pack). */
ssize_t tls_fx_hello_frame(uint8_t *buf, size_t cap, uint64_t master_id, uint64_t token_of);

/* Client: send a Hello frame for master_id with token "tls-token-<token_of>"; then pump.
 * Returns 0 once sent. */
int tls_fx_send_hello(struct tls_fx_conn *c, uint64_t master_id, uint64_t token_of);

/* Client: read decrypted bytes the server sent (after a pump) into buf. Returns bytes. */
size_t tls_fx_client_read(struct tls_fx_conn *c, uint8_t *buf, size_t cap);

/* Counter value (summed... one worker) of the fixture's worker. */
uint64_t tls_fx_ctr(const struct tls_fx *fx, unsigned int ctr);

#endif
