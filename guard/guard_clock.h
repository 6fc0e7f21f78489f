/*
 * guard_clock: estimate of the server's clock from TimePing/TimePong samples.
 *
 * Why: the TTL shield measures a signal's age from Server_Arrival_Time, which was taken
 * by the ingest server's clock. A subscriber whose own clock is seconds off would
 * otherwise accept stale signals or reject fresh ones (SPEC.md §5).
 *
 * Each sample is one exchange (NTP's on-wire method, RFC 5905 §8):
 *   t0 client_send (local)   t1 server_recv (server)   t2 server_send (server)
 *   t3 client_recv (local)
 *   offset = ((t1 - t0) + (t2 - t3)) / 2      server = local + offset
 *   rtt    = (t3 - t0) - (t2 - t1)            |error| <= rtt / 2
 * The live sample with the lowest rtt wins (its error bound is smallest); a sample
 * older than max_age_ns (local clock) no longer counts, so a drifting local clock
 * is re-measured. GUARD_CLOCK_SAMPLES samples are kept; a new one replaces the oldest.
 * A new sample drops every held one whose offset it contradicts: beyond both error bounds
 * (rtt / 2 each), the drift since the older one (1/GUARD_CLOCK_DRIFT_DIV of its age) and
 * GUARD_CLOCK_SLACK_NS. Only a clock step (NTP, an operator, here or at the server) makes
 * two true measurements disagree so; the newest then describes the clock as it is.
 *
 * Memory: caller-owned plain struct, no allocation. Thread: one thread per clock (the
 * subscriber's event loop); readers on other threads need the caller's own locking.
 */
#ifndef DECP_GUARD_CLOCK_H
#define DECP_GUARD_CLOCK_H

#include "guard_types.h"

#define GUARD_CLOCK_SAMPLES 8
#define GUARD_CLOCK_MAX_AGE_DEFAULT_NS (INT64_C(300) * GUARD_NS_PER_S)
/* Drift allowed between two samples: 1/5000 of the older one's age (200 ppm; a PC's
 * crystal is within 100), and a fixed slack. */
#define GUARD_CLOCK_DRIFT_DIV 5000
#define GUARD_CLOCK_SLACK_NS (INT64_C(1) * GUARD_NS_PER_MS)
/* How far a signal's Server_Arrival_Time may be ahead of the estimate before it proves the
 * estimate wrong (guard_clock_tolerance). Not GUARD_CLOCK_SLACK_NS: two samples come from
 * one clock, the fan-out's TimePong; the arrival stamp from another, the dataplane's TSC
 * time, which follows CLOCK_REALTIME within 50 ms (docs/dataplane.md "Clock"), often on
 * another host than a standalone decp-fanout (their offset: NTP's, a few ms). With 1 ms,
 * such an offset refused every honest subscriber's every signal; a clock step (seconds,
 * what this catches) is far beyond 50 ms. */
#define GUARD_CLOCK_FUTURE_SLACK_NS (INT64_C(50) * GUARD_NS_PER_MS)
/* A round trip slower than this says nothing useful about the offset. */
#define GUARD_CLOCK_MAX_RTT_NS (INT64_C(10) * GUARD_NS_PER_S)

struct guard_clock_sample {
	int64_t offset_ns; /* server - local */
	int64_t rtt_ns;
	int64_t taken_ns; /* local time the pong arrived (t3) */
	bool used;
};

struct guard_clock {
	struct guard_clock_sample s[GUARD_CLOCK_SAMPLES];
	unsigned next; /* slot the next sample overwrites */
	int64_t max_age_ns;
};

/* Empty estimator; max_age_ns <= 0 selects GUARD_CLOCK_MAX_AGE_DEFAULT_NS. Cannot fail. */
void guard_clock_init(struct guard_clock *c, int64_t max_age_ns);

/*
 * Adds one TimePing/TimePong exchange (times as above).
 * Returns 0; -EINVAL when c is NULL, t3 < t0, t2 < t1, the server time exceeds the round
 * trip (rtt < 0) or rtt > GUARD_CLOCK_MAX_RTT_NS; -EOVERFLOW when the arithmetic would
 * overflow. A refused sample leaves the estimator unchanged.
 */
int guard_clock_add_sample(struct guard_clock *c, int64_t t0_client_send,
			   int64_t t1_server_recv, int64_t t2_server_send,
			   int64_t t3_client_recv);

/*
 * Server time now, from the lowest-rtt live sample at local time local_now_ns.
 * *server_now_ns receives local_now_ns + offset; *err_ns (may be NULL) the error bound
 * (rtt / 2). Returns 0, -EINVAL on NULL c or server_now_ns, -ENODATA when no sample is
 * live (never measured, or every sample aged out): callers must fail closed.
 */
int guard_clock_server_now(const struct guard_clock *c, int64_t local_now_ns,
			   int64_t *server_now_ns, int64_t *err_ns);

/*
 * How far the estimate guard_clock_server_now() gives at local_now_ns may be from the
 * server's clock: the best sample's error bound (rtt / 2), plus the drift since it was
 * taken (1/GUARD_CLOCK_DRIFT_DIV of its age) and GUARD_CLOCK_FUTURE_SLACK_NS (the
 * arrival stamp and the TimePong come from two clocks, see there). A signal reaches the server before it
 * reaches us, so its true age is >= 0: an estimated age below -tolerance proves the
 * estimate wrong (a clock stepped since the sample: here, or the server's), and
 * guard_signal_check() then sets verdict.clock_suspect. Returns 0 with *tol_ns set,
 * -EINVAL on NULL c or tol_ns, -ENODATA as guard_clock_server_now().
 */
int guard_clock_tolerance(const struct guard_clock *c, int64_t local_now_ns, int64_t *tol_ns);

/*
 * Drops every sample (max_age_ns kept): the estimate was proven wrong
 * (verdict.clock_suspect). The TTL check then fails closed until the next TimePong, so
 * the caller sends a TimePing at once. NULL is ignored. Cannot fail.
 */
void guard_clock_distrust(struct guard_clock *c);

#endif
