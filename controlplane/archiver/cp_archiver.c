/* cp_archiver: the archiver role: Redis signal streams and the protection-event archive
 * into PostgreSQL (COPY per batch, XACK after COMMIT), partition maintenance, stream
 * trimming. Design and contract in cp_archiver.h; docs/control.md "archiver". */
#include "cp_archiver.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_buf.h"
#include "cp_discover.h"
#include "cp_index.h"
#include "cp_log.h"
#include "cp_metrics.h"
#include "cp_pg.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "cp_report.h"
#include "cp_tier.h"
#include "proto_msg.h"
#include "proto_signal.h"

#define ROLE "archiver"

struct feed {
	char key[64];
	uint64_t master;   /* 0: the protection feed or the reports feed */
	bool reports;      /* the fan-out's reports stream (cp_report.h) */
	uint64_t archived; /* highest sequence this archiver committed (signal feeds) */
	uint64_t next_trim;
};

struct entry {
	unsigned int feed;
	const redisReply *id;
	const redisReply *fields; /* array f1 v1 f2 v2 ... */
};

struct buf {
	char *p;
	size_t len, cap;
};

struct arch {
	const struct cp_config *cfg;
	const atomic_int *stop;
	atomic_int *halt;          /* shared by the process's loops: one failed, all stop */
	struct cp_redis r;
	struct cp_pg pg;           /* each session creates the staging table (STAGE_SQL) */
	char consumer[160];
	struct feed *feeds;
	unsigned int n_feeds, cap_feeds;
	struct cp_index by_key;    /* feeds by stream key (feed_find) */
	redisReply **replies;      /* held replies the batch points into */
	unsigned int n_replies;
	struct entry *ents;
	unsigned int n_ents, cap_ents;
	struct buf sig, prot;
	unsigned int sig_rows;     /* rows in sig */
	bool read_reports;         /* this loop archives the reports stream: one loop per
				    * process, so a delivery run (an earlier entry) is never
				    * committed after the report that names it by a sibling */
	struct cp_report *reps;    /* the batch's reports (feed `reports`), decoded */
	unsigned int n_reps, cap_reps;
	bool filter;               /* the held batch may hold archived signals: stage it */
	uint64_t next_refresh, next_claim, next_maint;
	struct cp_discover disc;   /* the first loop's SCAN for streams the set lost (the
				    * others read the set it lists them in again) */
	uint64_t rows, skipped, events, batches, claimed, reports, report_dups;
	uint64_t reads;              /* XREADGROUPs of new entries that returned some */
	unsigned int largest_read;   /* the most entries one of them returned */
	unsigned int largest_live;   /* ... of those read while keeping up (!behind) */
	bool behind;                 /* the last batch held half of archiver_batch or more: a
				      * backlog, read in archiver_read_max (else _read_live) */
	struct tier_stats *tier;   /* the process's archive counters; NULL: maintenance and
				    * archival are not this loop's job */
};

/* Archival to the warm/cold tiers (cp_tier), done by the first loop only (one exporter
 * per process; the database's advisory lock and row-count check cover several hosts). */
struct tier_stats {
	atomic_uint_fast64_t runs, exported, dropped, cooled, failures, rows, due;
};

static uint64_t ld(const atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void tier_stats_write(void *arg, struct cp_metrics *m)
{
	const struct tier_stats *t = arg;
	cp_metrics_counter(m, "decp_archive_runs_total", "archival passes", ld(&t->runs));
	cp_metrics_counter(m, "decp_archive_exported_days_total",
			   "day partitions exported to the warm tier and verified", ld(&t->exported));
	cp_metrics_counter(m, "decp_archive_dropped_days_total",
			   "day partitions dropped after their verified export", ld(&t->dropped));
	cp_metrics_counter(m, "decp_archive_cooled_days_total",
			   "days moved from the warm to the cold tier", ld(&t->cooled));
	cp_metrics_counter(m, "decp_archive_failures_total",
			   "days an archival step failed for (nothing dropped)", ld(&t->failures));
	cp_metrics_counter(m, "decp_archive_rows_total", "rows exported", ld(&t->rows));
	cp_metrics_gauge(m, "decp_archive_due_days",
			 "day partitions past the hot window still in PostgreSQL", ld(&t->due));
}

static void tier_run(struct arch *a)
{
	const struct cp_config *cfg = a->cfg;
	struct tier_stats *t = a->tier;
	if (cfg->archive_warm_dir[0] != '\0') {
		struct cp_tier_conf tc = {
			.warm_dir = cfg->archive_warm_dir, .cold_dir = cfg->archive_cold_dir,
			.today = NULL, .hot_days = 90, .cold_after_days = (int)cfg->archive_cold_after_days,
		};
		struct cp_tier_result r;
		int rc = cp_tier_run(a->pg.conn, &tc, &r);
		atomic_fetch_add_explicit(&t->runs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->exported, r.exported, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->dropped, r.dropped, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->cooled, r.cooled, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->failures, r.failed, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->rows, r.rows, memory_order_relaxed);
		if (rc != 0)
			cp_log(CP_LOG_ERR, ROLE, "archive: %u day(s) failed, nothing of them dropped: %s",
			       r.failed, r.error);
		if (r.exported || r.cooled)
			cp_log(CP_LOG_INFO, ROLE, "archive: %u day(s) exported (%" PRIu64 " rows), %u "
			       "dropped, %u moved to cold", r.exported, r.rows, r.dropped, r.cooled);
	}
	PGresult *res = PQexec(a->pg.conn, "SELECT count(*) FROM archive_due_partitions()");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		uint64_t due = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		atomic_store_explicit(&t->due, due, memory_order_relaxed);
		if (due > 0 && cfg->archive_warm_dir[0] == '\0')
			CP_LOG_RL(CP_LOG_WARN, ROLE, "%" PRIu64 " day partition(s) past the hot window "
				  "are kept in PostgreSQL: set archive_warm_dir to archive them",
				  due);
	}
	PQclear(res);
}

static bool stopping(const struct arch *a)
{
	return atomic_load_explicit(a->stop, memory_order_relaxed) != 0 ||
	       atomic_load_explicit(a->halt, memory_order_relaxed) != 0;
}

static int buf_put(struct buf *b, const void *p, size_t n)
{
	if (cp_buf_grow(&b->p, &b->cap, b->len + n + 1, 65536) != 0)
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return buf_put(b, tmp, (size_t)n);
}

static int buf_hex(struct buf *b, const char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char two[2] = {hx[(unsigned char)p[i] >> 4], hx[(unsigned char)p[i] & 15]};
		if (buf_put(b, two, 2) != 0)
			return -ENOMEM;
	}
	return 0;
}

static int buf_time(struct buf *b, int64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000);
	long us = (long)((ns % 1000000000) / 1000);
	if (ns < 0) {
		sec = 0;
		us = 0;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	return buf_fmt(b, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900,
		       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

/*
 * signal_archive rows go in COPY's binary format (PostgreSQL docs, "COPY ... Binary
 * Format"): no hex encoding of the three bytea columns and no number parsing, which is
 * most of what the text format costs the server per row. Layout: signature + flags +
 * header extension, then per row a 16-bit column count and per column a 32-bit length
 * (-1 = NULL) and the value in network byte order; a -1 column count ends the data.
 */
#define SIG_COLUMNS 15
#define PG_EPOCH_US 946684800000000ll /* 2000-01-01 - 1970-01-01 in us: timestamptz zero */

static int bin_put_be(struct buf *b, uint64_t v, size_t n)
{
	uint8_t x[8];
	for (size_t i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return buf_put(b, x, n);
}

static int bin_i16(struct buf *b, int16_t v)
{
	return bin_put_be(b, (uint16_t)v, 2);
}

static int bin_i64(struct buf *b, int64_t v)
{
	return bin_put_be(b, 8, 4) | bin_put_be(b, (uint64_t)v, 8);
}

static int bin_null(struct buf *b)
{
	return bin_put_be(b, 0xffffffffu, 4);
}

static int bin_bytes(struct buf *b, const void *p, size_t n)
{
	return bin_put_be(b, (uint32_t)n, 4) | buf_put(b, p, n);
}

static void bin_header(struct buf *b)
{
	static const char sig[11] = "PGCOPY\n\377\r\n\0";
	buf_put(b, sig, sizeof(sig));
	bin_put_be(b, 0, 4); /* flags: no OIDs */
	bin_put_be(b, 0, 4); /* header extension length */
}

/* Server arrival time (ns since 1970) as timestamptz (us since 2000); before 1970: 1970. */
static int64_t pg_time_us(int64_t ns)
{
	return (ns < 0 ? 0 : ns / 1000) - PG_EPOCH_US;
}

static const redisReply *field(const redisReply *f, const char *name)
{
	if (f == NULL || f->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1];
	return NULL;
}

/* The sequence of a signals-stream entry ID "<seq>-0"; 0 if it is not one. */
static uint64_t id_seq(const char *id)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(id, &end, 10);
	if (errno != 0 || end == id || strcmp(end, "-0") != 0)
		return 0;
	return v;
}

static int row_signal(struct arch *a, const struct entry *e)
{
	struct cp_rec r;
	uint64_t seq = id_seq(e->id->str);
	if (seq == 0 || !cp_rec_from_fields(e->fields, &r)) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "%s %s: malformed archive entry skipped",
			  a->feeds[e->feed].key, e->id->str);
		return 0;
	}
	int64_t arrival = r.arrival_ns;
	Decp__Signal *sg = proto_signal_decode(r.body, r.body_len, NULL);
	struct buf *o = &a->sig;
	if (o->len == 0)
		bin_header(o);
	int rc = bin_i16(o, SIG_COLUMNS);
	rc |= bin_i64(o, (int64_t)a->feeds[e->feed].master);
	rc |= bin_i64(o, (int64_t)seq);
	rc |= bin_i64(o, pg_time_us(arrival));
	rc |= bin_i64(o, arrival);
	if (sg != NULL) {
		const char *ot = cp_report_order_name(sg->order_type);
		rc |= bin_i64(o, sg->master_time_ns);
		rc |= bin_bytes(o, sg->symbol, strlen(sg->symbol));
		rc |= bin_bytes(o, ot, strlen(ot));
		rc |= bin_i64(o, sg->volume);
		rc |= bin_i64(o, sg->price);
		rc |= bin_i64(o, sg->sl);
		rc |= bin_i64(o, sg->tp);
		rc |= bin_i64(o, (int64_t)sg->position_ticket);
		proto_msg_free(&sg->base, NULL);
	} else {
		/* The dataplane validated it; keep the bytes even if this build cannot read them. */
		CP_LOG_RL(CP_LOG_WARN, ROLE, "%s %s: body does not decode; archived raw",
			  a->feeds[e->feed].key, e->id->str);
		rc |= bin_null(o);
		rc |= bin_bytes(o, "?", 1);
		rc |= bin_bytes(o, "UNKNOWN", 7);
		rc |= bin_i64(o, 0);
		for (int i = 0; i < 4; i++)
			rc |= bin_null(o);
	}
	rc |= bin_bytes(o, r.body, r.body_len);
	rc |= r.hmac != NULL ? bin_bytes(o, r.hmac, r.hmac_len) : bin_null(o);
	rc |= r.sig != NULL ? bin_bytes(o, r.sig, r.sig_len) : bin_null(o);
	a->sig_rows++;
	return rc ? -ENOMEM : 0;
}

static const char *fstr(const redisReply *f, const char *name)
{
	const redisReply *v = field(f, name);
	return v != NULL && v->type == REDIS_REPLY_STRING ? v->str : "";
}

static bool digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int row_event(struct arch *a, const struct entry *e)
{
	const char *r = fstr(e->fields, "r"), *m = fstr(e->fields, "m"), *q = fstr(e->fields, "q"),
		   *ar = fstr(e->fields, "a"), *w = fstr(e->fields, "w"), *ex = fstr(e->fields, "e"),
		   *x = fstr(e->fields, "x"), *p = fstr(e->fields, "p");
	const redisReply *b = field(e->fields, "b");
	/* reason must match the table's CHECK; anything else would fail the whole COPY. */
	for (const char *c = r; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
			r = "UNKNOWN";
	if (strlen(r) < 2)
		r = "UNKNOWN";
	struct buf *o = &a->prot;
	int rc = buf_time(o, digits(ar) ? strtoll(ar, NULL, 10) : 0);
	rc |= buf_fmt(o, "\t%s\t%s\t%s\t", digits(m) && strcmp(m, "0") != 0 ? m : "\\N",
		      digits(q) && strcmp(q, "0") != 0 ? q : "\\N", r);
	/* details: only digits, hex and a dotted address go in, so no JSON escaping. */
	rc |= buf_fmt(o, "{\"source\": \"ingest\", \"worker\": %s, \"expected\": %s, "
		      "\"proto_reason\": %s, \"redis_id\": \"%s\"", digits(w) ? w : "null",
		      digits(ex) ? ex : "null", digits(x) ? x : "null", e->id->str);
	bool peer_ok = *p != '\0' && strspn(p, "0123456789.:") == strlen(p);
	if (peer_ok)
		rc |= buf_fmt(o, ", \"peer\": \"%s\"", p);
	if (b != NULL && b->type == REDIS_REPLY_STRING && b->len > 0) {
		rc |= buf_put(o, ", \"payload_hex\": \"", 18);
		rc |= buf_hex(o, b->str, b->len);
		rc |= buf_put(o, "\"", 1);
	}
	rc |= buf_put(o, "}\n", 2);
	return rc ? -ENOMEM : 0;
}

/* The staging table of filtered batches (commit_batch): per session, emptied at every
 * COMMIT that used it. Same columns as signal_archive, no keys, no triggers. */
#define STAGE_SQL "CREATE TEMP TABLE signal_archive_stage (LIKE signal_archive INCLUDING " \
	"DEFAULTS) ON COMMIT DELETE ROWS"

/*
 * Outcome of one statement of the batch transaction. RETRY: refused because some signal
 * of the batch is archived already (unique_violation from signal_archive_keys, sql 0007)
 * or lost a deadlock against another archiver that claimed the same entries; the
 * transaction is aborted, the session is fine. FAILED: logged, session closed (cp_pg_fail).
 */
enum pg_step { STEP_OK, STEP_RETRY, STEP_FAILED };

static enum pg_step step_result(struct arch *a, PGresult *res, const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return STEP_OK;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && (strcmp(state, "23505") == 0 || strcmp(state, "40P01") == 0) &&
	    PQstatus(a->pg.conn) == CONNECTION_OK)
		return STEP_RETRY;
	cp_pg_fail(&a->pg, what, res);
	return STEP_FAILED;
}

/* Run sql; *tuples (may be NULL) gets the affected row count. */
static enum pg_step exec_cmd(struct arch *a, const char *sql, const char *what, uint64_t *tuples)
{
	PGresult *res = PQexec(a->pg.conn, sql);
	enum pg_step r = step_result(a, res, what);
	if (r == STEP_OK && tuples != NULL)
		*tuples = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return r;
}

/* COPY b in; *tuples (may be NULL) gets the rows PostgreSQL reports copied. */
static enum pg_step copy_in(struct arch *a, const char *sql, const struct buf *b,
			    uint64_t *tuples)
{
	PGresult *res = PQexec(a->pg.conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		cp_pg_fail(&a->pg, "COPY", res);
		PQclear(res);
		return STEP_FAILED;
	}
	PQclear(res);
	if (PQputCopyData(a->pg.conn, b->p, (int)b->len) != 1 || PQputCopyEnd(a->pg.conn, NULL) != 1) {
		cp_pg_fail(&a->pg, "COPY data", NULL);
		return STEP_FAILED;
	}
	enum pg_step r = STEP_OK;
	while ((res = PQgetResult(a->pg.conn)) != NULL) {
		if (r == STEP_OK) {
			r = step_result(a, res, "COPY");
			if (r == STEP_OK && tuples != NULL)
				*tuples = strtoull(PQcmdTuples(res), NULL, 10);
		}
		PQclear(res);
		if (a->pg.conn == NULL)
			break;
	}
	return r;
}

#define SIG_COLS "master_id, sequence, arrival_time, arrival_ns, master_time_ns, symbol, " \
		 "order_type, volume, price, sl, tp, position_ticket, body, hmac, ed25519_sig"

/*
 * The signal rows of the batch. Fresh entries (XREADGROUP ">": never delivered before) go
 * straight into signal_archive with COPY; the statement trigger of sql 0007 adds their
 * keys. A batch that may hold signals already archived (claimed entries, or a batch that
 * was just refused with unique_violation) is COPYed into the session's staging table and
 * inserted with one INSERT ... SELECT that skips the keys signal_archive_keys already
 * holds, so a redelivered signal changes nothing. *inserted gets the rows added.
 */
static enum pg_step put_signals(struct arch *a, uint64_t *inserted)
{
	*inserted = 0;
	if (a->sig_rows == 0)
		return STEP_OK;
	if (bin_i16(&a->sig, -1) != 0)
		return STEP_FAILED;
	if (!a->filter)
		return copy_in(a, "COPY signal_archive (" SIG_COLS ") FROM STDIN (FORMAT binary)",
			       &a->sig, inserted);
	enum pg_step r = copy_in(a, "COPY signal_archive_stage (" SIG_COLS ") FROM STDIN "
				 "(FORMAT binary)", &a->sig, NULL);
	if (r != STEP_OK)
		return r;
	return exec_cmd(a, "INSERT INTO signal_archive (" SIG_COLS ") SELECT " SIG_COLS
			" FROM signal_archive_stage s WHERE NOT EXISTS (SELECT 1 FROM "
			"signal_archive_keys k WHERE k.master_id = s.master_id AND "
			"k.sequence = s.sequence)", "INSERT", inserted);
}

/* A reports-stream entry into a->reps. An entry that is not a report of this version is
 * logged and dropped (acknowledged with the batch): it can never be stored. */
static int row_report(struct arch *a, const struct entry *e)
{
	const redisReply *r = field(e->fields, "r"), *d = field(e->fields, "d");

	if (a->n_reps == a->cap_reps) {
		unsigned int cap = a->cap_reps ? a->cap_reps * 2 : 1024;
		struct cp_report *n = realloc(a->reps, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		a->reps = n;
		a->cap_reps = cap;
	}
	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    cp_report_decode(r->str, r->len, d != NULL && d->type == REDIS_REPLY_STRING ? d->str : NULL,
			     d != NULL && d->type == REDIS_REPLY_STRING ? d->len : 0,
			     &a->reps[a->n_reps]) != 0) {
		CP_LOG_RL(CP_LOG_ERR, ROLE, "%s entry %s is not a report: dropped",
			  CP_REDIS_REPORTS_KEY, e->id->str);
		return 0;
	}
	a->n_reps++;
	return 0;
}

/*
 * Insert the held batch in one transaction. Returns 0 committed, -EBUSY refused for
 * signals already archived (retry at once: a->filter is now set), -EAGAIN not committed
 * (PostgreSQL down or failing: retry later), -ENOMEM.
 */
static int commit_batch(struct arch *a)
{
	a->sig.len = a->prot.len = 0;
	a->sig_rows = 0;
	a->n_reps = 0;
	unsigned int events = 0;
	for (unsigned int i = 0; i < a->n_ents; i++) {
		const struct entry *e = &a->ents[i];
		const struct feed *f = &a->feeds[e->feed];
		int rc = f->reports ? row_report(a, e) : f->master != 0 ? row_signal(a, e)
									  : row_event(a, e);
		if (rc != 0)
			return rc;
		events += f->master == 0 && !f->reports;
	}
	/* a report may come before its signal is archived: what the fan-out could not judge
	 * is looked up in the master's stream (cp_report.h) */
	cp_report_resolve(&a->r, a->reps, a->n_reps);
	if (cp_pg_ensure(&a->pg) != 0)
		return -EAGAIN;
	uint64_t inserted = 0;
	enum pg_step r = exec_cmd(a, "BEGIN", "BEGIN", NULL);
	if (r == STEP_OK)
		r = put_signals(a, &inserted);
	if (r == STEP_OK && a->prot.len > 0)
		r = copy_in(a, "COPY protection_logs (event_time, master_id, sequence, reason, "
			    "details) FROM STDIN", &a->prot, NULL);
	struct cp_report_result rr = {0, 0, 0};
	if (r == STEP_OK && a->n_reps > 0 && cp_report_store_tx(&a->pg, a->reps, a->n_reps, &rr) != 0) {
		if (a->pg.conn != NULL)
			exec_cmd(a, "ROLLBACK", "ROLLBACK", NULL);
		return -EAGAIN; /* logged by cp_report; the entries stay pending */
	}
	if (r == STEP_OK)
		r = exec_cmd(a, "COMMIT", "COMMIT", NULL);
	if (r == STEP_RETRY) {
		if (exec_cmd(a, "ROLLBACK", "ROLLBACK", NULL) != STEP_OK)
			return -EAGAIN;
		if (a->filter) /* lost a race with another archiver: redo, after a pause */
			return -EAGAIN;
		CP_LOG_RL(CP_LOG_INFO, ROLE, "batch holds signals already archived (redelivery): "
			  "skipping them");
		a->filter = true;
		return -EBUSY;
	}
	if (r != STEP_OK)
		return -EAGAIN;
	a->rows += inserted;
	a->skipped += a->sig_rows - inserted;
	a->events += events;
	a->reports += rr.stored;
	a->report_dups += rr.duplicates;
	/* Keep filtering while redeliveries turn up (e.g. a re-created group re-reads). */
	a->filter = a->filter && inserted < a->sig_rows;
	return 0;
}

static void release_batch(struct arch *a)
{
	for (unsigned int i = 0; i < a->n_replies; i++)
		freeReplyObject(a->replies[i]);
	a->n_replies = 0;
	a->n_ents = 0;
}

static int add_entry(struct arch *a, unsigned int feed, const redisReply *ent)
{
	if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 ||
	    ent->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	if (a->n_ents == a->cap_ents) {
		unsigned int cap = a->cap_ents ? a->cap_ents * 2 : 1024;
		struct entry *n = realloc(a->ents, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		a->ents = n;
		a->cap_ents = cap;
	}
	a->ents[a->n_ents++] = (struct entry){feed, ent->element[0], ent->element[1]};
	return 0;
}

static int hold_reply(struct arch *a, redisReply *rep)
{
	redisReply **n = realloc(a->replies, (a->n_replies + 1) * sizeof(*n));
	if (n == NULL) {
		freeReplyObject(rep);
		return -ENOMEM;
	}
	a->replies = n;
	a->replies[a->n_replies++] = rep;
	return 0;
}

/* XACK every entry of the batch, pipelined per feed; XDEL too on the events archive (the
 * signals streams keep their entries for replay; trim() bounds them). A feed whose primary
 * is down (a cluster) is not acknowledged: its entries stay pending and come back through
 * XAUTOCLAIM once it answers (the archive dedups them). Returns 0 or -EAGAIN. */
static int ack_batch(struct arch *a)
{
	/* The connection may have dropped after the entries were read (e.g. XAUTOCLAIM of a
	 * later feed failed): reconnect once; if Redis is still down the entries stay
	 * pending and come back through XAUTOCLAIM (the archive dedups them). */
	if (cp_redis_ensure(&a->r) != 0)
		return -EAGAIN;
	const char **argv = malloc((a->n_ents + 3) * sizeof(char *));
	size_t *lens = malloc((a->n_ents + 3) * sizeof(size_t));
	int rc = -ENOMEM;
	if (argv == NULL || lens == NULL)
		goto out;
	unsigned int sent = 0;
	unsigned int *node = malloc((2 * (size_t)a->n_feeds + 1) * sizeof(*node));
	redisReply **reps = calloc(2 * (size_t)a->n_feeds + 1, sizeof(*reps));
	if (node == NULL || reps == NULL) {
		free(node);
		free(reps);
		goto out;
	}
	for (unsigned int f = 0; f < a->n_feeds; f++) {
		for (int pass = 0; pass < 2; pass++) {
			int argc = 0;
			argv[argc++] = pass == 0 ? "XACK" : "XDEL";
			argv[argc++] = a->feeds[f].key;
			if (pass == 0)
				argv[argc++] = CP_REDIS_GROUP;
			int base = argc;
			for (unsigned int i = 0; i < a->n_ents; i++)
				if (a->ents[i].feed == f)
					argv[argc++] = a->ents[i].id->str;
			if (argc == base || (pass == 1 && a->feeds[f].master != 0))
				break;
			for (int i = 0; i < argc; i++)
				lens[i] = strlen(argv[i]);
			/* each feed on its node (a cluster): replies come back in order per node */
			redisContext *c = cp_redis_at_node(&a->r, a->feeds[f].key, &node[sent]);
			if (c != NULL)
				redisAppendCommandArgv(c, argc, argv, lens);
			sent++;
		}
	}
	rc = cp_redis_read_replies(&a->r, node, reps, sent, "XACK");
	for (unsigned int i = 0; i < sent; i++) {
		redisContext *ask;
		if (reps[i] != NULL && cp_redis_redirect(&a->r, reps[i], &ask))
			CP_LOG_RL(CP_LOG_INFO, ROLE, "XACK redirected (%s): the entries come back "
				  "through XAUTOCLAIM", reps[i]->str); /* and the archive dedups them */
		freeReplyObject(reps[i]);
	}
	free(node);
	free(reps);
out:
	free(argv);
	free(lens);
	return rc;
}

static uint32_t feed_hash(const void *owner, unsigned int f)
{
	return cp_index_hash_str(((const struct arch *)owner)->feeds[f].key);
}

static bool feed_is(const void *owner, unsigned int f, const void *key)
{
	return strcmp(((const struct arch *)owner)->feeds[f].key, key) == 0;
}

/* The feed of stream key, or n_feeds when there is none: one probe sequence, not a walk
 * over every feed (a thousand masters' XREADGROUP reply made that a million compares). */
static unsigned int feed_find(struct arch *a, const char *key)
{
	return cp_index_find(&a->by_key, a->n_feeds, cp_index_hash_str(key), key);
}

static int add_feed(struct arch *a, uint64_t master, bool reports)
{
	char key[sizeof(a->feeds[0].key)];
	if (reports)
		snprintf(key, sizeof(key), "%s", CP_REDIS_REPORTS_KEY);
	else if (master == 0)
		snprintf(key, sizeof(key), "%s", CP_REDIS_PROT_ARCHIVE_KEY);
	else
		cp_redis_key_signals(key, sizeof(key), master);
	if (feed_find(a, key) < a->n_feeds)
		return 0;
	if (a->n_feeds == a->cap_feeds) {
		unsigned int cap = a->cap_feeds ? a->cap_feeds * 2 : 64;
		struct feed *n = realloc(a->feeds, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		a->feeds = n;
		a->cap_feeds = cap;
	}
	struct feed *f = &a->feeds[a->n_feeds];
	f->master = master;
	f->reports = reports;
	memcpy(f->key, key, sizeof(f->key));
	f->archived = 0;
	f->next_trim = 0;
	const char *argv[] = {"XGROUP", "CREATE", f->key, CP_REDIS_GROUP, "0", "MKSTREAM"};
	redisReply *rep = cp_redis_command_argv(&a->r, f->key, 6, argv, NULL);
	/* NULL: an I/O error, or its primary is down (a cluster: that one alone is dropped and
	 * the others' feeds go on, docs/control.md "Redis Cluster"): added at a later refresh */
	if (rep == NULL)
		return cp_redis_fail_key(&a->r, f->key, "XGROUP CREATE");
	bool ok = rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "BUSYGROUP", 9) == 0;
	/* refused (CLUSTERDOWN, LOADING, READONLY after a failover): added at a later refresh */
	if (!ok)
		CP_LOG_RL(CP_LOG_ERR, ROLE, "XGROUP CREATE %s: %s", f->key, rep->str);
	freeReplyObject(rep);
	if (ok)
		a->n_feeds++;
	return 0;
}

static int refresh_feeds(struct arch *a)
{
	if (add_feed(a, 0, false) != 0 || (a->read_reports && add_feed(a, 0, true) != 0))
		return -EAGAIN;
	const char *argv[] = {"SMEMBERS", CP_REDIS_MASTERS_KEY};
	redisReply *rep = cp_redis_command_argv(&a->r, CP_REDIS_MASTERS_KEY, 2, argv, NULL);
	if (rep == NULL) /* its primary down (a cluster): the feeds known go on */
		return cp_redis_fail_key(&a->r, CP_REDIS_MASTERS_KEY, "SMEMBERS");
	int rc = 0;
	if (rep->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < rep->elements && rc == 0; i++) {
			uint64_t m = strtoull(rep->element[i]->str, NULL, 10);
			if (m != 0)
				rc = add_feed(a, m, false);
		}
	freeReplyObject(rep);
	return rc;
}

static int found_stream(void *arg, uint64_t master)
{
	return add_feed(arg, master, false);
}

/* The set is a shortcut: the first loop also SCANs every primary for signal streams (at
 * start, then every masters_scan_s, a bounded step per refresh: cp_discover.h), archives
 * what it finds and lists it in the set again, so a master whose listing a failover of
 * the set's primary lost is archived while it stays quiet. */
static int discover_feeds(struct arch *a, uint64_t now)
{
	int rc = cp_discover_step(&a->disc, &a->r, now, found_stream, a);
	return rc == -ENOMEM ? rc : 0;
}

/* Take over entries pending longer than archiver_claim_idle_ms (crashed consumers). */
static int claim(struct arch *a)
{
	char idle[16], count[16];
	snprintf(idle, sizeof(idle), "%u", a->cfg->archiver_claim_idle_ms);
	snprintf(count, sizeof(count), "%u", a->cfg->archiver_batch);
	for (unsigned int f = 0; f < a->n_feeds && a->n_ents < a->cfg->archiver_batch; f++) {
		const char *argv[] = {"XAUTOCLAIM", a->feeds[f].key, CP_REDIS_GROUP, a->consumer,
				      idle, "0-0", "COUNT", count};
		redisReply *rep = cp_redis_command_argv(&a->r, a->feeds[f].key, 8, argv, NULL);
		if (rep == NULL) {
			if (cp_redis_fail_key(&a->r, a->feeds[f].key, "XAUTOCLAIM") != 0)
				return -EAGAIN;
			continue;
		}
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
		    rep->element[1]->type == REDIS_REPLY_ARRAY && rep->element[1]->elements > 0) {
			for (size_t i = 0; i < rep->element[1]->elements; i++)
				if (add_entry(a, f, rep->element[1]->element[i]) != 0)
					return -ENOMEM;
			a->claimed += rep->element[1]->elements;
			a->filter = true; /* another archiver may have committed them */
			cp_log(CP_LOG_INFO, ROLE, "claimed %zu stale entries of %s",
			       rep->element[1]->elements, a->feeds[f].key);
			if (hold_reply(a, rep) != 0)
				return -ENOMEM;
		} else {
			freeReplyObject(rep);
		}
	}
	return 0;
}

/* A read of new entries returned got of them: counted for the stop line. */
static void note_read(struct arch *a, unsigned int got)
{
	if (got == 0)
		return;
	a->reads++;
	if (got > a->largest_read)
		a->largest_read = got;
	if (!a->behind && got > a->largest_live)
		a->largest_live = got;
}

/* Entries of one stream's XREADGROUP reply [[key, [entries]]] onto the batch. */
static int take_stream(struct arch *a, const redisReply *st, unsigned int per, bool *more)
{
	if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
	    st->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	unsigned int f = feed_find(a, st->element[0]->str);
	if (f == a->n_feeds)
		return 0;
	if (st->element[1]->elements >= per)
		*more = true;
	for (size_t i = 0; i < st->element[1]->elements; i++)
		if (add_entry(a, f, st->element[1]->element[i]) != 0)
			return -ENOMEM;
	return 0;
}

/*
 * One XREADGROUP of up to `want` new entries in all (COUNT is per stream: want / feeds, at
 * least 1), appended to the batch; waits up to block_ms when there are none (0: does not
 * wait). *more tells that some stream gave all it was asked: it may hold more. Returns 0,
 * -EAGAIN (Redis failed) or -ENOMEM.
 */
static int read_new_cluster(struct arch *a, unsigned int want, unsigned int block_ms,
			    bool *more);

static int read_new(struct arch *a, unsigned int want, unsigned int block_ms, bool *more)
{
	if (cp_redis_is_cluster(&a->r))
		return read_new_cluster(a, want, block_ms, more);
	*more = false;
	const char **argv = malloc((10 + 2 * (size_t)a->n_feeds) * sizeof(char *));
	if (argv == NULL)
		return -ENOMEM;
	unsigned int per = want / (a->n_feeds ? a->n_feeds : 1), before = a->n_ents;
	per = per > 0 ? per : 1;
	char count[16], block[16];
	snprintf(count, sizeof(count), "%u", per);
	snprintf(block, sizeof(block), "%u", block_ms);
	size_t k = 0;
	argv[k++] = "XREADGROUP";
	argv[k++] = "GROUP";
	argv[k++] = CP_REDIS_GROUP;
	argv[k++] = a->consumer;
	argv[k++] = "COUNT";
	argv[k++] = count;
	if (block_ms > 0) {
		argv[k++] = "BLOCK";
		argv[k++] = block;
	}
	argv[k++] = "STREAMS";
	for (unsigned int f = 0; f < a->n_feeds; f++)
		argv[k++] = a->feeds[f].key;
	for (unsigned int f = 0; f < a->n_feeds; f++)
		argv[k++] = ">";
	redisReply *rep = redisCommandArgv(a->r.ctx, (int)k, argv, NULL);
	free(argv);
	if (rep == NULL) {
		cp_redis_fail(&a->r, "XREADGROUP");
		return -EAGAIN;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		/* NOGROUP after a Redis restart without the group: re-create the groups. */
		CP_LOG_RL(CP_LOG_ERR, ROLE, "XREADGROUP: %s", rep->str);
		freeReplyObject(rep);
		a->n_feeds = 0;
		return -EAGAIN;
	}
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		return 0;
	}
	for (size_t s = 0; s < rep->elements; s++)
		if (take_stream(a, rep->element[s], per, more) != 0) {
			freeReplyObject(rep);
			return -ENOMEM;
		}
	note_read(a, a->n_ents - before);
	return hold_reply(a, rep);
}


/*
 * read_new on a Redis Cluster: keys of different slots cannot share a command (CROSSSLOT),
 * so one XREADGROUP per stream, pipelined on the node serving it, all nodes' pipelines
 * sent before any reply is read. No BLOCK (a blocked read on one node would hold the
 * others' entries): when nothing came, it waits block_ms before returning, so an idle
 * archiver reads every feed about 1 / archiver_block_ms times a second. Returns like
 * read_new.
 */
static int read_new_cluster(struct arch *a, unsigned int want, unsigned int block_ms,
			    bool *more)
{
	*more = false;
	unsigned int per = want / (a->n_feeds ? a->n_feeds : 1), before = a->n_ents;
	per = per > 0 ? per : 1;
	char count[16];
	snprintf(count, sizeof(count), "%u", per);
	unsigned int *node = malloc(((size_t)a->n_feeds + 1) * sizeof(*node));
	redisReply **reps = calloc((size_t)a->n_feeds + 1, sizeof(*reps));
	if (node == NULL || reps == NULL) {
		free(node);
		free(reps);
		return -ENOMEM;
	}
	for (unsigned int f = 0; f < a->n_feeds; f++) {
		const char *argv[] = {"XREADGROUP", "GROUP", CP_REDIS_GROUP, a->consumer, "COUNT",
				      count, "STREAMS", a->feeds[f].key, ">"};
		/* a primary that is down: its feeds wait, the others' are read */
		redisContext *c = cp_redis_at_node(&a->r, a->feeds[f].key, &node[f]);
		if (c != NULL)
			redisAppendCommandArgv(c, 9, argv, NULL);
	}
	/* a primary failing now is dropped alone: its replies stay NULL */
	int rc = cp_redis_read_replies(&a->r, node, reps, a->n_feeds, "XREADGROUP");
	bool regroup = false;
	for (unsigned int f = 0; f < a->n_feeds; f++) {
		redisReply *rep = reps[f];
		redisContext *ask;
		if (rep == NULL)
			continue;
		if (cp_redis_redirect(&a->r, rep, &ask)) {
			/* a slot moved or is moving: its entries are read after the map is read
			 * again (the group moves with the stream) */
			freeReplyObject(rep);
			rc = rc != 0 ? rc : -EAGAIN;
			continue;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			/* NOGROUP after a Redis restart without the group: re-create the groups;
			 * anything else (CLUSTERDOWN, LOADING, TRYAGAIN) is that primary's for a
			 * while: its feeds are read again next time, the others' meanwhile */
			CP_LOG_RL(CP_LOG_ERR, ROLE, "XREADGROUP %s: %s", a->feeds[f].key, rep->str);
			regroup |= strncmp(rep->str, "NOGROUP", 7) == 0;
		} else if (rep->type == REDIS_REPLY_ARRAY && rc != -ENOMEM) {
			int t = 0;
			for (size_t s = 0; s < rep->elements && t == 0; s++)
				t = take_stream(a, rep->element[s], per, more);
			if (t != 0)
				rc = t;
		}
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 && hold_reply(a, rep) != 0)
			rc = -ENOMEM;
		else if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
			freeReplyObject(rep);
	}
	free(node);
	free(reps);
	if (regroup)
		a->n_feeds = 0;
	note_read(a, a->n_ents - before);
	if (a->n_ents == before && rc == 0 && block_ms > 0) {
		for (unsigned int left = block_ms; left > 0 && !stopping(a);) {
			unsigned int step = left < 10 ? left : 10;
			cp_sleep_ms(step);
			left -= step;
		}
	}
	/* what was read is archived; a redirect alone lets read_batch read on, a dropped
	 * connection (cp_redis_fail above: every node's) must not: it reads nothing more
	 * before the next cp_redis_ensure */
	return rc == -EAGAIN && a->n_ents > before && a->r.ctx != NULL ? 0 : rc;
}

/*
 * The next batch of new entries: up to archiver_batch, read in XREADGROUPs of at most
 * archiver_read_live entries each while the archiver keeps up (archiver_read_max when its
 * last batch showed a backlog), back to back while the streams hold more. Redis runs one
 * command at a time and an XREADGROUP costs it a few us per entry (the pending list, an
 * XCLAIM in the AOF), so one read of a thousand entries holds the edge's next write for
 * milliseconds; between small reads Redis serves the edge (docs/perf.md "control", issue
 * 26). Small reads cost Redis more per entry, which matters only with a backlog: there
 * the larger reads drain it about twice as fast. Only the first read waits
 * (archiver_block_ms). Returns 0, -EAGAIN (Redis failed; the batch keeps what was read)
 * or -ENOMEM.
 */
static int read_batch(struct arch *a)
{
	const struct cp_config *cfg = a->cfg;
	unsigned int block_ms = cfg->archiver_block_ms;
	unsigned int cap = a->behind || cfg->archiver_read_live > cfg->archiver_read_max
			   ? cfg->archiver_read_max : cfg->archiver_read_live;
	for (;;) {
		unsigned int left = cfg->archiver_batch - a->n_ents;
		bool more = false;
		int rc = read_new(a, left < cap ? left : cap, block_ms, &more);
		if (rc != 0 || !more || a->n_ents >= cfg->archiver_batch || stopping(a))
			return rc;
		block_ms = 0;
	}
}

/* After a commit: the highest sequence archived per signal feed. */
static void note_archived(struct arch *a)
{
	for (unsigned int i = 0; i < a->n_ents; i++) {
		struct feed *f = &a->feeds[a->ents[i].feed];
		uint64_t seq = f->master != 0 ? id_seq(a->ents[i].id->str) : 0;
		if (seq > f->archived)
			f->archived = seq;
	}
}

/* The group's last delivered sequence in XINFO GROUPS' reply (RESP2: per group a flat
 * list of names and values); UINT64_MAX when the reply does not name it. */
static uint64_t group_delivered(const redisReply *rep)
{
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return UINT64_MAX;
	for (size_t g = 0; g < rep->elements; g++) {
		const redisReply *x = rep->element[g];
		const char *name = NULL, *last = NULL;
		if (x->type != REDIS_REPLY_ARRAY)
			continue;
		for (size_t k = 0; k + 1 < x->elements; k += 2) {
			const redisReply *f = x->element[k], *v = x->element[k + 1];
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			if (strcmp(f->str, "name") == 0)
				name = v->str;
			else if (strcmp(f->str, "last-delivered-id") == 0)
				last = v->str;
		}
		if (name != NULL && last != NULL && strcmp(name, CP_REDIS_GROUP) == 0)
			return id_seq(last);
	}
	return UINT64_MAX;
}

/*
 * Bound each signals stream to redis_keep_signals archived entries (the replay window).
 * Everything below `floor` is archived: entries still pending in the group (delivered to
 * some archiver, not yet committed) are at or above XPENDING's smallest ID, and entries not
 * yet delivered are above the group's last delivered ID. That ID is read each time, not
 * taken to be at or above what this archiver committed: a rewind of the group (`decpctl
 * redis check --repair-holes` after an asynchronous PostgreSQL failover lost archive rows,
 * or an XGROUP SETID by hand) moves it below, and the entries it is to deliver again must
 * stay until they are archived. MINID ~ trims whole macro nodes only, so at most keep + a
 * node remain. Returns 0 or -EAGAIN (Redis failed).
 */
static int trim(struct arch *a, uint64_t now)
{
	uint64_t keep = a->cfg->redis_keep_signals;
	for (unsigned int i = 0; i < a->n_feeds; i++) {
		struct feed *f = &a->feeds[i];
		if (f->master == 0 || f->archived <= keep || now < f->next_trim)
			continue;
		f->next_trim = now + 1000000000ull;
		const char *pv[] = {"XPENDING", f->key, CP_REDIS_GROUP};
		redisReply *rep = cp_redis_command_argv(&a->r, f->key, 3, pv, NULL);
		if (rep == NULL) {
			if (cp_redis_fail_key(&a->r, f->key, "XPENDING") != 0)
				return -EAGAIN;
			continue;
		}
		uint64_t floor = f->archived + 1;
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
		    rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer > 0 &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			uint64_t low = id_seq(rep->element[1]->str);
			if (low < floor)
				floor = low;
		} else if (rep->type != REDIS_REPLY_ARRAY) {
			floor = 0; /* unexpected reply: trim nothing */
		}
		freeReplyObject(rep);
		if (floor <= keep + 1)
			continue;
		const char *gv[] = {"XINFO", "GROUPS", f->key};
		rep = cp_redis_command_argv(&a->r, f->key, 3, gv, NULL);
		if (rep == NULL) {
			if (cp_redis_fail_key(&a->r, f->key, "XINFO GROUPS") != 0)
				return -EAGAIN;
			continue;
		}
		uint64_t delivered = group_delivered(rep);
		freeReplyObject(rep);
		if (delivered == UINT64_MAX || delivered + 1 <= keep + 1)
			continue; /* its position unknown, or nothing delivered beyond the window */
		if (delivered + 1 < floor)
			floor = delivered + 1;
		char minid[32];
		snprintf(minid, sizeof(minid), "%" PRIu64 "-0", floor - keep);
		const char *tv[] = {"XTRIM", f->key, "MINID", "~", minid};
		rep = cp_redis_command_argv(&a->r, f->key, 5, tv, NULL);
		if (rep == NULL) {
			if (cp_redis_fail_key(&a->r, f->key, "XTRIM") != 0)
				return -EAGAIN;
			continue;
		}
		freeReplyObject(rep);
	}
	return 0;
}

/* Once per partition_maint_s per process: the first loop's job, as archival is (every
 * loop ran it: two ledger checkpoints, two billing runs ms apart per period). */
static void maintain(struct arch *a, uint64_t now)
{
	if (a->tier == NULL || now < a->next_maint || a->pg.conn == NULL)
		return;
	/* from this start, not the loop's earlier reading (a blocking read since) */
	a->next_maint = cp_now_ns() + (uint64_t)a->cfg->partition_maint_s * 1000000000ull;
	PGresult *res = PQexec(a->pg.conn, "SELECT count(*) FROM maintain_partitions()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		CP_LOG_RL(CP_LOG_WARN, ROLE, "maintain_partitions(): %s", PQresultErrorMessage(res));
	PQclear(res);
	if (a->tier != NULL)
		tier_run(a);
	/* The money ledger's chain head, recorded and copied to the log: the copy outside the
	 * database that `decpctl ledger verify` checkpoints are compared with (issue 20,
	 * docs/database.md "Tamper evidence"). Since sql 0035 the checkpoint covers the profit
	 * events' chains too (profit_head); read through to_jsonb so a database not migrated
	 * yet still gets its old line. */
	res = PQexec(a->pg.conn, "SELECT c.id, c.rows, c.wallets, c.head,"
		     " to_jsonb(c) ->> 'profit_events', to_jsonb(c) ->> 'profit_subscriptions',"
		     " to_jsonb(c) ->> 'profit_head' FROM ledger_checkpoint() c");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetisnull(res, 0, 6))
		cp_log(CP_LOG_INFO, ROLE, "ledger checkpoint %s: rows %s wallets %s head %s",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		       PQgetvalue(res, 0, 3));
	else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		cp_log(CP_LOG_INFO, ROLE, "ledger checkpoint %s: rows %s wallets %s head %s"
		       " profit_events %s subscriptions %s profit_head %s", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
		       PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6));
	else
		CP_LOG_RL(CP_LOG_WARN, ROLE, "ledger_checkpoint(): %s", PQresultErrorMessage(res));
	PQclear(res);
	/* Report ids older than any EA's resend (sql 0019): an EA resends what it sent on a
	 * connection it lost, within minutes; a week is far beyond. */
	res = PQexec(a->pg.conn, "DELETE FROM subscriber_reports WHERE stored_at < now() - "
		     "interval '7 days'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		CP_LOG_RL(CP_LOG_WARN, ROLE, "prune subscriber_reports: %s", PQresultErrorMessage(res));
	PQclear(res);
	/* The billing scheduler: performance fees of the periods that have ended (sql 0013),
	 * 100 subscriptions per transaction, until none is due (bounded). */
	long billed = 0;
	for (int i = 0; i < 10000; i++) {
		res = PQexec(a->pg.conn, "SELECT count(*) FROM billing_run()");
		long n = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0)) : -1;
		if (n < 0)
			CP_LOG_RL(CP_LOG_WARN, ROLE, "billing_run(): %s", PQresultErrorMessage(res));
		PQclear(res);
		if (n <= 0)
			break;
		billed += n;
	}
	if (billed > 0)
		cp_log(CP_LOG_INFO, ROLE, "billing: %ld subscriptions billed at the end of their period",
		       billed);
}

struct worker {
	const struct cp_config *cfg;
	const atomic_int *stop;
	atomic_int *halt;
	unsigned int index, count;
	struct tier_stats *tier;
	pthread_t tid;
	int rc;
};

/* After a small batch: let the next one accumulate (archiver_linger_ms, docs/control.md).
 * A transaction and an XREADGROUP/XACK per few rows cost several times more per row than
 * per thousand, and at moderate rates that CPU is taken from the ACK path on the same
 * cores. Stops promptly. */
static void linger(const struct arch *a)
{
	for (uint32_t left = a->cfg->archiver_linger_ms; left > 0 && !stopping(a);) {
		uint32_t step = left < 10 ? left : 10;
		cp_sleep_ms(step);
		left -= step;
	}
}

/* One archiver loop (its own Redis consumer and PostgreSQL session) until *stop. */
static int archiver_loop(const struct worker *w)
{
	const struct cp_config *cfg = w->cfg;
	struct arch a;
	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	a.tier = w->index == 0 ? w->tier : NULL;
	a.stop = w->stop;
	a.halt = w->halt;
	a.read_reports = w->index == 0;
	cp_pg_init(&a.pg, cfg, ROLE, STAGE_SQL);
	cp_redis_init(&a.r, cfg, ROLE);
	cp_redis_partial(&a.r);   /* a dead cluster primary holds only the feeds it serves */
	cp_discover_init(&a.disc, w->index == 0 ? cfg->masters_scan_s : 0, ROLE);
	cp_index_init(&a.by_key, &a, feed_hash, feed_is);
	char base[128];
	if (cfg->archiver_consumer[0] != '\0') {
		snprintf(base, sizeof(base), "%s", cfg->archiver_consumer);
	} else {
		char host[64] = "host";
		gethostname(host, sizeof(host) - 1);
		snprintf(base, sizeof(base), "%s-%d", host, (int)getpid());
	}
	if (w->count > 1)
		snprintf(a.consumer, sizeof(a.consumer), "%s-%u", base, w->index);
	else
		snprintf(a.consumer, sizeof(a.consumer), "%s", base);
	int rc = 0;
	while (!stopping(&a)) {
		uint64_t now = cp_now_ns();
		if (cp_redis_ensure(&a.r) != 0) {
			a.n_feeds = 0;
			cp_sleep_ms(10);
			continue;
		}
		if (a.n_ents == 0) {
			if (now >= a.next_refresh || a.n_feeds == 0) {
				a.next_refresh = now + 1000000000ull;
				int fr = refresh_feeds(&a);
				if (discover_feeds(&a, now) == -ENOMEM) {
					rc = -ENOMEM;
					break;
				}
				if (fr != 0 || a.n_feeds == 0) {
					/* lost, or refused (logged): again shortly, not in a loop
					 * that hammers a Redis that is down or loading */
					cp_sleep_ms(50);
					continue;
				}
			}
			if (now >= a.next_claim) {
				a.next_claim = now + (uint64_t)cfg->archiver_claim_idle_ms * 500000ull;
				rc = claim(&a);
				if (a.n_ents > 0)
					a.next_claim = now; /* more may be stale: again after this batch */
			}
			if (rc == 0 && a.n_ents == 0)
				rc = read_batch(&a);
			if (rc == -ENOMEM)
				break;
			rc = 0;
			if (a.n_ents == 0) {
				release_batch(&a);
				(void)trim(&a, now); /* idle: catch up with the last batches */
				/* An idle system still needs its partitions ahead and its
				 * archival (maintenance used to run only with a batch). */
				if (cp_pg_ensure(&a.pg) == 0)
					maintain(&a, now);
				continue;
			}
		}
		if (cp_pg_ensure(&a.pg) == 0)
			maintain(&a, now);
		int c = commit_batch(&a);
		if (c == -ENOMEM) {
			rc = c;
			break;
		}
		if (c == -EBUSY)
			continue; /* at once, filtered */
		if (c != 0) {
			cp_sleep_ms(20);
			continue;
		}
		/* Committed: a failed XACK only means redelivery, which the dedup absorbs. */
		note_archived(&a);
		if (ack_batch(&a) == 0)
			(void)trim(&a, now);
		a.batches++;
		bool small = a.n_ents < cfg->archiver_batch / 2;
		a.behind = !small;
		release_batch(&a);
		if (small)
			linger(&a);
	}
	cp_log(CP_LOG_INFO, ROLE, "stopped: rows=%" PRIu64 " skipped=%" PRIu64 " events=%" PRIu64
	       " batches=%" PRIu64 " claimed=%" PRIu64 " reports=%" PRIu64 " report_duplicates=%"
	       PRIu64 " reads=%" PRIu64 " largest_read=%u largest_live_read=%u", a.rows, a.skipped,
	       a.events, a.batches, a.claimed, a.reports, a.report_dups, a.reads, a.largest_read,
	       a.largest_live);
	if (rc == -ENOMEM)
		cp_log(CP_LOG_ERR, ROLE, "out of memory");
	release_batch(&a);
	free(a.replies);
	free(a.ents);
	free(a.reps);
	free(a.feeds);
	cp_index_free(&a.by_key);
	cp_discover_fini(&a.disc);
	free(a.sig.p);
	free(a.prot.p);
	cp_pg_close(&a.pg);
	cp_redis_close(&a.r);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->rc = archiver_loop(w);
	if (w->rc != 0)
		atomic_store(w->halt, 1);
	return NULL;
}

int cp_archiver_run(struct cp_ctx *ctx)
{
	const struct cp_config *cfg = ctx->cfg;
	const atomic_int *stop = ctx->stop;
	struct worker w[16];
	atomic_int halt = 0;
	struct tier_stats tier;
	memset(&tier, 0, sizeof(tier));
	if (cp_ctx_stats_add(ctx, tier_stats_write, &tier) != 0)
		cp_log(CP_LOG_WARN, ROLE, "too many stats providers: no decp_archive_* metrics");
	unsigned int n = cfg->archiver_threads;
	if (n < 1 || n > sizeof(w) / sizeof(w[0]))
		n = 1;
	for (unsigned int i = 0; i < n; i++)
		w[i] = (struct worker){.cfg = cfg, .stop = stop, .halt = &halt, .tier = &tier, .index = i,
				       .count = n};
	unsigned int started = 1;
	for (unsigned int i = 1; i < n; i++, started++)
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			cp_log(CP_LOG_WARN, ROLE, "cannot start archiver thread %u: running %u", i, i);
			break;
		}
	int rc = archiver_loop(&w[0]);
	if (rc != 0)
		atomic_store(&halt, 1);
	for (unsigned int i = 1; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		if (rc == 0)
			rc = w[i].rc;
	}
	cp_ctx_stats_remove(ctx, tier_stats_write, &tier);
	return rc;
}
