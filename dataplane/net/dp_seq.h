/*
 * dp_seq.h: TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * a "before" b when the signed 32-bit difference a - b is negative; valid while the two
 * numbers are less than 2^31 apart, which windows (at most 2^30 with RFC 7323 scaling)
 * guarantee. Never compare sequence numbers with < directly.
 */
#ifndef DP_SEQ_H
#define DP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool dp_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool dp_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool dp_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool dp_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t dp_seq_max(uint32_t a, uint32_t b) { return dp_seq_gt(a, b) ? a : b; }
static inline uint32_t dp_seq_min(uint32_t a, uint32_t b) { return dp_seq_lt(a, b) ? a : b; }
/* lo <= s < hi, modulo 2^32. */
static inline bool dp_seq_in(uint32_t s, uint32_t lo, uint32_t hi)
{
	return s - lo < hi - lo;
}

#endif /* DP_SEQ_H */
