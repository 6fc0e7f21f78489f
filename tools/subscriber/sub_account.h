/*
 * sub_account: decp-subscriber's simulated broker account (issue 19): balance, leverage,
 * the positions and pending orders its executions opened, their margin and floating P&L
 * from the last prices seen. The guard reads it through struct guard_account (the margin
 * check, equity protection) and struct guard_position (CLOSE, MODIFY, CLOSE_PARTIAL act
 * on the copied position, or are refused NO_POSITION when there is none).
 *
 * The simulated market: the last price of each instrument is the last price a master
 * traded it at (sub_quotes, shared by every simulated account of the process). A market
 * order fills at the signal's price; a pending order is kept as placed and never fills
 * (there is no price path); closes realize P&L into the balance.
 *
 * Money is 1e-4 of the account currency, prices 1e-5, volumes 0.01 lot (guard_types.h);
 * integer arithmetic only. P&L of a position at price p:
 *     units = volume / 100 * contract_size            (base currency)
 *     P&L   = units * (p - open) (buy) or (open - p) (sell), in the quote currency,
 * converted into the account currency: x1 when the quote is the account's, / p when the
 * base is, else x the quote currency's rate derived from the last prices (QUOTE+ACCOUNT
 * or ACCOUNT+QUOTE pair seen), 0 when none was seen (counted as no P&L). Each amount is
 * rounded half away from zero to the money unit. A close realizes its P&L at the close's
 * fill price: the figure ExecutionReport.realized_profit carries (issue 20), so the
 * subscription's profit on the server is this account's realized P&L.
 *
 * Margin per instrument is computed on the summed volume at the last price (one rounding
 * per instrument, not per position).
 *
 * Thread: one owner (decp-subscriber's lws thread). Allocation: positions grow by doubling.
 */
#ifndef DECP_SUB_ACCOUNT_H
#define DECP_SUB_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "guard.h"

#define SUB_QUOTES_MAX 128

struct sub_quotes {
	struct {
		char instrument[GUARD_SYMBOL_MAX];
		int64_t price;
	} q[SUB_QUOTES_MAX];
	size_t n;
};

/* Remembers instrument's last price (> 0). A full table keeps its first
 * SUB_QUOTES_MAX instruments. */
void sub_quotes_set(struct sub_quotes *q, const char *instrument, int64_t price);
/* Reference prices of the majors (EURUSD, GBPUSD, AUDUSD, NZDUSD, USDJPY, USDCHF,
 * USDCAD), so a cross can be converted into the account currency before a master has
 * traded the pair that converts it; a master's price replaces each. */
void sub_quotes_seed(struct sub_quotes *q);
/* The last price of instrument, 0 when never seen. */
int64_t sub_quotes_get(const struct sub_quotes *q, const char *instrument);

struct sub_position {
	uint64_t master, ticket;              /* the master's position or order it copies */
	char instrument[GUARD_SYMBOL_MAX];    /* registry name, e.g. "EURUSD" */
	char symbol[GUARD_SYMBOL_MAX];        /* broker symbol after the copy policy */
	uint32_t type;                        /* enum guard_order_type: BUY, SELL or pending */
	int64_t volume;                       /* subscriber's, 0.01 lot */
	int64_t master_volume;                /* the master's volume of it now */
	int64_t price, sl, tp;                /* open (or pending) price, exits; 1e-5 */
};

/* Per instrument, the sums the account's view needs (margin and P&L are linear in the
 * volumes at one price), so a view costs one step per instrument held, not per position. */
struct sub_exposure {
	char instrument[GUARD_SYMBOL_MAX];
	const struct guard_instrument *in; /* registry entry (NULL: not in it) */
	int64_t gross;        /* sum of volumes of open BUY and SELL positions */
	int64_t net;          /* sum of signed volumes: + buy, - sell */
	__int128 net_cost;    /* sum of signed volume x open price */
};

struct sub_account {
	char currency[4];
	uint32_t leverage;
	int64_t balance;      /* money: deposits plus realized P&L */
	struct sub_position *pos;
	size_t n, cap;
	struct sub_exposure *ex;
	size_t nex, excap;
};

/* A new account: currency three upper-case letters, leverage >= 1, balance >= 0.
 * Returns 0 or -EINVAL. */
int sub_account_init(struct sub_account *a, const char *currency, uint32_t leverage,
		     int64_t balance);
void sub_account_free(struct sub_account *a);

/* The position or pending order copying (master, ticket), NULL when none. */
const struct sub_position *sub_account_find(const struct sub_account *a, uint64_t master,
					    uint64_t ticket);

/* Floating P&L of p at the last prices (money; 0 for pending orders or unknown prices). */
int64_t sub_position_profit(const struct sub_account *a, const struct sub_position *p,
			    const struct sub_quotes *q, const struct guard_instruments *reg);

/*
 * The account as the guard sees it (known = true): balance, equity = balance + floating
 * P&L, margin of the open positions at the last prices (guard_margin_needed), free
 * margin; quote_rate for `instrument` (the order's; NULL = none) when neither of its
 * currencies is the account's.
 */
void sub_account_view(const struct sub_account *a, const struct sub_quotes *q,
		      const char *instrument, struct guard_account *out);

/*
 * Books an executed order (the guard's translated order `o` for the master's signal
 * `env`): BUY/SELL open a position at o->price (the fill), a pending type places an
 * order, CLOSE removes the position (its P&L at o->price realized into the balance) or
 * the pending order, CLOSE_PARTIAL closes o->volume of it (the master's volume of the
 * position shrinks by env->volume), MODIFY sets the exits (and a pending order's price).
 * *realized (may be NULL) receives the P&L realized (money). Returns 0, -ENOENT (no such
 * position: nothing changed), -ENOMEM.
 */
int sub_account_apply(struct sub_account *a, const struct guard_envelope *env,
		      const char *instrument, const struct guard_order *o,
		      const struct sub_quotes *q, const struct guard_instruments *reg,
		      int64_t *realized);

/* Removes every position and pending order of master (equity protection's "close all"),
 * realizing their P&L at the last prices. Returns how many were removed. */
size_t sub_account_close_all(struct sub_account *a, uint64_t master, const struct sub_quotes *q,
			     const struct guard_instruments *reg);

#endif
