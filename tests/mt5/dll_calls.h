/*
 * dll_calls: the decp.dll test body, shared by the Wine program (exports resolved with
 * LoadLibrary/GetProcAddress) and the native ASan program (the same C linked directly).
 * Every call goes through struct decp_fns, whose pointer types are generated FROM decp.mqh
 * (gen_mqh.py cimports): the test calls each export exactly as MQL5 declares it.
 */
#ifndef DECP_DLL_CALLS_H
#define DECP_DLL_CALLS_H

#include <stdint.h>

#include "decp_imports.h"

struct decp_fns {
#define DECP_FN_FIELD(n) fn_##n n;
	DECP_IMPORTS(DECP_FN_FIELD)
#undef DECP_FN_FIELD
};

/* A reference vector of mt5_vectors (name, bytes). */
struct dll_vec {
	char name[32];
	uint8_t b[2048];
	int n;
};

/* The vector called name (a failed check and an empty vector when there is none). */
const struct dll_vec *dll_vector(const char *name);

/* decp_rx_message and decp_rx_check as the EA makes them: rx_message remembers the order
 * type of the envelope it decoded, and rx_check passes view with "a copy of this ticket
 * is held" (view[9]) cleared for an opening: DecpReceiver finds no copy of a ticket its
 * master opens now (one held would be a second copy: FILTERED, HELD). The tests' view
 * otherwise says a copy is held, for the MODIFY and CLOSE envelopes. */
int32_t rx_message(const struct decp_fns *f, int64_t rx, const uint8_t *payload, int32_t len,
		   int64_t now, int64_t *info, int32_t ninfo, uint8_t *sym, int32_t cap);
int32_t rx_check(const struct decp_fns *f, int64_t rx, int64_t now, const int64_t *view,
		 int32_t nview, int64_t *verdict, int32_t nverdict, uint8_t *osym, int32_t cap);

/* Unmasks a client WebSocket frame into payload; returns its length or -1. */
int dll_unmask(const uint8_t *fr, int n, uint8_t *payload);

/* dll_resync.c: the re-sync ABI (decp_rx_resync*) and the master's positions
 * (decp_master_position*), with dll_calls' vectors loaded. */
void dll_resync_run(const struct decp_fns *f);
void dll_resync_ask_run(const struct decp_fns *f);
void dll_resync_held_master_run(const struct decp_fns *f);
void dll_positions_run(const struct decp_fns *f);

/* Runs every check with the reference vectors of mt5_vectors (file path). Prints failures
 * and "N passed, N failed" last. Returns the number of failures. */
int dll_calls_run(const struct decp_fns *f, const char *vectors_path);

#endif
