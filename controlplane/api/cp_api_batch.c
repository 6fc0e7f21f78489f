/*
 * cp_api_batch: group commit of protection-event POSTs (docs/api.md "Protection events",
 * docs/perf.md "api").
 *
 * Each POST /v1/protection-events used to be its own transaction (protection_logs +
 * trust_inbox + the NOTIFY of the trust_inbox trigger), run synchronously on the api
 * thread: PostgreSQL's commit rate capped the POSTs, and every other request of the
 * worker waited behind each one. Now:
 *
 *   validated POST ──▶ pending ──(nothing in flight)──▶ one statement for all of them,
 *                                                       sent with PQsendQueryPrepared
 *   PG socket readable (lws raw-file watcher) ──▶ result ──▶ a reply per POST ──▶ next
 *
 * While one transaction is in flight the POSTs that arrive wait in `pending`; they go
 * together in the next one (at most BATCH_MAX_REQ requests / BATCH_MAX_EVENTS events). A
 * POST alone is sent at once, so a quiet server adds no delay. The event loop never
 * waits for the database on this path; everything else keeps its synchronous queries on
 * the same session (one per worker) and first waits for the in-flight transaction
 * (api_batch_idle): at most one round trip, the wait they had before behind every POST.
 *
 * Each request keeps its own all-or-nothing checks (unknown subscription 404, another
 * subscriber's 403, event_time_ms out of range 422): the statement computes them per
 * request and inserts only the requests that pass. A transaction that fails as a whole
 * (after validation only a database fault can do that: a timeout, a deadlock, a trigger)
 * stored nothing; its requests are sent again one per transaction, so the fault is
 * answered only to the request that causes it. A lost connection answers every request
 * of the transaction 503.
 *
 * The reply to a POST is sent only after its transaction committed. A client that closed
 * its connection before the commit gets no reply; its events are stored anyway (as they
 * were when the handler ran synchronously).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cp_api_pvt.h"
#include "cp_log.h"

#define ROLE "api"
#define BATCH_MAX_REQ 256u      /* requests per transaction */
#define BATCH_MAX_EVENTS 4096u  /* events per transaction (a request may exceed it alone) */

/* One validated POST waiting for its transaction. */
struct api_pend {
	struct api_pend *next;
	struct lws *wsi;          /* NULL once the client closed the connection */
	json_t *events;           /* normalised items (cp_api_routes.c event_check) */
	int64_t who;              /* the caller's subscriber id; 0 = operator */
};

/*
 * Per request k of a transaction ("req" of its events, in order): n events, known (the
 * subscription exists), mine (known and the caller's own), stale (event time out of
 * range). A request is stored only when n = known = mine and stale = 0. An event with a
 * report_id is stored once per (subscriber, report_id), the key the WebSocket path's
 * reports use (subscriber_reports, 0019): the first of a request's events with that key,
 * and only when no earlier transaction stored it (kept); the others are duplicates (a
 * retried POST). prot: kept non-EXECUTE events (stored in protection_logs). Data-modifying
 * CTEs always run to completion; the ON CONFLICT insert waits for a concurrent
 * transaction holding the same key, so a key is kept by one transaction only.
 */
static const char events_sql[] =
	"WITH ev AS (SELECT e.*, CASE WHEN e.event_time_ms IS NULL THEN now()"
	"   ELSE timestamptz 'epoch' + e.event_time_ms * interval '1 millisecond' END AS at"
	"   FROM jsonb_to_recordset($1::jsonb) AS e(k int, req int, who bigint,"
	"   subscription_id bigint, reason text, sequence bigint, latency_ms numeric,"
	"   price_deviation numeric, symbol text, event_time_ms bigint, attribution text,"
	"   report_id bigint)),"
	" j AS (SELECT ev.*, s.id AS sid, s.master_id, s.subscriber_id FROM ev"
	"   LEFT JOIN subscriptions s ON s.id = ev.subscription_id),"
	" chk AS (SELECT req, count(*) AS n, count(sid) AS known,"
	"   count(sid) FILTER (WHERE who IS NULL OR subscriber_id = who) AS mine,"
	"   count(*) FILTER (WHERE at < now() - interval '7 days'"
	"      OR at > now() + interval '5 minutes') AS stale FROM j GROUP BY req),"
	" ok AS (SELECT req FROM chk WHERE n = known AND known = mine AND stale = 0),"
	" first AS (SELECT DISTINCT ON (subscriber_id, report_id) k, subscriber_id, report_id"
	"   FROM j WHERE req IN (SELECT req FROM ok) AND report_id IS NOT NULL"
	"   ORDER BY subscriber_id, report_id, k),"
	" r AS (INSERT INTO subscriber_reports (subscriber_id, report_id)"
	"   SELECT subscriber_id, report_id FROM first ORDER BY subscriber_id, report_id"
	"   ON CONFLICT DO NOTHING RETURNING subscriber_id, report_id),"
	" kept AS (SELECT j.* FROM j WHERE req IN (SELECT req FROM ok) AND (report_id IS NULL"
	"   OR k IN (SELECT f.k FROM first f JOIN r USING (subscriber_id, report_id)))),"
	" p AS (INSERT INTO protection_logs (event_time, master_id, subscriber_id,"
	"   subscription_id, sequence, reason, latency_ms, price_deviation, symbol, attribution)"
	"   SELECT at, master_id, subscriber_id, subscription_id, sequence, reason, latency_ms,"
	"   price_deviation, symbol, attribution FROM kept"
	"   WHERE reason <> 'EXECUTE' ORDER BY k RETURNING 1),"
	" t AS (INSERT INTO trust_inbox (subscription_id, event, sequence, attribution)"
	"   SELECT subscription_id, reason, sequence, attribution FROM kept"
	"   ORDER BY k RETURNING 1)"
	" SELECT req, n, known, mine, stale,"
	"   (SELECT count(*) FROM kept WHERE kept.req = chk.req AND reason <> 'EXECUTE'),"
	"   (SELECT count(*) FROM kept WHERE kept.req = chk.req) FROM chk ORDER BY req";

static void pend_free(struct api_pend *p)
{
	json_decref(p->events);
	free(p);
}

int api_events_defer(struct api_req *r, json_t *events)
{
	struct api_pend *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		json_decref(events);
		api_error(r, 500, "internal", "out of memory");
		return -ENOMEM;
	}
	p->wsi = r->wsi;
	p->events = events;
	p->who = r->admin ? 0 : r->subscriber;
	struct api_batch *b = &r->api->batch;
	if (b->tail != NULL)
		b->tail->next = p;
	else
		b->head = p;
	b->tail = p;
	r->pend = p;
	return 0;
}

void api_batch_detach(struct api_pend *p)
{
	p->wsi = NULL;
}

/* The reply of one request of a committed transaction (the checks in events_sql). */
static void outcome(struct api_req *r, const PGresult *res, int row)
{
	long long n = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	long long known = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	long long mine = strtoll(PQgetvalue(res, row, 3), NULL, 10);
	long long stale = strtoll(PQgetvalue(res, row, 4), NULL, 10);
	long long stored = strtoll(PQgetvalue(res, row, 5), NULL, 10);
	long long kept = strtoll(PQgetvalue(res, row, 6), NULL, 10);
	if (known < n)
		api_error(r, 404, "not_found", "%lld event(s) name an unknown subscription; nothing "
			  "stored", n - known);
	else if (mine < known)
		api_error(r, 403, "forbidden", "%lld event(s) name another subscriber's subscription;"
			  " nothing stored", known - mine);
	else if (stale > 0)
		api_error(r, 422, "invalid_value", "%lld event(s) have event_time_ms outside"
			  " [now - 7 days, now + 5 minutes]; nothing stored", stale);
	else {
		API_STAT_ADD(r->api->sh->st.events_stored, stored);
		API_STAT_ADD(r->api->sh->st.executions_reported, kept - stored);
		api_reply(r, 202, json_pack("{s:I, s:I, s:I, s:I}", "accepted", (json_int_t)n,
					    "stored", (json_int_t)stored, "executions",
					    (json_int_t)(kept - stored), "duplicates",
					    (json_int_t)(n - kept)));
	}
}

/* Answer p (reply built by fill(r, res, row)), then free it. */
static void answer(struct api *a, struct api_pend *p, const PGresult *res, int row)
{
	struct api_req r = {.api = a, .method = API_POST, .path = "/v1/protection-events",
			    .wsi = p->wsi};
	if (row >= 0)
		outcome(&r, res, row);
	else
		api_pg_error(&r, res);
	if (p->wsi != NULL)
		api_finish(a, p->wsi, &r);
	else
		json_decref(r.out);
	pend_free(p);
}

/* Answer every request of list with api_pg_error(res) (res NULL: 503 db_unavailable). */
static void fail_list(struct api *a, struct api_pend *list, const PGresult *res)
{
	while (list != NULL) {
		struct api_pend *next = list->next;
		answer(a, list, res, -1);
		list = next;
	}
}

/* Put list (in order) back at the head of pending, to be sent one per transaction. */
static void requeue_solo(struct api_batch *b, struct api_pend *list, unsigned int n)
{
	struct api_pend *last = list;
	while (last->next != NULL)
		last = last->next;
	last->next = b->head;
	if (b->tail == NULL)
		b->tail = last;
	b->head = list;
	b->solo += n;
}

/* Answer the requests of a committed transaction, one row each (events_sql). */
static void answer_rows(struct api *a, struct api_pend *list, const PGresult *res)
{
	int row = 0;
	for (struct api_pend *p = list, *next; p != NULL; p = next, row++) {
		next = p->next;
		if (row >= PQntuples(res) || strtol(PQgetvalue(res, row, 0), NULL, 10) != row) {
			/* cannot happen (every request has a row); never retried: it committed */
			CP_LOG_RL(CP_LOG_ERR, ROLE, "protection events: no result row %d", row);
			for (; p != NULL; p = next) {
				next = p->next;
				struct api_req r = {.api = a, .method = API_POST, .wsi = p->wsi};
				api_error(&r, 500, "internal", "internal error (logged)");
				if (p->wsi != NULL)
					api_finish(a, p->wsi, &r);
				else
					json_decref(r.out);
				pend_free(p);
			}
			return;
		}
		answer(a, p, res, row);
	}
}

/* The in-flight transaction ended with b->res (NULL: connection lost): answer it. */
static void batch_complete(struct api *a)
{
	struct api_batch *b = &a->batch;
	struct api_pend *list = b->inflight;
	unsigned int n = b->n_inflight;
	PGresult *res = b->res;
	bool lost = a->pg.conn == NULL || PQstatus(a->pg.conn) != CONNECTION_OK;
	b->inflight = NULL;
	b->n_inflight = 0;
	b->res = NULL;
	if (res != NULL && cp_pg_ok(res)) {
		answer_rows(a, list, res);
	} else if (lost) {
		if (a->pg.conn != NULL) {
			CP_LOG_RL(CP_LOG_ERR, ROLE, "postgresql connection lost: %s",
				  PQerrorMessage(a->pg.conn));
			cp_pg_reset(&a->pg);
		}
		fail_list(a, list, NULL);
	} else if (res != NULL && n > 1) {
		/* Nothing was stored: find the request that fails by sending each alone. */
		API_STAT_ADD(a->sh->st.event_commit_splits, 1);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		CP_LOG_RL(CP_LOG_WARN, ROLE, "protection events: a transaction of %u requests "
			  "failed (%s); retrying them one per transaction", n, msg ? msg : "?");
		requeue_solo(b, list, n);
	} else {
		fail_list(a, list, res);
	}
	PQclear(res);
}

/* Read what the in-flight transaction returned, without blocking unless block is true. */
static void batch_collect(struct api *a, bool block)
{
	struct api_batch *b = &a->batch;
	while (b->inflight != NULL) {
		PGconn *c = a->pg.conn;
		if (c == NULL || PQstatus(c) != CONNECTION_OK) {
			batch_complete(a);   /* 503, unless its success was read already */
			return;
		}
		if (!block && PQisBusy(c))
			return;   /* the rest arrives later: the watcher calls us again */
		PGresult *res = PQgetResult(c);
		if (res == NULL)
			batch_complete(a);
		else if (b->res == NULL)
			b->res = res;
		else
			PQclear(res);
	}
}

/* Watch the session's socket (lws polls a dup of it: lws closes what it adopted, libpq
 * closes its own). Returns 0 or -EIO. */
static int batch_watch(struct api *a)
{
	struct api_batch *b = &a->batch;
	if (b->watch != NULL && b->watch_session == a->pg.session)
		return 0;
	if (b->watch != NULL) /* a previous session's: closed by the callback (stale) */
		lws_set_timeout(b->watch, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	b->watch = NULL;
	int fd = fcntl(PQsocket(a->pg.conn), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	lws_sock_file_fd_type d = {.filefd = fd};
	struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
	b->watch = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d, "api", NULL)
		      : NULL;
	if (b->watch == NULL) {
		close(fd);
		return -EIO;
	}
	b->watch_session = a->pg.session;
	return 0;
}

/* The events of the next requests as one document: each item gets k (order), req (its
 * request's index in this transaction) and who (caller, null = operator). Moves the
 * requests from pending to in flight. Returns the text (free it) or NULL. */
static char *batch_take(struct api_batch *b)
{
	json_t *all = json_array();
	unsigned int events = 0, req = 0;
	struct api_pend **tail = &b->inflight;
	while (b->head != NULL && req < BATCH_MAX_REQ &&
	       (req == 0 || (b->solo == 0 &&
			     events + json_array_size(b->head->events) <= BATCH_MAX_EVENTS))) {
		struct api_pend *p = b->head;
		size_t i;
		json_t *e;
		json_array_foreach(p->events, i, e) {
			json_object_set_new(e, "k", json_integer(events++));
			json_object_set_new(e, "req", json_integer(req));
			json_object_set_new(e, "who", p->who ? json_integer(p->who) : json_null());
			json_array_append(all, e);
		}
		b->head = p->next;
		if (b->head == NULL)
			b->tail = NULL;
		p->next = NULL;
		*tail = p;
		tail = &p->next;
		req++;
		if (b->solo > 0) {
			b->solo--;
			break;
		}
	}
	b->n_inflight = req;
	char *doc = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	return doc;
}

/* Send the pending requests as one transaction (nothing may be in flight). */
static void batch_send(struct api *a)
{
	struct api_batch *b = &a->batch;
	char name[16];
	if (cp_pg_ensure(&a->pg) != 0) {
		struct api_pend *list = b->head;
		b->head = b->tail = NULL;
		b->solo = 0;
		fail_list(a, list, NULL);
		return;
	}
	PGresult *prep = cp_pg_prepare(&a->pg, API_STMT_EVENTS, events_sql, 1);
	if (prep != NULL || a->pg.conn == NULL || batch_watch(a) != 0) {
		struct api_pend *list = b->head;  /* a statement that cannot be prepared fails all */
		b->head = b->tail = NULL;
		b->solo = 0;
		fail_list(a, list, prep);
		PQclear(prep);
		return;
	}
	char *doc = batch_take(b);
	const char *params[1] = {doc};
	API_STAT_ADD(a->sh->st.event_commits, 1);
	API_STAT_ADD(a->sh->st.event_commit_requests, b->n_inflight);
	if (doc == NULL || !PQsendQueryPrepared(a->pg.conn, cp_pg_stmt_name(API_STMT_EVENTS, name),
						1, params, NULL, NULL, 0)) {
		if (doc != NULL)
			CP_LOG_RL(CP_LOG_ERR, ROLE, "postgresql: cannot send: %s",
				  PQerrorMessage(a->pg.conn));
		cp_pg_reset(&a->pg);   /* a send fails only on a broken connection */
		batch_collect(a, false);
	}
	free(doc);
}

void api_batch_kick(struct api *a)
{
	struct api_batch *b = &a->batch;
	batch_collect(a, false);
	while (b->inflight == NULL && b->head != NULL)
		batch_send(a);
}

void api_batch_idle(struct api *a)
{
	batch_collect(a, true);
}

int api_batch_readable(struct api *a, struct lws *wsi)
{
	if (wsi != a->batch.watch)
		return -1;   /* a watcher of a previous session: close it */
	/* Reads the in-flight transaction's result, or (none in flight) notifications for
	 * the token cache, or sees the server close the session. */
	if (a->pg.conn != NULL)
		PQconsumeInput(a->pg.conn);
	api_batch_kick(a);
	if (a->pg.conn == NULL || PQstatus(a->pg.conn) != CONNECTION_OK ||
	    a->batch.watch_session != a->pg.session) {
		a->batch.watch = NULL;
		return -1;   /* that session is gone: stop polling its socket (the next
			      * request reconnects, the next transaction watches again) */
	}
	return 0;
}

void api_batch_closed(struct api *a, struct lws *wsi)
{
	if (wsi == a->batch.watch)
		a->batch.watch = NULL;
}

void api_batch_free(struct api *a)
{
	struct api_batch *b = &a->batch;
	for (struct api_pend *lists[2] = {b->inflight, b->head}, **l = lists; l < lists + 2; l++)
		while (*l != NULL) {
			struct api_pend *next = (*l)->next;
			pend_free(*l);
			*l = next;
		}
	PQclear(b->res);
	memset(b, 0, sizeof(*b));
}
