/*
 * test_cp_discover: the archiver's SCAN for signal streams
 * (controlplane/common/cp_discover.h) in a real redis-server (tests/harness), CUnit:
 * - a key is a master's signals stream only in the exact form decp:{m<id>}:signals;
 * - a sweep finds every signals stream once or more and nothing else (a string under a
 *   signals name, another stream of a master, unrelated keys), lists every one of them
 *   in decp:masters (those the set lacked are counted as listed again), and is bounded:
 *   a step sends at most CP_DISCOVER_CALLS SCANs to the primary;
 * - the next sweep waits masters_scan_s after the last one started; 0 never sweeps.
 */
#include <CUnit/Basic.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_config.h"
#include "cp_discover.h"
#include "cp_redis.h"
#include "harness.h"

#define STREAMS 2500u
#define LISTED 100u     /* decp:masters lists 1..LISTED before the sweep */
#define OTHER_KEYS 20000u

static struct harness_redis *srv;
static redisContext *rc;

static void test_master_of(void)
{
	static const struct {
		const char *key;
		uint64_t m;
	} cases[] = {
		{"decp:{m1}:signals", 1},
		{"decp:{m12}:signals", 12},
		{"decp:{m18446744073709551615}:signals", UINT64_MAX},
		{"decp:{m18446744073709551616}:signals", 0},   /* overflow */
		{"decp:{m0}:signals", 0},
		{"decp:{m012}:signals", 0},                    /* not how the edge writes it */
		{"decp:{m}:signals", 0},
		{"decp:{mx1}:signals", 0},
		{"decp:{m1}:signals:x", 0},
		{"decp:{m1}:positions", 0},
		{"decp:{m1}:signal", 0},
		{"xdecp:{m1}:signals", 0},
		{"decp:masters", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t m = cp_discover_master_of(cases[i].key, strlen(cases[i].key));
		if (m != cases[i].m)
			fprintf(stderr, "%s: %" PRIu64 ", expected %" PRIu64 "\n", cases[i].key, m,
				cases[i].m);
		CU_ASSERT_EQUAL(m, cases[i].m);
	}
}

static void cmd_ok(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_NOT_EQUAL(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

static long long integer(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	return v;
}

static unsigned char seen[STREAMS + 1];
static unsigned int found_other;

static int on_found(void *arg, uint64_t m)
{
	(void)arg;
	if (m >= 1 && m <= STREAMS)
		seen[m] = 1;
	else
		found_other++;
	return 0;
}

static void test_sweep(void)
{
	/* the keyspace: STREAMS signals streams, decoys, OTHER_KEYS unrelated keys */
	for (unsigned int m = 1; m <= STREAMS; m++)
		redisAppendCommand(rc, "XADD decp:{m%u}:signals 1-0 s 1", m);
	for (unsigned int k = 0; k < OTHER_KEYS; k++)
		redisAppendCommand(rc, "SET other:%u x", k);
	for (unsigned int m = 1; m <= LISTED; m++)
		redisAppendCommand(rc, "SADD decp:masters %u", m);
	for (unsigned int i = 0; i < STREAMS + OTHER_KEYS + LISTED; i++) {
		redisReply *r = NULL;
		CU_ASSERT_EQUAL_FATAL(redisGetReply(rc, (void **)&r), REDIS_OK);
		freeReplyObject(r);
	}
	cmd_ok("SET decp:{m6000}:signals not-a-stream");
	cmd_ok("XADD decp:{m7000}:positions 1-0 q 1");
	cmd_ok("HSET decp:{m8000}:book seq 1");

	struct cp_config cfg;
	cp_config_defaults(&cfg);
	snprintf(cfg.redis_host, sizeof(cfg.redis_host), "%s", harness_redis_host(srv));
	cfg.redis_port = (uint32_t)harness_redis_port(srv);
	struct cp_redis r;
	cp_redis_init(&r, &cfg, "test");
	CU_ASSERT_EQUAL_FATAL(cp_redis_ensure(&r), 0);
	struct cp_discover d;
	cp_discover_init(&d, 60, "test");

	/* bounded: the first step sends CP_DISCOVER_CALLS SCANs and is not done (the
	 * keyspace is larger than CP_DISCOVER_CALLS * CP_DISCOVER_COUNT) */
	uint64_t t0 = 1000000000ull;
	CU_ASSERT_EQUAL(cp_discover_step(&d, &r, t0, on_found, NULL), 0);
	CU_ASSERT_EQUAL(d.calls, CP_DISCOVER_CALLS);
	CU_ASSERT_TRUE(d.active);
	unsigned int steps = 1;
	while (d.active && steps < 100) {
		CU_ASSERT_EQUAL(cp_discover_step(&d, &r, t0 + steps, on_found, NULL), 0);
		steps++;
	}
	CU_ASSERT_FALSE(d.active);
	CU_ASSERT_EQUAL(d.sweeps, 1);
	CU_ASSERT_TRUE(steps >= 2);
	/* about one call per COUNT keys (SCAN may return a little more or less per call) */
	CU_ASSERT_TRUE(d.calls <= (uint64_t)steps * CP_DISCOVER_CALLS);
	fprintf(stderr, "\n  %u keys: %u step(s), %" PRIu64 " SCAN call(s), %" PRIu64
		" stream(s) found, %" PRIu64 " listed again\n", STREAMS + OTHER_KEYS + 4, steps,
		d.calls, d.streams, d.relisted);
	unsigned int missing = 0;
	for (unsigned int m = 1; m <= STREAMS; m++)
		missing += !seen[m];
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(found_other, 0);
	CU_ASSERT_TRUE(d.streams >= STREAMS);
	/* every stream listed; those the set lacked counted */
	CU_ASSERT_EQUAL(integer("SCARD decp:masters"), STREAMS);
	CU_ASSERT_EQUAL(d.relisted, STREAMS - LISTED);
	CU_ASSERT_EQUAL(integer("SISMEMBER decp:masters 6000"), 0);
	CU_ASSERT_EQUAL(integer("SISMEMBER decp:masters 7000"), 0);

	/* the next sweep: masters_scan_s after the last one started, not before */
	uint64_t calls = d.calls;
	CU_ASSERT_EQUAL(cp_discover_step(&d, &r, t0 + 59000000000ull, on_found, NULL), 0);
	CU_ASSERT_EQUAL(d.calls, calls);
	CU_ASSERT_EQUAL(cp_discover_step(&d, &r, t0 + 60000000000ull, on_found, NULL), 0);
	CU_ASSERT_TRUE(d.calls > calls);
	CU_ASSERT_TRUE(d.active);
	cp_discover_fini(&d);

	/* masters_scan_s = 0: never */
	cp_discover_init(&d, 0, "test");
	CU_ASSERT_EQUAL(cp_discover_step(&d, &r, t0, on_found, NULL), 0);
	CU_ASSERT_EQUAL(d.calls, 0);
	cp_discover_fini(&d);
	cp_redis_close(&r);
}

int main(void)
{
	srv = harness_redis_start(NULL);
	if (srv == NULL) {
		fprintf(stderr, "cannot start redis-server\n");
		return 1;
	}
	rc = redisConnect(harness_redis_host(srv), harness_redis_port(srv));
	if (rc == NULL || rc->err != 0 || CU_initialize_registry() != CUE_SUCCESS) {
		redisFree(rc);
		harness_redis_destroy(srv);
		return 1;
	}
	CU_pSuite s = CU_add_suite("cp_discover", NULL, NULL);
	CU_add_test(s, "a signals stream's key, exactly", test_master_of);
	CU_add_test(s, "a sweep finds every signals stream, lists it, bounded per step",
		    test_sweep);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	redisFree(rc);
	harness_redis_destroy(srv);
	return failures == 0 ? 0 : 1;
}
