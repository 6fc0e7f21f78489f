/*
 * test_mt5_resync: decp.dll's re-sync by snapshot and the master's own positions on the
 * real pipeline (suites mt5, resync): a posix decp-dataplane and decp-control with roles
 * edge, fanout, archiver and book (mt5_pipeline; the fan-out signs snapshots with the
 * platform's key), and resync_e2e (resync_e2e.c says what it does and checks) as the
 * master and subscriber EAs, given the platform's public key as an operator would, from
 * the fan-out's log. Natively (the DLL's C under ASan) or under Wine (decp.dll).
 *
 * Here, after the EAs' run: the subscription back to SYNCED after its ResyncDone; the
 * book role's comparison of the master's two positions snapshots at 12: the one as held
 * a 'match', the one with a volume off a 'mismatch' with its ALERT line; every signal
 * archived.
 *
 * usage: test_mt5_resync DECP_DATAPLANE DECP_CONTROL RESYNC_E2E [RUN_WINE DECP_DLL]
 * Exit 77 (skipped) only when Wine cannot start. Prints "N passed, N failed" last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt5_check.h"
#include "mt5_pipeline.h"

#define POLICY "{\"mode\": \"MULTIPLIER\", \"multiplier\": 2}"

int main(int argc, char **argv)
{
	struct mt5_pipeline pp;
	char secret[65], seed[65], dpp[16], fop[16], log[512], ctl_log[512], pub[600];
	int rc = 1, skipped = 0, wine = argc == 6;
	pid_t w;

	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: test_mt5_resync DECP_DATAPLANE DECP_CONTROL RESYNC_E2E "
			"[RUN_WINE DECP_DLL]\n");
		return 2;
	}
	if (mt5_pipeline_start(&pp, argv[1], argv[2], "edge,fanout,archiver,book", POLICY,
			       "") != 0)
		goto out;
	snprintf(ctl_log, sizeof(ctl_log), "%s/control.log", pp.dir);
	/* the platform's public key, as the operator reads it (docs/control.md) */
	if (harness_wait_line(ctl_log, "re-sync snapshots signed: public key ", pub, sizeof(pub),
			      pp.ctl, 10000) != 0 || strlen(pub) < 64) {
		CHECK(0, "the fan-out's public key in %s", ctl_log);
		goto out;
	}
	pub[64] = '\0';
	mt5_hex(pp.k.secret, 32, secret);
	mt5_hex(pp.k.ed_seed, 32, seed);
	snprintf(dpp, sizeof(dpp), "%d", pp.dp_port);
	snprintf(fop, sizeof(fop), "%d", pp.fo_port);
	snprintf(log, sizeof(log), "%s/resync_e2e.log", pp.dir);
	if (wine) {
		char *wargv[] = { argv[4], argv[3], argv[5], "127.0.0.1", dpp, fop, pp.k.token,
				  secret, seed, pp.sub_token, pub, NULL };

		w = harness_spawn(log, wargv);
	} else {
		char *wargv[] = { argv[3], "-", "127.0.0.1", dpp, fop, pp.k.token, secret, seed,
				  pp.sub_token, pub, NULL };

		w = harness_spawn(log, wargv);
	}
	rc = mt5_pipeline_wait_ea(w, log, &skipped);
	if (skipped)
		goto out;
	CHECK(rc == 0, "resync_e2e (%s): master and receiver passed (exit %d)",
	      wine ? "decp.dll under Wine" : "native, ASan", rc);
	{
		PGconn *db = pp.db;
		long long c;

		c = mt5_wait_count(db, "SELECT count(*) FROM subscriptions WHERE id = 1 AND "
				   "state = 'SYNCED'", 1, 30000);
		CHECK(c == 1, "the subscription SYNCED again after its ResyncDone");
		c = mt5_wait_count(db, "SELECT count(*) FROM master_position_checks WHERE "
				   "master_id = 1 AND snapshot_id = 1 AND sequence = 12 AND "
				   "outcome = 'match' AND master_entries = 5 AND book_entries = 5",
				   1, 30000);
		CHECK(c == 1, "book role: the MT5 master's positions as held match its book at 12");
		c = mt5_wait_count(db, "SELECT count(*) FROM master_position_checks WHERE "
				   "master_id = 1 AND snapshot_id = 2 AND sequence = 12 AND "
				   "outcome = 'mismatch' AND differences = 1 AND detail LIKE '%1006%'",
				   1, 30000);
		CHECK(c == 1, "book role: the positions with 1006's volume off: a mismatch naming it");
		c = mt5_pg_count(db, "SELECT count(*) FROM master_position_checks WHERE master_id = 1");
		CHECK(c == 2, "two comparisons, no other (%lld)", c);
		CHECK(harness_wait_line(ctl_log, "ALERT master 1: its positions at sequence 12 differ",
					NULL, 0, 0, 5000) == 0, "the mismatch ALERT line logged");
		c = mt5_wait_count(db, "SELECT count(*) FROM signal_archive WHERE master_id = 1", 19,
				   30000);
		CHECK(c == 19, "every signal archived (%lld of 19)", c);
	}
out:
	mt5_pipeline_stop(&pp, mt5_failed() != 0 && !skipped);
	if (skipped)
		return 77;
	printf("%d passed, %d failed\n", mt5_passed(), mt5_failed());
	return mt5_failed() == 0 ? 0 : 1;
}
