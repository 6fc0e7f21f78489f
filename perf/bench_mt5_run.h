/*
 * bench_mt5_run: the decp.dll side of the receiver benchmark (perf/mt5_bench.sh), shared by
 * the Wine program (exports from LoadLibrary) and the native one (the DLL's C linked
 * directly): per envelope, decp_rx_message (decode, routing check, symbol mapping) then
 * decp_rx_check (guard + Ed25519 verify), timed on its own.
 */
#ifndef DECP_BENCH_MT5_RUN_H
#define DECP_BENCH_MT5_RUN_H

#include <stdint.h>

#include "dll_calls.h"

struct bench_mt5_input {
	uint8_t pub[32];
	int n;               /* envelopes, sequences 1..n */
	uint8_t (*msg)[512]; /* ServerMessage{Envelope} payloads */
	int *len;
	int64_t arrival_ns;  /* every envelope's server_arrival_ns */
	uint8_t pong[128];   /* ServerMessage{TimePong}: server clock = local clock */
	int pong_len;
};

/* Reads perf/bench_mt5 gen's file. Returns 0 or -1. */
int bench_mt5_load(const char *path, struct bench_mt5_input *in);

/* Runs the envelopes through f; ns[i] = the i-th envelope's time, from now_ns(). Returns the
 * number that executed (all of them when the DLL works). */
int bench_mt5_dll(const struct decp_fns *f, const struct bench_mt5_input *in,
		  int64_t (*now_ns)(void), uint64_t *ns);

/* Sorts ns and prints "LABEL n=.. p50=.. p99=.. p99.9=.. us". */
void bench_mt5_report(const char *label, uint64_t *ns, int n);

#endif
