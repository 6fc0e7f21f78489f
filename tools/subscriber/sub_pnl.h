/*
 * sub_pnl: decp-subscriber's simulated position book and realized P&L (issue 20 item 4):
 * a copied position opens at its signal's price and closes at the closing signal's
 * price; the profit of a close is what ExecutionReport.realized_profit carries.
 *
 *   profit = side * (close_price - open_price) * closed_volume * contract_size
 *            in 1e-4 quote currency = delta(1e-5) * volume(0.01 lot) * contract / 1000
 *
 * rounded half away from zero (exact for every instrument whose point is a whole number
 * of price units, guard_instrument.h). The account currency is taken to be the quote
 * currency (the simulator has no conversion rates; docs/fanout.md "decp-subscriber").
 * Fills are at the signal's price: the simulator's market is where the master traded.
 *
 * Threading: a book belongs to one thread. Pure, no allocation.
 */
#ifndef DECP_SUB_PNL_H
#define DECP_SUB_PNL_H

#include <stdbool.h>
#include <stdint.h>

#define SUB_PNL_MAX 256u /* open positions per book; more are refused (-ENOSPC) */

struct sub_pnl_pos {
	uint64_t ticket;    /* the master's position ticket; 0 = free slot */
	int side;           /* +1 long, -1 short */
	int64_t volume;     /* 0.01 lot still open */
	int64_t price;      /* 1e-5 open price */
	int64_t contract;   /* base units per 1.00 lot */
};

struct sub_pnl_book {
	struct sub_pnl_pos p[SUB_PNL_MAX];
};

/* Open (or add to: volume-weighted price, rounded down) position `ticket`. side +1/-1,
 * volume > 0, price >= 0, contract > 0. 0, -EINVAL, -ENOSPC. */
int sub_pnl_open(struct sub_pnl_book *b, uint64_t ticket, int side, int64_t volume,
		 int64_t price, int64_t contract);

/* Close `volume` (0 or more than open: all) of `ticket` at price: *profit (1e-4) is the
 * realized P&L of the closed part. 0, -ENOENT (no such position), -ERANGE (overflow). */
int sub_pnl_close(struct sub_pnl_book *b, uint64_t ticket, int64_t volume, int64_t price,
		  int64_t *profit);

#endif
