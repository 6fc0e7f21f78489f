/* dp_test_env.c: seam implementation and frame builder for the stack tests, see .h. */
#include "dp_test_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_cksum.h"
#include "dp_wire.h"

static const uint8_t our_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* ---- seam: pool and TX capture ---- */

static struct dp_pkt *pool_alloc(void *io)
{
	struct t_env *e = io;
	struct t_pool *p = &e->pool;
	int i;

	if (p->fail_alloc > 0) {
		p->fail_alloc--;
		return NULL;
	}
	if (p->nfree == 0)
		return NULL;
	i = p->free_idx[--p->nfree];
	p->in_use++;
	p->pkts[i].data = p->bufs[i];
	p->pkts[i].cap = T_FRAME_MAX;
	p->pkts[i].len = 0;
	p->pkts[i].opaque = (void *)(intptr_t)i;
	return &p->pkts[i];
}

static void pool_free(void *io, struct dp_pkt *pkt)
{
	struct t_env *e = io;
	int i = (int)(intptr_t)pkt->opaque;

	e->pool.free_idx[e->pool.nfree++] = i;
	e->pool.in_use--;
}

static uint16_t tx_burst(void *io, struct dp_pkt **pkts, uint16_t n)
{
	struct t_env *e = io;

	if (e->tx_refuse > 0) {
		e->tx_refuse--;
		return 0;
	}
	for (uint16_t i = 0; i < n; i++) {
		if (!e->quiet && e->ncap < T_CAP_MAX) {
			int slot = (e->cap_head + e->ncap) % T_CAP_MAX;

			memcpy(e->cap[slot].b, pkts[i]->data, pkts[i]->len);
			e->cap[slot].len = pkts[i]->len;
			e->ncap++;
		}
		pool_free(io, pkts[i]);
	}
	return n;
}

/* ---- recording application ---- */

static void *app_accept(void *app, struct dp_tcp_conn *c, const struct dp_conn_info *info)
{
	struct t_env *e = app;

	if (e->refuse_accept)
		return NULL;
	for (int i = 0; i < T_APPS; i++) {
		struct t_app_conn *a = &e->apps[i];

		if (a->used)
			continue;
		a->used = true;
		a->open = true;
		a->c = c;
		a->info = *info;
		a->len = 0;
		a->fins = 0;
		a->closes = 0;
		if (!a->data)
			a->data = malloc(T_APP_BYTES);
		e->accepts++;
		return a;
	}
	return NULL;
}

static void app_data(void *ctx, struct dp_tcp_conn *c, const uint8_t *data, size_t len)
{
	struct t_app_conn *a = ctx;

	(void)c;
	if (a->len + len <= T_APP_BYTES)
		memcpy(a->data + a->len, data, len);
	a->len += len;
}

static void app_fin(void *ctx, struct dp_tcp_conn *c)
{
	struct t_app_conn *a = ctx;

	(void)c;
	a->fins++;
}

static void app_close(void *ctx, struct dp_tcp_conn *c, enum dp_close_reason reason)
{
	struct t_app_conn *a = ctx;

	(void)c;
	a->closes++;
	a->reason = reason;
	a->open = false;
	a->used = false;
}

/* Behaviours needing the env go through a thin wrapper with the env as app context. */
static struct t_env *cur_env;

static void app_data_env(void *ctx, struct dp_tcp_conn *c, const uint8_t *data, size_t len)
{
	struct t_env *e = cur_env;
	struct t_app_conn *a = ctx;

	app_data(ctx, c, data, len);
	if (e->echo)
		dp_tcp_send(e->st, c, e->echo, strlen(e->echo), e->now);
	if (e->close_on_data) {
		a->open = false;
		a->used = false;
		dp_tcp_close(e->st, c, e->now);
	} else if (e->abort_on_data) {
		a->open = false;
		a->used = false;
		dp_tcp_abort(e->st, c, e->now);
	}
}

static const struct dp_io_ops io_ops = { pool_alloc, pool_free, tx_burst };
static const struct dp_app_ops app_ops_fin = { app_accept, app_data_env, app_fin, app_close };
static const struct dp_app_ops app_ops_nofin = { app_accept, app_data_env, NULL, app_close };

int t_env_init(struct t_env *e, void (*tweak)(struct dp_stack_config *cfg))
{
	const char *err = NULL;
	uint8_t *keep[T_APPS];
	struct t_frame *cap = e->cap;

	/* Buffers survive re-initialisation (the fuzz target re-inits per input). */
	for (int i = 0; i < T_APPS; i++)
		keep[i] = e->apps[i].data;
	memset(e, 0, sizeof(*e));
	for (int i = 0; i < T_APPS; i++)
		e->apps[i].data = keep[i];
	e->cap = cap ? cap : malloc(T_CAP_MAX * sizeof(*e->cap));
	if (!e->cap)
		return -1;
	for (int i = 0; i < T_POOL_SIZE; i++)
		e->pool.free_idx[i] = T_POOL_SIZE - 1 - i;
	e->pool.nfree = T_POOL_SIZE;
	e->use_on_fin = true;
	e->now = 1000 * T_SEC;
	dp_stack_config_defaults(&e->cfg);
	memcpy(e->cfg.mac, our_mac, 6);
	e->cfg.ip = DP_IPV4(10, 0, 0, 1);
	e->cfg.netmask = 0xffffff00u;
	e->cfg.gateway = DP_IPV4(10, 0, 0, 254);
	e->cfg.listen_ports[0] = 7000;
	e->cfg.n_listen = 1;
	e->cfg.max_conns = 16;
	e->cfg.max_conns_per_src = 8;
	e->cfg.snd_buf = 64 * 1024;
	e->cfg.rcv_buf = 64 * 1024;
	for (int i = 0; i < 32; i++)
		e->cfg.secret[i] = (uint8_t)(i * 7 + 3);
	if (tweak)
		tweak(&e->cfg);
	cur_env = e;
	e->st = dp_stack_create(&e->cfg, &io_ops, e, e->use_on_fin ? &app_ops_fin : &app_ops_nofin,
				e, e->now, &err);
	if (!e->st) {
		fprintf(stderr, "dp_stack_create: %s\n", err ? err : "?");
		return -1;
	}
	return 0;
}

void t_env_set_nofin(struct t_env *e)
{
	dp_stack_destroy(e->st, e->now);
	e->use_on_fin = false;
	e->st = dp_stack_create(&e->cfg, &io_ops, e, &app_ops_nofin, e, e->now, NULL);
}

void t_env_fini(struct t_env *e)
{
	dp_stack_destroy(e->st, e->now);
	e->st = NULL;
	for (int i = 0; i < T_APPS; i++) {
		free(e->apps[i].data);
		e->apps[i].data = NULL;
	}
	free(e->cap);
	e->cap = NULL;
	if (cur_env == e)
		cur_env = NULL;
}

void t_advance(struct t_env *e, uint64_t dt_ns)
{
	e->now += dt_ns;
	dp_stack_timers_run(e->st, e->now);
}

void t_input(struct t_env *e, const uint8_t *frame, size_t len)
{
	dp_stack_input(e->st, frame, len, 0, e->now);
}

int t_cap_count(const struct t_env *e) { return e->ncap; }

const struct t_frame *t_cap_pop(struct t_env *e)
{
	const struct t_frame *f;

	if (e->ncap == 0)
		return NULL;
	f = &e->cap[e->cap_head];
	e->cap_head = (e->cap_head + 1) % T_CAP_MAX;
	e->ncap--;
	return f;
}

void t_cap_clear(struct t_env *e)
{
	e->ncap = 0;
	e->cap_head = 0;
}

/* ---- builders ---- */

static uint8_t *eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	dp_put16(f + 12, type);
	return f + DP_ETH_HLEN;
}

void t_peer_init(struct t_peer *p, const struct t_env *e, int n)
{
	(void)e;
	memset(p, 0, sizeof(*p));
	p->mac[0] = 0x02;
	p->mac[1] = 0xaa;
	p->mac[5] = (uint8_t)n;
	p->ip = DP_IPV4(10, 0, 0, 10 + n);
	p->port = (uint16_t)(40000 + n);
	p->dport = 7000;
	p->isn = 0x1000u * (uint32_t)(n + 1);
	p->wnd = 65535;
	p->ws = 7;
	p->mss = 1460;
	p->ts = true;
	p->tsval = 100;
}

size_t t_build_arp(uint8_t *buf, const uint8_t src_mac[6], const uint8_t dst_mac[6], uint16_t op,
		   uint32_t spa, uint32_t tpa)
{
	static const uint8_t zero[6];
	uint8_t *a = eth(buf, dst_mac, src_mac, DP_ETHERTYPE_ARP);

	dp_put16(a, 1);
	dp_put16(a + 2, DP_ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	dp_put16(a + 6, op);
	memcpy(a + 8, src_mac, 6);
	dp_put32(a + 14, spa);
	memcpy(a + 18, op == 2 ? dst_mac : zero, 6);
	dp_put32(a + 24, tpa);
	return DP_ETH_HLEN + DP_ARP_LEN;
}

size_t t_build_ipv4(uint8_t *buf, const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src,
		    uint32_t dst, uint8_t proto, uint16_t frag, uint8_t ihl_words, const void *l4,
		    size_t l4len)
{
	uint8_t *ip = eth(buf, dst_mac, src_mac, DP_ETHERTYPE_IPV4);
	size_t hl = (size_t)ihl_words * 4;

	memset(ip, 0, hl);
	ip[0] = (uint8_t)(0x40 | ihl_words);
	dp_put16(ip + 2, (uint16_t)(hl + l4len));
	dp_put16(ip + 4, 0x1234);
	dp_put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	dp_put32(ip + 12, src);
	dp_put32(ip + 16, dst);
	for (size_t i = 20; i < hl; i++)
		ip[i] = 1; /* NOP options */
	dp_put16(ip + 10, dp_cksum_fold(dp_cksum_partial(ip, hl, 0)));
	memcpy(ip + hl, l4, l4len);
	return DP_ETH_HLEN + hl + l4len;
}

size_t t_build_icmp_echo(uint8_t *buf, const struct t_env *e, const struct t_peer *p, uint16_t id,
			 uint16_t seq, const void *data, size_t len)
{
	uint8_t ic[T_FRAME_MAX];

	ic[0] = 8;
	ic[1] = 0;
	dp_put16(ic + 2, 0);
	dp_put16(ic + 4, id);
	dp_put16(ic + 6, seq);
	memcpy(ic + 8, data, len);
	dp_put16(ic + 2, dp_cksum_fold(dp_cksum_partial(ic, 8 + len, 0)));
	return t_build_ipv4(buf, p->mac, e->cfg.mac, p->ip, e->cfg.ip, DP_IPPROTO_ICMP, 0, 5, ic,
			    8 + len);
}

size_t t_build_tcp(uint8_t *buf, const struct t_env *e, const struct t_peer *p, uint8_t flags,
		   uint32_t seq, uint32_t ack, uint16_t wnd, const uint8_t *opts, size_t optlen,
		   const void *data, size_t len)
{
	uint8_t th[T_FRAME_MAX];
	size_t hl = DP_TCP_HLEN + ((optlen + 3) & ~(size_t)3);
	uint32_t sum;

	memset(th, 0, hl);
	dp_put16(th, p->port);
	dp_put16(th + 2, p->dport);
	dp_put32(th + 4, seq);
	dp_put32(th + 8, ack);
	th[12] = (uint8_t)((hl / 4) << 4);
	th[13] = flags;
	dp_put16(th + 14, wnd);
	if (optlen)
		memcpy(th + DP_TCP_HLEN, opts, optlen);
	if (len)
		memcpy(th + hl, data, len);
	sum = dp_cksum_pseudo(p->ip, e->cfg.ip, DP_IPPROTO_TCP, (uint16_t)(hl + len));
	dp_put16(th + 16, dp_cksum_fold(dp_cksum_partial(th, hl + len, sum)));
	return t_build_ipv4(buf, p->mac, e->cfg.mac, p->ip, e->cfg.ip, DP_IPPROTO_TCP, 0x4000, 5, th,
			    hl + len);
}

static size_t ts_opt(uint8_t *o, const struct t_peer *p)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	dp_put32(o + 4, p->tsval);
	dp_put32(o + 8, p->tsecr);
	return 12;
}

void t_send(struct t_env *e, struct t_peer *p, uint8_t flags, uint32_t seq, uint32_t ack,
	    const void *data, size_t len)
{
	uint8_t f[T_FRAME_MAX], o[40];
	size_t n = 0;

	if (p->ts)
		n = ts_opt(o, p);
	t_input(e, f, t_build_tcp(f, e, p, flags, seq, ack, p->wnd, o, n, data, len));
}

void t_send_data(struct t_env *e, struct t_peer *p, const void *data, size_t len)
{
	t_send(e, p, DP_TCP_ACK | DP_TCP_PSH, p->snd_nxt, p->rcv_nxt, data, len);
	p->snd_nxt += (uint32_t)len;
}

void t_send_ack(struct t_env *e, struct t_peer *p)
{
	t_send(e, p, DP_TCP_ACK, p->snd_nxt, p->rcv_nxt, NULL, 0);
}

bool t_parse(const struct t_frame *f, struct t_seg *s)
{
	const uint8_t *ip, *th;
	size_t ihl, tl;

	memset(s, 0, sizeof(*s));
	s->ws = -1;
	if (f->len < DP_ETH_HLEN)
		return false;
	memcpy(s->dmac, f->b, 6);
	memcpy(s->smac, f->b + 6, 6);
	s->ethertype = dp_get16(f->b + 12);
	if (s->ethertype != DP_ETHERTYPE_IPV4 || f->len < DP_ETH_HLEN + 20)
		return false;
	ip = f->b + DP_ETH_HLEN;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tl = dp_get16(ip + 2);
	if (tl > f->len - DP_ETH_HLEN || tl < ihl)
		return false;
	s->ip_cksum_ok = dp_cksum_fold(dp_cksum_partial(ip, ihl, 0)) == 0;
	s->src = dp_get32(ip + 12);
	s->dst = dp_get32(ip + 16);
	s->proto = ip[9];
	s->l4 = ip + ihl;
	s->l4len = tl - ihl;
	if (s->proto == DP_IPPROTO_ICMP) {
		s->l4_cksum_ok = dp_cksum_fold(dp_cksum_partial(s->l4, s->l4len, 0)) == 0;
		return true;
	}
	if (s->proto != DP_IPPROTO_TCP || s->l4len < 20)
		return false;
	th = s->l4;
	s->l4_cksum_ok = dp_cksum_fold(dp_cksum_partial(th, s->l4len,
		dp_cksum_pseudo(s->src, s->dst, DP_IPPROTO_TCP, (uint16_t)s->l4len))) == 0;
	s->sport = dp_get16(th);
	s->dport = dp_get16(th + 2);
	s->seq = dp_get32(th + 4);
	s->ack = dp_get32(th + 8);
	s->flags = th[13];
	s->wnd = dp_get16(th + 14);
	{
		size_t doff = (size_t)(th[12] >> 4) * 4, i = 20;

		while (i < doff) {
			uint8_t k = th[i];

			if (k == 0)
				break;
			if (k == 1) {
				i++;
				continue;
			}
			if (i + 1 >= doff || th[i + 1] < 2)
				break;
			if (k == 2)
				s->mss = dp_get16(th + i + 2);
			if (k == 3)
				s->ws = th[i + 2];
			if (k == 8) {
				s->has_ts = true;
				s->tsval = dp_get32(th + i + 2);
				s->tsecr = dp_get32(th + i + 6);
			}
			i += th[i + 1];
		}
		s->data = th + doff;
		s->len = s->l4len - doff;
	}
	return true;
}

bool t_pop_tcp(struct t_env *e, struct t_seg *s)
{
	const struct t_frame *f;

	while ((f = t_cap_pop(e)) != NULL)
		if (t_parse(f, s) && s->proto == DP_IPPROTO_TCP)
			return true;
	return false;
}

int t_handshake(struct t_env *e, struct t_peer *p)
{
	uint8_t f[T_FRAME_MAX], o[40];
	size_t n = 0;
	struct t_seg s;
	int before = e->accepts;

	if (p->mss) {
		o[n++] = 2;
		o[n++] = 4;
		dp_put16(o + n, p->mss);
		n += 2;
	}
	if (p->ws >= 0) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = (uint8_t)p->ws;
	}
	if (p->ts)
		n += ts_opt(o + n, p);
	t_cap_clear(e);
	t_input(e, f, t_build_tcp(f, e, p, DP_TCP_SYN, p->isn, 0, p->wnd, o, n, NULL, 0));
	if (!t_pop_tcp(e, &s) || s.flags != (DP_TCP_SYN | DP_TCP_ACK) || s.ack != p->isn + 1)
		return -1;
	p->snd_nxt = p->isn + 1;
	p->rcv_nxt = s.seq + 1;
	if (s.has_ts)
		p->tsecr = s.tsval;
	t_send_ack(e, p);
	if (e->accepts != before + 1)
		return -1;
	for (int i = 0; i < T_APPS; i++)
		if (e->apps[i].used && e->apps[i].info.peer_port == p->port &&
		    e->apps[i].info.peer_ip == p->ip && e->apps[i].open)
			p->app = &e->apps[i];
	return p->app ? 0 : -1;
}

size_t t_drain_ack(struct t_env *e, struct t_peer *p)
{
	struct t_seg s;
	size_t total = 0;

	while (t_pop_tcp(e, &s)) {
		if (s.dport != p->port)
			continue;
		if (s.seq == p->rcv_nxt && s.len) {
			p->rcv_nxt += (uint32_t)s.len;
			total += s.len;
		}
		if (s.flags & DP_TCP_FIN && s.seq + s.len == p->rcv_nxt)
			p->rcv_nxt++;
	}
	t_send_ack(e, p);
	return total;
}

uint64_t t_stat(const struct t_env *e, const char *name)
{
	int found = 0;
	uint64_t v = dp_net_stats_by_name(dp_stack_stats(e->st), name, &found);

	if (!found) {
		fprintf(stderr, "unknown counter %s\n", name);
		abort();
	}
	return v;
}
