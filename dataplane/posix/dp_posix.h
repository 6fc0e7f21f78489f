/*
 * dp_posix: the `--stack posix` transport. Kernel TCP sockets, one thread per worker, each
 * with its own SO_REUSEPORT listening socket (the kernel spreads connections by 4-tuple hash)
 * and its own edge-triggered epoll set. Sessions are dp_session (transport independent).
 *
 * Worker loop (one iteration = one liburcu-qsbr quiescent state):
 *   poll_begin (snapshot) -> ACK ring -> epoll_wait (offline while blocked; timeout 0 when
 *   work is pending, else up to 10 ms, woken early by the ACK doorbell) -> accept / read /
 *   write -> flush kicked sessions -> timers every 50 ms -> poll_end (consumer doorbell).
 *
 * Threading: dp_posix_start spawns the workers; dp_posix_stop (any thread) asks them to end
 * and joins them. Configuration is read once, by dp_main.
 */
#ifndef DECP_DP_POSIX_H
#define DECP_DP_POSIX_H

#include <stdint.h>

#include "dp_session.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "dp_tls.h"

struct dp_posix_cfg {
	const char *listen_addr;    /* numeric IPv4/IPv6 address */
	uint16_t listen_port;       /* 0 = ephemeral: all workers share the port of worker 0 */
	uint32_t n_workers;
	uint32_t max_conns;         /* per worker */
	uint32_t login_fail_burst;       /* failed logins allowed per source address ... */
	uint64_t login_fail_refill_ns;   /* ... plus one more per this interval */
	struct dp_session_cfg session;
	struct dp_tls *tls;              /* NULL: plaintext (tls off); shared by the workers */
};

struct dp_posix;

/*
 * Bind the listening sockets and start the worker threads. On return the port accepts
 * connections. Returns the stack or NULL (errno set: EADDRINUSE, EINVAL, ENOMEM...), with
 * a message on stderr.
 */
struct dp_posix *dp_posix_start(const struct dp_posix_cfg *cfg, struct dp_shm *shm,
				struct dp_tables *tables);

/* The port actually bound (useful with listen_port 0). */
uint16_t dp_posix_port(const struct dp_posix *p);

/* Stop the workers (sessions are closed, their sockets too), join and free. NULL ok. */
void dp_posix_stop(struct dp_posix *p);

#endif
