/*
 * dp_ctrl: what the dataplane's main thread does for the control side, shared by both
 * transports (posix: app/dp_main.c with posix/dp_posix, DPDK: dpdk/dp_dpdk_app.c).
 */
#ifndef DECP_DP_CTRL_H
#define DECP_DP_CTRL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dp_shm.h"
#include "dp_tables.h"

/*
 * Apply every command waiting on the control ring to the tables (READY / NOT_READY set
 * hdr->dp_ready_cmd, then dp_ctrl_liveness without a staleness bound; applied/rejected
 * counts and the highest cookie are published in the header). Main thread only: the control ring has one consumer. A batch is applied whole:
 * on allocation failure it sleeps 10 ms and retries, never applying half of it.
 */
void dp_ctrl_poll(struct dp_shm *shm, struct dp_tables *t);

/*
 * Publish hdr->dp_ready = the control process that sent the last READY is still the
 * attached one (cp_attach_count unchanged), cp_pid is set and its heartbeat is at most
 * stale_ns old (0 = no age bound). Counts a loss (dp_cp_lost) when readiness ends because
 * control went away or silent. Main thread only. Returns the new readiness.
 */
bool dp_ctrl_liveness(struct dp_shm *shm, uint64_t now_ns, uint64_t stale_ns);

/* One line of every non-zero counter (session counters, then the transport's named ones,
 * dp_stats.xctr) summed over workers, and the enqueue -> ACK p50/p99,
 * prefixed with "<prog> stats:". Any thread (relaxed reads). */
void dp_ctrl_print_stats(const struct dp_shm *shm, FILE *f, const char *prog);

/* Install the SIGTERM/SIGINT handler (sets the returned flag), the SIGHUP one (dp_ctrl_run
 * calls its on_hup) and ignore SIGPIPE. Main thread, once, at start. */
const volatile sig_atomic_t *dp_ctrl_signals_install(void);

/* The main thread's loop until *stop: control ring (dp_ctrl_poll), heartbeat in the
 * segment header, control liveness (dp_ctrl_liveness with cp_stale_ms, 0 = pid only; a
 * line on stderr when readiness changes), counters to stderr every stats_ms (0 = never)
 * prefixed with prog; on SIGHUP on_hup(hup_arg) (NULL: nothing; the TLS CRL reload,
 * dp_tls_hup); sleeps 1 ms between polls. */
void dp_ctrl_run(struct dp_shm *shm, struct dp_tables *t, uint32_t stats_ms,
		 uint32_t cp_stale_ms, const char *prog, const volatile sig_atomic_t *stop,
		 void (*on_hup)(void *), void *hup_arg);

/* Write text to path atomically (path.tmp, then rename), for port and ready files.
 * Returns 0 or a negative errno. */
int dp_ctrl_publish_file(const char *path, const char *text);

#endif
