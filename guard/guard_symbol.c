/* guard_symbol: instrument recognition and pip table. Contract in guard_symbol.h. */
#include "guard_symbol.h"

#include <errno.h>
#include <string.h>

/* Instruments that are not "two currencies" or whose pip differs from the rule. */
static const struct {
	const char *name;
	int64_t pip;
} pip_table[] = {
	{"XAUUSD", 10000}, /* gold: pip 0.1 (2-digit quote 1234.56, point 0.01) */
	{"XAGUSD", 1000},  /* silver: pip 0.01 (3-digit quote) */
	{"XAUEUR", 10000},
	{"BTCUSD", 100000}, /* pip 1.0 */
	{"ETHUSD", 10000},
};

/* ISO 4217 codes the currency-pair rule recognises. */
static const char currencies[][4] = {
	"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK",
	"SGD", "HKD", "ZAR", "MXN", "TRY", "PLN", "CNH", "CZK", "HUF", "ILS", "RUB",
	"XAU", "XAG",
};

static char upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

size_t guard_symbol_len(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

bool guard_symbol_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	for (; *a && *b; a++, b++)
		if (upper(*a) != upper(*b))
			return false;
	return *a == *b;
}

static bool prefix_equal(const char *s, const char *word, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || upper(s[i]) != word[i])
			return false;
	return true;
}

static bool is_currency(const char *s)
{
	for (size_t i = 0; i < sizeof(currencies) / sizeof(currencies[0]); i++)
		if (prefix_equal(s, currencies[i], 3))
			return true;
	return false;
}

/* Index of the instrument in sym and its length, or -1. Table entries win over the
 * currency rule; the leftmost match wins. */
static int find_instrument(const char *sym, size_t len, size_t *at, int64_t *pip)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		for (size_t k = 0; k < sizeof(pip_table) / sizeof(pip_table[0]); k++) {
			if (prefix_equal(sym + i, pip_table[k].name, 6)) {
				*at = i;
				*pip = pip_table[k].pip;
				return 0;
			}
		}
	}
	for (size_t i = 0; i + 6 <= len; i++) {
		if (is_currency(sym + i) && is_currency(sym + i + 3)) {
			*at = i;
			*pip = prefix_equal(sym + i + 3, "JPY", 3) ? GUARD_PIP_JPY
								   : GUARD_PIP_DEFAULT;
			return 0;
		}
	}
	return -1;
}

int guard_symbol_base(const char *sym, char *out, size_t out_len)
{
	size_t len, at = 0;
	int64_t pip;

	if (!sym || !out || !out_len || !*sym)
		return -EINVAL;
	len = guard_symbol_len(sym, GUARD_SYMBOL_MAX);
	if (find_instrument(sym, len, &at, &pip) == 0) {
		if (out_len < 7)
			return -ENAMETOOLONG;
		for (size_t i = 0; i < 6; i++)
			out[i] = upper(sym[at + i]);
		out[6] = '\0';
		return 6;
	}
	for (at = 0; at < len && at + 1 < out_len; at++)
		out[at] = upper(sym[at]);
	out[at] = '\0';
	return -ENOENT;
}

int64_t guard_symbol_pip(const char *sym)
{
	size_t at;
	int64_t pip;

	if (!sym)
		return -ENOENT;
	if (find_instrument(sym, guard_symbol_len(sym, GUARD_SYMBOL_MAX), &at, &pip) != 0)
		return -ENOENT;
	return pip;
}
