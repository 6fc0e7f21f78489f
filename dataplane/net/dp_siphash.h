/*
 * dp_siphash.h: SipHash-2-4 (Aumasson & Bernstein, 2012), a keyed PRF over short inputs.
 * Used for SYN cookies and for the connection-table hash so that remote parties cannot
 * predict cookies or aim collisions at one bucket.
 */
#ifndef DP_SIPHASH_H
#define DP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct dp_siphash_key {
	uint64_t k0, k1;
};

/* 64-bit SipHash-2-4 of len bytes at data. */
uint64_t dp_siphash(const struct dp_siphash_key *key, const void *data, size_t len);

#endif /* DP_SIPHASH_H */
