/* cp_report: subscriber reports and delivery runs into PostgreSQL. Contract in
 * cp_report.h. */
#include "cp_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_buf.h"
#include "cp_http.h"
#include "cp_log.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "guard_types.h"
#include "proto_wire.h"

#define ROLE "report"

/* A PostgreSQL array literal being built: "{a,b,c}". */
struct arr {
	char *p;
	size_t len, cap;
	bool oom;
};

static void arr_add(struct arr *a, const char *fmt, ...)
{
	char v[32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || cp_buf_grow(&a->p, &a->cap, a->len + (size_t)n + 3, 256) != 0) {
		a->oom = true;
		return;
	}
	a->len += (size_t)snprintf(a->p + a->len, a->cap - a->len, "%c%s", a->len ? ',' : '{', v);
}

/* The finished literal ("{}" when empty), or NULL when out of memory. */
static const char *arr_end(struct arr *a)
{
	if (a->oom || cp_buf_grow(&a->p, &a->cap, a->len + 3, 256) != 0)
		return NULL;
	snprintf(a->p + a->len, a->cap - a->len, "%s", a->len ? "}" : "{}");
	return a->p;
}

static bool ok(PGresult *r, const char *what)
{
	if (cp_pg_ok(r)) {
		PQclear(r);
		return true;
	}
	CP_LOG_RL(CP_LOG_ERR, ROLE, "%s: %s", what, r ? PQresultErrorMessage(r) : "not connected");
	PQclear(r);
	return false;
}

static bool exec0(struct cp_pg *pg, const char *sql)
{
	return ok(cp_pg_exec(pg, sql, 0, NULL), sql);
}

const char *cp_report_order_name(int t)
{
	static const char *const n[] = {"UNSPECIFIED", "BUY", "SELL", "BUY_LIMIT", "SELL_LIMIT",
					"BUY_STOP", "SELL_STOP", "CLOSE", "MODIFY", "CLOSE_PARTIAL"};

	return t >= 0 && t < (int)(sizeof(n) / sizeof(n[0])) ? n[t] : "UNKNOWN";
}

/* The signal type the fan-out saw for e, as the SQL functions take it (NULL: not known
 * there, the archive is asked). */
static const char *sig_type_name(const struct cp_report *e)
{
	return e->sig_type > 0 ? cp_report_order_name(e->sig_type) : NULL;
}

const char *cp_report_pnl_status(int status)
{
	switch (status) {
	case 1: return "FILLED";   /* DECP__EXECUTION_REPORT__STATUS__STATUS_FILLED */
	case 2: return "PARTIAL";  /* ..._PARTIAL */
	case 5: return "CLOSED";   /* ..._CLOSED */
	default: return NULL;
	}
}

/* Every DELIVERY in one upsert; snapshots of one run in the batch merge (GROUP BY). */
static int store_deliveries(struct cp_pg *pg, const struct cp_report *r, size_t n,
			    struct cp_report_result *res)
{
	struct arr a[8] = {{0}};
	uint32_t k = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].kind != CP_REPORT_DELIVERY)
			continue;
		arr_add(&a[6], "%s", r[i].late ? "t" : "f");
		arr_add(&a[0], "%" PRIu64, r[i].sub_id);
		arr_add(&a[1], "%s", r[i].live ? "t" : "f");
		arr_add(&a[2], "%" PRIu64, r[i].seq);
		arr_add(&a[3], "%" PRIu64, r[i].last_seq);
		arr_add(&a[4], "%" PRId64, r[i].time_ns / 1000);
		arr_add(&a[5], "%" PRId64, r[i].last_ns / 1000);
		arr_add(&a[7], "%s", r[i].polled ? "t" : "f");
		k++;
	}
	if (k > 0) {
		const char *p[8];

		for (int j = 0; j < 8; j++)
			if ((p[j] = arr_end(&a[j])) == NULL)
				rc = -EIO;
		if (rc == 0 && !ok(cp_pg_exec(pg,
			"INSERT INTO trust_deliveries (subscription_id, live, first_sequence,"
			" last_sequence, first_sent_at, last_sent_at, late, polled)"
			" SELECT s, l, f, max(la), timestamptz 'epoch' + min(fa) * interval"
			" '1 microsecond', timestamptz 'epoch' + max(greatest(fa, lat)) * interval"
			" '1 microsecond', bool_and(lt), bool_and(pl) FROM unnest($1::bigint[],"
			" $2::boolean[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],"
			" $7::boolean[], $8::boolean[]) AS u(s, l, f, la, fa, lat, lt, pl)"
			" GROUP BY s, l, f"
			" ON CONFLICT (subscription_id, live, first_sequence) DO UPDATE SET"
			" last_sequence = greatest(trust_deliveries.last_sequence, excluded.last_sequence),"
			" last_sent_at = greatest(trust_deliveries.last_sent_at, excluded.last_sent_at)",
			8, p), "store deliveries"))
			rc = -EIO;
		if (rc == 0)
			res->stored += k;
	}
	for (int j = 0; j < 8; j++)
		free(a[j].p);
	return rc;
}

static int exec_cmp(const void *x, const void *y)
{
	const struct cp_report *a = *(const struct cp_report *const *)x,
			       *b = *(const struct cp_report *const *)y;

	if (a->sub_id != b->sub_id)
		return a->sub_id < b->sub_id ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The reports of one subscription: last_sequence_id forward to their highest sequence,
 * one EXECUTE inbox row each (with its sequence). -EIO on a failed statement. */
static int store_exec_group(struct cp_pg *pg, struct cp_report *const *g, size_t n,
			    struct cp_report_result *res)
{
	struct arr q = {0};
	char v[4][24];
	const char *p[5] = {v[0], v[1], v[2], v[3], NULL};
	PGresult *r;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		arr_add(&q, "%" PRIu64, g[i]->seq);
	snprintf(v[0], sizeof(v[0]), "%" PRIu64, g[0]->subscriber);
	snprintf(v[1], sizeof(v[1]), "%" PRIu64, g[0]->sub_id);
	snprintf(v[2], sizeof(v[2]), "%" PRIu64, g[0]->master);
	snprintf(v[3], sizeof(v[3]), "%" PRIu64, g[n - 1]->seq); /* sorted: the highest */
	if ((p[4] = arr_end(&q)) == NULL) {
		free(q.p);
		return -EIO;
	}
	r = cp_pg_exec(pg,
		"WITH u AS (UPDATE subscriptions SET last_sequence_id = $4::bigint"
		" WHERE id = $2::bigint AND subscriber_id = $1::bigint"
		" AND master_id = $3::bigint AND last_sequence_id < $4::bigint)"
		" INSERT INTO trust_inbox (subscription_id, event, sequence)"
		" SELECT s.id, 'EXECUTE', nullif(q, 0) FROM subscriptions s, unnest($5::bigint[]) q"
		" WHERE s.id = $2::bigint AND s.subscriber_id = $1::bigint"
		" AND s.master_id = $3::bigint", 5, p);
	if (!cp_pg_ok(r))
		rc = -EIO;
	else if (strcmp(PQcmdTuples(r), "0") == 0)
		res->refused += (uint32_t)n; /* not this subscriber's subscription */
	else
		res->stored += (uint32_t)n;
	ok(r, "store executions");
	free(q.p);
	return rc;
}

/* A refusal by rule: SQLSTATE class DP (cancelled, bad field, outside the fee domain). */
static bool by_rule(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && strncmp(state, "DP", 2) == 0;
}

/* The money of one execution report (sql 0013), alone under a savepoint: the slow path
 * after the batch statement met a refusal by rule, which is counted and rolled back;
 * anything else fails the batch. */
static int store_pnl_one(struct cp_pg *pg, const struct cp_report *e, struct cp_report_result *res)
{
	char v[6][24];
	const char *p[8] = {v[0], v[1], v[2], cp_report_pnl_status(e->status), v[3], v[4], v[5],
			    sig_type_name(e)};
	PGresult *r;

	snprintf(v[0], sizeof(v[0]), "%" PRIu64, e->sub_id);
	snprintf(v[1], sizeof(v[1]), "%" PRIu64, e->seq);
	snprintf(v[2], sizeof(v[2]), "%" PRIu64, e->ticket);
	snprintf(v[3], sizeof(v[3]), "%" PRId64, e->volume);
	snprintf(v[4], sizeof(v[4]), "%" PRId64, e->price);
	snprintf(v[5], sizeof(v[5]), "%" PRId64, e->realized_profit);
	if (!exec0(pg, "SAVEPOINT pnl"))
		return -EIO;
	r = cp_pg_exec(pg, "SELECT recorded FROM subscription_report_execution($1::bigint,"
		       " $2::bigint, $3::bigint, $4, $5::bigint, $6::bigint, $7::numeric * 0.0001,"
		       " $8::text)", 8, p);
	if (cp_pg_ok(r)) {
		PQclear(r);
		return exec0(pg, "RELEASE SAVEPOINT pnl") ? 0 : -EIO;
	}
	if (!by_rule(r)) {
		ok(r, "execution profit");
		return -EIO;
	}
	CP_LOG_RL(CP_LOG_WARN, ROLE, "execution report of subscription %s sequence %s kept out "
		  "of the profit: %s", v[0], v[1], PQresultErrorMessage(r));
	PQclear(r);
	res->refused++;
	return exec0(pg, "ROLLBACK TO SAVEPOINT pnl") ? 0 : -EIO;
}

/* The money of every execution report that carries some (e[0..k), sorted by
 * subscription: the lock order), in one statement: subscription_report_execution() per
 * report, once per (subscription, sequence, ticket, status): sql 0019's batch function.
 * Cancelled subscriptions are skipped (their period is settled). When the database
 * refuses the batch by rule, it is redone one report at a time (store_pnl_one). */
static int store_pnl(struct cp_pg *pg, const struct cp_report *const *e, size_t k,
		     struct cp_report_result *res)
{
	struct arr a[8] = {{0}};
	const char *p[8];
	size_t n = 0;
	PGresult *r;
	int rc = 0;

	for (size_t i = 0; i < k; i++) {
		const char *st = cp_report_pnl_status(e[i]->status);
		const char *ty = sig_type_name(e[i]);

		if (st == NULL)
			continue;
		arr_add(&a[0], "%" PRIu64, e[i]->sub_id);
		arr_add(&a[1], "%" PRIu64, e[i]->seq);
		arr_add(&a[2], "%" PRIu64, e[i]->ticket);
		arr_add(&a[3], "%s", st);
		arr_add(&a[4], "%" PRId64, e[i]->volume);
		arr_add(&a[5], "%" PRId64, e[i]->price);
		arr_add(&a[6], "%" PRId64, e[i]->realized_profit);
		arr_add(&a[7], "%s", ty != NULL ? ty : "NULL");
		n++;
	}
	for (int j = 0; j < 8 && n > 0; j++)
		if ((p[j] = arr_end(&a[j])) == NULL)
			rc = -EIO;
	if (n == 0 || rc != 0)
		goto out;
	if (!exec0(pg, "SAVEPOINT pnl_batch")) {
		rc = -EIO;
		goto out;
	}
	r = cp_pg_exec(pg, "SELECT subscription_report_executions($1::bigint[], $2::bigint[],"
		       " $3::bigint[], $4::text[], $5::bigint[], $6::bigint[],"
		       " array(SELECT x * 0.0001 FROM unnest($7::numeric[]) WITH ORDINALITY"
		       " AS a(x, o) ORDER BY o), $8::text[])", 8, p);
	if (cp_pg_ok(r)) {
		PQclear(r);
		rc = exec0(pg, "RELEASE SAVEPOINT pnl_batch") ? 0 : -EIO;
		goto out;
	}
	if (!by_rule(r)) {
		ok(r, "execution profit");
		rc = -EIO;
		goto out;
	}
	PQclear(r);
	if (!exec0(pg, "ROLLBACK TO SAVEPOINT pnl_batch")) {
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < k && rc == 0; i++)
		if (cp_report_pnl_status(e[i]->status) != NULL)
			rc = store_pnl_one(pg, e[i], res);
out:
	for (int j = 0; j < 8; j++)
		free(a[j].p);
	return rc;
}

/*
 * Keep only the execution reports that name a signal the master sent (e[0..*k), sorted by
 * subscription): a sequence up to the larger of the fan-out's bound (the master's last
 * publish when it took the report) and the archive's highest sequence of the master. The
 * archive alone may lag the stream (the report can be stored before its signal is
 * archived), the fan-out's bound alone is 0 for an older fan-out's entry or a master it had
 * not seen. A report beyond both is dropped whole, counted refused: it would raise
 * last_sequence_id past the master's real last (the column never goes back) and book
 * profit for a trade that never was. 0 or -EIO.
 */
static int keep_known(struct cp_pg *pg, const struct cp_report **e, size_t *k,
		      struct cp_report_result *res)
{
	struct arr a = {0};
	const char *p[1];
	PGresult *q;
	size_t n = 0;
	int rows;

	for (size_t i = 0; i < *k; i++)
		if (e[i]->seq > e[i]->last_seq)
			arr_add(&a, "%" PRIu64, e[i]->master);
	if (a.len == 0)
		return 0;
	if ((p[0] = arr_end(&a)) == NULL) {
		free(a.p);
		return -EIO;
	}
	q = cp_pg_exec(pg, "SELECT m, coalesce((SELECT max(sequence) FROM signal_archive_keys k"
		       " WHERE k.master_id = m), 0) FROM (SELECT DISTINCT m FROM"
		       " unnest($1::bigint[]) m) u", 1, p);
	free(a.p);
	if (!cp_pg_ok(q)) {
		ok(q, "archived sequence bound");
		return -EIO;
	}
	rows = PQntuples(q);
	for (size_t i = 0; i < *k; i++) {
		uint64_t bound = e[i]->last_seq;

		for (int j = 0; j < rows && e[i]->seq > bound; j++)
			if (strtoull(PQgetvalue(q, j, 0), NULL, 10) == e[i]->master) {
				uint64_t arch = strtoull(PQgetvalue(q, j, 1), NULL, 10);

				bound = arch > bound ? arch : bound;
			}
		if (e[i]->seq > bound) {
			CP_LOG_RL(CP_LOG_WARN, ROLE, "execution report of subscription %" PRIu64
				  " names sequence %" PRIu64 " beyond master %" PRIu64 "'s last %"
				  PRIu64 ": dropped", e[i]->sub_id, e[i]->seq, e[i]->master, bound);
			res->refused++;
			continue;
		}
		e[n++] = e[i];
	}
	PQclear(q);
	*k = n;
	return 0;
}

/* An execution report the fan-out could not judge (cp_report_resolve). */
static bool unjudged(const struct cp_report *e)
{
	return e->kind == CP_REPORT_EXECUTION &&
	       (e->seq > e->last_seq || (e->sig_type == 0 && e->realized_profit != 0));
}

size_t cp_report_resolve(struct cp_redis *rd, struct cp_report *r, size_t n)
{
	size_t m = 0, found = 0, *ix = NULL;
	unsigned int *node = NULL;
	redisReply **reps = NULL;

	for (size_t i = 0; i < n; i++)
		m += unjudged(&r[i]);
	if (m == 0 || cp_redis_ensure(rd) != 0)
		return 0;
	ix = malloc(m * sizeof(*ix));
	node = malloc(m * sizeof(*node));
	reps = calloc(m, sizeof(*reps));
	if (ix == NULL || node == NULL || reps == NULL)
		goto out;
	m = 0;
	for (size_t i = 0; i < n; i++) {
		char key[64], id[32];
		const char *argv[4] = {"XRANGE", key, id, id};
		redisContext *c;

		if (!unjudged(&r[i]))
			continue;
		snprintf(key, sizeof(key), CP_REDIS_SIGNALS_KEY_FMT, r[i].master);
		snprintf(id, sizeof(id), "%" PRIu64 "-0", r[i].seq);
		c = cp_redis_at_node(rd, key, &node[m]);
		if (c != NULL)
			redisAppendCommandArgv(c, 4, argv, NULL);
		ix[m++] = i;
	}
	(void)cp_redis_read_replies(rd, node, reps, m, "XRANGE signal");
	for (size_t j = 0; j < m; j++) {
		const redisReply *x = reps[j];
		struct cp_report *e = &r[ix[j]];
		struct proto_wire_signal s;
		struct cp_rec rec;

		/* [[id, [field, value, ...]]]: the one entry, the signal of that master and
		 * sequence (anything else, a redirect or an error: not found) */
		if (x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 1 &&
		    x->element[0]->type == REDIS_REPLY_ARRAY && x->element[0]->elements == 2 &&
		    cp_rec_from_fields(x->element[0]->element[1], &rec) &&
		    proto_wire_signal_parse(rec.body, rec.body_len, &s) == 0 &&
		    s.master_id == e->master && s.sequence == e->seq) {
			e->last_seq = e->seq > e->last_seq ? e->seq : e->last_seq;
			e->sig_type = s.order_type;
			found++;
		}
		freeReplyObject(reps[j]);
	}
out:
	free(ix);
	free(node);
	free(reps);
	return found;
}

static int store_executions(struct cp_pg *pg, const struct cp_report *r, size_t n,
			    const bool *dup, struct cp_report_result *res)
{
	const struct cp_report **e = NULL;
	size_t k = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		k += r[i].kind == CP_REPORT_EXECUTION && !dup[i];
	if (k == 0)
		return 0;
	e = malloc(k * sizeof(*e));
	if (e == NULL)
		return -EIO;
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].kind == CP_REPORT_EXECUTION && !dup[i])
			e[k++] = &r[i];
	/* Row locks in ascending subscription id, the order the trust role takes them in:
	 * the two never deadlock. */
	qsort(e, k, sizeof(*e), exec_cmp);
	rc = keep_known(pg, e, &k, res);
	for (size_t i = 0; i < k && rc == 0;) {
		size_t j = i + 1;

		while (j < k && e[j]->sub_id == e[i]->sub_id)
			j++;
		rc = store_exec_group(pg, (struct cp_report *const *)&e[i], j - i, res);
		i = j;
	}
	if (rc == 0)
		rc = store_pnl(pg, e, k, res);
	free(e);
	return rc;
}

/* The stored reason of a protection event: guard's own name for its reason code (one
 * table, guard_check.c); anything guard does not name is UNSPECIFIED (the column accepts
 * only upper-case names). */
static const char *reason_name(int r)
{
	const char *n = r > 0 ? guard_reason_name((enum guard_reason)r) : "?";

	return n[0] == '?' ? "UNSPECIFIED" : n;
}

static int store_protection(struct cp_pg *pg, const struct cp_report *p,
			    struct cp_report_result *res, int64_t now)
{
	char v[8][24];
	const char *vals[11];
	PGresult *r;
	/* The EA's clock names the event's day partition: only a time the api would take too
	 * (docs/api.md, event_time_ms within [now - 7 days, now + 5 min]); any other is stored
	 * at now, with the EA's in details. An unchecked time put the row in any day, old or
	 * far ahead: a partition per day named, and rows in days already archived. */
	bool in_window = p->time_ns >= now - CP_REPORT_PAST_NS && p->time_ns <= now + CP_REPORT_AHEAD_NS;

	snprintf(v[0], 24, "%" PRIu64, p->subscriber);
	snprintf(v[1], 24, "%" PRIu64, p->sub_id);
	snprintf(v[2], 24, "%" PRIu64, p->master);
	snprintf(v[3], 24, "%" PRIu64, p->seq);
	snprintf(v[4], 24, "%" PRId64, in_window ? p->time_ns : now);
	snprintf(v[5], 24, "%" PRId64, p->age_ns);
	snprintf(v[6], 24, "%" PRId64, p->dev_x100);
	snprintf(v[7], 24, "%" PRId64, p->time_ns);
	for (int i = 0; i < 7; i++)
		vals[i] = v[i];
	vals[7] = reason_name(p->reason);
	vals[8] = p->detail;
	vals[9] = guard_attribution_name((enum guard_attribution)p->attribution);
	vals[10] = in_window || p->time_ns == 0 ? NULL : v[7];
	/* Stored and scored as through the API: the event and its trust_inbox row in one
	 * statement; none for a CANCELLED subscription (the api's 409 cancelled): the
	 * fan-out drops a cancelled subscription from its sessions when the database tells
	 * it, and a report taken before that must not score it (docs/fanout.md). The
	 * statement's single row says whether the event was stored. */
	r = cp_pg_exec(pg,
		"WITH p AS (INSERT INTO protection_logs (event_time, master_id, "
		"subscriber_id, subscription_id, sequence, reason, latency_ms, "
		"price_deviation, details, attribution) "
		"SELECT to_timestamp($5::bigint / 1e9), $3::bigint, $1::bigint, "
		"$2::bigint, $4::bigint, $8, $6::bigint / 1e6, $7::bigint / 100.0, "
		"jsonb_build_object('detail', $9::text, 'source', 'subscriber') || "
		"CASE WHEN $11::bigint IS NULL THEN '{}'::jsonb "
		"ELSE jsonb_build_object('ea_time_ns', $11::bigint) END, $10 "
		"WHERE NOT EXISTS (SELECT 1 FROM subscriptions "
		"WHERE id = $2::bigint AND state = 'CANCELLED') "
		"RETURNING subscription_id, reason, sequence, attribution), "
		"t AS (INSERT INTO trust_inbox (subscription_id, event, sequence, attribution) "
		"SELECT subscription_id, reason, sequence, attribution FROM p "
		"WHERE subscription_id IS NOT NULL) "
		"SELECT count(*) FROM p", 11, vals);
	if (!cp_pg_ok(r) || PQntuples(r) != 1) {
		ok(r, "store protection event");
		return -EIO;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "0") == 0) {
		CP_LOG_RL(CP_LOG_INFO, ROLE, "protection event of cancelled subscription %s "
			  "sequence %s kept out", v[1], v[3]);
		res->refused++;
	} else {
		res->stored++;
	}
	PQclear(r);
	return 0;
}

struct rkey {
	int64_t subscriber, id;
	bool used;
};

static int rkey_cmp(const void *x, const void *y)
{
	const struct rkey *a = x, *b = y;

	if (a->subscriber != b->subscriber)
		return a->subscriber < b->subscriber ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Reports with a report_id: record their keys in subscriber_reports; dup[i] is set for
 * each whose key was there already or appears earlier in this batch. 0 or -EIO. */
static int dedup(struct cp_pg *pg, const struct cp_report *r, size_t n, bool *dup,
		 struct cp_report_result *res)
{
	struct arr a[2] = {{0}};
	const char *p[2];
	struct rkey *keys = NULL;
	PGresult *q = NULL;
	size_t k = 0;
	int rc = 0, rows;

	for (size_t i = 0; i < n; i++)
		if (r[i].kind != CP_REPORT_DELIVERY && r[i].report_id != 0) {
			arr_add(&a[0], "%" PRIu64, r[i].subscriber);
			arr_add(&a[1], "%" PRId64, (int64_t)r[i].report_id);
			k++;
		}
	if (k == 0)
		goto out;
	if ((p[0] = arr_end(&a[0])) == NULL || (p[1] = arr_end(&a[1])) == NULL) {
		rc = -EIO;
		goto out;
	}
	q = cp_pg_exec(pg, "INSERT INTO subscriber_reports (subscriber_id, report_id)"
		       " SELECT DISTINCT s, i FROM unnest($1::bigint[], $2::bigint[]) AS u(s, i)"
		       " ON CONFLICT DO NOTHING RETURNING subscriber_id, report_id", 2, p);
	if (!cp_pg_ok(q)) {
		ok(q, "record report ids");
		q = NULL;
		rc = -EIO;
		goto out;
	}
	rows = PQntuples(q);
	keys = malloc(((size_t)rows + 1) * sizeof(*keys));
	if (keys == NULL) {
		rc = -EIO;
		goto out;
	}
	for (int i = 0; i < rows; i++)
		keys[i] = (struct rkey){strtoll(PQgetvalue(q, i, 0), NULL, 10),
					strtoll(PQgetvalue(q, i, 1), NULL, 10), false};
	qsort(keys, (size_t)rows, sizeof(*keys), rkey_cmp);
	for (size_t i = 0; i < n; i++) {
		struct rkey want = {(int64_t)r[i].subscriber, (int64_t)r[i].report_id, false}, *hit;

		if (r[i].kind == CP_REPORT_DELIVERY || r[i].report_id == 0)
			continue;
		hit = bsearch(&want, keys, (size_t)rows, sizeof(*keys), rkey_cmp);
		dup[i] = hit == NULL || hit->used; /* new only at its first occurrence */
		if (hit != NULL)
			hit->used = true;
		res->duplicates += dup[i];
	}
out:
	PQclear(q);
	free(keys);
	free(a[0].p);
	free(a[1].p);
	return rc;
}

int cp_report_store_tx(struct cp_pg *pg, const struct cp_report *reports, size_t n,
		       struct cp_report_result *res)
{
	struct timespec ts;
	bool *dup;
	int64_t now;
	int rc;

	*res = (struct cp_report_result){0, 0, 0};
	if (n == 0)
		return 0;
	dup = calloc(n, sizeof(*dup));
	if (dup == NULL)
		return -EIO;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rc = dedup(pg, reports, n, dup, res);
	if (rc == 0)
		rc = store_deliveries(pg, reports, n, res);
	if (rc == 0)
		rc = store_executions(pg, reports, n, dup, res);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (reports[i].kind == CP_REPORT_PROTECTION && !dup[i])
			rc = store_protection(pg, &reports[i], res, now);
	free(dup);
	return rc;
}

int cp_report_store(struct cp_pg *pg, const struct cp_report *reports, size_t n,
		    struct cp_report_result *res)
{
	*res = (struct cp_report_result){0, 0, 0};
	if (n == 0)
		return 0;
	if (cp_pg_ensure(pg) != 0 || !exec0(pg, "BEGIN"))
		return -EIO;
	if (cp_report_store_tx(pg, reports, n, res) == 0 && exec0(pg, "COMMIT"))
		return 0;
	if (pg->conn != NULL)
		exec0(pg, "ROLLBACK");
	*res = (struct cp_report_result){0, 0, 0};
	return -EIO;
}

/* Version tag of the "r" text: a change of the members is a new tag ("r3": polled). */
#define REPORT_TEXT_V "r3"

int cp_report_encode(const struct cp_report *r, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, REPORT_TEXT_V " %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRId64 " %d %d %" PRId64 " %" PRId64 " %d %" PRIu64 " %" PRId64
			 " %" PRId64 " %" PRId64 " %" PRIu64 " %" PRId64 " %d %d %" PRIu64 " %d %d",
			 (int)r->kind, r->subscriber, r->sub_id, r->master, r->seq, r->time_ns,
			 r->reason, r->attribution, r->age_ns, r->dev_x100, r->status, r->ticket,
			 r->volume, r->price, r->realized_profit, r->last_seq, r->last_ns,
			 (int)r->live, (int)r->late, r->report_id, r->sig_type, (int)r->polled);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int cp_report_decode(const char *text, size_t len, const char *detail, size_t dlen,
		     struct cp_report *r)
{
	char t[CP_REPORT_TEXT_MAX];
	int kind, live, late, polled = 0, used = 0, more = 0, more3 = 0;
	bool v1, v2;

	if (text == NULL || len >= sizeof(t) || len < 3)
		return -EINVAL;
	memcpy(t, text, len);
	t[len] = '\0';
	memset(r, 0, sizeof(*r));
	/* "r1" (an older fan-out's, still in the stream): no sig_type, and an execution's
	 * last_seq 0 (no bound of the fan-out's: the archive's alone applies) */
	v1 = strncmp(t, "r1 ", 3) == 0;
	/* "r2": no polled (a WebSocket run) */
	v2 = strncmp(t, "r2 ", 3) == 0;
	if (!v1 && !v2 && strncmp(t, REPORT_TEXT_V " ", 3) != 0)
		return -EINVAL;
	if (sscanf(t + 2, " %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNd64 " %d %d %" SCNd64 " %" SCNd64 " %d %" SCNu64 " %" SCNd64
		   " %" SCNd64 " %" SCNd64 " %" SCNu64 " %" SCNd64 " %d %d %" SCNu64 "%n",
		   &kind, &r->subscriber, &r->sub_id, &r->master, &r->seq, &r->time_ns,
		   &r->reason, &r->attribution, &r->age_ns, &r->dev_x100, &r->status, &r->ticket,
		   &r->volume, &r->price, &r->realized_profit, &r->last_seq, &r->last_ns,
		   &live, &late, &r->report_id, &used) != 20 ||
	    (!v1 && sscanf(t + 2 + used, " %d%n", &r->sig_type, &more) != 1) ||
	    (!v1 && !v2 && sscanf(t + 2 + used + more, " %d%n", &polled, &more3) != 1) ||
	    (size_t)(2 + used + more + more3) != len ||
	    kind < CP_REPORT_PROTECTION || kind > CP_REPORT_DELIVERY || r->sub_id == 0)
		return -EINVAL;
	r->kind = (enum cp_report_kind)kind;
	r->live = live != 0;
	r->late = late != 0;
	r->polled = polled != 0;
	if (detail != NULL) {
		if (memchr(detail, '\0', dlen) != NULL) /* an embedded NUL: not ours */
			return -EINVAL;
		cp_report_set_detail(r, detail, dlen);
	}
	/* an older fan-out queued whatever the EA sent */
	return r->kind == CP_REPORT_DELIVERY || cp_report_fit(r) ? 0 : -EINVAL;
}

void cp_report_set_detail(struct cp_report *r, const char *s, size_t n)
{
	size_t m = n < sizeof(r->detail) - 1 ? n : sizeof(r->detail) - 1;

	/* cut before the character the limit falls into, not inside it */
	while (m < n && m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
		m--;
	/* and drop a character the text itself ends inside: an older fan-out cut details at
	 * 127 bytes wherever they fell, and cp_report_fit would refuse the whole report */
	for (size_t k = 1; k <= 3 && k <= m; k++) {
		unsigned char c = (unsigned char)s[m - k];
		size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4 : 0;

		if ((c & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back for its lead */
		if (len > k)
			m -= k; /* its lead byte k from the end, the character incomplete */
		break;
	}
	memcpy(r->detail, s, m);
	r->detail[m] = '\0';
}

static int64_t clamp64(int64_t v, int64_t max)
{
	return v > max ? max : v < -max ? -max : v;
}

bool cp_report_fit(struct cp_report *r)
{
	r->age_ns = clamp64(r->age_ns, CP_REPORT_AGE_MAX_NS);
	r->dev_x100 = clamp64(r->dev_x100, CP_REPORT_DEV_MAX_X100);
	return r->seq <= INT64_MAX && r->ticket <= INT64_MAX &&
	       cp_utf8_valid((const unsigned char *)r->detail, strlen(r->detail));
}
