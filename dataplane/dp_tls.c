/* dp_tls: TLS 1.3 over memory BIOs for both transports. Contract in dp_tls.h. */
#include "dp_tls.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define RECORD_OVERHEAD 64u /* header 5 + content type 1 + tag 16, and a queued KeyUpdate */
#define URI_PREFIX "decp:master:"
#define CN_PREFIX "decp-master-"

struct dp_tls {
	struct dp_tls_cfg cfg;
	char *crl_file;                   /* a copy of cfg->crl_file (SIGHUP rereads it), or NULL */
	bool crl_checking;                /* X509_V_FLAG_CRL_CHECK set (once, by the first load) */
	SSL_CTX *ctx;
	BIO_METHOD *bio_method;
	struct dp_login_limiter hs_limit; /* handshakes per source address, all workers */
};

/* ------------------------------------------------------------------ names, parsing */

const char *dp_tls_link_name(enum dp_tls_link st)
{
	switch (st) {
	case DP_TLS_LINK_FREE: return "FREE";
	case DP_TLS_LINK_PLAIN: return "PLAIN";
	case DP_TLS_LINK_UNDECIDED: return "UNDECIDED";
	case DP_TLS_LINK_HANDSHAKE: return "HANDSHAKE";
	case DP_TLS_LINK_OPEN: return "OPEN";
	case DP_TLS_LINK_FAILED: return "FAILED";
	}
	return "?";
}

int dp_tls_mode_parse(const char *s, enum dp_tls_mode *out)
{
	if (strcmp(s, "required") == 0)
		*out = DP_TLS_REQUIRED;
	else if (strcmp(s, "optional") == 0)
		*out = DP_TLS_OPTIONAL;
	else if (strcmp(s, "off") == 0)
		*out = DP_TLS_OFF;
	else
		return -EINVAL;
	return 0;
}

int dp_tls_client_cert_parse(const char *s, enum dp_tls_client_cert *out)
{
	if (strcmp(s, "none") == 0)
		*out = DP_TLS_CLIENT_CERT_NONE;
	else if (strcmp(s, "optional") == 0)
		*out = DP_TLS_CLIENT_CERT_OPTIONAL;
	else if (strcmp(s, "required") == 0)
		*out = DP_TLS_CLIENT_CERT_REQUIRED;
	else
		return -EINVAL;
	return 0;
}

enum dp_tls_mode dp_tls_mode_of(const struct dp_tls *tls)
{
	return tls != NULL ? tls->cfg.mode : DP_TLS_OFF;
}

/* "<digits>" of exactly len bytes -> 1..UINT64_MAX-1, else 0. */
static uint64_t parse_id(const unsigned char *p, int len)
{
	if (len < 1 || len > 20)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		unsigned int d = p[i] - '0';
		if (v > (UINT64_MAX - 1u - d) / 10u)
			return 0;
		v = v * 10u + d;
	}
	return v;
}

uint64_t dp_tls_cert_master_id(X509 *cert)
{
	uint64_t id = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && id == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_URI)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		int n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		size_t pl = sizeof(URI_PREFIX) - 1;
		if (n > (int)pl && memcmp(d, URI_PREFIX, pl) == 0)
			id = parse_id(d + pl, n - (int)pl);
	}
	GENERAL_NAMES_free(gens);
	if (id != 0)
		return id;
	X509_NAME *sub = X509_get_subject_name(cert);
	int at = sub != NULL ? X509_NAME_get_index_by_NID(sub, NID_commonName, -1) : -1;
	if (at < 0)
		return 0;
	const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sub, at));
	const unsigned char *d = ASN1_STRING_get0_data(cn);
	int n = ASN1_STRING_length(cn);
	size_t pl = sizeof(CN_PREFIX) - 1;
	if (n > (int)pl && memcmp(d, CN_PREFIX, pl) == 0)
		return parse_id(d + pl, n - (int)pl);
	return 0;
}

/* ------------------------------------------------------------------ memory BIO */

/* Read the connection's staged ciphertext. No data: "retry" (SSL_ERROR_WANT_READ). After a
 * key-update flood nothing more is handed over, so one SSL_read cannot chew through a whole
 * buffer of KeyUpdates before the caller sees the count. */
static int bio_read(BIO *b, char *buf, int len)
{
	struct dp_tls_conn *t = BIO_get_data(b);
	uint32_t avail = t->in_tail - t->in_head;
	BIO_clear_retry_flags(b);
	if (avail == 0 || len <= 0 || t->ku_count > DP_TLS_KEYUPDATE_BURST) {
		BIO_set_retry_read(b);
		return -1;
	}
	uint32_t n = (uint32_t)len < avail ? (uint32_t)len : avail;
	memcpy(buf, t->in + t->in_head, n);
	t->in_head += n;
	if (t->in_head == t->in_tail)
		t->in_head = t->in_tail = 0;
	return (int)n;
}

/* Append to the out buffer; full: "retry" (SSL_ERROR_WANT_WRITE, resumed after a flush). */
static int bio_write(BIO *b, const char *buf, int len)
{
	struct dp_tls_conn *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->out_head > 0 && t->out_tail + (uint32_t)len > DP_TLS_OUT_CAP) {
		memmove(t->out, t->out + t->out_head, t->out_tail - t->out_head);
		t->out_tail -= t->out_head;
		t->out_head = 0;
	}
	uint32_t room = DP_TLS_OUT_CAP - t->out_tail;
	if (room == 0) {
		BIO_set_retry_write(b);
		return -1;
	}
	uint32_t n = (uint32_t)len < room ? (uint32_t)len : room;
	memcpy(t->out + t->out_tail, buf, n);
	t->out_tail += n;
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	struct dp_tls_conn *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH: return 1;
	case BIO_CTRL_PENDING: return t != NULL ? (long)(t->in_tail - t->in_head) : 0;
	case BIO_CTRL_WPENDING: return t != NULL ? (long)(t->out_tail - t->out_head) : 0;
	default: return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ------------------------------------------------------------------ context */

static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	char why[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, why, sizeof(why));
	snprintf(err, errlen, "%s %s: %s", what, file != NULL ? file : "", e != 0 ? why : "failed");
	ERR_clear_error();
}

/* Count every KeyUpdate the peer sends (content type handshake, message type 24 inside an
 * encrypted record). The limit is applied in bio_read and after SSL_read. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	(void)version;
	(void)ssl;
	struct dp_tls_conn *t = arg;
	if (t == NULL || write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
	    ((const uint8_t *)buf)[0] != SSL3_MT_KEY_UPDATE)
		return;
	t->ku_count++;
}

struct dp_tls *dp_tls_create(const struct dp_tls_cfg *cfg, char *err, size_t errlen)
{
	errno = 0;
	if (cfg->mode == DP_TLS_OFF)
		return NULL;
	if (cfg->cert_file == NULL || cfg->key_file == NULL) {
		snprintf(err, errlen, "tls %s needs a server certificate and key (--tls-cert, "
				      "--tls-key; or --tls off)",
			 cfg->mode == DP_TLS_REQUIRED ? "required" : "optional");
		errno = EINVAL;
		return NULL;
	}
	if (cfg->client_cert != DP_TLS_CLIENT_CERT_NONE && cfg->client_ca_file == NULL) {
		snprintf(err, errlen, "client certificates need --tls-client-ca");
		errno = EINVAL;
		return NULL;
	}
	struct dp_tls *tls = calloc(1, sizeof(*tls));
	if (tls == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tls->cfg = *cfg;
	tls->cfg.cert_file = tls->cfg.key_file = tls->cfg.client_ca_file = NULL;
	dp_login_limiter_init(&tls->hs_limit, cfg->handshake_burst, cfg->handshake_refill_ns);
	ERR_clear_error();
	tls->ctx = SSL_CTX_new(TLS_server_method());
	tls->bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "decp-memory");
	if (tls->ctx == NULL || tls->bio_method == NULL) {
		ssl_err(err, errlen, "tls: cannot create context", NULL);
		goto fail;
	}
	BIO_meth_set_read(tls->bio_method, bio_read);
	BIO_meth_set_write(tls->bio_method, bio_write);
	BIO_meth_set_ctrl(tls->bio_method, bio_ctrl);
	BIO_meth_set_create(tls->bio_method, bio_create);
	SSL_CTX *c = tls->ctx;
	/* TLS 1.3 only: a 1.2 (or older) ClientHello gets protocol_version and is counted. */
	if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
	    /* AES-128-GCM first: AES-NI makes it the cheapest per byte here. */
	    SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					"TLS_CHACHA20_POLY1305_SHA256") != 1) {
		ssl_err(err, errlen, "tls: protocol settings", NULL);
		goto fail;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				       SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_clear_mode(c, SSL_MODE_AUTO_RETRY | SSL_MODE_RELEASE_BUFFERS);
	/* Stateless tickets: the ticket carries the session, so no server cache (and no lock
	 * on one) is needed, and every worker accepts every other worker's tickets. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 1);
	SSL_CTX_set_max_early_data(c, 0);
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_msg_callback(c, on_msg);
	static const unsigned char sid_ctx[] = "decp-ingest";
	SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
	if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1) {
		ssl_err(err, errlen, "tls: certificate", cfg->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, "tls: key", cfg->key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		ssl_err(err, errlen, "tls: key does not match the certificate", cfg->key_file);
		goto fail;
	}
	if (cfg->client_cert != DP_TLS_CLIENT_CERT_NONE) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_file);
		if (names == NULL || SSL_CTX_load_verify_locations(c, cfg->client_ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			ssl_err(err, errlen, "tls: client CA", cfg->client_ca_file);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names);
		int mode = SSL_VERIFY_PEER;
		if (cfg->client_cert == DP_TLS_CLIENT_CERT_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(c, mode, NULL);
	}
	if (cfg->crl_file != NULL && ((tls->crl_file = strdup(cfg->crl_file)) == NULL ||
				      dp_tls_crl_load(tls, cfg->crl_file, err, errlen) < 0))
		goto fail;
	return tls;
fail:
	dp_tls_destroy(tls);
	errno = EINVAL;
	return NULL;
}

int dp_tls_crl_load(struct dp_tls *tls, const char *path, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(tls->ctx);
	STACK_OF(X509_OBJECT) *objs;
	X509_CRL *crl;
	X509_CRL *got[64];
	int n = 0, rc;
	FILE *f;

	if (tls->cfg.client_cert == DP_TLS_CLIENT_CERT_NONE) {
		snprintf(err, errlen, "tls: a CRL needs client certificates (--tls-client-ca)");
		return -EINVAL;
	}
	if ((f = fopen(path, "re")) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "tls: CRL %s: %s", path, strerror(errno));
		return rc;
	}
	ERR_clear_error();
	while (n < (int)(sizeof(got) / sizeof(got[0])) &&
	       (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL)
		got[n++] = crl;
	fclose(f);
	ERR_clear_error(); /* the end of the file reads as a PEM "no start line" */
	rc = n > 0 ? n : -EINVAL;
	if (n == 0)
		snprintf(err, errlen, "tls: CRL %s: no X509 CRL in it (PEM)", path);
	/* Every CRL must be signed by a CA of the client store (checked before any is
	 * added: a half-applied file would be worse than none). */
	X509_STORE_lock(store);
	objs = X509_STORE_get0_objects(store);
	for (int i = 0; rc > 0 && i < n; i++) {
		bool signed_by_ca = false;

		for (int k = 0; k < sk_X509_OBJECT_num(objs) && !signed_by_ca; k++) {
			X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, k));

			signed_by_ca = ca != NULL &&
				       X509_NAME_cmp(X509_get_subject_name(ca),
						     X509_CRL_get_issuer(got[i])) == 0 &&
				       X509_CRL_verify(got[i], X509_get0_pubkey(ca)) == 1;
		}
		if (!signed_by_ca) {
			snprintf(err, errlen, "tls: CRL %s: CRL %d is not signed by the client CA",
				 path, i + 1);
			rc = -EINVAL;
		}
	}
	X509_STORE_unlock(store);
	for (int i = 0; rc > 0 && i < n; i++)
		if (X509_STORE_add_crl(store, got[i]) != 1) {
			ssl_err(err, errlen, "tls: CRL", path);
			rc = -EINVAL;
		}
	if (rc > 0 && !tls->crl_checking) {
		/* the store's flags are not locked: set at the first load, before workers
		 * handshake (dp_tls_create); a reload only adds CRLs */
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
		tls->crl_checking = true;
	}
	for (int i = 0; i < n; i++)
		X509_CRL_free(got[i]); /* the store holds its own references */
	ERR_clear_error();
	return rc;
}

void dp_tls_hup(void *arg)
{
	struct dp_tls *tls = arg;
	char err[512];
	int n;

	if (tls == NULL || tls->crl_file == NULL)
		return;
	n = dp_tls_crl_load(tls, tls->crl_file, err, sizeof(err));
	if (n > 0)
		fprintf(stderr, "decp-dataplane: SIGHUP: %d CRL(s) of %s applied\n", n,
			tls->crl_file);
	else
		fprintf(stderr, "decp-dataplane: SIGHUP: %s; the CRLs loaded before stay\n", err);
}

void dp_tls_destroy(struct dp_tls *tls)
{
	if (tls == NULL)
		return;
	free(tls->crl_file);
	SSL_CTX_free(tls->ctx);
	BIO_meth_free(tls->bio_method);
	free(tls);
}

/* ------------------------------------------------------------------ connection */

static void link_set_state(struct dp_tls_conn *t, enum dp_tls_link to)
{
	/* Invariants: an SSL exists exactly in HANDSHAKE and OPEN (and FAILED after one began). */
	assert(to != DP_TLS_LINK_HANDSHAKE || t->ssl != NULL);
	assert(to != DP_TLS_LINK_OPEN || t->ssl != NULL);
	assert(to != DP_TLS_LINK_PLAIN || t->ssl == NULL);
	t->state = to;
}

static void kick(struct dp_tls_conn *t)
{
	struct dp_worker *w = t->s->w;
	if (w->ops != NULL && w->ops->kick != NULL)
		w->ops->kick(w->tctx, t->s);
}

/* The link just became able to carry session output: flush what waited for it. */
static void kick_if_queued(struct dp_tls_conn *t)
{
	const uint8_t *q;
	if (dp_session_out(t->s, &q) > 0)
		kick(t);
}

static int link_fail(struct dp_tls_conn *t, enum dp_counter why)
{
	dp_stat_add(t->s->w->st, why, 1);
	ERR_clear_error();
	link_set_state(t, DP_TLS_LINK_FAILED);
	t->stalled = 0;
	t->in_head = t->in_tail = 0;
	dp_session_abort(t->s, DP_REASON_TLS);
	kick(t); /* an alert may be waiting in the out buffer */
	return -ECONNRESET;
}

void dp_tls_conn_open(struct dp_tls_conn *t, struct dp_tls *tls, struct dp_session *s,
		      uint64_t now_ns)
{
	t->tls = tls;
	t->s = s;
	t->ssl = NULL;
	t->stalled = t->shut_sent = t->peer_closed = 0;
	t->w_retry = 0;
	t->open_ns = now_ns;
	t->ku_window_ns = now_ns;
	t->ku_count = 0;
	t->in_head = t->in_tail = t->out_head = t->out_tail = 0;
	link_set_state(t, tls != NULL ? DP_TLS_LINK_UNDECIDED : DP_TLS_LINK_PLAIN);
}

void dp_tls_conn_close(struct dp_tls_conn *t)
{
	if (t->ssl != NULL) {
		SSL_free(t->ssl); /* frees the BIO too */
		t->ssl = NULL;
	}
	t->in_head = t->in_tail = t->out_head = t->out_tail = 0;
	t->stalled = 0;
	link_set_state(t, DP_TLS_LINK_FREE);
}

/* The first byte of a TLS connection arrived: decide, and for TLS, set up the SSL. */
static int link_start(struct dp_tls_conn *t, uint8_t first, uint64_t now_ns)
{
	struct dp_tls *tls = t->tls;
	struct dp_stats *st = t->s->w->st;
	if (first != DP_TLS_HANDSHAKE_BYTE) {
		if (tls->cfg.mode != DP_TLS_OPTIONAL)
			return link_fail(t, DP_CTR_TLS_REFUSED_PLAIN);
		dp_stat_add(st, DP_CTR_TLS_PLAIN_CONNS, 1);
		link_set_state(t, DP_TLS_LINK_PLAIN);
		kick_if_queued(t);
		return 0;
	}
	if (!dp_login_limiter_take(&tls->hs_limit, &t->s->peer, now_ns))
		return link_fail(t, DP_CTR_TLS_HANDSHAKE_RATE);
	SSL *ssl = SSL_new(tls->ctx);
	BIO *bio = ssl != NULL ? BIO_new(tls->bio_method) : NULL;
	if (bio == NULL) {
		SSL_free(ssl);
		return link_fail(t, DP_CTR_TLS_REFUSED_HANDSHAKE);
	}
	BIO_set_data(bio, t);
	SSL_set_bio(ssl, bio, bio); /* one BIO, both directions: SSL takes the reference */
	SSL_set_msg_callback_arg(ssl, t);
	SSL_set_accept_state(ssl);
	t->ssl = ssl;
	link_set_state(t, DP_TLS_LINK_HANDSHAKE);
	return 0;
}

static int handshake_done(struct dp_tls_conn *t)
{
	struct dp_stats *st = t->s->w->st;
	dp_stat_add(st, SSL_session_reused(t->ssl) ? DP_CTR_TLS_RESUMED : DP_CTR_TLS_HANDSHAKES,
		    1);
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	if (peer != NULL) {
		uint64_t id = dp_tls_cert_master_id(peer);
		t->s->cert_master_id = id != 0 ? id : UINT64_MAX;
	}
	/* Channel binding (docs/protocol.md "Login"): the exporter of this connection, set
	 * before pump hands the session its first plaintext byte, so every LoginProof on a
	 * TLS connection is checked against it. RFC 8446 §7.5, no context (RFC 9266 style). */
	uint8_t b[PROTO_LOGIN_BINDING_LEN];
	if (SSL_export_keying_material(t->ssl, b, sizeof(b), PROTO_LOGIN_EXPORTER_LABEL,
				       sizeof(PROTO_LOGIN_EXPORTER_LABEL) - 1, NULL, 0, 0) != 1)
		return link_fail(t, DP_CTR_TLS_RECORD_ERRORS);
	dp_session_set_binding(t->s, b);
	link_set_state(t, DP_TLS_LINK_OPEN);
	kick_if_queued(t);
	return 0;
}

/* Which refusal an SSL error during the handshake was (OpenSSL's reason codes). */
static enum dp_counter handshake_refusal(void)
{
	unsigned long e = ERR_peek_error();
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return DP_CTR_TLS_REFUSED_HANDSHAKE;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return DP_CTR_TLS_REFUSED_VERSION;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_NO_CERTIFICATES_RETURNED:
	case SSL_R_CERT_LENGTH_MISMATCH:
		return DP_CTR_TLS_REFUSED_CERT;
	default:
		return DP_CTR_TLS_REFUSED_HANDSHAKE;
	}
}

static bool keyupdate_flood(struct dp_tls_conn *t, uint64_t now_ns)
{
	if (now_ns - t->ku_window_ns > DP_TLS_KEYUPDATE_WINDOW_NS) {
		if (t->ku_count <= DP_TLS_KEYUPDATE_BURST) {
			t->ku_window_ns = now_ns;
			t->ku_count = 0;
		}
	}
	return t->ku_count > DP_TLS_KEYUPDATE_BURST;
}

/* Decrypt what is staged into the session while it has room. */
static int pump(struct dp_tls_conn *t, uint64_t now_ns, int64_t wall_ns)
{
	uint8_t buf[DP_SESSION_RX_CHUNK];
	struct dp_session *s = t->s;
	for (;;) {
		if (s->state != DP_SS_AWAIT_HELLO && s->state != DP_SS_ACTIVE)
			return -ECONNRESET;
		if (!dp_session_rx_ok(s)) {
			t->stalled = 1;
			return 0;
		}
		uint32_t out_before = t->out_tail;
		int n = SSL_read(t->ssl, buf, sizeof(buf));
		if (t->out_tail != out_before)
			kick(t); /* handshake flight, ticket, KeyUpdate reply or alert to send */
		if (keyupdate_flood(t, now_ns))
			return link_fail(t, DP_CTR_TLS_KEYUPDATE_FLOOD);
		if (t->state == DP_TLS_LINK_HANDSHAKE && SSL_is_init_finished(t->ssl) &&
		    handshake_done(t) != 0)
			return -ECONNRESET;
		if (n > 0) {
			int rc = dp_session_input(s, buf, (size_t)n, now_ns, wall_ns);
			if (rc != 0)
				return rc;
			continue;
		}
		switch (SSL_get_error(t->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			t->stalled = 0;
			return 0;
		case SSL_ERROR_WANT_WRITE:
			t->stalled = 1; /* out buffer full: resumed after the transport flushed */
			return 0;
		case SSL_ERROR_ZERO_RETURN:
			t->peer_closed = 1;
			t->stalled = 0;
			return -EPIPE;
		default:
			return link_fail(t, t->state == DP_TLS_LINK_HANDSHAKE ? handshake_refusal()
									      : DP_CTR_TLS_RECORD_ERRORS);
		}
	}
}

int dp_tls_conn_input(struct dp_tls_conn *t, const uint8_t *data, size_t len, uint64_t now_ns,
		      int64_t wall_ns)
{
	if (t->state == DP_TLS_LINK_PLAIN)
		return len > 0 ? dp_session_input(t->s, data, len, now_ns, wall_ns) : 0;
	if (t->state == DP_TLS_LINK_UNDECIDED) {
		if (len == 0)
			return 0;
		int rc = link_start(t, data[0], now_ns);
		if (rc != 0)
			return rc;
		if (t->state == DP_TLS_LINK_PLAIN)
			return dp_session_input(t->s, data, len, now_ns, wall_ns);
	}
	if (t->state != DP_TLS_LINK_HANDSHAKE && t->state != DP_TLS_LINK_OPEN)
		return t->peer_closed ? -EPIPE : -ECONNRESET;
	if (len > 0) {
		if (t->in_head > 0 && t->in_tail + len > DP_TLS_IN_CAP) {
			memmove(t->in, t->in + t->in_head, t->in_tail - t->in_head);
			t->in_tail -= t->in_head;
			t->in_head = 0;
		}
		if (t->in_tail + len > DP_TLS_IN_CAP)
			return -ENOBUFS;
		memcpy(t->in + t->in_tail, data, len);
		t->in_tail += (uint32_t)len;
	}
	return pump(t, now_ns, wall_ns);
}

bool dp_tls_conn_rx_ok(const struct dp_tls_conn *t)
{
	switch (t->state) {
	case DP_TLS_LINK_PLAIN: return dp_session_rx_ok(t->s);
	case DP_TLS_LINK_UNDECIDED: return true;
	case DP_TLS_LINK_HANDSHAKE:
	case DP_TLS_LINK_OPEN:
		return DP_TLS_IN_CAP - (t->in_tail - t->in_head) >= DP_SESSION_RX_CHUNK;
	default: return false;
	}
}

bool dp_tls_conn_stalled(const struct dp_tls_conn *t)
{
	return t->stalled != 0;
}

/* Seal what the session queued: one record of up to 16 KiB per call, while room lasts. */
static void seal(struct dp_tls_conn *t)
{
	const uint8_t *p;
	size_t len;
	while ((len = dp_session_out(t->s, &p)) > 0) {
		size_t room = DP_TLS_OUT_CAP - (t->out_tail - t->out_head);
		size_t w = t->w_retry;
		if (w == 0) {
			if (room <= RECORD_OVERHEAD)
				return;
			w = len < DP_TLS_RECORD_MAX ? len : DP_TLS_RECORD_MAX;
			if (w > room - RECORD_OVERHEAD)
				w = room - RECORD_OVERHEAD;
		}
		int n = SSL_write(t->ssl, p, (int)w);
		if (n > 0) {
			t->w_retry = 0;
			dp_stat_add(t->s->w->st, DP_CTR_TLS_RECORDS_TX, 1);
			dp_session_out_consume(t->s, (size_t)n);
			continue;
		}
		if (SSL_get_error(t->ssl, n) == SSL_ERROR_WANT_WRITE) {
			t->w_retry = (uint32_t)w; /* same length again once flushed */
			return;
		}
		link_fail(t, DP_CTR_TLS_RECORD_ERRORS);
		return;
	}
}

size_t dp_tls_conn_out(struct dp_tls_conn *t, const uint8_t **p)
{
	if (t->state == DP_TLS_LINK_PLAIN)
		return dp_session_out(t->s, p);
	if (t->state == DP_TLS_LINK_OPEN) {
		seal(t);
		enum dp_session_state ss = t->s->state;
		const uint8_t *q;
		if (t->state == DP_TLS_LINK_OPEN && !t->shut_sent && !t->peer_closed &&
		    (ss == DP_SS_CLOSING || ss == DP_SS_CLOSED) && dp_session_out(t->s, &q) == 0 &&
		    DP_TLS_OUT_CAP - (t->out_tail - t->out_head) > RECORD_OVERHEAD) {
			SSL_shutdown(t->ssl); /* close_notify; we do not wait for the peer's */
			ERR_clear_error();
			t->shut_sent = 1;
		}
	}
	/* UNDECIDED / HANDSHAKE: whatever the session queued (a greeting at open) waits in its
	 * own buffer until the link is OPEN (sealed) or PLAIN; nothing leaves in clear first. */
	*p = t->out + t->out_head;
	return t->out_tail - t->out_head;
}

void dp_tls_conn_out_consume(struct dp_tls_conn *t, size_t n)
{
	if (t->state == DP_TLS_LINK_PLAIN) {
		dp_session_out_consume(t->s, n);
		return;
	}
	assert(n <= t->out_tail - t->out_head);
	t->out_head += (uint32_t)n;
	if (t->out_head == t->out_tail)
		t->out_head = t->out_tail = 0;
}

int dp_tls_conn_tick(struct dp_tls_conn *t, uint64_t now_ns)
{
	bool waiting = t->state == DP_TLS_LINK_HANDSHAKE ||
		       (t->state == DP_TLS_LINK_UNDECIDED && t->tls->cfg.mode == DP_TLS_REQUIRED);
	if (!waiting || now_ns - t->open_ns <= t->tls->cfg.handshake_timeout_ns)
		return 0;
	return link_fail(t, DP_CTR_TLS_HANDSHAKE_TIMEOUT);
}
