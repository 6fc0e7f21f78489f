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
	/* the server 1 s ahead; three exchanges with asymmetric paths: 40 ms rtt (out 30,
	 * back 10: offset +1.010 s), 2 ms (out 1.5, back 0.5: +1.0005 s), 20 ms (out 5, back
	 * 15: +0.995 s); the 2 ms one's error bound is the smallest */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 1 * S + 30 * MS, 1 * S + 30 * MS, 40 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 100 * MS, 1 * S + 101500000, 1 * S + 101500000,
					       102 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 200 * MS, 1 * S + 205 * MS, 1 * S + 205 * MS,
					       220 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 1 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 2 * S + 500000);
	CU_ASSERT_EQUAL(err, 1 * MS);
}

/* The local clock steps (NTP, an operator) while an excellent sample is held: the next
 * exchange takes over at once. Before, the old sample's lower round trip kept the old
 * offset for its whole max age (5 min): after a 2 s step forward every signal was 2 s
 * "older" and refused as stale. */
static void test_step(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 0);
	/* in step with the server, 2 ms rtt, at local 1 s */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 1 * S - 2 * MS, 1 * S - 1 * MS, 1 * S - 1 * MS,
					       1 * S), 0);
	/* true time 10 s: the local clock jumps 2 s forward; an exchange with 20 ms rtt at
	 * local 12.020 s (server 10.010 s) */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 12 * S, 10 * S + 10 * MS, 10 * S + 10 * MS,
					       12 * S + 20 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 12 * S + 500 * MS, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 10 * S + 500 * MS);
	CU_ASSERT_EQUAL(err, 10 * MS);
	/* ... and 5 s back (local 7.52 at true 10.52): the next exchange takes over again */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 7 * S + 500 * MS, 10 * S + 510 * MS,
					       10 * S + 510 * MS, 7 * S + 520 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 8 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 11 * S);
	/* drift is not a step: a sample 100 s later 15 ms apart (150 ppm) with 4 ms rtt keeps
	 * the older, better one beside it */
	guard_clock_init(&c, 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 1 * MS, 1 * MS, 2 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 100 * S, 100 * S + 17 * MS, 100 * S + 17 * MS,
					       100 * S + 4 * MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 101 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 101 * S);
	CU_ASSERT_EQUAL(err, 1 * MS);
}

static void test_age_out(void)
{
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 60 * S);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 0, 500 * MS + 1 * MS, 500 * MS + 1 * MS,
					       2 * MS), 0); /* +0.5 s, rtt 2 ms, at 2 ms */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&c, 30 * S, 30 * S + 10 * MS + 507 * MS,
					       30 * S + 10 * MS + 507 * MS, 30 * S + 20 * MS),
			0); /* +0.507 s, rtt 20 ms: within both bounds and the drift */
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 40 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 40 * S + 500 * MS);
	/* the best sample ages out after 60 s; the worse, younger one takes over */
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 61 * S, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 61 * S + 507 * MS);
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
		{"a clock step: the next sample takes over", test_step},
		{"samples age out", test_age_out},
		{"new samples replace the oldest", test_ring_replaces_oldest},
		{"bad samples refused", test_bad_samples},
		{NULL, NULL},
	};
	return gt_run("guard_clock", tests);
}
