/*
 * guard_fee: High-Water Mark performance fee (seed "High-Water Mark (HWM) Billing"), in
 * scaled int64 money (1e-4 units), never floating point.
 *
 *   profit_c    = the cumulative profit (the seed's "Profit" column) rounded to the cent
 *   above       = max(0, profit_c - hwm_before)
 *   fee         = above * fee_bp / 10000, rounded to the cent
 *   hwm_after   = max(hwm_before, profit_c)
 *
 * Rounding rule: to the cent, half away from zero (for the non-negative fee: half up),
 * at the two places above and nowhere else. This is exactly what the database's
 * calculate_performance_fee() does with NUMERIC round(x, 2) (sql/migrations/0002_money.sql),
 * and the database's billing_ledger is the record of what was charged: the guard must
 * predict the same cent, not a different one. Bias: at most half a cent per charge,
 * either way. hwm_before is used as given (it comes from the ledger, in cents).
 *
 * Seed table, row for row (fee 20% = 2000 bp): profit 0 / hwm 0 -> fee 0, hwm 0;
 * 1000 / 0 -> 200, 1000; -500 / 1000 -> 0, 1000; 1500 / 1000 -> 100, 1500.
 */
#ifndef DECP_GUARD_FEE_H
#define DECP_GUARD_FEE_H

#include "guard_types.h"

#define GUARD_MONEY_CENT (GUARD_MONEY_SCALE / 100)

struct guard_fee {
	int64_t fee;              /* money, whole cents */
	int64_t hwm_after;        /* money */
	int64_t profit_above_hwm; /* money, >= 0 */
};

/*
 * Computes the fee for a new cumulative profit. fee_bp is 0..10000 (0%..100%).
 * Returns 0 with *out filled; -EINVAL on NULL out or fee_bp > 10000; -EOVERFLOW when
 * an intermediate value does not fit int64 (out unchanged).
 */
int guard_fee_hwm(int64_t hwm_before, int64_t profit, uint32_t fee_bp,
		  struct guard_fee *out);

/* v rounded to the cent, half away from zero; -EOVERFLOW leaves *out unchanged. */
int guard_money_round_cent(int64_t v, int64_t *out);

#endif
