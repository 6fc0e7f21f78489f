/* CUnit: guard_resync, the re-sync plan (guard_resync.h), every rule and idempotency. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "guard_test_util.h"

#define MAXA 512

/* The market of the tests: every instrument quoted at its price in `px` (bid = ask), or
 * `off` price units away; a symbol named "NOQUOTE" has no quote. */
struct mkt {
	int64_t off;
	const char *sym[8];
	int64_t px[8];
	int n;
	bool acct;           /* a known broker account with this free margin */
	int64_t free_margin;
};

static int64_t view_min = 1; /* the broker's minimum volume in every view */
static int64_t view_contract; /* the broker's contract size in every view (0: unknown) */
static int64_t view_equity = 10000000; /* the equity in every view (0: none given) */

static void view_of(void *ctx, const char *sym, struct guard_view *v)
{
	struct mkt *m = ctx;

	v->spec.vol_min = view_min;
	v->spec.vol_max = 100000;
	v->spec.vol_step = 1;
	v->spec.pip_value = 100000;
	v->spec.contract = view_contract;
	v->equity = view_equity;
	v->instruments = guard_instruments_builtin();
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->sym[i], sym) == 0)
			v->quote.bid = v->quote.ask = m->px[i] + m->off;
	if (m->acct) {
		v->account.known = true;
		memcpy(v->account.currency, "USD", 4);
		v->account.leverage = 100;
		v->account.balance = v->account.equity = 10000 * GUARD_MONEY_SCALE;
		v->account.free_margin = m->free_margin;
	}
}

static struct mkt g_mkt = {0, {"EURUSD", "GBPUSD", "XAUUSD"}, {108120, 126510, 203450000}, 3,
			   false, 0};

static struct guard_book_entry entry(uint64_t t, uint32_t type, const char *sym, int64_t vol,
				     int64_t price, int64_t sl, int64_t tp)
{
	struct guard_book_entry e;

	memset(&e, 0, sizeof(e));
	e.ticket = t;
	e.type = type;
	snprintf(e.symbol, sizeof(e.symbol), "%s", sym);
	e.volume = vol;
	e.price = price;
	e.sl = sl;
	e.tp = tp;
	return e;
}

static struct guard_held held(uint64_t t, uint32_t type, const char *sym, int64_t vol,
			      int64_t price, int64_t sl, int64_t tp)
{
	struct guard_held h;

	memset(&h, 0, sizeof(h));
	h.master_ticket = t;
	h.type = type;
	snprintf(h.symbol, sizeof(h.symbol), "%s", sym);
	h.volume = vol;
	h.price = price;
	h.sl = sl;
	h.tp = tp;
	return h;
}

static long plan(const struct guard_policy *p, const struct guard_book_entry *b, size_t nb,
		 const struct guard_held *h, size_t nh, struct guard_resync_action *out)
{
	return guard_resync_plan(p, false, 77, view_of, &g_mkt, b, nb, h, nh, out, MAXA);
}

/* What an EA does with the plan (decp-subscriber's sub_account, reduced to the fields). */
static size_t apply(struct guard_held *h, size_t n, const struct guard_resync_action *a,
		    long na)
{
	for (long k = 0; k < na; k++) {
		size_t i;

		for (i = 0; i < n && h[i].master_ticket != a[k].order.master_ticket; i++)
			;
		switch (a[k].op) {
		case GUARD_RESYNC_OPEN:
			h[n] = held(a[k].order.master_ticket, a[k].order.type, a[k].order.symbol,
				    a[k].order.volume, a[k].order.price, a[k].order.sl, a[k].order.tp);
			h[n].master_volume = a[k].master_volume;
			n++;
			break;
		case GUARD_RESYNC_CLOSE:
			CU_ASSERT_FATAL(i < n);
			h[i] = h[--n];
			break;
		case GUARD_RESYNC_REDUCE:
			CU_ASSERT_FATAL(i < n);
			h[i].volume -= a[k].order.volume;
			h[i].master_volume = a[k].master_volume; /* in line with E again */
			CU_ASSERT(h[i].volume > 0);
			break;
		case GUARD_RESYNC_MODIFY:
			CU_ASSERT_FATAL(i < n);
			h[i].sl = a[k].order.sl;
			h[i].tp = a[k].order.tp;
			if (a[k].order.price > 0)
				h[i].price = a[k].order.price;
			break;
		case GUARD_RESYNC_SKIP:
			break;
		}
	}
	return n;
}

static long orders_of(const struct guard_resync_action *a, long n)
{
	long k = 0;

	for (long i = 0; i < n; i++)
		k += a[i].op != GUARD_RESYNC_SKIP;
	return k;
}

static void test_empty_and_args(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0);

	guard_policy_init(&p);
	CU_ASSERT_EQUAL(plan(&p, NULL, 0, NULL, 0, a), 0);
	CU_ASSERT_EQUAL(guard_resync_plan(NULL, false, 1, view_of, &g_mkt, NULL, 0, NULL, 0, a,
					  MAXA), -EINVAL);
	CU_ASSERT_EQUAL(guard_resync_plan(&p, false, 1, NULL, &g_mkt, NULL, 0, NULL, 0, a, MAXA),
			-EINVAL);
	CU_ASSERT_EQUAL(guard_resync_plan(&p, false, 1, view_of, &g_mkt, NULL, 1, NULL, 0, a,
					  MAXA), -EINVAL);
	CU_ASSERT_EQUAL(guard_resync_plan(&p, false, 1, view_of, &g_mkt, &b, 1, NULL, 0, a, 0),
			-ENOBUFS);
	p.lot_mode = 0;
	CU_ASSERT_EQUAL(plan(&p, &b, 1, NULL, 0, a), -EINVAL);
	CU_ASSERT_STRING_EQUAL(guard_resync_op_name(GUARD_RESYNC_REDUCE), "REDUCE");
	CU_ASSERT_STRING_EQUAL(guard_resync_op_name((enum guard_resync_op)99), "?");
}

/* Missing position: opened as the policy maps it (suffix, 2x, reverse: SELL with the
 * master's TP as its SL), at the current quote, carrying the snapshot's sequence. */
static void test_open_missing_mapped(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(5, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 107900, 108500);
	long n;

	guard_policy_init(&p);
	p.lot_multiplier_milli = 2000;
	snprintf(p.suffix, sizeof(p.suffix), ".m");
	p.reverse = true;
	g_mkt.off = 5; /* half a pip: within the default 3 pips */
	n = plan(&p, &b, 1, NULL, 0, a);
	g_mkt.off = 0;
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_STRING_EQUAL(a[0].order.symbol, "EURUSD.m");
	CU_ASSERT_EQUAL(a[0].order.type, GUARD_ORDER_SELL);
	CU_ASSERT_EQUAL(a[0].order.volume, 20);
	CU_ASSERT_EQUAL(a[0].order.sl, 108500);
	CU_ASSERT_EQUAL(a[0].order.tp, 107900);
	CU_ASSERT_EQUAL(a[0].order.price, 108125);
	CU_ASSERT_EQUAL(a[0].order.master_ticket, 5);
	CU_ASSERT_EQUAL(a[0].order.sequence, 77);
	CU_ASSERT_EQUAL(a[0].master_volume, 10);
}

/* Held, master closed it: CLOSE, before any open; unless CLOSE is masked out. */
static void test_close_extra(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(2, GUARD_ORDER_BUY, "GBPUSD", 10, 126510, 0, 0);
	struct guard_held h = held(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0);
	long n;

	guard_policy_init(&p);
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_CLOSE);
	CU_ASSERT_EQUAL(a[0].order.master_ticket, 1);
	CU_ASSERT_EQUAL(a[0].order.volume, 10);
	CU_ASSERT_STRING_EQUAL(a[0].order.symbol, "EURUSD");
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_EQUAL(a[1].order.master_ticket, 2);
	p.type_mask &= ~GUARD_ORDER_BIT(GUARD_ORDER_CLOSE);
	n = plan(&p, NULL, 0, &h, 1, a);
	CU_ASSERT_EQUAL(n, 0);
}

/* Partial close to size; a smaller copy is kept; a rest below the minimum closes all. */
static void test_reduce(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(3, GUARD_ORDER_SELL, "EURUSD", 7, 108120, 0, 0);
	struct guard_held h = held(3, GUARD_ORDER_SELL, "EURUSD", 30, 108120, 0, 0);
	long n;

	guard_policy_init(&p);
	p.lot_multiplier_milli = 3000; /* target 21 */
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_REDUCE);
	CU_ASSERT_EQUAL(a[0].order.volume, 9);
	CU_ASSERT_EQUAL(a[0].order.type, GUARD_ORDER_SELL);
	CU_ASSERT_EQUAL(a[0].master_volume, 7);
	h.volume = 15; /* below the target: never topped up */
	CU_ASSERT_EQUAL(plan(&p, &b, 1, &h, 1, a), 0);
	/* fixed 0.05 lot with a minimum the target does not reach: the copy closes */
	p.lot_mode = GUARD_LOT_MULTIPLIER;
	p.lot_multiplier_milli = 100; /* 7 * 0.1 = 0.7 -> 0 after rounding: below vol_min */
	h.volume = 4;
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL(n, 0); /* the policy filters E (LOT_BELOW_MIN): held is left alone */
}

/* A copy held follows its master's partial closes as the live path would (the same ratio of
 * the copy, rounded down; the rest below the minimum closes it), whatever the policy would
 * do with the entry opened now: a lot below the minimum, equity protection or a symbol
 * denied since stop new copies, not a held one's management; and sizing by today's equity
 * never cuts a copy its master did not cut. */
static void test_held_follows_master(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(1, GUARD_ORDER_BUY, "EURUSD", 5, 108120, 0, 0);
	struct guard_held h = held(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0);
	long n;

	/* 0.1 x the master: opened 0.10 lot when he held 1.00; he is down to 0.05, which
	 * the policy would not open now (0.005 lot): the copy goes down by the same ratio */
	guard_policy_init(&p);
	p.lot_multiplier_milli = 100;
	h.master_volume = 100;
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_REDUCE);
	CU_ASSERT_EQUAL(a[0].order.volume, 9); /* 10 x 95/100 rounded down; 0.01 left */
	CU_ASSERT_EQUAL(a[0].master_volume, 5);
	h.volume = 9; /* with 0.09 held and a minimum of 0.05, the rest (0.01) is below it */
	view_min = 5;
	n = plan(&p, &b, 1, &h, 1, a);
	view_min = 1;
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_CLOSE);
	CU_ASSERT_EQUAL(a[0].order.volume, 9);
	/* equity protection tripped: no new exposure, but the copy still follows the master
	 * down and takes his new exits */
	guard_policy_init(&p);
	b = entry(2, GUARD_ORDER_BUY, "EURUSD", 30, 108120, 107800, 108600);
	h = held(2, GUARD_ORDER_BUY, "EURUSD", 100, 108120, 107900, 108500);
	h.master_volume = 100;
	n = guard_resync_plan(&p, true, 77, view_of, &g_mkt, &b, 1, &h, 1, a, MAXA);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_REDUCE);
	CU_ASSERT_EQUAL(a[0].order.volume, 70);
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_MODIFY);
	CU_ASSERT_EQUAL(a[1].order.sl, 107800);
	CU_ASSERT_EQUAL(a[1].order.tp, 108600);
	/* sized by equity: the subscriber's equity fell 10 % since the copy opened (the
	 * policy would open 0.90 now), the master cut nothing: nothing is cut */
	guard_policy_init(&p);
	p.lot_mode = GUARD_LOT_EQUITY_RATIO;
	p.master_equity = 11111111; /* view equity 10,000,000: 100 x 0.9 = 90 */
	b = entry(3, GUARD_ORDER_BUY, "EURUSD", 100, 108120, 0, 0);
	h = held(3, GUARD_ORDER_BUY, "EURUSD", 100, 108120, 0, 0);
	h.master_volume = 100;
	CU_ASSERT_EQUAL(plan(&p, &b, 1, &h, 1, a), 0);
	h.master_volume = 0; /* not known (decp.dll's copies): cut to what the policy opens */
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_REDUCE);
	CU_ASSERT_EQUAL(a[0].order.volume, 10);
	/* a symbol denied since the copy opened: still modified with the master's position
	 * and closed when he closed it; never a new copy */
	guard_policy_init(&p);
	p.deny_count = 1;
	snprintf(p.deny[0], sizeof(p.deny[0]), "EURUSD");
	b = entry(4, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 107800, 0);
	h = held(4, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 107900, 0);
	h.master_volume = 10;
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_MODIFY);
	CU_ASSERT_EQUAL(a[0].order.sl, 107800);
	n = plan(&p, NULL, 0, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_CLOSE);
	n = plan(&p, &b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_SKIP);
	CU_ASSERT_EQUAL(a[0].filter, GUARD_FILTER_SYMBOL);
}

/* SL/TP fix (and a pending order's price) when modifications are synced. */
static void test_modify(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b[2] = {
		entry(4, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 107800, 108600),
		entry(9, GUARD_ORDER_BUY_LIMIT, "GBPUSD", 10, 126000, 125500, 0)};
	struct guard_held h[2] = {held(4, GUARD_ORDER_BUY, "EURUSD", 10, 108100, 107900, 108500),
				  held(9, GUARD_ORDER_BUY_LIMIT, "GBPUSD", 10, 126100, 125500, 0)};
	long n;

	guard_policy_init(&p);
	n = plan(&p, b, 2, h, 2, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_MODIFY);
	CU_ASSERT_EQUAL(a[0].order.sl, 107800);
	CU_ASSERT_EQUAL(a[0].order.tp, 108600);
	CU_ASSERT_EQUAL(a[0].order.price, 0); /* a position's open price is not moved */
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_MODIFY);
	CU_ASSERT_EQUAL(a[1].order.price, 126000);
	p.copy_tp = false; /* the copy's TP target is 0 */
	h[0].sl = 107800;
	h[0].tp = 0;
	h[1].price = 126000;
	CU_ASSERT_EQUAL(plan(&p, b, 2, h, 2, a), 0);
	h[0].sl = 1;
	p.sync_modify = false;
	CU_ASSERT_EQUAL(plan(&p, b, 2, h, 2, a), 0);
}

/* Never opens what the policy denies; a held copy of a now-denied symbol stays. */
static void test_policy_denies(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b[2] = {entry(1, GUARD_ORDER_BUY, "XAUUSD", 10, 203450000, 0, 0),
					entry(2, GUARD_ORDER_SELL_STOP, "EURUSD", 10, 107000, 0, 0)};
	struct guard_held h = held(1, GUARD_ORDER_BUY, "XAUUSD", 10, 203450000, 0, 0);
	long n;

	guard_policy_init(&p);
	p.deny_count = 1;
	snprintf(p.deny[0], sizeof(p.deny[0]), "XAUUSD");
	guard_policy_pending(&p, false);
	n = plan(&p, b, 2, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_SKIP);
	CU_ASSERT_EQUAL(a[0].reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(a[0].filter, GUARD_FILTER_SYMBOL);
	CU_ASSERT_EQUAL(a[1].filter, GUARD_FILTER_ORDER_TYPE);
	CU_ASSERT_EQUAL(plan(&p, b, 1, &h, 1, a), 0);
	/* equity protection tripped: no new exposure */
	guard_policy_init(&p);
	n = guard_resync_plan(&p, true, 1, view_of, &g_mkt, b, 1, NULL, 0, a, MAXA);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].filter, GUARD_FILTER_EQUITY);
}

/* The equity floor is checked on the view, as the live check does (guard_equity_breached
 * on view.equity), not only through the persisted flag: a re-sync at a reconnect comes
 * before any signal or account update could trip it, and must not open the master's book
 * into an account below the subscriber's floor. A held copy is still managed. */
static void test_equity_floor_view(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b[2] = {entry(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0),
					entry(2, GUARD_ORDER_SELL, "GBPUSD", 10, 126510, 0, 126000)};
	struct guard_held h = held(2, GUARD_ORDER_SELL, "GBPUSD", 10, 126510, 0, 0);
	long n;

	guard_policy_init(&p);
	p.equity_floor = 2000 * GUARD_MONEY_SCALE; /* the views' equity is 1,000 */
	n = plan(&p, b, 2, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_MODIFY); /* the held copy's TP */
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_SKIP);
	CU_ASSERT_EQUAL(a[1].reason, GUARD_REASON_FILTERED);
	CU_ASSERT_EQUAL(a[1].filter, GUARD_FILTER_EQUITY);
	p.equity_floor = 1000 * GUARD_MONEY_SCALE; /* at the floor: not below it, opens */
	n = plan(&p, b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	/* a view without an equity and no account: unknown, not below the floor */
	p.equity_floor = 2000 * GUARD_MONEY_SCALE;
	view_equity = 0;
	n = plan(&p, b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	/* ... with a known account, its equity counts (10,000 here: above the floor; 1,000
	 * below a floor of 20,000) */
	g_mkt.acct = true;
	g_mkt.free_margin = 10000 * GUARD_MONEY_SCALE;
	n = plan(&p, b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	p.equity_floor = 20000 * GUARD_MONEY_SCALE;
	n = plan(&p, b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].filter, GUARD_FILTER_EQUITY);
	g_mkt.acct = false;
	g_mkt.free_margin = 0;
	view_equity = 10000000;
}

/* Opens are price-checked like live ones: too far, no quote, unknown instrument. */
static void test_price_checks(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b[3] = {entry(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0),
					entry(2, GUARD_ORDER_BUY, "USDCAD", 10, 136000, 0, 0),
					entry(3, GUARD_ORDER_SELL, "FOOBAR", 10, 100000, 0, 0)};
	long n;

	guard_policy_init(&p);
	g_mkt.off = 31; /* 3.1 pips */
	n = plan(&p, b, 3, NULL, 0, a);
	g_mkt.off = 0;
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(a[0].reason, GUARD_REASON_PRICE_DEVIATION);
	CU_ASSERT_EQUAL(a[0].deviation_pips_x100, 310);
	CU_ASSERT_EQUAL(a[1].reason, GUARD_REASON_PRICE_DEVIATION); /* no quote: fail closed */
	CU_ASSERT_EQUAL(a[2].reason, GUARD_REASON_UNKNOWN_INSTRUMENT);
	g_mkt.off = 30; /* exactly 3 pips passes */
	n = plan(&p, b, 1, NULL, 0, a);
	g_mkt.off = 0;
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	/* risk-percent sizing of an unknown instrument: reported as unknown, as live */
	p.lot_mode = GUARD_LOT_RISK_PERCENT;
	p.risk_bp = 100;
	b[0] = entry(1, GUARD_ORDER_BUY, "USDSEK", 10, 1050000, 1045000, 0);
	n = plan(&p, b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].reason, GUARD_REASON_UNKNOWN_INSTRUMENT);
}

/* With a known account, opens take margin as the live check computes it: the free margin
 * before the plan pays for the first of two equal opens, not for the second. */
static void test_margin(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b[2] = {entry(1, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0),
					entry(2, GUARD_ORDER_SELL, "EURUSD", 10, 108120, 0, 0)};
	struct guard_account acct = {.known = true, .currency = "USD", .leverage = 100};
	int64_t need = 0;
	long n;

	CU_ASSERT_EQUAL_FATAL(guard_margin_needed(guard_instrument_find(
					guard_instruments_builtin(), "EURUSD"), 0, &acct, 10, 108120,
				  &need), 0);
	CU_ASSERT(need > 0);
	guard_policy_init(&p);
	g_mkt.acct = true;
	g_mkt.free_margin = need + need / 2;
	n = plan(&p, b, 2, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_EQUAL(a[0].order.master_ticket, 1);
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_SKIP);
	CU_ASSERT_EQUAL(a[1].reason, GUARD_REASON_INSUFFICIENT_MARGIN);
	CU_ASSERT_EQUAL(a[1].margin_needed, need);
	g_mkt.free_margin = 2 * need; /* exactly enough for both */
	n = plan(&p, b, 2, NULL, 0, a);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(orders_of(a, n), 2);
	g_mkt.acct = false;
}

/* Pending orders: placed at their own price without a quote check, deleted when gone. */
/* The master's lots are the registry's contract (gold: 100 oz); a broker of 1 oz lots
 * holds the same ounces in 100x the lots: a re-sync opens that, and keeps a copy of that
 * size rather than cutting it to the master's lot count. */
static void test_contract(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(3, GUARD_ORDER_BUY, "XAUUSD", 100, 203450000, 0, 0);
	struct guard_held h = held(3, GUARD_ORDER_BUY, "XAUUSD", 10000, 203450000, 0, 0);
	long n;

	guard_policy_init(&p);
	view_contract = 1 * GUARD_CONTRACT_SCALE;
	n = plan(&p, &b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_EQUAL(a[0].order.volume, 10000);
	CU_ASSERT_EQUAL(a[0].master_volume, 100);
	/* the copy held (its master volume unknown): in line, nothing to do */
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL(n, 0);
	/* with its master volume: the master halved his position since: the copy halves */
	h.master_volume = 200;
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_REDUCE);
	CU_ASSERT_EQUAL(a[0].order.volume, 5000);
	/* the broker's contract unknown: the master's lots as they are */
	view_contract = 0;
	n = plan(&p, &b, 1, NULL, 0, a);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(a[0].order.volume, 100);
}

static void test_pending(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(6, GUARD_ORDER_SELL_LIMIT, "USDCAD", 10, 137000, 0, 0);
	struct guard_held h = held(8, GUARD_ORDER_BUY_STOP, "EURUSD", 10, 109000, 0, 0);
	long n;

	guard_policy_init(&p);
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_CLOSE);
	CU_ASSERT_EQUAL(a[0].order.type, GUARD_ORDER_BUY_STOP);
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_EQUAL(a[1].order.type, GUARD_ORDER_SELL_LIMIT);
	CU_ASSERT_EQUAL(a[1].order.price, 137000);
}

/* The policy changed since the copy was made (now reversed): the copy is closed and the
 * target opened. */
static void test_direction_changed(void)
{
	struct guard_policy p;
	struct guard_resync_action a[MAXA];
	struct guard_book_entry b = entry(4, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0);
	struct guard_held h = held(4, GUARD_ORDER_BUY, "EURUSD", 10, 108120, 0, 0);
	long n;

	guard_policy_init(&p);
	p.reverse = true;
	n = plan(&p, &b, 1, &h, 1, a);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(a[0].op, GUARD_RESYNC_CLOSE);
	CU_ASSERT_EQUAL(a[1].op, GUARD_RESYNC_OPEN);
	CU_ASSERT_EQUAL(a[1].order.type, GUARD_ORDER_SELL);
}

/* Random books and accounts under random policies: the plan applied once converges (every
 * copied entry held as the policy maps it, nothing else held), a second plan has no order
 * (idempotent), and closes come before opens. */
static void test_random_idempotent(void)
{
	static const char *const syms[3] = {"EURUSD", "GBPUSD", "XAUUSD"};
	static const int64_t px[3] = {108120, 126510, 203450000};
	unsigned seed = 12345;
	struct guard_resync_action a[MAXA];

	for (int it = 0; it < 2000; it++) {
		struct guard_policy p;
		struct guard_book_entry b[40];
		struct guard_held h[120];
		size_t nb = 0, nh = 0;
		long n, k;

		guard_policy_init(&p);
		p.lot_multiplier_milli = 1000 * (1 + rand_r(&seed) % 3);
		p.reverse = rand_r(&seed) % 2;
		if (rand_r(&seed) % 2)
			snprintf(p.suffix, sizeof(p.suffix), ".r");
		if (rand_r(&seed) % 3 == 0) {
			p.deny_count = 1;
			snprintf(p.deny[0], sizeof(p.deny[0]), "GBPUSD");
		}
		p.copy_tp = rand_r(&seed) % 2;
		for (int t = 1; t <= 30; t++) {
			int s = rand_r(&seed) % 3;
			uint32_t type = rand_r(&seed) % 2 ? GUARD_ORDER_BUY : GUARD_ORDER_SELL;
			int64_t vol = 1 + rand_r(&seed) % 20;
			int64_t sl = rand_r(&seed) % 2 ? px[s] - 300 : 0;
			char bsym[GUARD_SYMBOL_MAX];

			bool in_book = rand_r(&seed) % 3 != 0;

			if (in_book)
				b[nb++] = entry((uint64_t)t, type, syms[s], vol, px[s], sl, 0);
			if (rand_r(&seed) % 2 == 0) {
				/* some copy of the ticket, maybe stale in every field */
				snprintf(bsym, sizeof(bsym), "%s%s", syms[rand_r(&seed) % 3],
					 rand_r(&seed) % 2 ? ".r" : "");
				h[nh++] = held((uint64_t)t, rand_r(&seed) % 2 ? GUARD_ORDER_BUY
									 : GUARD_ORDER_SELL,
					       bsym, 1 + rand_r(&seed) % 60, px[s], sl,
					       rand_r(&seed) % 2 ? 5 : 0);
				if (in_book && rand_r(&seed) % 2) {
					/* a copy opened when the master held more, sized then as
					 * now: the master has partly closed since */
					int64_t mv = vol + rand_r(&seed) % 10;

					h[nh - 1].master_volume = mv;
					h[nh - 1].volume = mv * p.lot_multiplier_milli / 1000;
				}
			}
		}
		if (it % 2) {
			/* every other round unsorted: the plan's linear lookups, not the binary
			 * searches it uses on arrays sorted by ticket */
			for (size_t i = 0; i < nb / 2; i++) {
				struct guard_book_entry x = b[i];

				b[i] = b[nb - 1 - i];
				b[nb - 1 - i] = x;
			}
			for (size_t i = 0; i < nh / 2; i++) {
				struct guard_held x = h[i];

				h[i] = h[nh - 1 - i];
				h[nh - 1 - i] = x;
			}
		}
		n = guard_resync_plan(&p, false, 9, view_of, &g_mkt, b, nb, h, nh, a, MAXA);
		CU_ASSERT_FATAL(n >= 0);
		for (long i = 1; i < n; i++)
			CU_ASSERT(a[i - 1].op <= a[i].op);
		nh = apply(h, nh, a, n);
		k = guard_resync_plan(&p, false, 9, view_of, &g_mkt, b, nb, h, nh, a, MAXA);
		CU_ASSERT_FATAL(k >= 0);
		CU_ASSERT_EQUAL(orders_of(a, k), 0);
		/* converged: each held copy belongs to an entry the policy copies, with the
		 * policy's symbol and side, never above the target volume */
		for (size_t i = 0; i < nh; i++) {
			const struct guard_book_entry *e = NULL;
			char want[GUARD_SYMBOL_MAX];

			for (size_t j = 0; j < nb; j++)
				if (b[j].ticket == h[i].master_ticket)
					e = &b[j];
			CU_ASSERT_FATAL(e != NULL);
			if (guard_policy_symbol_allowed(&p, e->symbol)) {
				guard_policy_map_symbol(&p, e->symbol, want, sizeof(want));
				CU_ASSERT_STRING_EQUAL(h[i].symbol, want);
				CU_ASSERT_EQUAL(h[i].type, p.reverse ? guard_order_reverse(e->type)
								     : e->type);
				CU_ASSERT(h[i].volume <= e->volume * p.lot_multiplier_milli / 1000);
			}
		}
		for (size_t j = 0; j < nb; j++) {
			bool have = false;

			for (size_t i = 0; i < nh; i++)
				have |= h[i].master_ticket == b[j].ticket;
			/* every copied entry is held (all quotes are at the master's price);
			 * a copy of a denied one may stay (the live path leaves it too) */
			if (guard_policy_symbol_allowed(&p, b[j].symbol))
				CU_ASSERT(have);
		}
	}
}

/* guard_book_entry_set: a snapshot entry from its wire fields, every refusal. */
static void test_entry_set(void)
{
	struct guard_book_entry e;
	char longest[GUARD_SYMBOL_MAX], too_long[GUARD_SYMBOL_MAX + 1];

	memset(longest, 'A', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'A', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 7, GUARD_ORDER_BUY_LIMIT, "EURUSD", 10, 110000, 109000,
					     112000, 99), 0);
	CU_ASSERT_EQUAL(e.ticket, 7);
	CU_ASSERT_EQUAL(e.type, GUARD_ORDER_BUY_LIMIT);
	CU_ASSERT_STRING_EQUAL(e.symbol, "EURUSD");
	CU_ASSERT(e.volume == 10 && e.price == 110000 && e.sl == 109000 && e.tp == 112000 &&
		  e.expiration_ns == 99);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 8, GUARD_ORDER_SELL, longest, 1, 0, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(strlen(e.symbol), GUARD_SYMBOL_MAX - 1);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 8, GUARD_ORDER_SELL, too_long, 1, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 0, GUARD_ORDER_BUY, "EURUSD", 1, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 1, GUARD_ORDER_BUY, "EURUSD", 0, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 1, GUARD_ORDER_BUY, "", 1, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 1, GUARD_ORDER_BUY, NULL, 1, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 1, GUARD_ORDER_CLOSE, "EURUSD", 1, 0, 0, 0, 0), -EPROTO);
	CU_ASSERT_EQUAL(guard_book_entry_set(&e, 1, GUARD_ORDER_MODIFY, "EURUSD", 1, 0, 0, 0, 0), -EPROTO);
}

int main(void)
{
	static const struct gt_test tests[] = {
		{"guard_book_entry_set: fields, every refusal", test_entry_set},
		{"empty plan, argument checks", test_empty_and_args},
		{"open a missing position as the policy maps it", test_open_missing_mapped},
		{"close what the master closed (CLOSE mask respected)", test_close_extra},
		{"partial close to size, never top up", test_reduce},
		{"a held copy follows its master whatever the policy opens now",
		 test_held_follows_master},
		{"SL/TP and pending price fix, sync_modify", test_modify},
		{"never open what the policy denies", test_policy_denies},
		{"equity below the floor in the view: no open, held managed", test_equity_floor_view},
		{"price deviation, no quote, unknown instrument", test_price_checks},
		{"margin of the opens against the free margin", test_margin},
		{"pending orders placed and deleted", test_pending},
		{"the broker's contract size: opens sized, held copies kept", test_contract},
		{"policy changed direction: close and reopen", test_direction_changed},
		{"2,000 random books (sorted and not): converges, idempotent", test_random_idempotent},
		{NULL, NULL},
	};
	return gt_run("guard_resync", tests);
}
