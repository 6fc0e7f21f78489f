/*
 * test_sub_account: decp-subscriber's simulated broker account (tools/subscriber/
 * sub_account.h): positions opened, modified, partly and fully closed from the guard's
 * orders, P&L realized into the balance and floating in the equity (EURUSD, USDJPY,
 * EURJPY through a derived rate), margin by the guard's rule, pending orders, close-all.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "sub_account.h"

#define USD(x) ((int64_t)(x) * GUARD_MONEY_SCALE)

static struct sub_quotes q;
static const struct guard_instruments *reg;

/* The master's signal and the guard's order for it (1:1 policy, no reverse). */
static void sig(struct guard_envelope *env, struct guard_order *o, uint32_t type,
		const char *sym, int64_t volume, int64_t price, uint64_t ticket)
{
	memset(env, 0, sizeof(*env));
	memset(o, 0, sizeof(*o));
	env->master_id = 1;
	env->position_ticket = ticket;
	env->order_type = type;
	env->volume = volume;
	env->price = price;
	snprintf(env->symbol, sizeof(env->symbol), "%s", sym);
	snprintf(o->symbol, sizeof(o->symbol), "%s.m", sym);
	o->type = type;
	o->volume = volume;
	o->price = price;
	sub_quotes_set(&q, sym, price);
}

static void test_open_partial_close(void)
{
	struct sub_account a;
	struct guard_envelope env;
	struct guard_order o;
	struct guard_account v;
	int64_t pl;

	memset(&q, 0, sizeof(q));
	CU_ASSERT_EQUAL_FATAL(sub_account_init(&a, "USD", 100, USD(10000)), 0);
	sig(&env, &o, GUARD_ORDER_BUY, "EURUSD", 100, 108000, 7);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	sub_account_view(&a, &q, "EURUSD", &v);
	CU_ASSERT_EQUAL(v.margin, USD(1080));
	CU_ASSERT_EQUAL(v.equity, USD(10000));
	CU_ASSERT_EQUAL(v.free_margin, USD(10000 - 1080));
	/* 20 pips up: +200 USD floating, margin at the new price */
	sub_quotes_set(&q, "EURUSD", 108200);
	sub_account_view(&a, &q, "EURUSD", &v);
	CU_ASSERT_EQUAL(v.equity, USD(10200));
	CU_ASSERT_EQUAL(v.margin, USD(1082));
	/* the master closes 0.40 of his 1.00; we close 0.40 of ours at 1.08200: +80 */
	sig(&env, &o, GUARD_ORDER_CLOSE_PARTIAL, "EURUSD", 40, 108200, 7);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	CU_ASSERT_EQUAL(pl, USD(80));
	CU_ASSERT_EQUAL(a.balance, USD(10080));
	CU_ASSERT_EQUAL(sub_account_find(&a, 1, 7)->volume, 60);
	CU_ASSERT_EQUAL(sub_account_find(&a, 1, 7)->master_volume, 60);
	/* MODIFY sets the exits */
	sig(&env, &o, GUARD_ORDER_MODIFY, "EURUSD", 0, 108200, 7);
	o.sl = 107900;
	o.tp = 108900;
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	CU_ASSERT_EQUAL(sub_account_find(&a, 1, 7)->sl, 107900);
	/* CLOSE at 1.07750: 0.60 x -25 pips = -150 */
	sig(&env, &o, GUARD_ORDER_CLOSE, "EURUSD", 0, 107750, 7);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	CU_ASSERT_EQUAL(pl, -USD(150));
	CU_ASSERT_EQUAL(a.balance, USD(9930));
	CU_ASSERT_PTR_NULL(sub_account_find(&a, 1, 7));
	sub_account_view(&a, &q, NULL, &v);
	CU_ASSERT_EQUAL(v.margin, 0);
	CU_ASSERT_EQUAL(v.equity, USD(9930));
	/* closing what is not held changes nothing */
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), -ENOENT);
	CU_ASSERT_EQUAL(a.balance, USD(9930));
	sub_account_free(&a);
}

static void test_currencies(void)
{
	struct sub_account a;
	struct guard_envelope env;
	struct guard_order o;
	struct guard_account v;
	int64_t pl;

	memset(&q, 0, sizeof(q));
	CU_ASSERT_EQUAL_FATAL(sub_account_init(&a, "USD", 100, USD(10000)), 0);
	/* SELL 1.00 USDJPY (100,000 USD) at 150.000, closed at 149.000: 100,000 JPY, in USD
	 * at the close price: 671.1409 */
	sig(&env, &o, GUARD_ORDER_SELL, "USDJPY", 100, 15000000, 1);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "USDJPY", &o, &q, reg, &pl), 0);
	sub_account_view(&a, &q, "USDJPY", &v);
	CU_ASSERT_EQUAL(v.margin, USD(1000)); /* base = account currency */
	sig(&env, &o, GUARD_ORDER_CLOSE, "USDJPY", 0, 14900000, 1);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "USDJPY", &o, &q, reg, &pl), 0);
	CU_ASSERT_EQUAL(pl, 6711409); /* 100,000 JPY / 149 = 671.1409 USD */
	/* EURJPY: the JPY rate comes from the last USDJPY price (149.000) */
	sig(&env, &o, GUARD_ORDER_BUY, "EURJPY", 100, 16100000, 2);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURJPY", &o, &q, reg, &pl), 0);
	sub_account_view(&a, &q, "EURJPY", &v);
	CU_ASSERT_EQUAL(v.quote_rate, 671); /* 1e10 / 14900000 */
	CU_ASSERT_TRUE(v.margin > USD(1080) && v.margin < USD(1081)); /* 161 x 0.00671 x 1000 */
	/* a pending order takes no margin and has no P&L */
	sig(&env, &o, GUARD_ORDER_BUY_LIMIT, "EURUSD", 50, 107000, 3);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	struct guard_account v2;
	sub_account_view(&a, &q, NULL, &v2);
	CU_ASSERT_EQUAL(v2.margin, v.margin);
	/* MODIFY moves a pending order's price */
	sig(&env, &o, GUARD_ORDER_MODIFY, "EURUSD", 0, 107100, 3);
	CU_ASSERT_EQUAL(sub_account_apply(&a, &env, "EURUSD", &o, &q, reg, &pl), 0);
	CU_ASSERT_EQUAL(sub_account_find(&a, 1, 3)->price, 107100);
	/* close-all of master 1: both gone, EURJPY's P&L (0 at its own price) realized */
	CU_ASSERT_EQUAL(sub_account_close_all(&a, 1, &q, reg), 2);
	CU_ASSERT_EQUAL(a.n, 0);
	sub_account_view(&a, &q, NULL, &v);
	CU_ASSERT_EQUAL(v.margin, 0);
	CU_ASSERT_EQUAL(v.equity, a.balance);
	sub_account_free(&a);
	/* seeded reference prices convert a cross before any master traded USDJPY */
	memset(&q, 0, sizeof(q));
	sub_quotes_seed(&q);
	CU_ASSERT_EQUAL_FATAL(sub_account_init(&a, "USD", 100, USD(10000)), 0);
	sig(&env, &o, GUARD_ORDER_BUY, "EURJPY", 10, 16100000, 4);
	sub_account_view(&a, &q, "EURJPY", &v);
	CU_ASSERT_EQUAL(v.quote_rate, 666); /* 1e10 / 15000000 */
	sub_account_free(&a);
	CU_ASSERT_EQUAL(sub_account_init(&a, "usd", 100, 0), -EINVAL);
	CU_ASSERT_EQUAL(sub_account_init(&a, "USD", 0, 0), -EINVAL);
}

int main(void)
{
	reg = guard_instruments_builtin();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("sub_account", NULL, NULL);
	CU_add_test(s, "open, partial close, modify, close: P&L and margin", test_open_partial_close);
	CU_add_test(s, "USDJPY, EURJPY by a derived rate, pending orders, close-all",
		    test_currencies);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
