/* cp_trust: the trust role. Design and contract in cp_trust.h. */
#include "cp_trust.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_log.h"
#include "cp_pg.h"
#include "guard_check.h"

#define ROLE "trust"
#define INBOX_BATCH "1000"
#define US_PER_S INT64_C(1000000)

/* What /metrics shows of the role (written by the role thread, read by the scrape). */
struct trust_counters {
	_Atomic uint64_t events;       /* inbox rows scored */
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
 * Apply the score to the subscription's state through the database's rules: pause only
 * where subscription_transition_allowed() has the edge (SYNCED, DEGRADED_GAP), recover
 * only from PAUSED_TOXIC (an admin suspension is not lifted by a good score), and only
 * through the recovery credit of a quiet period (may_resume: the tick). Events never
 * resume: the +1 of executions that happened before the pause, scored after it, would
 * otherwise flap a paused subscription back to SYNCED and let the flow that paused it
 * through again.
 */
static int enforce(struct trust *t, const char *id, const struct guard_trust *g,
		   bool may_resume)
{
	char score[16];
	const char *p[2] = {id, score};
	snprintf(score, sizeof(score), "%d", g->score);
	bool pause = guard_trust_should_pause(g);
	PGresult *r;
	if (pause)
		r = cp_pg_exec(&t->pg,
			       "UPDATE subscriptions SET state = 'PAUSED_TOXIC', "
			       "state_reason = 'trust score ' || $2 || ' < 50' "
			       "WHERE id = $1 AND subscription_transition_allowed(state, 'PAUSED_TOXIC')",
			       2, p);
	else if (may_resume && g->score >= GUARD_TRUST_RECOVERED_AT)
		r = cp_pg_exec(&t->pg,
			       "UPDATE subscriptions SET state = 'SYNCED', "
			       "state_reason = 'trust score recovered to ' || $2 "
			       "WHERE id = $1 AND state = 'PAUSED_TOXIC'",
			       2, p);
	else
		return 0;
	if (!q_ok(t, r, "state change")) {
		PQclear(r);
		return -EIO;
	}
	bool changed = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!changed)
		return 0;
	if (pause) {
		atomic_fetch_add(&t->counters.auto_pauses, 1);
		cp_log(CP_LOG_WARN, ROLE, "ALERT auto-pause: subscription %s trust score %d < 50: "
		       "PAUSED_TOXIC", id, g->score);
		PGresult *u = cp_pg_exec(&t->pg, "UPDATE subscription_trust SET auto_pauses = "
					 "auto_pauses + 1 WHERE subscription_id = $1", 1, p);
		bool ok = q_ok(t, u, "auto_pauses");
		PQclear(u);
		return ok ? 1 : -EIO;
	}
	atomic_fetch_add(&t->counters.recoveries, 1);
	cp_log(CP_LOG_INFO, ROLE, "subscription %s trust score recovered to %d: SYNCED", id,
	       g->score);
	return 1;
}

/* A subscription's persisted trust: guard's score and clock, and the highest sequence
 * credited +1 (exactly once per envelope). */
struct trust_row {
	struct guard_trust g;
	int64_t credited_seq;
};

/* Load (locking the subscription row) the persisted trust state. 0, -ENOENT, -EIO. */
static int load(struct trust *t, const char *id, struct trust_row *row)
{
	const char *p[1] = {id};
	struct guard_trust *g = &row->g;
	PGresult *r = cp_pg_exec(&t->pg,
		"SELECT s.trust_score, (extract(epoch FROM coalesce(x.quiet_since, s.created_at))"
		" * 1000000)::bigint, coalesce(x.credited_sequence, 0) FROM subscriptions s"
		" LEFT JOIN subscription_trust x ON x.subscription_id = s.id WHERE s.id = $1"
		" FOR NO KEY UPDATE OF s", 1, p);
	if (!q_ok(t, r, "load trust")) {
		PQclear(r);
		return -EIO;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -ENOENT;
	}
	g->score = atoi(PQgetvalue(r, 0, 0));
	g->quiet_since_ns = us_to_ns(strtoll(PQgetvalue(r, 0, 1), NULL, 10));
	row->credited_seq = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
	return 0;
}

static int store(struct trust *t, const char *id, const struct trust_row *row,
		 int64_t incidents, int64_t executions)
{
	char score[16], quiet[32], inc[32], exe[32], cred[32];
	snprintf(score, sizeof(score), "%d", row->g.score);
	snprintf(quiet, sizeof(quiet), "%" PRId64, ns_to_us(row->g.quiet_since_ns));
	snprintf(inc, sizeof(inc), "%" PRId64, incidents);
	snprintf(exe, sizeof(exe), "%" PRId64, executions);
	snprintf(cred, sizeof(cred), "%" PRId64, row->credited_seq);
	const char *p[6] = {id, score, quiet, inc, exe, cred};
	PGresult *r = cp_pg_exec(&t->pg,
		"WITH s AS (UPDATE subscriptions SET trust_score = $2 WHERE id = $1"
		" AND trust_score IS DISTINCT FROM $2::smallint RETURNING id)"
		" INSERT INTO subscription_trust (subscription_id, quiet_since, incidents, executions,"
		" credited_sequence)"
		" VALUES ($1, timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4, $5, $6)"
		" ON CONFLICT (subscription_id) DO UPDATE SET quiet_since = excluded.quiet_since,"
		" incidents = subscription_trust.incidents + excluded.incidents,"
		" executions = subscription_trust.executions + excluded.executions,"
		" credited_sequence = excluded.credited_sequence, updated_at = now()", 6, p);
	bool ok = q_ok(t, r, "store trust");
	PQclear(r);
	return ok ? 0 : -EIO;
}

/*
 * Execution reports of one subscription, kept in the scoring transaction: every EXECUTE
 * inbox row becomes an execution_reports row, credited or with the reason why not.
 */
struct exec_rows {
	char *sub, *seq, *at, *why; /* Postgres array literals being built */
	size_t len[4], cap[4];
	int n;
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

static int exec_add(struct exec_rows *x, const char *sub, const char *seq, const char *at_us,
		    const char *why)
{
	char *const *a[4] = {&x->sub, &x->seq, &x->at, &x->why};
	const char *v[4] = {sub, seq[0] ? seq : "NULL", at_us, why ? why : "NULL"};
	for (int k = 0; k < 4; k++)
		if (arr_add((char **)a[k], &x->len[k], &x->cap[k], v[k]) != 0)
			return -ENOMEM;
	x->n++;
	return 0;
}

static void exec_free(struct exec_rows *x)
{
	free(x->sub);
	free(x->seq);
	free(x->at);
	free(x->why);
	memset(x, 0, sizeof(*x));
}

/* One INSERT for all execution reports of the batch. 0 or -EIO. */
static int exec_store(struct trust *t, struct exec_rows *x)
{
	if (x->n == 0)
		return 0;
	char *lit[4];
	char *const src[4] = {x->sub, x->seq, x->at, x->why};
	int rc = 0;
	for (int k = 0; k < 4; k++) {
		size_t n = strlen(src[k]) + 3;
		lit[k] = malloc(n);
		if (lit[k] != NULL)
			snprintf(lit[k], n, "{%s}", src[k]);
	}
	if (lit[0] == NULL || lit[1] == NULL || lit[2] == NULL || lit[3] == NULL) {
		rc = -EIO;
	} else {
		const char *p[4] = {lit[0], lit[1], lit[2], lit[3]};
		PGresult *r = cp_pg_exec(&t->pg,
			"INSERT INTO execution_reports (subscription_id, sequence, received_at,"
			" credited, why_not) SELECT s, q, timestamptz 'epoch' + a * interval"
			" '1 microsecond', w IS NULL, w FROM unnest($1::bigint[], $2::bigint[],"
			" $3::bigint[], $4::text[]) AS u(s, q, a, w)", 4, p);
		rc = q_ok(t, r, "store execution reports") ? 0 : -EIO;
		PQclear(r);
	}
	for (int k = 0; k < 4; k++)
		free(lit[k]);
	return rc;
}

/*
 * Inbox result columns (drain_once): 0 id, 1 subscription_id, 2 event, 3 received_at (us),
 * 4 sequence (empty = NULL), 5 why an EXECUTE cannot be credited (NULL = it can, as far
 * as the deliveries say: the once-per-envelope rule is applied here), 6 the guard's
 * staleness attribution, 7 "t" when our records confirm it is the platform's.
 */
enum { IN_ID, IN_SUB, IN_EVENT, IN_AT, IN_SEQ, IN_WHY, IN_ATTR, IN_PLATFORM };

/* Score the events of one subscription: rows [from, to) of the inbox result. */
static int score_one(struct trust *t, PGresult *in, int from, int to, struct exec_rows *x)
{
	const char *id = PQgetvalue(in, from, IN_SUB);
	struct trust_row row;
	int64_t incidents = 0, executions = 0;
	int rc = load(t, id, &row);
	if (rc == -ENOENT)
		return 0; /* FK makes this impossible; nothing to score */
	if (rc != 0)
		return rc;
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
			if (why == NULL && seq <= row.credited_seq)
				why = "duplicate";
			if (exec_add(x, id, PQgetvalue(in, i, IN_SEQ), PQgetvalue(in, i, IN_AT), why) != 0)
				return -ENOMEM;
			if (why != NULL) {
				atomic_fetch_add(&t->counters.executions_uncredited, 1);
				continue;
			}
			row.credited_seq = seq;
		}
		if (ev == GUARD_TRUST_TTL_EXPIRED && !PQgetisnull(in, i, IN_ATTR) &&
		    strncmp(PQgetvalue(in, i, IN_ATTR), "PLATFORM", 8) == 0) {
			/* The staleness rule (sql 0009): the platform's lag is stored, alerted
			 * and not scored; a claim our records do not confirm is scored. */
			if (PQgetvalue(in, i, IN_PLATFORM)[0] == 't') {
				atomic_fetch_add(&t->counters.platform_stale, 1);
				CP_LOG_RL(CP_LOG_WARN, ROLE, "ALERT platform lag: subscription %s "
					  "sequence %s stale by the platform (%s): not scored", id,
					  PQgetvalue(in, i, IN_SEQ), PQgetvalue(in, i, IN_ATTR));
				continue;
			}
			atomic_fetch_add(&t->counters.attribution_refuted, 1);
		}
		if (ev == GUARD_TRUST_UNKNOWN_INSTRUMENT) {
			atomic_fetch_add(&t->counters.unknown_instrument, 1);
			CP_LOG_RL(CP_LOG_WARN, ROLE, "ALERT unknown instrument: subscription %s "
				  "refused sequence %s: the instrument registry lacks its symbol "
				  "(decpctl instrument add)", id, PQgetvalue(in, i, IN_SEQ));
		}
		guard_trust_apply(&row.g, ev, us_to_ns(at + t->offset_us));
		incidents += guard_trust_delta(ev) < 0;
		executions += ev == GUARD_TRUST_SUCCESS;
	}
	rc = store(t, id, &row, incidents, executions);
	if (rc == 0)
		rc = enforce(t, id, &row.g, false) < 0 ? -EIO : 0;
	atomic_fetch_add(&t->counters.events, (uint64_t)(to - from));
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
	char win[24], half_ttl[24];
	snprintf(win, sizeof(win), "%u", t->cfg->trust_credit_window_s);
	snprintf(half_ttl, sizeof(half_ttl), "%" PRId64, ns_to_us(GUARD_TTL_DEFAULT_NS / 2));
	const char *wp[2] = {win, half_ttl};
	if (!exec1(t, "BEGIN"))
		return -EIO;
	PGresult *in = cp_pg_exec(&t->pg,
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
		"   (SELECT 1 FROM"
		"   trust_deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN"
		"   signal_archive_keys k ON k.master_id = s.master_id AND k.sequence = q.sequence"
		"   WHERE d.subscription_id = q.subscription_id AND d.live AND q.sequence BETWEEN"
		"   d.first_sequence AND d.last_sequence AND d.first_sent_at > k.arrival_time +"
		"   $2::bigint * interval '1 microsecond')"
		"  ELSE false END"
		" FROM (SELECT * FROM trust_inbox ORDER BY id LIMIT " INBOX_BATCH
		" FOR UPDATE SKIP LOCKED) q ORDER BY subscription_id, id", 2, wp);
	char *ids = NULL;
	struct exec_rows x = {0};
	int n = -EIO;
	if (!q_ok(t, in, "read inbox"))
		goto fail;
	n = PQntuples(in);
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (j < n && strcmp(PQgetvalue(in, j, IN_SUB), PQgetvalue(in, i, IN_SUB)) == 0)
			j++;
		if (score_one(t, in, i, j, &x) != 0)
			goto fail;
		i = j;
	}
	if (exec_store(t, &x) != 0)
		goto fail;
	if (n > 0) {
		ids = id_array(in, n);
		const char *p[1] = {ids};
		PGresult *d = ids ? cp_pg_exec(&t->pg, "DELETE FROM trust_inbox WHERE id = ANY($1::bigint[])",
					       1, p) : NULL;
		bool ok = q_ok(t, d, "delete inbox rows");
		PQclear(d);
		if (!ok)
			goto fail;
	}
	free(ids);
	exec_free(&x);
	PQclear(in);
	return exec1(t, "COMMIT") ? n : -EIO;
fail:
	free(ids);
	exec_free(&x);
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
	/* Deliveries no report can be credited for any more (the inbox is empty when a tick
	 * runs, so nothing pending still needs them). */
	char win[24];
	snprintf(win, sizeof(win), "%u", t->cfg->trust_credit_window_s + 600);
	const char *wp[1] = {win};
	PGresult *d = cp_pg_exec(&t->pg, "DELETE FROM trust_deliveries WHERE last_sent_at <"
				 " now() - $1::int * interval '1 second'", 1, wp);
	q_ok(t, d, "tick: prune deliveries");
	PQclear(d);
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *id = PQgetvalue(r, i, 0);
		struct trust_row row;
		if (!exec1(t, "BEGIN")) {
			rc = -EIO;
			break;
		}
		rc = load(t, id, &row);
		if (rc == 0) {
			int before = row.g.score;
			int64_t q = row.g.quiet_since_ns;
			guard_trust_tick(&row.g, us_to_ns(wall_us() + t->offset_us));
			bool credited = row.g.quiet_since_ns != q; /* a full quiet period passed */
			if (row.g.score != before)
				atomic_fetch_add(&t->counters.recovery_credits, 1);
			if (credited)
				rc = store(t, id, &row, 0, 0);
			/* the one resume edge: the quiet-period credit (guard_trust_recover) */
			if (rc == 0)
				rc = enforce(t, id, &row.g, credited) < 0 ? -EIO : 0;
		} else if (rc == -ENOENT) {
			rc = 0;
		}
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
		if (n > 0)
			continue;
		uint64_t now = cp_now_ns();
		if (n == 0 && now >= next_tick) {
			tick(&t);
			next_tick = now + (uint64_t)cfg->trust_tick_s * 1000000000ull;
		}
		wait_notify(&t, 100);
	}
	cp_ctx_stats_remove(ctx, trust_stats, &t.counters);
	cp_pg_close(&t.pg);
	return 0;
}
