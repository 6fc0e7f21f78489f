/*
 * cp_pgtest.h: the set-up the control plane's CUnit tests against a real PostgreSQL share
 * (test_cp_alert, test_cp_report_pg): the harness's PostgreSQL, migrated, one session
 * for the test's own queries, a config that names it, and a scalar query.
 */
#ifndef DECP_CP_PGTEST_H
#define DECP_CP_PGTEST_H

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "cp_config.h"
#include "cp_migrate.h"
#include "harness.h"

struct cp_pgtest {
	struct harness_pg *pg;
	PGconn *db;
	struct cp_config cfg;
};

/* Start and migrate; then run `seed` (SQL, may be NULL). 0, or 1 (CUnit's suite failure). */
static inline int cp_pgtest_start(struct cp_pgtest *t, const char *seed)
{
	char err[256];

	t->pg = harness_pg_start(NULL);
	if (t->pg == NULL)
		return 1;
	t->db = PQconnectdb(harness_pg_conninfo(t->pg));
	if (PQstatus(t->db) != CONNECTION_OK ||
	    cp_migrate_apply(t->db, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "migrations: %s\n", err);
		return 1;
	}
	if (seed != NULL)
		PQclear(PQexec(t->db, seed));
	cp_config_defaults(&t->cfg);
	snprintf(t->cfg.pg_conninfo, sizeof(t->cfg.pg_conninfo), "%s",
		 harness_pg_conninfo(t->pg));
	return 0;
}

static inline void cp_pgtest_stop(struct cp_pgtest *t)
{
	PQfinish(t->db);
	harness_pg_destroy(t->pg);
}

/* The one value of a one-row query, as an integer; -1 for anything else. */
static inline long long cp_pgtest_scalar(PGconn *db, const char *sql)
{
	PGresult *r = PQexec(db, sql);
	long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			      ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return v;
}

#endif
