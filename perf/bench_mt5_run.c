/* decp.dll side of the receiver benchmark; see bench_mt5_run.h. Plain C: also for Wine. */
#include "bench_mt5_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_mt5_load(const char *path, struct bench_mt5_input *in)
{
	FILE *f = fopen(path, "rb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fread(in->pub, 32, 1, f) == 1 && fread(&in->n, sizeof(in->n), 1, f) == 1 &&
	     fread(&in->arrival_ns, sizeof(in->arrival_ns), 1, f) == 1 &&
	     fread(&in->pong_len, sizeof(in->pong_len), 1, f) == 1 && in->pong_len > 0 &&
	     in->pong_len <= (int)sizeof(in->pong) && fread(in->pong, (size_t)in->pong_len, 1, f) == 1 &&
	     in->n > 0 && in->n <= 1000000;
	if (ok) {
		in->msg = malloc((size_t)in->n * sizeof(*in->msg));
		in->len = malloc((size_t)in->n * sizeof(*in->len));
		ok = in->msg != NULL && in->len != NULL;
		for (int i = 0; ok && i < in->n; i++)
			ok = fread(&in->len[i], sizeof(int), 1, f) == 1 && in->len[i] > 0 &&
			     in->len[i] <= 512 && fread(in->msg[i], (size_t)in->len[i], 1, f) == 1;
	}
	fclose(f);
	return ok ? 0 : -1;
}

int bench_mt5_dll(const struct decp_fns *f, const struct bench_mt5_input *in,
		  int64_t (*now_ns)(void), uint64_t *ns)
{
	int64_t h = f->decp_rx_new(7, in->pub, 32, 0, 600000), info[12], verdict[16];
	int64_t view[12] = { 0, 0, 1, 100000, 1, 100000, INT64_C(100000000000), 0,
			     INT64_C(100000000000), 1, 10, 10 };
	int64_t local = in->arrival_ns;
	uint8_t sym[40];
	int executed = 0;

	if (h <= 0 || f->decp_rx_message(h, in->pong, in->pong_len, local, info, 12, sym, 40) != 4)
		return -1;
	for (int i = 0; i < in->n; i++) {
		int64_t t0 = now_ns();

		if (f->decp_rx_message(h, in->msg[i], in->len[i], local, info, 12, sym, 40) == 1) {
			view[0] = info[4] - 1;
			view[1] = info[4] + 1;
			executed += f->decp_rx_check(h, local + 1000000, view, 12, verdict, 16, sym,
						     40) == 0;
		}
		ns[i] = (uint64_t)(now_ns() - t0);
	}
	f->decp_handle_free(h);
	return executed;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_mt5_report(const char *label, uint64_t *ns, int n)
{
	qsort(ns, (size_t)n, sizeof(*ns), cmp);
	printf("%-34s n=%d p50=%.1f p99=%.1f p99.9=%.1f us\n", label, n, ns[n / 2] / 1e3,
	       ns[(size_t)n * 99 / 100] / 1e3, ns[(size_t)n * 999 / 1000] / 1e3);
}
