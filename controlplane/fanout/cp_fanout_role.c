#include "cp_fanout_role.h"

#include <pthread.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cp_edge.h"
#include "cp_fanout.h"
#include "cp_log.h"
#include "dp_shm.h"

#define ROLE "fanout"

static pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cp_fanout_stats g_stats;
static bool g_stats_live;

static void publish_stats(const struct cp_fanout *f, bool live)
{
	struct cp_fanout_stats st;
	if (live)
		cp_fanout_stats_get(f, &st);
	pthread_mutex_lock(&g_stats_lock);
	if (live)
		g_stats = st;
	g_stats_live = live;
	pthread_mutex_unlock(&g_stats_lock);
}

int cp_fanout_role_stats(struct cp_fanout_stats *out)
{
	pthread_mutex_lock(&g_stats_lock);
	bool live = g_stats_live;
	if (live)
		*out = g_stats;
	pthread_mutex_unlock(&g_stats_lock);
	return live ? 0 : -ENOENT;
}

static bool stopping(const atomic_int *stop)
{
	return atomic_load_explicit(stop, memory_order_relaxed) != 0;
}

/* The edge's durable hook: one envelope per signal, one wake-up per batch (rec NULL). */
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
static struct cp_fanout *create_retrying(const struct cp_config *cfg, const atomic_int *stop,
					 int *rc)
{
	unsigned int backoff = 50;

	*rc = 0;
	while (!stopping(stop)) {
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

int cp_fanout_role_run(const struct cp_config *cfg, const atomic_int *stop)
{
	int rc;
	struct cp_fanout *f = create_retrying(cfg, stop, &rc);

	if (f == NULL)
		return rc;
	rc = cp_fanout_start(f);
	if (rc != 0) {
		cp_log(CP_LOG_ERR, ROLE, "starting threads: %s", strerror(-rc));
		cp_fanout_destroy(f);
		return rc;
	}
	bool hooked = (cfg->roles & CP_ROLE_EDGE) != 0;
	if (hooked)
		cp_edge_set_durable_hook(on_durable, f);
	cp_log(CP_LOG_INFO, ROLE, "listening on %s:%d (%s), %s", cfg->fanout_listen,
	       cp_fanout_port(f), cfg->fanout_cert[0] != '\0' ? "wss" : "ws",
	       hooked ? "fed by the edge in-process" : "tailing Redis");
	while (!stopping(stop)) {
		publish_stats(f, true);
		cp_sleep_ms(100);
	}
	publish_stats(f, false);
	if (hooked)
		cp_edge_set_durable_hook(NULL, NULL); /* no edge call into f after this */
	struct cp_fanout_stats st;
	cp_fanout_stats_get(f, &st);
	cp_fanout_destroy(f);
	cp_log(CP_LOG_INFO, ROLE, "stopped: connections=%" PRIu64 " refused=%" PRIu64
	       " published=%" PRIu64 " publish_dropped=%" PRIu64 " delivered=%" PRIu64
	       " replayed=%" PRIu64 " slow_closed=%" PRIu64 " reports=%" PRIu64, st.connections,
	       st.auth_refused, st.published, st.publish_dropped, st.delivered, st.replayed,
	       st.slow_closed, st.reports);
	return 0;
}
