/*
 * dp_icmp.c: ICMP echo reply (RFC 792, RFC 1122 §3.2.2.6). Other ICMP types are counted
 * and ignored: we act on no ICMP errors (RFC 5927 attacks need none of them to be heard).
 * The reply goes to the requester's L2 source, so answering needs no ARP state.
 */
#include <string.h>

#include "dp_cksum.h"
#include "dp_stack_pvt.h"
#include "dp_wire.h"

#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8

void dp_icmp_input(struct dp_stack *st, const struct dp_rx *rx)
{
	struct dp_pkt *p;
	uint8_t *ip, *ic;

	if (rx->l4len < DP_ICMP_HLEN) {
		st->stats.drop_icmp_runt++;
		return;
	}
	if (dp_cksum_fold(dp_cksum_partial(rx->l4, rx->l4len, 0)) != 0) {
		st->stats.drop_icmp_cksum++;
		return;
	}
	if (rx->l4[0] != ICMP_ECHO_REQUEST || rx->l4[1] != 0) {
		st->stats.drop_icmp_type++;
		return;
	}
	if (DP_IPV4_HLEN + rx->l4len > st->cfg.mtu) {
		st->stats.drop_icmp_too_big++;
		return;
	}
	p = dp_stack_pkt_alloc(st);
	if (!p)
		return;
	ip = dp_eth_build(p->data, rx->frame + DP_ETH_SRC, st->cfg.mac, DP_ETHERTYPE_IPV4);
	ic = ip + DP_IPV4_HLEN;
	memcpy(ic, rx->l4, rx->l4len);
	ic[0] = ICMP_ECHO_REPLY;
	dp_put16(ic + 2, 0);
	dp_put16(ic + 2, dp_cksum_fold(dp_cksum_partial(ic, rx->l4len, 0)));
	dp_ipv4_build(st, p, ip, rx->src, DP_IPPROTO_ICMP, (uint16_t)rx->l4len);
	p->len = (uint16_t)(DP_ETH_HLEN + DP_IPV4_HLEN + rx->l4len);
	dp_stack_tx(st, p);
	st->stats.icmp_echo_reply_tx++;
}
