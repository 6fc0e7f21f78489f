/* guard_check: the ExecutionGuard pipeline. Order, report and commit rules in guard_check.h. */
#include "guard_check.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "guard_instrument.h"
#include "guard_margin.h"
#include "guard_symbol.h"

/* Changes decided by the checks, applied only for an authenticated signal. */
struct pending {
	bool consume;        /* last_seq = seq */
	bool execute;        /* executed++, last_executed_seq = seq */
	bool trip_equity;
	uint32_t to_state;   /* GUARD_STATE_NONE = stay */
};

/* Step 0: what the guard needs to interpret the envelope at all. */
static bool envelope_ok(const struct guard_sub *sub, const struct guard_envelope *env)
{
	enum guard_order_type t = (enum guard_order_type)env->order_type;
	size_t n = guard_symbol_len(env->symbol, sizeof(env->symbol));

	if (!env->body || env->body_len == 0 || n == 0 || n == sizeof(env->symbol))
		return false;
	if (t < GUARD_ORDER_BUY || t >= GUARD_ORDER_TYPE_COUNT)
		return false;
	if (env->master_id != sub->master_id || env->sequence == 0)
		return false;
	if (env->volume < 0 || env->price < 0 || env->sl < 0 || env->tp < 0)
		return false;
	if ((guard_order_opens(t) || t == GUARD_ORDER_CLOSE_PARTIAL) && env->volume == 0)
		return false;
	return true;
}

static bool ttl_expired(const struct guard_sub *sub, const struct guard_clock *clk,
			const struct guard_envelope *env, const struct guard_view *view,
			struct guard_verdict *out)
{
	int64_t now, err = 0, tol = 0;

	if (!clk || guard_clock_server_now(clk, view->local_now_ns, &now, &err) != 0 ||
	    guard_clock_tolerance(clk, view->local_now_ns, &tol) != 0)
		return true; /* no server time: fail closed */
	if (__builtin_sub_overflow(now, env->server_arrival_ns, &out->age_ns))
		return true;
	out->age_known = true;
	/* A signal reaches the server before it reaches us: its true age is >= 0, so an
	 * estimated age below what the estimate's error allows proves the estimate wrong
	 * (a clock stepped since the sample). The age is then unknown, as without an
	 * estimate: fail closed, and tell the caller to measure the clock again. */
	if (out->age_ns < -tol) {
		out->clock_suspect = true;
		return true;
	}
	/* An estimate whose error bound (rtt / 2) exceeds the TTL cannot tell a fresh signal
	 * from a stale one (a slow return leg moves it by up to that much): fail closed. */
	if (err > sub->ttl_ns)
		return true;
	/* A signal from the "future" beyond the TTL is as suspect as a stale one. */
	return out->age_ns > sub->ttl_ns || out->age_ns < -sub->ttl_ns;
}

/*
 * Step 4 for a market order the policy would send as `side` (after reverse copy).
 * Exact: |price - quote| * 100 > max_deviation_pips_x100 * pip, all in price units
 * (1e-5, whole multiples of the instrument's point), so 3.009 pips fail a 3-pip limit
 * and exactly 3.000 pass. The reported deviation is rounded up to 1/100 pip, so it
 * exceeds the limit exactly when the check failed.
 */
bool guard_price_deviates(int64_t max_deviation_pips_x100, int64_t price, int64_t quote,
			  int64_t pip, int64_t *deviation_pips_x100)
{
	int64_t diff, x100, limit;

	*deviation_pips_x100 = INT64_MAX;
	if (quote <= 0 || price <= 0 || pip <= 0)
		return true; /* no quote: fail closed */
	diff = price > quote ? price - quote : quote - price;
	if (__builtin_mul_overflow(diff, (int64_t)100, &x100))
		return true;
	*deviation_pips_x100 = x100 / pip + (x100 % pip != 0);
	if (__builtin_mul_overflow(max_deviation_pips_x100, pip, &limit))
		return false; /* a limit beyond any representable distance */
	return x100 > limit;
}

static bool price_deviates(const struct guard_policy *pol, const struct guard_envelope *env,
			   const struct guard_view *view, const struct guard_instrument *in,
			   enum guard_order_type side, struct guard_verdict *out)
{
	int64_t q = side == GUARD_ORDER_BUY ? view->quote.ask : view->quote.bid;

	return guard_price_deviates(pol->max_deviation_pips_x100, env->price, q, in->pip,
				    &out->deviation_pips_x100);
}

static bool funds_short(const struct guard_policy *pol, const struct guard_view *view,
			bool *empty)
{
	int64_t avail;

	if (__builtin_sub_overflow(view->wallet.balance, view->wallet.reserved, &avail))
		avail = 0;
	*empty = avail <= 0; /* seed: SYNCED -> LOCKED_NO_FUNDS when balance <= 0 */
	return avail <= 0 || avail < pol->min_free_funds;
}

/*
 * Step 5, the broker account: the margin the translated order needs against the free
 * margin. A market order is priced at the side it trades (ask for a buy, bid for a sell,
 * the signal's price without a quote), a pending order at its own price (it takes the
 * margin when it fills). A margin that cannot be computed is a refusal (fail closed).
 */
static bool margin_short(const struct guard_view *view, const struct guard_instrument *in,
			 const struct guard_order *o, enum guard_order_type side,
			 struct guard_verdict *out)
{
	int64_t price = o->price;

	if (!view->account.known)
		return false;
	if (side == GUARD_ORDER_BUY && view->quote.ask > 0)
		price = view->quote.ask;
	else if (side == GUARD_ORDER_SELL && view->quote.bid > 0)
		price = view->quote.bid;
	if (guard_margin_needed(in, view->spec.contract, &view->account, o->volume, price,
				&out->margin_needed) != 0) {
		out->margin_needed = INT64_MAX;
		return true;
	}
	return out->margin_needed > view->account.free_margin;
}

/* Whose delay: see enum guard_attribution. A send stamp before the arrival stamp is
 * nonsense (clocks of one platform) and proves nothing: unspecified. Late is against the
 * platform's promise, half the default TTL (250 ms), the rule the server checks a claim
 * with (its delivery records, docs/api.md "Trust"), not against this subscriber's own TTL:
 * with a shorter one an honest claim was refuted and scored. */
static uint32_t attribute(const struct guard_envelope *env)
{
	int64_t send_age;

	if (env->replay)
		return GUARD_ATTRIBUTION_PLATFORM_REPLAY;
	if (env->fanout_send_ns == 0 ||
	    __builtin_sub_overflow(env->fanout_send_ns, env->server_arrival_ns, &send_age) ||
	    send_age < 0)
		return GUARD_ATTRIBUTION_UNSPECIFIED;
	return send_age > GUARD_TTL_DEFAULT_NS / 2 ? GUARD_ATTRIBUTION_PLATFORM_LATE_SEND
						   : GUARD_ATTRIBUTION_SUBSCRIBER;
}

static bool commit(struct guard_sub *sub, const struct guard_envelope *env,
		   const struct pending *p)
{
	bool changed = false;

	if (p->to_state != GUARD_STATE_NONE &&
	    guard_sub_set_state(sub, (enum guard_state)p->to_state) == 0) {
		if (p->to_state == GUARD_STATE_DEGRADED_GAP)
			sub->st.gap_seq = env->sequence; /* > last_seq + 1: I3 holds */
		changed = true;
	}
	if (p->consume) {
		sub->st.last_seq = env->sequence;
		changed = true;
	}
	if (p->execute) {
		sub->st.executed++;
		sub->st.last_executed_seq = env->sequence;
	}
	if (p->trip_equity && !sub->st.equity_tripped) {
		sub->st.equity_tripped = 1;
		changed = true;
	}
	assert(guard_sub_state_valid(&sub->st));
	return changed;
}

int guard_signal_check(struct guard_sub *sub, const struct guard_policy *pol,
		       const struct guard_clock *clk, const struct guard_envelope *env,
		       const struct guard_view *view, struct guard_verdict *out)
{
	struct pending p = {0};
	enum guard_reason reason = GUARD_REASON_NONE;
	enum guard_filter filter;
	enum guard_order_type side;
	const struct guard_sub_state *st;
	const struct guard_instrument *in;
	bool tripped, empty = false;

	if (!sub || !pol || !env || !view || !out)
		return -EINVAL;
	st = &sub->st;
	memset(out, 0, sizeof(*out));
	out->state_before = out->state_after = (uint32_t)st->state;
	out->sequence = env->sequence;
	out->expected_seq = st->last_seq + 1;
	sub->stats.checks++;

	if (!envelope_ok(sub, env)) {
		out->reason = GUARD_REASON_MALFORMED;
		sub->stats.reason[GUARD_REASON_MALFORMED]++;
		return 0;
	}

	/* The policy's decision is pure; computed first so Price and Funds know whether
	 * an order would be placed at all. */
	tripped = st->equity_tripped ||
		  (guard_order_opens((enum guard_order_type)env->order_type) &&
		   guard_equity_breached(pol, st->peak_equity, view->equity));
	in = guard_instrument_find(view->instruments, env->symbol);
	filter = guard_policy_translate(pol, env, view, in ? in->pip : 0,
					in ? in->contract_size : 0, tripped, &out->order);
	side = pol->reverse ? guard_order_reverse((enum guard_order_type)env->order_type)
			    : (enum guard_order_type)env->order_type;

	/* 1 Sequence */
	if (env->sequence <= st->last_seq) {
		reason = GUARD_REASON_REPLAY;
	} else if (env->sequence > st->last_seq + 1) {
		reason = GUARD_REASON_SEQUENCE_GAP;
		if (st->state == GUARD_STATE_SYNCED)
			p.to_state = GUARD_STATE_DEGRADED_GAP;
	} else if (st->state != GUARD_STATE_DEGRADED_GAP) {
		p.consume = true;
	}
	/* 2 State */
	if (!reason && st->state != GUARD_STATE_SYNCED)
		reason = GUARD_REASON_STATE_LOCKED;
	/* 3 TTL (age computed for the report even after an earlier failure) */
	if (ttl_expired(sub, clk, env, view, out) && !reason) {
		reason = GUARD_REASON_TTL_EXPIRED;
		out->attribution = attribute(env);
	}
	/* 4 Price, and before it the instrument it needs: an order adding exposure on an
	 * instrument the registry does not know is refused for that, not as a deviation;
	 * also when the policy could not size it for that (RISK_PERCENT needs the pip) */
	if (!reason && (filter == GUARD_FILTER_NONE || filter == GUARD_FILTER_SIZING) &&
	    guard_order_opens(side) && !in)
		reason = GUARD_REASON_UNKNOWN_INSTRUMENT;
	if (!reason && filter == GUARD_FILTER_NONE &&
	    (side == GUARD_ORDER_BUY || side == GUARD_ORDER_SELL) &&
	    price_deviates(pol, env, view, in, side, out))
		reason = GUARD_REASON_PRICE_DEVIATION;
	/* 5 Funds */
	if (!reason && filter == GUARD_FILTER_NONE && guard_order_opens(side) &&
	    funds_short(pol, view, &empty)) {
		reason = GUARD_REASON_INSUFFICIENT_FUNDS;
		if (empty)
			p.to_state = GUARD_STATE_LOCKED_NO_FUNDS;
	}
	if (!reason && filter == GUARD_FILTER_NONE && guard_order_opens(side) &&
	    margin_short(view, in, &out->order, side, out))
		reason = GUARD_REASON_INSUFFICIENT_MARGIN;
	/* 6 Signature: always verified, it decides whether anything above is committed */
	out->authenticated = sub->verifier.verify &&
			     sub->verifier.verify(sub->verifier.key, env->body, env->body_len,
						  env->sig, env->sig_len) == 0;
	if (!out->authenticated) {
		reason = GUARD_REASON_INVALID_SIGNATURE; /* whatever else failed: see the header */
		out->attribution = GUARD_ATTRIBUTION_UNSPECIFIED;
		out->clock_suspect = false; /* a forgery proves nothing about our clock */
	}
	/* 7 Execute */
	if (!reason) {
		if (filter != GUARD_FILTER_NONE) {
			reason = GUARD_REASON_FILTERED;
			out->filter = (uint32_t)filter;
			sub->stats.filter[filter]++;
			if (filter == GUARD_FILTER_EQUITY && !st->equity_tripped) {
				p.trip_equity = true;
				out->close_all = pol->close_all_on_trip;
			}
		} else {
			p.execute = true;
		}
	}
	if (reason != GUARD_REASON_NONE)
		memset(&out->order, 0, sizeof(out->order));

	out->reason = (uint32_t)reason;
	if (out->authenticated)
		out->committed = commit(sub, env, &p);
	else
		sub->stats.unauthenticated++;
	out->state_after = (uint32_t)st->state;
	sub->stats.reason[reason]++;
	if (reason == GUARD_REASON_NONE)
		sub->stats.executed++;
	return 0;
}

int guard_wallet_update(struct guard_sub *sub, const struct guard_wallet *w)
{
	int64_t avail;

	if (!sub || !w)
		return -EINVAL;
	if (sub->st.state != GUARD_STATE_LOCKED_NO_FUNDS ||
	    __builtin_sub_overflow(w->balance, w->reserved, &avail) || avail <= 0)
		return 0;
	return guard_sub_set_state(sub, GUARD_STATE_SYNCED) == 0;
}

enum guard_trust_event guard_trust_event_of(const struct guard_verdict *v)
{
	if (v->reason == GUARD_REASON_MALFORMED)
		return GUARD_TRUST_MALFORMED;
	if (!v->authenticated)
		return GUARD_TRUST_INVALID_SIGNATURE;
	switch ((enum guard_reason)v->reason) {
	case GUARD_REASON_NONE: return GUARD_TRUST_SUCCESS;
	case GUARD_REASON_REPLAY: return GUARD_TRUST_REPLAY;
	case GUARD_REASON_SEQUENCE_GAP: return GUARD_TRUST_SEQUENCE_GAP;
	case GUARD_REASON_STATE_LOCKED: return GUARD_TRUST_STATE_LOCKED;
	case GUARD_REASON_TTL_EXPIRED: return GUARD_TRUST_TTL_EXPIRED;
	case GUARD_REASON_PRICE_DEVIATION: return GUARD_TRUST_PRICE_DEVIATION;
	case GUARD_REASON_INSUFFICIENT_FUNDS: return GUARD_TRUST_INSUFFICIENT_FUNDS;
	case GUARD_REASON_INVALID_SIGNATURE: return GUARD_TRUST_INVALID_SIGNATURE;
	case GUARD_REASON_FILTERED: return GUARD_TRUST_FILTERED;
	case GUARD_REASON_UNKNOWN_INSTRUMENT: return GUARD_TRUST_UNKNOWN_INSTRUMENT;
	case GUARD_REASON_INSUFFICIENT_MARGIN: return GUARD_TRUST_INSUFFICIENT_MARGIN;
	default: return GUARD_TRUST_MALFORMED;
	}
}

const char *guard_reason_name(enum guard_reason r)
{
	switch (r) {
	case GUARD_REASON_NONE: return "EXECUTE";
	case GUARD_REASON_REPLAY: return "REPLAY";
	case GUARD_REASON_SEQUENCE_GAP: return "SEQUENCE_GAP";
	case GUARD_REASON_STATE_LOCKED: return "STATE_LOCKED";
	case GUARD_REASON_TTL_EXPIRED: return "TTL_EXPIRED";
	case GUARD_REASON_PRICE_DEVIATION: return "PRICE_DEVIATION";
	case GUARD_REASON_INSUFFICIENT_FUNDS: return "INSUFFICIENT_FUNDS";
	case GUARD_REASON_INVALID_SIGNATURE: return "INVALID_SIGNATURE";
	case GUARD_REASON_FILTERED: return "FILTERED";
	case GUARD_REASON_UNKNOWN_INSTRUMENT: return "UNKNOWN_INSTRUMENT";
	case GUARD_REASON_INSUFFICIENT_MARGIN: return "INSUFFICIENT_MARGIN";
	case GUARD_REASON_MALFORMED: return "MALFORMED";
	default: return "?";
	}
}

const char *guard_attribution_name(enum guard_attribution a)
{
	switch (a) {
	case GUARD_ATTRIBUTION_SUBSCRIBER: return "SUBSCRIBER";
	case GUARD_ATTRIBUTION_PLATFORM_LATE_SEND: return "PLATFORM_LATE_SEND";
	case GUARD_ATTRIBUTION_PLATFORM_REPLAY: return "PLATFORM_REPLAY";
	default: return NULL;
	}
}

const char *guard_order_type_name(enum guard_order_type t)
{
	static const char *const names[GUARD_ORDER_TYPE_COUNT] = {
		[GUARD_ORDER_BUY] = "BUY",
		[GUARD_ORDER_SELL] = "SELL",
		[GUARD_ORDER_BUY_LIMIT] = "BUY_LIMIT",
		[GUARD_ORDER_SELL_LIMIT] = "SELL_LIMIT",
		[GUARD_ORDER_BUY_STOP] = "BUY_STOP",
		[GUARD_ORDER_SELL_STOP] = "SELL_STOP",
		[GUARD_ORDER_CLOSE] = "CLOSE",
		[GUARD_ORDER_MODIFY] = "MODIFY",
		[GUARD_ORDER_CLOSE_PARTIAL] = "CLOSE_PARTIAL",
	};
	if ((unsigned)t >= GUARD_ORDER_TYPE_COUNT || !names[t])
		return "?";
	return names[t];
}
