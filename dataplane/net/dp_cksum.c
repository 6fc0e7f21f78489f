/*
 * dp_cksum.c: RFC 1071 one's-complement sum.
 *
 * Words are summed in native byte order, 32 bits at a time into a 64-bit accumulator,
 * and the folded result is byte-swapped on little-endian hosts: RFC 1071 §2(B) shows the
 * sum is byte-order independent up to that final swap. Loads go through memcpy because
 * frames have arbitrary alignment.
 */
#include "dp_cksum.h"

#include <string.h>

uint32_t dp_cksum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = 0;
	uint32_t folded;

	while (len >= 16) {
		uint32_t w[4];

		memcpy(w, p, 16);
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;

		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the high half of a zero-padded big-endian word. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		acc += p[0];
#else
		acc += (uint32_t)p[0] << 8;
#endif
	}
	while (acc >> 16)
		acc = (acc & 0xffffu) + (acc >> 16);
	folded = (uint32_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	folded = ((folded & 0xffu) << 8) | (folded >> 8);
#endif
	folded += sum;
	/* Keep headroom for callers adding more words: fold into 17 bits. */
	while (folded >> 16)
		folded = (folded & 0xffffu) + (folded >> 16);
	return folded;
}
