/*
 * decpctl ledger verify | head: check the money in PostgreSQL against itself
 * (docs/decpctl.md "decpctl ledger", docs/database.md "Tamper evidence"; issue 20).
 *
 * verify reads, in one REPEATABLE READ snapshot, every billing_ledger row (streamed, in
 * wallet and entry order), every wallet and the latest checkpoints, and recomputes here,
 * in C, without trusting any function in the database:
 *   - the hash chain: row_hash = SHA-256(prev_hash || content), content being each
 *     column as "<octets>:<text>" or "-" for NULL in the order of the SQL function
 *     ledger_row_content() (sql/migrations/0012_ledger_guard.sql); entry 1 links to 32
 *     zero bytes, entry n to entry n-1's hash, entry numbers without gaps;
 *   - the running balances: each row starts where the previous one ended (available,
 *     reserved, owed), balance_after = balance_before + amount;
 *   - each wallet against its ledger: balance, reserved, receivable, lifetime fees (the
 *     fee and receivable rows) and ledger_seq; a wallet without rows is empty;
 *   - each checkpoint: the head over every wallet's last row at taken_at;
 *   - each subscription's high-water mark against its fee rows, and its profit replayed
 *     from its profit_events (sql 0032; check_profit below), whose hash chain (sql 0035)
 *     is recomputed as the ledger's: row_hash = SHA-256(prev_hash || content), content in
 *     the order of profit_event_content(), seq 1 linked to 32 zero bytes;
 *   - each checkpoint taken since 0035: the profit head over every subscription's last
 *     event at taken_at.
 * It stops at the first row that does not match and names it (id, wallet, entry, what).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "ctl_cmd.h"

#define HASH_LEN 32
#define HEX_LEN (2 * HASH_LEN)
#define MAX_CHECKPOINTS 1000

/* Columns of LEDGER_QUERY; C_ID .. C_CREATED are the hashed content, in order. */
enum { C_ID, C_SUB, C_ENTRY, C_SUBSCRIPTION, C_TYPE, C_AMOUNT, C_BAL_B, C_BAL_A, C_RES_B,
       C_RES_A, C_REC_B, C_REC_A, C_HWM_B, C_HWM_A, C_PROFIT, C_FEE_PCT, C_REF, C_CREATED,
       C_PREV, C_HASH, C_COUNT };

static const char LEDGER_QUERY[] =
	"SELECT id, subscriber_id, entry_no, subscription_id, entry_type, amount,"
	" balance_before, balance_after, reserved_before, reserved_after, receivable_before,"
	" receivable_after, hwm_before, hwm_after, profit, fee_pct, reference,"
	" extract(epoch FROM created_at), encode(prev_hash, 'hex'), encode(row_hash, 'hex')"
	" FROM billing_ledger ORDER BY subscriber_id, entry_no";

struct wallet {
	long long sub, seq;
	__int128 bal, res, rec, fees; /* cents */
};

struct checkpoint {
	long long id, taken_us, rows;
	char head[HEX_LEN + 1];
	EVP_MD_CTX *ctx;
	long long my_rows;
	long long cand_entry; /* the current wallet's last entry at taken_at, 0 = none */
	char cand_hash[HEX_LEN + 1];
	/* the profit events' head (sql 0035); profit_head "" for a checkpoint before */
	long long profit_events;
	char profit_head[HEX_LEN + 1];
	EVP_MD_CTX *pctx;
	long long my_events;
	long long pcand_seq;  /* the current subscription's last event at taken_at, 0 = none */
	char pcand_hash[HEX_LEN + 1];
};

struct verify {
	struct wallet *w;
	size_t nw, wi;         /* wallets, the next one not yet matched */
	struct checkpoint *cp;
	size_t ncp;
	EVP_MD_CTX *head;      /* over every wallet's last row */
	EVP_MD_CTX *phead;     /* over every subscription's last profit event (sql 0035) */
	/* the wallet being read */
	long long sub, entry, rows, wallets;
	unsigned char prev[HASH_LEN];
	__int128 bal, res, rec, fees;
	char last_hash[HEX_LEN + 1];
	/* the subscription whose profit events are being replayed */
	struct profit_replay {
		long long sub, seq, events, subs;
		bool based;                   /* a set or carry seen: cur is replayed from it */
		unsigned char prev[HASH_LEN]; /* the last event's row_hash */
		char last_hash[HEX_LEN + 1];  /* the same in hex */
		__int128 cur;                 /* 1e-4, as profit_exact */
		char exact[48], cum[48];      /* its profit_exact, cumulative_profit */
	} p;
	char mismatch[512];
};

/* A checkpoint kept outside the database (--heads): what its line said (profit_events
 * -1 and profit_head "" in a line without them: before sql 0035). */
struct kept {
	long long id, rows, profit_events;
	char head[HEX_LEN + 1], profit_head[HEX_LEN + 1];
};

#define MAX_KEPT 100000

static void usage(FILE *f)
{
	fprintf(f, "usage: decpctl ledger verify [--conninfo STR] [--checkpoints N] [--heads FILE]\n"
		   "       decpctl ledger head [--conninfo STR] [--checkpoint]\n\n"
		   "verify  recompute, here and not in the database, the hash chain of every\n"
		   "        billing_ledger row, the running balances, every wallet against its\n"
		   "        ledger, the last N checkpoints (default 100, max %d), each\n"
		   "        subscription's HWM and its profit replayed from profit_events, with\n"
		   "        their hash chain and the checkpoints' profit heads;\n"
		   "        stops at the first row that does not match and names it.\n"
		   "        --heads FILE: checkpoints kept outside the database, one per line as\n"
		   "        the archiver logs them ('ledger checkpoint N: rows R wallets W head H\n"
		   "        [profit_events E subscriptions S profit_head P]') or 'ledger head\n"
		   "        --checkpoint' prints them; other lines are skipped.\n"
		   "        Each must be in ledger_checkpoints unchanged, and is recomputed too: a\n"
		   "        checkpoint removed or rewritten with the rows it covered is found.\n"
		   "head    print the database's chain heads (ledger rows, wallets, SHA-256;\n"
		   "        profit events, subscriptions, SHA-256);\n"
		   "        --checkpoint records them in ledger_checkpoints first.\n\n"
		   "  --conninfo STR  libpq connection string (default: $DECP_PG_CONNINFO);\n"
		   "                  decp_app may run both\n"
		   "  --help          this text\n\n"
		   "Exit codes: 0 verified / printed, 1 could not connect or read, 2 usage error,\n"
		   "5 mismatch found (the first one is printed).\n", MAX_CHECKPOINTS);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void digest_hex(EVP_MD_CTX *ctx, char out[HEX_LEN + 1])
{
	unsigned char md[HASH_LEN];
	unsigned int n = 0;
	EVP_DigestFinal_ex(ctx, md, &n);
	hex(md, HASH_LEN, out);
}

/* "-12.3456" (at most scale decimals, as numeric(n,scale) prints) -> units of
 * 10^-scale. */
static __int128 fixed(const char *s, int scale)
{
	bool neg = *s == '-';
	__int128 v = 0;
	int dec = -1;
	if (neg)
		s++;
	for (; *s; s++) {
		if (*s == '.') {
			dec = 0;
			continue;
		}
		v = v * 10 + (*s - '0');
		if (dec >= 0)
			dec++;
	}
	for (; dec < scale; dec = dec < 0 ? 1 : dec + 1)
		v *= 10;
	return neg ? -v : v;
}

/* "-12.34" (numeric(20,2)) -> cents. */
static __int128 cents(const char *s)
{
	return fixed(s, 2);
}

/* "1796426400.123456" -> microseconds. */
static long long epoch_us(const char *s)
{
	char *end;
	long long sec = strtoll(s, &end, 10), us = 0;
	int digits = 0;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9' && digits < 6; end++, digits++)
			us = us * 10 + (*end - '0');
	for (; digits < 6; digits++)
		us *= 10;
	return sec * 1000000 + us;
}

/* v, an amount in units of 10^-decimals, as decimal text ("-12.50"): every value an
 * __int128 holds (a forged row beyond the fee domain prints as it is, not wrapped). */
static void fixed_text(__int128 v, int decimals, char *out, size_t len)
{
	char d[48];
	int n = 0;
	unsigned __int128 a = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	do {
		d[n++] = (char)('0' + (int)(a % 10));
		a /= 10;
	} while (a != 0 || n <= decimals);
	size_t k = 0;
	if (v < 0 && k + 1 < len)
		out[k++] = '-';
	for (int i = n - 1; i >= 0 && k + 1 < len; i--) {
		out[k++] = d[i];
		if (i == decimals && decimals > 0 && k + 1 < len)
			out[k++] = '.';
	}
	out[k] = '\0';
}

static void money_text(__int128 c, char *out, size_t len)
{
	fixed_text(c, 2, out, len);
}

/* Feed "<sub>:<entry>:<hash>\n" to a head digest. */
static void head_line(EVP_MD_CTX *ctx, long long sub, long long entry, const char *hash)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%lld:%lld:%s\n", sub, entry, hash);
	EVP_DigestUpdate(ctx, line, (size_t)n);
}

static bool wallet_is_empty(const struct wallet *w)
{
	return w->seq == 0 && w->bal == 0 && w->res == 0 && w->rec == 0 && w->fees == 0;
}

/* The wallet just read is complete: compare it with user_wallets, feed the heads. */
static bool finish_wallet(struct verify *v)
{
	char a[48], b[48];
	for (; v->wi < v->nw && v->w[v->wi].sub < v->sub; v->wi++)
		if (!wallet_is_empty(&v->w[v->wi])) {
			snprintf(v->mismatch, sizeof(v->mismatch),
				 "wallet %lld: not empty (ledger_seq %lld) but has no ledger rows",
				 v->w[v->wi].sub, v->w[v->wi].seq);
			return false;
		}
	if (v->wi == v->nw || v->w[v->wi].sub != v->sub) {
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "wallet %lld: ledger rows but no user_wallets row", v->sub);
		return false;
	}
	const struct wallet *w = &v->w[v->wi++];
	if (w->seq != v->entry) {
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "wallet %lld: ledger_seq is %lld but its ledger ends at entry %lld", v->sub,
			 w->seq, v->entry);
		return false;
	}
	static const char *const names[] = {"balance_usd", "reserved_usd", "receivable_usd",
					    "lifetime_fees"};
	const __int128 theirs[] = {w->bal, w->res, w->rec, w->fees};
	const __int128 mine[] = {v->bal, v->res, v->rec, v->fees};
	for (int i = 0; i < 4; i++)
		if (theirs[i] != mine[i]) {
			money_text(theirs[i], a, sizeof(a));
			money_text(mine[i], b, sizeof(b));
			snprintf(v->mismatch, sizeof(v->mismatch),
				 "wallet %lld: %s is %s but its ledger says %s", v->sub, names[i], a, b);
			return false;
		}
	head_line(v->head, v->sub, v->entry, v->last_hash);
	for (size_t k = 0; k < v->ncp; k++) {
		struct checkpoint *c = &v->cp[k];
		if (c->cand_entry > 0) {
			head_line(c->ctx, v->sub, c->cand_entry, c->cand_hash);
			c->my_rows += c->cand_entry;
		}
		c->cand_entry = 0;
	}
	v->wallets++;
	return true;
}

/* SHA-256(prev || content) of row 0 of r, content being the columns cols in order, each
 * "<octets>:<text>" or "-" for NULL (sql 0012 ledger_field()). false: out of memory. */
static bool content_hash(const PGresult *r, const unsigned char prev[HASH_LEN], const int *cols,
			 size_t ncols, unsigned char md[HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return false;
	}
	EVP_DigestUpdate(ctx, prev, HASH_LEN);
	for (size_t i = 0; i < ncols; i++) {
		char len[24];
		if (PQgetisnull(r, 0, cols[i])) {
			EVP_DigestUpdate(ctx, "-", 1);
			continue;
		}
		const char *s = PQgetvalue(r, 0, cols[i]);
		size_t n = strlen(s);
		int ln = snprintf(len, sizeof(len), "%zu:", n);
		EVP_DigestUpdate(ctx, len, (size_t)ln);
		EVP_DigestUpdate(ctx, s, n);
	}
	unsigned int mdn = 0;
	EVP_DigestFinal_ex(ctx, md, &mdn);
	EVP_MD_CTX_free(ctx);
	return true;
}

/* One ledger row; false (with v->mismatch) when it does not match. */
static bool check_row(struct verify *v, const PGresult *r)
{
	long long id = strtoll(PQgetvalue(r, 0, C_ID), NULL, 10);
	long long sub = strtoll(PQgetvalue(r, 0, C_SUB), NULL, 10);
	long long entry = strtoll(PQgetvalue(r, 0, C_ENTRY), NULL, 10);
	const char *what = NULL;

	if (v->rows == 0 || sub != v->sub) {
		if (v->rows > 0 && !finish_wallet(v))
			return false;
		v->sub = sub;
		v->entry = 0;
		memset(v->prev, 0, sizeof(v->prev));
		v->bal = v->res = v->rec = v->fees = 0;
	}
	v->rows++;
	/* the chain */
	static const int content[] = {C_ID, C_SUB, C_ENTRY, C_SUBSCRIPTION, C_TYPE, C_AMOUNT,
				      C_BAL_B, C_BAL_A, C_RES_B, C_RES_A, C_REC_B, C_REC_A,
				      C_HWM_B, C_HWM_A, C_PROFIT, C_FEE_PCT, C_REF, C_CREATED};
	char prev_hex[HEX_LEN + 1], mine[HEX_LEN + 1];
	unsigned char md[HASH_LEN];
	hex(v->prev, HASH_LEN, prev_hex);
	if (!content_hash(r, v->prev, content, sizeof(content) / sizeof(content[0]), md)) {
		snprintf(v->mismatch, sizeof(v->mismatch), "out of memory");
		return false;
	}
	hex(md, HASH_LEN, mine);

	__int128 amount = cents(PQgetvalue(r, 0, C_AMOUNT));
	__int128 bal_b = cents(PQgetvalue(r, 0, C_BAL_B)), bal_a = cents(PQgetvalue(r, 0, C_BAL_A));
	const char *type = PQgetvalue(r, 0, C_TYPE);
	if (entry != v->entry + 1)
		what = "entry_no does not follow the previous entry (a row is missing or moved)";
	else if (strcmp(PQgetvalue(r, 0, C_PREV), prev_hex) != 0)
		what = "prev_hash is not the previous row's hash (the chain is broken before it)";
	else if (strcmp(PQgetvalue(r, 0, C_HASH), mine) != 0)
		what = "row_hash does not match the row's content (a column was changed)";
	else if (bal_b != v->bal || bal_a != bal_b + amount)
		what = "balance_before/after do not continue the wallet's running balance";
	else if (cents(PQgetvalue(r, 0, C_RES_B)) != v->res)
		what = "reserved_before does not continue the running reserved amount";
	else if (cents(PQgetvalue(r, 0, C_REC_B)) != v->rec)
		what = "receivable_before does not continue the running receivable";
	if (what != NULL) {
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "billing_ledger row id %lld (wallet %lld, entry %lld, %s): %s", id, sub, entry,
			 type, what);
		return false;
	}
	memcpy(v->prev, md, HASH_LEN);
	memcpy(v->last_hash, mine, sizeof(mine));
	v->entry = entry;
	v->bal = bal_a;
	v->res = cents(PQgetvalue(r, 0, C_RES_A));
	v->rec = cents(PQgetvalue(r, 0, C_REC_A));
	if (strncmp(type, "FEE_", 4) == 0 || strncmp(type, "RECEIVABLE", 10) == 0)
		v->fees -= amount;
	long long at = epoch_us(PQgetvalue(r, 0, C_CREATED));
	for (size_t k = 0; k < v->ncp; k++)
		if (at <= v->cp[k].taken_us) {
			v->cp[k].cand_entry = entry;
			memcpy(v->cp[k].cand_hash, mine, sizeof(mine));
		}
	return true;
}

static PGresult *query(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != want) {
		fprintf(stderr, "decpctl ledger: %s", PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

static int load_wallets(PGconn *c, struct verify *v)
{
	PGresult *r = query(c, "SELECT subscriber_id, ledger_seq, balance_usd, reserved_usd,"
			    " receivable_usd, lifetime_fees FROM user_wallets ORDER BY subscriber_id",
			    PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	v->nw = (size_t)PQntuples(r);
	v->w = calloc(v->nw ? v->nw : 1, sizeof(*v->w));
	for (size_t i = 0; v->w != NULL && i < v->nw; i++) {
		v->w[i].sub = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
		v->w[i].seq = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
		v->w[i].bal = cents(PQgetvalue(r, (int)i, 2));
		v->w[i].res = cents(PQgetvalue(r, (int)i, 3));
		v->w[i].rec = cents(PQgetvalue(r, (int)i, 4));
		v->w[i].fees = cents(PQgetvalue(r, (int)i, 5));
	}
	PQclear(r);
	return v->w ? 0 : -1;
}

/* The checkpoints to recompute: the last n, and those kept outside (ids, "{1,2}"). */
static int load_checkpoints(PGconn *c, struct verify *v, long n, const char *ids)
{
	char lim[32];
	snprintf(lim, sizeof(lim), "%ld", n);
	const char *pv[] = {lim, ids};
	PGresult *r = PQexecParams(c, "SELECT id, extract(epoch FROM taken_at), rows, head,"
				   " profit_events, profit_head"
				   " FROM ledger_checkpoints WHERE id IN (SELECT id FROM"
				   " ledger_checkpoints ORDER BY id DESC LIMIT $1::bigint) OR id ="
				   " ANY($2::bigint[]) ORDER BY id DESC", 2, NULL, pv, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "decpctl ledger: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	v->ncp = (size_t)PQntuples(r);
	v->cp = calloc(v->ncp ? v->ncp : 1, sizeof(*v->cp));
	for (size_t i = 0; v->cp != NULL && i < v->ncp; i++) {
		struct checkpoint *k = &v->cp[i];
		k->id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
		k->taken_us = epoch_us(PQgetvalue(r, (int)i, 1));
		k->rows = strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
		snprintf(k->head, sizeof(k->head), "%s", PQgetvalue(r, (int)i, 3));
		k->profit_events = PQgetisnull(r, (int)i, 4) ? -1 :
				   strtoll(PQgetvalue(r, (int)i, 4), NULL, 10);
		snprintf(k->profit_head, sizeof(k->profit_head), "%s", PQgetvalue(r, (int)i, 5));
		k->ctx = EVP_MD_CTX_new();
		k->pctx = EVP_MD_CTX_new();
		if (k->ctx == NULL || EVP_DigestInit_ex(k->ctx, EVP_sha256(), NULL) != 1 ||
		    k->pctx == NULL || EVP_DigestInit_ex(k->pctx, EVP_sha256(), NULL) != 1) {
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return v->cp ? 0 : -1;
}

/* Stream the rows of sql (ncols columns) through check, one at a time, until the first
 * mismatch. 0 read to the end (v->mismatch may be set), -1 could not read. */
static int stream_rows(PGconn *c, struct verify *v, const char *sql, int ncols,
		       bool (*check)(struct verify *, const PGresult *))
{
	if (!PQsendQuery(c, sql) || !PQsetSingleRowMode(c)) {
		fprintf(stderr, "decpctl ledger: %s", PQerrorMessage(c));
		return -1;
	}
	int rc = 0;
	PGresult *r;
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && v->mismatch[0] == '\0' && PQnfields(r) == ncols)
			check(v, r);
		else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
			fprintf(stderr, "decpctl ledger: %s", PQresultErrorMessage(r));
			rc = -1;
		}
		PQclear(r);
	}
	return rc;
}

/* Reads the checkpoint lines of path into *out (the words "checkpoint N", "rows R" and
 * "head H" in any order; other lines skipped). Returns how many, or -1 (said). */
static long read_kept(const char *path, struct kept **out)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	long n = 0, cap = 0;

	*out = NULL;
	if (f == NULL) {
		fprintf(stderr, "decpctl ledger verify: --heads %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct kept k = {.id = -1, .rows = -1, .profit_events = -1};
		char *save = NULL, *prev = NULL;
		for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL;
		     prev = t, t = strtok_r(NULL, " \t\r\n", &save)) {
			if (prev == NULL)
				continue;
			if (strcmp(prev, "checkpoint") == 0 && t[0] >= '0' && t[0] <= '9')
				k.id = strtoll(t, NULL, 10);
			else if (strcmp(prev, "rows") == 0 && t[0] >= '0' && t[0] <= '9')
				k.rows = strtoll(t, NULL, 10);
			else if (strcmp(prev, "head") == 0 && strlen(t) == HEX_LEN &&
				 strspn(t, "0123456789abcdef") == HEX_LEN)
				memcpy(k.head, t, HEX_LEN + 1);
			else if (strcmp(prev, "profit_events") == 0 && t[0] >= '0' && t[0] <= '9')
				k.profit_events = strtoll(t, NULL, 10);
			else if (strcmp(prev, "profit_head") == 0 && strlen(t) == HEX_LEN &&
				 strspn(t, "0123456789abcdef") == HEX_LEN)
				memcpy(k.profit_head, t, HEX_LEN + 1);
		}
		if (k.id < 0 || k.rows < 0 || k.head[0] == '\0')
			continue;
		/* the profit part whole or not at all (a line before sql 0035) */
		if (k.profit_events < 0 || k.profit_head[0] == '\0') {
			k.profit_events = -1;
			k.profit_head[0] = '\0';
		}
		if (n == MAX_KEPT) {
			/* never a partial check reported as whole: the newest lines are last */
			fclose(f);
			free(*out);
			*out = NULL;
			fprintf(stderr, "decpctl ledger verify: --heads %s: more than %d checkpoint "
				"lines; give the newest (tail -n %d)\n", path, MAX_KEPT, MAX_KEPT);
			return -1;
		}
		if (n == cap) {
			struct kept *m = realloc(*out, sizeof(**out) * (size_t)(cap = cap ? 2 * cap : 64));
			if (m == NULL) {
				fclose(f);
				free(*out);
				*out = NULL;
				fprintf(stderr, "decpctl ledger verify: out of memory\n");
				return -1;
			}
			*out = m;
		}
		(*out)[n++] = k;
	}
	fclose(f);
	if (n == 0)
		fprintf(stderr, "decpctl ledger verify: --heads %s: no checkpoint line in it "
			"('ledger checkpoint N: rows R wallets W head H')\n", path);
	return n > 0 ? n : -1;
}

/*
 * Each subscription's high-water mark against the ledger: it moves only with a fee row
 * (FEE_PERFORMANCE and its settlement write hwm_before/hwm_after; a charge without a fee
 * keeps it), so it is its last such row's hwm_after, or without one the mark its pair's
 * previous subscription carried over at its creation (sql 0011/0028), or 0. A mark raised
 * by hand (a superuser as decp_money, or with the triggers off) makes every fee below it
 * uncharged; nothing else would show it. In the verify's snapshot; plain SQL, no function
 * of the database.
 */
static int check_hwm(PGconn *c, struct verify *v)
{
	/* the pair's previous subscription: the one its carry event names (sql 0032: the
	 * creation's, by settlement); created before 0032 (no carry), the pair's next lower
	 * id, as subscriptions were numbered then */
	PGresult *r = query(c, "SELECT s.id, s.high_water_mark::text, e.expected::text"
			    " FROM subscriptions s LEFT JOIN profit_events k ON k.subscription_id ="
			    "  s.id AND k.kind = 'carry'"
			    " CROSS JOIN LATERAL (SELECT coalesce("
			    "  (SELECT l.hwm_after FROM billing_ledger l WHERE l.subscription_id = s.id"
			    "    AND l.hwm_after IS NOT NULL ORDER BY l.id DESC LIMIT 1),"
			    "  CASE WHEN k.subscription_id IS NOT NULL THEN (SELECT p.high_water_mark"
			    "    FROM subscriptions p WHERE p.id = k.carried_from)"
			    "  ELSE (SELECT p.high_water_mark FROM subscriptions p WHERE p.master_id ="
			    "    s.master_id AND p.subscriber_id = s.subscriber_id AND p.id < s.id"
			    "    ORDER BY p.id DESC LIMIT 1) END, 0) AS expected) e"
			    " WHERE s.high_water_mark <> e.expected ORDER BY s.id LIMIT 1",
			    PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1)
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %s: high_water_mark is %s but its ledger says %s (its last "
			 "fee row's hwm_after, or the mark its pair carried over)", PQgetvalue(r, 0, 0),
			 PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	PQclear(r);
	return 0;
}

/*
 * Each subscription's profit against its history (sql 0032, profit_events): numbered 1, 2,
 * ... without a gap; a carry (event 1, its creation) brings 0 or the cumulative_profit of
 * the pair's cancelled subscription it names; a set makes the profit its amount; an
 * execution adds its amount, which is its execution_pnl row's realized_profit. At least one
 * set or carry: the migration's backfill wrote a set after the executions it had, which
 * are checked against their rows but not replayed. The result must be profit_exact, and its cents
 * (rounded half away from zero, as round() and subscriptions_profit_sync do)
 * cumulative_profit. A profit lowered by hand below the HWM leaves a fee uncharged, and the
 * wallet ledger would not show it. Then every counted execution_pnl row (not_counted NULL,
 * sql 0033: a REPEAT or NOT_CLOSING row changes no profit and has none) must have its event.
 */
enum { P_SUB, P_EXACT, P_CUM, P_SEQ, P_KIND, P_AMOUNT, P_KEY, P_PNL, P_FROM, P_FROM_CUM,
       P_FROM_PAIR, P_ESUB, P_EXEC_SEQ, P_EXEC_TICKET, P_EXEC_STATUS, P_CREATED, P_PREV, P_HASH,
       P_COUNT };

/* The hashed content of an event (sql 0035, profit_event_content()), in its order. */
static const int PROFIT_CONTENT[] = {P_ESUB, P_SEQ, P_KIND, P_AMOUNT, P_EXEC_SEQ, P_EXEC_TICKET,
				     P_EXEC_STATUS, P_FROM, P_CREATED};

static const char PROFIT_QUERY[] =
	"SELECT s.id, s.profit_exact, s.cumulative_profit, e.seq, e.kind, e.amount,"
	" e.exec_sequence || '/' || e.exec_broker_ticket || '/' || e.exec_status,"
	" p.realized_profit, e.carried_from, f.cumulative_profit,"
	" f.master_id = s.master_id AND f.subscriber_id = s.subscriber_id"
	"  AND f.state = 'CANCELLED',"
	" e.subscription_id, e.exec_sequence, e.exec_broker_ticket, e.exec_status,"
	" extract(epoch FROM e.created_at), encode(e.prev_hash, 'hex'), encode(e.row_hash, 'hex')"
	" FROM subscriptions s LEFT JOIN profit_events e ON e.subscription_id = s.id"
	" LEFT JOIN execution_pnl p ON p.subscription_id = e.subscription_id"
	"  AND p.sequence = e.exec_sequence AND p.broker_ticket = e.exec_broker_ticket"
	"  AND p.status = e.exec_status AND p.not_counted IS NULL"
	" LEFT JOIN subscriptions f ON f.id = e.carried_from"
	" ORDER BY s.id, e.seq";

static void units4_text(__int128 u, char *out, size_t len)
{
	fixed_text(u, 4, out, len);
}

/* The subscription replayed so far is complete: its replay against its columns. */
static bool finish_profit(struct verify *v)
{
	struct profit_replay *p = &v->p;
	char mine[48], cents_text[48];
	__int128 a = p->cur < 0 ? -p->cur : p->cur, c = (a + 50) / 100;

	if (p->sub == 0)
		return true;
	if (p->seq > 0)
		head_line(v->phead, p->sub, p->seq, p->last_hash);
	for (size_t k = 0; k < v->ncp; k++) {
		struct checkpoint *cp = &v->cp[k];
		if (cp->pcand_seq > 0) {
			head_line(cp->pctx, p->sub, cp->pcand_seq, cp->pcand_hash);
			cp->my_events += cp->pcand_seq;
		}
		cp->pcand_seq = 0;
	}
	c = p->cur < 0 ? -c : c;
	units4_text(p->cur, mine, sizeof(mine));
	money_text(c, cents_text, sizeof(cents_text));
	if (!p->based)
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %lld: no set or carry among its profit events (profit_exact "
			 "%s has no base to replay from)", p->sub, p->exact);
	else if (fixed(p->exact, 4) != p->cur)
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %lld: profit_exact is %s but its profit events give %s (the "
			 "last set or carry and the executions after it)", p->sub, p->exact, mine);
	else if (cents(p->cum) != c)
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %lld: cumulative_profit is %s but its profit events give %s "
			 "(%s rounded to cents)", p->sub, p->cum, cents_text, mine);
	p->subs++;
	return v->mismatch[0] == '\0';
}

/* One (subscription, event) row of PROFIT_QUERY; false (with v->mismatch) on a mismatch. */
static bool check_profit_row(struct verify *v, const PGresult *r)
{
	struct profit_replay *p = &v->p;
	long long sub = strtoll(PQgetvalue(r, 0, P_SUB), NULL, 10);
	const char *what = NULL;
	char detail[160] = "";

	if (sub != p->sub) {
		if (!finish_profit(v))
			return false;
		p->sub = sub;
		p->seq = 0;
		p->cur = 0;
		p->based = false;
		memset(p->prev, 0, sizeof(p->prev));
		snprintf(p->exact, sizeof(p->exact), "%s", PQgetvalue(r, 0, P_EXACT));
		snprintf(p->cum, sizeof(p->cum), "%s", PQgetvalue(r, 0, P_CUM));
	}
	if (PQgetisnull(r, 0, P_SEQ)) {
		snprintf(v->mismatch, sizeof(v->mismatch), "subscription %lld: no profit events "
			 "(profit_exact %s has no history)", sub, p->exact);
		return false;
	}
	long long seq = strtoll(PQgetvalue(r, 0, P_SEQ), NULL, 10);
	const char *kind = PQgetvalue(r, 0, P_KIND);
	__int128 amount = fixed(PQgetvalue(r, 0, P_AMOUNT), 4);
	bool execution = strcmp(kind, "execution") == 0, carry = strcmp(kind, "carry") == 0;

	/* the chain (sql 0035) */
	char prev_hex[HEX_LEN + 1], mine[HEX_LEN + 1];
	unsigned char md[HASH_LEN];
	hex(p->prev, HASH_LEN, prev_hex);
	if (!content_hash(r, p->prev, PROFIT_CONTENT,
			  sizeof(PROFIT_CONTENT) / sizeof(PROFIT_CONTENT[0]), md)) {
		snprintf(v->mismatch, sizeof(v->mismatch), "out of memory");
		return false;
	}
	hex(md, HASH_LEN, mine);

	p->events++;
	if (seq != p->seq + 1)
		what = "does not follow the previous event (an event is missing)";
	else if (PQgetisnull(r, 0, P_PREV) || strcmp(PQgetvalue(r, 0, P_PREV), prev_hex) != 0)
		what = "has a prev_hash that is not the previous event's hash (the chain is broken "
		       "before it)";
	else if (PQgetisnull(r, 0, P_HASH) || strcmp(PQgetvalue(r, 0, P_HASH), mine) != 0)
		what = "has a row_hash that does not match its content (a column was changed)";
	else if (carry && seq != 1)
		what = "is a carry, which only a subscription's creation writes (event 1)";
	else if (carry && PQgetisnull(r, 0, P_FROM) && amount != 0)
		what = "carries a profit from no subscription (a new pair starts at 0)";
	else if (carry && !PQgetisnull(r, 0, P_FROM) &&
		 (strcmp(PQgetvalue(r, 0, P_FROM_PAIR), "t") != 0 ||
		  fixed(PQgetvalue(r, 0, P_FROM_CUM), 4) != amount)) {
		what = "does not carry the cumulative_profit of the pair's cancelled subscription";
		snprintf(detail, sizeof(detail), " (from subscription %s: %s)",
			 PQgetvalue(r, 0, P_FROM), PQgetvalue(r, 0, P_FROM_CUM));
	} else if (execution && PQgetisnull(r, 0, P_PNL)) {
		what = "has no counted execution_pnl row";
	} else if (execution && fixed(PQgetvalue(r, 0, P_PNL), 4) != amount) {
		what = "is not its execution_pnl row's realized_profit";
		snprintf(detail, sizeof(detail), " (%s)", PQgetvalue(r, 0, P_PNL));
	}
	if (what != NULL) {
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %lld: profit event %lld (%s%s%s %s) %s%s", sub, seq, kind,
			 execution ? " " : "", execution ? PQgetvalue(r, 0, P_KEY) : "",
			 PQgetvalue(r, 0, P_AMOUNT), what, detail);
		return false;
	}
	p->seq = seq;
	memcpy(p->prev, md, HASH_LEN);
	memcpy(p->last_hash, mine, sizeof(mine));
	long long at = epoch_us(PQgetvalue(r, 0, P_CREATED));
	for (size_t k = 0; k < v->ncp; k++)
		if (at <= v->cp[k].taken_us) {
			v->cp[k].pcand_seq = seq;
			memcpy(v->cp[k].pcand_hash, mine, sizeof(mine));
		}
	if (!execution)
		p->based = true;
	p->cur = execution ? p->cur + amount : amount;
	return true;
}

static int check_profit(PGconn *c, struct verify *v)
{
	if (stream_rows(c, v, PROFIT_QUERY, P_COUNT, check_profit_row) != 0)
		return -1;
	if (v->mismatch[0] != '\0' || !finish_profit(v))
		return 0;
	PGresult *r = query(c, "SELECT p.subscription_id, p.sequence, p.broker_ticket, p.status,"
			    " p.realized_profit FROM execution_pnl p WHERE p.not_counted IS NULL"
			    " AND NOT EXISTS (SELECT 1"
			    " FROM profit_events e WHERE e.subscription_id = p.subscription_id"
			    " AND e.exec_sequence = p.sequence AND e.exec_broker_ticket ="
			    " p.broker_ticket AND e.exec_status = p.status)"
			    " ORDER BY 1, 2, 3, 4 LIMIT 1", PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1)
		snprintf(v->mismatch, sizeof(v->mismatch),
			 "subscription %s: execution_pnl row %s/%s/%s (realized_profit %s) has no "
			 "profit event (recorded outside the money functions)", PQgetvalue(r, 0, 0),
			 PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
			 PQgetvalue(r, 0, 4));
	PQclear(r);
	return 0;
}

/* Each checkpoint kept outside is in the database as kept (v->cp holds it: loaded by id). */
static void match_kept(struct verify *v, const struct kept *kept, long nkept)
{
	for (long i = 0; v->mismatch[0] == '\0' && i < nkept; i++) {
		const struct kept *k = &kept[i];
		const struct checkpoint *d = NULL;
		for (size_t j = 0; j < v->ncp && d == NULL; j++)
			if (v->cp[j].id == k->id)
				d = &v->cp[j];
		if (d == NULL)
			snprintf(v->mismatch, sizeof(v->mismatch),
				 "checkpoint %lld kept outside the database (rows %lld head %s) is not"
				 " in ledger_checkpoints: removed", k->id, k->rows, k->head);
		else if (d->rows != k->rows || strcmp(d->head, k->head) != 0)
			snprintf(v->mismatch, sizeof(v->mismatch),
				 "checkpoint %lld: kept outside the database as rows %lld head %s, "
				 "ledger_checkpoints says rows %lld head %s: rewritten", k->id, k->rows,
				 k->head, d->rows, d->head);
		else if (k->profit_head[0] != '\0' &&
			 (d->profit_events != k->profit_events ||
			  strcmp(d->profit_head, k->profit_head) != 0))
			snprintf(v->mismatch, sizeof(v->mismatch),
				 "checkpoint %lld: kept outside the database as profit_events %lld "
				 "profit_head %s, ledger_checkpoints says profit_events %lld profit_head "
				 "%s: rewritten", k->id, k->profit_events, k->profit_head,
				 d->profit_events, d->profit_head[0] ? d->profit_head : "(none)");
	}
}

static int ledger_verify(PGconn *c, long ncheck, const char *heads)
{
	struct verify v = {0};
	int rc = CTL_EXIT_FAIL;
	char head[HEX_LEN + 1], phead[HEX_LEN + 1];
	struct kept *kept = NULL;
	long nkept = 0;
	char *ids = NULL;

	if (heads != NULL) {
		if ((nkept = read_kept(heads, &kept)) < 0)
			return CTL_EXIT_USAGE;
		size_t cap = (size_t)nkept * 24 + 3, len = 1;
		if ((ids = malloc(cap)) == NULL) {
			free(kept);
			return CTL_EXIT_FAIL;
		}
		ids[0] = '{';
		for (long i = 0; i < nkept; i++)
			len += (size_t)snprintf(ids + len, cap - len, "%s%lld", i ? "," : "",
						kept[i].id);
		snprintf(ids + len, cap - len, "}");
	}

	v.head = EVP_MD_CTX_new();
	v.phead = EVP_MD_CTX_new();
	PGresult *r = query(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK);
	if (r == NULL || v.head == NULL || EVP_DigestInit_ex(v.head, EVP_sha256(), NULL) != 1 ||
	    v.phead == NULL || EVP_DigestInit_ex(v.phead, EVP_sha256(), NULL) != 1)
		goto fail;
	PQclear(r);
	r = query(c, "SET LOCAL client_encoding = 'UTF8'", PGRES_COMMAND_OK);
	if (r == NULL)
		goto fail;
	PQclear(r);
	if (load_wallets(c, &v) != 0 || load_checkpoints(c, &v, ncheck, ids ? ids : "{}") != 0)
		goto fail;
	match_kept(&v, kept, nkept);
	if (v.mismatch[0] == '\0' && stream_rows(c, &v, LEDGER_QUERY, C_COUNT, check_row) != 0)
		goto fail;
	if (v.mismatch[0] == '\0' && v.rows > 0)
		finish_wallet(&v);
	for (; v.mismatch[0] == '\0' && v.wi < v.nw; v.wi++)
		if (!wallet_is_empty(&v.w[v.wi]))
			snprintf(v.mismatch, sizeof(v.mismatch),
				 "wallet %lld: not empty (ledger_seq %lld) but has no ledger rows",
				 v.w[v.wi].sub, v.w[v.wi].seq);
	for (size_t k = 0; v.mismatch[0] == '\0' && k < v.ncp; k++) {
		char mine[HEX_LEN + 1];
		digest_hex(v.cp[k].ctx, mine);
		if (strcmp(mine, v.cp[k].head) != 0 || v.cp[k].my_rows != v.cp[k].rows)
			snprintf(v.mismatch, sizeof(v.mismatch),
				 "checkpoint %lld: recorded head %s over %lld rows, the ledger now gives"
				 " %s over %lld rows (rows of that time were changed or removed)",
				 v.cp[k].id, v.cp[k].head, v.cp[k].rows, mine, v.cp[k].my_rows);
	}
	if (v.mismatch[0] == '\0' && check_hwm(c, &v) != 0)
		goto fail;
	if (v.mismatch[0] == '\0' && check_profit(c, &v) != 0)
		goto fail;
	for (size_t k = 0; v.mismatch[0] == '\0' && k < v.ncp; k++) {
		char mine[HEX_LEN + 1];
		if (v.cp[k].profit_head[0] == '\0')
			continue; /* taken before sql 0035 */
		digest_hex(v.cp[k].pctx, mine);
		if (strcmp(mine, v.cp[k].profit_head) != 0 ||
		    v.cp[k].my_events != v.cp[k].profit_events)
			snprintf(v.mismatch, sizeof(v.mismatch),
				 "checkpoint %lld: recorded profit head %s over %lld events, the profit"
				 " events now give %s over %lld events (events of that time were changed"
				 " or removed)", v.cp[k].id, v.cp[k].profit_head, v.cp[k].profit_events,
				 mine, v.cp[k].my_events);
	}
	if (v.mismatch[0] != '\0') {
		printf("MISMATCH %s\n", v.mismatch);
		rc = CTL_EXIT_MISMATCH;
		goto fail;
	}
	digest_hex(v.head, head);
	digest_hex(v.phead, phead);
	printf("verified %lld ledger rows in %lld wallets (%zu wallets in all), %zu checkpoints"
	       "%s, %lld profit events of %lld subscriptions (profit head %s); chain head %s\n",
	       v.rows, v.wallets, v.nw, v.ncp,
	       nkept > 0 ? " (those kept outside included, each as kept)" : "", v.p.events,
	       v.p.subs, phead, head);
	rc = CTL_EXIT_OK;
fail:
	free(kept);
	free(ids);
	for (size_t k = 0; k < v.ncp; k++) {
		EVP_MD_CTX_free(v.cp[k].ctx);
		EVP_MD_CTX_free(v.cp[k].pctx);
	}
	free(v.cp);
	free(v.w);
	EVP_MD_CTX_free(v.head);
	EVP_MD_CTX_free(v.phead);
	return rc;
}

static int ledger_head(PGconn *c, bool checkpoint)
{
	PGresult *r = query(c, checkpoint ? "SELECT rows, wallets, head, profit_events,"
				" profit_subscriptions, profit_head, id, taken_at FROM ledger_checkpoint()"
				: "SELECT h.rows, h.wallets, h.head, p.events, p.subscriptions, p.head"
				" FROM ledger_chain_head() h, profit_chain_head() p", PGRES_TUPLES_OK);
	if (r == NULL)
		return CTL_EXIT_FAIL;
	printf("rows %s wallets %s head %s profit_events %s subscriptions %s profit_head %s",
	       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
	       PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	if (checkpoint)
		printf(" checkpoint %s at %s", PQgetvalue(r, 0, 6), PQgetvalue(r, 0, 7));
	printf("\n");
	PQclear(r);
	return CTL_EXIT_OK;
}

int ctl_cmd_ledger(int argc, char **argv)
{
	static const struct option opts[] = {
		{"conninfo", required_argument, NULL, 'c'},
		{"checkpoints", required_argument, NULL, 'n'},
		{"checkpoint", no_argument, NULL, 'k'},
		{"heads", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conninfo = getenv("DECP_PG_CONNINFO");
	long ncheck = 100;
	bool checkpoint = false;
	const char *heads = NULL;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	bool verify = strcmp(argv[1], "verify") == 0;
	if (!verify && strcmp(argv[1], "head") != 0)
		return ctl_usage_error("ledger", "unknown subcommand '%s' (known: verify, head)",
				       argv[1]);
	const char *cmd = verify ? "ledger verify" : "ledger head";
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conninfo = optarg; break;
		case 'n':
			if (!verify)
				return ctl_usage_error(cmd, "--checkpoints is an option of verify");
			if (ctl_parse_long(cmd, "--checkpoints", optarg, 0, MAX_CHECKPOINTS, &ncheck))
				return CTL_EXIT_USAGE;
			break;
		case 'H':
			if (!verify)
				return ctl_usage_error(cmd, "--heads is an option of verify");
			heads = optarg;
			break;
		case 'k':
			if (verify)
				return ctl_usage_error(cmd, "--checkpoint is an option of head");
			checkpoint = true;
			break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default:
			return ctl_option_error(cmd, argv, optopt);
		}
	}
	if (optind != argc)
		return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (conninfo == NULL || conninfo[0] == '\0')
		return ctl_usage_error(cmd, "no database: give --conninfo or set DECP_PG_CONNINFO");
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "decpctl %s: cannot connect: %s", cmd, PQerrorMessage(conn));
		PQfinish(conn);
		return CTL_EXIT_FAIL;
	}
	/* the profit chain (sql 0035) is read as the ledger's: an older schema is named, not
	 * met with "function profit_chain_head() does not exist" */
	PGresult *mig = PQexec(conn, "SELECT to_regproc('public.profit_chain_head') IS NOT NULL");
	bool chained = PQresultStatus(mig) == PGRES_TUPLES_OK && PQntuples(mig) == 1 &&
		       strcmp(PQgetvalue(mig, 0, 0), "t") == 0;
	PQclear(mig);
	if (!chained) {
		fprintf(stderr, "decpctl %s: the database has no profit chain (migration 0035) yet:"
			" run decp-migrate first, or the decpctl of the release before\n", cmd);
		PQfinish(conn);
		return CTL_EXIT_FAIL;
	}
	int rc = verify ? ledger_verify(conn, ncheck, heads) : ledger_head(conn, checkpoint);
	PQfinish(conn);
	return rc;
}
