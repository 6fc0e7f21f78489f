/*
 * cp_ctx: the process context of decp-control. main() creates one and hands it to every
 * role thread; it is the only thing roles share, so no role reaches into another:
 *
 *   main ──cp_ctx_init──▶ struct cp_ctx ──▶ edge, archiver, fanout, api, trust (threads)
 *     config (read-only), stop flag,
 *     durable-signal consumers:  edge ──cp_ctx_durable_begin/put/end──▶ fanout's consumer
 *     stats providers:           api's /metrics ──cp_ctx_stats_write──▶ fanout, trust
 *
 * Durable-signal consumers: after Redis replied to a batch and before its ACKs go out, the
 * edge hands every signal that batch made durable (never a DUPLICATE, GAP or event) to each
 * consumer, in ring order: fn(arg, rec) per signal, then fn(arg, NULL) once to end the
 * batch. fn runs on the edge thread and must not block.
 *
 * Stats providers: fn(arg, m) writes the provider's Prometheus families into m; it runs on
 * the scraping (api) thread and must only read (relaxed atomics), never block.
 *
 * Registration is bounded (CP_CTX_MAX_*, no allocation). After a *_remove returns, no call
 * of the removed fn is running or will start, so the role may free arg.
 *
 * Threading: init/fini in main, before the role threads start and after they are joined;
 * everything else from any thread.
 */
#ifndef DECP_CP_CTX_H
#define DECP_CP_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cp_config.h"
#include "cp_metrics.h"

struct dp_ingress_rec;

#define CP_CTX_MAX_DURABLE 4
#define CP_CTX_MAX_STATS 8

typedef void (*cp_durable_fn)(void *arg, const struct dp_ingress_rec *rec);
typedef void (*cp_stats_fn)(void *arg, struct cp_metrics *m);

/* A bounded list of (fn, arg) under its own lock (fn stored as a generic function
 * pointer, called back as its own type). */
struct cp_ctx_list {
	pthread_mutex_t mu;
	unsigned int n;
	struct {
		void (*fn)(void);
		void *arg;
	} e[CP_CTX_MAX_STATS];
};

struct cp_ctx {
	const struct cp_config *cfg; /* read-only while roles run */
	const atomic_int *stop;      /* non-zero: every role returns */
	struct cp_ctx_list durable;  /* lock taken once per edge batch */
	struct cp_ctx_list stats;    /* lock taken once per scrape */
};

/* Fill c (no consumer, no provider). Cannot fail. */
void cp_ctx_init(struct cp_ctx *c, const struct cp_config *cfg, const atomic_int *stop);

/* Release c's locks. Call after every role thread was joined. */
void cp_ctx_fini(struct cp_ctx *c);

/* True once the process is stopping (relaxed read of *stop). */
bool cp_ctx_stopping(const struct cp_ctx *c);

/* Add a durable-signal consumer. Returns 0, or -ENOSPC (CP_CTX_MAX_DURABLE reached). */
int cp_ctx_durable_add(struct cp_ctx *c, cp_durable_fn fn, void *arg);

/* Remove the consumer (fn, arg); a no-op when absent. See the top for the guarantee. */
void cp_ctx_durable_remove(struct cp_ctx *c, cp_durable_fn fn, void *arg);

/*
 * The edge's side, one batch: begin returns true with the consumers held (then put each
 * durable signal, then end), or false when there is no consumer (call nothing else).
 */
bool cp_ctx_durable_begin(struct cp_ctx *c);
void cp_ctx_durable_put(struct cp_ctx *c, const struct dp_ingress_rec *rec);
void cp_ctx_durable_end(struct cp_ctx *c);

/* Add / remove a stats provider (same rules as the durable consumers). */
int cp_ctx_stats_add(struct cp_ctx *c, cp_stats_fn fn, void *arg);
void cp_ctx_stats_remove(struct cp_ctx *c, cp_stats_fn fn, void *arg);

/* Every provider writes its families into m, in registration order. */
void cp_ctx_stats_write(struct cp_ctx *c, struct cp_metrics *m);

#endif
