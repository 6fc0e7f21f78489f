/*
 * dp_ctrl: what the dataplane's main thread does for the control side, shared by both
 * transports (posix: dp_main.c, DPDK: dpdk/dp_dpdk_app.c).
 */
#ifndef DECP_DP_CTRL_H
#define DECP_DP_CTRL_H

#include <stdio.h>

#include "dp_shm.h"
#include "dp_tables.h"

/*
 * Apply every command waiting on the control ring to the tables (READY / NOT_READY set
 * hdr->dp_ready; applied/rejected counts and the highest cookie are published in the
 * header). Main thread only: the control ring has one consumer. A batch is applied whole:
 * on allocation failure it sleeps 10 ms and retries, never applying half of it.
 */
void dp_ctrl_poll(struct dp_shm *shm, struct dp_tables *t);

/* One line of every non-zero counter summed over workers, and the enqueue -> ACK p50/p99,
 * prefixed with "<prog> stats:". Any thread (relaxed reads). */
void dp_ctrl_print_stats(const struct dp_shm *shm, FILE *f, const char *prog);

#endif
