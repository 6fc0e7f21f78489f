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
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctl_cmd.h"
#include "proto_creds.h"
#include "proto_keyann.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl master add --id N --name NAME [--key-seed S | --out FILE]\n"
		   "                          [--conninfo STR]\n"
		   "       decpctl master list [--json] [--conninfo STR]\n"
		   "       decpctl master rotate-hmac --id N [--overlap-s S] [--out FILE | --key-seed S]\n"
		   "       decpctl master rotate-signing-key --id N [--overlap-s S] [--out FILE |\n"
		   "                                         --key-seed S]\n"
		   "                                         [--old-key FILE | --old-key-seed S]\n"
		   "       decpctl master revoke-key --id N [--hmac] [--signing]\n\n"
		   "Register a master with a license token, HMAC secret and Ed25519 key; rotate\n"
		   "its keys; revoke the key being retired.\n\n"
		   "  --id N          master id (1..2^53)\n"
		   "  --name NAME     unique display name\n"
		   "  --out FILE      write the new credentials there (mode 0600; must not exist);\n"
		   "                  without it they are printed once on stdout\n"
		   "  --key-seed S    use the deterministic test credentials for seed S instead\n"
		   "                  (decp-master --key-seed S); demos and load runs only\n"
		   "  --overlap-s S   rotate: the old key stays valid S seconds more (default 3600),\n"
		   "                  so the master can switch without a refused signal; 0 = the\n"
		   "                  old key is refused at once (a leaked key)\n"
		   "  --hmac, --signing  revoke-key: which previous key(s) stop being accepted now\n"
		   "  --old-key FILE  rotate-signing-key: the CURRENT Ed25519 seed (a file with an\n"
		   "                  'ed25519_seed = HEX' line, as --out writes): signs the\n"
		   "                  announcement of the new key that the fan-out relays to the\n"
		   "                  master's subscribers (docs/fanout.md); it must be the master's\n"
		   "                  current key. Without it no announcement is stored\n"
		   "  --old-key-seed S  the current seed is the test credential of seed S\n"
		   "  --conninfo STR  libpq connection string (default: $DECP_PG_CONNINFO)\n"
		   "  --help          this text\n"
		   "rotate-* print the new secret (or write it to --out) once: install it on the\n"
		   "master within the overlap. Receivers read both Ed25519 public keys from the\n"
		   "API (GET /v1/masters/ID) during the overlap, and with --old-key they are told\n"
		   "by the fan-out in a message signed by the old key.\n");
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
			return ctl_option_error("master add", argv, optopt);
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
			return ctl_option_error("master list", argv, optopt);
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
				     "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR "
				     "t.expires_at > now())) AS live_tokens, "
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

enum rotate_kind { ROT_HMAC, ROT_SIGNING };

/* The UPDATE of one rotation: new key in, old key kept for $3 seconds (none when 0). */
static const char *const rotate_sql[] = {
	[ROT_HMAC] = "UPDATE masters SET hmac_secret_prev = CASE WHEN $3::int8 > 0 THEN "
		     "hmac_secret END, hmac_prev_until = CASE WHEN $3::int8 > 0 THEN now() + "
		     "make_interval(secs => $3::int8) END, hmac_secret = $2, keys_rotated_at = now() "
		     "WHERE id = $1 AND disabled_at IS NULL RETURNING id, hmac_prev_until",
	[ROT_SIGNING] = "UPDATE masters SET ed25519_public_key_prev = CASE WHEN $3::int8 > 0 "
			"THEN ed25519_public_key END, ed25519_prev_until = CASE WHEN $3::int8 > 0 "
			"THEN now() + make_interval(secs => $3::int8) END, ed25519_public_key = $2, "
			"keys_rotated_at = now(), ed25519_announce_sig = $4, "
			"ed25519_announce_from_ns = $5::int8, ed25519_announce_until_ns = $6::int8 "
			"WHERE id = $1 AND disabled_at IS NULL AND ($7::bytea IS NULL OR "
			"ed25519_public_key = $7::bytea) RETURNING id, ed25519_prev_until",
};

static int write_rotated(FILE *f, uint64_t id, enum rotate_kind kind, const struct proto_creds *k)
{
	char a[65], b[65];
	if (kind == ROT_HMAC) {
		hex(k->secret, 32, a);
		return fprintf(f, "# decp master %" PRIu64 ": new HMAC secret (keep secret)\n"
				  "master_id = %" PRIu64 "\nhmac_secret = %s\n", id, id, a) < 0 ? -1 : 0;
	}
	hex(k->ed_seed, 32, a);
	hex(k->ed_pub, 32, b);
	return fprintf(f, "# decp master %" PRIu64 ": new Ed25519 key (keep the seed secret)\n"
			  "master_id = %" PRIu64 "\ned25519_seed = %s\ned25519_public_key = %s\n",
		       id, id, a, b) < 0 ? -1 : 0;
}

/* Parse --id / --overlap-s / --out / --key-seed / --hmac / --signing / --conninfo.
 * Returns -1 to go on, or the exit status (--help printed, usage error). */
struct rot_opts {
	long long id;
	long long overlap_s;
	const char *out, *seed, *conninfo;
	const char *old_key, *old_seed; /* rotate-signing-key: the current seed */
	bool hmac, signing;
};

static int rot_parse(const char *cmd, int argc, char **argv, struct rot_opts *o)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"overlap-s", required_argument, NULL, 'v'},
		{"out", required_argument, NULL, 'o'},
		{"key-seed", required_argument, NULL, 's'},
		{"old-key", required_argument, NULL, 'K'},
		{"old-key-seed", required_argument, NULL, 'O'},
		{"hmac", no_argument, NULL, 'H'},
		{"signing", no_argument, NULL, 'S'},
		{"conninfo", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->overlap_s = 3600;
	o->conninfo = getenv("DECP_PG_CONNINFO");
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'i':
			errno = 0;
			o->id = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || o->id < 1 || o->id > (1LL << 53))
				return ctl_usage_error(cmd, "--id: '%s' is not in 1..2^53", optarg);
			break;
		case 'v':
			errno = 0;
			o->overlap_s = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || o->overlap_s < 0 || o->overlap_s > 31622400)
				return ctl_usage_error(cmd, "--overlap-s: '%s' is not in 0..31622400 "
							    "(366 days)", optarg);
			break;
		case 'o': o->out = optarg; break;
		case 's': o->seed = optarg; break;
		case 'K': o->old_key = optarg; break;
		case 'O': o->old_seed = optarg; break;
		case 'H': o->hmac = true; break;
		case 'S': o->signing = true; break;
		case 'c': o->conninfo = optarg; break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default:
			return ctl_option_error(cmd, argv, optopt);
		}
	}
	if (optind != argc)
		return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (o->id == 0)
		return ctl_usage_error(cmd, "--id is required");
	if (o->seed != NULL && o->out != NULL)
		return ctl_usage_error(cmd, "--key-seed and --out exclude each other");
	if (o->old_key != NULL && o->old_seed != NULL)
		return ctl_usage_error(cmd, "--old-key and --old-key-seed exclude each other");
	if ((o->old_key != NULL || o->old_seed != NULL) &&
	    strcmp(cmd, "master rotate-signing-key") != 0)
		return ctl_usage_error(cmd, "--old-key / --old-key-seed belong to rotate-signing-key");
	if (o->conninfo == NULL || o->conninfo[0] == '\0')
		return ctl_usage_error(cmd, "no database: give --conninfo or set DECP_PG_CONNINFO");
	return -1; /* parsed, go on */
}

/* The "ed25519_seed = HEX" line of a credentials file (what --out writes). Returns 0, or
 * -1 after a message naming the file. */
static int read_seed_file(const char *cmd, const char *path, uint8_t seed[32])
{
	int rc = proto_creds_read_seed_file(path, seed);
	if (rc == -EINVAL)
		fprintf(stderr, "decpctl %s: --old-key %s: no line 'ed25519_seed = <64 lower-case "
				"hex>'\n", cmd, path);
	else if (rc != 0)
		fprintf(stderr, "decpctl %s: --old-key %s: %s\n", cmd, path, strerror(-rc));
	return rc != 0 ? -1 : 0;
}

/* rotate-signing-key with the old seed: the announcement of new_pub (proto_keyann.h),
 * valid from now, the old key valid overlap_s more. a and sig are filled; returns 0, or
 * -1 after a message. */
static int announce(const char *cmd, const struct rot_opts *o, const uint8_t new_pub[32],
		    struct proto_keyann *a, uint8_t sig[64])
{
	uint8_t seed[32];
	struct proto_creds old;
	int rc = -1;
	if (o->old_seed != NULL) {
		if (proto_creds_derive(o->old_seed, (uint64_t)o->id, &old) != 0) {
			fprintf(stderr, "decpctl %s: cannot derive --old-key-seed\n", cmd);
			return -1;
		}
		memcpy(seed, old.ed_seed, sizeof(seed));
		OPENSSL_cleanse(&old, sizeof(old));
	} else if (read_seed_file(cmd, o->old_key, seed) != 0) {
		return -1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(a, 0, sizeof(*a));
	a->master_id = (uint64_t)o->id;
	memcpy(a->new_pub, new_pub, 32);
	a->valid_from_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	a->overlap_until_ns = a->valid_from_ns + (int64_t)o->overlap_s * 1000000000;
	if (proto_ed25519_public_from_seed(seed, a->old_pub) != 0 ||
	    proto_keyann_sign(a, seed, sig) != 0)
		fprintf(stderr, "decpctl %s: cannot sign the key announcement (OpenSSL)\n", cmd);
	else
		rc = 0;
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

static int master_rotate(int argc, char **argv, enum rotate_kind kind)
{
	const char *cmd = kind == ROT_HMAC ? "master rotate-hmac" : "master rotate-signing-key";
	struct rot_opts o;
	int rc = rot_parse(cmd, argc, argv, &o);
	if (rc >= 0)
		return rc; /* --help printed, or a usage error */
	if (o.hmac || o.signing)
		return ctl_usage_error(cmd, "--hmac / --signing belong to revoke-key");
	if ((o.old_key != NULL || o.old_seed != NULL) && o.overlap_s == 0)
		/* A zero overlap is for a leaked key: whatever it signs proves nothing. */
		return ctl_usage_error(cmd, "--overlap-s 0 (a leaked key) takes no --old-key: an "
					    "announcement signed by a leaked key proves nothing; "
					    "receivers take the new key from the API");
	struct proto_creds k;
	rc = o.seed != NULL ? proto_creds_derive(o.seed, (uint64_t)o.id, &k) : proto_creds_random(&k);
	if (rc != 0) {
		fprintf(stderr, "decpctl %s: cannot make the new key (OpenSSL)\n", cmd);
		return CTL_EXIT_FAIL;
	}
	FILE *f = NULL;
	if (o.out != NULL) {
		int fd = open(o.out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "decpctl %s: %s: %s\n", cmd, o.out, strerror(errno));
			if (fd >= 0)
				close(fd);
			OPENSSL_cleanse(&k, sizeof(k));
			return CTL_EXIT_FAIL;
		}
	}
	char ids[24], ov[24], from[24], until[24];
	struct proto_keyann a;
	uint8_t sig[64];
	bool ann = o.old_key != NULL || o.old_seed != NULL;
	if (ann && announce(cmd, &o, k.ed_pub, &a, sig) != 0) {
		if (f != NULL) {
			fclose(f);
			unlink(o.out);
		}
		OPENSSL_cleanse(&k, sizeof(k));
		return CTL_EXIT_FAIL;
	}
	snprintf(ids, sizeof(ids), "%lld", o.id);
	snprintf(ov, sizeof(ov), "%lld", o.overlap_s);
	snprintf(from, sizeof(from), "%" PRId64, ann ? a.valid_from_ns : 0);
	snprintf(until, sizeof(until), "%" PRId64, ann ? a.overlap_until_ns : 0);
	/* Signing: $4..$7 the announcement and the old key it must replace (NULL: none). */
	const char *v[] = {ids, (const char *)(kind == ROT_HMAC ? k.secret : k.ed_pub), ov,
			   ann ? (const char *)sig : NULL, ann ? from : NULL, ann ? until : NULL,
			   ann ? (const char *)a.old_pub : NULL};
	const int l[] = {0, 32, 0, 64, 0, 0, 32}, fm[] = {0, 1, 0, 1, 0, 0, 1};
	rc = CTL_EXIT_FAIL;
	PGconn *conn = PQconnectdb(o.conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl %s: cannot connect: %s", cmd, PQerrorMessage(conn));
	} else {
		PGresult *r = PQexecParams(conn, rotate_sql[kind], kind == ROT_HMAC ? 3 : 7, NULL,
					   v, l, fm, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "decpctl %s: %s", cmd, PQresultErrorMessage(r));
		} else if (PQntuples(r) != 1) {
			fprintf(stderr, "decpctl %s: no enabled master %lld%s\n", cmd, o.id,
				ann ? " whose current signing key is the --old-key's (nothing changed)"
				    : "");
		} else if (f != NULL ? write_rotated(f, (uint64_t)o.id, kind, &k) != 0 || fflush(f) != 0
				     : o.seed == NULL &&
					       write_rotated(stdout, (uint64_t)o.id, kind, &k) != 0) {
			/* The row changed: the operator must rotate again to get a key he holds. */
			fprintf(stderr, "decpctl %s: key stored but cannot be written out: rotate "
					"again\n", cmd);
		} else {
			const char *end = PQgetvalue(r, 0, 1);
			printf("master %lld: new %s key stored; %s%s%s\n", o.id,
			       kind == ROT_HMAC ? "HMAC" : "Ed25519",
			       end[0] != '\0' ? "the previous one stays valid until " :
						 "the previous one is refused from now on", end,
			       kind == ROT_HMAC ? ""
			       : ann ? "; announced to subscribers, signed by the previous key"
				     : "; not announced to subscribers (no --old-key)");
			rc = CTL_EXIT_OK;
		}
		PQclear(r);
	}
	PQfinish(conn);
	if (f != NULL) {
		fclose(f);
		if (rc != CTL_EXIT_OK)
			unlink(o.out);
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* End the overlap now: the previous key of the kind(s) named is refused from now on. */
static int master_revoke_key(int argc, char **argv)
{
	const char *cmd = "master revoke-key";
	struct rot_opts o;
	int rc = rot_parse(cmd, argc, argv, &o);
	if (rc >= 0)
		return rc; /* --help printed, or a usage error */
	if (!o.hmac && !o.signing)
		return ctl_usage_error(cmd, "say which previous key: --hmac and/or --signing");
	if (o.out != NULL || o.seed != NULL)
		return ctl_usage_error(cmd, "--out / --key-seed belong to rotate-*");
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", o.id);
	const char *v[] = {ids, o.hmac ? "t" : "f", o.signing ? "t" : "f"};
	PGconn *conn = PQconnectdb(o.conninfo);
	rc = CTL_EXIT_FAIL;
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl %s: cannot connect: %s", cmd, PQerrorMessage(conn));
	} else {
		/* Which previous keys there were, read in the UPDATE's own snapshot (the row
		 * locked): RETURNING alone shows the columns after they were cleared. */
		PGresult *r = PQexecParams(
			conn,
			"WITH old AS (SELECT id, hmac_secret_prev IS NOT NULL AS h, "
			"ed25519_public_key_prev IS NOT NULL AS s FROM masters WHERE id = $1 "
			"FOR UPDATE) "
			"UPDATE masters m SET "
			"hmac_secret_prev = CASE WHEN $2::bool THEN NULL ELSE hmac_secret_prev END, "
			"hmac_prev_until = CASE WHEN $2::bool THEN NULL ELSE hmac_prev_until END, "
			"ed25519_public_key_prev = CASE WHEN $3::bool THEN NULL ELSE "
			"ed25519_public_key_prev END, "
			"ed25519_prev_until = CASE WHEN $3::bool THEN NULL ELSE ed25519_prev_until END "
			"FROM old WHERE m.id = old.id AND (($2::bool AND old.h) OR ($3::bool AND old.s)) "
			"RETURNING $2::bool AND old.h, $3::bool AND old.s",
			3, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "decpctl %s: %s", cmd, PQresultErrorMessage(r));
		} else if (PQntuples(r) != 1) {
			fprintf(stderr, "decpctl %s: master %lld has no previous %s key (a leaked "
					"current key: rotate-hmac / rotate-signing-key --overlap-s 0)\n",
				cmd, o.id, o.hmac && o.signing ? "HMAC or Ed25519" : o.hmac ? "HMAC"
											: "Ed25519");
		} else {
			bool h = PQgetvalue(r, 0, 0)[0] == 't', s = PQgetvalue(r, 0, 1)[0] == 't';
			/* Both asked, one there: say which was revoked and which had none. */
			printf("master %lld: previous %s%s%s key revoked: refused from now on%s%s\n",
			       o.id, h ? "HMAC" : "", h && s ? " and " : "", s ? "Ed25519" : "",
			       o.hmac && !h ? "; no previous HMAC key (nothing to revoke)" : "",
			       o.signing && !s ? "; no previous Ed25519 key (nothing to revoke)" : "");
			rc = CTL_EXIT_OK;
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
	if (strcmp(argv[1], "rotate-hmac") == 0)
		return master_rotate(argc - 1, argv + 1, ROT_HMAC);
	if (strcmp(argv[1], "rotate-signing-key") == 0)
		return master_rotate(argc - 1, argv + 1, ROT_SIGNING);
	if (strcmp(argv[1], "revoke-key") == 0)
		return master_revoke_key(argc - 1, argv + 1);
	return ctl_usage_error("master", "unknown subcommand '%s' (known: add, list, rotate-hmac, "
					 "rotate-signing-key, revoke-key)", argv[1]);
}
