/*
 * bench_util: the timer every perf/ benchmark shares. Each operation is timed on its own
 * with the TSC (CLOCK_MONOTONIC where there is none), calibrated once against
 * CLOCK_MONOTONIC; samples are sorted for percentiles.
 */
#ifndef DECP_BENCH_UTIL_H
#define DECP_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t ticks(void)
{
	return __rdtsc();
}
#else
static inline uint64_t ticks(void)
{
	return bench_mono_ns();
}
#endif

/* Nanoseconds per tick, measured over 200 ms. */
static inline double bench_calibrate(void)
{
	uint64_t n0 = bench_mono_ns(), t0 = ticks(), n1, t1;

	do
		n1 = bench_mono_ns();
	while (n1 - n0 < 200000000ull);
	t1 = ticks();
	return (double)(n1 - n0) / (double)(t1 - t0);
}

/* qsort comparator for uint64_t samples. */
static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
