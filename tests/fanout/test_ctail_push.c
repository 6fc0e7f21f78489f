/*
 * test_ctail_push: CUnit tests of cp_ctail_push (what the cluster tail's subscriber
 * connections receive, issue 23): channel names and their boundaries, smessage payloads
 * (items, contiguity, lengths), the other reply kinds. Replies are built by hiredis's own
 * reader from RESP bytes, as they arrive from Redis. Pure logic.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cp_ctail_push.h"

/* A reply from RESP bytes (the caller frees it). */
static redisReply *resp(const char *bytes, size_t len)
{
	redisReader *r = redisReaderCreate();
	void *rep = NULL;

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(redisReaderFeed(r, bytes, len), REDIS_OK);
	CU_ASSERT_EQUAL(redisReaderGetReply(r, &rep), REDIS_OK);
	redisReaderFree(r);
	CU_ASSERT_FATAL(rep != NULL);
	return rep;
}

/* ["smessage", chan, payload] as RESP into buf; its length. */
static size_t smessage(char *buf, size_t cap, const char *kind, const char *chan,
		       const char *payload, size_t plen)
{
	int n = snprintf(buf, cap, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(kind), kind,
			 strlen(chan), chan, plen);
	CU_ASSERT_FATAL(n > 0 && (size_t)n + plen + 2 < cap);
	memcpy(buf + n, payload, plen);
	memcpy(buf + n + plen, "\r\n", 2);
	return (size_t)n + plen + 2;
}

static enum cp_ctail_kind parse_msg(const char *chan, const char *payload, size_t plen,
				    struct cp_ctail_push *p, redisReply **keep)
{
	static char buf[8192];
	size_t n = smessage(buf, sizeof(buf), "smessage", chan, payload, plen);
	redisReply *rep = resp(buf, n);
	enum cp_ctail_kind k = cp_ctail_push_parse(rep, p);

	if (keep != NULL)
		*keep = rep;
	else
		freeReplyObject(rep);
	return k;
}

static void test_channel(void)
{
	static const char *const bad[] = {
		"decp:{m0}:tail", "decp:{m07}:tail", "decp:{m}:tail", "decp:{m7}:tai",
		"decp:{m7}:tailx", "xdecp:{m7}:tail", "decp:{m-7}:tail", "decp:{m7a}:tail",
		"decp:{m+7}:tail", "decp:{m 7}:tail", "decp:{m18446744073709551616}:tail",
		"decp:{m99999999999999999999}:tail", "decp:{m7}:signals", "", "decp:{m", "}:tail"};
	uint64_t m = 0;

	CU_ASSERT_EQUAL(cp_ctail_channel_master("decp:{m7}:tail", 14, &m), 0);
	CU_ASSERT_EQUAL(m, 7);
	CU_ASSERT_EQUAL(cp_ctail_channel_master("decp:{m18446744073709551615}:tail", 33, &m), 0);
	CU_ASSERT_EQUAL(m, UINT64_MAX); /* boundary: the largest id */
	/* not NUL-terminated: only len bytes count */
	CU_ASSERT_EQUAL(cp_ctail_channel_master("decp:{m12}:tailXYZ", 15, &m), 0);
	CU_ASSERT_EQUAL(m, 12);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(cp_ctail_channel_master(bad[i], strlen(bad[i]), &m), -EINVAL);
		if (cp_ctail_channel_master(bad[i], strlen(bad[i]), &m) != -EINVAL)
			fprintf(stderr, "\n  accepted %s\n", bad[i]);
	}
}

static void test_message_items(void)
{
	static const char pl[] = "41:3:abc42:1:x43:5:a:b:c";
	struct cp_ctail_push p;
	struct cp_ctail_item it;
	redisReply *rep;
	size_t off = 0;

	CU_ASSERT_EQUAL(parse_msg("decp:{m9}:tail", pl, sizeof(pl) - 1, &p, &rep),
			CP_CTAIL_MESSAGE);
	CU_ASSERT_EQUAL(p.master, 9);
	CU_ASSERT_EQUAL(p.first, 41);
	CU_ASSERT_EQUAL(p.last, 43);
	CU_ASSERT_EQUAL(cp_ctail_item_next(p.items, p.items_len, &off, &it), 1);
	CU_ASSERT_EQUAL(it.seq, 41);
	CU_ASSERT_EQUAL(it.rec_len, 3);
	CU_ASSERT_EQUAL(memcmp(it.rec, "abc", 3), 0);
	CU_ASSERT_EQUAL(cp_ctail_item_next(p.items, p.items_len, &off, &it), 1);
	CU_ASSERT_EQUAL(it.seq, 42);
	CU_ASSERT_EQUAL(cp_ctail_item_next(p.items, p.items_len, &off, &it), 1);
	CU_ASSERT_EQUAL(it.seq, 43);
	CU_ASSERT_EQUAL(it.rec_len, 5); /* ':' inside a record is data */
	CU_ASSERT_EQUAL(memcmp(it.rec, "a:b:c", 5), 0);
	CU_ASSERT_EQUAL(cp_ctail_item_next(p.items, p.items_len, &off, &it), 0);
	freeReplyObject(rep);
	/* binary records (NUL, CR LF) */
	static const char bin[] = "1:4:\0\r\n\xff";
	CU_ASSERT_EQUAL(parse_msg("decp:{m1}:tail", bin, sizeof(bin) - 1, &p, NULL),
			CP_CTAIL_MESSAGE);
	CU_ASSERT_EQUAL(p.first, 1);
	CU_ASSERT_EQUAL(p.last, 1);
}

/* A known master's message whose payload is not items: first = last = 0 (read the
 * stream), never OTHER. */
static void test_message_bad_payload(void)
{
	static const char *const bad[] = {
		"",               /* no item */
		"5",              /* no ':' */
		"5:",             /* no length */
		"5:3:ab",         /* record shorter than its length */
		"5:3:abcX",       /* trailing byte */
		"5:1:a7:1:b",     /* not contiguous */
		"5:1:a5:1:b",     /* repeated */
		"5:1:a4:1:b",     /* backwards */
		"05:1:a",         /* leading zero */
		"0:1:a",          /* sequence 0 */
		"5:01:a",         /* length with a leading zero */
		"5:0:",           /* empty record */
		"5:-1:a",         /* sign */
		"5:12345678:a",   /* length of 8 digits */
		"5:1048577:a",    /* above CP_CTAIL_REC_MAX */
		"18446744073709551616:1:a",           /* sequence above UINT64_MAX */
		"18446744073709551615:1:a1:1:b",      /* the next sequence wraps */
	};
	struct cp_ctail_push p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parse_msg("decp:{m3}:tail", bad[i], strlen(bad[i]), &p, NULL),
				CP_CTAIL_MESSAGE);
		CU_ASSERT_EQUAL(p.master, 3);
		CU_ASSERT_EQUAL(p.first, 0);
		CU_ASSERT_EQUAL(p.last, 0);
		if (p.first != 0)
			fprintf(stderr, "\n  accepted payload %s\n", bad[i]);
	}
	/* boundary: the largest sequence alone, the largest record length */
	CU_ASSERT_EQUAL(parse_msg("decp:{m3}:tail", "18446744073709551615:1:a", 24, &p, NULL),
			CP_CTAIL_MESSAGE);
	CU_ASSERT_EQUAL(p.first, UINT64_MAX);
	size_t off = 0;
	struct cp_ctail_item it;
	CU_ASSERT_EQUAL(cp_ctail_item_next("1:1048576:", 10, &off, &it), -EINVAL); /* short */
	CU_ASSERT_EQUAL(off, 0);
}

/* The reply of RESP bytes (n bytes) parses as kind, naming master. */
static void expect_kind(const char *bytes, size_t n, enum cp_ctail_kind kind, uint64_t master)
{
	struct cp_ctail_push p;
	redisReply *rep = resp(bytes, n);

	CU_ASSERT_EQUAL(cp_ctail_push_parse(rep, &p), kind);
	CU_ASSERT_EQUAL(p.master, master);
	freeReplyObject(rep);
}

#define EXPECT_TEXT(text, kind, master) expect_kind(text, sizeof(text) - 1, kind, master)

static void test_other_kinds(void)
{
	struct cp_ctail_push p;
	char buf[512];

	EXPECT_TEXT("*3\r\n$10\r\nssubscribe\r\n$14\r\ndecp:{m5}:tail\r\n:1\r\n",
		    CP_CTAIL_SUBSCRIBED, 5);
	EXPECT_TEXT("*3\r\n$12\r\nsunsubscribe\r\n$14\r\ndecp:{m5}:tail\r\n:0\r\n",
		    CP_CTAIL_UNSUBSCRIBED, 5);
	EXPECT_TEXT("-MOVED 3300 127.0.0.1:7001\r\n", CP_CTAIL_ERROR, 0);
	/* not ours: another channel, classic pub/sub, a count that is not an integer, a
	 * message without payload string, a short array, a plain status */
	expect_kind(buf, smessage(buf, sizeof(buf), "smessage", "other:{m5}:tail", "1:1:a", 5),
		    CP_CTAIL_OTHER, 0);
	expect_kind(buf, smessage(buf, sizeof(buf), "message", "decp:{m5}:tail", "1:1:a", 5),
		    CP_CTAIL_OTHER, 0);
	expect_kind(buf, smessage(buf, sizeof(buf), "ssubscribe", "decp:{m5}:tail", "1", 1),
		    CP_CTAIL_OTHER, 0);
	EXPECT_TEXT("*3\r\n$8\r\nsmessage\r\n$14\r\ndecp:{m5}:tail\r\n:7\r\n", CP_CTAIL_OTHER, 0);
	EXPECT_TEXT("*2\r\n$8\r\nsmessage\r\n$14\r\ndecp:{m5}:tail\r\n", CP_CTAIL_OTHER, 0);
	EXPECT_TEXT("+OK\r\n", CP_CTAIL_OTHER, 0);
	CU_ASSERT_EQUAL(cp_ctail_push_parse(NULL, &p), CP_CTAIL_OTHER);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_ctail_push", NULL, NULL);
	CU_add_test(s, "channel names", test_channel);
	CU_add_test(s, "smessage items", test_message_items);
	CU_add_test(s, "smessage payloads that are not items", test_message_bad_payload);
	CU_add_test(s, "ssubscribe, sunsubscribe, errors, other replies", test_other_kinds);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
