/*
 * cp_rate: a token bucket, the one rate limit of the control plane's budgets (the fan-out's
 * Redis replay reads, per-source connection rates of the fan-out and the api).
 *
 * `rate` tokens per second accumulate up to `burst`; each event takes one. Time is passed
 * in (monotonic nanoseconds), so the logic is pure and unit-tested without clocks.
 *
 * Threading: a struct cp_rate belongs to one thread (or to its caller's lock).
 */
#ifndef DECP_CP_RATE_H
#define DECP_CP_RATE_H

#include <stdbool.h>
#include <stdint.h>

struct cp_rate {
	uint32_t rate;     /* tokens per second; 0 = unlimited */
	uint32_t burst;    /* bucket size (>= 1) */
	int64_t tokens_ns; /* tokens held, in units of 1/rate s (ns * rate / 1e9 = tokens) */
	int64_t at_ns;     /* when tokens_ns was last brought up to date */
};

/* A full bucket at now_ns. rate 0: every take succeeds. burst 0 is taken as 1. */
void cp_rate_init(struct cp_rate *r, uint32_t rate, uint32_t burst, int64_t now_ns);

/* Take one token at now_ns: true when there was one. */
bool cp_rate_take(struct cp_rate *r, int64_t now_ns);

/* Nanoseconds from now_ns until a token is there (0: one is there now). */
int64_t cp_rate_wait_ns(struct cp_rate *r, int64_t now_ns);

/* True when the bucket holds its whole burst at now_ns (rate 0: always): forgetting it
 * then and starting a full one later changes nothing. */
bool cp_rate_full(struct cp_rate *r, int64_t now_ns);

#endif
