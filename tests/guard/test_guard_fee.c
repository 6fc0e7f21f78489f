/*
 * test_guard_fee: HWM performance fee. The seed's table verbatim (fees 200, 0, 100),
 * then the rounding rule (to the cent, half away from zero) and the boundaries.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdlib.h>

#include "guard_test_util.h"

#define USD(x) ((int64_t)(x) * GUARD_MONEY_SCALE)

/* seed/architecture.md, "High-Water Mark (HWM) Billing", Example:
 * | Event   | Profit  | HWM Before | HWM After | Fee (20%) |
 * | Initial | $0      | $0         | $0        | $0        |
 * | Trade 1 | +$1,000 | $0         | $1,000    | $200      |
 * | Trade 2 | -$500   | $1,000     | $1,000    | $0        |
 * | Trade 3 | +$1,500 | $1,000     | $1,500    | $100      | */
static void test_seed_table(void)
{
	static const struct {
		int64_t profit, hwm_before, hwm_after, fee;
	} rows[] = {
		{USD(0), USD(0), USD(0), USD(0)},
		{USD(1000), USD(0), USD(1000), USD(200)},
		{USD(-500), USD(1000), USD(1000), USD(0)},
		{USD(1500), USD(1000), USD(1500), USD(100)},
	};
	int64_t hwm = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct guard_fee f;

		CU_ASSERT_EQUAL(hwm, rows[i].hwm_before); /* each row starts where the last ended */
		CU_ASSERT_EQUAL_FATAL(guard_fee_hwm(hwm, rows[i].profit, 2000, &f), 0);
		CU_ASSERT_EQUAL(f.fee, rows[i].fee);
		CU_ASSERT_EQUAL(f.hwm_after, rows[i].hwm_after);
		hwm = f.hwm_after;
	}
}

/* The seed's SQL example: 1500 with HWM 1000 at 20% -> 100, 1500, 500 above. */
static void test_seed_sql_example(void)
{
	struct guard_fee f;

	CU_ASSERT_EQUAL(guard_fee_hwm(USD(1000), USD(1500), 2000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, USD(100));
	CU_ASSERT_EQUAL(f.hwm_after, USD(1500));
	CU_ASSERT_EQUAL(f.profit_above_hwm, USD(500));
}

/* To the cent, half away from zero, like the database's NUMERIC round(x, 2). */
static void test_rounding(void)
{
	struct guard_fee f;
	int64_t r;

	/* $33.33 above at 20% = $6.666 -> $6.67 */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, 333300, 2000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 66700);
	/* $0.25 at 2% = $0.005: exactly half a cent -> $0.01 */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, 2500, 200, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 100);
	/* $0.24 at 2% = $0.0048 -> $0.00 */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, 2400, 200, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 0);
	/* sub-cent rule (issue 20): no fee, so the HWM stays and the gain is billed later */
	CU_ASSERT_EQUAL(f.hwm_after, 0);
	CU_ASSERT_EQUAL(f.profit_above_hwm, 2400);
	/* the profit itself is rounded to the cent first: $1000.005 -> $1000.01 */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, 10000050, 2000, &f), 0);
	CU_ASSERT_EQUAL(f.hwm_after, 10000100);
	CU_ASSERT_EQUAL(f.profit_above_hwm, 10000100);
	CU_ASSERT_EQUAL(f.fee, 2000000); /* 20% of 1000.01 = 200.002 -> 200.00 */
	/* $1000.0049 -> $1000.00: nothing above an HWM of $1000 */
	CU_ASSERT_EQUAL(guard_fee_hwm(USD(1000), 10000049, 2000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 0);
	CU_ASSERT_EQUAL(f.hwm_after, USD(1000));
	/* half away from zero for losses too */
	CU_ASSERT_EQUAL(guard_money_round_cent(-50, &r), 0);
	CU_ASSERT_EQUAL(r, -100);
	CU_ASSERT_EQUAL(guard_money_round_cent(-49, &r), 0);
	CU_ASSERT_EQUAL(r, 0);
	/* 128-bit intermediates: the extremes round without overflow (issue 20) */
	CU_ASSERT_EQUAL(guard_money_round_cent(INT64_MIN, &r), 0);
	CU_ASSERT_EQUAL(r, INT64_MIN + 8);
	CU_ASSERT_EQUAL(guard_money_round_cent(INT64_MAX, &r), 0);
	CU_ASSERT_EQUAL(r, INT64_MAX - 7);
	CU_ASSERT_EQUAL(guard_money_round_cent(0, NULL), -EINVAL);
	/* always whole cents, within half a cent of the exact percentage of cents */
	for (int64_t c = 1; c < 20000; c += 37) {
		int64_t exact2 = c * GUARD_MONEY_CENT * 2000 * 2; /* 2 x exact, money x bp */

		CU_ASSERT_EQUAL_FATAL(guard_fee_hwm(0, c * GUARD_MONEY_CENT, 2000, &f), 0);
		CU_ASSERT_EQUAL(f.fee % GUARD_MONEY_CENT, 0);
		CU_ASSERT_TRUE(llabs(f.fee * GUARD_BP_SCALE * 2 - exact2) <=
			       GUARD_MONEY_CENT * GUARD_BP_SCALE);
	}
}

static void test_boundaries(void)
{
	struct guard_fee f = {0};

	CU_ASSERT_EQUAL(guard_fee_hwm(0, USD(100), 10001, &f), -EINVAL);
	CU_ASSERT_EQUAL(guard_fee_hwm(0, USD(100), 2000, NULL), -EINVAL);
	/* An HWM comes from the ledger: never negative, always whole cents (issue 20). */
	CU_ASSERT_EQUAL(guard_fee_hwm(INT64_MIN, INT64_MAX, 2000, &f), -EINVAL);
	CU_ASSERT_EQUAL(guard_fee_hwm(USD(-100), USD(100), 2000, &f), -EINVAL);
	CU_ASSERT_EQUAL(guard_fee_hwm(1, USD(100), 2000, &f), -EINVAL);
	/* The whole int64 range: was -EOVERFLOW above 461,168,601,843 at 20 % (issue 20). */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, INT64_MAX, 2000, &f), 0);
	CU_ASSERT_EQUAL(f.profit_above_hwm, INT64_MAX - 7);
	/* 92233720368547758.00 cents x 20 % = 18446744073709551.60 -> ...552 cents */
	CU_ASSERT_EQUAL(f.fee, INT64_C(18446744073709552) * GUARD_MONEY_CENT);
	CU_ASSERT_EQUAL(f.hwm_after, INT64_MAX - 7);
	CU_ASSERT_EQUAL(guard_fee_hwm(0, INT64_MAX, 10000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, INT64_MAX - 7);
	CU_ASSERT_EQUAL(guard_fee_hwm(INT64_MAX - 7, INT64_MIN, 10000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 0);
	CU_ASSERT_EQUAL(f.hwm_after, INT64_MAX - 7);
	/* 461,168,601,843 above the HWM at 20 % (the old overflow point) */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, USD(461168601843), 2000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, USD(461168601843) / 5);
	/* fee_pct 0: no fee, and by the sub-cent rule the HWM stays (issue 20) */
	CU_ASSERT_EQUAL(guard_fee_hwm(0, USD(100), 0, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 0);
	CU_ASSERT_EQUAL(f.hwm_after, 0);
	CU_ASSERT_EQUAL(guard_fee_hwm(0, USD(100), 10000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, USD(100));
	/* profit equal to the HWM: nothing above */
	CU_ASSERT_EQUAL(guard_fee_hwm(USD(100), USD(100), 2000, &f), 0);
	CU_ASSERT_EQUAL(f.fee, 0);
	CU_ASSERT_EQUAL(f.profit_above_hwm, 0);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"seed HWM table row for row", test_seed_table},
		{"seed SQL example", test_seed_sql_example},
		{"rounding: to the cent, half away from zero", test_rounding},
		{"boundaries and overflow", test_boundaries},
		{NULL, NULL},
	};
	return gt_run("guard_fee", tests);
}
