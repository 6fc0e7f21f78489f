/*
 * cp_fanout_role: the fanout role of decp-control (docs/fanout.md, docs/control.md
 * "fanout"). Builds the cp_fanout configuration from the fanout_* keys and runs one
 * struct cp_fanout until stopped. With the edge role in the same process, the edge hands
 * every signal Redis has just made durable to the fan-out (cp_edge_set_durable_hook, one
 * lws wake-up per batch, no second Redis round trip); without it, the fan-out tails Redis.
 *
 * Threading: runs in the calling (role) thread until *stop becomes non-zero; the fan-out's
 * own threads are started and joined inside.
 */
#ifndef DECP_CP_FANOUT_ROLE_H
#define DECP_CP_FANOUT_ROLE_H

#include <stdatomic.h>

#include "cp_config.h"

/* Returns 0 after a requested stop, -errno when the role cannot run (logged): -EINVAL bad
 * configuration, -EADDRINUSE the port is taken. Redis or PostgreSQL unreachable at start is
 * retried with backoff (up to backoff_max_ms), not fatal. */
int cp_fanout_role_run(const struct cp_config *cfg, const atomic_int *stop);

/*
 * Counters of the fan-out running in this process (the api role's /metrics): a snapshot
 * the role thread refreshes every 100 ms, so the reader never touches the fan-out itself.
 * Returns 0, or -ENOENT when no fanout role runs in this process. Any thread.
 */
struct cp_fanout_stats;
int cp_fanout_role_stats(struct cp_fanout_stats *out);

#endif
