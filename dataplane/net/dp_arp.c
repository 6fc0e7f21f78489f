/* dp_arp.c: ARP reply, learning and resolution (RFC 826), table described in dp_arp.h. */
#include "dp_arp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_stack_pvt.h"
#include "dp_wire.h"

#define PROBE 8u

/* Offsets inside the ARP payload. */
#define A_HTYPE 0
#define A_PTYPE 2
#define A_HLEN  4
#define A_PLEN  5
#define A_OP    6
#define A_SHA   8
#define A_SPA   14
#define A_THA   18
#define A_TPA   24

#define ARP_REQUEST 1
#define ARP_REPLY   2

int dp_arp_init(struct dp_arp_table *t, uint32_t n)
{
	if (n < PROBE || (n & (n - 1)))
		return -EINVAL;
	t->e = calloc(n, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->mask = n - 1;
	return 0;
}

void dp_arp_fini(struct dp_arp_table *t)
{
	free(t->e);
	t->e = NULL;
}

static uint32_t slot_of(const struct dp_arp_table *t, uint32_t ip)
{
	return (uint32_t)((ip * 2654435761u) >> 8) & t->mask;
}

static bool alive(const struct dp_arp_entry *e, uint64_t now)
{
	return e->ip != 0 && e->expire_ns > now;
}

static struct dp_arp_entry *find(const struct dp_arp_table *t, uint32_t ip, uint64_t now)
{
	uint32_t s = slot_of(t, ip);

	for (uint32_t i = 0; i < PROBE; i++) {
		struct dp_arp_entry *e = &t->e[(s + i) & t->mask];

		if (e->ip == ip && alive(e, now))
			return e;
	}
	return NULL;
}

/* Existing entry for ip, else a dead slot in its probe window, else NULL. */
static struct dp_arp_entry *find_slot(struct dp_arp_table *t, uint32_t ip, uint64_t now)
{
	struct dp_arp_entry *spare = NULL;
	uint32_t s = slot_of(t, ip);

	for (uint32_t i = 0; i < PROBE; i++) {
		struct dp_arp_entry *e = &t->e[(s + i) & t->mask];

		if (e->ip == ip)
			return e;
		if (!spare && !alive(e, now))
			spare = e;
	}
	return spare;
}

static void learn(struct dp_stack *st, uint32_t ip, const uint8_t mac[6])
{
	struct dp_arp_entry *e = find_slot(&st->arp, ip, st->now_ns);

	if (!e) {
		st->stats.arp_table_full++;
		return;
	}
	if (e->ip != ip || !e->resolved || !alive(e, st->now_ns)) {
		st->stats.arp_learned++;
		e->last_req_ns = 0;
	}
	e->ip = ip;
	memcpy(e->mac, mac, 6);
	e->resolved = 1;
	e->expire_ns = st->now_ns + st->cfg.arp_ttl_ns;
}

static void send_arp(struct dp_stack *st, uint16_t op, const uint8_t eth_dst[6],
		     const uint8_t tha[6], uint32_t tpa)
{
	struct dp_pkt *p = dp_stack_pkt_alloc(st);
	uint8_t *a;

	if (!p)
		return;
	a = dp_eth_build(p->data, eth_dst, st->cfg.mac, DP_ETHERTYPE_ARP);
	dp_put16(a + A_HTYPE, 1);
	dp_put16(a + A_PTYPE, DP_ETHERTYPE_IPV4);
	a[A_HLEN] = 6;
	a[A_PLEN] = 4;
	dp_put16(a + A_OP, op);
	memcpy(a + A_SHA, st->cfg.mac, 6);
	dp_put32(a + A_SPA, st->cfg.ip);
	memcpy(a + A_THA, tha, 6);
	dp_put32(a + A_TPA, tpa);
	/* Pad to the 60-byte Ethernet minimum: some NICs and taps do not. */
	memset(a + DP_ARP_LEN, 0, 60 - DP_ETH_HLEN - DP_ARP_LEN);
	p->len = 60;
	dp_stack_tx(st, p);
}

void dp_arp_input(struct dp_stack *st, const uint8_t *frame, size_t len)
{
	const uint8_t *a = frame + DP_ETH_HLEN;
	uint32_t spa, tpa;
	uint16_t op;

	if (len < DP_ETH_HLEN + DP_ARP_LEN || dp_get16(a + A_HTYPE) != 1 ||
	    dp_get16(a + A_PTYPE) != DP_ETHERTYPE_IPV4 || a[A_HLEN] != 6 || a[A_PLEN] != 4) {
		st->stats.drop_arp_malformed++;
		return;
	}
	spa = dp_get32(a + A_SPA);
	tpa = dp_get32(a + A_TPA);
	op = dp_get16(a + A_OP);
	/* A multicast/broadcast sender MAC or a zero/our sender IP would poison the table. */
	if ((a[A_SHA] & 1) || spa == 0 || spa == st->cfg.ip || spa == 0xffffffffu) {
		st->stats.drop_arp_malformed++;
		return;
	}
	if (op != ARP_REQUEST && op != ARP_REPLY) {
		st->stats.drop_arp_op++;
		return;
	}
	if (tpa != st->cfg.ip) {
		st->stats.drop_arp_not_for_us++;
		return;
	}
	learn(st, spa, a + A_SHA);
	if (op == ARP_REQUEST) {
		st->stats.arp_request_rx++;
		send_arp(st, ARP_REPLY, a + A_SHA, a + A_SHA, spa);
	} else {
		st->stats.arp_reply_rx++;
	}
}

int dp_arp_resolve(struct dp_stack *st, uint32_t ip, uint8_t mac[6])
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6];
	struct dp_arp_entry *e = find(&st->arp, ip, st->now_ns);

	if (e && e->resolved) {
		memcpy(mac, e->mac, 6);
		return 0;
	}
	st->stats.arp_unresolved++;
	if (!e) {
		e = find_slot(&st->arp, ip, st->now_ns);
		if (!e) {
			st->stats.arp_table_full++;
			return -EAGAIN;
		}
		e->ip = ip;
		e->resolved = 0;
		e->last_req_ns = 0;
	}
	if (e->last_req_ns != 0 && st->now_ns - e->last_req_ns < st->cfg.arp_retry_ns)
		return -EAGAIN;
	/* An unresolved entry lives only as long as a retry gap: it exists to rate-limit. */
	e->last_req_ns = st->now_ns ? st->now_ns : 1;
	e->expire_ns = st->now_ns + st->cfg.arp_retry_ns;
	st->stats.arp_request_tx++;
	send_arp(st, ARP_REQUEST, bcast, zero, ip);
	return -EAGAIN;
}

int dp_stack_arp_lookup(const struct dp_stack *st, uint32_t ip, uint8_t mac[6])
{
	const struct dp_arp_entry *e = find(&st->arp, ip, st->now_ns);

	if (!e || !e->resolved)
		return -ENOENT;
	memcpy(mac, e->mac, 6);
	return 0;
}
