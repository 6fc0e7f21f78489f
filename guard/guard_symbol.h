/*
 * guard_symbol: instrument names and pip sizes.
 *
 * Brokers decorate symbols: "EURUSD.m", "EURUSDm", "EURUSD-pro", "fx.EURUSD", "eurusd#".
 * guard_symbol_base() finds the instrument inside: an entry of the pip table, or else
 * two ISO currency codes side by side, case-insensitive, anywhere in the name.
 *
 * Pip sizes are table-driven (price units of 1e-5, i.e. 5-digit quotes):
 *   quote currency JPY (USDJPY, EURJPY, ...)  pip 0.01   = 1000 units
 *   other currency pairs                      pip 0.0001 = 10 units
 *   explicit entries (metals, ...)            as listed in guard_symbol.c
 * A pip is ten points of a 5-digit (3-digit for JPY) quote.
 */
#ifndef DECP_GUARD_SYMBOL_H
#define DECP_GUARD_SYMBOL_H

#include "guard_types.h"

#define GUARD_PIP_DEFAULT 10   /* 0.0001 in 1e-5 units */
#define GUARD_PIP_JPY 1000     /* 0.01 */

/*
 * Writes the upper-case instrument found in sym (e.g. "EURUSD") to out (out_len bytes,
 * NUL-terminated). Returns the length (> 0); -EINVAL on NULL/empty input; -ENOENT when
 * no instrument is recognised (out then holds sym upper-cased, truncated to fit, so
 * callers may still match it literally); -ENAMETOOLONG when out is too small.
 */
int guard_symbol_base(const char *sym, char *out, size_t out_len);

/* Pip size in price units (1e-5) of a symbol (decorations allowed). Returns the pip
 * size, or -ENOENT when the instrument is unknown. */
int64_t guard_symbol_pip(const char *sym);

/* Length of s up to max (strnlen, which strict C11 lacks). */
size_t guard_symbol_len(const char *s, size_t max);

/* Case-insensitive equality of two NUL-terminated ASCII strings. */
bool guard_symbol_equal(const char *a, const char *b);

#endif
