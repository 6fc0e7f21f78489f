/*
 * test_cp_resp: the edge's RESP writer (controlplane/common/cp_redis.h, struct cp_resp).
 * What it writes is parsed back with hiredis's own reader, the parser Redis clients and
 * (in the same format) redis-server use: every element must come back byte for byte.
 * Also the stream record of one signal (cp_redis_rec.h): packed by the edge, read back by
 * every reader in both the packed and the older four-field layout.
 */
#include <CUnit/Basic.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_redis.h"
#include "cp_redis_rec.h"

/* Parses b as one RESP reply with hiredis; NULL if it is not exactly one complete value. */
static redisReply *parse(const struct cp_resp *b)
{
	redisReader *rd = redisReaderCreate();
	void *rep = NULL;

	if (rd == NULL)
		return NULL;
	if (redisReaderFeed(rd, b->p, b->len) != REDIS_OK ||
	    redisReaderGetReply(rd, &rep) != REDIS_OK || rep == NULL) {
		redisReaderFree(rd);
		return NULL;
	}
	void *extra = NULL;
	redisReaderGetReply(rd, &extra); /* nothing may follow */
	if (extra != NULL || rd->pos != sdslen(rd->buf)) {
		freeReplyObject(extra);
		freeReplyObject(rep);
		rep = NULL;
	}
	redisReaderFree(rd);
	return rep;
}

static void check_bulk(const redisReply *r, const void *want, size_t len)
{
	CU_ASSERT_EQUAL_FATAL(r->type, REDIS_REPLY_STRING);
	CU_ASSERT_EQUAL(r->len, len);
	CU_ASSERT(memcmp(r->str, want, len) == 0);
}

static void test_command_round_trip(void)
{
	struct cp_resp b = {0};
	const uint8_t bin[] = {0, '\r', '\n', '$', '*', 0xff, 0x80, 0};

	CU_ASSERT_EQUAL(cp_resp_array(&b, 9), 0);
	CU_ASSERT_EQUAL(cp_resp_str(&b, "FCALL"), 0);
	CU_ASSERT_EQUAL(cp_resp_str(&b, ""), 0);
	CU_ASSERT_EQUAL(cp_resp_bulk(&b, bin, sizeof(bin)), 0);
	CU_ASSERT_EQUAL(cp_resp_u64(&b, 0), 0);
	CU_ASSERT_EQUAL(cp_resp_u64(&b, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(cp_resp_i64(&b, -1), 0);
	CU_ASSERT_EQUAL(cp_resp_i64(&b, INT64_MIN), 0);
	CU_ASSERT_EQUAL(cp_resp_i64(&b, INT64_MAX), 0);
	CU_ASSERT_EQUAL(cp_resp_u64(&b, 1764547200123456789ull), 0);
	redisReply *r = parse(&b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL_FATAL(r->type, REDIS_REPLY_ARRAY);
	CU_ASSERT_EQUAL_FATAL(r->elements, 9);
	check_bulk(r->element[0], "FCALL", 5);
	check_bulk(r->element[1], "", 0);
	check_bulk(r->element[2], bin, sizeof(bin));
	check_bulk(r->element[3], "0", 1);
	check_bulk(r->element[4], "18446744073709551615", 20);
	check_bulk(r->element[5], "-1", 2);
	check_bulk(r->element[6], "-9223372036854775808", 20);
	check_bulk(r->element[7], "9223372036854775807", 19);
	check_bulk(r->element[8], "1764547200123456789", 19);
	freeReplyObject(r);
	free(b.p);
}

/* Many commands appended into one buffer grow it past its first allocation; every one of
 * them parses back in order (the edge pipelines a whole batch this way). */
static void test_growth_and_pipeline(void)
{
	struct cp_resp b = {0};
	static uint8_t big[70000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31u);
	for (uint64_t i = 0; i < 300; i++) {
		CU_ASSERT_EQUAL(cp_resp_array(&b, 2), 0);
		CU_ASSERT_EQUAL(cp_resp_u64(&b, i), 0);
		CU_ASSERT_EQUAL(cp_resp_bulk(&b, big, (size_t)(i * 233u) % sizeof(big)), 0);
	}
	CU_ASSERT(b.cap >= b.len);
	redisReader *rd = redisReaderCreate();
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	rd->maxbuf = 0;
	CU_ASSERT_EQUAL(redisReaderFeed(rd, b.p, b.len), REDIS_OK);
	for (uint64_t i = 0; i < 300; i++) {
		redisReply *r = NULL;
		CU_ASSERT_EQUAL_FATAL(redisReaderGetReply(rd, (void **)&r), REDIS_OK);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL_FATAL(r->elements, 2);
		CU_ASSERT_EQUAL(strtoull(r->element[0]->str, NULL, 10), i);
		check_bulk(r->element[1], big, (size_t)(i * 233u) % sizeof(big));
		freeReplyObject(r);
	}
	redisReaderFree(rd);
	free(b.p);
}

/* Reserving keeps len, only grows cap; a zeroed struct is a valid empty buffer. */
static void test_reserve(void)
{
	struct cp_resp b = {0};

	CU_ASSERT_EQUAL(cp_resp_reserve(&b, 0), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(cp_resp_reserve(&b, 100000), 0);
	CU_ASSERT(b.cap >= 100000);
	size_t cap = b.cap;
	CU_ASSERT_EQUAL(cp_resp_str(&b, "x"), 0);
	CU_ASSERT_EQUAL(cp_resp_reserve(&b, 10), 0);
	CU_ASSERT_EQUAL(b.cap, cap);
	CU_ASSERT_EQUAL(b.len, 7); /* "$1\r\nx\r\n" */
	free(b.p);
}

/* A stream entry's field list as Redis returns it: name/value pairs of bulk strings. */
static redisReply *fields(size_t n, const char *const *v, const size_t *len)
{
	struct cp_resp b = {0};
	int rc = cp_resp_array(&b, n);
	for (size_t i = 0; i < n; i++)
		rc |= cp_resp_bulk(&b, v[i], len[i]);
	redisReply *r = rc == 0 ? parse(&b) : NULL;
	free(b.p);
	return r;
}

static void test_rec_round_trip(void)
{
	uint8_t body[300], hmac[32], sig[64], out[512];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7); /* zeros and high bytes included */
	memset(hmac, 0xa5, sizeof(hmac));
	memset(sig, 0, sizeof(sig));
	const struct cp_rec in = {.arrival_ns = -1 - (INT64_C(1) << 62), .body = body,
				  .hmac = hmac, .sig = sig, .body_len = sizeof(body),
				  .hmac_len = sizeof(hmac), .sig_len = sizeof(sig)};
	size_t n = cp_rec_pack(out, sizeof(out), &in);
	CU_ASSERT_EQUAL_FATAL(n, CP_REC_HDR + 32 + 64 + 300);
	CU_ASSERT_EQUAL(n, cp_rec_size(&in));
	const char *v[] = {"x", "ignored", CP_REC_FIELD, (const char *)out};
	const size_t len[] = {1, 7, 1, n};
	redisReply *f = fields(4, v, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	struct cp_rec r;
	CU_ASSERT_FATAL(cp_rec_from_fields(f, &r));
	CU_ASSERT_EQUAL(r.arrival_ns, in.arrival_ns);
	CU_ASSERT_EQUAL_FATAL(r.body_len, sizeof(body));
	CU_ASSERT(memcmp(r.body, body, sizeof(body)) == 0);
	CU_ASSERT_EQUAL_FATAL(r.hmac_len, 32);
	CU_ASSERT(memcmp(r.hmac, hmac, 32) == 0);
	CU_ASSERT_EQUAL_FATAL(r.sig_len, 64);
	CU_ASSERT(memcmp(r.sig, sig, 64) == 0);
	freeReplyObject(f);

	/* No HMAC, no signature, empty body: present, zero length. */
	const struct cp_rec bare = {.arrival_ns = 5};
	n = cp_rec_pack(out, sizeof(out), &bare);
	CU_ASSERT_EQUAL_FATAL(n, CP_REC_HDR);
	CU_ASSERT_FATAL(cp_rec_unpack(out, n, &r));
	CU_ASSERT_EQUAL(r.arrival_ns, 5);
	CU_ASSERT(r.hmac != NULL && r.sig != NULL);
	CU_ASSERT_EQUAL(r.hmac_len + r.sig_len + r.body_len, 0);
}

static void test_rec_refused(void)
{
	uint8_t out[64], big[300] = {0};
	struct cp_rec r;
	const struct cp_rec in = {.arrival_ns = 1, .body = big, .body_len = 40};
	CU_ASSERT_EQUAL(cp_rec_pack(out, CP_REC_HDR + 39, &in), 0); /* one byte short */
	CU_ASSERT_EQUAL(cp_rec_pack(out, sizeof(out), &in), CP_REC_HDR + 40);
	const struct cp_rec long_hmac = {.hmac = big, .hmac_len = 256};
	CU_ASSERT_EQUAL(cp_rec_pack(big, sizeof(big), &long_hmac), 0);

	CU_ASSERT_FALSE(cp_rec_unpack(out, CP_REC_HDR - 1, &r)); /* shorter than the header */
	out[0] = 2;
	CU_ASSERT_FALSE(cp_rec_unpack(out, CP_REC_HDR + 40, &r)); /* unknown version */
	out[0] = CP_REC_VERSION;
	out[9] = 30, out[10] = 11;
	CU_ASSERT_FALSE(cp_rec_unpack(out, CP_REC_HDR + 40, &r)); /* lengths past the end */
	out[10] = 10;
	CU_ASSERT_TRUE(cp_rec_unpack(out, CP_REC_HDR + 40, &r));
	CU_ASSERT_EQUAL(r.body_len, 0);

	/* A bad "r" is not rescued by old fields next to it; neither layout: refused. */
	const char *v[] = {CP_REC_FIELD, "short", "a", "1", "b", "x"};
	const size_t len[] = {1, 5, 1, 1, 1, 1};
	redisReply *f = fields(6, v, len);
	CU_ASSERT_FALSE(cp_rec_from_fields(f, &r));
	freeReplyObject(f);
	f = fields(2, (const char *[]){"b", "body"}, (const size_t[]){1, 4});
	CU_ASSERT_FALSE(cp_rec_from_fields(f, &r)); /* no arrival */
	freeReplyObject(f);
	CU_ASSERT_FALSE(cp_rec_from_fields(NULL, &r));
}

/* Entries written before the packed record (and by other tools): four fields. */
static void test_rec_old_layout(void)
{
	const char *v[] = {"a", "1796088718196638374", "b", "bo\0dy", "h", "HMAC", "s", "SIG"};
	const size_t len[] = {1, 19, 1, 5, 1, 4, 1, 3};
	redisReply *f = fields(8, v, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	struct cp_rec r;
	CU_ASSERT_FATAL(cp_rec_from_fields(f, &r));
	CU_ASSERT_EQUAL(r.arrival_ns, INT64_C(1796088718196638374));
	CU_ASSERT(r.body_len == 5 && memcmp(r.body, "bo\0dy", 5) == 0);
	CU_ASSERT(r.hmac_len == 4 && memcmp(r.hmac, "HMAC", 4) == 0);
	CU_ASSERT(r.sig_len == 3 && memcmp(r.sig, "SIG", 3) == 0);
	freeReplyObject(f);
	f = fields(4, v, len); /* a and b only: HMAC and signature absent */
	CU_ASSERT_FATAL(cp_rec_from_fields(f, &r));
	CU_ASSERT(r.hmac == NULL && r.sig == NULL);
	freeReplyObject(f);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite("cp_resp", NULL, NULL);
	CU_add_test(s, "command round trip through hiredis's reader", test_command_round_trip);
	CU_add_test(s, "many commands in one growing buffer", test_growth_and_pipeline);
	CU_add_test(s, "reserve", test_reserve);
	CU_add_test(s, "stream record: pack and read back", test_rec_round_trip);
	CU_add_test(s, "stream record: what is refused", test_rec_refused);
	CU_add_test(s, "stream record: the older four-field layout", test_rec_old_layout);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
