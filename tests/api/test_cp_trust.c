/*
 * test_cp_trust: the trust role's mapping of reported event names onto guard's rule table
 * (cp_trust_event_parse), without a database. The role's database side is covered by
 * test_api_e2e (trust scenario).
 */
#include <errno.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "cp_trust.h"
#include "guard_check.h"

/* Every guard reason name except MALFORMED parses, to the event guard itself maps it to. */
static void test_guard_reason_names(void)
{
	for (unsigned int r = 0; r < GUARD_REASON_MAX; r++) {
		const char *name = guard_reason_name((enum guard_reason)r);
		enum guard_trust_event ev = GUARD_TRUST_EVENT_COUNT;
		if (strcmp(name, "?") == 0)
			continue;
		int rc = cp_trust_event_parse(name, &ev);
		if (r == GUARD_REASON_MALFORMED) {
			CU_ASSERT_EQUAL(rc, -EINVAL);
			continue;
		}
		struct guard_verdict v = {.reason = r, .authenticated = true};
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(ev, guard_trust_event_of(&v));
	}
}

/* The seed's names and deltas, through the parser (guard's table is the only source). */
static void test_seed_deltas(void)
{
	static const struct {
		const char *name;
		int delta;
	} seed[] = {{"EXECUTE", +1}, {"TTL_EXPIRED", -5}, {"PRICE_DEVIATION", -3},
		    {"SEQUENCE_GAP", -20}, {"REPLAY", -50}, {"INVALID_SIGNATURE", -40}};
	for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
		enum guard_trust_event ev;
		CU_ASSERT_EQUAL_FATAL(cp_trust_event_parse(seed[i].name, &ev), 0);
		CU_ASSERT_EQUAL(guard_trust_delta(ev), seed[i].delta);
	}
}

/* Boundary: near misses, case, empty, garbage. */
static void test_refused_names(void)
{
	static const char *const bad[] = {"", "?", "MALFORMED", "EXECUTED", "ttl_expired",
					  "TTL_EXPIRED ", "REPLAY\n", "NONE", "x'; DROP TABLE"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum guard_trust_event ev = GUARD_TRUST_SUCCESS;
		CU_ASSERT_EQUAL(cp_trust_event_parse(bad[i], &ev), -EINVAL);
		CU_ASSERT_EQUAL(ev, GUARD_TRUST_SUCCESS); /* untouched */
	}
}

/* Seed example through parsed names: 3 x TTL + 1 gap from 100 = 65, not paused. */
static void test_seed_example(void)
{
	static const char *const evs[] = {"TTL_EXPIRED", "TTL_EXPIRED", "TTL_EXPIRED",
					  "SEQUENCE_GAP"};
	struct guard_trust t;
	guard_trust_init(&t, 0);
	for (size_t i = 0; i < 4; i++) {
		enum guard_trust_event ev;
		CU_ASSERT_EQUAL_FATAL(cp_trust_event_parse(evs[i], &ev), 0);
		guard_trust_apply(&t, ev, (int64_t)i);
	}
	CU_ASSERT_EQUAL(t.score, 65);
	CU_ASSERT_FALSE(guard_trust_should_pause(&t));
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_trust", NULL, NULL);
	CU_add_test(s, "guard reason names", test_guard_reason_names);
	CU_add_test(s, "seed deltas", test_seed_deltas);
	CU_add_test(s, "refused names (boundary)", test_refused_names);
	CU_add_test(s, "seed example 65", test_seed_example);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
