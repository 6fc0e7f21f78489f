/*
 * guard_fee: High-Water Mark performance fee (seed "High-Water Mark (HWM) Billing"), in
 * scaled int64 money (1e-4 units), never floating point.
 *
 *   profit_c    = the cumulative profit (the seed's "Profit" column) rounded to the cent
 *   above       = max(0, profit_c - hwm_before)
 *   fee         = above * fee_bp / 10000, rounded to the cent
 *   hwm_after   = max(hwm_before, profit_c)   if fee >= one cent
 *                 hwm_before                  if fee rounds to 0.00 (sub-cent rule)
 *
 * Rounding rule: to the cent, half away from zero (for the non-negative fee: half up),
 * at the two places above and nowhere else. This is exactly what the database's
 * performance_fee() does with NUMERIC round(x, 2) (sql/migrations/0010_fee_domain.sql),
 * and the database's billing_ledger is the record of what was charged: the guard must
 * predict the same cent, not a different one. Bias: at most half a cent per charge,
 * either way.
 *
 * Sub-cent rule (issue 20): the HWM moves only together with a fee of at least one cent.
 * A profit whose fee rounds to 0.00 (every profit at fee_bp 0 too) leaves the HWM where
 * it was, so the small gain is billed later together with further gain instead of
 * being written off; the database writes no 0.00 ledger row in that case.
 *
 * Range (the same domain as the database's performance_fee(), docs/database.md
 * "Arithmetic range"): every int64 profit is accepted (+-922,337,203,685,477.5807, the
 * whole of what the type holds; the API's larger numbers are refused by the database
 * with DP020, identically); hwm_before must be >= 0 and whole cents (an HWM only ever
 * comes from the ledger); fee_bp 0..10000 (fee_pct with at most 2 decimals). The
 * intermediates are 128-bit, so no input inside that domain overflows.
 *
 * Seed table, row for row (fee 20% = 2000 bp): profit 0 / hwm 0 -> fee 0, hwm 0;
 * 1000 / 0 -> 200, 1000; -500 / 1000 -> 0, 1000; 1500 / 1000 -> 100, 1500.
 */
#ifndef DECP_GUARD_FEE_H
#define DECP_GUARD_FEE_H

#include "guard_types.h"

#define GUARD_MONEY_CENT (GUARD_MONEY_SCALE / 100)

struct guard_fee {
	int64_t fee;              /* money, whole cents, 0 <= fee <= profit_above_hwm */
	int64_t hwm_after;        /* money, whole cents */
	int64_t profit_above_hwm; /* money, whole cents, >= 0 */
};

/*
 * Computes the fee for a new cumulative profit. Any thread; no allocation.
 * Returns 0 with *out filled; -EINVAL on NULL out, fee_bp > 10000, hwm_before < 0 or
 * hwm_before not whole cents (out unchanged). No other failure: every int64 profit fits.
 */
int guard_fee_hwm(int64_t hwm_before, int64_t profit, uint32_t fee_bp,
		  struct guard_fee *out);

/* v rounded to the cent, half away from zero. Every int64 has a rounded value that fits
 * (INT64_MAX -> ...775800, INT64_MIN -> -...775800). Returns 0, or -EINVAL on NULL out. */
int guard_money_round_cent(int64_t v, int64_t *out);

#endif
