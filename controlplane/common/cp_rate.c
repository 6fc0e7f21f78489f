/* cp_rate: token bucket. Contract in cp_rate.h. */
#include "cp_rate.h"

#define NS 1000000000LL

/* Tokens are kept as "nanoseconds of refill": one token = NS nanoseconds-of-rate, so the
 * arithmetic is integer and exact: elapsed ns * rate adds elapsed*rate/NS tokens. */
static void refill(struct cp_rate *r, int64_t now)
{
	int64_t cap = (int64_t)r->burst * NS;

	if (now > r->at_ns) {
		int64_t dt = now - r->at_ns;

		/* a whole bucket's refill time passed: full (and no overflow of dt * rate) */
		if (dt > cap / r->rate)
			r->tokens_ns = cap;
		else
			r->tokens_ns = r->tokens_ns + dt * (int64_t)r->rate > cap
					       ? cap
					       : r->tokens_ns + dt * (int64_t)r->rate;
		r->at_ns = now;
	}
}

void cp_rate_init(struct cp_rate *r, uint32_t rate, uint32_t burst, int64_t now_ns)
{
	r->rate = rate;
	r->burst = burst > 0 ? burst : 1;
	r->tokens_ns = (int64_t)r->burst * NS;
	r->at_ns = now_ns;
}

bool cp_rate_take(struct cp_rate *r, int64_t now_ns)
{
	if (r->rate == 0)
		return true;
	refill(r, now_ns);
	if (r->tokens_ns < NS)
		return false;
	r->tokens_ns -= NS;
	return true;
}

int64_t cp_rate_wait_ns(struct cp_rate *r, int64_t now_ns)
{
	if (r->rate == 0)
		return 0;
	refill(r, now_ns);
	if (r->tokens_ns >= NS)
		return 0;
	return (NS - r->tokens_ns + r->rate - 1) / r->rate;
}

bool cp_rate_full(struct cp_rate *r, int64_t now_ns)
{
	if (r->rate == 0)
		return true;
	refill(r, now_ns);
	return r->tokens_ns >= (int64_t)r->burst * NS;
}
