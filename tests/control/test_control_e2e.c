/*
 * test_control_e2e: decp-control end to end (issue 7 acceptance), with a real redis-server
 * (AOF, appendfsync always), a real PostgreSQL 15 (tests/harness), the real posix
 * dataplane, decp-control and decp-master as subprocesses.
 *
 *   test_control_e2e SCENARIO DATAPLANE CONTROL MASTER [MASTERS SIGNALS]
 *
 * Scenarios (one meson test each, so they run in parallel on their own servers):
 *   e2e           N masters x M signals; every ACKed signal in Redis once and in
 *                 signal_archive once, in order per master; the AOF shows the edge's batches
 *                 as transactions: signals were written in a MULTI ... EXEC with other
 *                 masters' signals (one AOF write and fdatasync per batch, cp_edge.c)
 *   kill_control  same while decp-control is killed with SIGKILL 5 times
 *   kill_redis    same while redis-server is killed with SIGKILL and restarted from AOF
 *   pg_down       same while PostgreSQL is stopped for 10 s: masters see no error
 *   redis_refuses same while Redis refuses every write for 2 s (maxmemory: the edge's
 *                 MULTI ... EXEC aborted); the edge logs the refusal and writes again
 *   dp_restart    same while the dataplane is killed and restarted on the same port
 *   revoke        a token revoked in PostgreSQL: the master is refused within 1 s
 *   cluster       e2e on a Redis Cluster (3 primaries + 3 replicas, harness_rcluster;
 *                 decp-control with redis_nodes): the same checks, each stream read on the
 *                 primary serving its slot (issue 23 item 1)
 *   cluster_reshard  the same while a master's slot (and a few hundred others) move to another
 *                 primary (redis-cli --cluster reshard): no loss, no duplicate, exit 0
 *   cluster_primary_down  master 1's primary killed -9, decp-control running on
 *                 (durability replica): the masters of the other primaries are written
 *                 and ACKed before the failover; then the run completes exactly
 *   cluster_primary_down_idle  the same with the masters stopped (SIGSTOP) around the kill:
 *                 the edge's 100 ms check of its live sessions finds the dead primary,
 *                 not a batch, and drops that primary alone
 *   cluster_kill_replica|both|fsync  master 1's primary cut off from its replica, killed -9
 *                 0.75 s later, the replica promoted: every ACKed signal on the new primary
 *                 (replica, both) or the ACKed loss counted and > 0 (fsync); then the run
 *                 completes and the archive is exact
 *   cluster_reshard_dup  (durability replica) master 1's primary cut off from its replica,
 *                 then its stream moved (MIGRATE) to a primary whose replica is stopped:
 *                 the master's resends, DUPLICATE there, are not ACKed (on no replica)
 *   cluster_replica_lost  (durability replica) the replica of master 1's primary stopped
 *                 while the masters send: only that primary's masters wait (no ACK, logins
 *                 UNAVAILABLE, also across a decp-control restart); the other primaries'
 *                 are ACKed and log in; the replica back, the run completes exactly
 *   cluster_set_replica_restart  the same with the replica of decp:masters's primary
 *                 stopped: the set's WAIT holds no other primary's master, also after
 *                 the restart
 *   cluster_set_replica_lost  a master ACKed while the set's primary has no replica,
 *                 that primary failed over (the listing lost): the archiver's SCAN finds
 *                 the stream, lists it again and archives it while the master is quiet
 *   trim          e2e with redis_keep_signals = 1000: once archived, each stream is cut
 *                 back to its last ~1000 entries, and the archive still holds 1..M
 *   bench         e2e at a fixed total rate (extra argument RATE, signals/s; 0 = max),
 *                 for docs/perf.md: prints decp-master's ACK latency percentiles
 *                 (DECP_BENCH_APPENDFSYNC=no|everysec overrides Redis's appendfsync always;
 *                 DECP_BENCH_ROLES=edge runs decp-control without the archiver;
 *                 DECP_BENCH_SCHED=N: Redis, the dataplane and decp-master at SCHED_FIFO N,
 *                 DECP_TEST_CONF_EXTRA="k = v;k = v": more lines for decp-control's file;
 *                 any scenario: DECP_KEEP=1 keeps the logs' directory and prints it)
 *   cluster_bench the bench on a Redis Cluster of 3 primaries (harness_rcluster)
 *   cluster_positions  positions on the cluster: the book role keeps its books and compares
 *                 the masters' own snapshots, each master's keys on its slot's primary
 *   cluster_api   the api role on the cluster (edge, book, api): masters on all three
 *                 primaries; /v1/masters/activity shows each connected with its edge,
 *                 /v1/masters/{id}/positions each master's book as its trades left it,
 *                 /metrics decp_redis_up 1; a primary killed: 503 redis_unavailable for its
 *                 master within redis_timeout_ms, activity still answers, decp_redis_up 0;
 *                 once the replica is promoted, every answer is back (docs/api.md)
 *   bench_archive archive throughput alone, for docs/perf.md: decp-control runs only the
 *                 edge while the masters send; then a second decp-control with only the
 *                 archiver drains the backlog from Redis: rows/s and CPU per row
 *                 (DECP_TEST_MIGRATIONS_DIR=DIR: migrate from DIR, for A/B runs against
 *                 an older schema and decp-control; DECP_TEST_CONF_EXTRA="k = v;k = v":
 *                 more lines for decp-control's file; DECP_BENCH_ARCHIVE_APPENDONLY=no:
 *                 Redis without AOF while the archiver drains)
 *   share         two archiver processes share an edge-only run's backlog (each archives
 *                 some, together every signal once); then every entry is redelivered:
 *                 the group is rewound and a "ghost" consumer takes half and never ACKs
 *                 (an archiver that crashed after COMMIT), which the archivers XAUTOCLAIM;
 *                 the archive must still hold each signal once and nothing stays pending
 *   positions     the masters' own positions snapshots (issue 19, decp-control with the
 *                 edge and book roles): an honest master's at its end matches the book, a
 *                 wrong one (--positions-wrong) is a mismatch (row, ALERT line, every
 *                 difference logged), and a master sending its positions every 50 ms while
 *                 it trades has every one compared and none mismatched (the book at N is
 *                 rebuilt from a checkpoint when it has moved on)
 * Since decp-master exits 0 only when every signal 1..M of every master was ACKed, "every
 * ACKed signal is durable" is checked as: each master's stream holds exactly 1..M.
 *
 * Prints "N passed, N failed" last. Temporary files under $DECP_TEST_TMPDIR or /tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cp_migrate.h"
#include "cp_redis_rec.h"
#include "cp_testkeys.h"
#include "harness.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			passed++;                                          \
		} else {                                                   \
			failed++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
		}                                                          \
	} while (0)

struct env {
	const char *dp_bin, *ctl_bin, *master_bin;
	struct harness_redis *redis;      /* NULL when cluster is set */
	struct harness_rcluster *cluster; /* scenario cluster: a Redis Cluster instead */
	struct harness_pg *pg;
	char dir[256];
	char shm[64];
	char cfg[300];
	int port;
	pid_t dp, ctl;
	unsigned int ctl_starts, dp_starts;
	uint32_t masters;
	uint64_t signals;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Wait for pid up to timeout_ms. Returns its wait status, or -1 on timeout. */
static int wait_for(pid_t pid, unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 || now_ms() > end)
			return -1;
		sleep_ms(10);
	}
}

static void stop_pid(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	if (wait_for(*pid, 10000) < 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

/* bench only: DECP_BENCH_SCHED=N puts redis-server's main thread, every dataplane thread
 * and decp-master's threads at SCHED_FIFO N (with reset-on-fork: Redis's AOF rewrite
 * child runs as normal), as docs/operations.md "Sizing" sets up the ACK path's other
 * processes; decp-control's own threads follow edge_sched / background_sched. */
static int bench_fifo;

static void bench_sched_pid(pid_t pid, bool all_threads)
{
	if (bench_fifo <= 0 || pid <= 0)
		return;
	struct sched_param sp = {.sched_priority = bench_fifo};
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = all_threads ? opendir(path) : NULL;
	struct dirent *de;
	if (d == NULL) {
		if (sched_setscheduler(pid, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) != 0)
			fprintf(stderr, "bench: SCHED_FIFO for %d: %s\n", (int)pid, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    sched_setscheduler(atoi(de->d_name), SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) != 0)
			fprintf(stderr, "bench: SCHED_FIFO for %s: %s\n", de->d_name, strerror(errno));
	closedir(d);
}

static int start_dp(struct env *e)
{
	char listen[64], portfile[300], log[300], port_s[16];
	snprintf(portfile, sizeof(portfile), "%s/dp.port", e->dir);
	snprintf(log, sizeof(log), "%s/dataplane.log", e->dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", e->port);
	unlink(portfile);
	char *argv[] = {(char *)e->dp_bin, "--stack", "posix", "--tls", "off", "--listen", listen, "--shm", e->shm,
			"--workers", "2", "--port-file", portfile, NULL};
	e->dp = harness_spawn(log, argv);
	e->dp_starts++;
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(portfile, "r");
		if (f != NULL) {
			int ok = fscanf(f, "%15s", port_s) == 1;
			fclose(f);
			if (ok) {
				e->port = atoi(port_s);
				bench_sched_pid(e->dp, true);
				return 0;
			}
		}
		if (waitpid(e->dp, NULL, WNOHANG) == e->dp) {
			e->dp = 0;
			break;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "dataplane did not start (see %s)\n", log);
	return -1;
}

static const char *ctl_roles; /* --roles for decp-control; NULL = the default (all) */
static bool use_cluster;      /* scenario cluster*: a Redis Cluster (harness_rcluster) */
static const char *durability; /* scenario cluster_kill_<d>: decp-control's durability */
static const char *ctl_conf;   /* more lines of decp-control's configuration, or NULL */

static int start_ctl(struct env *e)
{
	char log[300];
	snprintf(log, sizeof(log), "%s/control.log", e->dir);
	char *argv[] = {(char *)e->ctl_bin, "--config", e->cfg, ctl_roles ? "--roles" : NULL,
			(char *)ctl_roles, NULL};
	e->ctl = harness_spawn(log, argv);
	e->ctl_starts++;
	return e->ctl > 0 ? 0 : -1;
}

static const char *bench_rate; /* set in the bench scenario only */

static const char *master_hmac_seed; /* rotate scenario: decp-master --hmac-seed */
static const char *master_extra[4];  /* positions scenario: more decp-master options */
static unsigned int keep_signals; /* trim scenario: redis_keep_signals */
static int api_port;              /* cluster_api: the api role's plain-HTTP port on loopback */
/* cluster_api: the admin token (its SHA-256 in the config) and the edge's name */
#define API_TOKEN "cluster-api-test-token-0123456789"
#define API_TOKEN_SHA256 "c8fe033d92e550866b6580e8bdd5ba38d1c9c3e62b985c3fe8f4151b68ad66e8"
#define API_EDGE_ID "edge-cl"

static pid_t start_master(struct env *e, uint32_t masters, uint64_t base, uint64_t signals,
			  const char *rate)
{
	char conn[64], n[16], b[24], s[24], log[300];
	snprintf(conn, sizeof(conn), "127.0.0.1:%d", e->port);
	snprintf(n, sizeof(n), "%u", masters);
	snprintf(b, sizeof(b), "%" PRIu64, base);
	snprintf(s, sizeof(s), "%" PRIu64, signals);
	snprintf(log, sizeof(log), "%s/master.log", e->dir);
	/* The bench measures the control plane, not the generator: Ed25519 signing would
	 * cost the master ~25 us of CPU per signal (the edge stores the signature bytes and
	 * never verifies them, so zero signatures change nothing on its side). */
	char *argv[] = {(char *)e->master_bin, "--connect", conn, "--masters", n, "--master-base", b,
			"--signals", s, "--threads", "2", "--window", "256", "--ack-timeout-ms",
			"2000", "--time-limit-s", "800", "--rate", (char *)rate,
			bench_rate != NULL ? "--fake-ed25519" : NULL, NULL, NULL, NULL, NULL, NULL,
			NULL, NULL};
	size_t k = sizeof(argv) / sizeof(argv[0]) - 8;
	if (master_hmac_seed != NULL) {
		/* In the --fake-ed25519 slot: the bench (which sets it) never rotates keys. */
		argv[k++] = "--hmac-seed";
		argv[k++] = (char *)master_hmac_seed;
	}
	for (size_t i = 0; i < 4 && master_extra[i] != NULL; i++)
		argv[k++] = (char *)master_extra[i];
	return harness_spawn(log, argv);
}

/* decp-control logs "ready:" each time it has pushed credentials, durable sequences and
 * READY to a dataplane. Waits until it has done so `count` times (up to timeout_ms). */
static int wait_ready(struct env *e, int count, unsigned int timeout_ms)
{
	char path[300], line[1024];
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	uint64_t end = now_ms() + timeout_ms;
	do {
		int n = 0;
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			while (fgets(line, sizeof(line), f) != NULL)
				if (strstr(line, " ready: ") != NULL)
					n++;
			fclose(f);
		}
		if (n >= count)
			return 0;
		sleep_ms(20);
	} while (now_ms() < end);
	fprintf(stderr, "decp-control did not report ready #%d within %u ms\n", count, timeout_ms);
	return -1;
}

static int pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static int load_masters(PGconn *c, uint32_t n)
{
	for (uint32_t i = 1; i <= n; i++) {
		struct cp_testkeys k;
		if (cp_testkeys_derive("decp-test", i, &k) != 0)
			return -1;
		char id[24], name[32];
		snprintf(id, sizeof(id), "%u", i);
		snprintf(name, sizeof(name), "master-%u", i);
		const char *v1[] = {id, name, (const char *)k.secret, (const char *)k.ed_pub};
		int l1[] = {0, 0, 32, 32}, f1[] = {0, 0, 1, 1};
		PGresult *r = PQexecParams(c, "INSERT INTO masters (id, name, hmac_secret, "
					   "ed25519_public_key) VALUES ($1, $2, $3, $4)", 4, NULL,
					   v1, l1, f1, 0);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "insert master: %s", PQresultErrorMessage(r));
		PQclear(r);
		const char *v2[] = {id, (const char *)k.token_hash};
		int l2[] = {0, 32}, f2[] = {0, 1};
		r = PQexecParams(c, "INSERT INTO license_tokens (master_id, token_sha256) VALUES ($1, $2)",
				 2, NULL, v2, l2, f2, 0);
		ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fprintf(stderr, "insert token: %s", PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return -1;
	}
	return 0;
}

/* bench only: DECP_BENCH_APPENDFSYNC=always|everysec|no overrides the AOF policy, so one
 * run can show the code path without the disk's fsync (perf/control_bench.sh). */
static int bench_set_appendfsync(const struct env *e)
{
	const char *policy = getenv("DECP_BENCH_APPENDFSYNC");
	if (bench_rate == NULL || policy == NULL || *policy == '\0')
		return 0;
	struct timeval tv = {5, 0};
	redisContext *r = redisConnectWithTimeout(harness_redis_host(e->redis),
						  harness_redis_port(e->redis), tv);
	redisReply *rep = r != NULL && r->err == 0 ?
		redisCommand(r, "CONFIG SET appendfsync %s", policy) : NULL;
	int rc = rep != NULL && rep->type == REDIS_REPLY_STATUS ? 0 : -1;
	fprintf(stderr, "bench: appendfsync %s%s\n", policy, rc == 0 ? "" : ": refused by Redis");
	if (rep != NULL)
		freeReplyObject(rep);
	if (r != NULL)
		redisFree(r);
	return rc;
}

static int env_start(struct env *e)
{
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	snprintf(e->dir, sizeof(e->dir), "%s/decp-control-XXXXXX", tmp);
	if (mkdtemp(e->dir) == NULL)
		return -1;
	chmod(e->dir, 0755);
	snprintf(e->shm, sizeof(e->shm), "/decp-ctltest-%d", (int)getpid());
	struct harness_redis_opts ro = {.aof = true};
	if (use_cluster) {
		e->cluster = harness_rcluster_start(&ro);
		if (e->cluster == NULL)
			return -1;
	} else {
		e->redis = harness_redis_start(&ro);
		if (e->redis == NULL || bench_set_appendfsync(e) != 0)
			return -1;
		bench_sched_pid(harness_redis_pid(e->redis), false);
	}
	e->pg = harness_pg_start(NULL);
	if (e->pg == NULL)
		return -1;
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	char err[512];
	int rc = PQstatus(c) == CONNECTION_OK ? 0 : -1;
	if (rc == 0 && cp_migrate_apply(c, getenv("DECP_TEST_MIGRATIONS_DIR"), NULL, err,
					sizeof(err)) != 0) {
		fprintf(stderr, "migrations: %s\n", err);
		rc = -1;
	}
	if (rc == 0)
		rc = load_masters(c, e->masters);
	PQfinish(c);
	if (rc != 0)
		return rc;
	/* the fan-out role (in the default roles) serves wss: the test's own certificates */
	char tls_dir[300];
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", e->dir);
	if (mkdir(tls_dir, 0700) != 0 || harness_tls_certs(tls_dir) != 0)
		return -1;
	snprintf(e->cfg, sizeof(e->cfg), "%s/control.conf", e->dir);
	FILE *f = fopen(e->cfg, "w");
	if (f == NULL)
		return -1;
	if (keep_signals > 0)
		fprintf(f, "redis_keep_signals = %u\n", keep_signals);
	if (ctl_conf != NULL)
		fputs(ctl_conf, f);
	/* Benches: DECP_TEST_CONF_EXTRA="key = value;key = value" is added to the file. */
	for (const char *x = getenv("DECP_TEST_CONF_EXTRA"); x != NULL && *x != '\0';) {
		size_t n = strcspn(x, ";");
		fprintf(f, "%.*s\n", (int)n, x);
		x += n + (x[n] == ';');
	}
	if (e->cluster != NULL)
		fprintf(f, "redis_nodes = %s\n", harness_rcluster_seeds(e->cluster));
	if (durability != NULL)
		fprintf(f, "durability = %s\ndurability_wait_ms = 100\n", durability);
	/* chosen here, once the Redis Cluster listens: chosen before, a node's bus port
	 * (its port + 10000) could be the same one, and the api role ended at start with
	 * "Address already in use" (seen once in cluster_replica_lost under load) */
	if (api_port < 0)
		api_port = harness_free_port();
	if (api_port > 0) /* cluster_api: plain HTTP on loopback, the test's admin token */
		fprintf(f, "api_listen = 127.0.0.1\napi_port = %d\napi_tls = off\n"
			"api_admin_token_sha256 = %s\nedge_id = %s\n", api_port, API_TOKEN_SHA256,
			API_EDGE_ID);
	fprintf(f, "# written by test_control_e2e\nshm = %s\nredis_host = %s\nredis_port = %d\n"
		"pg_conninfo = %s\ndataplane_stale_ms = 1000\narchiver_claim_idle_ms = 2000\n"
		"backoff_max_ms = 500\nredis_timeout_ms = 5000\nlog_level = info\n"
		"fanout_port = 0\nfanout_cert = %s/tls/server.crt\nfanout_key = %s/tls/server.key\n",
		e->shm, "127.0.0.1", e->redis != NULL ? harness_redis_port(e->redis) : 1,
		harness_pg_conninfo(e->pg), e->dir, e->dir);
	fclose(f);
	if (start_dp(e) != 0 || start_ctl(e) != 0)
		return -1;
	/* Start the masters once the dataplane is live, so the run measures steady state. */
	return wait_ready(e, 1, 30000);
}

static void dump(const char *dir, const char *name)
{
	char path[300], line[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	fprintf(stderr, "---- %s (last lines)\n", name);
	long lines = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		lines++;
	rewind(f);
	long skip = lines > 40 ? lines - 40 : 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (skip-- <= 0)
			fputs(line, stderr);
	fclose(f);
}

static void env_stop(struct env *e, bool show_logs)
{
	stop_pid(&e->ctl, SIGTERM);
	stop_pid(&e->dp, SIGTERM);
	if (show_logs) {
		dump(e->dir, "master.log");
		dump(e->dir, "control.log");
		dump(e->dir, "dataplane.log");
	}
	harness_redis_destroy(e->redis);
	harness_rcluster_destroy(e->cluster);
	harness_pg_destroy(e->pg);
	char shm[80];
	snprintf(shm, sizeof(shm), "/dev/shm%s", e->shm);
	unlink(shm);
	if (e->dir[0] != '\0' && getenv("DECP_KEEP") != NULL) {
		fprintf(stderr, "DECP_KEEP: logs kept in %s\n", e->dir);
	} else if (e->dir[0] != '\0') {
		const char *files[] = {"dp.port", "dataplane.log", "control.log", "master.log",
				       "control.conf", "arch-a.log", "arch-b.log", "positions.csv",
				       "acked", "reshard.log"};
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			char p[320];
			snprintf(p, sizeof(p), "%s/%s", e->dir, files[i]);
			unlink(p);
		}
		rmdir(e->dir);
	}
}

/* Each master's stream holds exactly 1..M (IDs strictly increase: XLEN = M, first 1,
 * last M means every sequence once, in order). */
static bool stream_ok(redisContext *r, const struct env *e, uint32_t m, bool report);

/* On a cluster: the port of the primary serving `key` now (CLUSTER KEYSLOT, then CLUSTER
 * SLOTS, asked of the live nodes), 0 if none answers. */
static int cluster_port_of_key(const struct env *e, const char *key)
{
	struct timeval tv = {5, 0};
	for (int i = 0; i < harness_rcluster_nodes(e->cluster); i++) {
		if (harness_rcluster_pid(e->cluster, i) <= 0)
			continue;
		redisContext *s = redisConnectWithTimeout("127.0.0.1",
							  harness_rcluster_port(e->cluster, i), tv);
		redisReply *ks = s != NULL && !s->err ? redisCommand(s, "CLUSTER KEYSLOT %s", key)
						      : NULL;
		redisReply *sl = ks != NULL && ks->type == REDIS_REPLY_INTEGER ?
			redisCommand(s, "CLUSTER SLOTS") : NULL;
		int port = 0;
		for (size_t k = 0; sl != NULL && sl->type == REDIS_REPLY_ARRAY && k < sl->elements;
		     k++) {
			const redisReply *r = sl->element[k];
			if (r->elements >= 3 && ks->integer >= r->element[0]->integer &&
			    ks->integer <= r->element[1]->integer)
				port = (int)r->element[2]->element[1]->integer;
		}
		freeReplyObject(ks);
		freeReplyObject(sl);
		redisFree(s);
		if (port > 0)
			return port;
	}
	return 0;
}

/* A connection to the Redis holding master m's keys: the one Redis, or on a cluster the
 * primary serving the slot of decp:{m<m>}:signals. NULL if none answers. */
static redisContext *redis_for(const struct env *e, uint32_t m)
{
	struct timeval tv = {5, 0};
	char key[64];
	int port = e->cluster == NULL ? harness_redis_port(e->redis) : 0;
	if (e->cluster != NULL) {
		snprintf(key, sizeof(key), "decp:{m%u}:signals", m);
		port = cluster_port_of_key(e, key);
	}
	if (port <= 0)
		return NULL;
	redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (r != NULL && !r->err && redisSetTimeout(r, tv) == REDIS_OK)
		return r;
	redisFree(r);
	return NULL;
}

static void verify_redis(struct env *e)
{
	unsigned int bad = 0;
	/* Trimming runs after archiving, once a second per stream: allow it some time. */
	uint64_t end = now_ms() + (keep_signals > 0 ? 15000 : 0);
	do {
		bad = 0;
		for (uint32_t m = 1; m <= e->masters; m++) {
			redisContext *r = redis_for(e, m);
			CHECK(r != NULL, "connect the redis of master %u", m);
			if (r != NULL && !stream_ok(r, e, m, bad == 0 && now_ms() >= end))
				bad++;
			redisFree(r);
		}
		if (bad > 0 && now_ms() < end)
			sleep_ms(200);
	} while (bad > 0 && now_ms() < end);
	CHECK(bad == 0, "%u masters' streams are not exactly 1..%" PRIu64, bad, e->signals);
}

/* One RESP array of the AOF (a command) from f into argv (up to 4 arguments kept, each
 * up to 63 bytes; the rest read past). Returns its argument count, 0 at the end, -1 on
 * a malformed file. */
static int aof_command(FILE *f, char argv[4][64])
{
	long n, len;
	int c;
	if ((c = fgetc(f)) == EOF)
		return 0;
	if (c != '*' || fscanf(f, "%ld\r\n", &n) != 1 || n <= 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (fgetc(f) != '$' || fscanf(f, "%ld", &len) != 1 || len < 0 || fgetc(f) != '\r' ||
		    fgetc(f) != '\n')
			return -1;
		size_t keep = i < 4 ? (size_t)(len < 63 ? len : 63) : 0;
		if (keep > 0 && fread(argv[i], 1, keep, f) != keep)
			return -1;
		if (i < 4)
			argv[i][keep] = '\0';
		if (fseek(f, len - (long)keep + 2, SEEK_CUR) != 0)
			return -1;
	}
	return n > 4 ? 4 : (int)n;
}

/* e2e: the edge wrote each batch as one MULTI ... EXEC (cp_edge.c format_batch), which
 * Redis propagates to the AOF as one transaction: one write and one fdatasync per batch.
 * Counts the signal XADDs of the AOF's transactions that span two or more masters' streams
 * (each FCALL alone would be a transaction of one stream): with 20 masters sending at
 * once most batches hold several, so most signals must be in such a transaction. */
static void check_batch_transactions(struct env *e)
{
	char dir[400], path[700], argv[4][64], first_key[64] = "";
	snprintf(dir, sizeof(dir), "%s/appendonlydir", harness_redis_dir(e->redis));
	DIR *d = opendir(dir);
	uint64_t xadds = 0, in_multi_master = 0, tx_xadds = 0, txs = 0, spanning = 0;
	bool in_tx = false, multi_master = false;
	int bad = d == NULL;
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
		if (strstr(de->d_name, ".incr.aof") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		int n;
		bad |= f == NULL;
		while (f != NULL && (n = aof_command(f, argv)) > 0) {
			if (strcasecmp(argv[0], "MULTI") == 0) {
				in_tx = true;
				multi_master = false;
				tx_xadds = 0;
				first_key[0] = '\0';
			} else if (strcasecmp(argv[0], "EXEC") == 0) {
				if (multi_master) {
					spanning++;
					in_multi_master += tx_xadds;
				}
				txs++;
				in_tx = false;
			} else if (strcasecmp(argv[0], "XADD") == 0 && n > 1 &&
				   strstr(argv[1], ":signals") != NULL) {
				xadds++;
				if (in_tx) {
					tx_xadds++;
					if (first_key[0] == '\0')
						snprintf(first_key, sizeof(first_key), "%s", argv[1]);
					else if (strcmp(first_key, argv[1]) != 0)
						multi_master = true;
				}
			}
		}
		bad |= f != NULL && n < 0;
		if (f != NULL)
			fclose(f);
	}
	if (d != NULL)
		closedir(d);
	fprintf(stderr, "aof: %" PRIu64 " signal XADDs, %" PRIu64 " transactions, %" PRIu64
		" spanning 2+ masters with %" PRIu64 " of the XADDs\n", xadds, txs, spanning,
		in_multi_master);
	CHECK(!bad, "read the AOF in %s", dir);
	CHECK(xadds >= (uint64_t)e->masters * e->signals,
	      "the AOF holds every signal's XADD (%" PRIu64 ")", xadds);
	/* A batch holding several masters' signals is one MULTI ... EXEC (one fdatasync):
	 * an edge writing a transaction per master would leave none spanning two. How many
	 * do depends on how full the batches are, so on the machine's load, not on the code
	 * (most under load; a third to a half with the machine idle, where the check "most"
	 * used to fail) */
	CHECK(spanning > 0 && in_multi_master > 0, "signals of several masters were written in "
	      "one transaction (one fdatasync per batch): %" PRIu64 " transactions, %" PRIu64
	      " of %" PRIu64 " signals", spanning, in_multi_master, xadds);
}

static long long pg_scalar(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Master m's stream is 1..M, or with keep_signals its tail: last M, first in
 * (M - keep - slack, M - keep + 1], XLEN = M - first + 1 (IDs are exactly the sequences). */
static bool stream_ok(redisContext *r, const struct env *e, uint32_t m, bool report)
{
	redisReply *len = redisCommand(r, "XLEN decp:{m%u}:signals", m);
	redisReply *first = redisCommand(r, "XRANGE decp:{m%u}:signals - + COUNT 1", m);
	redisReply *last = redisCommand(r, "XREVRANGE decp:{m%u}:signals + - COUNT 1", m);
	bool ok = len && len->type == REDIS_REPLY_INTEGER && first &&
		  first->type == REDIS_REPLY_ARRAY && first->elements == 1 && last &&
		  last->type == REDIS_REPLY_ARRAY && last->elements == 1;
	uint64_t lo = 0, hi = 0, n = 0;
	if (ok) {
		n = (uint64_t)len->integer;
		lo = strtoull(first->element[0]->element[0]->str, NULL, 10);
		hi = strtoull(last->element[0]->element[0]->str, NULL, 10);
		ok = hi == e->signals && n == hi - lo + 1;
		if (keep_signals == 0)
			ok = ok && lo == 1;
		else /* MINID ~ trims whole nodes (100 entries by default): up to ~2 nodes more */
			ok = ok && n >= keep_signals && n <= keep_signals + 250;
	}
	if (!ok && report)
		fprintf(stderr, "master %u: stream XLEN %" PRIu64 " IDs %" PRIu64 "..%" PRIu64
			" (want ..%" PRIu64 ", %s)\n", m, n, lo, hi, e->signals,
			keep_signals ? "about redis_keep_signals entries" : "from 1");
	freeReplyObject(len);
	freeReplyObject(first);
	freeReplyObject(last);
	return ok;
}

/* One signal per master, archived bytes and arrival equal to the Redis entry's. */
static void verify_archive_bytes(struct env *e, PGconn *c)
{
	unsigned int bad = 0;
	uint64_t seq = e->signals; /* the last entry: never trimmed */
	for (uint32_t m = 1; m <= e->masters; m++) {
		redisContext *r = redis_for(e, m);
		if (r == NULL) {
			CHECK(0, "connect the redis of master %u", m);
			continue;
		}
		redisReply *x = redisCommand(r, "XRANGE decp:{m%u}:signals %" PRIu64 "-0 %" PRIu64
					     "-0", m, seq, seq);
		char ms[16], qs[24];
		snprintf(ms, sizeof(ms), "%u", m);
		snprintf(qs, sizeof(qs), "%" PRIu64, seq);
		const char *v[] = {ms, qs};
		PGresult *p = PQexecParams(c, "SELECT arrival_ns::text, body, hmac, ed25519_sig FROM "
					   "signal_archive WHERE master_id = $1 AND sequence = $2",
					   2, NULL, v, NULL, NULL, 1);
		bool ok = x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 1 &&
			  PQresultStatus(p) == PGRES_TUPLES_OK && PQntuples(p) == 1;
		struct cp_rec rec;
		if (ok)
			ok = cp_rec_from_fields(x->element[0]->element[1], &rec) &&
			     rec.hmac != NULL && rec.sig != NULL;
		if (ok) {
			char arr[24];
			snprintf(arr, sizeof(arr), "%" PRId64, rec.arrival_ns);
			const void *val[4] = {arr, rec.body, rec.hmac, rec.sig};
			size_t len[4] = {strlen(arr), rec.body_len, rec.hmac_len, rec.sig_len};
			for (int k = 0; k < 4 && ok; k++)
				ok = (size_t)PQgetlength(p, 0, k) == len[k] &&
				     memcmp(PQgetvalue(p, 0, k), val[k], len[k]) == 0;
		}
		if (!ok && bad++ < 3)
			fprintf(stderr, "master %u sequence %" PRIu64 ": archive row differs from the "
				"Redis entry\n", m, seq);
		freeReplyObject(x);
		PQclear(p);
		redisFree(r);
	}
	CHECK(bad == 0, "%u masters' archived bytes differ from Redis", bad);
}

/* signal_archive holds each (master, 1..M) exactly once; waits up to 120 s for it. */
static void verify_archive(struct env *e)
{
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	CHECK(PQstatus(c) == CONNECTION_OK, "connect pg");
	long long want = (long long)e->masters * (long long)e->signals, have = -1;
	uint64_t t0 = now_ms(), end = t0 + 120000;
	while (now_ms() < end) {
		have = pg_scalar(c, "SELECT count(*) FROM signal_archive");
		if (have >= want)
			break;
		sleep_ms(200);
	}
	fprintf(stderr, "archive: %lld rows (want %lld), caught up %llu ms after the masters\n",
		have, want, (unsigned long long)(now_ms() - t0));
	CHECK(have == want, "signal_archive has %lld rows, want %lld", have, want);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT master_id FROM signal_archive GROUP BY master_id "
		 "HAVING count(*) <> %" PRIu64 " OR count(DISTINCT sequence) <> %" PRIu64
		 " OR min(sequence) <> 1 OR max(sequence) <> %" PRIu64 ") x",
		 e->signals, e->signals, e->signals);
	CHECK(pg_scalar(c, sql) == 0, "some master's archive is not exactly 1..M once each");
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT master_id) FROM signal_archive");
	CHECK(pg_scalar(c, sql) == (long long)e->masters, "archive does not hold every master");
	PGresult *r = PQexec(c, "SELECT reason, count(*) FROM protection_logs GROUP BY 1 ORDER BY 2 DESC");
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		fprintf(stderr, "protection_logs: %s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	CHECK(pg_scalar(c, "SELECT count(*) FROM signal_archive WHERE symbol = '?'") == 0,
	      "undecodable bodies in the archive");
	/* Columns as the archiver wrote them: time from arrival_ns, decoded fields, bytes. */
	CHECK(pg_scalar(c, "SELECT count(*) FROM signal_archive WHERE arrival_time <> "
			"'epoch'::timestamptz + (arrival_ns / 1000) * interval '1 microsecond'") == 0,
	      "arrival_time differs from arrival_ns");
	static const char implausible[] =
		"FROM signal_archive WHERE order_type NOT IN ('BUY','SELL','BUY_LIMIT','SELL_LIMIT',"
		"'BUY_STOP','SELL_STOP','CLOSE','MODIFY','CLOSE_PARTIAL') OR volume < 0 OR "
		"symbol !~ '^[A-Z]{6}' OR octet_length(hmac) <> 32 OR ed25519_sig IS NULL OR "
		"master_time_ns IS NULL";
	snprintf(sql, sizeof(sql), "SELECT count(*) %s", implausible);
	long long odd = pg_scalar(c, sql);
	CHECK(odd == 0, "%lld archived rows with implausible columns", odd);
	if (odd != 0) {
		snprintf(sql, sizeof(sql), "SELECT master_id, sequence, symbol, order_type, volume, "
			 "octet_length(hmac), octet_length(ed25519_sig), master_time_ns %s LIMIT 1",
			 implausible);
		PGresult *x = PQexec(c, sql);
		for (int i = 0; PQresultStatus(x) == PGRES_TUPLES_OK && i < PQnfields(x); i++)
			fprintf(stderr, "  %s = %s\n", PQfname(x, i),
				PQntuples(x) ? PQgetvalue(x, 0, i) : "-");
		PQclear(x);
	}
	verify_archive_bytes(e, c);
	PQfinish(c);
}

static int master_result(pid_t pid, unsigned int timeout_ms)
{
	int st = wait_for(pid, timeout_ms);
	if (st < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* CPU seconds (user + system) of pid and its threads, plus its reaped children when
 * `children` (PostgreSQL's backends are children of the postmaster). 0 if it is gone. */
static double cpu_s(pid_t pid, bool children)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* fields after the command name */
	unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
				&ut, &st, &cut, &cst) != 4)
		return 0;
	double t = (double)(ut + st + (children ? cut + cst : 0)) / (double)sysconf(_SC_CLK_TCK);
	return t;
}

/* A /proc stat file into buf (NUL-terminated). Returns buf, or NULL if it is gone. */
static char *read_stat(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* PostgreSQL: the postmaster, its reaped children and its live backends. */
static double pg_cpu_s(pid_t postmaster)
{
	double t = cpu_s(postmaster, true);
	DIR *d = postmaster > 0 ? opendir("/proc") : NULL;
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[300], buf[512];
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_stat(path, buf, sizeof(buf)) == NULL)
			continue;
		const char *p = strrchr(buf, ')');
		int ppid = 0;
		if (p != NULL && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == (int)postmaster)
			t += cpu_s((pid_t)atoi(de->d_name), false);
	}
	if (d != NULL)
		closedir(d);
	return t;
}

struct cpu_snap {
	double dp, ctl, redis, pg;
};

static void cpu_snap(const struct env *e, struct cpu_snap *c)
{
	c->dp = cpu_s(e->dp, false);
	c->ctl = cpu_s(e->ctl, false);
	c->redis = e->redis != NULL ? cpu_s(harness_redis_pid(e->redis), false) : 0;
	/* a cluster: all six nodes (the replicas' CPU is part of what a signal costs) */
	for (int i = 0; e->cluster != NULL && i < harness_rcluster_nodes(e->cluster); i++)
		if (harness_rcluster_pid(e->cluster, i) > 0)
			c->redis += cpu_s(harness_rcluster_pid(e->cluster, i), false);
	c->pg = pg_cpu_s(harness_pg_pid(e->pg));
}

/* Scheduling of the thread named `comm` in process pid (/proc/PID/task/TID/stat: nice is
 * field 19, rt_priority 40, policy 41). Returns 0 and fills them, or -1 if no such thread. */
static int thread_sched(pid_t pid, const char *comm, int *policy, int *rtprio, int *nice)
{
	char path[300], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = -1;
	while (d != NULL && rc != 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		if (read_stat(path, buf, sizeof(buf)) == NULL)
			continue;
		const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (open == NULL || close == NULL || (size_t)(close - open - 1) != strlen(comm) ||
		    strncmp(open + 1, comm, strlen(comm)) != 0)
			continue;
		/* after ") ": field 3 (state) onwards */
		const char *p = close + 2;
		long v[42] = {0};
		int k = 3;
		while (k <= 41 && *p != '\0') {
			v[k++] = strtol(p, NULL, 10);
			p = strchr(p, ' ');
			if (p == NULL)
				break;
			p++;
		}
		if (k > 41) {
			*nice = (int)v[19];
			*rtprio = (int)v[40];
			*policy = (int)v[41];
			rc = 0;
		}
	}
	if (d != NULL)
		closedir(d);
	return rc;
}

/* The default edge_sched / background_sched take effect (issue 26): the edge thread at
 * SCHED_FIFO 10, the archiver's threads at nice 10 (root here: the tests run as root; a
 * run without CAP_SYS_NICE checks the warning instead). */
static void check_default_sched(struct env *e)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	/* each role logs its class once it is applied (or why not) */
	bool root = geteuid() == 0;
	CHECK(harness_wait_line(path, root ? "edge info: scheduling fifo:10" :
				"edge warn: scheduling fifo:10 not applied", NULL, 0, e->ctl,
				30000) == 0 &&
	      harness_wait_line(path, "archiver info: scheduling nice:10", NULL, 0, e->ctl,
				30000) == 0, "edge and archiver logged their scheduling class");
	int pol = -1, rt = -1, nice = 99;
	CHECK(thread_sched(e->ctl, "cp-edge", &pol, &rt, &nice) == 0, "thread cp-edge found");
	if (root)
		CHECK(pol == 1 /* SCHED_FIFO */ && rt == 10, "edge thread SCHED_FIFO 10 (policy %d, "
		      "priority %d)", pol, rt);
	pol = -1;
	CHECK(thread_sched(e->ctl, "cp-archiver", &pol, &rt, &nice) == 0 && pol == 0 &&
	      nice == 10, "archiver threads at nice 10 (policy %d, nice %d)", pol, nice);
}

static bool archiver_counts(const struct env *e, const char *name, uint64_t *rows,
			    uint64_t *skipped, uint64_t *claimed);
static unsigned int largest_read, largest_live_read;

/* archiver_read_max (default 256) takes effect: the masters' backlog (unthrottled, so the
 * archiver falls behind) was read in XREADGROUPs of at most that many entries, not
 * archiver_batch (5,000) at once (issue 26: Redis serves the edge between them); while it
 * kept up (its first batch, the tail of the run) in reads of at most archiver_read_live
 * (default 64). The archiver logs its largest reads when it stops. */
static void check_read_max(struct env *e)
{
	uint64_t rows = 0, skipped = 0, claimed = 0;
	stop_pid(&e->ctl, SIGTERM);
	CHECK(archiver_counts(e, "control", &rows, &skipped, &claimed) && rows > 0,
	      "the archiver logged its counts (%" PRIu64 " rows)", rows);
	CHECK(largest_read > 0 && largest_read <= 256, "largest XREADGROUP %u entries, want "
	      "1..256 (archiver_read_max)", largest_read);
	CHECK(largest_live_read > 0 && largest_live_read <= 64, "largest XREADGROUP while "
	      "keeping up %u entries, want 1..64 (archiver_read_live)", largest_live_read);
}

/* On a cluster: the masters' streams are on more than one primary (else the run did not
 * route anything), and the edge and archiver did not fall back to anything else. */
static void check_spread(struct env *e)
{
	int ports[8] = {0}, n = 0;
	for (uint32_t m = 1; m <= e->masters; m++) {
		redisContext *r = redis_for(e, m);
		int p = r != NULL ? r->tcp.port : 0;
		int k = 0;
		while (k < n && ports[k] != p)
			k++;
		if (k == n && n < 8)
			ports[n++] = p;
		redisFree(r);
	}
	fprintf(stderr, "cluster: %u masters' streams on %d primaries\n", e->masters, n);
	CHECK(n >= (e->masters >= 10 ? 3 : 2), "the masters' streams are on %d primaries", n);
}

static redisContext *redis_open(const struct env *e);
static unsigned int log_lines(const struct env *e, const char *needle);

/* redis_refuses: CONFIG SET maxmemory on the test's Redis (0 = no limit). */
static void redis_maxmemory(struct env *e, const char *bytes)
{
	redisContext *r = redis_open(e);
	redisReply *rep = r != NULL ? redisCommand(r, "CONFIG SET maxmemory %s", bytes) : NULL;
	CHECK(rep != NULL && rep->type == REDIS_REPLY_STATUS, "CONFIG SET maxmemory %s", bytes);
	freeReplyObject(rep);
	redisFree(r);
}

static void run_with_faults(struct env *e, const char *scenario)
{
	uint64_t t0 = now_ms();
	struct cpu_snap c0, c1;
	cpu_snap(e, &c0);
	/* redis_refuses: at 10,000 signals/s, so that signals flow through the whole fault */
	pid_t m = start_master(e, e->masters, 1, e->signals, bench_rate ? bench_rate
			       : strcmp(scenario, "redis_refuses") == 0 ? "10000" : "0");
	/* at once (threads it starts later inherit it) and again when they have started */
	bench_sched_pid(m, true);
	if (bench_fifo > 0) {
		sleep_ms(100);
		bench_sched_pid(m, true);
	}
	int faults = 0;
	if (strcmp(scenario, "e2e") == 0)
		check_default_sched(e);
	if (strcmp(scenario, "kill_control") == 0) {
		for (int i = 0; i < 5; i++) {
			sleep_ms(1500);
			stop_pid(&e->ctl, SIGKILL);
			start_ctl(e);
			faults++;
		}
	} else if (strcmp(scenario, "kill_redis") == 0) {
		for (int i = 0; i < 2; i++) {
			sleep_ms(2000);
			CHECK(harness_redis_kill(e->redis) == 0, "kill redis");
			sleep_ms(500);
			CHECK(harness_redis_restart(e->redis) == 0, "restart redis from AOF");
			faults++;
		}
	} else if (strcmp(scenario, "redis_refuses") == 0) {
		/* Redis refuses every write for 2 s (out of memory: the batch's MULTI ... EXEC
		 * is aborted, EXECABORT): nothing may be ACKed meanwhile, nothing lost after */
		sleep_ms(1500);
		redis_maxmemory(e, "1");
		sleep_ms(2000);
		redis_maxmemory(e, "0");
		faults++;
	} else if (strcmp(scenario, "pg_down") == 0) {
		sleep_ms(1500);
		CHECK(harness_pg_stop(e->pg) == 0, "stop pg");
		sleep_ms(10000);
		CHECK(harness_pg_restart(e->pg) == 0, "restart pg");
		faults++;
	} else if (strcmp(scenario, "dp_restart") == 0) {
		for (int i = 0; i < 2; i++) {
			sleep_ms(2000);
			stop_pid(&e->dp, SIGKILL);
			CHECK(start_dp(e) == 0, "restart dataplane on port %d", e->port);
			faults++;
		}
	}
	/* Wait for the masters, but fail at once if decp-control dies (it must survive every
	 * fault except its own SIGKILL). */
	int rc = -1;
	for (uint64_t end = now_ms() + 900000; now_ms() < end;) {
		int st;
		if (waitpid(m, &st, WNOHANG) == m) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			m = 0;
			break;
		}
		if (e->ctl > 0 && waitpid(e->ctl, NULL, WNOHANG) == e->ctl) {
			fprintf(stderr, "decp-control died during the run\n");
			e->ctl = 0;
			break;
		}
		sleep_ms(50);
	}
	if (m > 0) {
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
	}
	dump(e->dir, "master.log");
	fprintf(stderr, "%s: %u masters x %" PRIu64 " signals, %d faults, masters done in %llu ms "
		"(exit %d)\n", scenario, e->masters, e->signals, faults,
		(unsigned long long)(now_ms() - t0), rc);
	CHECK(rc == 0, "decp-master exit status %d (0 = every signal ACKed)", rc);
	CHECK(e->ctl > 0 && waitpid(e->ctl, NULL, WNOHANG) == 0, "decp-control still running");
	verify_redis(e);
	if (ctl_roles == NULL || strstr(ctl_roles, "archiver") != NULL)
		verify_archive(e);
	if (strcmp(scenario, "e2e") == 0) {
		check_read_max(e);
		check_batch_transactions(e);
	}
	if (strcmp(scenario, "redis_refuses") == 0)
		CHECK(log_lines(e, "redis refused") > 0, "the edge saw Redis refuse its batches "
		      "(control.log: \"redis refused\")");
	if (e->cluster != NULL)
		check_spread(e);
	if (strcmp(scenario, "bench") == 0) {
		fprintf(stderr, "bench: %u x %" PRIu64 " signals at rate %s: end to end (master start "
			"to last archive row) %llu ms\n", e->masters, e->signals, bench_rate,
			(unsigned long long)(now_ms() - t0));
		/* CPU per signal is the load-independent figure on a shared machine. */
		cpu_snap(e, &c1);
		double n = (double)e->masters * (double)e->signals / 1e6; /* -> us per signal */
		fprintf(stderr, "bench: CPU per signal: dataplane %.2f us, decp-control %.2f us, "
			"redis-server %.2f us, postgresql %.2f us\n", (c1.dp - c0.dp) / n,
			(c1.ctl - c0.ctl) / n, (c1.redis - c0.redis) / n, (c1.pg - c0.pg) / n);
	}
}

static redisContext *redis_open(const struct env *e)
{
	struct timeval tv = {5, 0};
	redisContext *r = redisConnectWithTimeout(harness_redis_host(e->redis),
						  harness_redis_port(e->redis), tv);
	if (r == NULL || r->err) {
		fprintf(stderr, "connect redis: %s\n", r ? r->errstr : "out of memory");
		redisFree(r);
		return NULL;
	}
	redisSetTimeout(r, tv);
	return r;
}

/* Value of field name in a flat reply array [name1, v1, name2, v2, ...], or NULL. */
static const redisReply *reply_field(const redisReply *a, const char *name)
{
	for (size_t i = 0; a != NULL && a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2)
		if (a->element[i]->type == REDIS_REPLY_STRING && strcmp(a->element[i]->str, name) == 0)
			return a->element[i + 1];
	return NULL;
}

/* The archivers have caught up: in every master's stream the group "archiver" was
 * delivered up to M and holds nothing pending (entries are XACKed only after COMMIT). */
static bool archive_drained(redisContext *r, const struct env *e)
{
	char want[32];
	snprintf(want, sizeof(want), "%" PRIu64 "-0", e->signals);
	for (uint32_t m = 1; m <= e->masters; m++) {
		redisReply *x = redisCommand(r, "XINFO GROUPS decp:{m%u}:signals", m);
		const redisReply *g = x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 1 ?
				      x->element[0] : NULL;
		const redisReply *pend = reply_field(g, "pending"), *last =
			reply_field(g, "last-delivered-id");
		bool ok = pend != NULL && pend->type == REDIS_REPLY_INTEGER && pend->integer == 0 &&
			  last != NULL && last->type == REDIS_REPLY_STRING &&
			  strcmp(last->str, want) == 0;
		freeReplyObject(x);
		if (!ok)
			return false;
	}
	return true;
}

static bool wait_drained(struct env *e, unsigned int timeout_ms)
{
	redisContext *r = redis_open(e);
	uint64_t end = now_ms() + timeout_ms;
	bool ok = false;
	while (r != NULL && !(ok = archive_drained(r, e)) && now_ms() < end)
		sleep_ms(50);
	redisFree(r);
	return ok;
}

/* Archive throughput: the backlog of e2e's signals, left in Redis by an edge-only
 * decp-control, drained by an archiver-only one. */
static void run_bench_archive(struct env *e)
{
	struct cpu_snap i0, i1;
	cpu_snap(e, &i0);
	uint64_t ti = now_ms();
	pid_t m = start_master(e, e->masters, 1, e->signals, "0");
	int rc = master_result(m, 900000);
	CHECK(rc == 0, "decp-master exit status %d (0 = every signal ACKed)", rc);
	cpu_snap(e, &i1);
	double ni = (double)e->masters * (double)e->signals / 1e6;
	uint64_t dti = now_ms() - ti;
	fprintf(stderr, "bench_archive: ingest alone (edge only, nothing archived meanwhile): "
		"%.0f signals/s ACKed; CPU per signal: dataplane %.2f us, decp-control (edge) "
		"%.2f us, redis-server %.2f us\n", dti ? ni * 1e9 / (double)dti : 0.0,
		(i1.dp - i0.dp) / ni, (i1.ctl - i0.ctl) / ni, (i1.redis - i0.redis) / ni);
	verify_redis(e);
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	CHECK(PQstatus(c) == CONNECTION_OK, "connect pg");
	CHECK(pg_scalar(c, "SELECT count(*) FROM signal_archive") == 0, "nothing archived yet");
	stop_pid(&e->ctl, SIGTERM);
	struct cpu_snap c0, c1;
	/* Done when Redis says so (a count(*) every 20 ms would cost PostgreSQL more CPU
	 * than some of what is measured). */
	redisContext *r = redis_open(e);
	/* DECP_BENCH_ARCHIVE_APPENDONLY=no: the archive phase without Redis's AOF (what the
	 * consumer group's XREADGROUP/XACK propagation costs Redis). */
	const char *aof = getenv("DECP_BENCH_ARCHIVE_APPENDONLY");
	if (r != NULL && aof != NULL && *aof != '\0') {
		redisReply *x = redisCommand(r, "CONFIG SET appendonly %s", aof);
		CHECK(x != NULL && x->type == REDIS_REPLY_STATUS, "CONFIG SET appendonly %s", aof);
		freeReplyObject(x);
	}
	ctl_roles = "archiver";
	start_ctl(e);
	cpu_snap(e, &c0);
	uint64_t t0 = now_ms();
	long long want = (long long)e->masters * (long long)e->signals, have = 0;
	while (r != NULL && !archive_drained(r, e) && now_ms() < t0 + 600000)
		sleep_ms(20);
	uint64_t dt = now_ms() - t0;
	cpu_snap(e, &c1);
	redisFree(r);
	have = pg_scalar(c, "SELECT count(*) FROM signal_archive");
	PQfinish(c);
	double n = (double)want / 1e6;
	fprintf(stderr, "bench_archive: %lld rows archived in %llu ms: %.0f rows/s; CPU per row: "
		"decp-control (archiver) %.2f us, redis-server %.2f us, postgresql %.2f us\n",
		have, (unsigned long long)dt, dt ? (double)have * 1000.0 / (double)dt : 0.0,
		(c1.ctl - c0.ctl) / n, (c1.redis - c0.redis) / n, (c1.pg - c0.pg) / n);
	verify_archive(e);
}

static pid_t start_archiver(struct env *e, const char *name)
{
	char log[300], consumer[64];
	snprintf(log, sizeof(log), "%s/%s.log", e->dir, name);
	snprintf(consumer, sizeof(consumer), "archiver_consumer=%s", name);
	/* Small reads (COUNT is per stream), so two processes interleave on a backlog. */
	char *argv[] = {(char *)e->ctl_bin, "--config", e->cfg, "--roles", "archiver", "--set",
			consumer, "--set", "archiver_batch=100", NULL};
	return harness_spawn(log, argv);
}

/* Sums of the "stopped: rows=R skipped=S ... claimed=C" lines of an archiver process (one
 * per archiver loop, archiver_threads), and the largest "largest_read=N" of them. */
static bool archiver_counts(const struct env *e, const char *name, uint64_t *rows,
			    uint64_t *skipped, uint64_t *claimed)
{
	char path[300], line[1024];
	snprintf(path, sizeof(path), "%s/%s.log", e->dir, name);
	FILE *f = fopen(path, "r");
	bool ok = false;
	*rows = *skipped = *claimed = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "stopped: rows=");
		unsigned long long r, s, ev, b, c;
		if (p != NULL && sscanf(p, "stopped: rows=%llu skipped=%llu events=%llu batches=%llu "
					"claimed=%llu", &r, &s, &ev, &b, &c) == 5) {
			*rows += r;
			*skipped += s;
			*claimed += c;
			ok = true;
			const char *l = strstr(p, " largest_read=");
			unsigned int n = l != NULL ? (unsigned int)atoi(l + 14) : UINT32_MAX;
			if (n > largest_read) /* a line without the field fails the check */
				largest_read = n;
			l = strstr(p, " largest_live_read=");
			n = l != NULL ? (unsigned int)atoi(l + 19) : UINT32_MAX;
			if (n > largest_live_read)
				largest_live_read = n;
		}
	}
	if (f != NULL)
		fclose(f);
	return ok;
}

/* Rewind the group of every master's stream and let consumer "ghost" take the first half
 * (in one MULTI, before an archiver reads); ghost never ACKs. Returns the entries taken. */
static long long ghost_takes_half(struct env *e)
{
	redisContext *r = redis_open(e);
	long long taken = 0;
	for (uint32_t m = 1; r != NULL && m <= e->masters; m++) {
		redisAppendCommand(r, "MULTI");
		redisAppendCommand(r, "XGROUP SETID decp:{m%u}:signals archiver 0", m);
		redisAppendCommand(r, "XREADGROUP GROUP archiver ghost COUNT %" PRIu64
				   " STREAMS decp:{m%u}:signals >", e->signals / 2, m);
		redisAppendCommand(r, "EXEC");
		for (int i = 0; i < 4; i++) {
			redisReply *x = NULL;
			if (redisGetReply(r, (void **)&x) != REDIS_OK || x == NULL)
				break;
			/* EXEC: [OK, [[key, [entries...]]]] */
			if (i == 3 && x->type == REDIS_REPLY_ARRAY && x->elements == 2 &&
			    x->element[1]->type == REDIS_REPLY_ARRAY && x->element[1]->elements == 1)
				taken += (long long)x->element[1]->element[0]->element[1]->elements;
			freeReplyObject(x);
		}
	}
	redisFree(r);
	return taken;
}

static void run_share(struct env *e)
{
	pid_t m = start_master(e, e->masters, 1, e->signals, "0");
	CHECK(master_result(m, 900000) == 0, "decp-master: every signal ACKed");
	verify_redis(e);
	stop_pid(&e->ctl, SIGTERM); /* the edge's work is done */
	const uint64_t total = (uint64_t)e->masters * e->signals;
	pid_t a = start_archiver(e, "arch-a"), b = start_archiver(e, "arch-b");
	CHECK(wait_drained(e, 120000), "two archivers drained the backlog");
	/* Everything again: half through ghost's stale entries (XAUTOCLAIM after
	 * archiver_claim_idle_ms), half through XREADGROUP > of the rewound group. */
	long long ghost = ghost_takes_half(e);
	fprintf(stderr, "share: ghost consumer holds %lld archived entries\n", ghost);
	CHECK(ghost == (long long)(total / 2), "ghost took %lld entries, want %" PRIu64, ghost,
	      total / 2);
	CHECK(wait_drained(e, 120000), "redelivered and claimed entries all XACKed");
	stop_pid(&a, SIGTERM);
	stop_pid(&b, SIGTERM);
	uint64_t ra = 0, sa = 0, ca = 0, rb = 0, sb = 0, cb = 0;
	CHECK(archiver_counts(e, "arch-a", &ra, &sa, &ca) &&
	      archiver_counts(e, "arch-b", &rb, &sb, &cb), "both archivers logged their counts");
	fprintf(stderr, "share: arch-a rows=%" PRIu64 " skipped=%" PRIu64 " claimed=%" PRIu64
		", arch-b rows=%" PRIu64 " skipped=%" PRIu64 " claimed=%" PRIu64 "\n", ra, sa, ca,
		rb, sb, cb);
	CHECK(ra > 0 && rb > 0, "both archivers archived some signals");
	CHECK(ra + rb == total, "rows inserted %" PRIu64 ", want each signal once (%" PRIu64 ")",
	      ra + rb, total);
	CHECK(sa + sb >= total, "redeliveries skipped %" PRIu64 ", want >= %" PRIu64, sa + sb,
	      total);
	CHECK(ca + cb >= (uint64_t)ghost, "claimed %" PRIu64 " of ghost's %lld", ca + cb, ghost);
	verify_archive(e);
	if (failed > 0) {
		dump(e->dir, "arch-a.log");
		dump(e->dir, "arch-b.log");
	}
}

static void run_revoke(struct env *e)
{
	/* Master 1 sends 200/s; master 2 is the control group and must finish. */
	pid_t m1 = start_master(e, 1, 1, 1000000, "200");
	sleep_ms(2000);
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	CHECK(PQstatus(c) == CONNECTION_OK, "connect pg");
	CHECK(waitpid(m1, NULL, WNOHANG) == 0, "master 1 runs before the revocation");
	uint64_t t0 = now_ms();
	CHECK(pg_exec(c, "UPDATE license_tokens SET revoked_at = now() WHERE master_id = 1") == 0,
	      "revoke");
	int rc = master_result(m1, 5000);
	uint64_t dt = now_ms() - t0;
	fprintf(stderr, "revoke: master refused %llu ms after the revocation (exit %d)\n",
		(unsigned long long)dt, rc);
	CHECK(rc == 3, "master 1 exit %d, want 3 (refused)", rc);
	CHECK(dt <= 1000, "refusal took %llu ms (> 1 s)", (unsigned long long)dt);
	pid_t m2 = start_master(e, 1, 2, 1000, "0");
	CHECK(master_result(m2, 60000) == 0, "master 2 unaffected");
	pid_t m1b = start_master(e, 1, 1, 10, "0");
	CHECK(master_result(m1b, 10000) == 3, "master 1 cannot log in again");
	PQfinish(c);
}

/*
 * Key rotation under load (issue 17): master 1 streams with its HMAC secret while the
 * operator rotates it (the UPDATE of `decpctl master rotate-hmac`, 60 s overlap): nothing
 * is refused or lost. A master with the new secret continues; one still on the old secret
 * keeps working until the previous key is revoked (`decpctl master revoke-key --hmac`),
 * and is refused within a second after that; the new secret stays good.
 */
static void run_rotate(struct env *e)
{
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	CHECK(PQstatus(c) == CONNECTION_OK, "connect pg");
	struct cp_testkeys nk;
	CHECK(cp_testkeys_derive("decp-rot", 1, &nk) == 0, "new key");
	master_hmac_seed = NULL;
	pid_t m1 = start_master(e, 1, 1, 4000, "400");
	sleep_ms(1500);
	CHECK(waitpid(m1, NULL, WNOHANG) == 0, "master 1 streams before the rotation");
	const char *v[] = {(const char *)nk.secret};
	const int l[] = {32}, f[] = {1};
	PGresult *r = PQexecParams(c, "UPDATE masters SET hmac_secret_prev = hmac_secret, "
				   "hmac_prev_until = now() + interval '60 s', hmac_secret = $1, "
				   "keys_rotated_at = now() WHERE id = 1", 1, NULL, v, l, f, 0);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "rotate: %s", PQresultErrorMessage(r));
	PQclear(r);
	int rc = master_result(m1, 120000);
	CHECK(rc == 0, "old-key master across the rotation: exit %d, want 0 (all ACKed)", rc);
	master_hmac_seed = "decp-rot";
	rc = master_result(start_master(e, 1, 1, 6000, "0"), 120000);
	CHECK(rc == 0, "new-key master: exit %d, want 0", rc);
	/* A master still on the old key during the overlap, then the old key is revoked. */
	master_hmac_seed = NULL;
	pid_t m3 = start_master(e, 1, 1, 1000000, "200");
	sleep_ms(2000);
	CHECK(waitpid(m3, NULL, WNOHANG) == 0, "old key accepted during the overlap");
	uint64_t t0 = now_ms();
	CHECK(pg_exec(c, "UPDATE masters SET hmac_secret_prev = NULL, hmac_prev_until = NULL "
			 "WHERE id = 1") == 0, "revoke the previous key");
	rc = master_result(m3, 5000);
	uint64_t dt = now_ms() - t0;
	fprintf(stderr, "rotate: old-key master refused %llu ms after revoke-key (exit %d)\n",
		(unsigned long long)dt, rc);
	CHECK(rc == 3, "old-key master after revoke-key: exit %d, want 3 (refused)", rc);
	CHECK(dt <= 1000, "revoke took %llu ms (> 1 s)", (unsigned long long)dt);
	master_hmac_seed = "decp-rot";
	rc = master_result(start_master(e, 1, 1, 8000, "0"), 120000);
	CHECK(rc == 0, "new-key master after revoke-key: exit %d, want 0", rc);
	master_hmac_seed = NULL;
	PQfinish(c);
}

/* Rows of master_position_checks of master m with outcome o. */
static long long checks(PGconn *c, unsigned int m, const char *o)
{
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM master_position_checks WHERE master_id = "
		 "%u AND outcome = '%s'", m, o);
	return pg_scalar(c, sql);
}

/* Count of lines of control.log holding needle. */
/* Lines of control.log with needle (and with also, when not NULL). */
static unsigned int log_lines2(const struct env *e, const char *needle, const char *also)
{
	char path[300], line[1024];
	unsigned int n = 0;
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL && (also == NULL || strstr(line, also) != NULL);
	fclose(f);
	return n;
}

static unsigned int log_lines(const struct env *e, const char *needle)
{
	return log_lines2(e, needle, NULL);
}

/* The last `max` lines of control.log holding needle, to stderr (a failure's context). */
static void log_print(const struct env *e, const char *needle, unsigned int max)
{
	unsigned int n = log_lines(e, needle), seen = 0;
	char path[300], line[1024];
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL && ++seen + max > n)
			fprintf(stderr, "  | %s", line);
	fclose(f);
}

/* Master 1's trades: 90 positions and pending orders opened (tickets 5001..5090, with
 * SL/TP), then one modified, one partly closed, one closed: 89 entries at its end, sent in
 * many parts. */
static int write_positions_trades(const char *path)
{
	static const char *const types[] = {"BUY", "SELL", "BUY_LIMIT", "SELL_STOP"};
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "symbol,order_type,volume,price,sl,tp,position_ticket\n");
	for (int i = 0; i < 90; i++)
		fprintf(f, "%s,%s,0.%02d,1.%05d,1.00000,1.20000,%d\n", i % 2 ? "EURUSD" : "GBPUSD.pro",
			types[i % 4], 10 + i % 50, 8000 + i, 5001 + i);
	fprintf(f, "EURUSD,MODIFY,0,0,1.01000,1.19000,5001\n");
	fprintf(f, "EURUSD,CLOSE_PARTIAL,0.05,1.08100,0,0,5002\n");
	fprintf(f, "EURUSD,CLOSE,0,1.08100,0,0,5005\n");
	return fclose(f) == 0 ? 0 : -1;
}

/*
 * The masters' own positions (issue 19 item 1). Master 1 sends its positions (89 entries,
 * many parts) once every signal is ACKed; master 2 the same, altered (--positions-wrong:
 * one entry's volume + 1, one ticket it never opened); master 3 every 50 ms while it sends
 * at 1,000 signals/s, and at its end. Each decp-master waits for ingest to have read every
 * part (a Heartbeat after them), so what remains is the book role's work: waited for,
 * bounded.
 */
static void run_positions(struct env *e)
{
	PGconn *c = PQconnectdb(harness_pg_conninfo(e->pg));
	CHECK(PQstatus(c) == CONNECTION_OK, "connect pg");
	char trades[300];
	snprintf(trades, sizeof(trades), "%s/positions.csv", e->dir);
	CHECK(write_positions_trades(trades) == 0, "trades file");
	master_extra[0] = "--positions-at-end";
	master_extra[1] = "--trades";
	master_extra[2] = trades;
	pid_t m1 = start_master(e, 1, 1, 93, "0");
	CHECK(master_result(m1, 120000) == 0, "master 1 (honest) exit 0");
	master_extra[2] = NULL;
	master_extra[1] = "--positions-wrong";
	pid_t m2 = start_master(e, 1, 2, e->signals, "0");
	CHECK(master_result(m2, 120000) == 0, "master 2 (wrong positions) exit 0");
	master_extra[1] = "--positions-every-ms";
	master_extra[2] = "50";
	pid_t m3 = start_master(e, 1, 3, e->signals, "1000");
	CHECK(master_result(m3, 120000) == 0, "master 3 (positions every 50 ms) exit 0");
	memset(master_extra, 0, sizeof(master_extra));

	uint64_t end = now_ms() + 30000;
	while (now_ms() < end && (checks(c, 1, "match") < 1 || checks(c, 2, "mismatch") < 1 ||
				  checks(c, 3, "match") < 10))
		sleep_ms(100);
	/* master 3's last snapshot, at its end */
	char last3[200];
	snprintf(last3, sizeof(last3), "SELECT count(*) FROM master_position_checks WHERE "
		 "master_id = 3 AND sequence = %" PRIu64, e->signals);
	while (now_ms() < end && pg_scalar(c, last3) < 1)
		sleep_ms(100);
	long long m1ok = checks(c, 1, "match"), m1bad = checks(c, 1, "mismatch");
	long long m2bad = checks(c, 2, "mismatch"), m2ok = checks(c, 2, "match");
	long long m3ok = checks(c, 3, "match"), m3bad = checks(c, 3, "mismatch");
	long long m3stale = checks(c, 3, "stale"), m3exp = checks(c, 3, "expired");
	fprintf(stderr, "positions: master 1 match=%lld mismatch=%lld; master 2 mismatch=%lld "
		"match=%lld; master 3 match=%lld mismatch=%lld stale=%lld expired=%lld; compared "
		"with a rebuilt book: %u\n", m1ok, m1bad, m2bad, m2ok, m3ok, m3bad, m3stale, m3exp,
		log_lines(e, "the book rebuilt from its checkpoint at"));
	{
		/* why a snapshot went uncompared (the row's detail), for the log */
		PGresult *r = PQexec(c, "SELECT master_id, sequence, outcome, detail FROM "
				     "master_position_checks WHERE outcome IN ('stale', 'expired')");
		for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
			fprintf(stderr, "positions: master %s at %s %s: %s\n", PQgetvalue(r, i, 0),
				PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		PQclear(r);
	}
	CHECK(m1ok == 1 && m1bad == 0, "master 1: its positions match the book once");
	CHECK(pg_scalar(c, "SELECT count(*) FROM master_position_checks WHERE master_id = 1 AND "
			   "sequence = 93 AND master_entries = 89 AND book_entries = 89") == 1,
	      "master 1: 89 entries in many parts, at sequence 93");
	CHECK(m2bad == 1 && m2ok == 0, "master 2: its altered positions are a mismatch");
	CHECK(pg_scalar(c, "SELECT differences FROM master_position_checks WHERE master_id = 2")
		      == 2, "master 2: two differences (a volume, a ticket the book lacks)");
	CHECK(pg_scalar(c, "SELECT sequence FROM master_position_checks WHERE master_id = 2") ==
		      (long long)e->signals, "master 2: checked at its last sequence");
	CHECK(pg_scalar(c, "SELECT count(*) FROM master_position_checks WHERE master_id = 2 AND "
			   "detail LIKE '%volume master%' AND detail LIKE "
			   "'%held by the master, not in the book%'") == 1,
	      "master 2: the row's detail names both differences");
	CHECK(m3ok >= 10 && m3bad == 0, "master 3: %lld snapshots matched, %lld mismatched", m3ok,
	      m3bad);
	CHECK(pg_scalar(c, last3) == 1, "master 3: its last snapshot checked");
	/* the book role had moved past most of master 3's snapshots when their parts came: they
	 * were compared with the book rebuilt at their sequence */
	CHECK(log_lines(e, "master 3 positions at sequence") > 0 &&
		      log_lines(e, "the book rebuilt from its checkpoint at") >= 1,
	      "master 3: snapshots compared with the book rebuilt from a checkpoint (%u of %u)",
	      log_lines(e, "the book rebuilt from its checkpoint at"),
	      log_lines(e, "master 3 positions at sequence"));
	CHECK(m3stale + m3exp <= m3ok / 10, "master 3: %lld stale, %lld expired of %lld", m3stale,
	      m3exp, m3ok);
	CHECK(log_lines(e, "ALERT master 2: its positions at sequence") == 1, "the ALERT line");
	CHECK(log_lines(e, "ALERT master 1") == 0 && log_lines(e, "ALERT master 3") == 0,
	      "no alert for the honest masters");
	/* the alert feed (sql 0024): recorded within a second of the ALERT line */
	{
		const char *q = "SELECT count(*) FROM alerts WHERE kind = 'positions_mismatch' AND "
				"master_id = 2 AND subscription_id IS NULL AND count = 1 AND "
				"acknowledged_at IS NULL AND message LIKE 'master 2: its positions at %'";
		uint64_t until = now_ms() + 10000;
		while (pg_scalar(c, q) != 1 && now_ms() < until)
			sleep_ms(50);
		CHECK(pg_scalar(c, q) == 1 && pg_scalar(c, "SELECT count(*) FROM alerts") == 1,
		      "the alert feed: one open positions_mismatch alert, master 2's");
	}
	CHECK(log_lines(e, "held by the master, not in the book") == 1 &&
		      log_lines(e, "differs: volume master") == 1,
	      "each difference logged");
	PQfinish(c);
}

/* Index of the cluster node listening on port, or -1. */
static int cluster_node_of_port(const struct env *e, int port)
{
	for (int i = 0; i < harness_rcluster_nodes(e->cluster); i++)
		if (harness_rcluster_port(e->cluster, i) == port)
			return i;
	return -1;
}

/* Last sequence of master m's stream where the cluster serves it now (0: empty/none). */
static uint64_t stream_last(const struct env *e, uint32_t m)
{
	redisContext *r = redis_for(e, m);
	uint64_t last = 0;
	redisReply *x = r != NULL ? redisCommand(r, "XREVRANGE decp:{m%u}:signals + - COUNT 1", m)
				  : NULL;
	if (x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 1)
		last = strtoull(x->element[0]->element[0]->str, NULL, 10);
	freeReplyObject(x);
	redisFree(r);
	return last;
}

/* The sequence of master m's position book as the book role stored it (0: none). */
static uint64_t book_seq(const struct env *e, uint32_t m)
{
	redisContext *r = redis_for(e, m);
	redisReply *x = r != NULL ? redisCommand(r, "HGET decp:{m%u}:book seq", m) : NULL;
	uint64_t seq = x != NULL && x->type == REDIS_REPLY_STRING ? strtoull(x->str, NULL, 10) : 0;
	freeReplyObject(x);
	redisFree(r);
	return seq;
}

/* Wall clock, ns since the epoch (Server_Arrival_Time's clock). */
static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Rows of masters ms[0..n) in signal_archive that arrived at or after `from` and were
 * committed before `until` (wall ns); -1 when the query fails. */
static long long archived_between(PGconn *c, const uint32_t *ms, unsigned int n, int64_t from,
				  int64_t until)
{
	char sql[1024];
	size_t k = (size_t)snprintf(sql, sizeof(sql), "SELECT count(*) FROM signal_archive WHERE "
				    "arrival_ns >= %lld AND archived_at < to_timestamp(%lld / "
				    "1e9) AND master_id IN (0", (long long)from,
				    (long long)until);

	for (unsigned int i = 0; i < n && k < sizeof(sql) - 16; i++)
		k += (size_t)snprintf(sql + k, sizeof(sql) - k, ",%u", ms[i]);
	snprintf(sql + k, sizeof(sql) - k, ")");
	return pg_scalar(c, sql);
}

/* Slots node i serves up to and including `upto` (CLUSTER SLOTS, asked of node i). */
static long cluster_slots_of(const struct env *e, int i, long long upto)
{
	struct timeval tv = {5, 0};
	int port = harness_rcluster_port(e->cluster, i);
	redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *x = r != NULL && !r->err ? redisCommand(r, "CLUSTER SLOTS") : NULL;
	long n = 0;
	for (size_t k = 0; x != NULL && x->type == REDIS_REPLY_ARRAY && k < x->elements; k++) {
		const redisReply *s = x->element[k];
		long long lo = s->element[0]->integer, hi = s->element[1]->integer;
		if (s->elements >= 3 && s->element[2]->element[1]->integer == port && lo <= upto)
			n += (hi < upto ? hi : upto) - lo + 1;
	}
	freeReplyObject(x);
	redisFree(r);
	return n;
}

/* A node's id (CLUSTER MYID). */
static int cluster_node_id(const struct env *e, int i, char *out, size_t cap)
{
	struct timeval tv = {5, 0};
	redisContext *r = redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster, i),
						  tv);
	redisReply *x = r != NULL && !r->err ? redisCommand(r, "CLUSTER MYID") : NULL;
	int rc = x != NULL && x->type == REDIS_REPLY_STRING ? 0 : -1;
	if (rc == 0)
		snprintf(out, cap, "%s", x->str);
	freeReplyObject(x);
	redisFree(r);
	return rc;
}

/* A command on cluster node i (a reply of the type wanted, else -1). */
static int node_cmd(const struct env *e, int i, int want, const char *fmt, ...)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster, i),
						  tv);
	redisReply *x = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (c != NULL && !c->err)
		x = redisvCommand(c, fmt, ap);
	va_end(ap);
	int rc = x != NULL && x->type == want ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "node %d: %s: %s\n", i, fmt, x != NULL && x->type == REDIS_REPLY_ERROR
			? x->str : "unexpected reply");
	freeReplyObject(x);
	redisFree(c);
	return rc;
}

/* Master m's slot (CLUSTER KEYSLOT of its signals stream), or -1. */
static long master_slot(const struct env *e, uint32_t m)
{
	redisContext *o = redis_for(e, m);
	redisReply *x = o != NULL ? redisCommand(o, "CLUSTER KEYSLOT decp:{m%u}:signals", m) : NULL;
	long slot = x != NULL && x->type == REDIS_REPLY_INTEGER ? (long)x->integer : -1;
	freeReplyObject(x);
	redisFree(o);
	return slot;
}

/* Opens `slot` for its move from primary `from` to `to`, as redis-cli --cluster reshard
 * does before it moves the slot's keys: IMPORTING on `to`, MIGRATING on `from`. 0 or -1. */
static int slot_open(const struct env *e, long slot, int from, int to)
{
	char id_from[64], id_to[64];

	if (slot < 0 || cluster_node_id(e, from, id_from, sizeof(id_from)) != 0 ||
	    cluster_node_id(e, to, id_to, sizeof(id_to)) != 0)
		return -1;
	return node_cmd(e, to, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld IMPORTING %s", slot,
			id_from) == 0 &&
	       node_cmd(e, from, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld MIGRATING %s", slot,
			id_to) == 0 ? 0 : -1;
}

/*
 * cluster_reshard: the slots of a master's primary up to its slot (and 50 more) move to
 * another primary (redis-cli --cluster reshard) while all masters stream: the edge meets MOVED and ASK,
 * the archiver MOVED; nothing lost, nothing twice, no master error (exit 0 means every
 * signal ACKed; the masters' own retries are all they saw).
 */
static void run_cluster_reshard(struct env *e)
{
	uint64_t t0 = now_ms();
	pid_t m = start_master(e, e->masters, 1, e->signals, "4000");
	/* redis-cli takes the source's slots from its lowest: the tracked master t is the one
	 * with the fewest slots of its primary at or below its own, and those (and 50 more)
	 * move, so that the reshard is short and ends while the masters still stream */
	uint32_t t = 1;
	int from = -1;
	long best = -1;
	for (uint32_t k = 1; k <= e->masters; k++) {
		redisContext *o = redis_for(e, k);
		int node = o != NULL ? cluster_node_of_port(e, o->tcp.port) : -1;
		redisReply *x = o != NULL ? redisCommand(o, "CLUSTER KEYSLOT decp:{m%u}:signals", k)
					  : NULL;
		long n = x != NULL && x->type == REDIS_REPLY_INTEGER && node >= 0 ?
			 cluster_slots_of(e, node, x->integer) : -1;
		freeReplyObject(x);
		redisFree(o);
		if (n > 0 && (best < 0 || n < best)) {
			best = n;
			t = k;
			from = node;
		}
	}
	int to = (from + 1) % 3; /* nodes 0-2 are the primaries */
	char id_from[64] = "", id_to[64] = "", seed[32], log[300], nslots[24];
	CHECK(from >= 0 && cluster_node_id(e, from, id_from, sizeof(id_from)) == 0 &&
	      cluster_node_id(e, to, id_to, sizeof(id_to)) == 0, "the reshard's nodes");
	snprintf(nslots, sizeof(nslots), "%ld", best + 50);
	/* under way: master t has written its first signals (decp-master does not pace each
	 * master evenly: one may run far ahead of the total rate / masters) */
	for (uint64_t end = now_ms() + 60000; now_ms() < end && stream_last(e, t) < 50;)
		sleep_ms(50);
	/* master t's slot opened for migration, its keys still on the source, as redis-cli
	 * opens each slot before it moves its keys, for 100 of its signals: a multi-key call
	 * is refused TRYAGAIN in that state (decp_signals_pub's channel, declared a second
	 * key, made every batch of t fail until the keys had moved) */
	{
		long ts = master_slot(e, t);
		CHECK(slot_open(e, ts, from, to) == 0, "master %u's slot %ld MIGRATING", t, ts);
		uint64_t w0 = stream_last(e, t);
		for (uint64_t end = now_ms() + 20000; now_ms() < end && stream_last(e, t) < w0 + 100;)
			sleep_ms(20);
		CHECK(stream_last(e, t) >= w0 + 100, "master %u wrote on while its slot was "
		      "MIGRATING (%" PRIu64 " -> %" PRIu64 ")", t, w0, stream_last(e, t));
		CHECK(node_cmd(e, from, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld STABLE", ts) == 0 &&
		      node_cmd(e, to, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld STABLE", ts) == 0,
		      "slot %ld stable again", ts);
	}
	snprintf(seed, sizeof(seed), "127.0.0.1:%d", harness_rcluster_port(e->cluster, from));
	snprintf(log, sizeof(log), "%s/reshard.log", e->dir);
	char *argv[] = {"redis-cli", "--cluster", "reshard", seed, "--cluster-from", id_from,
			"--cluster-to", id_to, "--cluster-slots", nslots, "--cluster-yes",
			"--cluster-pipeline", "1", NULL};
	int owner[64] = {0};
	for (uint32_t k = 1; k <= e->masters && k < 64; k++) {
		redisContext *o = redis_for(e, k);
		owner[k] = o != NULL ? o->tcp.port : 0;
		redisFree(o);
	}
	uint64_t r0 = now_ms();
	pid_t rs = harness_spawn(log, argv);
	int rrc = rs > 0 ? harness_wait_exit(rs, 300000) : -1;
	uint64_t r1ms = now_ms();
	/* masters whose slot moved and that were still streaming when the reshard ended */
	unsigned int moved_masters = 0, moved_live = 0;
	for (uint32_t k = 1; k <= e->masters && k < 64; k++) {
		redisContext *o = redis_for(e, k);
		if (o != NULL && o->tcp.port != owner[k]) {
			moved_masters++;
			moved_live += stream_last(e, k) < e->signals;
		}
		redisFree(o);
	}
	uint64_t at_end = stream_last(e, t);
	CHECK(rrc == 0, "redis-cli --cluster reshard exit %d", rrc);
	int rc = master_result(m, 600000);
	fprintf(stderr, "cluster_reshard: %u masters x %" PRIu64 " signals; %s slots of node %d "
		"(master %u's among them) moved to node %d in %llu ms while they streamed (master %u "
		"at %" PRIu64 " when it ended); masters done in %llu ms (exit %d)\n", e->masters,
		e->signals, nslots, from, t, to, (unsigned long long)(r1ms - r0), t, at_end,
		(unsigned long long)(now_ms() - t0), rc);
	dump(e->dir, "master.log");
	CHECK(rc == 0, "decp-master exit status %d (0 = every signal ACKed)", rc);
	fprintf(stderr, "cluster_reshard: %u masters' slots moved, %u of them still streaming when "
		"the reshard ended\n", moved_masters, moved_live);
	CHECK(moved_masters > 0, "some master's slot moved");
	redisContext *after = redis_for(e, t);
	CHECK(after != NULL && cluster_node_of_port(e, after->tcp.port) == to,
	      "master %u's stream moved to node %d", t, to);
	redisFree(after);
	verify_redis(e);
	verify_archive(e);
	/* the redirects the edge followed, from its stop line */
	stop_pid(&e->ctl, SIGTERM);
	char path[300], line[1024];
	unsigned long long moved = 0, asked = 0, maps = 0;
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	FILE *f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, " moved=");
		if (strstr(line, "edge info: stopped:") != NULL && p != NULL)
			sscanf(p, " moved=%llu asked=%llu slot_maps=%llu", &moved, &asked, &maps);
	}
	if (f != NULL)
		fclose(f);
	fprintf(stderr, "cluster_reshard: the edge followed %llu MOVED and %llu ASK, read the "
		"slot map %llu times\n", moved, asked, maps);
	/* a redirect can only come from a write to a slot that moved: a live master's */
	CHECK(moved + asked > 0, "the reshard redirected the edge's live writes (MOVED %llu, ASK "
	      "%llu)", moved, asked);
	CHECK(log_lines(e, "redis refused a write") == 0, "no write refused during the reshard");
}

/* ACKed sequences (decp-master --acked-file: MASTER FIRST LAST per line) above each
 * master's stream end where the cluster serves it now: ACKed, and not there. */
static uint64_t acked_lost(const struct env *e, const char *path, uint64_t *acked)
{
	FILE *f = fopen(path, "r");
	uint64_t lost = 0, last[64] = {0};
	unsigned int mm, seen = 0;
	unsigned long long a, b;
	*acked = 0;
	if (f == NULL)
		return UINT64_MAX;
	for (uint32_t m = 1; m <= e->masters && m < 64; m++)
		last[m] = stream_last(e, m);
	while (fscanf(f, "%u %llu %llu", &mm, &a, &b) == 3) {
		seen++;
		if (mm == 0 || mm >= 64 || b < a)
			continue;
		*acked += b - a + 1;
		if (b > last[mm])
			lost += b - (a > last[mm] ? a : last[mm] + 1) + 1;
	}
	fclose(f);
	return seen > 0 ? lost : UINT64_MAX;
}

/* The cluster nodes of master 1's primary (*victim) and of its replica; -1 unknown. */
static void primary_of_master1(const struct env *e, int *victim, int *replica)
{
	redisContext *r1 = redis_for(e, 1);
	*victim = r1 != NULL ? cluster_node_of_port(e, r1->tcp.port) : -1;
	redisReply *rep = r1 != NULL ? redisCommand(r1, "INFO replication") : NULL;
	const char *sp = rep != NULL && rep->type == REDIS_REPLY_STRING ?
			 strstr(rep->str, "slave0:ip=127.0.0.1,port=") : NULL;
	*replica = sp != NULL ? cluster_node_of_port(e, atoi(sp + 25)) : -1;
	freeReplyObject(rep);
	redisFree(r1);
	CHECK(*victim >= 0 && *replica >= 0, "master 1's primary (%d) and its replica (%d)",
	      *victim, *replica);
}

/* The replica stopped first, then the primary drops its link: a replica that could still
 * run would reconnect and resync at once (on a quiet machine, before a SIGSTOP sent after
 * its own CLIENT KILL), and what the primary then sends waits in the stopped replica's
 * socket buffer and is applied at SIGCONT: no loss window at all. Returns its pid. */
static pid_t cut_off_replica(const struct env *e, int victim, int replica)
{
	struct timeval tv = {5, 0};
	pid_t rpid = harness_rcluster_pid(e->cluster, replica);
	kill(rpid, SIGSTOP);
	redisContext *rr = redisConnectWithTimeout("127.0.0.1",
						   harness_rcluster_port(e->cluster, victim), tv);
	redisReply *k = rr != NULL && !rr->err ? redisCommand(rr, "CLIENT KILL TYPE replica")
					       : NULL;
	CHECK(k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer >= 1,
	      "the primary dropped its replica's link (CLIENT KILL TYPE replica: %lld)",
	      k != NULL && k->type == REDIS_REPLY_INTEGER ? k->integer : -1LL);
	freeReplyObject(k);
	redisFree(rr);
	return rpid;
}

/*
 * cluster_kill_<durability>: the primary serving master 1 is cut off from its replica
 * (the replica SIGSTOPped, then CLIENT KILL TYPE replica on the primary: it cannot
 * reconnect and resync), takes writes
 * 0.75 s more, and is killed -9; decp-control too (so that nothing writes to the new
 * primary before it is compared); the replica is resumed and the cluster promotes it.
 * Then decp-master stops and every sequence it had ACKed is looked for in the streams
 * where the cluster now serves them. replica/both: none missing; fsync: the loss window,
 * counted and required to be non-zero (it exists; the test can see it). Then decp-control
 * starts again, the masters finish, and the archive holds each stream exactly once.
 */
static void run_cluster_kill(struct env *e, const char *durability)
{
	char acked[300];
	snprintf(acked, sizeof(acked), "%s/acked", e->dir);
	master_extra[0] = "--acked-file";
	master_extra[1] = acked;
	pid_t m = start_master(e, e->masters, 1, e->signals, "4000");
	memset(master_extra, 0, sizeof(master_extra));
	int victim, replica;
	primary_of_master1(e, &victim, &replica);
	if (victim < 0 || replica < 0) {
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
		return;
	}
	for (uint64_t end = now_ms() + 60000; now_ms() < end && stream_last(e, 1) < 500;)
		sleep_ms(50);
	/* fsync: the edge asked every primary for its persistence, not only the first */
	for (int i = 0; i < 3 && strcmp(durability, "fsync") == 0; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "durability = fsync (Redis 127.0.0.1:%d: "
			 "appendonly yes, appendfsync always)", harness_rcluster_port(e->cluster, i));
		CHECK(log_lines(e, needle) >= 1, "the edge checked primary %d's persistence: '%s' "
		      "logged", i, needle);
	}
	pid_t rpid = cut_off_replica(e, victim, replica);
	uint64_t before = stream_last(e, 1);
	sleep_ms(750);
	uint64_t at_kill = stream_last(e, 1);
	CHECK(harness_rcluster_kill(e->cluster, victim) == 0, "kill -9 the primary");
	stop_pid(&e->ctl, SIGKILL);
	uint64_t t0 = now_ms();
	kill(rpid, SIGCONT);
	/* promoted: the live nodes name the replica as master 1's primary, and it agrees */
	bool promoted = false;
	for (uint64_t end = now_ms() + 60000; now_ms() < end && !promoted;) {
		redisContext *nr = redis_for(e, 1);
		redisReply *x = nr != NULL && cluster_node_of_port(e, nr->tcp.port) == replica ?
				redisCommand(nr, "INFO replication") : NULL;
		promoted = x != NULL && x->type == REDIS_REPLY_STRING &&
			   strstr(x->str, "role:master") != NULL;
		freeReplyObject(x);
		redisFree(nr);
		if (!promoted)
			sleep_ms(50);
	}
	uint64_t t_promote = now_ms() - t0;
	CHECK(promoted, "the cluster promoted master 1's replica within 60 s");
	CHECK(harness_rcluster_wait_ok(e->cluster, 60000) == 0, "cluster_state:ok again");
	/* decp-master: stop (a second SIGTERM: at once), writing its ACKed sequences */
	kill(m, SIGTERM);
	sleep_ms(200);
	kill(m, SIGTERM);
	master_result(m, 60000);
	uint64_t n_acked = 0, lost = acked_lost(e, acked, &n_acked);
	fprintf(stderr, "cluster_kill durability=%s: master 1 at %" PRIu64 " when cut off, %" PRIu64
		" when its primary was killed; replica promoted after %llu ms; ACKed %" PRIu64
		", of them missing from the new primaries' streams: %" PRIu64 "\n", durability,
		before, at_kill, (unsigned long long)t_promote, n_acked, lost);
	CHECK(lost != UINT64_MAX, "decp-master's --acked-file read");
	if (strcmp(durability, "fsync") == 0)
		CHECK(lost > 0 && lost != UINT64_MAX, "fsync: the loss window is visible (%" PRIu64
		      " ACKed signals lost)", lost);
	else
		CHECK(lost == 0, "durability = %s: every ACKed signal is on the new primary (%" PRIu64
		      " missing)", durability, lost);
	/* the old primary comes back as the new one's replica (replica/both need one to ACK);
	 * the pipeline resumes on the new map: the masters finish, the archive is exact */
	CHECK(harness_rcluster_restart(e->cluster, victim) == 0, "the old primary restarted");
	CHECK(harness_rcluster_wait_synced(e->cluster, 60000) == 0,
	      "it rejoined as the new primary's replica");
	CHECK(start_ctl(e) == 0, "decp-control restarted");
	m = start_master(e, e->masters, 1, e->signals, "0");
	int rc = master_result(m, 600000);
	CHECK(rc == 0, "decp-master exit status %d after the failover", rc);
	verify_redis(e);
	verify_archive(e);
}

/* Highest ACKed sequence per master in decp-master's --acked-file (MASTER FIRST LAST per
 * line) into max[1..63]. -1 if it cannot be read. */
static int acked_max(const char *path, uint64_t max[64])
{
	FILE *f = fopen(path, "r");
	unsigned int mm;
	unsigned long long a, b;
	memset(max, 0, 64 * sizeof(*max));
	if (f == NULL)
		return -1;
	while (fscanf(f, "%u %llu %llu", &mm, &a, &b) == 3)
		if (mm > 0 && mm < 64 && b > max[mm])
			max[mm] = b;
	fclose(f);
	return 0;
}

/* Waits (up to 60 s) until the stream of every master off the victim holds 50 more than
 * from[m]: each of them logged in and streams, so what it sent before those 50 is ACKed.
 * Returns how many did not. */
static unsigned int wait_others_grow(const struct env *e, const bool *on_victim,
				     const uint64_t *from)
{
	unsigned int behind = 0;
	for (uint64_t end = now_ms() + 60000;; sleep_ms(50)) {
		behind = 0;
		for (uint32_t m = 1; m <= e->masters && m < 64; m++)
			behind += !on_victim[m] && stream_last(e, m) < from[m] + 50;
		if (behind == 0 || now_ms() > end)
			return behind;
	}
}

/* decp-master stopped (a second SIGTERM: at once), its --acked-file written. */
static void master_stop(pid_t m)
{
	kill(m, SIGTERM);
	sleep_ms(200);
	kill(m, SIGTERM);
	master_result(m, 60000);
}

/* Every master sends all its signals (resuming where HelloAck puts it): each is ACKed
 * (exit 0), and the streams and the archive hold each exactly once. */
static void finish_all(struct env *e, const char *when)
{
	pid_t m = start_master(e, e->masters, 1, e->signals, "0");
	/* 20 x 3,000 take well under a minute under ASan: 4 minutes bound a run whose
	 * decp-control died (it hung the test to meson's timeout) */
	int rc = master_result(m, 240000);
	CHECK(rc == 0, "decp-master exit status %d %s", rc, when);
	verify_redis(e);
	verify_archive(e);
}

/* The ACKs of one phase of cluster_replica_lost: every master off the victim ACKed
 * beyond from[m] (streams went on there), none on it beyond cut[m] (what its primary
 * wrote after losing its replica is not durable). */
static void check_held(const struct env *e, const char *phase, const char *acked,
		       const bool *on_victim, const uint64_t *from, const uint64_t *cut)
{
	uint64_t max[64];
	unsigned int on = 0, off = 0, on_bad = 0, off_bad = 0;
	CHECK(acked_max(acked, max) == 0, "%s: decp-master's --acked-file read", phase);
	for (uint32_t m = 1; m <= e->masters && m < 64; m++) {
		if (on_victim[m]) {
			on++;
			if (max[m] > cut[m]) {
				on_bad++;
				fprintf(stderr, "%s: master %u ACKed %" PRIu64 ", its primary had %"
					PRIu64 " when its replica was stopped\n", phase, m, max[m],
					cut[m]);
			}
		} else {
			off++;
			if (max[m] <= from[m]) {
				off_bad++;
				fprintf(stderr, "%s: master %u ACKed up to %" PRIu64 ", not beyond %"
					PRIu64 "\n", phase, m, max[m], from[m]);
			}
		}
	}
	CHECK(on > 0 && off > 0, "%s: masters on the primary without a replica (%u) and on "
	      "the others (%u)", phase, on, off);
	CHECK(on_bad == 0, "%s: no master of the primary without a replica was ACKed beyond "
	      "what it had when the replica stopped (%u were)", phase, on_bad);
	CHECK(off_bad == 0, "%s: every master of the other primaries was ACKed on (%u were "
	      "not)", phase, off_bad);
}

static long long api_metric(const char *name);

static size_t count_true(const bool *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += v[i];
	return k;
}

/*
 * cluster_replica_lost (durability = replica): the replica of the primary serving master 1
 * is stopped (SIGSTOP, and the primary drops its link) while 20 masters send, so that
 * primary's WAIT answers 0. Each signal and login is judged by its own primary's WAIT:
 * the masters of that primary get no ACK (nothing they send after the cut is durable),
 * the other primaries' are ACKed on. decp-control restarted meanwhile becomes READY: the
 * other primaries' masters log in and stream, that primary's are answered UNAVAILABLE
 * (before: one WAIT short kept the edge from READY, and refused every login on every
 * primary; the second runbook drill stalled all 6 masters for 140 s). The replica
 * resumed, every master completes and the streams and archive are exact.
 * cluster_set_replica_restart: the same with the primary that serves decp:masters (and
 * some masters' streams) as the victim. The set is only a shortcut (the archiver finds
 * streams by SCAN too, cp_discover.h): after the restart the other primaries' masters log
 * in and are ACKed although no SADD on the set's primary can reach a replica (88a4dec
 * made every login and ACK of a master this edge process had not seen listed wait for
 * the set's WAIT: all of them after a restart).
 */
static void primary_of_set(const struct env *e, int *victim, int *replica);

static void run_cluster_replica_lost(struct env *e, bool set_primary)
{
	char acked[300];
	bool on_victim[64] = {false};
	uint64_t cut[64] = {0}, from[64] = {0};
	snprintf(acked, sizeof(acked), "%s/acked", e->dir);
	master_extra[0] = "--acked-file";
	master_extra[1] = acked;
	pid_t m = start_master(e, e->masters, 1, e->signals, "2000");
	int victim, replica;
	if (set_primary)
		primary_of_set(e, &victim, &replica);
	else
		primary_of_master1(e, &victim, &replica);
	if (victim < 0 || replica < 0 || e->masters >= 64) {
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
		memset(master_extra, 0, sizeof(master_extra));
		return;
	}
	for (uint32_t k = 1; k <= e->masters; k++) {
		redisContext *rk = redis_for(e, k);
		on_victim[k] = rk != NULL && cluster_node_of_port(e, rk->tcp.port) == victim;
		redisFree(rk);
	}
	for (uint64_t end = now_ms() + 60000; now_ms() < end && stream_last(e, 1) < 200;)
		sleep_ms(50);
	pid_t rpid = cut_off_replica(e, victim, replica);
	for (uint32_t i = 1; i <= e->masters; i++)
		from[i] = cut[i] = stream_last(e, i);
	if (set_primary)
		fprintf(stderr, "cluster_set_replica_restart: node %d serves decp:masters and the "
			"streams of %u of %u masters\n", victim,
			(unsigned int)count_true(on_victim, 64), e->masters);

	/* 1. running: every other primary's master streams 50 more, then decp-master stops */
	unsigned int behind = wait_others_grow(e, on_victim, from);
	CHECK(behind == 0, "running: the streams of the other primaries' masters grew (%u did "
	      "not)", behind);
	master_stop(m);
	check_held(e, "running", acked, on_victim, from, cut);
	CHECK(api_metric("decp_edge_not_durable_total") > 0,
	      "running: /metrics counts the held signals (decp_edge_not_durable_total %lld)",
	      api_metric("decp_edge_not_durable_total"));

	/* 2. decp-control restarted with the replica still stopped: READY, and the same */
	stop_pid(&e->ctl, SIGTERM);
	CHECK(start_ctl(e) == 0 && wait_ready(e, 2, 60000) == 0,
	      "decp-control restarted and READY with a primary short of its replica");
	for (uint32_t i = 1; i <= e->masters; i++)
		from[i] = stream_last(e, i);
	unlink(acked);
	m = start_master(e, e->masters, 1, e->signals, "2000");
	behind = wait_others_grow(e, on_victim, from);
	CHECK(behind == 0, "restarted: the other primaries' masters logged in and their streams "
	      "grew (%u did not)", behind);
	master_stop(m);
	memset(master_extra, 0, sizeof(master_extra));
	check_held(e, "restarted", acked, on_victim, from, cut);
	CHECK(api_metric("decp_edge_logins_unavailable_total") > 0,
	      "restarted: /metrics counts the refused logins (decp_edge_logins_unavailable_total "
	      "%lld)", api_metric("decp_edge_logins_unavailable_total"));
	CHECK(log_lines(e, "their logins wait for the replicas") > 0,
	      "the edge said which primary's masters wait");

	/* 3. the replica back: every master completes, exactly */
	kill(rpid, SIGCONT);
	CHECK(harness_rcluster_wait_synced(e->cluster, 60000) == 0,
	      "the replica resynced with its primary");
	finish_all(e, "once the replica is back");
}

/* The cluster node of node i's first replica (INFO replication there), -1. */
static int replica_of(const struct env *e, int i)
{
	struct timeval tv = {5, 0};
	redisContext *r = redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster, i),
						  tv);
	redisReply *x = r != NULL && !r->err ? redisCommand(r, "INFO replication") : NULL;
	const char *sp = x != NULL && x->type == REDIS_REPLY_STRING ?
			 strstr(x->str, "slave0:ip=127.0.0.1,port=") : NULL;
	int n = sp != NULL ? cluster_node_of_port(e, atoi(sp + 25)) : -1;
	freeReplyObject(x);
	redisFree(r);
	return n;
}

/*
 * cluster_reshard_dup (durability = replica): a reshard must not turn a signal that was
 * never durable into an ACKed one. Master 1's primary S loses its replica (cut off):
 * what it writes after is on S alone, its WAITs answer 0 and the master's resends answer
 * DUPLICATE without an ACK (docs/control.md "Durability modes"). Then the replica of
 * another primary T is stopped (still connected: T counts it, its last ACK offset frozen)
 * and master 1's stream moves to T (CLUSTER SETSLOT IMPORTING/MIGRATING + MIGRATE, as
 * redis-cli --cluster reshard does key by key; the slot's other keys stay on S): the
 * resends are ASKed to T and answer DUPLICATE there. T got the stream by MIGRATE's
 * RESTORE, from another connection: a WAIT on the edge's connection to T, which wrote
 * nothing since before, counts T's stopped replica at once -- while no replica anywhere
 * holds those signals (S's is cut off, T's never got the RESTORE, S deleted the key).
 * None of them may be ACKed. Then both replicas resume, the slot's move is finished and
 * the master completes exactly.
 */
static void run_cluster_reshard_dup(struct env *e)
{
	char acked[300], id_from[64] = "", id_to[64] = "";
	int from, s_rep;
	snprintf(acked, sizeof(acked), "%s/acked", e->dir);
	master_extra[0] = "--acked-file";
	master_extra[1] = acked;
	/* a master that resends on its session at the ACK timeout (the dataplane takes it:
	 * re-enqueued; decp-master and DecpMaster log in again instead, and a login's own
	 * write and WAIT cover what it reads) */
	master_extra[2] = "--resend-in-session";
	pid_t m = start_master(e, 1, 1, e->signals, "500");
	memset(master_extra, 0, sizeof(master_extra));
	primary_of_master1(e, &from, &s_rep);
	int to = from >= 0 ? (from + 1) % 3 : -1; /* nodes 0-2 start as the primaries */
	int t_rep = to >= 0 ? replica_of(e, to) : -1;
	CHECK(to >= 0 && t_rep >= 0 && cluster_node_id(e, from, id_from, sizeof(id_from)) == 0 &&
	      cluster_node_id(e, to, id_to, sizeof(id_to)) == 0,
	      "the move's nodes: %d -> %d (its replica %d)", from, to, t_rep);
	if (from < 0 || s_rep < 0 || t_rep < 0) {
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
		return;
	}
	for (uint64_t end = now_ms() + 60000; now_ms() < end && stream_last(e, 1) < 200;)
		sleep_ms(50);
	pid_t s_pid = cut_off_replica(e, from, s_rep);
	/* the master's window fills with signals S wrote alone (no ACK): wait until its
	 * stream stops growing (only resends, all DUPLICATE) */
	uint64_t cut = stream_last(e, 1), full = cut;
	for (uint64_t end = now_ms() + 20000; now_ms() < end;) {
		sleep_ms(1000);
		uint64_t now = stream_last(e, 1);
		if (now == full)
			break;
		full = now;
	}
	uint64_t max[64];
	/* T's replica stopped, its link kept (T still counts it) */
	pid_t t_pid = harness_rcluster_pid(e->cluster, t_rep);
	kill(t_pid, SIGSTOP);
	/* master 1's stream (alone) to T */
	long slot = master_slot(e, 1);
	CHECK(slot_open(e, slot, from, to) == 0 &&
	      node_cmd(e, from, REDIS_REPLY_STATUS, "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS "
		       "decp:{m1}:signals", harness_rcluster_port(e->cluster, to), "") == 0,
	      "master 1's stream moved to node %d (slot %ld MIGRATING)", to, slot);
	/* the master's resends after its ACK timeout (2 s), twice */
	sleep_ms(5000);
	master_stop(m);
	CHECK(acked_max(acked, max) == 0, "decp-master's --acked-file read");
	fprintf(stderr, "cluster_reshard_dup: master 1's stream at %" PRIu64 " on node %d when "
		"its replica was cut off, %" PRIu64 " when moved to node %d with its replica "
		"stopped; ACKed up to %" PRIu64 "\n", cut, from, full, to, max[1]);
	CHECK(full > cut, "the primary wrote signals without its replica (%" PRIu64 " -> %"
	      PRIu64 ")", cut, full);
	CHECK(max[1] <= cut, "no signal ACKed that no replica holds: ACKed up to %" PRIu64 ", "
	      "the primary had %" PRIu64 " when its replica was cut off (the rest are on node "
	      "%d alone)", max[1], cut, to);

	/* both replicas back, the slot's move finished: the run completes exactly */
	kill(t_pid, SIGCONT);
	kill(s_pid, SIGCONT);
	struct timeval tv = {5, 0};
	redisContext *src = redisConnectWithTimeout("127.0.0.1",
						    harness_rcluster_port(e->cluster, from), tv);
	redisReply *x = src != NULL && !src->err ? redisCommand(src, "CLUSTER GETKEYSINSLOT %ld 100",
								slot)
				     : NULL;
	for (size_t k = 0; x != NULL && x->type == REDIS_REPLY_ARRAY && k < x->elements; k++)
		CHECK(node_cmd(e, from, REDIS_REPLY_STATUS, "MIGRATE 127.0.0.1 %d %s 0 5000 "
			       "KEYS %s", harness_rcluster_port(e->cluster, to), "",
			       x->element[k]->str) == 0, "%s moved", x->element[k]->str);
	freeReplyObject(x);
	redisFree(src);
	for (int i = 0; i < 3; i++)
		CHECK(node_cmd(e, i, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld NODE %s", slot,
			       id_to) == 0, "slot %ld given to node %d on node %d", slot, to, i);
	CHECK(harness_rcluster_wait_synced(e->cluster, 60000) == 0, "the replicas resynced");
	/* resends that are durable are ACKed: T's replica stopped for 0.5 s while the master
	 * (resending on its session) streams the rest, then resumed: the resends answer
	 * DUPLICATE, the edge writes and WAITs again on T (resend_waits), and ACKs them */
	master_extra[0] = "--resend-in-session";
	m = start_master(e, 1, 1, e->signals, "1000");
	memset(master_extra, 0, sizeof(master_extra));
	uint64_t w0 = stream_last(e, 1);
	for (uint64_t end = now_ms() + 30000; now_ms() < end && stream_last(e, 1) < w0 + 100;)
		sleep_ms(20);
	kill(t_pid, SIGSTOP);
	sleep_ms(500);
	kill(t_pid, SIGCONT);
	int rc = master_result(m, 240000);
	CHECK(rc == 0, "decp-master (resending on its session) exit status %d", rc);
	verify_redis(e);
	verify_archive(e);
	stop_pid(&e->ctl, SIGTERM);
	char path[300], line[1024];
	unsigned long long rw = 0;
	snprintf(path, sizeof(path), "%s/control.log", e->dir);
	FILE *f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *q = strstr(line, " resend_waits=");
		if (strstr(line, "edge info: stopped:") != NULL && q != NULL)
			sscanf(q, " resend_waits=%llu", &rw);
	}
	if (f != NULL)
		fclose(f);
	fprintf(stderr, "cluster_reshard_dup: the edge wrote and WAITed again for resends %llu "
		"time(s)\n", rw);
	CHECK(rw > 0, "durable resends ACKed after a WAIT of their own (resend_waits %llu)", rw);
}

/* The cluster node serving `key` now, -1. */
static int cluster_node_of_key(const struct env *e, const char *key)
{
	int port = cluster_port_of_key(e, key);
	return port > 0 ? cluster_node_of_port(e, port) : -1;
}

/* The node serving decp:masters (the set's primary) and its replica, -1 when unknown. */
static void primary_of_set(const struct env *e, int *victim, int *replica)
{
	struct timeval tv = {5, 0};
	*victim = cluster_node_of_key(e, "decp:masters");
	redisContext *sc = *victim >= 0 ?
		redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster, *victim), tv)
		: NULL;
	redisReply *rep = sc != NULL && !sc->err ? redisCommand(sc, "INFO replication") : NULL;
	const char *sp = rep != NULL && rep->type == REDIS_REPLY_STRING ?
			 strstr(rep->str, "slave0:ip=127.0.0.1,port=") : NULL;
	*replica = sp != NULL ? cluster_node_of_port(e, atoi(sp + 25)) : -1;
	freeReplyObject(rep);
	redisFree(sc);
	CHECK(*victim >= 0 && *replica >= 0, "the set's primary (%d) and its replica (%d)",
	      *victim, *replica);
}

/* SISMEMBER decp:masters m where the cluster serves the set now: 1, 0, -1 (no answer). */
static int set_lists(const struct env *e, uint32_t m)
{
	struct timeval tv = {5, 0};
	int node = cluster_node_of_key(e, "decp:masters");
	if (node < 0)
		return -1;
	redisContext *s = redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster,
										     node), tv);
	redisReply *x = s != NULL && !s->err ? redisCommand(s, "SISMEMBER decp:masters %u", m)
					     : NULL;
	int in = x != NULL && x->type == REDIS_REPLY_INTEGER ? (int)x->integer : -1;
	freeReplyObject(x);
	redisFree(s);
	return in;
}

/*
 * cluster_set_replica_lost (durability = replica): the replica of the primary serving
 * decp:masters (the set the archiver used to find streams in only) is cut off before a
 * master that never sent anything starts, on another primary (with its replica). Its
 * signals are ACKed (their own primary's WAIT found the replica; the set's is not waited
 * for) and its listing is on the set's primary only, across a decp-control restart too.
 * The set's primary is then killed -9 and its replica promoted: the set has lost the
 * master. The archiver, not running until then, starts after the failover with the
 * master quiet: its SCAN of the primaries (cp_discover.h) finds the stream, lists it in
 * the set again and archives every ACKed signal (before 88a4dec: 300 ACKed, 0 listed, 0
 * archived; 88a4dec held the ACKs instead). A book role starts with it and, reading the
 * set only (it does not SCAN), keeps the master's book up to the stream's last sequence
 * from the archiver's listing.
 */
static void run_cluster_set_replica_lost(struct env *e)
{
	char acked[300];
	int set_node = cluster_node_of_key(e, "decp:masters"), replica = -1;
	uint32_t n = 0;
	snprintf(acked, sizeof(acked), "%s/acked", e->dir);
	for (uint32_t k = 1; k <= e->masters && n == 0; k++) {
		char key[64];
		snprintf(key, sizeof(key), "decp:{m%u}:signals", k);
		int at = cluster_node_of_key(e, key);
		if (at >= 0 && at != set_node)
			n = k;
	}
	struct timeval tv = {5, 0};
	redisContext *sc = set_node >= 0 ?
		redisConnectWithTimeout("127.0.0.1", harness_rcluster_port(e->cluster, set_node), tv)
		: NULL;
	redisReply *rep = sc != NULL && !sc->err ? redisCommand(sc, "INFO replication") : NULL;
	const char *sp = rep != NULL && rep->type == REDIS_REPLY_STRING ?
			 strstr(rep->str, "slave0:ip=127.0.0.1,port=") : NULL;
	replica = sp != NULL ? cluster_node_of_port(e, atoi(sp + 25)) : -1;
	freeReplyObject(rep);
	redisFree(sc);
	CHECK(set_node >= 0 && replica >= 0 && n > 0, "the set's primary (%d), its replica (%d), "
	      "a master on another primary (%u)", set_node, replica, n);
	if (set_node < 0 || replica < 0 || n == 0)
		return;
	pid_t rpid = cut_off_replica(e, set_node, replica);

	/* master n alone, never seen before: 300 signals, 6 s at most */
	master_extra[0] = "--acked-file";
	master_extra[1] = acked;
	pid_t m = start_master(e, 1, n, 300, "100");
	memset(master_extra, 0, sizeof(master_extra));
	for (uint64_t end = now_ms() + 6000; now_ms() < end && stream_last(e, n) < 300;)
		sleep_ms(100);
	/* decp-control restarted under the running master: the dataplane closes sessions a
	 * control that is gone confirmed, and the master logs in again (its stream not empty,
	 * its listing on no replica: the set's WAIT does not hold its HelloAck) */
	stop_pid(&e->ctl, SIGTERM);
	CHECK(start_ctl(e) == 0 && wait_ready(e, 2, 60000) == 0,
	      "decp-control restarted and READY with the set's primary short of its replica");
	sleep_ms(4500);   /* its resends after the ACK timeout (2 s) */
	master_stop(m);
	uint64_t max[64];
	CHECK(acked_max(acked, max) == 0, "decp-master's --acked-file read");
	fprintf(stderr, "cluster_set_replica_lost: master %u (stream at %" PRIu64 ") ACKed up to %"
		PRIu64 " while the set's primary had no replica\n", n, stream_last(e, n), max[n]);

	/* the set's primary dies; its replica (cut off before master n began) is promoted */
	CHECK(harness_rcluster_kill(e->cluster, set_node) == 0, "kill -9 the set's primary");
	kill(rpid, SIGCONT);
	CHECK(harness_rcluster_wait_ok(e->cluster, 60000) == 0, "cluster_state:ok again");
	/* the archiver starts now (a separate process, or restarted: what it knows of the
	 * streams is what the set lists) */
	stop_pid(&e->ctl, SIGTERM);
	ctl_roles = "edge,archiver,fanout,book";
	CHECK(start_ctl(e) == 0, "decp-control restarted with the archiver and the book role");
	int listed = -1;
	for (uint64_t end = now_ms() + 30000; now_ms() < end; sleep_ms(100))
		if ((listed = set_lists(e, n)) == 1 &&
		    cluster_node_of_key(e, "decp:masters") == replica)
			break;   /* listed again by the archiver's SCAN (the set lost it) */
	PGconn *pg = PQconnectdb(harness_pg_conninfo(e->pg));
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM signal_archive WHERE master_id = %u", n);
	long long rows = -1;
	for (uint64_t end = now_ms() + 8000; now_ms() < end; sleep_ms(200))
		if ((rows = pg_scalar(pg, sql)) >= (long long)max[n])
			break;
	/* the book role, which reads the set only, follows the master the archiver listed */
	uint64_t last = stream_last(e, n), book = 0;
	for (uint64_t end = now_ms() + 8000; now_ms() < end; sleep_ms(200))
		if ((book = book_seq(e, n)) >= last)
			break;
	fprintf(stderr, "cluster_set_replica_lost: after the failover the set lists master %u: "
		"%d; its archive rows: %lld (ACKed %" PRIu64 "); its book at %" PRIu64 " (stream "
		"at %" PRIu64 ")\n", n, listed, rows, max[n], book, last);
	CHECK(max[n] >= 250, "master %u ACKed while the set's primary had no replica, its own "
	      "primary having one (ACKed up to %" PRIu64 " of 300)", n, max[n]);
	CHECK(listed == 1, "a master ACKed while the set's primary had no replica is listed "
	      "again after that primary's failover (ACKed %" PRIu64 ", listed %d)", max[n],
	      listed);
	CHECK(log_lines(e, "listed again from a SCAN") > 0, "the archiver's SCAN listed it again "
	      "(the set had lost it)");
	CHECK(rows >= (long long)max[n], "its ACKed signals archived with the master quiet "
	      "(%lld rows, %" PRIu64 " ACKed)", rows, max[n]);
	CHECK(last >= max[n] && book == last, "its book kept by the book role from the "
	      "archiver's listing, at the stream's last sequence (book %" PRIu64 ", stream %"
	      PRIu64 ")", book, last);
	PQfinish(pg);

	/* the old primary back as the new one's replica: every master completes, exactly */
	CHECK(harness_rcluster_restart(e->cluster, set_node) == 0, "the old primary restarted");
	CHECK(harness_rcluster_wait_synced(e->cluster, 60000) == 0,
	      "it rejoined as the new primary's replica");
	finish_all(e, "after the failover");
}

/* Sum of get() over masters ms[0..n) first (*from) and then every 20 ms until it grew by
 * 100 or `until` (ms) passed (*to, the last sum): when it grew (ms), or 0. */
static uint64_t grows_by(const struct env *e, const uint32_t *ms, unsigned int n,
			 uint64_t (*get)(const struct env *, uint32_t), uint64_t until,
			 uint64_t *from, uint64_t *to)
{
	*from = *to = 0;
	for (unsigned int i = 0; i < n; i++)
		*from += get(e, ms[i]);
	while (now_ms() < until) {
		*to = 0;
		for (unsigned int i = 0; i < n; i++)
			*to += get(e, ms[i]);
		if (*to >= *from + 100)
			return now_ms();
		sleep_ms(20);
	}
	return 0;
}

/*
 * cluster_primary_down: the primary serving master 1 is killed -9 while 20 masters send at
 * 4,000 signals/s, decp-control (durability = replica) running on. Until the cluster marks
 * it failed (cluster-node-timeout 2 s here, 15 s by default) the other primaries take
 * writes, and the edge goes on writing and ACKing the masters they serve (cp_redis_partial,
 * docs/control.md "Redis Cluster"): the edge logs that the others go on, and their streams
 * grow before the cluster could have failed over, and so do their books (the book role)
 * and their archive (the archiver, which used to drop every connection and archive
 * nothing until the promotion). Then the replica is promoted, the old
 * primary rejoins as its replica, the masters finish (exit 0: every signal ACKed) and each
 * stream and the archive hold every signal once. Before, a dead primary made the edge
 * drop every connection and write nothing until the promotion.
 */
static void run_cluster_primary_down(struct env *e, bool idle)
{
	pid_t m = start_master(e, e->masters, 1, e->signals, "4000");
	uint32_t others[64];
	unsigned int no = 0;

	for (uint64_t end = now_ms() + 60000; now_ms() < end && stream_last(e, 1) < 500;)
		sleep_ms(50);
	/* Which primary serves which master is read now, with the cluster ok: on a loaded
	 * machine a node timeout of 2 s can fail a primary over by itself before the kill
	 * (the map then changed, and a cluster that is down would stop every master) */
	CHECK(harness_rcluster_wait_ok(e->cluster, 60000) == 0, "cluster_state:ok before the kill");
	redisContext *r1 = redis_for(e, 1);
	int victim = r1 != NULL ? cluster_node_of_port(e, r1->tcp.port) : -1;

	redisFree(r1);
	for (uint32_t k = 2; k <= e->masters && no < 64; k++) {
		redisContext *rk = redis_for(e, k);
		if (rk != NULL && cluster_node_of_port(e, rk->tcp.port) != victim)
			others[no++] = k;
		redisFree(rk);
	}
	CHECK(victim >= 0 && no > 0, "master 1's primary (%d), and %u masters on the others",
	      victim, no);
	if (victim < 0 || no == 0) {
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
		return;
	}
	if (idle) {
		/* no batch in flight: what meets the dead primary first is the edge's check of
		 * its live sessions (every 100 ms, each on its master's primary) */
		CHECK(kill(m, SIGSTOP) == 0, "the masters stopped");
		uint64_t last = 0, still = now_ms();
		for (uint64_t end = now_ms() + 5000; now_ms() < end && now_ms() < still + 300;) {
			uint64_t sum1 = 0;
			for (unsigned int i = 0; i < no; i++)
				sum1 += stream_last(e, others[i]);
			if (sum1 != last)
				still = now_ms();
			last = sum1;
			sleep_ms(20);
		}
	}
	int64_t kill_ns = wall_ns();
	CHECK(harness_rcluster_kill(e->cluster, victim) == 0, "kill -9 master 1's primary");
	uint64_t t0 = now_ms(), t_seen = 0, t_grew = 0, sum0 = 0, sum = 0;
	/* the edge finds it dead on its next batch (or check) and goes on with the others */
	/* (the edge's line: the book role, also partial, logs its own) */
	const char *edge_found = idle ? "checking live sessions; the other primaries go on"
				      : "the other primaries go on";
	while (now_ms() < t0 + 1800 && log_lines2(e, " edge ", edge_found) == 0)
		sleep_ms(10);
	t_seen = now_ms() - t0;
	if (idle) {
		CHECK(log_lines(e, "checking live sessions; the other primaries go on") > 0,
		      "the check of the live sessions found the dead primary and dropped it alone "
		      "(control.log: \"checking live sessions; the other primaries go on\")");
		CHECK(log_lines(e, "live sessions; reading the slot map again") == 0,
		      "no connection but the dead primary's was dropped (control.log: no \"live "
		      "sessions; reading the slot map again\")");
		CHECK(kill(m, SIGCONT) == 0, "the masters go on");
		t0 = now_ms();
	}
	/* and what they serve is written meanwhile: before the cluster may mark it failed; the
	 * book role follows them too (its books are what the api and re-syncs serve) */
	uint64_t b0 = 0, b1 = 0, t_book;
	t_grew = grows_by(e, others, no, stream_last, t0 + 1900, &sum0, &sum);
	t_book = grows_by(e, others, no, book_seq, t0 + 1900, &b0, &b1);
	t_grew = t_grew > 0 ? t_grew - t0 + 1 : 0;   /* ms after the kill (+1: never 0) */
	t_book = t_book > 0 ? t_book - t0 + 1 : 0;
	fprintf(stderr, "cluster_primary_down: the edge went on without the dead primary after "
		"%llu ms; the other %u masters' streams +%" PRIu64 " by %llu ms, their books +%"
		PRIu64 " by %llu ms after the kill\n", (unsigned long long)t_seen, no, sum - sum0,
		(unsigned long long)t_grew, b1 - b0, (unsigned long long)t_book);
	CHECK(t_book > 0, "the book role went on storing the books of the live primaries' masters "
	      "while master 1's was dead: +%" PRIu64 " (want >= 100 within 1.9 s)", b1 - b0);

	CHECK(log_lines2(e, " edge ", "the other primaries go on") > 0, "the edge went on with the live "
	      "primaries (control.log: \"the other primaries go on\") within 1.8 s of the kill");
	CHECK(t_grew > 0, "the masters of the live primaries were written while master 1's was "
	      "dead, before a failover could begin: +%" PRIu64 " (want >= 100 within 1.9 s)",
	      sum - sum0);
	/* the failover; the old primary back as the new one's replica (replica needs one) */
	CHECK(harness_rcluster_wait_ok(e->cluster, 60000) == 0, "cluster_state:ok again");
	CHECK(harness_rcluster_restart(e->cluster, victim) == 0, "the old primary restarted");
	CHECK(harness_rcluster_wait_synced(e->cluster, 60000) == 0,
	      "it rejoined as the new primary's replica");
	int rc = master_result(m, 600000);
	CHECK(rc == 0, "decp-master exit status %d: every signal ACKed", rc);
	verify_redis(e);
	verify_archive(e);
	/* The archiver went on with the live primaries' masters too: rows of theirs that arrived
	 * 0.3 s or more after the kill were archived (committed: archived_at, the transaction's
	 * time) before 1.9 s after it, before the cluster could even mark the primary failed.
	 * An archiver that drops every connection at the dead primary reads none of those
	 * until the promotion (its read right after the kill is the last one). */
	PGconn *pg = PQconnectdb(harness_pg_conninfo(e->pg));
	long long early = archived_between(pg, others, no, kill_ns + 300000000ll,
					   kill_ns + 1900000000ll);
	fprintf(stderr, "cluster_primary_down: %lld rows of the other masters that arrived 0.3 s "
		"or more after the kill were archived within 1.9 s of it\n", early);
	CHECK(early >= 100, "the archiver went on archiving the live primaries' masters while "
	      "master 1's was dead: %lld rows (want >= 100)", early);
	if (early < 100) {
		/* for whoever reads the failure: when the archiver did commit those rows, and
		 * what it said meanwhile (control.log's archiver lines, timestamped) */
		char sql[512];
		snprintf(sql, sizeof(sql), "SELECT coalesce(round(extract(epoch FROM "
			 "min(archived_at)) * 1000 - %lld), -1) FROM signal_archive WHERE "
			 "arrival_ns >= %lld", (long long)(kill_ns / 1000000),
			 (long long)(kill_ns + 300000000ll));
		fprintf(stderr, "cluster_primary_down: the first of those rows was archived %lld ms "
			"after the kill (kill at %lld ns wall)\n", pg_scalar(pg, sql),
			(long long)kill_ns);
		log_print(e, " archiver ", 60);
	}
	PQfinish(pg);
}

#define API_MASTERS 4 /* masters 1..4: slots 6916, 11111, 15174, 2977 (all three primaries) */

struct api_reply {
	int status;     /* 0: no reply within the socket timeout */
	uint64_t ms;    /* how long the request took */
	json_t *json;   /* the body, or NULL */
};

/* One GET of path to the api role over kernel TCP (plain HTTP, Connection: close, the
 * admin token), 15 s bound: the whole reply into buf (NUL-terminated); its length. */
static size_t api_fetch(const char *path, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {15, 0};
	char req[512];
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				 "Authorization: Bearer " API_TOKEN "\r\nConnection: close\r\n\r\n",
				 path);
		if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
			ssize_t k;
			while (len < cap - 1 && (k = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
				len += (size_t)k;
		}
	}
	if (fd >= 0)
		close(fd);
	buf[len] = '\0';
	return len;
}

/* GET path: status (0 when no reply), time taken, the JSON body. */
static struct api_reply api_get(const char *path)
{
	struct api_reply r = {0};
	uint64_t t0 = now_ms();
	char *buf = malloc(1 << 20);

	if (buf != NULL && api_fetch(path, buf, 1 << 20) > 0) {
		const char *body = strstr(buf, "\r\n\r\n");
		if (sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1)
			r.status = 0;
		if (body != NULL)
			r.json = json_loads(body + 4, JSON_DECODE_ANY, NULL);
	}
	free(buf);
	r.ms = now_ms() - t0;
	return r;
}

/* The value of an unlabelled gauge in /metrics, -1 when absent or no reply. */
static long long api_metric(const char *name)
{
	static char buf[1 << 18];
	char needle[128];

	api_fetch("/metrics", buf, sizeof(buf));
	snprintf(needle, sizeof(needle), "\n%s ", name);
	const char *p = strstr(buf, needle);
	return p != NULL ? atoll(p + strlen(needle)) : -1;
}

/* An entry of a positions reply by ticket, or NULL. */
static json_t *position_of(json_t *positions, long long ticket)
{
	size_t i;
	json_t *p;

	json_array_foreach(positions, i, p)
		if (json_integer_value(json_object_get(p, "ticket")) == ticket)
			return p;
	return NULL;
}

/* Master m's book through the api is what write_positions_trades left: at sequence 93,
 * 89 entries (tickets 5001..5090 without 5005), 5001's SL moved to 1.01000 (101/100 of
 * 5003's 1.00000), 5002 partly closed (0.11 - 0.05 = 0.06 lot: half of 5003's 0.12). */
static bool book_as_traded(json_t *o, uint32_t m)
{
	json_t *ps = json_object_get(o, "positions");
	json_t *p1 = position_of(ps, 5001), *p2 = position_of(ps, 5002), *p3 = position_of(ps, 5003);
	bool tickets = json_array_size(ps) == 89 && position_of(ps, 5005) == NULL;

	for (long long t = 5001; tickets && t <= 5090; t++)
		tickets = t == 5005 || position_of(ps, t) != NULL;
	long long sl1 = json_integer_value(json_object_get(p1, "sl"));
	long long sl3 = json_integer_value(json_object_get(p3, "sl"));
	long long v2 = json_integer_value(json_object_get(p2, "volume"));
	long long v3 = json_integer_value(json_object_get(p3, "volume"));
	bool ok = json_integer_value(json_object_get(o, "master_id")) == m &&
		  json_integer_value(json_object_get(o, "sequence")) == 93 && tickets &&
		  p1 != NULL && p2 != NULL && p3 != NULL && sl3 > 0 && sl1 * 100 == sl3 * 101 &&
		  v3 > 0 && v2 * 2 == v3;
	if (!ok) {
		char *txt = json_dumps(o, JSON_COMPACT);
		fprintf(stderr, "cluster_api: master %u's book: %.600s\n", m, txt ? txt : "null");
		free(txt);
	}
	return ok;
}

/* GET path until its status is want (or timeout_ms passes); the last reply. */
static struct api_reply api_wait(const char *path, int want, unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	struct api_reply r = api_get(path);

	while (r.status != want && now_ms() < end) {
		json_decref(r.json);
		sleep_ms(100);
		r = api_get(path);
	}
	return r;
}


/*
 * Moves master m's slot by hand from primary `from` to primary `to` the way redis-cli
 * --cluster reshard does. keys: IMPORTING on to, MIGRATING on from, every key of the slot
 * MIGRATEd (the source then answers ASK for them); !keys: the slot given to `to` on every
 * live node (the source then answers MOVED). 0 or -1.
 */
static int slot_move(const struct env *e, uint32_t m, int from, int to, bool keys)
{
	char id_to[64], key[64];
	long slot = master_slot(e, m);

	if (slot < 0 || cluster_node_id(e, to, id_to, sizeof(id_to)) != 0)
		return -1;
	if (!keys) {
		for (int i = 0; i < harness_rcluster_nodes(e->cluster); i++)
			if (harness_rcluster_pid(e->cluster, i) > 0 && (i == from || i == to))
				if (node_cmd(e, i, REDIS_REPLY_STATUS, "CLUSTER SETSLOT %ld NODE %s", slot,
					     id_to) != 0)
					return -1;
		return 0;
	}
	if (slot_open(e, slot, from, to) != 0)
		return -1;
	/* every key of master m (signals, book, positions, session, session_gen) */
	const char *const kinds[] = {"signals", "book", "positions", "session", "session_gen"};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		snprintf(key, sizeof(key), "decp:{m%u}:%s", m, kinds[k]);
		if (node_cmd(e, from, REDIS_REPLY_STATUS, "MIGRATE 127.0.0.1 %d %s 0 5000",
			     harness_rcluster_port(e->cluster, to), key) != 0)
			fprintf(stderr, "(%s absent: NOKEY)\n", key);
	}
	return 0;
}

/* Every master of /v1/masters/activity connected with edge API_EDGE_ID. */
static bool all_connected(json_t *o)
{
	json_t *ms = json_object_get(o, "masters"), *m;
	size_t i, n = 0;

	json_array_foreach(ms, i, m)
		n += json_is_true(json_object_get(m, "connected")) &&
		     json_is_string(json_object_get(m, "edge")) &&
		     strcmp(json_string_value(json_object_get(m, "edge")), API_EDGE_ID) == 0 &&
		     json_is_string(json_object_get(m, "connected_since"));
	return json_array_size(ms) == API_MASTERS && n == API_MASTERS;
}

/*
 * cluster_api (issue 23 item 1, the api role on a Redis Cluster): four masters, their keys
 * on all three primaries, replay the positions trades at a slow rate, so that they stay
 * connected a while; then the books through the api, /metrics; then the primary of master
 * 4 is killed -9 and the api is asked before the cluster has promoted its replica, and
 * again after.
 */
static void run_cluster_api(struct env *e)
{
	char trades[300], path[96];
	snprintf(trades, sizeof(trades), "%s/positions.csv", e->dir);
	CHECK(write_positions_trades(trades) == 0, "trades file");
	int on[3] = {-1, -1, -1}, primaries = 0;
	for (uint32_t m = 1; m <= API_MASTERS; m++) {
		redisContext *r = redis_for(e, m);
		int node = r != NULL ? cluster_node_of_port(e, r->tcp.port) : -1;
		redisFree(r);
		if (node >= 0 && node != on[0] && node != on[1] && node != on[2])
			on[primaries++ % 3] = node;
	}
	CHECK(primaries == 3, "masters 1..%d on all three primaries (%d)", API_MASTERS, primaries);

	/* 93 signals each, 40/s in all: connected for about 9 s */
	master_extra[0] = "--trades";
	master_extra[1] = trades;
	pid_t mp = start_master(e, API_MASTERS, 1, 93, "40");
	memset(master_extra, 0, sizeof(master_extra));
	struct api_reply r = api_get("/v1/masters/activity");
	uint64_t end = now_ms() + 20000;
	while (!(r.status == 200 && all_connected(r.json)) && now_ms() < end) {
		json_decref(r.json);
		sleep_ms(100);
		r = api_get("/v1/masters/activity");
	}
	CHECK(r.status == 200 && all_connected(r.json),
	      "activity: every master connected, edge " API_EDGE_ID " (status %d)", r.status);
	json_decref(r.json);
	CHECK(master_result(mp, 120000) == 0, "masters exit 0 (every signal ACKed)");

	/* the books, as the book role keeps them on each master's primary */
	for (uint32_t m = 1; m <= API_MASTERS; m++) {
		snprintf(path, sizeof(path), "/v1/masters/%u/positions", m);
		end = now_ms() + 30000;
		r = api_get(path);
		while ((r.status != 200 ||
			json_integer_value(json_object_get(r.json, "sequence")) != 93) &&
		       now_ms() < end) {
			json_decref(r.json);
			sleep_ms(100);
			r = api_get(path);
		}
		CHECK(r.status == 200 && book_as_traded(r.json, m),
		      "master %u's book through the api (status %d)", m, r.status);
		json_decref(r.json);
	}
	{
		long long up1 = api_metric("decp_redis_up");

		for (uint64_t end = now_ms() + 3000; up1 != 1 && now_ms() < end;
		     up1 = api_metric("decp_redis_up"))
			sleep_ms(50);
		CHECK(up1 == 1, "decp_redis_up 1 on the cluster (%lld)", up1);
	}

	/* master 2's slot moves to master 1's primary behind the api's back: its keys first
	 * (the old primary answers ASK), then the slot (MOVED): each answer follows it */
	redisContext *r1 = redis_for(e, 1), *r2 = redis_for(e, 2);
	int n1 = r1 != NULL ? cluster_node_of_port(e, r1->tcp.port) : -1;
	int n2 = r2 != NULL ? cluster_node_of_port(e, r2->tcp.port) : -1;
	redisFree(r1);
	redisFree(r2);
	CHECK(n1 >= 0 && n2 >= 0 && n1 != n2 && slot_move(e, 2, n2, n1, true) == 0,
	      "master 2's keys migrated from node %d to node %d", n2, n1);
	for (int step = 0; step < 2; step++) {
		const char *how = step == 0 ? "ASK" : "MOVED";
		r = api_get("/v1/masters/2/positions");
		CHECK(r.status == 200 && book_as_traded(r.json, 2),
		      "master 2's book while its slot moves (%s followed): status %d", how, r.status);
		json_decref(r.json);
		r = api_get("/v1/masters/activity");
		CHECK(r.status == 200 && json_is_false(json_object_get(json_array_get(
			      json_object_get(r.json, "masters"), 1), "connected")),
		      "activity: master 2 known not connected while its slot moves (%s followed)",
		      how);
		json_decref(r.json);
		if (step == 0)
			CHECK(slot_move(e, 2, n2, n1, false) == 0, "master 2's slot given to node %d", n1);
	}

	/* master 1's primary dies (not the first seed: decp_redis_up must ask every primary);
	 * its replica is not promoted yet (cluster-node-timeout 2 s) */
	int victim = n1, node_of_m[API_MASTERS + 1];
	for (uint32_t m = 1; m <= API_MASTERS; m++) {
		redisContext *rm = redis_for(e, m);
		node_of_m[m] = rm != NULL ? cluster_node_of_port(e, rm->tcp.port) : -1;
		redisFree(rm);
	}
	CHECK(victim > 0 && harness_rcluster_kill(e->cluster, victim) == 0,
	      "kill -9 master 1's primary (node %d)", victim);
	uint64_t t_kill = now_ms();
	r = api_get("/v1/masters/1/positions");
	CHECK(r.status == 503 && r.ms < 5000 && json_is_string(json_object_get(r.json, "code")) &&
		      strcmp(json_string_value(json_object_get(r.json, "code")),
			     "redis_unavailable") == 0,
	      "master 1 on the dead primary: 503 redis_unavailable in %" PRIu64 " ms (status %d)",
	      r.ms, r.status);
	json_decref(r.json);
	r = api_get("/v1/masters/activity");
	CHECK(r.status == 200 && r.ms < 5000 && json_array_size(json_object_get(r.json, "masters"))
		      == API_MASTERS && json_is_null(json_object_get(json_array_get(
		      json_object_get(r.json, "masters"), 0), "connected")),
	      "activity while a primary is down: 200, connected unknown, in %" PRIu64 " ms "
	      "(status %d)", r.ms, r.status);
	json_decref(r.json);
	/* the api probes Redis every half second, off its workers' loops */
	long long up = api_metric("decp_redis_up");
	for (uint64_t end = now_ms() + 1500; up != 0 && now_ms() < end;
	     up = api_metric("decp_redis_up"))
		sleep_ms(50);
	CHECK(up == 0, "decp_redis_up 0 with a primary down (%lld)", up);
	/* the masters of the live primaries: their books answer (the api's Redis is partial,
	 * cp_redis_partial) until the cluster marks the dead one failed (cluster-node-timeout
	 * 2 s: then every primary refuses until the promotion, CLUSTERDOWN, and 503 is right) */
	unsigned int live_ok = 0, live_asked = 0;
	for (uint32_t m = 2; m <= API_MASTERS; m++) {
		snprintf(path, sizeof(path), "/v1/masters/%u/positions", m);
		bool early = now_ms() < t_kill + 1500;
		r = api_get(path);
		if (node_of_m[m] != victim && early) {
			live_asked++;
			live_ok += r.status == 200 && book_as_traded(r.json, m);
			CHECK(r.status == 200 && book_as_traded(r.json, m) && r.ms < 1000,
			      "master %u on a live primary while master 1's is down: its book, 200 "
			      "(status %d in %" PRIu64 " ms)", m, r.status, r.ms);
		} else {
			CHECK((r.status == 503 || r.status == 200) && r.ms < 5000,
			      "master %u while a primary is down: %d in %" PRIu64 " ms", m, r.status,
			      r.ms);
		}
		json_decref(r.json);
	}
	fprintf(stderr, "cluster_api: while master 1's primary was down, %u of %u masters on the "
		"live primaries asked in its first 1.5 s answered their book\n", live_ok,
		live_asked);

	/* the cluster promotes the replica: everything answers again */
	uint64_t t0 = now_ms();
	CHECK(harness_rcluster_wait_ok(e->cluster, 60000) == 0, "cluster_state:ok again");
	for (uint32_t m = 1; m <= API_MASTERS; m++) {
		snprintf(path, sizeof(path), "/v1/masters/%u/positions", m);
		r = api_wait(path, 200, 30000);
		CHECK(r.status == 200 && book_as_traded(r.json, m),
		      "master %u's book after the promotion (status %d)", m, r.status);
		json_decref(r.json);
	}
	end = now_ms() + 30000;
	while ((up = api_metric("decp_redis_up")) != 1 && now_ms() < end)
		sleep_ms(100);
	CHECK(up == 1, "decp_redis_up 1 after the promotion (%lld)", up);
	r = api_get("/v1/masters/activity");
	CHECK(r.status == 200 && json_is_false(json_object_get(json_array_get(
		      json_object_get(r.json, "masters"), 0), "connected")),
	      "activity after the promotion: master 1 known not connected (status %d)", r.status);
	json_decref(r.json);
	fprintf(stderr, "cluster_api: node %d killed; the api answered from the promoted replica "
		"%" PRIu64 " ms after the kill's first 503\n", victim, now_ms() - t0);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s SCENARIO DATAPLANE CONTROL MASTER [MASTERS SIGNALS]\n",
			argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct env e;
	memset(&e, 0, sizeof(e));
	e.dp_bin = argv[2];
	e.ctl_bin = argv[3];
	e.master_bin = argv[4];
	e.masters = argc > 5 ? (uint32_t)atoi(argv[5]) : 20;
	e.signals = argc > 6 ? strtoull(argv[6], NULL, 10) : 20000;
	if (strcmp(argv[1], "revoke") == 0 || strcmp(argv[1], "rotate") == 0)
		e.masters = 2;
	/* cluster_bench: the bench on a Redis Cluster (3 primaries), for docs/perf.md */
	const char *scenario = strcmp(argv[1], "cluster_bench") == 0 ? "bench" : argv[1];
	if (strcmp(scenario, "bench") == 0) {
		bench_rate = argc > 7 ? argv[7] : "0";
		/* DECP_BENCH_ROLES=edge: the ingest path alone (nothing archived meanwhile) */
		const char *roles = getenv("DECP_BENCH_ROLES");
		if (roles != NULL && *roles != '\0')
			ctl_roles = roles;
		const char *fifo = getenv("DECP_BENCH_SCHED");
		bench_fifo = fifo != NULL ? atoi(fifo) : 0;
		if (bench_fifo < 0 || bench_fifo > 99)
			bench_fifo = 0;
	}
	if (strcmp(argv[1], "trim") == 0)
		keep_signals = 1000;
	if (strncmp(argv[1], "cluster", 7) == 0)
		use_cluster = true;
	if (strncmp(argv[1], "cluster_kill_", 13) == 0)
		durability = argv[1] + 13;
	if (strcmp(argv[1], "cluster_replica_lost") == 0 ||
	    strcmp(argv[1], "cluster_set_replica_restart") == 0) {
		durability = "replica";
		/* the api role for /metrics: what the operator's alert sees */
		ctl_roles = "edge,archiver,fanout,api";
		api_port = -1; /* chosen when the config is written (env_start) */
	}
	if (strcmp(argv[1], "cluster_reshard_dup") == 0) {
		durability = "replica";
		ctl_roles = "edge,archiver,fanout";
	}
	if (strcmp(argv[1], "cluster_set_replica_lost") == 0) {
		durability = "replica";
		ctl_roles = "edge,fanout";   /* the archiver starts after the failover */
	}
	if (strncmp(argv[1], "cluster_primary_down", 20) == 0) {
		durability = "replica";
		ctl_roles = "edge,archiver,fanout,book";   /* the book role's partial cluster */
		/* batches of 500: the archiver commits several times in the 2 s before the
		 * cluster marks the primary failed, however loaded the machine */
		ctl_conf = "archiver_batch = 500\n";
	}
	if (strcmp(argv[1], "bench_archive") == 0 || strcmp(argv[1], "share") == 0)
		ctl_roles = "edge";
	if (strcmp(argv[1], "positions") == 0 || strcmp(argv[1], "cluster_positions") == 0) {
		ctl_roles = "edge,book";
		e.masters = 3;
	}
	if (strcmp(argv[1], "cluster_api") == 0) {
		ctl_roles = "edge,book,api";
		e.masters = API_MASTERS;
		api_port = -1; /* chosen when the config is written (env_start) */
	}
	int rc = env_start(&e);
	CHECK(rc == 0, "environment started");
	if (rc == 0) {
		if (strcmp(argv[1], "revoke") == 0)
			run_revoke(&e);
		else if (strcmp(argv[1], "rotate") == 0)
			run_rotate(&e);
		else if (strcmp(argv[1], "bench_archive") == 0)
			run_bench_archive(&e);
		else if (strcmp(argv[1], "share") == 0)
			run_share(&e);
		else if (strcmp(argv[1], "positions") == 0 ||
			 strcmp(argv[1], "cluster_positions") == 0)
			run_positions(&e);
		else if (strcmp(argv[1], "cluster_reshard") == 0)
			run_cluster_reshard(&e);
		else if (strcmp(argv[1], "cluster_api") == 0)
			run_cluster_api(&e);
		else if (strncmp(argv[1], "cluster_kill_", 13) == 0)
			run_cluster_kill(&e, argv[1] + 13);
		else if (strcmp(argv[1], "cluster_replica_lost") == 0 ||
			 strcmp(argv[1], "cluster_set_replica_restart") == 0)
			run_cluster_replica_lost(&e, argv[1][8] == 's');
		else if (strcmp(argv[1], "cluster_set_replica_lost") == 0)
			run_cluster_set_replica_lost(&e);
		else if (strcmp(argv[1], "cluster_reshard_dup") == 0)
			run_cluster_reshard_dup(&e);
		else if (strcmp(argv[1], "cluster_primary_down") == 0 ||
			 strcmp(argv[1], "cluster_primary_down_idle") == 0)
			run_cluster_primary_down(&e, argv[1][20] != '\0');
		else
			run_with_faults(&e, scenario);
	}
	fprintf(stderr, "decp-control started %u times, dataplane %u times\n", e.ctl_starts,
		e.dp_starts);
	env_stop(&e, failed > 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0 ? 1 : 0;
}
