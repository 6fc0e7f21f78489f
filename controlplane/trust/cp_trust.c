/* cp_trust: the trust role. Design and contract in cp_trust.h. */
#include "cp_trust.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_alert.h"
#include "cp_buf.h"
#include "cp_log.h"
#include "cp_pg.h"
#include "guard_check.h"

#define ROLE "trust"
#define INBOX_BATCH 1000       /* inbox rows per scoring transaction at most */
#define US_PER_S INT64_C(1000000)

/*
 * The statements of a batch, prepared once per session (cp_pg_exec_prepared): parsing and
 * planning them on every batch cost PostgreSQL about 1 ms of a batch's 1.3 ms, more than
 * running them (docs/perf.md "trust").
 */
enum trust_stmt { TS_INBOX, TS_LOAD, TS_STORE, TS_EXEC, TS_PAUSE, TS_DELETE };

/* What /metrics shows of the role (written by the role thread, read by the scrape). */
struct trust_counters {
	_Atomic uint64_t events;       /* inbox rows scored */
	_Atomic uint64_t batches;      /* transactions that scored inbox rows */
	_Atomic uint64_t auto_pauses;  /* -> PAUSED_TOXIC */
	_Atomic uint64_t recoveries;   /* PAUSED_TOXIC -> SYNCED */
	_Atomic uint64_t recovery_credits; /* subscriptions credited by a tick */
	_Atomic uint64_t executions_uncredited; /* EXECUTE stored, not scored (sql 0009) */
	_Atomic uint64_t unknown_instrument;    /* UNKNOWN_INSTRUMENT reports (alert) */
	_Atomic uint64_t platform_stale;        /* TTL_EXPIRED confirmed the platform's */
	_Atomic uint64_t attribution_refuted;   /* platform claims our records refute */
};

struct trust {
	const struct cp_config *cfg;
	struct cp_pg pg;
	int64_t offset_us;
	struct trust_counters counters;
	struct cp_alerts alerts;   /* auto-pause, platform lag, unknown instrument */
};

static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* The role's stats provider (cp_ctx.h), on the scraping thread. */
static void trust_stats(void *arg, struct cp_metrics *m)
{
	const struct trust_counters *c = arg;
	cp_metrics_counter(m, "decp_trust_events_total", "events scored by the trust role",
			   ld(&c->events));
	cp_metrics_counter(m, "decp_trust_batches_total",
			   "transactions that scored inbox events (events / batches: the batch size)",
			   ld(&c->batches));
	cp_metrics_counter(m, "decp_trust_auto_pauses_total",
			   "subscriptions moved to PAUSED_TOXIC", ld(&c->auto_pauses));
	cp_metrics_counter(m, "decp_trust_recoveries_total", "PAUSED_TOXIC -> SYNCED on recovery",
			   ld(&c->recoveries));
	cp_metrics_counter(m, "decp_trust_executions_uncredited_total",
			   "EXECUTE reports stored but not scored (not delivered live, late, duplicate)",
			   ld(&c->executions_uncredited));
	cp_metrics_counter(m, "decp_trust_unknown_instrument_total",
			   "UNKNOWN_INSTRUMENT reports: the instrument registry lacks a traded symbol",
			   ld(&c->unknown_instrument));
	cp_metrics_counter(m, "decp_trust_platform_stale_total",
			   "TTL_EXPIRED confirmed as the platform's (late send, replay): stored, not scored",
			   ld(&c->platform_stale));
	cp_metrics_counter(m, "decp_trust_attribution_refuted_total",
			   "TTL_EXPIRED claimed as the platform's that our records do not confirm: scored",
			   ld(&c->attribution_refuted));
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

/* guard_trust works in ns; we persist microseconds (timestamptz precision). */
static int64_t us_to_ns(int64_t us)
{
	return us * 1000;
}

static int64_t ns_to_us(int64_t ns)
{
	return ns / 1000;
}

static bool q_ok(struct trust *t, PGresult *r, const char *what)
{
	if (cp_pg_ok(r))
		return true;
	CP_LOG_RL(CP_LOG_ERR, ROLE, "%s: %s", what,
		  r ? PQresultErrorMessage(r) : "not connected");
	return false;
	(void)t;
}

static bool exec1(struct trust *t, const char *sql)
{
	PGresult *r = cp_pg_exec(&t->pg, sql, 0, NULL);
	bool ok = q_ok(t, r, sql);
	PQclear(r);
	return ok;
}

/*
 * Columns of rows being built as PostgreSQL array literals, sent as one statement's
 * unnest() arguments: a batch costs one round trip, not one per row. Values are numbers,
 * NULL or fixed words of ours (never text from a client).
 */
#define COLS_MAX 6
struct cols {
	int k;                      /* columns */
	char *a[COLS_MAX];          /* "v1,v2,..." per column */
	size_t len[COLS_MAX], cap[COLS_MAX];
	int n;                      /* rows */
};

static int arr_add(char **a, size_t *len, size_t *cap, const char *v)
{
	size_t need = *len + strlen(v) + 4;
	if (need > *cap) {
		size_t nc = need * 2 + 64;
		char *b = realloc(*a, nc);
		if (b == NULL)
			return -ENOMEM;
		*a = b;
		*cap = nc;
	}
	*len += (size_t)snprintf(*a + *len, *cap - *len, "%s%s", *len ? "," : "", v);
	return 0;
}

/* One row of c->k values (NULL: SQL NULL). 0 or -ENOMEM. */
static int cols_add(struct cols *c, const char *const *v)
{
	for (int i = 0; i < c->k; i++)
		if (arr_add(&c->a[i], &c->len[i], &c->cap[i], v[i] ? v[i] : "NULL") != 0)
			return -ENOMEM;
	c->n++;
	return 0;
}

static void cols_free(struct cols *c)
{
	int k = c->k;
	for (int i = 0; i < COLS_MAX; i++)
		free(c->a[i]);
	memset(c, 0, sizeof(*c));
	c->k = k;
}

/* Runs sql with the columns as array literals $1..$k (nothing when there are no rows).
 * Returns the result (the caller clears it) or NULL: no rows, out of memory or failed
 * (logged; *failed set). */
static PGresult *cols_exec(struct trust *t, struct cols *c, enum trust_stmt slot,
			   const char *sql, const char *what, bool *failed)
{
	char *lit[COLS_MAX] = {0};
	const char *p[COLS_MAX];
	PGresult *r = NULL;

	*failed = false;
	if (c->n == 0)
		return NULL;
	for (int i = 0; i < c->k; i++) {
		size_t n = c->len[i] + 3;
		if ((lit[i] = malloc(n)) == NULL) {
			*failed = true;
			goto out;
		}
		snprintf(lit[i], n, "{%s}", c->a[i] ? c->a[i] : "");
		p[i] = lit[i];
	}
	r = cp_pg_exec_prepared(&t->pg, slot, sql, c->k, p);
	if (!q_ok(t, r, what)) {
		PQclear(r);
		r = NULL;
		*failed = true;
	}
out:
	for (int i = 0; i < c->k; i++)
		free(lit[i]);
	return r;
}

/* cols_exec for a statement whose result is not needed. 0 or -EIO. */
static int cols_run(struct trust *t, struct cols *c, enum trust_stmt slot, const char *sql,
		    const char *what)
{
	bool failed;
	PQclear(cols_exec(t, c, slot, sql, what, &failed));
	return failed ? -EIO : 0;
}

/*
 * Pause the subscriptions of `c` (id, score) whose score is below 50, through the
 * database's rules: only where subscription_transition_allowed() has the edge (SYNCED,
 * DEGRADED_GAP; a LOCKED_NO_FUNDS or SUSPENDED_ADMIN one is paused by a later tick once it
 * can be). One statement for the batch; an alert line per subscription paused. Returns
 * how many were paused, or -EIO.
 */
static int pause_many(struct trust *t, struct cols *c)
{
	bool failed;
	PGresult *r = cols_exec(t, c, TS_PAUSE,
		"WITH p AS (UPDATE subscriptions s SET state = 'PAUSED_TOXIC', state_reason ="
		" 'trust score ' || u.score || ' < 50' FROM unnest($1::bigint[], $2::int[])"
		" AS u(id, score) WHERE s.id = u.id"
		" AND subscription_transition_allowed(s.state, 'PAUSED_TOXIC')"
		" RETURNING s.id, u.score),"
		" a AS (UPDATE subscription_trust x SET auto_pauses = auto_pauses + 1 FROM p"
		" WHERE x.subscription_id = p.id)"
		" SELECT id, score FROM p ORDER BY id", "pause", &failed);
	int n = r != NULL ? PQntuples(r) : 0;

	for (int i = 0; i < n; i++) {
		atomic_fetch_add(&t->counters.auto_pauses, 1);
		cp_alert(&t->alerts, CP_ALERT_AUTO_PAUSE, 0, strtoull(PQgetvalue(r, i, 0), NULL, 10),
			 "auto-pause: subscription %s trust score %s < 50: PAUSED_TOXIC",
			 PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	}
	PQclear(r);
	return failed ? -EIO : n;
}

/*
 * The tick's resume: PAUSED_TOXIC -> SYNCED only through the recovery credit of a quiet
 * period that this tick credited, at a score >= 50 (an admin suspension is not lifted by
 * a good score). Events never resume: the +1 of executions that happened before the
 * pause, scored after it, would otherwise flap a paused subscription back to SYNCED and
 * let the flow that paused it through again. 1 resumed, 0 not, -EIO.
 */
static int resume(struct trust *t, const char *id, int score)
{
	char sc[16];
	const char *p[2] = {id, sc};
	snprintf(sc, sizeof(sc), "%d", score);
	PGresult *r = cp_pg_exec(&t->pg,
				 "UPDATE subscriptions SET state = 'SYNCED', "
				 "state_reason = 'trust score recovered to ' || $2 "
				 "WHERE id = $1 AND state = 'PAUSED_TOXIC'", 2, p);
	if (!q_ok(t, r, "resume")) {
		PQclear(r);
		return -EIO;
	}
	bool changed = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!changed)
		return 0;
	atomic_fetch_add(&t->counters.recoveries, 1);
	cp_log(CP_LOG_INFO, ROLE, "subscription %s trust score recovered to %d: SYNCED", id,
	       score);
	return 1;
}

/* A subscription's persisted trust: guard's score and clock, and the highest sequence
 * credited +1 (exactly once per envelope). */
struct trust_row {
	struct guard_trust g;
	int64_t credited_seq;
	bool paused;               /* PAUSED_TOXIC already: nothing for pause_many to do */
};

/* Load, locking the subscription rows in ascending id (the order billing and the
 * archiver's money paths take them), the persisted trust state of the ids in `ids`
 * (one column). Result rows: id, score, quiet_since (us), credited sequence, whether
 * PAUSED_TOXIC, in id order; NULL on failure. */
static PGresult *load_many(struct trust *t, struct cols *ids)
{
	bool failed;
	return cols_exec(t, ids, TS_LOAD,
		"SELECT s.id, s.trust_score, (extract(epoch FROM coalesce(x.quiet_since,"
		" s.created_at)) * 1000000)::bigint, coalesce(x.credited_sequence, 0),"
		" s.state = 'PAUSED_TOXIC'"
		" FROM subscriptions s LEFT JOIN subscription_trust x ON x.subscription_id = s.id"
		" WHERE s.id = ANY($1::bigint[]) ORDER BY s.id FOR NO KEY UPDATE OF s",
		"load trust", &failed);
}

/* The score says pause and the subscription is not paused yet (pause_many has work). */
static bool pause_due(const struct trust_row *row)
{
	return guard_trust_should_pause(&row->g) && !row->paused;
}

static void row_of(PGresult *r, int i, struct trust_row *row)
{
	row->g.score = atoi(PQgetvalue(r, i, 1));
	row->g.quiet_since_ns = us_to_ns(strtoll(PQgetvalue(r, i, 2), NULL, 10));
	row->credited_seq = strtoll(PQgetvalue(r, i, 3), NULL, 10);
	row->paused = PQgetvalue(r, i, 4)[0] == 't';
}

/* Rows to store: id, score, quiet_since (us), incidents, executions (added), credited. */
static int store_add(struct cols *st, const char *id, const struct trust_row *row,
		     int64_t incidents, int64_t executions)
{
	char score[16], quiet[32], inc[32], exe[32], cred[32];
	snprintf(score, sizeof(score), "%d", row->g.score);
	snprintf(quiet, sizeof(quiet), "%" PRId64, ns_to_us(row->g.quiet_since_ns));
	snprintf(inc, sizeof(inc), "%" PRId64, incidents);
	snprintf(exe, sizeof(exe), "%" PRId64, executions);
	snprintf(cred, sizeof(cred), "%" PRId64, row->credited_seq);
	const char *v[6] = {id, score, quiet, inc, exe, cred};
	return cols_add(st, v);
}

static int store_many(struct trust *t, struct cols *st)
{
	return cols_run(t, st, TS_STORE,
		"WITH u AS (SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[],"
		" $4::bigint[], $5::bigint[], $6::bigint[]) AS u(id, score, quiet, inc, exe, cred)),"
		" s AS (UPDATE subscriptions s SET trust_score = u.score FROM u WHERE s.id = u.id"
		" AND s.trust_score IS DISTINCT FROM u.score RETURNING s.id, s.trust_score),"
		/* every change of a score, for its history (the console's chart, sql 0022) */
		" h AS (INSERT INTO trust_history (subscription_id, score)"
		" SELECT id, trust_score FROM s)"
		" INSERT INTO subscription_trust (subscription_id, quiet_since, incidents, executions,"
		" credited_sequence) SELECT id, timestamptz 'epoch' + quiet * interval"
		" '1 microsecond', inc, exe, cred FROM u ORDER BY id"
		" ON CONFLICT (subscription_id) DO UPDATE SET quiet_since = excluded.quiet_since,"
		" incidents = subscription_trust.incidents + excluded.incidents,"
		" executions = subscription_trust.executions + excluded.executions,"
		" credited_sequence = excluded.credited_sequence, updated_at = now()",
		"store trust");
}

/*
 * Inbox result columns (drain_once): 0 id, 1 subscription_id, 2 event, 3 received_at (us),
 * 4 sequence (empty = NULL), 5 why an EXECUTE cannot be credited (NULL = it can, as far
 * as the deliveries say: the once-per-envelope rule is applied here), 6 the guard's
 * staleness attribution, 7 "t" when our records confirm it is the platform's.
 */
enum { IN_ID, IN_SUB, IN_EVENT, IN_AT, IN_SEQ, IN_WHY, IN_ATTR, IN_PLATFORM };

/* Score the events of one subscription, rows [from, to) of the inbox result, into `row`;
 * every EXECUTE into `x` (subscription, sequence, received_at, why not). */
static int score_one(struct trust *t, PGresult *in, int from, int to, struct trust_row *row,
		     int64_t *incidents, int64_t *executions, struct cols *x)
{
	const char *id = PQgetvalue(in, from, IN_SUB);
	for (int i = from; i < to; i++) {
		enum guard_trust_event ev;
		const char *name = PQgetvalue(in, i, IN_EVENT);
		if (cp_trust_event_parse(name, &ev) != 0) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "inbox event '%s' unknown: ignored", name);
			continue;
		}
		int64_t at = strtoll(PQgetvalue(in, i, IN_AT), NULL, 10);
		if (ev == GUARD_TRUST_SUCCESS) {
			/* The credit rule (sql 0009): delivered live, in time, once. */
			const char *why = PQgetisnull(in, i, IN_WHY) ? NULL : PQgetvalue(in, i, IN_WHY);
			int64_t seq = strtoll(PQgetvalue(in, i, IN_SEQ), NULL, 10);
			if (why == NULL && seq <= row->credited_seq)
				why = "duplicate";
			const char *v[4] = {id, PQgetisnull(in, i, IN_SEQ) ? NULL
					    : PQgetvalue(in, i, IN_SEQ), PQgetvalue(in, i, IN_AT), why};
			if (cols_add(x, v) != 0)
				return -ENOMEM;
			if (why != NULL) {
				atomic_fetch_add(&t->counters.executions_uncredited, 1);
				continue;
			}
			row->credited_seq = seq;
		}
		if (ev == GUARD_TRUST_TTL_EXPIRED && !PQgetisnull(in, i, IN_ATTR) &&
		    strncmp(PQgetvalue(in, i, IN_ATTR), "PLATFORM", 8) == 0) {
			/* The staleness rule (sql 0009): the platform's lag is stored, alerted
			 * and not scored; a claim our records do not confirm is scored. */
			if (PQgetvalue(in, i, IN_PLATFORM)[0] == 't') {
				atomic_fetch_add(&t->counters.platform_stale, 1);
				cp_alert(&t->alerts, CP_ALERT_PLATFORM_LAG, 0,
					 strtoull(id, NULL, 10), "platform lag: subscription %s "
					 "sequence %s stale by the platform (%s): not scored", id,
					 PQgetvalue(in, i, IN_SEQ), PQgetvalue(in, i, IN_ATTR));
				continue;
			}
			atomic_fetch_add(&t->counters.attribution_refuted, 1);
		}
		if (ev == GUARD_TRUST_UNKNOWN_INSTRUMENT) {
			atomic_fetch_add(&t->counters.unknown_instrument, 1);
			cp_alert(&t->alerts, CP_ALERT_UNKNOWN_INSTRUMENT, 0, strtoull(id, NULL, 10),
				 "unknown instrument: subscription %s refused %s%s: the instrument "
				 "registry lacks its symbol (decpctl instrument add)", id,
				 PQgetisnull(in, i, IN_SEQ) ? "a signal" : "sequence ",
				 PQgetvalue(in, i, IN_SEQ));
		}
		guard_trust_apply(&row->g, ev, us_to_ns(at + t->offset_us));
		*incidents += guard_trust_delta(ev) < 0;
		*executions += ev == GUARD_TRUST_SUCCESS;
	}
	atomic_fetch_add(&t->counters.events, (uint64_t)(to - from));
	return 0;
}

/* One statement for all execution reports of the batch. 0 or -EIO. */
static int exec_store(struct trust *t, struct cols *x)
{
	return cols_run(t, x, TS_EXEC,
		"INSERT INTO execution_reports (subscription_id, sequence, received_at,"
		" credited, why_not) SELECT s, q, timestamptz 'epoch' + a * interval"
		" '1 microsecond', w IS NULL, w FROM unnest($1::bigint[], $2::bigint[],"
		" $3::bigint[], $4::text[]) AS u(s, q, a, w)", "store execution reports");
}

/*
 * Score a batch of inbox rows (`in`, ordered by subscription): load every subscription
 * it names in one statement, score each group in C, then store the scores, the
 * execution reports and the pauses in one statement each, so a batch spread over a
 * thousand subscriptions costs five round trips, not four per subscription.
 */
static int score_batch(struct trust *t, PGresult *in, int n)
{
	struct cols ids = {.k = 1}, st = {.k = 6}, x = {.k = 4}, pz = {.k = 2};
	PGresult *loaded = NULL;
	int rc = -EIO, l = 0;

	for (int i = 0; i < n; i++)
		if ((i == 0 || strcmp(PQgetvalue(in, i, IN_SUB), PQgetvalue(in, i - 1, IN_SUB)) != 0)
		    && cols_add(&ids, (const char *const[]){PQgetvalue(in, i, IN_SUB)}) != 0)
			goto out;
	if (n > 0 && (loaded = load_many(t, &ids)) == NULL)
		goto out;
	for (int i = 0; i < n;) {
		const char *id = PQgetvalue(in, i, IN_SUB);
		int64_t sid = strtoll(id, NULL, 10), incidents = 0, executions = 0;
		struct trust_row row;
		int j = i + 1;

		while (j < n && strcmp(PQgetvalue(in, j, IN_SUB), id) == 0)
			j++;
		while (l < PQntuples(loaded) && strtoll(PQgetvalue(loaded, l, 0), NULL, 10) < sid)
			l++;
		if (l == PQntuples(loaded) || strtoll(PQgetvalue(loaded, l, 0), NULL, 10) != sid) {
			i = j; /* FK makes this impossible; nothing to score */
			continue;
		}
		row_of(loaded, l, &row);
		if (score_one(t, in, i, j, &row, &incidents, &executions, &x) != 0 ||
		    store_add(&st, id, &row, incidents, executions) != 0)
			goto out;
		if (pause_due(&row)) {
			char sc[16];
			snprintf(sc, sizeof(sc), "%d", row.g.score);
			if (cols_add(&pz, (const char *const[]){id, sc}) != 0)
				goto out;
		}
		i = j;
	}
	if (store_many(t, &st) == 0 && exec_store(t, &x) == 0 && pause_many(t, &pz) >= 0)
		rc = 0;
out:
	PQclear(loaded);
	cols_free(&ids);
	cols_free(&st);
	cols_free(&x);
	cols_free(&pz);
	return rc;
}

/* "{1,2,3}": the ids of the inbox rows in `in`, for DELETE ... = ANY($1). NULL on ENOMEM. */
static char *id_array(PGresult *in, int n)
{
	size_t cap = (size_t)n * 21 + 3, at = 0;
	char *a = malloc(cap);
	if (a == NULL)
		return NULL;
	a[at++] = '{';
	for (int i = 0; i < n; i++)
		at += (size_t)snprintf(a + at, cap - at, "%s%s", i ? "," : "", PQgetvalue(in, i, 0));
	snprintf(a + at, cap - at, "}");
	return a;
}

/* One transaction: take up to INBOX_BATCH rows, score them, delete them. Returns the
 * number of rows scored, or -EIO (rolled back: the rows are scored again later). */
static int drain_once(struct trust *t)
{
	char win[24], half_ttl[24], wait[24];
	snprintf(win, sizeof(win), "%u", t->cfg->trust_credit_window_s);
	snprintf(half_ttl, sizeof(half_ttl), "%" PRId64, ns_to_us(GUARD_TTL_DEFAULT_NS / 2));
	snprintf(wait, sizeof(wait), "%u", t->cfg->trust_record_wait_s);
	const char *wp[3] = {win, half_ttl, wait};
	if (!exec1(t, "BEGIN"))
		return -EIO;
	PGresult *in = cp_pg_exec_prepared(&t->pg, TS_INBOX,
		/* The oldest rows (primary key order), then grouped per subscription. For an
		 * EXECUTE, whether trust_deliveries shows it delivered live and in time. */
		"SELECT id, subscription_id, event,"
		" (extract(epoch FROM received_at) * 1000000)::bigint, sequence,"
		" CASE WHEN event <> 'EXECUTE' THEN NULL"
		"  WHEN sequence IS NULL THEN 'no_sequence'"
		"  WHEN NOT EXISTS (SELECT 1 FROM trust_deliveries d WHERE d.subscription_id ="
		"   q.subscription_id AND d.live AND q.sequence BETWEEN d.first_sequence AND"
		"   d.last_sequence) THEN 'not_delivered_live'"
		"  WHEN NOT EXISTS (SELECT 1 FROM trust_deliveries d WHERE d.subscription_id ="
		"   q.subscription_id AND d.live AND q.sequence BETWEEN d.first_sequence AND"
		"   d.last_sequence AND q.received_at <= d.last_sent_at + $1::int * interval"
		"   '1 second') THEN 'too_late' END,"
		/* A TTL_EXPIRED the guard calls the platform's: confirmed by our own records? */
		" attribution, CASE"
		"  WHEN event <> 'TTL_EXPIRED' OR sequence IS NULL THEN false"
		/* the last delivery of the sequence was a replay: a replay run covers it and
		 * no live run covering it began later (a live send on a connection that was
		 * then cut, before the subscriber read it, is followed by the replay) */
		"  WHEN attribution = 'PLATFORM_REPLAY' THEN EXISTS (SELECT 1 FROM trust_deliveries d"
		"   WHERE d.subscription_id = q.subscription_id AND NOT d.live AND q.sequence BETWEEN"
		"   d.first_sequence AND d.last_sequence AND NOT EXISTS (SELECT 1 FROM"
		"   trust_deliveries l WHERE l.subscription_id = q.subscription_id AND l.live AND"
		"   q.sequence BETWEEN l.first_sequence AND l.last_sequence AND"
		"   l.first_sent_at >= d.first_sent_at))"
		"  WHEN attribution = 'PLATFORM_LATE_SEND' THEN EXISTS (SELECT 1 FROM"
		"   trust_deliveries d WHERE d.subscription_id = q.subscription_id AND d.live AND"
		"   d.late AND q.sequence BETWEEN d.first_sequence AND d.last_sequence) OR EXISTS"
		/* or a live run's first send over 250 ms after the arrival: not a polled run,
		 * whose sends follow the poller's own pace (a catch-up from history is late by
		 * the poller's choice; its `late` counts only our delay, sql 0042) */
		"   (SELECT 1 FROM"
		"   trust_deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN"
		"   signal_archive_keys k ON k.master_id = s.master_id AND k.sequence = q.sequence"
		"   WHERE d.subscription_id = q.subscription_id AND d.live AND NOT d.polled AND"
		"   q.sequence BETWEEN d.first_sequence AND d.last_sequence AND"
		"   d.first_sent_at > k.arrival_time +"
		"   $2::bigint * interval '1 microsecond')"
		"  ELSE false END"
		/* A report that names a delivery our records do not show yet waits for it up to
		 * trust_record_wait_s after its receipt: the fan-out's run reaches the database
		 * through its db thread, the reports stream and the archiver, while a report
		 * posted to the api is in the inbox at once (an EXECUTE is then not credited, the
		 * platform's late send or replay scored as the subscriber's). Left in the inbox,
		 * not locked, and looked at again at the next drain. */
		" FROM (SELECT * FROM trust_inbox i WHERE NOT (i.sequence IS NOT NULL AND"
		"  i.received_at > now() - $3::int * interval '1 second' AND ("
		"  (i.event = 'EXECUTE' OR i.event = 'TTL_EXPIRED' AND i.attribution ="
		"  'PLATFORM_LATE_SEND') AND NOT EXISTS (SELECT 1 FROM trust_deliveries d WHERE"
		"  d.subscription_id = i.subscription_id AND d.live AND i.sequence BETWEEN"
		"  d.first_sequence AND d.last_sequence) OR i.event = 'TTL_EXPIRED' AND"
		"  i.attribution = 'PLATFORM_REPLAY' AND NOT EXISTS (SELECT 1 FROM trust_deliveries"
		"  d WHERE d.subscription_id = i.subscription_id AND NOT d.live AND i.sequence"
		"  BETWEEN d.first_sequence AND d.last_sequence)))"
		" ORDER BY id LIMIT " CP_STR(INBOX_BATCH)
		" FOR UPDATE SKIP LOCKED) q ORDER BY subscription_id, id", 3, wp);
	char *ids = NULL;
	int n = -EIO;
	if (!q_ok(t, in, "read inbox"))
		goto fail;
	n = PQntuples(in);
	if (score_batch(t, in, n) != 0)
		goto fail;
	if (n > 0) {
		ids = id_array(in, n);
		const char *p[1] = {ids};
		PGresult *d = ids ? cp_pg_exec_prepared(&t->pg, TS_DELETE, "DELETE FROM trust_inbox"
							" WHERE id = ANY($1::bigint[])", 1, p) : NULL;
		bool ok = q_ok(t, d, "delete inbox rows");
		PQclear(d);
		if (!ok)
			goto fail;
	}
	free(ids);
	PQclear(in);
	if (!exec1(t, "COMMIT"))
		return -EIO;
	if (n > 0)
		atomic_fetch_add(&t->counters.batches, 1);
	return n;
fail:
	free(ids);
	PQclear(in);
	if (t->pg.conn != NULL)
		exec1(t, "ROLLBACK");
	return -EIO;
}

/*
 * Recovery: credit every subscription below the maximum (or paused) with guard_trust_tick
 * at now + offset, each in its own short transaction so a tick never holds many locks.
 */
static int tick(struct trust *t)
{
	/* Only rows a tick can change: a full quiet period has passed (a credit is due; for
	 * a paused subscription even at 100, as the credit is what resumes it), or a low
	 * score could not pause its subscription earlier (it was LOCKED_NO_FUNDS or
	 * SUSPENDED_ADMIN then) and now can. */
	char off[32], period[32], max[16], below[16];
	snprintf(off, sizeof(off), "%" PRId64, t->offset_us);
	snprintf(period, sizeof(period), "%" PRId64, ns_to_us(GUARD_TRUST_RECOVERY_PERIOD_NS));
	snprintf(max, sizeof(max), "%d", GUARD_TRUST_MAX);
	snprintf(below, sizeof(below), "%d", GUARD_TRUST_PAUSE_BELOW);
	const char *p[4] = {off, period, max, below};
	PGresult *r = cp_pg_exec(&t->pg, "SELECT s.id FROM subscriptions s LEFT JOIN"
				 " subscription_trust x ON x.subscription_id = s.id"
				 " WHERE s.state <> 'CANCELLED' AND (((s.trust_score < $3::int OR"
				 " s.state = 'PAUSED_TOXIC') AND coalesce(x.quiet_since, s.created_at)"
				 " <= now() + ($1::bigint - $2::bigint) * interval '1 microsecond') OR"
				 " (s.trust_score < $4::int AND"
				 " subscription_transition_allowed(s.state, 'PAUSED_TOXIC')))"
				 " ORDER BY s.id", 4, p);
	if (!q_ok(t, r, "tick: list")) {
		PQclear(r);
		return -EIO;
	}
	/* Deliveries no report can name any more: a report may come back as long as its event
	 * may be accepted (an EA resends its unacknowledged reports after a reconnect, event
	 * times up to 7 days old: docs/api.md), and a staleness claim is checked against
	 * these runs: pruned sooner, an honest EA offline for a quarter of an hour had the
	 * platform's replay scored as its own. Kept 7 days and 10 minutes (longer than any
	 * credit window, trust_credit_window_s <= 1 day). */
	char win[24];
	snprintf(win, sizeof(win), "%u", 7u * 86400 + 600);
	const char *wp[1] = {win};
	PGresult *d = cp_pg_exec(&t->pg, "DELETE FROM trust_deliveries WHERE last_sent_at <"
				 " now() - $1::int * interval '1 second'", 1, wp);
	q_ok(t, d, "tick: prune deliveries");
	PQclear(d);
	d = cp_pg_exec(&t->pg, "DELETE FROM trust_history WHERE at < now() - interval '30 days'",
		       0, NULL);
	q_ok(t, d, "tick: prune the score history");
	PQclear(d);
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *id = PQgetvalue(r, i, 0);
		struct cols one = {.k = 1}, st = {.k = 6}, pz = {.k = 2};
		PGresult *loaded = NULL;
		struct trust_row row;
		if (!exec1(t, "BEGIN")) {
			rc = -EIO;
			break;
		}
		rc = cols_add(&one, (const char *const[]){id}) != 0 ? -ENOMEM
		     : (loaded = load_many(t, &one)) == NULL ? -EIO : 0;
		if (rc == 0 && PQntuples(loaded) == 1) {
			row_of(loaded, 0, &row);
			int before = row.g.score;
			int64_t q = row.g.quiet_since_ns;
			guard_trust_tick(&row.g, us_to_ns(wall_us() + t->offset_us));
			bool credited = row.g.quiet_since_ns != q; /* a full quiet period passed */
			if (row.g.score != before)
				atomic_fetch_add(&t->counters.recovery_credits, 1);
			if (credited)
				rc = store_add(&st, id, &row, 0, 0) != 0 ? -ENOMEM : store_many(t, &st);
			if (rc == 0 && pause_due(&row)) {
				char sc[16];
				snprintf(sc, sizeof(sc), "%d", row.g.score);
				rc = cols_add(&pz, (const char *const[]){id, sc}) != 0 ? -ENOMEM
				     : pause_many(t, &pz) < 0 ? -EIO : 0;
			} else if (rc == 0 && credited && row.g.score >= GUARD_TRUST_RECOVERED_AT) {
				/* the one resume edge: the quiet-period credit (guard_trust_recover) */
				rc = resume(t, id, row.g.score) < 0 ? -EIO : 0;
			}
		}
		PQclear(loaded);
		cols_free(&one);
		cols_free(&st);
		cols_free(&pz);
		if (rc == 0 && !exec1(t, "COMMIT"))
			rc = -EIO;
		if (rc != 0 && t->pg.conn != NULL)
			exec1(t, "ROLLBACK");
	}
	PQclear(r);
	return rc;
}

/*
 * Wait for a NOTIFY on decp_trust (or timeout_ms). Consumes pending notifications. After a
 * wake-up it lingers BATCH_WINDOW_MS so a busy API's events are scored in batches (one
 * transaction per window, not per request), which keeps trust's share of the CPU small.
 */
#define BATCH_WINDOW_MS 10
static void wait_notify(struct trust *t, int timeout_ms)
{
	int fd = t->pg.conn ? PQsocket(t->pg.conn) : -1;
	if (fd >= 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) > 0) {
			struct timespec ts = {0, BATCH_WINDOW_MS * 1000000L};
			nanosleep(&ts, NULL);
			PQconsumeInput(t->pg.conn);
		}
		PGnotify *n;
		while (t->pg.conn && (n = PQnotifies(t->pg.conn)) != NULL)
			PQfreemem(n);
	} else {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

int cp_trust_run(struct cp_ctx *ctx)
{
	const struct cp_config *cfg = ctx->cfg;
	struct trust t = {.cfg = cfg, .offset_us = (int64_t)cfg->trust_time_offset_s * US_PER_S};
	uint64_t next_tick = 0;
	bool listening = false;

	if (cp_ctx_stats_add(ctx, trust_stats, &t.counters) != 0)
		cp_log(CP_LOG_WARN, ROLE, "too many stats providers: no decp_trust_* metrics");
	cp_pg_init(&t.pg, cfg, ROLE, NULL);
	cp_alert_init(&t.alerts, ROLE);
	cp_log(CP_LOG_INFO, ROLE, "scoring with guard's rule table; tick every %u s, clock "
	       "offset %u s", cfg->trust_tick_s, cfg->trust_time_offset_s);
	while (!cp_ctx_stopping(ctx)) {
		if (cp_pg_ensure(&t.pg) != 0) {
			listening = false;
			wait_notify(&t, 100);
			continue;
		}
		if (!listening) {
			/* LISTEN before the first drain: nothing inserted after it is missed. */
			listening = exec1(&t, "LISTEN decp_trust");
			next_tick = 0;
		}
		int n = drain_once(&t);
		cp_alert_flush(&t.alerts, &t.pg, false);
		if (n == INBOX_BATCH)
			continue; /* a full batch: more are waiting; otherwise the next window */
		uint64_t now = cp_now_ns();
		if (n >= 0 && now >= next_tick) {
			tick(&t);
			next_tick = now + (uint64_t)cfg->trust_tick_s * 1000000000ull;
		}
		wait_notify(&t, 100);
	}
	cp_alert_flush(&t.alerts, &t.pg, true);
	cp_ctx_stats_remove(ctx, trust_stats, &t.counters);
	cp_pg_close(&t.pg);
	return 0;
}
