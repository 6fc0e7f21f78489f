/*
 * sqltest.c - see sqltest.h.
 */
#include "sqltest.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cp_migrate.h"

#define MAX_PARAMS 16

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *sqltest_connect(const struct harness_pg *pg, const char *dbname, const char *user)
{
	char port[16];
	const char *keys[] = { "host", "port", "dbname", "user", "connect_timeout", NULL };
	const char *vals[] = { harness_pg_host(pg), port,
			       dbname ? dbname : harness_pg_dbname(pg), user, "10", NULL };
	PGconn *c;

	snprintf(port, sizeof(port), "%d", harness_pg_port(pg));
	c = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "sqltest: connect as %s: %s", user, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

PGconn *sqltest_setup(struct harness_pg **pg)
{
	struct cp_migrate_report rep;
	char err[512];
	PGconn *c;

	*pg = harness_pg_start(NULL);
	if (!*pg)
		return NULL;
	c = sqltest_connect(*pg, NULL, "postgres");
	if (!c)
		return NULL;
	if (cp_migrate_apply(c, NULL, &rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "sqltest: migrations failed: %s\n", err);
		PQfinish(c);
		return NULL;
	}
	return c;
}

static PGresult *vq(PGconn *c, const char *sql, int n, va_list ap)
{
	const char *params[MAX_PARAMS];
	int i;

	if (n > MAX_PARAMS)
		n = MAX_PARAMS;
	for (i = 0; i < n; i++)
		params[i] = va_arg(ap, const char *);
	return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

PGresult *sqltest_q(PGconn *c, const char *sql, int n, ...)
{
	va_list ap;
	PGresult *r;

	va_start(ap, n);
	r = vq(c, sql, n, ap);
	va_end(ap);
	return r;
}

bool sqltest_ok(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *sqltest_state(const PGresult *r)
{
	const char *s;

	if (sqltest_ok(r))
		return "";
	s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return s ? s : "?????";
}

bool sqltest_expect(PGconn *c, const char *want, const char *sql, int n, ...)
{
	va_list ap;
	PGresult *r;
	bool match;

	va_start(ap, n);
	r = vq(c, sql, n, ap);
	va_end(ap);
	match = strcmp(sqltest_state(r), want) == 0;
	if (!match)
		fprintf(stderr, "sqltest: wanted '%s', got '%s' for: %s\n  %s", want,
			sqltest_state(r), sql, sqltest_ok(r) ? "(succeeded)\n" : PQresultErrorMessage(r));
	PQclear(r);
	return match;
}

bool sqltest_value(PGconn *c, char *out, size_t outlen, const char *sql, int n, ...)
{
	va_list ap;
	PGresult *r;
	bool ok;

	va_start(ap, n);
	r = vq(c, sql, n, ap);
	va_end(ap);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 1;
	if (ok)
		snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "sqltest: no single value from: %s\n  %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

int sqltest_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
		 const struct sqltest_case *cases, size_t n)
{
	CU_pSuite s;
	unsigned int failed;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(suite, init, clean);
	for (i = 0; s && i < n; i++)
		if (!CU_add_test(s, cases[i].name, cases[i].fn))
			s = NULL;
	if (!s) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

static int name_seq;

bool sqltest_new_master(PGconn *c, char *out, size_t len)
{
	char name[32];

	snprintf(name, sizeof(name), "master-%d", ++name_seq);
	return sqltest_value(c, out, len,
			     "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
			     " VALUES ($1, decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), 'hex'))"
			     " RETURNING id", 1, name);
}

bool sqltest_new_subscriber(PGconn *c, char *out, size_t len)
{
	char name[32];

	snprintf(name, sizeof(name), "subscriber-%d", ++name_seq);
	return sqltest_value(c, out, len, "INSERT INTO subscribers (name) VALUES ($1) RETURNING id",
			     1, name);
}
