/* cp_fanout_db: the db thread (subscription-state poll; reports and delivery runs into
 * PostgreSQL through common/cp_report). Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"

/* ---------------------------------------------------------------- db thread -- */

/* Store one batch taken from report_q in one transaction (common/cp_report), then free
 * it. PostgreSQL down or the batch failed: the reports are counted dropped (delivery
 * runs are not reports and are not counted). */
static void db_store(struct cp_fanout *f, struct cp_pg *db, struct report *list)
{
	struct cp_report *v = NULL;
	size_t n = 0, cap = 0, nrep = 0;
	struct cp_report_result res = {0, 0};
	struct report *p, *pn;
	int rc = -ENOMEM;

	for (p = list; p != NULL; p = p->next) {
		if (n == cap) {
			struct cp_report *v2 = realloc(v, (cap ? cap * 2 : 256) * sizeof(*v));

			if (v2 == NULL)
				break;
			v = v2;
			cap = cap ? cap * 2 : 256;
		}
		v[n++] = p->r;
		nrep += p->r.kind != CP_REPORT_DELIVERY;
	}
	if (p == NULL)
		rc = cp_report_store(db, v, n, &res);
	if (rc != 0) {
		for (p = list; p != NULL; p = p->next)
			if (p->r.kind != CP_REPORT_DELIVERY)
				cnt(&f->c_reports_dropped);
	} else {
		for (size_t i = 0; i < nrep; i++)
			cnt(&f->c_reports);
	}
	for (p = list; p != NULL; p = pn) {
		pn = p->next;
		free(p);
	}
	free(v);
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

void *cp_fo_db_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_pg db;
	PGconn *c;
	char since[64] = "";
	struct seen_tab seen = {NULL, 0, 0};
	struct cp_fo_keys_seen keys = {NULL, 0, 0};
	int posted = 0;

	cp_pg_init(&db, &f->cfg, ROLE, NULL);
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct report *list = cp_fo_mq_take_all(&f->report_q,
							(int)f->cfg.fanout_state_poll_ms);
		PGresult *r;
		bool up;

		if (list != NULL)
			db_store(f, &db, list);
		up = cp_pg_ensure(&db) == 0;
		c = db.conn;
		if (!up || PQstatus(c) != CONNECTION_OK) {
			if (up)
				cp_pg_fail(&db, "connection lost", NULL);
			continue;
		}
		if (since[0] == '\0') {
			r = PQexec(c, "SELECT now()::text");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				snprintf(since, sizeof(since), "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
			continue;
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
