/* cp_rcluster: slot routing for Redis Cluster over plain hiredis. Contract in cp_rcluster.h;
 * docs/control.md "Redis Cluster". */
#include "cp_rcluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* CRC16-CCITT, polynomial 0x1021, initial 0, no reflection (XMODEM): the Redis Cluster
 * spec's key hash ("123456789" → 0x31c3). Bitwise: the edge hashes a few short tags per
 * batch, not per byte of payload. */
static uint16_t crc16(const char *p, size_t len)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((uint8_t)p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

uint16_t cp_rcl_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open != NULL) {
		size_t from = (size_t)(open - key) + 1;
		const char *close = memchr(open + 1, '}', len - from);

		/* "{}" (nothing between) hashes the whole key, as Redis does */
		if (close != NULL && close > open + 1)
			return crc16(open + 1, (size_t)(close - open - 1)) & (CP_RCL_SLOTS - 1);
	}
	return crc16(key, len) & (CP_RCL_SLOTS - 1);
}

static bool addr_eq(const struct cp_rcl_addr *a, const struct cp_rcl_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

bool cp_rcl_map_equal(const struct cp_rcl_map *a, const struct cp_rcl_map *b)
{
	if (a->n != b->n || memcmp(a->slot, b->slot, sizeof(a->slot)) != 0)
		return false;
	for (unsigned int i = 0; i < a->n; i++)
		if (!addr_eq(&a->node[i], &b->node[i]))
			return false;
	return true;
}

/* The address of a CLUSTER SLOTS node entry [host, port, ...]. 0 or -EPROTO. */
static int node_addr(const redisReply *n, const char *seed_host, struct cp_rcl_addr *a)
{
	const redisReply *h, *p;

	if (n->type != REDIS_REPLY_ARRAY || n->elements < 2)
		return -EPROTO;
	h = n->element[0];
	p = n->element[1];
	if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_INTEGER ||
	    p->integer < 1 || p->integer > 65535)
		return -EPROTO;
	if (h->len == 0)
		h = NULL;
	if ((h != NULL ? h->len : strlen(seed_host)) >= sizeof(a->host))
		return -EPROTO;
	if (h != NULL) {
		memcpy(a->host, h->str, h->len);
		a->host[h->len] = '\0';
	} else {
		snprintf(a->host, sizeof(a->host), "%s", seed_host);
	}
	a->port = (uint32_t)p->integer;
	return 0;
}

int cp_rcl_map_parse(const redisReply *rep, const char *seed_host, struct cp_rcl_map *m)
{
	m->n = 0;
	memset(m->slot, CP_RCL_NONE, sizeof(m->slot));
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return -EPROTO;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *r = rep->element[i];
		struct cp_rcl_addr a;
		unsigned int k;

		if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
		    r->element[0]->type != REDIS_REPLY_INTEGER ||
		    r->element[1]->type != REDIS_REPLY_INTEGER)
			return -EPROTO;
		long long lo = r->element[0]->integer, hi = r->element[1]->integer;
		if (lo < 0 || hi >= CP_RCL_SLOTS || lo > hi ||
		    node_addr(r->element[2], seed_host, &a) != 0)
			return -EPROTO;
		for (k = 0; k < m->n && !addr_eq(&m->node[k], &a); k++)
			;
		if (k == m->n) {
			if (m->n == CP_RCL_MAX_NODES)
				return -E2BIG;
			m->node[m->n++] = a;
		}
		memset(m->slot + lo, (int)k, (size_t)(hi - lo + 1));
	}
	return 0;
}

int cp_rcl_redirect_parse(const char *err, size_t len, struct cp_rcl_redirect *out)
{
	size_t i, kw;
	unsigned long slot = 0, port = 0;
	const char *hp, *colon;

	if (len >= 4 && memcmp(err, "ASK ", 4) == 0) {
		out->ask = true;
		kw = 4;
	} else if (len >= 6 && memcmp(err, "MOVED ", 6) == 0) {
		out->ask = false;
		kw = 6;
	} else {
		return -EINVAL;
	}
	for (i = kw; i < len && err[i] >= '0' && err[i] <= '9' && i - kw < 6; i++)
		slot = slot * 10 + (unsigned long)(err[i] - '0');
	if (i == kw || i >= len || err[i] != ' ' || slot >= CP_RCL_SLOTS)
		return -EINVAL;
	hp = err + i + 1;
	len -= i + 1;
	colon = memrchr(hp, ':', len);
	if (colon == NULL || colon == hp || (size_t)(colon - hp) >= sizeof(out->to.host) ||
	    colon + 1 == hp + len)
		return -EINVAL;
	for (const char *h = hp; h < colon; h++)
		if ((unsigned char)*h <= ' ' || *h == 0x7f)
			return -EINVAL; /* a host name has no blanks, controls or NULs */
	for (const char *d = colon + 1; d < hp + len; d++) {
		if (*d < '0' || *d > '9' || port > 65535)
			return -EINVAL;
		port = port * 10 + (unsigned long)(*d - '0');
	}
	if (port < 1 || port > 65535)
		return -EINVAL;
	out->slot = (uint16_t)slot;
	memcpy(out->to.host, hp, (size_t)(colon - hp));
	out->to.host[colon - hp] = '\0';
	out->to.port = (uint32_t)port;
	return 0;
}

void cp_rcluster_init(struct cp_rcluster *c, const char *seeds, uint32_t timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->seeds = seeds;
	c->timeout_ms = timeout_ms;
	memset(c->map.slot, CP_RCL_NONE, sizeof(c->map.slot));
}

static struct timeval ms_tv(uint32_t ms)
{
	return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

/* A refresh of a partial connection (some primary down, the others in use) may not hold
 * the caller up for a dead host's timeout_ms: its TCP connects get this long at most (a
 * live server on a LAN accepts in well under a millisecond). */
#define REFRESH_CONNECT_MS 100u

static uint32_t connect_ms(const struct cp_rcluster *c)
{
	return c->partial && c->connected && c->timeout_ms > REFRESH_CONNECT_MS ?
	       REFRESH_CONNECT_MS : c->timeout_ms;
}

/* A connection: conn_ms to connect, timeout_ms per reply. */
static redisContext *open_ctx(const char *host, uint32_t port, uint32_t conn_ms,
			      uint32_t timeout_ms)
{
	redisContext *x = redisConnectWithTimeout(host, (int)port, ms_tv(conn_ms));

	if (x == NULL || x->err || redisSetTimeout(x, ms_tv(timeout_ms)) != REDIS_OK) {
		redisFree(x);
		return NULL;
	}
	return x;
}

/* The map from the first seed that answers. 0 or -EAGAIN. */
static int read_map(struct cp_rcluster *c, struct cp_rcl_map *m, char *why, size_t whylen)
{
	const char *p = c->seeds;
	int rc = -EAGAIN;

	snprintf(why, whylen, "no seed node of redis_nodes (%s) answered CLUSTER SLOTS", c->seeds);
	while (*p != '\0' && rc != 0) {
		size_t n = strcspn(p, ",");
		const char *colon = memrchr(p, ':', n);
		struct cp_rcl_addr a;

		if (colon != NULL && (size_t)(colon - p) < sizeof(a.host)) {
			memcpy(a.host, p, (size_t)(colon - p));
			a.host[colon - p] = '\0';
			a.port = (uint32_t)atoi(colon + 1);
			redisContext *x = open_ctx(a.host, a.port, connect_ms(c), c->timeout_ms);
			redisReply *rep = x != NULL ? redisCommand(x, "CLUSTER SLOTS") : NULL;
			int prc = rep != NULL ? cp_rcl_map_parse(rep, a.host, m) : -EAGAIN;

			if (prc == 0)
				rc = 0;
			else if (rep != NULL)
				snprintf(why, whylen, "CLUSTER SLOTS of %s:%u: %s", a.host, a.port,
					 rep->type == REDIS_REPLY_ERROR ? rep->str
					 : prc == -E2BIG ? "more primaries than 64" : "unexpected reply");
			freeReplyObject(rep);
			redisFree(x);
		}
		p += n + (p[n] == ',');
	}
	return rc;
}

int cp_rcluster_connect(struct cp_rcluster *c, cp_rcl_prepare_fn prepare, void *arg, char *why,
			size_t whylen)
{
	struct cp_rcl_map *m = malloc(sizeof(*m));
	redisContext *ctx[CP_RCL_MAX_NODES] = {NULL};
	int rc = -EAGAIN;

	if (m == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	if (read_map(c, m, why, whylen) != 0) {
		if (c->partial && c->connected) {
			free(m);   /* partial: what is connected stays; the map is read later */
			return -EAGAIN;
		}
		goto fail;
	}
	c->maps++;
	bool complete = true;
	unsigned int up = 0;
	for (unsigned int s = 0; s < CP_RCL_SLOTS && complete; s++)
		if (m->slot[s] == CP_RCL_NONE) {
			snprintf(why, whylen, "slot %u is served by no primary (cluster not ok, or a "
				 "failover under way)", s);
			complete = false;
			if (!c->partial)
				goto fail;
		}
	for (unsigned int i = 0; i < m->n; i++) {
		/* keep the connection to a primary that still is one */
		int old = c->connected ? cp_rcluster_node_at(c, &m->node[i]) : -1;

		if (old >= 0) {
			ctx[i] = c->ctx[old];
			c->ctx[old] = NULL;
			up++;
			continue;
		}
		ctx[i] = open_ctx(m->node[i].host, m->node[i].port, connect_ms(c), c->timeout_ms);
		char pw[384];
		if (ctx[i] == NULL)
			snprintf(why, whylen, "primary %s:%u: connect failed", m->node[i].host,
				 m->node[i].port);
		else if (prepare != NULL && prepare(arg, ctx[i], pw, sizeof(pw)) != 0)
			snprintf(why, whylen, "primary %s:%u: %s", m->node[i].host, m->node[i].port, pw);
		else {
			up++;
			continue;
		}
		if (!c->partial)
			goto fail;
		redisFree(ctx[i]);   /* partial: its slots wait for a later connect */
		ctx[i] = NULL;
		complete = false;
	}
	if (up == 0)
		goto fail;
	cp_rcluster_close(c);
	c->map = *m;
	memcpy(c->ctx, ctx, sizeof(ctx));
	c->connected = true;
	c->complete = complete;
	c->stale = false;
	rc = 0;
	free(m);
	return rc;
fail:
	for (unsigned int i = 0; i < CP_RCL_MAX_NODES; i++)
		redisFree(ctx[i]);
	cp_rcluster_close(c);
	free(m);
	return rc;
}

void cp_rcluster_close(struct cp_rcluster *c)
{
	for (unsigned int i = 0; i < CP_RCL_MAX_NODES; i++) {
		redisFree(c->ctx[i]);
		c->ctx[i] = NULL;
	}
	c->connected = false;
	c->complete = false;
}

unsigned int cp_rcluster_drop_node(struct cp_rcluster *c, unsigned int k)
{
	unsigned int up = 0;

	if (k < CP_RCL_MAX_NODES) {
		redisFree(c->ctx[k]);
		c->ctx[k] = NULL;
	}
	c->complete = false;
	for (unsigned int i = 0; i < c->map.n; i++)
		up += c->ctx[i] != NULL;
	if (up == 0)
		c->connected = false;
	return up;
}

unsigned int cp_rcluster_node_of(const struct cp_rcluster *c, const char *key, size_t len)
{
	return c->map.slot[cp_rcl_key_slot(key, len)];
}

int cp_rcluster_node_at(const struct cp_rcluster *c, const struct cp_rcl_addr *addr)
{
	for (unsigned int i = 0; i < c->map.n; i++)
		if (c->ctx[i] != NULL && addr_eq(&c->map.node[i], addr))
			return (int)i;
	return -1;
}

bool cp_rcluster_note(struct cp_rcluster *c, const redisReply *rep, struct cp_rcl_redirect *out)
{
	if (rep == NULL || rep->type != REDIS_REPLY_ERROR ||
	    cp_rcl_redirect_parse(rep->str, rep->len, out) != 0)
		return false;
	if (out->ask) {
		c->asked++;
		return true;
	}
	c->moved++;
	int k = cp_rcluster_node_at(c, &out->to);
	if (k >= 0)
		c->map.slot[out->slot] = (uint8_t)k;
	c->stale = true;
	return true;
}
