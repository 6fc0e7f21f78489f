/* cp_auth: the edge's masters and license tokens from PostgreSQL (LISTEN decp_auth, full
 * reload) turned into dataplane control commands. Contract in cp_auth.h. */
#include "cp_auth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_log.h"

void cp_auth_init(struct cp_auth *a, const struct cp_config *cfg)
{
	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	cp_pg_init(&a->pg, cfg, "edge", "LISTEN decp_auth");
}

void cp_auth_close(struct cp_auth *a)
{
	cp_pg_close(&a->pg);
	free(a->masters);
	free(a->tokens);
	free(a->gone);
	a->masters = NULL;
	a->tokens = a->gone = NULL;
	a->n_masters = a->n_tokens = a->n_gone = 0;
}

static bool exec_ok(struct cp_auth *a, const char *sql, const char *what)
{
	PGresult *res = PQexec(a->pg.conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		CP_LOG_RL(CP_LOG_WARN, "edge", "postgresql: %s: %s", what,
			  PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

static int tok_cmp(const void *x, const void *y)
{
	return memcmp(((const struct cp_auth_token *)x)->hash,
		      ((const struct cp_auth_token *)y)->hash, 32);
}

static bool get_bytea(PGresult *res, int row, int col, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;
	unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
	if (b == NULL)
		return false;
	bool ok = n <= cap;
	if (ok) {
		memcpy(out, b, n);
		*len = n;
	}
	PQfreemem(b);
	return ok;
}

int cp_auth_load(struct cp_auth *a)
{
	if (cp_pg_ensure(&a->pg) != 0)
		return -EAGAIN;
	PGresult *rm = NULL, *rt = NULL;
	struct cp_auth_master *ms = NULL;
	struct cp_auth_token *ts = NULL, *gone = NULL;
	if (!exec_ok(a, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN"))
		goto fail;
	/* The previous HMAC secret only while its overlap lasts; the dataplane also ends it by
	 * itself at hmac_prev_until (nothing NOTIFYs when a time passes). */
	rm = PQexec(a->pg.conn, "SELECT id, hmac_secret, ed25519_public_key, disabled_at IS NOT NULL, "
			   "CASE WHEN hmac_prev_until > now() THEN hmac_secret_prev END, "
			   "(extract(epoch FROM hmac_prev_until) * 1000000)::int8 * 1000 "
			   "FROM masters ORDER BY id");
	if (PQresultStatus(rm) != PGRES_TUPLES_OK)
		goto fail;
	rt = PQexec(a->pg.conn, "SELECT t.token_sha256, t.master_id, "
			   "(t.revoked_at IS NOT NULL OR (t.expires_at IS NOT NULL AND t.expires_at <= now())) "
			   "FROM license_tokens t");
	if (PQresultStatus(rt) != PGRES_TUPLES_OK)
		goto fail;
	if (!exec_ok(a, "COMMIT", "COMMIT"))
		goto fail;

	size_t nm = (size_t)PQntuples(rm), nt = (size_t)PQntuples(rt);
	ms = calloc(nm + 1, sizeof(*ms));
	ts = calloc(nt + 1, sizeof(*ts));
	gone = calloc(a->n_tokens + 1, sizeof(*gone));
	if (ms == NULL || ts == NULL || gone == NULL)
		goto fail;
	for (size_t i = 0; i < nm; i++) {
		struct cp_auth_master *m = &ms[i];
		size_t sl = 0, pl = 0;
		uint8_t secret[64];
		m->id = strtoull(PQgetvalue(rm, (int)i, 0), NULL, 10);
		bool ok = get_bytea(rm, (int)i, 1, secret, sizeof(secret), &sl) &&
			  get_bytea(rm, (int)i, 2, m->pubkey, sizeof(m->pubkey), &pl) && pl == 32;
		if (ok && sl > sizeof(m->secret)) {
			CP_LOG_RL(CP_LOG_ERR, "edge", "master %" PRIu64 ": hmac_secret of %zu bytes does "
				  "not fit the dataplane's 32-byte key slot: master not loaded", m->id, sl);
			ok = false;
		}
		if (ok) {
			memcpy(m->secret, secret, sl);
			m->secret_len = (uint32_t)sl;
		}
		size_t pvl = 0;
		if (ok && !PQgetisnull(rm, (int)i, 4) &&
		    get_bytea(rm, (int)i, 4, m->prev, sizeof(m->prev), &pvl) && pvl == 32) {
			m->prev_len = 32;
			m->prev_until_ns = strtoll(PQgetvalue(rm, (int)i, 5), NULL, 10);
		}
		m->usable = ok && sl > 0 && strcmp(PQgetvalue(rm, (int)i, 3), "t") != 0;
	}
	for (size_t i = 0; i < nt; i++) {
		size_t hl = 0;
		struct cp_auth_token *t = &ts[i];
		if (!get_bytea(rt, (int)i, 0, t->hash, sizeof(t->hash), &hl) || hl != 32)
			continue;
		t->master_id = strtoull(PQgetvalue(rt, (int)i, 1), NULL, 10);
		t->revoked = strcmp(PQgetvalue(rt, (int)i, 2), "t") == 0;
		bool master_ok = false;
		for (size_t j = 0; j < nm; j++)
			if (ms[j].id == t->master_id)
				master_ok = ms[j].usable;
		if (!master_ok)
			t->revoked = true;
	}
	qsort(ts, nt, sizeof(*ts), tok_cmp);
	size_t ng = 0;
	for (size_t i = 0; i < a->n_tokens; i++)
		if (bsearch(&a->tokens[i], ts, nt, sizeof(*ts), tok_cmp) == NULL) {
			gone[ng] = a->tokens[i];
			gone[ng++].revoked = true;
		}
	PQclear(rm);
	PQclear(rt);
	free(a->masters);
	free(a->tokens);
	free(a->gone);
	a->masters = ms;
	a->n_masters = nm;
	a->tokens = ts;
	a->n_tokens = nt;
	a->gone = gone;
	a->n_gone = ng;
	a->loaded = true;
	a->loads++;
	return 0;
fail:
	PQclear(rm);
	PQclear(rt);
	free(ms);
	free(ts);
	free(gone);
	cp_pg_fail(&a->pg, "loading masters and license_tokens", NULL);
	return -EAGAIN;
}

int cp_auth_poll(struct cp_auth *a)
{
	if (a->pg.conn == NULL)
		return -EAGAIN;
	if (PQconsumeInput(a->pg.conn) == 0) {
		cp_pg_fail(&a->pg, "connection lost", NULL);
		return -EAGAIN;
	}
	int got = 0;
	PGnotify *n;
	while ((n = PQnotifies(a->pg.conn)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}

size_t cp_auth_commands(const struct cp_auth *a, struct dp_ctrl_cmd *cmds, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < a->n_masters; i++) {
		const struct cp_auth_master *m = &a->masters[i];
		if (!m->usable)
			continue;
		if (k < cap) {
			struct dp_ctrl_cmd *c = &cmds[k];
			memset(c, 0, sizeof(*c));
			c->type = DP_CTRL_SET_MASTER;
			c->master_id = m->id;
			c->secret_len = m->secret_len;
			memcpy(c->secret, m->secret, m->secret_len);
			memcpy(c->pubkey, m->pubkey, 32);
		}
		k++;
		if (k < cap) {
			struct dp_ctrl_cmd *c = &cmds[k];
			memset(c, 0, sizeof(*c));
			c->type = DP_CTRL_SET_MASTER_PREV;
			c->master_id = m->id;
			c->secret_len = m->prev_len;
			memcpy(c->secret, m->prev, m->prev_len);
			c->valid_until_ns = m->prev_until_ns;
		}
		k++;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct cp_auth_token *ts = pass == 0 ? a->tokens : a->gone;
		size_t n = pass == 0 ? a->n_tokens : a->n_gone;
		for (size_t i = 0; i < n; i++) {
			if (k < cap) {
				struct dp_ctrl_cmd *c = &cmds[k];
				memset(c, 0, sizeof(*c));
				c->type = ts[i].revoked ? DP_CTRL_REVOKE_TOKEN : DP_CTRL_ADD_TOKEN;
				c->master_id = ts[i].master_id;
				memcpy(c->token_hash, ts[i].hash, 32);
			}
			k++;
		}
	}
	return k;
}
