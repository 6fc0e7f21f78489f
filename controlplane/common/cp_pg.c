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

PGresult *cp_pg_exec(struct cp_pg *p, const char *sql, int n, const char *const *params)
{
	if (p->conn == NULL)
		return NULL;
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
