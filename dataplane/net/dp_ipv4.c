/*
 * dp_ipv4.c: IPv4 input validation (RFC 791, RFC 1122 §3.2.1) and header building.
 *
 * Accepted: version 4, IHL 5 (options are dropped: nothing we serve needs them and they
 * are an attack surface), total length within the frame, correct header checksum, not a
 * fragment (TCP peers use MSS/PMTU; reassembly would be memory an attacker controls),
 * destination our address, a plausible unicast source, protocol ICMP or TCP.
 */
#include "dp_cksum.h"
#include "dp_stack_pvt.h"
#include "dp_wire.h"

#define I_VIHL  0
#define I_TLEN  2
#define I_ID    4
#define I_FRAG  6
#define I_TTL   8
#define I_PROTO 9
#define I_CSUM  10
#define I_SRC   12
#define I_DST   16

static bool bad_source(const struct dp_stack *st, uint32_t src)
{
	uint8_t top = (uint8_t)(src >> 24);

	return src == 0 || src == 0xffffffffu || src == st->cfg.ip || top == 127 || top >= 224 ||
	       (st->cfg.netmask != 0xffffffffu && (src & st->cfg.netmask) == (st->cfg.ip & st->cfg.netmask) &&
		(src | st->cfg.netmask) == 0xffffffffu);
}

void dp_ipv4_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags)
{
	const uint8_t *ip = frame + DP_ETH_HLEN;
	size_t avail = len - DP_ETH_HLEN;
	struct dp_rx rx;
	uint16_t tlen, frag;

	if (avail < DP_IPV4_HLEN) {
		st->stats.drop_ip_runt++;
		return;
	}
	if ((ip[I_VIHL] >> 4) != 4) {
		st->stats.drop_ip_version++;
		return;
	}
	if ((ip[I_VIHL] & 0xf) < 5) {
		st->stats.drop_ip_len++;
		return;
	}
	if ((ip[I_VIHL] & 0xf) > 5) {
		st->stats.drop_ip_options++;
		return;
	}
	tlen = dp_get16(ip + I_TLEN);
	if (tlen < DP_IPV4_HLEN) {
		st->stats.drop_ip_len++;
		return;
	}
	if (tlen > avail) {
		st->stats.drop_ip_runt++;
		return;
	}
	if (!(rx_flags & DP_RX_IPV4_CKSUM_GOOD) &&
	    dp_cksum_fold(dp_cksum_partial(ip, DP_IPV4_HLEN, 0)) != 0) {
		st->stats.drop_ip_cksum++;
		return;
	}
	frag = dp_get16(ip + I_FRAG);
	if (frag & 0x3fff) { /* MF or a fragment offset */
		st->stats.drop_ip_fragment++;
		return;
	}
	rx.dst = dp_get32(ip + I_DST);
	rx.src = dp_get32(ip + I_SRC);
	if (rx.dst != st->cfg.ip) {
		st->stats.drop_ip_not_for_us++;
		return;
	}
	if (bad_source(st, rx.src)) {
		st->stats.drop_ip_bad_src++;
		return;
	}
	rx.frame = frame;
	rx.l4 = ip + DP_IPV4_HLEN;
	rx.l4len = tlen - DP_IPV4_HLEN;
	rx.flags = rx_flags;
	switch (ip[I_PROTO]) {
	case DP_IPPROTO_TCP:
		dp_tcp_input(st, &rx);
		break;
	case DP_IPPROTO_ICMP:
		dp_icmp_input(st, &rx);
		break;
	default:
		st->stats.drop_ip_proto++;
		break;
	}
}

void dp_ipv4_build(struct dp_stack *st, struct dp_pkt *pkt, uint8_t *ip, uint32_t dst,
		   uint8_t proto, uint16_t l4len)
{
	ip[I_VIHL] = 0x45;
	ip[1] = 0;
	dp_put16(ip + I_TLEN, (uint16_t)(DP_IPV4_HLEN + l4len));
	dp_put16(ip + I_ID, st->ip_id++);
	dp_put16(ip + I_FRAG, 0x4000); /* DF: we never fragment (RFC 1191 PMTU) */
	ip[I_TTL] = 64;
	ip[I_PROTO] = proto;
	dp_put16(ip + I_CSUM, 0);
	dp_put32(ip + I_SRC, st->cfg.ip);
	dp_put32(ip + I_DST, dst);
	pkt->l2_len = DP_ETH_HLEN;
	pkt->l3_len = DP_IPV4_HLEN;
	if (st->cfg.tx_cksum_offload)
		pkt->ol_flags |= DP_PKT_OL_IPV4_CKSUM;
	else
		dp_put16(ip + I_CSUM, dp_cksum_fold(dp_cksum_partial(ip, DP_IPV4_HLEN, 0)));
}

uint32_t dp_ipv4_next_hop(const struct dp_stack *st, uint32_t dst)
{
	if ((dst & st->cfg.netmask) == (st->cfg.ip & st->cfg.netmask) || st->cfg.gateway == 0)
		return dst;
	return st->cfg.gateway;
}
