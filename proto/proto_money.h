/*
 * proto_money: scaled-integer prices, volumes and money. Money is never float.
 *
 * A scaled value v with d decimals means v / 10^d. The wire scales are fixed:
 *   price, sl, tp ........ PROTO_PRICE_DECIMALS  (5: 1.08345 -> 108345; USDJPY 151.234 -> 15123400)
 *   volume ............... PROTO_VOLUME_DECIMALS (2: 0.01 lot -> 1, 1.5 lots -> 150)
 *   money ................ PROTO_MONEY_DECIMALS  (4: 12.3456 USD -> 123456; SQL NUMERIC(20,4))
 *
 * Every operation checks for overflow and reports it; none ever wraps,
 * saturates or rounds silently. Rounding happens only where a caller asks for
 * it, with an explicit mode. All values are int64_t; intermediates of
 * multiplications are 128-bit so a*b/c is exact before the one final rounding.
 *
 * Return convention: 0 or a negative errno; results through out-pointers,
 * which are written only on success. Pure functions: any thread, no
 * allocation, hot path safe.
 */
#ifndef DECP_PROTO_MONEY_H
#define DECP_PROTO_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_PRICE_DECIMALS 5u
#define PROTO_VOLUME_DECIMALS 2u
#define PROTO_MONEY_DECIMALS 4u
/* Most decimals any helper accepts (10^18 is the largest power of ten in int64). */
#define PROTO_DECIMALS_MAX 18u
/* Longest text proto_decimal_format can produce, with the NUL: sign, 19 digits, point. */
#define PROTO_DECIMAL_STR_MAX 24u

enum proto_round {
	PROTO_ROUND_HALF_AWAY = 0, /* 2.5 -> 3, -2.5 -> -3 (commercial rounding; fees) */
	PROTO_ROUND_HALF_EVEN,     /* 2.5 -> 2, 3.5 -> 4 (banker's) */
	PROTO_ROUND_TOWARD_ZERO,   /* truncate: 2.9 -> 2, -2.9 -> -2 (lot sizing never exceeds) */
	PROTO_ROUND_FLOOR,         /* toward -inf */
	PROTO_ROUND_CEIL,          /* toward +inf */
};

/*
 * Parse a decimal text "[+-]digits[.digits]" (len bytes, no NUL needed, no
 * spaces, no exponent, at least one digit before or after the point) into a
 * value scaled by 10^decimals. Fractional digits beyond `decimals` must be
 * zeros: parsing never rounds ("1.083451" at 5 decimals is -EINVAL, "1.083450" is fine).
 * Returns 0; -EINVAL bad syntax, excess precision, NULL or decimals >
 * PROTO_DECIMALS_MAX; -ERANGE the value does not fit in int64.
 */
int proto_decimal_parse(const char *s, size_t len, unsigned decimals, int64_t *out);

/*
 * Format v (scaled by 10^decimals) as "[-]digits[.digits]" with exactly
 * `decimals` fractional digits (none and no point when decimals == 0) and a
 * terminating NUL. Returns the length without the NUL; -ENOSPC when cap is
 * too small (PROTO_DECIMAL_STR_MAX always suffices); -EINVAL NULL buf or
 * decimals > PROTO_DECIMALS_MAX. INT64_MIN is formatted correctly.
 */
int proto_decimal_format(int64_t v, unsigned decimals, char *buf, size_t cap);

/* *out = a + b / a - b. Returns 0 or -ERANGE on overflow. */
int proto_scaled_add(int64_t a, int64_t b, int64_t *out);
int proto_scaled_sub(int64_t a, int64_t b, int64_t *out);

/*
 * *out = round(a * num / den) with the given rounding, computed exactly in
 * 128 bits. Covers products of scaled values (a at da decimals times num at dn
 * decimals, result at dr decimals: den = 10^(da + dn - dr)), percentages
 * (fee = profit * 20 / 100) and ratios (partial close: vol * closed / total).
 * Returns 0; -EDOM den == 0; -ERANGE the result does not fit in int64;
 * -EINVAL unknown rounding mode.
 */
int proto_scaled_muldiv(int64_t a, int64_t num, int64_t den, enum proto_round mode,
			int64_t *out);

/*
 * Change the scale of v from `from` to `to` decimals (both <= PROTO_DECIMALS_MAX),
 * rounding with mode when decimals are dropped.
 * Returns 0; -ERANGE overflow; -EINVAL bad decimals or mode.
 */
int proto_scaled_rescale(int64_t v, unsigned from, unsigned to, enum proto_round mode,
			 int64_t *out);

/* 10^n for n <= PROTO_DECIMALS_MAX, else 0. */
int64_t proto_pow10(unsigned n);

#endif
