/* cp_fanout_db: the db thread (subscription-state poll; reports and delivery runs into
 * PostgreSQL through common/cp_report). Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"

#include "cp_buf.h"
#include "cp_policy_msg.h"

/* ---------------------------------------------------------------- db thread -- */

/*
 * Reports (and delivery runs) are made durable before they are acknowledged: XADD to the
 * reports stream (fanout_reports_redis; the archiver stores them in PostgreSQL, exactly
 * once per report id) or, for decp-fanout alone, stored in PostgreSQL at once (common/
 * cp_report). Until that succeeds they wait here (Redis or PostgreSQL down: nothing is
 * lost while there is room); then each report with a report_id is acknowledged to its
 * session (ReportAck through ack_q).
 *
 * Runs and reports wait apart, each with its own bound: beyond REPORT_QUEUE_MAX waiting
 * reports the oldest report is dropped, counted, unacknowledged (its EA resends it);
 * beyond DELIV_QUEUE_MAX waiting runs the oldest run (counted deliveries_dropped). In one
 * queue, one subscriber reporting fast while Redis was down pushed every other
 * subscriber's runs out, and their true platform claims were then refuted for want of a
 * record (test fanout_trust_flood). A report is queued after the runs it names (the lws
 * thread pushes them to deliv_q first), so the db thread takes report_q before deliv_q
 * and writes every waiting run ahead of the reports: a run is never durable after a
 * report that names it.
 */
#define FLUSH_MAX 4096u

struct pending {
	struct report *head, *tail;
	size_t n;
};

static void pending_add(struct pending *p, struct report *list, size_t max,
			atomic_uint_fast64_t *dropped)
{
	while (list != NULL) {
		struct report *r = list;

		list = r->next;
		r->next = NULL;
		if (p->tail != NULL)
			p->tail->next = r;
		else
			p->head = r;
		p->tail = r;
		p->n++;
	}
	while (p->n > max) {
		struct report *r = p->head;

		p->head = r->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->n--;
		cnt(dropped);
		free(r);
	}
}

/* What waits: runs and reports (the order matters, above). */
struct waiting {
	struct pending runs, reps;
};

static void waiting_take(struct cp_fanout *f, struct waiting *w, int wait_ms)
{
	struct report *reps = cp_fo_mq_take_all(&f->report_q, wait_ms);

	pending_add(&w->reps, reps, REPORT_QUEUE_MAX, &f->c_reports_dropped);
	pending_add(&w->runs, cp_fo_mq_take_all(&f->deliv_q, 0), DELIV_QUEUE_MAX,
		    &f->c_deliv_dropped);
}

/* XADD v[0..n) in one pipeline. 0 or -EIO (connection reset: retried later; entries
 * already added come again, which the archiver's report-id check makes harmless). */
static int flush_redis(struct cp_redis *rd, struct report *const *v, size_t n)
{
	char text[CP_REPORT_TEXT_MAX];
	int rc = 0;

	redisContext *c = cp_redis_ready_at(rd, CP_REDIS_REPORTS_KEY);
	if (c == NULL)
		return -EIO;   /* down (on a cluster: the reports' primary) */
	for (size_t i = 0; i < n; i++) {
		const char *argv[7] = {"XADD", CP_REDIS_REPORTS_KEY, "*", "r", text, "d",
				       v[i]->r.detail};
		size_t lens[7];
		int len = cp_report_encode(&v[i]->r, text, sizeof(text));

		if (len < 0)
			return -EIO; /* cannot happen: CP_REPORT_TEXT_MAX fits every report */
		for (int k = 0; k < 7; k++)
			lens[k] = strlen(argv[k]);
		redisAppendCommandArgv(c, 7, argv, lens);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *rep = NULL;

		if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) {
			cp_redis_fail_key(rd, CP_REDIS_REPORTS_KEY, "XADD reports");
			return -EIO;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			CP_LOG_RL(CP_LOG_ERR, ROLE, "XADD %s: %s", CP_REDIS_REPORTS_KEY, rep->str);
			rc = -EIO;
		}
		freeReplyObject(rep);
	}
	return rc;
}

/* Make up to FLUSH_MAX waiting runs and reports durable, runs first; acknowledge and free
 * them. Returns true when some were flushed (more may wait). */
static bool flush_some(struct cp_fanout *f, struct cp_pg *db, struct cp_redis *rd,
		       struct waiting *w)
{
	struct report *v[FLUSH_MAX];
	struct cp_report *flat = NULL;
	struct cp_report_result res;
	size_t n = 0, nruns, acks = 0;
	struct report *r;
	int rc;

	for (r = w->runs.head; r != NULL && n < FLUSH_MAX; r = r->next)
		v[n++] = r;
	nruns = n;
	for (r = w->reps.head; r != NULL && n < FLUSH_MAX; r = r->next)
		v[n++] = r;
	if (n == 0)
		return false;
	if (f->cfg.fanout_reports_redis) {
		rc = flush_redis(rd, v, n);
	} else {
		flat = malloc(n * sizeof(*flat));
		if (flat == NULL)
			return false;
		for (size_t i = 0; i < n; i++)
			flat[i] = v[i]->r;
		cp_report_resolve(rd, flat, n);
		rc = cp_report_store(db, flat, n, &res);
		free(flat);
	}
	if (rc != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct pending *p = i < nruns ? &w->runs : &w->reps;

		r = v[i];
		p->head = r->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->n--;
		if (r->r.kind != CP_REPORT_DELIVERY)
			cnt(&f->c_reports);
		if (r->r.kind != CP_REPORT_DELIVERY && r->r.report_id != 0) {
			struct report_ack *a = calloc(1, sizeof(*a));

			if (a != NULL) {
				a->sess = r->sess;
				a->report_id = r->r.report_id;
				cp_fo_mq_push(&f->ack_q, a);
				acks++;
			}
		}
		free(r);
	}
	if (acks > 0)
		lws_cancel_service(f->ctx);
	return true;
}

/* Last state seen per subscription id (db thread only): only changes are posted to the
 * lws thread, although the poll re-reads every row touched in its 2 s overlap window. */
struct seen_tab {
	struct seen {
		uint64_t id;
		int state;
	} *s;
	size_t cap, n;
};

/* Returns true when (id, state) is new or changed, and records it. */
static bool seen_changed(struct seen_tab *t, uint64_t id, int state)
{
	size_t i;

	if (t->n * 2 >= t->cap) {
		struct seen_tab g = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(struct seen)),
				     t->cap ? t->cap * 2 : 1024, 0};

		if (g.s == NULL)
			return true;
		for (size_t k = 0; k < t->cap; k++)
			if (t->s[k].id != 0)
				seen_changed(&g, t->s[k].id, t->s[k].state);
		free(t->s);
		*t = g;
	}
	for (i = id % t->cap; t->s[i].id != 0 && t->s[i].id != id; i = (i + 1) % t->cap)
		;
	if (t->s[i].id == id && t->s[i].state == state)
		return false;
	if (t->s[i].id == 0)
		t->n++;
	t->s[i].id = id;
	t->s[i].state = state;
	return true;
}

/*
 * Revocation (docs/fanout.md "Revocation"): sql 0006's statement trigger NOTIFYs
 * decp_subauth whenever subscriber_tokens or subscribers change; the db thread LISTENs on
 * its session and, when told (or every REVOKE_SWEEP_NS, for tokens that simply expire, and
 * after a reconnect), posts every token that stopped being valid since its last look
 * (60 s overlap: a revoking transaction whose now() is older than its commit is still
 * seen; repeats are no-ops) to the lws thread, which closes the sessions authenticated
 * with it. The poll wait (fanout_state_poll_ms, 500 ms) bounds the delay.
 */
#define REVOKE_SWEEP_NS (30 * 1000000000LL)

static bool db_notified(PGconn *c)
{
	PGnotify *n;
	bool any = false;

	if (PQconsumeInput(c) == 0)
		return false;
	while ((n = PQnotifies(c)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

/* Posts the tokens invalid since `since` (updated to the server's now()); *next_ns: the
 * time until the next valid token expires (REVOKE_SWEEP_NS at most), when the next look is
 * due: a session of an expiring token is closed within a poll of its expiry, not up to
 * REVOKE_SWEEP_NS later. false on error. */
static bool db_revocations(struct cp_fanout *f, PGconn *c, char *since, size_t cap,
			   int64_t *next_ns)
{
	const char *vals[1] = {since};
	PGresult *r = PQexecParams(c,
		"WITH w AS (SELECT $1::timestamptz - interval '60 seconds' AS t) "
		"SELECT tk.id, (SELECT now()::text), tk.subscriber_id, NULL::bigint "
		"FROM subscriber_tokens tk "
		"JOIN subscribers s ON s.id = tk.subscriber_id, w "
		"WHERE tk.revoked_at > w.t OR s.disabled_at > w.t "
		"OR (tk.expires_at > w.t AND tk.expires_at <= now()) "
		"UNION ALL SELECT 0, now()::text, 0, (SELECT (extract(epoch FROM min(t.expires_at)"
		" - now()) * 1e9)::bigint FROM subscriber_tokens t WHERE t.revoked_at IS NULL"
		" AND t.expires_at > now() AND t.expires_at < now() + interval '30 seconds')",
		1, NULL, vals, NULL, NULL, 0);
	int posted = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return false;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		uint64_t id = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		struct state_ev *e;

		if (id == 0) {
			snprintf(since, cap, "%s", PQgetvalue(r, i, 1));
			*next_ns = PQgetisnull(r, i, 3) ? REVOKE_SWEEP_NS
				   : strtoll(PQgetvalue(r, i, 3), NULL, 10);
			continue;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL)
			continue;
		e->revoked_token = id;
		e->subscriber = strtoull(PQgetvalue(r, i, 2), NULL, 10);
		cp_fo_mq_push(&f->state_q, e);
		posted++;
	}
	PQclear(r);
	if (posted > 0)
		lws_cancel_service(f->ctx);
	return true;
}

/* ------------------------------------------------- the authentication cache's lists -- */

void cp_fo_auth_rows_free(struct cp_fo_auth_sub *subs, size_t n)
{
	for (size_t i = 0; subs != NULL && i < n; i++)
		cp_fmsg_unref(subs[i].policy);
	free(subs);
}

/* Row i of a CP_POLICY_SELECT result as a cache row (its policy message built; NULL
 * when it cannot be: logged, the subscription still listed). */
static void auth_row_of(PGresult *r, int i, struct cp_fo_auth_sub *out)
{
	struct cp_policy_row pr;

	memset(out, 0, sizeof(*out));
	out->id = strtoull(PQgetvalue(r, i, CP_POLICY_COL_ID), NULL, 10);
	out->master = strtoull(PQgetvalue(r, i, CP_POLICY_COL_MASTER), NULL, 10);
	out->subscriber = strtoull(PQgetvalue(r, i, CP_POLICY_COL_SUBSCRIBER), NULL, 10);
	out->state = cp_fo_state_parse(PQgetvalue(r, i, CP_POLICY_COL_STATE));
	out->policy = cp_policy_fmsg_of(r, i, &pr);
	if (out->policy != NULL)
		out->policy_version = pr.version;
	else
		CP_LOG_RL(CP_LOG_WARN, ROLE, "subscription %" PRIu64 ": copy policy not built (%s)",
			  out->id, strerror(errno));
}

int cp_fo_auth_read(struct cp_fanout *f, PGconn *c, struct cp_fo_auth_tok **toks,
		    size_t *ntoks, struct cp_fo_auth_sub **subs, size_t *nsubs)
{
	PGresult *r;
	int n;

	(void)f;
	if (toks != NULL) {
		*toks = NULL;
		*ntoks = 0;
		/* the expiry clamped to int64 (a non-finite one, refused since sql 0027, reads
		 * as the far future): one failed cast would fail the whole list, every
		 * subscriber's new tokens refused and a restarted fan-out never ready */
		r = PQexec(c, "SELECT encode(t.token_sha256, 'hex'), t.id, t.subscriber_id,"
			   " coalesce(least(extract(epoch FROM t.expires_at) * 1000000,"
			   " 9223372036854775807)::bigint, 0)"
			   " FROM subscriber_tokens t JOIN subscribers s ON s.id = t.subscriber_id"
			   " WHERE t.revoked_at IS NULL AND s.disabled_at IS NULL"
			   " AND (t.expires_at IS NULL OR t.expires_at > now())");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "token list not read: %s",
				  PQresultErrorMessage(r));
			PQclear(r);
			return -1;
		}
		n = PQntuples(r);
		*toks = calloc((size_t)n + 1, sizeof(**toks));
		for (int i = 0; *toks != NULL && i < n; i++) {
			struct cp_fo_auth_tok *t = &(*toks)[*ntoks];

			if (cp_hex_decode(PQgetvalue(r, i, 0), t->hash, sizeof(t->hash)) != 0)
				continue;
			t->token_id = strtoull(PQgetvalue(r, i, 1), NULL, 10);
			t->subscriber = strtoull(PQgetvalue(r, i, 2), NULL, 10);
			t->expires_us = strtoll(PQgetvalue(r, i, 3), NULL, 10);
			(*ntoks)++;
		}
		PQclear(r);
		if (*toks == NULL)
			return -1;
	}
	if (subs != NULL) {
		*subs = NULL;
		*nsubs = 0;
		r = PQexec(c, CP_POLICY_SELECT "WHERE s.state <> 'CANCELLED'");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "subscription list not read: %s",
				  PQresultErrorMessage(r));
			PQclear(r);
			if (toks != NULL) {
				free(*toks);
				*toks = NULL;
			}
			return -1;
		}
		n = PQntuples(r);
		*subs = calloc((size_t)n + 1, sizeof(**subs));
		for (int i = 0; *subs != NULL && i < n; i++)
			auth_row_of(r, i, &(*subs)[(*nsubs)++]);
		PQclear(r);
		if (*subs == NULL) {
			if (toks != NULL) {
				free(*toks);
				*toks = NULL;
			}
			return -1;
		}
	}
	return 0;
}

/* Reads the lists (tokens always, subscriptions when `subs`) and posts them to the lws
 * thread. false on error (nothing posted). */
static bool db_auth_post(struct cp_fanout *f, PGconn *c, bool subs)
{
	struct state_ev *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return false;
	if (cp_fo_auth_read(f, c, &e->toks, &e->ntoks, subs ? &e->subs : NULL,
			    subs ? &e->nsubs : NULL) != 0) {
		free(e);
		return false;
	}
	cp_fo_mq_push(&f->state_q, e);
	lws_cancel_service(f->ctx);
	return true;
}

/* Re-sync state changes (lws thread's resync_q) through subscription_resync() (sql 0021),
 * in order; what PostgreSQL did not take waits in *pend for the next turn. The StateChange
 * reaches the subscriber through the state poll below (updated_at moved). */
static void resync_write(struct cp_fanout *f, struct cp_pg *db, struct resync_ev **pend)
{
	struct resync_ev *in = cp_fo_mq_take_all(&f->resync_q, 0), **tail = pend;

	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = in;
	while (*pend != NULL && cp_pg_ensure(db) == 0) {
		struct resync_ev *e = *pend;
		char id[24], seq[24];
		const char *vals[3] = {id, e->done ? "true" : "false", seq};
		PGresult *r;

		snprintf(id, sizeof(id), "%" PRIu64, e->sub_id);
		snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
		r = cp_pg_exec(db, "SELECT subscription_resync($1::bigint, $2::boolean, $3::bigint)",
			       3, vals);
		if (r == NULL)
			return; /* connection lost: retried after the backoff */
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			CP_LOG_RL(CP_LOG_WARN, ROLE, "subscription %" PRIu64 ": re-sync state not "
				  "written: %s", e->sub_id, PQresultErrorMessage(r));
		PQclear(r);
		*pend = e->next;
		free(e);
	}
}

void *cp_fo_db_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_pg db;
	struct cp_redis rd;
	struct waiting pend = {{NULL, NULL, 0}, {NULL, NULL, 0}};
	PGconn *c;
	char since[64] = "";
	struct seen_tab seen = {NULL, 0, 0};
	struct cp_fo_keys_seen keys = {NULL, 0, 0};
	int posted = 0;
	char rsince[64] = "";
	int64_t rsweep = 0, rnext = REVOKE_SWEEP_NS, rexpiry = 0;
	uint64_t rsession = 0;
	int64_t next_poll = 0;
	struct resync_ev *resync = NULL;

	cp_pg_init(&db, &f->cfg, ROLE, "LISTEN decp_subauth");
	cp_redis_init(&rd, &f->cfg, ROLE);
	cp_redis_partial(&rd);   /* reports wait only while their own primary is down */
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		/* waiting reports: a short wait, so a recovered sink is used soon */
		PGresult *r;
		bool up;

		waiting_take(f, &pend, pend.runs.n + pend.reps.n > 0 ? 100 :
			     (int)f->cfg.fanout_state_poll_ms);
		while (flush_some(f, &db, &rd, &pend))
			;
		if (resync != NULL || cp_fo_mq_len(&f->resync_q) > 0)
			resync_write(f, &db, &resync);
		if (mono_ns() < next_poll)
			continue; /* the state poll keeps its own period */
		next_poll = mono_ns() + (int64_t)f->cfg.fanout_state_poll_ms * 1000000 / 2;
		up = cp_pg_ensure(&db) == 0;
		c = db.conn;
		if (!up || PQstatus(c) != CONNECTION_OK) {
			if (up)
				cp_pg_fail(&db, "connection lost", NULL);
			continue;
		}
		if (since[0] == '\0') {
			r = PQexec(c, "SELECT now()::text");
			if (PQresultStatus(r) == PGRES_TUPLES_OK) {
				snprintf(since, sizeof(since), "%s", PQgetvalue(r, 0, 0));
				snprintf(rsince, sizeof(rsince), "%s", since);
			}
			PQclear(r);
			/* lists read after `since`: what changed before is in them, what changes
			 * after reaches the poll below */
			if (since[0] != '\0' && !db_auth_post(f, c, true))
				since[0] = '\0';
			rsession = db.session;
			rsweep = mono_ns();
			continue;
		}
		/* a new session may have missed NOTIFYs: look once at once (and re-read every
		 * list the authentication cache holds) */
		bool full = db_notified(c) || db.session != rsession ||
			    mono_ns() - rsweep >= REVOKE_SWEEP_NS;
		/* and a token's expiry, when one is due before the next full look */
		if (full || mono_ns() >= rexpiry) {
			if ((!full || db_auth_post(f, c, db.session != rsession)) &&
			    db_revocations(f, c, rsince, sizeof(rsince), &rnext)) {
				if (full) {
					rsession = db.session;
					rsweep = mono_ns();
				}
				rexpiry = mono_ns() + rnext;
			}
		}
		{
			const char *vals[1] = {since};
			char now[64] = "";

			r = PQexec(c, "SELECT now()::text");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				snprintf(now, sizeof(now), "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
			/* overlap of 2 s: a transaction committing late with an older updated_at
			 * is still seen; repeated rows are no-ops on the lws thread. Each row
			 * carries its CopyPolicy, so a new subscription reaches the cache with
			 * it (an INSERT sends no decp_policy NOTIFY). */
			r = now[0] == '\0' ? NULL
			    : PQexecParams(c, CP_POLICY_SELECT "WHERE s.updated_at > $1::timestamptz"
					   " - interval '2 seconds'", 1, NULL, vals, NULL, NULL, 0);
			if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK)
				snprintf(since, sizeof(since), "%s", now);
		}
		if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
			int n = PQntuples(r);

			for (int i = 0; i < n; i++) {
				struct cp_fo_auth_sub row;
				struct state_ev *e;

				if (!seen_changed(&seen, strtoull(PQgetvalue(r, i, CP_POLICY_COL_ID),
								  NULL, 10),
						  cp_fo_state_parse(PQgetvalue(r, i, CP_POLICY_COL_STATE))))
					continue;
				e = calloc(1, sizeof(*e));
				if (e == NULL)
					continue;
				auth_row_of(r, i, &row);
				posted++;
				e->sub_id = row.id;
				e->master = row.master;
				e->subscriber = row.subscriber;
				e->state = row.state;
				e->policy = row.policy;
				e->policy_version = row.policy_version;
				cp_fo_mq_push(&f->state_q, e);
			}
			if (posted > 0)
				lws_cancel_service(f->ctx);
			posted = 0;
		}
		PQclear(r);
		cp_fo_keys_poll(f, c, &keys);
	}
	cp_fo_keys_seen_free(&keys);
	/* stopping: a last chance for what waits (unacknowledged: the EA resends the rest) */
	waiting_take(f, &pend, 0);
	while (flush_some(f, &db, &rd, &pend))
		;
	for (struct report *p = pend.runs.head, *pn; p != NULL; p = pn) {
		pn = p->next;
		free(p);
	}
	for (struct report *p = pend.reps.head, *pn; p != NULL; p = pn) {
		pn = p->next;
		free(p);
	}
	resync_write(f, &db, &resync); /* a last chance, as for reports */
	for (struct resync_ev *e = resync, *en; e != NULL; e = en) {
		en = e->next;
		free(e);
	}
	free(seen.s);
	cp_redis_close(&rd);
	cp_pg_close(&db);
	return NULL;
}
