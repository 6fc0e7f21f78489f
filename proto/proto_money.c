/* Scaled-integer arithmetic with overflow checks; contract in proto_money.h. */
#include "proto_money.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* GCC and clang provide 128-bit integers on every 64-bit target decp builds for. */
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static const int64_t pow10_table[PROTO_DECIMALS_MAX + 1] = {
	1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
	100000000LL, 1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL,
	10000000000000LL, 100000000000000LL, 1000000000000000LL,
	10000000000000000LL, 100000000000000000LL, 1000000000000000000LL,
};

int64_t proto_pow10(unsigned n)
{
	return n <= PROTO_DECIMALS_MAX ? pow10_table[n] : 0;
}

int proto_decimal_parse(const char *s, size_t len, unsigned decimals, int64_t *out)
{
	/* |value| * 10^decimals accumulates here; stop once it cannot fit int64 anyway. */
	const u128 stop = (u128)1 << 64;
	u128 mag = 0;
	bool neg = false, point = false;
	unsigned frac = 0, digits = 0;
	size_t i = 0;

	if (s == NULL || out == NULL || decimals > PROTO_DECIMALS_MAX)
		return -EINVAL;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < len; i++) {
		char c = s[i];

		if (c == '.' && !point) {
			point = true;
			continue;
		}
		if (c < '0' || c > '9')
			return -EINVAL;
		digits++;
		if (point) {
			if (frac == decimals) {
				/* Beyond the scale: allowed only as zeros (parsing never rounds). */
				if (c != '0')
					return -EINVAL;
				continue;
			}
			frac++;
		}
		if (mag < stop)
			mag = mag * 10 + (unsigned)(c - '0');
	}
	if (digits == 0)
		return -EINVAL;
	for (; frac < decimals; frac++)
		if (mag < stop)
			mag *= 10;
	if (neg ? mag > (u128)INT64_MAX + 1 : mag > (u128)INT64_MAX)
		return -ERANGE;
	*out = neg ? (int64_t)(-(i128)mag) : (int64_t)mag;
	return 0;
}

int proto_decimal_format(int64_t v, unsigned decimals, char *buf, size_t cap)
{
	char tmp[PROTO_DECIMAL_STR_MAX];
	size_t n = 0, len;
	/* Magnitude via unsigned arithmetic so INT64_MIN does not overflow. */
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	if (buf == NULL || decimals > PROTO_DECIMALS_MAX)
		return -EINVAL;
	/* Digits in reverse, at least decimals + 1 of them (leading "0."). */
	do {
		if (n == decimals && decimals > 0)
			tmp[n++] = '.';
		tmp[n++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag > 0 || n <= decimals);
	if (v < 0)
		tmp[n++] = '-';
	len = n;
	if (cap < len + 1)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		buf[i] = tmp[len - 1 - i];
	buf[len] = '\0';
	return (int)len;
}

int proto_scaled_add(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -ERANGE;
	*out = r;
	return 0;
}

int proto_scaled_sub(int64_t a, int64_t b, int64_t *out)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return -ERANGE;
	*out = r;
	return 0;
}

int proto_scaled_muldiv(int64_t a, int64_t num, int64_t den, enum proto_round mode,
			int64_t *out)
{
	i128 p, q, r, twice_r, abs_den;
	int sign;

	if (den == 0)
		return -EDOM;
	/* |a * num| < 2^126: exact in 128 bits. */
	p = (i128)a * num;
	q = p / den; /* C truncates toward zero */
	r = p % den;
	sign = ((p < 0) != (den < 0)) ? -1 : 1;
	twice_r = r < 0 ? -2 * r : 2 * r;
	abs_den = den < 0 ? -(i128)den : (i128)den;

	switch (mode) {
	case PROTO_ROUND_TOWARD_ZERO:
		break;
	case PROTO_ROUND_FLOOR:
		if (r != 0 && sign < 0)
			q -= 1;
		break;
	case PROTO_ROUND_CEIL:
		if (r != 0 && sign > 0)
			q += 1;
		break;
	case PROTO_ROUND_HALF_AWAY:
		if (twice_r >= abs_den)
			q += sign;
		break;
	case PROTO_ROUND_HALF_EVEN:
		if (twice_r > abs_den || (twice_r == abs_den && (q & 1) != 0))
			q += sign;
		break;
	default:
		return -EINVAL;
	}
	if (q > INT64_MAX || q < INT64_MIN)
		return -ERANGE;
	*out = (int64_t)q;
	return 0;
}

int proto_scaled_rescale(int64_t v, unsigned from, unsigned to, enum proto_round mode,
			 int64_t *out)
{
	if (from > PROTO_DECIMALS_MAX || to > PROTO_DECIMALS_MAX)
		return -EINVAL;
	if (to >= from)
		return proto_scaled_muldiv(v, pow10_table[to - from], 1, mode, out);
	return proto_scaled_muldiv(v, 1, pow10_table[from - to], mode, out);
}
