/*
 * test_cp_redis_lib: the decp function library (controlplane/common/cp_redis.c) in a real
 * redis-server (tests/harness). decp_signals_run, which the edge sends for a master's
 * consecutive records, must answer and write exactly what decp_signals does for the same
 * signals: written, duplicate and gap, one status character each, the stream 1..N without
 * holes; and its entry IDs must be exact decimal sequences up to the library's 2^53 limit
 * (a Lua number formatted as "%.14g" would turn 10^14 into "1e+14").
 *
 * cp_redis_load_library: a process loads its build's library over an older one (none, or
 * one without the version function) and never over a newer one, whoever connects last;
 * and each library's text is the one its version names (SHA-256 recorded here: a change
 * without a new version fails, so that two builds never call the same version different
 * code).
 */
#include <CUnit/Basic.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <signal.h>
#include <unistd.h>

#include "cp_edge_session.h"
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

/* SHA-256 of each library's text at its version: a change of the text needs a new version
 * (and its hash here). */
#define LIB_SHA256_V2 "663dbf86661c1ea03745880ec08370f09cc265d719daa6ec99f9867b8e85bc39"
#define SESSION_SHA256_V2 "5dab7f1e4190099414a63a36db22cdb2ff834f9193bf6ad873fc257be2767f0e"

static void hex_sha256(const char *text, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)text, strlen(text), d);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_version_names_text(void)
{
	char h[65];
	CU_ASSERT_EQUAL(CP_REDIS_LIB_VERSION, 2);
	hex_sha256(cp_redis_library, h);
	if (strcmp(h, LIB_SHA256_V2) != 0)
		fprintf(stderr, "the decp library's text changed (SHA-256 %s): raise "
			"CP_REDIS_LIB_VERSION and record the new hash here\n", h);
	CU_ASSERT_STRING_EQUAL(h, LIB_SHA256_V2);
	CU_ASSERT_EQUAL(CP_EDGE_SESSION_LIB_VERSION, 2);
	hex_sha256(cp_edge_session_library, h);
	if (strcmp(h, SESSION_SHA256_V2) != 0)
		fprintf(stderr, "the decp_session library's text changed (SHA-256 %s): raise "
			"CP_EDGE_SESSION_LIB_VERSION and record the new hash here\n", h);
	CU_ASSERT_STRING_EQUAL(h, SESSION_SHA256_V2);
}

/* FCALL_RO decp_lib_version: the loaded library's version (-1: none answers). */
static long long lib_version(void)
{
	redisReply *r = redisCommand(rc, "FCALL_RO " CP_REDIS_FN_VERSION " 0");
	long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	return v;
}

/* calls of FUNCTION LOAD so far (INFO commandstats) */
static long function_loads(void)
{
	redisReply *r = redisCommand(rc, "INFO commandstats");
	const char *p = r != NULL && r->type == REDIS_REPLY_STRING ?
			strstr(r->str, "cmdstat_function|load:calls=") : NULL;
	long n = p != NULL ? atol(p + strlen("cmdstat_function|load:calls=")) : 0;
	freeReplyObject(r);
	return n;
}

static int load_text(const char *text)
{
	redisReply *r = redisCommand(rc, "FUNCTION LOAD REPLACE %s", text);
	int ok = r != NULL && r->type == REDIS_REPLY_STRING;
	if (!ok)
		fprintf(stderr, "FUNCTION LOAD: %s\n", r != NULL && r->type == REDIS_REPLY_ERROR ?
			r->str : "no answer");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static void test_load_never_downgrades(void)
{
	static char older[16384], newer[16384 + 256];
	char why[256];
	const char *vf = strstr(cp_redis_library, "redis.register_function{function_name = '"
				CP_REDIS_FN_VERSION "'");
	CU_ASSERT_PTR_NOT_NULL_FATAL(vf);
	CU_ASSERT_FATAL(strlen(cp_redis_library) < sizeof(older));
	/* an older build's library: the same functions, no version function */
	snprintf(older, sizeof(older), "%.*s", (int)(vf - cp_redis_library), cp_redis_library);
	CU_ASSERT_EQUAL(load_text(older), 0);
	CU_ASSERT_EQUAL(lib_version(), -1);
	CU_ASSERT_EQUAL(cp_redis_load_library(rc, cp_redis_library, CP_REDIS_FN_VERSION,
					      CP_REDIS_LIB_VERSION, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(lib_version(), CP_REDIS_LIB_VERSION);
	/* ours again: kept, and the connection still writes once (decp_conn, see
	 * test_connect_writes) */
	long loads = function_loads();
	CU_ASSERT_EQUAL(cp_redis_load_library(rc, cp_redis_library, CP_REDIS_FN_VERSION,
					      CP_REDIS_LIB_VERSION, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(function_loads(), loads + 1);
	CU_ASSERT_EQUAL(lib_version(), CP_REDIS_LIB_VERSION);
	/* a newer build's library (version + 1, one function more) is kept */
	snprintf(newer, sizeof(newer), "%s"
		 "redis.register_function{function_name = '" CP_REDIS_FN_VERSION "', flags = "
		 "{'no-writes'}, callback = function() return %d end}\n"
		 "redis.register_function('decp_future', function() return 7 end)\n",
		 older, CP_REDIS_LIB_VERSION + 1);
	CU_ASSERT_EQUAL(load_text(newer), 0);
	CU_ASSERT_EQUAL(cp_redis_load_library(rc, cp_redis_library, CP_REDIS_FN_VERSION,
					      CP_REDIS_LIB_VERSION, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(lib_version(), CP_REDIS_LIB_VERSION + 1);
	redisReply *r = redisCommand(rc, "FCALL decp_future 0");
	CU_ASSERT(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 7);
	freeReplyObject(r);
	/* ours back for the other tests */
	CU_ASSERT_EQUAL(load_text(cp_redis_library), 0);
}

/* "key:value" of INFO replication on c ("" when absent) */
static int info_has(redisContext *c, const char *needle)
{
	redisReply *r = redisCommand(c, "INFO replication");
	int has = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, needle) != NULL;
	freeReplyObject(r);
	return has;
}

/*
 * A new connection's WAIT means something after cp_redis_load_library, whether it loaded
 * or kept the library: a replica of srv, stopped; another client writes; a new connection
 * loads (keeps) the library and asks WAIT 1: 0 replicas, as the writer would get. WAIT is
 * documented to count the replicas that have the connection's last write; a connection
 * whose first command is WAIT gets every connected replica at once, a stopped one too
 * (measured on Redis 7.0.15; any command before it, even a read, makes it 0 there, which
 * the documentation does not promise). So the load writes in both cases (decp_conn when
 * it keeps the library), and this checks the result rather than that write.
 */
static void test_connect_writes(void)
{
	struct harness_redis *rep_srv = harness_redis_start(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep_srv);
	redisContext *rs = redisConnect(harness_redis_host(rep_srv), harness_redis_port(rep_srv));
	redisReply *r = rs != NULL && !rs->err ?
		redisCommand(rs, "REPLICAOF %s %d", harness_redis_host(srv),
			     harness_redis_port(srv)) : NULL;
	CU_ASSERT(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	int up = 0;
	for (int t = 0; t < 200 && !up; t++) {
		up = info_has(rs, "master_link_status:up") && info_has(rc, "state=online");
		if (!up)
			usleep(50000);
	}
	CU_ASSERT_FATAL(up);
	/* the replica acknowledges what it has (a write answered by WAIT 1) before it stops */
	r = redisCommand(rc, "SET connect:k0 v");
	freeReplyObject(r);
	r = redisCommand(rc, "WAIT 1 5000");
	CU_ASSERT_FATAL(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
	freeReplyObject(r);
	char why[256];
	CU_ASSERT_EQUAL(cp_redis_load_library(rc, cp_redis_library, CP_REDIS_FN_VERSION,
					      CP_REDIS_LIB_VERSION, why, sizeof(why)), 0);
	kill(harness_redis_pid(rep_srv), SIGSTOP);
	r = redisCommand(rc, "SET connect:k v");
	freeReplyObject(r);
	redisContext *fresh = redisConnect(harness_redis_host(srv), harness_redis_port(srv));
	CU_ASSERT_FATAL(fresh != NULL && !fresh->err);
	CU_ASSERT_EQUAL(cp_redis_load_library(fresh, cp_redis_library, CP_REDIS_FN_VERSION,
					      CP_REDIS_LIB_VERSION, why, sizeof(why)), 0);
	r = redisCommand(fresh, "WAIT 1 300");
	CU_ASSERT(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer != 0)
		fprintf(stderr, "WAIT on a new connection: %lld replica(s), the replica is "
			"stopped\n", r->integer);
	freeReplyObject(r);
	kill(harness_redis_pid(rep_srv), SIGCONT);
	redisFree(fresh);
	r = redisCommand(rs, "REPLICAOF NO ONE");
	freeReplyObject(r);
	redisFree(rs);
	harness_redis_destroy(rep_srv);
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
	CU_add_test(s, "each library's version names its text", test_version_names_text);
	CU_add_test(s, "a library is loaded over an older one, never over a newer one",
		    test_load_never_downgrades);
	CU_add_test(s, "a new connection writes once: its WAIT means something",
		    test_connect_writes);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	redisFree(rc);
	harness_redis_destroy(srv);
	return failures == 0 ? 0 : 1;
}
