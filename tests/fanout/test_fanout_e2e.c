/*
 * test_fanout_e2e: decp-fanout + decp-subscriber against a real Redis and PostgreSQL
 * (issue 9). Signals are written to the masters' Redis streams exactly as the edge stores
 * them (decp:{m<id>}:signals, entry <seq>-0, fields a/b/h/s), sealed with proto's HMAC and
 * Ed25519 helpers.
 *
 * usage: test_fanout_e2e SCENARIO DECP_FANOUT DECP_SUBSCRIBER SUBSCRIBERS MASTERS SIGNALS
 *   e2e        every subscriber executes each of its master's signals once, in order
 *   reconnect  same while connections are cut at random (--drop-ms)
 *   slow       one subscriber stops reading: it is dropped (queue bound), the others finish
 *   wss        as e2e, and a certificate that does not chain to the subscriber's --ca
 *              (another CA) is refused
 * Every scenario serves wss (TLS 1.3, the test's own CA from harness_tls_certs, verified by
 * every client: issue 17) except the raw-socket ones (abuse, keepalive, range, close,
 * flood, authcache), which check the WebSocket bytes themselves and say fanout_tls = off
 * (--plain).
 *   reuseport  two decp-fanout processes on one port (SO_REUSEPORT) share the subscribers
 *   rolling    the same, restarted one after the other while signals stream (an upgrade,
 *              docs/operations.md): the subscribers of the stopping one get 1001, reconnect
 *              to the other and resume: every signal executed once, in order, none older
 *              than a 10 s TTL (the latency printed)
 *   refused    wrong token, master without subscription, paused subscription
 *   abuse      raw-socket WebSocket protocol violations
 *   keepalive  dead-peer detection (our sweep, lws's validity policy is off): a raw client
 *              that answers pings stays connected, one that never answers is cut
 *   pipeline   the real pipeline: decp-master -> posix decp-dataplane -> decp-control
 *              (roles edge,fanout,archiver: the edge hands durable signals to the fan-out
 *              in-process) -> decp-subscriber. The main group executes every signal once,
 *              in order; a group whose clock is 60 s off (TTL 30 s) does too (the guard's
 *              clock offset); a group with quotes 50 pips off executes every signal but the
 *              price-checked BUYs and reports PRICE_DEVIATION for those (protection_logs)
 *   pipeline_drop  the same while subscriber connections are cut at random (--drop-ms)
 *   ctail      (issue 23) a standalone fan-out (decp-control --roles fanout) beside a
 *              separate edge,archiver process, in three phases of MASTERS/3 masters each:
 *              one Redis (XREAD BLOCK tail), a Redis Cluster (cp_fanout_ctail: shard
 *              notifications), the cluster with redis_notify = no (the sweep alone); each
 *              subscriber gets every signal once, in order, in each; prints latency
 *              (master send -> verdict) and the edge's ACK latency per phase
 *   ctail_faults  the cluster phase while a live master's slot moves (redis-cli --cluster
 *              reshard) and then a primary is killed -9 (durability = replica): every
 *              signal once, in order; the tail rebuilt its subscriptions
 *   forged     (suite trust, issue 18) the pipeline with the trust role: one subscriber per
 *              forgery kind (decp-subscriber --forge-kind: price, gap, replay, stale,
 *              deviation, instrument, funds); each reports every forged copy as
 *              INVALID_SIGNATURE and nothing else, each costs -40 (score 100 - 40 n), and
 *              every genuine signal still executes once, in order
 *   keyrotate  (issue 17) the pipeline across a signing-key rotation: SIGNALS/2 signed by
 *              the old key; a forged announcement (a row written straight into masters,
 *              as an attacker with the database would: new key X, signed by X) reaches
 *              the subscribers and is refused by each; the operator restores the row and
 *              rotates with `decpctl master rotate-signing-key --old-key-seed` ($DECPCTL):
 *              the announcement signed by the old key is accepted; a subscriber started
 *              after it learns it when it subscribes; the rest of the signals, signed by
 *              the new key only, are executed by all of them exactly once, in order
 *   poll       (issue 19) HTTP long polling: a poller sees exactly the WebSocket's
 *              envelopes, a waiting poll is woken by the next signal, the snapshot before
 *              the retained start, every refusal, the per-subscriber limit, hang-ups
 *   range      (issue 28) Subscribe from before the trimmed start of a stream, or across a
 *              hole: Error{CODE_RANGE, first_available}, the connection stays usable,
 *              XRANGE calls bounded (Redis INFO commandstats)
 *   close      (issue 28) invalid client close codes -> 1002, nothing after our close
 *              frame, revocation closes a session (4001) within 1 s, 1001 at the stop
 *   flood      (issue 28) one subscriber's 500 upgrades stop at its limit (8) and keep no
 *              one else out; 3,000 idle connections from 10 loopback addresses for 30 s:
 *              legitimate upgrades stay < 100 ms, the budget closes the idle ones
 *   wsclient   an independent client (npm `ws`, tests/fanout/ws-client, path in
 *              $DECP_WS_CLIENT) receives every signal once, in order: binary protobuf for
 *              subscriber 1, and ?format=json (JSON text frames) for subscriber 2
 * The pipeline scenarios take two more arguments: DECP_DATAPLANE DECP_MASTER; DECP_FANOUT
 * is then decp-control. Master credentials are cp_testkeys' (seed "decp-test"), as
 * decp-master derives them.
 * Prints "N passed, N failed" last.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "cp_book.h"
#include "cp_book_store.h"
#include "cp_migrate.h"
#include "cp_rcluster.h"
#include "cp_testkeys.h"
#include "harness.h"
#include "proto_keyann.h"
#include "proto_sign.h"
#include "proto_signal.h"

static int g_pass, g_fail;

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (cond) {                                                               \
			g_pass++;                                                         \
		} else {                                                                  \
			g_fail++;                                                         \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);              \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
		}                                                                         \
	} while (0)

struct master_keys {
	uint8_t secret[32];
	uint8_t pub[32];
	uint8_t seed[32];
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk;
	uint8_t token_hash[32]; /* SHA-256 of the license token (decp-master's login) */
};

struct env {
	char dir[256];
	struct harness_redis *redis;
	struct harness_pg *pg;
	PGconn *db;
	redisContext *rc;
	pid_t fanout, fanout2;
	int port;
	bool tls; /* wss (default): dir/tls/server.crt, clients trust dir/tls/ca.crt */
	int nsubs, nmasters, nsignals;
	struct master_keys *mk;
	const char *fanout_bin, *sub_bin;
	const char *dp_bin, *master_bin; /* pipeline scenarios */
	const char *const *fanout_extra; /* more decp-fanout options, NULL-terminated */
	pid_t dp;
	char shm[64];
	const char *roles; /* pipeline: decp-control's roles (NULL: edge,fanout,archiver) */
	const char *conf;  /* pipeline: more decp-control config lines (NULL: none) */
	char ctl_extra[128]; /* pipeline: more decp-control config lines */
	int fport;           /* pipeline: the fan-out's port (0: any free one) */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* One parameterised statement; 0 or -1 (message on stderr). */
static int sql_params(PGconn *c, const char *q, int n, const char *const *v, const int *l,
		      const int *f)
{
	PGresult *r = PQexecParams(c, q, n, NULL, v, l, f, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* masters 1..M, subscribers 1..N+2 (N+1: no subscription; N+2: paused), tokens "tok-<i>",
 * subscription of subscriber i to master ((i-1) % M) + 1 */
static int load_db(struct env *e)
{
	char q[512];

	for (int m = 1; m <= e->nmasters; m++) {
		struct master_keys *k = &e->mk[m - 1];
		char id[16], name[32];
		const char *v[] = {id, name, (const char *)k->secret, (const char *)k->pub};
		int l[] = {0, 0, 32, 32}, f[] = {0, 0, 1, 1};

		snprintf(id, sizeof(id), "%d", m);
		snprintf(name, sizeof(name), "master-%d", m);
		if (sql_params(e->db, "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) "
			       "VALUES ($1, $2, $3, $4)", 4, v, l, f) != 0)
			return -1;
		v[1] = (const char *)k->token_hash; /* decp-master's license token */
		l[1] = 32;
		f[1] = 1;
		if (sql_params(e->db, "INSERT INTO license_tokens (master_id, token_sha256) "
			       "VALUES ($1, $2)", 2, v, l, f) != 0)
			return -1;
	}
	for (int i = 1; i <= e->nsubs + 2; i++) {
		char tok[32];
		unsigned char d[32];
		char id[16];
		const char *v[2] = {id, (const char *)d};
		int l[] = {0, 32}, f[] = {0, 1};
		PGresult *r;

		snprintf(q, sizeof(q), "INSERT INTO subscribers (id, name) VALUES (%d, 'sub-%d')", i, i);
		if (sql(e->db, q) != 0)
			return -1;
		snprintf(tok, sizeof(tok), "tok-%d", i);
		SHA256((const unsigned char *)tok, strlen(tok), d);
		snprintf(id, sizeof(id), "%d", i);
		r = PQexecParams(e->db, "INSERT INTO subscriber_tokens (subscriber_id, token_sha256) "
				 "VALUES ($1, $2)", 2, NULL, v, l, f, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "insert token: %s", PQresultErrorMessage(r));
			PQclear(r);
			return -1;
		}
		PQclear(r);
		if (i == e->nsubs + 1)
			continue;
		snprintf(q, sizeof(q),
			 "INSERT INTO subscriptions (id, master_id, subscriber_id) VALUES (%d, %d, %d)", i,
			 i == e->nsubs + 2 ? 1 : (i - 1) % e->nmasters + 1, i);
		if (sql(e->db, q) != 0)
			return -1;
	}
	snprintf(q, sizeof(q), "UPDATE subscriptions SET state = 'PAUSED_TOXIC' WHERE id = %d",
		 e->nsubs + 2);
	return sql(e->db, q);
}

static int write_files(struct env *e)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/keys", e->dir);
	f = fopen(p, "w");
	if (f == NULL)
		return -1;
	for (int m = 1; m <= e->nmasters; m++) {
		fprintf(f, "%d ", m);
		for (int i = 0; i < 32; i++)
			fprintf(f, "%02x", e->mk[m - 1].pub[i]);
		fputc('\n', f);
	}
	fclose(f);
	snprintf(p, sizeof(p), "%s/subs", e->dir);
	f = fopen(p, "w");
	if (f == NULL)
		return -1;
	for (int i = 1; i <= e->nsubs; i++)
		fprintf(f, "tok-%d %d\n", i, (i - 1) % e->nmasters + 1);
	fclose(f);
	return 0;
}

static pid_t spawn(char *const argv[], const char *out)
{
	pid_t p = fork();

	if (p == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

/* tag "fanout" is the first instance; reuse: SO_REUSEPORT on e->port (0 = pick one). */
static int start_fanout(struct env *e, const char *queue, const char *tag, bool reuse,
			pid_t *pid)
{
	char listen[32], redis[64], pf[512], out[512];
	char *argv[20];
	int a = 0;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", reuse ? e->port : 0);
	snprintf(redis, sizeof(redis), "127.0.0.1:%d", harness_redis_port(e->redis));
	snprintf(pf, sizeof(pf), "%s/%s.port", e->dir, tag);
	snprintf(out, sizeof(out), "%s/%s.log", e->dir, tag);
	argv[a++] = (char *)e->fanout_bin;
	argv[a++] = (char *)"--listen";
	argv[a++] = listen;
	argv[a++] = (char *)"--redis";
	argv[a++] = redis;
	argv[a++] = (char *)"--pg";
	argv[a++] = (char *)harness_pg_conninfo(e->pg);
	argv[a++] = (char *)"--port-file";
	argv[a++] = pf;
	argv[a++] = (char *)"--stats-ms";
	argv[a++] = (char *)"1000";
	if (reuse)
		argv[a++] = (char *)"--reuse-port";
	if (e->tls) {
		static char cert[512], key[512];

		snprintf(cert, sizeof(cert), "%s/tls/server.crt", e->dir);
		snprintf(key, sizeof(key), "%s/tls/server.key", e->dir);
		argv[a++] = (char *)"--cert";
		argv[a++] = cert;
		argv[a++] = (char *)"--key";
		argv[a++] = key;
	} else {
		argv[a++] = (char *)"--plain";
	}
	if (queue != NULL) {
		argv[a++] = (char *)"--queue";
		argv[a++] = (char *)queue;
		argv[a++] = (char *)"--sndbuf";
		argv[a++] = (char *)"16384";
	}
	for (int i = 0; e->fanout_extra != NULL && e->fanout_extra[i] != NULL && a < 19; i++)
		argv[a++] = (char *)e->fanout_extra[i];
	argv[a] = NULL;
	*pid = spawn(argv, out);
	for (int t = 0; t < 500; t++) {
		FILE *f = fopen(pf, "r");

		if (f != NULL) {
			int ok = fscanf(f, "%d", &e->port) == 1;

			fclose(f);
			if (ok)
				return 0;
		}
		if (!harness_pid_alive(*pid))
			break;
		usleep(20000);
	}
	fprintf(stderr, "decp-fanout did not start (see %s)\n", out);
	return -1;
}

static int count_lines(struct env *e, const char *file, const char *needle, bool prefix);

static pid_t start_subscriber(struct env *e, const char *tag, const char *const *extra)
{
	static char url[64], keys[512], subs[512], logp[512], out[512], expect[16];
	static char orders[8][512];
	static unsigned int k;
	char *argv[48];
	int a = 0;

	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", e->tls ? "wss" : "ws", e->port);
	snprintf(keys, sizeof(keys), "%s/keys", e->dir);
	snprintf(subs, sizeof(subs), "%s/subs", e->dir);
	snprintf(logp, sizeof(logp), "%s/%s.log", e->dir, tag);
	snprintf(out, sizeof(out), "%s/%s.err", e->dir, tag);
	snprintf(expect, sizeof(expect), "%d", e->nsignals);
	argv[a++] = (char *)e->sub_bin;
	argv[a++] = (char *)"--url";
	argv[a++] = url;
	argv[a++] = (char *)"--keys";
	argv[a++] = keys;
	argv[a++] = (char *)"--log";
	argv[a++] = logp;
	argv[a++] = (char *)"--ttl-ms";
	argv[a++] = (char *)"600000";
	if (e->tls) {
		/* wss: the fan-out's certificate verified against the test's CA */
		static char ca[512];

		snprintf(ca, sizeof(ca), "%s/tls/ca.crt", e->dir);
		argv[a++] = (char *)"--ca";
		argv[a++] = ca;
	}
	/* delivery tests open positions they never close (fanout_e2e: 1,000 0.10-lot opens
	 * per subscriber): a broker account large enough that its margin never refuses one
	 * (an --account in extra comes later and wins) */
	argv[a++] = (char *)"--account";
	argv[a++] = (char *)"1000000000:1000:USD";
	/* the orders log says when each subscription was answered (its CopyPolicy line):
	 * wait_subscribed() waits for that instead of a fixed time (a later --orders wins) */
	snprintf(orders[k % 8], sizeof(orders[0]), "%s/%s.orders", e->dir, tag);
	argv[a++] = (char *)"--orders";
	argv[a++] = orders[k++ % 8];
	for (int i = 0; extra != NULL && extra[i] != NULL && a < 46; i++)
		argv[a++] = (char *)extra[i];
	argv[a] = NULL;
	return spawn(argv, out);
}

/* Until <tag>.orders (start_subscriber) holds n lines with needle, up to 60 s; a CHECK
 * says how many it held, as n "what". */
static void wait_orders(struct env *e, const char *tag, const char *needle, int n,
			const char *what)
{
	char f[64];
	int have = 0;

	snprintf(f, sizeof(f), "%s.orders", tag);
	for (int t = 0; t < 1200 && (have = count_lines(e, f, needle, false)) < n; t++)
		usleep(50000);
	CHECK(have >= n, "%s: %d of %d subscriptions %s before the first signal", tag, have, n,
	      what);
}

/* Until n subscriptions of tag were answered (their CopyPolicy logged). */
static void wait_subscribed(struct env *e, const char *tag, int n)
{
	wait_orders(e, tag, " policy ", n, "answered");
}

/* Until n subscriptions of tag are live (their SyncEnd logged): a fan-out that had not
 * seen a master's stream first replays it from Redis, and what is published meanwhile goes
 * out as part of that replay. */
static void wait_live(struct env *e, const char *tag, int n)
{
	wait_orders(e, tag, " live ", n, "live");
}

static char *subs_arg(struct env *e)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/subs", e->dir);
	return p;
}

static char *expect_arg(struct env *e)
{
	static char x[16];

	snprintf(x, sizeof(x), "%d", e->nsignals);
	return x;
}

static int publish_masters(struct env *e, int m_first, int m_last, int first, int last,
			   int per_ms);

/* Signals seq 1..N of every master, XADD'ed as the edge does; rate-limited so that the
 * run is a live stream, not only a replay. */
static int publish_all(struct env *e, int per_ms)
{
	return publish_masters(e, 1, e->nmasters, 1, e->nsignals, per_ms);
}

/* Signals seq first..last of every master, as publish_all. */
static int publish_span(struct env *e, int first, int last, int per_ms)
{
	return publish_masters(e, 1, e->nmasters, first, last, per_ms);
}

/* Signals seq first..last of masters m_first..m_last, as publish_all. */
static int publish_masters(struct env *e, int m_first, int m_last, int first, int last,
			   int per_ms)
{
	/* DECP_FANOUT_ROUND_US: pause after each sequence round (one signal per master), for
	 * latency measurements at a given rate (docs/perf.md "fanout") */
	long round_us = getenv("DECP_FANOUT_ROUND_US") ? atol(getenv("DECP_FANOUT_ROUND_US")) : 0;

	for (int s = first; s <= last; s++) {
		for (int m = m_first; m <= m_last; m++) {
			Decp__Signal sg = DECP__SIGNAL__INIT;
			struct proto_sealed_signal ss;
			char key[64], id[32], arr[32];

			sg.master_id = (uint64_t)m;
			sg.sequence = (uint64_t)s;
			sg.symbol = (char *)"EURUSD";
			sg.order_type = s % 2 ? DECP__ORDER_TYPE__ORDER_TYPE_BUY
					      : DECP__ORDER_TYPE__ORDER_TYPE_SELL;
			sg.volume = 10;
			sg.price = 108000 + s % 50;
			sg.position_ticket = (uint64_t)s;
			sg.master_time_ns = now_ns();
			if (proto_signal_seal(&e->mk[m - 1].hk, e->mk[m - 1].sk, &sg, &ss) != 0)
				return -1;
			snprintf(key, sizeof(key), "decp:{m%d}:signals", m);
			snprintf(id, sizeof(id), "%d-0", s);
			snprintf(arr, sizeof(arr), "%" PRId64, now_ns());
			redisAppendCommand(e->rc, "XADD %s %s a %s b %b h %b s %b", key, id, arr, ss.body,
					   ss.body_len, ss.hmac, sizeof(ss.hmac), ss.sig, sizeof(ss.sig));
		}
		for (int m = m_first; m <= m_last; m++) {
			redisReply *r;

			if (redisGetReply(e->rc, (void **)&r) != REDIS_OK)
				return -1;
			if (r->type == REDIS_REPLY_ERROR) {
				fprintf(stderr, "XADD: %s\n", r->str);
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(r);
		}
		if (round_us > 0)
			usleep((useconds_t)round_us);
		else if (per_ms > 0 && s % per_ms == 0)
			usleep(1000);
	}
	return 0;
}

/* Every subscriber 0..nsubs-1 of the log executed 1..N of its master exactly once in order.
 * Returns the number of subscribers that did. */
/* Subscriber idx (0-based, the order of its --subs file) of tag's log got sequences
 * 1..nsignals of master want[idx] once, in order: how many of the first count did (or
 * minus the number of wrong lines). */
static int check_log_masters(struct env *e, const char *tag, const uint64_t *want, int count)
{
	char p[512], line[128];
	FILE *f;
	uint64_t *next = calloc((size_t)e->nsubs, sizeof(*next));
	int bad = 0, good = 0;

	snprintf(p, sizeof(p), "%s/%s.log", e->dir, tag);
	f = fopen(p, "r");
	if (f == NULL || next == NULL) {
		free(next);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	for (int i = 0; i < e->nsubs; i++)
		next[i] = 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int idx;
		uint64_t m, s;

		if (sscanf(line, "%d %" SCNu64 " %" SCNu64, &idx, &m, &s) != 3 || m == 0)
			continue;
		if (idx < 0 || idx >= e->nsubs)
			continue;
		if (m != want[idx] || s != next[idx]) {
			if (bad++ < 5)
				fprintf(stderr, "subscriber %d: master %" PRIu64 " seq %" PRIu64
						", expected seq %" PRIu64 "\n", idx, m, s, next[idx]);
			continue;
		}
		next[idx]++;
	}
	fclose(f);
	for (int i = 0; i < count; i++)
		if (next[i] == (uint64_t)e->nsignals + 1)
			good++;
	free(next);
	return bad == 0 ? good : -bad;
}

/* check_log_masters for the group of subscribers first+1.. (group_file's order: index idx
 * follows master (idx + first) % nmasters + 1). */
static int check_log(struct env *e, const char *tag, int first, int count)
{
	uint64_t *want = calloc((size_t)e->nsubs, sizeof(*want));

	if (want == NULL)
		return -1;
	for (int i = 0; i < e->nsubs; i++)
		want[i] = (uint64_t)((i + first) % e->nmasters + 1);
	int rc = check_log_masters(e, tag, want, count);
	free(want);
	return rc;
}

static bool log_has(struct env *e, const char *tag, const char *needle)
{
	char p[512], line[256];
	FILE *f;
	bool found = false;

	snprintf(p, sizeof(p), "%s/%s.log", e->dir, tag);
	f = fopen(p, "r");
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The number after `needle` on the last line of dir/file that has it (0 when none). */
static unsigned long last_number(struct env *e, const char *file, const char *needle)
{
	char p[600], line[512];
	FILE *f;
	unsigned long n = 0;

	snprintf(p, sizeof(p), "%s/%s", e->dir, file);
	f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *t = strstr(line, needle);

		if (t != NULL)
			n = strtoul(t + strlen(needle), NULL, 10);
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* Connections a decp-fanout process accepted so far ("total N" of its last stats line). */
static unsigned long fanout_total(struct env *e, const char *tag)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.log", tag);
	return last_number(e, file, "(total ");
}

/* Reconnections decp-subscriber reported in dir/subs.err ("reconnects N" at exit). */
static unsigned long sub_reconnects(struct env *e)
{
	return last_number(e, "subs.err", "reconnects ");
}

/* ------------------------------------------------------------ rolling restart (upgrade) -- */

struct roll_pub {
	struct env *e;
	int rc;
	atomic_bool done;
};

/* Every master's signals, one round (a signal per master) every 2 ms: a live stream long
 * enough for both restarts. */
static void *roll_publish(void *arg)
{
	struct roll_pub *p = arg;

	for (int s = 1; s <= p->e->nsignals && p->rc == 0; s++) {
		p->rc = publish_span(p->e, s, s, 0);
		usleep(2000);
	}
	atomic_store(&p->done, true);
	return NULL;
}

/* Copies the lines of dir/file that contain needle to stderr. */
static void print_lines(struct env *e, const char *file, const char *needle)
{
	char p[600], line[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", e->dir, file);
	f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			fputs(line, stderr);
	if (f != NULL)
		fclose(f);
}

/* Until subs.log holds `lines` executions (bounded: 120 s); what it holds. */
static int wait_executed(struct env *e, int lines)
{
	int have = 0;

	for (int t = 0; t < 2400 && (have = count_lines(e, "subs.log", "", false)) < lines; t++)
		usleep(50000);
	return have;
}

/*
 * rolling: the two fan-outs of reuseport restarted one after the other, as an upgrade does
 * (docs/operations.md "Upgrades"), while signals stream. The stopping one closes its
 * listener first, so every new connection goes to the other; its sessions get 1001 and
 * their subscribers reconnect (50 ms) to the other at the first attempt and resume from
 * their next sequence. Every signal is executed once, in order, and none is refused as
 * older than a TTL of 10 s (the guard's real 500 ms is not checked: a test must pass on a
 * loaded machine, where live delivery alone can take that long; the live latency is
 * printed).
 */
static void scenario_rolling(struct env *e)
{
	const char *x[] = {"--subs", subs_arg(e), "--expect", expect_arg(e), "--timeout", "240",
			   "--ttl-ms", "10000", "--latency", "--verify-cache", NULL};
	struct roll_pub pub = {.e = e};
	pid_t *fo[2] = {&e->fanout, &e->fanout2};
	const char *tag[2] = {"fanout", "fanout2"};
	int total = e->nsubs * e->nsignals, rc;
	pthread_t thr;
	pid_t sub;

	sub = start_subscriber(e, "subs", x);
	wait_live(e, "subs", e->nsubs);
	if (pthread_create(&thr, NULL, roll_publish, &pub) != 0) {
		CHECK(0, "publisher thread");
		kill(sub, SIGKILL);
		harness_wait_exit(sub, 10000);
		return;
	}
	for (int k = 0; k < 2; k++) {
		int want = total * (k + 1) / 4, have = wait_executed(e, want);

		CHECK(have >= want, "%d of %d executions before restarting %s", have, want, tag[k]);
		kill(*fo[k], SIGTERM);
		rc = harness_wait_exit(*fo[k], 10000);
		CHECK(rc == 0, "%s stopped, exit %d", tag[k], rc);
		*fo[k] = 0;
		CHECK(start_fanout(e, NULL, tag[k], true, fo[k]) == 0, "%s started again", tag[k]);
	}
	pthread_join(thr, NULL);
	CHECK(pub.rc == 0 && atomic_load(&pub.done), "every signal published");
	rc = harness_wait_exit(sub, 240000);
	CHECK(rc == 0, "decp-subscriber finished (exit %d)", rc);
	CHECK(check_log(e, "subs", 0, e->nsubs) == e->nsubs,
	      "exactly once, in order, across both restarts");
	CHECK(last_number(e, "subs.err", " rejected ") == 0,
	      "nothing refused with a 10 s TTL (%lu rejected)",
	      last_number(e, "subs.err", " rejected "));
	print_lines(e, "subs.err", "latency");
	CHECK(sub_reconnects(e) >= 2, "the stopped fan-outs' subscribers reconnected (%lu)",
	      sub_reconnects(e));
	/* the stopping one closed its listener before its 1001s: each reconnect reached the
	 * other at the first attempt (a 503 from the stopping one, or a reset from its
	 * backlog, is a connection error) */
	CHECK(last_number(e, "subs.err", " refused ") == 0,
	      "every reconnect landed on the running fan-out at once (%lu refused)",
	      last_number(e, "subs.err", " refused "));
}

/* ---------------------------------------------------------------- abuse (raw socket) -- */

static int raw_connect(struct env *e, const char *req)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[2048];
	ssize_t n;
	struct timeval tv = {5, 0};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	if (strstr(req, "Upgrade") == NULL || strstr(req, "Sec-WebSocket-Key") == NULL)
		return fd;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0 || (buf[n] = '\0', strstr(buf, " 101 ") == NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *upgrade_req(int port, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "GET /?token=tok-1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n", port);
	return buf;
}

/* Reads frames until a close frame; returns its status code, 0 when the connection ended
 * without one, -1 on timeout. */
static int read_close_code(int fd)
{
	uint8_t b[4096];
	size_t have = 0;

	for (;;) {
		ssize_t n = recv(fd, b + have, sizeof(b) - have, 0);

		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : 0;
		have += (size_t)n;
		while (have >= 2) {
			size_t len = b[1] & 0x7f, hl = 2;

			if (len == 126) {
				if (have < 4)
					break;
				len = (size_t)b[2] << 8 | b[3];
				hl = 4;
			} else if (len == 127) {
				return -1;
			}
			if (have < hl + len)
				break;
			if ((b[0] & 0x0f) == 8)
				return len >= 2 ? b[hl] << 8 | b[hl + 1] : 1005;
			memmove(b, b + hl + len, have - hl - len);
			have -= hl + len;
		}
		if (have == sizeof(b))
			return -1;
	}
}

/* Sends frame and returns the close code read back (read_close_code). split > 0: send only
 * its first `split` bytes (the header), one write each, 20 ms apart, so that the server
 * reads the header in pieces. */
static int abuse_frame_ex(struct env *e, const uint8_t *frame, size_t len, size_t split)
{
	char req[512];
	int fd = raw_connect(e, upgrade_req(e->port, req, sizeof(req)));
	int code;
	size_t at = 0;

	if (fd < 0)
		return -2;
	if (split > 0)
		len = split < len ? split : len;
	for (; at < split && at < len; at++) {
		if (write(fd, frame + at, 1) != 1) {
			close(fd);
			return -3;
		}
		usleep(20000);
	}
	if (at < len && write(fd, frame + at, len - at) != (ssize_t)(len - at)) {
		close(fd);
		return -3;
	}
	code = read_close_code(fd);
	close(fd);
	return code;
}

static int abuse_frame(struct env *e, const uint8_t *frame, size_t len)
{
	return abuse_frame_ex(e, frame, len, 0);
}

static void scenario_abuse(struct env *e)
{
	/* unmasked binary frame from a client: RFC 6455 §5.1 requires masking -> 1002 */
	static const uint8_t unmasked[] = {0x82, 0x02, 0x12, 0x00};
	/* masked binary frame announcing 1 MiB (64-bit length): over our limit -> 1009 */
	uint8_t huge[14 + 256];
	/* RSV1 set without an extension -> 1002 */
	static const uint8_t rsv[] = {0xc2, 0x80, 1, 2, 3, 4};
	/* reserved opcode 0x3 -> 1002 */
	static const uint8_t opc[] = {0x83, 0x80, 1, 2, 3, 4};
	/* ping with 126-byte payload (control frames are <= 125) -> 1002 */
	uint8_t bigping[4 + 4 + 126];
	/* fragmented ping (FIN = 0 on a control frame) -> 1002 */
	static const uint8_t fragping[] = {0x09, 0x80, 1, 2, 3, 4};
	char req[512];
	int fd, c;

	memset(huge, 0x41, sizeof(huge));
	memcpy(huge, (const uint8_t[]){0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}, 14);
	bigping[0] = 0x89;
	bigping[1] = 0x80 | 126;
	bigping[2] = 0;
	bigping[3] = 126;
	memset(bigping + 4, 0, sizeof(bigping) - 4);

	/* continuation frame outside a fragmented message -> 1002 */
	static const uint8_t lonecont[] = {0x80, 0x80, 1, 2, 3, 4};

	/* lws 4.1.6 alone accepts these three; cp_ws_check in front of it refuses them */
	c = abuse_frame(e, unmasked, sizeof(unmasked));
	CHECK(c == 1002, "unmasked client frame: close %d, expected 1002", c);
	c = abuse_frame(e, lonecont, sizeof(lonecont));
	CHECK(c == 1002, "continuation outside a message: close %d, expected 1002", c);
	c = abuse_frame(e, huge, sizeof(huge));
	CHECK(c == 1009, "over-limit length: close %d, expected 1009", c);
	c = abuse_frame(e, rsv, sizeof(rsv));
	CHECK(c == 1002, "RSV1 bit: close %d, expected 1002", c);
	c = abuse_frame(e, opc, sizeof(opc));
	CHECK(c == 1002, "reserved opcode: close %d, expected 1002", c);
	c = abuse_frame(e, bigping, sizeof(bigping));
	CHECK(c == 1002, "oversize control frame: close %d, expected 1002", c);
	/* the same headers arriving a byte at a time: lws never sees a partial bad header */
	c = abuse_frame_ex(e, bigping, sizeof(bigping), 8);
	CHECK(c == 1002, "oversize control frame, split header: close %d, expected 1002", c);
	c = abuse_frame_ex(e, huge, sizeof(huge), 14);
	CHECK(c == 1009, "over-limit length, split header: close %d, expected 1009", c);
	c = abuse_frame_ex(e, unmasked, sizeof(unmasked), 2);
	CHECK(c == 1002, "unmasked client frame, split header: close %d, expected 1002", c);
	c = abuse_frame(e, fragping, sizeof(fragping));
	CHECK(c == 1002, "fragmented control frame: close %d, expected 1002", c);

	/* handshake without Sec-WebSocket-Key -> HTTP 400 (RFC 6455 §4.2.1) */
	snprintf(req, sizeof(req),
		 "GET /?token=tok-1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
	fd = raw_connect(e, req);
	if (fd >= 0) {
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "handshake without key: got '%.40s', "
		      "expected HTTP 400", buf);
		close(fd);
	} else {
		CHECK(0, "handshake without key: connect failed");
	}
	/* a ping between the fragments of a message is answered at once (RFC 6455 §5.4) */
	fd = raw_connect(e, upgrade_req(e->port, req, sizeof(req)));
	if (fd >= 0) {
		/* first fragment of a binary message (FIN 0), then ping "hi", masked with 0 */
		static const uint8_t frag_ping[] = {0x02, 0x81, 0, 0, 0, 0, 0x0a,
						    0x89, 0x82, 0, 0, 0, 0, 'h', 'i'};
		uint8_t b[64];
		ssize_t n = -1;

		if (write(fd, frag_ping, sizeof(frag_ping)) == (ssize_t)sizeof(frag_ping))
			n = recv(fd, b, sizeof(b), 0);
		CHECK(n >= 4 && b[0] == 0x8a && b[1] == 2 && b[2] == 'h' && b[3] == 'i',
		      "ping inside a fragmented message: pong 'hi' expected, got %zd bytes (0x%02x)",
		      n, n > 0 ? b[0] : 0);
		close(fd);
	} else {
		CHECK(0, "fragmented ping: connect failed");
	}
	/* no token at all -> refused at the upgrade (HTTP 401, no 101) */
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
	fd = raw_connect(e, req);
	if (fd >= 0) {
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		CHECK(strstr(buf, " 101 ") == NULL, "no token: upgraded anyway");
		close(fd);
	}
}

/* ---------------------------------------------------------------- keep-alive -- */

/* A raw WebSocket client for the keep-alive scenario: counts the server's pings and, when
 * `answer`, replies to each with a (masked) pong carrying the same payload. */
struct ka_client {
	int fd;
	bool answer, closed;
	int pings;
	int64_t closed_ns;
	uint8_t b[1024];
	size_t have;
};

/* Reads what is there; returns -1 when the connection ended. */
static int ka_client_input(struct ka_client *c)
{
	ssize_t n = recv(c->fd, c->b + c->have, sizeof(c->b) - c->have, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		return -1;
	if (n > 0)
		c->have += (size_t)n;
	while (c->have >= 2 && (c->b[1] & 0x7f) < 126 && c->have >= 2u + (c->b[1] & 0x7f)) {
		size_t len = c->b[1] & 0x7f;

		if ((c->b[0] & 0x0f) == 0x8)
			return -1; /* close frame */
		if ((c->b[0] & 0x0f) == 0x9) {
			uint8_t pong[2 + 4 + 125] = {0x8a, (uint8_t)(0x80 | len), 0, 0, 0, 0};

			c->pings++;
			memcpy(pong + 6, c->b + 2, len); /* mask 0: payload as is */
			if (c->answer && write(c->fd, pong, 6 + len) != (ssize_t)(6 + len))
				return -1;
		}
		memmove(c->b, c->b + 2 + len, c->have - 2 - len);
		c->have -= 2 + len;
	}
	return c->have == sizeof(c->b) ? -1 : 0;
}

/* decp-fanout runs with --keepalive-ms 300 --keepalive-timeout-ms 400. Over 4 s: the
 * client answering pings is pinged again and again and stays; the silent one gets its
 * ping, and is cut once 300 + 400 ms passed without a byte from it (not before). The
 * answering client goes on answering until decp-fanout's stats line has been read. */
static void scenario_keepalive(struct env *e)
{
	char req[512];
	struct ka_client c[2] = {{.fd = -1, .answer = true}, {.fd = -1, .answer = false}};
	int64_t t0 = now_ns();

	for (int i = 0; i < 2; i++)
		c[i].fd = raw_connect(e, upgrade_req(e->port, req, sizeof(req)));
	if (c[0].fd < 0 || c[1].fd < 0) {
		CHECK(0, "keepalive: connect failed");
		goto out;
	}
	while (now_ns() - t0 < 4000000000LL) {
		struct pollfd p[2] = {{c[0].fd, POLLIN, 0}, {c[1].fd, POLLIN, 0}};

		if (poll(p, 2, 50) < 0)
			break;
		for (int i = 0; i < 2; i++)
			if (!c[i].closed && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    ka_client_input(&c[i]) != 0) {
				c[i].closed = true;
				c[i].closed_ns = now_ns() - t0;
			}
	}
	CHECK(!c[0].closed && c[0].pings >= 3,
	      "keepalive: the client answering pings stays (closed %d after %.2f s, %d pings)",
	      c[0].closed, (double)c[0].closed_ns / 1e9, c[0].pings);
	CHECK(c[1].closed && c[1].pings >= 1 && c[1].closed_ns >= 650000000LL &&
	      c[1].closed_ns < 2000000000LL,
	      "keepalive: the silent client is pinged, then cut after 0.7 s (closed %d after "
	      "%.2f s, %d pings)", c[1].closed, (double)c[1].closed_ns / 1e9, c[1].pings);
	CHECK(last_number(e, "fanout.log", " dead ") == 1, "keepalive: counted once as dead (%lu)",
	      last_number(e, "fanout.log", " dead "));
out:
	for (int i = 0; i < 2; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
}

/* --------------------------------------------------------------- wss refusals -- */

/*
 * A TLS client connection to 127.0.0.1:port (TLS versions min_v..max_v, verifying the
 * server against ca; NULL: no CA loaded). Returns the SSL (its fd inside: tls_close) after
 * a completed handshake, or NULL; *verify gets the verification result (-1: no handshake).
 */
static SSL *tls_open(int port, int min_v, int max_v, const char *ca, long *verify)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {10, 0};
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	bool ok = false;

	*verify = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || ctx == NULL)
		goto done;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_CTX_set_min_proto_version(ctx, min_v);
	SSL_CTX_set_max_proto_version(ctx, max_v);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || (ssl = SSL_new(ctx)) == NULL)
		goto done;
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "127.0.0.1");
	ok = SSL_connect(ssl) == 1;
	*verify = SSL_get_verify_result(ssl);
done:
	SSL_CTX_free(ctx); /* the SSL keeps a reference */
	if (ok)
		return ssl;
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* A TLS handshake with the fan-out: 1 done, 0 refused (*verify: the verification result). */
static int wss_handshake(struct env *e, int min_v, int max_v, const char *ca, long *verify)
{
	SSL *ssl = tls_open(e->port, min_v, max_v, ca, verify);

	if (ssl == NULL)
		return 0;
	tls_close(ssl);
	return 1;
}

/* wss by default (issue 17): TLS 1.3 with the CA is accepted; TLS 1.2, a client without
 * the CA and a plain upgrade request on the wss port are refused (the plain one gets no
 * HTTP answer: the connection is closed). */
static void wss_refusals(struct env *e)
{
	char ca[600], req[512], buf[256];
	long verify;
	int fd, n = -1, got = 0;

	snprintf(ca, sizeof(ca), "%s/tls/ca.crt", e->dir);
	CHECK(wss_handshake(e, TLS1_3_VERSION, TLS1_3_VERSION, ca, &verify) == 1 &&
	      verify == X509_V_OK, "wss: TLS 1.3 with the CA accepted (verify %ld)", verify);
	CHECK(wss_handshake(e, TLS1_VERSION, TLS1_2_VERSION, ca, &verify) == 0,
	      "wss: a TLS 1.2 client refused");
	CHECK(wss_handshake(e, TLS1_3_VERSION, TLS1_3_VERSION, NULL, &verify) == 0 &&
	      verify != X509_V_OK, "wss: a client without the CA fails verification (verify %ld)",
	      verify);
	upgrade_req(e->port, req, sizeof(req));
	fd = raw_connect(e, "");
	if (fd >= 0 && write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while ((n = (int)recv(fd, buf + got, sizeof(buf) - (size_t)got, 0)) > 0 &&
		       got + n < (int)sizeof(buf))
			got += n;
		CHECK((n == 0 || (n < 0 && errno == ECONNRESET)) &&
		      (got == 0 || (unsigned char)buf[0] == 0x15),
		      "wss: a plain upgrade request on the wss port gets no HTTP answer (%d bytes, "
		      "then %s)", got, n == 0 ? "closed" : strerror(errno));
	} else {
		CHECK(0, "wss: raw connection");
	}
	if (fd >= 0)
		close(fd);
}

/* ---------------------------------------------------- npm ws client (independent) -- */

static pid_t start_node_client(struct env *e, const char *tag, int sub, const char *mode)
{
	static char url[4][64], tok[4][16], master[4][16], count[4][16], ca[4][512];
	static int k;
	char out[512];
	int i = k++ % 4;
	char *argv[] = {(char *)"/usr/bin/env", (char *)"node", getenv("DECP_WS_CLIENT"), url[i],
			tok[i], master[i], count[i], (char *)mode, e->tls ? ca[i] : NULL, NULL};

	snprintf(url[i], sizeof(url[i]), "%s://127.0.0.1:%d/", e->tls ? "wss" : "ws", e->port);
	snprintf(ca[i], sizeof(ca[i]), "%s/tls/ca.crt", e->dir);
	snprintf(tok[i], sizeof(tok[i]), "tok-%d", sub);
	snprintf(master[i], sizeof(master[i]), "%d", (sub - 1) % e->nmasters + 1);
	snprintf(count[i], sizeof(count[i]), "%d", e->nsignals);
	snprintf(out, sizeof(out), "%s/%s.err", e->dir, tag);
	return spawn(argv, out);
}

static void scenario_wsclient(struct env *e)
{
	pid_t bin, json;
	int rc;

	if (getenv("DECP_WS_CLIENT") == NULL) {
		CHECK(0, "DECP_WS_CLIENT (path of tests/fanout/ws-client/ws_client.mjs) not set");
		return;
	}
	bin = start_node_client(e, "ws-binary", 1, "binary");
	json = start_node_client(e, "ws-json", 2, "json");
	usleep(1500000); /* node starts slowly: most of the run is then live delivery */
	CHECK(publish_all(e, 5) == 0, "publish signals");
	rc = harness_wait_exit(bin, 90000);
	CHECK(rc == 0, "npm ws client, binary protobuf: every signal once, in order (exit %d, "
	      "see %s/ws-binary.err)", rc, e->dir);
	rc = harness_wait_exit(json, 90000);
	CHECK(rc == 0, "npm ws client, ?format=json: every signal once, in order (exit %d, "
	      "see %s/ws-json.err)", rc, e->dir);
}

/* ---------------------------------------------------------- pipeline (real ingest) -- */

/* posix decp-dataplane + decp-control (edge,fanout,archiver); sets e->port to the fan-out's. */
static int start_pipeline(struct env *e, int *dp_port)
{
	char pf[512], out[512], cfg[512], port[32], rest[256];
	FILE *f;

	snprintf(e->shm, sizeof(e->shm), "/decp-fotest-%d", (int)getpid());
	snprintf(pf, sizeof(pf), "%s/dp.port", e->dir);
	snprintf(out, sizeof(out), "%s/dataplane.log", e->dir);
	{
		char *argv[] = {(char *)e->dp_bin, (char *)"--stack", (char *)"posix", (char *)"--tls", (char *)"off",
				(char *)"--listen", (char *)"127.0.0.1:0", (char *)"--shm", e->shm,
				(char *)"--workers", (char *)"2", (char *)"--port-file", pf, NULL};

		e->dp = spawn(argv, out);
	}
	*dp_port = 0;
	for (int t = 0; t < 1000 && *dp_port == 0 && harness_pid_alive(e->dp); t++) {
		f = fopen(pf, "r");
		if (f != NULL) {
			if (fscanf(f, "%31s", port) == 1)
				*dp_port = atoi(port);
			fclose(f);
		}
		usleep(10000);
	}
	if (*dp_port == 0) {
		fprintf(stderr, "decp-dataplane did not start (see %s)\n", out);
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/control.conf", e->dir);
	f = fopen(cfg, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "roles = %s\nshm = %s\nredis_host = 127.0.0.1\n"
		"redis_port = %d\npg_conninfo = %s\nfanout_listen = 127.0.0.1\nfanout_port = %d\n"
		"fanout_state_poll_ms = 200\nredis_timeout_ms = 5000\n%s",
		e->roles != NULL ? e->roles : "edge,fanout,archiver", e->shm,
		harness_redis_port(e->redis), harness_pg_conninfo(e->pg), e->fport, e->ctl_extra);
	if (e->tls) /* the api's HTTPS (when a scenario adds the role) shares the certificate */
		fprintf(f, "fanout_cert = %s/tls/server.crt\nfanout_key = %s/tls/server.key\n"
			"api_cert = %s/tls/server.crt\napi_key = %s/tls/server.key\n", e->dir, e->dir,
			e->dir, e->dir);
	else
		fprintf(f, "fanout_tls = off\napi_tls = off\n");
	if (e->conf != NULL)
		fputs(e->conf, f);
	fclose(f);
	snprintf(out, sizeof(out), "%s/fanout.log", e->dir);
	{
		char *argv[] = {(char *)e->fanout_bin, (char *)"--config", cfg, NULL};

		e->fanout = spawn(argv, out);
	}
	if (harness_wait_line(out, "listening on 127.0.0.1:", rest, sizeof(rest), e->fanout, 30000) != 0 ||
	    harness_wait_line(out, " ready: ", NULL, 0, e->fanout, 30000) != 0)
		return -1;
	e->port = atoi(rest);
	CHECK(strstr(rest, "fed by the edge in-process") != NULL, "fan-out fed by the edge: %s",
	      rest);
	return e->port > 0 ? 0 : -1;
}

/* Subscribers first..first+n-1 (1-based) into FILE dir/<tag>.subs. */
static char *group_file(struct env *e, const char *tag, int first, int n)
{
	static char p[4][512];
	static int k;
	char *path = p[k++ % 4];
	FILE *f;

	snprintf(path, 512, "%s/%s.subs", e->dir, tag);
	f = fopen(path, "w");
	if (f == NULL)
		return path;
	for (int i = first; i < first + n; i++)
		fprintf(f, "tok-%d %d\n", i, (i - 1) % e->nmasters + 1);
	fclose(f);
	return path;
}

static long long pg_count(struct env *e, const char *q)
{
	PGresult *r = PQexec(e->db, q);
	long long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			      ? atoll(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return n;
}

/* The fan-out role's "published=N" from decp-control's stop line. */
static long long ctl_published(struct env *e)
{
	char p[512], rest[256];

	snprintf(p, sizeof(p), "%s/fanout.log", e->dir);
	if (harness_wait_line(p, " published=", rest, sizeof(rest), 0, 100) != 0)
		return -1;
	return atoll(rest);
}

/* Executions in dir/lag.log of BUYs (sequence 4k+1) and of the other signals. */
static void lag_executions(struct env *e, long long *open, long long *other)
{
	char p[512], line[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/lag.log", e->dir);
	f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int idx;
		uint64_t m, sq;

		if (sscanf(line, "%d %" SCNu64 " %" SCNu64, &idx, &m, &sq) == 3 && m != 0)
			(*(sq % 4 == 1 ? open : other))++;
	}
	if (f != NULL)
		fclose(f);
}

static void scenario_pipeline(struct env *e, bool drop)
{
	/* groups: the last 10 subscribers (when there are >= 20) misbehave on purpose */
	int nfault = e->nsubs >= 20 ? 5 : 0;
	int nmain = e->nsubs - 2 * nfault;
	/* signals/s over all masters; slower with drops, so that many cuts hit a live stream */
	const char *rate = getenv("DECP_FANOUT_RATE") ? getenv("DECP_FANOUT_RATE")
			   : drop ? "2000" : "20000";
	char mport[48], nm[16], ns[16], timeout[16], q[512];
	pid_t sub, skew = 0, lag = 0, master;
	int dp_port, rc, good;
	int64_t t0;

	snprintf(timeout, sizeof(timeout), "%d", 120 + e->nsubs * e->nsignals / 20000);
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	{
		const char *xm[] = {"--subs", group_file(e, "main", 1, nmain), "--expect",
				    expect_arg(e), "--timeout", timeout, "--verify-cache", "--latency",
				    drop ? "--drop-ms" : NULL, "50", NULL};
		const char *xs[] = {"--subs", group_file(e, "skew", nmain + 1, nfault), "--expect",
				    expect_arg(e), "--timeout", timeout, "--verify-cache",
				    "--skew-ms", "60000", "--ttl-ms", "30000", NULL};
		const char *xl[] = {"--subs", group_file(e, "lag", nmain + 1 + nfault, nfault),
				    "--expect", expect_arg(e), "--timeout", timeout, "--verify-cache",
				    "--quote-off-pips", "50", NULL};

		sub = start_subscriber(e, "subs", xm);
		if (nfault > 0) {
			/* start_subscriber's --ttl-ms 600000 comes first; the later one wins */
			skew = start_subscriber(e, "skew", xs);
			lag = start_subscriber(e, "lag", xl);
		}
	}
	wait_subscribed(e, "subs", nmain);
	if (nfault > 0) {
		wait_subscribed(e, "skew", nfault);
		wait_subscribed(e, "lag", nfault);
	}
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(nm, sizeof(nm), "%d", e->nmasters);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				nm, (char *)"--signals", ns, (char *)"--threads", (char *)"2",
				(char *)"--rate", (char *)rate, (char *)"--time-limit-s", timeout, NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		t0 = now_ns();
		master = spawn(argv, out);
	}
	rc = harness_wait_exit(master, atoi(timeout) * 1000);
	CHECK(rc == 0, "decp-master: every signal ACKed (exit %d)", rc);
	fprintf(stderr, "pipeline: %d masters x %d signals ACKed in %.2f s\n", e->nmasters,
		e->nsignals, (double)(now_ns() - t0) / 1e9);
	rc = harness_wait_exit(sub, atoi(timeout) * 1000);
	CHECK(rc == 0, "decp-subscriber (main group) finished (exit %d)", rc);
	fprintf(stderr, "pipeline: %d subscribers x %d signals executed %.2f s after the masters "
		"started\n", e->nsubs, e->nsignals, (double)(now_ns() - t0) / 1e9);
	good = check_log(e, "subs", 0, nmain);
	CHECK(good == nmain, "main group exactly once, in order: %d of %d subscribers", good, nmain);
	if (drop)
		CHECK(sub_reconnects(e) >= 5, "connections were cut during the run (%lu reconnects)",
		      sub_reconnects(e));
	if (nfault > 0) {
		CHECK(harness_wait_exit(skew, 60000) == 0, "skewed-clock group finished");
		good = check_log(e, "skew", nmain, nfault);
		CHECK(good == nfault, "skewed clock (60 s, TTL 30 s): every signal executed once, in "
		      "order by %d of %d", good, nfault);
		CHECK(harness_wait_exit(lag, 60000) == 0, "lagging-quotes group finished");
		/* decp-master's synthetic signals: sequence 4k+1 opens (BUY, price-checked), the
		 * others modify or close (no price check) */
		long long opens = (e->nsignals + 3) / 4, want = (long long)nfault * opens;
		long long ex_open = 0, ex_other = 0;

		lag_executions(e, &ex_open, &ex_other);
		/* a BUY refused opens no position: its MODIFY, CLOSE_PARTIAL and CLOSE find
		 * none on the subscriber's account and are FILTERED (NO_POSITION) */
		CHECK(ex_open == 0 && ex_other == 0,
		      "lagging quotes: no BUY executed (%lld), nor anything on the positions never "
		      "opened (%lld)", ex_open, ex_other);
		snprintf(q, sizeof(q), "SELECT count(DISTINCT (subscriber_id, sequence)) FROM "
			 "protection_logs WHERE reason LIKE '%%PRICE%%' AND subscriber_id > %d "
			 "AND sequence %% 4 = 1", nmain + nfault);
		for (int t = 0; t < 100 && pg_count(e, q) < want; t++)
			usleep(100000); /* the fan-out's db thread stores reports in batches */
		/* a report the EA had queued when its connection was cut (slow consumer under
		 * overload) is not resent: all of them arrive unless the group was cut */
		long long have = pg_count(e, q);
		bool cut = log_has(e, "lag", " closed");

		CHECK(have == want || (cut && have <= want && have >= want * 9 / 10),
		      "lagging quotes: one PRICE_DEVIATION per BUY and subscriber (%lld, want %lld%s)",
		      have, want, cut ? ", connections were cut" : "");
		snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id > %d "
			 "AND NOT (reason LIKE '%%PRICE%%' AND sequence %% 4 = 1) AND NOT "
			 "(reason = 'FILTERED' AND sequence %% 4 <> 1)", nmain + nfault);
		CHECK(pg_count(e, q) == 0, "lagging quotes: no other protection event (%lld)",
		      pg_count(e, q));
		snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id <= %d",
			 nmain + nfault);
		CHECK(pg_count(e, q) == 0, "no protection event from the main and skewed groups "
		      "(%lld)", pg_count(e, q));
	}
	snprintf(q, sizeof(q), "SELECT count(*) FROM signal_archive");
	for (int t = 0; t < 300 && pg_count(e, q) < (long long)e->nmasters * e->nsignals; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == (long long)e->nmasters * e->nsignals,
	      "archiver: signal_archive holds every signal (%lld)", pg_count(e, q));
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
	CHECK(ctl_published(e) == (long long)e->nmasters * e->nsignals,
	      "every durable signal handed to the fan-out once by the edge (published=%lld)",
	      ctl_published(e));
}

/* ------------------------------- a standalone fan-out tailing Redis (issue 23: ctail) -- */

/* One phase of the split deployment: decp-dataplane, decp-control --roles edge,archiver and
 * a separate decp-control --roles fanout that tails Redis (one Redis: XREAD BLOCK; a
 * cluster: cp_fanout_ctail). */
struct split {
	pid_t dp, edge, fanout;
	int dp_port;
	char tag[16], shm[64];
};

/* Start the phase's three processes; redis: the config lines naming Redis; edge_extra:
 * more edge config lines. Sets e->port (the fan-out's). 0 or -1 (what failed on stderr). */
static int split_start(struct env *e, struct split *s, const char *tag, const char *redis,
		       const char *edge_extra)
{
	char pf[512], out[512], cfg[512], rest[256], port[32];
	FILE *f;

	memset(s, 0, sizeof(*s));
	snprintf(s->tag, sizeof(s->tag), "%s", tag);
	snprintf(s->shm, sizeof(s->shm), "/decp-ctail-%d-%s", (int)getpid(), tag);
	snprintf(pf, sizeof(pf), "%s/%s.dp.port", e->dir, tag);
	snprintf(out, sizeof(out), "%s/%s.dataplane.log", e->dir, tag);
	{
		char *argv[] = {(char *)e->dp_bin, "--stack", "posix", "--tls", "off", "--listen",
				"127.0.0.1:0", "--shm", s->shm, "--workers", "2", "--port-file", pf,
				NULL};
		s->dp = harness_spawn(out, argv);
	}
	for (int t = 0; t < 1000 && s->dp_port == 0 && harness_pid_alive(s->dp); t++) {
		f = fopen(pf, "r");
		if (f != NULL) {
			if (fscanf(f, "%31s", port) == 1)
				s->dp_port = atoi(port);
			fclose(f);
		}
		usleep(10000);
	}
	if (s->dp_port == 0) {
		fprintf(stderr, "decp-dataplane did not start (see %s)\n", out);
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/%s.edge.conf", e->dir, tag);
	f = fopen(cfg, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "roles = edge,archiver\nshm = %s\n%spg_conninfo = %s\nredis_timeout_ms = 5000\n%s",
		s->shm, redis, harness_pg_conninfo(e->pg), edge_extra);
	fclose(f);
	snprintf(out, sizeof(out), "%s/%s.edge.log", e->dir, tag);
	{
		char *argv[] = {(char *)e->fanout_bin, "--config", cfg, NULL};
		s->edge = harness_spawn(out, argv);
	}
	if (harness_wait_line(out, " ready: ", NULL, 0, s->edge, 30000) != 0)
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/%s.fanout.conf", e->dir, tag);
	f = fopen(cfg, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "roles = fanout\n%spg_conninfo = %s\nfanout_listen = 127.0.0.1\nfanout_port = 0\n"
		"fanout_state_poll_ms = 200\nredis_timeout_ms = 5000\nfanout_cert = %s/tls/server.crt\n"
		"fanout_key = %s/tls/server.key\n", redis, harness_pg_conninfo(e->pg), e->dir, e->dir);
	fclose(f);
	snprintf(out, sizeof(out), "%s/%s.fanout.log", e->dir, tag);
	{
		char *argv[] = {(char *)e->fanout_bin, "--config", cfg, NULL};
		s->fanout = harness_spawn(out, argv);
	}
	if (harness_wait_line(out, "listening on 127.0.0.1:", rest, sizeof(rest), s->fanout,
			      30000) != 0)
		return -1;
	e->port = atoi(rest);
	fprintf(stderr, "%s: fan-out on port %d, %s", tag, e->port, strchr(rest, ' ') + 1);
	CHECK(strstr(rest, "tailing") != NULL, "%s: the fan-out tails Redis: %s", tag, rest);
	return e->port > 0 ? 0 : -1;
}

/* Stop the phase's processes (a clean exit: no sanitizer report either). */
static void split_stop(struct env *e, struct split *s)
{
	const pid_t *p[] = {&s->fanout, &s->edge, &s->dp};
	const char *name[] = {"fan-out", "edge", "dataplane"};
	char shm[80];

	for (int i = 0; i < 3; i++) {
		if (*p[i] <= 0)
			continue;
		kill(*p[i], SIGTERM);
		int rc = harness_wait_exit(*p[i], 20000);
		CHECK(rc == 0, "%s: %s exit %d (logs in %s)", s->tag, name[i], rc, e->dir);
	}
	snprintf(shm, sizeof(shm), "/dev/shm%s", s->shm);
	unlink(shm);
	memset(s, 0, sizeof(*s));
}

/* Subscribers of masters base+1..base+n (load_db: subscriber i follows master
 * (i-1) % nmasters + 1) into dir/<tag>.subs; their masters, in file order, into want.
 * Returns how many. */
static int phase_subs(struct env *e, const char *tag, int base, int n, uint64_t *want)
{
	char p[512];
	int k = 0;

	snprintf(p, sizeof(p), "%s/%s.subs", e->dir, tag);
	FILE *f = fopen(p, "w");
	if (f == NULL)
		return 0;
	for (int i = 1; i <= e->nsubs; i++) {
		int m = (i - 1) % e->nmasters + 1;
		if (m > base && m <= base + n) {
			fprintf(f, "tok-%d %d\n", i, m);
			want[k++] = (uint64_t)m;
		}
	}
	fclose(f);
	return k;
}

/* A number after needle in file dir/<file> (the last line that has it); -1 when none. */
static double log_value(struct env *e, const char *file, const char *needle)
{
	char p[600], line[1024];
	double v = -1;

	snprintf(p, sizeof(p), "%s/%s", e->dir, file);
	FILE *f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *h = strstr(line, needle);
		if (h != NULL)
			v = strtod(h + strlen(needle), NULL);
	}
	if (f != NULL)
		fclose(f);
	return v;
}

struct phase_res {
	double p50, p99, n;    /* master send -> guard verdict (us), live signals sampled */
	double ack50, ack99;   /* decp-master's ACK latency (us) */
	int good, subs;        /* subscribers that got every signal once, in order; of */
};

/* decp-subscriber's --latency line (master send -> guard verdict) from dir/<file>. */
static void sub_latency(struct env *e, const char *file, struct phase_res *r)
{
	static const char needle[] = "master send -> guard verdict (us): n ";
	char p[600], line[1024];

	r->n = r->p50 = r->p99 = -1;
	snprintf(p, sizeof(p), "%s/%s", e->dir, file);
	FILE *f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *h = strstr(line, needle);
		if (h != NULL && sscanf(h + sizeof(needle) - 1, "%lf p50 %lf p99 %lf", &r->n, &r->p50,
					&r->p99) != 3)
			r->n = r->p50 = r->p99 = -1;
	}
	if (f != NULL)
		fclose(f);
}

/*
 * One phase: its processes (split_start), the subscribers of masters base+1..base+m
 * (latency measured), decp-master sending e->nsignals to each at rate; `during` (may be
 * NULL) runs once the masters stream. Every subscriber must get every signal once, in
 * order.
 */
static void ctail_phase(struct env *e, const char *tag, const char *redis, const char *edge_extra,
			int base, int m, const char *rate, const char *drop_ms, struct phase_res *r,
			void (*during)(struct env *e, void *arg), void *arg)
{
	struct split s;
	uint64_t *want = calloc((size_t)e->nsubs, sizeof(*want));
	char mport[48], nm[16], bs[16], ns[16], timeout[16], out[512], file[64];

	memset(r, 0, sizeof(*r));
	if (want == NULL || split_start(e, &s, tag, redis, edge_extra) != 0) {
		CHECK(0, "%s: the split deployment started (logs in %s)", tag, e->dir);
		split_stop(e, &s);
		free(want);
		return;
	}
	r->subs = phase_subs(e, tag, base, m, want);
	snprintf(out, sizeof(out), "%s/%s.subs", e->dir, tag);
	snprintf(timeout, sizeof(timeout), "%d", 300);
	/* drop_ms: every subscriber cuts its connection that often and catches up by replay */
	const char *xs[] = {"--subs", out, "--expect", expect_arg(e), "--timeout", timeout,
			    "--verify-cache", "--latency", drop_ms ? "--drop-ms" : NULL, drop_ms, NULL};
	pid_t sub = start_subscriber(e, tag, xs);
	wait_subscribed(e, tag, r->subs);
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", s.dp_port);
	snprintf(nm, sizeof(nm), "%d", m);
	snprintf(bs, sizeof(bs), "%d", base + 1);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	snprintf(out, sizeof(out), "%s/%s.master.log", e->dir, tag);
	char *argv[] = {(char *)e->master_bin, "--connect", mport, "--masters", nm, "--master-base",
			bs, "--signals", ns, "--threads", "2", "--rate", (char *)rate,
			"--time-limit-s", timeout, NULL};
	int64_t t0 = now_ns();
	pid_t master = harness_spawn(out, argv);
	if (during != NULL)
		during(e, arg);
	int rc = harness_wait_exit(master, 300000);
	CHECK(rc == 0, "%s: decp-master: every signal ACKed (exit %d)", tag, rc);
	rc = harness_wait_exit(sub, 300000);
	CHECK(rc == 0, "%s: decp-subscriber finished (exit %d)", tag, rc);
	fprintf(stderr, "%s: %d masters x %d signals at %s/s to %d subscribers in %.1f s\n", tag, m,
		e->nsignals, rate, r->subs, (double)(now_ns() - t0) / 1e9);
	r->good = check_log_masters(e, tag, want, r->subs);
	CHECK(r->good == r->subs, "%s: every signal once, in order, to %d of %d subscribers", tag,
	      r->good, r->subs);
	snprintf(file, sizeof(file), "%s.err", tag);
	sub_latency(e, file, r);
	snprintf(file, sizeof(file), "%s.master.log", tag);
	r->ack50 = log_value(e, file, "ack_p50_us=");
	r->ack99 = log_value(e, file, "ack_p99_us=");
	split_stop(e, &s);
	free(want);
}

/* The cluster's slot map as the roles see it (cp_rcluster), for the test's own checks. */
static int test_map(const struct harness_rcluster *c, struct cp_rcluster *rc)
{
	char why[512];

	cp_rcluster_init(rc, harness_rcluster_seeds(c), 5000);
	int r = cp_rcluster_connect(rc, NULL, NULL, why, sizeof(why));
	if (r != 0)
		fprintf(stderr, "slot map: %s\n", why);
	return r;
}

/* The harness index of the primary serving master m's keys now; -1 if unknown. */
static int master_node(const struct harness_rcluster *c, uint64_t m)
{
	struct cp_rcluster rc;
	char key[64];
	int idx = -1;

	if (test_map(c, &rc) != 0)
		return -1;
	snprintf(key, sizeof(key), "decp:{m%" PRIu64 "}:signals", m);
	unsigned int k = cp_rcluster_node_of(&rc, key, strlen(key));
	for (int i = 0; k != CP_RCL_NONE && i < harness_rcluster_nodes(c); i++)
		if ((uint32_t)harness_rcluster_port(c, i) == rc.map.node[k].port)
			idx = i;
	cp_rcluster_close(&rc);
	return idx;
}

/* The last sequence in master m's stream where the cluster serves it (0: none). */
static uint64_t master_last(const struct harness_rcluster *c, uint64_t m)
{
	struct cp_rcluster rc;
	char key[64];
	uint64_t last = 0;

	if (test_map(c, &rc) != 0)
		return 0;
	snprintf(key, sizeof(key), "decp:{m%" PRIu64 "}:signals", m);
	redisReply *x = redisCommand(rc.ctx[cp_rcluster_node_of(&rc, key, strlen(key))],
				     "XREVRANGE %s + - COUNT 1", key);
	if (x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 1)
		last = strtoull(x->element[0]->element[0]->str, NULL, 10);
	freeReplyObject(x);
	cp_rcluster_close(&rc);
	return last;
}

/* How many distinct primaries serve masters base+1..base+n. */
static int masters_spread(const struct harness_rcluster *c, int base, int n)
{
	bool seen[16] = {false};
	int k = 0;

	for (int m = base + 1; m <= base + n; m++) {
		int i = master_node(c, (uint64_t)m);
		if (i >= 0 && i < 16 && !seen[i]) {
			seen[i] = true;
			k++;
		}
	}
	return k;
}

/* The cluster tail's stop line of phase tag's fan-out: the number after needle. */
static double ctail_count(struct env *e, const char *tag, const char *needle)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.fanout.log", tag);
	return log_value(e, file, needle);
}

static void phase_print(const char *what, const struct phase_res *r)
{
	fprintf(stderr, "ctail: %-34s master send -> subscriber verdict p50 %.0f us p99 %.0f us "
		"(n %.0f); edge ACK p50 %.0f us p99 %.0f us\n", what, r->p50, r->p99, r->n, r->ack50,
		r->ack99);
}

/*
 * ctail (issue 23 item 1): a standalone fan-out (decp-control --roles fanout beside a
 * separate edge,archiver process) on one Redis (XREAD BLOCK tail), then on a Redis
 * Cluster (cp_fanout_ctail: shard-channel notifications), then on the cluster with the
 * edge's notification off (redis_notify = no: the sweep alone delivers). A third of the
 * masters per phase (MASTERS = 3 x per phase), their subscribers only; every subscriber
 * gets every signal once, in order, in each phase. Prints latency (master send ->
 * subscriber verdict) and the edge's ACK latency per phase: docs/perf.md "fanout".
 */
static void scenario_ctail(struct env *e)
{
	const int m = e->nmasters / 3;
	const char *rate = getenv("DECP_CTAIL_RATE") ? getenv("DECP_CTAIL_RATE") : "2000";
	struct phase_res one, cl, off;
	char redis[600];

	snprintf(redis, sizeof(redis), "redis_host = 127.0.0.1\nredis_port = %d\n",
		 harness_redis_port(e->redis));
	ctail_phase(e, "single", redis, "", 0, m, rate, NULL, &one, NULL, NULL);
	struct harness_rcluster *c = harness_rcluster_start(NULL);
	CHECK(c != NULL, "Redis Cluster started");
	if (c == NULL)
		return;
	CHECK(masters_spread(c, m, m) == 3 && masters_spread(c, 2 * m, m) == 3,
	      "each cluster phase's masters are on all three primaries (%d, %d)",
	      masters_spread(c, m, m), masters_spread(c, 2 * m, m));
	snprintf(redis, sizeof(redis), "redis_nodes = %s\n", harness_rcluster_seeds(c));
	ctail_phase(e, "cluster", redis, "", m, m, rate, NULL, &cl, NULL, NULL);
	double notes = ctail_count(e, "cluster", " notifications=");
	CHECK(notes > 0, "cluster: the tail was woken by notifications (%.0f)", notes);
	ctail_phase(e, "nonotify", redis, "redis_notify = no\n", 2 * m, m, rate, NULL, &off, NULL,
		    NULL);
	double swept = ctail_count(e, "nonotify", " swept=");
	notes = ctail_count(e, "nonotify", " notifications=");
	/* a master's first signals may come with the catch-up read of its subscription */
	CHECK(swept >= (double)m * e->nsignals * 0.9 && notes == 0,
	      "nonotify: no message, the sweep found the signals (%.0f of %d, %.0f messages)",
	      swept, m * e->nsignals, notes);
	double direct = ctail_count(e, "cluster", " direct=");
	CHECK(direct >= (double)m * e->nsignals * 0.9,
	      "cluster: the signals came from the edge's messages (%.0f of %d)", direct,
	      m * e->nsignals);
	harness_rcluster_destroy(c);
	fprintf(stderr, "ctail: %d masters x %d signals per phase at %s signals/s, %d subscribers "
		"per phase\n", m, e->nsignals, rate, one.subs);
	phase_print("one Redis (XREAD BLOCK):", &one);
	phase_print("cluster (shard notifications):", &cl);
	phase_print("cluster, redis_notify = no (sweep):", &off);
	if (one.p50 > 0 && cl.p50 > 0 && off.ack50 > 0)
		fprintf(stderr, "ctail: cluster / one Redis latency p50 %.2f p99 %.2f; edge ACK with / "
			"without the notification p50 %.2f p99 %.2f\n", cl.p50 / one.p50,
			cl.p99 / one.p99, cl.ack50 / off.ack50, cl.ack99 / off.ack99);
}

struct faults {
	struct harness_rcluster *c;
	const char *tag;    /* the phase's: its subscribers' log is <dir>/<tag>.log */
	int base, m;
	uint64_t resharded; /* the master whose slot moved */
	int killed;         /* the harness index of the primary killed */
};

/* Lines of the phase's subscriber log (each "<subscriber> <master> <seq>" delivered) of the
 * masters with live[master - base - 1] set; per subscriber into per[] (nsubs, when not
 * NULL; -1 for a subscriber of another master). */
static long delivered_of(const struct env *e, const struct faults *x, const bool *live,
			 long *per)
{
	char p[512], line[128];
	long n = 0;

	for (int i = 0; per != NULL && i < e->nsubs; i++)
		per[i] = -1;
	snprintf(p, sizeof(p), "%s/%s.log", e->dir, x->tag);
	FILE *f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int idx;
		uint64_t m, q;

		if (sscanf(line, "%d %" SCNu64 " %" SCNu64, &idx, &m, &q) == 3 &&
		    m > (uint64_t)x->base && m <= (uint64_t)(x->base + x->m) && live[m - x->base - 1]) {
			n++;
			if (per != NULL && idx >= 0 && idx < e->nsubs)
				per[idx] = per[idx] < 0 ? 1 : per[idx] + 1;
		}
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* While the masters stream: move a live master's slot (redis-cli --cluster reshard), then
 * kill -9 the primary of another master and wait until its replica is promoted. Before
 * the cluster may mark that primary failed (cluster-node-timeout 2 s), the masters of the
 * other primaries go on reaching their subscribers (the edge's and the tail's partial
 * cluster connections). */
static void ctail_inject(struct env *e, void *arg)
{
	struct faults *x = arg;
	struct cp_rcluster rc;
	uint64_t t = 0;
	long best = -1;
	unsigned int from = CP_RCL_NONE;

	/* under way: every master has some signals in its stream */
	for (int64_t end = now_ns() + 60000000000; now_ns() < end;) {
		uint64_t low = UINT64_MAX;
		for (int k = x->base + 1; k <= x->base + x->m; k++) {
			uint64_t l = master_last(x->c, (uint64_t)k);
			low = l < low ? l : low;
		}
		if (low >= (uint64_t)e->nsignals / 10)
			break;
		usleep(50000);
	}
	if (test_map(x->c, &rc) != 0) {
		CHECK(0, "faults: the slot map");
		return;
	}
	/* redis-cli moves the source's lowest slots: the master with the fewest slots of its
	 * primary at or below its own, so that the reshard is short */
	for (int k = x->base + 1; k <= x->base + x->m; k++) {
		char key[64];
		snprintf(key, sizeof(key), "decp:{m%d}:signals", k);
		uint16_t slot = cp_rcl_key_slot(key, strlen(key));
		unsigned int node = rc.map.slot[slot];
		long n = 0;
		for (unsigned int s = 0; s <= slot; s++)
			n += rc.map.slot[s] == node;
		if (best < 0 || n < best) {
			best = n;
			t = (uint64_t)k;
			from = node;
		}
	}
	unsigned int to = (from + 1) % rc.map.n;
	char id_from[64] = "", id_to[64] = "", seed[32], nslots[24], log[600];
	for (int i = 0; i < 2; i++) {
		unsigned int k = i == 0 ? from : to;
		redisReply *y = redisCommand(rc.ctx[k], "CLUSTER MYID");
		if (y != NULL && y->type == REDIS_REPLY_STRING)
			snprintf(i == 0 ? id_from : id_to, 64, "%s", y->str);
		freeReplyObject(y);
	}
	snprintf(seed, sizeof(seed), "127.0.0.1:%u", rc.map.node[from].port);
	snprintf(nslots, sizeof(nslots), "%ld", best + 50);
	snprintf(log, sizeof(log), "%s/reshard.log", e->dir);
	cp_rcluster_close(&rc);
	int was = master_node(x->c, t);
	char *argv[] = {"redis-cli", "--cluster", "reshard", seed, "--cluster-from", id_from,
			"--cluster-to", id_to, "--cluster-slots", nslots, "--cluster-yes",
			"--cluster-pipeline", "1", NULL};
	uint64_t at = master_last(x->c, t);
	pid_t p = harness_spawn(log, argv);
	int rrc = p > 0 ? harness_wait_exit(p, 300000) : -1;
	uint64_t after = master_last(x->c, t);
	CHECK(rrc == 0, "faults: redis-cli --cluster reshard exit %d (%s)", rrc, log);
	int now_at = master_node(x->c, t);
	CHECK(now_at >= 0 && now_at != was, "faults: master %" PRIu64 "'s slot moved (node %d -> "
	      "%d) while it streamed (%" PRIu64 " -> %" PRIu64 ")", t, was, now_at, at, after);
	CHECK(after < (uint64_t)e->nsignals, "faults: master %" PRIu64 " still streaming after the "
	      "reshard (%" PRIu64 " of %d)", t, after, e->nsignals);
	x->resharded = t;
	/* the primary of another master, while it streams */
	uint64_t u = t == (uint64_t)x->base + 1 ? t + 1 : (uint64_t)x->base + 1;
	x->killed = master_node(x->c, u);
	uint64_t before = master_last(x->c, u);
	bool live[64] = {false};
	int nlive = 0;
	for (int k = 1; k <= x->m && k <= 64; k++)
		nlive += live[k - 1] = master_node(x->c, (uint64_t)(x->base + k)) != x->killed;
	CHECK(x->killed >= 0 && harness_rcluster_kill(x->c, x->killed) == 0,
	      "faults: kill -9 of node %d (master %" PRIu64 "'s primary, at %" PRIu64 ")", x->killed,
	      u, before);
	/* from 150 ms after the kill (what was delivered before it is flushed to the log by
	 * then: the subscriber flushes every 100 ms) to 1.8 s after it; the subscribers cut a
	 * connection every 50 ms (drop_ms), so from 0.9 s most of them have reconnected at
	 * least once since the kill and get what they missed by replay */
	int64_t tk = now_ns();
	long *a = calloc((size_t)e->nsubs, sizeof(*a)), *b = calloc((size_t)e->nsubs, sizeof(*b));
	while (now_ns() < tk + 150000000)
		usleep(10000);
	long d0 = delivered_of(e, x, live, NULL), d1 = d0;
	while (now_ns() < tk + 900000000)
		usleep(10000);
	delivered_of(e, x, live, a);
	int subs = 0, moved = 0;
	while (a != NULL && b != NULL && now_ns() < tk + 1800000000) {
		usleep(50000);
		d1 = delivered_of(e, x, live, b);
		subs = moved = 0;
		for (int i = 0; i < e->nsubs; i++) {
			subs += a[i] >= 0;
			moved += a[i] >= 0 && b[i] > a[i];
		}
		if (moved == subs && d1 >= d0 + 500)
			break;
	}
	free(a);
	free(b);
	fprintf(stderr, "faults: the %d masters of the live primaries: %ld deliveries from 0.15 "
		"to %.2f s after the kill; %d of their %d subscribers got more after 0.9 s\n",
		nlive, d1 - d0, (double)(now_ns() - tk) / 1e9, moved, subs);
	CHECK(nlive > 0 && d1 >= d0 + 500, "faults: the masters of the live primaries reached their "
	      "subscribers while node %d was dead, before the cluster could mark it failed (%ld "
	      "deliveries 0.15-1.8 s after the kill, want >= 500)", x->killed, d1 - d0);
	CHECK(subs > 0 && moved == subs, "faults: every subscriber of those masters, reconnecting "
	      "every ~1.2 s, caught up by replay and got more from 0.9 to 1.8 s after the kill "
	      "(%d of %d)", moved, subs);
	/* promoted: the map of the live nodes serves u's slot from another node (until then
	 * the live nodes may still say cluster_state:ok: the failure is not detected yet) */
	int ok = -1, now_u = -1;
	for (int64_t end = now_ns() + 60000000000; ok != 0 && now_ns() < end;) {
		now_u = master_node(x->c, u);
		if (now_u >= 0 && now_u != x->killed)
			ok = harness_rcluster_wait_ok(x->c, 60000);
		else
			usleep(100000);
	}
	CHECK(ok == 0, "faults: the cluster promoted node %d's replica (node %d serves master %"
	      PRIu64 ")", x->killed, now_u, u);
	/* durability = replica: the promoted primary ACKs again once it has a replica: the
	 * killed node comes back as one */
	CHECK(harness_rcluster_restart(x->c, x->killed) == 0 &&
	      harness_rcluster_wait_synced(x->c, 120000) == 0,
	      "faults: node %d back as a replica", x->killed);
	fprintf(stderr, "faults: master %" PRIu64 "'s slot and %s more moved, node %d killed at "
		"master %" PRIu64 "'s %" PRIu64 ", promoted: %s\n", t, nslots, x->killed, u, before,
		ok == 0 ? "yes" : "no");
}

/*
 * ctail_faults (issue 23 item 1): the standalone fan-out on a Redis Cluster while a live
 * master's slot moves (redis-cli --cluster reshard) and then a primary is killed -9
 * (durability = replica: the edge ACKs nothing the replica lacks): every subscriber gets
 * every signal once, in order; the tail rebuilt its subscriptions.
 */
static void scenario_ctail_faults(struct env *e)
{
	struct faults x = {.m = e->nmasters, .tag = "faults"};
	struct phase_res r;
	char redis[600];

	x.c = harness_rcluster_start(NULL);
	CHECK(x.c != NULL, "Redis Cluster started");
	if (x.c == NULL)
		return;
	CHECK(masters_spread(x.c, 0, x.m) == 3, "the masters are on all three primaries (%d)",
	      masters_spread(x.c, 0, x.m));
	snprintf(redis, sizeof(redis), "redis_nodes = %s\n", harness_rcluster_seeds(x.c));
	const char *rate = getenv("DECP_CTAIL_RATE") ? getenv("DECP_CTAIL_RATE") : "1000";
	ctail_phase(e, "faults", redis, "durability = replica\n", 0, x.m, rate, "50", &r, ctail_inject,
		    &x);
	double rebuilds = ctail_count(e, "faults", " rebuilds=");
	CHECK(rebuilds >= 3, "faults: the tail rebuilt its subscriptions after the moves (%.0f)",
	      rebuilds);
	phase_print("cluster with reshard and kill -9:", &r);
	fprintf(stderr, "faults: the tail found %.0f entries by its sweep, rebuilt its "
		"subscriptions %.0f times\n", ctail_count(e, "faults", " swept="), rebuilds);
	harness_rcluster_destroy(x.c);
}

/* A count after PostgreSQL came back: the test's own session reconnects once. */
static long long pg_count_again(struct env *e, const char *q)
{
	long long n = pg_count(e, q);

	if (n < 0 && PQstatus(e->db) != CONNECTION_OK) {
		PQreset(e->db);
		n = pg_count(e, q);
	}
	return n;
}

/*
 * Issue 18 item 5: subscriber reports are durable before they are acknowledged. The
 * pipeline (edge, fanout, archiver) with subscribers reporting every execution and cut
 * every 300 ms (so reports are resent after reconnects); PostgreSQL is stopped for 10 s
 * while they report. Afterwards every report is archived exactly once: one EXECUTE inbox
 * row per (subscription, sequence) executed, none twice, one subscriber_reports row each.
 */
static void scenario_reports_pgdown(struct env *e)
{
	char mport[48], nm[16], ns[16], timeout[16], q[512];
	const long long want = (long long)e->nsubs * e->nsignals;
	long long have = 0, distinct = 0, ids = 0;
	pid_t sub, master;
	int dp_port, rc;

	snprintf(timeout, sizeof(timeout), "%d", 180);
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	{
		const char *x[] = {"--subs", group_file(e, "main", 1, e->nsubs), "--expect",
				   expect_arg(e), "--timeout", timeout, "--report-exec",
				   "--drop-ms", "300", NULL};

		sub = start_subscriber(e, "subs", x);
	}
	wait_subscribed(e, "subs", e->nsubs);
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(nm, sizeof(nm), "%d", e->nmasters);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	{
		char out[512];
		/* ~20 s of signals: the outage falls in the middle of the reporting */
		char rate[16];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				nm, (char *)"--signals", ns, (char *)"--threads", (char *)"1",
				(char *)"--rate", rate, (char *)"--time-limit-s", timeout, NULL};

		snprintf(rate, sizeof(rate), "%d", e->nmasters * e->nsignals / 20 + 1);
		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		master = spawn(argv, out);
	}
	/* reports are flowing into PostgreSQL before it goes */
	for (int t = 0; t < 600 && pg_count(e, "SELECT count(*) FROM subscriber_reports") <= 0; t++)
		usleep(50000);
	CHECK(pg_count(e, "SELECT count(*) FROM subscriber_reports") > 0,
	      "reports archived before the outage");
	CHECK(harness_pg_stop(e->pg) == 0, "PostgreSQL stopped");
	sleep(10); /* the outage itself (the scenario), not a wait for a condition */
	CHECK(harness_pg_restart(e->pg) == 0, "PostgreSQL restarted after 10 s");
	rc = harness_wait_exit(master, 180000);
	CHECK(rc == 0, "decp-master: every signal ACKed (exit %d)", rc);
	rc = harness_wait_exit(sub, 180000);
	CHECK(rc == 0, "decp-subscriber finished (exit %d)", rc);
	CHECK(check_log(e, "subs", 0, e->nsubs) == e->nsubs, "every signal executed once");
	CHECK(sub_reconnects(e) >= 5, "connections were cut during the run (%lu reconnects)",
	      sub_reconnects(e));
	for (int t = 0; t < 1200 && (ids = pg_count_again(e, "SELECT count(*) FROM "
							   "subscriber_reports")) < want; t++)
		usleep(100000);
	have = pg_count_again(e, "SELECT count(*) FROM trust_inbox WHERE event = 'EXECUTE'");
	distinct = pg_count_again(e, "SELECT count(DISTINCT (subscription_id, sequence)) FROM "
				  "trust_inbox WHERE event = 'EXECUTE'");
	CHECK(ids == want && have == want && distinct == want,
	      "every report archived exactly once after a 10 s outage: %lld report ids, %lld "
	      "EXECUTE rows, %lld distinct, want %lld", ids, have, distinct, want);
	/* decp-master's synthetic trades: BUY, MODIFY, CLOSE_PARTIAL, CLOSE per 4 sequences;
	 * all but MODIFY carry money (FILLED, CLOSED) */
	{
		long long money = 0, off;

		for (int k = 1; k <= e->nsignals; k++)
			money += (k - 1) % 4 != 1;
		money *= e->nsubs;
		snprintf(q, sizeof(q), "SELECT count(*) FROM execution_pnl");
		off = pg_count_again(e, "SELECT count(*) FROM subscriptions s WHERE s.profit_exact"
				     " <> (SELECT coalesce(sum(realized_profit), 0) FROM execution_pnl"
				     " p WHERE p.subscription_id = s.id)");
		/* the profit by hand from the trade table (tools/decp-master-trades.c, synthetic):
		 * trade i: symbol i/4 % 6 at base + i % 97; BUY 0.10, CLOSE_PARTIAL 0.05, CLOSE
		 * the rest, copied 1:1 into a USD account; profit (1e-4 USD) of a close at p =
		 * (p - open) * volume * contract / 1000 for a USD quote, and / (p / 1e5) for
		 * USDJPY and USDCHF (tools/subscriber/sub_account.h) */
		static const int64_t base[6] = {108120, 126510, 15012300, 203450000, 65430, 88210};
		static const int64_t contract[6] = {100000, 100000, 100000, 100, 100000, 100000};
		static const bool usd_base[6] = {false, false, true, false, false, true};
		int64_t want_profit = 0;

		for (int i = 0; i + 3 < e->nsignals; i += 4) {
			int sy = i / 4 % 6;
			int64_t open = base[sy] + i % 97;

			/* each close rounded half away from zero to 1e-4 */
			for (int c = 2; c <= 3; c++) {
				int64_t p = base[sy] + (i + c) % 97;
				int64_t v = (p - open) * 5 * contract[sy];
				int64_t d = 1000;

				if (usd_base[sy]) {
					v *= 10000;
					d = 100 * p;
				}
				want_profit += v >= 0 ? (v + d / 2) / d : -((-v + d / 2) / d);
			}
		}
		snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE id <= %d AND "
			 "profit_exact * 10000 <> %" PRId64, e->nsubs, want_profit);
		CHECK(pg_count_again(e, q) == 0, "every subscription's profit is the hand-computed "
		      "%" PRId64 " (1e-4)", want_profit);
		if (pg_count_again(e, q) != 0) {
			PGresult *r = PQexec(e->db, "SELECT id, master_id, profit_exact FROM "
					     "subscriptions ORDER BY id");

			for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
				fprintf(stderr, "  subscription %s master %s profit %s\n",
					PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
			PQclear(r);
		}
		snprintf(q, sizeof(q), "SELECT count(*) FROM execution_pnl");
		CHECK(pg_count_again(e, q) == money && off == 0 &&
		      pg_count_again(e, "SELECT count(*) FROM execution_pnl WHERE status = 'CLOSED'"
				     " AND realized_profit <> 0") > 0,
		      "profit recorded once per money report (%lld, want %lld), closes realize "
		      "profit, each subscription's profit their sum (off %lld)", pg_count_again(e, q),
		      money, off);
	}
	{
		char line[256] = "";

		snprintf(q, sizeof(q), "%s/subs.err", e->dir);
		if (harness_wait_line(q, "reports acknowledged", line, sizeof(line), 0, 1000) == 0)
			fprintf(stderr, "reports_pgdown: decp-subscriber: reports acknowledged%s\n",
				line);
	}
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
}

/* Trust state of subscription `sub`: score, incidents, state ("" on error). */
static void trust_of(struct env *e, int sub, long long *score, long long *incidents, char *state,
		     size_t cap)
{
	char q[256];
	PGresult *r;

	snprintf(q, sizeof(q), "SELECT s.trust_score, coalesce(x.incidents, 0), s.state FROM "
		 "subscriptions s LEFT JOIN subscription_trust x ON x.subscription_id = s.id "
		 "WHERE s.id = %d", sub);
	r = PQexec(e->db, q);
	*score = *incidents = -1;
	snprintf(state, cap, "%s", "");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*score = atoll(PQgetvalue(r, 0, 0));
		*incidents = atoll(PQgetvalue(r, 0, 1));
		snprintf(state, cap, "%s", PQgetvalue(r, 0, 2));
	}
	PQclear(r);
}

/* Every inbox row scored (bounded). */
static bool inbox_drained(struct env *e)
{
	for (int t = 0; t < 600; t++) {
		if (pg_count(e, "SELECT count(*) FROM trust_inbox") == 0)
			return true;
		usleep(100000);
	}
	return false;
}

/*
 * Issue 18 acceptance: the platform's lag is never the honest subscriber's. The real
 * pipeline (edge, fanout, archiver, trust) and one master at 40 signals/s:
 *   subscribers 1-3 honest (TTL 1.5 s), 4 honest and paused by an operator for a while then
 *   resumed, 5 a liar (clock 5 s off, claims every TTL_EXPIRED as the platform's).
 *   decp-control is stopped with SIGSTOP for 2 s, twice: with a 128-message queue the
 *   backlog reaches the subscribers live and late (trust_lag); with 32 and 4 KiB socket
 *   buffers it cuts them as slow consumers, and they reconnect and are replayed history
 *   (trust_lag_cut).
 * Then: no signal refused as stale was executed; no incident was scored against 1-4 and
 * they stay SYNCED; every EXECUTE credited at most once per envelope, and subscriber 1
 * (started at 60) ends at min(100, 60 + its credited executions); the liar is scored.
 * Finally decp-control restarts with the trust clock 25 h ahead (trust_time_offset_s: the
 * role's simulated time; the envelopes' own ages are real): the quiet-period credit runs,
 * 1-4 stay SYNCED with no incident.
 */
static void scenario_trust_lag(struct env *e, bool cut_them)
{
	char mport[48], ns[16], q[640], state[32], rate[16];
	pid_t honest, paused, liar, master;
	long long score, inc, credited, cut;
	int dp_port, rc;

	if (e->nsubs != 5 || e->nmasters != 1) {
		CHECK(0, "trust_lag needs 5 subscribers and 1 master");
		return;
	}
	e->roles = "edge,fanout,archiver,trust";
	/* 128 messages take the backlog of the stalls (late live sends); 32 do not, every
	 * stall cuts the subscribers as slow consumers (replays) */
	e->conf = cut_them ? "fanout_queue = 32\nfanout_sndbuf = 4096\ntrust_tick_s = 1\n"
			   : "fanout_queue = 128\nfanout_sndbuf = 4096\ntrust_tick_s = 1\n";
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	CHECK(sql(e->db, "UPDATE subscriptions SET trust_score = 60 WHERE id = 1") == 0,
	      "subscriber 1 starts at 60");
	{
		/* subscribers 1-3 are three in one ASan process on a shared machine: their own
		 * processing delay (the subscriber's, rightly scored) must stay out of the way.
		 * cut_them: they replay history in bursts after every cut, a TTL of 3 s; else
		 * 1.5 s, which still refuses the first ~0.5 s of each 2 s stall's backlog as
		 * late sends (a clean-clone CI once saw 1 s exceeded by the process itself: 2
		 * TTL_EXPIRED SUBSCRIBER each for 1-3 together, none for 4); 4 keeps 1 s */
		const char *xh[] = {"--subs", group_file(e, "honest", 1, 3), "--expect", expect_arg(e),
				    "--timeout", "240", "--report-exec", "--ttl-ms",
				    cut_them ? "3000" : "1500", NULL};
		const char *xp[] = {"--subs", group_file(e, "paused", 4, 1), "--expect", expect_arg(e),
				    "--timeout", "240", "--report-exec", "--ttl-ms", "1000", NULL};
		const char *xl[] = {"--subs", group_file(e, "liar", 5, 1), "--expect", expect_arg(e),
				    "--timeout", "240", "--report-exec", "--ttl-ms", "1000",
				    "--skew-ms", "5000", "--no-time-sync", "--claim-platform", NULL};

		honest = start_subscriber(e, "honest", xh);
		paused = start_subscriber(e, "paused", xp);
		liar = start_subscriber(e, "liar", xl);
	}
	wait_subscribed(e, "honest", 3);
	wait_subscribed(e, "paused", 1);
	wait_subscribed(e, "liar", 1);
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	snprintf(rate, sizeof(rate), "%d", 40);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				(char *)"1", (char *)"--signals", ns, (char *)"--threads", (char *)"1",
				(char *)"--rate", rate, (char *)"--time-limit-s", (char *)"240", NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		master = spawn(argv, out);
	}
	usleep(2500000);
	/* the fan-out (with the whole of decp-control) stalls for 2 s, twice: a backlog of
	 * ~80 envelopes, older than the TTL when it goes out */
	for (int k = 0; k < 2; k++) {
		kill(e->fanout, SIGSTOP);
		usleep(2000000);
		kill(e->fanout, SIGCONT);
		usleep(3000000);
	}
	/* an operator pauses subscription 4 for a while; resumed, it is replayed history */
	CHECK(sql(e->db, "UPDATE subscriptions SET state = 'SUSPENDED_ADMIN' WHERE id = 4") == 0,
	      "subscription 4 paused");
	usleep(2000000);
	CHECK(sql(e->db, "UPDATE subscriptions SET state = 'SYNCED' WHERE id = 4") == 0,
	      "subscription 4 resumed");
	rc = harness_wait_exit(master, 240000);
	CHECK(rc == 0, "decp-master: every signal ACKed (exit %d)", rc);
	CHECK(harness_wait_exit(honest, 240000) == 0, "honest subscribers finished");
	CHECK(harness_wait_exit(paused, 240000) == 0, "paused subscriber finished");
	/* the liar is paused by its score long before the end: it waits for nothing more */
	kill(liar, SIGTERM);
	harness_wait_exit(liar, 20000);
	/* every report archived (the subscribers exit only once all were acknowledged, i.e.
	 * are in Redis) and scored: the stored counts stop moving with an empty inbox */
	{
		long long prev = -1, n = 0;

		for (int t = 0; t < 120; t++, prev = n) {
			n = pg_count(e, "SELECT (SELECT count(*) FROM protection_logs) + (SELECT "
				     "count(*) FROM execution_reports) + (SELECT count(*) FROM "
				     "trust_inbox)");
			if (n == prev && pg_count(e, "SELECT count(*) FROM trust_inbox") == 0)
				break;
			usleep(1000000);
		}
		CHECK(n == prev && inbox_drained(e), "every report archived and scored");
	}

	cut = 0;
	{
		const char *tags[] = {"honest", "paused"};

		for (int g = 0; g < 2; g++) {
			char p[600];
			FILE *f;

			snprintf(p, sizeof(p), "%s/%s.log", e->dir, tags[g]);
			f = fopen(p, "r");
			for (char line[256]; f != NULL && fgets(line, sizeof(line), f) != NULL;)
				cut += strstr(line, "close-code 4008") != NULL;
			if (f != NULL)
				fclose(f);
		}
	}
	fprintf(stderr, "trust_lag: honest connections cut as slow consumers: %lld; TTL_EXPIRED "
		"of 1-4: late send %lld, replay %lld, subscriber %lld\n", cut,
		pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id <= 4 AND "
			 "reason = 'TTL_EXPIRED' AND attribution = 'PLATFORM_LATE_SEND'"),
		pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id <= 4 AND "
			 "reason = 'TTL_EXPIRED' AND attribution = 'PLATFORM_REPLAY'"),
		pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id <= 4 AND "
			 "reason = 'TTL_EXPIRED' AND attribution NOT LIKE 'PLATFORM%'"));
	if (cut_them)
		CHECK(cut > 0, "the stalls cut subscribers as slow consumers (%lld)", cut);
	else
		CHECK(pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id <= 4 "
			       "AND reason = 'TTL_EXPIRED' AND attribution = 'PLATFORM_LATE_SEND'") > 0,
		      "the stalls made live envelopes reach subscribers 1-4 late (refused)");
	CHECK(pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 4 AND "
		       "reason = 'TTL_EXPIRED' AND attribution = 'PLATFORM_REPLAY'") > 0,
	      "the resumed subscription was replayed stale history (refused)");
	/* no stale signal executed: no EXECUTE of a sequence the same subscriber refused as
	 * stale */
	CHECK(pg_count(e, "SELECT count(*) FROM protection_logs p JOIN execution_reports x ON "
		       "x.subscription_id = p.subscription_id AND x.sequence = p.sequence WHERE "
		       "p.reason = 'TTL_EXPIRED'") == 0, "no signal refused as stale was executed");
	{
		PGresult *r = PQexec(e->db, "SELECT subscriber_id, reason, coalesce(attribution, '-'),"
				     " count(*) FROM protection_logs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");

		for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
			fprintf(stderr, "trust_lag: subscriber %s %s %s: %s\n", PQgetvalue(r, i, 0),
				PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		PQclear(r);
	}
	for (int s = 1; s <= 4; s++) {
		trust_of(e, s, &score, &inc, state, sizeof(state));
		CHECK(inc == 0 && strcmp(state, "SYNCED") == 0 && score >= (s == 1 ? 60 : 100),
		      "honest subscriber %d: no incident scored (%lld), SYNCED (%s), trust %lld", s,
		      inc, state, score);
	}
	/* +1 exactly once per really delivered envelope */
	CHECK(pg_count(e, "SELECT count(*) FROM (SELECT subscription_id, sequence FROM "
		       "execution_reports WHERE credited GROUP BY 1, 2 HAVING count(*) > 1) d") == 0,
	      "no envelope credited twice");
	CHECK(pg_count(e, "SELECT count(*) FROM execution_reports x WHERE credited AND NOT EXISTS"
		       " (SELECT 1 FROM trust_deliveries d WHERE d.subscription_id = "
		       "x.subscription_id AND d.live AND x.sequence BETWEEN d.first_sequence AND "
		       "d.last_sequence)") == 0, "only envelopes delivered live credited");
	credited = pg_count(e, "SELECT count(*) FROM execution_reports WHERE subscription_id = 1 "
			    "AND credited");
	trust_of(e, 1, &score, &inc, state, sizeof(state));
	CHECK(credited > 0 && score == (60 + credited > 100 ? 100 : 60 + credited),
	      "subscriber 1: +1 per credited execution (60 + %lld -> %lld)", credited, score);
	/* the liar's false platform claims are scored */
	trust_of(e, 5, &score, &inc, state, sizeof(state));
	CHECK(pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 5 AND "
		       "attribution = 'PLATFORM_LATE_SEND'") > 0 && inc > 0 && score < 100,
	      "false platform claims scored: liar trust %lld, incidents %lld, %s", score, inc, state);
	long long liar_score = score;

	/* 25 simulated hours later (the trust role's clock) */
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
	{
		char cfg[512], out[512];
		FILE *f;

		snprintf(cfg, sizeof(cfg), "%s/control.conf", e->dir);
		f = fopen(cfg, "a");
		if (f != NULL) {
			fputs("trust_time_offset_s = 90000\n", f);
			fclose(f);
		}
		snprintf(out, sizeof(out), "%s/fanout2.log", e->dir);
		char *argv[] = {(char *)e->fanout_bin, (char *)"--config", cfg, NULL};

		e->fanout = spawn(argv, out);
		CHECK(harness_wait_line(out, " ready: ", NULL, 0, e->fanout, 30000) == 0,
		      "decp-control restarted with the trust clock 25 h ahead");
	}
	snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE id = 5 AND trust_score = "
		 "least(100, %lld + 10)", liar_score);
	for (int t = 0; t < 300 && pg_count(e, q) != 1; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == 1, "the quiet-period credit ran (liar +10 after 25 h)");
	for (int s = 1; s <= 4; s++) {
		trust_of(e, s, &score, &inc, state, sizeof(state));
		CHECK(inc == 0 && strcmp(state, "SYNCED") == 0 && score >= (s == 1 ? 70 : 100),
		      "after 25 h subscriber %d: no incident (%lld), SYNCED (%s), trust %lld", s, inc,
		      state, score);
	}
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
}

static void scenario_forged(struct env *e)
{
	static const char *const kinds[] = {"price", "gap", "replay", "stale", "deviation",
					    "instrument", "funds"};
	enum { NK = sizeof(kinds) / sizeof(kinds[0]) };
	char mport[48], ns[16], q[512], err[64];
	pid_t sub[NK], master;
	int dp_port;

	if (e->nsubs != NK || e->nmasters != 1) {
		CHECK(0, "forged needs %d subscribers and 1 master", NK);
		return;
	}
	e->roles = "edge,fanout,archiver,trust";
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	for (int k = 0; k < NK; k++) {
		/* TTL 5 s (the later --ttl-ms wins): the stale copy is 10 s old */
		const char *x[] = {"--subs", group_file(e, kinds[k], k + 1, 1), "--expect",
				   expect_arg(e), "--timeout", "120", "--ttl-ms", "5000",
				   "--forge-every", "9", "--forge-kind", kinds[k], NULL};

		sub[k] = start_subscriber(e, kinds[k], x);
	}
	/* connected and subscribed: forgeries are made on live envelopes */
	for (int k = 0; k < NK; k++)
		wait_subscribed(e, kinds[k], 1);
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				(char *)"1", (char *)"--signals", ns, (char *)"--rate", (char *)"200",
				(char *)"--time-limit-s", (char *)"60", NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		master = spawn(argv, out);
	}
	CHECK(harness_wait_exit(master, 60000) == 0, "decp-master: every signal ACKed");
	for (int k = 0; k < NK; k++) {
		int rc = harness_wait_exit(sub[k], 120000);

		CHECK(rc == 0, "%s: decp-subscriber finished (exit %d)", kinds[k], rc);
		CHECK(check_log(e, kinds[k], k, 1) == 1, "%s: every genuine signal once, in order",
		      kinds[k]);
	}
	for (int k = 0; k < NK; k++) {
		long long f, stored = -1, n, score, inc;

		snprintf(err, sizeof(err), "%s.err", kinds[k]);
		f = (long long)last_number(e, err, "forged copies ");
		CHECK(f >= 1, "%s: forged copies made (%lld)", kinds[k], f);
		CHECK(last_number(e, err, ", executed ") == 0, "%s: no forgery executed", kinds[k]);
		/* the fan-out's db thread stores reports in batches; the trust role scores them */
		snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id = %d",
			 k + 1);
		for (int t = 0; t < 300; t++) {
			stored = pg_count(e, q);
			if (stored >= f && pg_count(e, "SELECT count(*) FROM trust_inbox") == 0)
				break;
			usleep(100000);
		}
		CHECK(stored == f, "%s: one protection event per forged copy (%lld of %lld)",
		      kinds[k], stored, f);
		snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id = %d"
			 " AND reason <> 'INVALID_SIGNATURE'", k + 1);
		n = pg_count(e, q);
		CHECK(n == 0, "%s: every report is INVALID_SIGNATURE (%lld others)", kinds[k], n);
		snprintf(q, sizeof(q), "SELECT trust_score FROM subscriptions WHERE subscriber_id = %d",
			 k + 1);
		score = pg_count(e, q);
		snprintf(q, sizeof(q), "SELECT incidents FROM subscription_trust t JOIN subscriptions s"
			 " ON s.id = t.subscription_id WHERE s.subscriber_id = %d", k + 1);
		inc = pg_count(e, q);
		CHECK(inc == f && score == (100 - 40 * f > 0 ? 100 - 40 * f : 0),
		      "%s: %lld forgeries cost -40 each: score %lld, incidents %lld", kinds[k], f,
		      score, inc);
	}
}

/* decp-master for master 1 up to sequence `signals` (resuming after what is durable),
 * signed by the Ed25519 key of seed ed_seed (NULL: the test credentials'). Exit status. */
static int run_master(struct env *e, int dp_port, int signals, const char *ed_seed,
		      const char *log)
{
	char mport[48], ns[16], out[512];
	const char *argv[16];
	int a = 0;

	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(ns, sizeof(ns), "%d", signals);
	snprintf(out, sizeof(out), "%s/%s", e->dir, log);
	argv[a++] = e->master_bin;
	argv[a++] = "--connect";
	argv[a++] = mport;
	argv[a++] = "--masters";
	argv[a++] = "1";
	argv[a++] = "--signals";
	argv[a++] = ns;
	argv[a++] = "--rate";
	argv[a++] = "500";
	argv[a++] = "--time-limit-s";
	argv[a++] = "60";
	if (ed_seed != NULL) {
		argv[a++] = "--ed25519-seed";
		argv[a++] = ed_seed;
	}
	argv[a] = NULL;
	return harness_wait_exit(spawn((char *const *)argv, out), 90000);
}

static void scenario_keyrotate(struct env *e)
{
	const char *ctl = getenv("DECPCTL");
	char err[512], p[512], from[24], until[24], timeout[16];
	int dp_port, half = e->nsignals / 2, rc;
	pid_t subs, late;
	struct cp_testkeys evil;
	struct proto_keyann a = {.master_id = 1};
	uint8_t m[PROTO_KEYANN_MSG_LEN], sig[64];

	if (ctl == NULL || e->nmasters != 1 || e->nsubs != 3 || half < 1) {
		CHECK(0, "keyrotate needs $DECPCTL, 3 subscribers, 1 master, 2+ signals");
		return;
	}
	snprintf(timeout, sizeof(timeout), "%d", 240);
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	{
		/* --verify-cache: the memo is cleared at a rotation (its results were the old
		 * key's) */
		const char *x[] = {"--subs", group_file(e, "keys", 1, 2), "--expect", expect_arg(e),
				   "--timeout", timeout, "--verify-cache", NULL};

		subs = start_subscriber(e, "keys", x);
	}
	snprintf(p, sizeof(p), "%s/keys.err", e->dir);
	/* subscribed: the first signal of phase 1 reaches them live or by replay either way */
	rc = run_master(e, dp_port, half, NULL, "master1.log");
	CHECK(rc == 0, "phase 1: %d signals signed by the old key ACKed (exit %d)", half, rc);

	/* The forgery: an attacker who can write the database announces his own key X, and
	 * signs the announcement with X (he does not hold the master's seed). */
	CHECK(cp_testkeys_derive("evil", 1, &evil) == 0, "attacker key");
	memcpy(a.old_pub, e->mk[0].pub, 32);
	memcpy(a.new_pub, evil.ed_pub, 32);
	a.valid_from_ns = now_ns();
	a.overlap_until_ns = a.valid_from_ns + 60 * INT64_C(1000000000);
	CHECK(proto_keyann_message(&a, m) == 0 &&
	      proto_ed25519_sign(evil.ed_seed, m, sizeof(m), sig) == 0, "forged announcement");
	snprintf(from, sizeof(from), "%" PRId64, a.valid_from_ns);
	snprintf(until, sizeof(until), "%" PRId64, a.overlap_until_ns);
	{
		const char *v[] = {(const char *)evil.ed_pub, (const char *)sig, from, until};
		const int l[] = {32, 64, 0, 0}, f[] = {1, 1, 0, 0};

		CHECK(sql_params(e->db, "UPDATE masters SET ed25519_public_key_prev = "
				 "ed25519_public_key, ed25519_prev_until = now() + interval '60 s', "
				 "ed25519_public_key = $1, ed25519_announce_sig = $2, "
				 "ed25519_announce_from_ns = $3::int8, ed25519_announce_until_ns = "
				 "$4::int8 WHERE id = 1", 4, v, l, f) == 0, "forged row written");
	}
	rc = harness_wait_line(p, "key announcement REFUSED", NULL, 0, subs, 30000);
	CHECK(rc == 0, "the forged announcement reached the subscribers and was refused");
	/* The operator puts the row back (the key receivers trust) and rotates properly. */
	{
		const char *v[] = {(const char *)e->mk[0].pub};
		const int l[] = {32}, f[] = {1};

		CHECK(sql_params(e->db, "UPDATE masters SET ed25519_public_key = $1, "
				 "ed25519_public_key_prev = NULL, ed25519_prev_until = NULL, "
				 "ed25519_announce_sig = NULL, ed25519_announce_from_ns = NULL, "
				 "ed25519_announce_until_ns = NULL WHERE id = 1", 1, v, l, f) == 0,
		      "row restored");
	}
	{
		char out[512];
		const char *argv[] = {ctl, "master", "rotate-signing-key", "--id", "1",
				      "--key-seed", "rotated", "--old-key-seed", "decp-test",
				      "--overlap-s", "120", "--conninfo", harness_pg_conninfo(e->pg),
				      NULL};

		snprintf(out, sizeof(out), "%s/decpctl.log", e->dir);
		rc = harness_wait_exit(spawn((char *const *)argv, out), 30000);
		CHECK(rc == 0, "decpctl master rotate-signing-key --old-key-seed (exit %d)", rc);
	}
	rc = harness_wait_line(p, "key announcement accepted", NULL, 0, subs, 30000);
	CHECK(rc == 0, "the announcement signed by the old key was accepted");
	{
		/* a subscriber that connects during the overlap: told when it subscribes; it
		 * replays phase 1 (old key, still valid) and goes live */
		const char *x[] = {"--subs", group_file(e, "late", 3, 1), "--expect",
				   expect_arg(e), "--timeout", timeout, NULL};

		late = start_subscriber(e, "late", x);
	}
	snprintf(err, sizeof(err), "%s/late.err", e->dir);
	rc = harness_wait_line(err, "key announcement accepted", NULL, 0, late, 30000);
	CHECK(rc == 0, "a subscriber connecting during the overlap learned the new key");
	rc = run_master(e, dp_port, e->nsignals, "rotated", "master2.log");
	CHECK(rc == 0, "phase 2: signals %d..%d signed by the new key only ACKed (exit %d)",
	      half + 1, e->nsignals, rc);
	rc = harness_wait_exit(subs, 240000);
	CHECK(rc == 0, "subscribers 1-2 executed everything (exit %d)", rc);
	rc = harness_wait_exit(late, 240000);
	CHECK(rc == 0, "late subscriber executed everything (exit %d)", rc);
	CHECK(check_log(e, "keys", 0, 2) == 2, "subscribers 1-2: every signal once, in order, "
	      "across the rotation");
	CHECK(check_log(e, "late", 0, 1) == 1, "late subscriber: every signal once, in order");
	CHECK(last_number(e, "keys.err", "key announcements accepted ") == 1 &&
	      last_number(e, "keys.err", ", refused ") == 2,
	      "subscribers 1-2: 1 announcement accepted, the forged one refused by each (%lu, %lu)",
	      last_number(e, "keys.err", "key announcements accepted "),
	      last_number(e, "keys.err", ", refused "));
	/* Refusals by the subscribers only: the dataplane stores its own events there too (a
	 * login answered UNAVAILABLE while the edge is slow to confirm it, under load, is one,
	 * with no subscriber). */
	long long refused = pg_count(e, "SELECT count(*) FROM protection_logs WHERE "
				     "subscriber_id IS NOT NULL");

	CHECK(refused == 0, "no signal was refused by a subscriber (%lld)", refused);
	if (refused != 0) {
		PGresult *r = PQexec(e->db, "SELECT coalesce(subscriber_id::text, '-'), master_id, "
				     "sequence, reason FROM protection_logs ORDER BY id LIMIT 20");

		for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
			fprintf(stderr, "keyrotate: protection event: subscriber %s master %s "
				"sequence %s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
				PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		PQclear(r);
	}
}

/* ------------------------------------------- issue 28: replay range, close codes -- */

/* A raw WebSocket client speaking decp's binary protobuf (the frames by hand, so that the
 * tests can send what no library would: invalid close codes, ...). */
struct wsc {
	int fd;
	uint8_t b[65536];
	size_t have;
	int close_code; /* the server's close frame: its code (1005: none in it); 0 = none yet */
	int frames_after_close; /* frames that came after the server's close frame */
};

/* Upgrade with token tok; 0 or -1. */
static int wsc_open(struct env *e, struct wsc *c, const char *tok)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "GET /?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n", tok, e->port);
	memset(c, 0, sizeof(*c));
	c->fd = raw_connect(e, req);
	return c->fd >= 0 ? 0 : -1;
}

/* One masked client frame (mask 0x01020304). */
static int wsc_send_frame(struct wsc *c, uint8_t opcode, const uint8_t *p, size_t len)
{
	uint8_t f[16 + 1024];
	size_t h = 0;
	static const uint8_t mask[4] = {1, 2, 3, 4};

	if (len > 1024)
		return -1;
	f[h++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		f[h++] = (uint8_t)(0x80 | len);
	} else {
		f[h++] = 0x80 | 126;
		f[h++] = (uint8_t)(len >> 8);
		f[h++] = (uint8_t)len;
	}
	memcpy(f + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		f[h + i] = p[i] ^ mask[i % 4];
	return write(c->fd, f, h + len) == (ssize_t)(h + len) ? 0 : -1;
}

static int wsc_send_msg(struct wsc *c, const Decp__ClientMessage *cm)
{
	uint8_t buf[1024];
	size_t n = decp__client_message__get_packed_size(cm);

	if (n > sizeof(buf))
		return -1;
	decp__client_message__pack(cm, buf);
	return wsc_send_frame(c, 0x2, buf, n);
}

/* Subscribe{master, from, snapshot} (snapshot: re-sync by snapshot, issue 19). */
static int wsc_subscribe_opt(struct wsc *c, uint64_t master, uint64_t from, bool snapshot)
{
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__Subscribe s = DECP__SUBSCRIBE__INIT;

	s.master_id = master;
	s.from_sequence = from;
	s.snapshot = snapshot;
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
	cm.subscribe = &s;
	return wsc_send_msg(c, &cm);
}

static int wsc_subscribe(struct wsc *c, uint64_t master, uint64_t from)
{
	return wsc_subscribe_opt(c, master, from, false);
}

/* The next binary message within timeout_ms, decoded (free with
 * decp__server_message__free_unpacked). NULL on timeout, on the end of the connection or
 * on a close frame (c->close_code set; frames after it are counted). */
static Decp__ServerMessage *wsc_next(struct wsc *c, int timeout_ms)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		while (c->have >= 2) {
			size_t len = c->b[1] & 0x7f, hl = 2;
			uint8_t op = c->b[0] & 0x0f;

			if (len == 126) {
				if (c->have < 4)
					break;
				len = (size_t)c->b[2] << 8 | c->b[3];
				hl = 4;
			} else if (len == 127) {
				return NULL; /* we never receive anything that big */
			}
			if (c->have < hl + len)
				break;
			Decp__ServerMessage *m = NULL;
			if (c->close_code != 0)
				c->frames_after_close++;
			else if (op == 0x8)
				c->close_code = len >= 2 ? c->b[hl] << 8 | c->b[hl + 1] : 1005;
			else if (op == 0x2)
				m = decp__server_message__unpack(NULL, len, c->b + hl);
			memmove(c->b, c->b + hl + len, c->have - hl - len);
			c->have -= hl + len;
			if (m != NULL)
				return m;
			if (c->close_code != 0 && c->frames_after_close == 0 && op == 0x8)
				return NULL;
		}
		int64_t left = (until - now_ns()) / 1000000;
		struct pollfd p = {c->fd, POLLIN, 0};

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return NULL;
		ssize_t n = recv(c->fd, c->b + c->have, sizeof(c->b) - c->have, 0);
		if (n <= 0)
			return NULL;
		c->have += (size_t)n;
	}
}

/* Waits for the server's close frame (or the end of the connection) for up to timeout_ms,
 * then keeps reading until the server closes TCP (up to 3 s more) to count frames sent
 * after its close frame. Returns the close code, 0 when the connection ended without a
 * close frame, -1 on timeout. */
static int wsc_wait_close(struct wsc *c, int timeout_ms)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;
	Decp__ServerMessage *m;

	while (c->close_code == 0 && now_ns() < until) {
		m = wsc_next(c, 100);
		if (m != NULL) {
			decp__server_message__free_unpacked(m, NULL);
			continue;
		}
		if (c->close_code != 0)
			break;
		struct pollfd p = {c->fd, POLLIN, 0};
		char x;
		if (poll(&p, 1, 0) > 0 && recv(c->fd, &x, 1, MSG_PEEK) == 0)
			return 0;
	}
	if (c->close_code == 0)
		return -1;
	/* drain to the end of the connection: anything after the close frame is counted */
	until = now_ns() + 3000000000LL;
	while (now_ns() < until) {
		struct pollfd p = {c->fd, POLLIN, 0};

		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(c->fd, c->b + c->have, sizeof(c->b) - c->have, 0);
		if (n <= 0)
			break;
		c->have += (size_t)n;
		(void)wsc_next(c, 0);
	}
	return c->close_code;
}

static void wsc_close(struct wsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* XRANGE calls Redis has served so far (INFO commandstats, cmdstat_xrange:calls=N). */
static long redis_xrange_calls(struct env *e)
{
	redisReply *r = redisCommand(e->rc, "INFO commandstats");
	const char *t = r != NULL && r->str != NULL ? strstr(r->str, "cmdstat_xrange:calls=") : NULL;
	long n = t != NULL ? atol(t + 21) : 0;

	if (r != NULL)
		freeReplyObject(r);
	return n;
}

/* Reads messages until an Error (returns its code, *msg gets its text) or timeout (-1);
 * counts the envelopes before it in *envs and checks they are from..., in order (*next). */
static int wsc_until_error(struct wsc *c, int timeout_ms, char *msg, size_t cap, int *envs,
			   uint64_t *next, bool *sync_end)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;

	while (now_ns() < until) {
		Decp__ServerMessage *m = wsc_next(c, (int)((until - now_ns()) / 1000000) + 1);
		int code = -1;

		if (m == NULL)
			return -1;
		if (m->kind_case == DECP__SERVER_MESSAGE__KIND_ERROR) {
			code = (int)m->error->code;
			snprintf(msg, cap, "%s", m->error->message != NULL ? m->error->message : "");
		} else if (m->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE) {
			if (next != NULL && m->envelope->sequence == *next)
				(*next)++;
			(*envs)++;
		} else if (m->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END && sync_end != NULL) {
			*sync_end = true;
		}
		decp__server_message__free_unpacked(m, NULL);
		if (code >= 0)
			return code;
		if (sync_end != NULL && *sync_end)
			return 0;
	}
	return -1;
}

/*
 * Resume from before the trimmed start of a stream (issue 28, High): master 1's stream
 * holds 1..N, trimmed to its last 100. Every Subscribe{from 1} ends at once with
 * Error{CODE_RANGE, "... first_available=N-99"}, no envelope; the connection stays usable
 * (Subscribe{from first_available} replays to the end); a hole in the middle (XDEL) ends a
 * replay at the hole with first_available = the entry after it; Redis serves a bounded
 * number of XRANGE per Subscribe (INFO commandstats) and never more than
 * fanout_replay_rate (200/s here) however many subscribers hammer it; nothing is read
 * once the answers are out.
 */
/* Reads c until SyncEnd for master 1 (at most 5 s): the SnapshotBegin's sequence, 0 for
 * none; *from: the SyncStart's from_sequence. */
static uint64_t snapshot_until_sync_end(struct wsc *c, uint64_t *from)
{
	uint64_t snap = 0;
	bool end = false;

	*from = 0;
	for (Decp__ServerMessage *m; !end && (m = wsc_next(c, 5000)) != NULL;
	     decp__server_message__free_unpacked(m, NULL)) {
		if (m->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN)
			snap = m->snapshot_begin->sequence;
		else if (m->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_START)
			*from = m->sync_start->from_sequence;
		else if (m->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END)
			end = true;
	}
	return end ? snap : 0;
}

/*
 * A connection cut after its snapshot, before its ResyncDone reached the fan-out (the EA
 * reconciled and was cut while sending it, or was cut first): the subscription is
 * DEGRADED_GAP, and the EA's reconnect, milliseconds later, resumes past the snapshot
 * (from S + 1: nothing to replay, nothing stale). That Subscribe must still be answered by
 * a snapshot, whose ResyncDone puts the subscription back to SYNCED; it used to be
 * answered by the plain replay, from the authentication cache's SYNCED (the edge reached
 * it only with the state poll, up to fanout_state_poll_ms later), and the subscription
 * stayed DEGRADED_GAP for as long as that connection lived (a test of suite resync saw
 * it at the end of its run).
 */
static void range_resync_lost(struct env *e, uint64_t n)
{
	struct wsc c = {.fd = -1}, d = {.fd = -1};
	uint64_t snap, from;
	bool synced = false;
	char t0[64] = "", q[320];
	PGresult *r = PQexec(e->db, "SELECT updated_at::text FROM subscriptions WHERE id = 1");

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(t0, sizeof(t0), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (t0[0] == '\0' || wsc_open(e, &c, "tok-1") != 0) {
		CHECK(0, "resync lost: connect");
		goto out;
	}
	CHECK(wsc_subscribe_opt(&c, 1, 1, true) == 0, "resync lost: subscribe");
	snap = snapshot_until_sync_end(&c, &from);
	CHECK(snap == n && from == n + 1, "resync lost: a snapshot at %" PRIu64 " (want %" PRIu64
	      "), SyncStart{%" PRIu64 "}", snap, n, from);
	wsc_close(&c); /* no ResyncDone */
	if (wsc_open(e, &d, "tok-1") != 0) {
		CHECK(0, "resync lost: reconnect");
		goto out;
	}
	CHECK(wsc_subscribe_opt(&d, 1, n + 1, true) == 0, "resync lost: subscribe from %" PRIu64,
	      n + 1);
	snap = snapshot_until_sync_end(&d, &from);
	CHECK(snap == n && from == n + 1, "resync lost: the reconnect's Subscribe{%" PRIu64 "} of "
	      "the DEGRADED_GAP subscription is answered by a snapshot at %" PRIu64 " (got %" PRIu64
	      ", SyncStart{%" PRIu64 "})", n + 1, n, snap, from);
	{
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__ResyncDone rd = DECP__RESYNC_DONE__INIT;

		rd.master_id = 1;
		rd.sequence = n;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
		cm.resync_done = &rd;
		CHECK(wsc_send_msg(&d, &cm) == 0, "resync lost: ResyncDone sent");
		for (Decp__ServerMessage *m; !synced && (m = wsc_next(&d, 3000)) != NULL;
		     decp__server_message__free_unpacked(m, NULL))
			synced = m->kind_case == DECP__SERVER_MESSAGE__KIND_STATE_CHANGE &&
				 m->state_change->new_state ==
				 DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED;
		CHECK(synced, "resync lost: StateChange to SYNCED at the reconnect's ResyncDone");
	}
	/* both edges written (updated_at moved), in order: SYNCED last */
	snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE id = 1 AND state = "
		 "'SYNCED' AND updated_at > '%s'::timestamptz", t0);
	for (int t = 0; t < 100 && pg_count(e, q) != 1; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == 1, "resync lost: subscription 1 SYNCED again in PostgreSQL");
out:
	wsc_close(&c);
	wsc_close(&d);
}

/*
 * Re-sync by snapshot on the trimmed stream of scenario_range (master 1 holds first..N but
 * first + 50; each signal s opened ticket s): without a stored book (no book role here) the
 * snapshot cannot be built and the answer is the old Error{CODE_RANGE}; with the book of
 * 1..first+50 stored
 * as the book role stores it, the answer is the book completed from the stream to N
 * (SnapshotBegin{N, N entries}, the parts, SnapshotEnd, SyncStart{N + 1}, SyncEnd), a
 * ResyncDone for another sequence is refused, and the right one puts the subscription back
 * to SYNCED (state_reason written by subscription_resync, sql 0021).
 */
static void range_snapshot(struct env *e, uint64_t first)
{
	struct wsc a = {.fd = -1}, b = {.fd = -1};
	uint64_t n = (uint64_t)e->nsignals, seq = 0, count = 0, entries = 0, sync_from = 0;
	bool *seen = calloc(n + 1, sizeof(bool)), end = false, sync_end = false, in_order = true;
	bool degraded = false, synced = false;
	int kind_at = 0, code;
	char msg[256], q[256];
	struct cp_book book;
	int envs = 0;

	if (seen == NULL || wsc_open(e, &a, "tok-1") != 0 || wsc_open(e, &b, "tok-1") != 0) {
		CHECK(0, "range snapshot: connect");
		goto out;
	}
	CHECK(wsc_subscribe_opt(&a, 1, 1, true) == 0, "range snapshot: subscribe");
	code = wsc_until_error(&a, 5000, msg, sizeof(msg), &envs, NULL, NULL);
	CHECK(code == DECP__ERROR__CODE__CODE_RANGE && envs == 0,
	      "range snapshot: no stored book, stream trimmed: the old answer (error %d '%s')", code,
	      msg);
	cp_book_init(&book, 1);
	/* the book role's book goes past the hole the test above made (first + 50, XDEL'ed):
	 * a stream with a hole after the stored book cannot complete it (-ENODATA) */
	for (uint64_t s = 1; s <= first + 50; s++) {
		struct cp_book_signal sg = {.master_id = 1, .sequence = s, .ticket = s,
					    .order_type = s % 2 ? 1 : 2, .symbol = "EURUSD",
					    .volume = 10, .price = 108000 + (int64_t)(s % 50)};

		CHECK(cp_book_apply(&book, &sg, NULL) == 0, "range snapshot: book %" PRIu64, s);
	}
	CHECK(cp_book_store_save(e->rc, &book) == 1, "range snapshot: book stored at %" PRIu64,
	      book.seq);
	cp_book_free(&book);
	CHECK(wsc_subscribe_opt(&b, 1, 1, true) == 0, "range snapshot: subscribe again");
	for (Decp__ServerMessage *m; !sync_end && (m = wsc_next(&b, 5000)) != NULL;
	     decp__server_message__free_unpacked(m, NULL)) {
		switch (m->kind_case) {
		case DECP__SERVER_MESSAGE__KIND_STATE_CHANGE: /* before the snapshot */
			degraded = kind_at == 0 && m->state_change->old_state ==
				   DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED &&
				   m->state_change->new_state ==
				   DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP &&
				   m->state_change->cause == DECP__STATE_CHANGE__CAUSE__CAUSE_SEQUENCE_GAP;
			break;
		case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN:
			in_order &= kind_at == 0;
			kind_at = 1;
			seq = m->snapshot_begin->sequence;
			count = m->snapshot_begin->count;
			break;
		case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART:
			in_order &= kind_at == 1 && m->snapshot_part->n_entries <= 8;
			for (size_t i = 0; i < m->snapshot_part->n_entries; i++) {
				uint64_t t = m->snapshot_part->entries[i]->ticket;

				if (t >= 1 && t <= n && !seen[t]) {
					seen[t] = true;
					entries++;
				}
			}
			break;
		case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END:
			in_order &= kind_at == 1 && m->snapshot_end->count == count;
			kind_at = 2;
			end = true;
			break;
		case DECP__SERVER_MESSAGE__KIND_SYNC_START:
			in_order &= kind_at == 2;
			sync_from = m->sync_start->from_sequence;
			break;
		case DECP__SERVER_MESSAGE__KIND_SYNC_END:
			sync_end = true;
			break;
		case DECP__SERVER_MESSAGE__KIND_ENVELOPE:
			in_order = false; /* nothing after N was published */
			break;
		default:
			break;
		}
	}
	CHECK(end && in_order && seq == n && count == n && entries == n,
	      "range snapshot: SnapshotBegin{%" PRIu64 "}, %" PRIu64 " distinct entries of %" PRIu64
	      " (want %" PRIu64 "), SnapshotEnd, in order: %d", seq, entries, count, n, in_order);
	CHECK(sync_end && sync_from == n + 1, "range snapshot: then SyncStart{%" PRIu64 "} and "
	      "SyncEnd (%d)", sync_from, sync_end);
	CHECK(degraded, "range snapshot: StateChange SYNCED -> DEGRADED_GAP (SEQUENCE_GAP) before "
	      "the snapshot");
	{
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__ResyncDone d = DECP__RESYNC_DONE__INIT;

		d.master_id = 1;
		d.sequence = n - 1;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
		cm.resync_done = &d;
		CHECK(wsc_send_msg(&b, &cm) == 0, "range snapshot: ResyncDone sent");
		code = wsc_until_error(&b, 5000, msg, sizeof(msg), &envs, NULL, NULL);
		CHECK(code == DECP__ERROR__CODE__CODE_PROTOCOL, "range snapshot: ResyncDone for "
		      "another sequence refused (error %d '%s')", code, msg);
		d.sequence = n;
		CHECK(wsc_send_msg(&b, &cm) == 0, "range snapshot: ResyncDone sent");
		for (Decp__ServerMessage *m; !synced && (m = wsc_next(&b, 3000)) != NULL;
		     decp__server_message__free_unpacked(m, NULL))
			synced = m->kind_case == DECP__SERVER_MESSAGE__KIND_STATE_CHANGE &&
				 m->state_change->old_state ==
				 DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP &&
				 m->state_change->new_state ==
				 DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED &&
				 m->state_change->cause ==
				 DECP__STATE_CHANGE__CAUSE__CAUSE_SYNC_COMPLETED;
		CHECK(synced, "range snapshot: StateChange DEGRADED_GAP -> SYNCED (SYNC_COMPLETED) "
		      "at the ResyncDone");
	}
	snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE id = 1 AND state = "
		 "'SYNCED' AND state_reason = 're-sync done at sequence %" PRIu64 "'", n);
	for (int t = 0; t < 100 && pg_count(e, q) != 1; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == 1, "range snapshot: subscription 1 DEGRADED_GAP at the snapshot, "
	      "SYNCED at its ResyncDone");
	range_resync_lost(e, n);
out:
	free(seen);
	wsc_close(&a);
	wsc_close(&b);
}

/* A standalone fan-out starts tailing a master's stream when its first subscriber comes.
 * Once that subscriber has SyncEnd, whatever the master sends is live (the trust score
 * credits only live deliveries): the fan-out goes live only where its tail begins. It used
 * to send SyncEnd before the tail had read where the stream ended (the tail was blocked
 * in its XREAD of the other masters for up to 100 ms): what was added meanwhile reached
 * the subscriber by replay, and only with the master's next signal, however late.
 * Master 1 is watched first, so that the tail waits in XREAD when each of 2..N comes; the
 * odd ones are subscribed live only (from_sequence 0: no replay, SyncEnd at the stream's
 * end), the even ones from sequence 1. */
static void scenario_tailstart(struct env *e)
{
	enum { SIG = 5 };
	struct wsc c0, c;
	char tok[32];
	Decp__ServerMessage *m;
	bool end = false;

	c0.fd = c.fd = -1;
	if (wsc_open(e, &c0, "tok-1") != 0 || wsc_subscribe(&c0, 1, 1) != 0) {
		CHECK(0, "tailstart: subscriber of master 1");
		goto out;
	}
	while (!end && (m = wsc_next(&c0, 30000)) != NULL) {
		end = m->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END;
		decp__server_message__free_unpacked(m, NULL);
	}
	CHECK(end, "tailstart: master 1 live");
	for (int k = 2; k <= e->nmasters; k++) {
		int live = 0, replayed = 0;

		snprintf(tok, sizeof(tok), "tok-%d", k);
		end = false;
		if (wsc_open(e, &c, tok) != 0 || wsc_subscribe(&c, (uint64_t)k, k % 2 ? 0 : 1) != 0) {
			CHECK(0, "tailstart: subscriber of master %d", k);
			goto out;
		}
		while (!end && (m = wsc_next(&c, 30000)) != NULL) {
			end = m->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END;
			decp__server_message__free_unpacked(m, NULL);
		}
		CHECK(end && publish_masters(e, k, k, 1, SIG, 0) == 0,
		      "tailstart: master %d live, %d signals sent", k, SIG);
		while (live + replayed < SIG && (m = wsc_next(&c, 20000)) != NULL) {
			if (m->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE) {
				if (m->envelope->replay)
					replayed++;
				else
					live++;
			}
			decp__server_message__free_unpacked(m, NULL);
		}
		CHECK(live == SIG, "tailstart: master %d (%s): the %d signals sent after SyncEnd "
		      "arrived live: %d live, %d by replay, %d not within 20 s", k,
		      k % 2 ? "live only" : "from 1", SIG, live, replayed, SIG - live - replayed);
		wsc_close(&c);
		c.fd = -1;
	}
out:
	if (c.fd >= 0)
		wsc_close(&c);
	if (c0.fd >= 0)
		wsc_close(&c0);
}

/* decp-subscriber (no --resync) resuming from before the retained start: Error{CODE_RANGE}
 * ends its replay, and it goes on live (Subscribe{from 0}) instead of leaving the master
 * silent for good: the signals published after it executes. */
static void range_ea_goes_live(struct env *e)
{
	const char *x[] = {"--subs", group_file(e, "rangeea", 1, 1), "--timeout", "30", NULL};
	redisReply *r = redisCommand(e->rc, "XREVRANGE decp:{m1}:signals + - COUNT 1");
	long long last = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1
			 ? strtoll(r->element[0]->element[0]->str, NULL, 10) : -1;
	int executed = 0, rc;
	pid_t ea;

	if (r != NULL)
		freeReplyObject(r);
	CHECK(last > 0, "range EA: the stream's last sequence (%lld)", last);
	if (last <= 0)
		return;
	ea = start_subscriber(e, "rangeea", x);
	/* its resume from 1 refused, it subscribed again live (its log says so) */
	for (int t = 0; t < 200 && count_lines(e, "rangeea.log", " range-lost ", false) == 0; t++)
		usleep(50000);
	CHECK(count_lines(e, "rangeea.log", " range-lost ", false) >= 1,
	      "range EA: its resume was refused with CODE_RANGE");
	/* the SyncEnd of its live Subscribe (written to --orders only; wait for the
	 * fan-out to have answered: a few ms) */
	for (int t = 0; t < 400 && executed < 3; t++) {
		if (t % 20 == 0 && executed == 0)
			CHECK(publish_masters(e, 1, 1, (int)last + 1 + t / 20, (int)last + 1 + t / 20,
					      0) == 0, "range EA: publish %lld", last + 1 + t / 20);
		executed = 0;
		{
			/* execution lines: "<subscriber> <master> <sequence>" */
			char p[512], line[256];
			FILE *f;
			unsigned long long seq;
			char tail;

			snprintf(p, sizeof(p), "%s/rangeea.log", e->dir);
			f = fopen(p, "r");
			while (f != NULL && fgets(line, sizeof(line), f) != NULL)
				executed += sscanf(line, "0 1 %llu%c", &seq, &tail) == 2 &&
					    tail == '\n' && (long long)seq > last;
			if (f != NULL)
				fclose(f);
		}
		usleep(25000);
	}
	CHECK(executed >= 1, "range EA: live signals executed after the lost range (%d)",
	      executed);
	kill(ea, SIGTERM);
	rc = harness_wait_exit(ea, 20000);
	CHECK(rc == 0, "range EA: decp-subscriber exit %d", rc);
}

static void scenario_range(struct env *e)
{
	enum { NC = 5, HAMMER = 20 };
	struct wsc c[HAMMER];
	uint64_t first = (uint64_t)e->nsignals - 99;
	char need[64], msg[256];
	redisReply *r;
	long x0, x1;

	CHECK(publish_all(e, 0) == 0, "range: publish");
	r = redisCommand(e->rc, "XTRIM decp:{m1}:signals MAXLEN 100");
	CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "range: XTRIM");
	if (r != NULL)
		freeReplyObject(r);
	snprintf(need, sizeof(need), "first_available=%" PRIu64, first);
	for (int i = 0; i < HAMMER; i++)
		c[i].fd = -1;
	for (int i = 0; i < HAMMER; i++)
		if (wsc_open(e, &c[i], "tok-1") != 0) {
			CHECK(0, "range: connect %d", i);
			goto out;
		}

	/* five resumes from before the start: each answered at once, with the range */
	x0 = redis_xrange_calls(e);
	for (int i = 0; i < NC; i++) {
		int envs = 0, code;
		int64_t t0 = now_ns();

		CHECK(wsc_subscribe(&c[i], 1, 1) == 0, "range: subscribe %d", i);
		code = wsc_until_error(&c[i], 5000, msg, sizeof(msg), &envs, NULL, NULL);
		CHECK(code == DECP__ERROR__CODE__CODE_RANGE && strstr(msg, need) != NULL && envs == 0,
		      "range: Subscribe{from 1} on a trimmed stream: Error %d '%s' after %d envelopes "
		      "(expected CODE_RANGE with %s, none)", code, msg, envs, need);
		CHECK(now_ns() - t0 < 1000000000LL, "range: answered in %.3f s (< 1 s)",
		      (double)(now_ns() - t0) / 1e9);
	}
	x1 = redis_xrange_calls(e);
	CHECK(x1 - x0 <= 3 * NC, "range: %ld XRANGE for %d trimmed resumes (<= 3 each)", x1 - x0,
	      NC);
	/* no loop left behind: nothing more is read */
	usleep(1000000);
	CHECK(redis_xrange_calls(e) == x1, "range: no XRANGE after the answers (%ld more)",
	      redis_xrange_calls(e) - x1);

	/* the connection stays usable: resume from the first available sequence */
	{
		int envs = 0, code;
		uint64_t next = first;
		bool end = false;

		CHECK(wsc_subscribe(&c[0], 1, first) == 0, "range: re-subscribe");
		code = wsc_until_error(&c[0], 10000, msg, sizeof(msg), &envs, &next, &end);
		CHECK(code == 0 && end && next == (uint64_t)e->nsignals + 1 && envs == 100,
		      "range: Subscribe{from %" PRIu64 "} on the same connection: %d envelopes, next "
		      "%" PRIu64 ", SyncEnd %d (error %d '%s')", first, envs, next, end, code, msg);
	}

	/* a hole in the middle ends the replay there, with the entry after it */
	{
		int envs = 0, code;
		uint64_t next = first, hole = first + 50;
		char id[32], need2[64];
		bool end = false;

		snprintf(id, sizeof(id), "%" PRIu64 "-0", hole);
		r = redisCommand(e->rc, "XDEL decp:{m1}:signals %s", id);
		CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "range: XDEL");
		if (r != NULL)
			freeReplyObject(r);
		snprintf(need2, sizeof(need2), "first_available=%" PRIu64, hole + 1);
		CHECK(wsc_subscribe(&c[1], 1, first) == 0, "range: subscribe across the hole");
		code = wsc_until_error(&c[1], 5000, msg, sizeof(msg), &envs, &next, &end);
		CHECK(code == DECP__ERROR__CODE__CODE_RANGE && strstr(msg, need2) != NULL &&
		      next == hole && envs == 50,
		      "range: hole at %" PRIu64 ": %d envelopes up to %" PRIu64 ", then Error %d '%s' "
		      "(expected 50, CODE_RANGE with %s)", hole, envs, next - 1, code, msg, need2);
		/* and live-only still works on that connection */
		end = false;
		CHECK(wsc_subscribe(&c[1], 1, 0) == 0, "range: subscribe live only");
		code = wsc_until_error(&c[1], 5000, msg, sizeof(msg), &envs, NULL, &end);
		CHECK(code == 0 && end, "range: live-only Subscribe after a RANGE answer: SyncEnd %d "
		      "(error %d '%s')", end, code, msg);
	}

	/* twenty connections asking again and again for 2 s: Redis reads stay within
	 * fanout_replay_rate (200/s, a burst of 20) */
	{
		int64_t t0 = now_ns(), dt;
		long answers = 0, calls;

		x0 = redis_xrange_calls(e);
		while (now_ns() - t0 < 2000000000LL) {
			for (int i = 0; i < HAMMER; i++)
				(void)wsc_subscribe(&c[i], 1, 1);
			for (int i = 0; i < HAMMER; i++) {
				int envs = 0;

				if (wsc_until_error(&c[i], 3000, msg, sizeof(msg), &envs, NULL, NULL) >= 0)
					answers++;
			}
		}
		dt = now_ns() - t0;
		calls = redis_xrange_calls(e) - x0;
		fprintf(stderr, "range: %ld answers, %ld XRANGE in %.2f s (%.0f/s)\n", answers, calls,
			(double)dt / 1e9, (double)calls * 1e9 / (double)dt);
		CHECK(answers >= HAMMER, "range: every hammered Subscribe answered (%ld)", answers);
		CHECK((double)calls <= 200.0 * (double)dt / 1e9 * 1.1 + 20 + 2 * HAMMER,
		      "range: %ld XRANGE in %.2f s: within fanout_replay_rate 200/s", calls,
		      (double)dt / 1e9);
	}
	CHECK(last_number(e, "fanout.log", "range_lost ") >= NC + 1, "range: counted (range_lost %lu)",
	      last_number(e, "fanout.log", "range_lost "));
	range_snapshot(e, first);
	range_ea_goes_live(e);
out:
	for (int i = 0; i < HAMMER; i++)
		wsc_close(&c[i]);
}

/* ------------------------------------------------ issue 19 item 5: HTTP long polling -- */

/* A raw HTTP/1.1 client of the polling endpoint (docs/fanout.md "HTTP polling"): one
 * keep-alive connection, one request at a time. */
struct pc {
	int fd;
	uint8_t b[1 << 20];
	size_t have;
};

struct presp {
	int status;
	char head[2048];
	uint8_t *body;  /* malloc'd, len bytes */
	size_t len;
	uint64_t next;  /* X-Decp-Next-After */
	long envs;      /* X-Decp-Envelopes (-1: absent) */
	bool close;     /* Connection: close */
};

static int pc_open(struct env *e, struct pc *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port)};

	c->have = 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void pc_close(struct pc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void presp_free(struct presp *r)
{
	free(r->body);
	r->body = NULL;
}

/* The value of header name (with ": ") in r->head, or NULL. */
static const char *presp_header(const struct presp *r, const char *name)
{
	const char *h = strstr(r->head, name);

	return h != NULL ? h + strlen(name) : NULL;
}

/* Send a raw request. */
static int pc_send(struct pc *c, const char *req)
{
	return write(c->fd, req, strlen(req)) == (ssize_t)strlen(req) ? 0 : -1;
}

/* Read one answer within timeout_ms. 0 or -1 (timeout, connection ended, malformed). */
static int pc_read(struct pc *c, struct presp *r, int timeout_ms)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;
	uint8_t *end = NULL;
	size_t hl = 0, cl = 0;
	const char *v;

	memset(r, 0, sizeof(*r));
	r->envs = -1;
	for (;;) {
		if (end == NULL && c->have >= 4) {
			uint8_t *e2 = memmem(c->b, c->have, "\r\n\r\n", 4);

			if (e2 != NULL) {
				end = e2;
				hl = (size_t)(e2 - c->b) + 4;
				if (hl >= sizeof(r->head))
					return -1;
				memcpy(r->head, c->b, hl);
				r->head[hl] = '\0';
				if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1 ||
				    (v = presp_header(r, "Content-Length: ")) == NULL)
					return -1;
				cl = strtoul(v, NULL, 10);
			}
		}
		if (end != NULL && c->have >= hl + cl)
			break;
		int64_t left = (until - now_ns()) / 1000000;
		struct pollfd p = {c->fd, POLLIN, 0};

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t n = recv(c->fd, c->b + c->have, sizeof(c->b) - c->have, 0);
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	r->body = malloc(cl + 1);
	if (r->body == NULL)
		return -1;
	memcpy(r->body, c->b + hl, cl);
	r->len = cl;
	memmove(c->b, c->b + hl + cl, c->have - hl - cl);
	c->have -= hl + cl;
	if ((v = presp_header(r, "X-Decp-Next-After: ")) != NULL)
		r->next = strtoull(v, NULL, 10);
	if ((v = presp_header(r, "X-Decp-Envelopes: ")) != NULL)
		r->envs = strtol(v, NULL, 10);
	r->close = strstr(r->head, "Connection: close") != NULL;
	return 0;
}

/* GET target (e.g. "/v1/masters/1/signals?after=0") with token tok (NULL: none). */
static int pc_get(struct pc *c, const char *target, const char *tok, struct presp *r,
		  int timeout_ms)
{
	char req[1024];

	if (tok != NULL)
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
			 "Bearer %s\r\n\r\n", target, tok);
	else
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target);
	if (pc_send(c, req) != 0)
		return -1;
	return pc_read(c, r, timeout_ms);
}

/* The framed ServerMessages of an answer's body (4-byte big-endian length each), decoded
 * into out (up to cap). Returns their count, or -1 when the framing is broken. */
static int presp_msgs(const struct presp *r, Decp__ServerMessage **out, int cap)
{
	size_t i = 0;
	int n = 0;

	while (i < r->len) {
		uint32_t l;

		if (r->len - i < 4 || n == cap)
			return -1;
		l = (uint32_t)r->body[i] << 24 | (uint32_t)r->body[i + 1] << 16 |
		    (uint32_t)r->body[i + 2] << 8 | r->body[i + 3];
		if (r->len - i - 4 < l)
			return -1;
		out[n] = decp__server_message__unpack(NULL, l, r->body + i + 4);
		if (out[n] == NULL)
			return -1;
		n++;
		i += 4 + l;
	}
	return n;
}

static void msgs_free(Decp__ServerMessage **m, int n)
{
	for (int i = 0; i < n; i++)
		decp__server_message__free_unpacked(m[i], NULL);
}

/* An envelope's bytes without its per-connection send stamps (fanout_send_ns, replay),
 * re-encoded: two connections' copies of one envelope compare equal. malloc'd. */
static uint8_t *env_norm(Decp__Envelope *env, size_t *len)
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	int64_t ns = env->fanout_send_ns;
	protobuf_c_boolean rp = env->replay;
	uint8_t *b;

	env->fanout_send_ns = 0;
	env->replay = 0;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_ENVELOPE;
	sm.envelope = env;
	*len = decp__server_message__get_packed_size(&sm);
	b = malloc(*len);
	if (b != NULL)
		decp__server_message__pack(&sm, b);
	env->fanout_send_ns = ns;
	env->replay = rp;
	return b;
}

/* Envelopes of one master by sequence, as one client saw them (normalised bytes). */
struct seen {
	uint8_t **b;
	size_t *len;
	uint64_t n, dup, bad;
};

static void seen_add(struct seen *s, Decp__Envelope *env)
{
	if (env->sequence == 0 || env->sequence > s->n) {
		s->bad++;
		return;
	}
	if (s->b[env->sequence] != NULL) {
		s->dup++;
		return;
	}
	s->b[env->sequence] = env_norm(env, &s->len[env->sequence]);
}

static void seen_free(struct seen *s)
{
	for (uint64_t i = 0; s->b != NULL && i <= s->n; i++)
		free(s->b[i]);
	free(s->b);
	free(s->len);
}

/* One poll: the envelopes it holds go into s; *next gets X-Decp-Next-After. Returns the
 * status (-1: no answer), with the SyncEnd's sequence checked against the header. */
static int poll_once(struct pc *c, int master, const char *tok, uint64_t after, int wait_s,
		     struct seen *s, uint64_t *next, int *envs)
{
	char t[160];
	struct presp r;
	Decp__ServerMessage *m[512];
	int n, st;

	snprintf(t, sizeof(t), "/v1/masters/%d/signals?after=%" PRIu64 "&wait=%d&policy=99",
		 master, after, wait_s);
	if (pc_get(c, t, tok, &r, (wait_s + 10) * 1000) != 0) {
		presp_free(&r);
		return -1;
	}
	st = r.status;
	n = st == 200 ? presp_msgs(&r, m, 512) : 0;
	if (st == 200) {
		bool end_ok = n > 0 && m[n - 1]->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END &&
			      m[n - 1]->sync_end->last_sequence == r.next;
		int e = 0;

		for (int i = 0; i < n; i++)
			if (m[i]->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE) {
				seen_add(s, m[i]->envelope);
				e++;
			}
		bool head_ok = strstr(r.head, "Content-Type: application/x-protobuf\r\n") != NULL &&
			       strstr(r.head, "Cache-Control: no-store\r\n") != NULL &&
			       strstr(r.head, "Keep-Alive: timeout=3\r\n") != NULL;

		if (!end_ok || e != r.envs || r.close || !head_ok) {
			fprintf(stderr, "poll: answer after=%" PRIu64 ": %d messages, SyncEnd ok %d, "
				"%d envelopes (header %ld), close %d, headers ok %d:\n%s", after, n,
				end_ok, e, r.envs, r.close, head_ok, r.head);
			st = -2;
		}
		*next = r.next;
		if (envs != NULL)
			*envs = e;
		msgs_free(m, n > 0 ? n : 0);
	}
	presp_free(&r);
	return st;
}

/* One request on a new connection: its status and JSON error code (into code). */
static int poll_status(struct env *e, const char *req, char *code, size_t cap)
{
	struct pc *c = malloc(sizeof(*c));
	struct presp r;
	int st = -1;
	const char *k;

	code[0] = '\0';
	if (c == NULL || pc_open(e, c) != 0) {
		free(c);
		return -1;
	}
	if (pc_send(c, req) == 0 && pc_read(c, &r, 5000) == 0) {
		st = r.status;
		k = r.body != NULL ? strstr((const char *)r.body, "\"code\":\"") : NULL;
		if (k != NULL && r.len > 0) {
			r.body[r.len] = '\0';
			snprintf(code, cap, "%.*s", (int)strcspn(k + 8, "\""), k + 8);
		}
		if (st != 200 && (!r.close || strstr(r.head, "Content-Type: application/json\r\n") ==
				  NULL || strstr(r.head, "Cache-Control: no-store\r\n") == NULL ||
				  (st == 405 && strstr(r.head, "Allow: GET\r\n") == NULL)))
			st = -3; /* errors are JSON and close the connection (documented) */
		if (st == 200 && strstr(req, "Connection: close") != NULL && !r.close)
			st = -4; /* asked to close */
	}
	presp_free(&r);
	pc_close(c);
	free(c);
	return st;
}

/* HTTP polling over wss (TLS 1.3, the test's CA): two answers on one connection, the
 * last ten signals of master 1, then a refusal. */
static void poll_tls(struct env *e)
{
	char ca[600], req[256];
	long verify = -1;
	SSL *ssl;
	struct pc *c = calloc(1, sizeof(*c));
	int st[2] = {-1, -1}, envs[2] = {-1, -1};

	snprintf(ca, sizeof(ca), "%s/tls/ca.crt", e->dir);
	ssl = tls_open(e->port, TLS1_3_VERSION, TLS1_3_VERSION, ca, &verify);
	CHECK(ssl != NULL && verify == X509_V_OK && c != NULL, "wss poll: TLS connection");
	for (int k = 0; ssl != NULL && c != NULL && k < 2; k++) {
		struct presp r;
		Decp__ServerMessage *m[64];
		int n;

		snprintf(req, sizeof(req), "GET /v1/masters/1/signals?after=%d&policy=99 HTTP/1.1\r\n"
			 "Host: x\r\nAuthorization: Bearer tok-1\r\n\r\n",
			 k == 0 ? e->nsignals - 10 : e->nsignals - 5);
		if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
			break;
		c->fd = -1;
		c->have = 0;
		for (int i; (i = SSL_read(ssl, c->b + c->have, (int)(sizeof(c->b) - c->have))) > 0;) {
			const uint8_t *h;
			const char *cl;

			c->have += (size_t)i;
			h = memmem(c->b, c->have, "\r\n\r\n", 4);
			c->b[c->have < sizeof(c->b) ? c->have : sizeof(c->b) - 1] = 0;
			cl = strstr((const char *)c->b, "Content-Length: ");
			if (h != NULL && cl != NULL &&
			    c->have >= (size_t)(h + 4 - c->b) + strtoul(cl + 16, NULL, 10))
				break;
		}
		if (pc_read(c, &r, 0) != 0)
			break;
		st[k] = r.status;
		n = r.status == 200 ? presp_msgs(&r, m, 64) : 0;
		envs[k] = 0;
		for (int i = 0; i < n; i++)
			envs[k] += m[i]->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE;
		msgs_free(m, n > 0 ? n : 0);
		presp_free(&r);
	}
	CHECK(st[0] == 200 && envs[0] == 10 && st[1] == 200 && envs[1] == 5,
	      "wss poll: two answers on one TLS connection: %d with %d envelopes, %d with %d "
	      "(expected 200 with 10, 200 with 5)", st[0], envs[0], st[1], envs[1]);
	if (ssl != NULL)
		tls_close(ssl);
	free(c);
}

static void poll_refusals(struct env *e)
{
	static const struct {
		const char *target, *tok, *method;
		int status;
		const char *code;
	} cases[] = {
		{"/v1/masters/1/signals?after=0", "tok-x", "GET", 401, "unauthorized"},
		{"/v1/masters/1/signals?after=0", NULL, "GET", 401, "unauthorized"},
		{"/v1/masters/1/signals?after=0", "tok-5", "GET", 403, "forbidden"},
		{"/v1/masters/2/signals?after=0", "tok-1", "GET", 403, "forbidden"},
		{"/v1/masters/1/signals?after=0", "tok-6", "GET", 409, "subscription_held"},
		{"/v1/masters/1/signals", "tok-1", "GET", 400, "bad_after"},
		{"/v1/masters/1/signals?after=x", "tok-1", "GET", 400, "bad_after"},
		{"/v1/masters/1/signals?after=-1", "tok-1", "GET", 400, "bad_after"},
		{"/v1/masters/1/signals?after=1&after=2", "tok-1", "GET", 400, "bad_request"},
		{"/v1/masters/1/signals?after=0&wait=31", "tok-1", "GET", 400, "bad_wait"},
		{"/v1/masters/1/signals?after=0&wait=1x", "tok-1", "GET", 400, "bad_wait"},
		{"/v1/masters/1/signals?after=0&policy=z", "tok-1", "GET", 400, "bad_policy"},
		{"/v1/masters/one/signals?after=0", "tok-1", "GET", 400, "bad_master"},
		{"/v1/masters/0/signals?after=0", "tok-1", "GET", 400, "bad_master"},
		{"/v1/masters/1/envelopes?after=0", "tok-1", "GET", 404, "not_found"},
		{"/v1/masters/1/x/signals?after=0", "tok-1", "GET", 404, "not_found"},
		{"/v1/masters/1/signals?after=0", "tok-1", "POST", 405, "method_not_allowed"},
		{"/v1/masters/1/signals?after=999999", "tok-1", "GET", 400, "after_in_future"},
	};
	char req[512], code[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st;

		if (cases[i].tok != NULL)
			snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
				 "%s\r\n\r\n", cases[i].method, cases[i].target, cases[i].tok);
		else
			snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n",
				 cases[i].method, cases[i].target);
		st = poll_status(e, req, code, sizeof(code));
		CHECK(st == cases[i].status && strcmp(code, cases[i].code) == 0,
		      "poll: %s %s (token %s): %d '%s' (expected %d '%s', connection closed)",
		      cases[i].method, cases[i].target, cases[i].tok ? cases[i].tok : "none", st,
		      code, cases[i].status, cases[i].code);
	}
	/* the token in the query, as on the WebSocket's upgrade */
	snprintf(req, sizeof(req), "GET /v1/masters/1/signals?after=0&token=tok-1 HTTP/1.1\r\n"
		 "Host: x\r\nConnection: close\r\n\r\n");
	CHECK(poll_status(e, req, code, sizeof(code)) == 200, "poll: ?token= accepted");
	/* no Host, a body, HTTP/1.0 */
	snprintf(req, sizeof(req), "GET /v1/masters/1/signals?after=0&token=tok-1 HTTP/1.1\r\n\r\n");
	CHECK(poll_status(e, req, code, sizeof(code)) == 400 && strcmp(code, "bad_request") == 0,
	      "poll: no Host: 400 bad_request ('%s')", code);
	snprintf(req, sizeof(req), "GET /v1/masters/1/signals?after=0&token=tok-1 HTTP/1.1\r\n"
		 "Host: x\r\nContent-Length: 3\r\n\r\nabc");
	CHECK(poll_status(e, req, code, sizeof(code)) == 400 && strcmp(code, "bad_request") == 0,
	      "poll: a request body: 400 bad_request ('%s')", code);
	snprintf(req, sizeof(req), "GET /v1/masters/1/signals?after=0&token=tok-1 HTTP/1.0\r\n"
		 "Host: x\r\n\r\n");
	CHECK(poll_status(e, req, code, sizeof(code)) == 400 && strcmp(code, "bad_request") == 0,
	      "poll: HTTP/1.0: 400 bad_request ('%s')", code);
}

/* XADD signal seq of master 1 alone, as publish_span does. */
static int publish_m1(struct env *e, int seq)
{
	return publish_masters(e, 1, 1, seq, seq, 0);
}

static void scenario_poll(struct env *e)
{
	const uint64_t n = (uint64_t)e->nsignals;
	struct seen ws = {0}, pl = {0};
	struct wsc w = {.fd = -1};
	struct pc *c = calloc(1, sizeof(*c)), *held = calloc(9, sizeof(*held));
	uint64_t next = 0, same = 0;
	int envs = 0, st;
	pid_t wsub = -1, psub = -1;
	static const char *const poll_args[] = {"--subs", NULL, "--expect", NULL, "--poll",
						"--poll-wait", "5", NULL};
	const char *pa[8], *wa[5];

	ws.n = pl.n = n + 1;
	ws.b = calloc(n + 2, sizeof(*ws.b));
	ws.len = calloc(n + 2, sizeof(*ws.len));
	pl.b = calloc(n + 2, sizeof(*pl.b));
	pl.len = calloc(n + 2, sizeof(*pl.len));
	if (c == NULL || held == NULL || ws.b == NULL || ws.len == NULL || pl.b == NULL ||
	    pl.len == NULL) {
		CHECK(0, "poll: memory");
		goto out;
	}
	c->fd = -1;
	for (int i = 0; i < 9; i++)
		held[i].fd = -1;
	poll_refusals(e);
	/* decp-subscriber over the WebSocket and with --poll, the four subscriptions each:
	 * the same guard path must execute every signal once, in order, both ways */
	memcpy(pa, poll_args, sizeof(pa));
	pa[1] = subs_arg(e);
	pa[3] = expect_arg(e);
	memcpy(wa, pa, sizeof(wa) - sizeof(wa[0]));
	wa[4] = NULL;
	wsub = start_subscriber(e, "wsub", wa);
	psub = start_subscriber(e, "psub", pa);
	CHECK(wsub > 0 && psub > 0, "poll: decp-subscriber (WebSocket) and decp-subscriber --poll");

	/* the first third before anyone asks: a poller catches up from Redis (the ring is
	 * fanout_history = 64), a WebSocket subscriber replays it */
	CHECK(publish_span(e, 1, (int)n / 3, 0) == 0, "poll: publish 1..%" PRIu64, n / 3);
	CHECK(wsc_open(e, &w, "tok-1") == 0 && wsc_subscribe(&w, 1, 1) == 0,
	      "poll: WebSocket subscriber");
	CHECK(pc_open(e, c) == 0, "poll: connect");
	/* bounded by time, not by a count of polls: under load the fan-out's tail of the
	 * stream may lag the XADDs (each poll waits up to 1 s for what is new) */
	for (int64_t t_end = now_ns() + 20000000000LL; next < n / 3 && now_ns() < t_end;) {
		st = poll_once(c, 1, "tok-3", next, 1, &pl, &next, NULL);
		if (st != 200) {
			CHECK(0, "poll: catching up at %" PRIu64 ": status %d", next, st);
			break;
		}
	}
	CHECK(next == n / 3, "poll: caught up to %" PRIu64 " (next %" PRIu64 ")", n / 3, next);

	/* a poll that waits is woken by the next signal, at once */
	{
		char t[128];
		struct presp r;
		int64_t t_pub, dt;
		uint64_t s1 = n / 3 + 1;

		snprintf(t, sizeof(t), "GET /v1/masters/1/signals?after=%" PRIu64 "&wait=20&policy=99 HTTP/1.1"
			 "\r\nHost: x\r\nAuthorization: Bearer tok-3\r\n\r\n", next);
		CHECK(pc_send(c, t) == 0, "poll: waiting request sent");
		usleep(300000); /* it is parked by now (nothing is published meanwhile) */
		t_pub = now_ns();
		CHECK(publish_span(e, (int)s1, (int)s1, 0) == 0, "poll: publish %" PRIu64, s1);
		if (pc_read(c, &r, 20000) == 0) {
			Decp__ServerMessage *m[8];
			int k = r.status == 200 ? presp_msgs(&r, m, 8) : -1;

			dt = now_ns() - t_pub;
			CHECK(r.status == 200 && r.next == s1 && r.envs == 1 && k == 2 &&
			      m[0]->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE &&
			      m[0]->envelope->sequence == s1,
			      "poll: the waiting poll got %" PRIu64 " (status %d, next %" PRIu64
			      ", %ld envelopes)", s1, r.status, r.next, r.envs);
			CHECK(dt < 1000000000LL, "poll: woken %.1f ms after the publish (< 1 s, wait was "
			      "20 s)", (double)dt / 1e6);
			fprintf(stderr, "poll: woken %.2f ms after the XADD\n", (double)dt / 1e6);
			for (int i = 0; i < k; i++)
				if (m[i]->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE)
					seen_add(&pl, m[i]->envelope);
			next = r.next;
			msgs_free(m, k > 0 ? k : 0);
		} else {
			CHECK(0, "poll: no answer to the waiting poll");
		}
		presp_free(&r);
	}

	/* the rest while a poller long-polls: bursts of 20 signals, polls with wait=5 */
	for (uint64_t s = n / 3 + 2; s <= n; s += 20) {
		uint64_t last = s + 19 < n ? s + 19 : n;

		CHECK(publish_span(e, (int)s, (int)last, 0) == 0, "poll: publish %" PRIu64, s);
		for (int i = 0; i < 100 && next < last; i++) {
			st = poll_once(c, 1, "tok-3", next, 5, &pl, &next, &envs);
			if (st != 200) {
				CHECK(0, "poll: at %" PRIu64 ": status %d", next, st);
				goto compare;
			}
		}
	}
compare:
	CHECK(next == n, "poll: the poller reached %" PRIu64 " (next %" PRIu64 ") on one "
	      "keep-alive connection", n, next);
	/* the WebSocket subscriber's copy */
	for (Decp__ServerMessage *m; (m = wsc_next(&w, 5000)) != NULL;) {
		bool done;

		if (m->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE)
			seen_add(&ws, m->envelope);
		done = ws.b[n] != NULL;
		decp__server_message__free_unpacked(m, NULL);
		if (done)
			break;
	}
	for (uint64_t s = 1; s <= n; s++)
		same += ws.b[s] != NULL && pl.b[s] != NULL && ws.len[s] == pl.len[s] &&
			memcmp(ws.b[s], pl.b[s], ws.len[s]) == 0;
	CHECK(same == n && ws.dup == 0 && pl.dup == 0 && ws.bad == 0 && pl.bad == 0,
	      "poll: the poller's %" PRIu64 " envelopes equal the WebSocket's byte for byte "
	      "(send stamps aside): %" PRIu64 " of %" PRIu64 " (duplicates %" PRIu64 "/%" PRIu64
	      ")", n, same, n, ws.dup, pl.dup);

	/* both decp-subscribers executed every signal once, in order */
	{
		int rw = harness_wait_exit(wsub, 120000), rp = harness_wait_exit(psub, 120000);

		wsub = psub = -1;
		CHECK(rw == 0 && rp == 0, "poll: both decp-subscribers reached %" PRIu64 " (exit %d "
		      "WebSocket, %d --poll)", n, rw, rp);
		CHECK(check_log(e, "wsub", 0, e->nsubs) == e->nsubs, "poll: WebSocket decp-subscriber: "
		      "each of %d subscribers executed 1..%" PRIu64 " once, in order", e->nsubs, n);
		CHECK(check_log(e, "psub", 0, e->nsubs) == e->nsubs, "poll: decp-subscriber --poll: "
		      "each of %d subscribers executed 1..%" PRIu64 " once, in order", e->nsubs, n);
		pc_close(c); /* perhaps idle for longer than fanout_poll_idle_ms meanwhile */
		CHECK(pc_open(e, c) == 0, "poll: connect again");
	}

	/* an empty wait ends with an empty answer at its end, without reading Redis */
	{
		int64_t t0 = now_ns();
		uint64_t nx = 0;
		long x0 = redis_xrange_calls(e);

		st = poll_once(c, 1, "tok-3", n, 1, &pl, &nx, &envs);
		CHECK(st == 200 && envs == 0 && nx == n && now_ns() - t0 >= 900000000LL,
		      "poll: wait=1 with nothing new: 200, no envelope, next %" PRIu64 " after %.2f s",
		      nx, (double)(now_ns() - t0) / 1e9);
		CHECK(redis_xrange_calls(e) == x0, "poll: no XRANGE while waiting (%ld)",
		      redis_xrange_calls(e) - x0);
	}
	/* keep-alive: idle for fanout_poll_idle_ms (3 s here), the connection is closed */
	{
		int64_t t0 = now_ns();
		struct pollfd pf = {c->fd, POLLIN, 0};
		char x;
		ssize_t k = -2;

		while (now_ns() - t0 < 10000000000LL && k == -2)
			if (poll(&pf, 1, 100) > 0)
				k = recv(c->fd, &x, 1, 0);
		CHECK(k == 0 && now_ns() - t0 >= 2000000000LL, "poll: an idle connection closed by the "
		      "server after %.1f s (fanout_poll_idle_ms 3000)", (double)(now_ns() - t0) / 1e9);
		pc_close(c);
		CHECK(pc_open(e, c) == 0, "poll: connect again");
	}
	/* one request at a time: a second one while the first waits ends the connection */
	{
		char t[320];
		struct pc *d = calloc(1, sizeof(*d));
		struct presp r;

		snprintf(t, sizeof(t), "GET /v1/masters/1/signals?after=%" PRIu64 "&wait=20 HTTP/1.1"
			 "\r\nHost: x\r\nAuthorization: Bearer tok-3\r\n\r\nGET /v1/masters/1/"
			 "signals?after=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-3\r\n\r\n",
			 n);
		CHECK(d != NULL && pc_open(e, d) == 0 && pc_send(d, t) == 0, "poll: pipelined");
		CHECK(d != NULL && pc_read(d, &r, 5000) != 0 && d->have == 0,
		      "poll: a request sent while one waits: the connection closed, no answer");
		presp_free(&r);
		if (d != NULL)
			pc_close(d);
		free(d);
	}
	/* at most CP_POLL_MAX_ENVELOPES (200) per answer, one XRANGE for them */
	{
		long x0 = redis_xrange_calls(e);
		uint64_t nx = 0;
		struct seen s2 = {0};

		s2.n = n;
		s2.b = calloc(n + 1, sizeof(*s2.b));
		s2.len = calloc(n + 1, sizeof(*s2.len));
		st = s2.b != NULL && s2.len != NULL ? poll_once(c, 2, "tok-2", 0, 0, &s2, &nx, &envs)
						   : -1;
		CHECK(st == 200 && envs == 200 && nx == 200, "poll: after=0 on a 300-signal stream: "
		      "%d envelopes, next %" PRIu64 " (status %d; expected 200, 200)", envs, nx, st);
		CHECK(redis_xrange_calls(e) - x0 == 1, "poll: read with %ld XRANGE (1)",
		      redis_xrange_calls(e) - x0);
		seen_free(&s2);
	}

	/* pollers count against the subscriber's connection limit (8) */
	{
		char t[160];
		int refused = -1;

		pc_close(c);
		snprintf(t, sizeof(t), "GET /v1/masters/1/signals?after=%" PRIu64 "&wait=30 HTTP/1.1"
			 "\r\nHost: x\r\nAuthorization: Bearer tok-3\r\n\r\n", n);
		for (int i = 0; i < 9; i++) {
			struct presp r;

			if (pc_open(e, &held[i]) != 0 || pc_send(&held[i], t) != 0) {
				CHECK(0, "poll: held connection %d", i);
				break;
			}
			if (i == 8) {
				refused = pc_read(&held[i], &r, 5000) == 0 ? r.status : -1;
				presp_free(&r);
			} else {
				usleep(50000); /* each parked in turn */
			}
		}
		CHECK(refused == 429, "poll: the 9th polling connection of one subscriber: %d "
		      "(expected 429)", refused);
		/* they hang up while waiting: nothing is left behind (counted down, ASan at exit) */
		for (int i = 0; i < 9; i++)
			pc_close(&held[i]);
		unsigned long conns = 1;
		for (int t2 = 0; t2 < 60 && (conns = last_number(e, "fanout.log", "poll_conns ")) != 0;
		     t2++)
			usleep(100000);
		CHECK(conns == 0, "poll: no polling connection left after the hang-ups (%lu)", conns);
		CHECK(pc_open(e, c) == 0 && poll_once(c, 1, "tok-3", n, 0, &pl, &next, NULL) == 200,
		      "poll: the subscriber polls again once they are gone");
	}

	/* after=N older than the retained start: the snapshot, then what follows */
	{
		redisReply *r = redisCommand(e->rc, "XTRIM decp:{m1}:signals MAXLEN 50");
		struct cp_book book;
		struct presp pr;
		Decp__ServerMessage *m[256];
		char t[160], code[64];
		int k;

		if (r != NULL)
			freeReplyObject(r);
		snprintf(t, sizeof(t), "GET /v1/masters/1/signals?after=0 HTTP/1.1\r\nHost: x\r\n"
			 "Authorization: Bearer tok-3\r\n\r\n");
		st = poll_status(e, t, code, sizeof(code));
		CHECK(st == 410 && strcmp(code, "range_not_retained") == 0, "poll: after=0 on a "
		      "trimmed stream without a stored book: %d '%s' (expected 410 "
		      "range_not_retained)", st, code);
		cp_book_init(&book, 1);
		for (uint64_t s = 1; s <= n - 20; s++) {
			struct cp_book_signal sg = {.master_id = 1, .sequence = s, .ticket = s,
						    .order_type = s % 2 ? 1 : 2, .symbol = "EURUSD",
						    .volume = 10, .price = 108000 + (int64_t)(s % 50)};

			(void)cp_book_apply(&book, &sg, NULL);
		}
		CHECK(cp_book_store_save(e->rc, &book) == 1, "poll: book stored at %" PRIu64, book.seq);
		cp_book_free(&book);
		pc_close(c);
		CHECK(pc_open(e, c) == 0 && pc_get(c, "/v1/masters/1/signals?after=3", "tok-3", &pr,
						      10000) == 0, "poll: after=3 asked");
		k = pr.status == 200 ? presp_msgs(&pr, m, 256) : -1;
		{
			uint64_t entries = 0, seq = 0;
			/* no `policy` asked: the subscription's CopyPolicy comes first */
			bool order = k >= 4 && m[0]->kind_case == DECP__SERVER_MESSAGE__KIND_COPY_POLICY &&
				     m[0]->copy_policy->subscription_id == 3 &&
				     m[1]->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN &&
				     m[k - 2]->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END &&
				     m[k - 1]->kind_case == DECP__SERVER_MESSAGE__KIND_SYNC_END;

			for (int i = 0; order && i < k; i++) {
				if (m[i]->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN)
					seq = m[i]->snapshot_begin->sequence;
				if (m[i]->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART)
					entries += m[i]->snapshot_part->n_entries;
			}
			CHECK(pr.status == 200 && order && seq == n && entries == n && pr.next == n &&
			      pr.envs == 0, "poll: after=3 before the retained start: CopyPolicy, SnapshotBegin{%"
			      PRIu64 "}, %" PRIu64 " entries, SnapshotEnd, SyncEnd, next %" PRIu64
			      " (status %d, %d messages)", seq, entries, pr.next, pr.status, k);
		}
		msgs_free(m, k > 0 ? k : 0);
		presp_free(&pr);
		/* and the envelopes after it */
		CHECK(publish_m1(e, (int)n + 1) == 0, "poll: publish %" PRIu64, n + 1);
		next = n;
		pl.n = n + 1;
		st = poll_once(c, 1, "tok-3", n, 5, &pl, &next, &envs);
		CHECK(st == 200 && envs == 1 && next == n + 1, "poll: after the snapshot: %" PRIu64
		      " (status %d, %d envelopes)", n + 1, st, envs);
	}
	/* a poll parked before its subscription is held: woken by the next signal, it answers
	 * 409 subscription_held, never the signal (a WebSocket is held the same way) */
	{
		char t[200];
		struct presp r;
		struct pc *d = calloc(1, sizeof(*d));
		int held_st = 0, rd;
		uint64_t nx = 0;

		snprintf(t, sizeof(t), "GET /v1/masters/1/signals?after=%" PRIu64 "&wait=20 HTTP/1.1"
			 "\r\nHost: x\r\nAuthorization: Bearer tok-3\r\n\r\n", n + 1);
		CHECK(d != NULL && pc_send(c, t) == 0, "poll: a poll parked at %" PRIu64, n + 1);
		CHECK(sql(e->db, "UPDATE subscriptions SET state = 'SUSPENDED_ADMIN' WHERE "
			  "subscriber_id = 3 AND master_id = 1") == 0, "poll: subscription suspended");
		/* the fan-out has it once a new poll of it is refused (its state poll) */
		for (int i = 0; d != NULL && i < 200 && held_st != 409; i++) {
			d->fd = -1;
			if (pc_open(e, d) == 0)
				held_st = poll_once(d, 1, "tok-3", n + 1, 0, &pl, &nx, NULL);
			pc_close(d);
			if (held_st != 409)
				usleep(50000);
		}
		CHECK(held_st == 409, "poll: a new poll of the suspended subscription: %d (409)",
		      held_st);
		CHECK(publish_m1(e, (int)n + 2) == 0, "poll: publish %" PRIu64, n + 2);
		rd = pc_read(c, &r, 20000);
		CHECK(rd == 0 && r.status == 409 && r.envs <= 0, "poll: the poll parked before the "
		      "hold, woken by %" PRIu64 ": status %d, %ld envelopes (expected 409 "
		      "subscription_held)", n + 2, rd == 0 ? r.status : -1, rd == 0 ? r.envs : -1L);
		presp_free(&r);
		CHECK(sql(e->db, "UPDATE subscriptions SET state = 'SYNCED' WHERE subscriber_id = 3 "
			  "AND master_id = 1") == 0, "poll: subscription resumed");
		pc_close(c);
		CHECK(pc_open(e, c) == 0, "poll: connect again");
		free(d);
	}
	/* Redis down: what needs Redis is 503 unavailable */
	{
		char t[200], code[64];

		CHECK(harness_redis_stop(e->redis) == 0, "poll: Redis stopped");
		snprintf(t, sizeof(t), "GET /v1/masters/2/signals?after=1 HTTP/1.1\r\nHost: x\r\n"
			 "Authorization: Bearer tok-2\r\n\r\n");
		st = poll_status(e, t, code, sizeof(code));
		CHECK(st == 503 && strcmp(code, "unavailable") == 0, "poll: Redis down: %d '%s' "
		      "(expected 503 unavailable)", st, code);
		CHECK(harness_redis_restart(e->redis) == 0, "poll: Redis restarted");
		redisFree(e->rc);
		e->rc = redisConnect("127.0.0.1", harness_redis_port(e->redis));
	}
	/* one poll is left waiting (its socket open until this process ends): the fan-out
	 * stops with it, exit 0 and nothing left behind (ASan) */
	{
		char t[200];

		snprintf(t, sizeof(t), "GET /v1/masters/2/signals?after=%" PRIu64 "&wait=30 HTTP/1.1"
			 "\r\nHost: x\r\nAuthorization: Bearer tok-2\r\n\r\n", n);
		CHECK(pc_open(e, &held[0]) == 0 && pc_send(&held[0], t) == 0,
		      "poll: a poll left waiting through the stop");
	}
	usleep(1200000); /* the next stats line */
	CHECK(last_number(e, "fanout.log", "polls ") > 0 &&
	      last_number(e, "fanout.log", "poll_woken ") > 0 &&
	      last_number(e, "fanout.log", "poll_timeouts ") > 0 &&
	      last_number(e, "fanout.log", "poll_envelopes ") >= n &&
	      last_number(e, "fanout.log", "poll_refused ") > 0,
	      "poll: counters polls %lu envelopes %lu woken %lu timeouts %lu refused %lu",
	      last_number(e, "fanout.log", "polls "), last_number(e, "fanout.log", "poll_envelopes "),
	      last_number(e, "fanout.log", "poll_woken "),
	      last_number(e, "fanout.log", "poll_timeouts "),
	      last_number(e, "fanout.log", "poll_refused "));
out:
	if (wsub > 0) {
		kill(wsub, SIGKILL);
		(void)harness_wait_exit(wsub, 5000);
	}
	if (psub > 0) {
		kill(psub, SIGKILL);
		(void)harness_wait_exit(psub, 5000);
	}
	wsc_close(&w);
	if (c != NULL)
		pc_close(c);
	free(c);
	free(held);
	seen_free(&ws);
	seen_free(&pl);
}

/* A close frame from the client with status code `code` (masked, no reason). */
static int wsc_send_close(struct wsc *c, unsigned int code)
{
	uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};

	return wsc_send_frame(c, 0x8, p, 2);
}

/* Reads whatever arrives for ms milliseconds (envelopes counted). */
static int wsc_drain(struct wsc *c, int ms)
{
	int64_t until = now_ns() + (int64_t)ms * 1000000;
	int envs = 0;

	while (now_ns() < until) {
		Decp__ServerMessage *m = wsc_next(c, (int)((until - now_ns()) / 1000000) + 1);

		if (m == NULL)
			break;
		envs += m->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE;
		decp__server_message__free_unpacked(m, NULL);
	}
	return envs;
}

/* Waits for the Error frame and then the close, returning the close code; *err gets the
 * Error's code (-1: none came), *ms the time from t0 to the close frame. */
static int wsc_error_close(struct wsc *c, int timeout_ms, int *err, int64_t t0, double *ms)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;

	*err = -1;
	while (c->close_code == 0 && now_ns() < until) {
		Decp__ServerMessage *m = wsc_next(c, 100);

		if (m != NULL) {
			if (m->kind_case == DECP__SERVER_MESSAGE__KIND_ERROR)
				*err = (int)m->error->code;
			decp__server_message__free_unpacked(m, NULL);
		}
	}
	*ms = (double)(now_ns() - t0) / 1e6;
	return wsc_wait_close(c, 100);
}

/*
 * Close codes (issue 28): invalid codes from the client (5000, 65535, 1005, 1006 on the
 * wire; RFC 6455 §7.4) are answered with 1002, a valid one (1000) echoed; nothing is sent
 * after the server's own close frame (1003 for a text frame while a replay and live
 * publishing go on); a revoked token's session gets Error{UNAUTHENTICATED} and close 4001
 * within 1 s, as does a disabled subscriber's, while the others stay; and when decp-fanout
 * stops, every session gets 1001 and nothing after it.
 */
static void scenario_close(struct env *e)
{
	static const unsigned int bad[] = {5000, 65535, 1005, 1006, 999, 1004, 2000};
	struct wsc c, a, b, d[3];
	char q[160];
	int code, err;
	double ms;

	CHECK(publish_all(e, 0) == 0, "close: publish");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wsc_open(e, &c, "tok-1") != 0) {
			CHECK(0, "close: connect");
			return;
		}
		(void)wsc_send_close(&c, bad[i]);
		code = wsc_wait_close(&c, 5000);
		CHECK(code == 1002 && c.frames_after_close == 0,
		      "close: client close code %u answered with %d, %d frames after (expected 1002, 0)",
		      bad[i], code, c.frames_after_close);
		wsc_close(&c);
	}
	if (wsc_open(e, &c, "tok-1") == 0) {
		(void)wsc_send_close(&c, 1000);
		code = wsc_wait_close(&c, 5000);
		CHECK(code == 1000, "close: client close 1000 echoed (%d)", code);
		wsc_close(&c);
	}
	/* a close reason that is not UTF-8 (RFC 6455 §8.1): our close 1007 */
	if (wsc_open(e, &c, "tok-1") == 0) {
		static const uint8_t bad_reason[] = {0x03, 0xe8, 'o', 0xc0, 0xaf, 'k'};

		(void)wsc_send_frame(&c, 0x8, bad_reason, sizeof(bad_reason));
		code = wsc_wait_close(&c, 5000);
		CHECK(code == 1007 && c.frames_after_close == 0,
		      "close: a close reason in bad UTF-8 answered with %d (expected 1007)", code);
		wsc_close(&c);
	}

	/* our own close frame (1003: a text frame on a binary session) while a replay runs and
	 * live signals keep coming: not one frame after it */
	if (wsc_open(e, &c, "tok-1") == 0) {
		static const uint8_t txt[] = {'h', 'i'};

		(void)wsc_subscribe(&c, 1, 1);
		(void)wsc_drain(&c, 50);
		(void)wsc_send_frame(&c, 0x1, txt, sizeof(txt));
		CHECK(publish_span(e, e->nsignals + 1, e->nsignals + 300, 5) == 0, "close: publish more");
		code = wsc_wait_close(&c, 5000);
		CHECK(code == 1003 && c.frames_after_close == 0,
		      "close: text frame -> %d, then %d frames after the close frame (expected 1003, 0)",
		      code, c.frames_after_close);
		wsc_close(&c);
	}

	/* revocation: tok-1's session closes within 1 s, tok-2's stays; then subscriber 2 is
	 * disabled and its session closes too */
	if (wsc_open(e, &a, "tok-1") != 0 || wsc_open(e, &b, "tok-2") != 0) {
		CHECK(0, "close: connect a, b");
		return;
	}
	(void)wsc_subscribe(&a, 1, 0);
	(void)wsc_subscribe(&b, 1, 0);
	(void)wsc_drain(&a, 300);
	(void)wsc_drain(&b, 10);
	{
		int64_t t0 = now_ns();

		CHECK(sql(e->db, "UPDATE subscriber_tokens SET revoked_at = now() "
			  "WHERE subscriber_id = 1") == 0, "close: revoke tok-1");
		code = wsc_error_close(&a, 3000, &err, t0, &ms);
		CHECK(code == 4001 && err == DECP__ERROR__CODE__CODE_UNAUTHENTICATED && ms < 1000.0 &&
		      a.frames_after_close == 0,
		      "close: revoked token: Error %d, close %d after %.0f ms (expected %d, 4001, < 1000)",
		      err, code, ms, DECP__ERROR__CODE__CODE_UNAUTHENTICATED);
		CHECK(b.close_code == 0 && wsc_drain(&b, 200) >= 0 && b.close_code == 0,
		      "close: the other subscriber's session stays (close %d)", b.close_code);
		t0 = now_ns();
		CHECK(sql(e->db, "UPDATE subscribers SET disabled_at = now() WHERE id = 2") == 0,
		      "close: disable subscriber 2");
		code = wsc_error_close(&b, 3000, &err, t0, &ms);
		CHECK(code == 4001 && ms < 1000.0, "close: disabled subscriber: close %d after %.0f ms "
		      "(expected 4001, < 1000)", code, ms);
		CHECK(last_number(e, "fanout.log", "revoked ") >= 2, "close: counted (revoked %lu)",
		      last_number(e, "fanout.log", "revoked "));
	}
	wsc_close(&a);
	wsc_close(&b);

	/* shutdown: every session gets 1001, nothing after it, and decp-fanout exits 0 */
	snprintf(q, sizeof(q), "tok-%d", 3);
	for (int i = 0; i < 3; i++)
		if (wsc_open(e, &d[i], q) != 0)
			d[i].fd = -1;
	for (int i = 0; i < 3; i++) {
		if (d[i].fd >= 0)
			(void)wsc_subscribe(&d[i], 1, 1); /* a replay is running at the stop */
	}
	(void)wsc_drain(&d[0], 20);
	kill(e->fanout, SIGTERM);
	for (int i = 0; i < 3; i++) {
		code = d[i].fd >= 0 ? wsc_wait_close(&d[i], 5000) : -2;
		CHECK(code == 1001 && d[i].frames_after_close == 0,
		      "close: stop: session %d got close %d, %d frames after (expected 1001, 0)", i, code,
		      d[i].frames_after_close);
		wsc_close(&d[i]);
	}
	code = harness_wait_exit(e->fanout, 10000);
	CHECK(code == 0, "close: decp-fanout exit %d after the 1001s", code);
	e->fanout = 0;
}

/* An upgrade with token tok from source address 127.0.0.<src> (0: the kernel's choice);
 * returns the connected socket after "101" (*status 101), or -1 with *status the HTTP
 * status seen (0: none, the connection was closed or timed out). */
static int upgrade_from(struct env *e, const char *tok, int src, int *status)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port)};
	struct sockaddr_in s = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {5, 0};
	char req[512], buf[512];
	ssize_t n;

	*status = 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.sin_addr.s_addr = htonl(0x7f000000u + (uint32_t)src);
	if (fd < 0 || (src != 0 && bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0) ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req),
		 "GET /?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n", tok, e->port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 12)
		goto fail;
	buf[n] = '\0';
	*status = atoi(buf + 9);
	if (*status == 101)
		return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The flood's probe: a legitimate upgrade (tok-2) from 127.0.0.1, its latency in ms. */
static double probe_upgrade(void *arg)
{
	struct env *e = arg;
	int64_t t0 = now_ns();
	int st, fd = upgrade_from(e, "tok-2", 1, &st);
	double ms = (double)(now_ns() - t0) / 1e6;

	if (fd < 0)
		return -1;
	close(fd);
	return ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Pre-authentication budgets of the fan-out (issue 28 acceptance): subscriber 1 tries 500
 * upgrades (from 5 addresses) and gets its limit of 8, the rest HTTP 429, and subscriber 2
 * still gets in; then 3,000 idle or half-sent connections from 30 loopback addresses
 * (reopened as the server closes them) for 30 s: a legitimate upgrade every 250 ms
 * completes in < 100 ms throughout, and the budget closes the idle ones (counters: capped
 * per source, evicted at the cap, timed out).
 */
static void scenario_flood(struct env *e)
{
	enum { SUB1_TRIES = 500 };
	int *s1 = calloc(SUB1_TRIES, sizeof(*s1));
	int ok = 0, too_many = 0, st, fd;
	struct harness_flood_cfg fc = {.port = e->port, .conns = 3000, .naddrs = 10,
				       .seconds = 30, .reconnect_per_s = 300,
				       .probe_every_ms = 250, .probe = probe_upgrade, .probe_arg = e};
	struct harness_flood_result *fr = calloc(1, sizeof(*fr));
	double base_p90, limit;

	if (s1 == NULL || fr == NULL) {
		CHECK(0, "flood: memory");
		goto out;
	}
	for (int i = 0; i < SUB1_TRIES; i++) {
		s1[i] = upgrade_from(e, "tok-1", 40 + i % 5, &st);
		ok += s1[i] >= 0;
		too_many += st == 429;
	}
	CHECK(ok == 8 && too_many == SUB1_TRIES - 8,
	      "flood: subscriber 1, %d upgrades: %d accepted, %d refused 429 (expected 8, %d)",
	      SUB1_TRIES, ok, too_many, SUB1_TRIES - 8);
	fd = upgrade_from(e, "tok-2", 1, &st);
	CHECK(fd >= 0, "flood: subscriber 2 gets in beside subscriber 1's 500 (HTTP %d)", st);
	if (fd >= 0)
		close(fd);

	/* the same probe without a flood: what this (shared, loaded) machine gives */
	{
		double base[40];

		for (int i = 0; i < 40; i++) {
			base[i] = probe_upgrade(e);
			usleep(50000);
		}
		qsort(base, 40, sizeof(base[0]), cmp_double);
		base_p90 = base[35];
		fprintf(stderr, "flood: without a flood, 40 upgrades: p90 %.1f ms, max %.1f ms\n",
			base_p90, base[39]);
	}
	CHECK(harness_flood(&fc, fr) == 0, "flood: ran");
	fprintf(stderr, "flood: %ld opened, %ld closed by the server, %d probes: max %.1f ms, "
		"p99 %.1f ms, %d failed\n", fr->opened, fr->closed_by_server, fr->probes,
		fr->probe_max_ms, fr->probe_p99_ms, fr->probe_failed);
	for (int i = 0; i < fr->probes && i < HARNESS_FLOOD_PROBES_MAX; i++)
		if (fr->probe_ms[i] >= 20.0)
			fprintf(stderr, "flood: probe %d took %.1f ms\n", i, fr->probe_ms[i]);
	/* p99, not the max: on this shared 2-core machine a lone probe can lose the CPU for
	 * ~100 ms to other jobs, flood or not; the max is printed above and must stay sane.
	 * The bound is 100 ms, or on a machine so loaded that the probe alone takes longer,
	 * 4x what it took there without the flood (a starved accept loop takes seconds) */
	limit = base_p90 * 4 > 100.0 ? base_p90 * 4 : 100.0;
	CHECK(fr->probes >= 60 && fr->probe_failed == 0 && fr->probe_p99_ms < limit &&
	      fr->probe_max_ms < 5 * limit,
	      "flood: %d legitimate upgrades during 30 s of 3,000 idle connections: p99 %.1f ms, "
	      "max %.1f ms, %d failed (expected p99 < %.0f ms)", fr->probes, fr->probe_p99_ms,
	      fr->probe_max_ms, fr->probe_failed, limit);
	CHECK(fr->closed_by_server >= 3000, "flood: the budget closed the idle connections (%ld)",
	      fr->closed_by_server);
	/* the counters say which budget did it (stats line every second) */
	usleep(1500000);
	{
		unsigned long capped = last_number(e, "fanout.log", " capped "),
			      evicted = last_number(e, "fanout.log", " evicted "),
			      timeout = last_number(e, "fanout.log", " timeout "),
			      sublim = last_number(e, "fanout.log", "sublimit ");

		fprintf(stderr, "flood: capped %lu evicted %lu timeout %lu sublimit %lu\n", capped,
			evicted, timeout, sublim);
		/* 10 addresses x 64 held stay below the cap of 1,024: closed per source at
		 * accept and by the header timeout (eviction: the api's flood, tests/api) */
		CHECK(capped > 0 && timeout > 0 && sublim >= SUB1_TRIES - 8,
		      "flood: counters capped %lu, evicted %lu, timeout %lu, sublimit %lu", capped,
		      evicted, timeout, sublim);
	}
out:
	for (int i = 0; s1 != NULL && i < SUB1_TRIES; i++)
		if (s1[i] >= 0)
			close(s1[i]);
	free(s1);
	free(fr);
}

/* ---------------------------------------------------------------- main -- */

/* One HTTP/1.1 POST to the api on 127.0.0.1:port (a kernel TCP client, one connection);
 * the reply's body into out. Returns the status code, 0 when there is no reply. */
/* POST to the api over HTTPS (its certificate verified against the test's CA, ca). */
static int http_post(int port, const char *ca, const char *path, const char *token,
		     const char *body, char *out, size_t cap)
{
	char req[1024];
	size_t len = 0;
	int n, status = 0;
	long verify;
	SSL *ssl;

	out[0] = '\0';
	n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
		     "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s", path, token, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    (ssl = tls_open(port, TLS1_3_VERSION, TLS1_3_VERSION, ca, &verify)) == NULL)
		return 0;
	if (SSL_write(ssl, req, n) == n)
		while (len + 1 < cap && (n = SSL_read(ssl, out + len, (int)(cap - len - 1))) > 0)
			len += (size_t)n;
	tls_close(ssl);
	out[len] = '\0';
	if (sscanf(out, "HTTP/1.1 %d", &status) != 1)
		return 0;
	char *b = strstr(out, "\r\n\r\n");
	if (b != NULL)
		memmove(out, b + 4, strlen(b + 4) + 1);
	return status;
}

/* Lines of dir/<file> containing needle (starting with it when prefix). */
static int count_lines(struct env *e, const char *file, const char *needle, bool prefix)
{
	char p[512], line[256];
	FILE *f;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", e->dir, file);
	f = fopen(p, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n += prefix ? strncmp(line, needle, strlen(needle)) == 0 : strstr(line, needle) != NULL;
	if (f != NULL)
		fclose(f);
	return n;
}

/* The BUYs of one connection's --orders file: per sequence (< cap) the volume, the policy
 * version in *ver and whether it was gold; 0 where none. */
static void buys_of(const char *path, long long *vol, long long *ver, bool *xau, int cap)
{
	FILE *f = fopen(path, "r");
	char line[256];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int idx;
		uint64_t m, x;
		char type[24], sym[40];
		long long v, pv, arrival;

		if (sscanf(line, "%d %" SCNu64 " %" SCNu64 " order %23s %39s %lld %lld %lld", &idx, &m,
			   &x, type, sym, &v, &pv, &arrival) == 8 && idx == 0 &&
		    strcmp(type, "BUY") == 0 && x < (uint64_t)cap) {
			vol[x] = v;
			ver[x] = pv;
			xau[x] = strncmp(sym, "XAUUSD", 6) == 0;
		}
	}
	if (f != NULL)
		fclose(f);
}

/* Subscriber 1's two connections under one policy, the second at a broker of 1 oz gold
 * lots (--contract XAUUSD=1): each BUY the two sized under one policy version is the
 * same, but gold's is 100x under the multiplier versions (1, 2: the same ounces as the
 * master's 100 oz lots) and equal under FIXED (3, 4: the broker's lots already). */
static void policy_contract_check(struct env *e, const char *orders, const char *orders2)
{
	enum { CAP = 4096 };
	static long long v1[CAP], p1[CAP], v2[CAP], p2[CAP];
	static bool x1[CAP], x2[CAP];
	int compared = 0, gold = 0, bad = 0;

	memset(v1, 0, sizeof(v1));
	memset(v2, 0, sizeof(v2));
	buys_of(orders, v1, p1, x1, CAP);
	buys_of(orders2, v2, p2, x2, CAP);
	for (int s = 1; s < CAP && s <= e->nsignals; s++) {
		if (v1[s] == 0 || v2[s] == 0 || p1[s] != p2[s])
			continue;
		long long want = x1[s] && p1[s] <= 2 ? v1[s] * 100 : v1[s];

		compared++;
		gold += x1[s] && p1[s] <= 2;
		if (v2[s] != want) {
			bad++;
			fprintf(stderr, "policy: sequence %d (%s, policy %lld): %lld lots/100 at 1 oz, "
				"%lld at 100 oz\n", s, x1[s] ? "XAUUSD" : "other", p1[s], v2[s], v1[s]);
		}
	}
	fprintf(stderr, "policy: 1 oz gold lots: %d BUYs compared, %d of gold (100x), %d sized "
		"otherwise\n", compared, gold, bad);
	CHECK(bad == 0 && gold > 0 && compared > gold, "1 oz gold lots: %d BUYs compared, %d of "
	      "gold 100x, %d sized otherwise", compared, gold, bad);
}

/* The copy policy delivered (issue 19): two subscribers of one master on the real
 * pipeline; while signals flow, subscriber 1 changes its policy twice through the api
 * (multiplier 2.5 with suffix ".m"; then a fixed 0.07 lot with USDJPY denied). Its
 * orders (decp-subscriber --orders: the order after the guard's copy policy) change
 * with the next signal: every order carries the policy version applied last before
 * it, orders of each version are sized and named by that version, every signal that
 * arrived more than a second after the api's answer used the new policy, and
 * subscriber 2 (untouched) keeps the defaults throughout. Subscriber 3 (its own
 * decp-subscriber) has a broker account of 150 USD at 1:100: every 0.10-lot BUY fits
 * its free margin but XAUUSD's (203.45 USD), which is refused INSUFFICIENT_MARGIN (stored
 * in protection_logs, the subscription stays SYNCED, nothing locked), and the close of
 * a position it never opened is FILTERED (NO_POSITION). */
static void scenario_policy(struct env *e)
{
	static const char *const bodies[2] = {
		"{\"mode\":\"MULTIPLIER\",\"multiplier\":2.5,\"suffix\":\".m\"}",
		"{\"mode\":\"FIXED\",\"lot_fixed\":0.07,\"symbols_deny\":[\"USDJPY\"]}"};
	char mport[48], ns[16], timeout[16], orders[512], orders2[512], resp[4096], line[256];
	int dp_port, api_port = harness_free_port(), rc;
	int64_t t_reply[2] = {0, 0};
	pid_t sub, sub2, msub, master;
	FILE *f;

	e->roles = "edge,fanout,archiver,api";
	snprintf(e->ctl_extra, sizeof(e->ctl_extra), "api_port = %d\n", api_port);
	snprintf(timeout, sizeof(timeout), "%d", 120);
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	snprintf(orders, sizeof(orders), "%s/policy.orders", e->dir);
	{
		const char *x[] = {"--subs", group_file(e, "policy", 1, 2), "--expect", expect_arg(e),
				   "--timeout", timeout, "--orders", orders, NULL};

		const char *xm[] = {"--subs", group_file(e, "margin", 3, 1), "--expect",
				    expect_arg(e), "--timeout", timeout, "--account", "150:100:USD",
				    NULL};

		/* subscriber 1 a second time, on a connection of its own: every change of its
		 * subscription reaches each of its sessions; its broker trades gold in 1 oz
		 * lots (the registry's, the master's, are 100 oz) */
		const char *x2[] = {"--subs", group_file(e, "policy2", 1, 1), "--expect",
				    expect_arg(e), "--timeout", timeout, "--orders", orders2,
				    "--contract", "XAUUSD=1", NULL};

		snprintf(orders2, sizeof(orders2), "%s/policy2.orders", e->dir);
		sub = start_subscriber(e, "policy", x);
		sub2 = start_subscriber(e, "policy2", x2);
		msub = start_subscriber(e, "margin", xm);
	}
	for (int t = 0; t < 300 && (count_lines(e, "policy.orders", " policy 1 ", false) < 2 ||
				    count_lines(e, "policy2.orders", " policy 1 ", false) < 1); t++)
		usleep(100000);
	CHECK(count_lines(e, "policy.orders", " policy 1 ", false) == 2,
	      "both subscribers received their policy (version 1) on Subscribe");
	CHECK(count_lines(e, "policy2.orders", " policy 1 ", false) == 1,
	      "subscriber 1's second connection received it too");
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(ns, sizeof(ns), "%d", e->nsignals);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				(char *)"1", (char *)"--signals", ns, (char *)"--rate", (char *)"40",
				(char *)"--time-limit-s", timeout, NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		master = spawn(argv, out);
	}
	for (int k = 0; k < 2; k++) {
		char want[32];
		int64_t t_applied = 0;

		/* a third of the stream under each policy */
		for (int t = 0; t < 600 && count_lines(e, "policy.orders", "0 1 ", true) <
		     (k + 1) * e->nsignals / 4; t++)
			usleep(50000);
		char ca[600];

		snprintf(ca, sizeof(ca), "%s/tls/ca.crt", e->dir);
		rc = http_post(api_port, ca, "/v1/subscriptions/1/copy-policy", "tok-1", bodies[k], resp,
			       sizeof(resp));
		t_reply[k] = now_ns();
		snprintf(want, sizeof(want), "\"copy_policy_version\":%d", k + 2);
		CHECK(rc == 200 && strstr(resp, want) != NULL, "api: policy change %d (%d %s)", k + 1,
		      rc, resp);
		snprintf(want, sizeof(want), "0 1 policy %d ", k + 2);
		for (int t = 0; t < 500 && count_lines(e, "policy.orders", want, true) == 0; t++)
			usleep(10000);
		f = fopen(orders, "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, want, strlen(want)) == 0)
				t_applied = strtoll(line + strlen(want), NULL, 10);
		if (f != NULL)
			fclose(f);
		CHECK(t_applied > 0, "subscriber 1 applied policy version %d", k + 2);
		fprintf(stderr, "policy: version %d applied by the connected subscriber %.1f ms "
			"after the api's answer\n", k + 2, (double)(t_applied - t_reply[k]) / 1e6);
	}
	/* The fan-out's PostgreSQL sessions killed, and the policy changed at once: whether
	 * the change lands before the policy thread's new LISTEN (its catch-up query finds
	 * it) or after (the NOTIFY), it reaches the connected subscriber. */
	CHECK(sql(e->db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
		  "application_name = 'decp-fanout'") == 0, "fan-out sessions terminated");
	CHECK(sql(e->db, "UPDATE subscriptions SET copy_policy = '{\"mode\": \"FIXED\", "
		  "\"lot_fixed\": 0.07, \"symbols_deny\": [\"USDJPY\"], \"copy_tp\": true}' "
		  "WHERE id = 1") == 0, "policy changed while the fan-out reconnects");
	for (int t = 0; t < 1000 && count_lines(e, "policy.orders", "0 1 policy 4 ", true) == 0; t++)
		usleep(10000);
	CHECK(count_lines(e, "policy.orders", "0 1 policy 4 ", true) == 1,
	      "version 4 reached the subscriber after the fan-out lost its LISTEN session");
	rc = harness_wait_exit(master, 120000);
	CHECK(rc == 0, "decp-master: every signal ACKed (exit %d)", rc);
	rc = harness_wait_exit(sub, 120000);
	CHECK(rc == 0, "decp-subscriber finished (exit %d)", rc);
	rc = harness_wait_exit(sub2, 120000);
	CHECK(rc == 0, "decp-subscriber (subscriber 1's second connection) finished (exit %d)", rc);
	for (int v = 2; v <= 4; v++) {
		char want[32];

		snprintf(want, sizeof(want), "0 1 policy %d ", v);
		CHECK(count_lines(e, "policy2.orders", want, true) == 1,
		      "subscriber 1's second connection applied policy version %d", v);
	}
	rc = harness_wait_exit(msub, 120000);
	CHECK(rc == 0, "decp-subscriber (small account) finished (exit %d)", rc);
	{
		/* decp-master's synthetic trades: sequence 4k+1 is a 0.10-lot BUY of the
		 * (k % 6)th of EURUSD GBPUSD USDJPY XAUUSD AUDUSD USDCHF */
		long long xau = 0, q_margin, q_filtered, q_other;
		char q[512];

		for (int i = 0; i < e->nsignals; i += 4)
			xau += i / 4 % 6 == 3;
		static const char qf[] = "SELECT count(*) FROM protection_logs WHERE subscriber_id = 3 "
					 "AND reason = 'FILTERED' AND sequence % 24 IN (14, 15, 16)";

		snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id = 3 "
			 "AND reason = 'INSUFFICIENT_MARGIN' AND sequence %% 24 = 13");
		/* the reports are stored in batches, the last ones after the subscriber exits:
		 * wait for both kinds (each refusal's FILTERED follow-ups come after it) */
		for (int t = 0; t < 200 && (pg_count(e, q) < xau || pg_count(e, qf) < 3 * xau); t++)
			usleep(100000);
		q_margin = pg_count(e, q);
		q_filtered = pg_count(e, qf);
		q_other = pg_count(e, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 3 "
				   "AND reason NOT IN ('INSUFFICIENT_MARGIN', 'FILTERED')");
		CHECK(q_margin == xau, "small account: every XAUUSD BUY refused INSUFFICIENT_MARGIN "
		      "(%lld of %lld)", q_margin, xau);
		CHECK(q_filtered == 3 * xau, "small account: its modify/partial/close FILTERED, no "
		      "position (%lld of %lld)", q_filtered, 3 * xau);
		CHECK(q_other == 0, "small account: no other protection event (%lld)", q_other);
		CHECK(pg_count(e, "SELECT count(*) FROM subscriptions WHERE id = 3 AND state = "
			       "'SYNCED'") == 1, "small account: the subscription stays SYNCED");
		CHECK(count_lines(e, "margin.log", "0 1 ", true) == e->nsignals - 4 * (int)xau,
		      "small account: every other signal executed (%d of %lld)",
		      count_lines(e, "margin.log", "0 1 ", true), e->nsignals - 4 * xau);
	}
	/* every order against the policy in force when it was made */
	{
		int64_t version[2] = {0, 0};
		int bad = 0, late = 0, n[2][4] = {{0}};

		f = fopen(orders, "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			int idx;
			uint64_t m, x;
			char kind[16], type[24], sym[40];
			long long vol, ver, arrival;

			if (sscanf(line, "%d %" SCNu64 " policy %" SCNu64, &idx, &m, &x) == 3 &&
			    idx >= 0 && idx < 2) {
				version[idx] = (int64_t)x;
				continue;
			}
			if (sscanf(line, "%d %" SCNu64 " live %" SCNu64, &idx, &m, &x) == 3)
				continue; /* a SyncEnd (the subscription went live) */
			if (sscanf(line, "%d %" SCNu64 " %" SCNu64 " %15s %23s %39s %lld %lld %lld",
				   &idx, &m, &x, kind, type, sym, &vol, &ver, &arrival) != 9 ||
			    idx < 0 || idx > 1 || strcmp(kind, "order") != 0) {
				bad++;
				continue;
			}
			bool is_buy = strcmp(type, "BUY") == 0, ok;
			size_t sl = strlen(sym);

			n[idx][ver >= 1 && ver <= 3 ? ver : ver == 4 ? 3 : 0]++;
			if (idx == 1 || ver == 1)
				ok = ver == (idx == 1 ? 1 : version[idx]) && strchr(sym, '.') == NULL &&
				     (!is_buy || vol == 10);
			else if (ver == 2)
				ok = version[0] == 2 && sl > 2 && strcmp(sym + sl - 2, ".m") == 0 &&
				     (!is_buy || vol == 25);
			else /* 3, and 4: the same policy written again after the session kill */
				ok = version[0] == ver && (ver == 3 || ver == 4) &&
				     strchr(sym, '.') == NULL && strcmp(sym, "USDJPY") != 0 &&
				     (!is_buy || vol == 7);
			if (!ok) {
				bad++;
				fprintf(stderr, "policy: unexpected order (policy %lld in force): %s",
					(long long)version[idx], line);
			}
			for (int k = 0; k < 2 && idx == 0; k++)
				if (arrival > t_reply[k] + INT64_C(1000000000) && ver < k + 2)
					late++;
		}
		if (f != NULL)
			fclose(f);
		CHECK(bad == 0, "every order sized and named by the policy in force (%d not)", bad);
		CHECK(late == 0, "every signal arriving over 1 s after a change used it (%d did not)",
		      late);
		CHECK(n[0][1] > 0 && n[0][2] > 0 && n[0][3] > 0,
		      "subscriber 1 executed under each version (%d, %d, %d)", n[0][1], n[0][2],
		      n[0][3]);
		CHECK(n[1][1] == e->nsignals && n[1][2] == 0 && n[1][3] == 0,
		      "subscriber 2 kept its policy for all %d signals (%d)", e->nsignals, n[1][1]);
	}
	policy_contract_check(e, orders, orders2);
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
}

/* Upgrade with tok: the HTTP status (101 when let in). */
static int upgrade_status(struct env *e, const char *tok)
{
	int st, fd = upgrade_from(e, tok, 0, &st);

	if (fd >= 0)
		close(fd);
	return st;
}

/* Until an upgrade with tok answers `want`, up to ms; returns the last status. */
static int upgrade_until(struct env *e, const char *tok, int want, int ms)
{
	int st = 0;

	for (int t = 0; t < ms / 50 && (st = upgrade_status(e, tok)) != want; t++)
		usleep(50000);
	return st;
}

/* Add token `tok` of subscriber `sub`; 0 or -1. */
static int token_add(struct env *e, const char *tok, int sub)
{
	unsigned char d[32];
	char id[16];
	const char *v[2] = {id, (const char *)d};
	int l[] = {0, 32}, f[] = {0, 1};

	SHA256((const unsigned char *)tok, strlen(tok), d);
	snprintf(id, sizeof(id), "%d", sub);
	return sql_params(e->db, "INSERT INTO subscriber_tokens (subscriber_id, token_sha256) "
			  "VALUES ($1, $2)", 2, v, l, f);
}

/*
 * Issues 25 and 28: the upgrade is authenticated from the fan-out's cache, never by a
 * query on the thread that delivers. With PostgreSQL stopped, known tokens are let in
 * (101) and unknown ones refused (401), each at once; a token added after PostgreSQL is
 * back is let in once its NOTIFY is heard (beside a row expiring at 'infinity'), refused
 * once revoked; a subscription created while the fan-out runs is in the next session's
 * list with its copy policy, sent ahead of SyncStart.
 */
static void scenario_authcache(struct env *e)
{
	char tok[32];
	int ok = 0, refused = 0;
	int64_t worst = 0;

	CHECK(upgrade_status(e, "tok-1") == 101, "a known token is let in");
	CHECK(upgrade_status(e, "tok-none") == 401, "an unknown token is refused 401");
	CHECK(harness_pg_stop(e->pg) == 0, "PostgreSQL stopped");
	for (int i = 0; i < 50; i++) {
		int64_t t0 = now_ns();

		ok += upgrade_status(e, "tok-1") == 101;
		refused += upgrade_status(e, "tok-bogus") == 401;
		if (now_ns() - t0 > worst)
			worst = now_ns() - t0;
	}
	CHECK(ok == 50 && refused == 50, "PostgreSQL down: 50 known tokens let in (%d), 50 "
	      "unknown refused (%d), from memory", ok, refused);
	fprintf(stderr, "authcache: slowest pair of upgrades with PostgreSQL down: %.1f ms\n",
		(double)worst / 1e6);
	CHECK(harness_pg_restart(e->pg) == 0, "PostgreSQL restarted");
	PQreset(e->db);
	/* a row expiring at 'infinity' (refused since sql 0027; written here around the
	 * check) reads as the far future: before, its cast failed the whole token list, and
	 * no token added from then on was let in */
	CHECK(sql(e->db, "ALTER TABLE subscriber_tokens DROP CONSTRAINT IF EXISTS"
		  " subscriber_tokens_expires_at_finite; INSERT INTO subscriber_tokens"
		  " (subscriber_id, token_sha256, expires_at) VALUES (1, sha256('tok-infinity'),"
		  " 'infinity')") == 0, "a token expiring at infinity");
	/* a token added now: let in once the fan-out's db session is back and heard it */
	snprintf(tok, sizeof(tok), "tok-fresh-%d", (int)getpid());
	CHECK(token_add(e, tok, 2) == 0, "a new token of subscriber 2");
	CHECK(upgrade_until(e, tok, 101, 30000) == 101, "the new token is let in");
	CHECK(upgrade_status(e, "tok-infinity") == 101, "the one expiring at infinity too");
	CHECK(sql(e->db, "UPDATE subscriber_tokens SET revoked_at = now() WHERE id = (SELECT "
		  "max(id) FROM subscriber_tokens)") == 0, "the new token revoked");
	CHECK(upgrade_until(e, tok, 401, 10000) == 401, "the revoked token is refused");
	/* subscriber nsubs+1 had no subscription: one created now reaches its next session,
	 * with its policy first */
	{
		char q[256];
		struct wsc c;
		bool sync = false, policy_first = false, forbidden = false;

		snprintf(q, sizeof(q), "INSERT INTO subscriptions (id, master_id, subscriber_id, "
			 "copy_policy) VALUES (1000, 1, %d, '{\"mode\": \"MULTIPLIER\", \"multiplier\": 3}')",
			 e->nsubs + 1);
		CHECK(sql(e->db, q) == 0, "a subscription for subscriber %d", e->nsubs + 1);
		snprintf(tok, sizeof(tok), "tok-%d", e->nsubs + 1);
		for (int t = 0; t < 100 && !sync; t++) {
			Decp__ServerMessage *m;

			if (wsc_open(e, &c, tok) != 0 || wsc_subscribe(&c, 1, 1) != 0) {
				wsc_close(&c);
				usleep(100000);
				continue;
			}
			/* until SyncStart or an Error: a CopyPolicy before SyncStart is the one */
			while ((m = wsc_next(&c, 3000)) != NULL) {
				Decp__ServerMessage__KindCase k = m->kind_case;

				if (k == DECP__SERVER_MESSAGE__KIND_COPY_POLICY && !sync)
					policy_first = m->copy_policy->lot_multiplier_milli == 3000;
				sync = sync || k == DECP__SERVER_MESSAGE__KIND_SYNC_START;
				forbidden = forbidden || k == DECP__SERVER_MESSAGE__KIND_ERROR;
				decp__server_message__free_unpacked(m, NULL);
				if (k == DECP__SERVER_MESSAGE__KIND_SYNC_START ||
				    k == DECP__SERVER_MESSAGE__KIND_ERROR)
					break;
			}
			wsc_close(&c);
			if (!sync)
				usleep(100000);
		}
		CHECK(sync, "the new subscription is subscribed (SyncStart)%s",
		      forbidden ? "; Error FORBIDDEN came before it" : "");
		CHECK(policy_first, "its CopyPolicy (x3) came first");
	}
}

/* One text value of a query (its first row and column), "" when none or on error. */
static const char *pg_text(struct env *e, const char *q, char *buf, size_t cap)
{
	PGresult *r = PQexec(e->db, q);

	snprintf(buf, cap, "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
				     ? PQgetvalue(r, 0, 0) : "");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return buf;
}

/*
 * Issue 20 acceptance: the profit, HWM and fee of subscribers driven by a replayed day of
 * trades through decp-subscriber match a hand-computed table. The real pipeline (edge,
 * fanout, archiver); decp-master replays the day below from a CSV file; subscriber 1
 * copies 1:1, subscriber 2 at x2 with XAUUSD denied; both report every execution, and
 * the archiver books the realized P&L (subscription_report_executions). Billing at the
 * end of the period charges 20 % of the profit above the HWM (0) from wallets of 1000.00.
 *
 *   seq ticket  signal                       realized P&L, 1e-4 USD
 *                                            sub 1 (1:1)            sub 2 (x2, no XAUUSD)
 *    1  101  EURUSD BUY 0.50 @1.08120         -                      -
 *    2  102  USDJPY SELL 0.30 @150.250        -                      -
 *    3  101  EURUSD MODIFY (SL/TP)            -                      -
 *    4  103  XAUUSD BUY 0.02 @2034.50         -                      refused (denied)
 *    5  101  EURUSD CLOSE_PARTIAL 0.20        0.20: +12.5 pips       0.40:
 *            @1.08245                         = +25.0000             +50.0000
 *    6  104  GBPUSD SELL_LIMIT 0.40 @1.27000  placed                 placed (0.80)
 *    7  102  USDJPY CLOSE @150.010            24 pips x 30,000       x 60,000
 *                                             = 7,200 JPY / 150.010  14,400 JPY / 150.010
 *                                             = +47.99680021 -> +47.9968   +95.9936
 *    8  104  GBPUSD MODIFY (pending @1.27100) -                      -
 *    9  103  XAUUSD CLOSE @2031.25            -3.25 x 2 oz = -6.5000 refused (no position)
 *   10  101  EURUSD CLOSE (0.30) @1.08010     -11 pips x 0.30 lot    x 0.60 lot
 *                                             = -33.0000             = -66.0000
 *   11  104  GBPUSD CLOSE (pending deleted)   0                      0
 *   12  105  GBPUSD BUY 1.00 @1.26800         -                      -
 *   13  105  GBPUSD CLOSE @1.27055            +25.5 pips x 1.00 lot  x 2.00
 *                                             = +255.0000            = +510.0000
 *   profit                                    288.4968 -> 288.50     589.9936 -> 589.99
 *   fee 20 % above HWM 0.00                   57.70                  117.998 -> 118.00
 *   HWM after billing                         288.50                 589.99
 *   wallet 1000.00 - fee                      942.30                 882.00
 *   next period, no new profit                NO_FEE                 NO_FEE
 */
static void scenario_money_day(struct env *e)
{
	static const char day[] =
		"symbol,order_type,volume,price,sl,tp,position_ticket\n"
		"EURUSD,BUY,0.50,1.08120,1.07800,1.08600,101\n"
		"USDJPY,SELL,0.30,150.250,150.600,149.800,102\n"
		"EURUSD,MODIFY,0.50,1.08180,1.08000,1.08600,101\n"
		"XAUUSD,BUY,0.02,2034.50,2025.00,2050.00,103\n"
		"EURUSD,CLOSE_PARTIAL,0.20,1.08245,0,0,101\n"
		"GBPUSD,SELL_LIMIT,0.40,1.27000,1.27400,1.26500,104\n"
		"USDJPY,CLOSE,0.30,150.010,0,0,102\n"
		"GBPUSD,MODIFY,0.40,1.27100,1.27500,1.26600,104\n"
		"XAUUSD,CLOSE,0.02,2031.25,0,0,103\n"
		"EURUSD,CLOSE,0.30,1.08010,0,0,101\n"
		"GBPUSD,CLOSE,0.40,1.26800,0,0,104\n"
		"GBPUSD,BUY,1.00,1.26800,1.26500,1.27500,105\n"
		"GBPUSD,CLOSE,1.00,1.27055,0,0,105\n";
	static const struct {
		const char *profit, *charge, *after, *wallet;
	} want[2] = {
		{"288.4968", "CHARGED 57.70", "SYNCED 288.50 288.50", "942.30 0.00 57.70"},
		{"589.9936", "CHARGED 118.00", "SYNCED 589.99 589.99", "882.00 0.00 118.00"},
	};
	char mport[48], timeout[16], csv[512], orders[512], q[512], v[256];
	int dp_port, rc;
	pid_t sub, master;
	FILE *f;

	if (e->nsubs != 2 || e->nmasters != 1 || e->nsignals != 13) {
		CHECK(0, "money_day runs with 2 subscribers, 1 master, 13 signals");
		return;
	}
	snprintf(timeout, sizeof(timeout), "%d", 120);
	snprintf(csv, sizeof(csv), "%s/day.csv", e->dir);
	f = fopen(csv, "w");
	CHECK(f != NULL && fputs(day, f) >= 0 && fclose(f) == 0, "the day's trades written");
	CHECK(sql(e->db, "UPDATE subscriptions SET copy_policy = '{\"mode\": \"MULTIPLIER\", "
		  "\"multiplier\": 2, \"symbols_deny\": [\"XAUUSD\"]}' WHERE id = 2") == 0 &&
	      sql(e->db, "SELECT wallet_deposit(1, '1000.00', 'day'), "
		  "wallet_deposit(2, '1000.00', 'day')") == 0, "subscriber 2's policy, deposits");
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		return;
	}
	snprintf(orders, sizeof(orders), "%s/day.orders", e->dir);
	{
		const char *x[] = {"--subs", group_file(e, "day", 1, 2), "--expect", expect_arg(e),
				   "--timeout", timeout, "--report-exec", "--orders", orders, NULL};

		sub = start_subscriber(e, "day", x);
	}
	for (int t = 0; t < 600 && count_lines(e, "day.orders", " policy ", false) < 2; t++)
		usleep(50000);
	CHECK(count_lines(e, "day.orders", " policy ", false) == 2,
	      "both subscribers subscribed (their copy policy applied)");
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--trades",
				csv, (char *)"--signals", (char *)"13", (char *)"--rate", (char *)"20",
				(char *)"--time-limit-s", timeout, NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		master = spawn(argv, out);
	}
	rc = harness_wait_exit(master, 150000);
	CHECK(rc == 0, "decp-master: the day's 13 signals ACKed (exit %d)", rc);
	rc = harness_wait_exit(sub, 150000);
	CHECK(rc == 0, "decp-subscriber: both subscriptions consumed sequence 13 (exit %d)", rc);
	/* money reports: every FILLED and CLOSED (sub 1: 10; sub 2: 8, XAUUSD refused) */
	for (int t = 0; t < 1200 && pg_count(e, "SELECT count(*) FROM execution_pnl") < 18; t++)
		usleep(50000);
	CHECK(pg_count(e, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1") == 10 &&
	      pg_count(e, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 2") == 8,
	      "every fill and close booked once (%lld and %lld, want 10 and 8)",
	      pg_count(e, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1"),
	      pg_count(e, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 2"));
	for (int i = 0; i < 2; i++) {
		snprintf(q, sizeof(q), "SELECT profit_exact FROM subscriptions WHERE id = %d", i + 1);
		CHECK(strcmp(pg_text(e, q, v, sizeof(v)), want[i].profit) == 0,
		      "subscription %d: profit %s (hand-computed %s)", i + 1, v, want[i].profit);
	}
	/* one billing run at the end of both periods (they started together), then one at the
	 * end of the next */
	for (int run = 0; run < 2; run++) {
		char end[64];
		char exp[128];

		pg_text(e, run == 0 ? "SELECT max(billing_period_end(billing_period, created_at)) "
				      "FROM subscriptions WHERE id <= 2"
				    : "SELECT max(billing_period_end(billing_period, billed_until)) "
				      "FROM subscriptions WHERE id <= 2", end, sizeof(end));
		snprintf(q, sizeof(q), "SELECT string_agg(concat_ws(' ', subscription_id, outcome, "
			 "fee_amount), ', ' ORDER BY subscription_id) FROM billing_run_at('%s') WHERE "
			 "subscription_id <= 2", end);
		snprintf(exp, sizeof(exp), "1 %s, 2 %s", run == 0 ? want[0].charge : "NO_FEE 0.00",
			 run == 0 ? want[1].charge : "NO_FEE 0.00");
		CHECK(strcmp(pg_text(e, q, v, sizeof(v)), exp) == 0,
		      "billing at the end of period %d: %s (hand-computed %s%s)", run + 1, v, exp,
		      run == 1 ? ": no new profit, the HWM holds" : "");
		for (int i = 0; i < 2; i++) {
			snprintf(q, sizeof(q), "SELECT concat_ws(' ', state, high_water_mark, "
				 "cumulative_profit) FROM subscriptions WHERE id = %d", i + 1);
			CHECK(strcmp(pg_text(e, q, v, sizeof(v)), want[i].after) == 0,
			      "subscription %d after billing run %d: %s (hand-computed %s)", i + 1,
			      run + 1, v, want[i].after);
			snprintf(q, sizeof(q), "SELECT concat_ws(' ', balance_usd, receivable_usd, "
				 "lifetime_fees) FROM user_wallets WHERE subscriber_id = %d", i + 1);
			CHECK(strcmp(pg_text(e, q, v, sizeof(v)), want[i].wallet) == 0,
			      "subscriber %d's wallet after billing run %d: %s (hand-computed %s)",
			      i + 1, run + 1, v, want[i].wallet);
		}
	}
}

/* ------------------------------------------------------------ re-sync by snapshot (19) -- */

/* One master position or pending order of the resync scenario's trade model. */
struct rs_pos {
	bool open;
	int sym, type;          /* rs_syms index, decp.OrderType */
	int64_t vol, price, sl, tp;
};

static const char *const rs_syms[3] = {"EURUSD", "GBPUSD", "USDJPY"};
/* decp-subscriber's reference prices (sub_quotes_seed): the simulated market starts there,
 * so an open re-synced before the subscriber saw that instrument traded is within the
 * price check's 3 pips; every trade stays within 1.5 pips of them (positions +-0.2 pip,
 * pending orders 1.0-1.4 pips below) */
static const int64_t rs_px[3] = {108000, 126500, 15000000};
#define RS_TICKETS 4000

static const char *rs_type_name(int t)
{
	static const char *const n[] = {"", "BUY", "SELL", "BUY_LIMIT", "SELL_LIMIT", "BUY_STOP",
					"SELL_STOP", "CLOSE", "MODIFY", "CLOSE_PARTIAL"};
	return t >= 1 && t <= 9 ? n[t] : "?";
}

static void rs_dec(char *out, size_t cap, int64_t v, int scale_digits)
{
	int64_t div = scale_digits == 2 ? 100 : 100000;

	snprintf(out, cap, "%" PRId64 ".%0*" PRId64, v / div, scale_digits, v % div);
}

/* The trade file both masters replay (decp-master --trades): opens, pending orders, SL/TP
 * and pending-price changes, partial closes and closes on three instruments, at most ~30
 * open at a time (long-lived: a position outlives a subscriber's absence); *book is the master's book after all n trades (the model). */
static int rs_trades(struct env *e, int n, struct rs_pos *book, const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned seed = 19;
	int next_ticket = 1, nopen = 0;

	if (f == NULL)
		return -1;
	fprintf(f, "symbol,order_type,volume,price,sl,tp,position_ticket\n");
	for (int i = 0; i < n; i++) {
		int r = rand_r(&seed) % 100, t, type, sym;
		int64_t vol = 0, price, sl = 0, tp = 0;
		char v[32], p[32], s[32], q[32];

		(void)e;
		if (nopen < 6 || (nopen < 30 && r < 30) || next_ticket == 1) {
			t = next_ticket++;
			sym = rand_r(&seed) % 3;
			type = r % 10 == 0 ? 3 /* BUY_LIMIT */ : 1 + rand_r(&seed) % 2;
			vol = 10 + rand_r(&seed) % 31;
			price = type == 3 ? rs_px[sym] - 10 - rand_r(&seed) % 5
					  : rs_px[sym] + rand_r(&seed) % 5 - 2;
			if (rand_r(&seed) % 2) {
				sl = price - (type == 2 ? -400 : 400);
				tp = price + (type == 2 ? -800 : 800);
			}
			book[t] = (struct rs_pos){true, sym, type, vol, price, sl, tp};
			nopen++;
		} else {
			do
				t = 1 + rand_r(&seed) % (next_ticket - 1);
			while (!book[t].open);
			sym = book[t].sym;
			price = rs_px[sym] + rand_r(&seed) % 5 - 2;
			r = rand_r(&seed) % 100;
			if (r < 35) {
				type = 8; /* MODIFY: new exits (and a pending order's price) */
				sl = book[t].price - 300 - rand_r(&seed) % 200;
				tp = book[t].price + 300 + rand_r(&seed) % 200;
				if (book[t].type == 2) {
					int64_t x = sl;

					sl = 2 * book[t].price - x;
					tp = 2 * book[t].price - tp;
				}
				if (book[t].type == 3)
					book[t].price = price = rs_px[sym] - 10 - rand_r(&seed) % 5;
				else
					price = 0;
				book[t].sl = sl;
				book[t].tp = tp;
			} else if (r < 75 && book[t].type != 3 && book[t].vol >= 2) {
				type = 9; /* CLOSE_PARTIAL */
				vol = 1 + rand_r(&seed) % (book[t].vol - 1);
				book[t].vol -= vol;
			} else {
				type = 7; /* CLOSE (deletes a pending order) */
				book[t].open = false;
				nopen--;
			}
		}
		rs_dec(v, sizeof(v), vol, 2);
		rs_dec(p, sizeof(p), price, 5);
		rs_dec(s, sizeof(s), sl, 5);
		rs_dec(q, sizeof(q), tp, 5);
		fprintf(f, "%s,%s,%s,%s,%s,%s,%d\n", rs_syms[sym], rs_type_name(type), v, p, s, q, t);
		if (next_ticket >= RS_TICKETS)
			break;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* The copy policies of the scenario, by subscription id % 5, and what each makes of a master
 * position (the expectation the accounts are compared with). */
static const char *const rs_policy[5] = {
	NULL, /* the default: MULTIPLIER 1 */
	"{\"mode\":\"MULTIPLIER\",\"multiplier\":2,\"suffix\":\".m\"}",
	"{\"mode\":\"MULTIPLIER\",\"multiplier\":1,\"reverse\":true}",
	"{\"mode\":\"MULTIPLIER\",\"multiplier\":3,\"symbols_deny\":[\"GBPUSD\"]}",
	"{\"mode\":\"MULTIPLIER\",\"multiplier\":1,\"prefix\":\"x\",\"copy_tp\":false}"};

static int rs_reverse(int t)
{
	static const int r[] = {0, 2, 1, 6, 5, 4, 3};
	return t >= 1 && t <= 6 ? r[t] : t;
}

/* "<ticket> <symbol> <type> <volume> <sl> <tp>" of master position p under policy k; 0 when
 * the policy does not copy it. */
static int rs_expect(int k, int ticket, const struct rs_pos *p, char *out, size_t cap)
{
	int64_t mult = k == 1 ? 2 : k == 3 ? 3 : 1, sl = p->sl, tp = p->tp;
	int type = p->type;

	if (k == 3 && p->sym == 1)
		return 0;
	if (k == 2) {
		type = rs_reverse(type);
		sl = p->tp;
		tp = p->sl;
	}
	if (k == 4)
		tp = 0;
	snprintf(out, cap, "%d %s%s%s %s %" PRId64 " %" PRId64 " %" PRId64, ticket,
		 k == 4 ? "x" : "", rs_syms[p->sym], k == 1 ? ".m" : "", rs_type_name(type),
		 p->vol * mult, sl, tp);
	return 1;
}

static int rs_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compares the --positions file of a group (subscribers first..first+n-1) with the model.
 * Returns the number of subscribers whose account equals the expectation. */
static int rs_check_group(struct env *e, const char *tag, int first, int n,
			  const struct rs_pos *book)
{
	char p[512], line[256];
	int good = 0;

	snprintf(p, sizeof(p), "%s/%s.positions", e->dir, tag);
	for (int j = 0; j < n; j++) {
		int sub = first + j, k = sub % 5;
		char *want[RS_TICKETS], *have[RS_TICKETS];
		size_t nw = 0, nh = 0;
		bool same;
		FILE *f = fopen(p, "r");

		for (int t = 1; t < RS_TICKETS && nw < RS_TICKETS; t++) {
			char x[160];

			if (book[t].open && rs_expect(k, t, &book[t], x, sizeof(x)))
				want[nw++] = strdup(x);
		}
		while (f != NULL && fgets(line, sizeof(line), f) != NULL && nh < RS_TICKETS) {
			int idx;
			unsigned long long m;
			char rest[200];

			if (sscanf(line, "%d %llu %199[^\n]", &idx, &m, rest) == 3 && idx == j)
				have[nh++] = strdup(rest);
		}
		if (f != NULL)
			fclose(f);
		qsort(want, nw, sizeof(*want), rs_cmp);
		qsort(have, nh, sizeof(*have), rs_cmp);
		same = nw == nh;
		for (size_t i = 0; same && i < nw; i++)
			same = strcmp(want[i], have[i]) == 0;
		if (same) {
			good++;
		} else if (good + 3 > j) { /* name the first few that differ */
			fprintf(stderr, "resync: subscriber %d (%s, policy %d): %zu positions, want "
				"%zu\n", sub, tag, k, nh, nw);
			for (size_t i = 0; i < nw || i < nh; i++)
				fprintf(stderr, "  want %-40s have %s\n", i < nw ? want[i] : "",
					i < nh ? have[i] : "");
		}
		for (size_t i = 0; i < nw; i++)
			free(want[i]);
		for (size_t i = 0; i < nh; i++)
			free(have[i]);
	}
	return good;
}

/* Opens per (subscriber, ticket) in a group's --orders log: live opens (the trade of that
 * sequence opened the ticket) and re-sync OPENs. Returns the number of tickets opened more
 * than once by one subscriber (a duplicate fill). */
static int rs_double_opens(struct env *e, const char *tag, int n, const int *ticket_of_seq,
			   int nseq)
{
	char p[512], line[256];
	unsigned char *cnt = calloc((size_t)n * RS_TICKETS * 2, 1);
	int dup = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s.orders", e->dir, tag);
	f = fopen(p, "r");
	while (cnt != NULL && f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int idx, t = 0;
		unsigned long long m, seq;
		char kind[16], op[24];

		if (sscanf(line, "%d %llu %llu %15s %23s", &idx, &m, &seq, kind, op) != 5 || idx < 0 ||
		    idx >= n || m < 1 || m > 2)
			continue;
		if (strcmp(kind, "order") == 0 && seq >= 1 && (int)seq <= nseq &&
		    (strcmp(op, "BUY") == 0 || strcmp(op, "SELL") == 0 || strstr(op, "_") != NULL) &&
		    strcmp(op, "CLOSE_PARTIAL") != 0)
			t = ticket_of_seq[seq - 1];
		else if (strcmp(kind, "resync") == 0 && strcmp(op, "OPEN") == 0)
			sscanf(line, "%*d %*u %*u %*s %*s %*s %*s %*d %d", &t);
		if (t > 0 && t < RS_TICKETS &&
		    ++cnt[((size_t)idx * 2 + (m - 1)) * RS_TICKETS + (size_t)t] == 2)
			dup++;
	}
	if (f != NULL)
		fclose(f);
	free(cnt);
	return dup;
}

/* The lowest last sequence of masters 1 and 2's streams (0 when unreadable). */
static long long rs_stream_low(struct env *e)
{
	long long low = LLONG_MAX;
	char key[64];

	for (int m = 1; m <= 2; m++) {
		redisReply *r;
		long long last = 0;

		snprintf(key, sizeof(key), "decp:{m%d}:signals", m);
		r = redisCommand(e->rc, "XINFO STREAM %s", key);
		for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
		     i += 2)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    r->element[i + 1]->type == REDIS_REPLY_STRING &&
			    strcmp(r->element[i]->str, "last-generated-id") == 0)
				last = atoll(r->element[i + 1]->str);
		freeReplyObject(r);
		low = last < low ? last : low;
	}
	return low;
}

/* Waits (bounded, 60 s) until both streams reach `at`, then stops decp-control with SIGTERM
 * (exit 0 required) and starts it again with the same configuration (the fan-out on the
 * same port); *ready_ns: the wall clock when it was ready again. 0, or -1. */
static int restart_control(struct env *e, long long at, int64_t *ready_ns)
{
	char cfg[512], out[512];
	int rc;

	for (int t = 0; t < 1200 && rs_stream_low(e) < at; t++)
		usleep(50000);
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control stopped for the restart (exit %d)", rc);
	snprintf(cfg, sizeof(cfg), "%s/control.conf", e->dir);
	snprintf(out, sizeof(out), "%s/fanout-restarted.log", e->dir);
	{
		char *argv[] = {(char *)e->fanout_bin, (char *)"--config", cfg, NULL};

		e->fanout = spawn(argv, out);
	}
	if (harness_wait_line(out, " ready: ", NULL, 0, e->fanout, 30000) != 0)
		return -1;
	*ready_ns = now_ns();
	return rc == 0 ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* After the restart: for each subscriber of the groups' logs (tags[0..ng)) its first
 * snapshot reconciled after ready_ns, as ms since then and since its first connection after
 * ready_ns; prints the count, p50, p99, max of each. */
static void rs_restart_times(struct env *e, const char *const *tags, int ng, int nsubs,
			     int64_t ready_ns)
{
	int64_t *v = calloc((size_t)nsubs, sizeof(*v)), *w = calloc((size_t)nsubs, sizeof(*w));
	size_t n = 0, nw = 0;

	for (int g = 0; g < ng && v != NULL && w != NULL; g++) {
		char p[512], line[256];
		int64_t *first = calloc((size_t)nsubs, sizeof(*first));
		int64_t *conn = calloc((size_t)nsubs, sizeof(*conn));
		FILE *f;

		snprintf(p, sizeof(p), "%s/%s.log", e->dir, tags[g]);
		f = fopen(p, "r");
		while (first != NULL && f != NULL && fgets(line, sizeof(line), f) != NULL) {
			int idx;
			long long at;
			const char *a = strstr(line, " at ");

			if (sscanf(line, "%d", &idx) != 1 || a == NULL || idx < 0 || idx >= nsubs ||
			    (at = atoll(a + 4)) < ready_ns || conn == NULL)
				continue;
			if (strstr(line, " connected ") != NULL && conn[idx] == 0)
				conn[idx] = at;
			else if (strstr(line, " resync ") != NULL && (first[idx] == 0 || at < first[idx]))
				first[idx] = at;
		}
		if (f != NULL)
			fclose(f);
		for (int i = 0; first != NULL && conn != NULL && i < nsubs; i++)
			if (first[i] != 0) {
				v[n++] = first[i] - ready_ns;
				if (conn[i] != 0 && conn[i] <= first[i])
					w[nw++] = first[i] - conn[i];
			}
		free(first);
		free(conn);
	}
	if (n > 0) {
		qsort(v, n, sizeof(*v), cmp_i64);
		fprintf(stderr, "resync: after the restart %zu subscribers re-synced by snapshot: "
			"p50 %.0f ms, p99 %.0f ms, max %.0f ms after decp-control was ready\n", n,
			(double)v[n / 2] / 1e6, (double)v[n * 99 / 100] / 1e6,
			(double)v[n - 1] / 1e6);
	}
	if (nw > 0) {
		qsort(w, nw, sizeof(*w), cmp_i64);
		fprintf(stderr, "resync: from reconnecting to re-synced: p50 %.0f ms, p99 %.0f ms, "
			"max %.0f ms (%zu subscribers)\n", (double)w[nw / 2] / 1e6,
			(double)w[nw * 99 / 100] / 1e6, (double)w[nw - 1] / 1e6, nw);
	}
	free(v);
	free(w);
}

/* The platform's snapshot key (fanout_snapshot_key) into DIR/snapshot.key, its public key
 * as hex into pub (the EAs' --snapshot-key), and another key's public one into other. */
static int rs_snapshot_key(struct env *e, char *conf_line, size_t cap, char pub[65],
			   char other[65])
{
	uint8_t seed[32], p[32];
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/snapshot.key", e->dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	memset(seed, 0x5c, sizeof(seed));
	fprintf(f, "# the platform's snapshot signing key (test)\ned25519_seed = ");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", seed[i]);
	fprintf(f, "\n");
	if (fclose(f) != 0 || proto_ed25519_public_from_seed(seed, p) != 0)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(pub + 2 * i, 3, "%02x", p[i]);
	seed[0] ^= 1;
	if (proto_ed25519_public_from_seed(seed, p) != 0)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(other + 2 * i, 3, "%02x", p[i]);
	snprintf(conf_line, cap, "fanout_history = 16\nredis_keep_signals = 1000\n"
		 "fanout_keepalive_ms = 300\nfanout_keepalive_timeout_ms = 400\n"
		 "fanout_snapshot_key = %s\n", path);
	return 0;
}

static void scenario_resync(struct env *e)
{
	/* groups: honest (not cut by the test), cut every 100 ms (one of the process's connections),
	 * stopped (SIGSTOP) for half of the run: cut by the keep-alive, back with stale state */
	/* (and late: stops reading for half a second once, connected: what it then reads is
	 * stale, refused, and asks for a re-sync; and future: its clock 2 s behind the
	 * server's, believed (--no-time-sync), so every live signal comes "from the future",
	 * is refused and consumed, and asks for a re-sync 300 ms after its check) */
	int nl = e->nsubs / 10, nf = e->nsubs / 50 > 0 ? e->nsubs / 50 : 1,
	    ng = e->nsubs / 5 * 2 - nl - nf, nc = e->nsubs / 5 * 2,
	    ns = e->nsubs - ng - nc - nl - nf;
	struct rs_pos *book = calloc(RS_TICKETS, sizeof(*book));
	int *ticket_of_seq = calloc((size_t)e->nsignals, sizeof(int));
	char trades[512], mport[48], nsig[16], timeout[16], q[512];
	char pos[5][512], ord[5][512], stop_after[16];
	static const char *const tags[5] = {"honest", "cut", "stopped", "late", "future"};
	int first[5] = {1, 1 + ng, 1 + ng + nc, 1 + ng + nc + ns, 1 + ng + nc + ns + nl},
	    cnt[5] = {ng, nc, ns, nl, nf};
	pid_t sub[5], master;
	int dp_port, rc;
	int64_t t0, ready_ns = 0;
	static char conf[1024];
	char snap_pub[65], other_pub[65];

	if (book == NULL || ticket_of_seq == NULL)
		goto out;
	snprintf(trades, sizeof(trades), "%s/trades.csv", e->dir);
	if (rs_trades(e, e->nsignals, book, trades) != 0) {
		CHECK(0, "trade file");
		goto out;
	}
	{
		/* the ticket each sequence acts on (the file's 7th column), for rs_double_opens */
		FILE *f = fopen(trades, "r");
		char line[256];
		int i = -1;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL && i < e->nsignals) {
			const char *c = strrchr(line, ',');

			if (i >= 0 && c != NULL)
				ticket_of_seq[i] = atoi(c + 1);
			i++;
		}
		if (f != NULL)
			fclose(f);
	}
	for (int i = 1; i <= e->nsubs; i++)
		if (rs_policy[i % 5] != NULL) {
			snprintf(q, sizeof(q), "UPDATE subscriptions SET copy_policy = '%s' WHERE id = %d",
				 rs_policy[i % 5], i);
			CHECK(sql(e->db, q) == 0, "policy of subscription %d", i);
		}
	e->roles = "edge,fanout,archiver,book";
	e->fport = harness_free_port(); /* kept across the restart: the EAs reconnect to it */
	/* a short history ring, a short retention and a short keep-alive: resumes miss the ring,
	 * streams are trimmed while the run goes on, and a stopped EA is cut within a second;
	 * snapshots signed with the platform's key, which every EA verifies */
	if (rs_snapshot_key(e, conf, sizeof(conf), snap_pub, other_pub) != 0) {
		CHECK(0, "snapshot key");
		goto out;
	}
	e->conf = conf;
	snprintf(timeout, sizeof(timeout), "%d", 150 + e->nsubs / 10);
	if (start_pipeline(e, &dp_port) != 0) {
		CHECK(0, "dataplane and decp-control started");
		goto out;
	}
	snprintf(stop_after, sizeof(stop_after), "%d", e->nsignals * 5 / 6); /* after the restart */
	for (int g = 0; g < 4; g++) {
		/* TTL: 3 s for the stopped group, whose buffered envelopes are older than that when
		 * it goes on (refused, never executed: then the snapshot); 10 s for the honest and
		 * cut ones, so that a loaded machine delaying a live envelope does not make its
		 * refusal the test's result; 350 ms for the late one, which stops reading for
		 * 500 ms (below the keep-alive's cut): the envelopes it then reads are stale, so
		 * its account converges only through the re-sync it asks for */
		const char *x[] = {"--subs", group_file(e, tags[g], first[g], cnt[g]), "--expect",
				   expect_arg(e), "--timeout", timeout, "--resync", "--ttl-ms",
				   g == 2 ? "3000" : g == 3 ? "350" : "10000",
				   "--positions", pos[g], "--orders", ord[g], "--verify-cache",
				   "--snapshot-key", snap_pub,
				   g == 1 ? "--drop-ms" : g == 3 ? "--stop-reading-after" : NULL,
				   g == 1 ? "100" : stop_after, "--stall-ms", "500", NULL};

		snprintf(pos[g], sizeof(pos[g]), "%s/%s.positions", e->dir, tags[g]);
		snprintf(ord[g], sizeof(ord[g]), "%s/%s.orders", e->dir, tags[g]);
		sub[g] = start_subscriber(e, tags[g], x);
	}
	{
		/* the future group: its clock 2 s behind (--skew-ms -2000), believed instead of
		 * measured (--no-time-sync): every live signal's age is about -2 s, below the
		 * clock's tolerance (docs/guard.md "A signal from the future"; within the TTL of
		 * 10 s, so it is that rule, not the TTL's, which refuses it), refused TTL_EXPIRED
		 * with no known age, consumed: its account follows the master only through the
		 * re-syncs it asks 300 ms after such a check */
		const char *x[] = {"--subs", group_file(e, tags[4], first[4], cnt[4]), "--expect",
				   expect_arg(e), "--timeout", timeout, "--resync", "--ttl-ms",
				   "10000", "--positions", pos[4], "--orders", ord[4],
				   "--verify-cache", "--snapshot-key", snap_pub, "--skew-ms", "-2000",
				   "--no-time-sync", NULL};

		snprintf(pos[4], sizeof(pos[4]), "%s/%s.positions", e->dir, tags[4]);
		snprintf(ord[4], sizeof(ord[4]), "%s/%s.orders", e->dir, tags[4]);
		sub[4] = start_subscriber(e, tags[4], x);
	}
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", dp_port);
	snprintf(nsig, sizeof(nsig), "%d", e->nsignals);
	{
		char out[512];
		char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport, (char *)"--masters",
				(char *)"2", (char *)"--signals", nsig, (char *)"--trades", trades,
				(char *)"--rate", (char *)"200", (char *)"--threads", (char *)"2",
				(char *)"--time-limit-s", timeout,
				NULL};

		snprintf(out, sizeof(out), "%s/master.log", e->dir);
		t0 = now_ns();
		master = spawn(argv, out);
	}
	/* stop the third group from a quarter to three quarters of both masters' streams
	 * (bounded waits on the streams' lengths, no fixed sleep); subscription 1 paused over
	 * the same span; decp-control restarted at half */
	for (int phase = 1; phase <= 2; phase++) {
		if (phase == 2) {
			/* decp-control (edge, fan-out, archiver, book) restarted once, at half of
			 * the streams: every subscriber reconnects to a fan-out that has not seen the
			 * streams (a snapshot for each), the masters resend what was not ACKed */
			rc = restart_control(e, (long long)e->nsignals / 2, &ready_ns);
			CHECK(rc == 0, "decp-control restarted during the run (%d)", rc);
			fprintf(stderr, "resync: decp-control restarted at %.2f s\n",
				(double)(now_ns() - t0) / 1e9);
		}
		for (int t = 0; t < 1200 &&
				rs_stream_low(e) < (long long)e->nsignals * (phase == 1 ? 1 : 3) / 4;
		     t++)
			usleep(50000);
		kill(sub[2], phase == 1 ? SIGSTOP : SIGCONT);
		/* and subscription 1 (honest, connected throughout) paused over the same span:
		 * held by the fan-out, resumed by a snapshot */
		CHECK(sql(e->db, phase == 1 ? "UPDATE subscriptions SET state = 'PAUSED_TOXIC' "
					      "WHERE id = 1"
					    : "UPDATE subscriptions SET state = 'SYNCED' WHERE id = 1") == 0,
		      "subscription 1 %s", phase == 1 ? "paused" : "resumed");
		fprintf(stderr, "resync: group 'stopped' %s, subscription 1 %s at %.2f s\n",
			phase == 1 ? "stopped" : "continued", phase == 1 ? "paused" : "resumed",
			(double)(now_ns() - t0) / 1e9);
	}
	rc = harness_wait_exit(master, atoi(timeout) * 1000);
	CHECK(rc == 0, "decp-master: every signal ACKed (exit %d)", rc);
	for (int g = 0; g < 5; g++) {
		rc = harness_wait_exit(sub[g], atoi(timeout) * 1000);
		CHECK(rc == 0, "decp-subscriber group %s reached sequence %d (exit %d)", tags[g],
		      e->nsignals, rc);
	}
	fprintf(stderr, "resync: every subscriber at sequence %d %.2f s after the masters started\n",
		e->nsignals, (double)(now_ns() - t0) / 1e9);
	for (int g = 0; g < 5; g++) {
		int good = rs_check_group(e, tags[g], first[g], cnt[g], book);
		int dup = rs_double_opens(e, tags[g], cnt[g], ticket_of_seq, e->nsignals);

		CHECK(good == cnt[g], "group %s: every account holds the master's positions as its "
		      "policy maps them (%d of %d)", tags[g], good, cnt[g]);
		CHECK(dup == 0, "group %s: no ticket opened twice by one subscriber (%d)", tags[g],
		      dup);
	}
	{
		/* each stopped EA came back with state older than the stream: a snapshot past the
		 * point where it was stopped */
		char p[512], line[256];
		bool *seen = calloc((size_t)ns, sizeof(bool));
		int n = 0;
		FILE *f;

		snprintf(p, sizeof(p), "%s/stopped.log", e->dir);
		f = fopen(p, "r");
		while (seen != NULL && f != NULL && fgets(line, sizeof(line), f) != NULL) {
			int idx;
			unsigned long long m, s;

			if (sscanf(line, "%d %llu resync %llu", &idx, &m, &s) == 3 && idx >= 0 &&
			    idx < ns && s >= (unsigned long long)e->nsignals / 4 && !seen[idx]) {
				seen[idx] = true;
				n++;
			}
		}
		if (f != NULL)
			fclose(f);
		free(seen);
		CHECK(n == ns, "every stopped subscriber re-synced by a snapshot after its absence "
		      "(%d of %d)", n, ns);
		/* the paused one too: held while PAUSED_TOXIC, then a snapshot past the pause */
		n = 0;
		snprintf(p, sizeof(p), "%s/honest.log", e->dir);
		f = fopen(p, "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			int idx;
			unsigned long long m, s;

			if (sscanf(line, "%d %llu resync %llu", &idx, &m, &s) == 3 && idx == 0 &&
			    s >= (unsigned long long)e->nsignals / 4)
				n++;
		}
		if (f != NULL)
			fclose(f);
		CHECK(n >= 1 && count_lines(e, "honest.log", "0 1 state 4", true) >= 1,
		      "subscription 1: paused (StateChange PAUSED_TOXIC) and resumed by a snapshot past "
		      "the pause (%d)", n);
	}
	if (ready_ns != 0) /* the connected groups (the stopped one was stopped then) */
		rs_restart_times(e, tags, 2, e->nsubs, ready_ns);
	fprintf(stderr, "resync: snapshots reconciled: honest %d, cut %d, stopped %d, late %d\n",
		count_lines(e, "honest.log", " resync ", false),
		count_lines(e, "cut.log", " resync ", false),
		count_lines(e, "stopped.log", " resync ", false),
		count_lines(e, "late.log", " resync ", false));
	/* the late group's EAs, stale after their stall, ask for a re-sync on their open
	 * connection (without it none of their accounts is right at the end on a quiet
	 * machine: 0 of 10); on a loaded one the keep-alive may cut them first, and the
	 * reconnect's snapshot does the same */
	fprintf(stderr, "resync: the late group asked for %d re-syncs after stale signals\n",
		count_lines(e, "late.log", " resync-asked ", false));
	{
		/* the future group: each EA asked a re-sync on its open connection from a signal
		 * it refused "from the future" (its ProtectionEvent: TTL_EXPIRED at a negative
		 * age; stored by the archiver after the EA's exit: a bounded wait), and its account
		 * matched its master's book above. Without the deferred ask (before af9eb6b) none
		 * asked: each account stayed where the last snapshot of a reconnect left it */
		char p[512], line[256], in[3000], qf[3300];
		int asked = 0, from_future = 0;

		snprintf(p, sizeof(p), "%s/future.log", e->dir);
		for (int j = 0; j < nf; j++) {
			FILE *f = fopen(p, "r");
			size_t n = 0;

			/* the sequences it asked from (its master is the subscription's) */
			in[0] = '\0';
			while (f != NULL && fgets(line, sizeof(line), f) != NULL &&
			       n + 24 < sizeof(in)) {
				int idx;
				unsigned long long m, sq;

				if (sscanf(line, "%d %llu resync-asked %llu", &idx, &m, &sq) == 3 &&
				    idx == j)
					n += (size_t)snprintf(in + n, sizeof(in) - n, "%s%llu",
							      n > 0 ? "," : "", sq);
			}
			if (f != NULL)
				fclose(f);
			if (n == 0)
				continue;
			asked++;
			snprintf(qf, sizeof(qf), "SELECT count(*) FROM protection_logs WHERE "
				 "subscriber_id = %d AND sequence IN (%s) AND reason = 'TTL_EXPIRED' "
				 "AND latency_ms < 0", first[4] + j, in);
			for (int t = 0; t < 300 && pg_count(e, qf) < 1; t++)
				usleep(100000);
			from_future += pg_count(e, qf) >= 1;
		}
		CHECK(asked == nf && from_future == nf,
		      "group future: every EA asked a re-sync (%d of %d) from a signal it refused "
		      "from the future (%d of %d)", asked, nf, from_future, nf);
		fprintf(stderr, "resync: the future group asked for %d re-syncs, reconciled %d "
			"snapshots\n", count_lines(e, "future.log", " resync-asked ", false),
			count_lines(e, "future.log", " resync ", false));
	}
	/* the server wrote DEGRADED_GAP for each re-sync and SYNCED at its ResyncDone */
	snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE id >= %d AND id < %d AND "
		 "state_reason LIKE 're-sync done at sequence %%'", first[2], first[2] + ns);
	for (int t = 0; t < 100 && pg_count(e, q) < ns; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == ns, "every stopped subscription back to SYNCED by its ResyncDone "
	      "(%lld of %d)", pg_count(e, q), ns);
	snprintf(q, sizeof(q), "SELECT count(*) FROM subscriptions WHERE state <> 'SYNCED' AND "
		 "id <= %d", e->nsubs);
	for (int t = 0; t < 100 && pg_count(e, q) != 0; t++)
		usleep(100000);
	CHECK(pg_count(e, q) == 0, "no subscription left DEGRADED_GAP (%lld)", pg_count(e, q));
	/* honest subscribers are not penalised: no protection event from the honest group
	 * but the policy's own filters, and no staleness attributed to a subscriber among the
	 * cut one's (replays are the platform's) */
	snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id < %d "
		 "AND reason <> 'FILTERED'", first[1]);
	CHECK(pg_count(e, q) == 0, "no protection event from the honest group but FILTERED "
	      "(%lld)", pg_count(e, q));
	{
		PGresult *r = PQexec(e->db, "SELECT subscriber_id <= 40, reason, attribution, "
				     "count(*) FROM protection_logs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");

		for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
			fprintf(stderr, "resync: protection events: honest %s %s %s: %s\n",
				PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
				PQgetvalue(r, i, 3));
		PQclear(r);
	}
	snprintf(q, sizeof(q), "SELECT count(*) FROM protection_logs WHERE subscriber_id >= %d AND "
		 "subscriber_id < %d AND attribution = 'SUBSCRIBER'", first[1], first[2]);
	CHECK(pg_count(e, q) == 0, "no staleness blamed on the cut group (%lld)", pg_count(e, q));
	/* signed snapshots: every snapshot above verified with the platform's key (none
	 * refused); an EA of subscription 1 that trusts another key refuses the snapshot it is
	 * sent (a fresh EA: its replay from 1 is stale), says so, and reconciles nothing */
	CHECK(count_lines(e, "honest.err", "REFUSED: its signature", false) +
		      count_lines(e, "cut.err", "REFUSED: its signature", false) +
		      count_lines(e, "stopped.err", "REFUSED: its signature", false) == 0,
	      "every snapshot verified with the platform's key");
	CHECK(count_lines(e, "honest.err", "snapshots reconciled ", false) == 1,
	      "the EAs verified snapshots (--snapshot-key summary line)");
	{
		/* while the masters go on trading (100 more signals each): a refused snapshot
		 * leaves the account without the master's positions, so nothing of that master
		 * may execute after it (the SyncEnd that follows must not make the EA live at the
		 * stream's end): the EA closes the connection and asks again, later each time */
		const char *x[] = {"--subs", group_file(e, "wrongkey", 1, 1), "--timeout", "8",
				   "--resync", "--snapshot-key", other_pub, NULL};
		pid_t w = start_subscriber(e, "wrongkey", x), more;
		char nmore[16], out[512];
		int t;

		for (t = 0; t < 800 && count_lines(e, "wrongkey.err", "REFUSED: its signature",
						   false) == 0; t++)
			usleep(25000);
		snprintf(nmore, sizeof(nmore), "%d", e->nsignals + 100);
		snprintf(out, sizeof(out), "%s/master-more.log", e->dir);
		{
			char *argv[] = {(char *)e->master_bin, (char *)"--connect", mport,
					(char *)"--masters", (char *)"2", (char *)"--signals", nmore,
					(char *)"--rate", (char *)"100", (char *)"--time-limit-s",
					(char *)"60", NULL};

			more = spawn(argv, out);
		}
		rc = harness_wait_exit(more, 70000);
		CHECK(rc == 0, "decp-master: 100 more signals per master ACKed (exit %d)", rc);
		rc = harness_wait_exit(w, 60000);
		CHECK(rc == 0, "decp-subscriber with another snapshot key (exit %d)", rc);
		t = count_lines(e, "wrongkey.err", "REFUSED: its signature does not verify", false);
		CHECK(t >= 2, "a snapshot not signed by the trusted key is refused, said, and asked "
		      "for again after a reconnect (%d refused)", t);
		CHECK(count_lines(e, "wrongkey.err", "snapshots reconciled 0, refused (bad "
				  "signature) ", false) == 1, "nothing of it reconciled");
		CHECK(count_lines(e, "wrongkey.log", " resync ", false) == 0,
		      "no re-sync executed from it");
		CHECK(count_lines(e, "wrongkey.err", "decp-subscriber: subscribers 1 executed 0 "
				  "rejected 0 ", false) == 1,
		      "no live signal executed (or refused and reported) after a refused snapshot");
	}
	kill(e->fanout, SIGTERM);
	rc = harness_wait_exit(e->fanout, 20000);
	e->fanout = 0;
	CHECK(rc == 0, "decp-control exit %d", rc);
out:
	free(book);
	free(ticket_of_seq);
}

static void env_free(struct env *e)
{
	if (e->fanout > 0) {
		kill(e->fanout, SIGTERM);
		int rc = harness_wait_exit(e->fanout, 10000);

		/* a clean exit also means no sanitizer report (leaks included) */
		CHECK(rc == 0, "decp-fanout exit %d (see %s/fanout.log)", rc, e->dir);
	}
	if (e->fanout2 > 0) {
		int rc;

		kill(e->fanout2, SIGTERM);
		rc = harness_wait_exit(e->fanout2, 10000);
		CHECK(rc == 0, "second decp-fanout exit %d", rc);
	}
	if (e->dp > 0) {
		char shm[80];

		kill(e->dp, SIGTERM);
		CHECK(harness_wait_exit(e->dp, 10000) == 0, "decp-dataplane exit (see %s/dataplane.log)", e->dir);
		snprintf(shm, sizeof(shm), "/dev/shm%s", e->shm);
		unlink(shm);
	}
	if (e->rc != NULL)
		redisFree(e->rc);
	if (e->db != NULL)
		PQfinish(e->db);
	harness_redis_destroy(e->redis);
	harness_pg_destroy(e->pg);
	for (int m = 0; m < e->nmasters && e->mk != NULL; m++)
		proto_ed25519_key_free(e->mk[m].sk);
	free(e->mk);
	if (g_fail == 0 && e->dir[0] != '\0' && getenv("DECP_TEST_KEEP") == NULL) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", e->dir);
	} else if (e->dir[0] != '\0') {
		fprintf(stderr, "logs kept in %s\n", e->dir);
	}
}

int main(int argc, char **argv)
{
	struct env e = {0};
	const char *sc;
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	char err[512];

	if (argc != 7 && argc != 9) {
		fprintf(stderr, "usage: %s SCENARIO DECP_FANOUT DECP_SUBSCRIBER SUBS MASTERS SIGNALS "
			"[DECP_DATAPLANE DECP_MASTER]\n", argv[0]);
		return 2;
	}
	if (argc == 9) {
		e.dp_bin = argv[7];
		e.master_bin = argv[8];
	}
	/* suite fanout-full marks its tests; they run only when asked for (minutes each) */
	if (getenv("DECP_FANOUT_FULL_SUITE") != NULL && getenv("DECP_FANOUT_FULL") == NULL) {
		printf("skipped: set DECP_FANOUT_FULL=1 to run the full-size suite fanout-full\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sc = argv[1];
	e.fanout_bin = argv[2];
	e.sub_bin = argv[3];
	e.nsubs = atoi(argv[4]);
	e.nmasters = atoi(argv[5]);
	e.nsignals = atoi(argv[6]);
	if (e.nsubs < 1 || e.nmasters < 1 || e.nsignals < 1)
		return 2;
	snprintf(e.dir, sizeof(e.dir), "%s/decp-fanout-XXXXXX", tmp);
	if (mkdtemp(e.dir) == NULL)
		return 1;
	chmod(e.dir, 0755);
	{
		/* wss unless the scenario reads and writes the WebSocket bytes itself */
		static const char *const raw[] = {"abuse", "keepalive", "range", "close", "flood",
						  "authcache", "poll", "tailstart"};
		char tls_dir[600];

		e.tls = true;
		for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
			if (strcmp(sc, raw[i]) == 0)
				e.tls = false;
		snprintf(tls_dir, sizeof(tls_dir), "%s/tls", e.dir);
		if (mkdir(tls_dir, 0700) != 0 || harness_tls_certs(tls_dir) != 0) {
			CHECK(0, "certificates");
			goto out;
		}
	}
	e.mk = calloc((size_t)e.nmasters, sizeof(*e.mk));
	for (int m = 0; m < e.nmasters; m++) {
		struct master_keys *k = &e.mk[m];
		struct cp_testkeys tk;

		if (cp_testkeys_derive("decp-test", (uint64_t)m + 1, &tk) != 0) {
			CHECK(0, "test credentials");
			goto out;
		}
		memcpy(k->secret, tk.secret, sizeof(k->secret));
		memcpy(k->pub, tk.ed_pub, sizeof(k->pub));
		memcpy(k->seed, tk.ed_seed, sizeof(k->seed));
		memcpy(k->token_hash, tk.token_hash, sizeof(k->token_hash));
		if (proto_hmac_key_init(&k->hk, k->secret, sizeof(k->secret)) != 0 ||
		    (k->sk = proto_ed25519_key_new_private(k->seed)) == NULL) {
			CHECK(0, "key setup");
			goto out;
		}
	}
	e.redis = harness_redis_start(NULL);
	e.pg = harness_pg_start(NULL);
	CHECK(e.redis != NULL && e.pg != NULL, "servers started");
	if (e.redis == NULL || e.pg == NULL)
		goto out;
	e.db = PQconnectdb(harness_pg_conninfo(e.pg));
	if (PQstatus(e.db) != CONNECTION_OK || cp_migrate_apply(e.db, NULL, NULL, err, sizeof(err))) {
		CHECK(0, "migrations: %s", err);
		goto out;
	}
	if (load_db(&e) != 0 || write_files(&e) != 0) {
		CHECK(0, "test data");
		goto out;
	}
	e.rc = redisConnect("127.0.0.1", harness_redis_port(e.redis));
	if (e.rc == NULL || e.rc->err) {
		CHECK(0, "redis connect");
		goto out;
	}
	if (strcmp(sc, "resync") == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_resync(&e);
		goto out;
	}
	if (strcmp(sc, "policy") == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_policy(&e);
		goto out;
	}
	if (strcmp(sc, "forged") == 0 || strcmp(sc, "keyrotate") == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else if (sc[0] == 'f')
			scenario_forged(&e);
		else
			scenario_keyrotate(&e);
		goto out;
	}
	if (strncmp(sc, "trust_lag", 9) == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_trust_lag(&e, strcmp(sc, "trust_lag_cut") == 0);
		goto out;
	}
	if (strcmp(sc, "money_day") == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_money_day(&e);
		goto out;
	}
	if (strcmp(sc, "reports_pgdown") == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_reports_pgdown(&e);
		goto out;
	}
	if (strncmp(sc, "ctail", 5) == 0) {
		if (e.dp_bin == NULL || e.nmasters % 3 != 0)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER (and MASTERS a multiple of "
			      "3)", sc);
		else if (strcmp(sc, "ctail_faults") == 0)
			scenario_ctail_faults(&e);
		else
			scenario_ctail(&e);
		goto out;
	}
	if (strncmp(sc, "pipeline", 8) == 0) {
		if (e.dp_bin == NULL)
			CHECK(0, "%s needs DECP_DATAPLANE and DECP_MASTER", sc);
		else
			scenario_pipeline(&e, strcmp(sc, "pipeline_drop") == 0);
		goto out;
	}
	if (strcmp(sc, "wss") == 0) {
		/* another CA and its server certificate: an impostor fan-out, to the clients */
		char other[600];

		snprintf(other, sizeof(other), "%s/other", e.dir);
		if (mkdir(other, 0700) != 0 || harness_tls_certs(other) != 0) {
			CHECK(0, "the other certificate set");
			goto out;
		}
	}
	if (strcmp(sc, "keepalive") == 0) {
		static const char *const ka[] = {"--keepalive-ms", "300", "--keepalive-timeout-ms",
						 "400", NULL};

		e.fanout_extra = ka;
	}
	if (strcmp(sc, "range") == 0) {
		static const char *const rr[] = {"--set", "fanout_replay_rate=200", "--set",
						 "fanout_max_conns_per_subscriber=32", NULL};

		e.fanout_extra = rr;
	}
	if (strcmp(sc, "poll") == 0) {
		/* a small history ring: catching up reads Redis, later polls the ring */
		static const char *const po[] = {"--set", "fanout_history=64", "--set",
						 "fanout_poll_idle_ms=3000", NULL};

		e.fanout_extra = po;
	}
	if (strcmp(sc, "flood") == 0) {
		/* descriptors for 3,000 flood sockets here and in decp-fanout (inherited) */
		static const char *const fl[] = {"--set", "fanout_max_conns=64", NULL};

		CHECK(harness_nofile_raise(8192) == 0, "RLIMIT_NOFILE 8192");
		e.fanout_extra = fl;
	}
	if (strcmp(sc, "reuseport") == 0 || strcmp(sc, "rolling") == 0) {
		/* two processes share the port (SO_REUSEPORT): the kernel spreads the
		 * connections; every subscriber still gets everything, exactly once */
		e.port = 0;
		if (start_fanout(&e, NULL, "fanout", true, &e.fanout) != 0 ||
		    start_fanout(&e, NULL, "fanout2", true, &e.fanout2) != 0) {
			CHECK(0, "two decp-fanout processes started");
			goto out;
		}
	} else if (start_fanout(&e, strcmp(sc, "slow") == 0 ? "1024" : NULL, "fanout", false,
				&e.fanout) != 0) {
		CHECK(0, "decp-fanout started");
		goto out;
	}

	if (strcmp(sc, "e2e") == 0 || strcmp(sc, "reconnect") == 0 || strcmp(sc, "slow") == 0 ||
	    strcmp(sc, "reuseport") == 0 || strcmp(sc, "wss") == 0) {
		char orders[512];
		const char *x1[] = {"--subs", subs_arg(&e), "--expect", expect_arg(&e), "--timeout",
				    "240", "--verify-cache", "--report-exec", "--latency", "--orders",
				    orders, NULL};
		const char *x2[] = {"--subs", subs_arg(&e), "--expect", expect_arg(&e), "--timeout",
				    "240", "--drop-ms", "50", "--verify-cache", "--orders", orders, NULL};
		char slow_after[16];
		const char *x3[] = {"--token", "tok-1", "--master", "1", "--expect", expect_arg(&e),
				    "--timeout", "240", "--stop-reading-after", slow_after, NULL};
		pid_t sub, slow = 0;
		int rc, good;
		int64_t t0;

		snprintf(slow_after, sizeof(slow_after), "%d", e.nsignals / 10 + 1);
		snprintf(orders, sizeof(orders), "%s/subs.orders", e.dir);
		sub = start_subscriber(&e, "subs", strcmp(sc, "reconnect") == 0 ? x2 : x1);
		if (strcmp(sc, "slow") == 0)
			slow = start_subscriber(&e, "slow", x3);
		/* every subscription live (SyncEnd) before the first signal: the run is live
		 * delivery, which the trust check below relies on (one still in its initial
		 * replay would get the first signals as part of that replay) */
		wait_live(&e, "subs", e.nsubs);
		t0 = now_ns();
		CHECK(publish_all(&e, 5) == 0, "publish signals");
		fprintf(stderr, "%s: published %d x %d signals in %.2f s\n", sc, e.nmasters, e.nsignals,
			(double)(now_ns() - t0) / 1e9);
		rc = harness_wait_exit(sub, 240000);
		CHECK(rc == 0, "decp-subscriber finished (exit %d)", rc);
		fprintf(stderr, "%s: %d subscribers x %d signals in %.2f s after publish start\n", sc,
			e.nsubs, e.nsignals, (double)(now_ns() - t0) / 1e9);
		good = check_log(&e, "subs", 0, e.nsubs);
		CHECK(good == e.nsubs, "exactly once, in order: %d of %d subscribers complete", good,
		      e.nsubs);
		if (strcmp(sc, "reuseport") == 0) {
			unsigned long t1 = fanout_total(&e, "fanout"), t2 = fanout_total(&e, "fanout2");

			CHECK(t1 > 0 && t2 > 0 && t1 + t2 >= (unsigned long)e.nsubs,
			      "connections spread over both processes (%lu + %lu)", t1, t2);
		}
		if (strcmp(sc, "reconnect") == 0) {
			unsigned long rec = sub_reconnects(&e);

			CHECK(rec >= 5, "connections were cut during the run (%lu reconnects)", rec);
		}
		if (e.tls) {
			/* a fan-out whose certificate does not chain to the subscriber's --ca (an
			 * impostor, to this subscriber): nothing is received, nothing executed */
			char other[512];
			const char *xi[] = {"--token", "tok-1", "--master", "1", "--expect", "1",
					    "--timeout", "5", "--ca", other, NULL};

			snprintf(other, sizeof(other), "%s/other/ca.crt", e.dir);
			rc = harness_wait_exit(start_subscriber(&e, "impostor", xi), 60000);
			CHECK(rc != 0 && !log_has(&e, "impostor", " 1 1"),
			      "wss: a certificate that does not chain to --ca is refused (exit %d)",
			      rc);
			wss_refusals(&e);
			poll_tls(&e);
		}
		if (slow > 0) {
			rc = harness_wait_exit(slow, 120000);
			CHECK(rc == 0, "slow subscriber resumed and finished (exit %d)", rc);
			CHECK(log_has(&e, "slow", " closed"), "slow subscriber was dropped");
		}
		if (strcmp(sc, "e2e") == 0) {
			PGresult *r;

			/* reports are stored by the db thread in batches: the backlog left when the
			 * subscribers finish takes a few seconds on this loaded machine */
			for (int t = 0; t < 120; t++) {
				r = PQexec(e.db, "SELECT count(*) FROM subscriptions WHERE "
					   "last_sequence_id = (SELECT max(last_sequence_id) FROM "
					   "subscriptions)");
				if (t == 119 || PQresultStatus(r) != PGRES_TUPLES_OK ||
				    atoi(PQgetvalue(r, 0, 0)) >= e.nsubs)
					break;
				PQclear(r);
				usleep(250000);
			}
			CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) >= e.nsubs,
			      "execution reports stored (last_sequence_id of %s subscriptions)",
			      PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
			PQclear(r);
			/* issue 18: every execution names a sequence the fan-out's delivery runs show
			 * sent to that subscription (its credit rule needs nothing more), nearly all
			 * of them live: a subscriber this loaded machine starved for longer than the
			 * fan-out's queue is caught up by replay (recorded as such, and not credited
			 * by trust), which is the platform working as designed, not a defect */
			long long execs = pg_count(&e, "SELECT count(*) FROM trust_inbox WHERE event = "
						   "'EXECUTE' AND sequence IS NOT NULL");
			long long not_live = pg_count(&e, "SELECT count(*) FROM trust_inbox i WHERE"
				       " i.event = 'EXECUTE' AND NOT EXISTS (SELECT 1 FROM trust_deliveries"
				       " d WHERE d.subscription_id = i.subscription_id AND d.live AND"
				       " i.sequence BETWEEN d.first_sequence AND d.last_sequence)");
			CHECK(execs > 0 && pg_count(&e, "SELECT count(*) FROM trust_inbox i WHERE"
				       " i.event = 'EXECUTE' AND NOT EXISTS (SELECT 1 FROM trust_deliveries"
				       " d WHERE d.subscription_id = i.subscription_id AND i.sequence"
				       " BETWEEN d.first_sequence AND d.last_sequence)") == 0,
			      "every EXECUTE names a sequence delivered to its subscription "
			      "(trust_deliveries)");
			CHECK(not_live * 100 <= execs,
			      "EXECUTEs of a sequence delivered by replay, not live: %lld of %lld "
			      "(at most 1 %%: subscribers starved by the machine's load)", not_live,
			      execs);
			{
				/* on a failure: which, and what the deliveries say of them */
				PGresult *x = PQexec(e.db, "SELECT i.subscription_id, i.sequence, (SELECT"
					" string_agg(concat_ws(':', d.live, d.first_sequence,"
					" d.last_sequence), ' ') FROM trust_deliveries d WHERE"
					" d.subscription_id = i.subscription_id) FROM trust_inbox i WHERE"
					" i.event = 'EXECUTE' AND NOT EXISTS (SELECT 1 FROM trust_deliveries"
					" d WHERE d.subscription_id = i.subscription_id AND d.live AND"
					" i.sequence BETWEEN d.first_sequence AND d.last_sequence)"
					" ORDER BY 1, 2 LIMIT 5");

				for (int i = 0; PQresultStatus(x) == PGRES_TUPLES_OK && i < PQntuples(x); i++)
					fprintf(stderr, "  not live: subscription %s sequence %s; runs %.300s\n",
						PQgetvalue(x, i, 0), PQgetvalue(x, i, 1), PQgetvalue(x, i, 2));
				PQclear(x);
			}
			/* issue 20: each fill recorded once (this scenario's signals only open
			 * positions: realized profit is tests/money's test_sub_realized and the money
			 * scenario's), and each subscription's profit is the sum of its records */
			{
				long long fills = pg_count(&e, "SELECT count(*) FROM execution_pnl"
							   " WHERE status = 'FILLED'");
				long long reps = pg_count(&e, "SELECT count(*) FROM trust_inbox"
							  " WHERE event = 'EXECUTE'");
				long long off = pg_count(&e, "SELECT count(*) FROM subscriptions s WHERE"
							 " s.profit_exact <> (SELECT coalesce(sum("
							 "realized_profit), 0) FROM execution_pnl p"
							 " WHERE p.subscription_id = s.id)");

				CHECK(fills > 0 && fills == reps && off == 0, "execution reports recorded"
				      " once each in execution_pnl (%lld of %lld), profit the sum of its"
				      " records (subscriptions off %lld)", fills, reps, off);
			}
		}
	} else if (strcmp(sc, "refused") == 0) {
		char tok_nosub[32], tok_paused[32];
		const char *wrong[] = {"--token", "tok-1", "--master", "1", "--wrong-token",
				       "--timeout", "3", NULL};
		const char *nosub[] = {"--token", tok_nosub, "--master", "1", "--timeout", "3", NULL};
		const char *paused[] = {"--token", tok_paused, "--master", "1", "--timeout", "4", NULL};
		const char *live[] = {"--token", "tok-1", "--master", "1", "--timeout", "30",
				      "--expect", expect_arg(&e), NULL};
		pid_t p1, p2, p3, p4;
		char q[160];

		snprintf(tok_nosub, sizeof(tok_nosub), "tok-%d", e.nsubs + 1);
		snprintf(tok_paused, sizeof(tok_paused), "tok-%d", e.nsubs + 2);
		p1 = start_subscriber(&e, "wrong", wrong);
		p2 = start_subscriber(&e, "nosub", nosub);
		p3 = start_subscriber(&e, "paused", paused);
		p4 = start_subscriber(&e, "live", live);
		usleep(1500000);
		/* subscriber 1 is paused by an operator while connected: StateChange, no signals */
		snprintf(q, sizeof(q), "UPDATE subscriptions SET state = 'SUSPENDED_ADMIN' WHERE id = 1");
		CHECK(sql(e.db, q) == 0, "suspend subscription 1");
		usleep(2000000);
		CHECK(publish_all(&e, 0) == 0, "publish signals");
		usleep(1500000);
		CHECK(!log_has(&e, "live", "0 1 1\n"), "suspended: signals stop");
		/* the operator resumes it: StateChange, then everything missed, exactly once */
		snprintf(q, sizeof(q), "UPDATE subscriptions SET state = 'SYNCED' WHERE id = 1");
		CHECK(sql(e.db, q) == 0, "resume subscription 1");
		harness_wait_exit(p1, 10000);
		harness_wait_exit(p2, 10000);
		harness_wait_exit(p3, 10000);
		CHECK(harness_wait_exit(p4, 30000) == 0, "resumed subscriber received everything");
		CHECK(log_has(&e, "wrong", "refused"), "wrong token refused at the upgrade");
		CHECK(!log_has(&e, "wrong", " 1 1\n"), "wrong token received nothing");
		CHECK(log_has(&e, "nosub", "error 5"), "master without subscription: Error FORBIDDEN");
		CHECK(log_has(&e, "paused", "state 4"), "paused subscription: StateChange PAUSED_TOXIC");
		CHECK(!log_has(&e, "paused", "0 1 1\n"), "paused subscription: no signal executed");
		CHECK(log_has(&e, "live", "state 5"), "suspended while connected: StateChange");
		CHECK(log_has(&e, "live", "state 1"), "resumed: StateChange SYNCED");
		{
			char last[32];

			snprintf(last, sizeof(last), "0 1 %d\n", e.nsignals);
			CHECK(log_has(&e, "live", last), "resumed: executed up to %d", e.nsignals);
			CHECK(check_log(&e, "live", 0, 1) == 1, "resumed: each signal once, in order");
		}
	} else if (strcmp(sc, "authcache") == 0) {
		scenario_authcache(&e);
	} else if (strcmp(sc, "abuse") == 0) {
		scenario_abuse(&e);
	} else if (strcmp(sc, "keepalive") == 0) {
		scenario_keepalive(&e);
	} else if (strcmp(sc, "range") == 0) {
		scenario_range(&e);
	} else if (strcmp(sc, "tailstart") == 0) {
		scenario_tailstart(&e);
	} else if (strcmp(sc, "rolling") == 0) {
		scenario_rolling(&e);
	} else if (strcmp(sc, "poll") == 0) {
		scenario_poll(&e);
	} else if (strcmp(sc, "close") == 0) {
		scenario_close(&e);
	} else if (strcmp(sc, "flood") == 0) {
		scenario_flood(&e);
	} else if (strcmp(sc, "wsclient") == 0) {
		scenario_wsclient(&e);
	} else {
		fprintf(stderr, "unknown scenario %s\n", sc);
		g_fail++;
	}
out:
	env_free(&e);
	printf("%d passed, %d failed\n", g_pass, g_fail);
	return g_fail == 0 ? 0 : 1;
}
