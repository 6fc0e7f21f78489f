/*
 * test_cp_report_pg: cp_report_store (controlplane/common/cp_report.h), the fan-out's
 * writer of subscriber reports, against a real PostgreSQL with the migrations: a
 * protection event for a CANCELLED subscription is kept out (counted refused: no
 * protection_logs row, no trust_inbox row to score) while the live subscription's event
 * of the same batch is stored and queued. The fan-out drops a cancelled subscription from
 * its sessions when the database tells it; a report taken before that reaches this writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <libpq-fe.h>

#include "cp_pg.h"
#include "cp_pgtest.h"
#include "cp_report.h"
#include "guard_types.h"

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
			    "'hex')); INSERT INTO subscribers (id, name) VALUES (3, 's3'), (4, "
			    "'s4'); INSERT INTO subscriptions (id, master_id, subscriber_id) VALUES "
			    "(11, 7, 3), (12, 7, 4); SELECT subscription_cancel(12)") != 0)
		return 1;
	return scalar("SELECT count(*) FROM subscriptions WHERE id = 12 AND "
		      "state = 'CANCELLED'") == 1 ? 0 : 1;
}

static int teardown(void)
{
	cp_pgtest_stop(&g_t);
	return 0;
}

static struct cp_report event(uint64_t subscriber, uint64_t sub_id, uint64_t seq)
{
	struct cp_report r;

	memset(&r, 0, sizeof(r));
	r.kind = CP_REPORT_PROTECTION;
	r.subscriber = subscriber;
	r.sub_id = sub_id;
	r.master = 7;
	r.seq = seq;
	r.reason = GUARD_REASON_PRICE_DEVIATION;
	r.dev_x100 = 250;
	snprintf(r.detail, sizeof(r.detail), "test");
	return r;
}

static void test_cancelled_kept_out(void)
{
	struct cp_report r[3] = {event(3, 11, 5), event(4, 12, 5), event(3, 11, 6)};
	struct cp_report_result res;
	struct cp_pg pg;

	cp_pg_init(&pg, &g_t.cfg, "test", NULL);
	CU_ASSERT_EQUAL(cp_report_store(&pg, r, 3, &res), 0);
	CU_ASSERT_EQUAL(res.stored, 2);
	CU_ASSERT_EQUAL(res.refused, 1);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM protection_logs WHERE subscription_id = 11"), 2);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM protection_logs WHERE subscription_id = 12"), 0);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM trust_inbox WHERE subscription_id = 12"), 0);
	CU_ASSERT_EQUAL(scalar("SELECT count(*) FROM trust_inbox WHERE subscription_id = 11"), 2);
	cp_pg_close(&pg);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_report_pg", setup, teardown);
	CU_add_test(s, "a cancelled subscription's protection event is kept out, the batch stored",
		    test_cancelled_kept_out);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() +
			      CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
