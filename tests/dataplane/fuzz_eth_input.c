/*
 * fuzz_eth_input.c: arbitrary bytes into dp_stack_input, as a sequence of frames with
 * clock advances and application calls, on one stack instance. Input, repeated:
 *
 *   byte 0    : op (low 3 bits)
 *                 0 raw Ethernet frame
 *                 1 IPv4 envelope from peer (b[0] & 3) with arbitrary transport bytes
 *                   (TCP checksum fixed up so the segment reaches the state machine)
 *                 2 advance the clock
 *                 3 application call on some open connection (send / close / abort), or
 *                   what the application does inside on_data (echo / close / abort)
 *                 4 full handshake from peer (b[0] & 3): the fuzzer cannot forge cookies
 *                 5 TCP segment from peer (b[0] & 3) relative to its connection:
 *                   flags, seq offset, ack offset, window, payload
 *   bytes 1-2 : length n of the argument (big endian, capped at what remains)
 *   n bytes   : argument
 *
 * After every input the clock runs an hour ahead, connections still held are aborted,
 * and the connection table, timer wheel and packet pool must all be empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_cksum.h"
#include "dp_test_env.h"
#include "dp_wire.h"

static struct t_env *E;
static struct t_peer peers[4];

static void small(struct dp_stack_config *c)
{
	c->max_conns = 8;
	c->max_conns_per_src = 3;
	c->snd_buf = 4096;
	c->rcv_buf = 4096;
	c->ooo_ranges = 4;
	c->timer_slots = 256;
	c->arp_entries = 16;
	c->idle_timeout_ns = 30 * T_SEC;
}

/* Follow what the stack sent to each peer so relative sequence numbers stay meaningful. */
static void observe(void)
{
	struct t_seg s;

	while (t_pop_tcp(E, &s)) {
		for (int k = 0; k < 4; k++) {
			struct t_peer *p = &peers[k];
			uint32_t end = s.seq + (uint32_t)s.len + ((s.flags & (DP_TCP_SYN | DP_TCP_FIN)) ? 1u : 0u);

			if (s.dport == p->port && s.dst == p->ip && (int32_t)(end - p->rcv_nxt) > 0)
				p->rcv_nxt = end;
		}
	}
}

static void envelope(const uint8_t *d, size_t n)
{
	struct t_peer *p = &peers[n ? d[0] & 3 : 0];
	uint8_t f[T_FRAME_MAX], th[T_FRAME_MAX];
	uint8_t proto = n > 1 && (d[1] & 1) ? DP_IPPROTO_ICMP : DP_IPPROTO_TCP;
	size_t l = n > 2 ? n - 2 : 0;

	if (l > T_FRAME_MAX - 64)
		l = T_FRAME_MAX - 64;
	memcpy(th, d + (n > 2 ? 2 : 0), l);
	if (proto == DP_IPPROTO_TCP && l >= 20) {
		dp_put16(th, p->port);
		dp_put16(th + 2, 7000);
		dp_put16(th + 16, 0);
		dp_put16(th + 16, dp_cksum_fold(dp_cksum_partial(th, l,
			dp_cksum_pseudo(p->ip, E->cfg.ip, DP_IPPROTO_TCP, (uint16_t)l))));
	}
	t_input(E, f, t_build_ipv4(f, p->mac, E->cfg.mac, p->ip, E->cfg.ip, proto, 0x4000, 5, th, l));
}

static void segment(const uint8_t *d, size_t n)
{
	struct t_peer *p;
	uint8_t flags;
	int16_t soff, aoff;
	size_t len;

	if (n < 8)
		return;
	p = &peers[d[0] & 3];
	flags = d[1] & 0x3f;
	soff = (int16_t)dp_get16(d + 2);
	aoff = (int16_t)dp_get16(d + 4);
	p->wnd = dp_get16(d + 6);
	len = n - 8;
	if (len > 1400)
		len = 1400;
	p->tsval += d[0] >> 4;
	t_send(E, p, flags, p->snd_nxt + (uint32_t)(int32_t)soff, p->rcv_nxt + (uint32_t)(int32_t)aoff,
	       d + 8, len);
	if (soff == 0)
		p->snd_nxt += (uint32_t)len + ((flags & DP_TCP_FIN) ? 1u : 0u);
}

static void handshake(const uint8_t *d, size_t n)
{
	struct t_peer *p = &peers[n ? d[0] & 3 : 0];

	if (n > 1) {
		p->ts = d[1] & 1;
		p->ws = (d[1] & 2) ? (d[1] >> 4) : -1;
		p->mss = (d[1] & 4) ? (uint16_t)(d[1] * 8) : 0;
	}
	if (n > 5)
		p->isn = dp_get32(d + 2);
	p->port++;
	p->app = NULL;
	t_handshake(E, p);
}

static void app_action(const uint8_t *d, size_t n)
{
	struct t_app_conn *a = NULL;

	if (n == 0)
		return;
	for (int i = 0; i < T_APPS; i++)
		if (E->apps[i].used && E->apps[i].open && (!a || (d[0] >> 4) == i))
			a = &E->apps[i];
	if (!a && (d[0] & 3) != 3)
		return;
	switch (d[0] & 3) {
	case 0:
		dp_tcp_send(E->st, a->c, d, n, E->now);
		break;
	case 1:
		a->open = false;
		a->used = false;
		dp_tcp_close(E->st, a->c, E->now);
		break;
	case 2:
		a->open = false;
		a->used = false;
		dp_tcp_abort(E->st, a->c, E->now);
		break;
	default:
		/* what the application does from inside on_data from now on */
		E->echo = (d[0] & 4) ? "ack" : NULL;
		E->close_on_data = (d[0] & 8) != 0;
		E->abort_on_data = (d[0] & 16) != 0;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	if (!E)
		E = calloc(1, sizeof(*E));
	if (!E || t_env_init(E, small) != 0)
		abort();
	for (int k = 0; k < 4; k++)
		t_peer_init(&peers[k], E, k);
	peers[3].ip = peers[2].ip; /* two peers share a source: per-source limits */
	while (i + 3 <= size) {
		uint8_t op = data[i] & 7;
		size_t n = (size_t)data[i + 1] << 8 | data[i + 2];

		i += 3;
		if (n > size - i)
			n = size - i;
		switch (op) {
		case 0:
			t_input(E, data + i, n);
			break;
		case 1:
			envelope(data + i, n);
			break;
		case 2:
			t_advance(E, (uint64_t)(n ? data[i] : 1) * 7 * T_MS +
				     (uint64_t)(n > 1 ? data[i + 1] & 63 : 0) * T_SEC);
			break;
		case 3:
			app_action(data + i, n);
			break;
		case 4:
			handshake(data + i, n);
			break;
		default:
			segment(data + i, n);
			break;
		}
		observe();
		i += n;
	}
	t_advance(E, 3600 * T_SEC);
	for (int k = 0; k < T_APPS; k++) {
		if (E->apps[k].used && E->apps[k].open) {
			E->apps[k].open = false;
			E->apps[k].used = false;
			dp_tcp_abort(E->st, E->apps[k].c, E->now);
		}
	}
	t_advance(E, 3600 * T_SEC);
	if (dp_stack_conns_in_use(E->st) != 0 || E->pool.in_use != 0 ||
	    dp_stack_timers_armed(E->st) != 0)
		abort();
	/* Keep E and its application buffers for the next input; only the stack goes. */
	dp_stack_destroy(E->st, E->now);
	E->st = NULL;
	if (E->pool.in_use != 0)
		abort();
	return 0;
}
