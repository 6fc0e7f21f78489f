/*
 * cp_pg: one PostgreSQL session of a decp-control role thread; every role (edge, archiver,
 * fanout, api, trust) holds its sessions through this module and no other.
 *
 * cp_pg_ensure() (re)connects when there is no healthy connection, at most once per
 * backoff interval (50 ms doubling to backoff_max_ms), and sets statement_timeout,
 * application_name ('decp-<role>') and TimeZone 'UTC', then runs the session's own setup
 * (cp_pg_init's `setup`: a LISTEN, a TEMP table). So a role never blocks on a dead server
 * for longer than connect_timeout (put it in pg_conninfo) and never spins reconnecting.
 * Prepared statements belong to a session: a reconnect forgets them (prepared_mask) and
 * cp_pg_exec_prepared prepares again.
 *
 *   connected ──error that left it unusable──▶ cp_pg_fail (logged, backoff starts)
 *       ▲                                            │
 *       └── cp_pg_ensure after the backoff ◀─────────┘   ("connected again" is logged)
 *
 * Threading: a struct cp_pg belongs to one thread.
 */
#ifndef DECP_CP_PG_H
#define DECP_CP_PG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "cp_config.h"

struct cp_pg {
	PGconn *conn;              /* NULL while disconnected */
	const struct cp_config *cfg;
	const char *role;          /* log tag and application_name suffix */
	uint64_t next_try_ns;      /* CLOCK_MONOTONIC of the next connect attempt */
	uint32_t backoff_ms;
	uint64_t session;          /* 1, 2, ...: counts connections made (0: none yet); a
				    * PGconn pointer may be reused by the next connection */
	uint32_t prepared_mask;    /* slots prepared on this session (cleared by a reset) */
	const char *setup;         /* the role's statements for each new session, or NULL */
	const char *conninfo;      /* another server than pg_conninfo (the api's read replica),
				    * set after cp_pg_init; NULL = pg_conninfo */
	bool was_down;             /* a failure was logged: log the recovery */
	uint32_t lock_wait_ms;     /* > 0: cp_pg_exec and cp_pg_exec_prepared give up waiting
				    * for a lock after this (lock_timeout for their statement's
				    * transaction only; SQLSTATE 55P03); 0: statement_timeout
				    * alone bounds them. Set after cp_pg_init */
};

/* Zero the session; connects lazily. setup (may be NULL; not copied, must outlive p):
 * statements run on every new session after the common settings. Cannot fail. */
void cp_pg_init(struct cp_pg *p, const struct cp_config *cfg, const char *role,
		const char *setup);

/* Returns 0 with p->conn usable, or -EAGAIN (down; retry later, backoff applies). */
int cp_pg_ensure(struct cp_pg *p);

/* Drop the connection (after an error that left it unusable); the next cp_pg_ensure
 * reconnects without waiting. */
void cp_pg_reset(struct cp_pg *p);

/*
 * A failure of `what`: log it rate-limited with res's error (or the connection's when res is
 * NULL) and " retrying with backoff", drop the connection and start the backoff.
 * res is not freed.
 */
void cp_pg_fail(struct cp_pg *p, const char *what, const PGresult *res);

/* Close for good. */
void cp_pg_close(struct cp_pg *p);

/*
 * PQexecParams with n text parameters; on a broken connection the session is reset
 * (the next cp_pg_ensure reconnects). Returns the result (PQclear it) or NULL when not
 * connected / out of memory. With lock_wait_ms, the statement goes in one pipeline after
 * SELECT set_config('lock_timeout', lock_wait_ms, true), in one implicit transaction
 * (one round trip, as before): a lock it waits for longer fails it (55P03), rolled back.
 */
PGresult *cp_pg_exec(struct cp_pg *p, const char *sql, int n, const char *const *params);

/*
 * Like cp_pg_exec() for a hot statement: prepared once per session as "cp<slot>" (slot
 * 0..31, one fixed sql per slot chosen by the caller), then executed without parsing and
 * planning it again. A session re-established after a failure prepares again. With
 * lock_wait_ms, the PREPARE (which takes the locks of the tables the statement names) goes
 * in the same pipeline and transaction, bounded the same way.
 */
PGresult *cp_pg_exec_prepared(struct cp_pg *p, unsigned int slot, const char *sql, int n,
			      const char *const *params);

/*
 * Prepare slot's statement on this session unless already done (the first half of
 * cp_pg_exec_prepared(), for callers that then send it asynchronously with
 * PQsendQueryPrepared(conn, cp_pg_stmt_name(...), ...)). Returns NULL when prepared;
 * otherwise the failed result (PQclear it), or NULL with p->conn == NULL when the
 * connection is gone. slot is 0..31 (as for cp_pg_exec_prepared). Call only while no
 * asynchronous query is in flight.
 */
PGresult *cp_pg_prepare(struct cp_pg *p, unsigned int slot, const char *sql, int n);

/* The name slot's statement is prepared under ("cp<slot>") into out[16]. Returns out. */
const char *cp_pg_stmt_name(unsigned int slot, char out[16]);

/* True for PGRES_COMMAND_OK / PGRES_TUPLES_OK. */
int cp_pg_ok(const PGresult *r);

#endif
