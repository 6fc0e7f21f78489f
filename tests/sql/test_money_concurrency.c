/*
 * test_money_concurrency.c - 16 connections (one thread each, as decp_app)
 * charge performance and subscription fees, deposit, withdraw, reserve and
 * release on ONE wallet at once for a few seconds. Afterwards: the balance
 * equals the sum of the ledger amounts, every row's balance_before equals the
 * previous row's balance_after, no balance was ever negative, and the ledger
 * has exactly one row per successful operation (issue 4 acceptance).
 */
#include "sqltest.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 16
#define NSUBS 4
#define RUN_SECONDS 4

static struct harness_pg *pg;
static PGconn *own;
static char subscriber[32];
static char subs[NSUBS][32];

struct worker {
	pthread_t tid;
	int index;
	pthread_barrier_t *start;
	long ops;		/* calls made */
	long rows;		/* calls that appended a ledger row */
	long refused;		/* DP030/DP031: not enough money (expected) */
	long errors;		/* anything else (must stay 0) */
	char first_error[256];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cents(char *buf, size_t len, unsigned int *seed, int max_cents)
{
	int c = 1 + (int)(rand_r(seed) % (unsigned)max_cents);

	snprintf(buf, len, "%d.%02d", c / 100, c % 100);
}

static void note(struct worker *w, PGresult *r, bool appended)
{
	const char *st = sqltest_state(r);

	w->ops++;
	if (!*st) {
		w->rows += appended;
	} else if (strcmp(st, "DP030") == 0 || strcmp(st, "DP031") == 0) {
		w->refused++;
	} else {
		if (!w->errors)
			snprintf(w->first_error, sizeof(w->first_error), "%s %s", st,
				 PQresultErrorMessage(r));
		w->errors++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int seed = 0x9e3779b9u * (unsigned)(w->index + 1);
	PGconn *c = sqltest_connect(pg, NULL, "decp_app");
	long profit = 0;	/* this thread's running cumulative profit, cents */
	char amount[32], sprofit[32];
	double end;

	pthread_barrier_wait(w->start);
	if (!c) {
		w->errors++;
		snprintf(w->first_error, sizeof(w->first_error), "connect failed");
		return NULL;
	}
	end = now_s() + RUN_SECONDS;
	while (now_s() < end) {
		const char *sub = subs[rand_r(&seed) % NSUBS];
		PGresult *r;

		switch (rand_r(&seed) % 6) {
		case 0:
			cents(amount, sizeof(amount), &seed, 5000);
			r = sqltest_q(c, "SELECT wallet_deposit($1, $2)", 2, subscriber, amount);
			note(w, r, true);
			break;
		case 1:
			cents(amount, sizeof(amount), &seed, 6000);
			r = sqltest_q(c, "SELECT wallet_withdraw($1, $2)", 2, subscriber, amount);
			note(w, r, true);
			break;
		case 2:
			cents(amount, sizeof(amount), &seed, 3000);
			r = sqltest_q(c, "SELECT wallet_reserve($1, $2)", 2, subscriber, amount);
			note(w, r, true);
			break;
		case 3:
			cents(amount, sizeof(amount), &seed, 3000);
			r = sqltest_q(c, "SELECT wallet_release($1, $2)", 2, subscriber, amount);
			note(w, r, true);
			break;
		case 4:
			/* Profit goes up and down; HWM billing charges only new highs. */
			profit += (long)(rand_r(&seed) % 20001) - 8000;
			snprintf(sprofit, sizeof(sprofit), "%ld.%02ld", profit / 100,
				 labs(profit % 100));
			if (profit < 0 && profit > -100)
				snprintf(sprofit, sizeof(sprofit), "-0.%02ld", -profit);
			r = sqltest_q(c, "SELECT outcome FROM charge_performance_fee($1, $2)", 2, sub,
				      sprofit);
			note(w, r, sqltest_ok(r) && strcmp(PQgetvalue(r, 0, 0), "NO_FEE") != 0);
			break;
		default:
			r = sqltest_q(c, "SELECT outcome FROM charge_subscription_fee($1, $2)", 2, sub,
				      "1.25");
			note(w, r, sqltest_ok(r)); /* CHARGED or RECEIVABLE (0011): a row either way */
			break;
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

static int suite_init(void)
{
	PGconn *app;
	int i;

	own = sqltest_setup(&pg);
	if (!own)
		return 1;
	app = sqltest_connect(pg, NULL, "decp_app");
	if (!app)
		return 1;
	if (!sqltest_value(app, subscriber, sizeof(subscriber),
			   "INSERT INTO subscribers (name) VALUES ('busy') RETURNING id", 0))
		return 1;
	for (i = 0; i < NSUBS; i++) {
		char name[32], master[32];

		snprintf(name, sizeof(name), "m%d", i);
		if (!sqltest_value(app, master, sizeof(master),
				   "INSERT INTO masters (name, hmac_secret, ed25519_public_key)"
				   " VALUES ($1, decode(repeat('ab', 32), 'hex'),"
				   " decode(repeat('cd', 32), 'hex')) RETURNING id", 1, name) ||
		    !sqltest_value(app, subs[i], sizeof(subs[i]),
				   "INSERT INTO subscriptions (master_id, subscriber_id, fee_pct)"
				   " VALUES ($1, $2, '25') RETURNING id", 2, master, subscriber))
			return 1;
	}
	if (!sqltest_expect(app, "", "SELECT wallet_deposit($1, '1000.00')", 1, subscriber))
		return 1;
	PQfinish(app);
	return 0;
}

static int suite_clean(void)
{
	PQfinish(own);
	harness_pg_destroy(pg);
	return 0;
}

static void test_one_wallet_sixteen_connections(void)
{
	struct worker w[THREADS];
	pthread_barrier_t start;
	long ops = 0, rows = 0, refused = 0, errors = 0;
	char v[256];
	int i;

	pthread_barrier_init(&start, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].index = i;
		w[i].start = &start;
		CU_ASSERT_FATAL(pthread_create(&w[i].tid, NULL, worker_main, &w[i]) == 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		ops += w[i].ops;
		rows += w[i].rows;
		refused += w[i].refused;
		errors += w[i].errors;
		if (w[i].errors)
			fprintf(stderr, "worker %d: %ld errors, first: %s\n", i, w[i].errors,
				w[i].first_error);
	}
	pthread_barrier_destroy(&start);
	printf("\n  %d connections, %d s: %ld calls, %ld ledger rows, %ld refused for funds\n",
	       THREADS, RUN_SECONDS, ops, rows, refused);
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT(rows >= 100);		/* the test really exercised the wallet */

	/* Final balance (and reserved, fees) equal the sums over the ledger. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT concat_ws(' ', (w.balance_usd = l.bal AND w.reserved_usd = l.res"
				" AND w.receivable_usd = l.rec"
				" AND w.lifetime_fees = l.fees AND w.ledger_seq = l.n), w.balance_usd, l.bal)"
				" FROM user_wallets w, (SELECT sum(amount) AS bal,"
				"   sum(reserved_after - reserved_before) AS res,"
				"   sum(receivable_after - receivable_before) AS rec,"
				"   -coalesce(sum(amount) FILTER (WHERE entry_type LIKE 'FEE_%'"
				"     OR entry_type LIKE 'RECEIVABLE%'), 0) AS fees,"
				"   count(*) AS n FROM billing_ledger WHERE subscriber_id = $1) l"
				" WHERE w.subscriber_id = $1", 1, subscriber));
	CU_ASSERT(strncmp(v, "t ", 2) == 0);
	if (strncmp(v, "t ", 2) != 0)
		fprintf(stderr, "wallet vs ledger: %s\n", v);

	/* One row per successful operation (+ the initial deposit), and since 0011 one
	 * RECEIVABLE_PAID right after a credit (DEPOSIT or RELEASE) that paid a debt. */
	snprintf(v, sizeof(v), "%ld", rows + 1);
	{
		char n[32];

		CU_ASSERT(sqltest_value(own, n, sizeof(n),
					"SELECT count(*) FROM billing_ledger WHERE subscriber_id = $1"
					" AND entry_type <> 'RECEIVABLE_PAID'", 1, subscriber));
		CU_ASSERT_STRING_EQUAL(n, v);
		CU_ASSERT(sqltest_value(own, n, sizeof(n),
					"SELECT count(*) FROM billing_ledger p LEFT JOIN billing_ledger c"
					" ON c.subscriber_id = p.subscriber_id AND c.entry_no = p.entry_no - 1"
					" WHERE p.subscriber_id = $1 AND p.entry_type = 'RECEIVABLE_PAID'"
					" AND c.entry_type IS DISTINCT FROM 'DEPOSIT'"
					" AND c.entry_type IS DISTINCT FROM 'RELEASE'", 1, subscriber));
		CU_ASSERT_STRING_EQUAL(n, "0");
	}

	/* The chain: ordered by id (commit order under the wallet lock) and by
	 * entry_no alike, each row starts where the previous one ended. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT count(*) FROM (SELECT entry_no, balance_before, reserved_before,"
				"   receivable_before, lag(receivable_after) OVER w AS pv,"
				"   lag(entry_no) OVER w AS pn, lag(balance_after) OVER w AS pb,"
				"   lag(reserved_after) OVER w AS pr"
				"   FROM billing_ledger WHERE subscriber_id = $1 WINDOW w AS (ORDER BY id)) x"
				" WHERE (pn IS NULL AND (entry_no <> 1 OR balance_before <> 0"
				"        OR reserved_before <> 0 OR receivable_before <> 0))"
				"    OR (pn IS NOT NULL AND (entry_no <> pn + 1 OR balance_before <> pb"
				"        OR reserved_before <> pr OR receivable_before <> pv))", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "0");

	/* Never negative. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT count(*) FROM billing_ledger WHERE subscriber_id = $1"
				" AND (balance_after < 0 OR reserved_after < 0 OR balance_before < 0)",
				1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "0");

	/* HWM never went down within each subscription's fee rows. */
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT count(*) FROM (SELECT hwm_before, lag(hwm_after) OVER"
				" (PARTITION BY subscription_id ORDER BY id) AS ph FROM billing_ledger"
				" WHERE subscriber_id = $1 AND hwm_before IS NOT NULL) x"
				" WHERE ph IS NOT NULL AND hwm_before <> ph", 1, subscriber));
	CU_ASSERT_STRING_EQUAL(v, "0");
}

int main(void)
{
	static const struct sqltest_case cases[] = {
		{ "one_wallet_sixteen_connections", test_one_wallet_sixteen_connections },
	};

	return sqltest_main("sql_money_concurrency", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
