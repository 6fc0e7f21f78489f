/* mt5_pipeline: the pipeline of tests/mt5's end-to-end tests. Contract in mt5_pipeline.h. */
#include "mt5_pipeline.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "cp_migrate.h"
#include "mt5_check.h"

int mt5_sql(PGconn *c, const char *q, int n, const char *const *v, const int *l, const int *f)
{
	PGresult *r = PQexecParams(c, q, n, NULL, v, l, f, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

long long mt5_pg_count(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	long long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			      ? atoll(PQgetvalue(r, 0, 0)) : -1;

	if (n < 0)
		fprintf(stderr, "sql: %s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	return n;
}

long long mt5_wait_count(PGconn *c, const char *q, long long want, int ms)
{
	long long n = -1;

	for (int t = 0; t < ms; t += 100) {
		n = mt5_pg_count(c, q);
		if (n >= want)
			break;
		usleep(100000);
	}
	return n;
}

void mt5_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Master 1 (keys, license token), subscriber 1 (token), subscription 1 (policy). */
static int load_db(PGconn *db, const struct cp_testkeys *k, const char *sub_token,
		   const char *policy)
{
	uint8_t th[32];
	const char *v[4] = { "1", "mt5-master", (const char *)k->secret, (const char *)k->ed_pub };
	int l[4] = { 0, 0, 32, 32 }, f[4] = { 0, 0, 1, 1 };

	if (mt5_sql(db, "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) "
		    "VALUES ($1, $2, $3, $4)", 4, v, l, f) != 0)
		return -1;
	v[1] = (const char *)k->token_hash;
	l[1] = 32;
	f[1] = 1;
	if (mt5_sql(db, "INSERT INTO license_tokens (master_id, token_sha256) VALUES ($1, $2)",
		    2, v, l, f) != 0)
		return -1;
	v[1] = "mt5-subscriber";
	l[1] = 0;
	f[1] = 0;
	if (mt5_sql(db, "INSERT INTO subscribers (id, name) VALUES ($1, $2)", 2, v, l, f) != 0)
		return -1;
	SHA256((const unsigned char *)sub_token, strlen(sub_token), th);
	v[1] = (const char *)th;
	l[1] = 32;
	f[1] = 1;
	if (mt5_sql(db, "INSERT INTO subscriber_tokens (subscriber_id, token_sha256) "
		    "VALUES ($1, $2)", 2, v, l, f) != 0)
		return -1;
	v[0] = policy;
	return mt5_sql(db, "INSERT INTO subscriptions (id, master_id, subscriber_id, copy_policy) "
		       "VALUES (1, 1, 1, $1)", 1, v, NULL, NULL);
}

/* posix decp-dataplane + decp-control (roles); their ports. */
static int start_servers(struct mt5_pipeline *p, const char *dp_bin, const char *ctl_bin,
			 const char *roles, const char *extra_conf)
{
	char pf[512], out[512], cfg[512], shm[64], rest[256];
	FILE *f;

	snprintf(shm, sizeof(shm), "/decp-mt5-%d", (int)getpid());
	snprintf(pf, sizeof(pf), "%s/dp.port", p->dir);
	snprintf(out, sizeof(out), "%s/dataplane.log", p->dir);
	{
		/* --tls off: the Windows test programs speak plain Winsock; in a terminal the
		 * EA's socket is TLS through MQL5's SocketTlsHandshake (docs/mt5.md). No
		 * --allow-protocol-1: decp.dll logs in with protocol 2. */
		char *argv[] = { (char *)dp_bin, "--stack", "posix", "--listen", "127.0.0.1:0",
				 "--shm", shm, "--workers", "1", "--port-file", pf, "--tls", "off",
				 NULL };

		p->dp = harness_spawn(out, argv);
	}
	if (harness_wait_line(pf, "", rest, sizeof(rest), p->dp, 30000) != 0 ||
	    (p->dp_port = atoi(rest)) <= 0) {
		fprintf(stderr, "decp-dataplane did not start (see %s)\n", out);
		return -1;
	}
	/* the platform's snapshot key (fanout_snapshot_key): the fan-out signs re-sync
	 * snapshots with it and logs its public key, which the EA is given */
	snprintf(cfg, sizeof(cfg), "%s/snapshot.key", p->dir);
	if ((f = fopen(cfg, "w")) == NULL)
		return -1;
	fprintf(f, "# the platform's snapshot signing key (test)\ned25519_seed = ");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", 0x5c ^ i);
	fprintf(f, "\n");
	if (fclose(f) != 0)
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/control.conf", p->dir);
	if ((f = fopen(cfg, "w")) == NULL)
		return -1;
	/* fanout_tls = off, said explicitly: the Windows test programs speak plain Winsock */
	fprintf(f, "roles = %s\nshm = %s\nredis_host = 127.0.0.1\n"
		"redis_port = %d\npg_conninfo = %s\nfanout_listen = 127.0.0.1\nfanout_port = 0\n"
		"fanout_state_poll_ms = 200\nredis_timeout_ms = 5000\nfanout_tls = off\n"
		"fanout_snapshot_key = %s/snapshot.key\n%s",
		roles, shm, harness_redis_port(p->rd), harness_pg_conninfo(p->pg), p->dir,
		extra_conf);
	fclose(f);
	snprintf(out, sizeof(out), "%s/control.log", p->dir);
	{
		char *argv[] = { (char *)ctl_bin, "--config", cfg, NULL };

		p->ctl = harness_spawn(out, argv);
	}
	if (harness_wait_line(out, "listening on 127.0.0.1:", rest, sizeof(rest), p->ctl,
			      60000) != 0 ||
	    harness_wait_line(out, " ready: ", NULL, 0, p->ctl, 60000) != 0)
		return -1;
	p->fo_port = atoi(rest);
	return p->fo_port > 0 ? 0 : -1;
}

int mt5_pipeline_start(struct mt5_pipeline *p, const char *dp_bin, const char *ctl_bin,
		       const char *roles, const char *copy_policy, const char *extra_conf)
{
	const char *tmp = getenv("DECP_TEST_TMPDIR") ? getenv("DECP_TEST_TMPDIR") : "/tmp";
	char err[512];

	memset(p, 0, sizeof(*p));
	signal(SIGPIPE, SIG_IGN);
	snprintf(p->dir, sizeof(p->dir), "%s/decp-mt5-XXXXXX", tmp);
	if (mkdtemp(p->dir) == NULL) {
		CHECK(0, "temporary directory");
		return -1;
	}
	chmod(p->dir, 0755);
	if (cp_testkeys_derive("decp-mt5", 1, &p->k) != 0) {
		CHECK(0, "test credentials");
		return -1;
	}
	p->rd = harness_redis_start(NULL);
	p->pg = harness_pg_start(NULL);
	CHECK(p->rd != NULL && p->pg != NULL, "Redis and PostgreSQL started");
	if (p->rd == NULL || p->pg == NULL)
		return -1;
	p->db = PQconnectdb(harness_pg_conninfo(p->pg));
	if (PQstatus(p->db) != CONNECTION_OK ||
	    cp_migrate_apply(p->db, NULL, NULL, err, sizeof(err))) {
		CHECK(0, "migrations: %s", err);
		return -1;
	}
	snprintf(p->sub_token, sizeof(p->sub_token), "mt5-sub-%d", (int)getpid());
	if (load_db(p->db, &p->k, p->sub_token, copy_policy) != 0) {
		CHECK(0, "test rows");
		return -1;
	}
	if (start_servers(p, dp_bin, ctl_bin, roles, extra_conf) != 0) {
		CHECK(0, "decp-dataplane and decp-control started (logs in %s)", p->dir);
		return -1;
	}
	return 0;
}

void mt5_pipeline_stop(struct mt5_pipeline *p, int keep)
{
	if (p->ctl > 0) {
		kill(p->ctl, SIGTERM);
		harness_wait_exit(p->ctl, 20000);
		p->ctl = 0;
	}
	if (p->dp > 0) {
		kill(p->dp, SIGTERM);
		harness_wait_exit(p->dp, 20000);
		p->dp = 0;
	}
	if (p->db != NULL)
		PQfinish(p->db);
	p->db = NULL;
	harness_redis_destroy(p->rd);
	harness_pg_destroy(p->pg);
	p->rd = NULL;
	p->pg = NULL;
	if (p->dir[0] == '\0')
		return;
	if (!keep && getenv("DECP_TEST_KEEP") == NULL) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", p->dir);
	} else {
		fprintf(stderr, "logs kept in %s\n", p->dir);
	}
}

int mt5_pipeline_wait_ea(pid_t w, const char *log, int *skipped)
{
	char cmd[700];
	int rc = harness_wait_exit(w, 500000);

	*skipped = rc == 77;
	if (rc == 77) {
		printf("skipped: Wine cannot start (see %s)\n", log);
		return rc;
	}
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
	return rc;
}
