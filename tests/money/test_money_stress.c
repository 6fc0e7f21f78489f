/*
 * test_money_stress.c - 8 sessions (threads, each its own connection as decp_app) for
 * DECP_MONEY_STRESS_SECONDS (default 10; the acceptance asks 30) of random
 * deposits, withdrawals, reservations, releases, performance and flat fees, profit
 * reports, cancellations and new subscriptions, over 4 wallets and 3 masters, then:
 *   - no wallet and no ledger row is negative (available, reserved, owed);
 *   - every wallet equals its ledger (balance, reserved, receivable, fees, ledger_seq);
 *   - the chain verifies: `decpctl ledger verify` (argv[1]) exits 0, with the
 *     checkpoints taken about every second during the run;
 *   - no fee charged twice: per (master, subscriber) pair, across its successive
 *     subscriptions, the performance-fee rows form one rising HWM chain (each starts
 *     where the previous ended), every subscription's HWM is its last row's, every
 *     cancelled subscription was settled, at most once;
 *   - nothing but the expected refusals happened (no deadlock, no other error).
 * The run stops by itself after the duration. Usage: test_money_stress DECPCTL
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sqltest.h"

#define THREADS 8
#define WALLETS 4
#define MASTERS 3

static struct harness_pg *pg;
static PGconn *own;
static const char *decpctl;
static char wallet[WALLETS][32], master[MASTERS][32];
static int run_seconds = 10;

/* Refusals the rules produce on purpose under this load. */
static const char *const expected[] = {
	"DP030", /* not enough available */
	"DP031", /* not enough reserved */
	"DP021", /* no live subscription of the pair at this moment */
	"DP022", /* cancelled meanwhile */
	"DP002", /* cancelling a LOCKED_NO_FUNDS subscription (seed: only SYNCED) */
	"23505", /* two sessions subscribing the same pair at once */
};

struct worker {
	pthread_t tid;
	int index;
	long ops, ok, refused, errors;
	char first_error[256];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note(struct worker *w, PGresult *r)
{
	const char *st = sqltest_state(r);
	w->ops++;
	if (!*st) {
		w->ok++;
		return;
	}
	for (size_t i = 0; i < sizeof(expected) / sizeof(*expected); i++)
		if (strcmp(st, expected[i]) == 0) {
			w->refused++;
			return;
		}
	if (!w->errors)
		snprintf(w->first_error, sizeof(w->first_error), "%s %s", st,
			 PQresultErrorMessage(r));
	w->errors++;
}

#define LIVE "(SELECT id FROM subscriptions WHERE master_id = $1 AND subscriber_id = $2" \
	" AND state <> 'CANCELLED')"

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int seed = 0x51ed270bu * (unsigned)(w->index + 7);
	PGconn *c = sqltest_connect(pg, NULL, "decp_app");
	/* billing runs with a clock ahead are the owner's (billing_run_at, sql 0039) */
	PGconn *o = sqltest_connect(pg, NULL, "postgres");
	char amount[32], profit[32];

	if (!c || !o) {
		PQfinish(c);
		PQfinish(o);
		w->errors++;
		snprintf(w->first_error, sizeof(w->first_error), "connect failed");
		return NULL;
	}
	double end = now_s() + run_seconds;
	while (now_s() < end) {
		const char *s = wallet[rand_r(&seed) % WALLETS];
		const char *m = master[rand_r(&seed) % MASTERS];
		int cents = 1 + (int)(rand_r(&seed) % 40000);
		int p = (int)(rand_r(&seed) % 600000) - 100000;
		PGresult *r;

		snprintf(amount, sizeof(amount), "%d.%02d", cents / 100, cents % 100);
		snprintf(profit, sizeof(profit), "%s%d.%02d", p < 0 ? "-" : "", abs(p) / 100,
			 abs(p) % 100);
		switch (rand_r(&seed) % 11) {
		case 0:
		case 1:
			r = sqltest_q(c, "SELECT wallet_deposit($1, $2)", 2, s, amount);
			break;
		case 2:
			r = sqltest_q(c, "SELECT wallet_withdraw($1, $2)", 2, s, amount);
			break;
		case 3:
			r = sqltest_q(c, rand_r(&seed) % 2 ? "SELECT wallet_reserve($1, $2)"
							 : "SELECT wallet_release($1, $2)", 2, s, amount);
			break;
		case 4:
		case 5:
			r = sqltest_q(c, "SELECT outcome FROM charge_performance_fee(" LIVE ", $3)", 3,
				      m, s, profit);
			break;
		case 6:
			r = sqltest_q(c, "SELECT subscription_record_profit(" LIVE ", $3)", 3, m, s,
				      profit);
			break;
		case 7:
			r = sqltest_q(c, "SELECT outcome FROM charge_subscription_fee(" LIVE ", $3)", 3,
				      m, s, amount);
			break;
		case 8:
			/* with the profit at this moment, or on the last one recorded */
			if (rand_r(&seed) % 2)
				r = sqltest_q(c, "SELECT * FROM subscription_cancel(" LIVE ", 'stress', $3)",
					      3, m, s, profit);
			else
				r = sqltest_q(c, "SELECT * FROM subscription_cancel(" LIVE ")", 2, m, s);
			break;
		case 9: {
			/* the billing scheduler, as several archivers would run it, at a moment
			 * up to a year ahead (so periods end): the owner's test clock */
			char days[16];
			snprintf(days, sizeof(days), "%u", rand_r(&seed) % 366);
			r = sqltest_q(o, "SELECT count(*) FROM billing_run_at(now() + $1::int *"
				      " interval '1 day')", 1, days);
			break;
		}
		default:
			r = sqltest_q(c, "INSERT INTO subscriptions (master_id, subscriber_id, fee_pct)"
				      " VALUES ($1, $2, '25.00')", 2, m, s);
			break;
		}
		note(w, r);
		PQclear(r);
	}
	PQfinish(c);
	PQfinish(o);
	return NULL;
}

static int suite_init(void)
{
	PGconn *app;

	if (getenv("DECP_MONEY_STRESS_SECONDS"))
		run_seconds = atoi(getenv("DECP_MONEY_STRESS_SECONDS"));
	if (run_seconds < 1 || run_seconds > 3600)
		run_seconds = 10;
	own = sqltest_setup(&pg);
	if (!own || !(app = sqltest_connect(pg, NULL, "decp_app")))
		return 1;
	for (int i = 0; i < MASTERS; i++)
		if (!sqltest_new_master(app, master[i], sizeof(master[i])))
			return 1;
	for (int i = 0; i < WALLETS; i++)
		if (!sqltest_new_subscriber(app, wallet[i], sizeof(wallet[i])) ||
		    !sqltest_expect(app, "", "SELECT wallet_deposit($1, '2000.00')", 1, wallet[i]))
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

/* One count(*) that must be 0; prints what it counts when it is not. */
static void zero(const char *what, const char *sql)
{
	char v[64];
	CU_ASSERT(sqltest_value(own, v, sizeof(v), sql, 0));
	CU_ASSERT_STRING_EQUAL(v, "0");
	if (strcmp(v, "0") != 0)
		fprintf(stderr, "%s: %s\n", what, v);
}

static int run_verify(void)
{
	char conninfo[256];
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d dbname=%s user=decp_app",
		 harness_pg_host(pg), harness_pg_port(pg), harness_pg_dbname(pg));
	pid_t pid = fork();
	if (pid == 0) {
		execl(decpctl, decpctl, "ledger", "verify", "--conninfo", conninfo, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_stress(void)
{
	struct worker w[THREADS];
	long ops = 0, ok = 0, refused = 0, errors = 0;
	char v[128];

	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].index = i;
		CU_ASSERT_FATAL(pthread_create(&w[i].tid, NULL, worker_main, &w[i]) == 0);
	}
	/* Meanwhile, a checkpoint of the chain head about every second (as the archiver
	 * does each maintenance period); verify recomputes each from the rows of its time. */
	int checkpoints = 0;
	for (double end = now_s() + run_seconds; now_s() < end; usleep(1000 * 1000)) {
		PGresult *r = sqltest_q(own, "SELECT id FROM ledger_checkpoint()", 0);
		checkpoints += sqltest_ok(r);
		CU_ASSERT(sqltest_ok(r));
		PQclear(r);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		ops += w[i].ops;
		ok += w[i].ok;
		refused += w[i].refused;
		errors += w[i].errors;
		if (w[i].errors)
			fprintf(stderr, "worker %d: %ld errors, first: %s\n", i, w[i].errors,
				w[i].first_error);
	}
	CU_ASSERT(sqltest_value(own, v, sizeof(v),
				"SELECT concat_ws(' ', count(*), count(*) FILTER (WHERE entry_type ="
				" 'RECEIVABLE'), count(*) FILTER (WHERE reference ="
				" 'settlement at cancellation')) FROM billing_ledger", 0));
	printf("\n  %d sessions, %d s: %ld calls, %ld done, %ld refused by the rules;"
	       " ledger rows, receivables, settlements: %s; %d checkpoints\n", THREADS,
	       run_seconds, ops, ok, refused, v, checkpoints);
	CU_ASSERT(checkpoints >= 1);
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT(ok >= 200); /* the run really moved money */

	zero("negative amounts",
	     "SELECT (SELECT count(*) FROM billing_ledger WHERE balance_after < 0 OR"
	     " reserved_after < 0 OR receivable_after < 0) + (SELECT count(*) FROM user_wallets"
	     " WHERE balance_usd < 0 OR reserved_usd < 0 OR receivable_usd < 0)");
	zero("wallets that differ from their ledger",
	     "SELECT count(*) FROM user_wallets w LEFT JOIN (SELECT subscriber_id, sum(amount) b,"
	     " sum(reserved_after - reserved_before) r, sum(receivable_after - receivable_before) v,"
	     " -sum(amount) FILTER (WHERE entry_type LIKE 'FEE%' OR entry_type LIKE 'RECEIVABLE%') f,"
	     " max(entry_no) n, count(*) c FROM billing_ledger GROUP BY subscriber_id) l USING"
	     " (subscriber_id) WHERE w.balance_usd IS DISTINCT FROM l.b OR w.reserved_usd"
	     " IS DISTINCT FROM l.r OR w.receivable_usd IS DISTINCT FROM l.v OR w.lifetime_fees"
	     " IS DISTINCT FROM coalesce(l.f, 0) OR w.ledger_seq IS DISTINCT FROM l.n OR l.n <> l.c");
	zero("owed while money is available",
	     "SELECT count(*) FROM user_wallets WHERE receivable_usd > 0 AND balance_usd > 0");
	/* No fee twice: per pair, across its subscriptions, one unbroken rising HWM chain
	 * starting at 0. */
	zero("HWM chain breaks",
	     "SELECT count(*) FROM (SELECT l.hwm_before, l.hwm_after, lag(l.hwm_after) OVER"
	     " (PARTITION BY s.master_id, s.subscriber_id ORDER BY l.subscriber_id, l.entry_no)"
	     " AS prev FROM billing_ledger l JOIN subscriptions s ON s.id = l.subscription_id"
	     " WHERE l.hwm_before IS NOT NULL) x WHERE hwm_after <= hwm_before"
	     " OR hwm_before <> coalesce(prev, 0)");
	zero("subscriptions whose HWM is not their last fee row's",
	     "SELECT count(*) FROM subscriptions s WHERE s.high_water_mark <> coalesce((SELECT"
	     " l.hwm_after FROM billing_ledger l JOIN subscriptions p ON p.id = l.subscription_id"
	     " WHERE p.master_id = s.master_id AND p.subscriber_id = s.subscriber_id"
	     " AND p.id <= s.id AND l.hwm_after IS NOT NULL ORDER BY l.entry_no DESC LIMIT 1), 0)");
	zero("cancelled but not settled, or settled twice",
	     "SELECT (SELECT count(*) FROM subscriptions WHERE (state = 'CANCELLED') <>"
	     " (settled_at IS NOT NULL)) + (SELECT count(*) FROM (SELECT subscription_id FROM"
	     " billing_ledger WHERE reference = 'settlement at cancellation' GROUP BY 1"
	     " HAVING count(*) > 1) x)");
	CU_ASSERT_EQUAL(run_verify(), 0);
}

int main(int argc, char **argv)
{
	static const struct sqltest_case cases[] = {
		{"8 sessions of random money: invariants, chain, no fee twice", test_stress},
	};
	if (argc != 2) {
		fprintf(stderr, "usage: test_money_stress DECPCTL\n");
		return 2;
	}
	decpctl = argv[1];
	return sqltest_main("money_stress", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
