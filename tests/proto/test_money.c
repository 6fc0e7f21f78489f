/* proto_money: parse/format round trips, overflow and rounding boundaries. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto_money.h"
#include "proto_test_util.h"

static int parse(const char *s, unsigned d, int64_t *v)
{
	return proto_decimal_parse(s, strlen(s), d, v);
}

static void test_parse_valid(void)
{
	int64_t v;

	CU_ASSERT_EQUAL(parse("1.08345", 5, &v), 0);
	CU_ASSERT_EQUAL(v, 108345);
	CU_ASSERT_EQUAL(parse("151.234", 5, &v), 0);
	CU_ASSERT_EQUAL(v, 15123400);
	CU_ASSERT_EQUAL(parse("0.01", 2, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(parse("-0.5", 2, &v), 0);
	CU_ASSERT_EQUAL(v, -50);
	CU_ASSERT_EQUAL(parse("+7", 0, &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(parse(".5", 1, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_EQUAL(parse("3.", 2, &v), 0);
	CU_ASSERT_EQUAL(v, 300);
	CU_ASSERT_EQUAL(parse("1.0834500000", 5, &v), 0); /* excess zeros are exact */
	CU_ASSERT_EQUAL(v, 108345);
	CU_ASSERT_EQUAL(parse("000000000000000000000000000042", 0, &v), 0);
	CU_ASSERT_EQUAL(v, 42);
	/* Parsing stops at len: the rest of the buffer is not read. */
	CU_ASSERT_EQUAL(proto_decimal_parse("12.5xyz", 4, 1, &v), 0);
	CU_ASSERT_EQUAL(v, 125);
}

static void test_parse_invalid(void)
{
	int64_t v = 12345;
	static const char *bad[] = { "", "-", "+", ".", "-.", "1.2.3", "1e5", " 1", "1 ",
				     "0x10", "1,5", "--1", "1-" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(parse(bad[i], 2, &v), -EINVAL);
	/* Excess precision is refused, never rounded. */
	CU_ASSERT_EQUAL(parse("1.083451", 5, &v), -EINVAL);
	CU_ASSERT_EQUAL(parse("0.001", 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(parse("1", PROTO_DECIMALS_MAX + 1, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto_decimal_parse(NULL, 1, 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 12345); /* untouched on error */
}

static void test_parse_overflow_boundaries(void)
{
	int64_t v;

	CU_ASSERT_EQUAL(parse("9223372036854775807", 0, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(parse("9223372036854775808", 0, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse("-9223372036854775808", 0, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MIN);
	CU_ASSERT_EQUAL(parse("-9223372036854775809", 0, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse("92233720368547.75807", 5, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(parse("92233720368547.75808", 5, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse("92233720368548", 5, &v), -ERANGE); /* overflows via scaling */
	CU_ASSERT_EQUAL(parse("99999999999999999999999999999999999999999", 0, &v), -ERANGE);
	CU_ASSERT_EQUAL(parse("9.223372036854775807", 18, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(parse("10", 18, &v), -ERANGE);
}

static void test_format(void)
{
	char buf[PROTO_DECIMAL_STR_MAX];

	CU_ASSERT_EQUAL(proto_decimal_format(108345, 5, buf, sizeof(buf)), 7);
	CU_ASSERT_STRING_EQUAL(buf, "1.08345");
	CU_ASSERT_EQUAL(proto_decimal_format(5, 5, buf, sizeof(buf)), 7);
	CU_ASSERT_STRING_EQUAL(buf, "0.00005");
	CU_ASSERT_EQUAL(proto_decimal_format(-50, 2, buf, sizeof(buf)), 5);
	CU_ASSERT_STRING_EQUAL(buf, "-0.50");
	CU_ASSERT_EQUAL(proto_decimal_format(0, 0, buf, sizeof(buf)), 1);
	CU_ASSERT_STRING_EQUAL(buf, "0");
	CU_ASSERT_EQUAL(proto_decimal_format(INT64_MIN, 0, buf, sizeof(buf)), 20);
	CU_ASSERT_STRING_EQUAL(buf, "-9223372036854775808");
	CU_ASSERT(proto_decimal_format(INT64_MIN, 18, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "-9.223372036854775808");
	CU_ASSERT(proto_decimal_format(1, 18, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "0.000000000000000001");
	CU_ASSERT_EQUAL(proto_decimal_format(12345, 2, buf, 6), -ENOSPC); /* "123.45" + NUL */
	CU_ASSERT_EQUAL(proto_decimal_format(12345, 2, buf, 7), 6);
	CU_ASSERT_EQUAL(proto_decimal_format(1, 19, buf, sizeof(buf)), -EINVAL);
}

static void test_roundtrip(void)
{
	uint64_t seed = 8032;
	char buf[PROTO_DECIMAL_STR_MAX];

	for (int i = 0; i < 20000; i++) {
		int64_t v = (int64_t)tu_rand(&seed), back;
		unsigned d = (unsigned)(tu_rand(&seed) % (PROTO_DECIMALS_MAX + 1));
		int n = proto_decimal_format(v, d, buf, sizeof(buf));

		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT_EQUAL_FATAL(proto_decimal_parse(buf, (size_t)n, d, &back), 0);
		CU_ASSERT_EQUAL_FATAL(back, v);
	}
}

static void test_add_sub_overflow(void)
{
	int64_t v;

	CU_ASSERT_EQUAL(proto_scaled_add(INT64_MAX - 1, 1, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(proto_scaled_add(INT64_MAX, 1, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_add(INT64_MIN, -1, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_sub(INT64_MIN, 1, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_sub(0, INT64_MIN, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_sub(-1, INT64_MIN, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
}

struct rcase {
	int64_t a, num, den;
	enum proto_round mode;
	int64_t want;
};

static void test_muldiv_rounding(void)
{
	static const struct rcase c[] = {
		/* 2.5 and -2.5 in every mode */
		{ 5, 1, 2, PROTO_ROUND_HALF_AWAY, 3 },     { -5, 1, 2, PROTO_ROUND_HALF_AWAY, -3 },
		{ 5, 1, 2, PROTO_ROUND_HALF_EVEN, 2 },     { -5, 1, 2, PROTO_ROUND_HALF_EVEN, -2 },
		{ 7, 1, 2, PROTO_ROUND_HALF_EVEN, 4 },     { -7, 1, 2, PROTO_ROUND_HALF_EVEN, -4 },
		{ 5, 1, 2, PROTO_ROUND_TOWARD_ZERO, 2 },   { -5, 1, 2, PROTO_ROUND_TOWARD_ZERO, -2 },
		{ 5, 1, 2, PROTO_ROUND_FLOOR, 2 },         { -5, 1, 2, PROTO_ROUND_FLOOR, -3 },
		{ 5, 1, 2, PROTO_ROUND_CEIL, 3 },          { -5, 1, 2, PROTO_ROUND_CEIL, -2 },
		/* just under / over one half */
		{ 149, 1, 100, PROTO_ROUND_HALF_AWAY, 1 }, { 151, 1, 100, PROTO_ROUND_HALF_EVEN, 2 },
		{ -149, 1, 100, PROTO_ROUND_HALF_AWAY, -1 },
		/* negative denominator */
		{ 5, 1, -2, PROTO_ROUND_HALF_AWAY, -3 },   { 5, 1, -2, PROTO_ROUND_FLOOR, -3 },
		{ -5, 1, -2, PROTO_ROUND_CEIL, 3 },
		/* exact results are never moved */
		{ 6, 1, 2, PROTO_ROUND_CEIL, 3 },          { -6, 1, 2, PROTO_ROUND_FLOOR, -3 },
		/* seed's fee example: profit above HWM 500.0000 at 20 % -> 100.0000 */
		{ 5000000, 20, 100, PROTO_ROUND_HALF_AWAY, 1000000 },
		/* 128-bit intermediate: INT64_MAX * INT64_MAX / INT64_MAX */
		{ INT64_MAX, INT64_MAX, INT64_MAX, PROTO_ROUND_HALF_EVEN, INT64_MAX },
		{ INT64_MIN, 1, 1, PROTO_ROUND_HALF_EVEN, INT64_MIN },
		/* lot sizing: 0.37 lot * 1.5 = 0.555 -> 0.55 truncated (2 decimals) */
		{ 37, 150, 100, PROTO_ROUND_TOWARD_ZERO, 55 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int64_t v = 0;
		int rc = proto_scaled_muldiv(c[i].a, c[i].num, c[i].den, c[i].mode, &v);

		if (rc != 0 || v != c[i].want)
			fprintf(stderr, "muldiv case %zu: rc %d v %lld want %lld\n", i, rc,
				(long long)v, (long long)c[i].want);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(v, c[i].want);
	}
}

static void test_muldiv_errors(void)
{
	int64_t v = 99;

	CU_ASSERT_EQUAL(proto_scaled_muldiv(1, 1, 0, PROTO_ROUND_HALF_EVEN, &v), -EDOM);
	CU_ASSERT_EQUAL(proto_scaled_muldiv(INT64_MAX, 2, 1, PROTO_ROUND_HALF_EVEN, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_muldiv(INT64_MIN, -1, 1, PROTO_ROUND_HALF_EVEN, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_muldiv(INT64_MIN, 1, -1, PROTO_ROUND_HALF_EVEN, &v), -ERANGE);
	/* Rounding itself can overflow: (INT64_MAX * 2 + 1) / 2 rounds up past the max. */
	CU_ASSERT_EQUAL(proto_scaled_muldiv(INT64_MAX, 2, 2, PROTO_ROUND_CEIL, &v), 0);
	CU_ASSERT_EQUAL(proto_scaled_muldiv(INT64_MAX, 3, 2, PROTO_ROUND_TOWARD_ZERO, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_muldiv(1, 1, 1, (enum proto_round)99, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, INT64_MAX); /* only the one success above wrote it */
}

static void test_rescale(void)
{
	int64_t v;

	/* price 1.083455 at 6 decimals -> 5 decimals */
	CU_ASSERT_EQUAL(proto_scaled_rescale(1083455, 6, 5, PROTO_ROUND_HALF_EVEN, &v), 0);
	CU_ASSERT_EQUAL(v, 108346); /* ...45|5 -> even 6 */
	CU_ASSERT_EQUAL(proto_scaled_rescale(1083445, 6, 5, PROTO_ROUND_HALF_EVEN, &v), 0);
	CU_ASSERT_EQUAL(v, 108344);
	CU_ASSERT_EQUAL(proto_scaled_rescale(150, 2, 4, PROTO_ROUND_HALF_EVEN, &v), 0);
	CU_ASSERT_EQUAL(v, 15000);
	CU_ASSERT_EQUAL(proto_scaled_rescale(INT64_MAX / 10 + 1, 0, 1, PROTO_ROUND_HALF_EVEN, &v),
			-ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_rescale(1, 0, 18, PROTO_ROUND_HALF_EVEN, &v), 0);
	CU_ASSERT_EQUAL(v, proto_pow10(18));
	CU_ASSERT_EQUAL(proto_scaled_rescale(10, 0, 18, PROTO_ROUND_HALF_EVEN, &v), -ERANGE);
	CU_ASSERT_EQUAL(proto_scaled_rescale(1, 19, 0, PROTO_ROUND_HALF_EVEN, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto_pow10(19), 0);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_parse_valid),
		TU_CASE(test_parse_invalid),
		TU_CASE(test_parse_overflow_boundaries),
		TU_CASE(test_format),
		TU_CASE(test_roundtrip),
		TU_CASE(test_add_sub_overflow),
		TU_CASE(test_muldiv_rounding),
		TU_CASE(test_muldiv_errors),
		TU_CASE(test_rescale),
	};
	return TU_RUN("proto_money", cases);
}
