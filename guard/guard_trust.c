/* guard_trust: trust score. Rule table and contract in guard_trust.h. */
#include "guard_trust.h"

#include <errno.h>

/* The one rule table (seed "Scoring Rules" plus our documented zeros). */
static const int8_t trust_rules[GUARD_TRUST_EVENT_COUNT] = {
	[GUARD_TRUST_SUCCESS] = +1,
	[GUARD_TRUST_TTL_EXPIRED] = -5,
	[GUARD_TRUST_PRICE_DEVIATION] = -3,
	[GUARD_TRUST_SEQUENCE_GAP] = -20,
	[GUARD_TRUST_REPLAY] = -50,
	[GUARD_TRUST_INVALID_SIGNATURE] = -40,
	[GUARD_TRUST_STATE_LOCKED] = 0,
	[GUARD_TRUST_INSUFFICIENT_FUNDS] = 0,
	[GUARD_TRUST_FILTERED] = 0,
	[GUARD_TRUST_MALFORMED] = 0,
	[GUARD_TRUST_UNKNOWN_INSTRUMENT] = 0,
	[GUARD_TRUST_INSUFFICIENT_MARGIN] = 0,
};

static int32_t clamp_score(int64_t s)
{
	return s < 0 ? 0 : s > GUARD_TRUST_MAX ? GUARD_TRUST_MAX : (int32_t)s;
}

void guard_trust_init(struct guard_trust *t, int64_t now_ns)
{
	t->score = GUARD_TRUST_MAX;
	t->quiet_since_ns = now_ns;
}

int guard_trust_delta(enum guard_trust_event e)
{
	if ((unsigned)e >= GUARD_TRUST_EVENT_COUNT)
		return 0;
	return trust_rules[e];
}

int guard_trust_tick(struct guard_trust *t, int64_t now_ns)
{
	int64_t quiet, periods;

	if (!t)
		return -EINVAL;
	if (now_ns <= t->quiet_since_ns ||
	    __builtin_sub_overflow(now_ns, t->quiet_since_ns, &quiet))
		return t->score;
	periods = quiet / GUARD_TRUST_RECOVERY_PERIOD_NS;
	if (periods > 0) {
		/* Cap before multiplying: 10 periods already reach the maximum from 0. */
		int64_t credit = periods > 10 ? 100 : periods * GUARD_TRUST_RECOVERY_STEP;

		t->score = clamp_score((int64_t)t->score + credit);
		t->quiet_since_ns += periods * GUARD_TRUST_RECOVERY_PERIOD_NS;
	}
	return t->score;
}

int guard_trust_apply(struct guard_trust *t, enum guard_trust_event e, int64_t now_ns)
{
	int delta;

	if (!t || (unsigned)e >= GUARD_TRUST_EVENT_COUNT)
		return -EINVAL;
	guard_trust_tick(t, now_ns);
	delta = trust_rules[e];
	t->score = clamp_score((int64_t)t->score + delta);
	if (delta < 0)
		t->quiet_since_ns = now_ns;
	return t->score;
}

bool guard_trust_should_pause(const struct guard_trust *t)
{
	return t->score < GUARD_TRUST_PAUSE_BELOW;
}

int guard_trust_enforce(struct guard_sub *sub, const struct guard_trust *t)
{
	uint64_t s;

	if (!sub || !t)
		return -EINVAL;
	s = sub->st.state;
	if (guard_trust_should_pause(t) &&
	    (s == GUARD_STATE_SYNCED || s == GUARD_STATE_DEGRADED_GAP))
		return guard_sub_set_state(sub, GUARD_STATE_PAUSED_TOXIC) == 0;
	return 0;
}

int guard_trust_recover(struct guard_sub *sub, struct guard_trust *t, int64_t now_ns)
{
	int64_t before;

	if (!sub || !t)
		return -EINVAL;
	before = t->quiet_since_ns;
	guard_trust_tick(t, now_ns);
	if (t->quiet_since_ns == before || t->score < GUARD_TRUST_RECOVERED_AT ||
	    sub->st.state != GUARD_STATE_PAUSED_TOXIC)
		return 0;
	return guard_sub_set_state(sub, GUARD_STATE_SYNCED) == 0;
}
