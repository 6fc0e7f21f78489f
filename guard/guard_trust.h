/*
 * guard_trust: the seed's trust score ("Trust Score Algorithm"), rules in one table.
 *
 *   event                  delta   source
 *   SUCCESS                  +1    seed: Successful Execution
 *   TTL_EXPIRED              -5    seed
 *   PRICE_DEVIATION          -3    seed
 *   SEQUENCE_GAP            -20    seed
 *   REPLAY                  -50    seed: Replay Attack
 *   INVALID_SIGNATURE       -40    seed
 *   STATE_LOCKED              0    ours: a consequence of an earlier event, not a new one
 *   INSUFFICIENT_FUNDS        0    ours: money, not behaviour (LOCKED_NO_FUNDS handles it)
 *   FILTERED                  0    ours: the subscriber's own policy choice
 *   MALFORMED                 0    ours: unattributable garbage; counted, not scored
 *   UNKNOWN_INSTRUMENT        0    ours: the registry's gap, not the subscriber's (alert)
 *   INSUFFICIENT_MARGIN       0    ours: the size of the subscriber's broker account
 * Score clamped to 0..100 after each event (seed: max(0, min(100, ...))); starts at 100.
 * An event with delta < 0 is an incident. Recovery: +10 for each full 24 h without an
 * incident (seed), counted from the last incident or the last recovery credit.
 * Auto-pause: score < 50 moves SYNCED or DEGRADED_GAP to PAUSED_TOXIC. Recovery
 * (issue 18, SPEC.md §5): a PAUSED_TOXIC subscription returns to SYNCED only through
 * the quiet-period credit (or an operator): when a tick credits a full quiet period
 * and the score is then >= 50 (the first score that would not pause; the seed says
 * "Trust score recovered" without a number). Events never resume: no +1, however many,
 * lifts a pause, so a subscriber cannot report its way out of one.
 *
 * Thread: one owner per struct guard_trust. No allocation.
 */
#ifndef DECP_GUARD_TRUST_H
#define DECP_GUARD_TRUST_H

#include "guard_sub.h"

#define GUARD_TRUST_MAX 100
#define GUARD_TRUST_PAUSE_BELOW 50
#define GUARD_TRUST_RECOVERED_AT 50
#define GUARD_TRUST_RECOVERY_STEP 10
#define GUARD_TRUST_RECOVERY_PERIOD_NS (INT64_C(24) * 3600 * GUARD_NS_PER_S)

enum guard_trust_event {
	GUARD_TRUST_SUCCESS = 0,
	GUARD_TRUST_TTL_EXPIRED,
	GUARD_TRUST_PRICE_DEVIATION,
	GUARD_TRUST_SEQUENCE_GAP,
	GUARD_TRUST_REPLAY,
	GUARD_TRUST_INVALID_SIGNATURE,
	GUARD_TRUST_STATE_LOCKED,
	GUARD_TRUST_INSUFFICIENT_FUNDS,
	GUARD_TRUST_FILTERED,
	GUARD_TRUST_MALFORMED,
	GUARD_TRUST_UNKNOWN_INSTRUMENT,
	GUARD_TRUST_INSUFFICIENT_MARGIN,
	GUARD_TRUST_EVENT_COUNT
};

struct guard_trust {
	int32_t score;
	int64_t quiet_since_ns; /* last incident or last recovery credit */
};

/* Score 100, quiet since now_ns. Cannot fail. */
void guard_trust_init(struct guard_trust *t, int64_t now_ns);

/* The table's delta for e; 0 for an unknown event. */
int guard_trust_delta(enum guard_trust_event e);

/*
 * Applies the pending recovery credit up to now_ns, then the event's delta, clamped.
 * Returns the new score, or -EINVAL for NULL t or an unknown event (t unchanged).
 */
int guard_trust_apply(struct guard_trust *t, enum guard_trust_event e, int64_t now_ns);

/* Credits +10 per full 24 h without incidents up to now_ns. Returns the new score,
 * -EINVAL on NULL. */
int guard_trust_tick(struct guard_trust *t, int64_t now_ns);

/* True when score < 50 (seed: should_pause = new_score < 50). */
bool guard_trust_should_pause(const struct guard_trust *t);

/*
 * Pauses sub when the score says so: PAUSED_TOXIC when score < 50 and the diagram
 * allows it (from SYNCED or DEGRADED_GAP). Never resumes (guard_trust_recover does).
 * Returns 1 when the state changed, 0 when not, -EINVAL on NULL.
 */
int guard_trust_enforce(struct guard_sub *sub, const struct guard_trust *t);

/*
 * The tick with its one resume edge: applies guard_trust_tick(t, now_ns); when it
 * credited at least one full quiet period, sub is PAUSED_TOXIC and the score is now
 * >= 50, moves sub to SYNCED. Other states are left alone (an admin suspension is not
 * lifted by a good score). Returns 1 when the state changed, 0 when not, -EINVAL on NULL.
 */
int guard_trust_recover(struct guard_sub *sub, struct guard_trust *t, int64_t now_ns);

#endif
