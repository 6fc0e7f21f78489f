/*
 * decpctl archive list | verify | restore | run: the warm and cold archive tiers
 * (docs/decpctl.md "decpctl archive", docs/database.md "Retention and archival";
 * issue 22). The files and their checks are controlplane/archiver/cp_tier's: this is the
 * operator's view of the same code the archiver runs.
 *
 *   list     every archived day from the catalog: tier, rows, size, when
 *   verify   every manifest in the tiers against its file, and the catalog against the
 *            tiers (a day the catalog names but no tier holds, or whose manifest differs)
 *   restore  one day into a new table, from whichever tier holds it
 *   run      one archival pass (what the archiver does each maintenance period); with
 *            --today and --hot-days it runs the owner's archive_*_at() functions with a
 *            test clock (drills, tests)
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "cp_config.h"
#include "cp_tier.h"
#include "ctl_cmd.h"

static const char CMD[] = "archive";

struct opts {
	const char *conninfo;
	const char *warm, *cold;
	const char *today;
	const char *into;
	long hot_days, cold_after;
	bool hot_given, json;
	struct cp_config cfg; /* --config: decp-control's file */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl archive list    [OPTIONS]\n"
		   "       decpctl archive verify  [OPTIONS]\n"
		   "       decpctl archive restore [OPTIONS] TABLE DAY [--into NAME]\n"
		   "       decpctl archive run     [OPTIONS] [--today YYYY-MM-DD --hot-days N]\n\n"
		   "list     archived days (catalog): table, day, tier, rows, bytes, when\n"
		   "verify   every catalogued day in the tier the catalog names: its manifest (the\n"
		   "         one the catalog recorded) against its file (SHA-256, size, rows, data\n"
		   "         SHA-256); files the catalog does not name are not looked at\n"
		   "restore  a day of TABLE (signal_archive or protection_logs) into a new table\n"
		   "         (default restored_TABLE_pYYYYMMDD), exactly as archived\n"
		   "run      one archival pass: export days past the hot window, verify, drop;\n"
		   "         move days older than --cold-after-days to the cold tier\n\n"
		   "  --config FILE        decp-control's configuration: pg_conninfo, archive_warm_dir,\n"
		   "                       archive_cold_dir, archive_cold_after_days\n"
		   "  --conninfo STR       libpq connection string (default: the config's, then\n"
		   "                       $DECP_PG_CONNINFO)\n"
		   "  --warm DIR           warm tier directory (absolute)\n"
		   "  --cold DIR           cold tier directory (absolute; none = files stay warm)\n"
		   "  --cold-after-days N  run: days older than N move to cold (default 365)\n"
		   "  --today YYYY-MM-DD   run: test clock (needs the schema owner; with --hot-days)\n"
		   "  --hot-days N         run: hot window in days with --today (default 90)\n"
		   "  --into NAME          restore: the new table's name\n"
		   "  --json               list: one JSON object per line\n"
		   "  --help               this text\n\n"
		   "Exit codes: 0 done, 1 could not (message says why), 2 usage error,\n"
		   "5 verify found a mismatch (each one printed).\n");
}

/* Is s a calendar day written YYYY-MM-DD (2026-02-29 is not)? */
static bool iso_day(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	int y = tm.tm_year, m = tm.tm_mon, d = tm.tm_mday;

	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return false;
	tm.tm_isdst = -1;
	tm.tm_hour = 12; /* away from any DST edge */
	if (mktime(&tm) == (time_t)-1)
		return false;
	return tm.tm_year == y && tm.tm_mon == m && tm.tm_mday == d; /* not normalised */
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'f'}, {"conninfo", required_argument, NULL, 'c'},
		{"warm", required_argument, NULL, 'w'},   {"cold", required_argument, NULL, 'k'},
		{"cold-after-days", required_argument, NULL, 'a'},
		{"today", required_argument, NULL, 't'},  {"hot-days", required_argument, NULL, 'h'},
		{"into", required_argument, NULL, 'i'},   {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'H'},         {NULL, 0, NULL, 0},
	};
	cp_config_defaults(&o->cfg);
	o->hot_days = 90;
	o->cold_after = -1;
	const char *config = NULL;
	int c;
	optind = 1;
	opterr = 0;
	/* The config is read after every option, so options override it in any order. */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': config = optarg; break;
		case 'c': o->conninfo = optarg; break;
		case 'w': o->warm = optarg; break;
		case 'k': o->cold = optarg; break;
		case 'a':
			if (ctl_parse_long(CMD, "--cold-after-days", optarg, 1, 36500, &o->cold_after))
				return CTL_EXIT_USAGE;
			break;
		case 't': o->today = optarg; break;
		case 'h':
			if (ctl_parse_long(CMD, "--hot-days", optarg, 1, 36500, &o->hot_days))
				return CTL_EXIT_USAGE;
			o->hot_given = true;
			break;
		case 'i': o->into = optarg; break;
		case 'j': o->json = true; break;
		case 'H': usage(stdout); return -1;
		default:
			return ctl_option_error(CMD, argv, optopt);
		}
	}
	if (config != NULL) {
		char err[512];
		if (cp_config_load(&o->cfg, config, err, sizeof(err)) != 0) {
			fprintf(stderr, "decpctl archive: %s\n", err);
			return CTL_EXIT_FAIL;
		}
	}
	if (o->conninfo == NULL && o->cfg.pg_conninfo[0] != '\0' && config != NULL)
		o->conninfo = o->cfg.pg_conninfo;
	if (o->conninfo == NULL)
		o->conninfo = getenv("DECP_PG_CONNINFO");
	if (o->warm == NULL && o->cfg.archive_warm_dir[0] != '\0')
		o->warm = o->cfg.archive_warm_dir;
	if (o->cold == NULL && o->cfg.archive_cold_dir[0] != '\0')
		o->cold = o->cfg.archive_cold_dir;
	if (o->cold_after < 0)
		o->cold_after = o->cfg.archive_cold_after_days;
	/* what the tier pass would refuse at run time, said here with the option's name */
	if (o->cold_after < o->hot_days)
		return ctl_usage_error(CMD, "--cold-after-days %ld is below the hot window (%ld days%s):"
				       " a day is warm before it is cold", o->cold_after, o->hot_days,
				       o->hot_given ? ", --hot-days" : "");
	if ((o->warm != NULL && o->warm[0] != '/') || (o->cold != NULL && o->cold[0] != '/'))
		return ctl_usage_error(CMD, "%s '%s' is not an absolute path",
				       o->warm != NULL && o->warm[0] != '/' ? "--warm" : "--cold",
				       o->warm != NULL && o->warm[0] != '/' ? o->warm : o->cold);
	if (o->today != NULL && !iso_day(o->today))
		return ctl_usage_error(CMD, "--today '%s' is not a day YYYY-MM-DD", o->today);
	return 0;
}

static PGconn *connect_db(const struct opts *o)
{
	if (o->conninfo == NULL || o->conninfo[0] == '\0') {
		ctl_usage_error(CMD, "no database: give --conninfo, --config or set DECP_PG_CONNINFO");
		return NULL;
	}
	PGconn *c = PQconnectdb(o->conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "decpctl archive: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQclear(PQexec(c, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")); /* days as files name them */
	return c;
}

static const char *tier_dir(const struct opts *o, const char *tier)
{
	return strcmp(tier, "cold") == 0 ? o->cold : o->warm;
}

static int cmd_list(const struct opts *o)
{
	PGconn *c = connect_db(o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	PGresult *r = PQexec(c, "SELECT parent, day, tier, rows, bytes, file_sha256, exported_at,"
				" coalesce(cooled_at::text, ''), manifest_sha256,"
				" coalesce(rows_digest, '') FROM archive_catalog ORDER BY day, parent");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl archive: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return CTL_EXIT_FAIL;
	}
	if (!o->json)
		printf("%-16s %-10s %-4s %10s %12s %s\n", "TABLE", "DAY", "TIER", "ROWS", "BYTES",
		       "EXPORTED");
	for (int i = 0; i < PQntuples(r); i++) {
		if (o->json)
			printf("{\"table\":\"%s\",\"day\":\"%s\",\"tier\":\"%s\",\"rows\":%s,"
			       "\"bytes\":%s,\"file_sha256\":\"%s\",\"manifest_sha256\":\"%s\","
			       "\"rows_digest\":\"%s\",\"exported_at\":\"%s\",\"cooled_at\":\"%s\"}\n",
			       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			       PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
			       PQgetvalue(r, i, 8), PQgetvalue(r, i, 9), PQgetvalue(r, i, 6),
			       PQgetvalue(r, i, 7));
		else
			printf("%-16s %-10s %-4s %10s %12s %s\n", PQgetvalue(r, i, 0),
			       PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			       PQgetvalue(r, i, 4), PQgetvalue(r, i, 6));
	}
	if (!o->json)
		printf("%d day(s); 'decpctl archive verify' checks their files\n", PQntuples(r));
	PQclear(r);
	PQfinish(c);
	return CTL_EXIT_OK;
}

/* verify: the catalog is the list of what must exist; each entry is checked in the tier
 * it names, and must match the manifest hash the catalog recorded. */
static int cmd_verify(const struct opts *o)
{
	if (o->warm == NULL)
		return ctl_usage_error(CMD, "verify needs --warm DIR (or --config)");
	PGconn *c = connect_db(o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	PGresult *r = PQexec(c, "SELECT parent, day, tier, rows, file_sha256, manifest_sha256,"
				" coalesce(rows_digest, '') FROM archive_catalog ORDER BY day, parent");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl archive: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return CTL_EXIT_FAIL;
	}
	int bad = 0, good = 0;
	long long rows = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *table = PQgetvalue(r, i, 0), *day = PQgetvalue(r, i, 1);
		const char *tier = PQgetvalue(r, i, 2);
		const char *dir = tier_dir(o, tier);
		char err[CP_TIER_ERR_LEN];
		struct cp_tier_manifest m;
		if (dir == NULL) {
			printf("MISMATCH %s %s: catalog says %s tier, no --cold given\n", table, day, tier);
			bad++;
			continue;
		}
		int rc = cp_tier_verify_day(dir, table, day, &m, err, sizeof(err));
		if (rc == 0 && (strcmp(m.manifest_sha256, PQgetvalue(r, i, 5)) != 0 ||
				strcmp(m.file_sha256, PQgetvalue(r, i, 4)) != 0 ||
				m.rows != atoll(PQgetvalue(r, i, 3)))) {
			snprintf(err, sizeof(err), "%s/%s: manifest or file differs from the catalog's "
				 "record (rows %lld vs %s)", dir, table, m.rows, PQgetvalue(r, i, 3));
			rc = -EBADMSG;
		}
		/* A day archived since sql 0041 has the rows digest the drop checked, in the
		 * catalog and in its manifest: they must agree (before 0041, neither has one). */
		const char *cdig = PQgetvalue(r, i, 6);
		if (rc == 0 && cdig[0] != '\0' && strcmp(m.rows_digest, cdig) != 0) {
			snprintf(err, sizeof(err), "%s/%s: the manifest's rows digest '%s' is not the "
				 "catalog's %s", dir, table, m.rows_digest, cdig);
			rc = -EBADMSG;
		}
		if (rc != 0) {
			printf("MISMATCH %s %s (%s): %s\n", table, day, tier, err);
			bad++;
		} else {
			good++;
			rows += m.rows;
		}
	}
	PQclear(r);
	PQfinish(c);
	printf("%d day(s) verified (%lld rows), %d mismatch(es)\n", good, rows, bad);
	return bad ? CTL_EXIT_MISMATCH : CTL_EXIT_OK;
}

/* A calendar day as YYYY-MM-DD (2026-13-01 and 2026-02-30 are not). */
static bool is_day(const char *s)
{
	int y, m, d, n = 0;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

static int cmd_restore(const struct opts *o, const char *table, const char *day)
{
	if (!is_day(day))
		return ctl_usage_error(CMD, "restore: DAY is a calendar day YYYY-MM-DD, got '%s'",
				       day);
	if (o->warm == NULL)
		return ctl_usage_error(CMD, "restore needs --warm DIR (or --config)");
	char into[128];
	if (o->into != NULL)
		snprintf(into, sizeof(into), "%s", o->into);
	else {
		char d[9] = {0};
		for (int i = 0, j = 0; day[i] && j < 8; i++)
			if (day[i] != '-')
				d[j++] = day[i];
		snprintf(into, sizeof(into), "restored_%s_p%s", table, d);
	}
	PGconn *c = connect_db(o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	char err[CP_TIER_ERR_LEN];
	const char *dirs[] = {o->warm, o->cold};
	long long n = -ENOENT;
	for (int i = 0; i < 2 && n == -ENOENT; i++)
		if (dirs[i] != NULL)
			n = cp_tier_restore(c, dirs[i], table, day, into, err, sizeof(err));
	PQfinish(c);
	if (n == -ENOENT) {
		/* in no tier given: cp_tier's message names only the last tier's manifest path */
		fprintf(stderr, "decpctl archive restore: %s %s is in no tier (warm %s%s%s): "
				"'decpctl archive list' shows the days archived\n", table, day,
			o->warm, o->cold ? ", cold " : ", no --cold given", o->cold ? o->cold : "");
		return CTL_EXIT_FAIL;
	}
	if (n < 0) {
		fprintf(stderr, "decpctl archive restore: %s\n", err);
		return n == -EBADMSG ? CTL_EXIT_MISMATCH : CTL_EXIT_FAIL;
	}
	printf("restored %lld rows of %s %s into %s\n", n, table, day, into);
	return CTL_EXIT_OK;
}

static int cmd_run(const struct opts *o)
{
	if (o->warm == NULL)
		return ctl_usage_error(CMD, "run needs --warm DIR (or --config)");
	PGconn *c = connect_db(o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	int rc;
	if (o->today != NULL) {
		/* The same partition maintenance the archiver runs, on the test clock. */
		const char *v[] = {o->today};
		PGresult *r = PQexecParams(c, "SELECT count(*) FROM maintain_partitions_at($1::date)",
					   1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			/* nothing ran: no counts to print (they were uninitialised memory) */
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			fprintf(stderr, "decpctl archive run: --today: %s%s", PQerrorMessage(c),
				state != NULL && strcmp(state, "42501") == 0 ?
				"decpctl archive run: --today runs the owner's maintain_partitions_at(): "
				"run it as the database owner (--conninfo \"dbname=decp "
				"user=decp_owner\"), not as decp_app; nothing was archived\n" : "");
			PQclear(r);
			PQfinish(c);
			return CTL_EXIT_FAIL;
		}
		PQclear(r);
	}
	struct cp_tier_conf tc = {
		.warm_dir = o->warm, .cold_dir = o->cold, .today = o->today,
		.hot_days = (int)o->hot_days, .cold_after_days = (int)o->cold_after,
	};
	struct cp_tier_result res;
	rc = cp_tier_run(c, &tc, &res);
	PQfinish(c);
	if (rc == -EIO && res.failed == 0) {
		if (res.error[0] != '\0')
			fprintf(stderr, "decpctl archive run: %s\n", res.error);
		return CTL_EXIT_FAIL;
	}
	printf("archive: %u day(s) exported (%llu rows), %u dropped, %u moved to cold, %u failed\n",
	       res.exported, (unsigned long long)res.rows, res.dropped, res.cooled, res.failed);
	if (rc != 0) {
		fprintf(stderr, "decpctl archive run: %s\n", res.error);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_archive(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	const char *sub = argv[1];
	struct opts o;
	memset(&o, 0, sizeof(o));
	int rc = parse(argc - 1, argv + 1, &o);
	if (rc == -1)
		return CTL_EXIT_OK;
	if (rc != 0)
		return rc;
	if (o.conninfo == NULL || o.conninfo[0] == '\0')
		return ctl_usage_error(CMD, "no database: give --conninfo, --config or set "
				       "DECP_PG_CONNINFO");
	int rest = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (strcmp(sub, "list") == 0 && rest == 0)
		return cmd_list(&o);
	if (strcmp(sub, "verify") == 0 && rest == 0)
		return cmd_verify(&o);
	if (strcmp(sub, "run") == 0 && rest == 0) {
		if (o.hot_given && o.today == NULL)
			return ctl_usage_error(CMD, "--hot-days needs --today");
		return cmd_run(&o);
	}
	if (strcmp(sub, "restore") == 0) {
		if (rest != 2)
			return ctl_usage_error(CMD, "restore takes TABLE DAY");
		if (strcmp(args[0], "signal_archive") != 0 && strcmp(args[0], "protection_logs") != 0)
			return ctl_usage_error(CMD, "unknown table '%s' (signal_archive or protection_logs)",
					       args[0]);
		return cmd_restore(&o, args[0], args[1]);
	}
	if (strcmp(sub, "list") == 0 || strcmp(sub, "verify") == 0 || strcmp(sub, "run") == 0)
		return ctl_usage_error(CMD, "%s takes no arguments", sub);
	return ctl_usage_error(CMD, "unknown subcommand '%s' (list, verify, restore, run)", sub);
}

