/*
 * test_fanout_deliv: CUnit tests of the fan-out's per-connection stamps and delivery runs
 * (controlplane/fanout/cp_fanout_msg.h cp_fmsg_stamp, cp_fanout_deliv.h): a stamped
 * envelope decodes with protobuf-c and with proto_wire to the stamps written, restamping
 * the shared bytes changes nothing else, and runs break, grow and snapshot as the
 * contract says. Pure logic: no sockets.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_fanout_deliv.h"
#include "cp_fanout_msg.h"
#include "decp.pb-c.h"
#include "proto_wire.h"

static const uint8_t k_body[] = {0x08, 0x07, 0x10, 0x2a, 0x1a, 0x06, 'E', 'U', 'R', 'U', 'S', 'D'};
static const uint8_t k_sig[64] = {1, 2, 3};

static void check_decoded(struct cp_fmsg *m, int64_t send_ns, bool replay)
{
	Decp__ServerMessage *sm =
		decp__server_message__unpack(NULL, m->len, cp_fmsg_payload(m));
	struct proto_wire_msg w, sig;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sm);
	CU_ASSERT_EQUAL_FATAL(sm->kind_case, DECP__SERVER_MESSAGE__KIND_ENVELOPE);
	CU_ASSERT_EQUAL(sm->envelope->master_id, 7);
	CU_ASSERT_EQUAL(sm->envelope->sequence, 42);
	CU_ASSERT_EQUAL(sm->envelope->server_arrival_ns, INT64_C(1700000000123456789));
	CU_ASSERT_EQUAL(sm->envelope->fanout_send_ns, send_ns);
	CU_ASSERT_EQUAL(sm->envelope->replay, replay);
	CU_ASSERT_EQUAL(sm->envelope->signal->body.len, sizeof(k_body));
	CU_ASSERT_EQUAL(memcmp(sm->envelope->signal->body.data, k_body, sizeof(k_body)), 0);
	decp__server_message__free_unpacked(sm, NULL);
	CU_ASSERT_EQUAL_FATAL(proto_wire_server_decode(cp_fmsg_payload(m), m->len, &w, &sig),
			      PROTO_SERVER_ENVELOPE);
	CU_ASSERT_EQUAL(w.v[5], (uint64_t)send_ns);
	CU_ASSERT_EQUAL(w.v[6], replay);
	CU_ASSERT_EQUAL(w.v[4], 42);
}

static void test_stamp(void)
{
	struct cp_fmsg *m = cp_fmsg_envelope_parts(7, 42, INT64_C(1700000000123456789), k_body,
						   sizeof(k_body), k_sig, sizeof(k_sig));
	const int64_t stamps[] = {INT64_C(1700000000987654321), 1, INT64_MAX, 127, 128};

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_NOT_EQUAL(m->stamp_off, 0);
	check_decoded(m, 0, false); /* as built: not stamped */
	for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
		uint32_t len = m->len;

		cp_fmsg_stamp(m, stamps[i], i % 2 == 0);
		CU_ASSERT_EQUAL(m->len, len); /* fixed width: the length never changes */
		check_decoded(m, stamps[i], i % 2 == 0);
	}
	cp_fmsg_unref(m);

	/* The same through the whole-SignedSignal builder; control messages have no stamps. */
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	uint8_t buf[256];
	size_t n;

	ss.body.data = (uint8_t *)k_body;
	ss.body.len = sizeof(k_body);
	ss.ed25519_sig.data = (uint8_t *)k_sig;
	ss.ed25519_sig.len = sizeof(k_sig);
	n = decp__signed_signal__pack(&ss, buf);
	m = cp_fmsg_envelope(7, 42, INT64_C(1700000000123456789), buf, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	cp_fmsg_stamp(m, 5, true);
	check_decoded(m, 5, true);
	cp_fmsg_unref(m);
	m = cp_fmsg_sync_end(7, 42);
	CU_ASSERT_EQUAL(m->stamp_off, 0);
	uint8_t before[64];
	memcpy(before, cp_fmsg_payload(m), m->len);
	cp_fmsg_stamp(m, 5, true); /* a no-op */
	CU_ASSERT_EQUAL(memcmp(before, cp_fmsg_payload(m), m->len), 0);
	cp_fmsg_unref(m);
}

static void test_runs(void)
{
	struct cp_deliv d = {0};
	struct cp_deliv_run out[2], r;
	const int64_t s = 1000000000; /* the snapshot period of the test: 1 s */

	CU_ASSERT_FALSE(cp_deliv_take(&d, &r)); /* nothing sent */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 10, false, false, 100, s, out), 0); /* a replay run starts */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 11, false, false, 200, s, out), 0);
	/* live after the replay: the replay run is closed and queued */
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 12, true, false, 300, s, out), 1);
	CU_ASSERT_EQUAL(out[0].first, 10);
	CU_ASSERT_EQUAL(out[0].last, 11);
	CU_ASSERT_FALSE(out[0].live);
	CU_ASSERT_EQUAL(out[0].first_ns, 100);
	CU_ASSERT_EQUAL(out[0].last_ns, 200);
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 13, true, false, 250, s, out), 0); /* clock stepped back */
	CU_ASSERT_TRUE_FATAL(cp_deliv_take(&d, &r)); /* a report: the open run */
	CU_ASSERT_EQUAL(r.first, 12);
	CU_ASSERT_EQUAL(r.last, 13);
	CU_ASSERT_TRUE(r.live);
	CU_ASSERT_EQUAL(r.last_ns, 300); /* never shrinks */
	CU_ASSERT_FALSE(cp_deliv_take(&d, &r)); /* unchanged since */
	/* a gap: the run taken already is not queued again; a new one starts */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 20, true, false, 400, s, out), 0);
	CU_ASSERT_EQUAL(d.open.first, 20);
	/* the period: a growing run is snapshotted once a period passed */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 21, true, false, 400 + s / 2, s, out), 0);
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 22, true, false, 400 + s, s, out), 1);
	CU_ASSERT_EQUAL(out[0].first, 20);
	CU_ASSERT_EQUAL(out[0].last, 22);
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 23, true, false, 400 + s + s / 2, s, out), 0);
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 24, true, false, 400 + 2 * s, s, out), 1);
	CU_ASSERT_EQUAL(out[0].last, 24);
	/* both at once: a break closes the grown run; the new one is not due yet */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 25, true, false, 401 + 2 * s, s, out), 0);
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 25, false, false, 402 + 2 * s, s, out), 1);
	CU_ASSERT_EQUAL(out[0].first, 20);
	CU_ASSERT_EQUAL(out[0].last, 25);
	CU_ASSERT_TRUE(out[0].live);
	/* the same sequence again (a replay of what went live) starts its own run */
	CU_ASSERT_TRUE_FATAL(cp_deliv_take(&d, &r));
	CU_ASSERT_EQUAL(r.first, 25);
	CU_ASSERT_FALSE(r.live);
	/* late sends (a stall) break an on-time run and make their own, and back */
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 30, true, false, 500 + 3 * s, s, out), 0);
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 31, true, false, 501 + 3 * s, s, out), 0);
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 32, true, true, 502 + 3 * s, s, out), 1);
	CU_ASSERT_EQUAL(out[0].first, 30);
	CU_ASSERT_EQUAL(out[0].last, 31);
	CU_ASSERT_FALSE(out[0].late);
	CU_ASSERT_EQUAL(cp_deliv_sent(&d, 33, true, true, 503 + 3 * s, s, out), 0);
	CU_ASSERT_EQUAL_FATAL(cp_deliv_sent(&d, 34, true, false, 504 + 3 * s, s, out), 1);
	CU_ASSERT_EQUAL(out[0].first, 32);
	CU_ASSERT_EQUAL(out[0].last, 33);
	CU_ASSERT_TRUE(out[0].late);
	CU_ASSERT_TRUE(out[0].live);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_fanout_deliv", NULL, NULL);
	CU_add_test(s, "envelope stamps: fixed width, decoded by protobuf-c and proto_wire",
		    test_stamp);
	CU_add_test(s, "delivery runs: break, grow, snapshot", test_runs);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
