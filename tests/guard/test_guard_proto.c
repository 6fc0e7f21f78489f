/*
 * test_guard_proto: the proto adapter end to end with real wire bytes. A Signal sealed
 * by proto (HMAC + Ed25519), wrapped in an Envelope inside a ServerMessage, packed,
 * decoded with protobuf-c, adapted and checked; tampered routing copies, forged
 * signatures and TimePong samples.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "guard_proto.h"
#include "guard_test_util.h"
#include "guard_wire.h"
#include "proto_arena.h"
#include "proto_msg.h"
#include "proto_signal.h"

static struct gt_key key;
static struct proto_ed25519_key *master_sk, *other_sk;
static struct proto_hmac_key hk;
static uint8_t arena_buf[64 * 1024];
static struct proto_arena arena;

/* Wire bytes of a ServerMessage{Envelope} carrying a BUY signal sealed with sk. */
static size_t wire_envelope(const struct proto_ed25519_key *sk, uint64_t seq,
			    uint64_t routing_seq, uint8_t *out, size_t cap)
{
	Decp__Signal s = DECP__SIGNAL__INIT;
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	Decp__Envelope e = DECP__ENVELOPE__INIT;
	Decp__ServerMessage m = DECP__SERVER_MESSAGE__INIT;
	struct proto_sealed_signal sealed;
	ssize_t n;

	s.master_id = GT_MASTER;
	s.sequence = seq;
	s.symbol = "EURUSD.m";
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s.volume = 100;
	s.price = 110000;
	s.sl = 109500;
	s.tp = 111000;
	s.position_ticket = 555;
	s.master_time_ns = GT_NOW - 150 * GUARD_NS_PER_MS;
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	proto_sealed_signal_view(&sealed, &ss);
	e.signal = &ss;
	e.server_arrival_ns = GT_NOW - 100 * GUARD_NS_PER_MS;
	e.master_id = GT_MASTER;
	e.sequence = routing_seq;
	m.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
	m.envelope = &e;
	n = proto_msg_frame_pack(&m.base, cap - 4, out, cap);
	CU_ASSERT_FATAL(n > 4);
	return (size_t)n;
}

static Decp__Envelope *decode(const uint8_t *frame, size_t n)
{
	Decp__ServerMessage *m;

	proto_arena_reset(&arena);
	m = proto_server_message_decode(frame + 4, n - 4, proto_arena_allocator(&arena));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL_FATAL(m->kind_case, DECP__SERVER_MESSAGE__KIND_ENVELOPE);
	return m->envelope;
}

static void test_wire_to_execute(void)
{
	uint8_t frame[1024];
	size_t n = wire_envelope(master_sk, 1, 1, frame, sizeof(frame));
	struct guard_envelope env;
	struct guard_sub sub;
	struct guard_policy pol;
	struct guard_clock clk;
	struct guard_view view;
	struct guard_verdict v;

	gt_sub(&sub, &key);
	guard_policy_init(&pol);
	gt_clock(&clk, 3 * GUARD_NS_PER_S);
	gt_view(&view, 3 * GUARD_NS_PER_S);
	CU_ASSERT_EQUAL_FATAL(guard_envelope_from_proto(decode(frame, n),
							proto_arena_allocator(&arena), &env), 0);
	CU_ASSERT_EQUAL(env.sequence, 1);
	CU_ASSERT_STRING_EQUAL(env.symbol, "EURUSD.m");
	CU_ASSERT_EQUAL(env.order_type, GUARD_ORDER_BUY);
	CU_ASSERT_EQUAL(env.sig_len, 64);
	CU_ASSERT_EQUAL(guard_signal_check(&sub, &pol, &clk, &env, &view, &v), 0);
	CU_ASSERT_EQUAL(v.reason, GUARD_REASON_NONE);
	CU_ASSERT_TRUE(v.authenticated);
	CU_ASSERT_EQUAL(v.age_ns, 100 * GUARD_NS_PER_MS);
	CU_ASSERT_STRING_EQUAL(v.order.symbol, "EURUSD");

	/* forged by another key: same pipeline, refused, nothing changes */
	n = wire_envelope(other_sk, 2, 2, frame, sizeof(frame));
	CU_ASSERT_EQUAL_FATAL(guard_envelope_from_proto(decode(frame, n),
							proto_arena_allocator(&arena), &env), 0);
	{
		struct guard_sub_state before = sub.st;

		CU_ASSERT_EQUAL(guard_signal_check(&sub, &pol, &clk, &env, &view, &v), 0);
		CU_ASSERT_EQUAL(v.reason, GUARD_REASON_INVALID_SIGNATURE);
		CU_ASSERT_EQUAL(memcmp(&before, &sub.st, sizeof(before)), 0);
	}
}

static void test_routing_mismatch(void)
{
	uint8_t frame[1024];
	size_t n = wire_envelope(master_sk, 5, 6, frame, sizeof(frame));
	struct guard_envelope env;

	CU_ASSERT_EQUAL(guard_envelope_from_proto(decode(frame, n),
						  proto_arena_allocator(&arena), &env),
			-EPROTO);
	CU_ASSERT_EQUAL(env.body, NULL);
	CU_ASSERT_EQUAL(guard_envelope_from_proto(NULL, NULL, &env), -EINVAL);
}

static void test_garbage_body(void)
{
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	Decp__Envelope e = DECP__ENVELOPE__INIT;
	struct guard_envelope env;
	uint8_t junk[] = {0xff, 0xff, 0xff, 0x01, 0x02};

	CU_ASSERT_EQUAL(guard_envelope_from_proto(&e, NULL, &env), -EPROTO); /* no signal */
	e.signal = &ss;
	CU_ASSERT_EQUAL(guard_envelope_from_proto(&e, NULL, &env), -EPROTO); /* empty body */
	ss.body.data = junk;
	ss.body.len = sizeof(junk);
	CU_ASSERT_EQUAL(guard_envelope_from_proto(&e, NULL, &env), -EPROTO);
}

static void test_time_pong(void)
{
	Decp__TimePong p = DECP__TIME_PONG__INIT;
	struct guard_clock c;
	int64_t now, err;

	guard_clock_init(&c, 0);
	p.client_send_ns = 1000 * GUARD_NS_PER_MS;
	p.server_recv_ns = 5000 * GUARD_NS_PER_MS;
	p.server_send_ns = 5001 * GUARD_NS_PER_MS;
	CU_ASSERT_EQUAL(guard_clock_add_pong(&c, &p, 1003 * GUARD_NS_PER_MS), 0);
	CU_ASSERT_EQUAL(guard_clock_server_now(&c, 1003 * GUARD_NS_PER_MS, &now, &err), 0);
	CU_ASSERT_EQUAL(now, 5002 * GUARD_NS_PER_MS);
	CU_ASSERT_EQUAL(err, 1 * GUARD_NS_PER_MS);
	CU_ASSERT_EQUAL(guard_clock_add_pong(&c, NULL, 0), -EINVAL);
}

/* The one conversion of the server's policy (guard_wire.h), and guard_policy_from_proto
 * through it: the same struct for both receivers; version 0, empty entries and a policy
 * guard_policy_valid refuses give -EPROTO with out zeroed. */
static void test_policy_wire(void)
{
	Decp__CopyPolicy m = DECP__COPY_POLICY__INIT;
	Decp__CopyPolicy__SymbolMap sm = DECP__COPY_POLICY__SYMBOL_MAP__INIT, *smp = &sm;
	char *deny[1] = {(char *)"US30"};
	struct proto_wire_copy_policy w;
	struct guard_policy a, b;
	uint8_t buf[512];
	size_t n;

	m.master_id = 7;
	m.version = 3;
	m.lot_mode = DECP__COPY_POLICY__LOT_MODE__LOT_MODE_FIXED;
	m.lot_fixed = 5;
	m.order_type_mask = 0x3fe;
	m.suffix = (char *)".m";
	sm.from = (char *)"XAUUSD";
	sm.to = (char *)"GOLD.r";
	m.symbol_map = &smp;
	m.n_symbol_map = 1;
	m.symbols_deny = deny;
	m.n_symbols_deny = 1;
	m.max_deviation_pips_x100 = 250;
	n = decp__copy_policy__pack(&m, buf);
	CU_ASSERT_EQUAL_FATAL(proto_wire_copy_policy_decode(buf, n, &w), 0);
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), 0);
	CU_ASSERT_EQUAL(guard_policy_from_proto(&m, &b), 0);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof(a)), 0);
	CU_ASSERT_TRUE(a.version == 3 && a.lot_mode == GUARD_LOT_FIXED && a.lot_fixed == 5 &&
		       a.map_count == 1 && strcmp(a.map[0].to, "GOLD.r") == 0 &&
		       a.deny_count == 1 && strcmp(a.suffix, ".m") == 0 &&
		       a.max_deviation_pips_x100 == 250);
	w.version = 0;
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), -EPROTO);
	CU_ASSERT_EQUAL(a.version, 0);
	w.version = (uint64_t)INT64_MAX + 1; /* above the database's bigint (fuzz_dll found it) */
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), -EPROTO);
	w.version = (uint64_t)INT64_MAX;
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), 0);
	w.version = 3;
	w.symbols_deny[0][0] = '\0'; /* an empty entry */
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), -EPROTO);
	w.symbols_deny[0][0] = 'U';
	w.lot_fixed = 0; /* FIXED without lots: guard_policy_valid refuses it */
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, &a), -EPROTO);
	CU_ASSERT_EQUAL(guard_policy_from_wire(NULL, &a), -EINVAL);
	CU_ASSERT_EQUAL(guard_policy_from_wire(&w, NULL), -EINVAL);
	sm.to = (char *)"GOLD r"; /* outside proto_wire's symbol bytes */
	CU_ASSERT_EQUAL(guard_policy_from_proto(&m, &b), -EPROTO);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"CopyPolicy: one conversion for both receivers", test_policy_wire},
		{"wire bytes -> envelope -> execute; forged refused", test_wire_to_execute},
		{"routing copy disagrees with the signed body", test_routing_mismatch},
		{"garbage bodies", test_garbage_body},
		{"TimePong sample", test_time_pong},
		{NULL, NULL},
	};
	static const uint8_t secret[32] = "decp test hmac secret 0123456789";
	int rc;

	gt_key_new(&key);
	master_sk = proto_ed25519_key_new_private(key.seed);
	{
		struct gt_key other;

		gt_key_new(&other);
		other_sk = proto_ed25519_key_new_private(other.seed);
		gt_key_free(&other);
	}
	if (!master_sk || !other_sk || proto_hmac_key_init(&hk, secret, sizeof(secret)) != 0 ||
	    proto_arena_init(&arena, arena_buf, sizeof(arena_buf)) != 0)
		return 2;
	rc = gt_run("guard_proto", tests);
	proto_ed25519_key_free(master_sk);
	proto_ed25519_key_free(other_sk);
	proto_hmac_key_wipe(&hk);
	gt_key_free(&key);
	return rc;
}
