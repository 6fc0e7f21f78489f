/*
 * test_guard_trust: the seed's trust rules. The seed's example verbatim (score 65, not
 * paused), each rule, clamping, auto-pause below 50, recovery +10 per full 24 h and
 * back to SYNCED at >= 50.
 */
#include <CUnit/CUnit.h>
#include <errno.h>

#include "guard_test_util.h"

#define DAY GUARD_TRUST_RECOVERY_PERIOD_NS

/* seed: 100, 3 TTL Expired (-5 each) and 1 Sequence Gap (-20): 65, not paused. */
static void test_seed_example(void)
{
	struct guard_trust t;

	guard_trust_init(&t, 0);
	CU_ASSERT_EQUAL(t.score, 100);
	guard_trust_apply(&t, GUARD_TRUST_TTL_EXPIRED, 1);
	guard_trust_apply(&t, GUARD_TRUST_TTL_EXPIRED, 2);
	guard_trust_apply(&t, GUARD_TRUST_TTL_EXPIRED, 3);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_SEQUENCE_GAP, 4), 65);
	CU_ASSERT_EQUAL(t.score, 65);
	CU_ASSERT_FALSE(guard_trust_should_pause(&t));
}

static void test_rule_table(void)
{
	static const struct {
		enum guard_trust_event e;
		int delta;
	} rules[] = {
		{GUARD_TRUST_SUCCESS, 1},          {GUARD_TRUST_TTL_EXPIRED, -5},
		{GUARD_TRUST_PRICE_DEVIATION, -3}, {GUARD_TRUST_SEQUENCE_GAP, -20},
		{GUARD_TRUST_REPLAY, -50},         {GUARD_TRUST_INVALID_SIGNATURE, -40},
		{GUARD_TRUST_STATE_LOCKED, 0},     {GUARD_TRUST_INSUFFICIENT_FUNDS, 0},
		{GUARD_TRUST_FILTERED, 0},         {GUARD_TRUST_MALFORMED, 0},
		{GUARD_TRUST_UNKNOWN_INSTRUMENT, 0}, {GUARD_TRUST_INSUFFICIENT_MARGIN, 0},
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct guard_trust t;

		CU_ASSERT_EQUAL(guard_trust_delta(rules[i].e), rules[i].delta);
		guard_trust_init(&t, 0);
		t.score = 70;
		CU_ASSERT_EQUAL(guard_trust_apply(&t, rules[i].e, 10), 70 + rules[i].delta);
	}
	CU_ASSERT_EQUAL(sizeof(rules) / sizeof(rules[0]), GUARD_TRUST_EVENT_COUNT);
}

static void test_clamp(void)
{
	struct guard_trust t;

	guard_trust_init(&t, 0);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_SUCCESS, 1), 100);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_REPLAY, 2), 50);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_REPLAY, 3), 0);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_INVALID_SIGNATURE, 4), 0);
	CU_ASSERT_EQUAL(guard_trust_apply(&t, GUARD_TRUST_EVENT_COUNT, 5), -EINVAL);
	CU_ASSERT_EQUAL(guard_trust_apply(NULL, GUARD_TRUST_SUCCESS, 5), -EINVAL);
}

/* A SYNCED subscription (no verifier: never used here) and a trust score of 100 at now. */
static void sub_and_trust(struct guard_sub *sub, struct guard_trust *t, int64_t now)
{
	static const struct guard_verifier none = {NULL, NULL};

	CU_ASSERT_EQUAL_FATAL(guard_sub_init(sub, 1, &none, 0, 0), 0);
	guard_trust_init(t, now);
}

static void test_pause_and_recover(void)
{
	struct guard_sub sub;
	struct guard_trust t;
	int64_t now = 1000;

	sub_and_trust(&sub, &t, now);
	guard_trust_apply(&t, GUARD_TRUST_INVALID_SIGNATURE, now); /* 60 */
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 0);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	guard_trust_apply(&t, GUARD_TRUST_SEQUENCE_GAP, now); /* 40 */
	CU_ASSERT_TRUE(guard_trust_should_pause(&t));
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 1);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_PAUSED_TOXIC);
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 0); /* idempotent */

	/* 23h59m quiet: no credit yet */
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + DAY - 60 * GUARD_NS_PER_S), 0);
	CU_ASSERT_EQUAL(t.score, 40);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_PAUSED_TOXIC);
	/* one full day: +10 -> 50 = recovered */
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + DAY), 1);
	CU_ASSERT_EQUAL(t.score, 50);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	/* credit counted per full period, not twice */
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + DAY + DAY / 2), 50);
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + 3 * DAY), 70);
	/* an incident restarts the quiet period */
	guard_trust_apply(&t, GUARD_TRUST_TTL_EXPIRED, now + 3 * DAY + 5); /* 65 */
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + 4 * DAY), 65);
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + 4 * DAY + 5), 75);
	/* success is not an incident: credit still flows */
	guard_trust_apply(&t, GUARD_TRUST_SUCCESS, now + 4 * DAY + 6); /* 76 */
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + 5 * DAY + 5), 86);
	/* long quiet: clamped at 100 */
	CU_ASSERT_EQUAL(guard_trust_tick(&t, now + 400 * DAY), 100);
}

/* Issue 18: events never lift a pause, however many; only a quiet-period credit does. */
static void test_events_never_resume(void)
{
	struct guard_sub sub;
	struct guard_trust t;
	int64_t now = 1000;

	sub_and_trust(&sub, &t, now);
	guard_trust_apply(&t, GUARD_TRUST_REPLAY, now);
	guard_trust_apply(&t, GUARD_TRUST_REPLAY, now); /* 0 */
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 1);
	for (int i = 0; i < 60; i++)
		guard_trust_apply(&t, GUARD_TRUST_SUCCESS, now + 1 + i);
	CU_ASSERT_EQUAL(t.score, 60);
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 0);
	/* boundary: a tick with no full quiet period does not resume at 60 either */
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + DAY - 1), 0);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_PAUSED_TOXIC);
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + DAY), 1);
	CU_ASSERT_EQUAL(t.score, 70);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	/* a credit that leaves the score below 50 does not resume */
	guard_trust_init(&t, now);
	t.score = 0;
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 1);
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + 4 * DAY), 0);
	CU_ASSERT_EQUAL(t.score, 40);
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, now + 5 * DAY), 1);
	CU_ASSERT_EQUAL(t.score, 50);
	CU_ASSERT_EQUAL(guard_trust_delta(GUARD_TRUST_UNKNOWN_INSTRUMENT), 0);
}

static void test_pause_from_degraded_not_admin(void)
{
	static const struct guard_verifier none = {NULL, NULL};
	struct guard_sub sub;
	struct guard_trust t;

	guard_trust_init(&t, 0);
	t.score = 10;
	CU_ASSERT_EQUAL_FATAL(guard_sub_init(&sub, 1, &none, 0, 0), 0);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_DEGRADED_GAP), 0);
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 1);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_PAUSED_TOXIC);
	/* an admin suspension is neither paused over nor lifted by the score */
	CU_ASSERT_EQUAL_FATAL(guard_sub_init(&sub, 1, &none, 0, 0), 0);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_SUSPENDED_ADMIN), 0);
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 0);
	t.score = 100;
	CU_ASSERT_EQUAL(guard_trust_enforce(&sub, &t), 0);
	CU_ASSERT_EQUAL(guard_trust_recover(&sub, &t, 400 * DAY), 0);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SUSPENDED_ADMIN);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"seed example: 65, not paused", test_seed_example},
		{"rule table", test_rule_table},
		{"clamped 0..100", test_clamp},
		{"auto-pause < 50, +10 per 24 h, recovery >= 50", test_pause_and_recover},
		{"pause from DEGRADED_GAP, admin untouched", test_pause_from_degraded_not_admin},
		{"events never resume; only a quiet-period credit does", test_events_never_resume},
		{NULL, NULL},
	};
	return gt_run("guard_trust", tests);
}
