/* cp_ctx: decp-control's process context. Contract in cp_ctx.h. */
#include "cp_ctx.h"

#include <errno.h>
#include <string.h>

void cp_ctx_init(struct cp_ctx *c, const struct cp_config *cfg, const atomic_int *stop)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->stop = stop;
	pthread_mutex_init(&c->durable.mu, NULL);
	pthread_mutex_init(&c->stats.mu, NULL);
}

void cp_ctx_fini(struct cp_ctx *c)
{
	pthread_mutex_destroy(&c->durable.mu);
	pthread_mutex_destroy(&c->stats.mu);
}

bool cp_ctx_stopping(const struct cp_ctx *c)
{
	return atomic_load_explicit(c->stop, memory_order_relaxed) != 0;
}

static int list_add(struct cp_ctx_list *l, unsigned int max, void (*fn)(void), void *arg)
{
	int rc = -ENOSPC;
	pthread_mutex_lock(&l->mu);
	if (l->n < max) {
		l->e[l->n].fn = fn;
		l->e[l->n++].arg = arg;
		rc = 0;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* Under the lock: once it is released, no call of the removed entry runs (callers hold
 * the same lock while calling). */
static void list_remove(struct cp_ctx_list *l, void (*fn)(void), void *arg)
{
	pthread_mutex_lock(&l->mu);
	for (unsigned int i = 0; i < l->n; i++)
		if (l->e[i].fn == fn && l->e[i].arg == arg) {
			memmove(&l->e[i], &l->e[i + 1], (l->n - i - 1) * sizeof(l->e[0]));
			l->n--;
			break;
		}
	pthread_mutex_unlock(&l->mu);
}

int cp_ctx_durable_add(struct cp_ctx *c, cp_durable_fn fn, void *arg)
{
	return list_add(&c->durable, CP_CTX_MAX_DURABLE, (void (*)(void))fn, arg);
}

void cp_ctx_durable_remove(struct cp_ctx *c, cp_durable_fn fn, void *arg)
{
	list_remove(&c->durable, (void (*)(void))fn, arg);
}

bool cp_ctx_durable_begin(struct cp_ctx *c)
{
	pthread_mutex_lock(&c->durable.mu);
	if (c->durable.n > 0)
		return true;
	pthread_mutex_unlock(&c->durable.mu);
	return false;
}

void cp_ctx_durable_put(struct cp_ctx *c, const struct dp_ingress_rec *rec)
{
	for (unsigned int i = 0; i < c->durable.n; i++)
		((cp_durable_fn)c->durable.e[i].fn)(c->durable.e[i].arg, rec);
}

void cp_ctx_durable_end(struct cp_ctx *c)
{
	cp_ctx_durable_put(c, NULL);
	pthread_mutex_unlock(&c->durable.mu);
}

int cp_ctx_stats_add(struct cp_ctx *c, cp_stats_fn fn, void *arg)
{
	return list_add(&c->stats, CP_CTX_MAX_STATS, (void (*)(void))fn, arg);
}

void cp_ctx_stats_remove(struct cp_ctx *c, cp_stats_fn fn, void *arg)
{
	list_remove(&c->stats, (void (*)(void))fn, arg);
}

void cp_ctx_stats_write(struct cp_ctx *c, struct cp_metrics *m)
{
	pthread_mutex_lock(&c->stats.mu);
	for (unsigned int i = 0; i < c->stats.n; i++)
		((cp_stats_fn)c->stats.e[i].fn)(c->stats.e[i].arg, m);
	pthread_mutex_unlock(&c->stats.mu);
}
