/*
 * fuzz_guard_envelope: arbitrary bytes as an envelope for guard_signal_check().
 *
 * Byte 0 selects the mode:
 *   even  the rest is a ServerMessage on the wire, decoded with protobuf-c (proto) and
 *         adapted (guard_envelope_from_proto); signatures are whatever the bytes say.
 *   odd   the rest is parsed as raw envelope fields (sequence offset, type, prices,
 *         clock, wallet, policy switches, symbol, body) and the body is SIGNED with the
 *         subscription's key, so the authenticated paths run with hostile field values.
 * Then several checks run against one subscription. Asserted after every check: no
 * crash (ASan/UBSan), the state invariants hold, the state changed only if the
 * signature verified, and a sequence is executed at most once.
 */
#include <stdlib.h>
#include <string.h>

#include "guard_proto.h"
#include "guard_test_util.h"
#include "proto_arena.h"
#include "proto_msg.h"

static struct gt_key key;
static bool ready;
static uint8_t arena_buf[PROTO_ARENA_MIN_FOR(4096)];
static struct proto_arena arena;

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct reader *r, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes; i++) {
		v = (v << 8) | (r->n ? *r->p : 0);
		if (r->n) {
			r->p++;
			r->n--;
		}
	}
	return v;
}

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void run_check(struct guard_sub *sub, const struct guard_policy *pol,
		      const struct guard_clock *clk, const struct guard_envelope *env,
		      const struct guard_view *view)
{
	struct guard_sub_state before = sub->st;
	struct guard_verdict v;

	require(guard_signal_check(sub, pol, clk, env, view, &v) == 0);
	require(guard_sub_state_valid(&sub->st));
	if (!v.authenticated)
		require(memcmp(&before, &sub->st, sizeof(before)) == 0 && !v.committed);
	if (v.reason == GUARD_REASON_NONE) {
		require(v.authenticated);
		require(env->sequence > before.last_seq); /* never a second execution */
		require(sub->st.executed == before.executed + 1);
	} else {
		require(sub->st.executed == before.executed);
	}
}

static void fuzz_raw(struct reader *r, struct guard_sub *sub, struct guard_policy *pol,
		     struct guard_clock *clk, struct guard_view *view)
{
	static struct gt_signal s;
	uint8_t sw = (uint8_t)take(r, 1);
	size_t symlen, bodylen;

	memset(&s, 0, sizeof(s));
	s.env.master_id = (sw & 1) ? GT_MASTER : take(r, 1);
	s.env.sequence = sub->st.last_seq + (uint64_t)(int8_t)take(r, 1);
	s.env.order_type = (uint32_t)take(r, 1) % 12;
	s.env.volume = (int64_t)take(r, 4) - 1000;
	s.env.price = (int64_t)take(r, 4);
	s.env.sl = (int64_t)take(r, 4);
	s.env.tp = (int64_t)take(r, 4);
	s.env.position_ticket = take(r, 2);
	s.env.server_arrival_ns = GT_NOW - (int64_t)(int16_t)take(r, 2) * GUARD_NS_PER_MS;
	symlen = take(r, 1) % GUARD_SYMBOL_MAX;
	for (size_t i = 0; i < symlen; i++)
		s.env.symbol[i] = (char)take(r, 1);
	s.env.symbol[symlen] = '\0';

	view->quote.bid = (int64_t)take(r, 4);
	view->quote.ask = view->quote.bid + (int64_t)take(r, 1);
	view->wallet.balance = (int64_t)(int32_t)take(r, 4);
	view->equity = (int64_t)(int32_t)take(r, 4);
	view->spec.vol_step = (int64_t)take(r, 1);
	view->spec.vol_min = (int64_t)take(r, 1);
	view->position.open = sw & 2;
	view->position.volume = (int64_t)take(r, 2);
	view->position.master_volume = (int64_t)take(r, 2);
	pol->reverse = sw & 4;
	pol->lot_mode = 1 + (sw >> 3) % 4;
	pol->lot_fixed = (int64_t)take(r, 1);
	pol->lot_multiplier_milli = (int64_t)take(r, 2);
	pol->master_equity = (int64_t)take(r, 4);
	pol->risk_bp = (int64_t)take(r, 2);
	pol->max_drawdown_bp = (sw & 0x80) ? 500 : 0;

	bodylen = take(r, 1);
	bodylen = bodylen < r->n ? bodylen : r->n;
	memcpy(s.body, r->p, bodylen < sizeof(s.body) ? bodylen : sizeof(s.body));
	s.env.body = s.body;
	s.env.body_len = bodylen < sizeof(s.body) ? bodylen : sizeof(s.body);
	gt_sign(&key, s.body, s.env.body_len, s.sig);
	s.env.sig = s.sig;
	s.env.sig_len = (sw & 0x40) ? 63 : 64;
	r->p += bodylen;
	r->n -= bodylen;

	run_check(sub, pol, clk, &s.env, view);
	run_check(sub, pol, clk, &s.env, view); /* the same again: a replay */
}

static void fuzz_wire(const uint8_t *p, size_t n, struct guard_sub *sub,
		      const struct guard_policy *pol, const struct guard_clock *clk,
		      const struct guard_view *view)
{
	Decp__ServerMessage *m;
	struct guard_envelope env;

	proto_arena_reset(&arena);
	m = proto_server_message_decode(p, n, proto_arena_allocator(&arena));
	if (!m || m->kind_case != DECP__SERVER_MESSAGE__KIND_ENVELOPE)
		return;
	if (guard_envelope_from_proto(m->envelope, proto_arena_allocator(&arena), &env) != 0)
		return;
	run_check(sub, pol, clk, &env, view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guard_sub sub;
	struct guard_policy pol;
	struct guard_clock clk;
	struct guard_view view;
	struct reader r = {data, size};

	if (!ready) {
		gt_key_new(&key);
		require(proto_arena_init(&arena, arena_buf, sizeof(arena_buf)) == 0);
		ready = true;
	}
	if (size < 1)
		return 0;
	gt_sub(&sub, &key);
	sub.st.last_seq = 100;
	guard_policy_init(&pol);
	gt_clock(&clk, 0);
	gt_view(&view, 0);
	if (data[0] & 1) {
		r.p++;
		r.n--;
		while (r.n > 0)
			fuzz_raw(&r, &sub, &pol, &clk, &view);
	} else {
		fuzz_wire(data + 1, size - 1, &sub, &pol, &clk, &view);
	}
	return 0;
}
