/*
 * dp_eth.c: Ethernet II demultiplexing. Accepts frames to our MAC, and broadcast frames
 * only when they carry ARP; everything else is counted and dropped. 802.1Q tags are not
 * supported (the NIC strips them or the port is untagged).
 */
#include <string.h>

#include "dp_stack_pvt.h"
#include "dp_wire.h"

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

void dp_eth_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags)
{
	uint16_t type;
	bool is_bcast;

	if (len < DP_ETH_HLEN) {
		st->stats.drop_eth_runt++;
		return;
	}
	type = dp_get16(frame + DP_ETH_TYPE);
	is_bcast = memcmp(frame + DP_ETH_DST, bcast, 6) == 0;
	if (!is_bcast && memcmp(frame + DP_ETH_DST, st->cfg.mac, 6) != 0) {
		st->stats.drop_eth_not_for_us++;
		return;
	}
	if (frame[DP_ETH_SRC] & 1) {
		st->stats.drop_eth_bad_src++;
		return;
	}
	if (type == DP_ETHERTYPE_ARP) {
		dp_arp_input(st, frame, len);
	} else if (is_bcast) {
		st->stats.drop_eth_bcast_not_arp++;
	} else if (type == DP_ETHERTYPE_IPV4) {
		dp_ipv4_input(st, frame, len, rx_flags);
	} else {
		st->stats.drop_eth_type++;
	}
}

uint8_t *dp_eth_build(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(frame + DP_ETH_DST, dst, 6);
	memcpy(frame + DP_ETH_SRC, src, 6);
	dp_put16(frame + DP_ETH_TYPE, type);
	return frame + DP_ETH_HLEN;
}
