/* guard_instrument: instrument registry lookups. Contract in guard_instrument.h. */
#include "guard_instrument.h"

#include <errno.h>

#include "guard_symbol.h"

/* FX: 5 digits (point 0.00001, pip 0.0001), JPY quotes 3 digits (point 0.001, pip 0.01),
 * contract 100000. These rows are also sql/migrations/0008_instruments.sql's seed. */
#define FX(s) {s, 5, 1, 10, 100000}
#define JPY(s) {s, 3, 100, 1000, 100000}
static const struct guard_instrument builtin[] = {
	FX("EURUSD"), FX("GBPUSD"), FX("AUDUSD"), FX("NZDUSD"), FX("USDCHF"), FX("USDCAD"),
	FX("EURGBP"), FX("EURCHF"), FX("EURCAD"), FX("EURAUD"), FX("EURNZD"), FX("GBPCHF"),
	FX("GBPCAD"), FX("GBPAUD"), FX("GBPNZD"), FX("AUDCHF"), FX("AUDCAD"), FX("AUDNZD"),
	FX("NZDCHF"), FX("NZDCAD"), FX("CADCHF"),
	JPY("USDJPY"), JPY("EURJPY"), JPY("GBPJPY"), JPY("AUDJPY"), JPY("NZDJPY"),
	JPY("CADJPY"), JPY("CHFJPY"),
	{"XAUUSD", 2, 1000, 10000, 100},   /* gold: 1234.56, pip 0.1, 100 oz */
	{"XAGUSD", 3, 100, 1000, 5000},    /* silver: 23.456, pip 0.01, 5000 oz */
	{"XAUEUR", 2, 1000, 10000, 100},
	{"BTCUSD", 2, 1000, 100000, 1},    /* pip 1.0, 1 coin */
	{"ETHUSD", 2, 1000, 10000, 1},     /* pip 0.1 */
};
#undef FX
#undef JPY

static const struct guard_instruments builtin_set = {
	builtin, sizeof(builtin) / sizeof(builtin[0])
};

const struct guard_instruments *guard_instruments_builtin(void)
{
	return &builtin_set;
}

static bool symbol_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '#' || c == '-';
}

int guard_instrument_valid(const struct guard_instrument *in)
{
	size_t n;
	int64_t point = 1;

	if (!in)
		return -EINVAL;
	n = guard_symbol_len(in->symbol, sizeof(in->symbol));
	if (n == 0 || n == sizeof(in->symbol))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!symbol_char_ok(in->symbol[i]))
			return -EINVAL;
	if (in->digits > GUARD_DIGITS_MAX)
		return -EINVAL;
	for (uint32_t d = in->digits; d < GUARD_DIGITS_MAX; d++)
		point *= 10;
	if (in->point != point || in->pip <= 0 || in->pip % point != 0 || in->contract_size <= 0)
		return -EINVAL;
	return 0;
}

static const struct guard_instrument *find_exact(const struct guard_instruments *reg,
						 const char *name)
{
	for (size_t i = 0; i < reg->n; i++)
		if (guard_symbol_equal(reg->v[i].symbol, name))
			return &reg->v[i];
	return NULL;
}

const struct guard_instrument *guard_instrument_find(const struct guard_instruments *reg,
						     const char *sym)
{
	const struct guard_instrument *in;
	char base[GUARD_SYMBOL_MAX];

	if (!reg || !sym || !reg->v)
		return NULL;
	in = find_exact(reg, sym);
	if (in || guard_symbol_base(sym, base, sizeof(base)) <= 0)
		return in;
	return find_exact(reg, base);
}
