/*
 * proto_wire_pvt: the varint, tag and length readers of proto_wire.h as inline functions
 * on a plain position, shared by proto_wire.c and proto_view.c (the ingest hot path parses
 * every signal with them).
 *
 * Why not the cursor functions: a cursor whose address goes to an out-of-line reader
 * lives in memory, and each field's reads then wait on the store of the previous one
 * (perf: most of the body parse's samples sat on reloads of the cursor). Positions
 * returned by inline functions stay in registers. Every decp field tag (numbers 1..15)
 * and most values and lengths are one byte, taken first.
 *
 * Same acceptance and results as proto_wire_read_varint / _read_tag / _read_len (those
 * are built on these). Each returns the position after what it read, or NULL (input
 * ended, varint longer than maxb bytes or with a 10th byte above 1, tag wider than 32
 * bits or of field 0, length beyond the input).
 */
#ifndef DECP_PROTO_WIRE_PVT_H
#define DECP_PROTO_WIRE_PVT_H

#include "proto_wire.h"

static inline const uint8_t *wire_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v,
					     unsigned maxb)
{
	size_t avail = (size_t)(end - p);
	unsigned n = avail < maxb ? (unsigned)avail : maxb;
	uint64_t r = 0;

	if (n > 0 && p[0] < 0x80) {
		*v = p[0];
		return p + 1;
	}
	/* One bounds check for the whole varint instead of one per byte. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = p[i];

		r |= (b & 0x7f) << (7 * i);
		if (b < 0x80) {
			if (i == 9 && b > 1)
				return NULL; /* the 10th byte carries only bit 63 */
			*v = r;
			return p + i + 1;
		}
	}
	return NULL;
}

static inline const uint8_t *wire_get_tag(const uint8_t *p, const uint8_t *end, uint32_t *field,
					  unsigned *wt)
{
	uint64_t t;

	p = wire_get_varint(p, end, &t, 5);
	if (p == NULL || t > UINT32_MAX || (t >> 3) == 0)
		return NULL;
	*field = (uint32_t)(t >> 3);
	*wt = (unsigned)(t & 7);
	return p;
}

static inline const uint8_t *wire_get_len(const uint8_t *p, const uint8_t *end,
					  const uint8_t **data, size_t *len)
{
	uint64_t n;

	p = wire_get_varint(p, end, &n, 5);
	if (p == NULL || n > UINT32_MAX || n > (uint64_t)(end - p))
		return NULL;
	*data = p;
	*len = (size_t)n;
	return p + n;
}

/* An unknown field's value (proto_wire_skip; not on the hot path). */
static inline const uint8_t *wire_skip(const uint8_t *p, const uint8_t *end, unsigned wt)
{
	struct proto_wire_cursor c = { p, end };

	return proto_wire_skip(&c, wt) == 0 ? c.p : NULL;
}

#endif
