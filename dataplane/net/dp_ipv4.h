/*
 * dp_ipv4.h: IPv4 input validation and header building (internal to dataplane/net/).
 *
 * Accepted: version 4, IHL 5, total length within the frame, correct header checksum
 * (unless the NIC vouched for it), not a fragment, destination our address, a plausible
 * unicast source, protocol ICMP or TCP. Everything else is counted (drop_ip_*).
 */
#ifndef DP_IPV4_H
#define DP_IPV4_H

#include <stddef.h>
#include <stdint.h>

struct dp_stack;
struct dp_pkt;

/* A received datagram after validation, handed to ICMP or TCP (pointers into the frame,
 * valid for the duration of the input call). */
struct dp_rx {
	const uint8_t *frame;   /* Ethernet header */
	const uint8_t *l4;      /* transport header */
	size_t l4len;           /* transport bytes (IPv4 total length - 20) */
	uint32_t src, dst;      /* host order */
	uint32_t flags;         /* DP_RX_* from the caller */
};

/* frame = Ethernet header of an IPv4 frame of len >= 14 bytes. */
void dp_ipv4_input(struct dp_stack *st, const uint8_t *frame, size_t len, uint32_t rx_flags);

/* Write a 20-byte header at ip (DF set, TTL 64) for l4len transport bytes to dst, with the
 * checksum filled in, or left to the NIC and flagged on pkt when offload is configured. */
void dp_ipv4_build(struct dp_stack *st, struct dp_pkt *pkt, uint8_t *ip, uint32_t dst,
		   uint8_t proto, uint16_t l4len);

/* Next hop for dst: dst itself when on our subnet (or no gateway), else the gateway. */
uint32_t dp_ipv4_next_hop(const struct dp_stack *st, uint32_t dst);

#endif /* DP_IPV4_H */
