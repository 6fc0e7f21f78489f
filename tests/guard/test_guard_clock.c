/* test_guard_clock: the TimePing/TimePong offset estimator. */
#include <CUnit/CUnit.h>
#include <errno.h>

#include "guard_test_util.h"

#define MS GUARD_NS_PER_MS
#define S GUARD_NS_PER_S

static void test_offset_math(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 0, &now, &err), -ENODATA);
	/* local 10 s ahead; 6 ms out, 1 ms in the server, 3 ms back: asymmetric path */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 10 * S, 6 * MS, 7 * MS, 10 * S + 10 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 10 * S + 10 * MS, &now, &err), 0);
	/* offset = ((6 - 10000) + (7 - 10010)) / 2 ms = -9998.5 ms; rtt 9 ms */
	CU_ASSERT_EQUAL(now, 10 * S + 10 * MS - 9998 * MS - 500 * 1000);
	CU_ASSERT_EQUAL(err, 4500 * 1000);
	/* the true server time (10 ms local -> 10 s behind => 10 ms) is within err */
	CU_ASSERT_TRUE(now - 10 * MS <= err && 10 * MS - now <= err);
}

static void test_lowest_rtt_wins(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 0);
	/* offset +1 s measured with 40 ms rtt, then -5 s with 2 ms rtt, then +3 s 20 ms */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 1 * S + 20 * MS, 1 * S + 20 * MS, 40 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 100 * MS, -5 * S + 101 * MS,
					       -5 * S + 101 * MS, 102 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 200 * MS, 3 * S + 210 * MS,
					       3 * S + 210 * MS, 220 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 1 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 1 * S - 5 * S);
	CU_ASSERT_EQUAL(err, 1 * MS);
}

static void test_age_out(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 60 * S);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 500 * MS + 1 * MS, 500 * MS + 1 * MS,
					       2 * MS), 0); /* +0.5 s, rtt 2 ms, at 2 ms */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 30 * S, 30 * S + 10 * MS + 700 * MS,
					       30 * S + 10 * MS + 700 * MS, 30 * S + 20 * MS),
			0); /* +0.7 s, rtt 20 ms */
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 40 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 40 * S + 500 * MS);
	/* the best sample ages out after 60 s; the worse, younger one takes over */
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 61 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 61 * S + 700 * MS);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 91 * S, &now, &err), -ENODATA);
	/* local clock stepped back before the samples: distrusted */
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, -1 * S, &now, &err), -ENODATA);
}

static void test_ring_replaces_oldest(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 0);
	/* one excellent sample, then GUARD_CLOCK_SAMPLES worse ones push it out */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 1 * S, 1 * S, 0), 0);
	for (int i = 1; i <= GUARD_CLOCK_SAMPLES; i++)
		CU_ASSERT_EQUAL(guard_clock_add_sample(&c, i * MS, 2 * S + i * MS + 5 * MS,
						       2 * S + i * MS + 5 * MS, i * MS + 10 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 1 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 3 * S);
}

static void test_bad_samples(void)
{
	struct guard_clock c;
	int64_t now;

	guard_clock_init(&c, 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 10, 5, 6, 9), -EINVAL);   /* t3 < t0 */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 6, 5, 9), -EINVAL);    /* t2 < t1 */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 0, 100, 50), -EINVAL); /* rtt < 0 */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 0, 0, 11 * S), -EINVAL);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, INT64_MIN, INT64_MAX, INT64_MAX, 0),
			-EOVERFLOW);
	CU_ASSERT_EQUAL(guard_clock_add_sample(NULL, 0, 0, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 0, &now, NULL), -ENODATA);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 0, NULL, NULL), -EINVAL);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"NTP offset and error bound", test_offset_math},
		{"lowest round trip wins", test_lowest_rtt_wins},
		{"samples age out", test_age_out},
		{"new samples replace the oldest", test_ring_replaces_oldest},
		{"bad samples refused", test_bad_samples},
		{NULL, NULL},
	};
	return gt_run("guard_clock", tests);
}
