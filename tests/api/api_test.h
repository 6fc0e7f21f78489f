/*
 * api_test: what the api suite's scenarios share: a throw-away PostgreSQL (migrated) and
 * Redis from tests/harness, decp-control running the api and trust roles as a child
 * process, and an HTTP/1.1 client over kernel TCP (one connection per request): HTTPS
 * (TLS 1.3, verifying the test's own CA) unless the scenario sets `plain`, the one
 * explicit api_tls = off of the suite (issue 17).
 */
#ifndef DECP_TESTS_API_TEST_H
#define DECP_TESTS_API_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define API_TEST_ADMIN "test-admin-token-0123456789"

struct api_env {
	char dir[256];           /* temp dir: control.conf, control.log */
	char cfg[300];
	char log[300];
	char shm[64];
	const char *ctl_bin;
	struct harness_pg *pg;
	struct harness_redis *redis;
	PGconn *db;              /* owner connection for checks */
	int port;                /* api port */
	pid_t ctl;
	const char *extra;       /* extra config lines, or NULL */
	bool plain;              /* set before api_env_start: api_tls = off, plain HTTP */
	char tls_dir[300];       /* the test's certificate set (harness_tls_certs) */
	char ca[320];            /* tls_dir/ca.crt: what the client trusts */
};

struct ssl_ctx_st;
/* A client context: TLS versions min..max, verifying the server against ca (NULL: no CA
 * loaded, so verification fails). NULL on failure. */
struct ssl_ctx_st *api_tls_client_ctx(const char *ca, int min_version, int max_version);

/* Start PostgreSQL (migrated), Redis and decp-control (--roles api,trust) with `extra`
 * config lines; waits for /healthz. 0 or -1 (reason on stderr). */
int api_env_start(struct api_env *e, const char *ctl_bin, const char *extra);
/* Stop decp-control (SIGTERM, then SIGKILL) and start it again with `extra` config. */
int api_env_restart(struct api_env *e, const char *extra);
/* The end of a scenario program: api_env_stop (kept on failure), print "<scenario>: PASS"
 * or FAIL with the count of failed checks; returns the exit status (0 or 1). */
int api_env_finish(struct api_env *e, const char *scenario);
/* Stop everything and remove the temp dir (kept when keep is true, for debugging, or when
 * decp-control's log holds a sanitizer report). Returns 0, or -1 for such a report. */
int api_env_stop(struct api_env *e, bool keep);

struct http_resp {
	int status;              /* 0 when no response (connection closed / timeout) */
	char *body;              /* NUL-terminated */
	json_t *json;            /* parsed body, or NULL */
	char head[1024];         /* status line and header lines (cut), "" when none */
};

/* One request; token NULL = no Authorization header. Returns resp.status. */
int http(const struct api_env *e, const char *method, const char *path, const char *token,
	 const char *body, struct http_resp *resp);
/* http() with extra header lines (each ending CR LF; NULL = none). */
int http_h(const struct api_env *e, const char *method, const char *path, const char *token,
	   const char *headers, const char *body, struct http_resp *resp);
void http_free(struct http_resp *r);
/* The console's session cookie's name as this env's api sets it: `__Host-decp_console` over
 * HTTPS, `decp_console` on plain HTTP (docs/console.md). */
const char *api_cookie(const struct api_env *e);

/* n requests at once, each on its own connection: all are sent before any reply is read
 * (so the server has them all queued). tokens[i] may be NULL; out[i] gets reply i
 * (status 0 when none). Returns 0, or -1 when a request could not be sent. */
int http_many(const struct api_env *e, unsigned int n, const char *method, const char *path,
	      const char *const *tokens, const char *const *bodies, struct http_resp *out);
/* http_many in two halves, one path per request: http_send_many sends them (NULL when
 * out of memory; *failed counts requests not sent), http_recv_many reads the replies and
 * frees what the first half made. Between them the requests wait at the server. */
struct http_sent;
struct http_sent *http_send_many(const struct api_env *e, unsigned int n, const char *method,
				 const char *const *paths, const char *const *tokens,
				 const char *const *bodies, int *failed);
void http_recv_many(struct http_sent *s, struct http_resp *out);

/* Send raw bytes (possibly slowly: pause_ms between the two halves) and read the reply
 * until the server closes or timeout_ms passes. Returns the status line's code or 0. */
/* A console event stream held open (GET /v1/console/stream with token): the reply's
 * status once its head arrived (0: none within timeout_ms); api_stream_close ends it. */
struct api_stream {
	int fd;
	void *ssl;
};
int api_stream_open(const struct api_env *e, const char *token, struct api_stream *s,
		    unsigned int timeout_ms);
/* The same with a header line of its own (hdr ends in \r\n: a Cookie, say). */
int api_stream_open_h(const struct api_env *e, const char *hdr, struct api_stream *s,
		      unsigned int timeout_ms);
/* The server closed the stream within timeout_ms (what arrives is read and dropped). */
bool api_stream_ended(struct api_stream *s, unsigned int timeout_ms);
void api_stream_close(struct api_stream *s);
int http_raw(const struct api_env *e, const char *bytes, size_t n, unsigned int pause_ms,
	     unsigned int timeout_ms, char *out, size_t outlen);

/* One SQL value as a long long (-1 on error). */
long long db_count(struct api_env *e, const char *sql);

/* Integer / string member of a JSON reply, -1 / "" when absent. */
long long jint(const struct http_resp *r, const char *key);
const char *jstr(const struct http_resp *r, const char *key);

void sleep_ms(unsigned int ms);
uint64_t now_ms(void);

/* A master, subscribers A and B with a token each, a subscription each (sa, sb). */
struct world {
	long long master, sub_a, sub_b, sa, sb, tok_b_id;
	char tok_a[80], tok_b[80];
};
int world_make(struct api_env *e, struct world *w);
/* POST /v1/subscriptions|masters|... as the operator; the new id (token copied when
 * tok != NULL), -1 on failure. */
long long post_id(struct api_env *e, const char *path, const char *body, char *tok,
		  size_t toklen);
/* POST /v1/protection-events with one event per comma-separated reason; the status. */
int post_events(struct api_env *e, const char *tok, long long sub, const char *reasons);
/* GET .../trust until its inbox is drained and (want_score >= 0) the score is reached
 * (10 s). 0 or -1; *r holds the last reply either way. */
int trust_wait(struct api_env *e, long long sub, int want_score, struct http_resp *r);
/* decp-control's log holds needle. */
bool log_has(const struct api_env *e, const char *needle);
/* Value of one metric line ("name{labels} value") in /metrics, -1 when absent. */
double metric(struct api_env *e, const char *series);
/* GET /v1/subscriptions/{sub} into *r; its state ("" when none). */
const char *sub_state(struct api_env *e, long long sub, struct http_resp *r);

/* Check helper: prints file:line and the message, counts the failure. */
extern int api_failures;
#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
			api_failures++;                                                   \
		}                                                                         \
	} while (0)

#endif
