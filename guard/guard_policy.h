/*
 * guard_policy: per-subscription copy policy, the "Execute" step of the pipeline.
 *
 * What a trade copier's user expects, in the order applied by guard_policy_translate():
 *   1. Symbol filter: deny list, then allow list (empty = everything), compared on the
 *      instrument (guard_symbol_base), so "EURUSD" also matches "eurusd.m".
 *   2. Order-type filter: type_mask (GUARD_ORDER_BIT). Pending orders off = clear the
 *      four pending bits (guard_policy_pending()). MODIFY also needs sync_modify.
 *   3. Equity protection: no new exposure (opening orders) once equity < equity_floor
 *      or drawdown from the peak > max_drawdown_bp; CLOSE/CLOSE_PARTIAL/MODIFY still
 *      pass (they reduce or manage risk). close_all_on_trip asks the EA to flatten.
 *   4. Symbol mapping: an explicit map entry (instrument -> broker symbol) wins;
 *      otherwise prefix + instrument + suffix (broker decorations of the subscriber).
 *   5. Direction: reverse copy swaps BUY<->SELL, BUY_LIMIT<->SELL_STOP,
 *      BUY_STOP<->SELL_LIMIT (a price below market stays below market: a buy limit
 *      below becomes a sell stop below), and swaps SL<->TP (the master's stop becomes
 *      the reversed position's target and vice versa).
 *   6. SL/TP: copied only when copy_sl / copy_tp (after the swap), else 0.
 *   7. Volume: opening orders by lot_mode (below), CLOSE the whole copied position,
 *      CLOSE_PARTIAL the same ratio of the copied position as the master closed of his.
 *      Then rounded DOWN to vol_step, capped at vol_max (itself rounded down), and
 *      refused (FILTERED, LOT_BELOW_MIN) when below vol_min: never round up exposure.
 *        FIXED          volume = lot_fixed
 *        MULTIPLIER     volume = master volume * lot_multiplier_milli / 1000 * c
 *        EQUITY_RATIO   volume = master volume * subscriber equity / master_equity * c
 *        RISK_PERCENT   volume = (equity * risk_bp / 10000) / (SL distance in pips *
 *                       pip_value per lot), the SL the copy is sent with (after reverse
 *                       copy: the master's TP; copy_sl off: none); needs one (else
 *                       FILTERED, SIZING)
 *      c = the master's contract size (the instrument registry's) / the subscriber
 *      broker's (spec.contract), 1 when either is unknown: a master's 1.00 lot of gold
 *      at 100 oz is 100.00 lots of a broker's 1 oz contract, the same ounces.
 *      CLOSE_PARTIAL: close = copied volume * master closed / master position volume,
 *      rounded down; if the rest would fall below vol_min, the whole position closes;
 *      if the close itself is below vol_min, it is refused (LOT_BELOW_MIN).
 *
 * Plain data, no pointers: a subscriber persists it as is. Read-only during checks.
 */
#ifndef DECP_GUARD_POLICY_H
#define DECP_GUARD_POLICY_H

#include "guard_signal.h"
#include "guard_sub.h"

#define GUARD_POLICY_MAP_MAX 16
#define GUARD_POLICY_LIST_MAX 16
#define GUARD_AFFIX_MAX 12

enum guard_lot_mode {
	GUARD_LOT_FIXED = 1,
	GUARD_LOT_MULTIPLIER = 2,
	GUARD_LOT_EQUITY_RATIO = 3,
	GUARD_LOT_RISK_PERCENT = 4,
};

struct guard_symbol_map {
	char from[GUARD_SYMBOL_MAX]; /* master's instrument, e.g. "XAUUSD" */
	char to[GUARD_SYMBOL_MAX];   /* subscriber's broker symbol, e.g. "GOLD.r" */
};

struct guard_policy {
	/* the server's version of this policy (CopyPolicy.version, +1 per change); 0 = local
	 * defaults, never delivered */
	uint64_t version;

	/* symbols */
	struct guard_symbol_map map[GUARD_POLICY_MAP_MAX];
	uint32_t map_count;
	char prefix[GUARD_AFFIX_MAX]; /* subscriber broker decoration, e.g. "" */
	char suffix[GUARD_AFFIX_MAX]; /* e.g. ".m" */
	char allow[GUARD_POLICY_LIST_MAX][GUARD_SYMBOL_MAX];
	uint32_t allow_count; /* 0 = all instruments */
	char deny[GUARD_POLICY_LIST_MAX][GUARD_SYMBOL_MAX];
	uint32_t deny_count;
	uint32_t type_mask; /* GUARD_ORDER_BIT(...) of copied order types */

	/* sizing */
	uint32_t lot_mode;            /* enum guard_lot_mode */
	int64_t lot_fixed;            /* 0.01 lot */
	int64_t lot_multiplier_milli; /* 1000 = 1.0x */
	int64_t master_equity;        /* money; EQUITY_RATIO denominator */
	int64_t risk_bp;              /* RISK_PERCENT: 100 = 1% of equity per trade */

	/* direction and exits */
	bool reverse;
	bool copy_sl;
	bool copy_tp;
	bool sync_modify;

	/* seed checks */
	int64_t max_deviation_pips_x100; /* Price Deviation Guard threshold */
	int64_t min_free_funds;          /* Fund Check: wallet balance - reserved needed */

	/* equity protection (0 = off) */
	int64_t equity_floor;    /* money */
	int64_t max_drawdown_bp; /* of peak equity */
	bool close_all_on_trip;
};

/* Defaults: copy everything, multiplier 1.0x, SL/TP and modifications copied, max
 * deviation 3 pips, min_free_funds 0 (wallet must be > 0), no equity protection. */
void guard_policy_init(struct guard_policy *p);

/*
 * Checks a policy from outside (a CopyPolicy from the server, a persisted one): counts
 * within the arrays, every symbol and affix NUL-terminated, non-empty map and list
 * entries, a known lot_mode with its parameter (FIXED: lot_fixed > 0; MULTIPLIER:
 * lot_multiplier_milli > 0; EQUITY_RATIO: master_equity > 0; RISK_PERCENT:
 * 0 < risk_bp <= 10000), no negative amount or threshold, max_drawdown_bp <= 10000,
 * type_mask only of known order types. Returns 0, or -EINVAL (NULL or a rule broken).
 */
int guard_policy_valid(const struct guard_policy *p);

/*
 * Replaces *cur by *next when next is valid and next->version > cur->version (a late
 * or repeated delivery never rolls a policy back). Returns 1 when applied, 0 when next
 * is not newer (cur unchanged), -EINVAL when an argument is NULL or next is invalid
 * (cur unchanged). Thread: the owner of cur, between checks.
 */
int guard_policy_apply(struct guard_policy *cur, const struct guard_policy *next);

/* Turns copying of the four pending order types on or off. */
void guard_policy_pending(struct guard_policy *p, bool on);

/*
 * Subscriber symbol for a master symbol (step 4). Returns the length; -EINVAL on NULL;
 * -ENAMETOOLONG when prefix + instrument + suffix does not fit out_len.
 */
int guard_policy_map_symbol(const struct guard_policy *p, const char *master_symbol,
			    char *out, size_t out_len);

/* True when the symbol passes step 1. */
bool guard_policy_symbol_allowed(const struct guard_policy *p, const char *master_symbol);

/* enum guard_order_type after reverse copy (identity for CLOSE, MODIFY, ...). */
enum guard_order_type guard_order_reverse(enum guard_order_type t);

/* True for BUY/SELL and the pending types: orders that add exposure. */
bool guard_order_opens(enum guard_order_type t);

/* Volume rounded down to spec's step and capped at vol_max; 0 when below vol_min. */
int64_t guard_volume_round(int64_t volume, const struct guard_symbol_spec *spec);

/* True when equity breaches the floor or the drawdown limit given the peak. */
bool guard_equity_breached(const struct guard_policy *p, int64_t peak, int64_t equity);

/*
 * Feeds the account equity (call on every account update). Raises the peak; trips
 * equity protection on a breach. Returns 1 when it tripped now (the EA closes all
 * positions when p->close_all_on_trip), 0 otherwise, -EINVAL on NULL. Local, trusted
 * data: no signal involved.
 */
int guard_equity_update(struct guard_sub *sub, const struct guard_policy *p, int64_t equity);

/* The user re-arms copying after a trip: peak = equity, tripped cleared. 0 or -EINVAL. */
int guard_equity_reset(struct guard_sub *sub, int64_t equity);

/*
 * Steps 1..7 for an envelope. Pure: reads only. pip and contract are the instrument
 * registry's pip size and contract size (whole base units per 1.00 lot: what the
 * master's lots mean), 0 when it lacks the instrument. Returns GUARD_FILTER_NONE with
 * *out filled, or the filter cause (out unspecified). equity_tripped is the
 * subscription's current trip flag.
 */
enum guard_filter guard_policy_translate(const struct guard_policy *p,
					 const struct guard_envelope *env,
					 const struct guard_view *view, int64_t pip,
					 int64_t contract, bool equity_tripped,
					 struct guard_order *out);

#endif
