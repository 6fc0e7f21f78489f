/*
 * dp_tcp.c: connection table, per-source limits, the state setter with its invariants,
 * and the application API of dp_tcp.h. Segment processing is in dp_tcp_input.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_seq.h"
#include "dp_stack_pvt.h"
#include "dp_wire.h"

static const char *const state_names[DP_TCP_NSTATES] = {
	[DP_TCP_CLOSED] = "CLOSED",           [DP_TCP_ESTABLISHED] = "ESTABLISHED",
	[DP_TCP_CLOSE_WAIT] = "CLOSE_WAIT",   [DP_TCP_LAST_ACK] = "LAST_ACK",
	[DP_TCP_FIN_WAIT_1] = "FIN_WAIT_1",   [DP_TCP_FIN_WAIT_2] = "FIN_WAIT_2",
	[DP_TCP_CLOSING] = "CLOSING",         [DP_TCP_TIME_WAIT] = "TIME_WAIT",
};

/* allowed[from] is a bit set of states reachable in one step (see dp_tcp_pvt.h). */
#define B(s) (1u << (s))
static const uint32_t allowed[DP_TCP_NSTATES] = {
	[DP_TCP_CLOSED] = B(DP_TCP_ESTABLISHED),
	[DP_TCP_ESTABLISHED] = B(DP_TCP_CLOSE_WAIT) | B(DP_TCP_FIN_WAIT_1) | B(DP_TCP_CLOSED),
	[DP_TCP_CLOSE_WAIT] = B(DP_TCP_LAST_ACK) | B(DP_TCP_CLOSED),
	[DP_TCP_LAST_ACK] = B(DP_TCP_CLOSED),
	[DP_TCP_FIN_WAIT_1] = B(DP_TCP_FIN_WAIT_2) | B(DP_TCP_CLOSING) | B(DP_TCP_TIME_WAIT) |
			      B(DP_TCP_CLOSED),
	[DP_TCP_FIN_WAIT_2] = B(DP_TCP_TIME_WAIT) | B(DP_TCP_CLOSED),
	[DP_TCP_CLOSING] = B(DP_TCP_TIME_WAIT) | B(DP_TCP_CLOSED),
	[DP_TCP_TIME_WAIT] = B(DP_TCP_CLOSED),
};

const char *dp_tcp_state_name(enum dp_tcp_state s)
{
	return (unsigned)s < DP_TCP_NSTATES ? state_names[s] : "?";
}

const char *dp_tcp_conn_state_name(const struct dp_tcp_conn *c)
{
	return dp_tcp_state_name((enum dp_tcp_state)c->state);
}

static uint32_t tuple_hash(const struct dp_stack *st, uint32_t pip, uint16_t pport, uint32_t lip,
			   uint16_t lport)
{
	uint8_t b[12];

	memcpy(b, &pip, 4);
	memcpy(b + 4, &lip, 4);
	memcpy(b + 8, &pport, 2);
	memcpy(b + 10, &lport, 2);
	return (uint32_t)dp_siphash(&st->hash_key, b, sizeof(b));
}

static uint32_t src_hash(const struct dp_stack *st, uint32_t ip)
{
	return (uint32_t)dp_siphash(&st->hash_key, &ip, sizeof(ip));
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int dp_tcp_table_init(struct dp_stack *st)
{
	struct dp_tcp_table *t = &st->tcp;
	const struct dp_stack_config *cfg = &st->cfg;
	uint32_t nb = pow2_at_least(cfg->max_conns * 2);
	size_t per = (size_t)cfg->snd_buf + cfg->rcv_buf;

	memset(t, 0, sizeof(*t));
	t->max = cfg->max_conns;
	t->conns = calloc(t->max, sizeof(*t->conns));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	t->srcs = calloc(t->max, sizeof(*t->srcs));
	t->src_buckets = malloc(nb * sizeof(*t->src_buckets));
	t->bufmem = malloc(per * t->max);
	t->ooomem = calloc((size_t)t->max * cfg->ooo_ranges, sizeof(*t->ooomem));
	if (!t->conns || !t->buckets || !t->srcs || !t->src_buckets || !t->bufmem || !t->ooomem) {
		dp_tcp_table_fini(st);
		return -ENOMEM;
	}
	t->bmask = nb - 1;
	for (uint32_t i = 0; i < nb; i++) {
		t->buckets[i] = DP_TCP_NONE;
		t->src_buckets[i] = DP_TCP_NONE;
	}
	for (uint32_t i = 0; i < t->max; i++) {
		struct dp_tcp_conn *c = &t->conns[i];

		c->hnext = i + 1 < t->max ? i + 1 : DP_TCP_NONE;
		c->sndbuf = t->bufmem + per * i;
		c->rcvbuf = c->sndbuf + cfg->snd_buf;
		c->ooo = t->ooomem + (size_t)cfg->ooo_ranges * i;
		c->rtx_timer.kind = DP_TCP_TIMER_RTX;
		c->life_timer.kind = DP_TCP_TIMER_LIFE;
		t->srcs[i].next = i + 1 < t->max ? i + 1 : DP_TCP_NONE;
	}
	t->free_head = 0;
	t->src_free = 0;
	return 0;
}

void dp_tcp_table_fini(struct dp_stack *st)
{
	struct dp_tcp_table *t = &st->tcp;

	free(t->conns);
	free(t->buckets);
	free(t->srcs);
	free(t->src_buckets);
	free(t->bufmem);
	free(t->ooomem);
	memset(t, 0, sizeof(*t));
}

struct dp_tcp_conn *dp_tcp_lookup(struct dp_stack *st, uint32_t peer_ip, uint16_t peer_port,
				  uint32_t local_ip, uint16_t local_port)
{
	struct dp_tcp_table *t = &st->tcp;
	uint32_t i = t->buckets[tuple_hash(st, peer_ip, peer_port, local_ip, local_port) & t->bmask];

	while (i != DP_TCP_NONE) {
		struct dp_tcp_conn *c = &t->conns[i];

		if (c->peer_ip == peer_ip && c->peer_port == peer_port && c->local_port == local_port &&
		    c->local_ip == local_ip)
			return c;
		i = c->hnext;
	}
	return NULL;
}

/* Per-source entry for ip: found, or created when create != 0; DP_TCP_NONE otherwise. */
static uint32_t src_find(struct dp_stack *st, uint32_t ip, int create)
{
	struct dp_tcp_table *t = &st->tcp;
	uint32_t *head = &t->src_buckets[src_hash(st, ip) & t->bmask];
	uint32_t i;

	for (i = *head; i != DP_TCP_NONE; i = t->srcs[i].next)
		if (t->srcs[i].ip == ip)
			return i;
	if (!create || t->src_free == DP_TCP_NONE)
		return DP_TCP_NONE;
	i = t->src_free;
	t->src_free = t->srcs[i].next;
	t->srcs[i].ip = ip;
	t->srcs[i].count = 0;
	t->srcs[i].next = *head;
	*head = i;
	return i;
}

static void src_release(struct dp_stack *st, uint32_t idx)
{
	struct dp_tcp_table *t = &st->tcp;
	struct dp_tcp_src *s = &t->srcs[idx];
	uint32_t *pp;

	assert(s->count > 0);
	if (--s->count > 0)
		return;
	pp = &t->src_buckets[src_hash(st, s->ip) & t->bmask];
	while (*pp != idx)
		pp = &t->srcs[*pp].next;
	*pp = s->next;
	s->next = t->src_free;
	t->src_free = idx;
}

struct dp_tcp_conn *dp_tcp_conn_alloc(struct dp_stack *st, uint32_t peer_ip, uint16_t peer_port,
				      uint32_t local_ip, uint16_t local_port, int *err)
{
	struct dp_tcp_table *t = &st->tcp;
	struct dp_tcp_conn *c;
	uint32_t idx, sidx, h;
	uint8_t *sb, *rb;
	struct dp_tcp_range *ooo;

	if (t->free_head == DP_TCP_NONE) {
		*err = -ENOSPC;
		return NULL;
	}
	/* The source table has one entry per possible connection, so creation cannot fail
	 * while a connection slot is free. */
	sidx = src_find(st, peer_ip, 1);
	assert(sidx != DP_TCP_NONE);
	if (t->srcs[sidx].count >= st->cfg.max_conns_per_src) {
		*err = -EMFILE;
		return NULL;
	}
	idx = t->free_head;
	c = &t->conns[idx];
	t->free_head = c->hnext;
	sb = c->sndbuf;
	rb = c->rcvbuf;
	ooo = c->ooo;
	memset(c, 0, sizeof(*c));
	c->sndbuf = sb;
	c->rcvbuf = rb;
	c->ooo = ooo;
	c->rtx_timer.kind = DP_TCP_TIMER_RTX;
	c->life_timer.kind = DP_TCP_TIMER_LIFE;
	c->peer_ip = peer_ip;
	c->peer_port = peer_port;
	c->local_ip = local_ip;
	c->local_port = local_port;
	c->src_idx = sidx;
	t->srcs[sidx].count++;
	h = tuple_hash(st, peer_ip, peer_port, local_ip, local_port) & t->bmask;
	c->hnext = t->buckets[h];
	t->buckets[h] = idx;
	t->in_use++;
	return c;
}

void dp_tcp_conn_free(struct dp_stack *st, struct dp_tcp_conn *c, enum dp_close_reason reason)
{
	struct dp_tcp_table *t = &st->tcp;
	uint32_t idx = (uint32_t)(c - t->conns);
	uint32_t *pp;

	assert(c->state != DP_TCP_CLOSED);
	if (c->app_attached) {
		c->app_attached = false;
		if (reason)
			st->app.on_close(c->app_ctx, c, reason);
	}
	dp_timer_cancel(&st->wheel, &c->rtx_timer);
	dp_timer_cancel(&st->wheel, &c->life_timer);
	dp_tcp_reass_clear(c);
	dp_tcp_set_state(st, c, DP_TCP_CLOSED);
	pp = &t->buckets[tuple_hash(st, c->peer_ip, c->peer_port, c->local_ip, c->local_port) &
			 t->bmask];
	while (*pp != idx)
		pp = &t->conns[*pp].hnext;
	*pp = c->hnext;
	src_release(st, c->src_idx);
	c->app_ctx = NULL;
	c->hnext = t->free_head;
	t->free_head = idx;
	t->in_use--;
}

void dp_tcp_set_state(struct dp_stack *st, struct dp_tcp_conn *c, enum dp_tcp_state to)
{
	enum dp_tcp_state from = (enum dp_tcp_state)c->state;

	/* A transition outside the table is a bug here, fatal in debug builds. */
	assert(allowed[from] & B(to));
	(void)allowed;
	(void)from;
	c->state = (uint8_t)to;
	switch (to) {
	case DP_TCP_TIME_WAIT:
		dp_tcp_rtx_cancel(st, c);
		dp_tcp_reass_clear(c);
		dp_tcp_life_arm(st, c);
		break;
	case DP_TCP_FIN_WAIT_2:
		dp_tcp_life_arm(st, c);
		break;
	default:
		break;
	}
	if (to != DP_TCP_CLOSED)
		dp_tcp_assert_state(st, c);
}

void dp_tcp_assert_state(const struct dp_stack *st, const struct dp_tcp_conn *c)
{
#ifdef NDEBUG
	(void)st;
	(void)c;
#else
	enum dp_tcp_state s = (enum dp_tcp_state)c->state;

	assert(s > DP_TCP_CLOSED && s < DP_TCP_NSTATES);
	assert(dp_seq_le(c->snd_una, c->snd_nxt) && dp_seq_le(c->snd_nxt, c->snd_max));
	assert(c->snd_len <= st->cfg.snd_buf);
	assert(c->snd_max - c->snd_una <= c->snd_len + (c->fin_sent ? 1u : 0u));
	assert(c->n_ooo <= st->cfg.ooo_ranges);
	for (uint16_t i = 0; i < c->n_ooo; i++) {
		/* A range may start at RCV.NXT only while delivery is under way (callbacks). */
		assert(dp_seq_ge(c->ooo[i].start, c->rcv_nxt));
		assert(dp_seq_lt(c->ooo[i].start, c->ooo[i].end));
		assert(dp_seq_le(c->ooo[i].end, c->rcv_nxt + c->rcv_wnd));
		if (i > 0)
			assert(dp_seq_gt(c->ooo[i].start, c->ooo[i - 1].end));
	}
	switch (s) {
	case DP_TCP_ESTABLISHED:
		assert(!c->fin_queued && !c->rcv_fin);
		break;
	case DP_TCP_CLOSE_WAIT:
		assert(!c->fin_queued && c->rcv_fin);
		break;
	case DP_TCP_LAST_ACK:
	case DP_TCP_CLOSING:
		assert(c->fin_queued && c->rcv_fin && !c->app_attached);
		break;
	case DP_TCP_FIN_WAIT_1:
		assert(c->fin_queued && !c->rcv_fin && !c->app_attached);
		break;
	case DP_TCP_FIN_WAIT_2:
		assert(c->fin_acked && !c->rcv_fin && !c->app_attached);
		break;
	case DP_TCP_TIME_WAIT:
		assert(c->fin_acked && c->rcv_fin && !c->app_attached && c->snd_len == 0);
		assert(dp_timer_armed(&c->life_timer));
		break;
	default:
		break;
	}
#endif
}

/* A handle the application may use: inside the table, live, still held by it. */
static bool handle_ok(const struct dp_stack *st, const struct dp_tcp_conn *c)
{
	const struct dp_tcp_table *t = &st->tcp;

	if (!c || c < t->conns || c >= t->conns + t->max)
		return false;
	return c->state != DP_TCP_CLOSED && c->app_attached;
}

int dp_tcp_send(struct dp_stack *st, struct dp_tcp_conn *c, const void *data, size_t len,
		uint64_t now_ns)
{
	uint32_t mask = st->cfg.snd_buf - 1;
	uint32_t room, n, pos, first;

	if (!handle_ok(st, c) || (!data && len))
		return -EINVAL;
	if (c->fin_queued)
		return -EPIPE;
	dp_stack_clock(st, now_ns);
	room = st->cfg.snd_buf - c->snd_len;
	n = len < room ? (uint32_t)len : room;
	if (n < len)
		st->stats.tcp_send_full++;
	pos = (c->snd_head + c->snd_len) & mask;
	first = st->cfg.snd_buf - pos < n ? st->cfg.snd_buf - pos : n;
	memcpy(c->sndbuf + pos, data, first);
	memcpy(c->sndbuf, (const uint8_t *)data + first, n - first);
	c->snd_len += n;
	if (!c->in_input) {
		dp_tcp_output(st, c);
		dp_stack_tx_flush(st);
	}
	return (int)n;
}

size_t dp_tcp_send_space(const struct dp_tcp_conn *c)
{
	/* snd_buf is not in the connection; the ring mask is implied by the buffers' layout. */
	if (!c || c->state == DP_TCP_CLOSED || c->fin_queued)
		return 0;
	return (size_t)(c->rcvbuf - c->sndbuf) - c->snd_len;
}

int dp_tcp_close(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t now_ns)
{
	if (!handle_ok(st, c))
		return -EINVAL;
	dp_stack_clock(st, now_ns);
	c->app_attached = false;
	c->app_ctx = NULL;
	c->fin_queued = true;
	if (c->state == DP_TCP_ESTABLISHED)
		dp_tcp_set_state(st, c, DP_TCP_FIN_WAIT_1);
	else
		dp_tcp_set_state(st, c, DP_TCP_LAST_ACK);
	if (!c->in_input) {
		dp_tcp_output(st, c);
		dp_stack_tx_flush(st);
	}
	return 0;
}

int dp_tcp_abort(struct dp_stack *st, struct dp_tcp_conn *c, uint64_t now_ns)
{
	if (!handle_ok(st, c))
		return -EINVAL;
	dp_stack_clock(st, now_ns);
	c->app_attached = false;
	c->app_ctx = NULL;
	if (c->in_input) {
		c->abort_pending = true;
		return 0;
	}
	dp_tcp_send_rst(st, c);
	dp_tcp_conn_free(st, c, 0);
	dp_stack_tx_flush(st);
	return 0;
}

void dp_tcp_conn_info(const struct dp_tcp_conn *c, struct dp_conn_info *info)
{
	info->peer_ip = c->peer_ip;
	info->local_ip = c->local_ip;
	info->peer_port = c->peer_port;
	info->local_port = c->local_port;
	info->mss = c->mss;
	info->wscale_ok = c->ws_ok;
	info->ts_ok = c->ts_ok;
}
