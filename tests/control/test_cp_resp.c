/*
 * test_cp_resp: the edge's RESP writer (controlplane/edge/cp_redis.h, struct cp_resp).
 * What it writes is parsed back with hiredis's own reader, the parser Redis clients and
 * (in the same format) redis-server use: every element must come back byte for byte.
 */
#include <CUnit/Basic.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_redis.h"

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

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite("cp_resp", NULL, NULL);
	CU_add_test(s, "command round trip through hiredis's reader", test_command_round_trip);
	CU_add_test(s, "many commands in one growing buffer", test_growth_and_pipeline);
	CU_add_test(s, "reserve", test_reserve);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
