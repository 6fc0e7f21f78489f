/*
 * dp_wire.h: byte-order helpers and header offsets for Ethernet, ARP, IPv4, ICMP, TCP.
 *
 * Headers are read and written byte by byte at fixed offsets instead of through packed
 * structs: received frames have arbitrary alignment (fuzzing, VLAN-shifted buffers) and
 * unaligned struct access is undefined behaviour in C.
 */
#ifndef DP_WIRE_H
#define DP_WIRE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t dp_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t dp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void dp_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void dp_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#define DP_ETH_HLEN      14u
#define DP_ETH_DST       0u
#define DP_ETH_SRC       6u
#define DP_ETH_TYPE      12u
#define DP_ETHERTYPE_IPV4 0x0800u
#define DP_ETHERTYPE_ARP  0x0806u

#define DP_ARP_LEN       28u
#define DP_IPV4_HLEN     20u
#define DP_IPPROTO_ICMP  1u
#define DP_IPPROTO_TCP   6u
#define DP_ICMP_HLEN     8u
#define DP_TCP_HLEN      20u

#define DP_TCP_FIN 0x01u
#define DP_TCP_SYN 0x02u
#define DP_TCP_RST 0x04u
#define DP_TCP_PSH 0x08u
#define DP_TCP_ACK 0x10u
#define DP_TCP_URG 0x20u

#define DP_IPV4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#endif /* DP_WIRE_H */
