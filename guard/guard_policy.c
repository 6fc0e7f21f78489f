/* guard_policy: copy policy. Steps and rules in guard_policy.h. */
#include "guard_policy.h"

#include <errno.h>
#include <string.h>

#include "guard_symbol.h"

#define PENDING_BITS                                                                \
	(GUARD_ORDER_BIT(GUARD_ORDER_BUY_LIMIT) | GUARD_ORDER_BIT(GUARD_ORDER_SELL_LIMIT) | \
	 GUARD_ORDER_BIT(GUARD_ORDER_BUY_STOP) | GUARD_ORDER_BIT(GUARD_ORDER_SELL_STOP))

void guard_policy_init(struct guard_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->type_mask = GUARD_ORDER_MASK_ALL;
	p->lot_mode = GUARD_LOT_MULTIPLIER;
	p->lot_multiplier_milli = 1000;
	p->copy_sl = true;
	p->copy_tp = true;
	p->sync_modify = true;
	p->max_deviation_pips_x100 = 300;
}

/* A NUL inside the array and, unless may_be_empty, at least one character before it. */
static bool text_ok(const char *s, size_t cap, bool may_be_empty)
{
	const char *nul = memchr(s, '\0', cap);

	return nul != NULL && (may_be_empty || nul != s);
}

int guard_policy_valid(const struct guard_policy *p)
{
	if (!p || p->map_count > GUARD_POLICY_MAP_MAX || p->allow_count > GUARD_POLICY_LIST_MAX ||
	    p->deny_count > GUARD_POLICY_LIST_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < p->map_count; i++)
		if (!text_ok(p->map[i].from, sizeof(p->map[i].from), false) ||
		    !text_ok(p->map[i].to, sizeof(p->map[i].to), false))
			return -EINVAL;
	for (uint32_t i = 0; i < p->allow_count; i++)
		if (!text_ok(p->allow[i], sizeof(p->allow[i]), false))
			return -EINVAL;
	for (uint32_t i = 0; i < p->deny_count; i++)
		if (!text_ok(p->deny[i], sizeof(p->deny[i]), false))
			return -EINVAL;
	if (!text_ok(p->prefix, sizeof(p->prefix), true) ||
	    !text_ok(p->suffix, sizeof(p->suffix), true))
		return -EINVAL;
	if ((p->type_mask & ~(uint32_t)GUARD_ORDER_MASK_ALL) != 0)
		return -EINVAL;
	if (p->lot_fixed < 0 || p->lot_multiplier_milli < 0 || p->master_equity < 0 ||
	    p->risk_bp < 0 || p->risk_bp > GUARD_BP_SCALE || p->max_deviation_pips_x100 < 0 ||
	    p->min_free_funds < 0 || p->equity_floor < 0 || p->max_drawdown_bp < 0 ||
	    p->max_drawdown_bp > GUARD_BP_SCALE)
		return -EINVAL;
	switch (p->lot_mode) {
	case GUARD_LOT_FIXED: return p->lot_fixed > 0 ? 0 : -EINVAL;
	case GUARD_LOT_MULTIPLIER: return p->lot_multiplier_milli > 0 ? 0 : -EINVAL;
	case GUARD_LOT_EQUITY_RATIO: return p->master_equity > 0 ? 0 : -EINVAL;
	case GUARD_LOT_RISK_PERCENT: return p->risk_bp > 0 ? 0 : -EINVAL;
	default: return -EINVAL;
	}
}

int guard_policy_apply(struct guard_policy *cur, const struct guard_policy *next)
{
	if (!cur || guard_policy_valid(next) != 0)
		return -EINVAL;
	if (next->version <= cur->version)
		return 0;
	*cur = *next;
	return 1;
}

void guard_policy_pending(struct guard_policy *p, bool on)
{
	if (on)
		p->type_mask |= PENDING_BITS;
	else
		p->type_mask &= ~(uint32_t)PENDING_BITS;
}

enum guard_order_type guard_order_reverse(enum guard_order_type t)
{
	switch (t) {
	case GUARD_ORDER_BUY: return GUARD_ORDER_SELL;
	case GUARD_ORDER_SELL: return GUARD_ORDER_BUY;
	case GUARD_ORDER_BUY_LIMIT: return GUARD_ORDER_SELL_STOP;
	case GUARD_ORDER_SELL_STOP: return GUARD_ORDER_BUY_LIMIT;
	case GUARD_ORDER_BUY_STOP: return GUARD_ORDER_SELL_LIMIT;
	case GUARD_ORDER_SELL_LIMIT: return GUARD_ORDER_BUY_STOP;
	default: return t;
	}
}

bool guard_order_opens(enum guard_order_type t)
{
	return t >= GUARD_ORDER_BUY && t <= GUARD_ORDER_SELL_STOP;
}

/* Copies src into dst (dst_len bytes) at *pos; false when it does not fit. */
static bool append(char *dst, size_t dst_len, size_t *pos, const char *src)
{
	size_t n = strlen(src);

	if (*pos + n >= dst_len)
		return false;
	memcpy(dst + *pos, src, n);
	*pos += n;
	dst[*pos] = '\0';
	return true;
}

int guard_policy_map_symbol(const struct guard_policy *p, const char *master_symbol,
			    char *out, size_t out_len)
{
	char base[GUARD_SYMBOL_MAX];
	size_t pos = 0;

	if (!p || !master_symbol || !out || !out_len)
		return -EINVAL;
	if (guard_symbol_base(master_symbol, base, sizeof(base)) == -EINVAL)
		return -EINVAL;
	out[0] = '\0';
	for (uint32_t i = 0; i < p->map_count && i < GUARD_POLICY_MAP_MAX; i++) {
		if (guard_symbol_equal(p->map[i].from, base) ||
		    guard_symbol_equal(p->map[i].from, master_symbol)) {
			if (!append(out, out_len, &pos, p->map[i].to))
				return -ENAMETOOLONG;
			return (int)pos;
		}
	}
	if (!append(out, out_len, &pos, p->prefix) || !append(out, out_len, &pos, base) ||
	    !append(out, out_len, &pos, p->suffix))
		return -ENAMETOOLONG;
	return (int)pos;
}

static bool listed(const char (*list)[GUARD_SYMBOL_MAX], uint32_t n, const char *base,
		   const char *sym)
{
	for (uint32_t i = 0; i < n && i < GUARD_POLICY_LIST_MAX; i++)
		if (guard_symbol_equal(list[i], base) || guard_symbol_equal(list[i], sym))
			return true;
	return false;
}

bool guard_policy_symbol_allowed(const struct guard_policy *p, const char *master_symbol)
{
	char base[GUARD_SYMBOL_MAX];

	if (!p || !master_symbol)
		return false;
	if (guard_symbol_base(master_symbol, base, sizeof(base)) == -EINVAL)
		return false;
	if (listed(p->deny, p->deny_count, base, master_symbol))
		return false;
	return p->allow_count == 0 || listed(p->allow, p->allow_count, base, master_symbol);
}

int64_t guard_volume_round(int64_t volume, const struct guard_symbol_spec *spec)
{
	int64_t step = spec->vol_step > 0 ? spec->vol_step : 1;
	int64_t max = spec->vol_max > 0 ? spec->vol_max / step * step : INT64_MAX;

	if (volume <= 0)
		return 0;
	volume = volume / step * step;
	if (volume > max)
		volume = max;
	if (volume < spec->vol_min || volume <= 0)
		return 0;
	return volume;
}

bool guard_equity_breached(const struct guard_policy *p, int64_t peak, int64_t equity)
{
	int64_t drop, limit;

	if (p->equity_floor > 0 && equity < p->equity_floor)
		return true;
	if (p->max_drawdown_bp <= 0 || peak <= 0 || equity >= peak)
		return false;
	if (__builtin_sub_overflow(peak, equity, &drop))
		return true;
	/* drop / peak > bp / 10000, without division rounding: compare cross products. */
	if (__builtin_mul_overflow(drop, (int64_t)GUARD_BP_SCALE, &drop) ||
	    __builtin_mul_overflow(peak, p->max_drawdown_bp, &limit))
		return true; /* fail closed: an unrepresentable drawdown is a breach */
	return drop > limit;
}

int guard_equity_update(struct guard_sub *sub, const struct guard_policy *p, int64_t equity)
{
	if (!sub || !p)
		return -EINVAL;
	if (equity > sub->st.peak_equity)
		sub->st.peak_equity = equity;
	if (!sub->st.equity_tripped && guard_equity_breached(p, sub->st.peak_equity, equity)) {
		sub->st.equity_tripped = 1;
		return 1;
	}
	return 0;
}

int guard_equity_reset(struct guard_sub *sub, int64_t equity)
{
	if (!sub)
		return -EINVAL;
	sub->st.peak_equity = equity;
	sub->st.equity_tripped = 0;
	return 0;
}

/* a * b / c for non-negative operands; -1 on overflow or c <= 0. */
static int64_t muldiv(int64_t a, int64_t b, int64_t c)
{
	int64_t prod;

	if (a < 0 || b < 0 || c <= 0 || __builtin_mul_overflow(a, b, &prod))
		return -1;
	return prod / c;
}

/*
 * The master's volume * num / den in the subscriber broker's lots: times the master's
 * contract size (the registry's, whole units) over the broker's (spec.contract, 1e-4),
 * when both are known, in one exact product (rounded down once). -1 on a negative
 * operand, den <= 0, or a result that does not fit.
 */
static int64_t master_scaled(int64_t volume, int64_t num, int64_t den, int64_t contract,
			     const struct guard_symbol_spec *spec)
{
	__int128 n = volume, d = den;

	if (volume < 0 || num < 0 || den <= 0)
		return -1;
	n *= num; /* < 2^126 */
	if (contract > 0 && spec->contract > 0) {
		if (n > ((__int128)1 << 126) / ((__int128)contract * GUARD_CONTRACT_SCALE))
			return -1;
		n *= (__int128)contract * GUARD_CONTRACT_SCALE;
		d *= spec->contract;
	}
	n /= d;
	return n > INT64_MAX ? -1 : (int64_t)n;
}

/* Step 7 for opening orders: raw (unrounded) volume, or -1 when it cannot be sized.
 * stop: the SL the copy is sent with (after reverse copy and copy_sl): RISK_PERCENT
 * bounds the loss at that stop, so it is sized by it, not by the master's SL (reversed,
 * the copy's stop is the master's TP; without copy_sl the copy has none). */
static int64_t size_open(const struct guard_policy *p, const struct guard_envelope *env,
			 const struct guard_view *view, int64_t pip, int64_t contract,
			 int64_t stop)
{
	int64_t risk, dist, pips_x100, loss_per_lot;

	switch (p->lot_mode) {
	case GUARD_LOT_FIXED:
		return p->lot_fixed > 0 ? p->lot_fixed : -1;
	case GUARD_LOT_MULTIPLIER:
		return master_scaled(env->volume, p->lot_multiplier_milli, 1000, contract,
				     &view->spec);
	case GUARD_LOT_EQUITY_RATIO:
		return master_scaled(env->volume, view->equity, p->master_equity, contract,
				     &view->spec);
	case GUARD_LOT_RISK_PERCENT:
		if (stop <= 0 || env->price <= 0 || pip <= 0 || view->spec.pip_value <= 0)
			return -1;
		risk = muldiv(view->equity, p->risk_bp, GUARD_BP_SCALE);
		dist = env->price > stop ? env->price - stop : stop - env->price;
		pips_x100 = muldiv(dist, 100, pip);
		if (risk < 0 || pips_x100 <= 0)
			return -1;
		/* Money lost by 1.00 lot at the SL = pips * pip_value; volume is in 0.01
		 * lot, so volume = risk * 100 / loss_per_lot, loss in hundredths of pips. */
		loss_per_lot = muldiv(pips_x100, view->spec.pip_value, 100);
		if (loss_per_lot <= 0)
			return -1;
		return muldiv(risk, GUARD_VOLUME_SCALE, loss_per_lot);
	default:
		return -1;
	}
}

/* Step 7 for CLOSE_PARTIAL. Returns the volume to close or a filter cause < 0. */
static int64_t size_partial(const struct guard_envelope *env, const struct guard_view *view,
			    enum guard_filter *why)
{
	const struct guard_position *pos = &view->position;
	int64_t step = view->spec.vol_step > 0 ? view->spec.vol_step : 1;
	int64_t close, rest;

	if (pos->master_volume <= 0 || env->volume <= 0) {
		*why = GUARD_FILTER_SIZING;
		return -1;
	}
	if (env->volume >= pos->master_volume)
		return pos->volume; /* master closed all of it */
	close = muldiv(pos->volume, env->volume, pos->master_volume);
	if (close < 0) {
		*why = GUARD_FILTER_SIZING;
		return -1;
	}
	close = close / step * step; /* never close more than the master's ratio */
	rest = pos->volume - close;
	if (rest < view->spec.vol_min || rest <= 0)
		return pos->volume;
	if (close < view->spec.vol_min || close <= 0) {
		*why = GUARD_FILTER_LOT_BELOW_MIN;
		return -1;
	}
	return close;
}

enum guard_filter guard_policy_translate(const struct guard_policy *p,
					 const struct guard_envelope *env,
					 const struct guard_view *view, int64_t pip,
					 int64_t contract, bool equity_tripped,
					 struct guard_order *out)
{
	enum guard_order_type t = (enum guard_order_type)env->order_type;
	enum guard_filter why = GUARD_FILTER_NONE;
	int64_t sl = env->sl, tp = env->tp, vol;

	/* 1, 2: filters. The symbol filter decides what is copied: a copy already held is
	 * still closed, partly closed and modified with its master's position after the
	 * symbol is denied (a policy change never leaves a copy without its management) */
	if (!guard_policy_symbol_allowed(p, env->symbol) &&
	    (guard_order_opens(t) || !view->position.open))
		return GUARD_FILTER_SYMBOL;
	if (!(p->type_mask & GUARD_ORDER_BIT(t)))
		return GUARD_FILTER_ORDER_TYPE;
	if (t == GUARD_ORDER_MODIFY && !p->sync_modify)
		return GUARD_FILTER_MODIFY_OFF;
	/* 3: equity protection blocks new exposure only */
	if (guard_order_opens(t) && equity_tripped)
		return GUARD_FILTER_EQUITY;
	if (!guard_order_opens(t) &&
	    (!view->position.open || (t != GUARD_ORDER_MODIFY && view->position.volume <= 0)))
		return GUARD_FILTER_NO_POSITION;
	/* a second copy of one master position is exposure the master does not have */
	if (guard_order_opens(t) && view->position.open)
		return GUARD_FILTER_HELD;

	memset(out, 0, sizeof(*out));
	/* 4: symbol */
	if (guard_policy_map_symbol(p, env->symbol, out->symbol, sizeof(out->symbol)) < 0)
		return GUARD_FILTER_SYMBOL;
	/* 5, 6: direction, exits */
	if (p->reverse) {
		t = guard_order_reverse(t);
		sl = env->tp;
		tp = env->sl;
	}
	out->type = (uint32_t)t;
	out->price = env->price;
	out->sl = p->copy_sl ? sl : 0;
	out->tp = p->copy_tp ? tp : 0;
	out->master_ticket = env->position_ticket;
	out->sequence = env->sequence;
	out->expiration_ns = env->expiration_ns;

	/* 7: volume */
	switch (t) {
	case GUARD_ORDER_CLOSE:
		out->volume = view->position.volume;
		return GUARD_FILTER_NONE;
	case GUARD_ORDER_MODIFY:
		out->volume = 0;
		return GUARD_FILTER_NONE;
	case GUARD_ORDER_CLOSE_PARTIAL:
		vol = size_partial(env, view, &why);
		if (vol < 0)
			return why;
		out->volume = vol;
		return GUARD_FILTER_NONE;
	default:
		break;
	}
	vol = size_open(p, env, view, pip, contract, out->sl);
	if (vol < 0)
		return GUARD_FILTER_SIZING;
	vol = guard_volume_round(vol, &view->spec);
	if (vol <= 0)
		return GUARD_FILTER_LOT_BELOW_MIN;
	out->volume = vol;
	return GUARD_FILTER_NONE;
}
