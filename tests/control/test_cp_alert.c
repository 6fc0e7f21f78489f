/*
 * test_cp_alert: the alert feed's writer (controlplane/common/cp_alert.h) against a real
 * PostgreSQL with the migrations: repeats fold into one pending entry and one open
 * alert, a message with every character a PostgreSQL array literal treats specially
 * arrives byte for byte, the subscription's master is filled in, a flush is held off
 * for a second unless forced, a full pending table counts what it drops, and with
 * PostgreSQL stopped the entries are kept and written after it came back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <libpq-fe.h>

#include "cp_alert.h"
#include "cp_pg.h"
#include "cp_pgtest.h"

static struct cp_pgtest g_t;

static long long scalar(const char *sql)
{
	return cp_pgtest_scalar(g_t.db, sql);
}

static int setup(void)
{
	if (cp_pgtest_start(&g_t,
			    "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) VALUES "
			    "(7, 'm7', decode(repeat('ab', 32), 'hex'), decode(repeat('cd', 32), "
			    "'hex')); INSERT INTO subscribers (id, name) VALUES (3, 's3'); INSERT "
			    "INTO subscriptions (id, master_id, subscriber_id) VALUES (11, 7, 3)") != 0)
		return 1;
	return scalar("SELECT count(*) FROM subscriptions WHERE id = 11") == 1 ? 0 : 1;
}

static int teardown(void)
{
	cp_pgtest_stop(&g_t);
	return 0;
}

static void test_fold_and_escape(void)
{
	static const char nasty[] = "a \"quoted\" \\back\\slash, {braces} NULL 'x' \xc3\xa9";
	struct cp_alerts a;
	struct cp_pg pg;

	cp_pg_init(&pg, &g_t.cfg, "test", NULL);
	cp_alert_init(&a, "test");
	cp_alert(&a, CP_ALERT_PLATFORM_LAG, 0, 11, "first %d", 1);
	cp_alert(&a, CP_ALERT_PLATFORM_LAG, 0, 11, "%s", nasty);
	cp_alert(&a, CP_ALERT_POSITIONS_MISMATCH, 7, 0, "master 7 differs");
	CU_ASSERT_EQUAL(a.n, 2);
	CU_ASSERT_EQUAL(a.p[0].count, 2);
	CU_ASSERT_EQUAL(cp_alert_flush(&a, &pg, true), 2);
	CU_ASSERT_EQUAL(a.n, 0);
	CU_ASSERT_EQUAL(a.recorded, 3);
	/* master filled from the subscription; the latest message, byte for byte */
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts WHERE kind = 'platform_lag' AND "
			       "master_id = 7 AND subscription_id = 11 AND count = 2"), 1);
	PGresult *r = PQexec(g_t.db, "SELECT message FROM alerts WHERE kind = 'platform_lag'");
	CU_ASSERT_EQUAL_FATAL(PQntuples(r), 1);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), nasty);
	PQclear(r);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts WHERE kind = 'positions_mismatch' "
			       "AND master_id = 7 AND subscription_id IS NULL"), 1);

	/* within a second of the last flush: held off, unless forced */
	cp_alert(&a, CP_ALERT_PLATFORM_LAG, 0, 11, "again");
	CU_ASSERT_EQUAL(cp_alert_flush(&a, &pg, false), 0);
	CU_ASSERT_EQUAL(a.n, 1);
	CU_ASSERT_EQUAL(cp_alert_flush(&a, &pg, true), 1);
	CU_ASSERT_EQUAL(scalar("SELECT count FROM alerts WHERE kind = 'platform_lag'"), 3);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts"), 2);

	/* acknowledged: the next occurrence opens a new alert */
	PQclear(PQexec(g_t.db, "UPDATE alerts SET acknowledged_at = now(), acknowledged_by = "
			     "'operator' WHERE kind = 'platform_lag'"));
	cp_alert(&a, CP_ALERT_PLATFORM_LAG, 0, 11, "after the acknowledgement");
	CU_ASSERT_EQUAL(cp_alert_flush(&a, &pg, true), 1);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts WHERE kind = 'platform_lag'"), 2);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts WHERE kind = 'platform_lag' AND "
			       "acknowledged_at IS NULL AND count = 1"), 1);

	/* a message longer than the table keeps is cut at CP_ALERT_MSG_MAX */
	char longmsg[1000];
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	cp_alert(&a, CP_ALERT_BOOK_STOPPED, 7, 0, "%s", longmsg);
	CU_ASSERT_EQUAL(cp_alert_flush(&a, &pg, true), 1);
	CU_ASSERT_EQUAL(scalar("SELECT length(message) FROM alerts WHERE kind = 'book_stopped'"),
			CP_ALERT_MSG_MAX);
	cp_pg_close(&pg);
}

static void test_full_and_down(void)
{
	struct cp_alerts a;
	struct cp_pg pg;

	cp_pg_init(&pg, &g_t.cfg, "test", NULL);
	cp_alert_init(&a, "test");
	for (unsigned int i = 0; i <= CP_ALERT_PENDING_MAX; i++)
		cp_alert(&a, CP_ALERT_AUTO_PAUSE, 0, 1000 + i, "sub %u", i);
	CU_ASSERT_EQUAL(a.n, CP_ALERT_PENDING_MAX);
	CU_ASSERT_EQUAL(a.dropped, 1);

	/* PostgreSQL down: kept, not lost */
	CU_ASSERT_EQUAL_FATAL(harness_pg_stop(g_t.pg), 0);
	PQfinish(g_t.db);
	g_t.db = NULL;
	int rc = cp_alert_flush(&a, &pg, true);
	CU_ASSERT(rc == -EAGAIN || rc == -EIO);
	CU_ASSERT_EQUAL(a.n, CP_ALERT_PENDING_MAX);
	CU_ASSERT_EQUAL_FATAL(harness_pg_restart(g_t.pg), 0);
	g_t.db = PQconnectdb(harness_pg_conninfo(g_t.pg));
	/* the session reconnects after its backoff: bounded retries */
	for (int i = 0; i < 200 && a.n > 0; i++) {
		rc = cp_alert_flush(&a, &pg, true);
		if (a.n > 0) {
			struct timespec ts = {0, 50000000};
			nanosleep(&ts, NULL);
		}
	}
	CU_ASSERT_EQUAL(a.n, 0);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM alerts WHERE kind = 'auto_pause' AND "
			       "master_id IS NULL"), CP_ALERT_PENDING_MAX);
	cp_pg_close(&pg);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_alert", setup, teardown);
	CU_add_test(s, "fold, escape, master from the subscription, once a second, reopen",
		    test_fold_and_escape);
	CU_add_test(s, "a full table drops and counts; PostgreSQL down keeps", test_full_and_down);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() +
			      CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
