/*
 * test_fanout_splice: CUnit tests of cp_fanout_splice, the fan-out's REPLAY/LIVE/HELD
 * switch-over (controlplane/fanout/cp_fanout_splice.h): every transition of the table
 * through the event that makes it, every refused one, and the exactly-once rule on
 * `next` across each switch. Pure logic: no sockets, no Redis.
 */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp_fanout_splice.h"

/* An attachment in `mode` reached through the events the fan-out uses. */
static struct cp_splice in_mode(enum cp_splice_mode mode, uint64_t next)
{
	struct cp_splice sp;
	cp_splice_init(&sp);
	switch (mode) {
	case CP_SPLICE_REPLAY: cp_splice_start(&sp, next); break;
	case CP_SPLICE_LIVE: cp_splice_live_only(&sp, next - 1); break;
	case CP_SPLICE_HELD: cp_splice_hold(&sp, next, 0); break;
	default: break;
	}
	CU_ASSERT_EQUAL(sp.mode, mode);
	return sp;
}

static void test_new(void)
{
	struct cp_splice sp;
	cp_splice_init(&sp);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_NEW);
	CU_ASSERT_EQUAL(sp.next, 0);
	CU_ASSERT_FALSE(sp.pending);

	/* NEW -> REPLAY: Subscribe{from_sequence 5} */
	cp_splice_start(&sp, 5);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 5);
	CU_ASSERT_FALSE(sp.at_end);

	/* NEW -> LIVE: Subscribe{0} after the master published 41 */
	cp_splice_init(&sp);
	cp_splice_live_only(&sp, 41);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	CU_ASSERT_EQUAL(sp.next, 42);
	/* ... and before anything was published: takes the next one */
	cp_splice_init(&sp);
	cp_splice_live_only(&sp, 0);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	CU_ASSERT_EQUAL(sp.next, 0);

	/* NEW -> HELD: Subscribe while PAUSED_TOXIC, from 7, or from 0 (after last 9) */
	cp_splice_init(&sp);
	cp_splice_hold(&sp, 7, 9);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_EQUAL(sp.next, 7);
	cp_splice_init(&sp);
	cp_splice_hold(&sp, 0, 9);
	CU_ASSERT_EQUAL(sp.next, 10);
}

static void test_replay_to_live(void)
{
	struct cp_splice sp = in_mode(CP_SPLICE_REPLAY, 3);

	/* not in history, not at the end: read a chunk */
	CU_ASSERT_EQUAL(cp_splice_pump_step(&sp, false, 10), CP_SPLICE_REQUEST);
	cp_splice_request(&sp);
	CU_ASSERT_TRUE(sp.pending);
	CU_ASSERT_FALSE(cp_splice_may(&sp, CP_SPLICE_LIVE)); /* never LIVE with a chunk out */
	CU_ASSERT_FALSE(cp_splice_may(&sp, CP_SPLICE_REPLAY));
	/* the chunk lands: 2 (old), 3, 4, 6 (gap: stop) */
	CU_ASSERT_EQUAL(cp_splice_on_reply(&sp), CP_SPLICE_TAKE_CHUNK);
	CU_ASSERT_FALSE(sp.pending);
	CU_ASSERT_EQUAL(cp_splice_order(&sp, 2), CP_SPLICE_OLD);
	CU_ASSERT_EQUAL(cp_splice_order(&sp, 3), CP_SPLICE_SEND);
	cp_splice_sent(&sp);
	CU_ASSERT_EQUAL(cp_splice_order(&sp, 4), CP_SPLICE_SEND);
	cp_splice_sent(&sp);
	CU_ASSERT_EQUAL(cp_splice_order(&sp, 6), CP_SPLICE_GAP);
	CU_ASSERT_EQUAL(sp.next, 5);
	CU_ASSERT_EQUAL(cp_splice_chunk_end(&sp, true), CP_SPLICE_PUMP);
	/* at the end of the stream but the master published up to 10: still behind */
	CU_ASSERT_EQUAL(cp_splice_pump_step(&sp, false, 10), CP_SPLICE_REQUEST);
	/* next is in the history ring: copy from there, whatever at_end says */
	CU_ASSERT_EQUAL(cp_splice_pump_step(&sp, true, 10), CP_SPLICE_FROM_HISTORY);
	while (sp.next <= 10)
		cp_splice_sent(&sp);
	/* REPLAY -> LIVE: caught up; the next live sequence is 11, sent once */
	cp_splice_go_live(&sp);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 10), CP_SPLICE_OLD);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 11), CP_SPLICE_SEND);
	cp_splice_sent(&sp);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 11), CP_SPLICE_OLD);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);

	/* at the stream's end with nothing published in this process: live at once */
	sp = in_mode(CP_SPLICE_REPLAY, 1);
	cp_splice_chunk_end(&sp, true);
	CU_ASSERT_EQUAL(cp_splice_pump_step(&sp, false, 0), CP_SPLICE_GO_LIVE);
	/* ... and past the last published one */
	sp = in_mode(CP_SPLICE_REPLAY, 8);
	cp_splice_chunk_end(&sp, true);
	CU_ASSERT_EQUAL(cp_splice_pump_step(&sp, false, 7), CP_SPLICE_GO_LIVE);
	/* a new request clears at_end */
	cp_splice_request(&sp);
	CU_ASSERT_FALSE(sp.at_end);
}

static void test_replay_to_replay_and_held(void)
{
	/* REPLAY -> REPLAY: a re-subscribe with no chunk out restarts from its sequence */
	struct cp_splice sp = in_mode(CP_SPLICE_REPLAY, 3);
	cp_splice_chunk_end(&sp, true);
	cp_splice_start(&sp, 20);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 20);
	CU_ASSERT_FALSE(sp.at_end);

	/* REPLAY -> HELD with a chunk out: the chunk is dropped when it lands */
	cp_splice_request(&sp);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, false), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_TRUE(sp.pending);
	CU_ASSERT_EQUAL(cp_splice_on_reply(&sp), CP_SPLICE_DROP_CHUNK);
	CU_ASSERT_FALSE(sp.pending);
	CU_ASSERT_EQUAL(sp.next, 20); /* nothing of the dropped chunk counted as sent */
}

static void test_live_transitions(void)
{
	/* LIVE -> REPLAY: a gap at a publish (publish ring overflow) */
	struct cp_splice sp = in_mode(CP_SPLICE_LIVE, 5);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 5), CP_SPLICE_SEND);
	cp_splice_sent(&sp);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 8), CP_SPLICE_GAP);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 6); /* 6 and 7 come from Redis, 8 after them */
	CU_ASSERT_FALSE(sp.at_end);

	/* LIVE -> REPLAY: the publisher lost signals; only once a sequence was taken */
	sp = in_mode(CP_SPLICE_LIVE, 5);
	CU_ASSERT_EQUAL(cp_splice_on_lost(&sp), CP_SPLICE_PUMP);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 5);
	cp_splice_init(&sp);
	cp_splice_live_only(&sp, 0);
	CU_ASSERT_EQUAL(cp_splice_on_lost(&sp), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	sp = in_mode(CP_SPLICE_REPLAY, 5); /* not LIVE: nothing to heal */
	CU_ASSERT_EQUAL(cp_splice_on_lost(&sp), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);

	/* a live-only attachment made before any publish takes the first one it sees */
	cp_splice_init(&sp);
	cp_splice_live_only(&sp, 0);
	CU_ASSERT_EQUAL(cp_splice_on_publish(&sp, 77), CP_SPLICE_SEND);
	cp_splice_sent(&sp);
	CU_ASSERT_EQUAL(sp.next, 78);

	/* LIVE -> LIVE: a live-only re-subscribe */
	sp = in_mode(CP_SPLICE_LIVE, 5);
	cp_splice_live_only(&sp, 30);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	CU_ASSERT_EQUAL(sp.next, 31);

	/* LIVE -> HELD: the state stops delivering; publishes are not for HELD */
	sp = in_mode(CP_SPLICE_LIVE, 5);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, false), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_EQUAL(sp.next, 5);
	/* still delivering: nothing changes */
	sp = in_mode(CP_SPLICE_LIVE, 5);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, true), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
}

static void test_held_transitions(void)
{
	/* HELD -> REPLAY: deliverable again, from `next` */
	struct cp_splice sp = in_mode(CP_SPLICE_HELD, 9);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, true), CP_SPLICE_START_REPLAY);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD); /* the caller starts it */
	cp_splice_start(&sp, sp.next);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 9);

	/* HELD -> LIVE: deliverable again, live only and nothing ever published */
	cp_splice_init(&sp);
	cp_splice_live_only(&sp, 0);
	cp_splice_on_state(&sp, false);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, true), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_LIVE);
	CU_ASSERT_EQUAL(sp.next, 0);

	/* HELD -> HELD: the state changes to another holding state; a re-subscribe */
	sp = in_mode(CP_SPLICE_HELD, 9);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, false), CP_SPLICE_NOTHING);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	cp_splice_hold(&sp, 4, 100);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_EQUAL(sp.next, 4);

	/* HELD with a chunk out, deliverable again: resume once the chunk lands */
	sp = in_mode(CP_SPLICE_REPLAY, 12);
	cp_splice_request(&sp);
	cp_splice_on_state(&sp, false);
	CU_ASSERT_EQUAL(cp_splice_on_state(&sp, true), CP_SPLICE_NOTHING);
	CU_ASSERT_TRUE(sp.resume);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_HELD);
	CU_ASSERT_FALSE(cp_splice_may(&sp, CP_SPLICE_LIVE));
	CU_ASSERT_FALSE(cp_splice_may(&sp, CP_SPLICE_REPLAY));
	/* ... held once more before it lands: no resume any more */
	cp_splice_on_state(&sp, false);
	CU_ASSERT_FALSE(sp.resume);
	cp_splice_on_state(&sp, true);
	CU_ASSERT_EQUAL(cp_splice_on_reply(&sp), CP_SPLICE_START_REPLAY);
	CU_ASSERT_FALSE(sp.resume);
	CU_ASSERT_FALSE(sp.pending);
	cp_splice_start(&sp, sp.next);
	CU_ASSERT_EQUAL(sp.mode, CP_SPLICE_REPLAY);
	CU_ASSERT_EQUAL(sp.next, 12); /* the dropped chunk is read again */
}

/* The table itself, for every (from, to) and both values of pending. */
static void test_table(void)
{
	for (int from = CP_SPLICE_NEW; from <= CP_SPLICE_HELD; from++)
		for (int pending = 0; pending <= 1; pending++) {
			struct cp_splice sp = {.mode = (enum cp_splice_mode)from, .next = 1,
					       .pending = pending};
			CU_ASSERT_FALSE(cp_splice_may(&sp, CP_SPLICE_NEW));
			CU_ASSERT_EQUAL(cp_splice_may(&sp, CP_SPLICE_REPLAY), !pending);
			CU_ASSERT_EQUAL(cp_splice_may(&sp, CP_SPLICE_LIVE), !pending);
			CU_ASSERT_TRUE(cp_splice_may(&sp, CP_SPLICE_HELD));
		}
	/* the invariants, each broken once */
	struct cp_splice live_pending = {.mode = CP_SPLICE_LIVE, .next = 1, .pending = true};
	struct cp_splice resume_live = {.mode = CP_SPLICE_LIVE, .next = 1, .resume = true};
	struct cp_splice resume_idle = {.mode = CP_SPLICE_HELD, .next = 1, .resume = true};
	struct cp_splice replay_zero = {.mode = CP_SPLICE_REPLAY, .next = 0};
	struct cp_splice held_zero = {.mode = CP_SPLICE_HELD, .next = 0};
	CU_ASSERT_FALSE(cp_splice_valid(&live_pending));
	CU_ASSERT_FALSE(cp_splice_valid(&resume_live));
	CU_ASSERT_FALSE(cp_splice_valid(&resume_idle));
	CU_ASSERT_FALSE(cp_splice_valid(&replay_zero));
	CU_ASSERT_TRUE(cp_splice_valid(&held_zero));
	CU_ASSERT_STRING_EQUAL(cp_splice_mode_name(CP_SPLICE_HELD), "HELD");
	CU_ASSERT_STRING_EQUAL(cp_splice_mode_name((enum cp_splice_mode)9), "?");
}

/* A refused transition stops the program (the setter asserts), in a child process. */
static void test_setter_asserts(void)
{
#ifndef NDEBUG
	pid_t p = fork();
	CU_ASSERT_FATAL(p >= 0);
	if (p == 0) {
		struct cp_splice sp = {.mode = CP_SPLICE_REPLAY, .next = 3, .pending = true};
		cp_splice_set_mode(&sp, CP_SPLICE_LIVE); /* LIVE with a chunk out */
		_exit(0);
	}
	int st = 0;
	CU_ASSERT_EQUAL(waitpid(p, &st, 0), p);
	CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
#endif
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_fanout_splice", NULL, NULL);
	CU_add_test(s, "NEW -> REPLAY, LIVE, HELD (Subscribe)", test_new);
	CU_add_test(s, "REPLAY -> LIVE (caught up), exactly once at the switch", test_replay_to_live);
	CU_add_test(s, "REPLAY -> REPLAY (re-subscribe), REPLAY -> HELD (chunk dropped)",
		    test_replay_to_replay_and_held);
	CU_add_test(s, "LIVE -> REPLAY (gap, lost), LIVE, HELD", test_live_transitions);
	CU_add_test(s, "HELD -> REPLAY, LIVE, HELD; resume after a pending chunk",
		    test_held_transitions);
	CU_add_test(s, "transition table", test_table);
	CU_add_test(s, "refused transition asserts", test_setter_asserts);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
