/* cp_fanout_role: decp-control's fanout role: runs one struct cp_fanout from the config,
 * registers its durable-signal consumer and stats provider in the process context.
 * Contract in cp_fanout_role.h. */
#include "cp_fanout_role.h"

#include <pthread.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cp_fanout.h"
#include "cp_log.h"
#include "dp_shm.h"

#define ROLE "fanout"

/* The role's stats provider (cp_ctx.h): the fan-out's counters, read on the scraping
 * thread with relaxed atomics (cp_fanout_stats_get may be called from any thread). */
static void fanout_stats(void *arg, struct cp_metrics *m)
{
	struct cp_fanout_stats st;
	cp_fanout_stats_get(arg, &st);
	cp_metrics_counter(m, "decp_fanout_connections_total",
			   "WebSocket upgrades accepted (authenticated)", st.connections);
	cp_metrics_counter(m, "decp_fanout_auth_refused_total",
			   "upgrades refused (token, or connection limit)", st.auth_refused);
	cp_metrics_counter(m, "decp_fanout_subscribe_refused_total",
			   "Subscribe refused (no live subscription)", st.subscribe_refused);
	cp_metrics_counter(m, "decp_fanout_published_total",
			   "durable signals handed to the fan-out", st.published);
	cp_metrics_counter(m, "decp_fanout_delivered_total",
			   "envelopes written to subscriber sockets", st.delivered);
	cp_metrics_counter(m, "decp_fanout_replayed_total", "envelopes replayed from Redis",
			   st.replayed);
	cp_metrics_counter(m, "decp_fanout_slow_closed_total",
			   "connections closed as slow consumers (4008)", st.slow_closed);
	cp_metrics_counter(m, "decp_fanout_range_lost_total",
			   "replays ended with Error RANGE (sequences no longer retained)",
			   st.range_lost);
	cp_metrics_counter(m, "decp_fanout_revoked_closed_total",
			   "sessions closed (4001): token revoked or expired, subscriber disabled",
			   st.revoked_closed);
	cp_metrics_counter(m, "decp_fanout_reports_total",
			   "execution reports and protection events made durable (XADDed to the "
			   "reports stream; stored in PostgreSQL without fanout_reports_redis)",
			   st.reports);
	cp_metrics_counter(m, "decp_fanout_reports_dropped_total",
			   "subscriber reports dropped unacknowledged: 100,000 waiting for Redis "
			   "(the EA resends them)", st.reports_dropped);
	cp_metrics_counter(m, "decp_fanout_deliveries_dropped_total",
			   "delivery runs dropped: 100,000 waiting for Redis (a report naming one "
			   "then finds no record: not credited, its claim scored)",
			   st.deliveries_dropped);
	cp_metrics_counter(m, "decp_fanout_subscriber_limited_total",
			   "upgrades refused (429): fanout_max_conns_per_subscriber reached",
			   st.sub_limited);
	cp_metrics_counter(m, "decp_fanout_report_throttled_total",
			   "fanout_report_rate: sessions paused (reads stopped), upgrades refused "
			   "(429) while the subscriber owed reports", st.report_throttled);
	cp_metrics_counter(m, "decp_fanout_report_acks_dropped_total",
			   "ReportAcks not sent: 65,536 already waiting beside a session's full "
			   "queue (its EA resends the report after a reconnect, answered again)",
			   st.acks_dropped);
	cp_metrics_counter(m, "decp_fanout_preauth_evicted_total",
			   "connections evicted before their upgrade request (oldest, at the cap)",
			   st.preauth_evicted);
	cp_metrics_counter(m, "decp_fanout_preauth_source_capped_total",
			   "connections closed at accept: the address holds enough", st.preauth_source_capped);
	cp_metrics_counter(m, "decp_fanout_preauth_source_rated_total",
			   "connections closed at accept: the address connects too fast",
			   st.preauth_source_rated);
	cp_metrics_counter(m, "decp_fanout_preauth_timed_out_total",
			   "connections closed: upgrade request not complete in time",
			   st.preauth_timed_out);
	cp_metrics_counter(m, "decp_fanout_preauth_refused_total",
			   "connections answered 400: not a WebSocket upgrade request", st.preauth_refused);
	cp_metrics_gauge(m, "decp_fanout_preauth_pending",
			 "connections held before their upgrade request is complete", st.preauth_pending);
	cp_metrics_counter(m, "decp_fanout_policies_sent_total",
			   "copy policies sent to subscribers (on Subscribe and on change)",
			   st.policies_sent);
	cp_metrics_counter(m, "decp_fanout_account_states_total",
			   "broker account states received from subscriber EAs", st.account_states);
	cp_metrics_counter(m, "decp_fanout_snapshots_total",
			   "re-syncs by position snapshot sent to subscribers", st.snapshots);
	cp_metrics_counter(m, "decp_fanout_snapshots_failed_total",
			   "snapshots that could not be built (answered as before)",
			   st.snapshots_failed);
	cp_metrics_counter(m, "decp_fanout_resyncs_done_total",
			   "ResyncDone reports accepted (DEGRADED_GAP -> SYNCED)", st.resyncs_done);
	cp_metrics_gauge(m, "decp_fanout_live_connections", "subscriber connections open now",
			 st.live_connections);
	cp_metrics_counter(m, "decp_fanout_key_announcements_total",
			   "key announcements sent to subscribers", st.key_announcements);
	cp_metrics_counter(m, "decp_fanout_polls_total",
			   "HTTP polling requests answered 200", st.polls);
	cp_metrics_counter(m, "decp_fanout_poll_envelopes_total",
			   "envelopes served by HTTP polling", st.poll_envelopes);
	cp_metrics_counter(m, "decp_fanout_poll_woken_total",
			   "waiting polls woken by a new signal", st.poll_woken);
	cp_metrics_counter(m, "decp_fanout_poll_timeouts_total",
			   "waiting polls answered empty at the end of their wait", st.poll_timeouts);
	cp_metrics_counter(m, "decp_fanout_poll_refused_total",
			   "polling requests refused (4xx, 503)", st.poll_refused);
	cp_metrics_gauge(m, "decp_fanout_poll_connections", "HTTP polling connections open now",
			 st.poll_connections);
}

/* The durable-signal consumer (cp_ctx.h): one envelope per signal, one wake-up per batch
 * (rec NULL). */
static void on_durable(void *arg, const struct dp_ingress_rec *rec)
{
	struct cp_fanout *f = arg;

	if (rec == NULL) {
		cp_fanout_publish_flush(f);
		return;
	}
	size_t blen = rec->body_len <= DP_BODY_MAX ? rec->body_len : DP_BODY_MAX;
	size_t slen = rec->sig_len <= DP_SIG_LEN ? rec->sig_len : DP_SIG_LEN;
	/* -ENOBUFS is counted by the fan-out and healed by replay: nothing to do here */
	(void)cp_fanout_publish_parts(f, rec->master_id, rec->sequence, rec->body, blen, rec->sig,
				      slen, rec->arrival_ns);
}

/* Create the fan-out, retrying while Redis or PostgreSQL is unreachable (ECONNREFUSED).
 * NULL on a fatal error (*rc set) or when stopped meanwhile (*rc 0). */
static struct cp_fanout *create_retrying(const struct cp_ctx *ctx, int *rc)
{
	const struct cp_config *cfg = ctx->cfg;
	unsigned int backoff = 50;

	*rc = 0;
	while (!cp_ctx_stopping(ctx)) {
		struct cp_fanout *f = cp_fanout_create(cfg, !(cfg->roles & CP_ROLE_EDGE));
		if (f != NULL)
			return f;
		int e = errno;
		if (e != ECONNREFUSED) {
			cp_log(CP_LOG_ERR, ROLE, "cannot serve on %s:%u: %s", cfg->fanout_listen,
			       cfg->fanout_port, strerror(e));
			*rc = e > 0 ? -e : -EIO;
			return NULL;
		}
		CP_LOG_RL(CP_LOG_WARN, ROLE, "Redis or PostgreSQL unreachable at start; retrying");
		cp_sleep_ms(backoff);
		backoff = backoff * 2 > cfg->backoff_max_ms ? cfg->backoff_max_ms : backoff * 2;
	}
	return NULL;
}

int cp_fanout_role_run(struct cp_ctx *ctx)
{
	const struct cp_config *cfg = ctx->cfg;
	int rc;
	struct cp_fanout *f = create_retrying(ctx, &rc);

	if (f == NULL)
		return rc;
	rc = cp_fanout_start(f);
	if (rc != 0) {
		cp_log(CP_LOG_ERR, ROLE, "starting threads: %s", strerror(-rc));
		cp_fanout_destroy(f);
		return rc;
	}
	bool hooked = (cfg->roles & CP_ROLE_EDGE) != 0;
	if (hooked && cp_ctx_durable_add(ctx, on_durable, f) != 0) {
		cp_log(CP_LOG_ERR, ROLE, "too many durable-signal consumers");
		cp_fanout_destroy(f);
		return -ENOSPC;
	}
	if (cp_ctx_stats_add(ctx, fanout_stats, f) != 0)
		cp_log(CP_LOG_WARN, ROLE, "too many stats providers: no decp_fanout_* metrics");
	cp_log(CP_LOG_INFO, ROLE, "listening on %s:%d (%s), %s", cfg->fanout_listen,
	       cp_fanout_port(f), cfg->fanout_tls ? "wss" : "ws",
	       hooked ? "fed by the edge in-process"
	       : cfg->redis_nodes[0] != '\0' ? "tailing the Redis Cluster (shard channels)"
					    : "tailing Redis");
	while (!cp_ctx_stopping(ctx))
		cp_sleep_ms(100);
	/* no edge or scrape call into f after these */
	cp_ctx_stats_remove(ctx, fanout_stats, f);
	if (hooked)
		cp_ctx_durable_remove(ctx, on_durable, f);
	struct cp_fanout_stats st;
	cp_fanout_stats_get(f, &st);
	cp_fanout_destroy(f);
	cp_log(CP_LOG_INFO, ROLE, "stopped: connections=%" PRIu64 " refused=%" PRIu64
	       " published=%" PRIu64 " publish_dropped=%" PRIu64 " delivered=%" PRIu64
	       " replayed=%" PRIu64 " slow_closed=%" PRIu64 " reports=%" PRIu64
	       " report_throttled=%" PRIu64 " policies_sent=%" PRIu64 " account_states=%" PRIu64,
	       st.connections, st.auth_refused, st.published, st.publish_dropped, st.delivered,
	       st.replayed, st.slow_closed, st.reports, st.report_throttled, st.policies_sent,
	       st.account_states);
	return 0;
}
