/*
 * dp_timer.h: a hashed timer wheel driven by the caller's clock (no threads, no clock reads).
 *
 * Timers are intrusive (embedded in the owner, e.g. a TCP connection) so arming never
 * allocates. The wheel has nslots slots of tick_ns each; a timer due further away than one
 * revolution sits in its slot and is skipped until its round comes. dp_timer_wheel_run()
 * fires every timer whose expiry <= now, in slot order. A timer that its callback re-arms
 * for a time already due fires again in the same run (once more at most, from now's slot).
 *
 * Callbacks may arm or cancel any timer, including other timers due in the same run.
 * One wheel belongs to one thread.
 */
#ifndef DP_TIMER_H
#define DP_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct dp_timer {
	struct dp_timer *next;
	struct dp_timer **pprev; /* NULL when not armed */
	uint64_t expire_ns;
	uint8_t kind;            /* owner's tag: which of its timers this is */
};

struct dp_timer_wheel {
	struct dp_timer **slots;
	uint32_t mask;       /* nslots - 1 */
	uint64_t tick_ns;
	uint64_t cur_tick;   /* next tick to process */
	uint32_t armed;      /* timers currently armed */
};

typedef void dp_timer_fn(void *arg, struct dp_timer *t);

/* Initialise with nslots (power of two >= 2) slot heads provided by the caller (memory is
 * zeroed here) and tick_ns >= 1. now_ns is the starting time. Returns 0 or -EINVAL. */
int dp_timer_wheel_init(struct dp_timer_wheel *w, struct dp_timer **slots, uint32_t nslots,
			uint64_t tick_ns, uint64_t now_ns);
/* Arm (or re-arm) t to fire at expire_ns; an expiry in the past fires on the next run. */
void dp_timer_arm(struct dp_timer_wheel *w, struct dp_timer *t, uint64_t expire_ns);
/* Disarm t; harmless when not armed. */
void dp_timer_cancel(struct dp_timer_wheel *w, struct dp_timer *t);
static inline bool dp_timer_armed(const struct dp_timer *t) { return t->pprev != 0; }
/* Fire all timers due at now_ns through fn(arg, t) (t is disarmed before the call).
 * Returns the number fired. */
unsigned dp_timer_wheel_run(struct dp_timer_wheel *w, uint64_t now_ns, dp_timer_fn *fn, void *arg);

#endif /* DP_TIMER_H */
