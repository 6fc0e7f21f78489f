/*
 * test_guard_policy: copy policy and instruments. Each lot-sizing mode, rounding at
 * the broker's step, min/max lot, reverse copy of every order type, SL/TP copy,
 * modification sync, filters, pending orders, partial close by ratio, symbol mapping
 * with broker decorations, pip table, equity protection.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "guard_test_util.h"

static struct guard_policy pol;
static struct guard_view view;
static struct guard_envelope env;

static void fresh(void)
{
	guard_policy_init(&pol);
	gt_view(&view, 0);
	memset(&env, 0, sizeof(env));
	env.master_id = GT_MASTER;
	env.sequence = 9;
	memcpy(env.symbol, "EURUSD", 7);
	env.order_type = GUARD_ORDER_BUY;
	env.volume = 100; /* 1.00 lot */
	env.price = 110000;
	env.sl = 109500; /* 50 pips */
	env.tp = 111000;
	env.position_ticket = 77;
}

static enum guard_filter run(struct guard_order *o)
{
	return guard_policy_translate(&pol, &env, &view, guard_symbol_pip(env.symbol), 0, false,
				      o);
}

static int64_t sized(void)
{
	struct guard_order o;
	enum guard_filter f = run(&o);

	return f == GUARD_FILTER_NONE ? o.volume : -(int64_t)f;
}

/* sized() with the master's contract size `contract` (the registry's, whole units) */
static int64_t sized_at(int64_t contract)
{
	struct guard_order o;
	enum guard_filter f = guard_policy_translate(&pol, &env, &view,
						     guard_symbol_pip(env.symbol), contract,
						     false, &o);

	return f == GUARD_FILTER_NONE ? o.volume : -(int64_t)f;
}

static void test_lot_fixed(void)
{
	fresh();
	pol.lot_mode = GUARD_LOT_FIXED;
	pol.lot_fixed = 30;
	CU_ASSERT_EQUAL(sized(), 30);
	env.volume = 5000;
	CU_ASSERT_EQUAL(sized(), 30);
	pol.lot_fixed = 0;
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_SIZING);
}

static void test_lot_multiplier(void)
{
	fresh();
	pol.lot_multiplier_milli = 1500;
	CU_ASSERT_EQUAL(sized(), 150);
	pol.lot_multiplier_milli = 333; /* 0.333 lot -> 0.33 at step 0.01 */
	CU_ASSERT_EQUAL(sized(), 33);
	view.spec.vol_step = 10; /* step 0.10: rounded DOWN to 0.30 */
	view.spec.vol_min = 10;
	CU_ASSERT_EQUAL(sized(), 30);
	pol.lot_multiplier_milli = 99; /* 0.099 -> 0.00 < min 0.10: refused, not 0.10 */
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_LOT_BELOW_MIN);
	pol.lot_multiplier_milli = 100000; /* 100 lots, capped at max 100.00 */
	CU_ASSERT_EQUAL(sized(), 10000);
	view.spec.vol_max = 5005; /* max not on the step: cap at 50.00 */
	CU_ASSERT_EQUAL(sized(), 5000);
}

static void test_lot_equity_ratio(void)
{
	fresh();
	pol.lot_mode = GUARD_LOT_EQUITY_RATIO;
	pol.master_equity = 40000 * GUARD_MONEY_SCALE; /* subscriber has 10000: 1/4 */
	CU_ASSERT_EQUAL(sized(), 25);
	view.equity = 7000 * GUARD_MONEY_SCALE; /* 0.175 -> 0.17 */
	CU_ASSERT_EQUAL(sized(), 17);
	pol.master_equity = 0;
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_SIZING);
}

/* The master's lots mean the registry's contract size; the subscriber's broker may trade
 * another: the copy holds the same units of the instrument, rounded down once. */
static void test_lot_contract_size(void)
{
	fresh();
	memcpy(env.symbol, "XAUUSD", 7);
	env.price = 203450000;
	env.sl = 0;
	view.spec.vol_max = 1000000;
	/* a master's 1.00 lot of gold at 100 oz: 100.00 lots of a 1 oz contract */
	view.spec.contract = 1 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(100), 10000);
	/* the same contract, or either unknown: the master's lots as they are */
	view.spec.contract = 100 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(100), 100);
	CU_ASSERT_EQUAL(sized_at(0), 100);
	view.spec.contract = 0;
	CU_ASSERT_EQUAL(sized_at(100), 100);
	/* a 10 oz broker, x 1.5: 15.00 lots; 0.01 lot x 1.5 at 1 oz: 1.50 lots, not 1.00
	 * (one rounding, after the contract) */
	pol.lot_multiplier_milli = 1500;
	view.spec.contract = 10 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(100), 1500);
	env.volume = 1;
	view.spec.contract = 1 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(100), 150);
	/* a larger contract at the broker: fewer lots, rounded DOWN to its step, and below
	 * its minimum refused rather than rounded up: 1.00 lot of a 1-unit BTC contract is
	 * 0.20 lot of a 5-unit one; 0.01 lot of it is 0.002: nothing */
	memcpy(env.symbol, "BTCUSD", 7);
	env.volume = 100;
	pol.lot_multiplier_milli = 1000;
	view.spec.contract = 5 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(1), 20);
	env.volume = 1;
	CU_ASSERT_EQUAL(sized_at(1), -GUARD_FILTER_LOT_BELOW_MIN);
	/* a fractional contract (0.1 BTC per lot): 10x the lots */
	env.volume = 100;
	view.spec.contract = GUARD_CONTRACT_SCALE / 10;
	CU_ASSERT_EQUAL(sized_at(1), 1000);
	/* equity ratio: 1/4 of the master's ounces at 1 oz per lot */
	memcpy(env.symbol, "XAUUSD", 7);
	pol.lot_mode = GUARD_LOT_EQUITY_RATIO;
	pol.master_equity = 40000 * GUARD_MONEY_SCALE;
	view.spec.contract = 1 * GUARD_CONTRACT_SCALE;
	CU_ASSERT_EQUAL(sized_at(100), 2500);
	/* fixed lots and risk sizing are in the broker's lots already: unchanged */
	pol.lot_mode = GUARD_LOT_FIXED;
	pol.lot_fixed = 30;
	CU_ASSERT_EQUAL(sized_at(100), 30);
	/* a product that does not fit: not sized (never a wrapped volume) */
	pol.lot_mode = GUARD_LOT_MULTIPLIER;
	pol.lot_multiplier_milli = INT64_MAX;
	env.volume = INT64_MAX;
	CU_ASSERT_EQUAL(sized_at(INT64_MAX), -GUARD_FILTER_SIZING);
	view.spec.contract = 0;
	pol.lot_multiplier_milli = 1000;
	CU_ASSERT_EQUAL(sized_at(INT64_MAX), 1000000); /* capped at vol_max */
}

static void test_lot_risk_percent(void)
{
	fresh();
	pol.lot_mode = GUARD_LOT_RISK_PERCENT;
	pol.risk_bp = 100; /* 1% of $10000 = $100; SL 50 pips at $10/pip/lot: 0.20 lot */
	CU_ASSERT_EQUAL(sized(), 20);
	pol.risk_bp = 250; /* $250 / $500 = 0.50 */
	CU_ASSERT_EQUAL(sized(), 50);
	env.sl = 109700; /* 30 pips: $250 / $300 = 0.8333 -> 0.83 */
	CU_ASSERT_EQUAL(sized(), 83);
	/* JPY: USDJPY 150.000, SL 149.500 = 50 pips, pip value $6.67 */
	memcpy(env.symbol, "USDJPY", 7);
	env.price = 15000000;
	env.sl = 14950000;
	view.spec.pip_value = 66700;
	pol.risk_bp = 100; /* $100 / (50 * 6.67 = $333.5) = 0.2998 -> 0.29 */
	CU_ASSERT_EQUAL(sized(), 29);
	/* no SL: cannot size by risk */
	env.sl = 0;
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_SIZING);
}

/*
 * RISK_PERCENT sizes by the stop the copy will carry, not the master's. With reverse copy
 * the copy's stop is the master's TP (test_reverse_all_types): sized by the master's 50-pip
 * SL, a 100-pip stop loses twice the risk. Without a stop on the copy (reverse of a signal
 * without TP, or copy_sl off) the loss is not bounded by anything: not sized.
 */
static void test_lot_risk_percent_copy_stop(void)
{
	struct guard_order o;

	fresh();
	pol.lot_mode = GUARD_LOT_RISK_PERCENT;
	pol.risk_bp = 100; /* $100 of $10000 */
	pol.reverse = true; /* SELL, stop at the master's TP 1.11000: 100 pips */
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.sl, 111000);
	CU_ASSERT_EQUAL(o.volume, 10); /* $100 / (100 pips * $10) = 0.10, not 0.20 */
	/* the loss at the copy's stop is within the risk */
	CU_ASSERT_TRUE((o.sl - env.price) / 10 * view.spec.pip_value * o.volume / 100 <=
		       view.equity * pol.risk_bp / GUARD_BP_SCALE);
	env.tp = 0; /* reversed, the copy has no stop at all */
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_SIZING);
	pol.reverse = false;
	env.tp = 111000;
	pol.copy_sl = false; /* the copy is sent without its stop */
	CU_ASSERT_EQUAL(sized(), -GUARD_FILTER_SIZING);
	pol.copy_sl = true;
	CU_ASSERT_EQUAL(sized(), 20); /* unchanged: the master's SL is the copy's */
}

static void test_reverse_all_types(void)
{
	static const struct {
		enum guard_order_type from, to;
	} map[] = {
		{GUARD_ORDER_BUY, GUARD_ORDER_SELL},
		{GUARD_ORDER_SELL, GUARD_ORDER_BUY},
		{GUARD_ORDER_BUY_LIMIT, GUARD_ORDER_SELL_STOP},
		{GUARD_ORDER_SELL_LIMIT, GUARD_ORDER_BUY_STOP},
		{GUARD_ORDER_BUY_STOP, GUARD_ORDER_SELL_LIMIT},
		{GUARD_ORDER_SELL_STOP, GUARD_ORDER_BUY_LIMIT},
		{GUARD_ORDER_CLOSE, GUARD_ORDER_CLOSE},
		{GUARD_ORDER_MODIFY, GUARD_ORDER_MODIFY},
		{GUARD_ORDER_CLOSE_PARTIAL, GUARD_ORDER_CLOSE_PARTIAL},
	};
	struct guard_order o;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		CU_ASSERT_EQUAL(guard_order_reverse(map[i].from), map[i].to);
		CU_ASSERT_EQUAL(guard_order_reverse(guard_order_reverse(map[i].from)),
				map[i].from);
	}
	fresh();
	pol.reverse = true;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_SELL);
	CU_ASSERT_EQUAL(o.sl, 111000); /* the master's TP is our stop, above a sell */
	CU_ASSERT_EQUAL(o.tp, 109500);
	CU_ASSERT_EQUAL(o.volume, 100);
	/* buy limit below market -> sell stop at the same price, still below market */
	env.order_type = GUARD_ORDER_BUY_LIMIT;
	env.price = 109000;
	env.sl = 108500;
	env.tp = 110000;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_SELL_STOP);
	CU_ASSERT_EQUAL(o.price, 109000);
	CU_ASSERT_TRUE(o.price < view.quote.bid);
	CU_ASSERT_TRUE(o.sl > o.price && o.tp < o.price);
}

static void test_sl_tp_copy(void)
{
	struct guard_order o;

	fresh();
	pol.copy_sl = false;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.sl, 0);
	CU_ASSERT_EQUAL(o.tp, 111000);
	pol.copy_sl = true;
	pol.copy_tp = false;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.sl, 109500);
	CU_ASSERT_EQUAL(o.tp, 0);
}

/* An opening (market or pending) for a master ticket whose copy is held already would be
 * a second copy: exposure the master does not have (a master EA that signals one position
 * twice). Refused HELD; the same opening with no copy held is placed. */
static void test_opening_held(void)
{
	struct guard_order o;
	static const enum guard_order_type opens[] = {GUARD_ORDER_BUY, GUARD_ORDER_SELL,
						      GUARD_ORDER_BUY_LIMIT, GUARD_ORDER_SELL_STOP};

	for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		fresh();
		env.order_type = opens[i];
		view.position.open = true;
		view.position.volume = 10;
		CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_HELD);
		view.position.open = false;
		view.position.volume = 0;
		CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	}
}

static void test_modify_sync(void)
{
	struct guard_order o;

	fresh();
	env.order_type = GUARD_ORDER_MODIFY;
	env.volume = 0;
	env.sl = 109800;
	env.tp = 111500;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NO_POSITION);
	view.position.open = true;
	view.position.volume = 40;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_MODIFY);
	CU_ASSERT_EQUAL(o.sl, 109800);
	CU_ASSERT_EQUAL(o.tp, 111500);
	CU_ASSERT_EQUAL(o.master_ticket, 77);
	pol.copy_tp = false; /* TP not copied: not synced either */
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.tp, 0);
	pol.sync_modify = false;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_MODIFY_OFF);
}

static void test_filters(void)
{
	struct guard_order o;

	fresh();
	memcpy(pol.allow[0], "GBPUSD", 7);
	pol.allow_count = 1;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_SYMBOL);
	memcpy(pol.allow[1], "eurusd", 7); /* case-insensitive, on the instrument */
	pol.allow_count = 2;
	memcpy(env.symbol, "EURUSD.pro", 11);
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	memcpy(pol.deny[0], "EURUSD", 7); /* deny wins over allow */
	pol.deny_count = 1;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_SYMBOL);
	fresh();
	pol.type_mask &= ~GUARD_ORDER_BIT(GUARD_ORDER_SELL);
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	env.order_type = GUARD_ORDER_SELL;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_ORDER_TYPE);
	/* a symbol denied after a copy was opened: the copy is still closed, partly closed
	 * and modified with the master's position (never left without its management); with
	 * no copy held those signals are still the filter's */
	fresh();
	memcpy(pol.deny[0], "EURUSD", 7);
	pol.deny_count = 1;
	env.order_type = GUARD_ORDER_CLOSE;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_SYMBOL);
	view.position.open = true;
	view.position.volume = 40;
	view.position.master_volume = 20;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_CLOSE);
	CU_ASSERT_EQUAL(o.volume, 40);
	env.order_type = GUARD_ORDER_CLOSE_PARTIAL;
	env.volume = 10;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 20);
	env.order_type = GUARD_ORDER_MODIFY;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	env.order_type = GUARD_ORDER_BUY; /* adding exposure is still denied */
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_SYMBOL);
	env.order_type = GUARD_ORDER_CLOSE; /* the order-type mask stays the owner's choice */
	pol.type_mask &= ~GUARD_ORDER_BIT(GUARD_ORDER_CLOSE);
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_ORDER_TYPE);
}

static void test_pending_orders(void)
{
	struct guard_order o;

	fresh();
	env.order_type = GUARD_ORDER_SELL_LIMIT;
	env.price = 111000;
	env.sl = 111500;
	env.tp = 110000;
	env.expiration_ns = GT_NOW + 3600 * GUARD_NS_PER_S;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_SELL_LIMIT);
	CU_ASSERT_EQUAL(o.price, 111000);
	CU_ASSERT_EQUAL(o.expiration_ns, GT_NOW + 3600 * GUARD_NS_PER_S);
	guard_policy_pending(&pol, false);
	for (int t = GUARD_ORDER_BUY_LIMIT; t <= GUARD_ORDER_SELL_STOP; t++) {
		env.order_type = (uint32_t)t;
		CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_ORDER_TYPE);
	}
	env.order_type = GUARD_ORDER_BUY;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	guard_policy_pending(&pol, true);
	env.order_type = GUARD_ORDER_BUY_STOP;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
}

static void test_close_and_partial(void)
{
	struct guard_order o;

	fresh();
	env.order_type = GUARD_ORDER_CLOSE;
	env.volume = 0;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NO_POSITION);
	view.position.open = true;
	view.position.volume = 50;
	view.position.master_volume = 100;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_CLOSE);
	CU_ASSERT_EQUAL(o.volume, 50);

	/* master closes 0.40 of 1.00: we close 40% of our 0.50 = 0.20 */
	env.order_type = GUARD_ORDER_CLOSE_PARTIAL;
	env.volume = 40;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.type, GUARD_ORDER_CLOSE_PARTIAL);
	CU_ASSERT_EQUAL(o.volume, 20);
	/* 1/3 of 0.50 = 0.1666 -> 0.16 (rounded down to the step) */
	view.position.master_volume = 300;
	env.volume = 100;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 16);
	/* step 0.10, min 0.10: 0.1666 -> 0.10 */
	view.spec.vol_step = 10;
	view.spec.vol_min = 10;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 10);
	/* 10% of 0.50 = 0.05 < min: refused */
	view.position.master_volume = 100;
	env.volume = 10;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_LOT_BELOW_MIN);
	/* 90% of 0.50 = 0.45 -> 0.40 leaves 0.10 = min: partial */
	env.volume = 90;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 40);
	/* remainder below min: the whole position closes */
	view.position.volume = 45;
	view.spec.vol_step = 5;
	env.volume = 95; /* 0.4275 -> 0.40 leaves 0.05 < 0.10 */
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 45);
	/* master closed everything */
	env.volume = 100;
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_EQUAL(o.volume, 45);
}

static void test_symbol_mapping(void)
{
	char out[GUARD_SYMBOL_MAX];
	struct guard_order o;

	fresh();
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "EURUSDm", out, sizeof(out)), 6);
	CU_ASSERT_STRING_EQUAL(out, "EURUSD");
	memcpy(pol.suffix, ".m", 3);
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "EURUSD.pro", out, sizeof(out)), 8);
	CU_ASSERT_STRING_EQUAL(out, "EURUSD.m");
	memcpy(pol.prefix, "fx.", 4);
	pol.suffix[0] = '\0';
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "eurusd#", out, sizeof(out)), 9);
	CU_ASSERT_STRING_EQUAL(out, "fx.EURUSD");
	memcpy(pol.map[0].from, "XAUUSD", 7);
	memcpy(pol.map[0].to, "GOLD.r", 7);
	pol.map_count = 1;
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "XAUUSD.ecn", out, sizeof(out)), 6);
	CU_ASSERT_STRING_EQUAL(out, "GOLD.r");
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "EURUSD", out, 5), -ENAMETOOLONG);
	/* an unknown instrument maps literally (upper-cased) with the decorations */
	CU_ASSERT_EQUAL(guard_policy_map_symbol(&pol, "us30", out, sizeof(out)), 7);
	CU_ASSERT_STRING_EQUAL(out, "fx.US30");
	memcpy(env.symbol, "XAUUSD", 7);
	CU_ASSERT_EQUAL(run(&o), GUARD_FILTER_NONE);
	CU_ASSERT_STRING_EQUAL(o.symbol, "GOLD.r");
}

static void test_symbol_base_and_pip(void)
{
	static const struct {
		const char *sym, *base;
		int64_t pip;
	} cases[] = {
		{"EURUSD", "EURUSD", 10},     {"EURUSD.m", "EURUSD", 10},
		{"EURUSDm", "EURUSD", 10},    {"eurusd#", "EURUSD", 10},
		{"fx.GBPUSD", "GBPUSD", 10},  {"USDJPY", "USDJPY", 1000},
		{"USDJPY.pro", "USDJPY", 1000}, {"EURJPYm", "EURJPY", 1000},
		{"GBPJPY-ecn", "GBPJPY", 1000}, {"JPYUSD", "JPYUSD", 10},
		{"AUDNZD", "AUDNZD", 10},     {"XAUUSD", "XAUUSD", 10000},
		{"XAUUSD.r", "XAUUSD", 10000},
	};
	char out[GUARD_SYMBOL_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(guard_symbol_base(cases[i].sym, out, sizeof(out)), 6);
		CU_ASSERT_STRING_EQUAL(out, cases[i].base);
		CU_ASSERT_EQUAL(guard_symbol_pip(cases[i].sym), cases[i].pip);
	}
	CU_ASSERT_EQUAL(guard_symbol_base("US30", out, sizeof(out)), -ENOENT);
	CU_ASSERT_STRING_EQUAL(out, "US30");
	CU_ASSERT_EQUAL(guard_symbol_pip("US30"), -ENOENT);
	CU_ASSERT_EQUAL(guard_symbol_base("", out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(guard_symbol_base("EURUSD", out, 6), -ENAMETOOLONG);
	CU_ASSERT_TRUE(guard_symbol_equal("EurUsd", "EURUSD"));
	CU_ASSERT_FALSE(guard_symbol_equal("EURUSD", "EURUS"));
}

static void test_equity_protection(void)
{
	static const struct guard_verifier none = {NULL, NULL};
	struct guard_sub sub;
	struct guard_order o;

	fresh();
	CU_ASSERT_EQUAL_FATAL(guard_sub_init(&sub, 1, &none, 0, 0), 0);
	pol.equity_floor = 8000 * GUARD_MONEY_SCALE;
	pol.max_drawdown_bp = 1000; /* 10% */
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 10000 * GUARD_MONEY_SCALE), 0);
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 12000 * GUARD_MONEY_SCALE), 0);
	CU_ASSERT_EQUAL(sub.st.peak_equity, 12000 * GUARD_MONEY_SCALE);
	/* exactly 10% down: not beyond the limit */
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 10800 * GUARD_MONEY_SCALE), 0);
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 10799 * GUARD_MONEY_SCALE), 1);
	CU_ASSERT_EQUAL(sub.st.equity_tripped, 1);
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 10000 * GUARD_MONEY_SCALE), 0);
	CU_ASSERT_EQUAL(guard_equity_reset(&sub, 10000 * GUARD_MONEY_SCALE), 0);
	CU_ASSERT_EQUAL(sub.st.equity_tripped, 0);
	/* floor */
	CU_ASSERT_EQUAL(guard_equity_update(&sub, &pol, 7999 * GUARD_MONEY_SCALE), 1);
	/* the translate step blocks opening orders only */
	CU_ASSERT_EQUAL(guard_policy_translate(&pol, &env, &view, 10, 0, true, &o),
			GUARD_FILTER_EQUITY);
	env.order_type = GUARD_ORDER_CLOSE;
	view.position.open = true;
	view.position.volume = 10;
	CU_ASSERT_EQUAL(guard_policy_translate(&pol, &env, &view, 10, 0, true, &o),
			GUARD_FILTER_NONE);
	/* off when both limits are 0 */
	guard_policy_init(&pol);
	CU_ASSERT_FALSE(guard_equity_breached(&pol, 10000, 1));
}

/* guard_policy_valid: each rule broken once, from a valid policy (the DLL and
 * decp-subscriber check a delivered CopyPolicy with it). */
static void test_policy_valid(void)
{
	struct guard_policy ok, p;

	guard_policy_init(&ok);
	CU_ASSERT_EQUAL(guard_policy_valid(&ok), 0);
	CU_ASSERT_EQUAL(guard_policy_valid(NULL), -EINVAL);
#define BROKEN(stmt)                                            \
	do {                                                    \
		p = ok;                                         \
		stmt;                                           \
		CU_ASSERT_EQUAL(guard_policy_valid(&p), -EINVAL); \
	} while (0)
	BROKEN(p.map_count = GUARD_POLICY_MAP_MAX + 1);
	BROKEN(p.allow_count = 1); /* an empty entry */
	BROKEN(p.deny_count = GUARD_POLICY_LIST_MAX + 1);
	BROKEN(memset(p.suffix, 'x', sizeof(p.suffix))); /* no NUL */
	BROKEN((p.map_count = 1, snprintf(p.map[0].from, sizeof(p.map[0].from), "XAUUSD")));
	BROKEN(p.type_mask |= 1u);
	BROKEN(p.lot_mode = 0);
	BROKEN(p.lot_multiplier_milli = 0);
	BROKEN((p.lot_mode = GUARD_LOT_FIXED, p.lot_fixed = 0));
	BROKEN((p.lot_mode = GUARD_LOT_EQUITY_RATIO, p.master_equity = 0));
	BROKEN((p.lot_mode = GUARD_LOT_RISK_PERCENT, p.risk_bp = 10001));
	BROKEN(p.max_deviation_pips_x100 = -1);
	BROKEN(p.min_free_funds = -1);
	BROKEN(p.equity_floor = -1);
	BROKEN(p.max_drawdown_bp = 10001);
#undef BROKEN
	p = ok;
	p.map_count = 1;
	snprintf(p.map[0].from, sizeof(p.map[0].from), "XAUUSD");
	snprintf(p.map[0].to, sizeof(p.map[0].to), "GOLD");
	CU_ASSERT_EQUAL(guard_policy_valid(&p), 0);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"policy validity (delivered policies)", test_policy_valid},
		{"lots: fixed", test_lot_fixed},
		{"lots: multiplier, step rounding, min/max", test_lot_multiplier},
		{"lots: equity ratio", test_lot_equity_ratio},
		{"lots: the master's contract size against the broker's", test_lot_contract_size},
		{"lots: risk percent with SL distance and pip value", test_lot_risk_percent},
		{"lots: risk percent by the copy's own stop (reverse, copy_sl)",
		 test_lot_risk_percent_copy_stop},
		{"reverse copy of every order type, SL<->TP", test_reverse_all_types},
		{"SL/TP copy on/off", test_sl_tp_copy},
		{"modification sync", test_modify_sync},
		{"an opening for a ticket held already: HELD", test_opening_held},
		{"symbol and order-type filters", test_filters},
		{"pending orders on/off", test_pending_orders},
		{"close and partial close by ratio", test_close_and_partial},
		{"symbol mapping, prefix/suffix", test_symbol_mapping},
		{"instrument and pip table", test_symbol_base_and_pip},
		{"equity protection floor and drawdown", test_equity_protection},
		{NULL, NULL},
	};
	return gt_run("guard_policy", tests);
}
