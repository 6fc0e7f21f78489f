/*
 * bench_book: the position book at size (issue 19's benchmark, docs/perf.md "book"):
 * building a book of N open positions from N signals, the cost of one more signal on
 * it (modify, partial close, close and re-open: p50/p99/p99.9 per signal), and the
 * snapshot: encoded size and encode / decode time. Pure CPU, no I/O (the Redis write of
 * the snapshot is one HSET of that many bytes).
 * Usage: bench_book [N (default 10000)] [signals (default 200000)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cp_book.h"
#include "guard_types.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *const syms[6] = {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD",
					    "USDCHF.m"};
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000;
	uint64_t m = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
	struct cp_book b, c;
	uint64_t seq = 0, t0, *lat;
	double ns = bench_calibrate();
	unsigned int seed = 1;
	uint8_t *buf;
	long len;

	if (n == 0 || m == 0 || (lat = malloc(m * sizeof(*lat))) == NULL)
		return 2;
	cp_book_init(&b, 1);
	t0 = bench_mono_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct cp_book_signal s = {.master_id = 1, .sequence = ++seq,
					   .ticket = 70000000 + i * 7919,
					   .order_type = i % 5 == 4 ? GUARD_ORDER_BUY_LIMIT
								    : GUARD_ORDER_BUY,
					   .symbol = syms[i % 6], .volume = 10 + (int64_t)(i % 90),
					   .price = 108000 + (int64_t)(i % 997), .sl = 107000,
					   .tp = 109000};
		if (cp_book_apply(&b, &s, NULL) != 0)
			return 1;
	}
	printf("book: %" PRIu64 " entries built from %" PRIu64 " signals in %.2f ms\n", b.n, n,
	       (double)(bench_mono_ns() - t0) / 1e6);
	/* one more signal at that size: modify, partial close, close + re-open (size kept) */
	uint64_t closed = 0;

	for (uint64_t i = 0; i < m; i++) {
		uint64_t k = (uint64_t)rand_r(&seed) % n, ticket = 70000000 + k * 7919, t;
		uint32_t kind = i % 4;
		struct cp_book_signal s = {.master_id = 1, .ticket = ticket, .symbol = syms[k % 6],
					   .price = 108100, .sl = 107100 + (int64_t)(i % 50),
					   .tp = 109000, .volume = 1};
		int rc;

		s.order_type = kind == 0 ? GUARD_ORDER_MODIFY
			       : kind == 1 ? GUARD_ORDER_CLOSE_PARTIAL
			       : kind == 2 ? GUARD_ORDER_CLOSE : GUARD_ORDER_SELL;
		if (kind == 2)
			closed = ticket;
		if (kind == 3) /* re-open what kind 2 closed, so the size stays n */
			s.ticket = closed;
		if (kind == 1 && cp_book_find(&b, ticket) != NULL &&
		    cp_book_find(&b, ticket)->type != GUARD_ORDER_BUY)
			s.order_type = GUARD_ORDER_MODIFY; /* no partial close of a pending order */
		s.sequence = ++seq;
		t = ticks();
		rc = cp_book_apply(&b, &s, NULL);
		lat[i] = ticks() - t;
		if (rc != 0)
			return 1;
	}
	qsort(lat, m, sizeof(*lat), cmp_u64);
	printf("signal on the book (%" PRIu64 " entries, %" PRIu64 " signals): p50 %.0f ns p99 "
	       "%.0f ns p99.9 %.0f ns (anomalies %" PRIu64 ")\n", b.n, m, lat[m / 2] * ns,
	       lat[m * 99 / 100] * ns, lat[m * 999 / 1000] * ns, b.anomalies);
	buf = malloc(cp_book_encoded_max(&b));
	if (buf == NULL)
		return 2;
	t0 = bench_mono_ns();
	len = cp_book_encode(&b, buf, cp_book_encoded_max(&b));
	printf("snapshot: %" PRIu64 " entries, %ld bytes (%.1f per entry), encoded in %.3f ms",
	       b.n, len, (double)len / (double)b.n, (double)(bench_mono_ns() - t0) / 1e6);
	cp_book_init(&c, 0);
	t0 = bench_mono_ns();
	if (cp_book_decode(&c, buf, (size_t)len) != 0 || c.n != b.n)
		return 1;
	printf(", decoded in %.3f ms\n", (double)(bench_mono_ns() - t0) / 1e6);
	free(buf);
	free(lat);
	cp_book_free(&b);
	cp_book_free(&c);
	return 0;
}
