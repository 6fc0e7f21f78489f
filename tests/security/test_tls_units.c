/*
 * test_tls_units: dp_tls in one process (tls_fx.h: real segment, tables, worker and
 * certificates; in-memory OpenSSL clients). The session layer behind TLS sees the same
 * frames as without it; each refusal is counted where docs/dataplane.md "TLS" says.
 */
#include <CUnit/Basic.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ctl_certs.h"
#include "decp.pb-c.h"
#include "proto_frame.h"
#include "proto_login.h"
#include "proto_msg.h"
#include "tls_fx.h"

static struct tls_fx fx;

static int fx_up(enum dp_tls_mode mode, enum dp_tls_client_cert cc, uint32_t burst)
{
	tls_fx_fini(&fx);
	return tls_fx_init(&fx, mode, cc, burst);
}

/* One frame from the client's side: the decoded IngestFrame (free it) or NULL. */
static Decp__IngestFrame *client_frame(struct tls_fx_conn *c)
{
	uint8_t buf[4096];
	size_t n = tls_fx_client_read(c, buf, sizeof(buf));
	if (n < 4)
		return NULL;
	size_t len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
	return len + 4 <= n ? proto_ingest_frame_decode(buf + 4, len, NULL) : NULL;
}

/* The ingest frame kind of the first frame the client got, or -1. */
static int first_reply(struct tls_fx_conn *c)
{
	Decp__IngestFrame *f = client_frame(c);
	int k = f != NULL ? (int)f->kind_case : -1;
	proto_msg_free(f != NULL ? &f->base : NULL, NULL);
	return k;
}

static void test_cert_identity(void)
{
	char err[256];
	EVP_PKEY *ck, *k;
	X509 *ca, *c;
	struct ctl_cert_req r = {.kind = CTL_CERT_CA, .cn = "t", .days = 1};
	CU_ASSERT_FATAL(ctl_certs_make(&r, NULL, NULL, &ck, &ca, err, sizeof(err)) == 0);
	CU_ASSERT(dp_tls_cert_master_id(ca) == 0);
	struct ctl_cert_req cr = {.kind = CTL_CERT_CLIENT, .master_id = 9007199254740993ull, .days = 1};
	CU_ASSERT_FATAL(ctl_certs_make(&cr, ck, ca, &k, &c, err, sizeof(err)) == 0);
	CU_ASSERT(dp_tls_cert_master_id(c) == 9007199254740993ull);
	CU_ASSERT(X509_verify(c, ck) == 1);
	EVP_PKEY_free(k);
	X509_free(c);
	/* Boundary: a bad request is refused, not signed. */
	struct ctl_cert_req bad = {.kind = CTL_CERT_CLIENT, .master_id = 0, .days = 1};
	CU_ASSERT(ctl_certs_make(&bad, ck, ca, &k, &c, err, sizeof(err)) == -EINVAL);
	EVP_PKEY_free(ck);
	X509_free(ca);
}

static void test_hello_over_tls_and_resume(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	CU_ASSERT_FATAL(cc != NULL);
	struct tls_fx_conn c;
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cc, NULL) == 0);
	CU_ASSERT_FATAL(tls_fx_handshake(&c) == 0);
	CU_ASSERT(c.t->state == DP_TLS_LINK_OPEN);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_HANDSHAKES) == 1);
	CU_ASSERT(tls_fx_send_hello(&c, 1, 1) == 0);
	CU_ASSERT(c.s->state == DP_SS_ACTIVE);
	CU_ASSERT(first_reply(&c) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_RECORDS_TX) >= 1);
	SSL_SESSION *sess = SSL_get1_session(c.c);
	CU_ASSERT(sess != NULL && SSL_SESSION_is_resumable(sess));
	tls_fx_close(&c);
	/* Resumption from the ticket: no certificate, counted as tls_resumed. */
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cc, sess) == 0);
	CU_ASSERT_FATAL(tls_fx_handshake(&c) == 0);
	CU_ASSERT(SSL_session_reused(c.c) == 1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_RESUMED) == 1);
	tls_fx_close(&c);
	SSL_SESSION_free(sess);
	SSL_CTX_free(cc);
}

static void test_tls12_refused(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_2_VERSION, TLS1_2_VERSION, 0);
	struct tls_fx_conn c;
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cc, NULL) == 0);
	CU_ASSERT(tls_fx_handshake(&c) == -1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_VERSION) == 1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_TLS) == 1);
	CU_ASSERT(c.s->state == DP_SS_CLOSING);
	tls_fx_close(&c);
	SSL_CTX_free(cc);
}

static void test_plain_required_and_optional(void)
{
	static const uint8_t plain[] = {0, 0, 0, 4, 1, 2, 3, 4};
	struct tls_fx_conn c;
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, NULL, NULL) == 0);
	CU_ASSERT(tls_fx_raw(&c, plain, sizeof(plain)) == -ECONNRESET);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_PLAIN) == 1);
	tls_fx_close(&c);
	/* optional: the first byte decides; plaintext reaches the session unchanged. */
	CU_ASSERT_FATAL(fx_up(DP_TLS_OPTIONAL, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, NULL, NULL) == 0);
	tls_fx_raw(&c, plain, sizeof(plain));
	CU_ASSERT(c.t->state == DP_TLS_LINK_PLAIN);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_PLAIN_CONNS) == 1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_RX_BYTES) == sizeof(plain));
	tls_fx_close(&c);
}

static void test_garbage_and_deadline(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	uint8_t junk[300] = {0x16, 0x03, 0x01, 0x01, 0x20};
	for (size_t i = 5; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37u);
	struct tls_fx_conn c;
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, NULL, NULL) == 0);
	CU_ASSERT(tls_fx_raw(&c, junk, sizeof(junk)) == -ECONNRESET);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_HANDSHAKE) == 1);
	tls_fx_close(&c);
	/* Boundary: one byte short of the deadline lives, past it is cut. */
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, NULL, NULL) == 0);
	CU_ASSERT(tls_fx_raw(&c, junk, 3) == 0);
	CU_ASSERT(dp_tls_conn_tick(c.t, fx.now_ns + 2000000000ull) == 0);
	CU_ASSERT(dp_tls_conn_tick(c.t, fx.now_ns + 2000000001ull) == -ECONNRESET);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_HANDSHAKE_TIMEOUT) == 1);
	CU_ASSERT(c.s->state == DP_SS_CLOSING);
	tls_fx_close(&c);
}

static void test_handshake_rate(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 3) == 0);
	static const uint8_t start[] = {0x16, 0x03, 0x01};
	for (int i = 0; i < 5; i++) {
		struct tls_fx_conn c;
		CU_ASSERT_FATAL(tls_fx_open(&fx, &c, NULL, NULL) == 0);
		int rc = tls_fx_raw(&c, start, sizeof(start));
		CU_ASSERT(i < 3 ? rc == 0 : rc == -ECONNRESET);
		tls_fx_close(&c);
	}
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_HANDSHAKE_RATE) == 2);
}

/* A TLS connection on cctx (a client certificate of cert_master, 0: none), then a Hello
 * of master (its own token): the session's state afterwards (ACTIVE or CLOSING). */
static enum dp_session_state hello_over(SSL_CTX *cctx, uint64_t cert_master, uint64_t master)
{
	struct tls_fx_conn c;
	enum dp_session_state st;

	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cctx, NULL) == 0);
	CU_ASSERT_FATAL(tls_fx_handshake(&c) == 0);
	CU_ASSERT(c.s->cert_master_id == cert_master);
	tls_fx_send_hello(&c, master, master);
	st = c.s->state;
	tls_fx_close(&c);
	return st;
}

static void test_client_cert_for_another_master(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_OPTIONAL, 64) == 0);
	SSL_CTX *c2 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 2);
	SSL_CTX *c1 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 1);
	struct tls_fx_conn c;
	/* Master 1 logging in with master 2's certificate: refused at Hello. */
	CU_ASSERT(hello_over(c2, 2, 1) == DP_SS_CLOSING);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_CERT_MISMATCH) == 1);
	/* Its own certificate: logged in. */
	CU_ASSERT(hello_over(c1, 1, 1) == DP_SS_ACTIVE);
	/* No certificate at all while optional: logged in on the token alone. */
	SSL_CTX *c0 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	CU_ASSERT(hello_over(c0, 0, 2) == DP_SS_ACTIVE);
	/* required: no certificate, no handshake. */
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_REQUIRED, 64) == 0);
	SSL_CTX_free(c0);
	c0 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, c0, NULL) == 0);
	tls_fx_handshake(&c);
	tls_fx_pump(&c);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_CERT) == 1);
	CU_ASSERT(c.s->state == DP_SS_CLOSING);
	tls_fx_close(&c);
	SSL_CTX_free(c0);
	SSL_CTX_free(c1);
	SSL_CTX_free(c2);
}

/* --tls-cert-masters (per-master mTLS): master 1 must present its own certificate; master 2,
 * not listed, still logs in on its token alone. */
static void test_cert_required_per_master(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_OPTIONAL, 64) == 0);
	fx.w->cfg.cert_masters[0] = 1;
	fx.w->cfg.n_cert_masters = 1;
	SSL_CTX *c0 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	SSL_CTX *c1 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 1);
	SSL_CTX *c2 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 2);
	/* master 1 without a certificate: refused at login, counted cert_required */
	CU_ASSERT(hello_over(c0, 0, 1) == DP_SS_CLOSING);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_CERT_REQUIRED) == 1);
	/* master 1 with master 2's certificate: cert_mismatch, as for every master */
	CU_ASSERT(hello_over(c2, 2, 1) == DP_SS_CLOSING);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_CERT_MISMATCH) == 1);
	/* master 1 with its own certificate, master 2 (not listed) without one: logged in */
	CU_ASSERT(hello_over(c1, 1, 1) == DP_SS_ACTIVE);
	CU_ASSERT(hello_over(c0, 0, 2) == DP_SS_ACTIVE);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_CERT_REQUIRED) == 1);
	SSL_CTX_free(c0);
	SSL_CTX_free(c1);
	SSL_CTX_free(c2);
}

/* Read fx's DIR/NAME.crt (a certificate only). NULL on failure. */
static X509 *fx_cert(const char *name)
{
	char path[256];
	FILE *f;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s.crt", fx.dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* A full handshake on cctx: 0 done, -1 refused. */
static int handshake_on(SSL_CTX *cctx)
{
	struct tls_fx_conn c;
	int rc;

	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cctx, NULL) == 0);
	rc = tls_fx_handshake(&c);
	tls_fx_pump(&c);
	if (c.s->state == DP_SS_CLOSING)
		rc = -1;
	tls_fx_close(&c);
	return rc;
}

/* --tls-crl: a revoked client certificate fails its handshake (tls_refused_cert); a
 * reissued CRL, loaded again (SIGHUP), replaces the old one; a CRL not signed by the
 * client CA is refused and changes nothing. CRLs made as `decpctl tls revoke` makes them. */
static void test_crl(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_OPTIONAL, 64) == 0);
	EVP_PKEY *ck = NULL, *ok = NULL;
	X509 *ca = NULL, *other = NULL, *m1 = fx_cert("master-1"), *m2 = fx_cert("master-2");
	X509_CRL *crl = NULL;
	char err[512], path[256];
	time_t now = time(NULL);

	snprintf(path, sizeof(path), "%s/ca.crl", fx.dir);
	CU_ASSERT_FATAL(m1 != NULL && m2 != NULL);
	CU_ASSERT_FATAL(ctl_certs_read(fx.dir, "ca", &ck, &ca, err, sizeof(err)) == 0);
	SSL_CTX *c1 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 1);
	SSL_CTX *c2 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 2);
	SSL_CTX *c0 = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	/* master 2 revoked */
	CU_ASSERT_FATAL(ctl_certs_crl_make(ck, ca, NULL, &m2, 1, now - 10, 1, &crl, err,
					   sizeof(err)) == 0);
	CU_ASSERT_FATAL(ctl_certs_crl_write(path, crl, err, sizeof(err)) == 0);
	CU_ASSERT(dp_tls_crl_load(fx.tls, path, err, sizeof(err)) == 1);
	CU_ASSERT(handshake_on(c2) == -1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_CERT) == 1);
	CU_ASSERT(handshake_on(c1) == 0);
	CU_ASSERT(handshake_on(c0) == 0); /* optional: no certificate, nothing to check */
	/* reissued a second later with master 1 added, reloaded: both refused */
	X509_CRL *prev = crl;
	CU_ASSERT_FATAL(ctl_certs_crl_make(ck, ca, prev, &m1, 1, now - 9, 1, &crl, err,
					   sizeof(err)) == 0);
	X509_CRL_free(prev);
	CU_ASSERT(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 2);
	CU_ASSERT_FATAL(ctl_certs_crl_write(path, crl, err, sizeof(err)) == 0);
	CU_ASSERT(dp_tls_crl_load(fx.tls, path, err, sizeof(err)) == 1);
	CU_ASSERT(handshake_on(c1) == -1);
	CU_ASSERT(handshake_on(c2) == -1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_REFUSED_CERT) == 3);
	/* a CRL of another CA (empty, later): refused, the store unchanged */
	struct ctl_cert_req r = {.kind = CTL_CERT_CA, .cn = "other CA", .days = 2};
	X509_CRL_free(crl);
	crl = NULL;
	CU_ASSERT_FATAL(ctl_certs_make(&r, NULL, NULL, &ok, &other, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(ctl_certs_crl_make(ok, other, NULL, NULL, 0, now, 1, &crl, err,
					   sizeof(err)) == 0);
	CU_ASSERT_FATAL(ctl_certs_crl_write(path, crl, err, sizeof(err)) == 0);
	CU_ASSERT(dp_tls_crl_load(fx.tls, path, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not signed by the client CA"));
	CU_ASSERT(handshake_on(c1) == -1);
	/* not a CRL */
	CU_ASSERT(dp_tls_crl_load(fx.tls, "/dev/null", err, sizeof(err)) == -EINVAL);
	X509_CRL_free(crl);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(ok);
	X509_free(ca);
	X509_free(other);
	X509_free(m1);
	X509_free(m2);
	SSL_CTX_free(c0);
	SSL_CTX_free(c1);
	SSL_CTX_free(c2);
}

static void test_keyupdate_flood(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	struct tls_fx_conn c;
	CU_ASSERT_FATAL(tls_fx_open(&fx, &c, cc, NULL) == 0);
	CU_ASSERT_FATAL(tls_fx_handshake(&c) == 0);
	tls_fx_send_hello(&c, 1, 1);
	int rc = 0;
	for (unsigned int i = 0; i < 2 * DP_TLS_KEYUPDATE_BURST && rc == 0; i++) {
		SSL_key_update(c.c, SSL_KEY_UPDATE_REQUESTED);
		SSL_do_handshake(c.c); /* sends the KeyUpdate */
		ERR_clear_error();
		rc = tls_fx_pump(&c);
		uint8_t b[256];
		tls_fx_client_read(&c, b, sizeof(b)); /* take the server's KeyUpdate reply */
	}
	CU_ASSERT(rc == -ECONNRESET);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_KEYUPDATE_FLOOD) == 1);
	tls_fx_close(&c);
	SSL_CTX_free(cc);
}

enum bind_as { BIND_EXPORTER, BIND_ZEROS, BIND_OTHER };

/* A protocol-2 Hello frame for master 1 into buf. Returns its length or a negative errno. */
static ssize_t hello2_frame(uint8_t *buf, size_t cap)
{
	Decp__Hello h = DECP__HELLO__INIT;
	h.master_id = 1;
	h.protocol_version = PROTO_PROTOCOL_VERSION;
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
	mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	mf.hello = &h;
	return proto_msg_frame_pack(&mf.base, 4096, buf, cap);
}

/*
 * A protocol-2 login of master 1 (token "tls-token-1") over a fresh TLS connection, the
 * proof computed over: this connection's exporter, the zero binding, or the exporter of
 * `other` (another TLS connection: what a relaying man in the middle delivers). Returns the
 * kind of the first frame answering the proof (HELLO_ACK, NACK ...), -1 on a fixture error.
 */
static int login_bound(SSL_CTX *cc, enum bind_as as, struct tls_fx_conn *other)
{
	struct tls_fx_conn c;
	int kind = -1;
	if (tls_fx_open(&fx, &c, cc, NULL) != 0)
		return -1;
	uint8_t buf[512], b[PROTO_LOGIN_BINDING_LEN] = {0};
	ssize_t n = hello2_frame(buf, sizeof(buf));
	if (tls_fx_handshake(&c) != 0 || n < 0 || SSL_write(c.c, buf, (int)n) != (int)n)
		goto out;
	tls_fx_pump(&c);
	Decp__IngestFrame *ch = client_frame(&c);
	SSL *exp = as == BIND_EXPORTER ? c.c : as == BIND_OTHER ? other->c : NULL;
	if (ch == NULL || ch->kind_case != DECP__INGEST_FRAME__KIND_CHALLENGE ||
	    (exp != NULL && SSL_export_keying_material(exp, b, sizeof(b),
						       PROTO_LOGIN_EXPORTER_LABEL,
						       sizeof(PROTO_LOGIN_EXPORTER_LABEL) - 1,
						       NULL, 0, 0) != 1)) {
		proto_msg_free(ch != NULL ? &ch->base : NULL, NULL);
		goto out;
	}
	n = proto_login_proof_frame("tls-token-1", 11, ch->challenge->nonce.data,
				    ch->challenge->nonce.len, 1, b, buf, sizeof(buf));
	proto_msg_free(&ch->base, NULL);
	if (n < 0 || SSL_write(c.c, buf, (int)n) != (int)n)
		goto out;
	tls_fx_pump(&c);
	kind = first_reply(&c);
out:
	tls_fx_close(&c);
	return kind;
}

/* The first frame the server wrote on a plaintext link (consumed), decoded, or NULL. */
static Decp__IngestFrame *plain_frame(struct tls_fx_conn *c)
{
	const uint8_t *o;
	size_t m = dp_tls_conn_out(c->t, &o), len;
	Decp__IngestFrame *f = NULL;
	if (m >= 4 && (len = (size_t)o[0] << 24 | (size_t)o[1] << 16 | (size_t)o[2] << 8 | o[3]) +
			      4 <= m)
		f = proto_ingest_frame_decode(o + 4, len, NULL);
	dp_tls_conn_out_consume(c->t, m);
	return f;
}

/* tls = optional, a plaintext client: Hello, then a proof over `binding` (NULL: zeros).
 * Returns the kind of the frame answering the proof, -1 on a fixture error. */
static int plain_login(const uint8_t *binding)
{
	struct tls_fx_conn c;
	uint8_t buf[512];
	int kind = -1;
	if (tls_fx_open(&fx, &c, NULL, NULL) != 0)
		return -1;
	ssize_t n = hello2_frame(buf, sizeof(buf));
	if (n < 0 || dp_tls_conn_input(c.t, buf, (size_t)n, fx.now_ns, (int64_t)fx.now_ns) != 0)
		goto out;
	Decp__IngestFrame *ch = plain_frame(&c);
	if (ch == NULL || ch->kind_case != DECP__INGEST_FRAME__KIND_CHALLENGE) {
		proto_msg_free(ch != NULL ? &ch->base : NULL, NULL);
		goto out;
	}
	n = proto_login_proof_frame("tls-token-1", 11, ch->challenge->nonce.data,
				    ch->challenge->nonce.len, 1, binding, buf, sizeof(buf));
	proto_msg_free(&ch->base, NULL);
	if (n < 0)
		goto out;
	dp_tls_conn_input(c.t, buf, (size_t)n, fx.now_ns, (int64_t)fx.now_ns);
	Decp__IngestFrame *r = plain_frame(&c);
	kind = r != NULL ? (int)r->kind_case : -1;
	proto_msg_free(r != NULL ? &r->base : NULL, NULL);
out:
	tls_fx_close(&c);
	return kind;
}

/* tls = optional (docs/protocol.md "Channel binding"): a client that chose plaintext proves
 * over the zero binding, as with tls = off; a proof over an exporter is refused there; a
 * client that chose TLS must bind its exporter, as under required. */
static void test_binding_optional(void)
{
	static const uint8_t some[PROTO_LOGIN_BINDING_LEN] = {1, 2, 3};
	CU_ASSERT_FATAL(fx_up(DP_TLS_OPTIONAL, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	CU_ASSERT(plain_login(NULL) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_TLS_PLAIN_CONNS) == 1);
	CU_ASSERT(plain_login(some) == DECP__INGEST_FRAME__KIND_NACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_BAD_TOKEN) == 1);
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	CU_ASSERT_FATAL(cc != NULL);
	CU_ASSERT(login_bound(cc, BIND_EXPORTER, NULL) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(login_bound(cc, BIND_ZEROS, NULL) == DECP__INGEST_FRAME__KIND_NACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_UNBOUND) == 1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS) == 2);
	SSL_CTX_free(cc);
}

static void test_channel_binding(void)
{
	CU_ASSERT_FATAL(fx_up(DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 64) == 0);
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	CU_ASSERT_FATAL(cc != NULL);
	struct tls_fx_conn other;
	CU_ASSERT_FATAL(tls_fx_open(&fx, &other, cc, NULL) == 0);
	CU_ASSERT_FATAL(tls_fx_handshake(&other) == 0);
	CU_ASSERT(login_bound(cc, BIND_EXPORTER, NULL) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS) == 1);
	/* The zero binding on TLS: refused, told apart as "unbound". */
	CU_ASSERT(login_bound(cc, BIND_ZEROS, NULL) == DECP__INGEST_FRAME__KIND_NACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_UNBOUND) == 1);
	/* Relayed across two TLS connections: the other connection's exporter. */
	CU_ASSERT(login_bound(cc, BIND_OTHER, &other) == DECP__INGEST_FRAME__KIND_NACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_REASON_BASE + DP_REASON_BAD_TOKEN) == 1);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS) == 1);
	/* --tls-unbound-masters 1: the zero binding logs in, counted; the exporter still does,
	 * another connection's still does not. */
	fx.w->cfg.unbound_masters[0] = 1;
	fx.w->cfg.n_unbound = 1;
	CU_ASSERT(login_bound(cc, BIND_ZEROS, NULL) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS_UNBOUND) == 1);
	CU_ASSERT(login_bound(cc, BIND_EXPORTER, NULL) == DECP__INGEST_FRAME__KIND_HELLO_ACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS_UNBOUND) == 1);
	CU_ASSERT(login_bound(cc, BIND_OTHER, &other) == DECP__INGEST_FRAME__KIND_NACK);
	CU_ASSERT(tls_fx_ctr(&fx, DP_CTR_LOGINS) == 3);
	tls_fx_close(&other);
	SSL_CTX_free(cc);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("tls_units", NULL, NULL);
	CU_add_test(s, "client certificate identity (SAN URI) and bad requests", test_cert_identity);
	CU_add_test(s, "Hello/HelloAck over TLS 1.3, resumption from a ticket",
		    test_hello_over_tls_and_resume);
	CU_add_test(s, "TLS 1.2 ClientHello refused (tls_refused_version)", test_tls12_refused);
	CU_add_test(s, "plaintext: refused when required, passed through when optional",
		    test_plain_required_and_optional);
	CU_add_test(s, "garbage handshake; deadline boundary", test_garbage_and_deadline);
	CU_add_test(s, "handshakes per source limited (burst 3)", test_handshake_rate);
	CU_add_test(s, "client certificate naming another master refused at Hello",
		    test_client_cert_for_another_master);
	CU_add_test(s, "--tls-cert-masters: no certificate of the master refused at Hello",
		    test_cert_required_per_master);
	CU_add_test(s, "--tls-crl: revoked certificate refused, reissued CRL reloaded, a CRL of "
		    "another CA refused", test_crl);
	CU_add_test(s, "KeyUpdate flood cut", test_keyupdate_flood);
	CU_add_test(s, "channel binding: exporter logs in; zeros (unbound) and another "
		       "connection's exporter refused; --tls-unbound-masters", test_channel_binding);
	CU_add_test(s, "channel binding under tls = optional: plaintext proves over zeros, TLS "
		       "over its exporter", test_binding_optional);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	tls_fx_fini(&fx);
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
