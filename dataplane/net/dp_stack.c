/* dp_stack.c: instance life cycle, entry points, TX batching. */
#include "dp_stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_stack_pvt.h"
#include "dp_wire.h"

#define MS 1000000ull
#define SEC 1000000000ull

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

void dp_stack_config_defaults(struct dp_stack_config *c)
{
	memset(c, 0, sizeof(*c));
	c->netmask = 0xffffff00u;
	c->mtu = 1500;
	c->n_listen = 1;
	c->max_conns = 1024;
	c->max_conns_per_src = 64;
	c->snd_buf = 64 * 1024;
	c->rcv_buf = 64 * 1024;
	c->ooo_ranges = 8;
	c->wscale = 2;
	c->timestamps = true;
	c->rto_init_ns = 1 * SEC;
	c->rto_min_ns = 200 * MS;
	c->rto_max_ns = 60 * SEC;
	c->max_retries = 8;
	c->time_wait_ns = 1 * SEC;
	c->fin_wait2_ns = 10 * SEC;
	c->idle_timeout_ns = 300 * SEC;
	c->challenge_ack_per_sec = 10;
	c->rst_per_sec = 200;
	c->cookie_period_ns = 64 * SEC;
	c->arp_entries = 256;
	c->arp_ttl_ns = 300 * SEC;
	c->arp_retry_ns = 1 * SEC;
	c->timer_tick_ns = 1 * MS;
	c->timer_slots = 4096;
}

static const char *config_check(const struct dp_stack_config *c)
{
	static const uint8_t zero[6];

	if (memcmp(c->mac, zero, 6) == 0 || (c->mac[0] & 1))
		return "mac must be a non-zero unicast address";
	if (c->ip == 0 || c->ip == 0xffffffffu)
		return "ip must be a unicast address";
	if (c->mtu < 576 || c->mtu > 9000)
		return "mtu must be 576..9000";
	if (c->n_listen < 1 || c->n_listen > DP_STACK_MAX_LISTEN)
		return "n_listen must be 1..8";
	for (unsigned i = 0; i < c->n_listen; i++)
		if (c->listen_ports[i] == 0)
			return "listen port 0";
	if (c->max_conns < 1 || c->max_conns > (1u << 20))
		return "max_conns must be 1..1048576";
	if (c->max_conns_per_src < 1 || c->max_conns_per_src > c->max_conns)
		return "max_conns_per_src must be 1..max_conns";
	if (!pow2(c->snd_buf) || c->snd_buf < 1024 || c->snd_buf > (1u << 20))
		return "snd_buf must be a power of two 1K..1M";
	if (!pow2(c->rcv_buf) || c->rcv_buf < 1024 || c->rcv_buf > (1u << 20))
		return "rcv_buf must be a power of two 1K..1M";
	if (c->ooo_ranges < 1 || c->ooo_ranges > 64)
		return "ooo_ranges must be 1..64";
	if (c->wscale > 14)
		return "wscale must be 0..14";
	if ((c->rcv_buf >> c->wscale) == 0)
		return "rcv_buf too small for wscale";
	if (c->rto_min_ns == 0 || c->rto_init_ns < c->rto_min_ns || c->rto_max_ns < c->rto_init_ns)
		return "need 0 < rto_min_ns <= rto_init_ns <= rto_max_ns";
	if (c->max_retries < 1 || c->max_retries > 30)
		return "max_retries must be 1..30";
	if (c->time_wait_ns == 0 || c->fin_wait2_ns == 0)
		return "time_wait_ns and fin_wait2_ns must be > 0";
	if (c->challenge_ack_per_sec < 1)
		return "challenge_ack_per_sec must be >= 1";
	if (c->cookie_period_ns < SEC)
		return "cookie_period_ns must be >= 1 s";
	if (!pow2(c->arp_entries) || c->arp_entries < 4 || c->arp_entries > 65536)
		return "arp_entries must be a power of two 4..65536";
	if (c->arp_ttl_ns == 0 || c->arp_retry_ns == 0)
		return "arp_ttl_ns and arp_retry_ns must be > 0";
	if (c->timer_tick_ns == 0 || !pow2(c->timer_slots) || c->timer_slots < 2)
		return "timer_tick_ns > 0 and timer_slots a power of two >= 2";
	return NULL;
}

struct dp_stack *dp_stack_create(const struct dp_stack_config *cfg, const struct dp_io_ops *io,
				 void *io_ctx, const struct dp_app_ops *app, void *app_ctx,
				 uint64_t now_ns, const char **err)
{
	struct dp_stack *st = NULL;
	const char *why;

	if (!cfg || !io || !io->pkt_alloc || !io->pkt_free || !io->tx_burst || !app ||
	    !app->on_accept || !app->on_data || !app->on_close) {
		why = "missing config, io ops or app ops";
		goto fail;
	}
	why = config_check(cfg);
	if (why)
		goto fail;
	why = "out of memory";
	st = calloc(1, sizeof(*st));
	if (!st)
		goto fail;
	st->cfg = *cfg;
	st->io = *io;
	st->io_ctx = io_ctx;
	st->app = *app;
	st->app_ctx = app_ctx;
	st->now_ns = now_ns;
	memcpy(&st->cookie_key.k0, cfg->secret, 8);
	memcpy(&st->cookie_key.k1, cfg->secret + 8, 8);
	memcpy(&st->hash_key.k0, cfg->secret + 16, 8);
	memcpy(&st->hash_key.k1, cfg->secret + 24, 8);
	st->wheel_slots = calloc(cfg->timer_slots, sizeof(*st->wheel_slots));
	if (!st->wheel_slots)
		goto fail;
	if (dp_timer_wheel_init(&st->wheel, st->wheel_slots, cfg->timer_slots, cfg->timer_tick_ns,
				now_ns) != 0)
		goto fail;
	if (dp_arp_init(&st->arp, cfg->arp_entries) != 0)
		goto fail;
	if (dp_tcp_table_init(st) != 0)
		goto fail;
	return st;
fail:
	if (err)
		*err = why;
	if (st) {
		dp_tcp_table_fini(st);
		dp_arp_fini(&st->arp);
		free(st->wheel_slots);
		free(st);
	}
	return NULL;
}

void dp_stack_destroy(struct dp_stack *st, uint64_t now_ns)
{
	if (!st)
		return;
	dp_stack_clock(st, now_ns);
	for (uint32_t i = 0; i < st->tcp.max; i++) {
		struct dp_tcp_conn *c = &st->tcp.conns[i];

		if (c->state == DP_TCP_CLOSED)
			continue;
		if (c->state != DP_TCP_TIME_WAIT)
			dp_tcp_send_rst(st, c);
		dp_tcp_conn_free(st, c, DP_CLOSE_STACK_DESTROY);
	}
	dp_stack_tx_flush(st);
	dp_tcp_table_fini(st);
	dp_arp_fini(&st->arp);
	free(st->wheel_slots);
	free(st);
}

void dp_stack_clock(struct dp_stack *st, uint64_t now_ns)
{
	if (now_ns > st->now_ns)
		st->now_ns = now_ns;
}

void dp_stack_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags,
		    uint64_t now_ns)
{
	dp_stack_clock(st, now_ns);
	st->stats.rx_frames++;
	dp_eth_input(st, frame, len, rx_flags);
	dp_stack_tx_flush(st);
}

static void timer_cb(void *arg, struct dp_timer *t)
{
	dp_tcp_timer_fire(arg, t);
}

unsigned dp_stack_timers_run(struct dp_stack *st, uint64_t now_ns)
{
	unsigned n;

	dp_stack_clock(st, now_ns);
	n = dp_timer_wheel_run(&st->wheel, st->now_ns, timer_cb, st);
	dp_stack_tx_flush(st);
	return n;
}

const struct dp_net_stats *dp_stack_stats(const struct dp_stack *st) { return &st->stats; }

uint32_t dp_stack_conns_in_use(const struct dp_stack *st) { return st->tcp.in_use; }

uint32_t dp_stack_timers_armed(const struct dp_stack *st) { return st->wheel.armed; }

struct dp_pkt *dp_stack_pkt_alloc(struct dp_stack *st)
{
	struct dp_pkt *p = st->io.pkt_alloc(st->io_ctx);

	if (!p) {
		st->stats.tx_pool_empty++;
		return NULL;
	}
	if (p->cap < DP_ETH_HLEN + st->cfg.mtu) {
		/* A pool that cannot hold a full frame is a glue bug; never overrun it. */
		st->io.pkt_free(st->io_ctx, p);
		st->stats.tx_pool_empty++;
		return NULL;
	}
	p->len = 0;
	p->ol_flags = 0;
	p->l2_len = 0;
	p->l3_len = 0;
	return p;
}

void dp_stack_tx(struct dp_stack *st, struct dp_pkt *pkt)
{
	if (st->ntx == DP_TXQ_MAX)
		dp_stack_tx_flush(st);
	st->txq[st->ntx++] = pkt;
}

void dp_stack_tx_flush(struct dp_stack *st)
{
	uint16_t sent;

	if (st->ntx == 0)
		return;
	sent = st->io.tx_burst(st->io_ctx, st->txq, st->ntx);
	if (sent > st->ntx)
		sent = st->ntx;
	st->stats.tx_frames += sent;
	for (uint16_t i = sent; i < st->ntx; i++) {
		st->io.pkt_free(st->io_ctx, st->txq[i]);
		st->stats.tx_dropped++;
	}
	st->ntx = 0;
}
