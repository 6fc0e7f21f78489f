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

/* Load (locking the subscription row) the persisted trust state. 0, -ENOENT, -EIO. */
static int load(struct trust *t, const char *id, struct guard_trust *g)
{
	const char *p[1] = {id};
	PGresult *r = cp_pg_exec(&t->pg,
		"SELECT s.trust_score, (extract(epoch FROM coalesce(x.quiet_since, s.created_at))"
		" * 1000000)::bigint FROM subscriptions s LEFT JOIN subscription_trust x"
		" ON x.subscription_id = s.id WHERE s.id = $1 FOR NO KEY UPDATE OF s", 1, p);
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
	PQclear(r);
	return 0;
}

static int store(struct trust *t, const char *id, const struct guard_trust *g,
		 int64_t incidents, int64_t executions)
{
	char score[16], quiet[32], inc[32], exe[32];
	snprintf(score, sizeof(score), "%d", g->score);
	snprintf(quiet, sizeof(quiet), "%" PRId64, ns_to_us(g->quiet_since_ns));
	snprintf(inc, sizeof(inc), "%" PRId64, incidents);
	snprintf(exe, sizeof(exe), "%" PRId64, executions);
	const char *p[5] = {id, score, quiet, inc, exe};
	PGresult *r = cp_pg_exec(&t->pg,
		"WITH s AS (UPDATE subscriptions SET trust_score = $2 WHERE id = $1"
		" AND trust_score IS DISTINCT FROM $2::smallint RETURNING id)"
		" INSERT INTO subscription_trust (subscription_id, quiet_since, incidents, executions)"
		" VALUES ($1, timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4, $5)"
		" ON CONFLICT (subscription_id) DO UPDATE SET quiet_since = excluded.quiet_since,"
		" incidents = subscription_trust.incidents + excluded.incidents,"
		" executions = subscription_trust.executions + excluded.executions,"
		" updated_at = now()", 5, p);
	bool ok = q_ok(t, r, "store trust");
	PQclear(r);
	return ok ? 0 : -EIO;
}

/* Score the events of one subscription: rows [from, to) of the inbox result. */
static int score_one(struct trust *t, PGresult *in, int from, int to)
{
	const char *id = PQgetvalue(in, from, 1);
	struct guard_trust g;
	int64_t incidents = 0, executions = 0;
	int rc = load(t, id, &g);
	if (rc == -ENOENT)
		return 0; /* FK makes this impossible; nothing to score */
	if (rc != 0)
		return rc;
	for (int i = from; i < to; i++) {
		enum guard_trust_event ev;
		if (cp_trust_event_parse(PQgetvalue(in, i, 2), &ev) != 0) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "inbox event '%s' unknown: ignored",
				  PQgetvalue(in, i, 2));
			continue;
		}
		int64_t at = strtoll(PQgetvalue(in, i, 3), NULL, 10) + t->offset_us;
		guard_trust_apply(&g, ev, us_to_ns(at));
		incidents += guard_trust_delta(ev) < 0;
		executions += ev == GUARD_TRUST_SUCCESS;
	}
	rc = store(t, id, &g, incidents, executions);
	if (rc == 0)
		rc = enforce(t, id, &g, false) < 0 ? -EIO : 0;
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
	if (!exec1(t, "BEGIN"))
		return -EIO;
	PGresult *in = cp_pg_exec(&t->pg,
		/* The oldest rows (primary key order), then grouped per subscription. */
		"SELECT id, subscription_id, event, (extract(epoch FROM received_at) * 1000000)::bigint"
		" FROM (SELECT * FROM trust_inbox ORDER BY id LIMIT " INBOX_BATCH
		" FOR UPDATE SKIP LOCKED) q ORDER BY subscription_id, id", 0, NULL);
	char *ids = NULL;
	int n = -EIO;
	if (!q_ok(t, in, "read inbox"))
		goto fail;
	n = PQntuples(in);
	for (int i = 0; i < n;) {
		int j = i + 1;
		while (j < n && strcmp(PQgetvalue(in, j, 1), PQgetvalue(in, i, 1)) == 0)
			j++;
		if (score_one(t, in, i, j) != 0)
			goto fail;
		i = j;
	}
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
	PQclear(in);
	return exec1(t, "COMMIT") ? n : -EIO;
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
	/* Only rows a tick can change: a full quiet period has passed (a credit is due), a
	 * paused subscription already has a recovered score, or a low score could not pause
	 * its subscription earlier (it was LOCKED_NO_FUNDS or SUSPENDED_ADMIN then) and now can. */
	char off[32], period[32], rec[16], max[16], below[16];
	snprintf(off, sizeof(off), "%" PRId64, t->offset_us);
	snprintf(period, sizeof(period), "%" PRId64, ns_to_us(GUARD_TRUST_RECOVERY_PERIOD_NS));
	snprintf(rec, sizeof(rec), "%d", GUARD_TRUST_RECOVERED_AT);
	snprintf(max, sizeof(max), "%d", GUARD_TRUST_MAX);
	snprintf(below, sizeof(below), "%d", GUARD_TRUST_PAUSE_BELOW);
	const char *p[5] = {off, period, rec, max, below};
	PGresult *r = cp_pg_exec(&t->pg, "SELECT s.id FROM subscriptions s LEFT JOIN"
				 " subscription_trust x ON x.subscription_id = s.id"
				 " WHERE s.state <> 'CANCELLED' AND ((s.trust_score < $4::int AND"
				 " coalesce(x.quiet_since, s.created_at) <= now() + ($1::bigint -"
				 " $2::bigint) * interval '1 microsecond') OR (s.state = 'PAUSED_TOXIC'"
				 " AND s.trust_score >= $3::int) OR (s.trust_score < $5::int AND"
				 " subscription_transition_allowed(s.state, 'PAUSED_TOXIC')))"
				 " ORDER BY s.id", 5, p);
	if (!q_ok(t, r, "tick: list")) {
		PQclear(r);
		return -EIO;
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *id = PQgetvalue(r, i, 0);
		struct guard_trust g;
		if (!exec1(t, "BEGIN")) {
			rc = -EIO;
			break;
		}
		rc = load(t, id, &g);
		if (rc == 0) {
			int before = g.score;
			int64_t q = g.quiet_since_ns;
			guard_trust_tick(&g, us_to_ns(wall_us() + t->offset_us));
			if (g.score != before)
				atomic_fetch_add(&t->counters.recovery_credits, 1);
			if (g.score != before || g.quiet_since_ns != q)
				rc = store(t, id, &g, 0, 0);
			if (rc == 0)
				rc = enforce(t, id, &g, true) < 0 ? -EIO : 0;
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
