/*
 * guard_margin: the subscriber's broker account in the guard (issue 19): the margin an
 * order needs, and the account update that feeds equity protection.
 *
 * Two different "funds" (docs/guard.md "Funds: wallet and margin"):
 *   - the platform wallet (seed user_wallets: pre-paid credits for fees). Empty ->
 *     INSUFFICIENT_FUNDS and SYNCED -> LOCKED_NO_FUNDS: the subscription stops until the
 *     subscriber pays (seed diagram, "balance <= 0").
 *   - the broker account's free margin (the EA's AccountState: balance, equity, margin,
 *     free margin, leverage). An order it cannot carry -> INSUFFICIENT_MARGIN for that
 *     order only: no state change, no trust score (the account's size is not
 *     misbehaviour), the next signal that fits executes.
 *
 * Margin of an order (MetaTrader's Forex rule, exact integers, rounded up):
 *   units   = volume (0.01 lot) / 100 * contract size (the subscriber broker's when the EA
 *             gave it, spec.contract; else the instrument registry's)
 *   margin  = units * value of one base unit in the account currency / leverage
 * where the value of one base unit is
 *   1                           when the base currency is the account's (USDJPY, USD)
 *   price                       when the quote currency is the account's (EURUSD, USD)
 *   price * quote_rate          otherwise (EURJPY on a USD account: quote_rate = the
 *                               account currency per 1 JPY, supplied by the EA)
 * Base and quote are the instrument's first and last three letters (registry names are
 * six letters for FX, metals and the crypto pairs it holds); any other name needs no
 * currency match and uses quote_rate, or cannot be priced (-ENODATA: refused).
 *
 * Plain data, no allocation, portable C11 (part of guard_core, the MetaTrader DLL).
 */
#ifndef DECP_GUARD_MARGIN_H
#define DECP_GUARD_MARGIN_H

#include "guard_instrument.h"
#include "guard_policy.h"
#include "guard_signal.h"
#include "guard_sub.h"

/*
 * Margin (money, 1e-4, rounded up) that `volume` (0.01 lot, > 0) of instrument `in`,
 * at a contract of `contract` base units per 1.00 lot (GUARD_CONTRACT_SCALE, the
 * subscriber broker's; 0: the registry's, in->contract_size, >= 0),
 * at `price` (1e-5, > 0) needs on account `acct` (leverage >= 1, currency three
 * upper-case letters). Returns 0 with *out; -EINVAL on NULL or a bad argument; -ENODATA
 * when the value of a base unit is unknown (no currency match and quote_rate 0);
 * -EOVERFLOW when it does not fit int64.
 */
int guard_margin_needed(const struct guard_instrument *in, int64_t contract,
			const struct guard_account *acct, int64_t volume, int64_t price,
			int64_t *out);

/* True when acct is usable: known, leverage >= 1, a three-letter upper-case currency,
 * no negative balance-side amount (equity and free margin may be negative). */
bool guard_account_valid(const struct guard_account *acct);

/*
 * An account update from the EA (AccountState): checks it and feeds its equity to equity
 * protection (guard_equity_update). Returns 1 when protection tripped now (the EA closes
 * every position when p->close_all_on_trip), 0 otherwise, -EINVAL on NULL or an invalid
 * account (nothing changed). Local, trusted data. Thread: the owner of sub.
 */
int guard_account_update(struct guard_sub *sub, const struct guard_policy *p,
			 const struct guard_account *acct);

#endif
