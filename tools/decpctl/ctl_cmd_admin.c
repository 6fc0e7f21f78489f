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
#include "guard_instrument.h"
#include "proto_money.h"
#include "proto_creds.h"

int ctl_new_token(char hex[65], unsigned char hash[32])
{
	return proto_token_new(hex, hash);
}

/* --fee-pct: a percentage 0..100 with at most two decimals (subscriptions.fee_pct is
 * numeric(5,2) with those checks: said here, not by a constraint's name). 0 or a usage
 * error's exit code. */
static int parse_fee(const char *cmd, const char *s)
{
	int64_t v;

	if (proto_decimal_parse(s, strlen(s), 2, &v) != 0 || v < 0 || v > 10000)
		return ctl_usage_error(cmd, "--fee-pct '%s': a percentage 0..100 with at most two "
				       "decimals (e.g. 20 or 12.5)", s);
	return 0;
}

/* Options every admin subcommand understands; each uses the ones it needs. */
struct aopts {
	const char *cmd;      /* "subscriber add", for messages */
	const char *conninfo;
	const char *name, *label, *out, *policy, *reason, *fee, *expires;
	const char *symbol, *digits, *pip, *contract; /* decpctl instrument */
	long long id, master, subscriber;
	bool json;
};

enum { O_ID = 1, O_MASTER = 2, O_SUBSCRIBER = 4, O_NAME = 8, O_LABEL = 16, O_OUT = 32,
       O_POLICY = 64, O_REASON = 128, O_FEE = 256, O_EXPIRES = 512, O_JSON = 1024,
       O_SYMBOL = 2048, O_DIGITS = 4096, O_PIP = 8192, O_CONTRACT = 16384 };

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
		{"symbol", required_argument, NULL, O_SYMBOL},
		{"digits", required_argument, NULL, O_DIGITS},
		{"pip", required_argument, NULL, O_PIP},
		{"contract", required_argument, NULL, O_CONTRACT},
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
		if (c == '?')
			return ctl_option_error(o->cmd, argv, optopt);
		if (c != 'c' && !(allowed & (unsigned int)c)) {
			/* an option of another subcommand: its name, not its value */
			const char *opt = argv[optind - 1];
			if (optarg != NULL && optarg == opt && optind >= 2)
				opt = argv[optind - 2];
			return ctl_usage_error(o->cmd, "option '%.*s' is not one of %s's",
					       (int)strcspn(opt, "="), opt, o->cmd);
		}
		switch (c) {
		case O_ID: rc = parse_id(o->cmd, "--id", optarg, &o->id); break;
		case O_MASTER: rc = parse_id(o->cmd, "--master", optarg, &o->master); break;
		case O_SUBSCRIBER: rc = parse_id(o->cmd, "--subscriber", optarg, &o->subscriber); break;
		case O_NAME: o->name = optarg; rc = 0; break;
		case O_LABEL: o->label = optarg; rc = 0; break;
		case O_OUT: o->out = optarg; rc = 0; break;
		case O_POLICY: o->policy = optarg; rc = 0; break;
		case O_REASON: o->reason = optarg; rc = 0; break;
		case O_FEE: rc = parse_fee(o->cmd, optarg); o->fee = optarg; break;
		case O_EXPIRES: o->expires = optarg; rc = 0; break;
		case O_JSON: o->json = true; rc = 0; break;
		case O_SYMBOL: o->symbol = optarg; rc = 0; break;
		case O_DIGITS: o->digits = optarg; rc = 0; break;
		case O_PIP: o->pip = optarg; rc = 0; break;
		case O_CONTRACT: o->contract = optarg; rc = 0; break;
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
 * Within the caller's transaction. Returns 0, -1, or -2 when --expires is no timestamp
 * (a usage error). */
static int add_token(PGconn *c, const struct aopts *o, bool subscriber, const char *owner,
		     FILE *f)
{
	char tok[65];
	uint8_t hash[32];
	if (ctl_new_token(tok, hash) != 0) {
		fprintf(stderr, "decpctl %s: cannot make a token (OpenSSL)\n", o->cmd);
		return -1;
	}
	/* an expiry not in the future makes a token refused from its first use (the api
	 * answers 422 to it, docs/api.md): no row, said below */
	const char *sql = subscriber
		? "INSERT INTO subscriber_tokens (subscriber_id, token_sha256, label, expires_at) "
		  "SELECT $1::bigint, $2::bytea, $3::text, $4::timestamptz "
		  "WHERE $4::timestamptz IS NULL OR $4::timestamptz > now() RETURNING id"
		: "INSERT INTO license_tokens (master_id, token_sha256, label, expires_at) "
		  "SELECT $1::bigint, $2::bytea, $3::text, $4::timestamptz "
		  "WHERE $4::timestamptz IS NULL OR $4::timestamptz > now() RETURNING id";
	const char *v[] = {owner, (const char *)hash, o->label, o->expires};
	const int l[] = {0, 32, 0, 0}, fm[] = {0, 1, 0, 0};
	PGresult *r = PQexecParams(c, sql, 4, NULL, v, l, fm, 0);
	int rc = -1;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && state != NULL &&
	    (strcmp(state, "22007") == 0 || strcmp(state, "22008") == 0)) {
		/* invalid_datetime_format, datetime_field_overflow: $4::timestamptz did not
		 * read --expires */
		fprintf(stderr, "decpctl %s: --expires '%s' is not a timestamp (e.g. "
				"2027-12-31T00:00:00Z): %s", o->cmd, o->expires,
			PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
		fputc('\n', stderr);
		rc = -2;
	} else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl %s: %s", o->cmd, PQresultErrorMessage(r));
	} else if (PQntuples(r) != 1) {
		fprintf(stderr, "decpctl %s: --expires %s is not in the future: such a token is "
				"refused from its first use; nothing added\n", o->cmd, o->expires);
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

/* BEGIN already ran: COMMIT when ok, else ROLLBACK. True when committed. */
static bool end_tx(PGconn *c, bool ok)
{
	PGresult *r = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

static bool begin_tx(PGconn *c)
{
	PGresult *r = PQexec(c, "BEGIN");
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

/* One subcommand of token / subscriber / subscription: its name and its options. */
struct subcmd {
	const char *name;
	unsigned int allowed;
};

/*
 * What every admin command does first: --help, pick the subcommand from subs[], parse its
 * options into o (o->cmd = "GROUP SUB", in cmd). Returns -1 to go on (*which set), or the
 * exit code to return at once.
 */
static int begin(int argc, char **argv, const char *group, const struct subcmd *subs,
		 size_t n, void (*help)(FILE *), struct aopts *o, char cmd[64],
		 const struct subcmd **which)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		help(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	*which = NULL;
	char known[160] = "";
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], subs[i].name) == 0)
			*which = &subs[i];
		snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
			 subs[i].name);
	}
	if (*which == NULL)
		return ctl_usage_error(group, "unknown subcommand '%s' (%s)", argv[1], known);
	memset(o, 0, sizeof(*o));
	snprintf(cmd, 64, "%s %s", group, argv[1]);
	o->cmd = cmd;
	int rc = parse(argc - 1, argv + 1, (*which)->allowed, o, help);
	return rc == 0 ? -1 : rc < 0 ? CTL_EXIT_OK : rc;
}

/* Run sql and print its rows. A change that matched no row prints `none` (when not NULL)
 * and fails. Returns the exit code. */
static int print_query(PGconn *c, const struct aopts *o, const char *sql, int n,
		       const char *const *v, const char *none)
{
	PGresult *r = run(c, o, sql, n, v);
	int rc = CTL_EXIT_FAIL;
	if (r != NULL && none != NULL && PQntuples(r) == 0) {
		fprintf(stderr, "decpctl %s: %s\n", o->cmd, none);
	} else if (r != NULL) {
		ctl_pg_print(r, o->json);
		rc = CTL_EXIT_OK;
	}
	PQclear(r);
	return rc;
}

/* Is id a row of table (masters or subscribers)? A list filtered by an id the database
 * does not have said nothing (an empty table, exit 0): a mistyped id looked like one with
 * no tokens or subscriptions. Prints "no master N" and returns false when not. */
static bool row_exists(PGconn *c, const struct aopts *o, const char *table, const char *what,
		       const char *id)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = $1::bigint", table);
	const char *v[] = {id};
	PGresult *r = run(c, o, sql, 1, v);
	bool found = r != NULL && PQntuples(r) == 1;
	if (r != NULL && !found)
		fprintf(stderr, "decpctl %s: no %s %s\n", o->cmd, what, id);
	PQclear(r);
	return found;
}

/* Move subscription v[0] to state v[1] with reason v[2] and print the row as the statement
 * left it: its AFTER triggers may have moved it on (a resume of a subscription whose
 * subscriber owes money is LOCKED_NO_FUNDS again, sql 0016 / 0036), which an UPDATE's
 * RETURNING does not show; then the command fails, naming the state and why. Already in
 * that state: nothing changes, the reason on record (why it was suspended) is kept and
 * shown. Returns the exit code. */
static int set_state(PGconn *c, const struct aopts *o, const char *const *v, const char *none)
{
	PGresult *r = run(c, o, "UPDATE subscriptions SET state = $2, state_reason = $3"
			  " WHERE id = $1 AND state <> $2", 3, v);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	PQclear(r);
	r = run(c, o, "SELECT id, master_id, subscriber_id, state, state_reason FROM"
		" subscriptions WHERE id = $1", 1, v);
	int rc = CTL_EXIT_FAIL;
	if (r != NULL && PQntuples(r) == 0) {
		fprintf(stderr, "decpctl %s: %s\n", o->cmd, none);
	} else if (r != NULL) {
		ctl_pg_print(r, o->json);
		if (strcmp(PQgetvalue(r, 0, 3), v[1]) == 0)
			rc = CTL_EXIT_OK;
		else
			fprintf(stderr, "decpctl %s: the database left it %s (%s)\n", o->cmd,
				PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4));
	}
	PQclear(r);
	return rc;
}

/* Close the connection and --out FILE; the file is removed unless the command succeeded. */
static int finish(PGconn *c, FILE *f, const struct aopts *o, int rc)
{
	PQfinish(c);
	if (f != NULL) {
		fclose(f);
		if (rc != CTL_EXIT_OK)
			unlink(o->out);
	}
	return rc;
}

/* ---- decpctl token ---- */

/* add_token in a transaction of its own; an exit code. */
static int add_token_tx(PGconn *c, const struct aopts *o, bool subscriber, const char *owner,
			FILE *f)
{
	int rc = begin_tx(c) ? add_token(c, o, subscriber, owner, f) : -1;

	return end_tx(c, rc == 0) ? CTL_EXIT_OK : rc == -2 ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
}

/* Revoke license or subscriber token id: prints the revoked row, or says there is none. */
static int revoke_token(PGconn *c, const struct aopts *o, bool subscriber, const char *id)
{
	char none[64];
	const char *v[] = {id};
	snprintf(none, sizeof(none), "no unrevoked token %s", id);
	return print_query(c, o, subscriber
			   ? "UPDATE subscriber_tokens SET revoked_at = now() WHERE id = $1 AND "
			     "revoked_at IS NULL RETURNING id, subscriber_id, revoked_at"
			   : "UPDATE license_tokens SET revoked_at = now() WHERE id = $1 AND "
			     "revoked_at IS NULL RETURNING id, master_id, revoked_at", 1, v, none);
}

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
	static const struct subcmd subs[] = {
		{"add", O_MASTER | O_LABEL | O_OUT | O_EXPIRES},
		{"list", O_MASTER | O_JSON},
		{"revoke", O_ID},
	};
	struct aopts o;
	char cmd[64], ids[24];
	const struct subcmd *sc;
	int rc = begin(argc, argv, "token", subs, 3, token_usage, &o, cmd, &sc);
	if (rc >= 0)
		return rc;
	if ((sc->allowed & O_MASTER) && o.master == 0)
		return ctl_usage_error(cmd, "--master is required");
	if ((sc->allowed & O_ID) && o.id == 0)
		return ctl_usage_error(cmd, "--id is required");
	snprintf(ids, sizeof(ids), "%lld", o.master != 0 ? o.master : o.id);
	FILE *f = NULL;
	if (open_out(&o, &f) != 0)
		return CTL_EXIT_FAIL;
	PGconn *c = connect_db(&o);
	const char *v[] = {ids};
	if (c == NULL)
		rc = CTL_EXIT_FAIL;
	else if (sc == &subs[0])
		rc = add_token_tx(c, &o, false, ids, f);
	else if (sc == &subs[1] && !row_exists(c, &o, "masters", "master", ids))
		rc = CTL_EXIT_FAIL;
	else if (sc == &subs[1])
		rc = print_query(c, &o, "SELECT id, master_id, label, created_at, expires_at, "
				 "revoked_at FROM license_tokens WHERE master_id = $1 ORDER BY id",
				 1, v, NULL);
	else
		rc = revoke_token(c, &o, false, ids);
	return finish(c, f, &o, rc);
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

/* subscriber add: the row and its first token, in one transaction; ids receives the id.
 * An exit code. */
static int subscriber_add(PGconn *c, const struct aopts *o, char ids[24], FILE *f)
{
	const char *v[] = {o->name, ids};
	bool ok = begin_tx(c);
	PGresult *r = ok ? run(c, o, o->id ? "INSERT INTO subscribers (name, id) VALUES "
			       "($1, $2::bigint) RETURNING id"
			       : "INSERT INTO subscribers (name) VALUES ($1) RETURNING id",
			       o->id ? 2 : 1, v) : NULL;
	ok = r != NULL;
	if (ok)
		snprintf(ids, 24, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	int rc = ok ? add_token(c, o, true, ids, f) : -1;
	return end_tx(c, rc == 0) ? CTL_EXIT_OK : rc == -2 ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
}

int ctl_cmd_subscriber(int argc, char **argv)
{
	static const struct subcmd subs[] = {
		{"add", O_NAME | O_ID | O_LABEL | O_OUT},
		{"list", O_JSON},
		{"token", O_ID | O_LABEL | O_OUT | O_EXPIRES},
		{"revoke-token", O_ID},
	};
	struct aopts o;
	char cmd[64], ids[24] = "";
	const struct subcmd *sc;
	int rc = begin(argc, argv, "subscriber", subs, 4, subscriber_usage, &o, cmd, &sc);
	if (rc >= 0)
		return rc;
	if (sc == &subs[0] && (o.name == NULL || o.name[0] == '\0'))
		return ctl_usage_error(cmd, "--name is required");
	if (sc != &subs[0] && (sc->allowed & O_ID) && o.id == 0)
		return ctl_usage_error(cmd, "--id is required");
	if (o.id != 0)
		snprintf(ids, sizeof(ids), "%lld", o.id);
	FILE *f = NULL;
	if (open_out(&o, &f) != 0)
		return CTL_EXIT_FAIL;
	PGconn *c = connect_db(&o);
	if (c == NULL) {
		rc = CTL_EXIT_FAIL;
	} else if (sc == &subs[0]) {
		rc = subscriber_add(c, &o, ids, f);
		if (rc == CTL_EXIT_OK)
			fprintf(f != NULL ? stdout : stderr, "subscriber %s '%s' added\n", ids, o.name);
	} else if (sc == &subs[2]) {
		rc = add_token_tx(c, &o, true, ids, f);
	} else if (sc == &subs[1]) {
		rc = print_query(c, &o, "SELECT s.id, s.name, s.created_at, s.disabled_at, "
				 "(SELECT count(*) FROM subscriber_tokens t WHERE t.subscriber_id = s.id "
				 "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR "
				 "t.expires_at > now())) AS live_tokens, "
				 "(SELECT count(*) FROM subscriptions p WHERE p.subscriber_id = s.id) "
				 "AS subscriptions FROM subscribers s ORDER BY s.id", 0, NULL, NULL);
	} else {
		rc = revoke_token(c, &o, true, ids);
	}
	return finish(c, f, &o, rc);
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
	/* suspend, resume and cancel differ only in the state they ask the database for. */
	static const struct subcmd subs[] = {
		{"add", O_SUBSCRIBER | O_MASTER | O_ID | O_FEE | O_POLICY},
		{"list", O_SUBSCRIBER | O_MASTER | O_JSON},
		{"suspend", O_ID | O_REASON},
		{"resume", O_ID | O_REASON},
		{"cancel", O_ID | O_REASON},
	};
	static const char *const to_states[] = {NULL, NULL, "SUSPENDED_ADMIN", "SYNCED",
						"CANCELLED"};
	struct aopts o;
	char cmd[64], none[64];
	const struct subcmd *sc;
	int rc = begin(argc, argv, "subscription", subs, 5, subscription_usage, &o, cmd, &sc);
	if (rc >= 0)
		return rc;
	const char *to_state = to_states[sc - subs];
	if (sc == &subs[0] && (o.subscriber == 0 || o.master == 0))
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
	if (sc == &subs[0]) {
		/* The id column only when asked for: the application role may not choose ids.
		 * Without --fee-pct the fee is NULL: the database continues the pair's last
		 * one, else 20.00 (sql 0028). */
		char sql[600];
		bool with_id = id[0] != '\0';
		snprintf(sql, sizeof(sql), "INSERT INTO subscriptions (%smaster_id, subscriber_id, "
			 "fee_pct, copy_policy) VALUES (%s$1, $2, $3::numeric, "
			 "coalesce($4::jsonb, '{\"mode\": \"MULTIPLIER\", \"multiplier\": 1}'::jsonb)) "
			 "RETURNING id, master_id, subscriber_id, state, fee_pct, copy_policy",
			 with_id ? "id, " : "", with_id ? "$5::bigint, " : "");
		const char *v[] = {m, s, o.fee, o.policy, id};
		rc = print_query(c, &o, sql, with_id ? 5 : 4, v, NULL);
	} else if (sc == &subs[1]) {
		const char *v[] = {s[0] ? s : NULL, m[0] ? m : NULL};
		if ((s[0] && !row_exists(c, &o, "subscribers", "subscriber", s)) ||
		    (m[0] && !row_exists(c, &o, "masters", "master", m)))
			return finish(c, NULL, &o, CTL_EXIT_FAIL);
		rc = print_query(c, &o, "SELECT id, master_id, subscriber_id, state, state_reason, "
				 "trust_score, last_sequence_id, high_water_mark, fee_pct FROM "
				 "subscriptions WHERE ($1::bigint IS NULL OR subscriber_id = $1) AND "
				 "($2::bigint IS NULL OR master_id = $2) ORDER BY id", 2, v, NULL);
	} else {
		const char *v[] = {id, to_state, o.reason ? o.reason : "operator (decpctl)"};
		snprintf(none, sizeof(none), "no subscription %s", id);
		/* cancel settles the period: subscription_cancel() locks the wallet first */
		if (sc == &subs[4])
			rc = print_query(c, &o, "SELECT subscription_id AS id, state, high_water_mark, "
					 "settled_fee FROM subscription_cancel($1, $2)", 2,
					 (const char *[]){id, v[2]}, none);
		else
			rc = set_state(c, &o, v, none);
	}
	return finish(c, NULL, &o, rc);
}

/* ---- decpctl instrument ---- */

static void instrument_usage(FILE *f)
{
	fprintf(f, "usage: decpctl instrument list [--json]\n"
		   "       decpctl instrument add --symbol S --digits D --pip P --contract N\n"
		   "       decpctl instrument set --symbol S [--digits D] [--pip P] [--contract N]\n"
		   "       decpctl instrument remove --symbol S\n"
		   "  (all: [--conninfo STR], default $DECP_PG_CONNINFO)\n\n"
		   "The instrument registry the guard's price check reads (docs/guard.md): per\n"
		   "symbol (the master's, without broker decorations, upper case: EURUSD, US30)\n"
		   "the quote digits (0..5; the point is 10^-digits), the pip size (a decimal, a\n"
		   "whole number of points: 0.0001 for EURUSD, 0.01 for USDJPY) and the contract\n"
		   "size (units per 1.00 lot). Signals on a symbol it lacks are refused\n"
		   "UNKNOWN_INSTRUMENT. `list` prints what decp-subscriber --instruments reads.\n");
}

/* The entry the options describe over `base` (set: the stored row). Prints what is wrong
 * (the rules of guard_instrument_valid(), which the table's checks repeat). 0 or -1. */
static int instrument_from_opts(const struct aopts *o, struct guard_instrument *in)
{
	char *end;
	size_t n = strlen(o->symbol);
	if (n == 0 || n >= sizeof(in->symbol)) {
		ctl_usage_error(o->cmd, "--symbol must be 1..32 characters");
		return -1;
	}
	memcpy(in->symbol, o->symbol, n + 1);
	if (o->digits != NULL) {
		long d = strtol(o->digits, &end, 10);
		if (end == o->digits || *end != '\0' || d < 0 || d > GUARD_DIGITS_MAX) {
			ctl_usage_error(o->cmd, "--digits '%s' is not in 0..5", o->digits);
			return -1;
		}
		in->digits = (uint32_t)d;
		in->point = 1;
		for (long k = d; k < GUARD_DIGITS_MAX; k++)
			in->point *= 10;
	}
	if (o->pip != NULL && (proto_decimal_parse(o->pip, strlen(o->pip), PROTO_PRICE_DECIMALS,
						   &in->pip) != 0 || in->pip <= 0)) {
		ctl_usage_error(o->cmd, "--pip '%s' is not a positive decimal with at most 5 "
				"decimals", o->pip);
		return -1;
	}
	if (o->contract != NULL) {
		errno = 0;
		long long v = strtoll(o->contract, &end, 10);
		if (errno != 0 || end == o->contract || *end != '\0' || v <= 0) {
			ctl_usage_error(o->cmd, "--contract '%s' is not a positive integer",
					o->contract);
			return -1;
		}
		in->contract_size = v;
	}
	if (guard_instrument_valid(in) != 0) {
		/* which rule: the symbol alone, on an entry that is otherwise valid */
		struct guard_instrument sym = {.digits = 0, .point = 100000, .pip = 100000,
					       .contract_size = 1};
		memcpy(sym.symbol, in->symbol, sizeof(sym.symbol));
		if (guard_instrument_valid(&sym) != 0)
			ctl_usage_error(o->cmd, "--symbol '%s' must be upper case [A-Z0-9._#-]",
					o->symbol);
		else
			ctl_usage_error(o->cmd, "the pip (%s) must be a whole number of points "
					"(10^-%u with --digits %u)",
					o->pip != NULL ? o->pip : "stored", in->digits, in->digits);
		return -1;
	}
	return 0;
}

/* Decimal text of v price units (1e-5) for a NUMERIC parameter. */
static void price_text(int64_t v, char out[32])
{
	snprintf(out, 32, "%" PRId64 ".%05" PRId64, v / 100000, v % 100000);
}

int ctl_cmd_instrument(int argc, char **argv)
{
	static const struct subcmd subs[] = {
		{"list", O_JSON},
		{"add", O_SYMBOL | O_DIGITS | O_PIP | O_CONTRACT},
		{"set", O_SYMBOL | O_DIGITS | O_PIP | O_CONTRACT},
		{"remove", O_SYMBOL},
	};
	struct aopts o;
	char cmd[64], none[96], digits[16], point[32], pip[32], contract[24];
	const struct subcmd *sc;
	struct guard_instrument in = {0};
	int rc = begin(argc, argv, "instrument", subs, 4, instrument_usage, &o, cmd, &sc);
	if (rc >= 0)
		return rc;
	if (sc != &subs[0] && o.symbol == NULL)
		return ctl_usage_error(cmd, "--symbol is required");
	if (sc == &subs[1] && (o.digits == NULL || o.pip == NULL || o.contract == NULL))
		return ctl_usage_error(cmd, "--digits, --pip and --contract are required");
	if (sc == &subs[2] && o.digits == NULL && o.pip == NULL && o.contract == NULL)
		return ctl_usage_error(cmd, "nothing to set: give --digits, --pip or --contract");
	PGconn *c = connect_db(&o);
	if (c == NULL)
		return CTL_EXIT_FAIL;
	snprintf(none, sizeof(none), "no instrument '%s'", o.symbol ? o.symbol : "");
	if (sc == &subs[0]) {
		rc = print_query(c, &o, "SELECT symbol, digits, point, pip_size, contract_size, "
				 "updated_at FROM instruments ORDER BY symbol", 0, NULL, NULL);
		return finish(c, NULL, &o, rc);
	}
	if (sc == &subs[3]) {
		const char *v[] = {o.symbol};
		rc = print_query(c, &o, "DELETE FROM instruments WHERE symbol = $1 RETURNING symbol, "
				 "digits, point, pip_size, contract_size", 1, v, none);
		return finish(c, NULL, &o, rc);
	}
	if (sc == &subs[2]) { /* set: the stored row, then the options over it */
		const char *v[] = {o.symbol};
		PGresult *r = run(c, &o, "SELECT digits, (point * 100000)::bigint, (pip_size * "
				  "100000)::bigint, contract_size FROM instruments WHERE symbol = $1",
				  1, v);
		if (r == NULL || PQntuples(r) != 1) {
			if (r != NULL)
				fprintf(stderr, "decpctl %s: %s\n", cmd, none);
			PQclear(r);
			return finish(c, NULL, &o, CTL_EXIT_FAIL);
		}
		in.digits = (uint32_t)atoi(PQgetvalue(r, 0, 0));
		in.point = atoll(PQgetvalue(r, 0, 1));
		in.pip = atoll(PQgetvalue(r, 0, 2));
		in.contract_size = atoll(PQgetvalue(r, 0, 3));
		PQclear(r);
	}
	if (instrument_from_opts(&o, &in) != 0)
		return finish(c, NULL, &o, CTL_EXIT_USAGE);
	snprintf(digits, sizeof(digits), "%u", in.digits);
	price_text(in.point, point);
	price_text(in.pip, pip);
	snprintf(contract, sizeof(contract), "%" PRId64, in.contract_size);
	const char *v[] = {in.symbol, digits, point, pip, contract};
	rc = print_query(c, &o, sc == &subs[1]
			 ? "INSERT INTO instruments (symbol, digits, point, pip_size, contract_size) "
			   "VALUES ($1, $2, $3, $4, $5) RETURNING symbol, digits, point, pip_size, "
			   "contract_size"
			 : "UPDATE instruments SET digits = $2, point = $3, pip_size = $4, "
			   "contract_size = $5, updated_at = now() WHERE symbol = $1 RETURNING symbol, "
			   "digits, point, pip_size, contract_size", 5, v, none);
	return finish(c, NULL, &o, rc);
}
