/*
 * test_money_scenarios.c - issue 20's scenarios against a real PostgreSQL 15, as the
 * application role decp_app (what decp-control connects as):
 *   - an unpaid fee becomes a receivable (HWM moved, LOCKED_NO_FUNDS), a deposit pays it
 *     first and unlocks; nothing can be withdrawn while it is owed;
 *   - cancelling settles the period exactly once (subscription_cancel and a bare UPDATE
 *     to CANCELLED alike), with a receivable when the wallet cannot pay;
 *   - a new subscription of the same pair continues from the settled HWM and profit;
 *   - fee_pct is refused rather than rounded; a sub-cent fee writes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "sqltest.h"

static struct harness_pg *pg;
static PGconn *own, *app;

static bool new_master(char *out, size_t len)
{
	return sqltest_new_master(app, out, len);
}

static bool new_subscriber(char *out, size_t len)
{
	return sqltest_new_subscriber(app, out, len);
}

static bool subscribe(const char *master, const char *subscriber, char *sub, size_t len)
{
	return sqltest_value(app, sub, len,
			     "INSERT INTO subscriptions (master_id, subscriber_id, fee_pct)"
			     " VALUES ($1, $2, '20.00') RETURNING id", 2, master, subscriber);
}

/* One-row answer of sql with one parameter, as text (concat_ws in the query). */
static const char *one(const char *sql, const char *p)
{
	static char v[256];

	if (!sqltest_value(app, v, sizeof(v), sql, 1, p))
		snprintf(v, sizeof(v), "<query failed>");
	return v;
}

#define WALLET "SELECT concat_ws(' ', balance_usd, receivable_usd, lifetime_fees, ledger_seq)" \
	" FROM user_wallets WHERE subscriber_id = $1"
#define SUB "SELECT concat_ws(' ', state, high_water_mark, cumulative_profit)" \
	" FROM subscriptions WHERE id = $1"

static int suite_init(void)
{
	own = sqltest_setup(&pg);
	if (!own)
		return 1;
	app = sqltest_connect(pg, NULL, "decp_app");
	return app ? 0 : 1;
}

static int suite_clean(void)
{
	PQfinish(app);
	PQfinish(own);
	harness_pg_destroy(pg);
	return 0;
}

/* unpaid fee -> receivable -> deposit pays it -> unlocked */
static void test_receivable(void)
{
	char m[32], s[32], sub[32], v[128];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '50.00')", 1, s));
	/* the case: a 200.00 fee, 50.00 available */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, fee_amount, new_hwm, balance_after)"
				" FROM charge_performance_fee($1, '1000.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE 200.00 1000.00 0.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "0.00 150.00 50.00 2");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 1000.00");
	/* owed: nothing to withdraw or reserve */
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_withdraw($1, '0.01')", 1, s));
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_reserve($1, '0.01')", 1, s));
	/* the 0.01 deposit no longer unlocks: it pays 0.01 of the debt */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '0.01')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "0.00 149.99 50.01 4");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 1000.00");
	/* the profit falls back before the next charge: the fee is still owed */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '500.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "0.00 149.99 50.01 4");
	/* exactly the debt: paid, balance 0, still locked (seed: balance <= 0) */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '149.99')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 500.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '25.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "25.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "25.00 0.00 200.00 7");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "SYNCED 1000.00 500.00");
	CU_ASSERT_STRING_EQUAL(one("SELECT string_agg(entry_type || ' ' || amount || ' '"
				   " || receivable_after, ', ' ORDER BY entry_no)"
				   " FROM billing_ledger WHERE subscriber_id = $1", s),
			       "DEPOSIT 50.00 0.00, RECEIVABLE -50.00 150.00, DEPOSIT 0.01 150.00,"
			       " RECEIVABLE_PAID -0.01 149.99, DEPOSIT 149.99 149.99,"
			       " RECEIVABLE_PAID -149.99 0.00, DEPOSIT 25.00 0.00");
	/* a flat fee not covered is a receivable too; a release pays it first */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_reserve($1, '20.00')", 1, s));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, balance_after)"
				" FROM charge_subscription_fee($1, '9.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE 0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_release($1, '20.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "16.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "16.00 0.00 209.00 11");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "SYNCED 1000.00 500.00");
}

/* A fee charged while the subscription is PAUSED_TOXIC becomes a receivable; coming back to
 * SYNCED (trust recovery, an operator's resume) while it is owed lands in LOCKED_NO_FUNDS
 * (migration 0016); paying unlocks it; with nothing owed a resume stays SYNCED. */
static void test_resume_owing(void)
{
	char m[32], s[32], sub[32], s2[32], sub2[32], v[128];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)) && new_subscriber(s2, sizeof(s2)) &&
			subscribe(m, s2, sub2, sizeof(sub2)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '50.00')", 1, s));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'PAUSED_TOXIC',"
				 " state_reason = 'trust' WHERE id = $1", 1, sub));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1000.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "PAUSED_TOXIC 1000.00 1000.00");
	/* the trust role's recovery statement (cp_trust.c), as the application */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'SYNCED',"
				 " state_reason = 'trust score recovered to 60'"
				 " WHERE id = $1 AND state = 'PAUSED_TOXIC'", 1, sub));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 1000.00");
	CU_ASSERT_STRING_EQUAL(one("SELECT state_reason FROM subscriptions WHERE id = $1", sub),
			       "owes 150.00 (receivable)");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '160.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "SYNCED 1000.00 1000.00");
	/* nothing owed: an operator's resume from SUSPENDED_ADMIN stays SYNCED */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'SUSPENDED_ADMIN'"
				 " WHERE id = $1", 1, sub2));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'SYNCED'"
				 " WHERE id = $1", 1, sub2));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub2), "SYNCED 0.00 0.00");
	/* the trigger is a guarded money object: the owner cannot disable it */
	CU_ASSERT(sqltest_expect(own, "DP012", "ALTER TABLE subscriptions DISABLE TRIGGER"
				 " subscriptions_resume_relock", 0));
}

/* Owing, a new subscription starts LOCKED_NO_FUNDS (migration 0026: 0016's function AFTER
 * INSERT, so the same predicate and reason); paying the debt unlocks it with the others. */
static void test_subscribe_owing(void)
{
	char m[32], m2[32], s[32], sub[32], sub2[32], v[128];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_master(m2, sizeof(m2)) &&
			new_subscriber(s, sizeof(s)) && subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '10.00')", 1, s));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1000.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE");
	CU_ASSERT_FATAL(subscribe(m2, s, sub2, sizeof(sub2)));
	CU_ASSERT_STRING_EQUAL(one("SELECT concat_ws(' ', state, state_reason) FROM subscriptions"
				   " WHERE id = $1", sub2), "LOCKED_NO_FUNDS owes 190.00 (receivable)");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '200.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(one("SELECT state FROM subscriptions WHERE id = $1", sub2), "SYNCED");
	CU_ASSERT(sqltest_expect(own, "DP012", "ALTER TABLE subscriptions DISABLE TRIGGER"
				 " subscriptions_start_relock", 0));
}

/* Locked for an unpaid fee, the operator's resume (decpctl subscription resume: an UPDATE to
 * SYNCED from whatever state) lands in LOCKED_NO_FUNDS again while the fee is owed
 * (migration 0036: 0016's rule for the edge LOCKED_NO_FUNDS -> SYNCED too); paying unlocks
 * it; a resume from LOCKED_NO_FUNDS with nothing owed stays SYNCED. */
static void test_unlock_owing(void)
{
	char m[32], s[32], sub[32], v[128];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '10.00')", 1, s));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1000.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 1000.00");
	/* decpctl's statement (tools/decpctl/ctl_cmd_admin.c), as the application */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'SYNCED',"
				 " state_reason = 'operator (decpctl)' WHERE id = $1 AND state <> 'SYNCED'",
				 1, sub));
	CU_ASSERT_STRING_EQUAL(one("SELECT concat_ws(' ', state, state_reason) FROM subscriptions"
				   " WHERE id = $1", sub), "LOCKED_NO_FUNDS owes 190.00 (receivable)");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '190.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "LOCKED_NO_FUNDS 1000.00 1000.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "0.00 0.00 200.00 4");
	/* nothing owed (locked because the balance is 0): the resume is the operator's call */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'SYNCED'"
				 " WHERE id = $1", 1, sub));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "SYNCED 1000.00 1000.00");
	CU_ASSERT(sqltest_expect(own, "DP012", "ALTER TABLE subscriptions DISABLE TRIGGER"
				 " subscriptions_unlock_relock", 0));
}

/* cancel -> settled once; a new subscription continues from the settled HWM */
static void test_settlement_and_continuation(void)
{
	char m[32], s[32], sub[32], sub2[32], sub3[32], v[160];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '1000.00')", 1, s));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1000.00')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED");
	/* cancelled at a profit of 1500: the period's 100.00 is settled in the same call */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', state, high_water_mark, cumulative_profit,"
				" settled_fee, ledger_id IS NOT NULL)"
				" FROM subscription_cancel($1, 'cancelled by subscriber', '1500.00')",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "CANCELLED 1500.00 1500.00 100.00 t");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "700.00 0.00 300.00 3");
	/* once: cancelling again is a no-op (same state, docs/database.md) that settles
	 * nothing; no charge and no new profit after it */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', state, settled_fee, ledger_id IS NULL)"
				" FROM subscription_cancel($1, NULL, '5000')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "CANCELLED 0.00 t");
	CU_ASSERT(sqltest_expect(app, "",
				 "UPDATE subscriptions SET state = 'CANCELLED' WHERE id = $1", 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP022", "SELECT * FROM charge_performance_fee($1, '9000')",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP022", "SELECT subscription_record_profit($1, '9000')",
				 1, sub));
	CU_ASSERT_STRING_EQUAL(one("SELECT count(*) FROM billing_ledger WHERE subscription_id = $1"
				   " AND reference = 'settlement at cancellation'", sub), "1");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "700.00 0.00 300.00 3");

	/* same pair again: HWM 1500 and profit 1500 carried over, so recovering a loss
	 * back to 1500 is free and only the gain above it is billed */
	CU_ASSERT_FATAL(subscribe(m, s, sub2, sizeof(sub2)));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub2), "SYNCED 1500.00 1500.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1200.00')", 1, sub2));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, '1500.00')", 1, sub2));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, fee_amount, new_hwm)"
				" FROM charge_performance_fee($1, '1600.00')", 1, sub2));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED 20.00 1600.00");

	/* The API's path, a bare UPDATE to CANCELLED, settles too: on the profit recorded
	 * last (subscription_record_profit), and with an empty wallet as a receivable. */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_withdraw($1, '680.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT subscription_record_profit($1, '2100')",
				1, sub2));
	/* wallet_withdraw to 0 locked it; LOCKED_NO_FUNDS cannot be cancelled (seed), so
	 * give it 0.01 back and cancel from SYNCED */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '0.01')", 1, s));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'CANCELLED',"
				 " state_reason = 'cancelled by operator' WHERE id = $1", 1, sub2));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub2), "CANCELLED 2100.00 2100.00");
	CU_ASSERT_STRING_EQUAL(one("SELECT concat_ws(' ', entry_type, amount, receivable_after,"
				   " hwm_before, hwm_after) FROM billing_ledger"
				   " WHERE subscription_id = $1 ORDER BY id DESC LIMIT 1", sub2),
			       "RECEIVABLE -0.01 99.99 1600.00 2100.00");
	CU_ASSERT_STRING_EQUAL(one("SELECT settled_at IS NOT NULL FROM subscriptions WHERE id = $1",
				   sub2), "t");
	/* and the third subscription starts there, owing 99.99: it enters SYNCED (the
	 * seed's only entry state) and goes on to LOCKED_NO_FUNDS in the same statement
	 * (0026), until the deposit that pays the debt */
	CU_ASSERT_FATAL(subscribe(m, s, sub3, sizeof(sub3)));
	CU_ASSERT_STRING_EQUAL(one(SUB, sub3), "LOCKED_NO_FUNDS 2100.00 2100.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '100.00')", 1, s));
	CU_ASSERT_STRING_EQUAL(v, "0.01");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub3), "SYNCED 2100.00 2100.00");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "0.01 0.00 420.00 9");
	/* the application cannot set the carried values itself */
	CU_ASSERT(sqltest_expect(app, "42501",
				 "UPDATE subscriptions SET cumulative_profit = 0 WHERE id = $1", 1, sub3));
	CU_ASSERT(sqltest_expect(app, "42501",
				 "UPDATE subscriptions SET settled_at = now() WHERE id = $1", 1, sub3));
}

/* fee_pct is refused, not rounded; a sub-cent fee writes no row and keeps the HWM */
static void test_exact_fee_rules(void)
{
	char m[32], s[32], sub[32], v[128];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)));
	CU_ASSERT(sqltest_expect(app, "23514", "INSERT INTO subscriptions (master_id, subscriber_id,"
				 " fee_pct) VALUES ($1, $2, '12.345')", 2, m, s));
	CU_ASSERT_FATAL(sqltest_value(app, sub, sizeof(sub),
				      "INSERT INTO subscriptions (master_id, subscriber_id, fee_pct)"
				      " VALUES ($1, $2, '12.34') RETURNING id", 2, m, s));
	CU_ASSERT(sqltest_expect(app, "23514", "UPDATE subscriptions SET fee_pct = '2.001'"
				 " WHERE id = $1", 1, sub));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET fee_pct = '2.00' WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '10.00')", 1, s));
	/* 0.24 at 2 % = 0.0048 -> 0.00: NO_FEE, HWM stays 0 */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, fee_amount, new_hwm, profit_above_hwm)"
				" FROM charge_performance_fee($1, '0.24')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE 0.00 0.00 0.24");
	/* the gain is billed with the next: 0.25 at 2 % = 0.005 -> 0.01 */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, fee_amount, new_hwm)"
				" FROM charge_performance_fee($1, '0.25')", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED 0.01 0.25");
	CU_ASSERT_STRING_EQUAL(one("SELECT count(*) FROM billing_ledger WHERE subscriber_id = $1"
				   " AND entry_type LIKE 'FEE%' AND amount = 0", s), "0");
	/* above the int64 domain: refused, as in C */
	CU_ASSERT(sqltest_expect(app, "DP020",
				 "SELECT * FROM charge_performance_fee($1, '999999999999999.99')", 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP020",
				 "SELECT subscription_record_profit($1, '922337203685477.5808')", 1, sub));
}

/* Profit from execution reports (idempotent per report) billed by the scheduler at the
 * end of each period (billing_run_at, the owner's, with a test clock: the application's
 * billing_run refuses a time ahead, 0039): a hand-computed table, fee 20 %, wallet 1000.00.
 *   period  reports (seq ticket status realized)        profit      fee     HWM      balance
 *   1       1 11 FILLED 0; 2 11 CLOSED +1000 (sent twice)  1000.0000   200.00  1000.00  800.00
 *   2       3 12 FILLED 0; 4 12 CLOSED -1500.0049          -500.0049   -       1000.00  800.00
 *   3       5 13 CLOSED +2000.0099                         1500.0050   100.00  1500.01  700.00
 * (period 3: the profit rounds to 1500.01, 500.01 above the HWM, 20 % = 100.002 -> 100.00) */
static void test_profit_from_executions(void)
{
	char m[32], s[32], sub[32], t1[64], t2[64], t3[64], v[160];
	static const char *const run =
		"SELECT coalesce((SELECT concat_ws(' ', outcome, fee_amount) FROM billing_run_at($1)"
		" WHERE subscription_id = $2), 'none')";
	static const char *const report =
		"SELECT concat_ws(' ', recorded, cumulative_profit, profit_exact)"
		" FROM subscription_report_execution($1, $2, $3, $4, 100, 110000, $5)";

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '1000.00')", 1, s));
	CU_ASSERT_FATAL(sqltest_value(app, t1, sizeof(t1), "SELECT billing_period_end("
				      "billing_period, created_at) FROM subscriptions WHERE id = $1", 1, sub));
	CU_ASSERT_FATAL(sqltest_value(app, t2, sizeof(t2),
				      "SELECT billing_period_end('MONTHLY', $1)", 1, t1));
	CU_ASSERT_FATAL(sqltest_value(app, t3, sizeof(t3),
				      "SELECT billing_period_end('MONTHLY', $1)", 1, t2));
	/* period 1 */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "1", "11", "FILLED", "0"));
	CU_ASSERT_STRING_EQUAL(v, "t 0.00 0.0000");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "2", "11", "CLOSED", "1000"));
	CU_ASSERT_STRING_EQUAL(v, "t 1000.00 1000.0000");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "2", "11", "CLOSED", "1000"));
	CU_ASSERT_STRING_EQUAL(v, "f 1000.00 1000.0000");	/* the same report: once */
	CU_ASSERT(sqltest_value(own, v, sizeof(v), run, 2, "-infinity", sub));
	CU_ASSERT_STRING_EQUAL(v, "none");			/* the period has not ended */
	CU_ASSERT(sqltest_value(own, v, sizeof(v), run, 2, t1, sub));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED 200.00");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), run, 2, t1, sub));
	CU_ASSERT_STRING_EQUAL(v, "none");			/* billed once per period */
	/* period 2 */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "3", "12", "FILLED", "0"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "4", "12", "CLOSED",
				"-1500.0049"));
	CU_ASSERT_STRING_EQUAL(v, "t -500.00 -500.0049");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), run, 2, t2, sub));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE 0.00");
	/* period 3 */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), report, 5, sub, "5", "13", "CLOSED",
				"2000.0099"));
	CU_ASSERT_STRING_EQUAL(v, "t 1500.01 1500.0050");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), run, 2, t3, sub));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED 100.00");
	CU_ASSERT_STRING_EQUAL(one(SUB, sub), "SYNCED 1500.01 1500.01");
	CU_ASSERT_STRING_EQUAL(one(WALLET, s), "700.00 0.00 300.00 3");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT string_agg(hwm_before || '>' || hwm_after || ' '"
				" || reference, ', ' ORDER BY entry_no) = '0.00>1000.00 period to '"
				" || to_char($2::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
				" || ', 1000.00>1500.01 period to '"
				" || to_char($3::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
				" FROM billing_ledger WHERE subscription_id = $1", 3, sub, t1, t3));
	CU_ASSERT_STRING_EQUAL(v, "t");
	/* bad reports; none after the cancellation (its settlement closed the books) */
	CU_ASSERT(sqltest_expect(app, "DP020", report, 5, sub, "6", "14", "OPENED", "0"));
	CU_ASSERT(sqltest_expect(app, "DP020", report, 5, sub, "6", "14", "CLOSED", "0.00001"));
	CU_ASSERT(sqltest_expect(app, "", "SELECT * FROM subscription_cancel($1)", 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP022", report, 5, sub, "6", "14", "CLOSED", "5"));
	/* weekly periods are ISO weeks, UTC */
	CU_ASSERT_STRING_EQUAL(one("SELECT to_char(billing_period_end('WEEKLY', $1::timestamptz)"
				   " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI Dy')",
				   "2026-12-04 10:00+00"), "2026-12-07 00:00 Mon");
}

/* Migration 0039: the application's billing_run() bills as of now. An as-of time more
 * than a minute ahead of the database's clock is refused (DP025) and bills nothing: it
 * charged every period early and moved billed_until so far ahead that the periodic run
 * billed nothing more. Within the minute, and in the past, it runs. */
static void test_billing_not_ahead(void)
{
	char m[32], s[32], sub[32], v[160];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)) &&
			subscribe(m, s, sub, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, '1000.00')", 1, s));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT subscription_record_profit($1, 1000)",
				1, sub));
	CU_ASSERT(sqltest_expect(app, "DP025", "SELECT count(*) FROM billing_run('infinity')", 0));
	CU_ASSERT(sqltest_expect(app, "DP025", "SELECT count(*) FROM billing_run('2100-01-01')", 0));
	CU_ASSERT(sqltest_expect(app, "DP025", "SELECT count(*) FROM billing_run(clock_timestamp()"
				 " + interval '61 seconds')", 0));
	/* nothing billed ahead: no fee row, billed_until untouched (checked before the runs
	 * within the minute, which bill a period that ends in it) */
	CU_ASSERT_STRING_EQUAL(one("SELECT concat_ws(' ', count(l.id),"
				   " coalesce(max(s.billed_until)::text, 'none')) FROM subscriptions s"
				   " LEFT JOIN billing_ledger l ON l.subscription_id = s.id"
				   " WHERE s.id = $1", sub), "0 none");
	CU_ASSERT(sqltest_expect(app, "", "SELECT count(*) FROM billing_run(clock_timestamp()"
				 " + interval '30 seconds')", 0));
	CU_ASSERT(sqltest_expect(app, "", "SELECT count(*) FROM billing_run()", 0));
	CU_ASSERT(sqltest_expect(app, "", "SELECT count(*) FROM billing_run('-infinity')", 0));
	/* the test clock is the owner's */
	CU_ASSERT(sqltest_expect(app, "42501", "SELECT count(*) FROM billing_run_at(now())", 0));
}

/* Cancel + subscribe again continues the fee and the trust record (migration 0028): the
 * last fee unless the insert names one, the lower score, the subscription_trust row; a
 * score below 50 starts PAUSED_TOXIC. */
static void test_continuation_fee_trust(void)
{
	char m[32], s[32], sub[32], sub2[32], sub3[32], sub4[32], v[160];

	CU_ASSERT_FATAL(new_master(m, sizeof(m)) && new_subscriber(s, sizeof(s)));
	CU_ASSERT_FATAL(sqltest_value(app, sub, sizeof(sub), "INSERT INTO subscriptions"
				      " (master_id, subscriber_id, fee_pct) VALUES ($1, $2, '50.00')"
				      " RETURNING id", 2, m, s));
	/* the trust role's statements, as the application: score 55 after 9 incidents */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET trust_score = 55 WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "", "INSERT INTO subscription_trust (subscription_id,"
				 " quiet_since, incidents, executions, auto_pauses, credited_sequence)"
				 " VALUES ($1, '2026-01-02Z', 9, 4, 1, 77)", 1, sub));
	CU_ASSERT(sqltest_expect(app, "", "SELECT subscription_cancel($1)", 1, sub));
	CU_ASSERT(sqltest_value(app, sub2, sizeof(sub2), "INSERT INTO subscriptions (master_id,"
				" subscriber_id) VALUES ($1, $2) RETURNING id", 2, m, s));
#define CONT "SELECT concat_ws(' ', s.state, s.fee_pct, s.trust_score, t.quiet_since =" \
	" '2026-01-02Z', t.incidents, t.executions, t.auto_pauses, t.credited_sequence)" \
	" FROM subscriptions s LEFT JOIN subscription_trust t ON t.subscription_id = s.id" \
	" WHERE s.id = $1"
	CU_ASSERT_STRING_EQUAL(one(CONT, sub2), "SYNCED 50.00 55 t 9 4 1 77");
	/* a fee named on the insert (the operator's) wins; the score cannot be raised */
	CU_ASSERT(sqltest_expect(app, "", "SELECT subscription_cancel($1)", 1, sub2));
	CU_ASSERT(sqltest_value(app, sub3, sizeof(sub3), "INSERT INTO subscriptions (master_id,"
				" subscriber_id, fee_pct, trust_score) VALUES ($1, $2, '30.00', 100)"
				" RETURNING id", 2, m, s));
	CU_ASSERT_STRING_EQUAL(one(CONT, sub3), "SYNCED 30.00 55 t 9 4 1 77");
	/* below 50 when cancelled: the next one starts PAUSED_TOXIC, with the fee 30.00 */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET trust_score = 45 WHERE id = $1",
				 1, sub3));
	CU_ASSERT(sqltest_expect(app, "", "SELECT subscription_cancel($1)", 1, sub3));
	CU_ASSERT(sqltest_value(app, sub4, sizeof(sub4), "INSERT INTO subscriptions (master_id,"
				" subscriber_id) VALUES ($1, $2) RETURNING id", 2, m, s));
	CU_ASSERT_STRING_EQUAL(one(CONT, sub4), "PAUSED_TOXIC 30.00 45 t 9 4 1 77");
	snprintf(v, sizeof(v), "trust score 45 < 50 (carried over from subscription %s)", sub3);
	CU_ASSERT_STRING_EQUAL(one("SELECT state_reason FROM subscriptions WHERE id = $1", sub4), v);
	/* a new pair: no history, the default fee, 100 */
	CU_ASSERT(new_subscriber(s, sizeof(s)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "INSERT INTO subscriptions (master_id,"
				" subscriber_id) VALUES ($1, $2) RETURNING id", 2, m, s));
	CU_ASSERT_STRING_EQUAL(one(CONT, v), "SYNCED 20.00 100");
	CU_ASSERT(sqltest_expect(own, "DP012", "ALTER TABLE subscriptions DISABLE TRIGGER"
				 " subscriptions_continue_trust", 0));
#undef CONT
}

int main(void)
{
	static const struct sqltest_case cases[] = {
		{"unpaid fee -> receivable -> deposit pays it -> unlocked", test_receivable},
		{"cancel settles once; a new subscription continues", test_settlement_and_continuation},
		{"fee_pct refused not rounded; sub-cent fee writes nothing", test_exact_fee_rules},
		{"profit from execution reports, billed by the scheduler", test_profit_from_executions},
		{"billing_run as of now: a time ahead refused (DP025)", test_billing_not_ahead},
		{"back to SYNCED while owing: LOCKED_NO_FUNDS until paid", test_resume_owing},
		{"subscribing while owing: LOCKED_NO_FUNDS until paid", test_subscribe_owing},
		{"resume from LOCKED_NO_FUNDS while owing: locked again", test_unlock_owing},
		{"cancel + subscribe again: fee and trust continue", test_continuation_fee_trust},
	};

	return sqltest_main("money_scenarios", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
