/*
 * test_dp_net_units.c: the stack's pure building blocks: sequence arithmetic across 2^32,
 * SipHash-2-4 against the paper's vector, SYN cookie encode/verify/expiry, timer wheel.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "dp_cksum.h"
#include "dp_seq.h"
#include "dp_siphash.h"
#include "dp_syncookie.h"
#include "dp_timer.h"

static void test_seq_wrap(void)
{
	CU_ASSERT(dp_seq_lt(0xfffffff0u, 0x10u));
	CU_ASSERT(dp_seq_gt(0x10u, 0xfffffff0u));
	CU_ASSERT(dp_seq_le(5, 5) && dp_seq_ge(5, 5));
	CU_ASSERT(dp_seq_in(0x2u, 0xfffffff0u, 0x100u));
	CU_ASSERT(!dp_seq_in(0x100u, 0xfffffff0u, 0x100u));
	CU_ASSERT(dp_seq_in(0xfffffff0u, 0xfffffff0u, 0x100u));
	CU_ASSERT_EQUAL(dp_seq_max(0xfffffff0u, 3), 3);
	CU_ASSERT_EQUAL(dp_seq_min(0xfffffff0u, 3), 0xfffffff0u);
}

/* The word-at-a-time checksum equals a plain byte-pair reference, for every length and
 * starting alignment. */
static void test_cksum_reference(void)
{
	uint8_t buf[300];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 151 + 7);
	for (size_t off = 0; off < 4; off++) {
		for (size_t len = 0; len + off <= sizeof(buf); len++) {
			uint64_t ref = 0x1234;

			for (size_t i = 0; i < len; i += 2)
				ref += (uint32_t)buf[off + i] << 8 | (i + 1 < len ? buf[off + i + 1] : 0);
			while (ref >> 16)
				ref = (ref & 0xffff) + (ref >> 16);
			CU_ASSERT_EQUAL_FATAL(dp_cksum_fold(dp_cksum_partial(buf + off, len, 0x1234)),
					      (uint16_t)~ref);
		}
	}
}

static void test_siphash_vector(void)
{
	struct dp_siphash_key k = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
	uint8_t m[15];

	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(dp_siphash(&k, m, 15), 0xa129ca6149be45e5ull);
	CU_ASSERT_EQUAL(dp_siphash(&k, m, 0), 0x726fdb47dd0e0e31ull);
}

static void test_syncookie(void)
{
	struct dp_siphash_key k = { 1, 2 };
	struct dp_syncookie_tuple t = { 0x0a00000a, 0x0a000001, 40000, 7000 };
	struct dp_syncookie_opts in = { 1460, 7, true }, out;
	uint32_t c = dp_syncookie_make(&k, &t, 12345, 100, &in);

	CU_ASSERT(dp_syncookie_check(&k, &t, 12345, 100, c, &out));
	CU_ASSERT_EQUAL(out.mss, 1460);
	CU_ASSERT_EQUAL(out.wscale, 7);
	CU_ASSERT(out.ts_ok);
	CU_ASSERT(dp_syncookie_check(&k, &t, 12345, 101, c, &out));   /* next period */
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 102, c, &out));  /* too old */
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 99, c, &out));   /* from the future */
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12346, 100, c, &out));  /* other ISN */
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 100, c ^ 0x10000000u, &out)); /* MSS bits */
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 100, c ^ 1u, &out));
	t.sport++;
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 100, c, &out));
	t.sport--;
	k.k1 = 3;
	CU_ASSERT(!dp_syncookie_check(&k, &t, 12345, 100, c, &out));
	/* MSS rounding down to the table, no options */
	k.k1 = 2;
	in.mss = 1300;
	in.wscale = DP_SYNCOOKIE_WS_NONE;
	in.ts_ok = false;
	c = dp_syncookie_make(&k, &t, 1, 5, &in);
	CU_ASSERT(dp_syncookie_check(&k, &t, 1, 5, c, &out));
	CU_ASSERT_EQUAL(out.mss, 1220);
	CU_ASSERT_EQUAL(out.wscale, DP_SYNCOOKIE_WS_NONE);
	CU_ASSERT(!out.ts_ok);
}

struct fired {
	struct dp_timer *order[16];
	int n;
	struct dp_timer_wheel *w;
	struct dp_timer *pair[2]; /* the first of these to fire cancels the other, re-arms itself */
};

static void on_fire(void *arg, struct dp_timer *t)
{
	struct fired *f = arg;

	f->order[f->n++] = t;
	if (f->pair[0] && (t == f->pair[0] || t == f->pair[1])) {
		dp_timer_cancel(f->w, t == f->pair[0] ? f->pair[1] : f->pair[0]);
		f->pair[0] = f->pair[1] = NULL;
		dp_timer_arm(f->w, t, t->expire_ns + 5);
	}
}

static void test_timer_wheel(void)
{
	struct dp_timer *slots[8];
	struct dp_timer_wheel w;
	struct dp_timer a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct fired f = { .w = &w };

	CU_ASSERT_EQUAL(dp_timer_wheel_init(&w, slots, 6, 1, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_timer_wheel_init(&w, slots, 8, 10, 1000), 0);
	dp_timer_arm(&w, &a, 1010);
	dp_timer_arm(&w, &b, 1005);  /* same tick as now: fires on the run at/after 1005 */
	dp_timer_arm(&w, &c, 1000 + 8 * 10 * 3 + 10); /* three revolutions away */
	CU_ASSERT_EQUAL(w.armed, 3);
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1004, on_fire, &f), 0);
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1010, on_fire, &f), 2);
	CU_ASSERT(!dp_timer_armed(&a) && !dp_timer_armed(&b));
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1200, on_fire, &f), 0); /* c skipped: later round */
	CU_ASSERT(dp_timer_armed(&c));
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1300, on_fire, &f), 1);
	CU_ASSERT_EQUAL(f.order[2], &c);
	/* cancel and re-arm from callbacks */
	f.n = 0;
	dp_timer_arm(&w, &a, 1310);
	dp_timer_arm(&w, &b, 1310);
	dp_timer_arm(&w, &d, 1315);
	f.pair[0] = &a;
	f.pair[1] = &b;
	dp_timer_cancel(&w, &d);
	dp_timer_cancel(&w, &d); /* twice is harmless */
	/* one of a/b fires, cancels the other, re-arms itself at 1315 (already due): it fires
	 * again in the same run, from now_tick's slot */
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1320, on_fire, &f), 2);
	CU_ASSERT_EQUAL(f.order[0], f.order[1]);
	CU_ASSERT_EQUAL(w.armed, 0);
	/* re-armed into the future from a callback during a multi-tick run: next run finds it */
	f.n = 0;
	f.pair[0] = &a;
	f.pair[1] = &d;
	dp_timer_arm(&w, &a, 1325);
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1328, on_fire, &f), 1); /* re-armed at 1330 */
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1329, on_fire, &f), 0);
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 1330, on_fire, &f), 1);
	CU_ASSERT_EQUAL(w.armed, 0);
	/* a long gap (clock jump) still fires everything due */
	dp_timer_arm(&w, &a, 1400);
	dp_timer_arm(&w, &b, 5000);
	CU_ASSERT_EQUAL(dp_timer_wheel_run(&w, 100000, on_fire, &f), 2);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("dp_net_units", NULL, NULL);
	CU_add_test(s, "sequence arithmetic across 2^32", test_seq_wrap);
	CU_add_test(s, "checksum against a byte-wise reference", test_cksum_reference);
	CU_add_test(s, "SipHash-2-4 reference vector", test_siphash_vector);
	CU_add_test(s, "SYN cookie encode/verify/expiry", test_syncookie);
	CU_add_test(s, "timer wheel", test_timer_wheel);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();

		CU_cleanup_registry();
		return failed ? 1 : 0;
	}
}
