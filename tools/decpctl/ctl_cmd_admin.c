/*
 * decpctl admin commands on PostgreSQL (issue 10): license tokens, subscribers and their
 * tokens, subscriptions, and listing masters. Like `decpctl master add`, they work on the
 * database directly (the operator's tool on the operator's host; the HTTP API, docs/api.md,
 * is the remote interface). The rules live in the database, not here: the state machine
 * (suspend, resume, cancel), copy-policy validation, immutable and unrevokable tokens are
 * enforced by sql/migrations, and their refusals are printed as they come.
 *
 * Tokens: 32 random bytes as 64 hex characters; only SHA-256(token) is stored. A new token
 * is shown once, on stdout or in --out FILE (mode 0600, never overwritten).
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

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ctl_cmd.h"

int ctl_new_token(char hex[65], unsigned char hash[32])
{
	static const char d[] = "0123456789abcdef";
	uint8_t raw[32];
	unsigned int len = 0;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++) {
		hex[2 * i] = d[raw[i] >> 4];
		hex[2 * i + 1] = d[raw[i] & 15];
	}
	hex[64] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	if (EVP_Digest(hex, 64, hash, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -EIO;
	return 0;
}

/* Options every admin subcommand understands; each uses the ones it needs. */
struct aopts {
	const char *cmd;      /* "subscriber add", for messages */
	const char *conninfo;
	const char *name, *label, *out, *policy, *reason, *fee, *expires;
	long long id, master, subscriber;
	bool json;
};

enum { O_ID = 1, O_MASTER = 2, O_SUBSCRIBER = 4, O_NAME = 8, O_LABEL = 16, O_OUT = 32,
       O_POLICY = 64, O_REASON = 128, O_FEE = 256, O_EXPIRES = 512, O_JSON = 1024 };

static int parse_id(const char *cmd, const char *opt, const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > (1LL << 53))
		return ctl_usage_error(cmd, "%s: '%s' is not an id in 1..2^53", opt, s);
	*out = v;
	return 0;
}

/* Parse argv (argv[0] = subcommand) allowing the `allowed` options. Returns 0, -1 after
 * --help, or an exit code. */
static int parse(int argc, char **argv, unsigned int allowed, struct aopts *o,
		 void (*help)(FILE *))
{
	static const struct option lo[] = {
		{"id", required_argument, NULL, O_ID},
		{"master", required_argument, NULL, O_MASTER},
		{"subscriber", required_argument, NULL, O_SUBSCRIBER},
		{"name", required_argument, NULL, O_NAME},
		{"label", required_argument, NULL, O_LABEL},
		{"out", required_argument, NULL, O_OUT},
		{"policy", required_argument, NULL, O_POLICY},
		{"reason", required_argument, NULL, O_REASON},
		{"fee-pct", required_argument, NULL, O_FEE},
		{"expires", required_argument, NULL, O_EXPIRES},
		{"json", no_argument, NULL, O_JSON},
		{"conninfo", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	o->conninfo = getenv("DECP_PG_CONNINFO");
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			help(stdout);
			return -1;
		}
		if (c == '?' || (c != 'c' && !(allowed & (unsigned int)c)))
			return ctl_usage_error(o->cmd, "unknown option '%s'",
					       c == '?' ? ctl_bad_option(argv, optopt) : argv[optind - 1]);
		switch (c) {
		case O_ID: rc = parse_id(o->cmd, "--id", optarg, &o->id); break;
		case O_MASTER: rc = parse_id(o->cmd, "--master", optarg, &o->master); break;
		case O_SUBSCRIBER: rc = parse_id(o->cmd, "--subscriber", optarg, &o->subscriber); break;
		case O_NAME: o->name = optarg; rc = 0; break;
		case O_LABEL: o->label = optarg; rc = 0; break;
		case O_OUT: o->out = optarg; rc = 0; break;
		case O_POLICY: o->policy = optarg; rc = 0; break;
		case O_REASON: o->reason = optarg; rc = 0; break;
		case O_FEE: o->fee = optarg; rc = 0; break;
		case O_EXPIRES: o->expires = optarg; rc = 0; break;
		case O_JSON: o->json = true; rc = 0; break;
		default: o->conninfo = optarg; rc = 0; break;
		}
		if (rc != 0)
			return rc;
	}
	if (optind != argc)
		return ctl_usage_error(o->cmd, "unexpected argument '%s'", argv[optind]);
	if (o->conninfo == NULL || o->conninfo[0] == '\0')
		return ctl_usage_error(o->cmd, "no database: give --conninfo or set DECP_PG_CONNINFO");
	return 0;
}

static PGconn *connect_db(const struct aopts *o)
{
	PGconn *c = PQconnectdb(o->conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "decpctl %s: cannot connect: %s", o->cmd, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Run sql with n text parameters (NULL = SQL NULL). Prints the server's refusal. */
static PGresult *run(PGconn *c, const struct aopts *o, const char *sql, int n,
		     const char *const *v)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl %s: %s", o->cmd, PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A result as an aligned table, or one JSON object per row (--json). */
void ctl_pg_print(const PGresult *r, bool json)
{
	int rows = PQntuples(r), cols = PQnfields(r);
	if (json) {
		for (int i = 0; i < rows; i++) {
			json_t *o = json_object();
			for (int k = 0; k < cols; k++)
				json_object_set_new(o, PQfname(r, k), PQgetisnull(r, i, k)
						    ? json_null() : json_string(PQgetvalue(r, i, k)));
			char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (s != NULL)
				puts(s);
			free(s);
			json_decref(o);
		}
		return;
	}
	int w[32] = {0};
	for (int k = 0; k < cols && k < 32; k++) {
		w[k] = (int)strlen(PQfname(r, k));
		for (int i = 0; i < rows; i++)
			if (PQgetlength(r, i, k) > w[k])
				w[k] = PQgetlength(r, i, k);
	}
	for (int k = 0; k < cols && k < 32; k++)
		printf("%-*s%s", w[k], PQfname(r, k), k + 1 < cols ? "  " : "\n");
	for (int i = 0; i < rows; i++)
		for (int k = 0; k < cols && k < 32; k++)
			printf("%-*s%s", w[k], PQgetisnull(r, i, k) ? "-" : PQgetvalue(r, i, k),
			       k + 1 < cols ? "  " : "\n");
}

/* Open --out FILE (0600, must not exist) before changing anything. */
static int open_out(const struct aopts *o, FILE **f)
{
	*f = NULL;
	if (o->out == NULL)
		return 0;
	int fd = open(o->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (*f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "decpctl %s: %s: %s\n", o->cmd, o->out, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

/* Insert a token row (table license_tokens or subscriber_tokens) for owner; show it once.
 * Within the caller's transaction. Returns 0 or -1. */
static int add_token(PGconn *c, const struct aopts *o, bool subscriber, const char *owner,
		     FILE *f)
{
	char tok[65];
	uint8_t hash[32];
	if (ctl_new_token(tok, hash) != 0) {
		fprintf(stderr, "decpctl %s: cannot make a token (OpenSSL)\n", o->cmd);
		return -1;
	}
	const char *sql = subscriber
		? "INSERT INTO subscriber_tokens (subscriber_id, token_sha256, label, expires_at) "
		  "VALUES ($1, $2, $3, $4) RETURNING id"
		: "INSERT INTO license_tokens (master_id, token_sha256, label, expires_at) "
		  "VALUES ($1, $2, $3, $4) RETURNING id";
	const char *v[] = {owner, (const char *)hash, o->label, o->expires};
	const int l[] = {0, 32, 0, 0}, fm[] = {0, 1, 0, 0};
	PGresult *r = PQexecParams(c, sql, 4, NULL, v, l, fm, 0);
	int rc = -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl %s: %s", o->cmd, PQresultErrorMessage(r));
	} else {
		FILE *to = f != NULL ? f : stdout;
		const char *who = subscriber ? "subscriber" : "master";
		if (fprintf(to, "# decp %s token: shown once, keep it secret\n%s_id = %s\n"
			    "token_id = %s\n%s_token = %s\n", who, who, owner, PQgetvalue(r, 0, 0),
			    subscriber ? "subscriber" : "license", tok) > 0 && fflush(to) == 0)
			rc = 0;
	}
	PQclear(r);
	OPENSSL_cleanse(tok, sizeof(tok));
	return rc;
}

static bool tx(PGconn *c, const char *what)
{
	PGresult *r = PQexec(c, what);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

/* ---- decpctl token ---- */

static void token_usage(FILE *f)
{
	fprintf(f, "usage: decpctl token add --master M [--label L] [--expires TIMESTAMP] [--out FILE]\n"
		   "       decpctl token list --master M [--json]\n"
		   "       decpctl token revoke --id T\n"
		   "  (all: [--conninfo STR], default $DECP_PG_CONNINFO)\n\n"
		   "License tokens of a master. `add` shows the new token once (stdout, or --out\n"
		   "FILE with mode 0600); only its SHA-256 is stored. `revoke` is final; the\n"
		   "dataplane refuses the master's next frame within a second (NOTIFY).\n");
}

int ctl_cmd_token(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		token_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	struct aopts o = {0};
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "token %s", argv[1]);
	o.cmd = cmd;
	const char *sub = argv[1];
	unsigned int allowed = strcmp(sub, "add") == 0 ? O_MASTER | O_LABEL | O_OUT | O_EXPIRES
			     : strcmp(sub, "list") == 0 ? O_MASTER | O_JSON
			     : strcmp(sub, "revoke") == 0 ? O_ID : 0;
	if (allowed == 0)
		return ctl_usage_error("token", "unknown subcommand '%s' (add, list, revoke)", sub);
	int rc = parse(argc - 1, argv + 1, allowed, &o, token_usage);
	if (rc != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if ((allowed & O_MASTER) && o.master == 0)
		return ctl_usage_error(cmd, "--master is required");
	if ((allowed & O_ID) && o.id == 0)
		return ctl_usage_error(cmd, "--id is required");
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", o.master != 0 ? o.master : o.id);
	FILE *f = NULL;
	if (open_out(&o, &f) != 0)
		return CTL_EXIT_FAIL;
	PGconn *c = connect_db(&o);
	rc = CTL_EXIT_FAIL;
	if (c == NULL)
		goto out;
	if (strcmp(sub, "add") == 0) {
		bool ok = tx(c, "BEGIN") && add_token(c, &o, false, ids, f) == 0;
		rc = tx(c, ok ? "COMMIT" : "ROLLBACK") && ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	} else {
		const char *sql = strcmp(sub, "list") == 0
			? "SELECT id, master_id, label, created_at, expires_at, revoked_at "
			  "FROM license_tokens WHERE master_id = $1 ORDER BY id"
			: "UPDATE license_tokens SET revoked_at = now() WHERE id = $1 "
			  "AND revoked_at IS NULL RETURNING id, master_id, revoked_at";
		const char *v[] = {ids};
		PGresult *r = run(c, &o, sql, 1, v);
		if (r != NULL) {
			if (strcmp(sub, "revoke") == 0 && PQntuples(r) == 0)
				fprintf(stderr, "decpctl %s: no unrevoked token %s\n", cmd, ids);
			else
				ctl_pg_print(r, o.json), rc = CTL_EXIT_OK;
			PQclear(r);
		}
	}
out:
	PQfinish(c);
	if (f != NULL) {
		fclose(f);
		if (rc != CTL_EXIT_OK)
			unlink(o.out);
	}
	return rc;
}

/* ---- decpctl subscriber ---- */

static void subscriber_usage(FILE *f)
{
	fprintf(f, "usage: decpctl subscriber add --name NAME [--id ID] [--label L] [--out FILE]\n"
		   "       decpctl subscriber list [--json]\n"
		   "       decpctl subscriber token --id S [--label L] [--expires TIMESTAMP] [--out FILE]\n"
		   "       decpctl subscriber revoke-token --id TOKEN_ID\n"
		   "  (all: [--conninfo STR], default $DECP_PG_CONNINFO)\n\n"
		   "Subscribers (the accounts whose EAs copy masters) and their WebSocket tokens.\n"
		   "`add` creates the subscriber with a first token; `token` adds another. A token\n"
		   "is shown once (stdout, or --out FILE with mode 0600); only its SHA-256 is kept.\n");
}

int ctl_cmd_subscriber(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		subscriber_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	struct aopts o = {0};
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "subscriber %s", argv[1]);
	o.cmd = cmd;
	const char *sub = argv[1];
	unsigned int allowed = strcmp(sub, "add") == 0 ? O_NAME | O_ID | O_LABEL | O_OUT
			     : strcmp(sub, "list") == 0 ? O_JSON
			     : strcmp(sub, "token") == 0 ? O_ID | O_LABEL | O_OUT | O_EXPIRES
			     : strcmp(sub, "revoke-token") == 0 ? O_ID : 0;
	if (allowed == 0)
		return ctl_usage_error("subscriber", "unknown subcommand '%s' "
				       "(add, list, token, revoke-token)", sub);
	int rc = parse(argc - 1, argv + 1, allowed, &o, subscriber_usage);
	if (rc != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (strcmp(sub, "add") == 0 && (o.name == NULL || o.name[0] == '\0'))
		return ctl_usage_error(cmd, "--name is required");
	if (strcmp(sub, "add") != 0 && (allowed & O_ID) && o.id == 0)
		return ctl_usage_error(cmd, "--id is required");
	char ids[24] = "";
	if (o.id != 0)
		snprintf(ids, sizeof(ids), "%lld", o.id);
	FILE *f = NULL;
	if (open_out(&o, &f) != 0)
		return CTL_EXIT_FAIL;
	PGconn *c = connect_db(&o);
	rc = CTL_EXIT_FAIL;
	if (c == NULL)
		goto out;
	if (strcmp(sub, "add") == 0 || strcmp(sub, "token") == 0) {
		bool ok = tx(c, "BEGIN");
		if (ok && strcmp(sub, "add") == 0) {
			const char *v[] = {o.name, ids};
			PGresult *r = run(c, &o, o.id ? "INSERT INTO subscribers (name, id) VALUES "
					  "($1, $2::bigint) RETURNING id"
					  : "INSERT INTO subscribers (name) VALUES ($1) RETURNING id",
					  o.id ? 2 : 1, v);
			ok = r != NULL;
			if (ok)
				snprintf(ids, sizeof(ids), "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
		}
		ok = ok && add_token(c, &o, true, ids, f) == 0;
		rc = tx(c, ok ? "COMMIT" : "ROLLBACK") && ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
		if (rc == CTL_EXIT_OK && strcmp(sub, "add") == 0)
			fprintf(f != NULL ? stdout : stderr, "subscriber %s '%s' added\n", ids, o.name);
	} else {
		const char *sql = strcmp(sub, "list") == 0
			? "SELECT s.id, s.name, s.created_at, s.disabled_at, "
			  "(SELECT count(*) FROM subscriber_tokens t WHERE t.subscriber_id = s.id "
			  "AND t.revoked_at IS NULL) AS live_tokens, "
			  "(SELECT count(*) FROM subscriptions p WHERE p.subscriber_id = s.id) "
			  "AS subscriptions FROM subscribers s ORDER BY s.id"
			: "UPDATE subscriber_tokens SET revoked_at = now() WHERE id = $1 "
			  "AND revoked_at IS NULL RETURNING id, subscriber_id, revoked_at";
		const char *v[] = {ids};
		PGresult *r = run(c, &o, sql, strcmp(sub, "list") == 0 ? 0 : 1, v);
		if (r != NULL) {
			if (strcmp(sub, "revoke-token") == 0 && PQntuples(r) == 0)
				fprintf(stderr, "decpctl %s: no unrevoked token %s\n", cmd, ids);
			else
				ctl_pg_print(r, o.json), rc = CTL_EXIT_OK;
			PQclear(r);
		}
	}
out:
	PQfinish(c);
	if (f != NULL) {
		fclose(f);
		if (rc != CTL_EXIT_OK)
			unlink(o.out);
	}
	return rc;
}

/* ---- decpctl subscription ---- */

static void subscription_usage(FILE *f)
{
	fprintf(f, "usage: decpctl subscription add --subscriber S --master M [--id ID]\n"
		   "                                  [--fee-pct P] [--policy JSON]\n"
		   "       decpctl subscription list [--subscriber S] [--master M] [--json]\n"
		   "       decpctl subscription suspend|resume|cancel --id N [--reason TEXT]\n"
		   "  (all: [--conninfo STR], default $DECP_PG_CONNINFO)\n\n"
		   "A subscriber copying a master. The copy policy (JSON, docs/guard.md) and the\n"
		   "state machine are checked by the database: suspend (to SUSPENDED_ADMIN) and\n"
		   "resume (back to SYNCED) are the operator's transitions; cancel is final.\n");
}

int ctl_cmd_subscription(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		subscription_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	struct aopts o = {0};
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "subscription %s", argv[1]);
	o.cmd = cmd;
	const char *sub = argv[1], *to_state = NULL;
	unsigned int allowed = 0;
	if (strcmp(sub, "add") == 0)
		allowed = O_SUBSCRIBER | O_MASTER | O_ID | O_FEE | O_POLICY;
	else if (strcmp(sub, "list") == 0)
		allowed = O_SUBSCRIBER | O_MASTER | O_JSON;
	else if (strcmp(sub, "suspend") == 0)
		allowed = O_ID | O_REASON, to_state = "SUSPENDED_ADMIN";
	else if (strcmp(sub, "resume") == 0)
		allowed = O_ID | O_REASON, to_state = "SYNCED";
	else if (strcmp(sub, "cancel") == 0)
		allowed = O_ID | O_REASON, to_state = "CANCELLED";
	else
		return ctl_usage_error("subscription", "unknown subcommand '%s' "
				       "(add, list, suspend, resume, cancel)", sub);
	int rc = parse(argc - 1, argv + 1, allowed, &o, subscription_usage);
	if (rc != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (strcmp(sub, "add") == 0 && (o.subscriber == 0 || o.master == 0))
		return ctl_usage_error(cmd, "--subscriber and --master are required");
	if (to_state != NULL && o.id == 0)
		return ctl_usage_error(cmd, "--id is required");
	char id[24] = "", s[24] = "", m[24] = "";
	if (o.id)
		snprintf(id, sizeof(id), "%lld", o.id);
	if (o.subscriber)
		snprintf(s, sizeof(s), "%lld", o.subscriber);
	if (o.master)
		snprintf(m, sizeof(m), "%lld", o.master);
	PGconn *c = connect_db(&o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	PGresult *r;
	if (strcmp(sub, "add") == 0) {
		/* The id column only when asked for: the application role may not choose ids. */
		char sql[600];
		bool with_id = id[0] != '\0';
		snprintf(sql, sizeof(sql), "INSERT INTO subscriptions (%smaster_id, subscriber_id, "
			 "fee_pct, copy_policy) VALUES (%s$1, $2, coalesce($3::numeric, 20.00), "
			 "coalesce($4::jsonb, '{\"mode\": \"MULTIPLIER\", \"multiplier\": 1}'::jsonb)) "
			 "RETURNING id, master_id, subscriber_id, state, fee_pct, copy_policy",
			 with_id ? "id, " : "", with_id ? "$5::bigint, " : "");
		const char *v[] = {m, s, o.fee, o.policy, id};
		r = run(c, &o, sql, with_id ? 5 : 4, v);
	} else if (strcmp(sub, "list") == 0) {
		const char *v[] = {s[0] ? s : NULL, m[0] ? m : NULL};
		r = run(c, &o, "SELECT id, master_id, subscriber_id, state, state_reason, trust_score, "
			"last_sequence_id, high_water_mark, fee_pct FROM subscriptions WHERE "
			"($1::bigint IS NULL OR subscriber_id = $1) AND "
			"($2::bigint IS NULL OR master_id = $2) ORDER BY id", 2, v);
	} else {
		char reason[160];
		snprintf(reason, sizeof(reason), "%s", o.reason ? o.reason : "operator (decpctl)");
		const char *v[] = {id, to_state, reason};
		r = run(c, &o, "UPDATE subscriptions SET state = $2, state_reason = $3 WHERE id = $1 "
			"RETURNING id, master_id, subscriber_id, state, state_reason", 3, v);
		if (r != NULL && PQntuples(r) == 0) {
			fprintf(stderr, "decpctl %s: no subscription %s\n", cmd, id);
			PQclear(r);
			r = NULL;
		}
	}
	rc = CTL_EXIT_FAIL;
	if (r != NULL) {
		ctl_pg_print(r, o.json);
		PQclear(r);
		rc = CTL_EXIT_OK;
	}
	PQfinish(c);
	return rc;
}
