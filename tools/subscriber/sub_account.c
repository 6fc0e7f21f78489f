/* sub_account: decp-subscriber's simulated broker account. Rules in sub_account.h. */
#include "sub_account.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sub_quotes_set(struct sub_quotes *q, const char *instrument, int64_t price)
{
	size_t i;

	if (price <= 0)
		return;
	for (i = 0; i < q->n && strcmp(q->q[i].instrument, instrument) != 0; i++)
		;
	if (i == q->n) {
		if (q->n == SUB_QUOTES_MAX)
			return;
		snprintf(q->q[i].instrument, sizeof(q->q[i].instrument), "%s", instrument);
		q->n++;
	}
	q->q[i].price = price;
}

void sub_quotes_seed(struct sub_quotes *q)
{
	static const struct {
		const char *sym;
		int64_t price;
	} ref[] = {
		{"EURUSD", 108000}, {"GBPUSD", 126500}, {"AUDUSD", 65500}, {"NZDUSD", 60000},
		{"USDJPY", 15000000}, {"USDCHF", 88000}, {"USDCAD", 136000},
	};

	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		sub_quotes_set(q, ref[i].sym, ref[i].price);
}

int64_t sub_quotes_get(const struct sub_quotes *q, const char *instrument)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->q[i].instrument, instrument) == 0)
			return q->q[i].price;
	return 0;
}

/* Account currency per 1 unit of currency c (three letters), 1e-5; 0 when no pair of
 * the two was seen. */
static int64_t rate_of(const struct sub_quotes *q, const char *c, const char *acct)
{
	char pair[7];
	int64_t p;

	if (memcmp(c, acct, 3) == 0)
		return GUARD_PRICE_SCALE;
	snprintf(pair, sizeof(pair), "%.3s%.3s", c, acct);
	if ((p = sub_quotes_get(q, pair)) > 0)
		return p;
	snprintf(pair, sizeof(pair), "%.3s%.3s", acct, c);
	if ((p = sub_quotes_get(q, pair)) > 0)
		return (int64_t)GUARD_PRICE_SCALE * GUARD_PRICE_SCALE / p;
	return 0;
}

/* The instrument's quote currency (last three letters), or NULL for other names. */
static const char *quote_ccy(const char *instrument)
{
	size_t n = strlen(instrument);

	return n == 6 ? instrument + 3 : NULL;
}

int sub_account_init(struct sub_account *a, const char *currency, uint32_t leverage,
		     int64_t balance)
{
	memset(a, 0, sizeof(*a));
	if (currency == NULL || strlen(currency) != 3 || leverage < 1 || balance < 0)
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		if (currency[i] < 'A' || currency[i] > 'Z')
			return -EINVAL;
	memcpy(a->currency, currency, 4);
	a->leverage = leverage;
	a->balance = balance;
	return 0;
}

void sub_account_free(struct sub_account *a)
{
	free(a->pos);
	free(a->ex);
	a->pos = NULL;
	a->ex = NULL;
	a->n = a->cap = a->nex = a->excap = 0;
}

static struct sub_position *find(const struct sub_account *a, uint64_t master, uint64_t ticket)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->pos[i].master == master && a->pos[i].ticket == ticket)
			return &a->pos[i];
	return NULL;
}

const struct sub_position *sub_account_find(const struct sub_account *a, uint64_t master,
					    uint64_t ticket)
{
	return find(a, master, ticket);
}

static bool is_market(uint32_t t)
{
	return t == GUARD_ORDER_BUY || t == GUARD_ORDER_SELL;
}

/* n / d (d > 0) rounded half away from zero: money is rounded once, as a broker books it. */
static int64_t div_round(__int128 n, __int128 d)
{
	return (int64_t)(n >= 0 ? (n + d / 2) / d : -((-n + d / 2) / d));
}

/* Money (account currency) of a quote-currency amount `v` given as volume (0.01 lot) x
 * price (1e-5) products of instrument `in` (instrument name `name`) trading at `price`;
 * 0 when it cannot be converted. When the base is the account currency the amount is
 * divided by the price itself, else multiplied by the quote currency's rate; the result
 * is rounded half away from zero to the money unit (1e-4). */
static int64_t money_of(const struct sub_account *a, const struct guard_instrument *in,
			const char *name, __int128 v, int64_t price, const struct sub_quotes *q)
{
	const char *qc = quote_ccy(name);
	int64_t rate;

	if (in == NULL || qc == NULL || price <= 0)
		return 0;
	if (memcmp(name, a->currency, 3) == 0)
		return div_round(v * in->contract_size * GUARD_MONEY_SCALE, (__int128)100 * price);
	if ((rate = rate_of(q, qc, a->currency)) <= 0)
		return 0;
	/* volume/100 lots x contract units x price/1e5 quote units x 1e4 money units x
	 * rate/1e5 account units per quote unit */
	return div_round(v * in->contract_size * rate,
			 (__int128)100 * GUARD_PRICE_SCALE * GUARD_PRICE_SCALE / GUARD_MONEY_SCALE);
}

/* The instrument's exposure entry, created when missing (NULL: out of memory). */
static struct sub_exposure *exposure(struct sub_account *a, const char *instrument,
				     const struct guard_instruments *reg)
{
	struct sub_exposure *e;

	for (size_t i = 0; i < a->nex; i++)
		if (strcmp(a->ex[i].instrument, instrument) == 0)
			return &a->ex[i];
	if (a->nex == a->excap) {
		size_t cap = a->excap ? a->excap * 2 : 4;
		struct sub_exposure *ne = realloc(a->ex, cap * sizeof(*ne));

		if (ne == NULL)
			return NULL;
		a->ex = ne;
		a->excap = cap;
	}
	e = &a->ex[a->nex++];
	memset(e, 0, sizeof(*e));
	snprintf(e->instrument, sizeof(e->instrument), "%s", instrument);
	e->in = guard_instrument_find(reg, instrument);
	return e;
}

/* A market position's volume changes by dv (+ opened, - closed) at its open price. */
static void exposure_move(struct sub_account *a, const struct sub_position *p, int64_t dv,
			  const struct guard_instruments *reg)
{
	struct sub_exposure *e;
	int64_t sv = p->type == GUARD_ORDER_BUY ? dv : -dv;

	if ((p->type != GUARD_ORDER_BUY && p->type != GUARD_ORDER_SELL) ||
	    (e = exposure(a, p->instrument, reg)) == NULL)
		return;
	e->gross += dv;
	e->net += sv;
	e->net_cost += (__int128)sv * p->price;
}

/* P&L of `volume` of p closed at `at` (money, account currency). */
static int64_t profit_at(const struct sub_account *a, const struct sub_position *p,
			 int64_t volume, int64_t at, const struct sub_quotes *q,
			 const struct guard_instruments *reg)
{
	if (!is_market(p->type) || at <= 0)
		return 0;
	return money_of(a, guard_instrument_find(reg, p->instrument), p->instrument,
			(__int128)volume * (p->type == GUARD_ORDER_BUY ? at - p->price
								   : p->price - at), at, q);
}

int64_t sub_position_profit(const struct sub_account *a, const struct sub_position *p,
			    const struct sub_quotes *q, const struct guard_instruments *reg)
{
	return profit_at(a, p, p->volume, sub_quotes_get(q, p->instrument), q, reg);
}

void sub_account_view(const struct sub_account *a, const struct sub_quotes *q,
		      const char *instrument, struct guard_account *out)
{
	int64_t floating = 0, margin = 0;

	memset(out, 0, sizeof(*out));
	out->known = true;
	memcpy(out->currency, a->currency, 4);
	out->leverage = a->leverage;
	for (size_t i = 0; i < a->nex; i++) {
		const struct sub_exposure *e = &a->ex[i];
		struct guard_account m = {.known = true, .leverage = a->leverage};
		int64_t need = 0, now = sub_quotes_get(q, e->instrument);

		if (e->gross <= 0 || now <= 0)
			continue;
		floating += money_of(a, e->in, e->instrument, (__int128)now * e->net - e->net_cost,
				     now, q);
		memcpy(m.currency, a->currency, 4);
		m.quote_rate = quote_ccy(e->instrument) != NULL
				       ? rate_of(q, quote_ccy(e->instrument), a->currency) : 0;
		if (e->in != NULL && guard_margin_needed(e->in, 0, &m, e->gross, now, &need) == 0)
			margin += need;
	}
	out->balance = a->balance;
	out->equity = a->balance + floating;
	out->margin = margin;
	out->free_margin = out->equity - margin;
	if (instrument != NULL && quote_ccy(instrument) != NULL)
		out->quote_rate = rate_of(q, quote_ccy(instrument), a->currency);
}

static int add(struct sub_account *a, const struct guard_envelope *env, const char *instrument,
	       const struct guard_order *o, const struct guard_instruments *reg)
{
	struct sub_position *p;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct sub_position *np = realloc(a->pos, cap * sizeof(*np));

		if (np == NULL)
			return -ENOMEM;
		a->pos = np;
		a->cap = cap;
	}
	p = &a->pos[a->n++];
	memset(p, 0, sizeof(*p));
	p->master = env->master_id;
	p->ticket = env->position_ticket;
	snprintf(p->instrument, sizeof(p->instrument), "%s", instrument);
	snprintf(p->symbol, sizeof(p->symbol), "%s", o->symbol);
	p->type = o->type;
	p->volume = o->volume;
	p->master_volume = env->volume;
	p->price = o->price;
	p->sl = o->sl;
	p->tp = o->tp;
	exposure_move(a, p, p->volume, reg);
	return 0;
}

static void drop(struct sub_account *a, struct sub_position *p,
		 const struct guard_instruments *reg)
{
	exposure_move(a, p, -p->volume, reg);
	*p = a->pos[--a->n];
}

int sub_account_apply(struct sub_account *a, const struct guard_envelope *env,
		      const char *instrument, const struct guard_order *o,
		      const struct sub_quotes *q, const struct guard_instruments *reg,
		      int64_t *realized)
{
	struct sub_position *p;
	int64_t pl = 0;

	if (realized != NULL)
		*realized = 0;
	if (guard_order_opens((enum guard_order_type)o->type))
		return add(a, env, instrument, o, reg);
	if ((p = find(a, env->master_id, env->position_ticket)) == NULL)
		return -ENOENT;
	switch (o->type) {
	case GUARD_ORDER_CLOSE:
		pl = profit_at(a, p, p->volume, o->price > 0 ? o->price : p->price, q, reg);
		drop(a, p, reg);
		break;
	case GUARD_ORDER_CLOSE_PARTIAL: {
		int64_t closed = o->volume < p->volume ? o->volume : p->volume;

		pl = profit_at(a, p, closed, o->price > 0 ? o->price : p->price, q, reg);
		exposure_move(a, p, -closed, reg);
		p->volume -= closed;
		p->master_volume -= env->volume < p->master_volume ? env->volume : p->master_volume;
		if (p->volume <= 0)
			drop(a, p, reg); /* volume 0: the exposure moves by 0 */
		break;
	}
	case GUARD_ORDER_MODIFY:
		p->sl = o->sl;
		p->tp = o->tp;
		if (!is_market(p->type) && o->price > 0)
			p->price = o->price;
		break;
	default:
		return -ENOENT;
	}
	a->balance += pl;
	if (realized != NULL)
		*realized = pl;
	return 0;
}

size_t sub_account_close_all(struct sub_account *a, uint64_t master, const struct sub_quotes *q,
			     const struct guard_instruments *reg)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n;) {
		if (a->pos[i].master != master) {
			i++;
			continue;
		}
		a->balance += sub_position_profit(a, &a->pos[i], q, reg);
		drop(a, &a->pos[i], reg);
		n++;
	}
	return n;
}
