/*
 * cp_api: decp-control's api role: the operator and subscriber HTTP/JSON API under /v1,
 * plus /metrics, /healthz and /readyz (docs/api.md has every endpoint).
 *
 *   client ──HTTP/1.1──▶ lws context (own thread, LWS_MAX_SMP 1) ──▶ cp_api_route()
 *                                                                      │ auth, limits
 *                                                        handler ──libpq──▶ PostgreSQL
 *
 * api_threads workers, each its own thread, lws context and PostgreSQL session (one
 * worker: lws listens; several: they accept from one listening socket the role owns);
 * handlers run synchronously on the worker (statement_timeout = pg_timeout_ms), except
 * the protection-event POSTs, which are group-committed asynchronously on the same
 * session (cp_api_batch.c). Workers share only the counters (atomics), the rate limiter
 * (a mutex) and a token-cache generation (an atomic).
 *
 * Authentication: "Authorization: Bearer <token>". SHA-256(token) equal (CRYPTO_memcmp)
 * to api_admin_token_sha256 is the operator; otherwise it must be the hash of a live
 * subscriber token (subscriber_tokens). Limits: api_max_body (also for chunked bodies,
 * which the api decodes itself), api_max_batch, api_timeout_s against slow clients,
 * api_rate_per_s per caller (429).
 */
#ifndef DECP_CP_API_H
#define DECP_CP_API_H

#include <stdatomic.h>

#include "cp_ctx.h"

/* Most api workers (api_threads): each one thread, lws context and PostgreSQL session. */
#define CP_API_MAX_THREADS 16

/* Role entry: serves until *stop. Returns 0 when stopped, or -EADDRINUSE / -ENOMEM /
 * -EAGAIN when a worker could not start (then every worker stops). */
int cp_api_run(struct cp_ctx *ctx);

#endif
