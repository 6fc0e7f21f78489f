/*
 * guard_instrument: the instrument registry the guard's price check reads (docs/guard.md
 * "Instrument registry"; operators edit it with `decpctl instrument`, table `instruments`
 * in sql/migrations/0008_instruments.sql).
 *
 * Per instrument (the master's symbol without broker decorations, upper case):
 *   digits ........ quote digits (EURUSD 5, USDJPY 3, XAUUSD 2), 0..5
 *   point ......... the smallest price step, in price units of 1e-5: 10^(5 - digits)
 *   pip ........... pip size in price units, a positive multiple of point
 *   contract_size . base units per 1.00 lot (FX 100000, XAUUSD 100)
 * Prices are 1e-5 units (guard_types.h), so with digits <= 5 a point is a whole number
 * of price units and every comparison is exact integer arithmetic.
 *
 * The registry is caller-owned plain data (struct guard_instruments: a borrowed array),
 * so the MetaTrader DLL fills it from whatever it loaded; guard never allocates.
 * guard_instruments_builtin() is the set every new database starts with (the migration
 * inserts the same rows; the trust suite's test_instruments_seed compares them), for a
 * subscriber that has not loaded one.
 *
 * Thread: read-only during checks; the owner replaces it between checks.
 */
#ifndef DECP_GUARD_INSTRUMENT_H
#define DECP_GUARD_INSTRUMENT_H

#include "guard_types.h"

#define GUARD_DIGITS_MAX 5

struct guard_instrument {
	char symbol[GUARD_SYMBOL_MAX]; /* upper case, NUL-terminated, e.g. "USDJPY" */
	uint32_t digits;
	int64_t point;                 /* price units (1e-5) */
	int64_t pip;                   /* price units (1e-5) */
	int64_t contract_size;         /* base units per 1.00 lot */
};

struct guard_instruments {
	const struct guard_instrument *v; /* borrowed, n entries, symbols unique */
	size_t n;
};

/*
 * Checks one entry: symbol 1..32 characters of [A-Z0-9._#-], digits 0..5, point ==
 * 10^(5 - digits), pip a positive multiple of point, contract_size > 0.
 * Returns 0, or -EINVAL (NULL or a rule broken).
 */
int guard_instrument_valid(const struct guard_instrument *in);

/*
 * The entry for sym (the master's symbol, decorations allowed): an entry whose symbol
 * equals sym case-insensitively, else the one equal to guard_symbol_base(sym) ("EURUSD"
 * for "eurusd.m"). Returns the entry, or NULL when reg is NULL or knows neither name.
 */
const struct guard_instrument *guard_instrument_find(const struct guard_instruments *reg,
						     const char *sym);

/* The built-in set (majors and crosses of USD EUR GBP JPY CHF CAD AUD NZD, metals,
 * BTCUSD/ETHUSD). Static storage, never NULL. */
const struct guard_instruments *guard_instruments_builtin(void);

#endif
