/*
 * test_guard_sub: the seed's subscription state machine. Every edge of the diagram is
 * accepted, every other (from, to) pair among the six states, self-loops included, is
 * refused with -EPERM and leaves the state untouched; sync completion and invariants.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "guard_test_util.h"

static const struct guard_verifier no_verifier = {NULL, NULL};

/* The diagram, written out independently of guard_sub.c's table. */
static const struct {
	enum guard_state from, to;
} edges[] = {
	{GUARD_STATE_SYNCED, GUARD_STATE_DEGRADED_GAP},
	{GUARD_STATE_SYNCED, GUARD_STATE_LOCKED_NO_FUNDS},
	{GUARD_STATE_SYNCED, GUARD_STATE_PAUSED_TOXIC},
	{GUARD_STATE_SYNCED, GUARD_STATE_SUSPENDED_ADMIN},
	{GUARD_STATE_SYNCED, GUARD_STATE_CANCELLED},
	{GUARD_STATE_DEGRADED_GAP, GUARD_STATE_SYNCED},
	{GUARD_STATE_DEGRADED_GAP, GUARD_STATE_PAUSED_TOXIC},
	{GUARD_STATE_LOCKED_NO_FUNDS, GUARD_STATE_SYNCED},
	{GUARD_STATE_PAUSED_TOXIC, GUARD_STATE_SYNCED},
	{GUARD_STATE_SUSPENDED_ADMIN, GUARD_STATE_SYNCED},
};

static bool in_diagram(enum guard_state from, enum guard_state to)
{
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		if (edges[i].from == from && edges[i].to == to)
			return true;
	return false;
}

/* A subscription put into `s` through a legal path (every state is one edge from
 * SYNCED). */
static void sub_in(struct guard_sub *sub, enum guard_state s)
{
	CU_ASSERT_EQUAL_FATAL(guard_sub_init(sub, 7, &no_verifier, 0, 10), 0);
	if (s != GUARD_STATE_SYNCED)
		CU_ASSERT_EQUAL_FATAL(guard_sub_set_state(sub, s), 0);
	CU_ASSERT_EQUAL_FATAL(sub->st.state, s);
}

static void test_every_pair(void)
{
	int accepted = 0, refused = 0;

	for (int f = GUARD_STATE_SYNCED; f < GUARD_STATE_COUNT; f++) {
		for (int t = GUARD_STATE_SYNCED; t < GUARD_STATE_COUNT; t++) {
			struct guard_sub sub;
			struct guard_sub_state before;
			int rc;

			sub_in(&sub, (enum guard_state)f);
			memcpy(&before, &sub.st, sizeof(before));
			rc = guard_sub_set_state(&sub, (enum guard_state)t);
			CU_ASSERT_EQUAL(guard_sub_transition_allowed((enum guard_state)f,
								     (enum guard_state)t),
					in_diagram((enum guard_state)f, (enum guard_state)t));
			if (in_diagram((enum guard_state)f, (enum guard_state)t)) {
				CU_ASSERT_EQUAL(rc, 0);
				CU_ASSERT_EQUAL(sub.st.state, (uint64_t)t);
				accepted++;
			} else {
				CU_ASSERT_EQUAL(rc, -EPERM);
				CU_ASSERT_EQUAL(memcmp(&before, &sub.st, sizeof(before)), 0);
				CU_ASSERT_EQUAL(sub.stats.transitions_refused, 1);
				refused++;
			}
			CU_ASSERT_TRUE(guard_sub_state_valid(&sub.st));
		}
	}
	CU_ASSERT_EQUAL(accepted, 10);
	CU_ASSERT_EQUAL(refused, 36 - 10);
}

static void test_invalid_states(void)
{
	struct guard_sub sub;

	sub_in(&sub, GUARD_STATE_SYNCED);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_NONE), -EINVAL);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, (enum guard_state)7), -EINVAL);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, (enum guard_state)-1), -EINVAL);
	CU_ASSERT_EQUAL(guard_sub_set_state(NULL, GUARD_STATE_SYNCED), -EINVAL);
	CU_ASSERT_FALSE(guard_sub_transition_allowed(GUARD_STATE_NONE, GUARD_STATE_SYNCED));
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	CU_ASSERT_STRING_EQUAL(guard_state_name(GUARD_STATE_LOCKED_NO_FUNDS), "LOCKED_NO_FUNDS");
	CU_ASSERT_STRING_EQUAL(guard_state_name(GUARD_STATE_CANCELLED), "CANCELLED");
	CU_ASSERT_STRING_EQUAL(guard_state_name((enum guard_state)99), "?");
}

static void test_cancelled_terminal(void)
{
	struct guard_sub sub;

	sub_in(&sub, GUARD_STATE_CANCELLED);
	for (int t = GUARD_STATE_SYNCED; t < GUARD_STATE_COUNT; t++)
		CU_ASSERT_EQUAL(guard_sub_set_state(&sub, (enum guard_state)t), -EPERM);
}

static void test_sync_complete(void)
{
	struct guard_sub sub;

	sub_in(&sub, GUARD_STATE_SYNCED);
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 20), -EPERM); /* not degraded */
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_DEGRADED_GAP), 0);
	CU_ASSERT_EQUAL(sub.st.gap_seq, 12); /* recorded: at least one missing */
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 9), -EINVAL); /* never rewinds */
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_DEGRADED_GAP);
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 10), 0); /* nothing new: allowed */
	CU_ASSERT_EQUAL(sub.st.gap_seq, 0);
	CU_ASSERT_EQUAL(guard_sub_next_sequence(&sub), 11);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_DEGRADED_GAP), 0);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_PAUSED_TOXIC), 0);
	CU_ASSERT_EQUAL(sub.st.gap_seq, 0);
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 30), -EPERM);
}

static void test_invariants(void)
{
	struct guard_sub_state st = {.state = GUARD_STATE_SYNCED, .last_seq = 5};

	CU_ASSERT_TRUE(guard_sub_state_valid(&st));
	st.executed = 6; /* more executions than sequences: I2 */
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st.executed = 1;
	st.last_executed_seq = 6;
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st.last_executed_seq = 5;
	CU_ASSERT_TRUE(guard_sub_state_valid(&st));
	st.gap_seq = 9; /* gap recorded while SYNCED: I3 */
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st.state = GUARD_STATE_DEGRADED_GAP;
	CU_ASSERT_TRUE(guard_sub_state_valid(&st));
	st.gap_seq = 6; /* not a gap: I3 */
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st.gap_seq = 0;
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st.state = 0;
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	st = (struct guard_sub_state){.state = GUARD_STATE_SYNCED, .last_executed_seq = 0,
				      .executed = 0, .last_seq = 3};
	st.last_executed_seq = 2; /* I4 */
	CU_ASSERT_FALSE(guard_sub_state_valid(&st));
	CU_ASSERT_FALSE(guard_sub_state_valid(NULL));
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"every diagram edge accepted, every other pair refused", test_every_pair},
		{"unknown states refused", test_invalid_states},
		{"CANCELLED is terminal", test_cancelled_terminal},
		{"full sync completion", test_sync_complete},
		{"invariants I1..I4", test_invariants},
		{NULL, NULL},
	};
	return gt_run("guard_sub", tests);
}
