/*
 * decpctl master add: register a master trader in PostgreSQL with its license token
 * (stored as SHA-256 only, SPEC §4), HMAC-SHA256 secret and Ed25519 public key.
 *
 * Two ways to make the credentials:
 *   default      fresh random ones (OpenSSL RAND_bytes); the token, secret and Ed25519 seed
 *                are shown ONCE, written to --out FILE (mode 0600, never overwritten) for the
 *                master's operator; decp keeps only the token hash, secret and public key.
 *   --key-seed S the deterministic credentials of proto_creds.h (what decp-master
 *                --key-seed S uses): for demos and load runs only, never for real money.
 * Both rows are written in one transaction, so a refused insert leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctl_cmd.h"
#include "proto_creds.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl master add --id N --name NAME [--key-seed S | --out FILE]\n"
		   "                          [--conninfo STR]\n"
		   "       decpctl master list [--json] [--conninfo STR]\n\n"
		   "Register a master with a license token, HMAC secret and Ed25519 key.\n\n"
		   "  --id N          master id (1..2^53)\n"
		   "  --name NAME     unique display name\n"
		   "  --out FILE      write the new credentials there (mode 0600; must not exist);\n"
		   "                  without it they are printed once on stdout\n"
		   "  --key-seed S    use the deterministic test credentials for seed S instead\n"
		   "                  (decp-master --key-seed S); demos and load runs only\n"
		   "  --conninfo STR  libpq connection string (default: $DECP_PG_CONNINFO)\n"
		   "  --help          this text\n");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Both inserts in one transaction. Returns 0, or -1 after printing the server's reason. */
static int store(PGconn *c, uint64_t id, const char *name, const struct proto_creds *k)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRIu64, id);
	const char *v1[] = {ids, name, (const char *)k->secret, (const char *)k->ed_pub};
	const int l1[] = {0, 0, 32, 32}, f1[] = {0, 0, 1, 1};
	const char *v2[] = {ids, (const char *)k->token_hash};
	const int l2[] = {0, 32}, f2[] = {0, 1};
	PGresult *r = PQexec(c, "BEGIN");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (ok) {
		r = PQexecParams(c, "INSERT INTO masters (id, name, hmac_secret, ed25519_public_key) "
				    "VALUES ($1, $2, $3, $4)", 4, NULL, v1, l1, f1, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "decpctl master add: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	if (ok) {
		r = PQexecParams(c, "INSERT INTO license_tokens (master_id, token_sha256) VALUES ($1, $2)",
				 2, NULL, v2, l2, f2, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "decpctl master add: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	r = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

static int write_credentials(FILE *f, uint64_t id, const struct proto_creds *k)
{
	char secret[65], seed[65], pub[65];
	hex(k->secret, 32, secret);
	hex(k->ed_seed, 32, seed);
	hex(k->ed_pub, 32, pub);
	return fprintf(f, "# decp master credentials: keep secret (token, HMAC secret, Ed25519 seed)\n"
			  "master_id = %" PRIu64 "\nlicense_token = %s\nhmac_secret = %s\n"
			  "ed25519_seed = %s\ned25519_public_key = %s\n",
		       id, k->token, secret, seed, pub) < 0 ? -1 : 0;
}

static int master_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'o'},
		{"key-seed", required_argument, NULL, 's'},
		{"conninfo", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conninfo = getenv("DECP_PG_CONNINFO");
	const char *name = NULL, *out = NULL, *seed = NULL;
	long long id = 0;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': {
			char *end;
			errno = 0;
			id = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || id < 1 || id > (1LL << 53))
				return ctl_usage_error("master add", "--id: '%s' is not in 1..2^53", optarg);
			break;
		}
		case 'n': name = optarg; break;
		case 'o': out = optarg; break;
		case 's': seed = optarg; break;
		case 'c': conninfo = optarg; break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default:
			return ctl_usage_error("master add", "unknown option '%s'",
					       ctl_bad_option(argv, optopt));
		}
	}
	if (optind != argc)
		return ctl_usage_error("master add", "unexpected argument '%s'", argv[optind]);
	if (id == 0 || name == NULL || name[0] == '\0')
		return ctl_usage_error("master add", "--id and --name are required");
	if (seed != NULL && out != NULL)
		return ctl_usage_error("master add", "--key-seed and --out exclude each other");
	if (conninfo == NULL || conninfo[0] == '\0')
		return ctl_usage_error("master add", "no database: give --conninfo or set DECP_PG_CONNINFO");

	struct proto_creds k;
	int rc = seed != NULL ? proto_creds_derive(seed, (uint64_t)id, &k) : proto_creds_random(&k);
	if (rc != 0) {
		fprintf(stderr, "decpctl master add: cannot make credentials (OpenSSL)\n");
		return CTL_EXIT_FAIL;
	}
	/* Create the credentials file before the rows, so no master exists whose secrets were
	 * lost because the file could not be written. */
	FILE *f = NULL;
	if (out != NULL) {
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "decpctl master add: %s: %s\n", out, strerror(errno));
			if (fd >= 0)
				close(fd);
			return CTL_EXIT_FAIL;
		}
	}
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl master add: cannot connect: %s", PQerrorMessage(conn));
		rc = CTL_EXIT_FAIL;
	} else if (store(conn, (uint64_t)id, name, &k) != 0) {
		rc = CTL_EXIT_FAIL;
	} else if (f != NULL ? write_credentials(f, (uint64_t)id, &k) != 0 || fflush(f) != 0
			     : seed == NULL && write_credentials(stdout, (uint64_t)id, &k) != 0) {
		fprintf(stderr, "decpctl master add: cannot write the credentials\n");
		rc = CTL_EXIT_FAIL;
	} else {
		printf("master %lld '%s' added%s\n", id, name,
		       seed != NULL ? " (test credentials from --key-seed)" : "");
		rc = CTL_EXIT_OK;
	}
	PQfinish(conn);
	if (f != NULL) {
		fclose(f);
		if (rc != CTL_EXIT_OK)
			unlink(out);
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

static int master_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"conninfo", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conninfo = getenv("DECP_PG_CONNINFO");
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'c': conninfo = optarg; break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default:
			return ctl_usage_error("master list", "unknown option '%s'",
					       ctl_bad_option(argv, optopt));
		}
	}
	if (optind != argc)
		return ctl_usage_error("master list", "unexpected argument '%s'", argv[optind]);
	if (conninfo == NULL || conninfo[0] == '\0')
		return ctl_usage_error("master list", "no database: give --conninfo or set DECP_PG_CONNINFO");
	PGconn *conn = PQconnectdb(conninfo);
	int rc = CTL_EXIT_FAIL;
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl master list: cannot connect: %s", PQerrorMessage(conn));
	} else {
		PGresult *r = PQexec(conn, "SELECT m.id, m.name, m.created_at, m.disabled_at, "
				     "(SELECT count(*) FROM license_tokens t WHERE t.master_id = m.id "
				     "AND t.revoked_at IS NULL) AS live_tokens, "
				     "(SELECT count(*) FROM subscriptions s WHERE s.master_id = m.id "
				     "AND s.state <> 'CANCELLED') AS subscriptions "
				     "FROM masters m ORDER BY m.id");
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			ctl_pg_print(r, json);
			rc = CTL_EXIT_OK;
		} else {
			fprintf(stderr, "decpctl master list: %s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	PQfinish(conn);
	return rc;
}

int ctl_cmd_master(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return master_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return master_list(argc - 1, argv + 1);
	return ctl_usage_error("master", "unknown subcommand '%s' (known: add, list)", argv[1]);
}
