/*
 * cp_fanout_policy: the policy thread (issue 19; docs/fanout.md "Copy policy").
 *
 * LISTENs on decp_policy (migration 0018: one NOTIFY per subscription whose copy_policy
 * changed, payload its id), re-reads the changed rows, builds each CopyPolicy once
 * (cp_policy_msg.h) and hands it to the lws thread (policy_q), which keeps it on the
 * session's subscription row and sends it to a subscriber attached to that master. The
 * thread waits on the session's socket, so a change reaches a connected subscriber one
 * NOTIFY and one indexed query after its COMMIT.
 *
 * A NOTIFY sent while this session was not listening is lost, so every new session
 * (the first one and every reconnect) first re-reads the rows whose copy_policy changed
 * since a few seconds before the last moment the previous session was known healthy
 * (the thread's start for the first one: an upgrade may have read a row just before).
 * Re-sending a version the lws thread already holds changes nothing (it keeps only a
 * newer version), so the overlap costs nothing but a message.
 */
#include "cp_fanout_pvt.h"

#include <poll.h>

#include "cp_policy_msg.h"

#define POLICY_WAIT_MS 250     /* stop flag checked at least this often */
#define POLICY_OVERLAP_S 5     /* catch-up reaches this far before the last healthy moment */
#define POLICY_BATCH 256       /* ids per query */

/* Runs a CP_POLICY_SELECT with `where` ($1 its one parameter) and posts every row. */
static void policy_post(struct cp_fanout *f, struct cp_pg *pg, const char *where,
			const char *param)
{
	char sql[1024];
	const char *vals[1] = {param};
	PGresult *r;
	int n, posted = 0;

	snprintf(sql, sizeof(sql), CP_POLICY_SELECT "%s", where);
	r = cp_pg_exec(pg, sql, 1, vals);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		cp_pg_fail(pg, "copy policy read", r);
		PQclear(r);
		return;
	}
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct cp_policy_row row;
		struct policy_ev *e = calloc(1, sizeof(*e));

		if (e == NULL)
			break;
		e->msg = cp_policy_fmsg_of(r, i, &row);
		if (e->msg == NULL) {
			/* copy_policy_is_valid() admitted it: only out of memory gets here */
			CP_LOG_RL(CP_LOG_WARN, ROLE, "subscription %" PRIu64 ": copy policy not "
				  "sent (%s)", row.sub_id, strerror(errno));
			free(e);
			continue;
		}
		e->sub_id = row.sub_id;
		e->master = row.master_id;
		e->version = row.version;
		e->subscriber = strtoull(PQgetvalue(r, i, CP_POLICY_COL_SUBSCRIBER), NULL, 10);
		cp_fo_mq_push(&f->policy_q, e);
		posted++;
	}
	PQclear(r);
	if (posted > 0) {
		cnt_add(&f->c_policies, (uint64_t)posted);
		lws_cancel_service(f->ctx);
	}
}

/* Posts the rows named by the pending notifications, POLICY_BATCH ids per query. */
static void policy_drain_notifies(struct cp_fanout *f, struct cp_pg *pg)
{
	PGnotify *n;
	char ids[POLICY_BATCH * 21 + 3];
	size_t len = 0;
	int count = 0;

	for (;;) {
		n = pg->conn != NULL ? PQnotifies(pg->conn) : NULL;
		if (n != NULL) {
			uint64_t id = strtoull(n->extra, NULL, 10);

			PQfreemem(n);
			if (id == 0)
				continue;
			len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%" PRIu64,
						count == 0 ? "{" : ",", id);
			count++;
		}
		if (count > 0 && (n == NULL || count == POLICY_BATCH)) {
			snprintf(ids + len, sizeof(ids) - len, "}");
			policy_post(f, pg, "WHERE s.id = ANY($1::bigint[]) AND s.state <> 'CANCELLED'",
				    ids);
			len = 0;
			count = 0;
		}
		if (n == NULL)
			return;
	}
}

void *cp_fo_policy_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_pg pg;
	uint64_t session = 0, healthy_ns = cp_now_ns();

	cp_pg_init(&pg, &f->cfg, ROLE, "LISTEN decp_policy");
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct pollfd pfd;

		if (cp_pg_ensure(&pg) != 0) {
			cp_sleep_ms(POLICY_WAIT_MS);
			continue;
		}
		if (pg.session != session) {
			char secs[32];

			/* LISTEN is active on this session (cp_pg ran it): catch up */
			snprintf(secs, sizeof(secs), "%" PRIu64,
				 (cp_now_ns() - healthy_ns) / 1000000000u + POLICY_OVERLAP_S);
			policy_post(f, &pg, "WHERE s.copy_policy_changed_at > now() - "
				    "$1::bigint * interval '1 second' AND s.state <> 'CANCELLED'",
				    secs);
			if (pg.conn == NULL)
				continue;
			session = pg.session;
		}
		pfd.fd = PQsocket(pg.conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0 || (poll(&pfd, 1, POLICY_WAIT_MS) < 0 && errno != EINTR) ||
		    ((pfd.revents & POLLIN) && PQconsumeInput(pg.conn) == 0) ||
		    PQstatus(pg.conn) != CONNECTION_OK) {
			cp_pg_fail(&pg, "LISTEN decp_policy", NULL);
			continue;
		}
		healthy_ns = cp_now_ns();
		policy_drain_notifies(f, &pg);
	}
	cp_pg_close(&pg);
	return NULL;
}
