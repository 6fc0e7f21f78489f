/*
 * test_sub_realized: the realized P&L decp-subscriber reports on a close
 * (ExecutionReport.realized_profit, issue 20) is its simulated account's
 * (tools/subscriber/sub_account.h), checked against a hand-computed table:
 *
 *   P&L (1e-4 account currency) = side * (close - open) (1e-5) * volume (0.01 lot)
 *                                 * contract size / 1000              quote = account
 *                               = ... * 10^4 / (100 * close price)    base = account
 *
 * rounded half away from zero, the P&L also booked into the balance.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "sub_account.h"

static struct sub_quotes q;

/* Applies the master's signal as a 1:1 copy; returns the realized P&L (or -1 on error). */
static int64_t run(struct sub_account *a, uint32_t type, const char *sym, int64_t volume,
		   int64_t price, uint64_t ticket)
{
	struct guard_envelope env;
	struct guard_order o;
	int64_t pl = -1;

	memset(&env, 0, sizeof(env));
	memset(&o, 0, sizeof(o));
	env.master_id = 1;
	env.position_ticket = ticket;
	env.order_type = type;
	env.volume = volume;
	env.price = price;
	snprintf(env.symbol, sizeof(env.symbol), "%s", sym);
	snprintf(o.symbol, sizeof(o.symbol), "%s", sym);
	o.type = type;
	o.volume = volume;
	o.price = price;
	sub_quotes_set(&q, sym, price);
	return sub_account_apply(a, &env, sym, &o, &q, guard_instruments_builtin(), &pl) == 0
		       ? pl : -1;
}

static void test_table(void)
{
	struct sub_account a;

	memset(&q, 0, sizeof(q));
	CU_ASSERT_EQUAL_FATAL(sub_account_init(&a, "USD", 100, 1000 * GUARD_MONEY_SCALE), 0);
	/* EURUSD long 0.10 at 1.08120, closed at 1.08250: 13 pips * 0.1 lot * 10 USD = 13.00 */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 1001), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "EURUSD", 10, 108250, 1001), 130000);
	/* GBPUSD short 0.20 at 1.26510; half closed at 1.26410 (+10 pips * 0.1 lot = +10.00),
	 * the rest at 1.26610 (-10 pips * 0.1 lot = -10.00) */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_SELL, "GBPUSD", 20, 126510, 1002), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE_PARTIAL, "GBPUSD", 10, 126410, 1002), 100000);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "GBPUSD", 10, 126610, 1002), -100000);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "GBPUSD", 10, 126610, 1002), -1); /* gone */
	/* XAUUSD long 0.01 (1 oz) at 2034.50, closed at 2035.75: +1.25 */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY, "XAUUSD", 1, 203450000, 1003), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "XAUUSD", 1, 203575000, 1003), 12500);
	/* USDJPY long 1.00 at 150.123, closed at 150.124: 100 JPY = 100 / 150.124 USD
	 * = 0.666115... -> 0.6661 */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY, "USDJPY", 100, 15012300, 1004), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "USDJPY", 100, 15012400, 1004), 6661);
	/* USDCHF short 0.50 at 0.88210, closed at 0.88110: 50,000 * 0.001 = 50 CHF
	 * = 50 / 0.8811 USD = 56.747247... -> 56.7472 */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_SELL, "USDCHF", 50, 88210, 1005), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "USDCHF", 50, 88110, 1005), 567472);
	/* rounding half away from zero: 1 oz, 0.00005 USD -> 0.5e-4 -> 1e-4, and -1e-4 */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY, "XAUUSD", 1, 203450000, 1006), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "XAUUSD", 1, 203450005, 1006), 1);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY, "XAUUSD", 1, 203450000, 1007), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "XAUUSD", 1, 203449995, 1007), -1 * 1);
	/* a pending order places and deletes without P&L; a close of nothing realizes none */
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_BUY_LIMIT, "EURUSD", 10, 107000, 1008), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "EURUSD", 10, 108000, 1008), 0);
	CU_ASSERT_EQUAL(run(&a, GUARD_ORDER_CLOSE, "EURUSD", 10, 108000, 9999), -1);
	/* the balance is the deposit plus every realized amount above */
	CU_ASSERT_EQUAL(a.balance, 1000 * GUARD_MONEY_SCALE + 130000 + 100000 - 100000 + 12500 +
				   6661 + 567472 + 1 - 1);
	sub_account_free(&a);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("sub_realized", NULL, NULL);
	CU_add_test(s, "realized P&L against a hand-computed table", test_table);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
