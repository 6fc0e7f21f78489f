/*
 * cp_api_routes: the /v1 endpoints (docs/api.md), one small handler each. Handlers
 * validate every input before any SQL runs (unknown keys, types, ranges, patterns), pass
 * values only as query parameters, and leave constraint checks to the database, whose
 * errors api_pg_error() maps to 4xx.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cp_api_pvt.h"
#include "cp_book_store.h"
#include "cp_api_rd.h"
#include "cp_trust_event.h"

#define NAME_MAX_LEN 200
#define LABEL_MAX_LEN 200
#define LEDGER_PAGE_MAX 500
#define LIST_PAGE_MAX 1000
#define ID_MAX (INT64_C(1) << 62)
#define JSON_SAFE_MAX ((INT64_C(1) << 53) - 1) /* the largest integer every JSON client keeps */

/* ------------------------------------------------------------------ input checks */

/* Refuse keys other than the NULL-terminated list. 0 or -EINVAL (reply set). */
static int only_keys(struct api_req *r, json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool ok = false;
		for (const char *const *p = keys; *p && !ok; p++)
			ok = strcmp(*p, k) == 0;
		if (!ok) {
			api_error(r, 422, "unknown_field", "unknown field '%.64s'", k);
			return -EINVAL;
		}
	}
	return 0;
}

/* Printable text without control characters, 1..max bytes (UTF-8 is validated by
 * jansson). *out NULL when absent and optional. */
static int get_text(struct api_req *r, json_t *o, const char *key, bool required, size_t max,
		    const char **out)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		api_error(r, 422, "missing_field", "'%s' is required", key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		api_error(r, 422, "wrong_type", "'%s' must be a string", key);
		return -EINVAL;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n > max || strlen(s) != n) {
		api_error(r, 422, "invalid_value", "'%s' must be 1..%zu bytes of UTF-8", key, max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			api_error(r, 422, "invalid_value", "'%s' contains a control character", key);
			return -EINVAL;
		}
	*out = s;
	return 0;
}

/*
 * Every integer field of every body: a JSON integer within [lo, hi] into buf as decimal;
 * "" when absent or null and optional (missing_field when required). Another JSON type (a
 * string "5", a real 5.0 or 5.5, a boolean, an array) is 422 wrong_type, an integer out of
 * range 422 invalid_value (docs/api.md "Errors and limits": the type, then the value).
 */
static int get_int(struct api_req *r, json_t *o, const char *key, bool required, int64_t lo,
		   int64_t hi, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	buf[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		api_error(r, 422, "missing_field", "'%s' is required", key);
		return -EINVAL;
	}
	if (!json_is_integer(v)) {
		api_error(r, 422, "wrong_type", "'%s' must be an integer", key);
		return -EINVAL;
	}
	if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
		api_error(r, 422, "invalid_value", "'%s' must be an integer in %" PRId64 "..%" PRId64,
			  key, lo, hi);
		return -EINVAL;
	}
	snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return 0;
}

/* A positive id (1..2^62): get_int. */
static int get_id(struct api_req *r, json_t *o, const char *key, bool required, char *buf,
		  size_t len)
{
	return get_int(r, o, key, required, 1, ID_MAX, buf, len);
}

/*
 * Money: a JSON string "123.45" (or an integer) of at most 15 integer digits and 2
 * decimals, never a JSON real (floats are not money). signed_ok allows a leading '-'.
 * Canonical text into buf.
 */
static int get_money(struct api_req *r, json_t *o, const char *key, bool signed_ok, char *buf,
		     size_t len)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL) {
		api_error(r, 422, "missing_field", "'%s' is required", key);
		return -EINVAL;
	}
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if ((x < 0 && !signed_ok) || x > INT64_C(999999999999999) ||
		    x < -INT64_C(999999999999999)) {
			api_error(r, 422, "invalid_amount", "'%s' is out of range", key);
			return -EINVAL;
		}
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, x);
		return 0;
	}
	if (!json_is_string(v)) {
		api_error(r, 422, "wrong_type", "'%s' must be a decimal string like \"12.34\"", key);
		return -EINVAL;
	}
	const char *s = json_string_value(v), *p = s;
	if (*p == '-' && signed_ok)
		p++;
	size_t ip = strspn(p, "0123456789");
	size_t fp = p[ip] == '.' ? strspn(p + ip + 1, "0123456789") : 0;
	size_t tail = ip + (p[ip] == '.' ? 1 + fp : 0);
	if (ip < 1 || ip > 15 || (p[ip] == '.' && (fp < 1 || fp > 2)) || p[tail] != '\0' ||
	    strlen(s) >= len) {
		api_error(r, 422, "invalid_amount",
			  "'%s' must be %sdigits with at most 2 decimals (max 15 integer digits)",
			  key, signed_ok ? "[-]" : "");
		return -EINVAL;
	}
	snprintf(buf, len, "%s", s);
	return 0;
}

/* A finite number within [lo, hi] as text; "" when absent. Not a JSON number: wrong_type. */
static int get_num(struct api_req *r, json_t *o, const char *key, double lo, double hi,
		   char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	buf[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		api_error(r, 422, "wrong_type", "'%s' must be a number", key);
		return -EINVAL;
	}
	if (!isfinite(json_number_value(v)) || json_number_value(v) < lo ||
	    json_number_value(v) > hi) {
		api_error(r, 422, "invalid_value", "'%s' must be a number in %g..%g", key, lo, hi);
		return -EINVAL;
	}
	if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(buf, len, "%.6f", json_real_value(v));
	return 0;
}

/* n decimal digits at p (no sign, no space) into *v; false at the first other byte. */
static bool dec_digits(const char *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

/*
 * Seconds since the epoch of an RFC 3339 date-time (section 5.6: "2027-12-31T00:00:00Z",
 * "2027-12-31 02:00:00.5+02:00"; 'T', 't' or a space; 'Z', 'z' or a numeric offset; 1..9
 * fraction digits, ignored), a date and time that exist (no 2027-02-30, no second 60).
 * -1 for anything else. Each byte is read only after the ones before it were found to be
 * what they must be, so a short string is never read past its end.
 */
static int64_t rfc3339_seconds(const char *s)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	if (!dec_digits(s, 4, &y) || s[4] != '-' || !dec_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !dec_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !dec_digits(s + 11, 2, &h) || s[13] != ':' || !dec_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !dec_digits(s + 17, 2, &sec))
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		size_t n = strspn(p + 1, "0123456789");
		if (n < 1 || n > 9)
			return -1;
		p += 1 + n;
	}
	if ((*p == '+' || *p == '-') && dec_digits(p + 1, 2, &oh) && p[3] == ':' &&
	    dec_digits(p + 4, 2, &om) && p[6] == '\0' && oh <= 23 && om <= 59)
		sign = *p == '+' ? 1 : -1;
	else if (!((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* timegm moved 02-30 into March */
		return -1;
	return (int64_t)t - sign * (oh * 3600 + om * 60);
}

/*
 * An optional expiry: an RFC 3339 date-time (rfc3339_seconds) later than now; *out the text
 * as sent (PostgreSQL reads RFC 3339 the same way), NULL when absent. PostgreSQL's
 * timestamptz would take much more ('infinity', 'epoch', 'tomorrow', a date alone), and
 * an infinite expires_at broke every reader that turns it into microseconds (sql 0027).
 * 0 or -EINVAL (422 set).
 */
static int get_expiry(struct api_req *r, json_t *o, const char *key, const char **out)
{
	int rc = get_text(r, o, key, false, 64, out);
	if (rc != 0 || *out == NULL)
		return rc;
	int64_t t = rfc3339_seconds(*out);
	if (t < 0 || t <= (int64_t)time(NULL)) {
		api_error(r, 422, "invalid_value", "'%s' must be a time in the future in RFC 3339"
			  " form, like \"2027-12-31T00:00:00Z\"", key);
		return -EINVAL;
	}
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Query-string parameter `key` as text, percent-decoded (cp_api_head let only valid %XX
 * and never %00 through); NULL when absent or longer than len - 1. */
static const char *query_str(struct api_req *r, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = r->query; *p;) {
		size_t n = strcspn(p, "&");
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t o = 0;

			for (size_t i = kl + 1; i < n; i++) {
				char c = p[i];

				if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 &&
				    hexval(p[i + 2]) >= 0) {
					c = (char)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
					i += 2;
				}
				if (o + 1 >= len)
					return NULL;
				buf[o++] = c;
			}
			buf[o] = '\0';
			return buf;
		}
		p += n + (p[n] == '&');
	}
	return NULL;
}

/* Query-string parameter as an integer in [lo, hi]; dflt when absent. 0 or -EINVAL. */
static int query_int(struct api_req *r, const char *key, int64_t lo, int64_t hi, int64_t dflt,
		     int64_t *out)
{
	char v[32], *end;
	const char *q = query_str(r, key, v, sizeof(v));
	*out = dflt;
	if (q == NULL)
		return 0;
	errno = 0;
	/* digits only (a '-' first): strtoll alone would take "+5" and " 5" */
	long long x = strtoll(q, &end, 10);
	if (errno == 0 && *end == '\0' && end != q && (isdigit((unsigned char)q[0]) ||
	    (q[0] == '-' && isdigit((unsigned char)q[1]))) && x >= lo && x <= hi) {
		*out = x;
		return 0;
	}
	api_error(r, 422, "invalid_value", "query parameter '%s' must be an integer in %" PRId64
		  "..%" PRId64, key, lo, hi);
	return -EINVAL;
}

/* ------------------------------------------------------------------ ownership */

/* A subscriber may only address itself. 0 or -EPERM (403 set). */
static int own_subscriber(struct api_req *r, int64_t id)
{
	if (r->admin || r->subscriber == id)
		return 0;
	api_error(r, 403, "forbidden", "not your subscriber account");
	return -EPERM;
}

/* The subscription exists (404) and is the caller's (403). */
static int own_subscription(struct api_req *r, int64_t id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	const char *p[1] = {ids};
	PGresult *res = api_q_prep(r, API_STMT_SUB_OWNER,
				   "SELECT subscriber_id FROM subscriptions WHERE id = $1", 1, p);
	if (res == NULL)
		return -EIO;
	int n = PQntuples(res);
	int64_t owner = n ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	if (n == 0) {
		api_error(r, 404, "not_found", "no subscription %" PRId64, id);
		return -ENOENT;
	}
	if (!r->admin && owner != r->subscriber) {
		api_error(r, 403, "forbidden", "not your subscription");
		return -EPERM;
	}
	return 0;
}

/* ------------------------------------------------------------------ helpers */

/* Run sql (n params) and reply with one row (404 when none) or all rows. */
static void reply_one(struct api_req *r, int status, const char *what, const char *sql, int n,
		      const char *const *p)
{
	PGresult *res = api_q(r, sql, n, p);
	if (res == NULL)
		return;
	if (PQntuples(res) == 0)
		api_error(r, 404, "not_found", "no such %s", what);
	else
		api_reply(r, status, api_row(res, 0));
	PQclear(res);
}

static void reply_list(struct api_req *r, const char *key, const char *sql, int n,
		       const char *const *p)
{
	PGresult *res = api_q(r, sql, n, p);
	if (res == NULL)
		return;
	api_reply(r, 200, json_pack("{s:o}", key, api_rows(res)));
	PQclear(res);
}

static void id_text(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64, id);
}

/* reply_one / reply_list with the path's id as the only parameter $1. */
static void one_by_id(struct api_req *r, const char *what, const char *sql)
{
	char id[24];
	id_text(r->id[0], id, sizeof(id));
	const char *p[1] = {id};
	reply_one(r, 200, what, sql, 1, p);
}

static void list_by_id(struct api_req *r, const char *key, const char *sql)
{
	char id[24];
	id_text(r->id[0], id, sizeof(id));
	const char *p[1] = {id};
	reply_list(r, key, sql, 1, p);
}

/* For the operator, whose lists of a master's or subscriber's things are not bounded by an
 * ownership check that already read the row: true (answered 404 not_found, "no such what",
 * or the database's error) when the path's id is not a row of table, so that an unknown id
 * is 404 (docs/api.md "Errors") and not an empty list. A subscriber's own id exists. */
static bool admin_unknown(struct api_req *r, const char *table, const char *what)
{
	char id[24], sql[64];
	if (!r->admin)
		return false;
	id_text(r->id[0], id, sizeof(id));
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = $1", table);
	const char *p[1] = {id};
	PGresult *res = api_q(r, sql, 1, p);
	if (res == NULL)
		return true;
	bool none = PQntuples(res) == 0;
	PQclear(res);
	if (none)
		api_error(r, 404, "not_found", "no such %s", what);
	return none;
}

/*
 * A page of a list ordered by its first column: ?after=<cursor>&limit=<1..max> (default
 * 100). sql takes $1 after, $2 limit and $3 = scope (NULL for none). Replies
 * {key: [...], "next_after": <first column of the last row> | null when the page is not
 * full}.
 */
static void reply_page(struct api_req *r, const char *key, int64_t max, const char *sql,
		       const char *scope)
{
	char after_s[24], limit_s[24];
	int64_t after, limit;
	if (query_int(r, "after", 0, ID_MAX, 0, &after) ||
	    query_int(r, "limit", 1, max, 100, &limit))
		return;
	id_text(after, after_s, sizeof(after_s));
	id_text(limit, limit_s, sizeof(limit_s));
	const char *p[3] = {after_s, limit_s, scope};
	PGresult *res = api_q(r, sql, 3, p);
	if (res == NULL)
		return;
	int n = PQntuples(res);
	json_t *next = n == limit ? json_integer(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10))
				  : json_null();
	api_reply(r, 200, json_pack("{s:o, s:o}", key, api_rows(res), "next_after", next));
	PQclear(res);
}

/* A new secret token: 32 random bytes as 64 hex digits, and "\x<sha256 hex>" of it. */
static int new_token(char tok[65], char hash[67])
{
	uint8_t raw[32], h[32];
	unsigned int hl = 0;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	api_hex(raw, sizeof(raw), tok);
	if (EVP_Digest(tok, 64, h, &hl, EVP_sha256(), NULL) != 1)
		return -EIO;
	hash[0] = '\\';
	hash[1] = 'x';
	api_hex(h, sizeof(h), hash + 2);
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* ------------------------------------------------------------------ health, metrics */

static void h_healthz(struct api_req *r)
{
	api_reply(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* /readyz and /metrics wait for a statement in flight API_PROBE_WAIT_MS at most (api_park):
 * a probe that times out says less than an answer that PostgreSQL did not answer in time. */
static void h_readyz(struct api_req *r)
{
	r->probe = true;
	PGresult *res = api_q(r, "SELECT 1", 0, NULL);
	if (res == NULL) {
		if (r->late && r->api->lane[API_LANE_PRIMARY].inflight != NULL)
			api_error(r, 503, "db_unavailable", "PostgreSQL did not answer within %u ms"
				  " (this worker's session waits for a statement)", API_PROBE_WAIT_MS);
		return;
	}
	PQclear(res);
	api_reply(r, 200, json_pack("{s:s, s:s}", "status", "ready", "postgresql", "ok"));
}

static void h_metrics(struct api_req *r)
{
	r->probe = true;
	if (api_park(r, API_LANE_PRIMARY))
		return;
	r->text = cp_api_metrics_text(r->api);
	if (r->text == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	r->status = 200;
	r->ctype = "text/plain; version=0.0.4";
}

/* ------------------------------------------------------------------ masters, tokens */

static void h_master_create(struct api_req *r)
{
	static const char *const keys[] = {"name", "ed25519_public_key", NULL};
	const char *name, *pub;
	uint8_t secret[32];
	char sec[65];
	if (only_keys(r, r->body, keys) || get_text(r, r->body, "name", true, NAME_MAX_LEN, &name) ||
	    get_text(r, r->body, "ed25519_public_key", true, 64, &pub))
		return;
	if (!is_hex(pub, 64)) {
		api_error(r, 422, "invalid_value", "'ed25519_public_key' must be 64 hex digits");
		return;
	}
	if (RAND_bytes(secret, sizeof(secret)) != 1) {
		api_error(r, 500, "internal", "no randomness");
		return;
	}
	api_hex(secret, sizeof(secret), sec);
	const char *p[3] = {name, sec, pub};
	PGresult *res = api_q(r, "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
			      " VALUES ($1, decode($2, 'hex'), decode($3, 'hex'))"
			      " RETURNING id, name, encode(ed25519_public_key, 'hex') AS"
			      " ed25519_public_key, created_at", 3, p);
	if (res == NULL)
		return;
	json_t *o = api_row(res, 0);
	json_object_set_new(o, "hmac_secret", json_string(sec)); /* shown once */
	PQclear(res);
	api_reply(r, 201, o);
}

/* During a signing-key rotation receivers accept signatures by either key until
 * ed25519_previous_until (sql 0014; docs/security.md). */
#define MASTER_COLS "id, name, encode(ed25519_public_key, 'hex') AS ed25519_public_key," \
		    " CASE WHEN ed25519_prev_until > now() THEN" \
		    " encode(ed25519_public_key_prev, 'hex') END AS ed25519_previous_public_key," \
		    " CASE WHEN ed25519_prev_until > now() THEN ed25519_prev_until END AS" \
		    " ed25519_previous_until, keys_rotated_at, created_at, disabled_at"

static void h_master_list(struct api_req *r)
{
	reply_page(r, "masters", LIST_PAGE_MAX, "SELECT " MASTER_COLS " FROM masters WHERE id > $1"
		   " AND $3::bigint IS NULL ORDER BY id LIMIT $2", NULL);
}

/* One master's session fields (HMGET reply) into m: connected, edge, connected_since. */
static void session_fields(json_t *m, const redisReply *rep)
{
	json_t *conn = json_null(), *edge = json_null(), *since = json_null();
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
		const redisReply *e = rep->element[0], *t = rep->element[1];
		bool live = e->type == REDIS_REPLY_STRING;
		json_decref(conn);
		conn = json_boolean(live);
		if (live) {
			json_decref(edge);
			edge = json_string(e->str);
		}
		if (live && t->type == REDIS_REPLY_STRING) {
			long long ms = strtoll(t->str, NULL, 10);
			time_t sec = (time_t)(ms / 1000);
			struct tm tm;
			char ts[40], out[48];
			if (ms > 0 && gmtime_r(&sec, &tm) != NULL &&
			    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm) > 0) {
				snprintf(out, sizeof(out), "%s.%03lldZ", ts, ms % 1000);
				json_decref(since);
				since = json_string(out);
			}
		}
	}
	json_object_set_new(m, "connected", conn);
	json_object_set_new(m, "edge", edge);
	json_object_set_new(m, "connected_since", since);
}

/* The session key of the i-th master of masters (decp:{m<id>}:session) into key[64]. */
static const char *session_key(const json_t *masters, size_t i, char key[64])
{
	json_int_t id = json_integer_value(json_object_get(json_array_get(masters, i), "id"));
	snprintf(key, 64, CP_REDIS_SESSION_KEY_FMT, (uint64_t)id);
	return key;
}

/* Each master's live ingest session from Redis (decp:{m<id>}:session, written by the edge
 * that confirmed its login; docs/control.md "Live sessions"): connected, edge,
 * connected_since (ISO 8601 UTC), one pipelined HMGET per master. Redis unreachable: the
 * three are null and the result says so (the archive's part still answers). On a cluster
 * a master whose slot moved (MOVED/ASK) is asked once more where the redirect points,
 * after every pipelined reply is in. Returns whether Redis answered. */
static bool add_sessions(struct api_req *r, json_t *masters)
{
	struct cp_redis *rd = &r->api->redis;
	size_t n = json_array_size(masters);
	/* each master's HMGET on the connection serving its slot (the only one without a
	 * cluster), its reply read from there */
	unsigned int *node = n > 0 ? calloc(n, sizeof(*node)) : NULL;
	redisReply **reps = n > 0 ? calloc(n, sizeof(*reps)) : NULL;
	bool ok = n == 0 || (node != NULL && reps != NULL && cp_redis_ensure(rd) == 0);

	bool all = ok;   /* every master's answer is in */
	for (size_t i = 0; ok && i < n; i++) {
		char key[64];
		redisContext *c = cp_redis_at_node(rd, session_key(masters, i, key), &node[i]);
		if (c == NULL)
			continue;   /* a cluster primary that is down: unknown (null) */
		ok = redisAppendCommand(c, "HMGET %s edge since_ms", key) == REDIS_OK;
		if (!ok)
			cp_redis_fail(rd, "queueing the masters' live sessions");
	}
	/* a primary that fails (a cluster): its connection alone is dropped, the replies of
	 * its masters with it */
	if (ok && n > 0)
		ok = cp_redis_read_replies(rd, node, reps, n, "reading the masters' live sessions") == 0;
	for (size_t i = 0; ok && i < n; i++) {
		redisContext *ask;
		char key[64];
		if (reps[i] == NULL || !cp_redis_redirect(rd, reps[i], &ask))
			continue;
		session_key(masters, i, key);
		const char *argv[] = {"HMGET", key, "edge", "since_ms"};
		freeReplyObject(reps[i]);
		reps[i] = cp_redis_command_argv(rd, key, 4, argv, NULL);
		if (reps[i] == NULL)
			cp_redis_fail_key(rd, key, "reading a master's live session after a redirect");
		ok = rd->ctx != NULL;
	}
	for (size_t i = 0; i < n; i++) {
		all = all && ok && reps[i] != NULL;
		session_fields(json_array_get(masters, i), ok ? reps[i] : NULL);
		if (reps != NULL)
			freeReplyObject(reps[i]);
	}
	free(reps);
	free(node);
	return all;
}

/* GET /v1/masters/activity: each master's last archived signal (sequence, arrival time,
 * age in seconds) and its live ingest session (connected, edge, connected_since; from
 * Redis): what the console's masters table shows, its rate computed by the page from two
 * readings. One index probe per master (signal_archive's key), one HMGET per master. */
static void h_master_activity(struct api_req *r)
{
	PGresult *res = api_q(r, "SELECT m.id, m.name, a.sequence AS last_sequence,"
			      " a.arrival_time AS last_signal_at,"
			      " round(extract(epoch FROM now() - a.arrival_time)::numeric, 3)::text"
			      " AS last_signal_age_s FROM masters m LEFT JOIN LATERAL (SELECT sequence,"
			      " arrival_time FROM signal_archive s WHERE s.master_id = m.id"
			      " ORDER BY sequence DESC LIMIT 1) a ON true ORDER BY m.id LIMIT 1000",
			      0, NULL);
	if (res == NULL)
		return;
	json_t *masters = api_rows(res);
	PQclear(res);
	bool live = add_sessions(r, masters);
	api_reply(r, 200, json_pack("{s:o, s:s}", "masters", masters, "note", live
		? "last signal from the archive (behind the live stream by the archiver's delay);"
		  " connected from the edges' live-session claims in Redis"
		: "last signal from the archive (behind the live stream by the archiver's delay);"
		  " Redis (or the cluster primary of some) unreachable: connected unknown (null)"
		  " where it could not be read"));
}

static void h_master_get(struct api_req *r)
{
	one_by_id(r, "master", "SELECT " MASTER_COLS " FROM masters WHERE id = $1");
}

/* POST {label?, expires_at?} to a master's or a subscriber's token table. */
static void token_create(struct api_req *r, const char *table, const char *owner_col)
{
	static const char *const keys[] = {"label", "expires_at", NULL};
	const char *label, *exp;
	char owner[24], tok[65], hash[67], sql[512];
	if (only_keys(r, r->body, keys) ||
	    get_text(r, r->body, "label", false, LABEL_MAX_LEN, &label) ||
	    get_expiry(r, r->body, "expires_at", &exp))
		return;
	if (new_token(tok, hash) != 0) {
		api_error(r, 500, "internal", "no randomness");
		return;
	}
	id_text(r->id[0], owner, sizeof(owner));
	const char *p[4] = {owner, hash, label, exp};
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s, token_sha256, label, expires_at)"
		 " VALUES ($1, $2::bytea, $3, $4::timestamptz)"
		 " RETURNING id, %s, label, created_at, expires_at", table, owner_col, owner_col);
	PGresult *res = api_q(r, sql, 4, p);
	if (res == NULL)
		return;
	json_t *o = api_row(res, 0);
	json_object_set_new(o, "token", json_string(tok)); /* shown once, stored as SHA-256 */
	PQclear(res);
	api_reply(r, 201, o);
}

/* The tokens of the path's master or subscriber (never the token itself). */
static void token_list(struct api_req *r, const char *table, const char *owner_col,
		       const char *parent, const char *what)
{
	char sql[256];
	if (admin_unknown(r, parent, what))
		return;
	snprintf(sql, sizeof(sql), "SELECT id, %s, label, created_at, expires_at, revoked_at"
		 " FROM %s WHERE %s = $1 ORDER BY id", owner_col, table, owner_col);
	list_by_id(r, "tokens", sql);
}

/* Revoking twice is not an error: revoked_at keeps its first value (token_row_guard). */
static void token_revoke(struct api_req *r, const char *table, const char *owner_col)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE %s SET revoked_at = coalesce(revoked_at, now())"
		 " WHERE id = $1 RETURNING id, %s, label, created_at, expires_at, revoked_at",
		 table, owner_col);
	one_by_id(r, "token", sql);
}

static void h_license_create(struct api_req *r)
{
	token_create(r, "license_tokens", "master_id");
}

static void h_license_list(struct api_req *r)
{
	token_list(r, "license_tokens", "master_id", "masters", "master");
}

/* The edge follows a revocation through its NOTIFY trigger on license_tokens. */
static void h_license_revoke(struct api_req *r)
{
	token_revoke(r, "license_tokens", "master_id");
}

/* ------------------------------------------------------------------ subscribers */

static void h_subscriber_create(struct api_req *r)
{
	static const char *const keys[] = {"name", NULL};
	const char *name;
	if (only_keys(r, r->body, keys) || get_text(r, r->body, "name", true, NAME_MAX_LEN, &name))
		return;
	const char *p[1] = {name};
	reply_one(r, 201, "subscriber", "INSERT INTO subscribers (name) VALUES ($1)"
		  " RETURNING id, name, created_at, disabled_at", 1, p);
}

static void h_subscriber_list(struct api_req *r)
{
	reply_page(r, "subscribers", LIST_PAGE_MAX, "SELECT id, name, created_at, disabled_at"
		   " FROM subscribers WHERE id > $1 AND $3::bigint IS NULL ORDER BY id LIMIT $2",
		   NULL);
}

static void h_subscriber_get(struct api_req *r)
{
	if (own_subscriber(r, r->id[0]) == 0)
		one_by_id(r, "subscriber", "SELECT id, name, created_at, disabled_at FROM subscribers"
			  " WHERE id = $1");
}

static void h_subtoken_create(struct api_req *r)
{
	token_create(r, "subscriber_tokens", "subscriber_id");
}

static void h_subtoken_list(struct api_req *r)
{
	if (own_subscriber(r, r->id[0]) == 0)
		token_list(r, "subscriber_tokens", "subscriber_id", "subscribers", "subscriber");
}

static void h_subtoken_revoke(struct api_req *r)
{
	token_revoke(r, "subscriber_tokens", "subscriber_id");
	if (r->status == 200)
		api_auth_changed(r); /* other workers may have it cached: refused from now on */
}

/* ------------------------------------------------------------------ subscriptions */

/* POST {master_id, subscriber_id?, copy_policy?, fee_pct?}. A subscriber subscribes
 * itself; fee_pct is the operator's (absent: the database continues the pair's last one,
 * else 20.00; sql 0028). The policy is checked by copy_policy_is_valid(). */
static void h_subscription_create(struct api_req *r)
{
	static const char *const keys[] = {"master_id", "subscriber_id", "copy_policy", "fee_pct",
					   NULL};
	char master[24], sub[24], fee[32] = "";
	char *policy = NULL;
	if (only_keys(r, r->body, keys) ||
	    get_id(r, r->body, "master_id", true, master, sizeof(master)) ||
	    get_id(r, r->body, "subscriber_id", r->admin, sub, sizeof(sub)))
		return;
	if (!r->admin) {
		if (sub[0] != '\0' && strtoll(sub, NULL, 10) != r->subscriber) {
			api_error(r, 403, "forbidden", "a subscriber subscribes only itself");
			return;
		}
		id_text(r->subscriber, sub, sizeof(sub));
	}
	if (json_object_get(r->body, "fee_pct") != NULL) {
		if (!r->admin) {
			api_error(r, 403, "forbidden", "'fee_pct' is set by the operator");
			return;
		}
		if (get_money(r, r->body, "fee_pct", false, fee, sizeof(fee)))
			return;
	}
	json_t *cp = json_object_get(r->body, "copy_policy");
	if (cp != NULL) {
		if (!json_is_object(cp)) {
			api_error(r, 422, "wrong_type", "'copy_policy' must be an object");
			return;
		}
		policy = json_dumps(cp, JSON_COMPACT);
	}
	/* Absent optional columns keep their column defaults (not restated here); every
	 * parameter sent must appear in the statement, so they are numbered as added. */
	const char *p[4] = {master, sub, NULL, NULL};
	int n = 2;
	char cols[64] = "", vals[64] = "";
	if (policy != NULL) {
		p[n++] = policy;
		snprintf(cols, sizeof(cols), ", copy_policy");
		snprintf(vals, sizeof(vals), ", $%d::jsonb", n);
	}
	if (fee[0] != '\0') {
		p[n++] = fee;
		size_t cl = strlen(cols), vl = strlen(vals);
		snprintf(cols + cl, sizeof(cols) - cl, ", fee_pct");
		snprintf(vals + vl, sizeof(vals) - vl, ", $%d::numeric", n);
	}
	char sql[640], id[24];
	snprintf(sql, sizeof(sql), "INSERT INTO subscriptions (master_id, subscriber_id%s)"
		 " VALUES ($1, $2%s) RETURNING id", cols, vals);
	PGresult *res = api_q(r, sql, n, p);
	free(policy);
	if (res == NULL)
		return;
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* The row as the statement left it: its AFTER INSERT triggers may have moved it on
	 * from SYNCED (sql 0028: a continued trust score below 50; 0026: the subscriber owes
	 * money), which RETURNING, computed before they run, would not show. */
	const char *q[1] = {id};
	reply_one(r, 201, "subscription", "SELECT " API_SUB_COLS " FROM subscriptions WHERE id = $1",
		  1, q);
}

static void h_subscription_list(struct api_req *r)
{
	char sub[24];
	id_text(r->subscriber, sub, sizeof(sub));
	reply_page(r, "subscriptions", LIST_PAGE_MAX, "SELECT " API_SUB_COLS " FROM subscriptions"
		   " WHERE id > $1 AND ($3::bigint IS NULL OR subscriber_id = $3) ORDER BY id"
		   " LIMIT $2", r->admin ? NULL : sub);
}

static void h_subscription_get(struct api_req *r)
{
	api_sub_get(r, r->id[0]);   /* grouped with the GETs beside it (cp_api_batch.c) */
}

/* Move a subscription to `to` if the database's rules allow it from its state. */
/* from: the states it may leave, as a text array ("{A,B}"), NULL for any. The reply is the
 * row as the transaction left it, read after the UPDATE: an AFTER trigger may have moved it
 * on (a resume of a subscriber who owes money is locked again, sql 0016), which the
 * UPDATE's RETURNING does not show. */
static void set_state(struct api_req *r, const char *to, const char *from, const char *why)
{
	char id[24];
	id_text(r->id[0], id, sizeof(id));
	const char *p[4] = {id, to, from, why};
	if (!r->admin && own_subscription(r, r->id[0]))
		return;
	PGresult *res = api_q(r, "UPDATE subscriptions SET state = $2, state_reason = $4"
			      " WHERE id = $1 AND ($3::text[] IS NULL OR state = ANY($3::text[]))"
			      " RETURNING id", 4, p);
	if (res == NULL)
		return;
	if (PQntuples(res) == 1) {
		PQclear(res);
		reply_one(r, 200, "subscription", "SELECT " API_SUB_COLS " FROM subscriptions"
			  " WHERE id = $1", 1, p);
		return;
	}
	PQclear(res);
	const char *q[1] = {id};
	res = api_q(r, "SELECT state FROM subscriptions WHERE id = $1", 1, q);
	if (res == NULL)
		return;
	if (PQntuples(res) == 0)
		api_error(r, 404, "not_found", "no subscription %s", id);
	else
		api_error(r, 409, "invalid_transition", "subscription %s is %s: no transition to %s",
			  id, PQgetvalue(res, 0, 0), to);
	PQclear(res);
}

static void h_subscription_suspend(struct api_req *r)
{
	set_state(r, "SUSPENDED_ADMIN", "{SYNCED}", "suspended by operator");
}

static void h_subscription_resume(struct api_req *r)
{
	/* an admin suspension, or a trust pause (SPEC §5: the quiet-period credit or an
	 * operator); below the pause line the trust role pauses it again at its next tick */
	set_state(r, "SYNCED", "{SUSPENDED_ADMIN,PAUSED_TOXIC}", "re-enabled by operator");
}

/* subscription_cancel() settles the period in the same transaction and takes the wallet
 * lock before the subscription's, the order of every money function (docs/database.md
 * "Settlement at cancellation"); a state it may not leave is DP002 -> 409. */
static void h_subscription_cancel(struct api_req *r)
{
	char id[24];
	id_text(r->id[0], id, sizeof(id));
	const char *p[2] = {id, r->admin ? "cancelled by operator" : "cancelled by subscriber"};
	if (!r->admin && own_subscription(r, r->id[0]))
		return;
	PGresult *res = api_q(r, "SELECT 1 FROM subscription_cancel($1, $2)", 2, p);
	if (res == NULL)
		return;
	PQclear(res);
	reply_one(r, 200, "subscription", "SELECT " API_SUB_COLS " FROM subscriptions WHERE id = $1",
		  1, p);
}

/* POST the subscription's new copy policy: the body is the policy object itself,
 * checked by copy_policy_is_valid() (422). The database versions it and NOTIFYs the
 * fan-out, which pushes it to a connected subscriber (docs/api.md, docs/fanout.md). */
static void h_subscription_policy(struct api_req *r)
{
	char id[24];
	char *policy;

	if (!r->admin && own_subscription(r, r->id[0]))
		return;
	policy = json_dumps(r->body, JSON_COMPACT);
	if (policy == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	id_text(r->id[0], id, sizeof(id));
	const char *p[2] = {id, policy};
	reply_one(r, 200, "live subscription", "UPDATE subscriptions SET copy_policy = $2::jsonb"
		  " WHERE id = $1 AND state <> 'CANCELLED' RETURNING " API_SUB_COLS, 2, p);
	free(policy);
}

/* ------------------------------------------------------------------ money */

static void h_wallet_get(struct api_req *r)
{
	if (own_subscriber(r, r->id[0]))
		return;
	one_by_id(r, "subscriber",
		  "SELECT s.id AS subscriber_id, coalesce(w.balance_usd, 0.00) AS balance_usd,"
		  " coalesce(w.reserved_usd, 0.00) AS reserved_usd,"
		  " coalesce(w.receivable_usd, 0.00) AS receivable_usd,"
		  " coalesce(w.lifetime_fees, 0.00) AS lifetime_fees,"
		  " coalesce(w.ledger_seq, 0) AS ledger_seq, w.updated_at"
		  " FROM subscribers s LEFT JOIN user_wallets w ON w.subscriber_id = s.id"
		  " WHERE s.id = $1");
}

/*
 * A money POST with an Idempotency-Key (docs/api.md "Idempotency keys"): through
 * money_request() (sql 0025), which applies it once per (caller, key) and answers a retry
 * with the first answer (header Idempotent-Replayed: true). Returns false when the
 * request has no key (the caller runs the operation itself); true when it answered.
 */
static bool money_once(struct api_req *r, const char *op, const char *target,
		       const char *amount, const char *ref)
{
	char caller[40];
	if (r->idem_bad) {
		api_error(r, 422, "invalid_value", "Idempotency-Key: 1 to %u characters of "
			  "[A-Za-z0-9._:-], once", CP_API_IDEM_MAX);
		return true;
	}
	if (r->idem_key[0] == '\0')
		return false;
	if (r->admin)
		snprintf(caller, sizeof(caller), "operator");
	else
		snprintf(caller, sizeof(caller), "subscriber:%" PRId64, r->subscriber);
	const char *p[6] = {caller, r->idem_key, op, target, amount, ref};
	PGresult *res = api_q(r, "SELECT replayed, result::text FROM money_request($1, $2, $3,"
			      " $4::bigint, $5::numeric, $6)", 6, p);
	if (res == NULL)
		return true;
	json_t *o = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 1), 0, NULL) : NULL;
	if (o == NULL)
		api_error(r, 500, "internal", "money_request gave no result");
	else
		api_reply(r, 200, o);
	if (o != NULL && PQgetvalue(res, 0, 0)[0] == 't')
		snprintf(r->hdrs + strlen(r->hdrs), sizeof(r->hdrs) - strlen(r->hdrs),
			 "Idempotent-Replayed: true\r\n");
	PQclear(res);
	return true;
}

/* POST {amount, reference?} through wallet_deposit()/wallet_withdraw(). */
static void wallet_move(struct api_req *r, const char *fn)
{
	static const char *const keys[] = {"amount", "reference", NULL};
	char id[24], amount[40], sql[160];
	const char *ref;
	if (own_subscriber(r, r->id[0]) || only_keys(r, r->body, keys) ||
	    get_money(r, r->body, "amount", false, amount, sizeof(amount)) ||
	    get_text(r, r->body, "reference", false, LABEL_MAX_LEN, &ref))
		return;
	id_text(r->id[0], id, sizeof(id));
	if (money_once(r, fn, id, amount, ref))
		return;
	const char *p[3] = {id, amount, ref};
	snprintf(sql, sizeof(sql), "SELECT $1::bigint AS subscriber_id,"
		 " %s($1, $2::numeric, $3) AS balance_usd", fn);
	reply_one(r, 200, "wallet", sql, 3, p);
}

static void h_wallet_deposit(struct api_req *r)
{
	wallet_move(r, "wallet_deposit");
}

static void h_wallet_withdraw(struct api_req *r)
{
	wallet_move(r, "wallet_withdraw");
}

/* GET ?after=<entry_no>&limit=<n>: entries after `after`, oldest first. */
static void h_ledger(struct api_req *r)
{
	char id[24];
	if (own_subscriber(r, r->id[0]) || admin_unknown(r, "subscribers", "subscriber"))
		return;
	id_text(r->id[0], id, sizeof(id));
	reply_page(r, "entries", LEDGER_PAGE_MAX,
		   "SELECT entry_no, entry_type, amount, balance_before, balance_after,"
		   " reserved_before, reserved_after, receivable_before, receivable_after,"
		   " hwm_before, hwm_after, profit, fee_pct,"
		   " subscription_id, reference, created_at FROM billing_ledger"
		   " WHERE subscriber_id = $3 AND entry_no > $1 ORDER BY entry_no LIMIT $2", id);
}

/* POST {profit, reference?}: charge_performance_fee() at the subscription's fee_pct. */
static void h_fee_charge(struct api_req *r)
{
	static const char *const keys[] = {"profit", "reference", NULL};
	char id[24], profit[40];
	const char *ref;
	if (only_keys(r, r->body, keys) ||
	    get_money(r, r->body, "profit", true, profit, sizeof(profit)) ||
	    get_text(r, r->body, "reference", false, LABEL_MAX_LEN, &ref))
		return;
	id_text(r->id[0], id, sizeof(id));
	if (money_once(r, "charge_performance_fee", id, profit, ref))
		return;
	const char *p[3] = {id, profit, ref};
	reply_one(r, 200, "subscription", "SELECT * FROM charge_performance_fee($1, $2::numeric, $3)",
		  3, p);
}

/* GET ?profit=<cumulative profit>: calculate_performance_fee() at the subscription's
 * fee_pct; nothing is charged. */
static void h_fee_preview(struct api_req *r)
{
	char id[24], raw[48], profit[40];
	if (own_subscription(r, r->id[0]))
		return;
	const char *q = query_str(r, "profit", raw, sizeof(raw));
	if (q == NULL) {   /* absent, not of a wrong type */
		api_error(r, 422, "missing_field", "query parameter 'profit' is required");
		return;
	}
	json_t *o = json_pack("{s:s}", "profit", q);
	int rc = get_money(r, o, "profit", true, profit, sizeof(profit));
	json_decref(o);
	if (rc != 0)
		return;
	id_text(r->id[0], id, sizeof(id));
	const char *p[2] = {id, profit};
	reply_one(r, 200, "subscription", "SELECT f.fee_amount, f.new_hwm, f.profit_above_hwm,"
		  " s.high_water_mark AS hwm, s.fee_pct FROM subscriptions s,"
		  " calculate_performance_fee(s.id, $2::numeric, s.fee_pct) f WHERE s.id = $1", 2, p);
}

/* ------------------------------------------------------------------ trust, events */

static void h_trust(struct api_req *r)
{
	char id[24];
	if (own_subscription(r, r->id[0]))
		return;
	id_text(r->id[0], id, sizeof(id));
	const char *p[1] = {id};
	PGresult *res = api_q(r, "SELECT s.id AS subscription_id, s.trust_score, s.state,"
			      " s.state_reason, t.quiet_since, coalesce(t.incidents, 0) AS incidents,"
			      " coalesce(t.executions, 0) AS executions,"
			      " coalesce(t.auto_pauses, 0) AS auto_pauses,"
			      " (SELECT count(*) FROM trust_inbox i WHERE i.subscription_id = s.id)"
			      " AS pending_events FROM subscriptions s"
			      " LEFT JOIN subscription_trust t ON t.subscription_id = s.id"
			      " WHERE s.id = $1", 1, p);
	if (res == NULL)
		return;
	json_t *o = api_row(res, 0);
	PQclear(res);
	res = api_q(r, "SELECT event_time, reason, sequence, latency_ms, price_deviation, symbol"
		    " FROM protection_logs WHERE subscription_id = $1"
		    " ORDER BY event_time DESC, id DESC LIMIT 20", 1, p);
	if (res == NULL) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "recent_events", api_rows(res));
	PQclear(res);
	/* the score's last 200 changes, oldest first (sql 0022: kept 30 days) */
	res = api_q(r, "SELECT at, score FROM (SELECT at, score FROM trust_history"
		    " WHERE subscription_id = $1 ORDER BY at DESC LIMIT 200) h ORDER BY at", 1, p);
	if (res == NULL) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "history", api_rows(res));
	PQclear(res);
	api_reply(r, 200, o);
}

/* ------------------------------------------------------------------ positions */

/* proto OrderType names (decp.proto), as the API spells order types elsewhere */
static const char *order_type_name(uint32_t t)
{
	static const char *const n[] = {"UNSPECIFIED", "BUY", "SELL", "BUY_LIMIT", "SELL_LIMIT",
					"BUY_STOP", "SELL_STOP", "CLOSE", "MODIFY", "CLOSE_PARTIAL"};

	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "UNKNOWN";
}

/*
 * GET /v1/masters/{id}/positions: the master's position book as the book role keeps it in
 * Redis (docs/resync.md): open positions and pending orders at the sequence it reflects.
 * The operator, or a subscriber with a live subscription to that master.
 */
static void h_master_positions(struct api_req *r)
{
	char id[24], subs[24];
	struct cp_book b;
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, r->id[0]);
	if (admin_unknown(r, "masters", "master"))
		return;
	if (!r->admin) {
		const char *p[2] = {id, subs};
		PGresult *res;

		snprintf(subs, sizeof(subs), "%" PRId64, r->subscriber);
		res = api_q(r, "SELECT 1 FROM subscriptions WHERE master_id = $1 AND subscriber_id = $2"
			    " AND state <> 'CANCELLED'", 2, p);
		if (res == NULL)
			return;
		rc = PQntuples(res);
		PQclear(res);
		if (rc == 0) {
			api_error(r, 403, "forbidden", "no live subscription to master %s", id);
			return;
		}
	}
	if (cp_redis_ensure(&r->api->redis) != 0) {
		api_error(r, 503, "redis_unavailable", "Redis is unreachable; retry later");
		return;
	}
	cp_book_init(&b, (uint64_t)r->id[0]);
	/* on the primary serving the master's slot, a cluster redirect followed once */
	char key[64];
	snprintf(key, sizeof(key), CP_REDIS_BOOK_KEY_FMT, (uint64_t)r->id[0]);
	const char *argv[] = {"HMGET", key, "seq", "b"};
	redisReply *rep = cp_redis_command_argv(&r->api->redis, key, 4, argv, NULL);
	rc = cp_book_store_decode(rep, (uint64_t)r->id[0], &b);
	freeReplyObject(rep);
	if (rc == -EIO)   /* on a cluster: that master's primary alone */
		cp_redis_fail_key(&r->api->redis, key, "loading a position book");
	if (rc != 0) {
		cp_book_free(&b);
		if (rc == -EIO)
			api_error(r, 503, "redis_unavailable", "Redis is unreachable; retry later");
		else
			api_error(r, 500, "internal", "the stored book of master %s does not decode", id);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < b.n; i++) {
		const struct cp_book_entry *e = &b.e[i];

		json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"ticket", (json_int_t)e->ticket, "type", order_type_name(e->type),
			"symbol", e->symbol, "volume", (json_int_t)e->volume,
			"price", (json_int_t)e->price, "sl", (json_int_t)e->sl,
			"tp", (json_int_t)e->tp, "opened_sequence", (json_int_t)e->opened_seq,
			"updated_sequence", (json_int_t)e->updated_seq));
	}
	api_reply(r, 200, json_pack("{s:I, s:I, s:o}", "master_id", (json_int_t)r->id[0],
				    "sequence", (json_int_t)b.seq, "positions", a));
	cp_book_free(&b);
}

/*
 * GET /v1/subscriptions/{id}/positions: what the subscriber reported holding for this
 * subscription (execution reports, sql 0013): each FILLED ticket without a CLOSED report,
 * with the master's signal that opened it (signal_archive: the master's ticket, symbol,
 * type), so that a page can set it beside the master's book.
 */
static void h_subscription_positions(struct api_req *r)
{
	char id[24];
	const char *p[1] = {id};
	PGresult *res;

	if (own_subscription(r, r->id[0]))
		return;
	snprintf(id, sizeof(id), "%" PRId64, r->id[0]);
	res = api_q(r, "SELECT x.broker_ticket, x.sequence AS opened_sequence, x.volume, x.price,"
		    " a.position_ticket AS master_ticket, a.symbol, a.order_type,"
		    " EXISTS (SELECT 1 FROM execution_pnl q WHERE q.subscription_id = x.subscription_id"
		    " AND q.broker_ticket = x.broker_ticket AND q.status = 'PARTIAL') AS partly_closed"
		    " FROM execution_pnl x JOIN subscriptions s ON s.id = x.subscription_id"
		    " LEFT JOIN signal_archive a ON a.master_id = s.master_id AND a.sequence = x.sequence"
		    " WHERE x.subscription_id = $1 AND x.status = 'FILLED' AND NOT EXISTS (SELECT 1"
		    " FROM execution_pnl c WHERE c.subscription_id = x.subscription_id"
		    " AND c.broker_ticket = x.broker_ticket AND c.status = 'CLOSED')"
		    " ORDER BY x.sequence, x.broker_ticket", 1, p);
	if (res == NULL)
		return;
	api_reply(r, 200, json_pack("{s:I, s:o}", "subscription_id", (json_int_t)r->id[0],
				    "positions", api_rows(res)));
	PQclear(res);
}

/* One batch item, validated and normalised into `norm` (keys of the SQL recordset). */
static int event_check(struct api_req *r, json_t *e, size_t i, json_t *norm)
{
	static const char *const keys[] = {"subscription_id", "reason", "sequence", "latency_ms",
					   "price_deviation", "symbol", "event_time_ms",
					   "attribution", "report_id", NULL};
	char sid[24], seq[32], lat[48], dev[48], at[32], rid[32];
	const char *reason, *sym, *attr;
	enum guard_trust_event ev;
	if (!json_is_object(e)) {
		api_error(r, 422, "wrong_type", "events[%zu] must be an object", i);
		return -EINVAL;
	}
	if (only_keys(r, e, keys) || get_id(r, e, "subscription_id", true, sid, sizeof(sid)) ||
	    get_text(r, e, "reason", true, 48, &reason) ||
	    get_int(r, e, "sequence", false, 0, JSON_SAFE_MAX, seq, sizeof(seq)) ||
	    get_num(r, e, "latency_ms", 0, 1e9, lat, sizeof(lat)) ||
	    get_num(r, e, "price_deviation", -1e9, 1e9, dev, sizeof(dev)) ||
	    get_int(r, e, "event_time_ms", false, 0, INT64_C(9000000000000000), at, sizeof(at)) ||
	    get_int(r, e, "report_id", false, 1, JSON_SAFE_MAX, rid, sizeof(rid)) ||
	    get_text(r, e, "symbol", false, 31, &sym) ||
	    get_text(r, e, "attribution", false, 31, &attr))
		goto fail;
	if (attr != NULL) { /* guard's names (proto StalenessAttribution), TTL_EXPIRED only */
		unsigned int a = 1;
		while (guard_attribution_name((enum guard_attribution)a) != NULL &&
		       strcmp(guard_attribution_name((enum guard_attribution)a), attr) != 0)
			a++;
		if (guard_attribution_name((enum guard_attribution)a) == NULL ||
		    strcmp(reason, "TTL_EXPIRED") != 0) {
			api_error(r, 422, "invalid_value", "events[%zu]: 'attribution' is SUBSCRIBER, "
				  "PLATFORM_LATE_SEND or PLATFORM_REPLAY, for TTL_EXPIRED only", i);
			return -EINVAL;
		}
	}
	if (cp_trust_event_parse(reason, &ev) != 0) {
		api_error(r, 422, "unknown_reason", "events[%zu]: unknown reason code '%.48s'", i,
			  reason);
		return -EINVAL;
	}
	if (sym != NULL && strspn(sym, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789._#-") != strlen(sym)) {
		api_error(r, 422, "invalid_value", "events[%zu]: 'symbol' has invalid characters", i);
		return -EINVAL;
	}
	json_object_set_new(norm, "subscription_id", json_string(sid));
	json_object_set_new(norm, "reason", json_string(reason));
	json_object_set_new(norm, "sequence", seq[0] ? json_string(seq) : json_null());
	json_object_set_new(norm, "latency_ms", lat[0] ? json_string(lat) : json_null());
	json_object_set_new(norm, "price_deviation", dev[0] ? json_string(dev) : json_null());
	json_object_set_new(norm, "symbol", sym ? json_string(sym) : json_null());
	json_object_set_new(norm, "event_time_ms", at[0] ? json_string(at) : json_null());
	json_object_set_new(norm, "attribution", attr ? json_string(attr) : json_null());
	json_object_set_new(norm, "report_id", rid[0] ? json_string(rid) : json_null());
	return 0;
fail:
	/* Say which item: prefix the message of the reply already set. */
	if (r->out != NULL && json_is_object(r->out)) {
		char m[600];
		snprintf(m, sizeof(m), "events[%zu]: %s", i,
			 json_string_value(json_object_get(r->out, "message")));
		json_object_set_new(r->out, "message", json_string(m));
	}
	return -EINVAL;
}

/*
 * POST {"events": [...]}: validate all here, then the group commit (cp_api_batch.c) stores
 * the protection events (EXECUTE reports are not protections: trust only) and queues every
 * item for trust, or stores nothing when any subscription is unknown (404) or not the
 * caller's (403), or an event_time_ms (receiver's clock) is not within the last 7 days or
 * 5 minutes ahead (422).
 */
/*
 * GET /v1/protection-events?subscription_id=S&reason=R&before=ID&limit=N: the feed, newest
 * first (the operator's over everything, a subscriber's over its own subscriptions), by
 * subscription and reason; `next_before` pages back. The reason is a guard name (checked
 * as the table checks it).
 */
static void h_event_list(struct api_req *r)
{
	char reason[64], sub_s[24], before_s[24], limit_s[24], owner_s[24];
	int64_t sub, before, limit;
	const char *reason_q = query_str(r, "reason", reason, sizeof(reason));

	if (query_int(r, "subscription_id", 1, ID_MAX, 0, &sub) ||
	    query_int(r, "before", 1, INT64_MAX, INT64_MAX, &before) ||
	    query_int(r, "limit", 1, LIST_PAGE_MAX, 100, &limit))
		return;
	if (reason_q != NULL) {
		size_t n = strlen(reason_q);
		bool ok = n >= 2 && n <= 48 && reason_q[0] >= 'A' && reason_q[0] <= 'Z';

		for (size_t i = 1; ok && i < n; i++)
			ok = (reason_q[i] >= 'A' && reason_q[i] <= 'Z') ||
			     (reason_q[i] >= '0' && reason_q[i] <= '9') || reason_q[i] == '_';
		if (!ok) {
			api_error(r, 422, "invalid_value", "query parameter 'reason' must be a reason "
				  "name (A-Z, 0-9, _)");
			return;
		}
	}
	id_text(sub, sub_s, sizeof(sub_s));
	id_text(before, before_s, sizeof(before_s));
	id_text(limit, limit_s, sizeof(limit_s));
	id_text(r->subscriber, owner_s, sizeof(owner_s));
	/* A subscriber's (or one subscription's) events: its subscription ids first, then the
	 * events of those ids by (subscription_id, id) (sql 0029). The ids go to PostgreSQL as
	 * values, so the plan is made for them: the statement as one join was planned for any
	 * subscription, and with one subscriber's events filling a day's partition it scanned
	 * that partition for every other subscriber's request (0.2 s at 2 M rows, on the
	 * worker's loop). The operator's list of all of them reads the table by id. */
	PGresult *res;
	char *ids = NULL;

	if (sub > 0 || !r->admin) {
		const char *sp[2] = {sub > 0 ? sub_s : NULL, r->admin ? NULL : owner_s};

		res = api_q(r, "SELECT coalesce(array_agg(id), '{}')::text FROM subscriptions"
			    " WHERE ($1::bigint IS NULL OR id = $1)"
			    " AND ($2::bigint IS NULL OR subscriber_id = $2)", 2, sp);
		if (res == NULL)
			return;
		ids = strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (ids == NULL) {
			api_error(r, 500, "internal", "out of memory");
			return;
		}
	}
	const char *p[4] = {ids, reason_q, before_s, limit_s};
	res = api_q(r, "SELECT l.id, l.event_time, l.subscription_id, l.master_id,"
		    " l.sequence, l.reason, l.latency_ms, l.price_deviation, l.symbol,"
		    " l.attribution FROM protection_logs l"
		    " WHERE ($1::bigint[] IS NULL OR l.subscription_id = ANY($1::bigint[]))"
		    " AND ($2::text IS NULL OR l.reason = $2) AND l.id < $3::bigint"
		    " ORDER BY l.id DESC LIMIT $4", 4, p);
	free(ids);
	if (res == NULL)
		return;
	int n = PQntuples(res);
	json_t *next = n == limit ? json_integer(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10))
				  : json_null();
	api_reply(r, 200, json_pack("{s:o, s:o}", "events", api_rows(res), "next_before", next));
	PQclear(res);
}

/*
 * GET /v1/alerts?state=open|acknowledged|all&kind=K&before=ID&limit=N: the alert feed
 * (sql 0024, docs/console.md "Alerts"), newest activity first by id; `open` counts every
 * open alert (whatever the filters); `next_before` pages back.
 */
#define ALERT_COLS "id, kind, master_id, subscription_id, message, count, first_at, last_at," \
		   " acknowledged_at, acknowledged_by"
static void h_alert_list(struct api_req *r)
{
	static const char *const states[] = {"open", "acknowledged", "all", NULL};
	static const char *const kinds[] = {"auto_pause", "platform_lag", "unknown_instrument",
					    "positions_mismatch", "book_stopped", NULL};
	char state[16], kind[32], before_s[24], limit_s[24];
	const char *state_q = query_str(r, "state", state, sizeof(state));
	const char *kind_q = query_str(r, "kind", kind, sizeof(kind));
	int64_t before, limit;
	unsigned int i;

	if (query_int(r, "before", 1, INT64_MAX, INT64_MAX, &before) ||
	    query_int(r, "limit", 1, LIST_PAGE_MAX, 100, &limit))
		return;
	for (i = 0; state_q != NULL && states[i] != NULL && strcmp(states[i], state_q) != 0; i++)
		;
	if (state_q != NULL && states[i] == NULL) {
		api_error(r, 422, "invalid_value", "query parameter 'state' must be open, "
			  "acknowledged or all");
		return;
	}
	for (i = 0; kind_q != NULL && kinds[i] != NULL && strcmp(kinds[i], kind_q) != 0; i++)
		;
	if (kind_q != NULL && kinds[i] == NULL) {
		api_error(r, 422, "invalid_value", "query parameter 'kind' must be one of "
			  "auto_pause, platform_lag, unknown_instrument, positions_mismatch, "
			  "book_stopped");
		return;
	}
	id_text(before, before_s, sizeof(before_s));
	id_text(limit, limit_s, sizeof(limit_s));
	const char *p[4] = {state_q != NULL ? state_q : "open", kind_q, before_s, limit_s};
	PGresult *res = api_q(r, "SELECT " ALERT_COLS ", (SELECT count(*) FROM alerts"
			      " WHERE acknowledged_at IS NULL) AS open FROM alerts"
			      " WHERE ($1 = 'all' OR ($1 = 'open') = (acknowledged_at IS NULL))"
			      " AND ($2::text IS NULL OR kind = $2) AND id < $3::bigint"
			      " ORDER BY id DESC LIMIT $4", 4, p);
	if (res == NULL)
		return;
	int n = PQntuples(res);
	json_t *rows = api_rows(res), *open = NULL;
	json_t *next = n == limit ? json_integer(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10))
				  : json_null();
	PQclear(res);
	for (size_t k = 0; k < json_array_size(rows); k++) {
		json_t *o = json_array_get(rows, k);
		if (open == NULL)
			open = json_incref(json_object_get(o, "open"));
		json_object_del(o, "open");
	}
	if (open == NULL) { /* no row matched the filters: count the open ones alone */
		res = api_q(r, "SELECT count(*) AS open FROM alerts WHERE acknowledged_at IS NULL",
			    0, NULL);
		if (res == NULL) {
			json_decref(rows);
			json_decref(next);
			return;
		}
		open = json_integer(strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		PQclear(res);
	}
	api_reply(r, 200, json_pack("{s:o, s:o, s:o}", "alerts", rows, "open", open,
				    "next_before", next));
}

/* POST /v1/alerts/{id}/acknowledge: closes an open alert (its next occurrence opens a new
 * one). 404 unknown, 409 already acknowledged. */
static void h_alert_ack(struct api_req *r)
{
	char id[24];
	id_text(r->id[0], id, sizeof(id));
	const char *p[2] = {id, r->session[0] != '\0' ? "operator (console)" : "operator"};
	PGresult *res = api_q(r, "WITH a AS (UPDATE alerts SET acknowledged_at = now(),"
			      " acknowledged_by = $2 WHERE id = $1 AND acknowledged_at IS NULL"
			      " RETURNING " ALERT_COLS ") SELECT a.*, true AS changed FROM a"
			      " UNION ALL SELECT " ALERT_COLS ", false FROM alerts WHERE id = $1"
			      " AND NOT EXISTS (SELECT 1 FROM a)", 2, p);
	if (res == NULL)
		return;
	if (PQntuples(res) == 0) {
		api_error(r, 404, "not_found", "no such alert");
	} else if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "changed")), "t") != 0) {
		api_error(r, 409, "already_acknowledged", "alert %s was acknowledged at %s by %s",
			  id, PQgetvalue(res, 0, PQfnumber(res, "acknowledged_at")),
			  PQgetvalue(res, 0, PQfnumber(res, "acknowledged_by")));
	} else {
		json_t *o = api_row(res, 0);
		json_object_del(o, "changed");
		api_reply(r, 200, o);
	}
	PQclear(res);
}

static void h_events(struct api_req *r)
{
	static const char *const keys[] = {"events", NULL};
	json_t *ev = json_object_get(r->body, "events");
	if (only_keys(r, r->body, keys))
		return;
	if (ev == NULL) {
		api_error(r, 422, "missing_field", "'events' is required");
		return;
	}
	if (!json_is_array(ev)) {
		api_error(r, 422, "wrong_type", "'events' must be an array");
		return;
	}
	if (json_array_size(ev) == 0) {
		api_error(r, 422, "invalid_value", "'events' must be a non-empty array");
		return;
	}
	if (json_array_size(ev) > r->api->cfg->api_max_batch) {
		api_error(r, 413, "batch_too_large", "at most %u events per request",
			  r->api->cfg->api_max_batch);
		return;
	}
	json_t *norm = json_array();
	for (size_t i = 0; i < json_array_size(ev); i++) {
		json_t *o = json_object();
		json_array_append_new(norm, o);
		if (event_check(r, json_array_get(ev, i), i, o) != 0) {
			json_decref(norm);
			return;
		}
	}
	api_events_defer(r, norm);   /* stored and answered by the next group commit */
}

/* ------------------------------------------------------------------ table */

const struct api_route cp_api_routes[] = {
	{API_GET, "/healthz", API_PUBLIC, false, h_healthz, false},
	{API_GET, "/readyz", API_PUBLIC, false, h_readyz, false},
	{API_GET, "/metrics", API_PUBLIC, false, h_metrics, false},
	/* the web console (cp_api_console.c, docs/console.md) */
	{API_GET, "/console", API_PUBLIC, false, api_console_asset, false},
	{API_GET, "/console/", API_PUBLIC, false, api_console_asset, false},
	{API_GET, "/console/index.html", API_PUBLIC, false, api_console_asset, false},
	{API_GET, "/console/app.js", API_PUBLIC, false, api_console_asset, false},
	{API_GET, "/console/app.css", API_PUBLIC, false, api_console_asset, false},
	{API_POST, "/v1/console/session", API_PUBLIC, true, api_console_session, false},
	/* primary: a session made a moment ago must be found */
	{API_GET, "/v1/console/me", API_PUBLIC, false, api_console_me, true},
	{API_POST, "/v1/console/logout", API_ANY, false, api_console_logout, false},
	/* primary: LISTEN, and notifications come from the primary only */
	{API_GET, "/v1/console/stream", API_ANY, false, api_console_stream, true},
	{API_POST, "/v1/console/link", API_ANY, false, api_console_link, false},
	{API_POST, "/v1/protection-events", API_ANY, true, h_events, false},
	{API_GET, "/v1/protection-events", API_ANY, false, h_event_list, false},
	{API_GET, "/v1/alerts", API_ADMIN, false, h_alert_list, false},
	{API_POST, "/v1/alerts/:id/acknowledge", API_ADMIN, false, h_alert_ack, false},
	{API_GET, "/v1/masters", API_ADMIN, false, h_master_list, false},
	{API_POST, "/v1/masters", API_ADMIN, true, h_master_create, false},
	{API_GET, "/v1/masters/activity", API_ADMIN, false, h_master_activity, false},
	{API_GET, "/v1/masters/:id", API_ADMIN, false, h_master_get, false},
	{API_GET, "/v1/masters/:id/license-tokens", API_ADMIN, false, h_license_list, false},
	{API_POST, "/v1/masters/:id/license-tokens", API_ADMIN, true, h_license_create, false},
	{API_POST, "/v1/license-tokens/:id/revoke", API_ADMIN, false, h_license_revoke, false},
	{API_GET, "/v1/subscribers", API_ADMIN, false, h_subscriber_list, false},
	{API_POST, "/v1/subscribers", API_ADMIN, true, h_subscriber_create, false},
	{API_GET, "/v1/subscribers/:id", API_ANY, false, h_subscriber_get, false},
	{API_GET, "/v1/subscribers/:id/tokens", API_ANY, false, h_subtoken_list, false},
	{API_POST, "/v1/subscribers/:id/tokens", API_ADMIN, true, h_subtoken_create, false},
	{API_POST, "/v1/subscriber-tokens/:id/revoke", API_ADMIN, false, h_subtoken_revoke, false},
	{API_GET, "/v1/subscribers/:id/wallet", API_ANY, false, h_wallet_get, false},
	{API_POST, "/v1/subscribers/:id/wallet/deposit", API_ADMIN, true, h_wallet_deposit, false},
	{API_POST, "/v1/subscribers/:id/wallet/withdraw", API_ANY, true, h_wallet_withdraw, false},
	{API_GET, "/v1/subscribers/:id/ledger", API_ANY, false, h_ledger, false},
	{API_GET, "/v1/subscriptions", API_ANY, false, h_subscription_list, false},
	{API_POST, "/v1/subscriptions", API_ANY, true, h_subscription_create, false},
	{API_GET, "/v1/subscriptions/:id", API_ANY, false, h_subscription_get, false},
	{API_POST, "/v1/subscriptions/:id/suspend", API_ADMIN, false, h_subscription_suspend, false},
	{API_POST, "/v1/subscriptions/:id/resume", API_ADMIN, false, h_subscription_resume, false},
	{API_POST, "/v1/subscriptions/:id/cancel", API_ANY, false, h_subscription_cancel, false},
	{API_POST, "/v1/subscriptions/:id/copy-policy", API_ANY, true, h_subscription_policy, false},
	{API_GET, "/v1/subscriptions/:id/performance-fee", API_ANY, false, h_fee_preview, false},
	{API_POST, "/v1/subscriptions/:id/performance-fee", API_ADMIN, true, h_fee_charge, false},
	{API_GET, "/v1/subscriptions/:id/trust", API_ANY, false, h_trust, false},
	{API_GET, "/v1/subscriptions/:id/positions", API_ANY, false, h_subscription_positions, false},
	{API_GET, "/v1/masters/:id/positions", API_ANY, false, h_master_positions, false},
};
const unsigned int cp_api_nroutes = sizeof(cp_api_routes) / sizeof(cp_api_routes[0]);
