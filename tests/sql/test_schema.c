/*
 * test_schema.c - the schema's rules on a real PostgreSQL 15 (issue 4
 * acceptance): seed HWM example, append-only ledger (application role and
 * owner), every subscription state transition, money functions, copy policy
 * validation, token rules, signal_archive once per (master, sequence), partitions kept for archival.
 */
#include "sqltest.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct harness_pg *pg;
static PGconn *own;	/* migration owner (postgres) */
static PGconn *app;	/* decp_app */

static const char *const states[] = {
	"SYNCED", "DEGRADED_GAP", "LOCKED_NO_FUNDS", "PAUSED_TOXIC", "SUSPENDED_ADMIN", "CANCELLED",
};
#define NSTATES 6

/* The seed diagram, written independently of the SQL (from, to). */
static const char *const allowed[][2] = {
	{ "SYNCED", "DEGRADED_GAP" },	{ "SYNCED", "LOCKED_NO_FUNDS" },
	{ "SYNCED", "PAUSED_TOXIC" },	{ "SYNCED", "SUSPENDED_ADMIN" },
	{ "SYNCED", "CANCELLED" },	{ "DEGRADED_GAP", "SYNCED" },
	{ "DEGRADED_GAP", "PAUSED_TOXIC" }, { "LOCKED_NO_FUNDS", "SYNCED" },
	{ "PAUSED_TOXIC", "SYNCED" },	{ "SUSPENDED_ADMIN", "SYNCED" },
};

static bool is_allowed(const char *from, const char *to)
{
	size_t i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(allowed[i][0], from) == 0 && strcmp(allowed[i][1], to) == 0)
			return true;
	return false;
}

/* A new master / subscriber (as the application), its id into out. */
static bool new_master(char *out, size_t len)
{
	return sqltest_new_master(app, out, len);
}

static bool new_subscriber(char *out, size_t len)
{
	return sqltest_new_subscriber(app, out, len);
}

/* New master + subscriber + subscription at fee_pct; ids into sub/subscriber. */
static bool new_subscription(const char *fee_pct, char *sub, char *subscriber, size_t len)
{
	char master[32];

	if (!new_master(master, sizeof(master)) || !new_subscriber(subscriber, len))
		return false;
	return sqltest_value(app, sub, len,
			     "INSERT INTO subscriptions (master_id, subscriber_id, fee_pct)"
			     " VALUES ($1, $2, $3) RETURNING id", 3, master, subscriber, fee_pct);
}

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

/* Seed "High-Water Mark (HWM) Billing" example through the SQL functions. */
static void test_hwm_seed_example(void)
{
	static const struct {
		const char *profit, *outcome, *fee, *hwm, *above, *balance;
	} steps[] = {
		{ "1000", "CHARGED", "200.00", "1000.00", "1000.00", "800.00" },
		{ "500", "NO_FEE", "0.00", "1000.00", "0.00", "800.00" },
		{ "1500", "CHARGED", "100.00", "1500.00", "500.00", "700.00" },
	};
	char sub[32], subscriber[32], v[64];
	PGresult *r;
	size_t i;

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"1000.00"));
	CU_ASSERT_STRING_EQUAL(v, "1000.00");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		r = sqltest_q(app, "SELECT outcome, fee_amount, new_hwm, profit_above_hwm, balance_after"
				   " FROM charge_performance_fee($1, $2)", 2, sub, steps[i].profit);
		CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
		CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), steps[i].outcome);
		CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), steps[i].fee);
		CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), steps[i].hwm);
		CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 3), steps[i].above);
		CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 4), steps[i].balance);
		PQclear(r);
		CU_ASSERT(sqltest_value(app, v, sizeof(v),
					"SELECT high_water_mark FROM subscriptions WHERE id = $1", 1, sub));
		CU_ASSERT_STRING_EQUAL(v, steps[i].hwm);
	}
	/* The ledger rows carry balance and HWM before/after. */
	r = sqltest_q(app, "SELECT entry_type, amount, balance_before, balance_after, hwm_before,"
			   " hwm_after FROM billing_ledger WHERE subscriber_id = $1 ORDER BY entry_no",
		      1, subscriber);
	CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 3);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "DEPOSIT");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 0), "FEE_PERFORMANCE");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 1), "-200.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 2), "1000.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 3), "800.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 4), "0.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 1, 5), "1000.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 2, 1), "-100.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 2, 4), "1000.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 2, 5), "1500.00");
	PQclear(r);
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT lifetime_fees FROM user_wallets WHERE subscriber_id = $1", 1,
				subscriber));
	CU_ASSERT_STRING_EQUAL(v, "300.00");
}

/* calculate_performance_fee(subscription, 1500.00, 20.00) with HWM 1000
 * returns exactly the seed's 100.00, 1500.00, 500.00 and changes nothing. */
static void test_calculate_performance_fee(void)
{
	char sub[32], subscriber[32], v[64];
	PGresult *r;

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"5000"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT outcome FROM charge_performance_fee($1, $2)", 2, sub, "1000"));
	r = sqltest_q(app, "SELECT * FROM calculate_performance_fee($1, $2, $3)", 3, sub, "1500.00",
		      "20.00");
	CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
	CU_ASSERT_STRING_EQUAL(PQfname(r, 0), "fee_amount");
	CU_ASSERT_STRING_EQUAL(PQfname(r, 1), "new_hwm");
	CU_ASSERT_STRING_EQUAL(PQfname(r, 2), "profit_above_hwm");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "100.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), "1500.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), "500.00");
	PQclear(r);
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT high_water_mark FROM subscriptions WHERE id = $1", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "1000.00");
	/* Boundaries: a loss, exactly the HWM, a fee that rounds, bad pct. */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT fee_amount FROM calculate_performance_fee($1, $2, $3)", 3, sub,
				"-250", "20"));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT fee_amount FROM calculate_performance_fee($1, $2, $3)", 3, sub,
				"1000.00", "20"));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT fee_amount FROM calculate_performance_fee($1, $2, $3)", 3, sub,
				"1000.03", "50"));
	CU_ASSERT_STRING_EQUAL(v, "0.02");	/* 0.015 rounds half away from zero */
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT * FROM calculate_performance_fee($1, $2, $3)",
				 3, sub, "1500", "100.01"));
	CU_ASSERT(sqltest_expect(app, "DP021", "SELECT * FROM calculate_performance_fee($1, $2, $3)",
				 3, "999999", "1500", "20"));
}

/* Not enough money (0011): what is available is taken, the rest is a receivable, the
 * HWM moves (the profit is billed once), LOCKED_NO_FUNDS; a deposit pays the receivable
 * first and restores SYNCED; the same profit is not billed again. (Until 0011 nothing
 * was charged, the HWM stayed, and the fee could be lost: issue 20.) */
static void test_fee_insufficient_funds(void)
{
	char sub[32], subscriber[32], v[128];
	PGresult *r;

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"10.00"));
	r = sqltest_q(app, "SELECT outcome, fee_amount, new_hwm, balance_after, ledger_id"
			   " FROM charge_performance_fee($1, $2)", 2, sub, "1000");
	CU_ASSERT_FATAL(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 0), "RECEIVABLE");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 1), "200.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 2), "1000.00");
	CU_ASSERT_STRING_EQUAL(PQgetvalue(r, 0, 3), "0.00");
	CU_ASSERT(!PQgetisnull(r, 0, 4));
	PQclear(r);
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', state, high_water_mark) FROM subscriptions WHERE id = $1",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "LOCKED_NO_FUNDS 1000.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', entry_type, amount, receivable_before, receivable_after,"
				" hwm_before, hwm_after) FROM billing_ledger WHERE subscriber_id = $1"
				" AND entry_no = 2", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "RECEIVABLE -10.00 0.00 190.00 0.00 1000.00");

	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"500.00"));
	CU_ASSERT_STRING_EQUAL(v, "310.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT state FROM subscriptions WHERE id = $1",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "SYNCED");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, fee_amount, balance_after)"
				" FROM charge_performance_fee($1, $2)", 2, sub, "1000"));
	CU_ASSERT_STRING_EQUAL(v, "NO_FEE 0.00 310.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', balance_usd, receivable_usd, lifetime_fees, ledger_seq)"
				" FROM user_wallets WHERE subscriber_id = $1", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "310.00 0.00 200.00 4");

	/* Charging down to exactly 0 locks too (seed: balance <= 0). */
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', outcome, balance_after)"
				" FROM charge_subscription_fee($1, $2)", 2, sub, "310.00"));
	CU_ASSERT_STRING_EQUAL(v, "CHARGED 0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT state FROM subscriptions WHERE id = $1",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "LOCKED_NO_FUNDS");
}

static void test_wallet_functions(void)
{
	char subscriber[32], v[64];

	CU_ASSERT_FATAL(new_subscriber(subscriber, sizeof(subscriber)));
	/* Before the first deposit (which makes the wallet) the wallet reads 0.00, and taking
	 * money out is refused as from any wallet of 0.00 (0038; DP021 "no wallet" before),
	 * creating nothing; an unknown subscriber is not found, an invalid amount invalid. */
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_withdraw($1, $2)", 2, subscriber, "1"));
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_reserve($1, $2)", 2, subscriber, "1"));
	CU_ASSERT(sqltest_expect(app, "DP031", "SELECT wallet_release($1, $2)", 2, subscriber, "1"));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT wallet_withdraw($1, $2)", 2, subscriber,
				 "1.001"));
	CU_ASSERT(sqltest_expect(app, "DP021", "SELECT wallet_withdraw($1, $2)", 2,
				 "999999999", "1"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT count(*) FROM user_wallets"
				" WHERE subscriber_id = $1", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "0");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"100.00"));
	/* Never below zero; whole cents only; positive only. */
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_withdraw($1, $2)", 2, subscriber,
				 "100.01"));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT wallet_withdraw($1, $2)", 2, subscriber,
				 "1.005"));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT wallet_deposit($1, $2)", 2, subscriber, "0"));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT wallet_deposit($1, $2)", 2, subscriber, "-5"));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT wallet_deposit($1, $2)", 2, subscriber, NULL));
	/* Reserve and release move money between available and reserved. */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_reserve($1, $2)", 2, subscriber,
				"30.00"));
	CU_ASSERT_STRING_EQUAL(v, "70.00");
	CU_ASSERT(sqltest_expect(app, "DP030", "SELECT wallet_reserve($1, $2)", 2, subscriber,
				 "70.01"));
	CU_ASSERT(sqltest_expect(app, "DP031", "SELECT wallet_release($1, $2)", 2, subscriber,
				 "30.01"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_release($1, $2)", 2, subscriber,
				"10.00"));
	CU_ASSERT_STRING_EQUAL(v, "80.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_withdraw($1, $2)", 2, subscriber,
				"80.00"));
	CU_ASSERT_STRING_EQUAL(v, "0.00");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT concat_ws(' ', balance_usd, reserved_usd, ledger_seq)"
				" FROM user_wallets WHERE subscriber_id = $1", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "0.00 20.00 4");
	/* The application cannot touch wallets or call the internals. */
	CU_ASSERT(sqltest_expect(app, "42501",
				 "UPDATE user_wallets SET balance_usd = 1e6 WHERE subscriber_id = $1",
				 1, subscriber));
	CU_ASSERT(sqltest_expect(app, "42501",
				 "SELECT wallet_post($1, 'DEPOSIT', 5, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL)",
				 1, subscriber));
	CU_ASSERT(sqltest_expect(app, "42501",
				 "UPDATE subscriptions SET high_water_mark = 0 WHERE id = 1", 0));
}

/* UPDATE / DELETE / TRUNCATE (and INSERT, ALTER for the app) refused for the
 * application role by privileges and for the owner by triggers. */
static void test_ledger_append_only(void)
{
	char subscriber[32], v[64];

	CU_ASSERT_FATAL(new_subscriber(subscriber, sizeof(subscriber)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT wallet_deposit($1, $2)", 2, subscriber,
				"50.00"));

	CU_ASSERT(sqltest_expect(app, "42501", "UPDATE billing_ledger SET amount = 0", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "DELETE FROM billing_ledger", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "TRUNCATE billing_ledger", 0));
	CU_ASSERT(sqltest_expect(app, "42501",
				 "INSERT INTO billing_ledger (subscriber_id, entry_no, entry_type, amount,"
				 " balance_before, balance_after, reserved_before, reserved_after)"
				 " VALUES ($1, 99, 'DEPOSIT', 1, 0, 1, 0, 0)", 1, subscriber));
	CU_ASSERT(sqltest_expect(app, "42501", "ALTER TABLE billing_ledger DISABLE TRIGGER USER", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "DROP TABLE billing_ledger", 0));

	CU_ASSERT(sqltest_expect(own, "DP010", "UPDATE billing_ledger SET amount = 0", 0));
	CU_ASSERT(sqltest_expect(own, "DP010", "UPDATE billing_ledger SET reference = 'x' WHERE false",
				 0));
	CU_ASSERT(sqltest_expect(own, "DP010", "DELETE FROM billing_ledger WHERE subscriber_id = $1",
				 1, subscriber));
	CU_ASSERT(sqltest_expect(own, "DP010", "TRUNCATE billing_ledger", 0));
	CU_ASSERT(sqltest_expect(own, "DP010", "TRUNCATE billing_ledger CASCADE", 0));

	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT count(*) FROM billing_ledger WHERE subscriber_id = $1", 1,
				subscriber));
	CU_ASSERT_STRING_EQUAL(v, "1");
}

/* profit_events (0032): written only by the money functions; the application may read it
 * and nothing else, the owner of the schema may not rewrite it either. */
static void test_profit_events_append_only(void)
{
	char sub[32], subscriber[32], v[64];

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT subscription_record_profit($1, $2)", 2,
				sub, "12.3456"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT string_agg(kind || ' ' || amount,"
				" ',' ORDER BY seq) FROM profit_events WHERE subscription_id = $1",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "carry 0.0000,set 12.3456");

	CU_ASSERT(sqltest_expect(app, "42501", "INSERT INTO profit_events (subscription_id, seq,"
				 " kind, amount) VALUES ($1, 3, 'set', 900)", 1, sub));
	CU_ASSERT(sqltest_expect(app, "42501", "UPDATE profit_events SET amount = 900"
				 " WHERE subscription_id = $1", 1, sub));
	CU_ASSERT(sqltest_expect(app, "42501", "DELETE FROM profit_events WHERE subscription_id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "42501", "TRUNCATE profit_events", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "SELECT profit_event_append($1, 'set', 900)", 1,
				 sub));
	CU_ASSERT(sqltest_expect(app, "42501", "SELECT subscription_profit_set($1, 900)", 1, sub));

	CU_ASSERT(sqltest_expect(own, "DP010", "UPDATE profit_events SET amount = 900"
				 " WHERE subscription_id = $1", 1, sub));
	CU_ASSERT(sqltest_expect(own, "DP010", "DELETE FROM profit_events WHERE false", 0));
	CU_ASSERT(sqltest_expect(own, "DP010", "TRUNCATE profit_events", 0));
	CU_ASSERT(sqltest_expect(own, "DP012", "ALTER TABLE profit_events DISABLE TRIGGER USER", 0));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT count(*) FROM profit_events"
				" WHERE subscription_id = $1", 1, sub));
	CU_ASSERT_STRING_EQUAL(v, "2");
}

/* Every (from, to) pair of the six states: inside the diagram accepted,
 * outside refused (DP002), through the application role. */
static void test_state_transitions_all_pairs(void)
{
	int f, t, accepted = 0, refused = 0;

	for (f = 0; f < NSTATES; f++) {
		char sub[32], subscriber[32];

		CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
		if (f != 0)
			CU_ASSERT_FATAL(sqltest_expect(app, "",
						       "UPDATE subscriptions SET state = $1 WHERE id = $2",
						       2, states[f], sub));
		for (t = 0; t < NSTATES; t++) {
			bool want = is_allowed(states[f], states[t]);
			PGresult *r;

			if (f == t)
				continue;
			CU_ASSERT_FATAL(sqltest_expect(app, "", "BEGIN", 0));
			r = sqltest_q(app, "UPDATE subscriptions SET state = $1 WHERE id = $2", 2,
				      states[t], sub);
			if (want) {
				CU_ASSERT(sqltest_ok(r) && strcmp(PQcmdTuples(r), "1") == 0);
				accepted += sqltest_ok(r);
			} else {
				CU_ASSERT_STRING_EQUAL(sqltest_state(r), "DP002");
				refused += !sqltest_ok(r);
			}
			if (sqltest_ok(r) != want)
				fprintf(stderr, "transition %s -> %s: %s\n", states[f], states[t],
					sqltest_ok(r) ? "accepted" : PQresultErrorMessage(r));
			PQclear(r);
			CU_ASSERT_FATAL(sqltest_expect(app, "", "ROLLBACK", 0));
		}
	}
	CU_ASSERT_EQUAL(accepted, 10);
	CU_ASSERT_EQUAL(refused, NSTATES * (NSTATES - 1) - 10);
}

static void test_subscription_rules(void)
{
	char sub[32], subscriber[32], master[32], v[64];

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT state FROM subscriptions WHERE id = $1",
				1, sub));
	CU_ASSERT_STRING_EQUAL(v, "SYNCED");
	CU_ASSERT(sqltest_value(app, master, sizeof(master),
				"SELECT master_id FROM subscriptions WHERE id = $1", 1, sub));
	/* Initial state is SYNCED: the app may not choose one, the owner may not
	 * choose another. */
	CU_ASSERT(sqltest_expect(app, "42501",
				 "INSERT INTO subscriptions (master_id, subscriber_id, state)"
				 " VALUES ($1, $2, 'SYNCED')", 2, master, subscriber));
	CU_ASSERT(sqltest_expect(own, "DP002",
				 "INSERT INTO subscriptions (master_id, subscriber_id, state)"
				 " VALUES ($1, $2, 'PAUSED_TOXIC')", 2, master, subscriber));
	/* One live subscription per pair. */
	CU_ASSERT(sqltest_expect(app, "23505",
				 "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($1, $2)",
				 2, master, subscriber));
	/* last_sequence_id only moves forward. */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET last_sequence_id = 10 WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP003",
				 "UPDATE subscriptions SET last_sequence_id = 9 WHERE id = $1", 1, sub));
	CU_ASSERT(sqltest_expect(app, "23514", "UPDATE subscriptions SET trust_score = 101 WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "23514", "UPDATE subscriptions SET fee_pct = -1 WHERE id = $1",
				 1, sub));
	/* Cancelled is terminal, and frees the pair for a new subscription. */
	CU_ASSERT(sqltest_expect(app, "", "UPDATE subscriptions SET state = 'CANCELLED' WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "DP002", "UPDATE subscriptions SET state = 'SYNCED' WHERE id = $1",
				 1, sub));
	CU_ASSERT(sqltest_expect(app, "",
				 "INSERT INTO subscriptions (master_id, subscriber_id) VALUES ($1, $2)",
				 2, master, subscriber));
	CU_ASSERT(sqltest_expect(app, "DP022", "SELECT * FROM charge_performance_fee($1, 10)", 1, sub));
}

static void test_copy_policy(void)
{
	static const char *const good[] = {
		"{\"mode\": \"MULTIPLIER\", \"multiplier\": 1}",
		"{\"mode\": \"MULTIPLIER\", \"multiplier\": 0.5, \"reverse\": true, \"copy_sl\": false}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 0.01, \"symbols_allow\": [\"EURUSD\", \"XAUUSD.m\"]}",
		("{\"mode\": \"EQUITY_RATIO\", \"master_equity\": 10000, \"max_deviation_pips\": 2.5,"
		 " \"symbols_deny\": [], \"symbol_map\": {\"XAUUSD\": \"GOLD.r\"}, \"suffix\": \".m\"}"),
		("{\"mode\": \"RISK_PERCENT\", \"risk_pct\": 1, \"order_types\": [\"BUY\", \"SELL\","
		 " \"CLOSE\"], \"equity_floor\": 500, \"max_drawdown_pct\": 20, \"close_all_on_trip\": true}"),
	};
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"mode\": \"YOLO\"}",
		"{\"mode\": \"MULTIPLIER\"}",
		"{\"mode\": \"MULTIPLIER\", \"multiplier\": 0}",
		"{\"mode\": \"MULTIPLIER\", \"multiplier\": \"2\"}",
		"{\"mode\": \"MULTIPLIER\", \"multiplier\": 101}",
		"{\"mode\": \"FIXED\"}",
		"{\"mode\": \"EQUITY_RATIO\"}",
		"{\"mode\": \"RISK_PERCENT\", \"risk_pct\": 0}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"symbols_allow\": [1]}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"symbols_allow\": \"EURUSD\"}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"symbols_deny\": [\"EUR USD\"]}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"symbol_map\": {\"XAUUSD\": 5}}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"order_types\": [\"HODL\"]}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"reverse\": 1}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"max_deviation_pips\": -1}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"suffix\": \"much-too-long\"}",
		"{\"mode\": \"FIXED\", \"lot_fixed\": 1, \"surprise\": 1}",
	};
	char sub[32], subscriber[32];
	size_t i;

	CU_ASSERT_FATAL(new_subscription("20.00", sub, subscriber, sizeof(sub)));
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CU_ASSERT(sqltest_expect(app, "",
					 "UPDATE subscriptions SET copy_policy = $1 WHERE id = $2", 2,
					 good[i], sub));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT(sqltest_expect(app, "23514",
					 "UPDATE subscriptions SET copy_policy = $1 WHERE id = $2", 2,
					 bad[i], sub));
}

static void test_tokens(void)
{
	char master[32], id[32];

	CU_ASSERT_FATAL(new_master(master, sizeof(master)));
	CU_ASSERT(sqltest_value(app, id, sizeof(id),
				"INSERT INTO license_tokens (master_id, token_sha256)"
				" VALUES ($1, sha256('secret-token'::bytea)) RETURNING id", 1, master));
	/* Only 32-byte hashes, each once. */
	CU_ASSERT(sqltest_expect(app, "23514",
				 "INSERT INTO license_tokens (master_id, token_sha256)"
				 " VALUES ($1, 'plaintext'::bytea)", 1, master));
	CU_ASSERT(sqltest_expect(app, "23505",
				 "INSERT INTO license_tokens (master_id, token_sha256)"
				 " VALUES ($1, sha256('secret-token'::bytea))", 1, master));
	CU_ASSERT(sqltest_expect(app, "42501",
				 "UPDATE license_tokens SET token_sha256 = sha256('x'::bytea) WHERE id = $1",
				 1, id));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE license_tokens SET revoked_at = now() WHERE id = $1",
				 1, id));
	CU_ASSERT(sqltest_expect(app, "DP001",
				 "UPDATE license_tokens SET revoked_at = NULL WHERE id = $1", 1, id));
	CU_ASSERT(sqltest_expect(app, "42501", "DELETE FROM license_tokens WHERE id = $1", 1, id));
	CU_ASSERT(sqltest_expect(app, "23514",
				 "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
				 " VALUES ('short-key', decode(repeat('ab', 32), 'hex'), '\\x00')", 0));
}

/* signal_archive holds each (master_id, sequence) once, across partitions, for every
 * client (sql 0007: a statement trigger adds the keys; a duplicate is refused with
 * 23505, a whole statement at once); a client that may redeliver filters against
 * signal_archive_keys, which the application may read but not write. */
static const char *sa_ins =
	"INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,"
	" order_type, volume, body) VALUES ($1, $2, now() + $3::interval, 1, 'EURUSD', 'BUY',"
	" 100000, '\\x0a01')";

static void test_signal_archive_once(void)
{
	PGresult *r;
	char v[32];

	r = sqltest_q(app, sa_ins, 3, "77", "1", "0");
	CU_ASSERT(sqltest_ok(r) && strcmp(PQcmdTuples(r), "1") == 0);
	PQclear(r);
	CU_ASSERT(sqltest_expect(app, "23505", sa_ins, 3, "77", "1", "0"));
	CU_ASSERT(sqltest_expect(app, "23505", sa_ins, 3, "77", "1", "2 days"));
	CU_ASSERT(sqltest_expect(app, "", sa_ins, 3, "77", "2", "2 days"));
	/* One statement with a key twice: refused as a whole. */
	CU_ASSERT(sqltest_expect(app, "23505",
				 "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns,"
				 " symbol, order_type, volume, body) SELECT 77, 3, now() + d, 1, 'EURUSD',"
				 " 'BUY', 1, '\\x00' FROM unnest(ARRAY[interval '0', interval '1 day']) d", 0));
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT count(*) FROM signal_archive WHERE master_id = 77", 0));
	CU_ASSERT_STRING_EQUAL(v, "2");
	/* The archiver's filtered path, as the application role: staging table, then one
	 * INSERT ... SELECT that skips archived keys (77/1, 77/2) and adds 77/4. */
	CU_ASSERT(sqltest_expect(app, "", "CREATE TEMP TABLE stage (LIKE signal_archive"
				 " INCLUDING DEFAULTS) ON COMMIT DELETE ROWS", 0));
	CU_ASSERT(sqltest_expect(app, "", "BEGIN", 0));
	CU_ASSERT(sqltest_expect(app, "", "INSERT INTO stage (master_id, sequence, arrival_time,"
				 " arrival_ns, symbol, order_type, volume, body) SELECT 77, q,"
				 " now() + interval '1 day', 1, 'EURUSD', 'BUY', 1, '\\x00'"
				 " FROM unnest(ARRAY[1, 2, 4]) q", 0));
	r = sqltest_q(app, "INSERT INTO signal_archive SELECT * FROM stage s WHERE NOT EXISTS"
		      " (SELECT 1 FROM signal_archive_keys k WHERE k.master_id = s.master_id"
		      " AND k.sequence = s.sequence)", 0);
	CU_ASSERT(sqltest_ok(r) && strcmp(PQcmdTuples(r), "1") == 0);
	PQclear(r);
	CU_ASSERT(sqltest_expect(app, "", "COMMIT", 0));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT string_agg(sequence::text, ','"
				" ORDER BY sequence) FROM signal_archive WHERE master_id = 77", 0));
	CU_ASSERT_STRING_EQUAL(v, "1,2,4");
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT count(*) FROM signal_archive_keys WHERE master_id = 77", 0));
	CU_ASSERT_STRING_EQUAL(v, "3");
	CU_ASSERT(sqltest_expect(app, "", "DROP TABLE stage", 0));
	/* Keys are readable, never writable, by the application; the archive is append-only. */
	CU_ASSERT(sqltest_expect(app, "42501", "INSERT INTO signal_archive_keys VALUES (77, 9, now())",
				 0));
	CU_ASSERT(sqltest_expect(app, "42501", "DELETE FROM signal_archive_keys", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "DELETE FROM signal_archive", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "UPDATE signal_archive SET sequence = 5", 0));
	CU_ASSERT(sqltest_expect(app, "42501", "ALTER TABLE signal_archive DISABLE TRIGGER ALL", 0));
}

/* Two sessions insert the same key (two archivers after an XAUTOCLAIM): the second waits
 * for the first and is refused once the first commits; never two rows. */
static void test_signal_archive_race(void)
{
	PGconn *b = sqltest_connect(pg, NULL, "decp_app");
	const char *params[] = { "78", "1", "0" };
	PGresult *r;
	char v[32];

	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(sqltest_expect(app, "", "BEGIN", 0));
	CU_ASSERT(sqltest_expect(app, "", sa_ins, 3, "78", "1", "0"));
	CU_ASSERT(PQsendQueryParams(b, sa_ins, 3, NULL, params, NULL, NULL, 0) == 1);
	CU_ASSERT(sqltest_expect(app, "", "COMMIT", 0));
	r = PQgetResult(b);
	CU_ASSERT_STRING_EQUAL(sqltest_state(r), "23505");
	PQclear(r);
	while ((r = PQgetResult(b)) != NULL)
		PQclear(r);
	CU_ASSERT(sqltest_value(app, v, sizeof(v),
				"SELECT count(*) FROM signal_archive WHERE master_id = 78", 0));
	CU_ASSERT_STRING_EQUAL(v, "1");
	PQfinish(b);
}

/* Statement triggers of the parent do not fire for a statement aimed at a partition:
 * every partition, present and future (maintain_partitions), carries its own, so a
 * direct insert into a partition (only the owner has the rights) is refused too. */
static void test_signal_archive_partitions_guarded(void)
{
	static const char *ins_part =
		"SELECT format('INSERT INTO signal_archive_p%s (master_id, sequence, arrival_time,"
		" arrival_ns, symbol, order_type, volume, body) VALUES (99, %s, %L, 1, ''EURUSD'',"
		" ''BUY'', 1, ''\\x00'')', to_char(d, 'YYYYMMDD'), $2::integer,"
		" (d::timestamp AT TIME ZONE 'UTC') + interval '1 hour')"
		" FROM (SELECT (now() AT TIME ZONE 'UTC')::date + $1::integer AS d) x";
	static const char *maint_at =
		"SELECT count(*) FROM maintain_partitions_at((now() AT TIME ZONE 'UTC')::date"
		" + $1::integer, $2::integer, 90)";
	char sql[512], v[32];

	/* A partition of today's migration, and fresh ones made by maintenance later. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v), maint_at, 2, "20", "3"));
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "1", "1"));
	CU_ASSERT(sqltest_expect(own, "", sql, 0));
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "21", "1"));
	CU_ASSERT(sqltest_expect(own, "23505", sql, 0));
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "22", "2"));
	CU_ASSERT(sqltest_expect(own, "", sql, 0));
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "2", "2"));
	CU_ASSERT(sqltest_expect(own, "23505", sql, 0));
	CU_ASSERT(sqltest_expect(own, "23505", "INSERT INTO signal_archive_default (master_id,"
				 " sequence, arrival_time, arrival_ns, symbol, order_type, volume, body)"
				 " VALUES (99, 1, now() + interval '60 days', 1, 'EURUSD', 'BUY', 1,"
				 " '\\x00')", 0));
	/* A day whose rows sat in the default partition: maintenance moves them into the new
	 * partition (their keys stay) and guards it like the others. */
	CU_ASSERT(sqltest_expect(app, "", sa_ins, 3, "99", "3", "40 days"));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), maint_at, 2, "40", "0"));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT tableoid::regclass::text FROM"
				" signal_archive WHERE master_id = 99 AND sequence = 3", 0));
	CU_ASSERT(strncmp(v, "signal_archive_p", 16) == 0);
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "40", "3"));
	CU_ASSERT(sqltest_expect(own, "23505", sql, 0));
	CU_ASSERT(sqltest_value(own, sql, sizeof(sql), ins_part, 2, "40", "4"));
	CU_ASSERT(sqltest_expect(own, "", sql, 0));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT count(*) FROM signal_archive_keys"
				" WHERE master_id = 99", 0));
	CU_ASSERT_STRING_EQUAL(v, "4");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT count(*) FROM pg_inherits i WHERE"
				" i.inhparent = 'signal_archive'::regclass AND NOT EXISTS (SELECT 1"
				" FROM pg_trigger t WHERE t.tgrelid = i.inhrelid AND"
				" t.tgname = 'signal_archive_keys_add')", 0));
	CU_ASSERT_STRING_EQUAL(v, "0");
	/* The rows routed through the parent fired the parent's trigger only (else 23505). */
	CU_ASSERT(sqltest_expect(app, "", sa_ins, 3, "99", "5", "21 days"));
}

/* 1 when <table>_p<today+offset> exists, 0 when not, -1 on error. */
static int partition_exists(const char *table, int offset)
{
	char off[16], v[16];

	snprintf(off, sizeof(off), "%d", offset);
	if (!sqltest_value(own, v, sizeof(v),
			   "SELECT to_regclass(format('%s_p%s', $1::text, to_char("
			   "(now() AT TIME ZONE 'UTC')::date + $2::integer, 'YYYYMMDD'))) IS NOT NULL",
			   2, table, off))
		return -1;
	return strcmp(v, "t") == 0;
}

static const char *log_ins =
	"INSERT INTO protection_logs (event_time, reason, subscription_id)"
	" VALUES (((now() AT TIME ZONE 'UTC')::date + $1::integer)::timestamp AT TIME ZONE 'UTC'"
	" + interval '12 hours', 'TTL_EXPIRED', $2)";

static const char *log_where =
	"SELECT coalesce(string_agg(tableoid::regclass::text, ','), 'none')"
	" FROM protection_logs WHERE subscription_id = $1";

static const char *maint =
	"SELECT count(*) FROM maintain_partitions_at((now() AT TIME ZONE 'UTC')::date + $1::integer,"
	" $2::integer, 90)";

static void test_partition_retention(void)
{
	char v[128], expect[64];
	int d;

	/* Fresh database: today .. today+7 exist (created by the migration). */
	for (d = 0; d <= 7; d++) {
		CU_ASSERT(partition_exists("protection_logs", d) == 1);
		CU_ASSERT(partition_exists("signal_archive", d) == 1);
	}
	/* Partitions for days -95 .. -83 as if created back then, with rows. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v), maint, 2, "-95", "12"));
	CU_ASSERT(partition_exists("protection_logs", -95) == 1);
	CU_ASSERT(sqltest_expect(own, "", log_ins, 2, "-95", "9001"));
	CU_ASSERT(sqltest_expect(own, "", log_ins, 2, "-90", "9002"));
	CU_ASSERT(sqltest_expect(own, "", log_ins, 2, "-85", "9003"));
	CU_ASSERT(sqltest_expect(own, "",
				 "INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns,"
				 " symbol, order_type, volume, body) VALUES (88, 1, now() - interval '95 days',"
				 " 1, 'EURUSD', 'BUY', 1, '\\x00')", 0));

	/* Maintenance today drops nothing (0015): days past the 90-day hot window are kept
	 * until archival has exported and verified them (tests/lifecycle), and listed as due. */
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT count(*) FROM maintain_partitions()", 0));
	for (d = -95; d <= -83; d++) {
		CU_ASSERT(partition_exists("protection_logs", d) == 1);
		CU_ASSERT(partition_exists("signal_archive", d) == 1);
	}
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT count(*) FROM archive_due_partitions()", 0));
	CU_ASSERT_STRING_EQUAL(v, "10");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9001"));
	CU_ASSERT(strncmp(v, "protection_logs_p", 17) == 0);
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9002"));
	CU_ASSERT(strncmp(v, "protection_logs_p", 17) == 0);
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9003"));
	CU_ASSERT(strncmp(v, "protection_logs_p", 17) == 0);
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT count(*) FROM signal_archive_keys WHERE master_id = 88", 0));
	CU_ASSERT_STRING_EQUAL(v, "1");

	/* A day without a partition: the row lands in the default partition... */
	CU_ASSERT(sqltest_expect(app, "", log_ins, 2, "30", "9004"));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9004"));
	CU_ASSERT_STRING_EQUAL(v, "protection_logs_default");
	/* ...and moves into its own partition when that is created. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v), maint, 2, "25", "7"));
	CU_ASSERT(partition_exists("protection_logs", 30) == 1);
	CU_ASSERT(sqltest_value(own, expect, sizeof(expect),
				"SELECT format('protection_logs_p%s', to_char("
				"(now() AT TIME ZONE 'UTC')::date + 30, 'YYYYMMDD'))", 0));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9004"));
	CU_ASSERT_STRING_EQUAL(v, expect);
	/* An old row in the default partition is no longer deleted: it moves into its own
	 * day's partition, which archival then finds like any other. */
	CU_ASSERT(sqltest_expect(own, "", log_ins, 2, "-120", "9005"));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9005"));
	CU_ASSERT_STRING_EQUAL(v, "protection_logs_default");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), maint, 2, "0", "7"));
	CU_ASSERT(partition_exists("protection_logs", -120) == 1);
	CU_ASSERT(sqltest_value(own, v, sizeof(v), log_where, 1, "9005"));
	CU_ASSERT(strncmp(v, "protection_logs_p", 17) == 0);

	/* The policy is the owner's: the app cannot pick dates or retention. */
	CU_ASSERT(sqltest_expect(app, "42501", maint, 2, "0", "7"));
}

/* Migration 0037: no function of ours is executable by PUBLIC (docs/database.md "Roles"),
 * whichever role made it; run on every migration set, so a later migration that forgets
 * its REVOKE fails here. Functions decp_maintenance creates (the money migrations') get no
 * PUBLIC EXECUTE by default, and DDL by the application role (the archiver's temporary
 * tables) still passes the money guard, which no longer calls a function of ours. */
static void test_no_public_execute(void)
{
	char v[4096];

	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '"
				" ORDER BY 1), '') FROM pg_proc p"
				" JOIN pg_namespace n ON n.oid = p.pronamespace"
				" WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
				" AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
				" AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid ="
				" 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
				" AND has_function_privilege('public', p.oid, 'EXECUTE')", 0));
	if (v[0] != '\0')
		fprintf(stderr, "executable by PUBLIC: %s\n", v);
	CU_ASSERT_STRING_EQUAL(v, "");

	CU_ASSERT_FATAL(sqltest_expect(own, "", "BEGIN", 0));
	CU_ASSERT(sqltest_expect(own, "", "GRANT CREATE ON SCHEMA public TO decp_money", 0));
	CU_ASSERT(sqltest_expect(own, "", "SET LOCAL ROLE decp_maintenance", 0));
	CU_ASSERT(sqltest_expect(own, "", "CREATE FUNCTION public_execute_probe() RETURNS int"
				 " LANGUAGE sql AS 'SELECT 1'", 0));
	CU_ASSERT(sqltest_expect(own, "", "ALTER FUNCTION public_execute_probe() OWNER TO"
				 " decp_money", 0));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT has_function_privilege('public',"
				" 'public_execute_probe()', 'EXECUTE')", 0));
	CU_ASSERT_STRING_EQUAL(v, "f");
	CU_ASSERT(sqltest_expect(own, "", "ROLLBACK", 0));

	CU_ASSERT(sqltest_expect(app, "", "CREATE TEMP TABLE public_execute_ddl (x int)", 0));
	CU_ASSERT(sqltest_expect(app, "", "DROP TABLE public_execute_ddl", 0));
}

/* Migration 0040: a row of a partitioned table at -infinity or infinity belongs to no day:
 * refused at insert (23514), for the application and the owner. Such a row written before
 * 0040 (simulated: the constraint dropped in a transaction) no longer stops maintenance,
 * which failed on it (42P17) from then on. */
static void test_partition_time_finite(void)
{
	static const char *const sig =
		"INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,"
		" order_type, volume, body) VALUES (89, 1, $1, 1, 'EURUSD', 'BUY', 1, '\\x00')";
	static const char *const ev =
		"INSERT INTO protection_logs (event_time, reason) VALUES ($1, 'TTL_EXPIRED')";
	char v[64];

	CU_ASSERT(sqltest_expect(app, "23514", ev, 1, "-infinity"));
	CU_ASSERT(sqltest_expect(app, "23514", ev, 1, "infinity"));
	CU_ASSERT(sqltest_expect(own, "23514", ev, 1, "-infinity"));
	CU_ASSERT(sqltest_expect(app, "23514", sig, 1, "-infinity"));
	CU_ASSERT(sqltest_expect(app, "23514", sig, 1, "infinity"));
	CU_ASSERT(sqltest_value(app, v, sizeof(v), "SELECT count(*) FROM maintain_partitions()", 0));

	CU_ASSERT_FATAL(sqltest_expect(own, "", "BEGIN", 0));
	CU_ASSERT(sqltest_expect(own, "", "ALTER TABLE protection_logs DROP CONSTRAINT"
				 " protection_logs_event_time_finite", 0));
	CU_ASSERT(sqltest_expect(own, "", ev, 1, "-infinity"));
	CU_ASSERT(sqltest_expect(own, "", "SELECT count(*) FROM maintain_partitions()", 0));
	CU_ASSERT(sqltest_expect(own, "", "ROLLBACK", 0));
}

/* Migration 0041: archive_rows_digest() is the sum modulo 2^128 of the first 128 bits of
 * each row's SHA-256 over its text. The expected values are computed outside PostgreSQL
 * (Python's hashlib: int(sha256(row).hexdigest()[:32], 16), summed, mod 2**128); the
 * duplicate cases carry past 2^128. Order does not matter, a duplicated row counts (an
 * XOR would cancel it), the session's settings do not change it. */
/* archive_rows_digest(rel) as "rows digest" into out (64 bytes), as the owner. */
static void rows_digest_of(const char *rel, char *out)
{
	CU_ASSERT(sqltest_value(own, out, 64, "SELECT rows || ' ' || rows_digest FROM"
				" archive_rows_digest($1::regclass)", 1, rel));
}

static void test_archive_rows_digest(void)
{
	static const char *const step[][2] = {
		/* statement, then the digest of dg (or NULL: not checked) */
		{ "CREATE TABLE dg (a integer, b text)", "0 00000000000000000000000000000000" },
		{ "INSERT INTO dg VALUES (1, 'a')", "1 cd7d4ae0861b77878e94b88fe0a8291f" },
		{ "INSERT INTO dg VALUES (2, 'b')", "2 d3ccb758ea630bff344712668c9cb1b6" },
		/* the same rows written in the other order: compared below */
		{ "CREATE TABLE dg2 AS SELECT * FROM dg ORDER BY a DESC", NULL },
		/* a row twice: not the same rows (with an XOR, {a, a, b} would read as {b}) */
		{ "INSERT INTO dg VALUES (1, 'a')", "3 a14a0239707e8386c2dbcaf66d44dad5" },
		{ "DELETE FROM dg WHERE a = 2", "2 9afa95c10c36ef0f1d29711fc150523e" },
	};
	char v[64], w[64];

	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		CU_ASSERT_FATAL(sqltest_expect(own, "", step[i][0], 0));
		if (step[i][1] == NULL)
			continue;
		rows_digest_of("dg", v);
		CU_ASSERT_STRING_EQUAL(v, step[i][1]);
	}
	rows_digest_of("dg2", v);
	CU_ASSERT_STRING_EQUAL(v, "2 d3ccb758ea630bff344712668c9cb1b6");
	/* one value changed, the count the same */
	CU_ASSERT(sqltest_expect(own, "", "UPDATE dg2 SET b = 'c' WHERE a = 2", 0));
	rows_digest_of("dg2", w);
	CU_ASSERT(strncmp(w, "2 ", 2) == 0 && strcmp(v, w) != 0);
	/* a row's text under the session's own DateStyle and TimeZone: the same digest */
	CU_ASSERT(sqltest_expect(own, "", "CREATE TABLE dg3 (t timestamptz, d date, x bytea)", 0));
	CU_ASSERT(sqltest_expect(own, "", "INSERT INTO dg3 VALUES ('2026-03-01 12:00+00',"
				 " '2026-03-01', '\\x00ff')", 0));
	rows_digest_of("dg3", v);
	CU_ASSERT(sqltest_expect(own, "", "SELECT set_config('DateStyle', 'SQL, DMY', false),"
				 " set_config('TimeZone', 'Asia/Tokyo', false),"
				 " set_config('bytea_output', 'escape', false)", 0));
	rows_digest_of("dg3", w);
	CU_ASSERT_STRING_EQUAL(w, v);
	CU_ASSERT(sqltest_expect(own, "", "RESET ALL", 0));
	CU_ASSERT(sqltest_expect(own, "", "DROP TABLE dg, dg2, dg3", 0));
	/* a day only of the two archived tables */
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT * FROM archive_rows_digest('masters',"
				 " '2026-01-01')", 0));
}

/* Migration 0041: archive_drop refuses a partition whose rows changed since the export
 * although their count did not (one row deleted, another inserted), keeps it, and drops
 * it with the digest of what it now holds; without a digest (0015's signatures, an
 * archiver from before 0041) it refuses whatever the rows. */
static void test_archive_drop_digest(void)
{
	static const char *const ins =
		"INSERT INTO signal_archive (master_id, sequence, arrival_time, arrival_ns, symbol,"
		" order_type, volume, body) VALUES (91, $1, '2020-03-05 10:00+00', 1, 'EURUSD',"
		" 'BUY', 1, '\\x01')";
	static const char *const drop =
		"SELECT archive_drop_at('2020-06-01', 30, 'signal_archive', '2020-03-05', 2, 10,"
		" 'signal_archive/signal_archive_p20200305.tsv.gz', repeat('0', 64),"
		" repeat('0', 64), $1)";
	static const char *const part =
		"SELECT count(*) FROM pg_class WHERE relname = 'signal_archive_p20200305'";
	char v[64], exported[64], now_[64];

	CU_ASSERT_FATAL(sqltest_value(own, v, sizeof(v),
				      "SELECT count(*) FROM maintain_partitions_at('2020-03-05', 0)", 0));
	CU_ASSERT(sqltest_expect(app, "", ins, 1, "1"));
	CU_ASSERT(sqltest_expect(app, "", ins, 1, "2"));
	/* the export's digest, as the archiver (the application role) takes it */
	CU_ASSERT(sqltest_value(app, exported, sizeof(exported), "SELECT rows_digest FROM"
				" archive_rows_digest('signal_archive', '2020-03-05')", 0));
	CU_ASSERT(sqltest_expect(own, "", "DELETE FROM signal_archive WHERE master_id = 91"
				 " AND sequence = 2", 0));
	CU_ASSERT(sqltest_expect(app, "", ins, 1, "3"));
	CU_ASSERT(sqltest_expect(own, "DP023", drop, 1, exported));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), part, 0));
	CU_ASSERT_STRING_EQUAL(v, "1");
	/* no digest, or 0015's signatures: refused, kept */
	CU_ASSERT(sqltest_expect(own, "DP020", drop, 1, (const char *)NULL));
	CU_ASSERT(sqltest_expect(own, "DP020", "SELECT archive_drop_at('2020-06-01', 30,"
				 " 'signal_archive', '2020-03-05', 2, 10,"
				 " 'signal_archive/signal_archive_p20200305.tsv.gz', repeat('0', 64),"
				 " repeat('0', 64))", 0));
	CU_ASSERT(sqltest_expect(app, "DP020", "SELECT archive_drop('signal_archive',"
				 " '2020-03-05', 2, 10, 'signal_archive/signal_archive_p20200305.tsv.gz',"
				 " repeat('0', 64), repeat('0', 64))", 0));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), part, 0));
	CU_ASSERT_STRING_EQUAL(v, "1");
	/* exported again: dropped, the digest in the catalog */
	CU_ASSERT(sqltest_value(app, now_, sizeof(now_), "SELECT rows_digest FROM"
				" archive_rows_digest('signal_archive', '2020-03-05')", 0));
	CU_ASSERT(strcmp(now_, exported) != 0);
	CU_ASSERT(sqltest_expect(own, "", drop, 1, now_));
	CU_ASSERT(sqltest_value(own, v, sizeof(v), part, 0));
	CU_ASSERT_STRING_EQUAL(v, "0");
	CU_ASSERT(sqltest_value(own, v, sizeof(v), "SELECT rows_digest FROM archive_catalog"
				" WHERE parent = 'signal_archive' AND day = '2020-03-05'", 0));
	CU_ASSERT_STRING_EQUAL(v, now_);
}

/* Migration 0005: a change to masters or license_tokens NOTIFYs decp_auth (what
 * decp-control's edge LISTENs on), also when the application role makes it; and the
 * HMAC secret is exactly 32 bytes. */
static void test_auth_notify(void)
{
	char m[32];
	PGnotify *n;
	int got = 0;

	CU_ASSERT(sqltest_expect(own, "", "LISTEN decp_auth", 0));
	while ((n = PQnotifies(own)) != NULL)
		PQfreemem(n);
	CU_ASSERT_FATAL(new_master(m, sizeof(m)));
	CU_ASSERT(sqltest_expect(app, "", "UPDATE license_tokens SET revoked_at = now() "
				 "WHERE master_id = $1", 1, m));
	/* Notifications arrive with the next command's result on the listening session. */
	CU_ASSERT(sqltest_expect(own, "", "SELECT 1", 0));
	PQconsumeInput(own);
	while ((n = PQnotifies(own)) != NULL) {
		CU_ASSERT_STRING_EQUAL(n->relname, "decp_auth");
		if (strcmp(n->extra, "masters") == 0)
			got |= 1;
		else if (strcmp(n->extra, "license_tokens") == 0)
			got |= 2;
		PQfreemem(n);
	}
	CU_ASSERT_EQUAL(got, 3);
	CU_ASSERT(sqltest_expect(own, "", "UNLISTEN decp_auth", 0));

	CU_ASSERT(sqltest_expect(app, "23514",
				 "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
				 " VALUES ('long-key', decode(repeat('ab', 33), 'hex'),"
				 " decode(repeat('cd', 32), 'hex'))", 0));
	CU_ASSERT(sqltest_expect(app, "23514",
				 "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
				 " VALUES ('short-key', decode(repeat('ab', 31), 'hex'),"
				 " decode(repeat('cd', 32), 'hex'))", 0));
}

int main(void)
{
	static const struct sqltest_case cases[] = {
		{ "hwm_seed_example", test_hwm_seed_example },
		{ "calculate_performance_fee", test_calculate_performance_fee },
		{ "fee_insufficient_funds", test_fee_insufficient_funds },
		{ "wallet_functions", test_wallet_functions },
		{ "ledger_append_only", test_ledger_append_only },
		{ "profit_events_append_only", test_profit_events_append_only },
		{ "state_transitions_all_pairs", test_state_transitions_all_pairs },
		{ "subscription_rules", test_subscription_rules },
		{ "copy_policy", test_copy_policy },
		{ "tokens", test_tokens },
		{ "signal_archive_once", test_signal_archive_once },
		{ "signal_archive_race", test_signal_archive_race },
		{ "signal_archive_partitions_guarded", test_signal_archive_partitions_guarded },
		{ "partition_retention", test_partition_retention },
		{ "auth_notify", test_auth_notify },
		{ "no_public_execute", test_no_public_execute },
		{ "partition_time_finite", test_partition_time_finite },
		{ "archive_rows_digest", test_archive_rows_digest },
		{ "archive_drop_digest", test_archive_drop_digest },
	};

	return sqltest_main("sql_schema", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
