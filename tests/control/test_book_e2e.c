/*
 * test_book_e2e: decp-control's `book` role (issue 19) against a real redis-server (AOF,
 * tests/harness): signals of two masters are written to their streams as the edge
 * writes them (sealed by proto's helpers, cp_rec records), decp-control --roles book
 * keeps each master's position book in Redis ("decp:{m<id>}:book"). Checks:
 *   - the stored book equals the one the same signals give in-process, and reflects
 *     the stream's last sequence;
 *   - killed (SIGKILL) and restarted, the role goes on from the stored sequence: signals
 *     written while it was down are applied once (the stored book equals the model);
 *   - a save of an older book is refused (the stored book never moves back);
 *   - a third master whose stream was trimmed (its signals 1..1,000 only in PostgreSQL's
 *     signal_archive, 1,001..1,500 in the stream) gets its book completed from the
 *     archive, then the stream;
 *   - decp-control exits 0 at SIGTERM (no sanitizer report) and logs its counters.
 * Usage: test_book_e2e DECP_CONTROL
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cp_book.h"
#include "cp_book_store.h"
#include "cp_migrate.h"
#include "cp_redis_rec.h"
#include "cp_testkeys.h"
#include "harness.h"
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

#define MASTERS 2
#define TRIMMED 3   /* the master whose early history is only in signal_archive */
#define ARCHIVED 1000
#define FIRST 3000  /* signals before the kill */
#define SECOND 1000 /* written while the role is down */

static struct proto_hmac_key g_hk[TRIMMED + 1];
static struct proto_ed25519_key *g_sk[TRIMMED + 1];
static struct cp_book g_model[TRIMMED + 1];
static PGconn *g_db; /* NULL: signals go to the stream */

/* Signal i of a master: per ticket a cycle of place pending / modify / delete / open /
 * modify / partial close / close, with every 7th ticket left open (i counts from 0). */
static void signal_of(uint64_t master, uint64_t i, Decp__Signal *s)
{
	static const char *const syms[4] = {"EURUSD", "GBPUSD.m", "USDJPY", "XAUUSD"};
	static const int types[7] = {DECP__ORDER_TYPE__ORDER_TYPE_BUY_LIMIT,
				     DECP__ORDER_TYPE__ORDER_TYPE_MODIFY,
				     DECP__ORDER_TYPE__ORDER_TYPE_CLOSE,
				     DECP__ORDER_TYPE__ORDER_TYPE_SELL,
				     DECP__ORDER_TYPE__ORDER_TYPE_MODIFY,
				     DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL,
				     DECP__ORDER_TYPE__ORDER_TYPE_CLOSE};
	uint64_t ticket = 1000 + i / 7, step = i % 7;

	decp__signal__init(s);
	s->master_id = master;
	s->sequence = i + 1;
	s->symbol = (char *)syms[ticket % 4];
	s->order_type = (Decp__OrderType)types[step];
	if (ticket % 7 == 0 && step == 6)
		s->order_type = DECP__ORDER_TYPE__ORDER_TYPE_MODIFY; /* stays open */
	s->volume = step == 0 || step == 3 ? 100 : step == 5 ? 40 : 0;
	s->price = 100000 + (int64_t)(i % 97);
	s->sl = step == 1 || step == 4 ? 99000 + (int64_t)i % 50 : 0;
	s->position_ticket = step < 3 ? ticket * 10 : ticket * 10 + 1;
	s->master_time_ns = 1800000000000000000 + (int64_t)i;
}

/* XADDs signals [from, to) of master as the edge stores them and applies them to the
 * model. 0 or -1. */
static int write_signals(redisContext *rc, uint64_t master, uint64_t from, uint64_t to)
{
	char key[64];

	snprintf(key, sizeof(key), "decp:{m%" PRIu64 "}:signals", master);
	for (uint64_t i = from; i < to; i++) {
		Decp__Signal s;
		struct proto_sealed_signal ss;
		struct cp_book_signal bs;
		uint8_t rec[512];
		struct cp_rec r;
		size_t n;
		redisReply *rep;

		signal_of(master, i, &s);
		if (proto_signal_seal(&g_hk[master], g_sk[master], &s, &ss) != 0)
			return -1;
		r = (struct cp_rec){.arrival_ns = 1800000000000000000 + (int64_t)i, .body = ss.body,
				    .body_len = ss.body_len, .hmac = ss.hmac, .hmac_len = 32,
				    .sig = ss.sig, .sig_len = 64};
		n = cp_rec_pack(rec, sizeof(rec), &r);
		if (g_db != NULL) {
			/* as the archiver stores it (only what the book role reads matters) */
			char sq[24], ns[24];
			const char *v[5] = {key, sq, ns, s.symbol, (const char *)ss.body};
			int l[5] = {0, 0, 0, 0, (int)ss.body_len}, fm[5] = {0, 0, 0, 0, 1};
			PGresult *pr;

			snprintf(key, sizeof(key), "%" PRIu64, master);
			snprintf(sq, sizeof(sq), "%" PRIu64, i + 1);
			snprintf(ns, sizeof(ns), "%" PRId64, r.arrival_ns);
			pr = PQexecParams(g_db, "INSERT INTO signal_archive (master_id, sequence, "
					  "arrival_time, arrival_ns, symbol, order_type, volume, body) "
					  "VALUES ($1, $2, to_timestamp($3::bigint / 1e9), $3, $4, 'X', 0, "
					  "$5)", 5, NULL, v, l, fm, 0);
			if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
				fprintf(stderr, "signal_archive: %s", PQresultErrorMessage(pr));
				PQclear(pr);
				return -1;
			}
			PQclear(pr);
			snprintf(key, sizeof(key), "decp:{m%" PRIu64 "}:signals", master);
		} else {
			rep = redisCommand(rc, "XADD %s %" PRIu64 "-0 r %b", key, i + 1, rec, n);
			if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
				freeReplyObject(rep);
				return -1;
			}
			freeReplyObject(rep);
		}
		bs = (struct cp_book_signal){.master_id = master, .sequence = i + 1,
					     .ticket = s.position_ticket, .order_type = s.order_type,
					     .symbol = s.symbol, .volume = s.volume, .price = s.price,
					     .sl = s.sl, .tp = s.tp};
		if (cp_book_apply(&g_model[master], &bs, NULL) != 0)
			return -1;
	}
	freeReplyObject(redisCommand(rc, "SADD decp:masters %" PRIu64, master));
	return 0;
}

/* The stored book of master equals the model (same entries, same sequence). */
static bool stored_equals_model(redisContext *rc, uint64_t master)
{
	struct cp_book b;
	const struct cp_book *m = &g_model[master];
	bool eq;

	cp_book_init(&b, master);
	eq = cp_book_store_load(rc, master, &b) == 0 && b.seq == m->seq && b.n == m->n &&
	     b.anomalies == m->anomalies;
	for (size_t k = 0; eq && k < m->n; k++) {
		const struct cp_book_entry *x = &m->e[k], *y = cp_book_find(&b, x->ticket);

		eq = y != NULL && memcmp(x, y, sizeof(*x)) == 0;
	}
	cp_book_free(&b);
	return eq;
}

static bool wait_books(redisContext *rc, uint64_t last, int ms)
{
	for (int t = 0; t < ms / 50; t++) {
		bool all = true;

		for (uint64_t m = 1; m <= last; m++)
			all = all && stored_equals_model(rc, m);
		if (all)
			return true;
		usleep(50000);
	}
	return false;
}

static pid_t start_ctl(const char *bin, const char *cfg, const char *log)
{
	pid_t p = fork();

	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(bin, bin, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	return p;
}

int main(int argc, char **argv)
{
	struct harness_redis_opts ro = {.aof = true};
	struct harness_redis *redis = NULL;
	struct harness_pg *pg = NULL;
	PGconn *db = NULL;
	char err[512];
	redisContext *rc = NULL;
	char dir[256], cfg[300], log[300];
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	pid_t ctl = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DECP_CONTROL\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/decp-book-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(cfg, sizeof(cfg), "%s/control.conf", dir);
	snprintf(log, sizeof(log), "%s/control.log", dir);
	for (uint64_t m = 1; m <= TRIMMED; m++) {
		struct cp_testkeys tk;

		if (cp_testkeys_derive("decp-test", m, &tk) != 0 ||
		    proto_hmac_key_init(&g_hk[m], tk.secret, sizeof(tk.secret)) != 0 ||
		    (g_sk[m] = proto_ed25519_key_new_private(tk.ed_seed)) == NULL) {
			CHECK(0, "test keys");
			goto out;
		}
		cp_book_init(&g_model[m], m);
	}
	redis = harness_redis_start(&ro);
	pg = harness_pg_start(NULL);
	CHECK(redis != NULL && pg != NULL, "redis-server and PostgreSQL started");
	if (redis == NULL || pg == NULL)
		goto out;
	db = PQconnectdb(harness_pg_conninfo(pg));
	if (PQstatus(db) != CONNECTION_OK || cp_migrate_apply(db, NULL, NULL, err, sizeof(err))) {
		CHECK(0, "migrations: %s", err);
		goto out;
	}
	rc = redisConnect("127.0.0.1", harness_redis_port(redis));
	if (rc == NULL || rc->err) {
		CHECK(0, "redis connect");
		goto out;
	}
	f = fopen(cfg, "w");
	if (f == NULL)
		goto out;
	fprintf(f, "roles = book\nshm = /decp-booktest-%d\nredis_host = 127.0.0.1\n"
		"redis_port = %d\npg_conninfo = %s\nlog_level = info\n", (int)getpid(),
		harness_redis_port(redis), harness_pg_conninfo(pg));
	fclose(f);

	for (uint64_t m = 1; m <= MASTERS; m++)
		CHECK(write_signals(rc, m, 0, FIRST / 2) == 0, "first half written");
	ctl = start_ctl(argv[1], cfg, log);
	for (uint64_t m = 1; m <= MASTERS; m++) /* the rest while it runs */
		CHECK(write_signals(rc, m, FIRST / 2, FIRST) == 0, "second half written");
	CHECK(wait_books(rc, MASTERS, 60000), "both books stored, equal to the model at "
	      "sequence %d", FIRST);
	CHECK(g_model[1].n > 0 && g_model[1].anomalies == 0,
	      "the model holds positions (%zu), no anomaly", g_model[1].n);

	/* kill -9, signals written while down, restart: applied once, from the stored book */
	kill(ctl, SIGKILL);
	waitpid(ctl, NULL, 0);
	ctl = 0;
	for (uint64_t m = 1; m <= MASTERS; m++)
		CHECK(write_signals(rc, m, FIRST, FIRST + SECOND) == 0, "written while down");
	ctl = start_ctl(argv[1], cfg, log);
	CHECK(wait_books(rc, MASTERS, 60000), "after the restart both books reflect %d",
	      FIRST + SECOND);

	/* a trimmed stream: the first ARCHIVED signals only in signal_archive */
	g_db = db;
	CHECK(write_signals(rc, TRIMMED, 0, ARCHIVED) == 0, "archived signals written");
	g_db = NULL;
	CHECK(write_signals(rc, TRIMMED, ARCHIVED, ARCHIVED + 500) == 0, "the stream's rest");
	CHECK(wait_books(rc, TRIMMED, 60000), "the trimmed master's book completed from "
	      "signal_archive, then the stream (%d)", ARCHIVED + 500);

	/* the stored book never moves back */
	{
		struct cp_book old;

		cp_book_init(&old, 1);
		CHECK(cp_book_store_save(rc, &old) == 0, "an older book is not stored");
		CHECK(stored_equals_model(rc, 1), "the stored book unchanged");
		cp_book_free(&old);
	}
	kill(ctl, SIGTERM);
	{
		int rcode = harness_wait_exit(ctl, 20000);
		char rest[256];

		ctl = 0;
		CHECK(rcode == 0, "decp-control exit %d (see %s)", rcode, log);
		CHECK(harness_wait_line(log, "book info: stopped: masters=3", rest, sizeof(rest), 0,
					100) == 0 && strstr(rest, "from_archive=1000") != NULL,
		      "stop line with the counters: %s", rest);
	}
out:
	if (ctl > 0) {
		kill(ctl, SIGKILL);
		waitpid(ctl, NULL, 0);
	}
	if (rc != NULL)
		redisFree(rc);
	harness_redis_destroy(redis);
	if (db != NULL)
		PQfinish(db);
	harness_pg_destroy(pg);
	for (uint64_t m = 1; m <= TRIMMED; m++) {
		cp_book_free(&g_model[m]);
		proto_ed25519_key_free(g_sk[m]);
	}
	if (g_fail == 0) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", dir);
	} else {
		fprintf(stderr, "logs kept in %s\n", dir);
	}
	printf("%d passed, %d failed\n", g_pass, g_fail);
	return g_fail == 0 ? 0 : 1;
}
