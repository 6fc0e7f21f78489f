/*
 * dp_ack_frame.h: the fixed-layout Ack frame encoder writes exactly the bytes protobuf-c
 * writes (proto_msg_frame_pack of IngestFrame{ack}) for zero, boundary (every varint length
 * 1..10, sign bits, INT64_MIN/MAX, UINT64_MAX) and 200,000 seeded random values of every
 * field, statuses 0..2 and out-of-range/negative enums. The decoded frame is checked too.
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

#include "decp.pb-c.h"
#include "dp_ack_frame.h"
#include "proto_msg.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A value with a random bit length 0..64, so every varint length is hit often. */
static uint64_t rnd_len(void)
{
	unsigned int bits = (unsigned int)(rnd() % 65);
	return bits == 0 ? 0 : bits == 64 ? rnd() : rnd() & ((1ull << bits) - 1);
}

static unsigned int compared;

static void same_as_protobuf_c(uint64_t seq, int64_t arrival, int32_t status)
{
	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__Ack a = DECP__ACK__INIT;
	a.sequence = seq;
	a.server_arrival_ns = arrival;
	a.status = (Decp__Ack__Status)status;
	f.kind_case = DECP__INGEST_FRAME__KIND_ACK;
	f.ack = &a;
	uint8_t ref[128], fast[DP_ACK_FRAME_MAX + 8];
	ssize_t rn = proto_msg_frame_pack(&f.base, 4096, ref, sizeof(ref));
	memset(fast, 0xa5, sizeof(fast));
	size_t fn = dp_ack_frame_encode(fast, seq, arrival, status);
	CU_ASSERT_FATAL(rn > 0);
	CU_ASSERT_FATAL(fn <= DP_ACK_FRAME_MAX);
	CU_ASSERT_EQUAL_FATAL((size_t)rn, fn);
	CU_ASSERT_FATAL(memcmp(ref, fast, fn) == 0);
	CU_ASSERT_EQUAL(fast[fn], 0xa5); /* nothing written past the frame */
	compared++;
}

static void test_boundaries(void)
{
	static const int32_t statuses[] = {0, 1, 2, 3, 127, 128, -1, INT32_MIN, INT32_MAX};
	uint64_t vals[80];
	unsigned int n = 0;
	vals[n++] = 0;
	for (unsigned int b = 0; b < 64; b++)
		vals[n++] = 1ull << b;
	for (unsigned int b = 7; b < 64; b += 7)
		vals[n++] = (1ull << b) - 1;
	vals[n++] = UINT64_MAX;
	vals[n++] = (uint64_t)INT64_MAX;
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < n; j += 3)
			for (unsigned int k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++)
				same_as_protobuf_c(vals[i], (int64_t)vals[j], statuses[k]);
	same_as_protobuf_c(1, INT64_MIN, 1);
	same_as_protobuf_c(1, -1, 2);
}

static void test_random(void)
{
	for (unsigned int i = 0; i < 200000; i++) {
		uint64_t s = rnd_len();
		int64_t t = (int64_t)rnd_len();
		if (rnd() % 8 == 0)
			t = -t;
		same_as_protobuf_c(s, t, (int32_t)(rnd() % 3));
	}
	/* Realistic values: sequences from 1, CLOCK_REALTIME stamps of 2026. */
	for (uint64_t s = 1; s < 20000; s++)
		same_as_protobuf_c(s, 1795000000000000000ll + (int64_t)(rnd() % 1000000000ull),
				   1 + (int32_t)(s % 2));
}

static void test_decodes(void)
{
	uint8_t b[DP_ACK_FRAME_MAX];
	size_t n = dp_ack_frame_encode(b, 123456789, 1795000000123456789ll, 2);
	CU_ASSERT_EQUAL_FATAL(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], (int)(n - 4));
	Decp__IngestFrame *f = proto_ingest_frame_decode(b + 4, n - 4, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(f->kind_case, DECP__INGEST_FRAME__KIND_ACK);
	CU_ASSERT_EQUAL(f->ack->sequence, 123456789);
	CU_ASSERT_EQUAL(f->ack->server_arrival_ns, 1795000000123456789ll);
	CU_ASSERT_EQUAL(f->ack->status, DECP__ACK__STATUS__STATUS_DUPLICATE);
	proto_msg_free(&f->base, NULL);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dp_ack_frame", NULL, NULL);
	CU_add_test(s, "boundary values equal protobuf-c", test_boundaries);
	CU_add_test(s, "random values equal protobuf-c", test_random);
	CU_add_test(s, "decodes with protobuf-c", test_decodes);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int fails = CU_get_number_of_failures();
	printf("frames compared: %u\n", compared);
	CU_cleanup_registry();
	return fails == 0 && compared > 200000 ? 0 : 1;
}
