/* tls_fx: in-process dp_tls fixture. Contract in tls_fx.h. */
#include "tls_fx.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "ctl_certs.h"
#include "decp.pb-c.h"
#include "proto_msg.h"
#include "proto_signal.h"

/* Thread CPU time (a system call, ~0.2 us: used around handshake steps only, which cost
 * hundreds of microseconds), so a busy shared machine does not inflate the figures. */
static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct dp_session *op_lookup(void *tctx, uint64_t conn_id)
{
	struct tls_fx *fx = tctx;
	return fx->live != NULL && fx->live->conn_id == conn_id ? fx->live : NULL;
}

static void op_kick(void *tctx, struct dp_session *s)
{
	(void)tctx;
	(void)s;
}

static uint64_t op_now(void *tctx)
{
	return ((struct tls_fx *)tctx)->now_ns;
}

static const struct dp_transport_ops fx_ops = {.lookup = op_lookup, .kick = op_kick,
					       .now_ns = op_now};

static int make_certs(struct tls_fx *fx)
{
	char err[512];
	EVP_PKEY *ck = NULL, *k = NULL;
	X509 *ca = NULL, *c = NULL;
	struct ctl_cert_req r = {.kind = CTL_CERT_CA, .cn = "fx CA", .days = 2};
	if (ctl_certs_make(&r, NULL, NULL, &ck, &ca, err, sizeof(err)) != 0 ||
	    ctl_certs_write(fx->dir, "ca", ck, ca, true, err, sizeof(err)) != 0)
		goto fail;
	struct ctl_cert_req s = {.kind = CTL_CERT_SERVER, .cn = "fx", .dns = {"localhost"}, .days = 2};
	if (ctl_certs_make(&s, ck, ca, &k, &c, err, sizeof(err)) != 0 ||
	    ctl_certs_write(fx->dir, "server", k, c, true, err, sizeof(err)) != 0)
		goto fail;
	for (uint64_t m = 1; m <= 2; m++) {
		EVP_PKEY_free(k);
		X509_free(c);
		k = NULL;
		c = NULL;
		char name[32];
		struct ctl_cert_req cr = {.kind = CTL_CERT_CLIENT, .master_id = m, .days = 2};
		snprintf(name, sizeof(name), "master-%llu", (unsigned long long)m);
		if (ctl_certs_make(&cr, ck, ca, &k, &c, err, sizeof(err)) != 0 ||
		    ctl_certs_write(fx->dir, name, k, c, true, err, sizeof(err)) != 0)
			goto fail;
	}
	EVP_PKEY_free(k);
	X509_free(c);
	EVP_PKEY_free(ck);
	X509_free(ca);
	return 0;
fail:
	fprintf(stderr, "tls_fx: certificates: %s\n", err);
	EVP_PKEY_free(k);
	X509_free(c);
	EVP_PKEY_free(ck);
	X509_free(ca);
	return -1;
}

static void add_master(struct tls_fx *fx, uint64_t id)
{
	struct dp_ctrl_cmd c[2];
	char tok[32];
	unsigned int len = 0, rej;
	memset(c, 0, sizeof(c));
	snprintf(tok, sizeof(tok), "tls-token-%llu", (unsigned long long)id);
	c[0].type = DP_CTRL_ADD_TOKEN;
	c[0].master_id = id;
	EVP_Digest(tok, strlen(tok), c[0].token_hash, &len, EVP_sha256(), NULL);
	c[1].type = DP_CTRL_SET_MASTER;
	c[1].master_id = id;
	c[1].secret_len = 32;
	memset(c[1].secret, 0x11, 32);
	dp_tables_apply(&fx->tables, c, 2, &rej);
}

int tls_fx_init(struct tls_fx *fx, enum dp_tls_mode mode, enum dp_tls_client_cert cc,
		uint32_t hs_burst)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/decp-tlsfx.XXXXXX");
	if (mkdtemp(fx->dir) == NULL || make_certs(fx) != 0)
		return -1;
	char name[64], path[80];
	snprintf(name, sizeof(name), "decp-tlsfx-%d", (int)getpid());
	struct dp_shm_params p = {.name = name, .n_workers = 1, .ingress_entries = 1024,
				  .ack_entries = 1024, .ctrl_entries = 16};
	/* allow_protocol_1: the fixture logs in with the token in Hello (tls_fx_send_hello);
	 * what it tests is the TLS layer, the protocol-2 login is tests/ingest's. */
	struct dp_session_cfg cfg = {.max_frame = 4096, .idle_timeout_ns = 30000000000ull,
				     .allow_protocol_1 = true};
	fx->w = calloc(1, sizeof(*fx->w));
	if (fx->w == NULL || dp_shm_create(&fx->shm, &p) != 0)
		return -1;
	fx->stage = 1;
	if (dp_tables_init(&fx->tables, 8) != 0)
		return -1;
	fx->stage = 2;
	snprintf(path, sizeof(path), "/%s", name);
	shm_unlink(path); /* the mapping stays valid; nothing outlives the process */
	dp_login_limiter_init(&fx->login, 1000, 1);
	if (dp_worker_init(fx->w, 0, &fx->shm, &fx->tables, &fx->login, &cfg, &fx_ops, fx) != 0)
		return -1;
	fx->stage = 3;
	add_master(fx, 1);
	add_master(fx, 2);
	add_master(fx, 3);
	atomic_store(&fx->shm.hdr->dp_ready, 1);
	dp_worker_poll_begin(fx->w);
	char cert[200], key[200], ca[200], err[512];
	snprintf(cert, sizeof(cert), "%s/server.crt", fx->dir);
	snprintf(key, sizeof(key), "%s/server.key", fx->dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->dir);
	struct dp_tls_cfg tc = {.mode = mode, .cert_file = cert, .key_file = key,
				.client_ca_file = cc != DP_TLS_CLIENT_CERT_NONE ? ca : NULL,
				.client_cert = cc, .handshake_timeout_ns = 2000000000ull,
				.handshake_burst = hs_burst, .handshake_refill_ns = 0};
	fx->tls = dp_tls_create(&tc, err, sizeof(err));
	if (fx->tls == NULL && mode != DP_TLS_OFF) {
		fprintf(stderr, "tls_fx: %s\n", err);
		return -1;
	}
	fx->now_ns = 1000000000ull;
	return 0;
}

void tls_fx_fini(struct tls_fx *fx)
{
	dp_tls_destroy(fx->tls);
	fx->tls = NULL;
	if (fx->stage >= 3)
		dp_worker_fini(fx->w);
	free(fx->w);
	fx->w = NULL;
	if (fx->stage >= 2)
		dp_tables_fini(&fx->tables);
	if (fx->stage >= 1)
		dp_shm_destroy(&fx->shm);
	fx->stage = 0;
	tls_fx_remove_files(fx);
}

void tls_fx_remove_files(struct tls_fx *fx)
{
	DIR *d = fx->dir[0] == '/' ? opendir(fx->dir) : NULL;
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char f[400];
			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", fx->dir, de->d_name);
			unlink(f);
		}
		closedir(d);
		rmdir(fx->dir);
	}
	fx->dir[0] = '\0';
}

SSL_CTX *tls_fx_client_ctx(struct tls_fx *fx, int min_version, int max_version,
			   uint64_t cert_master)
{
	char ca[200], crt[200], key[200];
	snprintf(ca, sizeof(ca), "%s/ca.crt", fx->dir);
	snprintf(crt, sizeof(crt), "%s/master-%llu.crt", fx->dir, (unsigned long long)cert_master);
	snprintf(key, sizeof(key), "%s/master-%llu.key", fx->dir, (unsigned long long)cert_master);
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL || SSL_CTX_set_min_proto_version(c, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(c, max_version) != 1 ||
	    SSL_CTX_load_verify_locations(c, ca, NULL) != 1 ||
	    (cert_master != 0 && (SSL_CTX_use_certificate_file(c, crt, SSL_FILETYPE_PEM) != 1 ||
				  SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1))) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
	return c;
}

int tls_fx_open(struct tls_fx *fx, struct tls_fx_conn *c, SSL_CTX *cctx, SSL_SESSION *sess)
{
	static uint64_t conn_seq;
	memset(c, 0, sizeof(*c));
	c->fx = fx;
	c->s = calloc(1, sizeof(*c->s));
	c->t = calloc(1, sizeof(*c->t));
	if (c->s == NULL || c->t == NULL)
		return -1;
	struct dp_peer peer = {.family = 2, .port = 1234, .addr = {127, 0, 0, 9}};
	dp_session_open(c->s, fx->w, ++conn_seq, &peer, fx->now_ns);
	fx->live = c->s;
	dp_tls_conn_open(c->t, fx->tls, c->s, fx->now_ns);
	if (cctx == NULL)
		return 0;
	BIO *inner = NULL;
	c->c = SSL_new(cctx);
	if (c->c == NULL || BIO_new_bio_pair(&inner, 64 * 1024, &c->net, 64 * 1024) != 1)
		return -1;
	SSL_set_bio(c->c, inner, inner);
	SSL_set_tlsext_host_name(c->c, "localhost");
	SSL_set1_host(c->c, "localhost");
	if (sess != NULL)
		SSL_set_session(c->c, sess);
	SSL_set_connect_state(c->c);
	return 0;
}

void tls_fx_close(struct tls_fx_conn *c)
{
	if (c->fx != NULL && c->fx->live == c->s)
		c->fx->live = NULL;
	if (c->s != NULL) {
		dp_session_close(c->s);
		dp_tls_conn_close(c->t);
		dp_session_release(c->s);
	}
	if (c->c != NULL)
		SSL_shutdown(c->c); /* else OpenSSL marks the client's session not resumable */
	SSL_free(c->c);
	BIO_free(c->net);
	free(c->s);
	free(c->t);
	memset(c, 0, sizeof(*c));
	ERR_clear_error();
}

int tls_fx_raw(struct tls_fx_conn *c, const uint8_t *p, size_t n)
{
	int rc = 0;
	while (n > 0 && rc == 0) {
		size_t k = n < DP_SESSION_RX_CHUNK ? n : DP_SESSION_RX_CHUNK;
		if (!dp_tls_conn_rx_ok(c->t))
			return -ENOBUFS;
		rc = dp_tls_conn_input(c->t, p, k, c->fx->now_ns, (int64_t)c->fx->now_ns);
		p += k;
		n -= k;
	}
	/* Drain what the server wrote (alerts) so its buffer never fills. */
	const uint8_t *o;
	size_t m = dp_tls_conn_out(c->t, &o);
	dp_tls_conn_out_consume(c->t, m);
	return rc;
}

int tls_fx_pump(struct tls_fx_conn *c)
{
	int rc = 0;
	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		uint8_t buf[DP_SESSION_RX_CHUNK];
		int n;
		while (rc == 0 && dp_tls_conn_rx_ok(c->t) &&
		       (n = BIO_read(c->net, buf, sizeof(buf))) > 0) {
			uint64_t t0 = mono();
			rc = dp_tls_conn_input(c->t, buf, (size_t)n, c->fx->now_ns,
					       (int64_t)c->fx->now_ns);
			c->fx->server_ns += mono() - t0;
			moved = true;
		}
		const uint8_t *o;
		size_t m;
		for (;;) {
			uint64_t t0 = mono();
			m = dp_tls_conn_out(c->t, &o);
			c->fx->server_ns += mono() - t0;
			if (m == 0)
				break;
			int w = BIO_write(c->net, o, (int)m);
			if (w <= 0)
				break;
			dp_tls_conn_out_consume(c->t, (size_t)w);
			moved = true;
		}
		if (rc == 0 && dp_tls_conn_stalled(c->t) && dp_session_rx_ok(c->s))
			rc = dp_tls_conn_input(c->t, NULL, 0, c->fx->now_ns, (int64_t)c->fx->now_ns);
		if (c->c != NULL && !SSL_is_init_finished(c->c)) {
			if (SSL_do_handshake(c->c) == 1)
				moved = true;
			ERR_clear_error();
		}
		if (!moved)
			break;
	}
	return rc;
}

int tls_fx_handshake(struct tls_fx_conn *c)
{
	for (int i = 0; i < 50 && !SSL_is_init_finished(c->c); i++) {
		int r = SSL_do_handshake(c->c);
		if (r != 1 && SSL_get_error(c->c, r) != SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			tls_fx_pump(c);
			return SSL_is_init_finished(c->c) ? 0 : -1;
		}
		tls_fx_pump(c);
	}
	return SSL_is_init_finished(c->c) ? 0 : -1;
}

ssize_t tls_fx_hello_frame(uint8_t *buf, size_t cap, uint64_t master_id, uint64_t token_of)
{
	char tok[32];
	snprintf(tok, sizeof(tok), "tls-token-%llu", (unsigned long long)token_of);
	Decp__Hello h = DECP__HELLO__INIT;
	h.license_token = tok;
	h.master_id = master_id;
	h.client_version = "tls_fx";
	h.protocol_version = PROTO_PROTOCOL_VERSION_TOKEN; /* allow_protocol_1, above */
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	f.hello = &h;
	return proto_msg_frame_pack(&f.base, 4096, buf, cap);
}

int tls_fx_send_hello(struct tls_fx_conn *c, uint64_t master_id, uint64_t token_of)
{
	uint8_t buf[512];
	ssize_t n = tls_fx_hello_frame(buf, sizeof(buf), master_id, token_of);
	if (n < 0 || SSL_write(c->c, buf, (int)n) != (int)n)
		return -1;
	tls_fx_pump(c);
	return 0;
}

size_t tls_fx_client_read(struct tls_fx_conn *c, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		int n = SSL_read(c->c, buf + got, (int)(cap - got));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	ERR_clear_error();
	return got;
}

uint64_t tls_fx_ctr(const struct tls_fx *fx, unsigned int ctr)
{
	return atomic_load_explicit(&fx->w->st->ctr[ctr], memory_order_relaxed);
}
