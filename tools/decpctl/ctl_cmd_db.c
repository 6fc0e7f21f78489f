/*
 * decpctl db migrate: apply decp's schema migrations (the set built into this binary, or
 * --dir) through cp_migrate (sql/cp_migrate.h). Same behaviour as decp-migrate: each
 * migration in its own transaction, checksums verified, advisory lock, re-run is a no-op.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cp_migrate.h"
#include "ctl_cmd.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl db migrate [--conninfo STR] [--dir DIR]\n\n"
		   "Apply pending schema migrations in order, each in its own transaction.\n"
		   "Safe to run again (no-op) and from several hosts at once. Refuses to run when\n"
		   "an already applied migration's file changed.\n\n"
		   "  --conninfo STR  libpq connection string of the schema owner\n"
		   "                  (default: $DECP_PG_CONNINFO)\n"
		   "  --dir DIR       migrations from DIR instead of the set built into decpctl\n"
		   "  --help          this text\n");
}

static int db_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"conninfo", required_argument, NULL, 'c'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conninfo = getenv("DECP_PG_CONNINFO");
	const char *dir = NULL;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conninfo = optarg; break;
		case 'd': dir = optarg; break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default:
			return ctl_option_error("db migrate", argv, optopt);
		}
	}
	if (optind != argc)
		return ctl_usage_error("db migrate", "unexpected argument '%s'", argv[optind]);
	if (conninfo == NULL || conninfo[0] == '\0')
		return ctl_usage_error("db migrate", "no database: give --conninfo or set DECP_PG_CONNINFO");

	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl db migrate: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return CTL_EXIT_FAIL;
	}
	struct cp_migrate_report rep;
	char err[512];
	int rc = cp_migrate_apply(conn, dir, &rep, err, sizeof(err));
	PQfinish(conn);
	if (rc < 0) {
		/* err names the cause (cp_migrate.h); strerror(-rc) added only
		 * "(Input/output error)" to PostgreSQL's own message */
		fprintf(stderr, "decpctl db migrate: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	printf("applied %d migration(s), %d already applied, database at version %04d\n",
	       rep.applied, rep.already, rep.version);
	return CTL_EXIT_OK;
}

int ctl_cmd_db(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return db_migrate(argc - 1, argv + 1);
	return ctl_usage_error("db", "unknown subcommand '%s' (known: migrate)", argv[1]);
}
