/* dp_ctrl: the dataplane main thread's duties toward the control side (control-ring commands
 * applied to the tables, readiness and liveness, the stats line, signals), shared by both
 * transports. Contract in dp_ctrl.h. */
#include "dp_ctrl.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dp_hist.h"

void dp_ctrl_print_stats(const struct dp_shm *shm, FILE *f, const char *prog)
{
	uint32_t n = shm->hdr->n_workers;
	fprintf(f, "%s stats:", prog);
	for (unsigned int c = 1; c < DP_CTR_COUNT; c++) {
		uint64_t sum = 0;
		for (uint32_t w = 0; w < n; w++)
			sum += dp_stat_get(&shm->stats[w], c);
		if (sum != 0)
			fprintf(f, " %s=%llu", dp_counter_name(c), (unsigned long long)sum);
	}
	for (uint32_t x = 0; x < shm->hdr->xctr_count; x++) {
		uint64_t sum = 0;
		for (uint32_t w = 0; w < n; w++)
			sum += atomic_load_explicit(&shm->stats[w].xctr[x], memory_order_relaxed);
		if (sum != 0)
			fprintf(f, " %s=%llu", shm->hdr->xctr_names[x], (unsigned long long)sum);
	}
	const struct dp_hist *h[DP_SHM_MAX_WORKERS];
	for (uint32_t w = 0; w < n; w++)
		h[w] = &shm->stats[w].enq_to_ack;
	fprintf(f, " enq_to_ack_p50_ns=%llu p99_ns=%llu\n",
		(unsigned long long)dp_hist_quantile(h, n, 0.5),
		(unsigned long long)dp_hist_quantile(h, n, 0.99));
}

void dp_ctrl_poll(struct dp_shm *shm, struct dp_tables *t)
{
	struct dp_ctrl_cmd cmds[256];
	unsigned int n = rte_ring_sc_dequeue_burst_elem(shm->ctrl, cmds, sizeof(cmds[0]), 256, NULL);
	if (n == 0)
		return;
	unsigned int rejected = 0;
	while (dp_tables_apply(t, cmds, n, &rejected) != 0) {
		/* Out of memory: keep the commands and retry; never apply half a batch. */
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	uint64_t cookie = 0;
	struct dp_shm_hdr *h = shm->hdr;
	for (unsigned int i = 0; i < n; i++) {
		if (cmds[i].type == DP_CTRL_READY) {
			atomic_store_explicit(&h->dp_ready_attach,
					      atomic_load_explicit(&h->cp_attach_count,
								   memory_order_acquire),
					      memory_order_relaxed);
			atomic_store_explicit(&h->dp_login_confirm,
					      (cmds[i].ready_flags & DP_READY_CONFIRM_LOGINS) != 0,
					      memory_order_relaxed);
			atomic_store_explicit(&h->dp_ready_cmd, 1, memory_order_relaxed);
		} else if (cmds[i].type == DP_CTRL_NOT_READY) {
			atomic_store_explicit(&h->dp_ready_cmd, 0, memory_order_relaxed);
		}
		if (cmds[i].cookie > cookie)
			cookie = cmds[i].cookie;
	}
	/* A master refused here cannot log in (its token is unknown: bad_token): say so, the
	 * operator's only other sign is `decpctl top`'s refused commands. */
	if (rejected != 0)
		fprintf(stderr, "decp-dataplane: control: %u table command(s) refused, the first for "
			"master %llu: %s\n", rejected, (unsigned long long)t->refused_master,
			t->refused_err == -ENOSPC
				? "no master slot left (--max-masters, the runtime slots in use): "
				  "its logins are refused as bad_token"
				: "malformed command");
		/* Tables first, then readiness: a READY in this batch sees its tokens published. */
	dp_ctrl_liveness(shm, dp_mono_ns(), 0);
	atomic_fetch_add_explicit(&shm->hdr->dp_ctrl_applied, n - rejected, memory_order_relaxed);
	atomic_fetch_add_explicit(&shm->hdr->dp_ctrl_rejected, rejected, memory_order_relaxed);
	if (cookie > atomic_load_explicit(&shm->hdr->dp_ctrl_last_cookie, memory_order_relaxed))
		atomic_store_explicit(&shm->hdr->dp_ctrl_last_cookie, cookie, memory_order_release);
}

bool dp_ctrl_liveness(struct dp_shm *shm, uint64_t now_ns, uint64_t stale_ns)
{
	struct dp_shm_hdr *h = shm->hdr;
	int32_t pid = atomic_load_explicit(&h->cp_pid, memory_order_acquire);
	uint64_t hb = atomic_load_explicit(&h->cp_heartbeat_ns, memory_order_relaxed);
	bool alive = pid != 0 && (stale_ns == 0 || hb + stale_ns >= now_ns);
	/* A READY counts only for the control process that sent it: a newly attached one
	 * (restart) must reload tokens, keys and durable sequences and say READY again. */
	bool ready = alive && atomic_load_explicit(&h->dp_ready_cmd, memory_order_relaxed) != 0 &&
		     atomic_load_explicit(&h->dp_ready_attach, memory_order_relaxed) ==
			     atomic_load_explicit(&h->cp_attach_count, memory_order_acquire);
	uint32_t was = atomic_load_explicit(&h->dp_ready, memory_order_relaxed);
	if (was != (uint32_t)ready) {
		if (was && !alive)
			atomic_fetch_add_explicit(&h->dp_cp_lost, 1, memory_order_relaxed);
		atomic_store_explicit(&h->dp_ready, ready ? 1u : 0u, memory_order_release);
	}
	return ready;
}

static volatile sig_atomic_t stop_requested, hup_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hup_requested = 1;
	else
		stop_requested = 1;
}

const volatile sig_atomic_t *dp_ctrl_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return &stop_requested;
}

void dp_ctrl_run(struct dp_shm *shm, struct dp_tables *t, uint32_t stats_ms,
		 uint32_t cp_stale_ms, const char *prog, const volatile sig_atomic_t *stop,
		 void (*on_hup)(void *), void *hup_arg)
{
	uint64_t next_stats = dp_mono_ns() + (uint64_t)stats_ms * 1000000ull;
	bool ready = false;
	while (!*stop) {
		dp_ctrl_poll(shm, t);
		uint64_t now = dp_mono_ns();
		atomic_store_explicit(&shm->hdr->dp_heartbeat_ns, now, memory_order_relaxed);
		bool r = dp_ctrl_liveness(shm, now, (uint64_t)cp_stale_ms * 1000000ull);
		if (r != ready)
			fprintf(stderr, "%s: %s\n", prog,
				r ? "control ready: accepting logins"
				  : "control not ready, detached or silent: logins get Nack UNAVAILABLE");
		ready = r;
		if (hup_requested) {
			hup_requested = 0;
			if (on_hup != NULL)
				on_hup(hup_arg);
		}
		if (stats_ms != 0 && now >= next_stats) {
			dp_ctrl_print_stats(shm, stderr, prog);
			next_stats = now + (uint64_t)stats_ms * 1000000ull;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

int dp_ctrl_publish_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	int bad = fputs(text, f) < 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		int e = errno != 0 ? errno : EIO;
		unlink(tmp);
		return -e;
	}
	return 0;
}
