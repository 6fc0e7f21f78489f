/*
 * test_cp_config: decp-control's configuration parser (controlplane/common/cp_config.h).
 * Every bad input yields an error naming the file and line (or key), never a silent default.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_config.h"
#include "cp_log.h"
#include "cp_sched.h"

static struct cp_config c;
static char err[512];

static int parse(const char *text)
{
	cp_config_defaults(&c);
	err[0] = '\0';
	return cp_config_parse(&c, "t.conf", text, err, sizeof(err));
}

static void test_defaults_valid(void)
{
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(c.roles, CP_ROLES_ALL);
	CU_ASSERT(c.fanout_tls && c.api_tls); /* TLS unless configured off (issue 17) */
	CU_ASSERT_EQUAL(c.api_lock_wait_ms, 300);
	/* the defaults run the fan-out: wss needs its certificate */
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fanout_tls is on (the default): set fanout_cert"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_cert", "/x.pem", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_key", "/x.key", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
}

static void test_good_file(void)
{
	CU_ASSERT_EQUAL(parse("# comment\n; other comment\n\n  roles = edge \n"
			      "redis_port=7000\r\npg_conninfo = \"host=x dbname=y\"\n"
			      "log_level = debug\nshm = /x\n"), 0);
	CU_ASSERT_EQUAL(c.roles, CP_ROLE_EDGE);
	CU_ASSERT_EQUAL(c.redis_port, 7000);
	CU_ASSERT_STRING_EQUAL(c.pg_conninfo, "host=x dbname=y");
	CU_ASSERT_EQUAL(c.log_level, CP_LOG_DEBUG);
	CU_ASSERT_STRING_EQUAL(c.shm, "/x");
	/* Trailing comments after a blank, '#' kept inside quotes (dp_kvconf syntax). */
	CU_ASSERT_EQUAL(parse("redis_host = h1   # primary\nedge_id = \"a#b\"  # quoted\n"), 0);
	CU_ASSERT_STRING_EQUAL(c.redis_host, "h1");
	CU_ASSERT_STRING_EQUAL(c.edge_id, "a#b");
}

/* shm: the dataplane's --shm rule (dp_shm_name_fix), so a name decp-dataplane refuses is a
 * config error naming the key, not a segment never found (ENOENT) at attach. */
static void test_shm_name(void)
{
	static const char *const bad[] = {"", "/", "a/b", "..", ".", "/a#b", "x y",
					  "0123456789012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp_config_defaults(&c);
		err[0] = '\0';
		CU_ASSERT_EQUAL(cp_config_set(&c, "shm", bad[i], err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "shm: '"));
		CU_ASSERT_STRING_EQUAL(c.shm, "/decp-ingest"); /* unchanged */
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1..39 characters of A-Z a-z 0-9 . _ -"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "shm", "decp-a.b_1", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.shm, "decp-a.b_1");
	CU_ASSERT_EQUAL(cp_config_set(&c, "shm", "/012345678901234567890123456789012345678", err,
				      sizeof(err)), 0); /* 39 after the '/' */
	CU_ASSERT_EQUAL(parse("shm = a/b\n"), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:1"));
}

static void expect_error(const char *text, const char *fragment)
{
	CU_ASSERT_EQUAL(parse(text), -EINVAL);
	if (strstr(err, fragment) == NULL) {
		fprintf(stderr, "\nerror '%s' lacks '%s'\n", err, fragment);
		CU_FAIL("message");
	}
}

static void test_bad_files(void)
{
	expect_error("redis_port = 7000\nbogus = 1\n", "t.conf:2: unknown key 'bogus'");
	expect_error("\n\nredis_port 7000\n", "t.conf:3: expected 'key = value'");
	expect_error("redis_port = 70000\n", "t.conf:1: redis_port: 70000 is out of range 1..65535");
	expect_error("redis_port = 12ab\n", "t.conf:1: redis_port: '12ab' is not a number");
	expect_error("redis_port = -1\n", "is not a number");
	expect_error("redis_port = 99999999999999999999999\n", "is not a number");
	expect_error("redis_port =\n", "t.conf:1: redis_port: empty value");
	expect_error("= 5\n", "t.conf:1: missing key");
	expect_error("roles = edge,bogus\n", "t.conf:1: roles: unknown role 'bogus'");
	expect_error("fanout_port = 70000\n", "fanout_port: 70000 is out of range 0..65535");
	expect_error("notify_trigger = yes\n", "unknown key 'notify_trigger'"); /* sql 0005 */
	expect_error("log_level = loud\n", "log_level: 'loud'");
	expect_error("shm = \"/a\" b\n", "t.conf:1: shm: text after the closing quote");
	expect_error("pg_conninfo = \"abc\n", "unterminated quoted value");
	expect_error("edge_batch = 1\nedge_batch = 2\n", "t.conf:2: edge_batch: set twice");
	expect_error("edge_batch = 0\n", "out of range");
	expect_error("api_lock_wait_ms = 60001\n",
		     "t.conf:1: api_lock_wait_ms: 60001 is out of range 0..60000");
	char big[200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char line[300];
	snprintf(line, sizeof(line), "edge_id = %s\n", big);
	expect_error(line, "edge_id: value must be 1..63 characters");
}

static void test_set_and_validate(void)
{
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "nope", "1", err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_block_ms", "5000", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_claim_idle_ms", "1000", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "archiver_claim_idle_ms"));
	/* archiver_threads: 1..16, default 2 */
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(c.archiver_threads, 2);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_threads", "0", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_threads", "17", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_threads", "16", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.archiver_threads, 16);
	/* masters_scan_s: 0..86400, default 60 (0: no SCAN for signal streams) */
	CU_ASSERT_EQUAL(c.masters_scan_s, 60);
	CU_ASSERT_EQUAL(cp_config_set(&c, "masters_scan_s", "86401", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_set(&c, "masters_scan_s", "0", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.masters_scan_s, 0);
	/* archiver_linger_ms: 0..10000, default 100 */
	CU_ASSERT_EQUAL(c.archiver_linger_ms, 100);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_linger_ms", "10001", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_linger_ms", "0", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.archiver_linger_ms, 0);
	/* archiver_read_max: 1..100000, default 256 */
	CU_ASSERT_EQUAL(c.archiver_read_max, 256);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_read_max", "0", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "archiver_read_max: 0 is out of range 1..100000"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_read_max", "100001", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_read_max", "64", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.archiver_read_max, 64);
	/* archiver_read_live: 1..100000, default 64 */
	CU_ASSERT_EQUAL(c.archiver_read_live, 64);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_read_live", "0", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "archiver_read_live: 0 is out of range 1..100000"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "archiver_read_live", "32", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.archiver_read_live, 32);
	unsigned int roles = 0;
	CU_ASSERT_EQUAL(cp_config_parse_roles("all", &roles, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(roles, CP_ROLES_ALL);
	CU_ASSERT_EQUAL(cp_config_parse_roles("", &roles, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_parse_roles("archiver", &roles, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(roles, CP_ROLE_ARCHIVER);
	/* a list cut short or with an empty item is refused, not read as what it holds */
	CU_ASSERT_EQUAL(cp_config_parse_roles("edge,", &roles, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ends in ','"));
	CU_ASSERT_EQUAL(cp_config_parse_roles("edge,,api", &roles, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_parse_roles(",edge", &roles, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_parse_roles("edge,api", &roles, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(roles, CP_ROLE_EDGE | CP_ROLE_API);
	/* fanout: a certificate without its key is refused */
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_cert", "/x.pem", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "set fanout_cert and fanout_key"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_key", "/x.key", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	/* ...off, plain: only without them; on/off spellings */
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_tls", "off", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fanout_cert / fanout_key set but fanout_tls = off"));
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_tls", "maybe", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not yes/no (on/off)"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_tls", "off", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	/* api: the same rule, only when the role runs */
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "api", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "api_tls is on (the default): set api_cert and api_key"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "api_tls", "no", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "api_tls", "on", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "api_cert", "/a.pem", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "api_key", "/a.key", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
}

/* archive_warm_dir / archive_cold_dir: absolute paths, refused at validation (start and
 * --check), not only by the archiver's hourly tier pass */
static void test_archive_dirs(void)
{
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,archiver", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archive_warm_dir", "srv/warm", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "archive_warm_dir: 'srv/warm' is not an absolute path"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "archive_warm_dir", "/srv/warm", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "archive_cold_dir", "./cold", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "archive_cold_dir: './cold' is not an absolute path"));
	CU_ASSERT_EQUAL(cp_config_set(&c, "archive_cold_dir", "/srv/cold", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
}

/* redis_nodes (Redis Cluster seeds): host:port list; not with Sentinels; a fan-out alone
 * is accepted (it tails the cluster, cp_fanout_ctail.h); redis_notify defaults to yes */
static void test_redis_nodes(void)
{
	static const char *const bad[] = {"h", "h:", ":1", "h:0", "h:65536", "h:1,", "h:1,,h:2",
					  "h:1x", ("a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,"
						   "l:12,m:13,n:14,o:15,p:16,q:17")};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp_config_defaults(&c);
		CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,archiver", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "redis_nodes", bad[i], err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "redis_nodes: expected 1 to 16 host:port"));
	}
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(c.redis_nodes[0], '\0');
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,archiver,api,trust,book", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "api_tls", "off", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "redis_nodes", "10.0.0.1:7000,r2:7001,::1:7002", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "redis_sentinels", "s:26379", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "redis_nodes and redis_sentinels exclude each other"));
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "fanout", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_tls", "off", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "redis_nodes", "h:1", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(c.redis_notify);
	CU_ASSERT_EQUAL(cp_config_set(&c, "redis_notify", "no", err, sizeof(err)), 0);
	CU_ASSERT_FALSE(c.redis_notify);
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,fanout", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
}

/* redis_sentinels: the same host:port list as redis_nodes, checked by --check instead of
 * skipped at connect (the role then retried for ever, blaming the Sentinels) */
static void test_redis_sentinels(void)
{
	static const char *const bad[] = {"garbage", "s:", ":26379", "s:0", "s:99999", "s:1,",
					  "s:1,,t:2", "s:1x", "s:+1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp_config_defaults(&c);
		CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,archiver", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "redis_sentinels", bad[i], err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "redis_sentinels: expected 1 to 16 host:port"));
	}
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge,archiver", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_set(&c, "redis_sentinels", "sentinel-a:26379,10.0.0.2:26379",
				      err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
}

/* fanout_listen / api_listen: numeric IPv4 (what cp_net_listen binds), refused by
 * validation (so --check) with the key named, only for a role that listens */
static void test_listen_addresses(void)
{
	static const char *const bad[] = {"localhost", "::1", "10.0.0.300", "10.0.0.5 x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp_config_defaults(&c);
		CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "fanout,api", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_tls", "off", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "api_tls", "off", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_listen", bad[i], err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "fanout_listen: '"));
		CU_ASSERT_EQUAL(cp_config_set(&c, "fanout_listen", "0.0.0.0", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_set(&c, "api_listen", bad[i], err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "api_listen: '"));
		/* not checked for roles that do not listen */
		CU_ASSERT_EQUAL(cp_config_set(&c, "roles", "edge", err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(cp_config_validate(&c, err, sizeof(err)), 0);
	}
}

static void test_load_file(void)
{
	char path[] = "/tmp/test_cp_config_XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	const char text[] = "redis_port = 6380\nedge_batch = none\n";
	CU_ASSERT_EQUAL(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	cp_config_defaults(&c);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: edge_batch: 'none' is not a number", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(path);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

/* edge_sched / background_sched: parsed into cp_sched, every other text refused with the
 * key named; defaults: the edge at fifo:10, the burst roles at nice:10 (issue 26). */
static void test_sched_keys(void)
{
	char b[24];
	cp_config_defaults(&c);
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.edge_sched, b, sizeof(b)), "fifo:10");
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.background_sched, b, sizeof(b)), "nice:10");
	CU_ASSERT_EQUAL(parse("edge_sched = nice:-5\nbackground_sched = idle\n"), 0);
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.edge_sched, b, sizeof(b)), "nice:-5");
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.background_sched, b, sizeof(b)), "idle");
	CU_ASSERT_EQUAL(cp_config_set(&c, "edge_sched", "inherit", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.edge_sched.policy, CP_SCHED_INHERIT);
	CU_ASSERT_EQUAL(cp_config_set(&c, "edge_sched", "fifo:99", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.edge_sched.policy, CP_SCHED_FIFO);
	CU_ASSERT_EQUAL(c.edge_sched.value, 99);
	CU_ASSERT_EQUAL(cp_config_set(&c, "edge_sched", "nice:19", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.edge_sched, b, sizeof(b)), "nice:19");
	CU_ASSERT_EQUAL(cp_config_set(&c, "edge_sched", "nice:-20", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cp_sched_str(&c.edge_sched, b, sizeof(b)), "nice:-20");
	/* N is digits ('-' before a negative nice), as every numeric key: strtol also took
	 * leading blanks and '+' ("nice:+5" was nice 5) */
	const char *bad[] = {"fifo", "fifo:", "fifo:0", "fifo:100", "nice:20", "nice:-21",
			     "nice:1x", "idle:1", "rr:5", "FIFO:10", " fifo:10", "nice:+5",
			     "fifo:+10", "nice: 5", "fifo:\t10", "nice:-", "nice:--5", "nice:- 5",
			     "nice:-+5", "fifo:-1", "fifo:-0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(cp_config_set(&c, "background_sched", bad[i], err, sizeof(err)),
				-EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "background_sched: '"));
	}
	CU_ASSERT_EQUAL(parse("edge_sched = fifo:10\nedge_sched = fifo:10\n"), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:2: edge_sched: set twice"));
}

/* cp_sched_apply changes the calling thread alone, and what it sets reads back. */
static void *sched_thread(void *arg)
{
	char *out = arg, b[24];
	struct cp_sched s;
	size_t at = 0;
	/* only ever less priority: also allowed without privilege */
	const char *seq[] = {"nice:3", "nice:7", "idle"};
	for (size_t i = 0; i < 3; i++) {
		if (cp_sched_parse(seq[i], &s) != 0 || cp_sched_apply(&s) != 0)
			return NULL;
		at += (size_t)snprintf(out + at, 128 - at, "%s ", cp_sched_current(b, sizeof(b)));
	}
	/* fifo needs CAP_SYS_NICE (the tests run as root); without it, -EPERM and no change */
	CU_ASSERT_EQUAL(cp_sched_parse("fifo:10", &s), 0);
	int rc = cp_sched_apply(&s);
	CU_ASSERT(rc == 0 || rc == -EPERM);
	snprintf(out + at, 128 - at, "%s", rc == 0 ? cp_sched_current(b, sizeof(b)) : "fifo:10");
	return out;
}

static void test_sched_apply(void)
{
	char out[128] = "", before[24], after[24];
	pthread_t t;
	void *r = NULL;
	cp_sched_current(before, sizeof(before));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, sched_thread, out), 0);
	pthread_join(t, &r);
	CU_ASSERT_PTR_NOT_NULL(r);
	CU_ASSERT_STRING_EQUAL(out, "nice:3 nice:7 idle fifo:10");
	CU_ASSERT_STRING_EQUAL(cp_sched_current(after, sizeof(after)), before);
	struct cp_sched s = {CP_SCHED_INHERIT, 0};
	CU_ASSERT_EQUAL(cp_sched_apply(&s), 0);
	CU_ASSERT_STRING_EQUAL(cp_sched_current(after, sizeof(after)), before);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("cp_config", NULL, NULL);
	CU_add_test(s, "redis_nodes", test_redis_nodes);
	CU_add_test(s, "redis_sentinels", test_redis_sentinels);
	CU_add_test(s, "listen addresses", test_listen_addresses);
	CU_add_test(s, "archive tier directories are absolute", test_archive_dirs);
	CU_add_test(s, "defaults are valid", test_defaults_valid);
	CU_add_test(s, "a good file", test_good_file);
	CU_add_test(s, "shm: the dataplane's name rule", test_shm_name);
	CU_add_test(s, "bad files name file:line", test_bad_files);
	CU_add_test(s, "set and cross-field validation", test_set_and_validate);
	CU_add_test(s, "load from a file", test_load_file);
	CU_add_test(s, "edge_sched and background_sched", test_sched_keys);
	CU_add_test(s, "scheduling classes apply per thread", test_sched_apply);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
