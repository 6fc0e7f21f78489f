/*
 * bench_mt5_dll (mingw-w64, under Wine): the receiver benchmark through decp.dll itself,
 * exports from LoadLibrary (perf/mt5_bench.sh; docs/perf.md "mt5").
 * usage: bench_mt5_dll.exe DECP_DLL FILE     (FILE from bench_mt5 gen)
 */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

#include "bench_mt5_run.h"
#include "wine_load.h"

static double tick_ns;

static int64_t now_ns(void)
{
	LARGE_INTEGER c;

	QueryPerformanceCounter(&c);
	return (int64_t)((double)c.QuadPart * tick_ns);
}

int main(int argc, char **argv)
{
	struct bench_mt5_input in;
	struct decp_fns f;
	LARGE_INTEGER fr;
	uint64_t *ns;
	int ex;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_mt5_dll.exe DECP_DLL FILE\n");
		return 2;
	}
	QueryPerformanceFrequency(&fr);
	tick_ns = 1e9 / (double)fr.QuadPart;
	if (wine_load_dll(argv[1], &f) != 0 || bench_mt5_load(argv[2], &in) != 0 ||
	    (ns = calloc((size_t)in.n, 8)) == NULL)
		return 1;
	ex = bench_mt5_dll(&f, &in, now_ns, ns);
	bench_mt5_report("decp.dll under Wine (libgcrypt)", ns, in.n);
	if (ex != in.n)
		fprintf(stderr, "bench_mt5_dll: executed %d of %d\n", ex, in.n);
	return ex == in.n ? 0 : 1;
}
