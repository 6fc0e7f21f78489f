/*
 * cp_api_metrics: /metrics in the Prometheus text format (version 0.0.4).
 *
 *   decp_ingest_*            the dataplane's shared stats block (dp_shm.h), mapped
 *                            read-only per scrape with cp_shm_peek(): counters per worker,
 *                            rejects by reason, latency histograms, ring depths
 *   decp_api_*               this api thread's requests, statuses, latency, events
 *   decp_trust_*, decp_fanout_*  what the other roles of this process register as stats
 *                            providers (cp_ctx.h); the api knows none of their types
 *   decp_postgresql_up, decp_redis_up, decp_subscriptions{state}
 * A scrape costs one mmap, one SELECT and one Redis PING: scrape every few seconds, not
 * per millisecond.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <rte_ring.h>

#include "cp_api_pvt.h"
#include "cp_gate.h"
#include "cp_ctx.h"
#include "cp_metrics.h"
#include "cp_redis.h"
#include "cp_shm.h"
#include "dp_hist.h"

/* Histogram bounds exported for the dataplane latencies (ns); +Inf is added. */
static const uint64_t ingest_bounds_ns[] = {1000, 5000, 10000, 25000, 50000, 100000, 250000,
					    500000, 1000000, 5000000, 20000000, 100000000};
#define NB (sizeof(ingest_bounds_ns) / sizeof(ingest_bounds_ns[0]))

/* The api writes through cp_metrics (common); short names for the many lines below. */
#define put cp_metrics_put
#define head cp_metrics_head

static uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* One dataplane histogram summed over workers, as a Prometheus histogram in seconds. */
static void ingest_hist(struct cp_metrics *o, const struct dp_shm *s, const char *stage, size_t off)
{
	uint64_t cum[NB] = {0}, count = 0, sum = 0;
	for (uint32_t w = 0; w < s->hdr->n_workers; w++) {
		const struct dp_hist *h = (const struct dp_hist *)((const char *)&s->stats[w] + off);
		count += ld(&h->count);
		sum += ld(&h->sum_ns);
		for (unsigned int i = 0; i < DP_HIST_BUCKETS; i++) {
			uint64_t c = ld(&h->bucket[i]);
			if (c == 0)
				continue;
			for (size_t b = 0; b < NB; b++)
				if (dp_hist_bucket_max(i) <= ingest_bounds_ns[b])
					cum[b] += c;
		}
	}
	for (size_t b = 0; b < NB; b++)
		put(o, "decp_ingest_latency_seconds_bucket{stage=\"%s\",le=\"%g\"} %" PRIu64 "\n",
		    stage, (double)ingest_bounds_ns[b] / 1e9, cum[b]);
	put(o, "decp_ingest_latency_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", stage,
	    count);
	put(o, "decp_ingest_latency_seconds_sum{stage=\"%s\"} %.9f\n", stage, (double)sum / 1e9);
	put(o, "decp_ingest_latency_seconds_count{stage=\"%s\"} %" PRIu64 "\n", stage, count);
}

static void ingest(struct cp_metrics *o, const struct cp_config *cfg)
{
	struct dp_shm s;
	int rc = cp_shm_peek(&s, cfg->shm);
	/* Up only while the dataplane heartbeats: a dataplane killed (SIGKILL, a crash, the OOM
	 * killer) or frozen leaves its segment RUNNING, and the counters below stay readable. */
	bool live = false;
	if (rc == 0) {
		uint64_t hb = atomic_load_explicit(&s.hdr->dp_heartbeat_ns, memory_order_relaxed);
		uint64_t now = dp_mono_ns(), stale = (uint64_t)cfg->dataplane_stale_ms * 1000000ull;
		live = stale == 0 || now <= hb || now - hb <= stale;
	}
	head(o, "decp_dataplane_up", "gauge",
	     "1 when the dataplane segment is mapped, running and heartbeating (dataplane_stale_ms)");
	put(o, "decp_dataplane_up %d\n", live);
	if (rc != 0)
		return;
	uint32_t nw = s.hdr->n_workers;
	head(o, "decp_ingest_events_total", "counter",
	     "dataplane counters per worker (signals_enqueued, acks_sent, ...)");
	for (unsigned int c = DP_CTR_FIRST; c < DP_CTR_COUNT; c++) {
		const char *name = dp_counter_name(c);
		if (strcmp(name, "?") == 0)
			continue;
		for (uint32_t w = 0; w < nw; w++)
			put(o, "decp_ingest_events_total{event=\"%s\",worker=\"%u\"} %" PRIu64 "\n",
			    name, w, dp_stat_get(&s.stats[w], c));
	}
	head(o, "decp_ingest_signals_enqueued_total", "counter",
	     "validated signals handed to the control plane (all workers)");
	uint64_t enq = 0;
	for (uint32_t w = 0; w < nw; w++)
		enq += dp_stat_get(&s.stats[w], DP_CTR_SIGNALS_ENQUEUED);
	put(o, "decp_ingest_signals_enqueued_total %" PRIu64 "\n", enq);
	head(o, "decp_ingest_rejects_total", "counter", "ingest rejections by reason (all workers)");
	for (unsigned int r = 1; r < DP_REASON_COUNT; r++) {
		uint64_t v = 0;
		for (uint32_t w = 0; w < nw; w++)
			v += dp_stat_get(&s.stats[w], DP_CTR_REASON_BASE + r);
		put(o, "decp_ingest_rejects_total{reason=\"%s\"} %" PRIu64 "\n", dp_reason_name(r), v);
	}
	head(o, "decp_ingest_latency_seconds", "histogram",
	     "rx_to_enq: RX to ingress ring; enq_to_ack: ingress ring to durable ACK");
	ingest_hist(o, &s, "rx_to_enq", offsetof(struct dp_stats, rx_to_enq));
	ingest_hist(o, &s, "enq_to_ack", offsetof(struct dp_stats, enq_to_ack));
	head(o, "decp_ring_depth", "gauge", "entries waiting in the shared-memory rings");
	for (uint32_t w = 0; w < nw; w++) {
		put(o, "decp_ring_depth{ring=\"ingress\",worker=\"%u\"} %u\n", w,
		    rte_ring_count(s.ingress[w]));
		put(o, "decp_ring_depth{ring=\"ack\",worker=\"%u\"} %u\n", w, rte_ring_count(s.ack[w]));
	}
	put(o, "decp_ring_depth{ring=\"ctrl\",worker=\"main\"} %u\n", rte_ring_count(s.ctrl));
	cp_shm_unpeek(&s);
}

/* A Redis Cluster answered: the map from a seed has a primary for every slot, and every
 * primary accepts a connection and answers PING. A killed primary therefore reads 0 until
 * the cluster has promoted its replica and the map says so (docs/api.md "Metrics"). */
static int cluster_up(const struct cp_config *cfg)
{
	struct cp_rcluster *c = malloc(sizeof(*c));
	char why[640];
	int up = 0;

	if (c == NULL)
		return 0;
	cp_rcluster_init(c, cfg->redis_nodes, cfg->redis_timeout_ms);
	if (cp_rcluster_connect(c, NULL, NULL, why, sizeof(why)) == 0) {
		up = 1;
		for (unsigned int i = 0; up && i < c->map.n; i++) {
			redisReply *r = redisCommand(c->ctx[i], "PING");
			up = r != NULL && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
		}
	}
	cp_rcluster_close(c);
	free(c);
	return up;
}

static int redis_up(const struct cp_config *cfg)
{
	if (cfg->redis_nodes[0] != '\0')
		return cluster_up(cfg);

	struct timeval tv = {cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000};
	char host[256], why[640];
	uint32_t port;

	if (cp_redis_target(cfg, host, sizeof(host), &port, why, sizeof(why)) != 0)
		return 0;
	redisContext *c = redisConnectWithTimeout(host, (int)port, tv);
	int up = 0;
	if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
		redisReply *r = redisCommand(c, "PING");
		up = r != NULL && r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
	}
	redisFree(c);
	return up;
}

/* The Redis probe behind decp_redis_up, off the workers' loops: a PING waits up to
 * redis_timeout_ms for a Redis that accepts and never answers, and a scrape (or anyone
 * asking /metrics, unauthenticated) must not hold a worker that long. Every
 * CP_API_REDIS_PROBE_MS until the role stops. */
void *cp_api_redis_prober(void *arg)
{
	struct api_shared *sh = arg;

	while (!atomic_load(sh->stop) && !atomic_load(&sh->abort)) {
		atomic_store(&sh->redis_up, redis_up(sh->cfg));
		for (int i = 0; i < CP_API_REDIS_PROBE_MS / 50 && !atomic_load(sh->stop) &&
				!atomic_load(&sh->abort);
		     i++) {
			struct timespec ts = {0, 50 * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void api_part(struct cp_metrics *o, const struct api *a)
{
	head(o, "decp_api_requests_total", "counter", "requests served, by status class");
	for (int c = 1; c <= 5; c++)
		put(o, "decp_api_requests_total{code=\"%dxx\"} %" PRIu64 "\n", c, ld(&a->sh->st.by_status[c]));
	head(o, "decp_api_request_duration_seconds", "histogram", "request service time");
	uint64_t cum = 0;
	for (size_t i = 0; i + 1 < API_LAT_BUCKETS; i++) { /* the last bound is +Inf */
		cum += ld(&a->sh->st.lat_bucket[i]);
		put(o, "decp_api_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
		    (double)cp_api_lat_bounds_us[i] / 1e6, cum);
	}
	put(o, "decp_api_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
	    ld(&a->sh->st.lat_count));
	put(o, "decp_api_request_duration_seconds_sum %.6f\n", (double)ld(&a->sh->st.lat_sum_us) / 1e6);
	put(o, "decp_api_request_duration_seconds_count %" PRIu64 "\n", ld(&a->sh->st.lat_count));
	head(o, "decp_api_protection_events_total", "counter",
	     "protection events stored in protection_logs through the API");
	put(o, "decp_api_protection_events_total %" PRIu64 "\n", ld(&a->sh->st.events_stored));
	head(o, "decp_api_executions_total", "counter", "successful executions reported (EXECUTE)");
	put(o, "decp_api_executions_total %" PRIu64 "\n", ld(&a->sh->st.executions_reported));
	head(o, "decp_api_rate_limited_total", "counter", "requests refused with 429");
	put(o, "decp_api_rate_limited_total %" PRIu64 "\n", ld(&a->sh->st.rate_limited));
	head(o, "decp_api_head_refused_total", "counter",
	     "request heads refused before lws (bad method, target, Content-Length; early 413)");
	put(o, "decp_api_head_refused_total %" PRIu64 "\n", ld(&a->sh->st.head_refused));
	if (a->sh->gate != NULL) {
		struct cp_gate_stats g;

		cp_gate_stats_get(a->sh->gate, &g);
		head(o, "decp_api_preauth_closed_total", "counter",
		     "connections closed before their request head was complete, by budget");
		put(o, "decp_api_preauth_closed_total{budget=\"evicted\"} %" PRIu64 "\n", g.evicted);
		put(o, "decp_api_preauth_closed_total{budget=\"per_source\"} %" PRIu64 "\n",
		    g.source_capped);
		put(o, "decp_api_preauth_closed_total{budget=\"source_rate\"} %" PRIu64 "\n",
		    g.source_rated);
		put(o, "decp_api_preauth_closed_total{budget=\"timeout\"} %" PRIu64 "\n", g.timed_out);
		head(o, "decp_api_preauth_pending", "gauge",
		     "connections held before their request head is complete");
		put(o, "decp_api_preauth_pending %" PRIu32 "\n", g.pending);
	}
	cp_metrics_counter(o, "decp_api_event_commits_total",
			   "transactions that stored protection-event POSTs (group commit)",
			   ld(&a->sh->st.event_commits));
	cp_metrics_counter(o, "decp_api_event_commit_requests_total",
			   "protection-event POSTs those transactions carried",
			   ld(&a->sh->st.event_commit_requests));
	cp_metrics_counter(o, "decp_api_event_commit_splits_total",
			   "failed group transactions retried one request per transaction",
			   ld(&a->sh->st.event_commit_splits));
	cp_metrics_counter(o, "decp_api_read_groups_total",
			   "statements that read grouped GETs of subscriptions",
			   ld(&a->sh->st.read_groups));
	cp_metrics_counter(o, "decp_api_read_group_requests_total",
			   "GETs of subscriptions those statements answered",
			   ld(&a->sh->st.read_group_requests));
}

static void db_part(struct cp_metrics *o, struct api *a)
{
	PGresult *res = NULL;
	/* a statement still in flight (the scrape waited API_PROBE_WAIT_MS for it, h_metrics):
	 * PostgreSQL did not answer this scrape in time */
	if (a->lane[API_LANE_PRIMARY].inflight == NULL && api_batch_primary_ready(a, true))
		res = cp_pg_exec(&a->pg, "SELECT state, count(*) FROM subscriptions GROUP BY state"
				 " ORDER BY state", 0, NULL);
	bool up = res != NULL && cp_pg_ok(res);
	head(o, "decp_postgresql_up", "gauge", "1 when PostgreSQL answered this scrape");
	put(o, "decp_postgresql_up %d\n", up);
	if (up) {
		head(o, "decp_subscriptions", "gauge", "subscriptions by state");
		for (int i = 0; i < PQntuples(res); i++)
			put(o, "decp_subscriptions{state=\"%s\"} %s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1));
	}
	PQclear(res);
	if (!up)
		return;
	/* The money ledger's last checkpoint (the archiver takes one each maintenance
	 * period): scraped, its head is kept by Prometheus, a copy of the chain head outside
	 * the database that `decpctl ledger verify` output can be compared with (docs/database.md
	 * "Tamper evidence").
	 * Since sql 0035 it covers the profit events' chains too: profit_head, a second label
	 * (absent for a checkpoint taken before; to_jsonb reads a database not migrated yet). */
	res = cp_pg_exec(&a->pg, "SELECT c.head, c.rows, c.wallets,"
			 " extract(epoch FROM c.taken_at)::bigint, to_jsonb(c) ->> 'profit_head'"
			 " FROM ledger_checkpoints c ORDER BY c.id DESC LIMIT 1", 0, NULL);
	if (res != NULL && cp_pg_ok(res) && PQntuples(res) == 1) {
		head(o, "decp_ledger_checkpoint_info", "gauge",
		     "the last ledger checkpoint's chain head and profit events' head (SHA-256),"
		     " as labels");
		if (PQgetisnull(res, 0, 4))
			put(o, "decp_ledger_checkpoint_info{head=\"%s\"} 1\n", PQgetvalue(res, 0, 0));
		else
			put(o, "decp_ledger_checkpoint_info{head=\"%s\",profit_head=\"%s\"} 1\n",
			    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 4));
		head(o, "decp_ledger_checkpoint_rows", "gauge", "ledger rows under that head");
		put(o, "decp_ledger_checkpoint_rows %s\n", PQgetvalue(res, 0, 1));
		head(o, "decp_ledger_checkpoint_timestamp_seconds", "gauge",
		     "when that checkpoint was taken (Unix time)");
		put(o, "decp_ledger_checkpoint_timestamp_seconds %s\n", PQgetvalue(res, 0, 3));
	}
	PQclear(res);
}

char *cp_api_metrics_text(struct api *a)
{
	struct cp_metrics o = {0};
	api_part(&o, a);
	db_part(&o, a);
	head(&o, "decp_redis_up", "gauge", "1 when Redis answered PING at the last probe, at most "
	     "half a second ago (a cluster: every primary)");
	put(&o, "decp_redis_up %d\n", atomic_load(&a->sh->redis_up) == 1);
	ingest(&o, a->cfg);
	cp_ctx_stats_write(a->sh->pctx, &o); /* the other roles' families (fanout, trust) */
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
