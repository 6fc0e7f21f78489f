/*
 * proto_frame + proto_msg: the incremental decoder gives the same frames and the
 * same messages whether the stream arrives whole, byte by byte or in random
 * splits; zero-length, oversize and garbage input give the error value. All
 * buffers are heap-allocated at their exact size so ASan flags any read or
 * write past them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_msg.h"
#include "proto_test_util.h"

#define MAXP PROTO_FRAME_MAX_DEFAULT

struct stream {
	uint8_t *bytes;
	size_t len;
	size_t nframes;
	size_t off[512], flen[512]; /* payload offset/length of every frame */
};

/* Random payloads of random lengths, including the 1-byte and max-size boundaries. */
static void make_raw_stream(struct stream *s, uint64_t seed, size_t nframes)
{
	size_t cap = nframes * (MAXP + 4);

	s->bytes = malloc(cap);
	s->len = 0;
	s->nframes = nframes;
	for (size_t i = 0; i < nframes; i++) {
		size_t n = i == 0 ? 1 : i == 1 ? MAXP : 1 + tu_rand(&seed) % (i % 4 == 0 ? MAXP : 64);

		CU_ASSERT_EQUAL_FATAL(proto_frame_header_write(s->bytes + s->len, n), 0);
		s->off[i] = s->len + 4;
		s->flen[i] = n;
		for (size_t j = 0; j < n; j++)
			s->bytes[s->len + 4 + j] = (uint8_t)tu_rand(&seed);
		s->len += 4 + n;
	}
}

/* A realistic master stream: Hello, then Signals and Heartbeats. */
static void make_master_stream(struct stream *s, size_t nframes)
{
	size_t cap = nframes * 256;
	uint8_t body[64], mac[32], sig[64];

	s->bytes = malloc(cap);
	s->len = 0;
	s->nframes = nframes;
	memset(body, 0x42, sizeof(body));
	memset(mac, 0x17, sizeof(mac));
	memset(sig, 0x99, sizeof(sig));
	for (size_t i = 0; i < nframes; i++) {
		Decp__MasterFrame mf = DECP__MASTER_FRAME__INIT;
		Decp__Hello hello = DECP__HELLO__INIT;
		Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
		Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
		ssize_t n;

		if (i == 0) {
			hello.license_token = "tok-0123456789";
			hello.master_id = 7;
			hello.client_version = "test/1";
			hello.protocol_version = PROTO_PROTOCOL_VERSION;
			mf.kind_case = DECP__MASTER_FRAME__KIND_HELLO;
			mf.hello = &hello;
		} else if (i % 5 == 0) {
			hb.time_ns = (int64_t)i * 1000;
			mf.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
			mf.heartbeat = &hb;
		} else {
			body[0] = (uint8_t)i;
			ss.body.data = body;
			ss.body.len = 1 + i % sizeof(body);
			ss.hmac.data = mac;
			ss.hmac.len = sizeof(mac);
			ss.ed25519_sig.data = sig;
			ss.ed25519_sig.len = sizeof(sig);
			mf.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
			mf.signal = &ss;
		}
		n = proto_msg_frame_pack(&mf.base, MAXP, s->bytes + s->len, cap - s->len);
		CU_ASSERT_FATAL(n > 4);
		s->off[i] = s->len + 4;
		s->flen[i] = (size_t)n - 4;
		s->len += (size_t)n;
	}
}

enum split { WHOLE, BYTES, RANDOM };

/*
 * Feed s into a fresh decoder in pieces; check every frame against the
 * original; when msgs, also decode each as a MasterFrame and compare its
 * re-encoding. Each piece is copied into its own exact-size heap buffer.
 */
static void feed_and_check(const struct stream *s, enum split how, uint64_t seed, int msgs)
{
	uint8_t *dbuf = malloc(MAXP);
	static uint8_t arena_mem[PROTO_ARENA_MIN_FOR(MAXP)];
	struct proto_arena arena;
	struct proto_frame_decoder d;
	size_t pos = 0, got = 0;

	CU_ASSERT_EQUAL_FATAL(proto_frame_decoder_init(&d, dbuf, MAXP, MAXP), 0);
	CU_ASSERT_EQUAL_FATAL(proto_arena_init(&arena, arena_mem, sizeof(arena_mem)), 0);
	while (pos < s->len) {
		size_t n = how == WHOLE ? s->len - pos : how == BYTES ? 1 : 1 + tu_rand(&seed) % 700;
		uint8_t *piece, *p;
		size_t left;

		if (n > s->len - pos)
			n = s->len - pos;
		piece = malloc(n);
		memcpy(piece, s->bytes + pos, n);
		p = piece;
		left = n;
		while (left > 0) {
			struct proto_frame f;
			ssize_t used = proto_frame_decoder_feed(&d, p, left, &f);

			CU_ASSERT_FATAL(used >= 0 && (size_t)used <= left);
			p += used;
			left -= (size_t)used;
			if (f.data == NULL) {
				CU_ASSERT_EQUAL(left, 0u);
				continue;
			}
			CU_ASSERT_FATAL(got < s->nframes);
			CU_ASSERT_EQUAL_FATAL(f.len, s->flen[got]);
			CU_ASSERT_EQUAL(memcmp(f.data, s->bytes + s->off[got], f.len), 0);
			if (how == WHOLE) /* contiguous frames come back in place */
				CU_ASSERT(f.data >= piece && f.data + f.len <= piece + n);
			if (msgs) {
				uint8_t re[MAXP];
				Decp__MasterFrame *m;

				proto_arena_reset(&arena);
				m = proto_master_frame_decode(f.data, f.len,
							      proto_arena_allocator(&arena));
				CU_ASSERT_PTR_NOT_NULL_FATAL(m);
				CU_ASSERT_EQUAL(decp__master_frame__pack(m, re), f.len);
				CU_ASSERT_EQUAL(memcmp(re, f.data, f.len), 0);
			}
			got++;
		}
		free(piece);
		pos += n;
	}
	CU_ASSERT_EQUAL(got, s->nframes);
	CU_ASSERT_EQUAL(proto_frame_decoder_pending(&d), 0u);
	CU_ASSERT_EQUAL(d.frames, s->nframes);
	free(dbuf);
}

static void test_raw_whole_bytes_random(void)
{
	struct stream s;

	make_raw_stream(&s, 1, 64);
	feed_and_check(&s, WHOLE, 0, 0);
	feed_and_check(&s, BYTES, 0, 0);
	for (uint64_t seed = 1; seed <= 300; seed++)
		feed_and_check(&s, RANDOM, seed, 0);
	free(s.bytes);
}

static void test_messages_identical_any_split(void)
{
	struct stream s;

	make_master_stream(&s, 200);
	feed_and_check(&s, WHOLE, 0, 1);
	feed_and_check(&s, BYTES, 0, 1);
	for (uint64_t seed = 1; seed <= 500; seed++)
		feed_and_check(&s, RANDOM, seed, 1);
	free(s.bytes);
}

static void test_zero_length_is_error_and_sticky(void)
{
	uint8_t buf[MAXP];
	struct proto_frame_decoder d;
	struct proto_frame f;
	/* One valid 1-byte frame, then a zero-length header, then another valid frame. */
	uint8_t in[] = { 0, 0, 0, 1, 0xaa, 0, 0, 0, 0, 0, 0, 0, 1, 0xbb };
	ssize_t n;

	CU_ASSERT_EQUAL_FATAL(proto_frame_decoder_init(&d, buf, sizeof(buf), 0), 0);
	n = proto_frame_decoder_feed(&d, in, sizeof(in), &f);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(f.len, 1u);
	n = proto_frame_decoder_feed(&d, in + 5, sizeof(in) - 5, &f);
	CU_ASSERT_EQUAL(n, -EMSGSIZE);
	CU_ASSERT_PTR_NULL(f.data);
	CU_ASSERT_EQUAL(proto_frame_decoder_error(&d), -EMSGSIZE);
	/* Sticky: the stream position is lost, nothing after it is trusted. */
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, in + 9, 5, &f), -EMSGSIZE);
	CU_ASSERT_PTR_NULL(f.data);
	proto_frame_decoder_reset(&d);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, in + 9, 5, &f), 5);
	CU_ASSERT_EQUAL(f.len, 1u);
	CU_ASSERT_EQUAL(f.data[0], 0xbb);

	/* Zero length arriving one byte at a time: error on the 4th header byte. */
	proto_frame_decoder_reset(&d);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, in + 5 + i, 1, &f), 1);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, in + 8, 1, &f), -EMSGSIZE);
}

static void test_oversize_is_error_before_payload(void)
{
	uint8_t *buf = malloc(100);
	struct proto_frame_decoder d;
	struct proto_frame f;
	uint8_t max_ok[4 + 100], over[4] = { 0, 0, 0, 101 }, huge[4] = { 0xff, 0xff, 0xff, 0xff };

	CU_ASSERT_EQUAL_FATAL(proto_frame_decoder_init(&d, buf, 100, 100), 0);
	/* Exactly max_payload: accepted, both in place and through the buffer. */
	proto_frame_header_write(max_ok, 100);
	memset(max_ok + 4, 7, 100);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, max_ok, sizeof(max_ok), &f), 104);
	CU_ASSERT_EQUAL(f.len, 100u);
	for (size_t i = 0; i < sizeof(max_ok); i++) {
		ssize_t n = proto_frame_decoder_feed(&d, max_ok + i, 1, &f);
		CU_ASSERT_EQUAL(n, 1);
		CU_ASSERT((i == sizeof(max_ok) - 1) == (f.data != NULL));
	}
	CU_ASSERT_EQUAL(f.len, 100u);
	CU_ASSERT_PTR_EQUAL(f.data, buf);
	/* max_payload + 1: refused on its header, whole or split. */
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, over, 4, &f), -EMSGSIZE);
	proto_frame_decoder_reset(&d);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, over, 2, &f), 2);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, over + 2, 2, &f), -EMSGSIZE);
	proto_frame_decoder_reset(&d);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, huge, 4, &f), -EMSGSIZE);
	free(buf);
}

/* Random garbage in random splits: frames within limits or the error value, never a crash. */
static void test_garbage(void)
{
	uint8_t *buf = malloc(MAXP);
	uint64_t seed = 77;

	for (int iter = 0; iter < 2000; iter++) {
		struct proto_frame_decoder d;
		size_t len = 1 + tu_rand(&seed) % 64;
		uint8_t *g = malloc(len);
		size_t pos = 0;
		int errs = 0;

		for (size_t i = 0; i < len; i++)
			g[i] = (uint8_t)tu_rand(&seed);
		/* Half the time make the length plausible so some frames complete. */
		if (iter % 2 == 0 && len >= 4) {
			g[0] = 0;
			g[1] = 0;
			g[2] = 0;
			g[3] = (uint8_t)(tu_rand(&seed) % 8);
		}
		proto_frame_decoder_init(&d, buf, MAXP, MAXP);
		while (pos < len) {
			struct proto_frame f;
			size_t n = 1 + tu_rand(&seed) % (len - pos);
			ssize_t r = proto_frame_decoder_feed(&d, g + pos, n, &f);

			if (r < 0) {
				CU_ASSERT_EQUAL(r, -EMSGSIZE);
				CU_ASSERT_PTR_NULL(f.data);
				errs++;
				break;
			}
			CU_ASSERT((size_t)r <= n);
			if (f.data != NULL) {
				CU_ASSERT(f.len >= 1 && f.len <= MAXP);
				/* Garbage payloads must not decode as a valid wrapper with no oneof. */
				Decp__MasterFrame *m = proto_master_frame_decode(f.data, f.len, NULL);
				if (m != NULL) {
					CU_ASSERT_NOT_EQUAL(m->kind_case, DECP__MASTER_FRAME__KIND__NOT_SET);
					proto_msg_free(&m->base, NULL);
				}
			}
			pos += (size_t)r;
		}
		(void)errs;
		free(g);
	}
	free(buf);
}

static void test_api_errors(void)
{
	uint8_t buf[16], out[8];
	struct proto_frame_decoder d;
	struct proto_frame f;

	CU_ASSERT_EQUAL(proto_frame_decoder_init(NULL, buf, 16, 16), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_decoder_init(&d, NULL, 16, 16), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_decoder_init(&d, buf, 15, 16), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_decoder_init(&d, buf, 16, 0), -EINVAL); /* default 4096 > 16 */
	CU_ASSERT_EQUAL(proto_frame_decoder_init(&d, buf, 16, PROTO_FRAME_MAX_LIMIT + 1), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(proto_frame_decoder_init(&d, buf, 16, 16), 0);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, NULL, 1, &f), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, buf, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_decoder_feed(&d, NULL, 0, &f), 0);
	CU_ASSERT_PTR_NULL(f.data);

	CU_ASSERT_EQUAL(proto_frame_encode(out, sizeof(out), buf, 0), -EMSGSIZE);
	CU_ASSERT_EQUAL(proto_frame_encode(out, sizeof(out), buf, 5), -ENOBUFS);
	CU_ASSERT_EQUAL(proto_frame_encode(out, sizeof(out), buf, 4), 8);
	CU_ASSERT_EQUAL(proto_frame_encode(NULL, sizeof(out), buf, 4), -EINVAL);
	CU_ASSERT_EQUAL(proto_frame_header_write(out, 0), -EMSGSIZE);
	CU_ASSERT_EQUAL(proto_frame_header_write(out, PROTO_FRAME_MAX_LIMIT + 1), -EMSGSIZE);
	CU_ASSERT_EQUAL(proto_frame_header_write(out, 0x01020304), -EMSGSIZE);
	CU_ASSERT_EQUAL(proto_frame_header_write(out, 0x010203), 0);
	CU_ASSERT(out[0] == 0 && out[1] == 1 && out[2] == 2 && out[3] == 3);
}

/* Wrapper decoding: empty/no-oneof/garbage are malformed; pack respects limits. */
static void test_wrapper_decode_and_pack(void)
{
	Decp__IngestFrame in = DECP__INGEST_FRAME__INIT;
	Decp__Nack nack = DECP__NACK__INIT;
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	uint8_t out[64];
	uint8_t empty_field[] = { 0x1a, 0x00 }; /* nack {} : oneof set with an empty message */
	ssize_t n;

	CU_ASSERT_PTR_NULL(proto_master_frame_decode((const uint8_t *)"", 0, NULL));
	CU_ASSERT_PTR_NULL(proto_ingest_frame_decode((const uint8_t *)"", 0, NULL));
	CU_ASSERT_PTR_NULL(proto_client_message_decode((const uint8_t *)"", 0, NULL));
	CU_ASSERT_PTR_NULL(proto_server_message_decode((const uint8_t *)"", 0, NULL));
	/* An unknown field only: valid protobuf, but no oneof member. */
	CU_ASSERT_PTR_NULL(proto_master_frame_decode((const uint8_t *)"\x78\x01", 2, NULL));
	/* Truncated length-delimited field. */
	CU_ASSERT_PTR_NULL(proto_ingest_frame_decode((const uint8_t *)"\x1a\x05\x08", 3, NULL));

	Decp__IngestFrame *m = proto_ingest_frame_decode(empty_field, 2, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(m->kind_case, DECP__INGEST_FRAME__KIND_NACK);
	proto_msg_free(&m->base, NULL);

	nack.sequence = 42;
	nack.reason = DECP__NACK__REASON__REASON_GAP;
	nack.expected_sequence = 40;
	in.kind_case = DECP__INGEST_FRAME__KIND_NACK;
	in.nack = &nack;
	n = proto_msg_frame_pack(&in.base, MAXP, out, sizeof(out));
	CU_ASSERT_FATAL(n > 4);
	m = proto_ingest_frame_decode(out + 4, (size_t)n - 4, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(m->nack->expected_sequence, 40u);
	CU_ASSERT_EQUAL(m->nack->reason, DECP__NACK__REASON__REASON_GAP);
	proto_msg_free(&m->base, NULL);
	CU_ASSERT_EQUAL(proto_msg_frame_pack(&in.base, 3, out, sizeof(out)), -EMSGSIZE);
	CU_ASSERT_EQUAL(proto_msg_frame_pack(&in.base, MAXP, out, 6), -ENOBUFS);
	/* A wrapper with no member set encodes to nothing: refused. */
	CU_ASSERT_EQUAL(proto_msg_frame_pack(&sm.base, MAXP, out, sizeof(out)), -EMSGSIZE);
}

int main(void)
{
	static const struct tu_case cases[] = {
		TU_CASE(test_raw_whole_bytes_random),
		TU_CASE(test_messages_identical_any_split),
		TU_CASE(test_zero_length_is_error_and_sticky),
		TU_CASE(test_oversize_is_error_before_payload),
		TU_CASE(test_garbage),
		TU_CASE(test_api_errors),
		TU_CASE(test_wrapper_decode_and_pack),
	};
	return TU_RUN("proto_frame", cases);
}
