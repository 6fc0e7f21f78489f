/*
 * dp_eth.h: Ethernet II framing for the stack (internal to dataplane/net/).
 *
 * Input accepts frames addressed to our MAC, and broadcast frames only when they carry
 * ARP; frames from a multicast/broadcast source, with VLAN tags or other EtherTypes are
 * counted and dropped (see dp_net_stats.h, drop_eth_*).
 */
#ifndef DP_ETH_H
#define DP_ETH_H

#include <stddef.h>
#include <stdint.h>

struct dp_stack;

/* Demultiplex one received frame of len bytes (any length, any content). */
void dp_eth_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags);

/* Write an Ethernet header at frame (14 writable bytes); returns the byte after it. */
uint8_t *dp_eth_build(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

#endif /* DP_ETH_H */
