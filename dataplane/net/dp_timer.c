/* dp_timer.c: hashed timer wheel, see dp_timer.h. */
#include "dp_timer.h"

#include <errno.h>
#include <string.h>

static void link_head(struct dp_timer **head, struct dp_timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

static void unlink_timer(struct dp_timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

int dp_timer_wheel_init(struct dp_timer_wheel *w, struct dp_timer **slots, uint32_t nslots,
			uint64_t tick_ns, uint64_t now_ns)
{
	if (!w || !slots || nslots < 2 || (nslots & (nslots - 1)) || tick_ns == 0)
		return -EINVAL;
	memset(slots, 0, sizeof(*slots) * nslots);
	w->slots = slots;
	w->mask = nslots - 1;
	w->tick_ns = tick_ns;
	w->cur_tick = now_ns / tick_ns;
	w->armed = 0;
	return 0;
}

void dp_timer_arm(struct dp_timer_wheel *w, struct dp_timer *t, uint64_t expire_ns)
{
	uint64_t tick = expire_ns / w->tick_ns;

	if (t->pprev) {
		unlink_timer(t);
		w->armed--;
	}
	/* Never place a timer behind the cursor: it would wait a whole revolution. */
	if (tick < w->cur_tick)
		tick = w->cur_tick;
	t->expire_ns = expire_ns;
	link_head(&w->slots[tick & w->mask], t);
	w->armed++;
}

void dp_timer_cancel(struct dp_timer_wheel *w, struct dp_timer *t)
{
	if (!t->pprev)
		return;
	unlink_timer(t);
	w->armed--;
}

unsigned dp_timer_wheel_run(struct dp_timer_wheel *w, uint64_t now_ns, dp_timer_fn *fn, void *arg)
{
	uint64_t now_tick = now_ns / w->tick_ns;
	uint64_t nslots = (uint64_t)w->mask + 1;
	uint64_t first = w->cur_tick, steps;
	unsigned fired = 0;

	if (now_tick < first)
		return 0;
	steps = now_tick - first + 1;
	if (steps > nslots)
		steps = nslots; /* a long gap: one pass over every slot sees every due timer */
	/* Timers armed by callbacks for a past tick land in now_tick's slot (dp_timer_arm
	 * clamps to cur_tick), which the next run scans again: none waits a revolution. */
	w->cur_tick = now_tick;
	for (uint64_t i = 0; i < steps; i++) {
		struct dp_timer **slot = &w->slots[(first + i) & w->mask];
		struct dp_timer *pending = NULL;
		struct dp_timer *t = *slot, *nx;

		/* Move due timers to a private list first: callbacks may re-arm into this slot. */
		for (; t; t = nx) {
			nx = t->next;
			if (t->expire_ns <= now_ns) {
				unlink_timer(t);
				link_head(&pending, t);
			}
		}
		while (pending) {
			t = pending;
			unlink_timer(t);
			w->armed--;
			fired++;
			fn(arg, t);
		}
	}
	return fired;
}
