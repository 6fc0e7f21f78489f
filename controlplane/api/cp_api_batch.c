/*
 * cp_api_batch: requests answered by asynchronous statements on the api worker's session:
 * the group commit of protection-event POSTs (docs/api.md "Protection events") and the
 * grouped reads of GET /v1/subscriptions/:id (docs/api.md "Grouped reads"; docs/perf.md
 * "api").
 *
 * Each POST /v1/protection-events used to be its own transaction (protection_logs +
 * trust_inbox + the NOTIFY of the trust_inbox trigger), run synchronously on the api
 * thread, and each GET of a subscription its own synchronous round trip: PostgreSQL's
 * commit rate capped the POSTs, and the event loop waited for the database on every
 * request, so the worker's TLS and HTTP work and PostgreSQL's never overlapped. Now:
 *
 *   validated POST / GET ──▶ its kind's queue ──(nothing in flight)──▶ one statement for
 *                                 all of them, sent with PQsendQueryPrepared
 *   PG socket readable (lws raw-file watcher) ──▶ result ──▶ a reply per request ──▶ next
 *
 * While one statement is in flight the requests that arrive wait in their queue; they go
 * together in the next one (at most MAX_REQ requests; a transaction of POSTs at most
 * BATCH_MAX_EVENTS events). When both kinds wait, they take turns. A request alone is
 * sent at once, so a quiet server adds no delay. A statement not yet prepared on the
 * session is prepared asynchronously too (PQsendPrepare, then the statement once it is
 * answered): PREPARE takes the locks of the tables the statement writes, and a PREPARE
 * waiting for a lock another session held stopped the loop for pg_timeout_ms. The event
 * loop never waits for the database on these paths; everything else keeps its
 * synchronous queries on the same sessions (one pair per worker; a lock they wait for
 * holds the loop api_lock_wait_ms at most: cp_pg lock_wait_ms, which these asynchronous
 * statements, sent without cp_pg_exec, do not have), and a request that
 * needs a session with a statement in flight is parked and served again once it is
 * answered (cp_api.c api_park, api_resume), before the next statement is sent.
 *
 * POSTs: each request keeps its own all-or-nothing checks (unknown subscription 404,
 * another subscriber's 403, a cancelled one 409, event_time_ms out of range 422): the
 * statement computes them per request and inserts only the requests that pass, so one
 * refused request costs the others of its transaction nothing. A transaction that fails as a
 * whole (after validation only a database fault can do that: a timeout, a deadlock, a
 * trigger) stored nothing; its requests are sent again one per transaction, so the fault
 * is answered only to the request that causes it. The reply to a POST is sent only after
 * its transaction committed. A client that closed its connection before the commit gets
 * no reply; its events are stored anyway (as they were when the handler ran
 * synchronously).
 *
 * GETs: one row per request, in order (a LEFT JOIN of the ids with their ordinality), so
 * a missing subscription is a row of NULLs (404) and another subscriber's is 403, each
 * request on its own. A failed read answers every GET of it with the failure. The GETs
 * go to a lane of their own (struct api_lane: a session with its queues, its statement
 * in flight and its watcher): the read session, on the replica of pg_read_conninfo, or
 * else a second session of the primary, so that a read never waits behind a POST's
 * transaction. When that session cannot connect, is lost or fails the read, its GETs are
 * moved to the primary's lane and read there (taking turns with the POSTs), as a
 * synchronous GET falls back to the primary.
 *
 * A lost connection answers every request in flight 503.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cp_api_pvt.h"
#include "cp_log.h"

#define ROLE "api"
#define MAX_REQ 256u            /* requests per statement */
#define BATCH_MAX_EVENTS 4096u  /* events per transaction (a request may exceed it alone) */

/* One deferred request waiting for its statement. */
struct api_pend {
	struct api_pend *next;
	struct lws *wsi;          /* NULL once the client closed the connection */
	json_t *events;           /* POST: normalised items (cp_api_routes.c event_check) */
	int64_t who;              /* the caller's subscriber id; 0 = operator */
	int64_t id;               /* GET: the subscription */
};

/*
 * Per request k of a transaction ("req" of its events, in order): n events, known (the
 * subscription exists), mine (known and the caller's own), stale (event time out of
 * range), closed (the subscription is CANCELLED: terminal, it takes no events, and its
 * score would be carried over to the pair's next subscription, sql 0028). A request is
 * stored only when n = known = mine and stale = closed = 0. An event with a
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
	" j AS (SELECT ev.*, s.id AS sid, s.master_id, s.subscriber_id, s.state FROM ev"
	"   LEFT JOIN subscriptions s ON s.id = ev.subscription_id),"
	" chk AS (SELECT req, count(*) AS n, count(sid) AS known,"
	"   count(sid) FILTER (WHERE who IS NULL OR subscriber_id = who) AS mine,"
	"   count(*) FILTER (WHERE at < now() - interval '7 days'"
	"      OR at > now() + interval '5 minutes') AS stale,"
	"   count(sid) FILTER (WHERE state = 'CANCELLED') AS closed FROM j GROUP BY req),"
	" ok AS (SELECT req FROM chk WHERE n = known AND known = mine AND stale = 0"
	"   AND closed = 0),"
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
	"   (SELECT count(*) FROM kept WHERE kept.req = chk.req), closed FROM chk ORDER BY req";

/* One row per GET, in the order of the ids ($1, a bigint[] literal); a row of NULLs for
 * an id with no subscription. */
static const char sub_get_sql[] =
	"SELECT " API_SUB_COLS " FROM unnest($1::bigint[]) WITH ORDINALITY AS q(qid, k)"
	" LEFT JOIN subscriptions s ON s.id = q.qid ORDER BY q.k";

/* What a kind of deferred request is: its statement, how requests go in, what a row says. */
struct kind {
	enum api_stmt stmt;
	const char *sql;
	enum api_method method;
	const char *path;         /* for api_pg_error's log line */
	/* Move the next requests of the kind's queue to in flight (n_inflight); the
	 * parameter text (free it), or NULL when out of memory */
	char *(*take)(struct api_lane *l);
	/* r's reply from its row of a successful result */
	void (*outcome)(struct api_req *r, const struct api_pend *p, const PGresult *res,
			int row);
};

static char *events_take(struct api_lane *l);
static void events_outcome(struct api_req *r, const struct api_pend *p, const PGresult *res,
			   int row);
static char *sub_get_take(struct api_lane *l);
static void sub_get_outcome(struct api_req *r, const struct api_pend *p, const PGresult *res,
			    int row);

enum { K_EVENTS = 0, K_SUB_GET = 1 };
static const struct kind kinds[API_PEND_KINDS] = {
	[K_EVENTS] = {API_STMT_EVENTS, events_sql, API_POST, "/v1/protection-events",
		      events_take, events_outcome},
	[K_SUB_GET] = {API_STMT_SUB_GET, sub_get_sql, API_GET, "/v1/subscriptions/:id",
		       sub_get_take, sub_get_outcome},
};

static void pend_free(struct api_pend *p)
{
	json_decref(p->events);
	free(p);
}

/* The lane that reads r's GETs: the read session's (the replica, or a second session of
 * the primary) when r may read there (api_req.read). */
static struct api_lane *read_lane(const struct api_req *r)
{
	return &r->api->lane[r->read ? API_LANE_READ : API_LANE_PRIMARY];
}

/* Queue a new request of kind k for r on lane l (answered by api_finish). NULL, with r's
 * reply set, when out of memory. */
static struct api_pend *defer(struct api_req *r, struct api_lane *l, unsigned int k)
{
	struct api_pend *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return NULL;
	}
	p->wsi = r->wsi;
	p->who = r->admin ? 0 : r->subscriber;
	struct api_pendq *q = &l->q[k];
	if (q->tail != NULL)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	r->pend = p;
	return p;
}

int api_events_defer(struct api_req *r, json_t *events)
{
	struct api_pend *p = defer(r, &r->api->lane[API_LANE_PRIMARY], K_EVENTS);
	if (p == NULL) {
		json_decref(events);
		return -ENOMEM;
	}
	p->events = events;
	return 0;
}

void api_sub_get(struct api_req *r, int64_t id)
{
	struct api_pend *p = defer(r, read_lane(r), K_SUB_GET);
	if (p != NULL)
		p->id = id;
}

void api_batch_detach(struct api_pend *p)
{
	p->wsi = NULL;
}

/* The reply of one POST of a committed transaction (the checks in events_sql). */
static void events_outcome(struct api_req *r, const struct api_pend *p, const PGresult *res,
			   int row)
{
	(void)p;
	long long n = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	long long known = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	long long mine = strtoll(PQgetvalue(res, row, 3), NULL, 10);
	long long stale = strtoll(PQgetvalue(res, row, 4), NULL, 10);
	long long stored = strtoll(PQgetvalue(res, row, 5), NULL, 10);
	long long kept = strtoll(PQgetvalue(res, row, 6), NULL, 10);
	long long closed = strtoll(PQgetvalue(res, row, 7), NULL, 10);
	if (known < n)
		api_error(r, 404, "not_found", "%lld event(s) name an unknown subscription; nothing "
			  "stored", n - known);
	else if (mine < known)
		api_error(r, 403, "forbidden", "%lld event(s) name another subscriber's subscription;"
			  " nothing stored", known - mine);
	else if (closed > 0) /* after 403: another's subscription's state is not told */
		api_error(r, 409, "cancelled", "%lld event(s) name a cancelled subscription, which "
			  "takes no events; nothing stored", closed);
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

/* The reply of one GET: its row of sub_get_sql. */
static void sub_get_outcome(struct api_req *r, const struct api_pend *p, const PGresult *res,
			    int row)
{
	if (PQgetisnull(res, row, PQfnumber(res, "id")))
		api_error(r, 404, "not_found", "no subscription %" PRId64, p->id);
	else if (p->who != 0 &&
		 strtoll(PQgetvalue(res, row, PQfnumber(res, "subscriber_id")), NULL, 10) !=
		 p->who)
		api_error(r, 403, "forbidden", "not your subscription");
	else
		api_reply(r, 200, api_row(res, row));
}

/* Answer p, a request of kind k: from row of res (row < 0: the failure res, or NULL for
 * 503 db_unavailable; status > 0: that error), then free it. */
static void answer(struct api *a, unsigned int k, struct api_pend *p, const PGresult *res,
		   int row, int status)
{
	struct api_req r = {.api = a, .method = kinds[k].method, .path = kinds[k].path,
			    .wsi = p->wsi};
	if (status > 0)
		api_error(&r, status, "internal", "internal error (logged)");
	else if (row >= 0)
		kinds[k].outcome(&r, p, res, row);
	else
		api_pg_error(&r, res);
	if (p->wsi != NULL)
		api_finish(a, p->wsi, &r);
	else
		json_decref(r.out);
	pend_free(p);
}

/* Answer every request of list (kind k) with api_pg_error(res) (res NULL: 503
 * db_unavailable), or with status when status > 0. */
static void fail_list(struct api *a, unsigned int k, struct api_pend *list,
		      const PGresult *res, int status)
{
	while (list != NULL) {
		struct api_pend *next = list->next;
		answer(a, k, list, res, -1, status);
		list = next;
	}
}

/* Put list (in order, n requests) back at the head of queue q. */
static void push_front(struct api_pendq *q, struct api_pend *list)
{
	struct api_pend *last = list;
	if (list == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	last->next = q->head;
	if (q->tail == NULL)
		q->tail = last;
	q->head = list;
}

/* Lane l's session failed (cannot connect, lost, or its statement failed: a standby
 * may cancel a query that conflicts with recovery): its GETs in flight (list) and
 * waiting go to its fallback lane (the read lane's: the primary's), ahead of the GETs
 * waiting there. */
static void read_fallback(struct api_lane *l, struct api_pend *list, const char *why)
{
	struct api_pendq *to = &l->fallback->q[K_SUB_GET];
	struct api_pendq *from = &l->q[K_SUB_GET];
	CP_LOG_RL(CP_LOG_WARN, ROLE, "read session: %s; GETs of subscriptions read on the"
		  " primary", why);
	if (from->head != NULL) {
		push_front(to, from->head);
		from->head = from->tail = NULL;
	}
	push_front(to, list);
}

/* Answer the requests of a successful statement, one row each, in order (and count
 * them: a statement that failed and was retried counts once). */
static void answer_rows(struct api *a, unsigned int k, struct api_pend *list, unsigned int n,
			const PGresult *res)
{
	if ((unsigned int)PQntuples(res) != n) {
		/* cannot happen (every request has a row); never retried: a POST committed */
		CP_LOG_RL(CP_LOG_ERR, ROLE, "%s: %d result rows for %u requests", kinds[k].path,
			  PQntuples(res), n);
		fail_list(a, k, list, NULL, 500);
		return;
	}
	if (k == K_EVENTS) {
		API_STAT_ADD(a->sh->st.event_commits, 1);
		API_STAT_ADD(a->sh->st.event_commit_requests, n);
	} else {
		API_STAT_ADD(a->sh->st.read_groups, 1);
		API_STAT_ADD(a->sh->st.read_group_requests, n);
	}
	int row = 0;
	for (struct api_pend *p = list, *next; p != NULL; p = next, row++) {
		next = p->next;
		answer(a, k, p, res, row, 0);
	}
}

static void batch_exec(struct api *a, struct api_lane *l);

/* Lane l's in-flight statement ended with l->res (NULL: connection lost): answer it. Or
 * its PREPARE did: prepared, the statement is sent for the same requests. */
static void batch_complete(struct api *a, struct api_lane *l)
{
	bool prep_failed = false;
	if (l->preparing) {
		l->preparing = false;
		if (l->res != NULL && cp_pg_ok(l->res)) {
			PQclear(l->res);
			l->res = NULL;
			l->pg->prepared_mask |= 1u << kinds[l->inflight_kind].stmt;
			batch_exec(a, l);
			return;
		}
		free(l->param);
		l->param = NULL;
		prep_failed = true;
	}
	struct api_pend *list = l->inflight;
	unsigned int n = l->n_inflight, k = l->inflight_kind;
	PGresult *res = l->res;
	bool lost = l->pg->conn == NULL || PQstatus(l->pg->conn) != CONNECTION_OK;
	l->inflight = NULL;
	l->n_inflight = 0;
	l->res = NULL;
	if (prep_failed && !lost && res != NULL) {
		/* a statement that cannot be prepared (a timeout waiting for a lock) fails its
		 * requests, not split: each alone would fail the same way */
		fail_list(a, k, list, res, 0);
	} else if (res != NULL && cp_pg_ok(res)) {
		answer_rows(a, k, list, n, res);
	} else if (l->fallback != NULL) {
		/* reads: the fallback lane answers them */
		const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		read_fallback(l, list, msg ? msg : "connection lost");
		if (lost)
			cp_pg_reset(l->pg);
	} else if (lost) {
		if (l->pg->conn != NULL) {
			CP_LOG_RL(CP_LOG_ERR, ROLE, "postgresql connection lost: %s",
				  PQerrorMessage(l->pg->conn));
			cp_pg_reset(l->pg);
		}
		fail_list(a, k, list, NULL, 0);
	} else if (res != NULL && n > 1 && k == K_EVENTS) {
		/* Nothing was stored: find the request that fails by sending each alone. */
		API_STAT_ADD(a->sh->st.event_commit_splits, 1);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		CP_LOG_RL(CP_LOG_WARN, ROLE, "protection events: a transaction of %u requests "
			  "failed (%s); retrying them one per transaction", n, msg ? msg : "?");
		push_front(&l->q[K_EVENTS], list);
		l->solo += n;
	} else {
		fail_list(a, k, list, res, 0);
	}
	PQclear(res);
}

/* Read what lane l's in-flight statement returned, without blocking. */
static void batch_collect(struct api *a, struct api_lane *l)
{
	while (l->inflight != NULL) {
		PGconn *c = l->pg->conn;
		if (c == NULL || PQstatus(c) != CONNECTION_OK) {
			batch_complete(a, l);   /* 503, unless its success was read already */
			return;
		}
		if (PQisBusy(c))
			return;   /* the rest arrives later: the watcher calls us again */
		PGresult *res = PQgetResult(c);
		if (res == NULL)
			batch_complete(a, l);
		else if (l->res == NULL)
			l->res = res;
		else
			PQclear(res);
	}
}

/* Watch lane l's session socket (lws polls a dup of it: lws closes what it adopted, libpq
 * closes its own). Returns 0 or -EIO. */
static int batch_watch(struct api *a, struct api_lane *l)
{
	if (l->watch != NULL && l->watch_session == l->pg->session)
		return 0;
	if (l->watch != NULL) /* a previous session's: closed by the callback (stale) */
		lws_set_timeout(l->watch, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	l->watch = NULL;
	int fd = fcntl(PQsocket(l->pg->conn), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	lws_sock_file_fd_type d = {.filefd = fd};
	struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
	l->watch = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d, "api", NULL)
		      : NULL;
	if (l->watch == NULL) {
		close(fd);
		return -EIO;
	}
	l->watch_session = l->pg->session;
	return 0;
}

/* Move the head of queue q to the end of the in-flight list (*tail moves on). */
static void take_one(struct api_pendq *q, struct api_pend ***tail)
{
	struct api_pend *p = q->head;
	q->head = p->next;
	if (q->head == NULL)
		q->tail = NULL;
	p->next = NULL;
	**tail = p;
	*tail = &p->next;
}

/* The events of the next POSTs as one document: each item gets k (order), req (its
 * request's index in this transaction) and who (caller, null = operator). */
static char *events_take(struct api_lane *l)
{
	struct api_pendq *q = &l->q[K_EVENTS];
	json_t *all = json_array();
	unsigned int events = 0, req = 0;
	struct api_pend **tail = &l->inflight;
	while (q->head != NULL && req < MAX_REQ &&
	       (req == 0 || (l->solo == 0 &&
			     events + json_array_size(q->head->events) <= BATCH_MAX_EVENTS))) {
		struct api_pend *p = q->head;
		size_t i;
		json_t *e;
		json_array_foreach(p->events, i, e) {
			json_object_set_new(e, "k", json_integer(events++));
			json_object_set_new(e, "req", json_integer(req));
			json_object_set_new(e, "who", p->who ? json_integer(p->who) : json_null());
			json_array_append(all, e);
		}
		take_one(q, &tail);
		req++;
		if (l->solo > 0) {
			l->solo--;
			break;
		}
	}
	l->n_inflight = req;
	char *doc = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	return doc;
}

/* The ids of the next GETs as a bigint[] literal, "{7,3,7}". */
static char *sub_get_take(struct api_lane *l)
{
	struct api_pendq *q = &l->q[K_SUB_GET];
	char *arr = malloc(MAX_REQ * 21 + 3);
	size_t o = 0;
	unsigned int req = 0;
	struct api_pend **tail = &l->inflight;
	if (arr != NULL)
		arr[o++] = '{';
	while (q->head != NULL && req < MAX_REQ) {
		if (arr != NULL)
			o += (size_t)sprintf(arr + o, "%s%" PRId64, req ? "," : "", q->head->id);
		take_one(q, &tail);
		req++;
	}
	if (arr != NULL) {
		arr[o++] = '}';
		arr[o] = '\0';
	}
	l->n_inflight = req;
	return arr;
}

/* Lane l's session cannot be used: its waiting requests are answered (503 with res NULL,
 * else res's failure). (A lane with a fallback never gets here: connect_off_loop hands
 * its GETs over until its session is up and prepared.) */
static void fail_waiting(struct api *a, struct api_lane *l, const PGresult *res)
{
	for (unsigned int k = 0; k < API_PEND_KINDS; k++) {
		struct api_pend *list = l->q[k].head;
		l->q[k].head = l->q[k].tail = NULL;
		fail_list(a, k, list, res, 0);
	}
	l->solo = 0;
}

/* The connector thread of lane l: connect its session (and, for the read lane, prepare
 * the grouped GET) off the worker's loop, then wake the loop for what waited. */
static void *connector_main(void *arg)
{
	struct api_lane *l = arg;
	if (cp_pg_ensure(l->pg) == 0 && l->fallback != NULL) {
		PGresult *prep = cp_pg_prepare(l->pg, kinds[K_SUB_GET].stmt, kinds[K_SUB_GET].sql, 1);
		if (prep != NULL) {   /* try again after the backoff; the fallback reads meanwhile */
			cp_pg_fail(l->pg, "preparing the grouped read", prep);
			PQclear(prep);
		}
	}
	atomic_store(&l->connecting, false);
	lws_cancel_service(l->ctx);   /* EVENT_WAIT_CANCELLED: api_batch_kick */
	return NULL;
}

/* Lane l's session is up (the read lane's with its grouped read prepared); not while a
 * connector owns it. */
static bool lane_up(const struct api_lane *l)
{
	return !atomic_load(&l->connecting) && l->pg->conn != NULL &&
	       PQstatus(l->pg->conn) == CONNECTION_OK &&
	       (l->fallback == NULL || (l->pg->prepared_mask & (1u << kinds[K_SUB_GET].stmt)));
}

/*
 * Whether lane l's session may be used on the loop now. Otherwise a connection is made on
 * a thread (when the backoff allows and none is under way): a host that does not answer
 * (a dead machine, a dropped route) held the worker's loop, and every request on it, for
 * connect_timeout per host at every attempt (docs/api.md "Read replicas", "The primary's
 * session"). The read lane's caller hands its GETs to the fallback meanwhile; with
 * `grace`, the caller waits for an attempt under way until API_PG_GRACE_MS after it began
 * (a reachable server answers well within it, so a reconnect costs no request a 503),
 * and then answers without the session.
 */
static bool connect_off_loop(struct api_lane *l, bool grace)
{
	if (l->inflight != NULL)
		return true;   /* a statement in flight: the session is up */
	if (atomic_load(&l->connecting)) {
		uint64_t now = cp_now_ns(), end = l->connect_ns + API_PG_GRACE_MS * 1000000ull;
		if (!grace || now >= end)
			return false;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		uint64_t ns = (uint64_t)until.tv_nsec + (end - now);
		until.tv_sec += (time_t)(ns / 1000000000ull);
		until.tv_nsec = (long)(ns % 1000000000ull);
		if (pthread_timedjoin_np(l->connector, NULL, &until) != 0)
			return false;
		l->connector_started = false;
	}
	if (l->connector_started) {
		pthread_join(l->connector, NULL);
		l->connector_started = false;
	}
	if (lane_up(l))
		return true;
	if (cp_now_ns() < l->pg->next_try_ns)
		return false;
	atomic_store(&l->connecting, true);
	l->connect_ns = cp_now_ns();
	if (pthread_create(&l->connector, NULL, connector_main, l) != 0) {
		atomic_store(&l->connecting, false);
		return false;
	}
	l->connector_started = true;
	return grace && connect_off_loop(l, true);
}

/* Lane l's statement (or its PREPARE) could not be sent: the session is broken. Its
 * requests are answered as for a lost session. */
static void batch_send_failed(struct api *a, struct api_lane *l)
{
	CP_LOG_RL(CP_LOG_ERR, ROLE, "postgresql: cannot send: %s", PQerrorMessage(l->pg->conn));
	free(l->param);
	l->param = NULL;
	cp_pg_reset(l->pg);   /* a send fails only on a broken connection */
	batch_collect(a, l);
}

/* Send lane l's statement, prepared on its session, for its requests in flight with
 * l->param (freed). */
static void batch_exec(struct api *a, struct api_lane *l)
{
	char name[16];
	const char *params[1] = {l->param};
	if (PQsendQueryPrepared(l->pg->conn, cp_pg_stmt_name(kinds[l->inflight_kind].stmt, name),
				1, params, NULL, NULL, 0) != 1) {
		batch_send_failed(a, l);
		return;
	}
	free(l->param);
	l->param = NULL;
}

/* Send lane l's next waiting requests of one kind as one statement (nothing may be in
 * flight, something waits). */
static bool batch_send(struct api *a, struct api_lane *l)
{
	unsigned int k = l->next_kind;
	char name[16];
	if (!connect_off_loop(l, false)) {
		if (l->fallback != NULL)
			read_fallback(l, NULL, atomic_load(&l->connecting) ? "connecting"
									  : "cannot connect");
		else if (atomic_load(&l->connecting))
			return false;   /* they wait for the connection: its end kicks */
		else
			fail_waiting(a, l, NULL);
		return true;
	}
	if (l->q[k].head == NULL)
		k ^= 1;
	l->next_kind = k ^ 1;
	if (batch_watch(a, l) != 0) {
		struct api_pend *list = l->q[k].head;
		l->q[k].head = l->q[k].tail = NULL;
		if (k == K_EVENTS)
			l->solo = 0;
		fail_list(a, k, list, NULL, 0);
		return true;
	}
	l->inflight_kind = k;
	l->param = kinds[k].take(l);
	if (l->param == NULL) {   /* out of memory: nothing was sent */
		struct api_pend *list = l->inflight;
		l->inflight = NULL;
		l->n_inflight = 0;
		fail_list(a, k, list, NULL, 500);
	} else if (!(l->pg->prepared_mask & (1u << kinds[k].stmt))) {
		/* prepared first, without waiting (batch_complete sends the statement) */
		l->preparing = PQsendPrepare(l->pg->conn, cp_pg_stmt_name(kinds[k].stmt, name),
					     kinds[k].sql, 1, NULL) == 1;
		if (!l->preparing)
			batch_send_failed(a, l);
	} else {
		batch_exec(a, l);
	}
	return true;
}

static bool waiting(const struct api_lane *l)
{
	return l->q[K_EVENTS].head != NULL || l->q[K_SUB_GET].head != NULL;
}

void api_batch_kick(struct api *a)
{
	for (unsigned int i = 0; i < API_LANES; i++)
		batch_collect(a, &a->lane[i]);
	/* requests parked behind a statement that is answered now go before the next one:
	 * under a steady stream of POSTs they would otherwise wait for ever */
	api_resume(a);
	/* the read lane first: what it cannot read moves to the primary's */
	for (int i = API_LANES - 1; i >= 0; i--) {
		struct api_lane *l = &a->lane[i];
		while (l->inflight == NULL && waiting(l) && batch_send(a, l))
			;
	}
}

bool api_batch_read_ready(struct api *a)
{
	return connect_off_loop(&a->lane[API_LANE_READ], false);
}

bool api_batch_primary_ready(struct api *a, bool grace)
{
	return connect_off_loop(&a->lane[API_LANE_PRIMARY], grace);
}

bool api_batch_primary_up(const struct api *a)
{
	return a->lane[API_LANE_PRIMARY].inflight != NULL || lane_up(&a->lane[API_LANE_PRIMARY]);
}

void api_batch_join(struct api *a)
{
	for (unsigned int i = 0; i < API_LANES; i++)
		if (a->lane[i].connector_started) {   /* at most connect_timeout per host */
			pthread_join(a->lane[i].connector, NULL);
			a->lane[i].connector_started = false;
		}
}

int api_batch_readable(struct api *a, struct lws *wsi)
{
	struct api_lane *l = NULL;
	for (unsigned int i = 0; i < API_LANES; i++)
		if (wsi == a->lane[i].watch)
			l = &a->lane[i];
	if (l == NULL || atomic_load(&l->connecting)) {
		if (l != NULL)   /* a connector owns the session: watch again after it */
			l->watch = NULL;
		return -1;   /* a watcher of a previous session: close it */
	}
	/* Reads the in-flight statement's result, or (none in flight) notifications for
	 * the token cache, or sees the server close the session. */
	if (l->pg->conn != NULL)
		PQconsumeInput(l->pg->conn);
	api_batch_kick(a);
	if (l->pg->conn == NULL || PQstatus(l->pg->conn) != CONNECTION_OK ||
	    l->watch_session != l->pg->session) {
		l->watch = NULL;
		return -1;   /* that session is gone: stop polling its socket (the next
			      * request reconnects, the next statement watches again) */
	}
	return 0;
}

void api_batch_closed(struct api *a, struct lws *wsi)
{
	for (unsigned int i = 0; i < API_LANES; i++)
		if (wsi == a->lane[i].watch)
			a->lane[i].watch = NULL;
}

void api_batch_free(struct api *a)
{
	api_batch_join(a);
	for (unsigned int i = 0; i < API_LANES; i++) {
		struct api_lane *l = &a->lane[i];
		struct cp_pg *pg = l->pg;
		struct api_pend *lists[1 + API_PEND_KINDS] = {l->inflight};
		for (unsigned int k = 0; k < API_PEND_KINDS; k++)
			lists[1 + k] = l->q[k].head;
		for (struct api_pend **p = lists; p < lists + 1 + API_PEND_KINDS; p++)
			while (*p != NULL) {
				struct api_pend *next = (*p)->next;
				pend_free(*p);
				*p = next;
			}
		PQclear(l->res);
		free(l->param);
		memset(l, 0, sizeof(*l));
		l->pg = pg;
	}
}
