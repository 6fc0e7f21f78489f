/* cp_fanout_db: the db thread (subscription-state poll, reports into PostgreSQL).
 * Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"
#include "guard_types.h"

/* ---------------------------------------------------------------- db thread -- */

/* The stored reason of a subscriber's protection event: guard's own name for its reason
 * code (one table, guard_check.c); anything guard does not name is UNSPECIFIED (the column
 * accepts only upper-case names). */
static const char *reason_name(int r)
{
	const char *n = r > 0 ? guard_reason_name((enum guard_reason)r) : "?";
	return n[0] == '?' ? "UNSPECIFIED" : n;
}

/* Execution reports only move last_sequence_id forward: one UPDATE per subscription and
 * batch (its highest sequence), not one per report. Each one is also an EXECUTE event in
 * trust_inbox (sql 0006), scored by the trust role exactly as through the API. */
struct exec_max {
	uint64_t sub_id, subscriber, master, seq;
	uint32_t n;
};

static int exec_cmp(const void *a, const void *b)
{
	const struct exec_max *x = a, *y = b;
	return x->sub_id < y->sub_id ? -1 : x->sub_id > y->sub_id;
}

static void db_store_exec(struct cp_fanout *f, PGconn *c, struct report *list)
{
	struct exec_max *em = NULL;
	size_t n = 0, cap = 0;

	for (struct report *p = list; p != NULL; p = p->next) {
		size_t i;

		if (!p->exec)
			continue;
		for (i = 0; i < n && em[i].sub_id != p->sub_id; i++)
			;
		if (i == n) {
			if (n == cap) {
				struct exec_max *e2 = realloc(em, (cap ? cap * 2 : 64) * sizeof(*em));

				if (e2 == NULL) {
					cnt(&f->c_reports_dropped);
					continue;
				}
				em = e2;
				cap = cap ? cap * 2 : 64;
			}
			em[n++] = (struct exec_max){p->sub_id, p->subscriber, p->master, 0, 0};
		}
		if (p->seq > em[i].seq)
			em[i].seq = p->seq;
		em[i].n++;
	}
	/* Row locks in ascending subscription id, the order the trust role takes them in:
	 * the two never deadlock. */
	if (n > 1)
		qsort(em, n, sizeof(*em), exec_cmp);
	for (size_t i = 0; i < n; i++) {
		char v[5][24];
		const char *vals[5] = {v[0], v[1], v[2], v[3], v[4]};
		PGresult *r;

		snprintf(v[0], 24, "%" PRIu64, em[i].subscriber);
		snprintf(v[1], 24, "%" PRIu64, em[i].sub_id);
		snprintf(v[2], 24, "%" PRIu64, em[i].master);
		snprintf(v[3], 24, "%" PRIu64, em[i].seq);
		snprintf(v[4], 24, "%" PRIu32, em[i].n);
		r = PQexecParams(c,
				 "WITH u AS (UPDATE subscriptions SET last_sequence_id = $4::bigint "
				 "WHERE id = $2::bigint AND subscriber_id = $1::bigint "
				 "AND master_id = $3::bigint AND last_sequence_id < $4::bigint) "
				 "INSERT INTO trust_inbox (subscription_id, event) "
				 "SELECT s.id, 'EXECUTE' FROM subscriptions s, generate_series(1, $5::int) "
				 "WHERE s.id = $2::bigint AND s.subscriber_id = $1::bigint "
				 "AND s.master_id = $3::bigint",
				 5, NULL, vals, NULL, NULL, 0);
		for (uint32_t k = 0; k < em[i].n; k++)
			cnt(PQresultStatus(r) == PGRES_COMMAND_OK ? &f->c_reports : &f->c_reports_dropped);
		PQclear(r);
	}
	free(em);
}

static void db_store(struct cp_fanout *f, PGconn *c, struct report *list)
{
	PGresult *r = PQexec(c, "BEGIN");

	PQclear(r);
	db_store_exec(f, c, list);
	for (struct report *p = list; p != NULL; p = p->next) {
		char v[8][32];
		const char *vals[10];

		snprintf(v[0], 32, "%" PRIu64, p->subscriber);
		snprintf(v[1], 32, "%" PRIu64, p->sub_id);
		snprintf(v[2], 32, "%" PRIu64, p->master);
		snprintf(v[3], 32, "%" PRIu64, p->seq);
		snprintf(v[4], 32, "%" PRId64, p->time_ns > 0 ? p->time_ns : now_ns());
		snprintf(v[5], 32, "%" PRId64, p->age_ns);
		snprintf(v[6], 32, "%" PRId64, p->dev_x100);
		for (int i = 0; i < 7; i++)
			vals[i] = v[i];
		vals[7] = reason_name(p->reason);
		vals[8] = p->detail;
		vals[9] = guard_attribution_name((enum guard_attribution)p->attribution);
		if (p->exec)
			continue;
		/* Stored and scored as through the API: the event and its trust_inbox row in
		 * one statement. */
		r = PQexecParams(c,
			 "WITH p AS (INSERT INTO protection_logs (event_time, master_id, "
			 "subscriber_id, subscription_id, sequence, reason, latency_ms, "
			 "price_deviation, details, attribution) "
			 "VALUES (to_timestamp($5::bigint / 1e9), $3::bigint, $1::bigint, "
			 "$2::bigint, $4::bigint, $8, $6::bigint / 1e6, $7::bigint / 100.0, "
			 "jsonb_build_object('detail', $9::text, 'source', 'subscriber'), $10) "
			 "RETURNING subscription_id, reason, sequence, attribution) "
			 "INSERT INTO trust_inbox (subscription_id, event, sequence, attribution) "
			 "SELECT subscription_id, reason, sequence, attribution FROM p "
			 "WHERE subscription_id IS NOT NULL",
			 10, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			cnt(&f->c_reports);
		else
			cnt(&f->c_reports_dropped);
		PQclear(r);
	}
	r = PQexec(c, "COMMIT");
	PQclear(r);
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

/* Posts the tokens invalid since `since` (updated to the server's now()); false on error. */
static bool db_revocations(struct cp_fanout *f, PGconn *c, char *since, size_t cap)
{
	const char *vals[1] = {since};
	PGresult *r = PQexecParams(c,
		"WITH w AS (SELECT $1::timestamptz - interval '60 seconds' AS t) "
		"SELECT tk.id, (SELECT now()::text) FROM subscriber_tokens tk "
		"JOIN subscribers s ON s.id = tk.subscriber_id, w "
		"WHERE tk.revoked_at > w.t OR s.disabled_at > w.t "
		"OR (tk.expires_at > w.t AND tk.expires_at <= now()) "
		"UNION ALL SELECT 0, now()::text",
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
			continue;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL)
			continue;
		e->revoked_token = id;
		cp_fo_mq_push(&f->state_q, e);
		posted++;
	}
	PQclear(r);
	if (posted > 0)
		lws_cancel_service(f->ctx);
	return true;
}

void *cp_fo_db_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_pg db;
	PGconn *c;
	char since[64] = "";
	struct seen_tab seen = {NULL, 0, 0};
	struct cp_fo_keys_seen keys = {NULL, 0, 0};
	int posted = 0;
	char rsince[64] = "";
	int64_t rsweep = 0;
	uint64_t rsession = 0;

	cp_pg_init(&db, &f->cfg, ROLE, "LISTEN decp_subauth");
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct report *list = cp_fo_mq_take_all(&f->report_q,
							(int)f->cfg.fanout_state_poll_ms), *p, *pn;
		PGresult *r;
		bool up = cp_pg_ensure(&db) == 0;

		c = db.conn;
		if (list != NULL && up)
			db_store(f, c, list);
		else if (list != NULL)
			for (p = list; p != NULL; p = p->next)
				cnt(&f->c_reports_dropped);
		for (p = list; p != NULL; p = pn) {
			pn = p->next;
			free(p);
		}
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
			rsession = db.session;
			rsweep = mono_ns();
			continue;
		}
		/* a new session may have missed NOTIFYs: look once at once */
		if (db_notified(c) || db.session != rsession || mono_ns() - rsweep >= REVOKE_SWEEP_NS) {
			if (db_revocations(f, c, rsince, sizeof(rsince))) {
				rsession = db.session;
				rsweep = mono_ns();
			}
		}
		{
			const char *vals[1] = {since};

			/* overlap of 2 s: a transaction committing late with an older updated_at
			 * is still seen; repeated rows are no-ops on the lws thread */
			r = PQexecParams(c,
					 "SELECT id, master_id, subscriber_id, state, "
					 "(SELECT now()::text) FROM subscriptions "
					 "WHERE updated_at > $1::timestamptz - interval '2 seconds' "
					 "UNION ALL SELECT 0, 0, 0, '', now()::text",
					 1, NULL, vals, NULL, NULL, 0);
		}
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			int n = PQntuples(r);

			for (int i = 0; i < n; i++) {
				struct state_ev *e;

				if (strcmp(PQgetvalue(r, i, 0), "0") == 0) {
					snprintf(since, sizeof(since), "%s", PQgetvalue(r, i, 4));
					continue;
				}
				if (!seen_changed(&seen, strtoull(PQgetvalue(r, i, 0), NULL, 10),
						  cp_fo_state_parse(PQgetvalue(r, i, 3))))
					continue;
				e = calloc(1, sizeof(*e));
				if (e == NULL)
					continue;
				posted++;
				e->sub_id = strtoull(PQgetvalue(r, i, 0), NULL, 10);
				e->master = strtoull(PQgetvalue(r, i, 1), NULL, 10);
				e->subscriber = strtoull(PQgetvalue(r, i, 2), NULL, 10);
				e->state = cp_fo_state_parse(PQgetvalue(r, i, 3));
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
	free(seen.s);
	cp_pg_close(&db);
	return NULL;
}
