/*
 * test_cp_redis_lib: the decp function library (controlplane/common/cp_redis.c) in a real
 * redis-server (tests/harness). decp_signals_run, which the edge sends for a master's
 * consecutive records, must answer and write exactly what decp_signals does for the same
 * signals: written, duplicate and gap, one status character each, the stream 1..N without
 * holes; and its entry IDs must be exact decimal sequences up to the library's 2^53 limit
 * (a Lua number formatted as "%.14g" would turn 10^14 into "1e+14").
 */
#include <CUnit/Basic.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_redis.h"
#include "harness.h"

static struct harness_redis *srv;
static redisContext *rc;

/* FCALL name 1 key args...: the reply's string ("" when it is not a string). */
static char *fcall(const char *fn, const char *key, int argc, const char **argv)
{
	static char out[256];
	const char *v[40] = {"FCALL", fn, "1", key};
	int n = 4;
	for (int i = 0; i < argc && n < 40; i++)
		v[n++] = argv[i];
	redisReply *r = redisCommandArgv(rc, n, v, NULL);
	out[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_STRING)
		snprintf(out, sizeof(out), "%s", r->str);
	else if (r != NULL && r->type == REDIS_REPLY_ERROR)
		fprintf(stderr, "%s: %s\n", fn, r->str);
	freeReplyObject(r);
	return out;
}

/* decp_signals_run key first recs...: recs as strings */
static char *run(const char *key, const char *first, int n, const char **recs)
{
	const char *a[20] = {first};
	for (int i = 0; i < n; i++)
		a[1 + i] = recs[i];
	return fcall(CP_REDIS_FN_SIGNALS_RUN, key, 1 + n, a);
}

/* decp_signals key seq rec seq rec ...: the same signals, each with its own sequence */
static char *pairs(const char *key, uint64_t first, int n, const char **recs)
{
	char seqs[20][24];
	const char *a[40];
	for (int i = 0; i < n; i++) {
		snprintf(seqs[i], sizeof(seqs[i]), "%" PRIu64, first + (uint64_t)i);
		a[2 * i] = seqs[i];
		a[2 * i + 1] = recs[i];
	}
	return fcall(CP_REDIS_FN_SIGNALS, key, 2 * n, a);
}

/* The stream as "id=r id=r ..." */
static char *stream(const char *key)
{
	static char out[1024];
	redisReply *r = redisCommand(rc, "XRANGE %s - +", key);
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i], *f = e->element[1];
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s=%s", i ? " " : "",
				      e->element[0]->str, f->elements == 2 ? f->element[1]->str : "?");
	}
	freeReplyObject(r);
	return out;
}

static void test_same_as_pairs(void)
{
	const char *abc[] = {"a", "b", "c"}, *wxyz[] = {"w", "x", "y", "z"}, *pq[] = {"p", "q"};
	/* fresh stream: written */
	CU_ASSERT_STRING_EQUAL(run("s:run", "1", 3, abc), "111");
	CU_ASSERT_STRING_EQUAL(pairs("s:pairs", 1, 3, abc), "111");
	/* overlapping the end: duplicates, then written */
	CU_ASSERT_STRING_EQUAL(run("s:run", "2", 4, wxyz), "0011");
	CU_ASSERT_STRING_EQUAL(pairs("s:pairs", 2, 4, wxyz), "0011");
	/* all already there */
	CU_ASSERT_STRING_EQUAL(run("s:run", "1", 2, pq), "00");
	CU_ASSERT_STRING_EQUAL(pairs("s:pairs", 1, 2, pq), "00");
	/* a hole before them: gaps, nothing written */
	CU_ASSERT_STRING_EQUAL(run("s:run", "7", 2, pq), "--");
	CU_ASSERT_STRING_EQUAL(pairs("s:pairs", 7, 2, pq), "--");
	/* what is stored is the same, 1..5 without holes, the first record of each sequence */
	CU_ASSERT_STRING_EQUAL(stream("s:run"), "1-0=a 2-0=b 3-0=c 4-0=y 5-0=z");
	CU_ASSERT_STRING_EQUAL(stream("s:run"), stream("s:pairs"));
	/* continuing */
	CU_ASSERT_STRING_EQUAL(run("s:run", "6", 2, pq), "11");
	CU_ASSERT_STRING_EQUAL(stream("s:run"), "1-0=a 2-0=b 3-0=c 4-0=y 5-0=z 6-0=p 7-0=q");
}

static void test_large_sequences(void)
{
	const char *pq[] = {"p", "q"};
	/* 10^14 and the library's limit, 2^53 - 1, as exact decimals */
	redisReply *r = redisCommand(rc, "XADD s:big 99999999999999-0 r o");
	freeReplyObject(r);
	CU_ASSERT_STRING_EQUAL(run("s:big", "100000000000000", 2, pq), "11");
	CU_ASSERT_STRING_EQUAL(stream("s:big"),
			       "99999999999999-0=o 100000000000000-0=p 100000000000001-0=q");
	r = redisCommand(rc, "XADD s:max 9007199254740989-0 r o");
	freeReplyObject(r);
	CU_ASSERT_STRING_EQUAL(run("s:max", "9007199254740990", 2, pq), "11");
	CU_ASSERT_STRING_EQUAL(stream("s:max"), "9007199254740989-0=o 9007199254740990-0=p "
			       "9007199254740991-0=q");
	/* a run partly past a gap in the middle cannot happen (consecutive), but one that
	 * starts below the end and runs past it writes only the new ones, in order */
	const char *abcd[] = {"a", "b", "c", "d"};
	CU_ASSERT_STRING_EQUAL(run("s:big", "100000000000000", 4, abcd), "0011");
	CU_ASSERT_STRING_EQUAL(stream("s:big"),
			       "99999999999999-0=o 100000000000000-0=p 100000000000001-0=q "
			       "100000000000002-0=c 100000000000003-0=d");
}

int main(void)
{
	srv = harness_redis_start(NULL);
	if (srv == NULL) {
		fprintf(stderr, "cannot start redis-server\n");
		return 1;
	}
	rc = redisConnect(harness_redis_host(srv), harness_redis_port(srv));
	redisReply *r = rc != NULL && rc->err == 0 ?
		redisCommand(rc, "FUNCTION LOAD REPLACE %s", cp_redis_library) : NULL;
	int ok = r != NULL && r->type == REDIS_REPLY_STRING;
	if (!ok)
		fprintf(stderr, "FUNCTION LOAD: %s\n", r != NULL && r->type == REDIS_REPLY_ERROR ?
			r->str : "no answer");
	freeReplyObject(r);
	if (!ok || CU_initialize_registry() != CUE_SUCCESS) {
		redisFree(rc);
		harness_redis_destroy(srv);
		return 1;
	}
	CU_pSuite s = CU_add_suite("cp_redis_lib", NULL, NULL);
	CU_add_test(s, "decp_signals_run answers and writes as decp_signals",
		    test_same_as_pairs);
	CU_add_test(s, "decp_signals_run: exact IDs up to 2^53 - 1", test_large_sequences);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	redisFree(rc);
	harness_redis_destroy(srv);
	return failures == 0 ? 0 : 1;
}
