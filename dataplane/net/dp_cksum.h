/*
 * dp_cksum.h: the Internet checksum (RFC 1071) for IPv4, ICMP and TCP.
 *
 * dp_cksum_partial() accumulates 16-bit big-endian words into a 32-bit sum; an odd trailing
 * byte is padded with zero. dp_cksum_fold() folds and complements. Verifying a received
 * header: fold over the whole header including its checksum field gives 0.
 */
#ifndef DP_CKSUM_H
#define DP_CKSUM_H

#include <stddef.h>
#include <stdint.h>

uint32_t dp_cksum_partial(const void *data, size_t len, uint32_t sum);

static inline uint16_t dp_cksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the TCP/UDP pseudo-header (RFC 9293 §3.1); addresses in host order. */
static inline uint32_t dp_cksum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4len)
{
	return (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) + proto + l4len;
}

#endif /* DP_CKSUM_H */
