/*
 * test_mt5_e2e: decp.dll at both ends of the real pipeline, under Wine.
 *
 *   wine_e2e.exe (master thread) --TCP--> decp-dataplane --stack posix (loopback)
 *        --shm--> decp-control (roles edge,fanout,archiver; Redis and PostgreSQL from
 *        tests/harness) --WebSocket--> wine_e2e.exe (receiver thread)
 *
 * The Windows program does what the EAs do through decp.dll and Winsock (see wine_e2e.c;
 * the signals and their outcomes are e2e_plan.h's). Here: the servers, the master and
 * subscriber rows (cp_testkeys credentials, seed "decp-mt5") with copy policy version 1
 * (2.0x), the change to version 2 (GBPUSD denied) once the receiver has consumed the first
 * half, then after the run what the servers stored: every signal archived
 * (signal_archive), the subscription's last_sequence_id moved by the execution reports
 * (one EXECUTE trust event each, every BUY filled at twice the master's volume in
 * execution_pnl), one INVALID_SIGNATURE protection_logs row per forged envelope, the
 * planned INSUFFICIENT_MARGIN and FILTERED rows, the subscription still SYNCED, and every
 * report stored once (subscriber_reports) although some were sent twice.
 *
 * usage: test_mt5_e2e DECP_DATAPLANE DECP_CONTROL RUN_WINE WINE_E2E_EXE DECP_DLL SIGNALS
 * Exit 77 (skipped) only when Wine cannot start. Prints "N passed, N failed" last.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/sha.h>

#include "cp_migrate.h"
#include "cp_testkeys.h"
#include "e2e_plan.h"
#include "harness.h"
#include "mt5_check.h"


#define MASTER 1
#define SUB_TOKEN_FMT "mt5-sub-%d"

static char g_dir[256];
static pid_t g_dp, g_ctl;

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

static long long pg_count(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	long long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			      ? atoll(PQgetvalue(r, 0, 0)) : -1;

	if (n < 0)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return n;
}

/* Master 1 (keys, license token), subscriber 1 (token), subscription 1. */
static int load_db(PGconn *db, const struct cp_testkeys *k, const char *sub_token)
{
	uint8_t th[32];
	const char *v[4] = { "1", "mt5-master", (const char *)k->secret, (const char *)k->ed_pub };
	int l[4] = { 0, 0, 32, 32 }, f[4] = { 0, 0, 1, 1 };

	if (sql_params(db, "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) "
		       "VALUES ($1, $2, $3, $4)", 4, v, l, f) != 0)
		return -1;
	v[1] = (const char *)k->token_hash;
	l[1] = 32;
	f[1] = 1;
	if (sql_params(db, "INSERT INTO license_tokens (master_id, token_sha256) VALUES ($1, $2)",
		       2, v, l, f) != 0)
		return -1;
	v[1] = "mt5-subscriber";
	l[1] = 0;
	f[1] = 0;
	if (sql_params(db, "INSERT INTO subscribers (id, name) VALUES ($1, $2)", 2, v, l, f) != 0)
		return -1;
	SHA256((const unsigned char *)sub_token, strlen(sub_token), th);
	v[1] = (const char *)th;
	l[1] = 32;
	f[1] = 1;
	if (sql_params(db, "INSERT INTO subscriber_tokens (subscriber_id, token_sha256) "
		       "VALUES ($1, $2)", 2, v, l, f) != 0)
		return -1;
	return sql_params(db, "INSERT INTO subscriptions (id, master_id, subscriber_id, "
			  "copy_policy) VALUES (1, 1, 1, '" PLAN_POLICY_V1 "')", 0, NULL, NULL, NULL);
}

/* posix decp-dataplane + decp-control (edge,fanout,archiver); their ports. */
static int start_pipeline(const char *dp_bin, const char *ctl_bin, struct harness_redis *rd,
			  struct harness_pg *pg, int *dp_port, int *fo_port)
{
	char pf[512], out[512], cfg[512], shm[64], rest[256];
	FILE *f;

	snprintf(shm, sizeof(shm), "/decp-mt5-%d", (int)getpid());
	snprintf(pf, sizeof(pf), "%s/dp.port", g_dir);
	snprintf(out, sizeof(out), "%s/dataplane.log", g_dir);
	{
		/* --tls off: the Wine test program speaks plain Winsock; in a terminal the EA's
		 * socket is TLS through MQL5's SocketTlsHandshake (docs/mt5.md). No
		 * --allow-protocol-1: decp.dll logs in with protocol 2. */
		char *argv[] = { (char *)dp_bin, "--stack", "posix", "--listen", "127.0.0.1:0",
				 "--shm", shm, "--workers", "1", "--port-file", pf, "--tls", "off",
				 NULL };

		g_dp = harness_spawn(out, argv);
	}
	if (harness_wait_line(pf, "", rest, sizeof(rest), g_dp, 30000) != 0 ||
	    (*dp_port = atoi(rest)) <= 0) {
		fprintf(stderr, "decp-dataplane did not start (see %s)\n", out);
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/control.conf", g_dir);
	if ((f = fopen(cfg, "w")) == NULL)
		return -1;
	/* fanout_tls = off, said explicitly: the Wine test program's decp.dll speaks plain
	 * Winsock; in a terminal the EA's socket is TLS through MQL5 (docs/mt5.md) */
	fprintf(f, "roles = edge,fanout,archiver\nshm = %s\nredis_host = 127.0.0.1\n"
		"redis_port = %d\npg_conninfo = %s\nfanout_listen = 127.0.0.1\nfanout_port = 0\n"
		"fanout_state_poll_ms = 200\nredis_timeout_ms = 5000\nfanout_tls = off\n",
		shm, harness_redis_port(rd), harness_pg_conninfo(pg));
	fclose(f);
	snprintf(out, sizeof(out), "%s/control.log", g_dir);
	{
		char *argv[] = { (char *)ctl_bin, "--config", cfg, NULL };

		g_ctl = harness_spawn(out, argv);
	}
	if (harness_wait_line(out, "listening on 127.0.0.1:", rest, sizeof(rest), g_ctl, 60000) != 0 ||
	    harness_wait_line(out, " ready: ", NULL, 0, g_ctl, 60000) != 0)
		return -1;
	*fo_port = atoi(rest);
	return *fo_port > 0 ? 0 : -1;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Polls a count until it reaches want (the archiver and the report writer are async). */
static long long wait_count(PGconn *db, const char *q, long long want, int ms)
{
	long long n = -1;

	for (int t = 0; t < ms; t += 100) {
		n = pg_count(db, q);
		if (n >= want)
			break;
		usleep(100000);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	struct harness_redis *rd = NULL;
	struct harness_pg *pg = NULL;
	PGconn *db = NULL;
	struct cp_testkeys k;
	char err[512], sub_token[64], secret[65], seed[65], dpp[16], fop[16], mid[16], log[512];
	int dp_port = 0, fo_port = 0, n, rc = 1, skipped = 0;
	pid_t w;

	if (argc != 7 || (n = atoi(argv[6])) < 6) {
		fprintf(stderr, "usage: test_mt5_e2e DECP_DATAPLANE DECP_CONTROL RUN_WINE "
			"WINE_E2E_EXE DECP_DLL SIGNALS(>=6)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_dir, sizeof(g_dir), "%s/decp-mt5-XXXXXX", tmp);
	if (mkdtemp(g_dir) == NULL)
		return 1;
	chmod(g_dir, 0755);
	if (cp_testkeys_derive("decp-mt5", MASTER, &k) != 0) {
		CHECK(0, "test credentials");
		goto out;
	}
	rd = harness_redis_start(NULL);
	pg = harness_pg_start(NULL);
	CHECK(rd != NULL && pg != NULL, "Redis and PostgreSQL started");
	if (rd == NULL || pg == NULL)
		goto out;
	db = PQconnectdb(harness_pg_conninfo(pg));
	if (PQstatus(db) != CONNECTION_OK || cp_migrate_apply(db, NULL, NULL, err, sizeof(err))) {
		CHECK(0, "migrations: %s", err);
		goto out;
	}
	snprintf(sub_token, sizeof(sub_token), SUB_TOKEN_FMT, (int)getpid());
	if (load_db(db, &k, sub_token) != 0) {
		CHECK(0, "test rows");
		goto out;
	}
	if (start_pipeline(argv[1], argv[2], rd, pg, &dp_port, &fo_port) != 0) {
		CHECK(0, "decp-dataplane and decp-control started (logs in %s)", g_dir);
		goto out;
	}
	hex(k.secret, 32, secret);
	hex(k.ed_seed, 32, seed);
	snprintf(dpp, sizeof(dpp), "%d", dp_port);
	snprintf(fop, sizeof(fop), "%d", fo_port);
	snprintf(mid, sizeof(mid), "%d", MASTER);
	snprintf(log, sizeof(log), "%s/wine_e2e.log", g_dir);
	{
		char *wargv[] = { argv[3], argv[4], argv[5], "127.0.0.1", dpp, fop, mid, k.token,
				  secret, seed, sub_token, argv[6], NULL };

		w = harness_spawn(log, wargv);
	}
	/* the receiver consumed the first half: copy policy version 2 (the fan-out's policy
	 * thread pushes it; the master sends the second half once the receiver holds it) */
	if (harness_wait_line(log, "receiver: phase1 done", NULL, 0, w, 300000) == 0)
		CHECK(sql_params(db, "UPDATE subscriptions SET copy_policy = '" PLAN_POLICY_V2
				 "' WHERE id = 1", 0, NULL, NULL, NULL) == 0,
		      "copy policy version 2 stored");
	rc = harness_wait_exit(w, 500000);
	if (rc == 77) {
		printf("skipped: Wine cannot start (see %s)\n", log);
		skipped = 1;
		goto out;
	}
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
	}
	CHECK(rc == 0, "wine_e2e.exe: master and receiver sides passed (exit %d)", rc);
	{
		char q[256];
		long long c;

		c = wait_count(db, "SELECT count(*) FROM signal_archive WHERE master_id = 1", n, 30000);
		CHECK(c == n, "every signal archived: %lld of %d", c, n);
		c = wait_count(db, "SELECT last_sequence_id FROM subscriptions WHERE id = 1", n, 30000);
		CHECK(c == n, "execution reports stored: last_sequence_id %lld", c);
		c = wait_count(db, "SELECT count(DISTINCT sequence) FROM protection_logs WHERE "
			       "subscriber_id = 1 AND reason = 'INVALID_SIGNATURE'", n, 30000);
		CHECK(c == n, "forged envelopes reported and stored: %lld of %d", c, n);
		/* every report once: 2 per signal (the forgery's and the outcome), some sent twice */
		c = wait_count(db, "SELECT count(*) FROM subscriber_reports WHERE subscriber_id = 1",
			       2 * n, 30000);
		CHECK(c == 2 * n, "every report stored once by its report id: %lld of %d", c, 2 * n);
		c = pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1");
		CHECK(c == n + plan_count(n, 10) + plan_count(n, 8),
		      "no protection event stored twice: %lld rows, %d planned", c,
		      n + plan_count(n, 10) + plan_count(n, 8));
		snprintf(q, sizeof(q), "SELECT count(*) FROM trust_inbox WHERE subscription_id = 1 "
			 "AND event = 'EXECUTE'");
		c = wait_count(db, q, plan_count(n, 0), 30000);
		CHECK(c == plan_count(n, 0), "one EXECUTE per executed signal: %lld of %d", c,
		      plan_count(n, 0));
		c = pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1 AND "
			     "reason = 'INSUFFICIENT_MARGIN'");
		CHECK(c == plan_count(n, 10), "gold beyond the account's margin: %lld "
		      "INSUFFICIENT_MARGIN of %d", c, plan_count(n, 10));
		c = pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1 AND "
			     "reason = 'FILTERED'");
		CHECK(c == plan_count(n, 8), "policy version 2's deny (and gold's missing positions): "
		      "%lld FILTERED of %d", c, plan_count(n, 8));
		c = pg_count(db, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1 AND "
			     "status = 'FILLED' AND volume = 20");
		CHECK(c == plan_filled(n), "every BUY filled at twice the master's 0.10: %lld of %d",
		      c, plan_filled(n));
		c = pg_count(db, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1 AND "
			     "status = 'FILLED' AND volume <> 20");
		CHECK(c == 0, "no fill of another size: %lld", c);
		c = pg_count(db, "SELECT count(*) FROM subscriptions WHERE id = 1 AND state = 'SYNCED' "
			     "AND copy_policy_version = 2");
		CHECK(c == 1, "the subscription stays SYNCED, policy version 2");
	}
	{
		/* the fan-out's own count: policies sent (v1 at both Subscribes, v2 on change),
		 * account states received (one per connection) */
		char ctl_log[512], rest[512];
		const char *p, *a;

		kill(g_ctl, SIGTERM);
		harness_wait_exit(g_ctl, 20000);
		g_ctl = 0;
		snprintf(ctl_log, sizeof(ctl_log), "%s/control.log", g_dir);
		if (harness_wait_line(ctl_log, "stopped: connections=", rest, sizeof(rest), 0,
				      5000) == 0 &&
		    (p = strstr(rest, "policies_sent=")) != NULL &&
		    (a = strstr(rest, "account_states=")) != NULL)
			CHECK(atoi(p + 14) >= 3 && atoi(a + 15) >= 2,
			      "fan-out: %d copy policies sent, %d account states received",
			      atoi(p + 14), atoi(a + 15));
		else
			CHECK(0, "fan-out's stop line in %s", ctl_log);
	}
out:
	if (g_ctl > 0) {
		kill(g_ctl, SIGTERM);
		harness_wait_exit(g_ctl, 20000);
	}
	if (g_dp > 0) {
		kill(g_dp, SIGTERM);
		harness_wait_exit(g_dp, 20000);
	}
	if (db != NULL)
		PQfinish(db);
	harness_redis_destroy(rd);
	harness_pg_destroy(pg);
	if ((mt5_failed() == 0 || skipped) && getenv("DECP_TEST_KEEP") == NULL) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", g_dir);
	} else {
		fprintf(stderr, "logs kept in %s\n", g_dir);
	}
	if (skipped)
		return 77;
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed() == 0 ? 0 : 1;
}
