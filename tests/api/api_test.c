/* api_test: environment and HTTP client of the api suite (api_test.h). */
#include "api_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "cp_migrate.h"

int api_failures;

void sleep_ms(unsigned int ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_to(int port, unsigned int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The suite's client context: TLS 1.3, trusting the test's CA, verifying 127.0.0.1. */
static SSL_CTX *client_ctx(const struct api_env *e)
{
	static SSL_CTX *ctx;
	static char ca_of[sizeof(e->ca)];

	if (ctx != NULL && strcmp(ca_of, e->ca) == 0)
		return ctx;
	SSL_CTX_free(ctx);
	ctx = api_tls_client_ctx(e->ca, TLS1_3_VERSION, TLS1_3_VERSION);
	snprintf(ca_of, sizeof(ca_of), "%s", e->ca);
	return ctx;
}

SSL_CTX *api_tls_client_ctx(const char *ca, int min_version, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, min_version);
	SSL_CTX_set_max_proto_version(ctx, max_version);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		fprintf(stderr, "cannot load CA %s\n", ca);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* One client connection: fd, and its TLS session unless the api is plain. */
struct conn {
	int fd;
	SSL *ssl;
};

static int conn_open(const struct api_env *e, struct conn *c, unsigned int timeout_ms)
{
	c->ssl = NULL;
	c->fd = connect_to(e->port, timeout_ms);
	if (c->fd < 0 || e->plain)
		return c->fd < 0 ? -1 : 0;
	SSL_CTX *ctx = client_ctx(e);
	if (ctx == NULL || (c->ssl = SSL_new(ctx)) == NULL)
		goto fail;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set1_host(c->ssl, "127.0.0.1");
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	return -1;
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int send_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->ssl != NULL ? SSL_write(c->ssl, p, (int)n)
					   : send(c->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read until close or timeout into a growing buffer. */
static char *read_all(struct conn *c, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (n + 4096 + 1 > cap)
			b = realloc(b, cap *= 2);
		ssize_t r = c->ssl != NULL ? SSL_read(c->ssl, b + n, (int)(cap - n - 1))
					   : recv(c->fd, b + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

int api_stream_open(const struct api_env *e, const char *token, struct api_stream *s,
		    unsigned int timeout_ms)
{
	char h[400];

	snprintf(h, sizeof(h), "Authorization: Bearer %s\r\n", token);
	return api_stream_open_h(e, h, s, timeout_ms);
}

int api_stream_open_h(const struct api_env *e, const char *hdr, struct api_stream *s,
		      unsigned int timeout_ms)
{
	struct conn c;
	char req[512], b[4096] = "";
	size_t n = 0;
	int status = 0;
	uint64_t end = now_ms() + timeout_ms;

	s->fd = -1;
	s->ssl = NULL;
	if (conn_open(e, &c, timeout_ms) != 0)
		return 0;
	snprintf(req, sizeof(req), "GET /v1/console/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "%s\r\n", hdr);
	if (send_all(&c, req, strlen(req)) != 0) {
		conn_close(&c);
		return 0;
	}
	while (n + 1 < sizeof(b) && strstr(b, "\r\n\r\n") == NULL && now_ms() < end) {
		struct pollfd pf = {c.fd, POLLIN, 0};
		ssize_t r;

		b[n] = '\0';
		if ((c.ssl == NULL || SSL_pending(c.ssl) == 0) && poll(&pf, 1, 100) <= 0)
			continue;
		r = c.ssl != NULL ? SSL_read(c.ssl, b + n, (int)(sizeof(b) - n - 1))
				  : recv(c.fd, b + n, sizeof(b) - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		b[n] = '\0';
	}
	b[n] = '\0';
	sscanf(b, "HTTP/1.%*d %d", &status);
	s->fd = c.fd;
	s->ssl = c.ssl;
	return status;
}

bool api_stream_ended(struct api_stream *s, unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char b[512];

	while (now_ms() < end) {
		struct pollfd pf = {s->fd, POLLIN, 0};
		int r;

		if ((s->ssl == NULL || SSL_pending(s->ssl) == 0) && poll(&pf, 1, 100) <= 0)
			continue;
		r = s->ssl != NULL ? SSL_read(s->ssl, b, sizeof(b))
				   : (int)recv(s->fd, b, sizeof(b), 0);
		if (r <= 0)
			return true;
	}
	return false;
}

void api_stream_close(struct api_stream *s)
{
	struct conn c = {s->fd, s->ssl};

	conn_close(&c);
	s->fd = -1;
	s->ssl = NULL;
}

int http_raw(const struct api_env *e, const char *bytes, size_t n, unsigned int pause_ms,
	     unsigned int timeout_ms, char *out, size_t outlen)
{
	struct conn c;
	if (conn_open(e, &c, timeout_ms) != 0)
		return 0;
	size_t half = pause_ms ? n / 2 : n;
	if (send_all(&c, bytes, half) == 0 && pause_ms) {
		sleep_ms(pause_ms);
		send_all(&c, bytes + half, n - half);
	}
	size_t len;
	char *b = read_all(&c, &len);
	conn_close(&c);
	int status = 0;
	sscanf(b, "HTTP/1.%*d %d", &status);
	if (out != NULL && outlen > 0)
		snprintf(out, outlen, "%s", b);
	free(b);
	return status;
}

/* The bytes of one request (Connection: close). Returns a malloc'd buffer, length in *n. */
static char *request_make(const char *method, const char *path, const char *token,
			  const char *extra, const char *body, size_t *n)
{
	size_t bl = body ? strlen(body) : 0;
	size_t cap = bl + strlen(path) + (extra ? strlen(extra) : 0) + 512;
	char *req = malloc(cap);
	char auth[400] = "", clh[96] = "";
	if (token != NULL)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	if (body != NULL || strcmp(method, "POST") == 0)
		snprintf(clh, sizeof(clh), "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			 bl);
	int hl = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sConnection: close"
			  "\r\n\r\n", method, path, auth, clh, extra ? extra : "");
	memcpy(req + hl, body ? body : "", bl);
	*n = (size_t)hl + bl;
	return req;
}

/* Parse a whole reply b (freed) into resp. Returns resp->status. */
static int reply_parse(char *b, struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	if (b == NULL)
		return 0;
	sscanf(b, "HTTP/1.%*d %d", &resp->status);
	char *sep = strstr(b, "\r\n\r\n");
	snprintf(resp->head, sizeof(resp->head), "%.*s", sep ? (int)(sep - b) : 0, b);
	resp->body = strdup(sep ? sep + 4 : "");
	free(b);
	resp->json = json_loads(resp->body, JSON_DECODE_ANY, NULL);
	return resp->status;
}

int http(const struct api_env *e, const char *method, const char *path, const char *token,
	 const char *body, struct http_resp *resp)
{
	return http_h(e, method, path, token, NULL, body, resp);
}

const char *api_cookie(const struct api_env *e)
{
	return e->plain ? "decp_console" : "__Host-decp_console";
}

int http_h(const struct api_env *e, const char *method, const char *path, const char *token,
	   const char *headers, const char *body, struct http_resp *resp)
{
	size_t n, len = 0;
	char *req = request_make(method, path, token, headers, body, &n), *b = NULL;
	struct conn c;
	if (conn_open(e, &c, 10000) == 0) {
		if (send_all(&c, req, n) == 0)
			b = read_all(&c, &len);
		conn_close(&c);
	}
	free(req);
	return reply_parse(b, resp);
}

struct http_sent {
	unsigned int n;
	struct conn c[];
};

struct http_sent *http_send_many(const struct api_env *e, unsigned int n, const char *method,
				 const char *const *paths, const char *const *tokens,
				 const char *const *bodies, int *failed)
{
	struct http_sent *s = calloc(1, sizeof(*s) + n * sizeof(s->c[0]));
	*failed = 0;
	if (s == NULL)
		return NULL;
	s->n = n;
	for (unsigned int i = 0; i < n; i++)
		conn_open(e, &s->c[i], 10000);
	for (unsigned int i = 0; i < n; i++) {
		size_t len;
		char *req = request_make(method, paths[i], tokens[i], NULL, bodies[i], &len);
		if (s->c[i].fd < 0 || send_all(&s->c[i], req, len) != 0)
			(*failed)++;
		free(req);
	}
	return s;
}

void http_recv_many(struct http_sent *s, struct http_resp *out)
{
	for (unsigned int i = 0; i < s->n; i++) {
		size_t len;
		reply_parse(s->c[i].fd >= 0 ? read_all(&s->c[i], &len) : NULL, &out[i]);
		conn_close(&s->c[i]);
	}
	free(s);
}

int http_many(const struct api_env *e, unsigned int n, const char *method, const char *path,
	      const char *const *tokens, const char *const *bodies, struct http_resp *out)
{
	const char **paths = calloc(n, sizeof(*paths));
	int failed = 0;
	for (unsigned int i = 0; paths != NULL && i < n; i++)
		paths[i] = path;
	struct http_sent *s = paths ? http_send_many(e, n, method, paths, tokens, bodies, &failed)
				    : NULL;
	if (s == NULL) {
		free(paths);
		memset(out, 0, n * sizeof(*out));
		return -1;
	}
	http_recv_many(s, out);
	free(paths);
	return failed ? -1 : 0;
}

void http_free(struct http_resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

long long jint(const struct http_resp *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

const char *jstr(const struct http_resp *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);
	return json_is_string(v) ? json_string_value(v) : "";
}

long long db_count(struct api_env *e, const char *sql)
{
	PGresult *r = PQexec(e->db, sql);
	long long v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		fprintf(stderr, "db_count(%s): %s\n", sql, PQerrorMessage(e->db));
	PQclear(r);
	return v;
}

static void stop_ctl(struct api_env *e)
{
	if (e->ctl <= 0)
		return;
	kill(e->ctl, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(e->ctl, NULL, WNOHANG) == e->ctl) {
			e->ctl = 0;
			return;
		}
		sleep_ms(10);
	}
	kill(e->ctl, SIGKILL);
	waitpid(e->ctl, NULL, 0);
	e->ctl = 0;
}

static int write_cfg(struct api_env *e, const char *extra)
{
	uint8_t h[32];
	unsigned int hl = 0;
	char hex[65];
	EVP_Digest(API_TEST_ADMIN, strlen(API_TEST_ADMIN), h, &hl, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	/* decp-control connects as decp_app, the least-privileged role of 0004/0006, so a
	 * statement needing more than it was granted fails here as it would in production. */
	char conninfo[600];
	const char *ci = harness_pg_conninfo(e->pg), *u = strstr(ci, "user=postgres");
	if (u == NULL)
		return -1;
	snprintf(conninfo, sizeof(conninfo), "%.*suser=decp_app%s", (int)(u - ci), ci,
		 u + strlen("user=postgres"));
	/* extra may name a pg_conninfo of its own (a line of it): then it replaces ours */
	const char *own = extra != NULL ? strstr(extra, "pg_conninfo =") : NULL;
	bool pg_own = own != NULL && (own == extra || own[-1] == '\n');
	FILE *f = fopen(e->cfg, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "# written by the api suite\nroles = api,trust\nshm = %s\nredis_host = %s\n"
		"redis_port = %d\n%s%s%sapi_port = %d\napi_admin_token_sha256 = %s\n"
		"trust_tick_s = 1\ntrust_record_wait_s = 1\nbackoff_max_ms = 500\nlog_level = info\n", e->shm,
		harness_redis_host(e->redis), harness_redis_port(e->redis),
		pg_own ? "" : "pg_conninfo = ", pg_own ? "" : conninfo, pg_own ? "" : "\n",
		e->port, hex);
	if (e->plain) /* plain HTTP only when configured (issue 17) */
		fprintf(f, "api_tls = off\n");
	else
		fprintf(f, "api_cert = %s/server.crt\napi_key = %s/server.key\n", e->tls_dir,
			e->tls_dir);
	fprintf(f, "%s\n", extra ? extra : "");
	fclose(f);
	return 0;
}

static int start_ctl(struct api_env *e, const char *extra)
{
	if (write_cfg(e, extra) != 0)
		return -1;
	char *argv[] = {(char *)e->ctl_bin, "--config", e->cfg, NULL};
	e->ctl = harness_spawn(e->log, argv);
	for (int i = 0; i < 1000; i++) {
		struct http_resp r;
		if (http(e, "GET", "/healthz", NULL, NULL, &r) == 200) {
			http_free(&r);
			return 0;
		}
		http_free(&r);
		if (waitpid(e->ctl, NULL, WNOHANG) == e->ctl) {
			e->ctl = 0;
			break;
		}
		sleep_ms(20);
	}
	fprintf(stderr, "decp-control did not serve /healthz (log %s)\n", e->log);
	return -1;
}

int api_env_start(struct api_env *e, const char *ctl_bin, const char *extra)
{
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	e->ctl_bin = ctl_bin;
	snprintf(e->dir, sizeof(e->dir), "%s/decp-api-XXXXXX", tmp);
	if (mkdtemp(e->dir) == NULL)
		return -1;
	chmod(e->dir, 0755);
	snprintf(e->cfg, sizeof(e->cfg), "%s/control.conf", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/control.log", e->dir);
	snprintf(e->shm, sizeof(e->shm), "/decp-apitest-%d", (int)getpid());
	snprintf(e->tls_dir, sizeof(e->tls_dir), "%s/tls", e->dir);
	snprintf(e->ca, sizeof(e->ca), "%s/ca.crt", e->tls_dir);
	if (mkdir(e->tls_dir, 0700) != 0 || harness_tls_certs(e->tls_dir) != 0)
		return -1;
	e->redis = harness_redis_start(NULL);
	e->pg = harness_pg_start(NULL);
	if (e->redis == NULL || e->pg == NULL)
		return -1;
	e->db = PQconnectdb(harness_pg_conninfo(e->pg));
	char err[512];
	if (PQstatus(e->db) != CONNECTION_OK ||
	    cp_migrate_apply(e->db, NULL, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "migrations: %s\n", err);
		return -1;
	}
	e->port = harness_free_port();
	return e->port > 0 ? start_ctl(e, extra) : -1;
}

int api_env_restart(struct api_env *e, const char *extra)
{
	stop_ctl(e);
	return start_ctl(e, extra);
}

/* ASan/UBSan/LSan reports in decp-control's log (printed at the latest at its exit). */
static bool sanitizer_report(const struct api_env *e)
{
	FILE *f = fopen(e->log, "r");
	char line[1024];
	bool found = false;
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "Sanitizer") != NULL || strstr(line, "runtime error") != NULL;
	if (f != NULL)
		fclose(f);
	if (found)
		fprintf(stderr, "sanitizer report in %s\n", e->log);
	return found;
}

int api_env_stop(struct api_env *e, bool keep)
{
	stop_ctl(e);
	if (e->db != NULL)
		PQfinish(e->db);
	harness_pg_destroy(e->pg);
	harness_redis_destroy(e->redis);
	int rc = e->dir[0] != '\0' && sanitizer_report(e) ? -1 : 0;
	if (keep || rc != 0) {
		fprintf(stderr, "kept %s (control.log)\n", e->dir);
		return rc;
	}
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", e->dir);
	return 0;
}

/* ---- scenario helpers shared by the api and trust suites ---- */

long long post_id(struct api_env *e, const char *path, const char *body, char *tok,
			 size_t toklen)
{
	struct http_resp r;
	long long id = -1;
	if (http(e, "POST", path, API_TEST_ADMIN, body, &r) == 201) {
		id = jint(&r, "id");
		if (tok != NULL)
			snprintf(tok, toklen, "%s", jstr(&r, "token"));
	} else {
		fprintf(stderr, "POST %s: %d %s\n", path, r.status, r.body ? r.body : "");
	}
	http_free(&r);
	return id;
}

/* A master, subscribers A and B with a token each, a subscription each. */
int world_make(struct api_env *e, struct world *w)
{
	char path[128], body[256];
	memset(w, 0, sizeof(*w));
	w->master = post_id(e, "/v1/masters", "{\"name\":\"master-1\",\"ed25519_public_key\":"
			    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}",
			    NULL, 0);
	w->sub_a = post_id(e, "/v1/subscribers", "{\"name\":\"alice\"}", NULL, 0);
	w->sub_b = post_id(e, "/v1/subscribers", "{\"name\":\"bob\"}", NULL, 0);
	snprintf(path, sizeof(path), "/v1/subscribers/%lld/tokens", w->sub_a);
	post_id(e, path, "{\"label\":\"ea-a\"}", w->tok_a, sizeof(w->tok_a));
	snprintf(path, sizeof(path), "/v1/subscribers/%lld/tokens", w->sub_b);
	w->tok_b_id = post_id(e, path, "{}", w->tok_b, sizeof(w->tok_b));
	snprintf(body, sizeof(body), "{\"master_id\":%lld,\"subscriber_id\":%lld}", w->master,
		 w->sub_a);
	w->sa = post_id(e, "/v1/subscriptions", body, NULL, 0);
	snprintf(body, sizeof(body), "{\"master_id\":%lld,\"subscriber_id\":%lld,\"copy_policy\":"
		 "{\"mode\":\"FIXED\",\"lot_fixed\":0.1}}", w->master, w->sub_b);
	w->sb = post_id(e, "/v1/subscriptions", body, NULL, 0);
	if (w->master < 1 || w->sub_a < 1 || w->sub_b < 1 || w->sa < 1 || w->sb < 1 ||
	    strlen(w->tok_a) != 64 || strlen(w->tok_b) != 64) {
		fprintf(stderr, "world setup failed\n");
		return -1;
	}
	return 0;
}

int post_events(struct api_env *e, const char *tok, long long sub, const char *reasons)
{
	char body[4096], reason[64];
	size_t at = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
	for (const char *p = reasons; *p;) {
		size_t n = strcspn(p, ",");
		if (n >= sizeof(reason))
			n = sizeof(reason) - 1;
		memcpy(reason, p, n);
		reason[n] = '\0';
		at += (size_t)snprintf(body + at, sizeof(body) - at,
				       "%s{\"subscription_id\":%lld,\"reason\":\"%s\","
				       "\"latency_ms\":612.5,\"symbol\":\"EURUSD\"}",
				       p == reasons ? "" : ",", sub, reason);
		p += n + (p[n] == ',');
	}
	snprintf(body + at, sizeof(body) - at, "]}");
	struct http_resp r;
	int st = http(e, "POST", "/v1/protection-events", tok, body, &r);
	if (st != 202)
		fprintf(stderr, "protection-events: %d %s\n", st, r.body ? r.body : "");
	http_free(&r);
	return st;
}

/* Trust state once the inbox is drained and (want_score >= 0) the score is reached. */
int trust_wait(struct api_env *e, long long sub, int want_score, struct http_resp *r)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/subscriptions/%lld/trust", sub);
	uint64_t end = now_ms() + 10000;
	for (;;) {
		if (http(e, "GET", path, API_TEST_ADMIN, NULL, r) == 200 && jint(r, "pending_events") == 0 &&
		    (want_score < 0 || jint(r, "trust_score") == want_score))
			return 0;
		if (now_ms() > end)
			return -1;
		http_free(r);
		sleep_ms(50);
	}
}

bool log_has(const struct api_env *e, const char *needle)
{
	FILE *f = fopen(e->log, "r");
	char line[1024];
	bool found = false;
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

/* Value of one metric line ("name{labels} value") in /metrics, -1 when absent. */
double metric(struct api_env *e, const char *series)
{
	struct http_resp r;
	double v = -1;
	if (http(e, "GET", "/metrics", NULL, NULL, &r) == 200) {
		size_t n = strlen(series);
		for (char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (strncmp(p, series, n) == 0 && p[n] == ' ') {
				v = strtod(p + n + 1, NULL);
				break;
			}
	}
	http_free(&r);
	return v;
}

const char *sub_state(struct api_env *e, long long sub, struct http_resp *r)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/subscriptions/%lld", sub);
	http(e, "GET", path, API_TEST_ADMIN, NULL, r);
	return jstr(r, "state");
}

int api_env_finish(struct api_env *e, const char *scenario)
{
	if (api_env_stop(e, api_failures != 0) != 0)
		api_failures++;
	printf("%s: %s (%d failed checks)\n", scenario, api_failures ? "FAIL" : "PASS",
	       api_failures);
	return api_failures ? 1 : 0;
}
