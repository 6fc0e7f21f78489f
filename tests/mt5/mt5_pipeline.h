/*
 * mt5_pipeline: the real pipeline tests/mt5's end-to-end tests drive decp.dll against
 * (test_mt5_e2e, test_mt5_resync): Redis and PostgreSQL from tests/harness, the migrations,
 * master 1 and subscriber 1 with subscription 1 (cp_testkeys credentials), a posix
 * decp-dataplane and decp-control on loopback, plain TCP and plain ws (the Windows test
 * programs speak plain Winsock; in a terminal the EAs' sockets are TLS through MQL5,
 * docs/mt5.md). Native side only (libpq, OpenSSL).
 */
#ifndef DECP_MT5_PIPELINE_H
#define DECP_MT5_PIPELINE_H

#include <sys/types.h>

#include <libpq-fe.h>

#include "cp_testkeys.h"
#include "harness.h"

struct mt5_pipeline {
	char dir[256];               /* logs (control.log, dataplane.log) and files */
	struct harness_redis *rd;
	struct harness_pg *pg;
	PGconn *db;
	struct cp_testkeys k;        /* master 1's credentials (seed "decp-mt5") */
	char sub_token[64];
	pid_t dp, ctl;
	int dp_port, fo_port;
};

/*
 * Starts Redis and PostgreSQL, applies the migrations, inserts master 1, subscriber 1
 * (token "mt5-sub-<pid>") and subscription 1 with copy_policy (JSON), then the dataplane
 * and decp-control with roles and the extra config lines (may be ""), its fan-out signing
 * re-sync snapshots with DIR/snapshot.key (a fixed test seed; the public key is in
 * control.log: "re-sync snapshots signed: public key <hex>"). Returns 0, or -1
 * after a failed CHECK naming the step (p->dir keeps the logs).
 */
int mt5_pipeline_start(struct mt5_pipeline *p, const char *dp_bin, const char *ctl_bin,
		       const char *roles, const char *copy_policy, const char *extra_conf);

/* Stops what was started (decp-control first), removes the logs unless a check failed or
 * DECP_TEST_KEEP is set (then says where they are). */
void mt5_pipeline_stop(struct mt5_pipeline *p, int keep);

/* Waits (500 s at most) for the EA program w, which writes log: its exit status, its log
 * copied to stderr; 77 (Wine cannot start) sets *skipped and says so on stdout. */
int mt5_pipeline_wait_ea(pid_t w, const char *log, int *skipped);

/* Runs a statement with text/binary parameters. Returns 0, or -1 (printed). */
int mt5_sql(PGconn *c, const char *q, int n, const char *const *v, const int *l, const int *f);

/* A single-value count query's value, -1 on error (printed). */
long long mt5_pg_count(PGconn *c, const char *q);

/* Polls mt5_pg_count(q) every 100 ms until it reaches want or ms pass; returns the last. */
long long mt5_wait_count(PGconn *c, const char *q, long long want, int ms);

/* n bytes as lower-case hex into out (2n + 1 bytes). */
void mt5_hex(const uint8_t *p, size_t n, char *out);

#endif
