/*
 * sqltest.h - helpers shared by the sql suite's test programs: a migrated
 * throw-away PostgreSQL (tests/harness) and terse parameterised queries.
 */
#ifndef DECP_TESTS_SQLTEST_H
#define DECP_TESTS_SQLTEST_H

#include <stdbool.h>
#include <stddef.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "harness.h"

/* Start PostgreSQL, apply the embedded migrations as the owner (postgres).
 * Returns the owner connection, or NULL (reason on stderr). *pg receives the
 * server; destroy it with harness_pg_destroy(). */
PGconn *sqltest_setup(struct harness_pg **pg);

/* Connect to the test database of pg as role user (trust auth, TCP). NOTICEs
 * are silenced. Returns NULL on failure (reason on stderr). */
PGconn *sqltest_connect(const struct harness_pg *pg, const char *dbname, const char *user);

/* Run sql with n text parameters (const char *, NULL = SQL NULL). Returns the
 * result (never NULL; PQclear it). */
PGresult *sqltest_q(PGconn *c, const char *sql, int n, ...);

/* True when the result is COMMAND_OK or TUPLES_OK. */
bool sqltest_ok(const PGresult *r);

/* SQLSTATE of a failed result, "" when it succeeded. */
const char *sqltest_state(const PGresult *r);

/* Run and return the SQLSTATE ("" on success); prints the error when it is
 * not want (want "" means success expected). Returns true when it matched. */
bool sqltest_expect(PGconn *c, const char *want, const char *sql, int n, ...);

/* Run a query expected to return one row; copy column 0 into out (empty
 * string for NULL). Returns true on success. */
bool sqltest_value(PGconn *c, char *out, size_t outlen, const char *sql, int n, ...);

/* A new master (fixed test keys) / subscriber with a unique name, inserted through c;
 * its id into out. Returns true on success. */
bool sqltest_new_master(PGconn *c, char *out, size_t len);
bool sqltest_new_subscriber(PGconn *c, char *out, size_t len);

struct sqltest_case {
	const char *name;
	CU_TestFunc fn;
};

/* Register one CUnit suite with the cases, run it verbosely, and return the
 * process exit status (0 when every suite set-up, test and assert passed). */
int sqltest_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
		 const struct sqltest_case *cases, size_t n);

#endif
