/*
 * e2e_plan: what mt5_e2e's master sends and what its receiver must do with each signal,
 * shared by wine_e2e.c (which checks every outcome) and test_mt5_e2e.c (which checks what
 * PostgreSQL stored). Plain C, no OS calls.
 *
 * Cycles of 6 signals (c = (seq - 1) / 6): BUY 0.10, MODIFY, CLOSE_PARTIAL 0.04, CLOSE,
 * BUY_LIMIT 0.10, CLOSE of the pending order; gold cycles trade 0.50. Symbols by cycle:
 * XAUUSD when c % 5 == 2, else GBPUSD when c is even, else EURUSD.
 *
 * The copy policy (set in SQL before the run, changed during it):
 *   version 1  MULTIPLIER 2.0: every copied order is twice the master's
 *   version 2  the same and symbols_deny GBPUSD: applied between seq n/2 and n/2 + 1
 *              (the master waits until the receiver holds it)
 * The receiver's broker account: 500.0000 USD free margin at 1:100, so a 0.20 EURUSD or
 * GBPUSD order (about 217 USD) fits and 1.00 XAUUSD (about 2,000 USD) does not.
 */
#ifndef DECP_E2E_PLAN_H
#define DECP_E2E_PLAN_H

#include <stdint.h>

#define PLAN_MULT 2 /* policy's lot multiplier */
#define PLAN_FREE_MARGIN INT64_C(5000000) /* 500.0000 USD */
#define PLAN_LEVERAGE 100
#define PLAN_POLICY_V1 "{\"mode\": \"MULTIPLIER\", \"multiplier\": 2}"
#define PLAN_POLICY_V2 \
	"{\"mode\": \"MULTIPLIER\", \"multiplier\": 2, \"symbols_deny\": [\"GBPUSD\"]}"

static inline const char *plan_symbol(int seq)
{
	int c = (seq - 1) / 6;

	return c % 5 == 2 ? "XAUUSD" : c % 2 == 0 ? "GBPUSD" : "EURUSD";
}

/* decp.OrderType and master volume of seq (k = position in its cycle). */
static inline int plan_type(int seq)
{
	static const int type[] = { 1, 8, 9, 7, 3, 7 };

	return type[(seq - 1) % 6];
}

static inline int64_t plan_volume(int seq)
{
	static const int64_t vol[] = { 10, 0, 4, 0, 10, 0 };
	int64_t v = vol[(seq - 1) % 6];

	return plan_symbol(seq)[0] == 'X' ? v * 5 : v;
}

/* Master price of seq (1e-5): EURUSD/GBPUSD about 1.085, XAUUSD about 2,000. */
static inline int64_t plan_price(int seq)
{
	int64_t base = plan_symbol(seq)[0] == 'X' ? INT64_C(200000000) : 108512;

	return base + (seq - 1) / 6;
}

/*
 * The receiver's outcome (decp.ProtectionReason, 0 = executed) of seq out of n:
 * gold's openings need more margin than the account has (INSUFFICIENT_MARGIN, 10) and
 * its other signals act on no position (FILTERED, 8); GBPUSD is FILTERED once policy
 * version 2 denies it (seq > n / 2); everything else executes.
 */
static inline int plan_outcome(int seq, int n)
{
	int t = plan_type(seq);

	if (plan_symbol(seq)[0] == 'X')
		return t == 1 || t == 3 ? 10 : 8;
	if (plan_symbol(seq)[0] == 'G' && seq > n / 2)
		return 8;
	return 0;
}

/* How many of 1..n end with outcome r. */
static inline int plan_count(int n, int r)
{
	int c = 0;

	for (int q = 1; q <= n; q++)
		c += plan_outcome(q, n) == r;
	return c;
}

/* How many executed BUYs (ExecutionReport FILLED) there are among 1..n. */
static inline int plan_filled(int n)
{
	int c = 0;

	for (int q = 1; q <= n; q++)
		c += plan_outcome(q, n) == 0 && plan_type(q) == 1;
	return c;
}

#endif
