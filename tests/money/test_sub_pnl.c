/*
 * test_sub_pnl: decp-subscriber's realized P&L (tools/subscriber/sub_pnl.h) against a
 * hand-computed table: profit (1e-4 account currency) = side * (close - open) (1e-5) *
 * volume (0.01 lot) * contract size / 1000.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>

#include "sub_pnl.h"

static void test_table(void)
{
	static struct sub_pnl_book b;
	int64_t p = 0;

	/* EURUSD long 0.10 at 1.08120, closed at 1.08250: 13 pips * 0.1 lot * 10 USD = 13.00 */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1001, 1, 10, 108120, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1001, 0, 108250, &p), 0);
	CU_ASSERT_EQUAL(p, 130000);
	/* GBPUSD short 0.20 at 1.26510; half closed at 1.26410 (+10 pips * 0.1 lot = +10.00),
	 * the rest at 1.26610 (-10 pips * 0.1 lot = -10.00) */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1002, -1, 20, 126510, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1002, 10, 126410, &p), 0);
	CU_ASSERT_EQUAL(p, 100000);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1002, 0, 126610, &p), 0);
	CU_ASSERT_EQUAL(p, -100000);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1002, 0, 126610, &p), -ENOENT); /* closed already */
	/* XAUUSD long 0.01 (1 oz) at 2034.50, closed at 2035.75: +1.25 */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1003, 1, 1, 203450000, 100), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1003, 0, 203575000, &p), 0);
	CU_ASSERT_EQUAL(p, 12500);
	/* USDJPY long 1.00 at 150.123, closed at 150.124: 1 point * 100000 = 100 JPY (quote) */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1004, 1, 100, 15012300, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1004, 0, 15012400, &p), 0);
	CU_ASSERT_EQUAL(p, 1000000);
	/* added to: 0.10 at 1.00000 and 0.10 at 1.00010 -> 0.20 at 1.00005; closed at 1.00005 */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1005, 1, 10, 100000, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1005, 1, 10, 100010, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1005, 0, 100005, &p), 0);
	CU_ASSERT_EQUAL(p, 0);
	/* rounding half away from zero: 1 unit * 0.01 lot * 150 = 0.15 -> 0 (1e-4: 0.15 -> 0) */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 1006, -1, 1, 1000, 1500), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 1006, 0, 999, &p), 0);
	CU_ASSERT_EQUAL(p, 2); /* 1*1*1500/1000 = 1.5 -> 2 */
	/* refusals */
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 0, 1, 10, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 7, 0, 10, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 7, 1, 0, 1, 1), -EINVAL);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 7, 1, 1, 1, 0), -EINVAL);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 99, 0, 1, &p), -ENOENT);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 8, 1, INT64_MAX / 2, INT64_MAX / 2, 100000), 0);
	CU_ASSERT_EQUAL(sub_pnl_close(&b, 8, 0, 0, &p), -ERANGE);
	for (uint64_t t = 10; t < 10 + SUB_PNL_MAX; t++)
		sub_pnl_open(&b, t, 1, 1, 1, 1);
	CU_ASSERT_EQUAL(sub_pnl_open(&b, 100000, 1, 1, 1, 1), -ENOSPC);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("sub_pnl", NULL, NULL);
	CU_add_test(s, "realized P&L against a hand-computed table", test_table);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
