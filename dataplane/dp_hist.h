/*
 * dp_hist: log-linear latency histogram (struct dp_hist in dp_shm.h), HdrHistogram-style:
 * values below 2^SUB are exact; above, each power of two is split into 2^SUB linear
 * sub-buckets, so a bucket's width is at most 1/16 of its value (<= 6.25 % error).
 * Recording is single-writer (the owning worker): plain load + relaxed store.
 */
#ifndef DECP_DP_HIST_H
#define DECP_DP_HIST_H

#include "dp_shm.h"

static inline unsigned int dp_hist_index(uint64_t v)
{
	if (v < (1ull << DP_HIST_SUB_BITS))
		return (unsigned int)v;
	unsigned int msb = 63u - (unsigned int)__builtin_clzll(v);
	if (msb > 47u)
		return DP_HIST_BUCKETS - 1u;
	unsigned int shift = msb - DP_HIST_SUB_BITS;
	unsigned int sub = (unsigned int)(v >> shift) & ((1u << DP_HIST_SUB_BITS) - 1u);
	return ((shift + 1u) << DP_HIST_SUB_BITS) + sub;
}

/* Upper bound (inclusive) of the values that land in bucket i. */
static inline uint64_t dp_hist_bucket_max(unsigned int i)
{
	if (i < (1u << DP_HIST_SUB_BITS))
		return i;
	unsigned int shift = (i >> DP_HIST_SUB_BITS) - 1u;
	uint64_t sub = i & ((1u << DP_HIST_SUB_BITS) - 1u);
	uint64_t base = (1ull << DP_HIST_SUB_BITS) | sub;
	return ((base + 1u) << shift) - 1u;
}

/* Record n samples of the same value v (a burst handled together). */
static inline void dp_hist_record_n(struct dp_hist *h, uint64_t v, uint64_t n)
{
	unsigned int i = dp_hist_index(v);
	atomic_store_explicit(&h->bucket[i],
			      atomic_load_explicit(&h->bucket[i], memory_order_relaxed) + n,
			      memory_order_relaxed);
	atomic_store_explicit(&h->sum_ns,
			      atomic_load_explicit(&h->sum_ns, memory_order_relaxed) + v * n,
			      memory_order_relaxed);
	atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void dp_hist_record(struct dp_hist *h, uint64_t v)
{
	dp_hist_record_n(h, v, 1);
}

/* Value at quantile q (0..1) over the sum of n histograms; 0 when empty. Any thread. */
static inline uint64_t dp_hist_quantile(const struct dp_hist *const *hs, unsigned int n, double q)
{
	uint64_t total = 0;
	for (unsigned int k = 0; k < n; k++)
		for (unsigned int i = 0; i < DP_HIST_BUCKETS; i++)
			total += atomic_load_explicit(&hs[k]->bucket[i], memory_order_relaxed);
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)total);
	if (rank >= total)
		rank = total - 1u;
	uint64_t seen = 0;
	for (unsigned int i = 0; i < DP_HIST_BUCKETS; i++) {
		for (unsigned int k = 0; k < n; k++)
			seen += atomic_load_explicit(&hs[k]->bucket[i], memory_order_relaxed);
		if (seen > rank)
			return dp_hist_bucket_max(i);
	}
	return dp_hist_bucket_max(DP_HIST_BUCKETS - 1u);
}

#endif
