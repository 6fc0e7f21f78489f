/*
 * decp-migrate - apply decp's SQL migrations to a PostgreSQL database.
 * A thin command-line front end to cp_migrate_apply() (cp_migrate.h).
 */
#include "cp_migrate.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: decp-migrate --conninfo CONNINFO [--dir DIR]\n"
		"       decp-migrate --list [--dir DIR]\n"
		"Apply pending decp schema migrations, in order, each in its own transaction,\n"
		"recording version and SHA-256 in schema_migrations. Safe to run again (no-op)\n"
		"and from several hosts at once (advisory lock). Refuses to run when an applied\n"
		"migration's file changed.\n"
		"\n"
		"  --conninfo STR  libpq connection string or URI of the owner role (default:\n"
		"                  $DECP_PG_CONNINFO); the role needs CREATEROLE the first time\n"
		"                  (it creates the decp_app role)\n"
		"  --dir DIR       read NNNN_name.sql files from DIR instead of the set built\n"
		"                  into this program\n"
		"  --list          print the migrations (version, name, SHA-256) and exit\n"
		"  -h, --help      this text\n"
		"\n"
		"Exit status: 0 done (also when nothing was pending), 1 failed, 2 usage.\n");
}

static int list_dir_or_embedded(const char *dir)
{
	size_t n, i;
	const struct cp_migration *m;
	char sum[CP_MIGRATE_SHA256_HEX];

	if (dir) {
		fprintf(stderr, "decp-migrate: --list shows the built-in set; omit --dir\n");
		return 2;
	}
	m = cp_migrate_embedded(&n);
	for (i = 0; i < n; i++) {
		if (cp_migrate_checksum(m[i].sql, m[i].len, sum) < 0)
			return 1;
		printf("%04d %s %s\n", m[i].version, m[i].name, sum);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "conninfo", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conninfo = getenv("DECP_PG_CONNINFO");
	const char *dir = NULL;
	struct cp_migrate_report rep;
	char err[1024];
	bool list = false;
	PGconn *conn;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conninfo = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "decp-migrate: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (list)
		return list_dir_or_embedded(dir);
	if (!conninfo || !*conninfo) {
		fprintf(stderr, "decp-migrate: no --conninfo and no $DECP_PG_CONNINFO (see --help)\n");
		return 2;
	}
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decp-migrate: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 1;
	}
	rc = cp_migrate_apply(conn, dir, &rep, err, sizeof(err));
	PQfinish(conn);
	if (rc < 0) {
		fprintf(stderr, "decp-migrate: %s\n", err);
		return 1;
	}
	printf("decp-migrate: applied %d migration(s), %d already applied, database at version %04d\n",
	       rep.applied, rep.already, rep.version);
	return 0;
}
