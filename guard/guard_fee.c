/* guard_fee: HWM performance fee. Rounding rule, sub-cent rule and range in guard_fee.h. */
#include "guard_fee.h"

#include <errno.h>

/* Half away from zero to a multiple of unit, in 128 bits so no int64 input overflows. */
static __int128 round_half_away(__int128 v, __int128 unit)
{
	return v >= 0 ? (v + unit / 2) / unit * unit : -((-v + unit / 2) / unit * unit);
}

int guard_money_round_cent(int64_t v, int64_t *out)
{
	if (out == NULL)
		return -EINVAL;
	*out = (int64_t)round_half_away(v, GUARD_MONEY_CENT);
	return 0;
}

int guard_fee_hwm(int64_t hwm_before, int64_t profit, uint32_t fee_bp,
		  struct guard_fee *out)
{
	/* fee in cents = above * bp / (10000 bp * 100 money units per cent) */
	const __int128 per_cent = (__int128)GUARD_BP_SCALE * GUARD_MONEY_CENT;

	if (out == NULL || fee_bp > GUARD_BP_SCALE || hwm_before < 0 ||
	    hwm_before % GUARD_MONEY_CENT != 0)
		return -EINVAL;
	/* |p| <= INT64_MAX and hwm_before >= 0, so 0 <= above <= INT64_MAX, and the product
	 * (< 2^63 * 2^14) needs 128 bits but the fee (<= above) fits int64 again. */
	__int128 p = round_half_away(profit, GUARD_MONEY_CENT);
	__int128 above = p > hwm_before ? p - hwm_before : 0;
	__int128 fee = round_half_away(above * fee_bp, per_cent) / per_cent * GUARD_MONEY_CENT;

	out->profit_above_hwm = (int64_t)above;
	out->fee = (int64_t)fee;
	out->hwm_after = fee > 0 ? (int64_t)p : hwm_before;
	return 0;
}
