/* cp_api: the api role's HTTP server, authentication, limits and dispatch (cp_api.h). */
#include "cp_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "cp_api_head.h"
#include "cp_api_pvt.h"
#include "cp_api_rd.h"
#include "cp_gate.h"
#include "cp_buf.h"
#include "cp_http.h"
#include "cp_log.h"
#include "cp_net.h"
#include "cp_rate.h"
#include "cp_tls.h"

#define ROLE "api"
#define API_QUERY_ARGS_MAX 32 /* query arguments per request (cp_api_head) */
#define TOKEN_MAX 256 /* a bearer token's length (CP_API_AUTH_MAX holds the header) */
#define RATE_SLOTS 65536u /* the rate limiter's buckets (24 bytes each): a power of 2 */
#define RATE_PROBE 8u     /* slots a caller's bucket may be in, from its hash on */

const uint64_t cp_api_lat_bounds_us[API_LAT_BUCKETS] = {100, 250, 500, 1000, 2000, 5000,
							10000, 25000, 50000, 100000, 1000000,
							UINT64_MAX};

/* Per-caller token bucket, indexed by a hash of the caller (admin or subscriber id). */
struct api_bucket {
	int64_t who;        /* -1 admin, else subscriber id; 0 = empty slot */
	struct cp_rate r;   /* api_rate_per_s, burst the same */
};

/* Bytes a client sent beyond the request being served (pipelined), at most: more while a
 * request is served means a client ignoring flow control, and it is disconnected. */
#define STASH_MAX (64u * 1024u)

/* The connection's place in its request cycle (cp_api_rd.h). */
enum conn_state {
	C_READ = 0,    /* reading a request */
	C_SERVE,       /* a handler runs or its reply is deferred (api_finish): nothing read */
	C_SEND,        /* the reply is queued or going out: then the next request */
	C_STREAM,      /* an event stream (the console's live updates): until it closes */
};

/* Which deadline lws is holding the connection to. */
enum conn_timer { T_HEAD = 0, T_BODY, T_NONE };

/*
 * One client connection: an lws raw socket (TLS inside lws on HTTPS) carrying our own
 * HTTP/1.1 (cp_api_rd.h). A session watcher (cp_api_batch.c) has the same user memory,
 * zeroed: client false.
 */
struct conn {
	bool client;
	enum conn_state st;
	enum conn_timer timer;
	bool hangup;              /* close once the reply is out */
	bool lingering;           /* our side is shut: input discarded until the peer closes */
	struct api_rd rd;
	struct api_pend *pend;    /* deferred: waiting for its transaction (cp_api_batch.c) */
	unsigned char *resp;      /* LWS_PRE + the whole reply, until written */
	size_t resp_len;
	bool push_due, ka_due;    /* C_STREAM: an event, a keep-alive comment to write */
	char *stash;              /* received and not yet read (pipelined requests) */
	size_t stash_len, stash_cap;
	uint64_t start_ns;
	/* parked (api_park): its request is served again from the reader's copy */
	bool parked;
	struct lws *wsi;
	struct conn *park_next;   /* struct api's list */
	unsigned int park_lane;
	uint64_t park_until_ns;   /* a probe's end of waiting (0: until the lane is idle) */
	bool rate_paid;           /* api_req.rate_paid when it was parked */
};

/* ------------------------------------------------------------------ replies */

void api_reply(struct api_req *r, int status, json_t *body)
{
	json_decref(r->out);
	r->status = status;
	r->out = body;
}

void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:s}", "code", code, "message", m);
	if (o == NULL) /* m is not valid UTF-8: client text cut by a %.Ns inside a character */
		o = json_pack("{s:s, s:s}", "code", code, "message", "(detail not representable)");
	api_reply(r, status, o);
}

/* A request id for a reply whose cause is only in our log: 16 hex digits, random (so it
 * says nothing about the request rate) and unique enough to grep for. */
static void api_request_id(char out[17])
{
	uint8_t b[8];

	if (RAND_bytes(b, sizeof(b)) != 1) { /* never on Linux; the clock then */
		uint64_t t = (uint64_t)cp_now_ns();
		memcpy(b, &t, sizeof(b));
	}
	api_hex(b, sizeof(b), out);
}

/*
 * The one map from a PostgreSQL error to a reply. Bad input reaches here only as a
 * constraint or data error (22xxx, 23xxx, our DPxxx codes): all 4xx. Only a server
 * that is down (503) or a genuine internal failure (500) are 5xx. The database's own
 * text (constraint, column and table names) never reaches the client: it is logged with
 * a request id, and the reply carries a fixed message per code and that id (issue 28).
 */
void api_pg_error(struct api_req *r, const PGresult *res)
{
	if (res == NULL) {
		api_error(r, 503, "db_unavailable", "PostgreSQL is unreachable; retry later");
		return;
	}
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	static const struct {
		const char *state; /* exact, or a 2-character class */
		int status;
		const char *code;
		const char *text;  /* the reply's message */
	} map[] = {
		{"DP001", 409, "immutable", "this field cannot be changed"},
		{"DP002", 409, "invalid_transition", "this state change is not allowed"},
		{"DP003", 409, "not_monotonic", "the value may only grow"},
		{"DP020", 422, "invalid_amount", "invalid amount"},
		{"DP021", 404, "not_found", "not found"},
		{"DP022", 409, "cancelled", "the subscription is cancelled"},
		{"DP030", 409, "insufficient_funds", "the balance does not cover this"},
		{"DP031", 409, "insufficient_reserved", "the reserved balance does not cover this"},
		{"DP024", 422, "idempotency_key_reused",
		 "this Idempotency-Key was used for another request"},
		{"23505", 409, "conflict", "a row with this key or name exists already"},
		{"23503", 404, "not_found", "a referenced row does not exist"},
		{"23514", 422, "invalid_value", "a value is out of its allowed range"},
		{"23502", 422, "missing_value", "a required value is missing"},
		{"57014", 503, "timeout", "the database took too long; retry later"},
		/* lock_timeout: api_lock_wait_ms (cp_pg lock_wait_ms) */
		{"55P03", 503, "timeout", "a row or table this request needs is locked by"
		 " another transaction; retry later"},
		/* no primary (a failover): the server is read-only now (25006, a demoted
		 * primary or a standby), shutting down or starting (57P01..57P03) */
		{"25006", 503, "db_unavailable", "PostgreSQL is unreachable; retry later"},
		{"57P", 503, "db_unavailable", "PostgreSQL is unreachable; retry later"},
		{"22", 422, "invalid_value", "a value is invalid"},
		{"08", 503, "db_unavailable", "PostgreSQL is unreachable; retry later"},
	};
	char rid[17];

	if (st == NULL)
		st = "";
	api_request_id(rid);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].state);
		if (strncmp(st, map[i].state, n) == 0) {
			cp_log(CP_LOG_INFO, ROLE, "request %s: %s %s: %d %s: sqlstate %s: %s", rid,
			       r->method == API_GET ? "GET" : "POST", r->path, map[i].status,
			       map[i].code, st, msg ? msg : "?");
			api_error(r, map[i].status, map[i].code, "%s (request %s)", map[i].text, rid);
			return;
		}
	}
	cp_log(CP_LOG_ERR, ROLE, "request %s: %s %s: sqlstate %s: %s", rid,
	       r->method == API_GET ? "GET" : "POST", r->path, st, msg ? msg : "?");
	api_error(r, 500, "internal", "internal error (request %s)", rid);
}

/* The result check of api_q / api_q_prep. */
static PGresult *api_checked(struct api_req *r, PGresult *res)
{
	if (res == NULL)
		api_pg_error(r, NULL);
	else if (!cp_pg_ok(res)) {
		api_pg_error(r, res);
		PQclear(res);
		res = NULL;
	}
	return res;
}

/*
 * A query on the read session (pg_read_conninfo: a replica, docs/api.md "Read replicas")
 * when there is one; NULL when there is none or it failed (not a SQL error: the replica
 * is down or went away), and a GET's caller runs the query on the primary, so a stopped
 * replica never fails a GET.
 */
static PGresult *read_q(struct api_req *r, int slot, const char *sql, int n,
			const char *const *params)
{
	struct cp_pg *p = &r->api->pg_read;
	PGresult *res = NULL;

	if (r->api->cfg->pg_read_conninfo[0] == '\0' || r->park != 0 || api_park(r, API_LANE_READ))
		return NULL;
	if (r->api->lane[API_LANE_READ].inflight != NULL)
		return NULL;   /* late: the primary answers */
	if (!api_batch_read_ready(r->api))
		return NULL;   /* connecting off the loop, or down: the primary answers */
	res = slot < 0 ? cp_pg_exec(p, sql, n, params)
		       : cp_pg_exec_prepared(p, (unsigned int)slot, sql, n, params);
	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR && p->conn != NULL &&
	    PQstatus(p->conn) != CONNECTION_OK) {
		PQclear(res);
		res = NULL;
	}
	if (res == NULL)
		cp_pg_reset(p); /* the next GET connects again (prefer-standby: maybe the primary) */
	return res;
}

/* The query on the primary's session (slot < 0: not prepared); 503 while that session
 * is down or connecting (api_batch_primary_ready), or busy past a late request's wait;
 * NULL without a reply when r is parked. */
static PGresult *primary_q(struct api_req *r, int slot, const char *sql, int n,
			   const char *const *params)
{
	struct cp_pg *p = &r->api->pg;
	PGresult *res = NULL;

	if (r->park != 0 || api_park(r, API_LANE_PRIMARY))
		return NULL;
	if (r->api->lane[API_LANE_PRIMARY].inflight == NULL && api_batch_primary_ready(r->api, true))
		res = slot < 0 ? cp_pg_exec(p, sql, n, params)
			       : cp_pg_exec_prepared(p, (unsigned int)slot, sql, n, params);
	return api_checked(r, res);
}

PGresult *api_q(struct api_req *r, const char *sql, int n, const char *const *params)
{
	PGresult *res = r->read ? read_q(r, -1, sql, n, params) : NULL;
	return res != NULL ? api_checked(r, res) : primary_q(r, -1, sql, n, params);
}

PGresult *api_q_prep(struct api_req *r, enum api_stmt slot, const char *sql, int n,
		     const char *const *params)
{
	PGresult *res = r->read ? read_q(r, (int)slot, sql, n, params) : NULL;
	return res != NULL ? api_checked(r, res) : primary_q(r, (int)slot, sql, n, params);
}

bool api_park(struct api_req *r, unsigned int lane)
{
	if (r->late || r->api->lane[lane].inflight == NULL)
		return false;
	r->park = lane + 1;
	return true;
}

/* Type OIDs of pg_type we convert (stable since forever). */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_JSON = 114,
       OID_JSONB = 3802 };

json_t *api_row(const PGresult *res, int i)
{
	json_t *o = json_object();
	for (int c = 0; c < PQnfields(res); c++) {
		const char *v = PQgetvalue(res, i, c);
		json_t *j;
		if (PQgetisnull(res, i, c))
			j = json_null();
		else switch (PQftype(res, c)) {
		case OID_BOOL: j = json_boolean(v[0] == 't'); break;
		case OID_INT2: case OID_INT4: case OID_INT8:
			j = json_integer(strtoll(v, NULL, 10)); break;
		case OID_JSON: case OID_JSONB:
			j = json_loads(v, JSON_DECODE_ANY, NULL);
			if (j == NULL)
				j = json_null();
			break;
		default: j = json_string(v); break; /* text, numeric (money as "12.34"), times */
		}
		json_object_set_new(o, PQfname(res, c), j);
	}
	return o;
}

json_t *api_rows(const PGresult *res)
{
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(a, api_row(res, i));
	return a;
}

/* ------------------------------------------------------------------ auth, limits */

char *api_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}


static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Keep the token cache true: LISTEN decp_subauth on every new session (dropping the cache,
 * since changes made while disconnected were not heard), and drop it on any notification.
 * Does not wait for an in-flight protection-event transaction (the session is healthy
 * while one is in flight; reading notifications meanwhile is fine).
 * Returns 0; -EAGAIN when the primary's session is down or connecting (no reply set: the
 * cache cannot be kept true then); -EIO when LISTEN failed (reply set).
 */
static int auth_cache_sync(struct api_req *r)
{
	struct api *a = r->api;
	/* a GET that may authenticate on the replica does not wait for a connection under way */
	if (!api_batch_primary_ready(a, !r->replica_auth))
		return -EAGAIN;
	bool drop = false;
	if (a->listen_session != a->pg.session) {
		PGresult *res = api_q(r, "LISTEN decp_subauth", 0, NULL);
		if (res == NULL)
			return -EIO;
		PQclear(res);
		a->listen_session = a->pg.session;
		drop = true;
	}
	uint64_t gen = atomic_load_explicit(&a->sh->auth_gen, memory_order_acquire);
	if (gen != a->auth_gen_seen) {
		a->auth_gen_seen = gen;
		drop = true;
	}
	api_notifies(a);
	drop |= a->auth_drop;
	a->auth_drop = false;
	if (drop)
		memset(a->auth, 0, API_AUTH_SLOTS * sizeof(*a->auth));
	return 0;
}

void api_notifies(struct api *a)
{
	PGnotify *n;

	if (!api_batch_primary_up(a))
		return;
	PQconsumeInput(a->pg.conn);
	while ((n = PQnotifies(a->pg.conn)) != NULL) {
		if (strcmp(n->relname, "decp_console") == 0)
			a->console_changed = true;
		else    /* decp_subauth (or anything unknown: drop, to be safe) */
			a->auth_drop = a->stream_check_due = true;
		PQfreemem(n);
	}
}

void api_auth_changed(struct api_req *r)
{
	atomic_fetch_add_explicit(&r->api->sh->auth_gen, 1, memory_order_release);
}

static struct api_auth_entry *auth_slot(struct api *a, const uint8_t h[32])
{
	uint64_t k;
	memcpy(&k, h, sizeof(k));
	return &a->auth[k % API_AUTH_SLOTS];
}

/* The expiry in Unix microseconds, clamped to int64: a time beyond it ('infinity', refused
 * by sql 0027's check but still possible in a row written around it) reads as the far
 * future, never as a failed cast that would answer every request with the token 500. */
static const char token_sql[] =
	"SELECT t.subscriber_id, coalesce(least(extract(epoch FROM t.expires_at) * 1000000,"
	" 9223372036854775807)::bigint, 9223372036854775807) FROM subscriber_tokens t"
	" JOIN subscribers s ON s.id = t.subscriber_id"
	" WHERE t.token_sha256 = $1::bytea AND t.revoked_at IS NULL"
	" AND (t.expires_at IS NULL OR t.expires_at > now()) AND s.disabled_at IS NULL";

/*
 * The subscriber of token digest h (cache, then subscriber_tokens), 0 when none, -EIO
 * (reply set). Looked up on the primary, so that a token made a moment ago is known. While
 * the primary's session is down or connecting (a failover), a GET that may read the
 * replica (replica_auth) looks its token up there instead, uncached: without the primary's
 * NOTIFY the cache cannot be kept true, and the replica has every revocation its replay
 * reached (docs/api.md "Read replicas").
 */
static int64_t subscriber_of(struct api_req *r, const uint8_t h[32])
{
	struct api *a = r->api;
	int rc = auth_cache_sync(r);
	if (rc == -EIO || (rc == -EAGAIN && !r->replica_auth)) {
		if (rc == -EAGAIN)
			api_pg_error(r, NULL);
		return -EIO;
	}
	struct api_auth_entry *e = rc == 0 ? auth_slot(a, h) : NULL;
	if (e != NULL && e->subscriber > 0 && CRYPTO_memcmp(e->hash, h, 32) == 0 &&
	    wall_us() < e->expires_us)
		return e->subscriber;
	char hex[3 + 64];
	hex[0] = '\\';
	hex[1] = 'x';
	api_hex(h, 32, hex + 2);
	const char *p[1] = {hex};
	PGresult *res = e != NULL ? primary_q(r, API_STMT_TOKEN, token_sql, 1, p)
				  : api_checked(r, read_q(r, API_STMT_TOKEN, token_sql, 1, p));
	if (res == NULL)
		return -EIO;
	int64_t sub = 0;
	if (PQntuples(res) == 1) {
		sub = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (e != NULL) {   /* only valid tokens are cached: garbage cannot evict them */
			memcpy(e->hash, h, 32);
			e->subscriber = sub;
			e->expires_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		}
	}
	PQclear(res);
	return sub;
}

/*
 * "Bearer <token>" -> caller. 0 on success; otherwise the reply (401/503) is set.
 * Tokens are compared as SHA-256 digests: with the admin digest and with cached digests
 * by CRYPTO_memcmp; in PostgreSQL by the unique index on the digest (a lookup by a hash
 * reveals nothing about the token through timing). A request without Authorization but
 * with the console's session cookie is the console's (api_console_auth).
 */
int api_authenticate(struct api_req *r, const char *hdr)
{
	static const char pfx[] = "Bearer ";
	uint8_t *h = r->token_sha256;
	unsigned int hl = 0;
	if (hdr[0] == '\0' && r->session != NULL && r->session[0] != '\0')
		return api_console_auth(r);
	if (hdr[0] == '\0') {
		api_error(r, 401, "unauthenticated", "missing 'Authorization: Bearer <token>'");
		return -EACCES;
	}
	const char *tok = NULL;
	size_t tl = 0;
	if (strncmp(hdr, pfx, sizeof(pfx) - 1) == 0) {
		tok = hdr + sizeof(pfx) - 1;
		tl = strlen(tok);
	}
	if (tl == 0 || tl > TOKEN_MAX || EVP_Digest(tok, tl, h, &hl, EVP_sha256(), NULL) != 1) {
		api_error(r, 401, "unauthenticated", "malformed Authorization header");
		return -EACCES;
	}
	if (r->api->sh->has_admin && CRYPTO_memcmp(h, r->api->sh->admin_hash, 32) == 0) {
		r->admin = true;
		return 0;
	}
	int64_t sub = subscriber_of(r, h);
	if (sub < 0)
		return -EIO;
	if (sub == 0) {
		api_error(r, 401, "unauthenticated", "unknown, revoked or expired token");
		return -EACCES;
	}
	r->subscriber = sub;
	return 0;
}

/* The caller's bucket: one of RATE_PROBE slots from its hash on. Another caller's bucket
 * is taken over only when it is empty or full again (that caller idle: a full bucket is
 * where it would start anyway). A caller's bucket was once reset to full whenever another
 * caller of the same slot came in between, so two colliding callers were never limited
 * (subscribers 6 and 616: 20 of 20 sign-ins at api_rate_per_s = 5). With every slot of
 * the window in use by active callers, the caller shares the emptiest: limited with it,
 * never reset. */
static struct api_bucket *rate_bucket(struct api_bucket *t, int64_t who, uint32_t rate,
				      int64_t now)
{
	uint64_t h = (uint64_t)who * 0x9E3779B97F4A7C15ull >> 48;
	struct api_bucket *reuse = NULL, *emptiest = NULL;

	for (uint32_t i = 0; i < RATE_PROBE; i++) {
		struct api_bucket *b = &t[(h + i) & (RATE_SLOTS - 1)];

		if (b->who == who)
			return b;
		if (reuse == NULL && (b->who == 0 || cp_rate_full(&b->r, now)))
			reuse = b;
		if (emptiest == NULL || b->r.tokens_ns < emptiest->r.tokens_ns)
			emptiest = b;
	}
	if (reuse == NULL)
		return emptiest;
	reuse->who = who;
	cp_rate_init(&reuse->r, rate, rate, now);
	return reuse;
}

/* Token bucket per caller: api_rate_per_s per second, burst of the same size, shared by
 * all workers (one short critical section per request). Also for a console sign-in, once
 * its caller is known (cp_api_console.c). */
int api_rate_check(struct api_req *r)
{
	struct api_shared *sh = r->api->sh;
	uint32_t rate = sh->cfg->api_rate_per_s;
	if (rate == 0 || sh->buckets == NULL)
		return 0;
	if (r->rate_paid)
		return 0;   /* charged before it was parked */
	int64_t who = r->admin ? -1 : r->subscriber, now = (int64_t)cp_now_ns();
	pthread_mutex_lock(&sh->rate_mu);
	bool ok = cp_rate_take(&rate_bucket(sh->buckets, who, rate, now)->r, now);
	pthread_mutex_unlock(&sh->rate_mu);
	if (!ok) {
		API_STAT_ADD(sh->st.rate_limited, 1);
		api_error(r, 429, "rate_limited", "more than %u requests per second", rate);
		return -EAGAIN;
	}
	r->rate_paid = true;
	return 0;
}

/* ------------------------------------------------------------------ routing */

/* Match "/v1/x/:id/y" against path, filling ids. Ids are 1..2^62 in decimal. */
static bool route_match(const char *pat, const char *path, int64_t *ids)
{
	int k = 0;
	while (*pat != '\0' && *path != '\0') {
		if (pat[0] == ':') {
			char *end;
			if (path[0] < '1' || path[0] > '9')
				return false;
			errno = 0;
			long long v = strtoll(path, &end, 10);
			if (errno != 0 || v > (1ll << 62) || (*end != '/' && *end != '\0') || k >= 2)
				return false;
			ids[k++] = v;
			path = end;
			pat += strcspn(pat, "/");
			continue;
		}
		if (*pat++ != *path++)
			return false;
	}
	return *pat == '\0' && *path == '\0';
}

static void dispatch(struct api_req *r, const char *body, size_t len, const char *auth)
{
	const struct api_route *rt = NULL;
	bool path_known = false, allow_get = false, allow_post = false;
	for (unsigned int i = 0; i < cp_api_nroutes; i++) {
		int64_t ids[2] = {0, 0};
		if (!route_match(cp_api_routes[i].pattern, r->path, ids))
			continue;
		path_known = true;
		allow_get |= cp_api_routes[i].method == API_GET;
		allow_post |= cp_api_routes[i].method == API_POST;
		if (cp_api_routes[i].method == r->method) {
			rt = &cp_api_routes[i];
			memcpy(r->id, ids, sizeof(ids));
			break;
		}
	}
	if (rt == NULL) {
		if (path_known) {
			/* RFC 9110 §15.5.6: a 405 lists the methods the resource has */
			api_error(r, 405, "method_not_allowed", "%s is not allowed on %s",
				  r->method == API_GET ? "GET" : "POST", r->path);
			snprintf(r->hdrs + strlen(r->hdrs), sizeof(r->hdrs) - strlen(r->hdrs),
				 "Allow: %s\r\n", allow_get && allow_post ? "GET, POST"
				 : allow_get ? "GET" : "POST");
		} else
			api_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	/* a GET that may read the replica (when there is one) may also authenticate there
	 * while the primary is away (subscriber_of); without one it waits for the primary's
	 * connection like any request (API_PG_GRACE_MS) */
	r->replica_auth = r->method == API_GET && !rt->primary &&
			  r->api->cfg->pg_read_conninfo[0] != '\0';
	if (rt->auth != API_PUBLIC) {
		if (api_authenticate(r, auth) != 0 || api_rate_check(r) != 0)
			return;
		if (rt->auth == API_ADMIN && !r->admin) {
			api_error(r, 403, "forbidden", "operator token required");
			return;
		}
	}
	if (rt->body) {
		json_error_t je;
		if (len == 0) {
			api_error(r, 400, "bad_json", "a JSON object body is required");
			return;
		}
		r->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
		if (r->body == NULL) {
			api_error(r, 400, "bad_json", "line %d column %d: %s", je.line, je.column,
				  je.text);
			return;
		}
		if (!json_is_object(r->body)) {
			api_error(r, 400, "bad_json", "the body must be a JSON object");
			return;
		}
	}
	/* what a GET's handler reads may come from the read replica (api_q) */
	r->read = r->method == API_GET && !rt->primary;
	rt->fn(r);
}

static void account(struct api *a, int status, uint64_t start_ns)
{
	struct api_stats *st = &a->sh->st;
	uint64_t us = (cp_now_ns() - start_ns) / 1000;
	API_STAT_ADD(st->requests, 1);
	if (status >= 100 && status < 600)
		API_STAT_ADD(st->by_status[status / 100], 1);
	for (int i = 0; i < API_LAT_BUCKETS; i++)
		if (us <= cp_api_lat_bounds_us[i]) {
			API_STAT_ADD(st->lat_bucket[i], 1);
			break;
		}
	API_STAT_ADD(st->lat_count, 1);
	API_STAT_ADD(st->lat_sum_us, us);
}

/* ------------------------------------------------------------------ lws glue */

/* Queue a whole reply (head and body, one buffer) for the writeable callback; the
 * connection closes after it when hangup. 0, or -1 (no memory: close). */
static int queue_reply(struct lws *wsi, const struct api *a, struct conn *c, const char *head,
		       size_t hl, const char *body, size_t bl)
{
	free(c->resp);
	c->resp = malloc(LWS_PRE + hl + bl);
	if (c->resp == NULL)
		return -1;
	memcpy(c->resp + LWS_PRE, head, hl);
	memcpy(c->resp + LWS_PRE + hl, body, bl);
	c->resp_len = hl + bl;
	c->st = C_SEND;
	/* a reader that does not take the reply is not waited for */
	c->timer = T_NONE;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)a->cfg->api_timeout_s);
	lws_callback_on_writable(wsi);
	return 0;
}

/* Send the reply of r (set by api_reply / api_error). Returns what the lws callback should
 * return. */
static int reply_send(struct lws *wsi, struct api *a, struct conn *c, struct api_req *r)
{
	if (r->out == NULL && r->text == NULL)
		api_error(r, 500, "internal", "handler gave no reply");

	char *txt = r->text;
	if (txt == NULL)
		txt = json_dumps(r->out, JSON_COMPACT);
	json_decref(r->out);
	r->out = NULL;
	size_t n = txt ? strlen(txt) : 0;
	char head[512 + sizeof(r->hdrs)];
	bool keep = c->rd.req.keep_alive;
	int hl;

	account(a, r->status, c->start_ns);
	if (r->stream && r->status == 200) {
		/* no length: the body is the events, until the connection closes */
		hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
			      "text/event-stream\r\nCache-Control: no-store\r\n"
			      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n");
		int rc = queue_reply(wsi, a, c, head, (size_t)hl, txt ? txt : "", n);

		free(txt);
		if (rc == 0) {
			c->st = C_STREAM;
			lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
			/* read again (what comes is dropped, on_rx): so the client's close is
			 * seen now and its place given back, not at the next keep-alive's
			 * failed write (15 s of 429 too_many_streams for a page reopened) */
			lws_rx_flow_control(wsi, 1);
		}
		return rc;
	}
	if (!keep)
		c->hangup = true;
	hl = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		      "Content-Length: %zu\r\nCache-Control: no-store\r\n"
		      "X-Content-Type-Options: nosniff\r\n%s%s%s%s\r\n", r->status,
		      cp_http_reason(r->status), r->ctype ? r->ctype : "application/json", n,
		      r->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
		      r->status == 429 || r->status == 503 ? "Retry-After: 1\r\n" : "",
		      !keep ? "Connection: close\r\n" : "", r->hdrs);
	int rc = hl > 0 && (size_t)hl < sizeof(head)
		 ? queue_reply(wsi, a, c, head, (size_t)hl, txt ? txt : "", n) : -1;
	free(txt);
	return rc;
}

void api_finish(struct api *a, struct lws *wsi, struct api_req *r)
{
	struct conn *c = lws_wsi_user(wsi);
	if (c == NULL || c->pend == NULL) {
		json_decref(r->out);
		return;
	}
	c->pend = NULL;
	if (reply_send(wsi, a, c, r) != 0) /* not in this wsi's callback: close it later */
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* Park c's request behind lane's statement in flight (api_park): served again by
 * api_resume. */
static void park(struct api *a, struct conn *c, struct lws *wsi, const struct api_req *r)
{
	c->parked = true;
	c->wsi = wsi;
	c->park_lane = r->park - 1;
	c->rate_paid = r->rate_paid;
	if (r->probe && c->park_until_ns == 0)
		c->park_until_ns = cp_now_ns() + API_PROBE_WAIT_MS * 1000000ull;
	c->park_next = NULL;
	*a->parked_tail = c;
	a->parked_tail = &c->park_next;
}

static void unpark(struct api *a, struct conn *c)
{
	struct conn **pp = &a->parked;
	while (*pp != NULL && *pp != c)
		pp = &(*pp)->park_next;
	if (*pp == c)
		*pp = c->park_next;
	if (a->parked_tail == &c->park_next)
		a->parked_tail = pp;
	c->parked = false;
}

/* Dispatch the complete request the reader holds (again, when it was parked; late: past
 * its wait), then reply (reply_send), or leave it to api_finish() when the handler
 * deferred it, or park it. Nothing more is read meanwhile. Returns what the lws callback
 * should return. */
static int serve_req(struct lws *wsi, struct api *a, struct conn *c, bool late)
{
	struct api_rd_req *q = &c->rd.req;
	struct api_req r = {.api = a, .wsi = wsi, .method = q->post ? API_POST : API_GET,
			    .path = q->path, .query = q->query, .auth = q->auth,
			    .session = a->cfg->api_tls ? q->session_tls : q->session_plain,
			    .console_hdr = q->console_hdr, .idem_key = q->idem_key,
			    .idem_bad = q->idem_bad, .rate_paid = c->rate_paid, .late = late};
	int rc = 0;

	dispatch(&r, q->body, q->len, q->auth);
	json_decref(r.body);
	if (r.park != 0) {
		/* nothing was done that a second dispatch would repeat (api_park) */
		json_decref(r.out);
		free(r.text);
		park(a, c, wsi, &r);
		return 0;
	}
	if (r.pend != NULL)
		c->pend = r.pend;   /* answered by api_finish() after its commit */
	else
		rc = reply_send(wsi, a, c, &r);
	if (rc == 0 && c->st == C_STREAM) {
		/* room checked by the handler */
		a->stream_owner[a->nstreams] = r.admin ? 0 : r.subscriber;
		snprintf(a->stream_session[a->nstreams], sizeof(a->stream_session[0]), "%s",
			 r.auth != NULL && r.auth[0] != '\0' ? "" : r.session);
		memcpy(a->stream_token[a->nstreams], r.token_sha256, 32);
		a->streams[a->nstreams++] = wsi;
	}
	return rc;
}

/* Serve the complete request the reader holds (serve_req), then send what it queued. */
static int serve(struct lws *wsi, struct api *a, struct conn *c)
{
	c->st = C_SERVE;
	c->timer = T_NONE;
	c->start_ns = cp_now_ns();
	c->park_until_ns = 0;
	c->rate_paid = false;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_rx_flow_control(wsi, 0);
	int rc = serve_req(wsi, a, c, false);
	api_batch_kick(a);
	return rc;
}

void api_resume(struct api *a)
{
	struct conn *c = a->parked, *next;
	uint64_t now = cp_now_ns();

	a->parked = NULL;   /* what parks again goes to a new list, in order */
	a->parked_tail = &a->parked;
	for (; c != NULL; c = next) {
		next = c->park_next;
		bool late = c->park_until_ns != 0 && now >= c->park_until_ns;
		if (a->lane[c->park_lane].inflight != NULL && !late) {
			c->park_next = NULL;
			*a->parked_tail = c;
			a->parked_tail = &c->park_next;
			continue;
		}
		c->parked = false;
		if (serve_req(c->wsi, a, c, late) != 0)   /* not in its callback */
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	}
}

/* The reader refused the request (cp_api_rd.h): its JSON answer, then close. */
static int refuse(struct lws *wsi, struct api *a, struct conn *c)
{
	char reply[512];
	size_t n = api_head_reply(&c->rd.v, reply, sizeof(reply));

	API_STAT_ADD(a->sh->st.head_refused, 1);
	c->hangup = true;
	return n > 0 ? queue_reply(wsi, a, c, reply, n, "", 0) : -1;
}

/* Read what the connection has stashed: requests are served one at a time, in order.
 * Returns what the lws callback should return. */
static int pump(struct lws *wsi, struct api *a, struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	while (c->st == C_READ && !c->hangup) {
		enum api_rd_ev ev;
		long n = api_rd_feed(&c->rd, c->stash, c->stash_len, &ev);

		if (n < 0)
			return -1;
		c->stash_len -= (size_t)n;
		memmove(c->stash, c->stash + n, c->stash_len);
		if (ev == API_RD_MORE && c->rd.want_continue) {
			unsigned char b[LWS_PRE + sizeof(cont)];

			c->rd.want_continue = false;
			memcpy(b + LWS_PRE, cont, sizeof(cont) - 1);
			if (lws_write(wsi, b + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_RAW) < 0)
				return -1;
		}
		if (ev == API_RD_REFUSE)
			return refuse(wsi, a, c);
		if (ev == API_RD_REQUEST) {
			int rc = serve(wsi, a, c);

			if (rc != 0)
				return rc;
			continue;
		}
		/* more to come: a body is bounded by api_timeout_s from its start (a head by
		 * the deadline set when the connection came or went idle) */
		if (c->rd.st != API_RD_HEAD && c->timer != T_BODY) {
			c->timer = T_BODY;
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)a->cfg->api_timeout_s);
		}
		return 0;
	}
	return 0;
}

/* Bytes from the client (plaintext after TLS). */
static int on_rx(struct lws *wsi, struct api *a, struct conn *c, const char *in, size_t len)
{
	if (c->hangup || c->st == C_STREAM)
		return 0; /* our last bytes are going out, or a stream: the rest is not read */
	if (c->stash_len + len > STASH_MAX ||
	    cp_buf_grow(&c->stash, &c->stash_cap, c->stash_len + len, 4096) != 0)
		return -1;
	memcpy(c->stash + c->stash_len, in, len);
	c->stash_len += len;
	return pump(wsi, a, c);
}

/*
 * The last reply is out and the connection ends. Closing now could lose it: a refusal
 * comes before the body it refuses is read (an early 413), and a socket closed with
 * unread input sends a reset that destroys what the peer has not read yet. So the close
 * is a lingering one (as web servers do): TLS close_notify and FIN now, input read and
 * dropped until the peer closes, at most 2 s.
 */
static int linger(struct lws *wsi, struct conn *c)
{
	SSL *ssl = lws_get_ssl(wsi);
	int fd = (int)lws_get_socket_fd(wsi);

	if (c->lingering || fd < 0)
		return -1; /* 2 s are up, or lws is closing it anyway */
	c->lingering = true;
	if (ssl != NULL)
		(void)SSL_shutdown(ssl); /* our close_notify only; the peer's is not awaited */
	if (shutdown(fd, SHUT_WR) != 0)
		return -1;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 2);
	return 0;
}

/* An event stream takes more: the change event (the page re-reads what it shows) and the
 * keep-alive comment, each only when the previous bytes are out (a slow reader gets one
 * event for many changes, never a backlog). */
static int stream_write(struct lws *wsi, struct conn *c)
{
	static const char ev[] = "event: change\ndata: {}\n\n", ka[] = ": keep-alive\n\n";
	unsigned char b[LWS_PRE + sizeof(ev)];

	if (c->push_due || c->ka_due) {
		const char *m = c->push_due ? ev : ka;
		size_t n = c->push_due ? sizeof(ev) - 1 : sizeof(ka) - 1;

		c->push_due = false;
		c->ka_due = false;
		memcpy(b + LWS_PRE, m, n);
		if (lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_RAW) < 0)
			return -1;
	}
	return 0;
}

void api_stream_due(struct lws *wsi, bool push)
{
	struct conn *c = lws_wsi_user(wsi);

	if (c == NULL || c->st != C_STREAM)
		return;
	if (push)
		c->push_due = true;
	else
		c->ka_due = true;
	lws_callback_on_writable(wsi);
}

void api_stream_end(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* The socket takes more: the queued reply; once it is out, close, or read the next
 * request. */
static int on_writeable(struct lws *wsi, struct api *a, struct conn *c)
{
	if (c->resp != NULL) {
		int w = lws_write(wsi, c->resp + LWS_PRE, c->resp_len, LWS_WRITE_RAW);

		free(c->resp);
		c->resp = NULL;
		if (w < 0)
			return -1;
	}
	if (lws_partial_buffered(wsi)) { /* lws keeps the rest: wait until it is out */
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->hangup)
		return linger(wsi, c);
	if (c->st == C_STREAM)
		return stream_write(wsi, c);
	if (c->st != C_SEND)
		return 0;
	/* keep-alive: idle until the next request, for at most api_timeout_s */
	api_rd_next(&c->rd);
	c->st = C_READ;
	c->timer = T_HEAD;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)a->cfg->api_timeout_s);
	lws_rx_flow_control(wsi, 1);
	return pump(wsi, a, c);
}

/* A connection passed the gate and lws adopted it: its first request head (and on HTTPS
 * the handshake before it) within api_header_timeout_ms, rounded up to seconds. */
static int on_adopt(struct lws *wsi, struct api *a, struct conn *c)
{
	struct api_head_limits lim = {.target_max = CP_API_TARGET_MAX,
				      .query_args_max = API_QUERY_ARGS_MAX,
				      .max_body = a->cfg->api_max_body};

	memset(c, 0, sizeof(*c));
	c->client = true;
	api_rd_init(&c->rd, &lim);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			(int)((a->cfg->api_header_timeout_ms + 999) / 1000));
	return 0;
}

static void on_closed(struct lws *wsi, struct api *a, struct conn *c)
{
	if (!c->client)
		return;
	if (c->st == C_STREAM)
		for (unsigned int i = 0; i < a->nstreams; i++)
			if (a->streams[i] == wsi) {
				a->streams[i] = a->streams[--a->nstreams];
				a->stream_owner[i] = a->stream_owner[a->nstreams];
				memcpy(a->stream_session[i], a->stream_session[a->nstreams],
				       sizeof(a->stream_session[0]));
				memcpy(a->stream_token[i], a->stream_token[a->nstreams], 32);
				break;
			}
	if (c->pend != NULL)
		api_batch_detach(c->pend);
	c->pend = NULL;
	if (c->parked)
		unpark(a, c);
	free(c->resp);
	free(c->stash);
	c->resp = NULL;
	c->stash = NULL;
	api_rd_fini(&c->rd);
	c->client = false;
}

/* ---------------------------------------------------------------- the gate -- */

/* A connection that passed the gate, waiting in a worker's inbox. */
struct api_adopt {
	struct api_adopt *next;
	int fd;
};

/* A connection passed the gate (gate thread): to the next serving worker, round robin
 * (adopt_inbox). None serving: closed. The head the gate saw is still in the socket. */
static void gate_handoff(void *arg, int fd, const char *head, size_t len)
{
	struct api_shared *sh = arg;
	unsigned int n = sh->cfg->api_threads;
	struct api_adopt *ad = malloc(sizeof(*ad));

	(void)head;
	(void)len;
	if (ad == NULL) {
		close(fd);
		return;
	}
	ad->fd = fd;
	for (unsigned int t = 0; t < n; t++) {
		struct api_inbox *in = &sh->inbox[atomic_fetch_add(&sh->next_worker, 1) % n];

		pthread_mutex_lock(&in->mu);
		if (in->ctx != NULL) {
			struct api_adopt **pp = &in->head;

			while (*pp != NULL) /* FIFO; an inbox holds what arrived in one loop turn */
				pp = &(*pp)->next;
			ad->next = NULL;
			*pp = ad;
			lws_cancel_service(in->ctx);
			pthread_mutex_unlock(&in->mu);
			return;
		}
		pthread_mutex_unlock(&in->mu);
	}
	close(fd);
	free(ad);
}

/* The worker's inbox into its lws context (EVENT_WAIT_CANCELLED), as raw sockets (TLS
 * inside lws on HTTPS) that speak our HTTP/1.1 (cp_api_rd.h). */
static int adopt_inbox(struct api *a)
{
	struct api_inbox *in = &a->sh->inbox[a->idx];
	struct api_adopt *ad, *next;
	struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
	int type = LWS_ADOPT_SOCKET | (a->cfg->api_tls ? LWS_ADOPT_ALLOW_SSL : 0);

	pthread_mutex_lock(&in->mu);
	ad = in->head;
	in->head = NULL;
	pthread_mutex_unlock(&in->mu);
	for (; ad != NULL; ad = next) {
		lws_sock_file_fd_type sock = {.sockfd = ad->fd};

		next = ad->next;
		/* lws closes fd itself when the adoption fails */
		if (vh == NULL)
			close(ad->fd);
		else
			(void)lws_adopt_descriptor_vhost(vh, (lws_adoption_type)type, sock, "api", NULL);
		free(ad);
	}
	return 0;
}

static int callback_api(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct conn *c = user;
	struct api *a = lws_context_user(lws_get_context(wsi));

	if (a == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:      /* a PostgreSQL session's socket (cp_api_batch.c) */
		return api_batch_readable(a, wsi);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		api_batch_closed(a, wsi);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:   /* the gate, or a session's connector */
		api_batch_kick(a);
		return adopt_inbox(a);
	case LWS_CALLBACK_RAW_ADOPT:
		return c != NULL ? on_adopt(wsi, a, c) : -1;
	case LWS_CALLBACK_RAW_RX:
		return c != NULL && c->client ? on_rx(wsi, a, c, in, len) : -1;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return c != NULL && c->client ? on_writeable(wsi, a, c) : 0;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c != NULL)
			on_closed(wsi, a, c);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{"api", callback_api, sizeof(struct conn), 16384, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* lws 4 sleeps until its next timer: a 100 ms timer bounds how late *stop is noticed. */
struct waker {
	lws_sorted_usec_list_t sul;
	struct lws_context *ctx;
};

static void wake_cb(lws_sorted_usec_list_t *sul)
{
	struct waker *w = lws_container_of(sul, struct waker, sul);
	api_batch_kick(lws_context_user(w->ctx)); /* backstop: a result read by another call */
	api_console_tick(lws_context_user(w->ctx));
	lws_sul_schedule(w->ctx, 0, &w->sul, wake_cb, 100000);
}

static int shared_init(struct api_shared *sh, const struct cp_config *cfg)
{
	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	sh->listen_fd = -1;
	pthread_mutex_init(&sh->rate_mu, NULL);
	for (unsigned int i = 0; i < CP_API_MAX_THREADS; i++)
		pthread_mutex_init(&sh->inbox[i].mu, NULL);
	if (!cfg->api_tls)
		cp_tls_warn_plain(ROLE, "api_tls");
	else if (cp_tls_server_check(ROLE, cfg->api_cert, cfg->api_key) != 0)
		return -EINVAL;
	/* the role listens, never lws: the gate (cp_gate.h) accepts and holds connections
	 * until their request head is complete, then hands them to a worker. The accept
	 * queue as deep as the kernel allows (net.core.somaxconn, 4096 on Debian 12), as the
	 * fan-out's: under a connection flood a full queue drops new SYNs, and a client's
	 * retransmission comes 1 s later (api_flood saw one probe lost so at 1,024) */
	if ((sh->listen_fd = cp_net_listen(cfg->api_listen, cfg->api_port, false, 4096, NULL)) < 0) {
		int e = sh->listen_fd;
		cp_log(CP_LOG_ERR, ROLE, "cannot listen on %s:%u: %s", cfg->api_listen, cfg->api_port,
		       strerror(-e));
		sh->listen_fd = -1;
		return e;
	}
	if (cfg->api_admin_token_sha256[0] != '\0') {
		if (cp_hex_decode(cfg->api_admin_token_sha256, sh->admin_hash, 32) != 0)
			return -EINVAL;
		sh->has_admin = true;
	} else {
		cp_log(CP_LOG_WARN, ROLE, "api_admin_token_sha256 not set: operator endpoints refuse "
		       "every token (docs/api.md: bootstrap)");
	}
	if (cfg->api_rate_per_s > 0 &&
	    (sh->buckets = calloc(RATE_SLOTS, sizeof(*sh->buckets))) == NULL)
		return -ENOMEM;
	return 0;
}

/* The gate in front of the workers (worker 0 starts it once its context exists). */
static int gate_start(struct api_shared *sh)
{
	const struct cp_config *cfg = sh->cfg;
	struct cp_gate_cfg g = {
		.name = ROLE, .listen_fd = sh->listen_fd, .max_pending = cfg->api_preauth_max,
		.per_source = cfg->api_preauth_per_source, .source_rate = cfg->api_preauth_rate,
		.head_timeout_ms = cfg->api_header_timeout_ms,
		/* HTTPS: the head is encrypted; the gate hands the connection over once its
		 * ClientHello is in, and the worker's reader checks the head (cp_api_rd) */
		.peek_only = cfg->api_tls, .head_check = NULL,
		.too_large_reply = sh->too_large, .handoff = gate_handoff, .arg = sh};

	/* the gate's 431 is the reader's (cp_api_rd): one text for a head over 4 KiB */
	if (cp_http_error_reply(431, "headers_too_large", API_RD_TOO_LARGE, NULL,
				sh->too_large, sizeof(sh->too_large)) == 0)
		return -ENOBUFS;
	sh->listen_fd = -1; /* the gate's now, also on failure */
	sh->gate = cp_gate_start(&g);
	if (sh->gate == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "cannot start the connection gate: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* One worker: its lws context (listening itself, or polling the shared listener),
 * served until *stop. Returns 0, or -EADDRINUSE / -ENOMEM at start. */
static int worker_run(struct api_shared *sh, unsigned int idx, const atomic_int *stop)
{
	const struct cp_config *cfg = sh->cfg;
	struct api a = {.cfg = cfg, .sh = sh};
	struct lws_context_creation_info info;
	struct ssl_ctx_st *no_client = NULL; /* lws's client context (cp_tls.h), HTTPS only */

	cp_pg_init(&a.pg, cfg, ROLE, NULL);
	cp_pg_init(&a.pg_read, cfg, "api-read", NULL);
	/* the read session: the replica when one is named, else a second session of the
	 * primary for the grouped reads (they never wait behind a POST's transaction) */
	a.pg_read.conninfo = cfg->pg_read_conninfo[0] != '\0' ? cfg->pg_read_conninfo : NULL;
	/* the synchronous statements run on the loop: a lock they wait for holds it (and every
	 * request of the worker) only this long; the asynchronous ones (cp_api_batch.c) are
	 * sent without cp_pg_exec and wait as before */
	a.pg.lock_wait_ms = cfg->api_lock_wait_ms;
	a.pg_read.lock_wait_ms = cfg->api_lock_wait_ms;
	a.lane[API_LANE_PRIMARY].pg = &a.pg;
	a.lane[API_LANE_READ].pg = &a.pg_read;
	a.lane[API_LANE_READ].fallback = &a.lane[API_LANE_PRIMARY];
	cp_redis_init(&a.redis, cfg, ROLE);
	cp_redis_partial(&a.redis);   /* a cluster: a dead primary fails only its masters' books */
	a.idx = idx;
	a.parked_tail = &a.parked;
	if ((a.auth = calloc(API_AUTH_SLOTS, sizeof(*a.auth))) == NULL) {
		atomic_store(&sh->abort, 1);
		return -ENOMEM;
	}
	memset(&info, 0, sizeof(info));
	/* lws listens on nothing: the gate hands each connection to a worker's inbox */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.iface = cfg->api_listen;
	info.protocols = protocols;
	info.user = &a;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = cfg->api_timeout_s;      /* lws's own waits (the TLS handshake) */
	info.count_threads = 1;
	struct lws_context *ctx = NULL;
	if (!cfg->api_tls || cp_tls_lws_server(&info, cfg->api_cert, cfg->api_key, &no_client) == 0)
		ctx = lws_create_context(&info);
	if (ctx == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "worker %u: cannot create its lws context", idx);
		atomic_store(&sh->abort, 1);
		cp_tls_lws_server_done(no_client);
		free(a.auth);
		return -ENOMEM;
	}
	a.ctx = ctx;
	for (unsigned int i = 0; i < API_LANES; i++)
		a.lane[i].ctx = ctx;
	pthread_mutex_lock(&sh->inbox[idx].mu);
	sh->inbox[idx].ctx = ctx; /* the gate may hand connections to this worker now */
	pthread_mutex_unlock(&sh->inbox[idx].mu);
	if (idx == 0 && gate_start(sh) != 0)
		atomic_store(&sh->abort, 1);
	if (idx == 0)
		cp_log(CP_LOG_INFO, ROLE, "listening on %s://%s:%u/v1 with %u worker(s) (operator "
		       "token %s)", cfg->api_tls ? "https" : "http", cfg->api_listen, cfg->api_port,
		       cfg->api_threads,
		       sh->has_admin ? "configured" : "NOT configured");
	cp_pg_ensure(&a.pg);
	struct waker w = {.ctx = ctx};
	lws_sul_schedule(ctx, 0, &w.sul, wake_cb, 100000);
	while (!atomic_load(stop) && !atomic_load(&sh->abort))
		if (lws_service(ctx, 100) < 0)
			break;
	lws_sul_cancel(&w.sul);
	/* no more handoffs to this worker; the gate itself stops once every worker has
	 * (cp_api_run), so that no /metrics reads a stopped gate */
	pthread_mutex_lock(&sh->inbox[idx].mu);
	sh->inbox[idx].ctx = NULL;
	struct api_adopt *left = sh->inbox[idx].head;
	sh->inbox[idx].head = NULL;
	pthread_mutex_unlock(&sh->inbox[idx].mu);
	while (left != NULL) {
		struct api_adopt *nx = left->next;

		close(left->fd);
		free(left);
		left = nx;
	}
	api_batch_join(&a);   /* they wake ctx */
	lws_context_destroy(ctx);
	cp_tls_lws_server_done(no_client);
	api_batch_free(&a);
	cp_pg_close(&a.pg);
	cp_pg_close(&a.pg_read);
	cp_redis_close(&a.redis);
	free(a.auth);
	return 0;
}

struct worker_arg {
	struct api_shared *sh;
	unsigned int idx;
	const atomic_int *stop;
	int rc;
};

static void *worker_main(void *p)
{
	struct worker_arg *w = p;
	w->rc = worker_run(w->sh, w->idx, w->stop);
	return NULL;
}

int cp_api_run(struct cp_ctx *ctx)
{
	const struct cp_config *cfg = ctx->cfg;
	const atomic_int *stop = ctx->stop;
	struct api_shared sh;
	struct worker_arg args[CP_API_MAX_THREADS];
	pthread_t tids[CP_API_MAX_THREADS];
	unsigned int n = cfg->api_threads, started = 1;
	int rc = shared_init(&sh, cfg);
	pthread_t prober;
	bool probing = false;

	sh.pctx = ctx;
	sh.stop = stop;
	atomic_init(&sh.redis_up, -1);
	if (rc == 0 && pthread_create(&prober, NULL, cp_api_redis_prober, &sh) == 0)
		probing = true;
	else if (rc == 0)
		rc = -EAGAIN;

	lws_set_log_level(LLL_ERR, NULL);
	/* Workers 1..n-1 in their own threads, worker 0 in the role thread. A worker that
	 * cannot start fails the role (main stops the process). */
	for (unsigned int i = 1; rc == 0 && i < n; i++) {
		args[i] = (struct worker_arg){.sh = &sh, .idx = i, .stop = stop};
		if (pthread_create(&tids[i], NULL, worker_main, &args[i]) != 0) {
			atomic_store(&sh.abort, 1);
			rc = -EAGAIN;
			break;
		}
		started++;
	}
	if (rc == 0)
		rc = worker_run(&sh, 0, stop);
	for (unsigned int i = 1; i < started; i++) {
		pthread_join(tids[i], NULL);
		if (rc == 0)
			rc = args[i].rc;
	}
	if (probing) {
		atomic_store(&sh.abort, 1); /* the workers are done: the prober ends too */
		pthread_join(prober, NULL);
	}
	cp_gate_stop(sh.gate); /* every worker has stopped: nothing reads it any more */
	pthread_mutex_destroy(&sh.rate_mu);
	for (unsigned int i = 0; i < CP_API_MAX_THREADS; i++)
		pthread_mutex_destroy(&sh.inbox[i].mu);
	free(sh.buckets);
	if (sh.listen_fd >= 0)
		close(sh.listen_fd);
	return rc;
}
