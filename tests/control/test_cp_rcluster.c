/*
 * test_cp_rcluster: the pure parts of the Redis Cluster routing layer
 * (controlplane/common/cp_rcluster.h): key slots with hash tags (values checked against
 * redis-server 7.0's CLUSTER KEYSLOT), CLUSTER SLOTS replies (given as RESP bytes and read
 * with hiredis's own reader, as a live connection would), MOVED/ASK error texts.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stdlib.h>
#include <string.h>

#include "cp_rcluster.h"
#include "cp_redis.h"

static uint16_t slot_of(const char *k)
{
	return cp_rcl_key_slot(k, strlen(k));
}

static void test_slot_known_values(void)
{
	/* CLUSTER KEYSLOT of redis-server 7.0.15 */
	CU_ASSERT_EQUAL(slot_of("foo"), 12182);
	CU_ASSERT_EQUAL(slot_of("bar"), 5061);
	CU_ASSERT_EQUAL(slot_of("123456789"), 0x31c3 & 16383);
	CU_ASSERT_EQUAL(slot_of(""), 0);
	CU_ASSERT_EQUAL(slot_of(CP_REDIS_MASTERS_KEY), CP_REDIS_MASTERS_SLOT);
}

static void test_slot_hash_tags(void)
{
	/* every key of one master in one slot: the tag decides */
	CU_ASSERT_EQUAL(slot_of("decp:{m7}:signals"), slot_of("m7"));
	CU_ASSERT_EQUAL(slot_of("decp:{m7}:book"), slot_of("decp:{m7}:signals"));
	CU_ASSERT_EQUAL(slot_of("decp:{m7}:positions"), slot_of("decp:{m7}:signals"));
	CU_ASSERT_NOT_EQUAL(slot_of("decp:{m7}:signals"), slot_of("decp:{m8}:signals"));
	CU_ASSERT_EQUAL(slot_of(CP_REDIS_PROT_KEY), slot_of(CP_REDIS_PROT_ARCHIVE_KEY));
	/* boundary cases of the spec: first '{' and the next '}' only; "{}" hashes it all */
	CU_ASSERT_EQUAL(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
	CU_ASSERT_NOT_EQUAL(slot_of("foo{}{bar}"), slot_of("bar")); /* whole key hashed */
	CU_ASSERT_EQUAL(slot_of("foo{{bar}}zap"), slot_of("{bar"));
	CU_ASSERT_EQUAL(slot_of("foo{bar}{zap}"), slot_of("bar"));
	CU_ASSERT_NOT_EQUAL(slot_of("no}tag{"), slot_of("tag")); /* no '}' after the '{' */
	/* binary keys: a NUL is a byte like any other */
	CU_ASSERT_NOT_EQUAL(cp_rcl_key_slot("a\0b", 3), cp_rcl_key_slot("a", 1));
}

/* One reply from RESP bytes, as hiredis reads it off a socket. */
static redisReply *resp(const char *s)
{
	redisReader *rd = redisReaderCreate();
	void *rep = NULL;

	CU_ASSERT_FATAL(rd != NULL);
	CU_ASSERT_EQUAL(redisReaderFeed(rd, s, strlen(s)), REDIS_OK);
	CU_ASSERT_EQUAL(redisReaderGetReply(rd, &rep), REDIS_OK);
	redisReaderFree(rd);
	CU_ASSERT_FATAL(rep != NULL);
	return rep;
}

/* 3 primaries (7001..7003), each with a replica, as redis-cli --cluster create makes them */
static const char three[] =
	"*3\r\n"
	"*4\r\n:0\r\n:5460\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$2\r\nid\r\n"
	"*4\r\n:5461\r\n:10922\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7002\r\n$2\r\nid\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7006\r\n$2\r\nid\r\n"
	"*4\r\n:10923\r\n:16383\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
	"*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n";

static void test_map_three_primaries(void)
{
	struct cp_rcl_map *m = malloc(sizeof(*m));
	redisReply *r = resp(three);

	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "seed", m), 0);
	CU_ASSERT_EQUAL(m->n, 3);
	CU_ASSERT_STRING_EQUAL(m->node[0].host, "127.0.0.1");
	CU_ASSERT_EQUAL(m->node[0].port, 7001);
	CU_ASSERT_EQUAL(m->node[2].port, 7003);
	CU_ASSERT_EQUAL(m->slot[0], 0);
	CU_ASSERT_EQUAL(m->slot[5460], 0);
	CU_ASSERT_EQUAL(m->slot[5461], 1);
	CU_ASSERT_EQUAL(m->slot[10922], 1);
	CU_ASSERT_EQUAL(m->slot[10923], 2);
	CU_ASSERT_EQUAL(m->slot[16383], 2);
	freeReplyObject(r);
	free(m);
}

/* The cluster tail keeps its subscriptions while a map read again equals the last one. */
static void test_map_equal(void)
{
	struct cp_rcl_map *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	redisReply *r = resp(three);

	CU_ASSERT_FATAL(a != NULL && b != NULL);
	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "seed", a), 0);
	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "seed", b), 0);
	CU_ASSERT(cp_rcl_map_equal(a, b));
	b->slot[5461] = 2; /* one slot moved (a reshard) */
	CU_ASSERT(!cp_rcl_map_equal(a, b));
	b->slot[5461] = 1;
	b->node[1].port = 7006; /* the replica promoted in its place (a failover) */
	CU_ASSERT(!cp_rcl_map_equal(a, b));
	b->node[1].port = 7002;
	b->n = 2;
	CU_ASSERT(!cp_rcl_map_equal(a, b));
	freeReplyObject(r);
	free(a);
	free(b);
}

static void test_map_split_ranges_and_holes(void)
{
	/* after a reshard one primary serves two ranges; slot 100..199 served by nobody; a
	 * node that does not know its address answers "" (the seed's host stands in) */
	struct cp_rcl_map *m = malloc(sizeof(*m));
	redisReply *r = resp("*3\r\n"
			     "*3\r\n:0\r\n:99\r\n*2\r\n$1\r\na\r\n:1\r\n"
			     "*3\r\n:200\r\n:16383\r\n*2\r\n$0\r\n\r\n:2\r\n"
			     "*3\r\n:50\r\n:60\r\n*2\r\n$1\r\na\r\n:1\r\n");

	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "10.0.0.9", m), 0);
	CU_ASSERT_EQUAL(m->n, 2);
	CU_ASSERT_STRING_EQUAL(m->node[1].host, "10.0.0.9");
	CU_ASSERT_EQUAL(m->slot[55], 0);
	CU_ASSERT_EQUAL(m->slot[99], 0);
	CU_ASSERT_EQUAL(m->slot[100], CP_RCL_NONE);
	CU_ASSERT_EQUAL(m->slot[199], CP_RCL_NONE);
	CU_ASSERT_EQUAL(m->slot[200], 1);
	freeReplyObject(r);
	free(m);
}

static void test_map_refused(void)
{
	struct cp_rcl_map *m = malloc(sizeof(*m));
	static const char *bad[] = {
		"-ERR This instance has cluster support disabled\r\n",
		":1\r\n",
		"*1\r\n:0\r\n",                                            /* not a range */
		"*1\r\n*2\r\n:0\r\n:1\r\n",                                /* no primary */
		"*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\na\r\n:1\r\n",         /* reversed */
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n",     /* slot out of range */
		"*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\na\r\n:0\r\n",         /* port 0 */
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\na\r\n:65536\r\n",
		"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n:1\r\n:1\r\n",              /* host not a string */
		"*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$1\r\na\r\n",               /* no port */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		redisReply *r = resp(bad[i]);
		CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "s", m), -EPROTO);
		freeReplyObject(r);
	}
	CU_ASSERT_EQUAL(cp_rcl_map_parse(NULL, "s", m), -EPROTO);
	free(m);
}

static void test_map_too_many_primaries(void)
{
	struct cp_rcl_map *m = malloc(sizeof(*m));
	size_t cap = 65 * 64 + 16, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s, cap, "*%d\r\n", CP_RCL_MAX_NODES + 1);
	for (int i = 0; i <= CP_RCL_MAX_NODES; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"*3\r\n:%d\r\n:%d\r\n*2\r\n$1\r\nh\r\n:%d\r\n", i, i,
					1000 + i);
	redisReply *r = resp(s);
	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "s", m), -E2BIG);
	freeReplyObject(r);
	free(s);
	free(m);
}

static void test_redirects(void)
{
	struct cp_rcl_redirect d;
	const char *moved = "MOVED 3999 127.0.0.1:6381";

	CU_ASSERT_EQUAL(cp_rcl_redirect_parse(moved, strlen(moved), &d), 0);
	CU_ASSERT_FALSE(d.ask);
	CU_ASSERT_EQUAL(d.slot, 3999);
	CU_ASSERT_STRING_EQUAL(d.to.host, "127.0.0.1");
	CU_ASSERT_EQUAL(d.to.port, 6381);
	CU_ASSERT_EQUAL(cp_rcl_redirect_parse("ASK 16383 ::1:7000", 18, &d), 0);
	CU_ASSERT_TRUE(d.ask);
	CU_ASSERT_EQUAL(d.slot, 16383);
	CU_ASSERT_STRING_EQUAL(d.to.host, "::1");
	CU_ASSERT_EQUAL(d.to.port, 7000);
	/* not NUL-terminated: only len bytes count */
	CU_ASSERT_EQUAL(cp_rcl_redirect_parse("ASK 1 h:12345678", 12, &d), 0);
	CU_ASSERT_EQUAL(d.to.port, 1234);

	static const char *bad[] = {
		"ERR unknown command", "MOVED", "MOVED 3999", "MOVED 3999 ", "MOVED 16384 h:1",
		"MOVED x h:1", "MOVED 1 h", "MOVED 1 :1", "MOVED 1 h:", "MOVED 1 h:0",
		"MOVED 1 h:65536", "MOVED 1 h:1x", "ASK  1 h:1", "moved 1 h:1", "MOVED 1234567 h:1",
		"TRYAGAIN Multiple keys request during rehashing of slot", "MOVED 1 a b:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(cp_rcl_redirect_parse(bad[i], strlen(bad[i]), &d), -EINVAL);
	/* found by fuzz_rcluster: a NUL in the host */
	CU_ASSERT_EQUAL(cp_rcl_redirect_parse("ASK 1 \0h:5", 10, &d), -EINVAL);
}

static void test_note_moved(void)
{
	struct cp_rcluster *c = malloc(sizeof(*c));
	redisReply *r = resp(three), *mv = resp("-MOVED 7 127.0.0.1:7003\r\n"), *ok = resp("+OK\r\n");
	struct cp_rcl_redirect d;

	cp_rcluster_init(c, "127.0.0.1:7001", 1000);
	CU_ASSERT_EQUAL(cp_rcl_map_parse(r, "s", &c->map), 0);
	/* no connections: a MOVED only marks the map stale */
	CU_ASSERT_TRUE(cp_rcluster_note(c, mv, &d));
	CU_ASSERT_TRUE(c->stale);
	CU_ASSERT_EQUAL(c->map.slot[7], 0);
	CU_ASSERT_EQUAL(c->moved, 1);
	CU_ASSERT_FALSE(cp_rcluster_note(c, ok, &d));
	CU_ASSERT_FALSE(cp_rcluster_note(c, NULL, &d));
	CU_ASSERT_EQUAL(cp_rcluster_node_of(c, "foo", 3), 2); /* slot 12182 */
	freeReplyObject(r);
	freeReplyObject(mv);
	freeReplyObject(ok);
	free(c);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_rcluster", NULL, NULL);
	CU_add_test(s, "slot: known values", test_slot_known_values);
	CU_add_test(s, "slot: hash tags (boundary cases)", test_slot_hash_tags);
	CU_add_test(s, "map: three primaries", test_map_three_primaries);
	CU_add_test(s, "map: equal, a slot moved, a primary replaced", test_map_equal);
	CU_add_test(s, "map: split ranges, holes, empty host", test_map_split_ranges_and_holes);
	CU_add_test(s, "map: malformed replies refused", test_map_refused);
	CU_add_test(s, "map: more than 64 primaries", test_map_too_many_primaries);
	CU_add_test(s, "redirect: MOVED and ASK texts", test_redirects);
	CU_add_test(s, "note: MOVED without a connection", test_note_moved);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
