/* guard_margin: margin of an order, account updates. Rules in guard_margin.h. */
#include "guard_margin.h"

#include <errno.h>
#include <string.h>

static bool currency_ok(const char *c)
{
	for (int i = 0; i < 3; i++)
		if (c[i] < 'A' || c[i] > 'Z')
			return false;
	return c[3] == '\0';
}

bool guard_account_valid(const struct guard_account *a)
{
	return a != NULL && a->known && a->leverage >= 1 && currency_ok(a->currency) &&
	       a->balance >= 0 && a->margin >= 0 && a->quote_rate >= 0;
}

/* The instrument's base (first three letters) or quote (last three) is the account
 * currency; only for six-letter names. */
static bool is_currency(const struct guard_instrument *in, const char *cur, bool quote)
{
	size_t n = strlen(in->symbol);

	return n == 6 && memcmp(in->symbol + (quote ? 3 : 0), cur, 3) == 0;
}

/* ceil(num / den) for num >= 0, den > 0 */
static __int128 div_up(__int128 num, __int128 den)
{
	return (num + den - 1) / den;
}

int guard_margin_needed(const struct guard_instrument *in, int64_t contract,
			const struct guard_account *acct, int64_t volume, int64_t price,
			int64_t *out)
{
	/* money per 1.00 base unit at 1e-4, units in 1/100 of a base unit (volume is in
	 * 0.01 lot): margin = volume * contract * value / 100 / leverage, value in money;
	 * a broker's contract (1e-4 units) adds GUARD_CONTRACT_SCALE to the divisor. */
	__int128 num, den, scale = 1;

	if (in == NULL || out == NULL || !guard_account_valid(acct) || volume <= 0 ||
	    price <= 0 || in->contract_size <= 0 || contract < 0)
		return -EINVAL;
	if (contract > 0)
		scale = GUARD_CONTRACT_SCALE;
	else
		contract = in->contract_size;
	num = (__int128)volume * contract; /* < 2^63 * 2^63: fits */
	if (is_currency(in, acct->currency, false)) {
		/* one base unit is worth 1 (GUARD_MONEY_SCALE money units) */
		if (__builtin_mul_overflow(num, (__int128)GUARD_MONEY_SCALE, &num))
			return -EOVERFLOW;
		den = (__int128)100 * acct->leverage * scale;
	} else {
		/* one base unit is worth price (1e-5) quote units, each worth 1 account unit
		 * when the quote is the account currency, else quote_rate (1e-5) */
		int64_t rate = is_currency(in, acct->currency, true) ? GUARD_PRICE_SCALE
								     : acct->quote_rate;

		if (rate <= 0)
			return -ENODATA;
		if (__builtin_mul_overflow(num, (__int128)price, &num) ||
		    __builtin_mul_overflow(num, (__int128)rate, &num) ||
		    __builtin_mul_overflow(num, (__int128)GUARD_MONEY_SCALE, &num))
			return -EOVERFLOW;
		den = (__int128)100 * GUARD_PRICE_SCALE * GUARD_PRICE_SCALE * acct->leverage * scale;
	}
	num = div_up(num, den);
	if (num > INT64_MAX)
		return -EOVERFLOW;
	*out = (int64_t)num;
	return 0;
}

int guard_account_update(struct guard_sub *sub, const struct guard_policy *p,
			 const struct guard_account *acct)
{
	if (sub == NULL || p == NULL || !guard_account_valid(acct))
		return -EINVAL;
	return guard_equity_update(sub, p, acct->equity);
}
