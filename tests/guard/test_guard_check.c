/*
 * test_guard_check: guard_signal_check(), the seed's pipeline. One test per reason
 * code, first-failure-wins combinations, forged signals (state compared bytewise before
 * and after), exactly-once across reconnect/replay, and ±10 s receiver clock skew.
 * Real Ed25519 signatures throughout.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "guard_test_util.h"

static struct gt_key key, other_key;
static struct guard_sub sub;
static struct guard_policy pol;
static struct guard_clock clk;
static struct guard_view view;

static void fresh(void)
{
	gt_sub(&sub, &key);
	guard_policy_init(&pol);
	gt_clock(&clk, 0);
	gt_view(&view, 0);
}

static struct guard_verdict check(const struct gt_signal *s)
{
	struct guard_verdict v;

	CU_ASSERT_EQUAL_FATAL(guard_signal_check(&sub, &pol, &clk, &s->env, &view, &v), 0);
	return v;
}

/* Runs s and asserts the subscription's state is bytewise unchanged. */
static struct guard_verdict check_no_change(const struct gt_signal *s)
{
	struct guard_sub_state before;
	struct guard_verdict v;

	memcpy(&before, &sub.st, sizeof(before));
	v = check(s);
	CU_ASSERT_EQUAL(memcmp(&before, &sub.st, sizeof(before)), 0);
	CU_ASSERT_FALSE(v.committed);
	return v;
}

static void execute(uint64_t seq)
{
	struct gt_signal s;
	struct guard_verdict v;

	gt_signal_buy(&s, &key, seq);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
}

static void test_execute(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_TRUE(v.authenticated);
	CU_ASSERT_TRUE(v.committed);
	CU_ASSERT_STRING_EQUAL(v.order.symbol, "EURUSD");
	CU_ASSERT_EQUAL(v.order.type, GUARD_ORDER_BUY);
	CU_ASSERT_EQUAL(v.order.volume, 100);
	CU_ASSERT_EQUAL(v.order.sl, 109500);
	CU_ASSERT_EQUAL(v.order.tp, 111000);
	CU_ASSERT_EQUAL(v.order.sequence, 1);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 20); /* ask 1.10002 vs 1.10000: 0.2 pip */
	CU_ASSERT_EQUAL(v.age_ns, 100 * GUARD_NS_PER_MS);
	CU_ASSERT_EQUAL(sub.st.last_seq, 1);
	CU_ASSERT_EQUAL(sub.st.executed, 1);
	CU_ASSERT_EQUAL(sub.st.last_executed_seq, 1);
	CU_ASSERT_EQUAL(guard_sub_next_sequence(&sub), 2);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_SUCCESS);
}

static void test_reason_replay(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	execute(1);
	execute(2);
	gt_signal_buy(&s, &key, 1);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_REPLAY);
	CU_ASSERT_TRUE(v.authenticated);
	CU_ASSERT_EQUAL(v.expected_seq, 3);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_REPLAY);
	CU_ASSERT_EQUAL(sub.stats.reason[GUARD_REASON_REPLAY], 1);
}

static void test_reason_gap_and_sync(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	execute(1);
	gt_signal_buy(&s, &key, 4);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_SEQUENCE_GAP);
	CU_ASSERT_TRUE(v.committed);
	CU_ASSERT_EQUAL(v.expected_seq, 2);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_DEGRADED_GAP);
	CU_ASSERT_EQUAL(sub.st.gap_seq, 4);
	CU_ASSERT_EQUAL(sub.st.last_seq, 1);
	CU_ASSERT_EQUAL(v.state_after, GUARD_STATE_DEGRADED_GAP);

	/* While degraded nothing is consumed: the late 2 is refused by State. */
	gt_signal_buy(&s, &key, 2);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_STATE_LOCKED);
	gt_signal_buy(&s, &key, 5);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_SEQUENCE_GAP);

	/* A full sync up to 5 resumes at 6, never below. */
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 0), -EINVAL);
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 5), 0);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	CU_ASSERT_EQUAL(guard_sub_next_sequence(&sub), 6);
	CU_ASSERT_EQUAL(guard_sub_sync_complete(&sub, 9), -EPERM);
	gt_signal_buy(&s, &key, 5);
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_REPLAY);
	execute(6);
	CU_ASSERT_EQUAL(sub.st.executed, 2);
}

static void test_reason_state_locked(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_SUSPENDED_ADMIN), 0);
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_STATE_LOCKED);
	CU_ASSERT_TRUE(v.authenticated);
	/* Consumed, not executed: it never executes later. */
	CU_ASSERT_EQUAL(sub.st.last_seq, 1);
	CU_ASSERT_EQUAL(sub.st.executed, 0);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_SYNCED), 0);
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_REPLAY);
}

static void test_reason_ttl(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 600 * GUARD_NS_PER_MS;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_EQUAL(v.age_ns, 600 * GUARD_NS_PER_MS);
	CU_ASSERT_EQUAL(sub.st.last_seq, 1);
	CU_ASSERT_EQUAL(sub.st.executed, 0);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_TTL_EXPIRED);
}

static void test_ttl_boundary(void)
{
	struct gt_signal s;

	fresh();
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 500 * GUARD_NS_PER_MS; /* exactly the TTL: ok */
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	gt_signal_buy(&s, &key, 2);
	s.env.server_arrival_ns = GT_NOW - 500 * GUARD_NS_PER_MS - 1;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_TTL_EXPIRED);
	/* From the future beyond the TTL: refused too. */
	gt_signal_buy(&s, &key, 3);
	s.env.server_arrival_ns = GT_NOW + 501 * GUARD_NS_PER_MS;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_TTL_EXPIRED);
	/* Configurable TTL. */
	sub.ttl_ns = 2 * GUARD_NS_PER_S;
	gt_signal_buy(&s, &key, 4);
	s.env.server_arrival_ns = GT_NOW - 1500 * GUARD_NS_PER_MS;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
}

static void test_reason_price(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	view.quote.ask = 110040; /* 4 pips above the master's fill; max is 3 */
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_PRICE_DEVIATION);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 400);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_PRICE_DEVIATION);

	/* A sell compares to the bid, not the ask. */
	gt_signal_buy(&s, &key, 2);
	s.env.order_type = GUARD_ORDER_SELL;
	s.env.sl = 110500;
	s.env.tp = 109000;
	gt_seal(&s, &key);
	view.quote.bid = 109980; /* 2 pips */
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 200);

	/* Threshold per subscription. */
	pol.max_deviation_pips_x100 = 150;
	gt_signal_buy(&s, &key, 3);
	s.env.order_type = GUARD_ORDER_SELL;
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);

	/* No quote: fail closed. */
	view.quote.ask = 0;
	gt_signal_buy(&s, &key, 4);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);
}

static void test_price_jpy(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	memcpy(s.env.symbol, "USDJPY.m", 9);
	s.env.price = 15000000; /* 150.000 */
	s.env.sl = 14950000;
	s.env.tp = 15100000;
	gt_seal(&s, &key);
	view.quote.ask = 15002000; /* 150.020: 2 JPY pips (would be 200 "pips" at 0.0001) */
	view.quote.bid = 15001800;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 200);
	view.quote.ask = 15004000; /* 4 pips */
	gt_signal_buy(&s, &key, 2);
	memcpy(s.env.symbol, "USDJPY.m", 9);
	s.env.price = 15000000;
	s.env.sl = 0;
	gt_seal(&s, &key);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_PRICE_DEVIATION);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 400);
}

static void test_reason_funds(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	view.wallet.balance = 50 * GUARD_MONEY_SCALE;
	view.wallet.reserved = 30 * GUARD_MONEY_SCALE;
	pol.min_free_funds = 25 * GUARD_MONEY_SCALE; /* $20 free < $25 needed */
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INSUFFICIENT_FUNDS);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED); /* free > 0: no lock */

	/* Balance minus reserved <= 0: SYNCED -> LOCKED_NO_FUNDS (seed: Balance <= 0). */
	view.wallet.reserved = 50 * GUARD_MONEY_SCALE;
	gt_signal_buy(&s, &key, 2);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INSUFFICIENT_FUNDS);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_LOCKED_NO_FUNDS);
	CU_ASSERT_EQUAL(v.state_after, GUARD_STATE_LOCKED_NO_FUNDS);
	gt_signal_buy(&s, &key, 3);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_STATE_LOCKED);
	/* Balance restored: only a positive free balance unlocks. */
	view.wallet.balance = 40 * GUARD_MONEY_SCALE;
	CU_ASSERT_EQUAL(guard_wallet_update(&sub, &view.wallet), 0);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_LOCKED_NO_FUNDS);
	view.wallet.reserved = 0;
	CU_ASSERT_EQUAL(guard_wallet_update(&sub, &view.wallet), 1);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
	CU_ASSERT_EQUAL(guard_wallet_update(&sub, &view.wallet), 0);
	pol.min_free_funds = 0;
	execute(4);
}

static void test_funds_not_for_close(void)
{
	struct gt_signal s;

	fresh();
	view.wallet.balance = 0;
	view.position.open = true;
	view.position.volume = 100;
	view.position.master_volume = 100;
	gt_signal_buy(&s, &key, 1);
	s.env.order_type = GUARD_ORDER_CLOSE;
	s.env.volume = 0;
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
}

static void test_reason_signature(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	s.sig[10] ^= 0x01;
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_FALSE(v.authenticated);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_INVALID_SIGNATURE);
	CU_ASSERT_EQUAL(sub.stats.unauthenticated, 1);
	/* The genuine signal with the same sequence still executes afterwards. */
	execute(1);
}

static void test_reason_filtered(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	memcpy(pol.deny[0], "EURUSD", 7);
	pol.deny_count = 1;
	view.quote.ask = 0; /* no quote for a symbol we do not trade: still FILTERED */
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(v.filter, GUARD_FILTER_SYMBOL);
	CU_ASSERT_EQUAL(sub.st.last_seq, 1);
	CU_ASSERT_EQUAL(sub.st.executed, 0);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_FILTERED);
	/* An empty wallet does not matter for a trade we would not place: no lock. */
	view.wallet.balance = 0;
	gt_signal_buy(&s, &key, 2);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);
}

static void test_reason_malformed(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	s.env.master_id = GT_MASTER + 1; /* another master's signal */
	gt_seal(&s, &key);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_MALFORMED);
	gt_signal_buy(&s, &key, 1);
	s.env.order_type = 77;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_MALFORMED);
	gt_signal_buy(&s, &key, 1);
	memset(s.env.symbol, 'A', sizeof(s.env.symbol)); /* not terminated */
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_MALFORMED);
	gt_signal_buy(&s, &key, 1);
	s.env.body = NULL;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_MALFORMED);
	CU_ASSERT_EQUAL(guard_signal_check(NULL, &pol, &clk, &s.env, &view, &v), -EINVAL);
}

/* Several failing checks at once: the first in seed order is reported. */
static void test_first_failure_wins(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	/* Replay + stale + deviation + no funds -> REPLAY */
	fresh();
	execute(1);
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	view.quote.ask = 120000;
	view.wallet.balance = 0;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_REPLAY);
	/* ... and with a bad signature too -> INVALID_SIGNATURE (issue 18) */
	s.sig[0] ^= 0x80;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_INVALID_SIGNATURE);

	/* Gap + locked state + stale -> SEQUENCE_GAP */
	fresh();
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_PAUSED_TOXIC), 0);
	gt_signal_buy(&s, &key, 3);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	gt_seal(&s, &key);
	v = check_no_change(&s); /* PAUSED_TOXIC -> DEGRADED_GAP is not in the diagram */
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_SEQUENCE_GAP);

	/* State + stale + deviation -> STATE_LOCKED */
	fresh();
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_SUSPENDED_ADMIN), 0);
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	gt_seal(&s, &key);
	view.quote.ask = 120000;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_STATE_LOCKED);

	/* Stale + deviation + no funds -> TTL_EXPIRED, and no LOCKED_NO_FUNDS */
	fresh();
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	gt_seal(&s, &key);
	view.quote.ask = 120000;
	view.wallet.balance = 0;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);

	/* Deviation + no funds -> PRICE_DEVIATION */
	fresh();
	gt_signal_buy(&s, &key, 1);
	view.quote.ask = 120000;
	view.wallet.balance = 0;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);

	/* No funds + bad signature -> INVALID_SIGNATURE, unauthenticated: no lock */
	fresh();
	gt_signal_buy(&s, &key, 1);
	view.wallet.balance = 0;
	s.sig[5] ^= 0x04;
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_FALSE(v.authenticated);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_INVALID_SIGNATURE);

	/* Bad signature + filtered -> INVALID_SIGNATURE (Signature precedes Execute) */
	fresh();
	pol.type_mask &= ~GUARD_ORDER_BIT(GUARD_ORDER_BUY);
	gt_signal_buy(&s, &key, 1);
	s.sig[63] ^= 0x01;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_INVALID_SIGNATURE);
}

/* Forged signals: never a state change, whatever else they claim. */
static void test_forged_wrong_key(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	execute(1);
	gt_signal_buy(&s, &other_key, 2);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_FALSE(v.authenticated);
}

static void test_forged_truncated(void)
{
	struct gt_signal s;

	fresh();
	gt_signal_buy(&s, &key, 1);
	for (size_t n = 0; n < 64; n += 7) {
		s.env.sig_len = n;
		CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_INVALID_SIGNATURE);
	}
	s.env.sig = NULL;
	s.env.sig_len = 0;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_INVALID_SIGNATURE);
	/* Truncated body with the full signature. */
	gt_signal_buy(&s, &key, 1);
	s.env.body_len--;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_INVALID_SIGNATURE);
}

static void test_forged_other_body(void)
{
	struct gt_signal genuine, forged;

	fresh();
	/* A genuine signature, but over a different body (a 0.01 lot trade) pasted onto
	 * a 100 lot one. */
	gt_signal_buy(&genuine, &key, 1);
	gt_signal_buy(&forged, &key, 1);
	forged.env.volume = 10000;
	gt_seal(&forged, &other_key);
	memcpy(forged.sig, genuine.sig, 64);
	CU_ASSERT_EQUAL(check_no_change(&forged).reason, GUARD_REASON_INVALID_SIGNATURE);
}

static void test_forged_gap_no_degrade(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	execute(1);
	gt_signal_buy(&s, &other_key, 50);
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE); /* not SEQUENCE_GAP */
	CU_ASSERT_FALSE(v.authenticated);
	CU_ASSERT_EQUAL(sub.st.state, GUARD_STATE_SYNCED);     /* ... and not committed */
	CU_ASSERT_EQUAL(v.state_after, GUARD_STATE_SYNCED);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_INVALID_SIGNATURE);
	execute(2); /* the real stream continues */
}

static void test_forged_replay_of_valid(void)
{
	struct gt_signal s;

	fresh();
	gt_signal_buy(&s, &key, 1);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_REPLAY);
	CU_ASSERT_EQUAL(sub.st.executed, 1);
}

/* Exactly-once per (master, sequence) across reconnect and a replay from too early,
 * including a restart that restores the persisted state. */
static void test_exactly_once_reconnect(void)
{
	struct gt_signal s;
	struct guard_sub restarted;
	int executed = 0;

	fresh();
	for (uint64_t q = 1; q <= 3; q++)
		execute(q);
	/* reconnect: the server replays 1..5 (asked too early); 4, 5 are new */
	for (uint64_t q = 1; q <= 5; q++) {
		gt_signal_buy(&s, &key, q);
		executed += check(&s).reason == GUARD_REASON_NONE;
	}
	CU_ASSERT_EQUAL(executed, 2);
	CU_ASSERT_EQUAL(sub.st.executed, 5);
	/* restart: the EA restores its persisted state into a fresh guard_sub */
	gt_sub(&restarted, &key);
	memcpy(&restarted.st, &sub.st, sizeof(sub.st));
	CU_ASSERT_EQUAL(guard_sub_next_sequence(&restarted), 6);
	gt_signal_buy(&s, &key, 5);
	sub = restarted;
	CU_ASSERT_EQUAL(check_no_change(&s).reason, GUARD_REASON_REPLAY);
	execute(6);
	CU_ASSERT_EQUAL(sub.st.executed, 6);
}

/* Receiver clock 10 s ahead / behind: after offset samples TTL decisions are right. */
static void skew_case(int64_t skew)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_view(&view, skew);
	gt_clock(&clk, skew);
	gt_signal_buy(&s, &key, 1); /* 100 ms old on the server clock */
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.age_ns, 100 * GUARD_NS_PER_MS);
	gt_signal_buy(&s, &key, 2);
	s.env.server_arrival_ns = GT_NOW - 700 * GUARD_NS_PER_MS;
	gt_seal(&s, &key);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_EQUAL(v.age_ns, 700 * GUARD_NS_PER_MS);

	/* Without any sample the guard fails closed instead of trusting its clock. */
	guard_clock_init(&clk, 0);
	gt_signal_buy(&s, &key, 3);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_FALSE(v.age_known);
	/* After the samples age out (5 min), likewise. */
	gt_clock(&clk, skew);
	view.local_now_ns += 301 * GUARD_NS_PER_S;
	gt_signal_buy(&s, &key, 4);
	s.env.server_arrival_ns += 301 * GUARD_NS_PER_S;
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_TTL_EXPIRED);
	/* A fresh sample restores service. */
	CU_ASSERT_EQUAL(guard_clock_add_sample(&clk, view.local_now_ns - 4 * GUARD_NS_PER_MS,
					       GT_NOW + 301 * GUARD_NS_PER_S - 2 * GUARD_NS_PER_MS,
					       GT_NOW + 301 * GUARD_NS_PER_S - 2 * GUARD_NS_PER_MS,
					       view.local_now_ns),
			0);
	gt_signal_buy(&s, &key, 5);
	s.env.server_arrival_ns += 301 * GUARD_NS_PER_S;
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
}

/* The server-clock estimate is only as good as its error bound (rtt / 2): a single
 * TimePong over a congested link (3 s round trip, the return leg slow) puts the estimate
 * 1.475 s behind, and a signal 1.9 s old looked 425 ms old and executed. An estimate whose
 * error bound exceeds the TTL cannot tell fresh from stale: fail closed, as with none. */
static void test_clock_error_bound(void)
{
	const int64_t ms = GUARD_NS_PER_MS;
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	guard_clock_init(&clk, 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&clk, GT_NOW - 3050 * ms, GT_NOW - 3000 * ms,
					       GT_NOW - 3000 * ms, GT_NOW), 0);
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 1900 * ms;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_EQUAL(sub.st.executed, 0);
	/* a fresh one too: nothing can be told with that estimate */
	gt_signal_buy(&s, &key, 2);
	s.env.server_arrival_ns = GT_NOW - 10 * ms;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_TTL_EXPIRED);
	/* a better sample (2 ms round trip) decides again */
	gt_clock(&clk, 0);
	gt_signal_buy(&s, &key, 3);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	/* an error bound of exactly the TTL still decides (1 s round trip, symmetric) */
	guard_clock_init(&clk, 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&clk, GT_NOW - 1000 * ms, GT_NOW - 500 * ms,
					       GT_NOW - 500 * ms, GT_NOW), 0);
	gt_signal_buy(&s, &key, 4);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
}

/* A signal reaches the server before it reaches us, so its true age is >= 0. An estimated
 * age below minus the estimate's tolerance (error bound rtt / 2, drift since the sample,
 * 50 ms slack: guard_clock_tolerance) proves the estimate wrong, e.g. the local clock
 * stepped 100 ms back since the last TimePong. Such a signal was executed as fresh
 * (anything down to -TTL was), and nothing told the EA to measure its clock again. Now:
 * TTL_EXPIRED (age unknown: fail closed), verdict.clock_suspect, sequence consumed. */
static void test_clock_future_beyond_bound(void)
{
	const int64_t ms = GUARD_NS_PER_MS;
	/* gt_clock: 2 ms round trip 1 s ago: 1 ms + 1 s / 5000 + 50 ms */
	const int64_t tol = ms + GUARD_NS_PER_S / GUARD_CLOCK_DRIFT_DIV + GUARD_CLOCK_FUTURE_SLACK_NS;
	struct gt_signal s;
	struct guard_verdict v;
	int64_t t = 0;

	fresh();
	CU_ASSERT_EQUAL(guard_clock_tolerance(&clk, view.local_now_ns, &t), 0);
	CU_ASSERT_EQUAL(t, tol);
	CU_ASSERT_EQUAL(guard_clock_tolerance(&clk, view.local_now_ns, NULL), -EINVAL);
	/* 100 ms "from the future": was executed */
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW + 100 * ms;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_TRUE(v.clock_suspect);
	CU_ASSERT_TRUE(v.authenticated);
	CU_ASSERT_EQUAL(v.age_ns, -100 * ms);
	CU_ASSERT_EQUAL(sub.st.last_seq, 1); /* consumed, as every refused stale signal */
	CU_ASSERT_EQUAL(sub.st.executed, 0);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_TTL_EXPIRED);
	/* the arrival stamp 20 ms ahead of the TimePong's clock (a standalone fan-out's host
	 * 20 ms behind the dataplane's, within NTP's reach): not a clock step; a 1 ms slack
	 * refused it, and so every signal of that deployment */
	gt_signal_buy(&s, &key, 2);
	s.env.server_arrival_ns = GT_NOW + 20 * ms;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_FALSE(v.clock_suspect);
	/* boundary: exactly -tolerance is within the estimate's error, one ns more is not */
	gt_signal_buy(&s, &key, 3);
	s.env.server_arrival_ns = GT_NOW + tol;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_FALSE(v.clock_suspect);
	gt_signal_buy(&s, &key, 4);
	s.env.server_arrival_ns = GT_NOW + tol + 1;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_TRUE(v.clock_suspect);
	/* an earlier failure keeps its reason; the clock is suspect all the same */
	gt_signal_buy(&s, &key, 4);
	s.env.server_arrival_ns = GT_NOW + 100 * ms;
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_REPLAY);
	CU_ASSERT_TRUE(v.clock_suspect);
	/* a forged one proves nothing about our clock */
	gt_signal_buy(&s, &other_key, 5);
	s.env.server_arrival_ns = GT_NOW + 100 * ms;
	v = check_no_change(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_FALSE(v.clock_suspect);
	/* the caller drops the estimate: every signal fails closed until the next TimePong */
	guard_clock_distrust(&clk);
	gt_signal_buy(&s, &key, 5);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
	CU_ASSERT_FALSE(v.age_known);
	CU_ASSERT_FALSE(v.clock_suspect);
	gt_clock(&clk, 0);
	gt_signal_buy(&s, &key, 6);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	/* a poor estimate tolerates more: 400 ms round trip, 150 ms "ahead" is its error */
	guard_clock_init(&clk, 0);
	CU_ASSERT_EQUAL(guard_clock_add_sample(&clk, GT_NOW - 400 * ms, GT_NOW - 200 * ms,
					       GT_NOW - 200 * ms, GT_NOW), 0);
	gt_signal_buy(&s, &key, 7);
	s.env.server_arrival_ns = GT_NOW + 150 * ms;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_FALSE(v.clock_suspect);
}

static void test_clock_skew_ahead(void)
{
	skew_case(10 * GUARD_NS_PER_S);
}

static void test_clock_skew_behind(void)
{
	skew_case(-10 * GUARD_NS_PER_S);
}

static void test_equity_protection(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	pol.max_drawdown_bp = 2000; /* 20% */
	pol.close_all_on_trip = true;
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, view.equity), 0);
	view.equity = 7900 * GUARD_MONEY_SCALE; /* 21% down from 10000 */
	gt_signal_buy(&s, &key, 1);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(v.filter, GUARD_FILTER_EQUITY);
	CU_ASSERT_TRUE(v.close_all);
	CU_ASSERT_EQUAL(sub.st.equity_tripped, 1);
	/* Closing still works; opening stays blocked even if equity recovers. */
	view.equity = 9000 * GUARD_MONEY_SCALE;
	gt_signal_buy(&s, &key, 2);
	v = check(&s);
	CU_ASSERT_EQUAL(v.filter, GUARD_FILTER_EQUITY);
	CU_ASSERT_FALSE(v.close_all);
	view.position.open = true;
	view.position.volume = 100;
	view.position.master_volume = 100;
	gt_signal_buy(&s, &key, 3);
	s.env.order_type = GUARD_ORDER_CLOSE;
	s.env.volume = 0;
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(guard_equity_reset(&sub, view.equity), 0);
	view.position.open = false; /* closed: a new ticket opens */
	execute(4);
}

static void test_modify_and_pending(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	pol.reverse = true;
	gt_signal_buy(&s, &key, 1);
	s.env.order_type = GUARD_ORDER_BUY_LIMIT;
	s.env.price = 109000;
	s.env.sl = 108500;
	s.env.tp = 110000;
	gt_seal(&s, &key);
	view.wallet.balance = 0; /* pending orders add exposure: funds checked */
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_INSUFFICIENT_FUNDS);
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_SYNCED), 0);
	view.wallet.balance = 1000 * GUARD_MONEY_SCALE;
	gt_signal_buy(&s, &key, 2);
	s.env.order_type = GUARD_ORDER_BUY_LIMIT;
	s.env.price = 109000;
	s.env.sl = 108500;
	s.env.tp = 110000;
	gt_seal(&s, &key);
	v = check(&s); /* far from market: no price check for pending orders */
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.order.type, GUARD_ORDER_SELL_STOP);
	CU_ASSERT_EQUAL(v.order.price, 109000);
	CU_ASSERT_EQUAL(v.order.sl, 110000);
	CU_ASSERT_EQUAL(v.order.tp, 108500);
}

/*
 * Issue 18: a forged signal of each kind is reported INVALID_SIGNATURE whatever else
 * it fails (replay, gap, locked state, stale, price, unknown instrument, funds,
 * filtered), never changes state, and costs -40 (guard_trust_event_of).
 */
static void forged_is_invalid_signature(struct gt_signal *s)
{
	struct guard_verdict v;

	gt_seal(s, &other_key);
	v = check_no_change(s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_FALSE(v.authenticated);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_INVALID_SIGNATURE);
	CU_ASSERT_EQUAL(guard_trust_delta(guard_trust_event_of(&v)), -40);
}

static void test_forged_each_kind(void)
{
	struct gt_signal s;

	fresh(); /* replay */
	execute(1);
	gt_signal_buy(&s, &key, 1);
	forged_is_invalid_signature(&s);
	fresh(); /* gap */
	gt_signal_buy(&s, &key, 7);
	forged_is_invalid_signature(&s);
	fresh(); /* state locked */
	CU_ASSERT_EQUAL(guard_sub_set_state(&sub, GUARD_STATE_PAUSED_TOXIC), 0);
	gt_signal_buy(&s, &key, 1);
	forged_is_invalid_signature(&s);
	fresh(); /* stale */
	gt_signal_buy(&s, &key, 1);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	forged_is_invalid_signature(&s);
	fresh(); /* price */
	view.quote.ask = 120000;
	gt_signal_buy(&s, &key, 1);
	forged_is_invalid_signature(&s);
	fresh(); /* unknown instrument */
	gt_signal_buy(&s, &key, 1);
	memcpy(s.env.symbol, "US30", 5);
	forged_is_invalid_signature(&s);
	fresh(); /* funds */
	view.wallet.balance = 0;
	gt_signal_buy(&s, &key, 1);
	forged_is_invalid_signature(&s);
	fresh(); /* filtered */
	pol.type_mask &= ~GUARD_ORDER_BIT(GUARD_ORDER_BUY);
	gt_signal_buy(&s, &key, 1);
	forged_is_invalid_signature(&s);
}

/* Price deviation compared exactly (issue 18): USDJPY at 3.009 pips fails a 3-pip limit
 * (it passed when the deviation was truncated to 1/100 pip). */
static void jpy_buy(struct gt_signal *s, uint64_t seq, int64_t ask)
{
	gt_signal_buy(s, &key, seq);
	memcpy(s->env.symbol, "USDJPY", 7);
	s->env.price = 15000000; /* 150.000 */
	s->env.sl = 0;
	s->env.tp = 0;
	gt_seal(s, &key);
	view.quote.ask = ask;
	view.quote.bid = ask - 2000;
}

static void test_price_boundary_exact(void)
{
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	jpy_buy(&s, 1, 15003009); /* boundary: 3.009 pips over a 3-pip limit */
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_PRICE_DEVIATION);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 301); /* rounded up: over the limit */
	jpy_buy(&s, 2, 15003000); /* boundary: exactly 3.000 pips passes */
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.deviation_pips_x100, 300);
	jpy_buy(&s, 3, 15003001); /* boundary: one price unit over */
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);
	jpy_buy(&s, 4, 14996991); /* below the price: 3.009 pips under */
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);
	/* EURUSD: 3.1 points over 3 pips (30 units) */
	gt_signal_buy(&s, &key, 5);
	view.quote.ask = 110031;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_PRICE_DEVIATION);
	gt_signal_buy(&s, &key, 6);
	view.quote.ask = 110030; /* boundary: exactly 3 pips */
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
}

/* An instrument the registry does not know: its own reason, not a price deviation, not
 * scored; known once the registry has it. */
static void test_unknown_instrument(void)
{
	static const struct guard_instrument us30 = {"US30", 2, 1000, 100000, 1};
	struct guard_instruments reg = {&us30, 1};
	struct gt_signal s;
	struct guard_verdict v;

	fresh();
	gt_signal_buy(&s, &key, 1);
	memcpy(s.env.symbol, "US30", 5);
	s.env.price = 3400000000; /* 34000.00, quote equal to the signal price */
	s.env.sl = 0;
	s.env.tp = 0;
	gt_seal(&s, &key);
	view.quote.ask = view.quote.bid = s.env.price;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_UNKNOWN_INSTRUMENT);
	CU_ASSERT_TRUE(v.authenticated);
	CU_ASSERT_EQUAL(guard_trust_event_of(&v), GUARD_TRUST_UNKNOWN_INSTRUMENT);
	CU_ASSERT_EQUAL(guard_trust_delta(guard_trust_event_of(&v)), 0);
	CU_ASSERT_STRING_EQUAL(guard_reason_name(GUARD_REASON_UNKNOWN_INSTRUMENT),
			       "UNKNOWN_INSTRUMENT");
	/* a CLOSE needs no instrument data: it passes */
	gt_signal_buy(&s, &key, 2);
	memcpy(s.env.symbol, "US30", 5);
	s.env.order_type = GUARD_ORDER_CLOSE;
	gt_seal(&s, &key);
	view.position.open = true;
	view.position.volume = view.position.master_volume = 100;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	view.position.open = false; /* closed: the openings below are new tickets */
	/* no registry at all: unknown */
	view.instruments = NULL;
	gt_signal_buy(&s, &key, 3);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_UNKNOWN_INSTRUMENT);
	/* the registry learns it */
	view.instruments = &reg;
	gt_signal_buy(&s, &key, 4);
	memcpy(s.env.symbol, "us30.cash", 10);
	s.env.price = 3400000000;
	s.env.sl = s.env.tp = 0;
	gt_seal(&s, &key);
	view.quote.ask = view.quote.bid = s.env.price;
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_UNKNOWN_INSTRUMENT); /* no base rule */
	s.env.sequence = 5; /* 4 was consumed by the refusal */
	memcpy(s.env.symbol, "us30", 5);
	gt_seal(&s, &key);
	CU_ASSERT_EQUAL(check(&s).reason, GUARD_REASON_NONE);
	/* risk-percent sizing needs the registry's pip: an unknown instrument is reported as
	 * such (the trust role's ALERT and counter), not as the policy's SIZING */
	pol.lot_mode = GUARD_LOT_RISK_PERCENT;
	pol.risk_bp = 100;
	gt_signal_buy(&s, &key, 6);
	memcpy(s.env.symbol, "USDSEK", 7); /* two currencies, not in the registry */
	gt_seal(&s, &key);
	view.instruments = guard_instruments_builtin();
	view.quote.ask = view.quote.bid = s.env.price;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_UNKNOWN_INSTRUMENT);
	CU_ASSERT_EQUAL(v.filter, GUARD_FILTER_NONE);
	/* known, without an SL: still the policy's SIZING */
	gt_signal_buy(&s, &key, 7);
	s.env.sl = 0;
	gt_seal(&s, &key);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(v.filter, GUARD_FILTER_SIZING);
}

/* Registry entries: the built-in set is valid, lookups strip broker decorations. */
static void test_instrument_registry(void)
{
	const struct guard_instruments *b = guard_instruments_builtin();
	struct guard_instrument in = {"USDJPY", 3, 100, 1000, 100000};

	CU_ASSERT_TRUE(b->n >= 28);
	for (size_t i = 0; i < b->n; i++)
		CU_ASSERT_EQUAL(guard_instrument_valid(&b->v[i]), 0);
	CU_ASSERT_PTR_NOT_NULL(guard_instrument_find(b, "eurusd.m"));
	CU_ASSERT_EQUAL(guard_instrument_find(b, "USDJPY.pro")->pip, 1000);
	CU_ASSERT_EQUAL(guard_instrument_find(b, "XAUUSD")->digits, 2);
	CU_ASSERT_PTR_NULL(guard_instrument_find(b, "US30"));
	CU_ASSERT_PTR_NULL(guard_instrument_find(NULL, "EURUSD"));
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), 0);
	in.point = 10; /* not 10^(5 - digits) */
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), -EINVAL);
	in.point = 100;
	in.pip = 150; /* not a multiple of the point */
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), -EINVAL);
	in.pip = 1000;
	in.digits = 6; /* boundary: more digits than the price scale */
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), -EINVAL);
	in.digits = 3;
	in.contract_size = 0;
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), -EINVAL);
	in.contract_size = 1;
	memcpy(in.symbol, "usdjpy", 7); /* upper case only */
	CU_ASSERT_EQUAL(guard_instrument_valid(&in), -EINVAL);
	CU_ASSERT_EQUAL(guard_instrument_valid(NULL), -EINVAL);
}

/* Issue 18: every stale signal is refused; the verdict says whose delay it was. */
static void test_ttl_attribution(void)
{
	const int64_t ms = GUARD_NS_PER_MS;
	struct {
		int64_t arrival_ago, send_after; /* ms before now; ms after the arrival (-1: 0) */
		bool replay;
		uint32_t want;
	} c[] = {
		{700, 10, false, GUARD_ATTRIBUTION_SUBSCRIBER},        /* sent at once, late link */
		{700, 250, false, GUARD_ATTRIBUTION_SUBSCRIBER},       /* boundary: exactly TTL/2 */
		{700, 251, false, GUARD_ATTRIBUTION_PLATFORM_LATE_SEND}, /* boundary: just over */
		{700, 600, false, GUARD_ATTRIBUTION_PLATFORM_LATE_SEND}, /* sent already stale */
		{700, 10, true, GUARD_ATTRIBUTION_PLATFORM_REPLAY},    /* a replay */
		{700, -1, false, GUARD_ATTRIBUTION_UNSPECIFIED},       /* no send stamp */
		{700, -700, false, GUARD_ATTRIBUTION_UNSPECIFIED},     /* sent before arrival */
	};
	struct gt_signal s;
	struct guard_verdict v;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		fresh();
		gt_signal_buy(&s, &key, 1);
		s.env.server_arrival_ns = GT_NOW - c[i].arrival_ago * ms;
		s.env.fanout_send_ns = c[i].send_after == -1 ? 0
				       : s.env.server_arrival_ns + c[i].send_after * ms;
		s.env.replay = c[i].replay;
		v = check(&s);
		CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED); /* refused, whoever's delay */
		CU_ASSERT_EQUAL(v.attribution, c[i].want);
	}
	/* late is against the platform's 250 ms, whatever this subscriber's TTL: with 300 ms
	 * a send 200 ms after arrival is the subscriber's (the server would refute a claim),
	 * with 2 s one 300 ms after is the platform's */
	{
		static const struct {
			int64_t ttl, arrival_ago, send_after;
			uint32_t want;
		} t[] = {{300, 400, 200, GUARD_ATTRIBUTION_SUBSCRIBER},
			 {2000, 2500, 300, GUARD_ATTRIBUTION_PLATFORM_LATE_SEND}};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			fresh();
			sub.ttl_ns = t[i].ttl * ms;
			gt_signal_buy(&s, &key, 1);
			s.env.server_arrival_ns = GT_NOW - t[i].arrival_ago * ms;
			s.env.fanout_send_ns = s.env.server_arrival_ns + t[i].send_after * ms;
			v = check(&s);
			CU_ASSERT_EQUAL(v.reason, GUARD_REASON_TTL_EXPIRED);
			CU_ASSERT_EQUAL(v.attribution, t[i].want);
		}
	}
	/* a fresh signal has no attribution; a forged stale one neither */
	fresh();
	gt_signal_buy(&s, &key, 1);
	s.env.replay = true;
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_EQUAL(v.attribution, GUARD_ATTRIBUTION_UNSPECIFIED);
	gt_signal_buy(&s, &key, 2);
	s.env.server_arrival_ns = GT_NOW - 5 * GUARD_NS_PER_S;
	s.env.replay = true;
	gt_seal(&s, &other_key);
	v = check(&s);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
	CU_ASSERT_EQUAL(v.attribution, GUARD_ATTRIBUTION_UNSPECIFIED);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"execute", test_execute},
		{"reason REPLAY", test_reason_replay},
		{"reason SEQUENCE_GAP, full sync resumes", test_reason_gap_and_sync},
		{"reason STATE_LOCKED", test_reason_state_locked},
		{"reason TTL_EXPIRED", test_reason_ttl},
		{"TTL boundary (500 ms) and configurable", test_ttl_boundary},
		{"TTL_EXPIRED attribution: subscriber, late send, replay", test_ttl_attribution},
		{"reason PRICE_DEVIATION, buy ask / sell bid", test_reason_price},
		{"price deviation JPY pip 0.01, broker suffix", test_price_jpy},
		{"reason INSUFFICIENT_FUNDS, LOCKED_NO_FUNDS", test_reason_funds},
		{"funds not needed to close", test_funds_not_for_close},
		{"reason INVALID_SIGNATURE", test_reason_signature},
		{"reason FILTERED", test_reason_filtered},
		{"reason MALFORMED", test_reason_malformed},
		{"several failures: first in seed order wins", test_first_failure_wins},
		{"forged: wrong key", test_forged_wrong_key},
		{"forged: truncated signature/body", test_forged_truncated},
		{"forged: valid signature over another body", test_forged_other_body},
		{"forged: gap does not degrade", test_forged_gap_no_degrade},
		{"forged: replayed valid signal", test_forged_replay_of_valid},
		{"forged of each kind: INVALID_SIGNATURE, -40, no change", test_forged_each_kind},
		{"price deviation exact: boundary 3.009 / 3.000 pips", test_price_boundary_exact},
		{"reason UNKNOWN_INSTRUMENT until the registry knows it", test_unknown_instrument},
		{"instrument registry entries and lookups", test_instrument_registry},
		{"exactly-once across reconnect and restart", test_exactly_once_reconnect},
		{"TTL: an estimate whose error bound exceeds the TTL fails closed", test_clock_error_bound},
		{"TTL: a signal from the future beyond the clock's tolerance", test_clock_future_beyond_bound},
		{"clock skew +10 s", test_clock_skew_ahead},
		{"clock skew -10 s", test_clock_skew_behind},
		{"equity protection in the pipeline", test_equity_protection},
		{"pending order reversed, no price check", test_modify_and_pending},
		{NULL, NULL},
	};
	int rc;

	gt_key_new(&key);
	gt_key_new(&other_key);
	rc = gt_run("guard_check", tests);
	gt_key_free(&key);
	gt_key_free(&other_key);
	return rc;
}
