/*
 * proto_view: the copy-free parsers agree with protobuf-c (proto_view.h's
 * equivalence rule) on valid frames and on many mutated ones, and reject
 * what they must.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_test_util.h"
#include "proto_view.h"

static struct proto_hmac_key hk;
static struct proto_ed25519_key *sk, *pk;

static void sample(Decp__Signal *s, uint64_t seq)
{
	decp__signal__init(s);
	s->master_id = 7;
	s->sequence = seq;
	s->symbol = "GBPJPY.m";
	s->order_type = (Decp__OrderType)(1 + seq % 9);
	s->volume = 1 + (int64_t)(seq % 1000);
	s->price = 19123456;
	s->sl = seq % 2 ? 19000000 : 0;
	s->tp = 19300000;
	s->position_ticket = 5000 + seq;
	s->master_time_ns = 1763942400000000000LL + (int64_t)seq;
	s->expiration_ns = seq % 3 ? 0 : 1763942500000000000LL;
}

static size_t make_signal_frame(uint64_t seq, uint8_t *out, struct proto_sealed_signal *sealed)
{
	Decp__Signal s;
	Decp__SignedSignal ss;
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;

	sample(&s, seq);
	CU_ASSERT_EQUAL_FATAL(proto_signal_seal(&hk, sk, &s, sealed), 0);
	proto_sealed_signal_view(sealed, &ss);
	mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	mf.signal = &ss;
	return decp__master_frame__pack(&mf, out);
}

static int same_signal(const Decp__Signal *a, const Decp__Signal *b)
{
	return a->master_id == b->master_id && a->sequence == b->sequence &&
	       strcmp(a->symbol, b->symbol) == 0 && a->order_type == b->order_type &&
	       a->volume == b->volume && a->price == b->price && a->sl == b->sl &&
	       a->tp == b->tp && a->position_ticket == b->position_ticket &&
	       a->master_time_ns == b->master_time_ns && a->expiration_ns == b->expiration_ns;
}

static int same_bytes(const uint8_t *a, size_t al, const ProtobufCBinaryData *b)
{
	return al == b->len && (al == 0 || memcmp(a, b->data, al) == 0);
}

/* The equivalence rule, checked on one input; returns 1 when the view accepted it. */
static int check_equivalent(const uint8_t *p, size_t len)
{
	struct proto_signed_view v;
	Decp__MasterFrame *m = proto_master_frame_decode(p, len, NULL);
	int kind = proto_master_frame_view(p, len, &v);
	int accepted = 0;

	if (kind == DECP__MASTER_FRAME__KIND_SIGNAL) {
		if (m == NULL) {
			fprintf(stderr, "view accepted, protobuf-c refused:");
			for (size_t i = 0; i < len; i++)
				fprintf(stderr, " %02x", p[i]);
			fprintf(stderr, "\n");
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_EQUAL_FATAL(m->kind_case, DECP__MASTER_FRAME__KIND_SIGNAL);
		CU_ASSERT(same_bytes(v.body, v.body_len, &m->signal->body));
		CU_ASSERT(same_bytes(v.hmac, v.hmac_len, &m->signal->hmac));
		CU_ASSERT(same_bytes(v.sig, v.sig_len, &m->signal->ed25519_sig));
		accepted = 1;

		Decp__Signal fast, *slow;
		char sym[PROTO_SYMBOL_MAX + 1];
		if (proto_signal_parse(v.body, v.body_len, &fast, sym) == 0) {
			slow = proto_signal_decode(v.body, v.body_len, NULL);
			CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
			CU_ASSERT(same_signal(&fast, slow));
			proto_msg_free(&slow->base, NULL);
			accepted = 2;
		}
	} else if (kind >= 0 && m != NULL) {
		CU_ASSERT_EQUAL(m->kind_case, (Decp__MasterFrame__KindCase)kind);
	} else if (kind < 0) {
		CU_ASSERT(kind == -EBADMSG || kind == -EEXIST);
	}
	if (m != NULL)
		proto_msg_free(&m->base, NULL);
	return accepted;
}

static void test_valid_frames(void)
{
	uint8_t frame[512];
	struct proto_sealed_signal sealed;
	struct proto_signed_view v;
	Decp__Signal s, want;
	char sym[PROTO_SYMBOL_MAX + 1];

	for (uint64_t seq = 1; seq <= 300; seq++) {
		size_t n = make_signal_frame(seq, frame, &sealed);

		CU_ASSERT_EQUAL_FATAL(proto_master_frame_view(frame, n, &v),
				      DECP__MASTER_FRAME__KIND_SIGNAL);
		CU_ASSERT(v.body_len == sealed.body_len &&
			  memcmp(v.body, sealed.body, v.body_len) == 0);
		CU_ASSERT(v.body >= frame && v.body + v.body_len <= frame + n); /* zero copy */
		CU_ASSERT_EQUAL(proto_signal_open_view(&v, &hk, NULL, &s, sym), 0);
		CU_ASSERT_EQUAL(proto_signal_open_view(&v, NULL, pk, &s, sym), 0);
		sample(&want, seq);
		CU_ASSERT(same_signal(&s, &want));
		CU_ASSERT_EQUAL(check_equivalent(frame, n), 2);
	}
}

static void test_other_kinds_and_malformed(void)
{
	Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
	Decp__Hello h = DECP__HELLO__INIT;
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	struct proto_signed_view v;
	uint8_t buf[256];
	size_t n;

	h.license_token = "t";
	h.master_id = 1;
	mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
	mf.hello = &h;
	n = decp__master_frame__pack(&mf, buf);
	CU_ASSERT_EQUAL(proto_master_frame_view(buf, n, &v), DECP__MASTER_FRAME__KIND_HELLO);
	hb.time_ns = 5;
	mf.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
	mf.heartbeat = &hb;
	n = decp__master_frame__pack(&mf, buf);
	CU_ASSERT_EQUAL(proto_master_frame_view(buf, n, &v), DECP__MASTER_FRAME__KIND_HEARTBEAT);

	/* Each is malformed or has no member. */
	static const struct {
		const char *b;
		size_t n;
	} bad[] = {
		{ "", 0 },                          /* nothing */
		{ "\x78\x01", 2 },                  /* unknown field only */
		{ "\x10\x01", 2 },                  /* member 2 as a varint */
		{ "\x12\x05\x0a", 3 },              /* length past the end */
		{ "\x12\x01\x0b", 3 },              /* group inside signal */
		{ "\x00\x00", 2 },                  /* field number 0 */
		{ "\x12\x00\xff", 3 },              /* truncated varint tag */
		{ "\x12\x0b\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 13 }, /* 11-byte varint */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(proto_master_frame_view((const uint8_t *)bad[i].b, bad[i].n, &v),
				-EBADMSG);
	/* One member per frame: protobuf's last-wins would answer hello then signal as a
	 * signal, and a signal then a heartbeat as a heartbeat, the signal unanswered. Two
	 * members, or one twice, are malformed (stricter than protobuf-c, never looser). */
	CU_ASSERT_EQUAL(proto_master_frame_view((const uint8_t *)"\x0a\x00\x12\x00", 4, &v),
			-EEXIST);
	CU_ASSERT_EQUAL(proto_master_frame_view((const uint8_t *)"\x12\x00\x0a\x00", 4, &v),
			-EEXIST);
	CU_ASSERT_EQUAL(proto_master_frame_view((const uint8_t *)"\x12\x00\x12\x00", 4, &v),
			-EEXIST);
	CU_ASSERT_EQUAL(proto_master_frame_view((const uint8_t *)"\x12\x00", 2, &v),
			DECP__MASTER_FRAME__KIND_SIGNAL);
	CU_ASSERT_EQUAL(check_equivalent((const uint8_t *)"\x0a\x00\x12\x00", 4), 0);
}

static void test_open_view_rejections(void)
{
	uint8_t frame[512];
	struct proto_sealed_signal sealed;
	struct proto_signed_view v;
	Decp__Signal s;
	char sym[PROTO_SYMBOL_MAX + 1];
	size_t n = make_signal_frame(42, frame, &sealed);

	CU_ASSERT_EQUAL_FATAL(proto_master_frame_view(frame, n, &v), DECP__MASTER_FRAME__KIND_SIGNAL);
	for (size_t bit = 0; bit < v.body_len * 8; bit++) {
		uint8_t *b = (uint8_t *)v.body; /* the frame is ours to mutate */
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(proto_signal_open_view(&v, &hk, NULL, &s, sym), -EBADMSG);
		CU_ASSERT_EQUAL(proto_signal_open_view(&v, NULL, pk, &s, sym), -EBADMSG);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CU_ASSERT_EQUAL(proto_signal_open_view(&v, NULL, NULL, &s, sym), -EINVAL);
	v.hmac_len = 31;
	CU_ASSERT_EQUAL(proto_signal_open_view(&v, &hk, NULL, &s, sym), -EBADMSG);
	v.body_len = 0;
	CU_ASSERT_EQUAL(proto_signal_open_view(&v, &hk, NULL, &s, sym), -EPROTO);
	/* Symbol with a byte outside 0x21..0x7e, validly MACed: -EPROTO. */
	static uint8_t body[] = { 0x08, 0x07, 0x10, 0x01, 0x1a, 0x03, 'E', 0x00, 'U' };
	CU_ASSERT_EQUAL(proto_signal_parse(body, sizeof(body), &s, sym), -EPROTO);
}

/* Random mutations of valid frames: whenever the view accepts, protobuf-c agrees. */
static void test_differential_mutations(void)
{
	static uint8_t base[50][256];
	size_t base_len[50];
	uint8_t m[600];
	struct proto_sealed_signal sealed;
	uint64_t seed = 20261123;
	unsigned accepted = 0, parsed = 0;

	for (int i = 0; i < 50; i++) /* sealing signs: do it once per sample */
		base_len[i] = make_signal_frame(1 + (uint64_t)i, base[i], &sealed);
	for (int iter = 0; iter < 30000; iter++) {
		size_t n = base_len[iter % 50], len = n;
		unsigned muts = 1 + (unsigned)(tu_rand(&seed) % 4);

		memcpy(m, base[iter % 50], n);
		for (unsigned k = 0; k < muts; k++) {
			size_t at = len ? (size_t)(tu_rand(&seed) % len) : 0;

			switch (tu_rand(&seed) % 6) {
			case 0: /* flip a bit */
				if (len)
					m[at] ^= (uint8_t)(1u << (tu_rand(&seed) % 8));
				break;
			case 1: /* set a byte */
				if (len)
					m[at] = (uint8_t)tu_rand(&seed);
				break;
			case 2: /* truncate */
				len = at;
				break;
			case 3: /* append an unknown or duplicate field */
				if (len + 4 <= sizeof(m)) {
					m[len++] = (uint8_t)(tu_rand(&seed) % 2 ? 0x78 : 0x12);
					m[len++] = 0x00;
				}
				break;
			case 4: /* delete a byte */
				if (len) {
					memmove(m + at, m + at + 1, len - at - 1);
					len--;
				}
				break;
			default: /* duplicate the whole frame (last member wins) */
				if (2 * len <= sizeof(m)) {
					memcpy(m + len, m, len);
					len *= 2;
				}
				break;
			}
		}
		int r = check_equivalent(m, len);
		accepted += r >= 1;
		parsed += r == 2;
	}
	fprintf(stderr, "differential: view accepted %u, body parsed %u of 30000 mutants\n",
		accepted, parsed);
	CU_ASSERT(accepted > 1000 && parsed > 100); /* the test really exercises acceptance */
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_valid_frames),
		TU_CASE(test_other_kinds_and_malformed),
		TU_CASE(test_open_view_rejections),
		TU_CASE(test_differential_mutations),
	};
	uint8_t seed[32] = { 3 }, pub[32];
	int rc;

	if (proto_hmac_key_init(&hk, (const uint8_t *)"view-secret", 11) != 0 ||
	    proto_ed25519_public_from_seed(seed, pub) != 0 ||
	    (sk = proto_ed25519_key_new_private(seed)) == NULL ||
	    (pk = proto_ed25519_key_new_public(pub)) == NULL) {
		fprintf(stderr, "key setup failed\n");
		return 2;
	}
	rc = TU_RUN("proto_view", cases);
	proto_ed25519_key_free(sk);
	proto_ed25519_key_free(pk);
	return rc;
}
