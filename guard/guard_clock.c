/* guard_clock: server clock offset estimator. Contract in guard_clock.h. */
#include "guard_clock.h"

#include <errno.h>
#include <string.h>

void guard_clock_init(struct guard_clock *c, int64_t max_age_ns)
{
	memset(c, 0, sizeof(*c));
	c->max_age_ns = max_age_ns > 0 ? max_age_ns : GUARD_CLOCK_MAX_AGE_DEFAULT_NS;
}

int guard_clock_add_sample(struct guard_clock *c, int64_t t0, int64_t t1, int64_t t2,
			   int64_t t3)
{
	int64_t round, hold, rtt, a, b, offset;

	if (!c || t3 < t0 || t2 < t1)
		return -EINVAL;
	if (__builtin_sub_overflow(t3, t0, &round) || __builtin_sub_overflow(t2, t1, &hold) ||
	    __builtin_sub_overflow(t1, t0, &a) || __builtin_sub_overflow(t2, t3, &b))
		return -EOVERFLOW;
	rtt = round - hold;
	if (rtt < 0 || rtt > GUARD_CLOCK_MAX_RTT_NS)
		return -EINVAL;
	/* a/2 + b/2 avoids overflowing a + b; the lost half-nanosecond is irrelevant. */
	offset = a / 2 + b / 2;

	/* A held sample this one contradicts describes a clock that has since stepped (an NTP
	 * step or a manual set, here or at the server): drop it, or its lower round trip
	 * would keep the old offset for up to max_age_ns (a local step of 2 s forward refused
	 * every signal as stale for 5 min). Two true measurements of one clock pair agree
	 * within their error bounds plus the drift since the older one. */
	for (unsigned i = 0; i < GUARD_CLOCK_SAMPLES; i++) {
		struct guard_clock_sample *o = &c->s[i];
		int64_t age, diff, tol;

		if (!o->used)
			continue;
		if (__builtin_sub_overflow(t3, o->taken_ns, &age) || age < 0 ||
		    __builtin_sub_overflow(offset, o->offset_ns, &diff) || diff == INT64_MIN) {
			o->used = false; /* taken "later" than now: the local clock went back */
			continue;
		}
		tol = o->rtt_ns / 2 + rtt / 2 + age / GUARD_CLOCK_DRIFT_DIV + GUARD_CLOCK_SLACK_NS;
		if ((diff < 0 ? -diff : diff) > tol)
			o->used = false;
	}
	c->s[c->next] = (struct guard_clock_sample){
		.offset_ns = offset, .rtt_ns = rtt, .taken_ns = t3, .used = true};
	c->next = (c->next + 1) % GUARD_CLOCK_SAMPLES;
	return 0;
}

/* The live sample with the lowest rtt at local_now_ns, or NULL. */
static const struct guard_clock_sample *best_sample(const struct guard_clock *c,
						    int64_t local_now_ns, int64_t *age_ns)
{
	const struct guard_clock_sample *best = NULL;

	for (unsigned i = 0; i < GUARD_CLOCK_SAMPLES; i++) {
		const struct guard_clock_sample *s = &c->s[i];
		int64_t age;

		if (!s->used || __builtin_sub_overflow(local_now_ns, s->taken_ns, &age))
			continue;
		/* A sample "from the future" means the local clock jumped back: distrust it. */
		if (age < 0 || age > c->max_age_ns)
			continue;
		if (!best || s->rtt_ns < best->rtt_ns) {
			best = s;
			*age_ns = age;
		}
	}
	return best;
}

int guard_clock_server_now(const struct guard_clock *c, int64_t local_now_ns,
			   int64_t *server_now_ns, int64_t *err_ns)
{
	const struct guard_clock_sample *best;
	int64_t age = 0;

	if (!c || !server_now_ns)
		return -EINVAL;
	best = best_sample(c, local_now_ns, &age);
	if (!best)
		return -ENODATA;
	if (__builtin_add_overflow(local_now_ns, best->offset_ns, server_now_ns))
		return -ENODATA;
	if (err_ns)
		*err_ns = best->rtt_ns / 2;
	return 0;
}

int guard_clock_tolerance(const struct guard_clock *c, int64_t local_now_ns, int64_t *tol_ns)
{
	const struct guard_clock_sample *best;
	int64_t age = 0;

	if (!c || !tol_ns)
		return -EINVAL;
	best = best_sample(c, local_now_ns, &age);
	if (!best)
		return -ENODATA;
	/* no overflow: rtt <= GUARD_CLOCK_MAX_RTT_NS, age <= max_age_ns (int64) / 5000 */
	*tol_ns = best->rtt_ns / 2 + age / GUARD_CLOCK_DRIFT_DIV + GUARD_CLOCK_FUTURE_SLACK_NS;
	return 0;
}

void guard_clock_distrust(struct guard_clock *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < GUARD_CLOCK_SAMPLES; i++)
		c->s[i].used = false;
}
