/*
 * cp_fanout_role: the fanout role of decp-control (docs/fanout.md, docs/control.md
 * "fanout"). Runs one struct cp_fanout from the fanout_* keys until stopped. With the edge
 * role in the same process, the fan-out is a durable-signal consumer of the process
 * context (cp_ctx.h): the edge hands it every signal Redis has just made durable (one lws
 * wake-up per batch, no second Redis round trip); without it, the fan-out tails Redis.
 * Its counters are a stats provider of the context (decp_fanout_* on /metrics).
 *
 * Threading: runs in the calling (role) thread until *stop becomes non-zero; the fan-out's
 * own threads are started and joined inside.
 */
#ifndef DECP_CP_FANOUT_ROLE_H
#define DECP_CP_FANOUT_ROLE_H

#include <stdatomic.h>

#include "cp_ctx.h"

/* Runs until ctx->stop. Returns 0 after a requested stop, -errno when the role cannot run
 * (logged): -EINVAL bad configuration, -EADDRINUSE the port is taken. Redis or PostgreSQL
 * unreachable at start is retried with backoff (up to backoff_max_ms), not fatal. */
int cp_fanout_role_run(struct cp_ctx *ctx);

#endif
