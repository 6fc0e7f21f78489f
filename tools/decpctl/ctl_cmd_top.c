/*
 * decpctl top: live view of the dataplane's shared stats block (dataplane/dp_shm.h).
 *
 * The segment is mapped READ-ONLY and without cp_shm_attach(): attaching registers the
 * process as the ring consumer (cp_pid) and binds the control doorbell, which belongs to
 * decp-control. top only reads counters, histograms, heartbeats and ring head/tail
 * indexes (relaxed loads; a torn read across counters is fine for monitoring, dp_shm.h).
 * Rates and interval percentiles are differences between two snapshots.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_ring.h>

#include "cp_config.h"
#include "cp_shm.h"
#include "ctl_cmd.h"
#include "ctl_cores.h"
#include "dp_hist.h"
#include "dp_shm.h"

#define TOP_DEFAULT_SHM "decp"

/* `decpctl cores` proposes at most as many workers as the segment can describe. */
_Static_assert(CTL_MAX_WORKERS == DP_SHM_MAX_WORKERS, "CTL_MAX_WORKERS != DP_SHM_MAX_WORKERS");

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl top [--shm NAME] [--interval S] [--once] [--json]\n"
		"                   [--config FILE | --stale-ms MS]\n"
		"\n"
		"Live view of decp-dataplane's shared stats (read-only: never disturbs decp-control):\n"
		"signals/s, ACKs/s, connections, ingress/ACK ring depths, ACK latency percentiles\n"
		"(ingress enqueue -> ACK back at the worker, i.e. durable in Redis) and RX->enqueue\n"
		"latency, ACK ring -> TX latency (DPDK), rejects by reason, and the transport's\n"
		"own counters (DPDK: the userspace stack's drop_* counters); per worker and in\n"
		"total.\n"
		"\n"
		"  --shm NAME      segment name as given to decp-dataplane --shm (default: $DECP_SHM,\n"
		"                  else '%s')\n"
		"  --interval S    seconds between samples (0.05..3600, default 1)\n"
		"  --once          one sample (rates over one interval) and exit\n"
		"  --json          one JSON object per interval, one per line\n"
		"  --config FILE   decp-control's configuration: its dataplane_stale_ms decides when\n"
		"                  a dataplane that stopped beating is 'stale' (default 3000 ms)\n"
		"  --stale-ms MS   the same threshold given directly (100..600000)\n"
		"  --help          this text\n"
		"\n"
		"Exit: 0 ok, 1 no dataplane segment (or a different layout version), 2 usage.\n",
		TOP_DEFAULT_SHM);
}

struct snap {
	uint64_t mono_ns;
	uint32_t n;
	uint64_t ctr[DP_SHM_MAX_WORKERS][DP_CTR_COUNT];
	uint64_t ack[DP_SHM_MAX_WORKERS][DP_HIST_BUCKETS];
	uint64_t rx[DP_SHM_MAX_WORKERS][DP_HIST_BUCKETS];
	uint64_t tx[DP_SHM_MAX_WORKERS][DP_HIST_BUCKETS]; /* ack_to_tx */
	uint32_t nx;                                      /* transport counters (hdr) */
	uint64_t x[DP_SHM_MAX_WORKERS][DP_XCTR_MAX];
	uint32_t in_depth[DP_SHM_MAX_WORKERS], in_cap[DP_SHM_MAX_WORKERS];
	uint32_t ack_depth[DP_SHM_MAX_WORKERS], ack_cap[DP_SHM_MAX_WORKERS];
	uint64_t worker_hb[DP_SHM_MAX_WORKERS];
	uint32_t worker_alive[DP_SHM_MAX_WORKERS];
	uint32_t state, ready;
	uint64_t dp_hb, cp_hb;
	int32_t cp_pid;
	uint64_t cp_lost;
	uint64_t cmd_applied, cmd_refused;   /* control's table commands, since start */
};

struct seg {
	struct dp_shm s;
	dev_t dev;
	ino_t ino;
};

static volatile sig_atomic_t g_stop;
static const char (*g_xnames)[DP_XCTR_NAME_LEN]; /* the mapped header's xctr_names */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void seg_close(struct seg *g)
{
	cp_shm_unpeek(&g->s);
	memset(g, 0, sizeof(*g));
}

/* Map read-only and validate (cp_shm_peek: cp_shm's checks, no registration), and note
 * the object's identity for seg_replaced(). Returns 0, -ENOENT, -EAGAIN (being built /
 * stopped), -EPROTO (other layout), -errno. */
static int seg_open(struct seg *g, const char *name)
{
	struct stat st;
	memset(g, 0, sizeof(*g));
	int rc = cp_shm_peek(&g->s, name);
	if (rc != 0)
		return rc;
	int fd = shm_open(g->s.name, O_RDONLY, 0);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		seg_close(g);
		return -EAGAIN;
	}
	close(fd);
	g->dev = st.st_dev;
	g->ino = st.st_ino;
	const struct dp_shm_hdr *h = g->s.hdr;
	if (h->xctr_count > DP_XCTR_MAX) {
		seg_close(g);
		return -EPROTO;
	}
	g_xnames = (const char(*)[DP_XCTR_NAME_LEN])h->xctr_names;
	return 0;
}

/* Has the name been re-created (dataplane restart) or removed? */
static bool seg_replaced(const struct seg *g)
{
	struct stat st;
	int fd = shm_open(g->s.name, O_RDONLY, 0);
	if (fd < 0)
		return true;
	bool same = fstat(fd, &st) == 0 && st.st_dev == g->dev && st.st_ino == g->ino;
	close(fd);
	return !same;
}

static void take(const struct seg *g, struct snap *sn)
{
	const struct dp_shm_hdr *h = g->s.hdr;
	sn->n = h->n_workers;
	sn->nx = h->xctr_count <= DP_XCTR_MAX ? h->xctr_count : DP_XCTR_MAX;
	sn->state = atomic_load_explicit(&h->dp_state, memory_order_acquire);
	sn->ready = atomic_load_explicit(&h->dp_ready, memory_order_relaxed);
	sn->dp_hb = atomic_load_explicit(&h->dp_heartbeat_ns, memory_order_relaxed);
	sn->cp_hb = atomic_load_explicit(&h->cp_heartbeat_ns, memory_order_relaxed);
	sn->cp_pid = atomic_load_explicit(&h->cp_pid, memory_order_relaxed);
	sn->cp_lost = atomic_load_explicit(&h->dp_cp_lost, memory_order_relaxed);
	sn->cmd_applied = atomic_load_explicit(&h->dp_ctrl_applied, memory_order_relaxed);
	sn->cmd_refused = atomic_load_explicit(&h->dp_ctrl_rejected, memory_order_relaxed);
	for (uint32_t w = 0; w < sn->n; w++) {
		const struct dp_stats *st = &g->s.stats[w];
		for (unsigned int c = 0; c < DP_CTR_COUNT; c++)
			sn->ctr[w][c] = dp_stat_get(st, c);
		for (unsigned int b = 0; b < DP_HIST_BUCKETS; b++) {
			sn->ack[w][b] = atomic_load_explicit(&st->enq_to_ack.bucket[b], memory_order_relaxed);
			sn->rx[w][b] = atomic_load_explicit(&st->rx_to_enq.bucket[b], memory_order_relaxed);
			sn->tx[w][b] = atomic_load_explicit(&st->ack_to_tx.bucket[b], memory_order_relaxed);
		}
		for (uint32_t x = 0; x < sn->nx; x++)
			sn->x[w][x] = atomic_load_explicit(&st->xctr[x], memory_order_relaxed);
		sn->in_depth[w] = rte_ring_count(g->s.ingress[w]);
		sn->in_cap[w] = rte_ring_get_capacity(g->s.ingress[w]);
		sn->ack_depth[w] = rte_ring_count(g->s.ack[w]);
		sn->ack_cap[w] = rte_ring_get_capacity(g->s.ack[w]);
		sn->worker_hb[w] = atomic_load_explicit(&g->s.workers[w].worker_heartbeat_ns,
							memory_order_relaxed);
		sn->worker_alive[w] = atomic_load_explicit(&g->s.workers[w].worker_alive,
							   memory_order_relaxed);
	}
	/* After the heartbeats were read, so an age is never negative. */
	sn->mono_ns = dp_mono_ns();
}

/* Percentiles (ns) of the bucket-count difference cur - prev over workers [w0, w1). */
struct pct {
	uint64_t count;
	uint64_t p50, p99, p999;
};

static struct pct pct_of(uint64_t (*cur)[DP_HIST_BUCKETS], uint64_t (*prev)[DP_HIST_BUCKETS],
			 uint32_t w0, uint32_t w1)
{
	static uint64_t d[DP_HIST_BUCKETS];
	struct pct r = {0};
	for (unsigned int b = 0; b < DP_HIST_BUCKETS; b++) {
		d[b] = 0;
		for (uint32_t w = w0; w < w1; w++)
			d[b] += cur[w][b] - (prev != NULL ? prev[w][b] : 0);
		r.count += d[b];
	}
	if (r.count == 0)
		return r;
	const double qs[3] = {0.50, 0.99, 0.999};
	uint64_t *out[3] = {&r.p50, &r.p99, &r.p999};
	for (int k = 0; k < 3; k++) {
		uint64_t rank = (uint64_t)(qs[k] * (double)r.count);
		if (rank >= r.count)
			rank = r.count - 1;
		uint64_t seen = 0;
		for (unsigned int b = 0; b < DP_HIST_BUCKETS; b++) {
			seen += d[b];
			if (seen > rank) {
				*out[k] = dp_hist_bucket_max(b);
				break;
			}
		}
	}
	return r;
}

static uint64_t sum_ctr(const struct snap *s, uint32_t w0, uint32_t w1, unsigned int c)
{
	uint64_t v = 0;
	for (uint32_t w = w0; w < w1; w++)
		v += s->ctr[w][c];
	return v;
}

static double rate(const struct snap *cur, const struct snap *prev, uint32_t w0, uint32_t w1,
		   unsigned int c, double dt)
{
	if (dt <= 0)
		return 0;
	return (double)(sum_ctr(cur, w0, w1, c) - sum_ctr(prev, w0, w1, c)) / dt;
}

static json_t *pct_json(struct pct p)
{
	if (p.count == 0)
		return json_pack("{s:I,s:n,s:n,s:n}", "count", (json_int_t)0, "p50_us", "p99_us", "p999_us");
	return json_pack("{s:I,s:f,s:f,s:f}", "count", (json_int_t)p.count, "p50_us", p.p50 / 1e3,
			 "p99_us", p.p99 / 1e3, "p999_us", p.p999 / 1e3);
}

static json_t *group_json(const struct snap *cur, const struct snap *prev, uint32_t w0, uint32_t w1,
			  double dt)
{
	json_t *o = json_object();
	uint64_t acc = sum_ctr(cur, w0, w1, DP_CTR_CONN_ACCEPTED);
	uint64_t clo = sum_ctr(cur, w0, w1, DP_CTR_CONN_CLOSED);
	json_object_set_new(o, "signals_per_s", json_real(rate(cur, prev, w0, w1, DP_CTR_SIGNALS_ENQUEUED, dt)));
	json_object_set_new(o, "acks_per_s", json_real(rate(cur, prev, w0, w1, DP_CTR_ACKS_SENT, dt)));
	json_object_set_new(o, "nacks_per_s", json_real(rate(cur, prev, w0, w1, DP_CTR_NACKS_SENT, dt)));
	json_object_set_new(o, "rx_frames_per_s", json_real(rate(cur, prev, w0, w1, DP_CTR_RX_FRAMES, dt)));
	json_object_set_new(o, "connections", json_integer((json_int_t)(acc >= clo ? acc - clo : 0)));
	uint64_t ind = 0, inc = 0, ackd = 0, ackc = 0;
	for (uint32_t w = w0; w < w1; w++) {
		ind += cur->in_depth[w];
		inc += cur->in_cap[w];
		ackd += cur->ack_depth[w];
		ackc += cur->ack_cap[w];
	}
	json_object_set_new(o, "ingress_depth", json_integer((json_int_t)ind));
	json_object_set_new(o, "ingress_capacity", json_integer((json_int_t)inc));
	json_object_set_new(o, "ack_depth", json_integer((json_int_t)ackd));
	json_object_set_new(o, "ack_capacity", json_integer((json_int_t)ackc));
	json_object_set_new(o, "ack_latency", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->ack,
						       (uint64_t(*)[DP_HIST_BUCKETS])prev->ack, w0, w1)));
	json_object_set_new(o, "ack_latency_total", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->ack,
							     NULL, w0, w1)));
	json_object_set_new(o, "rx_to_enqueue", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->rx,
							 (uint64_t(*)[DP_HIST_BUCKETS])prev->rx, w0, w1)));
	json_t *ctr = json_object(), *rej = json_object(), *rejr = json_object();
	for (unsigned int c = DP_CTR_FIRST; c < DP_CTR_COUNT; c++)
		if (strcmp(dp_counter_name(c), "?") != 0) /* DP_CTR_FIRST itself is a marker */
			json_object_set_new(ctr, dp_counter_name(c),
					    json_integer((json_int_t)sum_ctr(cur, w0, w1, c)));
	for (unsigned int r = 1; r < DP_REASON_COUNT; r++) {
		unsigned int c = DP_CTR_REASON_BASE + r;
		json_object_set_new(rej, dp_reason_name(r), json_integer((json_int_t)sum_ctr(cur, w0, w1, c)));
		json_object_set_new(rejr, dp_reason_name(r), json_real(rate(cur, prev, w0, w1, c, dt)));
	}
	json_object_set_new(o, "ack_to_tx", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->tx,
						     (uint64_t(*)[DP_HIST_BUCKETS])prev->tx, w0, w1)));
	json_object_set_new(o, "rx_to_enqueue_total", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->rx,
							       NULL, w0, w1)));
	json_object_set_new(o, "ack_to_tx_total", pct_json(pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->tx,
							   NULL, w0, w1)));
	/* The transport's own counters (DPDK: the userspace stack's drop_* and events). */
	json_t *stk = json_object();
	for (uint32_t x = 0; x < cur->nx; x++) {
		uint64_t v = 0;
		for (uint32_t w = w0; w < w1; w++)
			v += cur->x[w][x];
		json_object_set_new(stk, g_xnames[x], json_integer((json_int_t)v));
	}
	json_object_set_new(o, "transport", stk);
	json_object_set_new(o, "counters", ctr);
	json_object_set_new(o, "rejects", rej);
	json_object_set_new(o, "rejects_per_s", rejr);
	return o;
}

static double age_ms(uint64_t now, uint64_t then)
{
	if (then == 0)
		return -1.0; /* never beat */
	return then >= now ? 0.0 : (double)(now - then) / 1e6;
}

/* The dataplane's state. A dataplane killed (SIGKILL, a crash, the OOM killer) or frozen
 * leaves its segment RUNNING: "stale" once it has not beaten for decp-control's
 * dataplane_stale_ms (--config, --stale-ms; its default otherwise), after which decp-control
 * treats the dataplane as gone. */
static double g_stale_ms;
static const char *state_name(const struct snap *cur)
{
	if (cur->state == DP_SHM_STATE_RUNNING)
		return age_ms(cur->mono_ns, cur->dp_hb) > g_stale_ms ? "stale" : "running";
	return cur->state == DP_SHM_STATE_STOPPED ? "stopped" : "init";
}

static void print_json(const struct seg *g, const struct snap *cur, const struct snap *prev)
{
	double dt = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	const struct dp_shm_hdr *h = g->s.hdr;
	json_t *o = json_object();
	json_object_set_new(o, "time_ns", json_integer((json_int_t)dp_wall_ns()));
	json_object_set_new(o, "shm", json_string(g->s.name));
	json_object_set_new(o, "pid", json_integer(h->dp_pid));
	json_object_set_new(o, "generation", json_integer((json_int_t)h->generation));
	json_object_set_new(o, "state", json_string(state_name(cur)));
	json_object_set_new(o, "ready", json_boolean(cur->ready != 0));
	json_object_set_new(o, "heartbeat_age_ms", json_real(age_ms(cur->mono_ns, cur->dp_hb)));
	json_object_set_new(o, "stale_ms", json_real(g_stale_ms));
	json_object_set_new(o, "control", json_pack("{s:i,s:f,s:I,s:I,s:I}", "pid", cur->cp_pid,
						    "heartbeat_age_ms", age_ms(cur->mono_ns, cur->cp_hb),
						    "lost", (json_int_t)cur->cp_lost,
						    "commands_applied", (json_int_t)cur->cmd_applied,
						    "commands_refused", (json_int_t)cur->cmd_refused));
	json_object_set_new(o, "interval_s", json_real(dt));
	json_object_set_new(o, "n_workers", json_integer(cur->n));
	json_object_set_new(o, "total", group_json(cur, prev, 0, cur->n, dt));
	json_t *ws = json_array();
	for (uint32_t w = 0; w < cur->n; w++) {
		json_t *x = group_json(cur, prev, w, w + 1, dt);
		json_object_set_new(x, "worker", json_integer(w));
		json_object_set_new(x, "alive", json_boolean(cur->worker_alive[w] != 0));
		json_object_set_new(x, "heartbeat_age_ms", json_real(age_ms(cur->mono_ns, cur->worker_hb[w])));
		json_array_append_new(ws, x);
	}
	json_object_set_new(o, "workers", ws);
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (s != NULL)
		printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void fmt_us(char *b, size_t cap, struct pct p)
{
	if (p.count == 0)
		snprintf(b, cap, "%22s", "-");
	else
	{
		/* One decimal below 1 ms, whole microseconds above: the column stays 22 wide. */
		char v[3][16];
		uint64_t x[3] = {p.p50, p.p99, p.p999};
		for (int k = 0; k < 3; k++)
			snprintf(v[k], sizeof(v[k]), x[k] < 1000000 ? "%.1f" : "%.0f", x[k] / 1e3);
		snprintf(b, cap, "%22s", "");
		int n = snprintf(b, cap, "%s/%s/%s", v[0], v[1], v[2]);
		if (n > 0 && n < 22) {
			char t[40];
			snprintf(t, sizeof(t), "%22s", b);
			snprintf(b, cap, "%s", t);
		}
	}
}

static void print_row(const char *label, const struct snap *cur, const struct snap *prev,
		      uint32_t w0, uint32_t w1, double dt)
{
	uint64_t acc = sum_ctr(cur, w0, w1, DP_CTR_CONN_ACCEPTED);
	uint64_t clo = sum_ctr(cur, w0, w1, DP_CTR_CONN_CLOSED);
	uint64_t ind = 0, inc = 0, ackd = 0, ackc = 0;
	double rej = 0;
	for (uint32_t w = w0; w < w1; w++) {
		ind += cur->in_depth[w];
		inc += cur->in_cap[w];
		ackd += cur->ack_depth[w];
		ackc += cur->ack_cap[w];
	}
	for (unsigned int r = 1; r < DP_REASON_COUNT; r++)
		if (r != DP_REASON_DUPLICATE)
			rej += rate(cur, prev, w0, w1, DP_CTR_REASON_BASE + r, dt);
	char lat[40], ib[32], ab[32];
	fmt_us(lat, sizeof(lat), pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->ack,
					(uint64_t(*)[DP_HIST_BUCKETS])prev->ack, w0, w1));
	snprintf(ib, sizeof(ib), "%llu/%llu", (unsigned long long)ind, (unsigned long long)inc);
	snprintf(ab, sizeof(ab), "%llu/%llu", (unsigned long long)ackd, (unsigned long long)ackc);
	printf("%-9s %10.0f %10.0f %8.0f %6llu %13s %13s %s %9.1f\n", label,
	       rate(cur, prev, w0, w1, DP_CTR_SIGNALS_ENQUEUED, dt),
	       rate(cur, prev, w0, w1, DP_CTR_ACKS_SENT, dt), rate(cur, prev, w0, w1, DP_CTR_NACKS_SENT, dt),
	       (unsigned long long)(acc >= clo ? acc - clo : 0), ib, ab, lat, rej);
}

static void print_text(const struct seg *g, const struct snap *cur, const struct snap *prev, bool tty)
{
	double dt = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	const struct dp_shm_hdr *h = g->s.hdr;
	if (tty)
		printf("\033[H\033[2J");
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
	char cp[64];
	if (cur->cp_pid > 0)
		snprintf(cp, sizeof(cp), "control pid %d (heartbeat %.0f ms)", cur->cp_pid,
			 age_ms(cur->mono_ns, cur->cp_hb));
	else
		snprintf(cp, sizeof(cp), "no control process attached");
	printf("decp-dataplane %s  pid %d  %s%s  heartbeat %.0f ms  %s  %s\n", g->s.name, h->dp_pid,
	       state_name(cur), cur->ready ? ", ready" : ", NOT ready (logins refused)",
	       age_ms(cur->mono_ns, cur->dp_hb), cp, when);
	if (strcmp(state_name(cur), "stale") == 0)
		printf("  NO HEARTBEAT for %.1f s: the dataplane is dead or frozen (is pid %d alive?)\n",
		       age_ms(cur->mono_ns, cur->dp_hb) / 1e3, h->dp_pid);
	printf("%-9s %10s %10s %8s %6s %13s %13s %22s %9s\n", "", "signals/s", "acks/s", "nacks/s",
	       "conns", "ingress", "ack ring", "ACK us p50/p99/p99.9", "rejects/s");
	char label[24];
	for (uint32_t w = 0; w < cur->n; w++) {
		snprintf(label, sizeof(label), "worker %u", w);
		print_row(label, cur, prev, w, w + 1, dt);
	}
	if (cur->n > 1)
		print_row("total", cur, prev, 0, cur->n, dt);
	printf("rejects since start:");
	bool any = false;
	for (unsigned int r = 1; r < DP_REASON_COUNT; r++) {
		uint64_t v = sum_ctr(cur, 0, cur->n, DP_CTR_REASON_BASE + r);
		uint64_t d = v - sum_ctr(prev, 0, prev->n, DP_CTR_REASON_BASE + r);
		if (v == 0)
			continue;
		printf(" %s %llu", dp_reason_name(r), (unsigned long long)v);
		if (d > 0)
			printf(" (+%llu)", (unsigned long long)d);
		any = true;
	}
	printf("%s\n", any ? "" : " none");
	/* The pre-authentication budget (docs/ingest.md): who is being kept out, and how. */
	printf("pre-login now %llu; since start: source limit %llu, evicted %llu, hello timeout "
	       "%llu, table full %llu; control lost %llu, its table commands refused %llu\n",
	       (unsigned long long)sum_ctr(cur, 0, cur->n, DP_CTR_PRELOGIN),
	       (unsigned long long)sum_ctr(cur, 0, cur->n, DP_CTR_PREAUTH_SRC_REFUSED),
	       (unsigned long long)sum_ctr(cur, 0, cur->n, DP_CTR_PREAUTH_EVICTED),
	       (unsigned long long)sum_ctr(cur, 0, cur->n,
					   DP_CTR_REASON_BASE + DP_REASON_HELLO_TIMEOUT),
	       (unsigned long long)sum_ctr(cur, 0, cur->n, DP_CTR_CONN_REFUSED),
	       (unsigned long long)cur->cp_lost, (unsigned long long)cur->cmd_refused);
	char rl[40], tl[40];
	fmt_us(rl, sizeof(rl), pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->rx,
				      (uint64_t(*)[DP_HIST_BUCKETS])prev->rx, 0, cur->n));
	fmt_us(tl, sizeof(tl), pct_of((uint64_t(*)[DP_HIST_BUCKETS])cur->tx,
				      (uint64_t(*)[DP_HIST_BUCKETS])prev->tx, 0, cur->n));
	printf("internal us p50/p99/p99.9: RX->enqueue %s  ACK->TX %s\n", rl, tl);
	/* TLS: one line of every non-zero tls_* counter (handshakes, resumptions, refusals). */
	any = false;
	for (unsigned int c = DP_CTR_TLS_HANDSHAKES; c <= DP_CTR_TLS_RECORD_ERRORS; c++) {
		uint64_t v = sum_ctr(cur, 0, cur->n, c);
		if (v == 0)
			continue;
		printf("%s %s %llu", any ? "" : "tls since start:", dp_counter_name(c) + 4,
		       (unsigned long long)v);
		any = true;
	}
	if (any)
		printf("\n");
	if (cur->nx > 0) {
		printf("transport drops since start:");
		any = false;
		for (uint32_t x = 0; x < cur->nx; x++) {
			uint64_t v = 0;
			for (uint32_t w = 0; w < cur->n; w++)
				v += cur->x[w][x];
			if (v == 0 || strncmp(g_xnames[x], "drop_", 5) != 0)
				continue;
			printf(" %s %llu", g_xnames[x] + 5, (unsigned long long)v);
			any = true;
		}
		printf("%s\n", any ? "" : " none");
	}
	printf("\n");
	fflush(stdout);
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int ctl_cmd_top(int argc, char **argv)
{
	static const struct option lo[] = {
		{"shm", required_argument, NULL, 's'},  {"interval", required_argument, NULL, 'i'},
		{"once", no_argument, NULL, 'o'},        {"json", no_argument, NULL, 'j'},
		{"root", required_argument, NULL, 'r'},  {"help", no_argument, NULL, 'h'},
		{"config", required_argument, NULL, 'f'}, {"stale-ms", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0}};
	const char *name = getenv("DECP_SHM"), *config = NULL, *shm_opt = NULL;
	long stale_ms = -1;
	struct cp_config cfg;
	double interval = 1.0;
	bool once = false, json = false;
	int c, rc;
	if (name == NULL || name[0] == '\0')
		name = TOP_DEFAULT_SHM;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': name = shm_opt = optarg; break;
		case 'i': {
			char *end;
			interval = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(interval >= 0.05 && interval <= 3600))
				return ctl_usage_error("top", "--interval '%s': seconds in 0.05..3600", optarg);
			break;
		}
		case 'o': once = true; break;
		case 'j': json = true; break;
		case 'f': config = optarg; break;
		case 'S':
			if (ctl_parse_long("top", "--stale-ms", optarg, 100, 600000, &stale_ms))
				return CTL_EXIT_USAGE;
			break;
		case 'r':
			/* Shared memory is not below a root; accepted for uniformity only. */
			if ((rc = ctl_set_root_opt("top", optarg)) != 0)
				return rc;
			break;
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default: return ctl_option_error("top", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("top", "unexpected argument '%s'", argv[optind]);
	if (config != NULL && stale_ms >= 0)
		return ctl_usage_error("top", "--config and --stale-ms: give one");
	/* the dataplane's rule for its --shm (dp_shm.h): a name it cannot have created is a
	 * usage error, not "does not exist" */
	if (dp_shm_name_fix(NULL, 0, name) != 0)
		return ctl_usage_error("top", "%s '%s': " DP_SHM_NAME_RULE,
				       name == shm_opt ? "--shm" : "$DECP_SHM", name);
	cp_config_defaults(&cfg);
	if (config != NULL) {
		char err[512];
		if (cp_config_load(&cfg, config, err, sizeof(err)) != 0) {
			fprintf(stderr, "decpctl top: %s\n", err);
			return CTL_EXIT_FAIL;
		}
	}
	g_stale_ms = stale_ms >= 0 ? (double)stale_ms : (double)cfg.dataplane_stale_ms;

	struct seg g;
	rc = seg_open(&g, name);
	if (rc != 0) {
		fprintf(stderr, "decpctl top: segment '%s': %s\n", name,
			rc == -ENOENT  ? "does not exist (is decp-dataplane running with this --shm?)"
			: rc == -EPROTO ? "different layout version (decpctl and decp-dataplane from "
					  "different builds)"
			: rc == -EAGAIN ? "not ready (dataplane starting or stopped)"
					: strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct snap *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		seg_close(&g);
		return CTL_EXIT_FAIL;
	}
	bool tty = isatty(STDOUT_FILENO) && !json && !once;
	take(&g, a);
	int exit_code = CTL_EXIT_OK;
	while (!g_stop) {
		sleep_s(interval);
		if (g_stop)
			break;
		take(&g, b);
		if (json)
			print_json(&g, b, a);
		else
			print_text(&g, b, a, tty);
		if (once)
			break;
		struct snap *t = a;
		a = b;
		b = t;
		if (seg_replaced(&g)) {
			/* Dataplane restarted or gone: follow the name, like decp-control does. */
			seg_close(&g);
			while (!g_stop && seg_open(&g, name) != 0) {
				if (!json)
					printf("waiting for segment '%s' (dataplane not running)\n", name);
				sleep_s(interval);
			}
			if (g_stop)
				break;
			take(&g, a);
		}
	}
	free(a);
	free(b);
	seg_close(&g);
	return exit_code;
}
