/*
 * dp_dpdk_loop: the `--stack dpdk` transport. One worker per worker lcore, each owning one
 * RX/TX queue pair of the port, one userspace TCP/IP stack instance (dataplane/net) and one
 * dp_worker of the session layer (share-nothing: nothing is shared between workers except
 * the process-wide login limiter and the RCU tables, as in the posix transport).
 *
 * Poll iteration (one liburcu-qsbr quiescent state, no malloc/lock/syscall of ours):
 *
 *   quiescent -> poll_begin (table snapshot) -> ACK ring -> flush sessions with output
 *   -> rte_eth_rx_burst -> TSC once per burst (Server_Arrival_Time) -> dp_stack_input per
 *   frame (mbuf freed right after: the stack copies what it keeps) -> flush sessions ->
 *   stack timers -> session ticks every 50 ms -> rte_eth_tx_burst of everything queued
 *   -> poll_end (consumer doorbell). With adaptive polling (poll_adaptive), an iteration
 *   that finds nothing after 200 us of idleness with no ACK owed (while owed: naps of
 *   30 us; the IDLE_ and OWED_ rules in dp_dpdk_loop.c) goes RCU-offline and sleeps up to 1 ms on
 *   the queue's RX interrupt (or pauses 1 ms where the port has none): docs/dataplane.md
 *   "Operating it", --poll.
 *
 * Stack callbacks -> session layer: on_accept opens a dp_session (conn_id = slot << 32 |
 * generation), on_data feeds dp_tls_conn_input (TLS records, or plaintext straight to
 * dp_session_input) in DP_SESSION_RX_CHUNK pieces, on_fin / on_close end it. Output
 * (dp_tls_conn_out: one sealed record of everything the session queued, or plaintext)
 * goes to dp_tcp_send; what the send buffer took is consumed, the rest waits for the
 * next iteration.
 *
 * Clock: TSC converted to CLOCK_MONOTONIC / CLOCK_REALTIME nanoseconds per worker,
 * anchored at dp_dpdk_start with rte_get_tsc_hz() and re-anchored every session tick with
 * the ns-per-cycle factor measured over the last period (invariant TSC assumed).
 *
 * Threading: dp_dpdk_start / dp_dpdk_stop / dp_dpdk_stats_print run on the main lcore.
 */
#ifndef DECP_DP_DPDK_LOOP_H
#define DECP_DP_DPDK_LOOP_H

#include <stdint.h>
#include <stdio.h>

#include "dp_dpdk_port.h"
#include "dp_session.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "dp_tls.h"

struct dp_dpdk_cfg {
	uint32_t ip;                /* our IPv4 address, host order */
	uint32_t netmask;           /* host order */
	uint32_t gateway;           /* host order, 0 = none */
	uint16_t tcp_port;          /* listening port, 1..65535 */
	uint32_t max_conns;         /* sessions per worker */
	uint32_t login_fail_burst;
	uint64_t login_fail_refill_ns;
	struct dp_session_cfg session;
	struct dp_tls *tls;         /* NULL: plaintext (tls off); shared by the workers */
	bool poll_adaptive;         /* sleep when idle (--poll adaptive, resolved) */
};

struct dp_dpdk;

/*
 * Create one worker per queue of port (port->n_queues == shm->hdr->n_workers, and that
 * many worker lcores must exist) and launch them. Returns the transport or NULL with a
 * message on stderr.
 */
struct dp_dpdk *dp_dpdk_start(const struct dp_dpdk_cfg *cfg, struct dp_dpdk_port *port,
			      struct dp_shm *shm, struct dp_tables *tables);

/* Ask the workers to stop and wait for their lcores: each resets its connections and
 * destroys its stack, keeping a copy of the stack's final counters. Idempotent. */
void dp_dpdk_join(struct dp_dpdk *d);

/* Print every worker's non-zero stack and transport counters to f (one line per worker).
 * Only after dp_dpdk_join: the counters belong to the worker lcore while it runs. */
void dp_dpdk_stats_print(const struct dp_dpdk *d, FILE *f);

/* Names of the transport counters each worker publishes into its shared stats block
 * (struct dp_stats.xctr): the stack's (dp_net_stats.h order), then the loop's (DPDK_CTRS
 * in dp_dpdk_loop.c: RX/TX drops, busy/idle time, gauges, adaptive polling). Fills names[0..n)
 * with static strings; returns n, or 0 when cap is too small. Pass them to dp_shm_create
 * (dp_shm_params.xctr_names) before dp_dpdk_start. Any thread. */
unsigned int dp_dpdk_xctr_names(const char **names, unsigned int cap);

/* dp_dpdk_join if not done, then free everything. NULL ok. */
void dp_dpdk_stop(struct dp_dpdk *d);

#endif
