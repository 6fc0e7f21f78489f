/* guard_fee: HWM performance fee. Rounding rule and contract in guard_fee.h. */
#include "guard_fee.h"

#include <errno.h>

int guard_money_round_cent(int64_t v, int64_t *out)
{
	const int64_t half = GUARD_MONEY_CENT / 2;

	if (v == INT64_MIN || v > INT64_MAX - half || v < -(INT64_MAX - half))
		return -EOVERFLOW;
	*out = v >= 0 ? (v + half) / GUARD_MONEY_CENT * GUARD_MONEY_CENT
		      : -((-v + half) / GUARD_MONEY_CENT * GUARD_MONEY_CENT);
	return 0;
}

int guard_fee_hwm(int64_t hwm_before, int64_t profit, uint32_t fee_bp,
		  struct guard_fee *out)
{
	/* fee in cents = above * bp / (10000 bp * 100 money units per cent) */
	const int64_t per_cent = (int64_t)GUARD_BP_SCALE * GUARD_MONEY_CENT;
	int64_t p, above = 0, product;

	if (!out || fee_bp > GUARD_BP_SCALE)
		return -EINVAL;
	if (guard_money_round_cent(profit, &p) != 0)
		return -EOVERFLOW;
	if (p > hwm_before && __builtin_sub_overflow(p, hwm_before, &above))
		return -EOVERFLOW;
	if (__builtin_mul_overflow(above, (int64_t)fee_bp, &product) ||
	    product > INT64_MAX - per_cent / 2)
		return -EOVERFLOW;
	out->profit_above_hwm = above;
	out->fee = (product + per_cent / 2) / per_cent * GUARD_MONEY_CENT;
	out->hwm_after = p > hwm_before ? p : hwm_before;
	return 0;
}
