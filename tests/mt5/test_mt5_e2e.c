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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_plan.h"
#include "mt5_check.h"
#include "mt5_pipeline.h"

#define MASTER 1 /* mt5_pipeline's */

int main(int argc, char **argv)
{
	struct mt5_pipeline pp;
	PGconn *db;
	char secret[65], seed[65], dpp[16], fop[16], mid[16], log[512];
	int n, rc = 1, skipped = 0;
	pid_t w;

	if (argc != 7 || (n = atoi(argv[6])) < 6) {
		fprintf(stderr, "usage: test_mt5_e2e DECP_DATAPLANE DECP_CONTROL RUN_WINE "
			"WINE_E2E_EXE DECP_DLL SIGNALS(>=6)\n");
		return 2;
	}
	if (mt5_pipeline_start(&pp, argv[1], argv[2], "edge,fanout,archiver", PLAN_POLICY_V1,
			       "") != 0)
		goto out;
	db = pp.db;
	mt5_hex(pp.k.secret, 32, secret);
	mt5_hex(pp.k.ed_seed, 32, seed);
	snprintf(dpp, sizeof(dpp), "%d", pp.dp_port);
	snprintf(fop, sizeof(fop), "%d", pp.fo_port);
	snprintf(mid, sizeof(mid), "%d", MASTER);
	snprintf(log, sizeof(log), "%s/wine_e2e.log", pp.dir);
	{
		char *wargv[] = { argv[3], argv[4], argv[5], "127.0.0.1", dpp, fop, mid, pp.k.token,
				  secret, seed, pp.sub_token, argv[6], NULL };

		w = harness_spawn(log, wargv);
	}
	/* the receiver consumed the first half: copy policy version 2 (the fan-out's policy
	 * thread pushes it; the master sends the second half once the receiver holds it) */
	if (harness_wait_line(log, "receiver: phase1 done", NULL, 0, w, 300000) == 0)
		CHECK(mt5_sql(db, "UPDATE subscriptions SET copy_policy = '" PLAN_POLICY_V2
				 "' WHERE id = 1", 0, NULL, NULL, NULL) == 0,
		      "copy policy version 2 stored");
	rc = mt5_pipeline_wait_ea(w, log, &skipped);
	if (skipped)
		goto out;
	CHECK(rc == 0, "wine_e2e.exe: master and receiver sides passed (exit %d)", rc);
	{
		char q[256];
		long long c;

		c = mt5_wait_count(db, "SELECT count(*) FROM signal_archive WHERE master_id = 1", n, 30000);
		CHECK(c == n, "every signal archived: %lld of %d", c, n);
		c = mt5_wait_count(db, "SELECT last_sequence_id FROM subscriptions WHERE id = 1", n, 30000);
		CHECK(c == n, "execution reports stored: last_sequence_id %lld", c);
		c = mt5_wait_count(db, "SELECT count(DISTINCT sequence) FROM protection_logs WHERE "
			       "subscriber_id = 1 AND reason = 'INVALID_SIGNATURE'", n, 30000);
		CHECK(c == n, "forged envelopes reported and stored: %lld of %d", c, n);
		/* every report once: 2 per signal (the forgery's and the outcome), some sent twice */
		c = mt5_wait_count(db, "SELECT count(*) FROM subscriber_reports WHERE subscriber_id = 1",
			       2 * n, 30000);
		CHECK(c == 2 * n, "every report stored once by its report id: %lld of %d", c, 2 * n);
		c = mt5_pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1");
		CHECK(c == n + plan_count(n, 10) + plan_count(n, 8),
		      "no protection event stored twice: %lld rows, %d planned", c,
		      n + plan_count(n, 10) + plan_count(n, 8));
		snprintf(q, sizeof(q), "SELECT count(*) FROM trust_inbox WHERE subscription_id = 1 "
			 "AND event = 'EXECUTE'");
		c = mt5_wait_count(db, q, plan_count(n, 0), 30000);
		CHECK(c == plan_count(n, 0), "one EXECUTE per executed signal: %lld of %d", c,
		      plan_count(n, 0));
		c = mt5_pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1 AND "
			     "reason = 'INSUFFICIENT_MARGIN'");
		CHECK(c == plan_count(n, 10), "gold beyond the account's margin: %lld "
		      "INSUFFICIENT_MARGIN of %d", c, plan_count(n, 10));
		c = mt5_pg_count(db, "SELECT count(*) FROM protection_logs WHERE subscriber_id = 1 AND "
			     "reason = 'FILTERED'");
		CHECK(c == plan_count(n, 8), "policy version 2's deny (and gold's missing positions): "
		      "%lld FILTERED of %d", c, plan_count(n, 8));
		c = mt5_pg_count(db, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1 AND "
			     "status = 'FILLED' AND volume = 20");
		CHECK(c == plan_filled(n), "every BUY filled at twice the master's 0.10: %lld of %d",
		      c, plan_filled(n));
		c = mt5_pg_count(db, "SELECT count(*) FROM execution_pnl WHERE subscription_id = 1 AND "
			     "status = 'FILLED' AND volume <> 20");
		CHECK(c == 0, "no fill of another size: %lld", c);
		c = mt5_pg_count(db, "SELECT count(*) FROM subscriptions WHERE id = 1 AND state = 'SYNCED' "
			     "AND copy_policy_version = 2");
		CHECK(c == 1, "the subscription stays SYNCED, policy version 2");
	}
	{
		/* the fan-out's own count: policies sent (v1 at both Subscribes, v2 on change),
		 * account states received (one per connection) */
		char ctl_log[512], rest[512];
		const char *p, *a;

		kill(pp.ctl, SIGTERM);
		harness_wait_exit(pp.ctl, 20000);
		pp.ctl = 0;
		snprintf(ctl_log, sizeof(ctl_log), "%s/control.log", pp.dir);
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
	mt5_pipeline_stop(&pp, mt5_failed() != 0 && !skipped);
	if (skipped)
		return 77;
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed() == 0 ? 0 : 1;
}
