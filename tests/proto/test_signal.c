/*
 * proto_signal + proto_arena: seal/open round trip, every single-bit change of
 * body, HMAC or signature rejected, validation rules, allocation-free decoding
 * from an arena and the arena size bound for worst-case frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_test_util.h"

static struct proto_hmac_key hk;
static struct proto_ed25519_key *sk, *pk, *other_pk;

static int setup(void)
{
	uint8_t seed[32], pub[32];

	if (proto_hmac_key_init(&hk, (const uint8_t *)"master-7-secret-0123456789abcdef", 32) != 0)
		return -1;
	memset(seed, 0x5a, sizeof(seed));
	if (proto_ed25519_public_from_seed(seed, pub) != 0)
		return -1;
	sk = proto_ed25519_key_new_private(seed);
	pk = proto_ed25519_key_new_public(pub);
	seed[0] ^= 1;
	if (proto_ed25519_public_from_seed(seed, pub) != 0)
		return -1;
	other_pk = proto_ed25519_key_new_public(pub);
	return sk != NULL && pk != NULL && other_pk != NULL ? 0 : -1;
}

static void sample(Decp__Signal *s)
{
	decp__signal__init(s);
	s->master_id = 7;
	s->sequence = 1234;
	s->symbol = "EURUSD";
	s->order_type = DECP__ORDER_TYPE__ORDER_TYPE_BUY;
	s->volume = 150;         /* 1.50 lots */
	s->price = 108345;       /* 1.08345 */
	s->sl = 108045;
	s->tp = 108945;
	s->position_ticket = 99887766;
	s->master_time_ns = 1763942400123456789LL;
}

static void test_seal_open_roundtrip(void)
{
	Decp__Signal s, *got = NULL;
	Decp__SignedSignal ss;
	struct proto_sealed_signal sealed;
	uint8_t wire[512];
	size_t wlen;

	sample(&s);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	CU_ASSERT(sealed.body_len > 0 && sealed.body_len <= PROTO_SIGNAL_BODY_MAX);
	proto_sealed_signal_view(&sealed, &ss);
	/* Through the wire and back: the receiver sees the exact signed bytes. */
	wlen = decp__signed_signal__pack(&ss, wire);
	Decp__SignedSignal *rx = decp__signed_signal__unpack(NULL, wlen, wire);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rx);

	CU_ASSERT_EQUAL(proto_signal_open(rx, &hk, NULL, NULL, &got), 0); /* ingest */
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(got->sequence, 1234u);
	CU_ASSERT_STRING_EQUAL(got->symbol, "EURUSD");
	CU_ASSERT_EQUAL(got->price, 108345);
	CU_ASSERT_EQUAL(got->order_type, DECP__ORDER_TYPE__ORDER_TYPE_BUY);
	proto_msg_free(&got->base, NULL);
	CU_ASSERT_EQUAL(proto_signal_open(rx, NULL, pk, NULL, &got), 0); /* receiver */
	proto_msg_free(&got->base, NULL);
	CU_ASSERT_EQUAL(proto_signal_open(rx, &hk, pk, NULL, &got), 0);
	proto_msg_free(&got->base, NULL);
	/* Another master's public key: refused. */
	CU_ASSERT_EQUAL(proto_signal_open(rx, NULL, other_pk, NULL, &got), -EBADMSG);
	CU_ASSERT_PTR_NULL(got);
	/* No key at all is a caller bug, not a pass. */
	CU_ASSERT_EQUAL(proto_signal_open(rx, NULL, NULL, NULL, &got), -EINVAL);
	decp__signed_signal__free_unpacked(rx, NULL);
}

/* Unsigned seal (ingest-only loads): the same body and HMAC as a signed seal, an all-zero
 * signature; ingest accepts it, a receiver refuses it. */
static void test_seal_unsigned(void)
{
	Decp__Signal s, *got = NULL;
	Decp__SignedSignal ss;
	struct proto_sealed_signal a, b;
	static const uint8_t zero[PROTO_ED25519_SIG_LEN];

	sample(&s);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal_unsigned(&hk, &s, &a), 0);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &b), 0);
	CU_ASSERT_EQUAL(a.body_len, b.body_len);
	CU_ASSERT(memcmp(a.body, b.body, a.body_len) == 0);
	CU_ASSERT(memcmp(a.hmac, b.hmac, sizeof(a.hmac)) == 0);
	CU_ASSERT(memcmp(a.sig, zero, sizeof(zero)) == 0);
	proto_sealed_signal_view(&a, &ss);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), 0);
	proto_msg_free(&got->base, NULL);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, NULL, pk, NULL, &got), -EBADMSG);
	CU_ASSERT_EQUAL(proto_signal_seal_unsigned(NULL, &s, &a), -EINVAL);
	s.sequence = 0;
	CU_ASSERT_EQUAL(proto_signal_seal_unsigned(&hk, &s, &a), -EINVAL);
}

static void flip(uint8_t *p, size_t bit)
{
	p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* One-bit change anywhere in body, HMAC or signature: rejected (SPEC §3, issue 2). */
static void test_every_bit_flip_rejected(void)
{
	Decp__Signal s, *got;
	Decp__SignedSignal ss;
	struct proto_sealed_signal sealed;

	sample(&s);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	proto_sealed_signal_view(&sealed, &ss);
	for (size_t bit = 0; bit < sealed.body_len * 8; bit++) {
		flip(sealed.body, bit);
		CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EBADMSG);
		CU_ASSERT_EQUAL(proto_signal_open(&ss, NULL, pk, NULL, &got), -EBADMSG);
		flip(sealed.body, bit);
	}
	for (size_t bit = 0; bit < PROTO_HMAC_LEN * 8; bit++) {
		flip(sealed.hmac, bit);
		CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EBADMSG);
		flip(sealed.hmac, bit);
	}
	for (size_t bit = 0; bit < PROTO_ED25519_SIG_LEN * 8; bit++) {
		flip(sealed.sig, bit);
		CU_ASSERT_EQUAL(proto_signal_open(&ss, NULL, pk, NULL, &got), -EBADMSG);
		flip(sealed.sig, bit);
	}
	/* Truncated MAC / signature. */
	ss.hmac.len = 31;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EBADMSG);
	ss.hmac.len = 32;
	ss.ed25519_sig.len = 0;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, NULL, pk, NULL, &got), -EBADMSG);
	ss.ed25519_sig.len = 64;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, pk, NULL, &got), 0);
	proto_msg_free(&got->base, NULL);
}

static void test_validation(void)
{
	Decp__Signal s;
	struct proto_sealed_signal sealed;
	char longsym[PROTO_SYMBOL_MAX + 2];

	sample(&s);
	CU_ASSERT_EQUAL(proto_signal_validate(&s), 0);
#define BAD(stmt)                                                                 \
	do {                                                                      \
		sample(&s);                                                       \
		stmt;                                                             \
		CU_ASSERT_EQUAL(proto_signal_validate(&s), -EINVAL);              \
		CU_ASSERT_EQUAL(proto_signal_seal(&hk, sk, &s, &sealed), -EINVAL); \
	} while (0)
	BAD(s.master_id = 0);
	BAD(s.sequence = 0);
	BAD(s.symbol = "");
	BAD(s.symbol = "EUR USD");
	BAD(s.symbol = "EURUSD\x80");
	memset(longsym, 'A', sizeof(longsym) - 1);
	longsym[sizeof(longsym) - 1] = '\0';
	BAD(s.symbol = longsym);
	BAD(s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_UNSPECIFIED);
	BAD(s.order_type = (Decp__OrderType)10);
	BAD(s.volume = 0);
	BAD(s.volume = -1);
	BAD(s.price = -1);
	BAD(s.sl = -1);
	BAD(s.tp = -1);
	BAD(s.position_ticket = 0);
	BAD(s.master_time_ns = 0);
	BAD(s.expiration_ns = -1);
	BAD((s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE, s.volume = -1));
#undef BAD
	/* Boundaries that are valid. */
	sample(&s);
	longsym[PROTO_SYMBOL_MAX] = '\0';
	s.symbol = longsym;
	CU_ASSERT_EQUAL(proto_signal_validate(&s), 0);
	sample(&s);
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE;
	s.volume = 0;
	CU_ASSERT_EQUAL(proto_signal_validate(&s), 0);
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_MODIFY;
	CU_ASSERT_EQUAL(proto_signal_validate(&s), 0);
	/* Largest valid body still fits PROTO_SIGNAL_BODY_MAX. */
	sample(&s);
	s.symbol = longsym;
	s.master_id = s.sequence = s.position_ticket = UINT64_MAX;
	s.volume = s.price = s.sl = s.tp = s.master_time_ns = s.expiration_ns = INT64_MAX;
	s.order_type = DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL;
	CU_ASSERT_EQUAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	CU_ASSERT(sealed.body_len <= PROTO_SIGNAL_BODY_MAX);
	CU_ASSERT_EQUAL(proto_signal_seal(NULL, sk, &s, &sealed), -EINVAL);
	CU_ASSERT_EQUAL(proto_signal_seal(&hk, pk, &s, &sealed), -EINVAL); /* public-only */
}

/* A validly MACed body that is not a valid Signal is -EPROTO, not accepted. */
static void test_open_bad_bodies(void)
{
	Decp__SignedSignal ss;
	Decp__Signal *got;
	uint8_t body[PROTO_SIGNAL_BODY_MAX + 1], mac[32];
	static const uint8_t trunc[] = { 0x1a, 0x05, 'E' };       /* truncated symbol */
	static const uint8_t novalid[] = { 0x08, 0x07 };          /* master_id only */

	decp__signed_signal__init(&ss);
	ss.hmac.data = mac;
	ss.hmac.len = sizeof(mac);
	ss.body.data = body;

	memcpy(body, trunc, sizeof(trunc));
	ss.body.len = sizeof(trunc);
	proto_hmac_compute(&hk, body, ss.body.len, mac);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	memcpy(body, novalid, sizeof(novalid));
	ss.body.len = sizeof(novalid);
	proto_hmac_compute(&hk, body, ss.body.len, mac);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	ss.body.len = 0;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	memset(body, 0, sizeof(body));
	ss.body.len = sizeof(body);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	CU_ASSERT_PTR_NULL(proto_signal_decode(body, sizeof(body), NULL));
	CU_ASSERT_PTR_NULL(proto_signal_decode(novalid, sizeof(novalid), NULL));
}

/* A symbol with an embedded NUL byte ("EUR\0USD": 7 bytes on the wire) is not 1..32
 * bytes of 0x21..0x7e, although protobuf-c's NUL-terminated copy reads "EUR". It must be
 * refused on every decode (docs/protocol.md "Signal"), as proto_wire and the view refuse
 * it; the same body with a clean symbol, or the symbol given twice (protobuf keeps the
 * last), still opens. */
static void test_open_symbol_nul(void)
{
	Decp__Signal s, *got = NULL;
	Decp__SignedSignal ss;
	uint8_t body[PROTO_SIGNAL_BODY_MAX], mac[32];
	size_t n, len;

	sample(&s);
	n = decp__signal__get_packed_size(&s);
	CU_ASSERT_FATAL(n + 16 <= sizeof(body));
	decp__signal__pack(&s, body);
	/* The packed body carries "EURUSD" (field 3) once: make it "EUR\0US". */
	uint8_t *sym = memmem(body, n, "\x1a\x06" "EURUSD", 8);
	CU_ASSERT_FATAL(sym != NULL);
	sym[2 + 3] = '\0';
	decp__signed_signal__init(&ss);
	ss.body.data = body;
	ss.body.len = n;
	ss.hmac.data = mac;
	ss.hmac.len = sizeof(mac);
	proto_hmac_compute(&hk, body, n, mac);
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	CU_ASSERT_PTR_NULL(proto_signal_decode(body, n, NULL));
	/* A clean symbol after it is the one protobuf keeps: valid. */
	memcpy(body + n, "\x1a\x06" "GBPUSD", 8);
	len = n + 8;
	proto_hmac_compute(&hk, body, len, mac);
	ss.body.len = len;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), 0);
	if (got != NULL)
		CU_ASSERT_STRING_EQUAL(got->symbol, "GBPUSD");
	decp__signal__free_unpacked(got, NULL);
	/* And the NUL one after a clean one is refused. */
	sym[2 + 3] = 'U';
	memcpy(body + n, "\x1a\x03" "EU\0", 5);
	len = n + 5;
	proto_hmac_compute(&hk, body, len, mac);
	ss.body.len = len;
	CU_ASSERT_EQUAL(proto_signal_open(&ss, &hk, NULL, NULL, &got), -EPROTO);
	CU_ASSERT_PTR_NULL(proto_signal_decode(body, len, NULL));
}

/* Decoding from an arena: no malloc, results valid until reset, exhaustion fails cleanly. */
static void test_arena_decode(void)
{
	Decp__Signal s, *got;
	struct proto_sealed_signal sealed;
	static uint8_t mem[4096];
	uint8_t small[96];
	struct proto_arena a;

	sample(&s);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, &sealed), 0);
	CU_ASSERT_EQUAL_FATAL(proto_arena_init(&a, mem, sizeof(mem)), 0);
	for (int i = 0; i < 1000; i++) {
		proto_arena_reset(&a);
		got = proto_signal_decode(sealed.body, sealed.body_len, proto_arena_allocator(&a));
		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		CU_ASSERT((uint8_t *)got >= mem && (uint8_t *)got < mem + sizeof(mem));
		CU_ASSERT((uint8_t *)got->symbol >= mem && (uint8_t *)got->symbol < mem + sizeof(mem));
		CU_ASSERT_EQUAL(got->sequence, 1234u);
	}
	CU_ASSERT(a.high_water > 0 && a.high_water < 512);
	CU_ASSERT_EQUAL(a.failures, 0u);
	/* Too small an arena: decode fails, failure counted, nothing crashes. */
	CU_ASSERT_EQUAL_FATAL(proto_arena_init(&a, small, sizeof(small)), 0);
	CU_ASSERT_PTR_NULL(proto_signal_decode(sealed.body, sealed.body_len,
					       proto_arena_allocator(&a)));
	CU_ASSERT(a.failures > 0);
	CU_ASSERT_EQUAL(proto_arena_init(&a, small, 63), -EINVAL);
}

/*
 * The arena bound: the worst frames for the decoded-size/encoded-size ratio are
 * many tiny fields (unknown fields, repeated oneof members). A frame of
 * max_payload bytes must decode (or fail as malformed) within
 * PROTO_ARENA_MIN_FOR(max_payload) and never fail for lack of space.
 */
static void test_arena_bound_worst_case(void)
{
	const size_t maxp = PROTO_FRAME_MAX_DEFAULT;
	static uint8_t mem[PROTO_ARENA_MIN_FOR(PROTO_FRAME_MAX_DEFAULT)];
	uint8_t frame[PROTO_FRAME_MAX_DEFAULT];
	struct proto_arena a;
	/* 2-byte patterns: an unknown varint field, then empty members 1..6 of each oneof
	 * (field 3 of ClientMessage, ExecutionReport, is the measured worst). */
	static const uint8_t pats[][2] = { { 0x78, 0x01 }, { 0x0a, 0x00 }, { 0x12, 0x00 },
					   { 0x1a, 0x00 }, { 0x22, 0x00 }, { 0x2a, 0x00 },
					   { 0x32, 0x00 } };
	size_t worst = 0;

	CU_ASSERT_EQUAL_FATAL(proto_arena_init(&a, mem, sizeof(mem)), 0);
	for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
		for (size_t i = 0; i < maxp; i += 2)
			memcpy(frame + i, pats[p], 2);
		for (int which = 0; which < 4; which++) {
			ProtobufCAllocator *al = proto_arena_allocator(&a);

			proto_arena_reset(&a);
			a.high_water = 0;
			a.failures = 0;
			if (which == 0)
				(void)proto_master_frame_decode(frame, maxp, al);
			else if (which == 1)
				(void)proto_ingest_frame_decode(frame, maxp, al);
			else if (which == 2)
				(void)proto_client_message_decode(frame, maxp, al);
			else
				(void)proto_server_message_decode(frame, maxp, al);
			if (a.high_water > worst)
				worst = a.high_water;
			CU_ASSERT_EQUAL(a.failures, 0u);
		}
	}
	/* Nested: a SignedSignal full of unknown fields inside a MasterFrame. */
	frame[0] = 0x12;
	frame[1] = 0xfc; /* length 4092 as a 2-byte varint: 0xfc 0x1f */
	frame[2] = 0x1f;
	for (size_t i = 3; i + 1 < maxp; i += 2)
		memcpy(frame + i, pats[0], 2);
	frame[maxp - 1] = 0x00;
	proto_arena_reset(&a);
	a.failures = 0;
	(void)proto_master_frame_decode(frame, maxp, proto_arena_allocator(&a));
	CU_ASSERT_EQUAL(a.failures, 0u);
	if (a.high_water > worst)
		worst = a.high_water;
	fprintf(stderr, "arena worst case for %zu-byte frames: %zu bytes (bound %zu)\n", maxp,
		worst, sizeof(mem));
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_seal_open_roundtrip),
		TU_CASE(test_seal_unsigned),
		TU_CASE(test_every_bit_flip_rejected),
		TU_CASE(test_validation),
		TU_CASE(test_open_bad_bodies),
		TU_CASE(test_open_symbol_nul),
		TU_CASE(test_arena_decode),
		TU_CASE(test_arena_bound_worst_case),
	};
	int rc;

	if (setup() != 0) {
		fprintf(stderr, "key setup failed\n");
		return 2;
	}
	rc = TU_RUN("proto_signal", cases);
	proto_ed25519_key_free(sk);
	proto_ed25519_key_free(pk);
	proto_ed25519_key_free(other_pk);
	return rc;
}
