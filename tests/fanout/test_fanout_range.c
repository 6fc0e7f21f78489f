/*
 * test_fanout_range: CUnit tests of cp_fanout_range (is a replay's range gone?, each rule
 * of cp_fanout_range.h and its boundary) and of common/'s cp_rate (the token bucket that
 * bounds the replay's Redis reads, and the pre-authentication budgets). Pure logic.
 */
#include <CUnit/Basic.h>
#include <string.h>

#include "cp_fanout_range.h"
#include "cp_rate.h"

static enum cp_range_verdict check(uint64_t next, uint64_t first, bool end, uint64_t last,
				   uint64_t hist_first, uint32_t dry, uint64_t *fa)
{
	struct cp_range_chunk c = {.next = next, .first_seq = first, .end = end,
				   .last_seq = last, .hist_first = hist_first, .dry = dry};
	*fa = 0;
	return cp_range_check(&c, fa);
}

static void test_rule1_first_above_next(void)
{
	uint64_t fa;

	/* trimmed: asked from 1, the stream starts at 901 */
	CU_ASSERT_EQUAL(check(1, 901, false, 0, 0, 0, &fa), CP_RANGE_LOST);
	CU_ASSERT_EQUAL(fa, 901);
	/* boundary: the first entry is next itself, or next + 1 */
	CU_ASSERT_EQUAL(check(901, 901, false, 0, 0, 0, &fa), CP_RANGE_TAKE);
	CU_ASSERT_EQUAL(check(900, 901, true, 1000, 0, 0, &fa), CP_RANGE_LOST);
	CU_ASSERT_EQUAL(fa, 901);
	/* a hole: read from the hole's start */
	CU_ASSERT_EQUAL(check(951, 952, true, 1000, 0, 0, &fa), CP_RANGE_LOST);
	CU_ASSERT_EQUAL(fa, 952);
}

static void test_rule2_empty_while_behind(void)
{
	uint64_t fa;

	/* nothing in Redis from 5 on, yet 10 was published, 5 not in history: once a retry */
	CU_ASSERT_EQUAL(check(5, 0, true, 10, 0, 0, &fa), CP_RANGE_RETRY);
	CU_ASSERT_EQUAL(check(5, 0, true, 10, 0, 1, &fa), CP_RANGE_LOST);
	CU_ASSERT_EQUAL(fa, 11); /* nothing retained: from the next one */
	/* history holds 8..10: that is the first available */
	CU_ASSERT_EQUAL(check(5, 0, true, 10, 8, 1, &fa), CP_RANGE_LOST);
	CU_ASSERT_EQUAL(fa, 8);
	/* next in history: take (the splice copies from the ring) */
	CU_ASSERT_EQUAL(check(8, 0, true, 10, 8, 1, &fa), CP_RANGE_TAKE);
	/* caught up (next above the last published): the normal end of a replay */
	CU_ASSERT_EQUAL(check(11, 0, true, 10, 8, 1, &fa), CP_RANGE_TAKE);
	CU_ASSERT_EQUAL(check(11, 0, true, 0, 0, 3, &fa), CP_RANGE_TAKE);
	/* boundary: last published == next */
	CU_ASSERT_EQUAL(check(10, 0, true, 10, 0, 0, &fa), CP_RANGE_RETRY);
	/* an empty chunk that did not reach the end cannot happen; never a verdict on it */
	CU_ASSERT_EQUAL(check(5, 0, false, 10, 0, 1, &fa), CP_RANGE_TAKE);
}

static void test_message(void)
{
	char b[160];

	cp_range_message(b, sizeof(b), 7, 1, 901);
	CU_ASSERT_STRING_EQUAL(b, "range not retained: master=7 from=1 first_available=901");
}

static void test_rate(void)
{
	struct cp_rate r;
	const int64_t s = 1000000000;
	int n = 0;

	cp_rate_init(&r, 100, 10, 0);
	while (cp_rate_take(&r, 0))
		n++;
	CU_ASSERT_EQUAL(n, 10); /* the burst */
	CU_ASSERT_EQUAL(cp_rate_wait_ns(&r, 0), s / 100);
	CU_ASSERT_FALSE(cp_rate_take(&r, s / 100 - 1));
	CU_ASSERT_TRUE(cp_rate_take(&r, s / 100)); /* one token per 10 ms */
	CU_ASSERT_FALSE(cp_rate_take(&r, s / 100));
	/* over one second: at most rate tokens (+ the burst after a pause) */
	n = 0;
	for (int64_t t = s / 100; t <= s + s / 100; t += s / 1000)
		n += cp_rate_take(&r, t);
	CU_ASSERT(n >= 99 && n <= 101);
	/* a long pause refills to the burst, never beyond, and does not overflow */
	n = 0;
	while (cp_rate_take(&r, INT64_MAX / 2))
		n++;
	CU_ASSERT_EQUAL(n, 10);
	/* rate 0: unlimited; burst 0 is taken as 1 */
	cp_rate_init(&r, 0, 0, 0);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_TRUE(cp_rate_take(&r, 0));
	cp_rate_init(&r, 1, 0, 0);
	CU_ASSERT_TRUE(cp_rate_take(&r, 0));
	CU_ASSERT_FALSE(cp_rate_take(&r, 0));
	/* time going backwards takes nothing back */
	CU_ASSERT_FALSE(cp_rate_take(&r, -s));
	/* full: the whole burst there again (boundary: burst / rate after the last take) */
	cp_rate_init(&r, 100, 10, 0);
	CU_ASSERT_TRUE(cp_rate_full(&r, 0));
	CU_ASSERT_TRUE(cp_rate_take(&r, 0));
	CU_ASSERT_FALSE(cp_rate_full(&r, 0));
	CU_ASSERT_FALSE(cp_rate_full(&r, s / 100 - 1));
	CU_ASSERT_TRUE(cp_rate_full(&r, s / 100));
	while (cp_rate_take(&r, s / 100))
		;
	CU_ASSERT_FALSE(cp_rate_full(&r, s / 100 + s / 10 - 1));
	CU_ASSERT_TRUE(cp_rate_full(&r, s / 100 + s / 10));
	cp_rate_init(&r, 0, 0, 0);
	CU_ASSERT_TRUE(cp_rate_take(&r, 0));
	CU_ASSERT_TRUE(cp_rate_full(&r, 0));
}

int main(void)
{
	CU_pSuite su;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	su = CU_add_suite("fanout_range", NULL, NULL);
	CU_add_test(su, "rule 1: first entry above next", test_rule1_first_above_next);
	CU_add_test(su, "rule 2: empty at the end while behind", test_rule2_empty_while_behind);
	CU_add_test(su, "the Error message", test_message);
	CU_add_test(su, "cp_rate token bucket", test_rate);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
