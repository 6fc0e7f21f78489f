/*
 * cp_api_console: the web console's files and sessions (docs/console.md, issue 27).
 *
 * The console is three static files (console/, embedded at build time by
 * console/embed_console.py) that call the same JSON API as everyone else. What is its
 * own is how a person signs in: the token is sent once (POST /v1/console/session) and
 * exchanged for a random session cookie that scripts cannot read (HttpOnly), that no
 * other site's page can make the browser send (SameSite=Strict), and that is only sent
 * over TLS when the api serves HTTPS (Secure). The token itself is never kept by the page.
 * A request authenticated by the cookie that changes something (POST) must also carry
 * `X-Decp-Console: 1`, which a cross-site form cannot send: CSRF needs both defeated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cp_api_pvt.h"
#include "cp_buf.h"
#include "cp_console_assets.h"
#include "cp_log.h"

#define SESSION_HOURS 8 /* as the INSERT's interval */
#define CODE_MINUTES 10 /* a sign-in link's life, as the INSERT's interval */

/* SQL: the subscriber token whose digest is in column `x` is still good (not revoked, not
 * expired, its subscriber not disabled): what a session or a link of a subscriber needs. */
#define TOKEN_GOOD(x) " EXISTS (SELECT 1 FROM subscriber_tokens t" \
	" JOIN subscribers s ON s.id = t.subscriber_id WHERE t.token_sha256 = " x \
	" AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())" \
	" AND s.disabled_at IS NULL)"
/* the session cookie's name: CP_API_COOKIE_TLS over HTTPS (cp_api_rd.h) */
#define COOKIE(r) ((r)->api->cfg->api_tls ? CP_API_COOKIE_TLS : CP_API_COOKIE_PLAIN)

/* The policy of every console page: our own scripts and styles only, nothing inline,
 * nothing from elsewhere, never framed. */
static const char console_headers[] =
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'\r\n"
	"X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n";

void api_console_asset(struct api_req *r)
{
	const struct cp_console_asset *f = cp_console_asset_find(r->path);

	if (f == NULL) {
		api_error(r, 404, "not_found", "no such console file");
		return;
	}
	r->text = malloc(f->len + 1);
	if (r->text == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->text, f->data, f->len);
	r->text[f->len] = '\0';
	r->status = 200;
	r->ctype = f->ctype;
	snprintf(r->hdrs, sizeof(r->hdrs), "%s", console_headers);
}

/* "\\x" + 64 hex digits of d: a bytea parameter in text form. */
static void bytea_hex(const uint8_t d[32], char out[67])
{
	out[0] = '\\';
	out[1] = 'x';
	api_hex(d, 32, out + 2);
}

/* The digest of a cookie value (64 hex digits, checked by the reader). */
static int session_digest(const char *cookie, uint8_t d[32])
{
	unsigned int n = 0;

	return EVP_Digest(cookie, strlen(cookie), d, &n, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* The digest of a secret (a session cookie, a link's code: 64 hex digits) as a bytea
 * parameter: 0, or -EIO with the reply set. */
static int secret_param(struct api_req *r, const char *secret, char hex[67])
{
	uint8_t d[32];

	if (session_digest(secret, d) != 0) {
		api_error(r, 500, "internal", "digest failed");
		return -EIO;
	}
	bytea_hex(d, hex);
	return 0;
}

/*
 * r's caller from what a secret was granted to: sql ($1: the secret's digest) returns the
 * row (operator, subscriber id or 0, token digest in hex) of a live grant, and an
 * operator's grant lasts only as long as the operator token it was made with. 0; -EIO (the
 * reply is set); -EACCES (none: the caller answers 401 in its own words).
 */
static int caller_of_grant(struct api_req *r, const char *sql, const char *dig)
{
	const char *p[1] = {dig};
	PGresult *res = api_q(r, sql, 1, p);
	bool ok;

	if (res == NULL)
		return -EIO;
	ok = PQntuples(res) == 1;
	if (ok) {
		r->admin = PQgetvalue(res, 0, 0)[0] == 't';
		r->subscriber = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		ok = cp_hex_decode(PQgetvalue(res, 0, 2), r->token_sha256, 32) == 0;
	}
	PQclear(res);
	if (ok && r->admin)
		ok = r->api->sh->has_admin &&
		     CRYPTO_memcmp(r->token_sha256, r->api->sh->admin_hash, 32) == 0;
	if (!ok) {
		r->admin = false;
		r->subscriber = 0;
		return -EACCES;
	}
	return 0;
}

int api_console_auth(struct api_req *r)
{
	char hex[67];
	int rc;

	if (secret_param(r, r->session, hex) != 0)
		return -EIO;
	rc = caller_of_grant(r, "SELECT cs.operator, coalesce(cs.subscriber_id, 0),"
			     " encode(cs.token_sha256, 'hex') FROM console_sessions cs"
			     " WHERE cs.digest = $1::bytea AND cs.ended_at IS NULL"
			     " AND cs.expires_at > now() AND (cs.operator OR"
			     TOKEN_GOOD("cs.token_sha256") ")", hex);
	if (rc == -EACCES)
		api_error(r, 401, "session_ended", "the console session has expired or ended; sign "
			  "in again");
	if (rc != 0)
		return rc;
	if (r->method == API_POST && !r->console_hdr) {
		api_error(r, 403, "csrf", "a change by a console session needs the header "
			  "X-Decp-Console: 1");
		return -EACCES;
	}
	return 0;
}

/* A new secret: 32 random bytes as 64 hex digits (what the client gets) and the bytea
 * parameter of its digest (what is stored). 0, or -EIO with the reply set. */
static int new_secret(struct api_req *r, char hex[65], char dig[67])
{
	uint8_t raw[32], d[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1 || session_digest(api_hex(raw, 32, hex), d) != 0) {
		api_error(r, 500, "internal", "no randomness or no digest");
		return -EIO;
	}
	bytea_hex(d, dig);
	return 0;
}

/*
 * A new secret granted to r's caller (r->admin, r->subscriber, r->token_sha256), stored as
 * its digest by sql: INSERT INTO ... (digest, operator, subscriber_id, token_sha256,
 * expires_at) VALUES ($1, $2, $3, $4, now() + ...) RETURNING expires_at. The secret's hex
 * into secret; the result (PQclear it), or NULL with the reply set.
 */
static PGresult *grant(struct api_req *r, const char *sql, char secret[65])
{
	char dig[67], thex[67], sub[24];

	if (new_secret(r, secret, dig) != 0)
		return NULL;
	bytea_hex(r->token_sha256, thex);
	snprintf(sub, sizeof(sub), "%" PRId64, r->subscriber);
	const char *p[4] = {dig, r->admin ? "t" : "f", r->admin ? NULL : sub, thex};
	return api_q(r, sql, 4, p);
}

/* A one-time code from a sign-in link: used up now (marked in the same statement), r's
 * caller set from it. 0, or the reply set (401 for a used, expired or unknown one). */
static int code_caller(struct api_req *r, const char *code)
{
	char dig[67];
	int rc;

	if (strlen(code) != 64) {
		api_error(r, 401, "link_invalid", "this sign-in link is not valid");
		return -EACCES;
	}
	if (secret_param(r, code, dig) != 0)
		return -EIO;
	rc = caller_of_grant(r, "UPDATE console_codes c SET used_at = now()"
			     " WHERE c.digest = $1::bytea AND c.used_at IS NULL"
			     " AND c.expires_at > now() AND (c.operator OR"
			     TOKEN_GOOD("c.token_sha256") ") RETURNING c.operator,"
			     " coalesce(c.subscriber_id, 0), encode(c.token_sha256, 'hex')", dig);
	if (rc == -EACCES)
		api_error(r, 401, "link_invalid", "this sign-in link was used already, has expired "
			  "or is not valid; ask for a new one");
	return rc;
}

/* POST /v1/console/session {"token": "..."} or {"code": "..."} (public): the caller's
 * token, or the one-time code of a sign-in link, for a session cookie. */
void api_console_session(struct api_req *r)
{
	json_t *t = json_object_get(r->body, "token"), *c = json_object_get(r->body, "code");
	char hdr[300], cookie[65];

	/* a sign-in changes whose session the browser holds: a page of another origin (a
	 * no-cors fetch, a form) must not trade its own token or link for the victim's
	 * cookie (login CSRF; SameSite does not separate ports of one host) */
	if (!r->console_hdr) {
		api_error(r, 403, "csrf", "signing in to the console needs the header "
			  "X-Decp-Console: 1");
		return;
	}
	if (json_object_size(r->body) == 1 && (t != NULL || c != NULL) &&
	    !json_is_string(t ? t : c)) {
		api_error(r, 422, "wrong_type", "'%s' must be a string", t ? "token" : "code");
		return;
	}
	if (json_object_size(r->body) != 1 || !json_is_string(t ? t : c) ||
	    json_string_length(t ? t : c) == 0 || json_string_length(t ? t : c) > 256) {
		api_error(r, 422, "invalid_value", "the body is {\"token\": \"<operator or subscriber "
			  "token>\"} or {\"code\": \"<the code of a sign-in link>\"}");
		return;
	}
	r->session = "";
	if (t != NULL) {
		snprintf(hdr, sizeof(hdr), "Bearer %s", json_string_value(t));
		/* each sign-in stores a session: the caller's api_rate_per_s as for any
		 * request (a code is used once, and each was made by a request that counted) */
		if (api_authenticate(r, hdr) != 0 || api_rate_check(r) != 0)
			return;
	} else if (code_caller(r, json_string_value(c)) != 0) {
		return;
	}
	PGresult *res = grant(r, "INSERT INTO console_sessions (digest, operator, subscriber_id,"
			      " token_sha256, expires_at) VALUES ($1::bytea, $2, $3, $4::bytea,"
			      " now() + interval '8 hours') RETURNING expires_at", cookie);
	if (res == NULL)
		return;
	json_t *o = json_pack("{s:s, s:s}", "role", r->admin ? "operator" : "subscriber",
			      "expires_at", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!r->admin)
		json_object_set_new(o, "subscriber_id", json_integer(r->subscriber));
	snprintf(r->hdrs, sizeof(r->hdrs), "Set-Cookie: %s=%s; Path=/; Max-Age=%d; "
		 "HttpOnly; SameSite=Strict%s\r\n", COOKIE(r), cookie, SESSION_HOURS * 3600,
		 r->api->cfg->api_tls ? "; Secure" : "");
	api_reply(r, 201, o);
}

/* POST /v1/console/link (a token, not a session): a one-time sign-in link for the caller,
 * valid CODE_MINUTES; the code is in the fragment (never sent to a server). Not from a
 * console session: its link would open a new 8-hour session, so a holder of the cookie
 * could chain links past the session's Sign out and past its 8 hours. */
void api_console_link(struct api_req *r)
{
	char code[65], path[128];

	if (r->auth == NULL || r->auth[0] == '\0') {
		api_error(r, 403, "forbidden", "a sign-in link is made with a token (Authorization:"
			  " Bearer), not from a console session");
		return;
	}
	PGresult *res = grant(r, "INSERT INTO console_codes (digest, operator, subscriber_id,"
			      " token_sha256, expires_at) VALUES ($1::bytea, $2, $3, $4::bytea,"
			      " now() + interval '10 minutes') RETURNING expires_at", code);
	if (res == NULL)
		return;
	snprintf(path, sizeof(path), "/console/#code=%s", code);
	api_reply(r, 201, json_pack("{s:s, s:s, s:i}", "path", path, "expires_at",
				    PQgetvalue(res, 0, 0), "valid_minutes", CODE_MINUTES));
	PQclear(res);
}

/* GET /v1/console/me (public): who the session cookie (or a token) is; {"role": null}
 * without a valid one, so that the page asks for a sign-in without an error. */
void api_console_me(struct api_req *r)
{
	const char *hdr = r->auth != NULL ? r->auth : "";
	bool has = hdr[0] != '\0' || (r->session != NULL && r->session[0] != '\0');


	if (!has || api_authenticate(r, hdr) != 0) {
		if (has && r->status >= 500)
			return; /* PostgreSQL is down: say so (503) */
		api_reply(r, 200, json_pack("{s:n}", "role"));
		return;
	}
	json_t *o = json_pack("{s:s, s:b}", "role", r->admin ? "operator" : "subscriber",
			      "session", hdr[0] == '\0');

	if (!r->admin)
		json_object_set_new(o, "subscriber_id", json_integer(r->subscriber));
	api_reply(r, 200, o);
}

/* POST /v1/console/logout: the session ends now (the cookie is dropped too). "ended" says
 * whether a session ended: false for a call with a token (no session to end). */
void api_console_logout(struct api_req *r)
{
	bool ended = false;

	if (r->session != NULL && r->session[0] != '\0') {
		char hex[67];
		const char *p[1] = {hex};
		PGresult *res;

		if (secret_param(r, r->session, hex) != 0)
			return;
		res = api_q(r, "UPDATE console_sessions SET ended_at = now() WHERE digest = $1::bytea"
			    " AND ended_at IS NULL", 1, p);
		if (res == NULL)
			return;
		ended = strcmp(PQcmdTuples(res), "0") != 0;
		PQclear(res);
	}
	snprintf(r->hdrs, sizeof(r->hdrs), "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; "
		 "SameSite=Strict%s\r\n", COOKIE(r), r->api->cfg->api_tls ? "; Secure" : "");
	api_reply(r, 200, json_pack("{s:b}", "ended", ended));
}

/*
 * GET /v1/console/stream: Server-Sent Events for the console's live updates. Each event
 * (`event: change`) says only that something the pages show may have changed (a
 * subscription, a protection event: NOTIFY decp_console, sql 0022); the page then re-reads
 * what it shows through the API, with the caller's own rights. So a stream carries no data
 * and needs no authorization of its own beyond the caller's.
 */
void api_console_stream(struct api_req *r)
{
	struct api *a = r->api;
	unsigned int mine = 0, subscribers = 0;

	for (unsigned int i = 0; i < a->nstreams; i++) {
		mine += a->stream_owner[i] == (r->admin ? 0 : r->subscriber);
		subscribers += a->stream_owner[i] != 0;
	}
	/* one subscriber's streams never take them all, nor the operator's share */
	if (a->nstreams >= API_STREAMS_MAX ||
	    (!r->admin && (mine >= API_STREAMS_PER_SUBSCRIBER ||
			   subscribers >= API_STREAMS_MAX - API_STREAMS_OPERATOR))) {
		api_error(r, 429, "too_many_streams", "this api worker serves %u event streams "
			  "(%u of them yours): at most %d, %d per subscriber", a->nstreams, mine,
			  API_STREAMS_MAX, API_STREAMS_PER_SUBSCRIBER);
		return;
	}
	if (!api_batch_primary_ready(a, true) || a->console_listen_session != a->pg.session) {
		PGresult *res = api_q(r, "LISTEN decp_console", 0, NULL);

		if (res == NULL)
			return;
		PQclear(res);
		a->console_listen_session = a->pg.session;
	}
	r->text = strdup("retry: 2000\n\n");
	if (r->text == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	r->status = 200;
	r->stream = true;
}

/*
 * Every stream is checked again against what it was opened with: a session that ended
 * (Sign out, expiry) or whose token was revoked or expired, a subscriber token revoked or
 * expired, ends its stream too (closed). Run on the primary's session when it is idle;
 * a failed statement leaves the rest for the next time.
 */
static void streams_recheck(struct api *a)
{
	for (unsigned int i = 0; i < a->nstreams; i++) {
		char dig[67];
		const char *p[1] = {dig};
		const char *sql;
		uint8_t d[32];
		unsigned int n = 0;

		if (a->stream_session[i][0] != '\0') {
			const char *s = a->stream_session[i];

			if (EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL) != 1)
				return;
			bytea_hex(d, dig);
			sql = "SELECT 1 FROM console_sessions cs WHERE cs.digest = $1::bytea"
			      " AND cs.ended_at IS NULL AND cs.expires_at > now() AND (cs.operator OR"
			      TOKEN_GOOD("cs.token_sha256") ")";
		} else if (a->stream_owner[i] != 0) {
			bytea_hex(a->stream_token[i], dig);
			sql = "SELECT 1 WHERE" TOKEN_GOOD("$1::bytea");
		} else {
			continue; /* the operator's token: good while the process runs */
		}
		PGresult *res = cp_pg_exec(&a->pg, sql, 1, p);

		if (res == NULL || !cp_pg_ok(res)) {
			PQclear(res);
			return;
		}
		if (PQntuples(res) == 0)
			api_stream_end(a->streams[i]);
		PQclear(res);
	}
}

void api_console_tick(struct api *a)
{
	uint64_t now;

	if (a == NULL || a->nstreams == 0)
		return;
	now = cp_now_ns();
	/* a new session (PostgreSQL came back) LISTENs again, and the pages re-read: what
	 * changed meanwhile was not heard */
	if (a->lane[API_LANE_PRIMARY].inflight == NULL && api_batch_primary_up(a) &&
	    a->console_listen_session != a->pg.session) {
		PGresult *res = cp_pg_exec(&a->pg, "LISTEN decp_console", 0, NULL);

		if (res != NULL && cp_pg_ok(res)) {
			a->console_listen_session = a->pg.session;
			a->console_changed = true;
		}
		PQclear(res);
	}
	api_notifies(a);
	if (a->stream_check_due || now - a->stream_ka_ns >= API_STREAM_KA_S * 1000000000ull) {
		/* the lane busy: the next tick checks (the keep-alive below moves on, and
		 * would otherwise put the check off another 15 s, again and again) */
		a->stream_check_due = true;
		if (a->lane[API_LANE_PRIMARY].inflight == NULL && api_batch_primary_up(a)) {
			a->stream_check_due = false;
			streams_recheck(a);
		}
	}
	if (a->console_changed && now - a->stream_push_ns >= API_STREAM_PUSH_MS * 1000000ull) {
		a->console_changed = false;
		a->stream_push_ns = now;
		for (unsigned int i = 0; i < a->nstreams; i++)
			api_stream_due(a->streams[i], true);
	}
	if (now - a->stream_ka_ns >= API_STREAM_KA_S * 1000000000ull) {
		a->stream_ka_ns = now;
		for (unsigned int i = 0; i < a->nstreams; i++)
			api_stream_due(a->streams[i], false);
	}
}
