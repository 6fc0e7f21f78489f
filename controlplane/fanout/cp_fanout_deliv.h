/*
 * cp_fanout_deliv: what the fan-out sent to one subscription, as runs for trust_deliveries
 * (sql 0009: the credit rule and the staleness rule read it; docs/fanout.md "Delivery
 * records").
 *
 * A run is consecutive sequences sent on one connection to one subscription, all live or
 * all by a replay, and all on time or all late (sent more than half the default TTL after
 * their arrival: the platform's lag, which the trust role then confirms per envelope),
 * first_sent_ns .. last_sent_ns (fan-out wall clock). One run per attachment is open;
 * cp_deliv_sent() extends it or, when the next send does not continue it (a gap, live <->
 * replay, on time <-> late), closes it and starts another. A run reaches the database
 * as snapshots (an upsert by (subscription, live, first_sequence) that only grows it):
 *   - the closed run, when the next send breaks it;
 *   - the open run every `period_ns` while it grows (bounds the rows per connection);
 *   - the open run before a report of that subscription is queued (cp_deliv_take), so
 *     the delivery is in the database, in the same transaction or an earlier one, before
 *     the report that names it is scored;
 *   - the open run when the connection closes (cp_deliv_take).
 * Pure: no I/O, no allocation; the caller queues the snapshots.
 */
#ifndef DECP_CP_FANOUT_DELIV_H
#define DECP_CP_FANOUT_DELIV_H

#include <stdbool.h>
#include <stdint.h>

struct cp_deliv_run {
	uint64_t first, last;     /* sequences; first == 0: no run */
	int64_t first_ns, last_ns; /* wall clock of the first and last send */
	bool live;
	bool late;                 /* every send of the run was late (see above) */
};

struct cp_deliv {
	struct cp_deliv_run open;  /* the run being extended (first == 0: none) */
	int64_t snap_ns;           /* last_ns of the last snapshot of `open`, 0 = none */
	bool dirty;                /* `open` grew since its last snapshot */
};

/* Record one send of seq (live or replayed) at send_ns. Returns how many snapshots to
 * queue (0..2), written to out[0..1] in order: the run it closed, then the open run
 * when period_ns passed since its last snapshot (period_ns <= 0: never). */
int cp_deliv_sent(struct cp_deliv *d, uint64_t seq, bool live, bool late, int64_t send_ns,
		  int64_t period_ns, struct cp_deliv_run out[2]);

/* A snapshot of the open run if it grew since its last one (true, *out set). */
bool cp_deliv_take(struct cp_deliv *d, struct cp_deliv_run *out);

#endif
