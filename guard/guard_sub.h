/*
 * guard_sub: one subscription (subscriber x master) as the ExecutionGuard sees it, and
 * the seed's subscription state machine.
 *
 *                  +-----------------------------+
 *                  |                             v
 *   (start) --> SYNCED ---- gap -----------> DEGRADED_GAP --- trust < 50 ---+
 *      ^ ^ ^ ^  |  |  |  \                      | full sync completed      |
 *      | | | |  |  |  |   `-- cancelled --> CANCELLED (terminal)            |
 *      | | | +--|--|--|------- full sync completed <----+                   |
 *      | | |    |  |  +-- balance <= 0 --> LOCKED_NO_FUNDS                  |
 *      | | +----|--|------ balance restored <---+                           |
 *      | |      |  +----- trust < 50 -----> PAUSED_TOXIC <------------------+
 *      | +------|--------- trust recovered <---+
 *      |        +-------- manual suspension --> SUSPENDED_ADMIN
 *      +------------------ admin re-enables <------+
 *
 * Transition table (from -> to; every pair not listed is refused with -EPERM, including
 * a state to itself; this is the seed's stateDiagram-v2 edge for edge):
 *   SYNCED          -> DEGRADED_GAP, LOCKED_NO_FUNDS, PAUSED_TOXIC, SUSPENDED_ADMIN, CANCELLED
 *   DEGRADED_GAP    -> SYNCED, PAUSED_TOXIC
 *   LOCKED_NO_FUNDS -> SYNCED
 *   PAUSED_TOXIC    -> SYNCED
 *   SUSPENDED_ADMIN -> SYNCED
 *   CANCELLED       -> (none)
 *
 * Invariants (checked by guard_sub_state_valid(), asserted after every change):
 *   I1 state is one of the six states.
 *   I2 executed <= last_seq and last_executed_seq <= last_seq: every execution consumed
 *      its own sequence, so no sequence executes twice (exactly-once).
 *   I3 gap_seq != 0 exactly when state == DEGRADED_GAP, and then gap_seq > last_seq + 1.
 *   I4 executed == 0 implies last_executed_seq == 0.
 *
 * All changes of `state` go through guard_sub_set_state(). struct guard_sub_state is
 * plain data (no pointers): a subscriber may persist it and restore it after a restart,
 * which keeps execution exactly-once across restarts and reconnects.
 *
 * Thread: a guard_sub belongs to one thread (the subscriber's event loop).
 */
#ifndef DECP_GUARD_SUB_H
#define DECP_GUARD_SUB_H

#include "guard_types.h"
#include "guard_verify.h"

#define GUARD_TTL_DEFAULT_NS (INT64_C(500) * GUARD_NS_PER_MS)

/* Everything guard_signal_check() may change. Compared bytewise by the forged-signal
 * tests: keep it free of padding holes (all members 8 bytes wide). */
struct guard_sub_state {
	uint64_t state;             /* enum guard_state */
	uint64_t last_seq;          /* highest authenticated sequence consumed; next is +1 */
	uint64_t last_executed_seq; /* sequence of the most recent execute verdict */
	uint64_t executed;          /* execute verdicts so far */
	uint64_t gap_seq;           /* DEGRADED_GAP: sequence that revealed the gap; else 0 */
	int64_t peak_equity;        /* equity protection: highest equity seen (money) */
	uint64_t equity_tripped;    /* 1 once equity protection stopped copying */
};

/* Why the copy policy refused a signal (verdict.filter when reason is FILTERED). */
enum guard_filter {
	GUARD_FILTER_NONE = 0,
	GUARD_FILTER_SYMBOL,        /* symbol not allowed by the allow/deny lists */
	GUARD_FILTER_ORDER_TYPE,    /* order type masked out (incl. pending orders off) */
	GUARD_FILTER_MODIFY_OFF,    /* MODIFY while modification sync is off */
	GUARD_FILTER_EQUITY,        /* equity protection tripped: no new exposure */
	GUARD_FILTER_LOT_BELOW_MIN, /* sized volume below the broker minimum after rounding */
	GUARD_FILTER_NO_POSITION,   /* CLOSE/MODIFY/CLOSE_PARTIAL for a position we do not hold */
	GUARD_FILTER_SIZING,        /* lot sizing impossible (no SL for risk %, no master equity) */
	GUARD_FILTER_HELD,          /* an opening for a master ticket whose copy is held already */
	GUARD_FILTER_COUNT
};

/* Counters: observability only, never decision state (not in guard_sub_state). */
struct guard_stats {
	uint64_t checks;
	uint64_t executed;
	uint64_t reason[GUARD_REASON_MAX];  /* per reported reason */
	uint64_t filter[GUARD_FILTER_COUNT];
	uint64_t unauthenticated;           /* signature did not verify (any reason) */
	uint64_t transitions_refused;       /* guard_sub_set_state() said -EPERM */
};

struct guard_sub {
	uint64_t master_id;
	int64_t ttl_ns;                  /* TTL shield; GUARD_TTL_DEFAULT_NS by default */
	struct guard_verifier verifier;  /* verifies this master's signatures */
	struct guard_sub_state st;
	struct guard_stats stats;
};

/*
 * Fresh subscription in SYNCED expecting sequence last_seq + 1 (0 for a new
 * subscription: the master's first sequence is 1). ttl_ns <= 0 selects the default.
 * verifier is copied (its key is borrowed). Returns 0, -EINVAL on NULL sub/verifier.
 */
int guard_sub_init(struct guard_sub *sub, uint64_t master_id,
		   const struct guard_verifier *verifier, int64_t ttl_ns, uint64_t last_seq);

/* True when the seed's diagram has the edge from -> to. */
bool guard_sub_transition_allowed(enum guard_state from, enum guard_state to);

/*
 * The only way `state` changes. Returns 0 after the transition; -EINVAL when sub is
 * NULL or `to` is not a state; -EPERM when the diagram has no edge from the current
 * state to `to` (state unchanged, stats.transitions_refused incremented).
 * Entering DEGRADED_GAP without a recorded gap records gap_seq = last_seq + 2.
 */
int guard_sub_set_state(struct guard_sub *sub, enum guard_state to);

/*
 * Full sync completed (SyncEnd): DEGRADED_GAP -> SYNCED, and the next expected
 * sequence becomes last_sequence + 1. Signals up to last_sequence that were not
 * executed are settled by the sync (the subscriber reconciles positions), never
 * executed afterwards. Returns 0; -EINVAL on NULL or last_sequence < last_seq (a sync
 * never rewinds: that would execute a sequence twice); -EPERM when not DEGRADED_GAP.
 */
int guard_sub_sync_complete(struct guard_sub *sub, uint64_t last_sequence);

/* The sequence to ask for on (re)connect: Subscribe.from_sequence. */
uint64_t guard_sub_next_sequence(const struct guard_sub *sub);

/* True when st satisfies I1..I4 above. */
bool guard_sub_state_valid(const struct guard_sub_state *st);

#endif
