/* cp_pg: a role thread's PostgreSQL session (the only one in decp-control). Contract in
 * cp_pg.h. */
#include "cp_pg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cp_log.h"

void cp_pg_init(struct cp_pg *p, const struct cp_config *cfg, const char *role,
		const char *setup)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->role = role;
	p->setup = setup;
	p->backoff_ms = 50;
}

void cp_pg_reset(struct cp_pg *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
	p->prepared_mask = 0;
}

void cp_pg_close(struct cp_pg *p)
{
	cp_pg_reset(p);
}

void cp_pg_fail(struct cp_pg *p, const char *what, const PGresult *res)
{
	const char *detail = res != NULL ? PQresultErrorMessage(res)
			   : p->conn != NULL ? PQerrorMessage(p->conn) : "";
	size_t dl = strcspn(detail, "\n");
	CP_LOG_RL(CP_LOG_ERR, p->role, "postgresql: %s%s%.*s; retrying with backoff", what,
		  dl ? ": " : "", (int)dl, detail);
	cp_pg_reset(p);
	p->was_down = true;
	p->next_try_ns = cp_now_ns() + (uint64_t)p->backoff_ms * 1000000ull;
	p->backoff_ms = p->backoff_ms * 2 > p->cfg->backoff_max_ms ? p->cfg->backoff_max_ms
								   : p->backoff_ms * 2;
}

/* One statement (or several, ';'-separated) of the session setup; false: failed (p dropped). */
static bool setup_step(struct cp_pg *p, const char *sql)
{
	PGresult *r = PQexec(p->conn, sql);
	bool ok = cp_pg_ok(r);
	if (!ok)
		cp_pg_fail(p, "session setup", r);
	PQclear(r);
	return ok;
}

int cp_pg_ensure(struct cp_pg *p)
{
	if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	cp_pg_reset(p);
	if (cp_now_ns() < p->next_try_ns)
		return -EAGAIN;
	p->conn = PQconnectdb(p->conninfo != NULL ? p->conninfo : p->cfg->pg_conninfo);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		cp_pg_fail(p, "connect", NULL);
		return -EAGAIN;
	}
	char sql[160];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u; SET application_name = 'decp-%s';"
		 " SET TimeZone = 'UTC'",
		 p->cfg->pg_timeout_ms, p->role);
	if (!setup_step(p, sql) || (p->setup != NULL && !setup_step(p, p->setup)))
		return -EAGAIN;
	p->backoff_ms = 50;
	p->session++;
	if (p->was_down)
		cp_log(CP_LOG_INFO, p->role, "postgresql: connected again");
	p->was_down = false;
	return 0;
}

/* r of a statement just run: NULL (session reset) when the connection broke under it.
 * A server that refuses a write as read-only (25006) is no longer the primary (a
 * failover demoted it, or the conninfo led to a standby): r is returned for the caller to
 * report, and the session is dropped so that the next cp_pg_ensure finds the primary
 * (target_session_attrs=read-write, docs/operations.md "PostgreSQL with Patroni"). */
static PGresult *unless_lost(struct cp_pg *p, PGresult *r)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (PQstatus(p->conn) == CONNECTION_OK && st != NULL && strcmp(st, "25006") == 0 &&
	    p->conninfo == NULL) {
		CP_LOG_RL(CP_LOG_WARN, p->role, "postgresql: the server is read-only (no longer"
			  " the primary): reconnecting");
		cp_pg_reset(p);
		p->was_down = true;
		return r;
	}
	if (PQstatus(p->conn) == CONNECTION_OK)
		return r;
	CP_LOG_RL(CP_LOG_ERR, p->role, "postgresql connection lost: %s", PQerrorMessage(p->conn));
	PQclear(r);
	cp_pg_reset(p);
	p->was_down = true;
	return NULL;
}

/*
 * A statement (slot < 0: unnamed; else slot's, prepared first when it is not yet) with its
 * lock waits bounded by p->lock_wait_ms: one pipeline, [set_config; PREPARE; statement;
 * Sync], sent in one write and answered in one round trip. What comes before a Sync is one
 * implicit transaction, so the transaction-local lock_timeout covers the PREPARE and the
 * statement and ends with them (nothing to reset: the session's asynchronous statements,
 * cp_api_batch.c, keep waiting as long as statement_timeout lets them). A failure aborts
 * the rest of the pipeline and rolls the transaction back. Returns the first failure
 * (set_config's, the PREPARE's, the statement's) or the statement's result; NULL when the
 * connection broke.
 */
static PGresult *exec_bounded(struct cp_pg *p, int slot, const char *sql, int n,
			      const char *const *params)
{
	PGconn *c = p->conn;
	char name[16], ms[16];
	const char *lp[1] = {ms};
	bool prep = slot >= 0 && !(p->prepared_mask & (1u << slot));
	int last = prep ? 2 : 1;   /* the statement's index in the pipeline */
	PGresult *out = NULL;

	snprintf(ms, sizeof(ms), "%u", p->lock_wait_ms);
	if (slot >= 0)
		cp_pg_stmt_name((unsigned int)slot, name);
	if (PQenterPipelineMode(c) != 1)   /* only while busy: never here (synchronous) */
		return NULL;
	if (PQsendQueryParams(c, "SELECT set_config('lock_timeout', $1, true)", 1, NULL, lp,
			      NULL, NULL, 0) != 1 ||
	    (prep && PQsendPrepare(c, name, sql, n, NULL) != 1) ||
	    (slot < 0 ? PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0)
		      : PQsendQueryPrepared(c, name, n, params, NULL, NULL, 0)) != 1 ||
	    PQpipelineSync(c) != 1) {
		/* a send fails only on a broken connection (or out of memory) */
		CP_LOG_RL(CP_LOG_ERR, p->role, "postgresql: cannot send: %s", PQerrorMessage(c));
		cp_pg_reset(p);
		p->was_down = true;
		return NULL;
	}
	for (int q = 0, idle = 0;;) {
		PGresult *r = PQgetResult(c);
		if (r == NULL) {   /* the end of query q's results */
			q++;
			if (PQstatus(c) != CONNECTION_OK || ++idle > 1)
				break;   /* lost (or nothing more will come) */
			continue;
		}
		idle = 0;
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (prep && q == 1 && st == PGRES_COMMAND_OK)
			p->prepared_mask |= 1u << slot;
		if (out == NULL && (q == last || (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
						  st != PGRES_PIPELINE_ABORTED)))
			out = r;   /* the first failure, else the statement's result */
		else
			PQclear(r);
	}
	if (PQstatus(c) == CONNECTION_OK && PQexitPipelineMode(c) != 1) {
		CP_LOG_RL(CP_LOG_ERR, p->role, "postgresql: pipeline not finished: %s",
			  PQerrorMessage(c));
		cp_pg_reset(p);
		p->was_down = true;
		PQclear(out);
		return NULL;
	}
	return unless_lost(p, out);
}

PGresult *cp_pg_exec(struct cp_pg *p, const char *sql, int n, const char *const *params)
{
	if (p->conn == NULL)
		return NULL;
	if (p->lock_wait_ms > 0)
		return exec_bounded(p, -1, sql, n, params);
	return unless_lost(p, PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0));
}

const char *cp_pg_stmt_name(unsigned int slot, char out[16])
{
	snprintf(out, 16, "cp%u", slot);
	return out;
}

PGresult *cp_pg_prepare(struct cp_pg *p, unsigned int slot, const char *sql, int n)
{
	char name[16];
	if (p->conn == NULL || slot >= 32 || (p->prepared_mask & (1u << slot)))
		return NULL;
	PGresult *r = unless_lost(p, PQprepare(p->conn, cp_pg_stmt_name(slot, name), sql, n, NULL));
	if (!cp_pg_ok(r))
		return r; /* the statement's result: the caller maps the error (or NULL: lost) */
	PQclear(r);
	p->prepared_mask |= 1u << slot;
	return NULL;
}

PGresult *cp_pg_exec_prepared(struct cp_pg *p, unsigned int slot, const char *sql, int n,
			      const char *const *params)
{
	char name[16];
	if (p->conn == NULL || slot >= 32)
		return NULL;
	if (p->lock_wait_ms > 0)
		return exec_bounded(p, (int)slot, sql, n, params);
	PGresult *r = cp_pg_prepare(p, slot, sql, n);
	if (r != NULL || p->conn == NULL)
		return r;
	return unless_lost(p, PQexecPrepared(p->conn, cp_pg_stmt_name(slot, name), n, params, NULL,
					       NULL, 0));
}

int cp_pg_ok(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return r != NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}
