/* guard_resync: the re-sync plan. Rules in guard_resync.h. */
#include "guard_resync.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "guard_check.h"
#include "guard_instrument.h"
#include "guard_margin.h"

const char *guard_resync_op_name(enum guard_resync_op op)
{
	switch (op) {
	case GUARD_RESYNC_CLOSE: return "CLOSE";
	case GUARD_RESYNC_REDUCE: return "REDUCE";
	case GUARD_RESYNC_MODIFY: return "MODIFY";
	case GUARD_RESYNC_OPEN: return "OPEN";
	case GUARD_RESYNC_SKIP: return "SKIP";
	}
	return "?";
}

static bool is_market(uint32_t t)
{
	return t == GUARD_ORDER_BUY || t == GUARD_ORDER_SELL;
}

struct plan {
	struct guard_resync_action *out;
	size_t cap, n;
	bool full;
	int64_t margin_taken; /* by the opens planned so far */
};

static struct guard_resync_action *push(struct plan *pl, enum guard_resync_op op,
					uint64_t ticket)
{
	struct guard_resync_action *a;

	if (pl->n == pl->cap) {
		pl->full = true;
		return NULL;
	}
	a = &pl->out[pl->n++];
	memset(a, 0, sizeof(*a));
	a->op = op;
	a->order.master_ticket = ticket;
	return a;
}

static void close_held(struct plan *pl, const struct guard_held *h, uint64_t seq)
{
	struct guard_resync_action *a = push(pl, GUARD_RESYNC_CLOSE, h->master_ticket);

	if (a == NULL)
		return;
	memcpy(a->order.symbol, h->symbol, sizeof(a->order.symbol));
	a->order.type = h->type;
	a->order.volume = h->volume;
	a->order.sequence = seq;
}

/* dev: the deviation (PRICE_DEVIATION) or the margin needed (INSUFFICIENT_MARGIN). */
static void skip(struct plan *pl, const struct guard_book_entry *e, enum guard_reason r,
		 enum guard_filter f, int64_t dev)
{
	struct guard_resync_action *a = push(pl, GUARD_RESYNC_SKIP, e->ticket);

	if (a == NULL)
		return;
	a->master_volume = e->volume;
	a->reason = (uint32_t)r;
	a->filter = (uint32_t)f;
	if (r == GUARD_REASON_INSUFFICIENT_MARGIN)
		a->margin_needed = dev;
	else
		a->deviation_pips_x100 = dev;
}

/* E is not held (any more): open the target, checked as a live open would be. */
static void open_target(struct plan *pl, const struct guard_policy *p,
			const struct guard_book_entry *e, const struct guard_view *view,
			const struct guard_order *target)
{
	const struct guard_instrument *in = guard_instrument_find(view->instruments, e->symbol);
	struct guard_resync_action *a;
	int64_t dev = 0, price = target->price;

	if (in == NULL) {
		skip(pl, e, GUARD_REASON_UNKNOWN_INSTRUMENT, GUARD_FILTER_NONE, 0);
		return;
	}
	if (is_market(target->type)) {
		/* the current price of the side the subscriber trades, against the master's
		 * open price: a position far from where the master opened it is not chased */
		int64_t q = target->type == GUARD_ORDER_BUY ? view->quote.ask : view->quote.bid;

		if (guard_price_deviates(p->max_deviation_pips_x100, e->price, q, in->pip, &dev)) {
			skip(pl, e, GUARD_REASON_PRICE_DEVIATION, GUARD_FILTER_NONE, dev);
			return;
		}
		price = q;
	}
	if (view->account.known) {
		/* the guard's margin rule (guard_margin.h), against the free margin before the
		 * plan less what its earlier opens take (its closes are not counted: cautious) */
		int64_t need, left;
		int rc = guard_margin_needed(in, view->spec.contract, &view->account,
					     target->volume, price, &need);

		if (rc != 0 || __builtin_sub_overflow(view->account.free_margin, pl->margin_taken,
						      &left) || need > left) {
			skip(pl, e, GUARD_REASON_INSUFFICIENT_MARGIN, GUARD_FILTER_NONE,
			     rc == 0 ? need : INT64_MAX);
			return;
		}
		pl->margin_taken += need;
	}
	a = push(pl, GUARD_RESYNC_OPEN, e->ticket);
	if (a == NULL)
		return;
	a->order = *target;
	a->order.price = price;
	a->master_volume = e->volume;
}

/* The inputs, and whether each is sorted by ticket (then lookups are binary searches). */
struct inputs {
	const struct guard_book_entry *book;
	size_t nbook;
	const struct guard_held *held;
	size_t nheld;
	bool book_sorted, held_sorted;
};

/* The first of n elements of `size` bytes, sorted by the uint64_t ticket at `off`, whose
 * ticket is not below t (n when none). */
static size_t lower_bound(const void *base, size_t n, size_t size, size_t off, uint64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t v;

		memcpy(&v, (const char *)base + mid * size + off, sizeof(v));
		if (v < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct guard_held *held_of(const struct inputs *in, uint64_t ticket)
{
	if (in->held_sorted) {
		size_t i = lower_bound(in->held, in->nheld, sizeof(*in->held),
				       offsetof(struct guard_held, master_ticket), ticket);

		return i < in->nheld && in->held[i].master_ticket == ticket ? &in->held[i] : NULL;
	}
	for (size_t i = 0; i < in->nheld; i++)
		if (in->held[i].master_ticket == ticket)
			return &in->held[i];
	return NULL;
}

static bool in_book(const struct inputs *in, uint64_t ticket)
{
	if (in->book_sorted) {
		size_t i = lower_bound(in->book, in->nbook, sizeof(*in->book),
				       offsetof(struct guard_book_entry, ticket), ticket);

		return i < in->nbook && in->book[i].ticket == ticket;
	}
	for (size_t i = 0; i < in->nbook; i++)
		if (in->book[i].ticket == ticket)
			return true;
	return false;
}

static void reduce_held(struct plan *pl, const struct guard_held *h,
			const struct guard_book_entry *e, uint64_t seq, int64_t cut)
{
	struct guard_resync_action *a = push(pl, GUARD_RESYNC_REDUCE, e->ticket);

	if (a == NULL)
		return;
	memcpy(a->order.symbol, h->symbol, sizeof(a->order.symbol));
	a->order.type = h->type;
	a->order.volume = cut;
	a->order.sequence = seq;
	a->master_volume = e->volume;
}

/* The master's partial closes of E since copy h was last in line with it (h->master_volume
 * above E's volume): the live CLOSE_PARTIAL of the difference (the same ratio of the copy,
 * rounded down; the rest below the minimum closes it all; a cut below the minimum is
 * nothing). Returns 1 when h is closed, else 0. */
static int held_follow(struct plan *pl, const struct guard_policy *p, uint64_t seq,
		       const struct guard_envelope *env, const struct guard_view *view,
		       const struct guard_instrument *in, bool tripped,
		       const struct guard_book_entry *e, const struct guard_held *h)
{
	struct guard_envelope part = *env;
	struct guard_view v = *view;
	struct guard_order o;

	if (e->volume >= h->master_volume)
		return 0;
	part.order_type = GUARD_ORDER_CLOSE_PARTIAL;
	part.volume = h->master_volume - e->volume;
	v.position.open = true;
	v.position.volume = h->volume;
	v.position.master_volume = h->master_volume;
	if (guard_policy_translate(p, &part, &v, in != NULL ? in->pip : 0,
				   in != NULL ? in->contract_size : 0, tripped, &o) !=
	    GUARD_FILTER_NONE)
		return 0;
	if (o.volume >= h->volume) {
		close_held(pl, h, seq);
		return 1;
	}
	reduce_held(pl, h, e, seq, o.volume);
	return 0;
}

static void plan_entry(struct plan *pl, const struct guard_policy *p, bool tripped,
		       uint64_t seq, guard_resync_view_fn view_fn, void *view_ctx,
		       const struct guard_book_entry *e, const struct guard_held *h)
{
	struct guard_envelope env;
	struct guard_view view;
	struct guard_order target;
	const struct guard_instrument *in;
	enum guard_filter f;
	struct guard_resync_action *a;

	memset(&env, 0, sizeof(env));
	memset(&view, 0, sizeof(view));
	env.sequence = seq;
	memcpy(env.symbol, e->symbol, sizeof(env.symbol));
	env.symbol[sizeof(env.symbol) - 1] = '\0';
	env.order_type = e->type;
	env.volume = e->volume;
	env.price = e->price;
	env.sl = e->sl;
	env.tp = e->tp;
	env.position_ticket = e->ticket;
	env.expiration_ns = e->expiration_ns;
	view_fn(view_ctx, e->symbol, &view);
	memset(&view.position, 0, sizeof(view.position));
	/* equity protection as the live check applies it to an opening: the flag, or the
	 * view's equity below the floor (a re-sync at a reconnect comes before any signal or
	 * account update could set the flag; the drawdown needs the peak, which is the flag's).
	 * A view without an equity (decp.dll's for a symbol the EA gave no quote of) takes the
	 * broker account's; with neither it is unknown, not zero. */
	if (view.equity != 0 || view.account.known)
		tripped = tripped ||
			  guard_equity_breached(p, 0, view.equity != 0 ? view.equity
								     : view.account.equity);
	in = guard_instrument_find(view.instruments, e->symbol);
	f = guard_policy_translate(p, &env, &view, in != NULL ? in->pip : 0,
				   in != NULL ? in->contract_size : 0, tripped, &target);
	if (h == NULL) {
		if (f == GUARD_FILTER_SIZING && in == NULL) /* as the live check reports it */
			skip(pl, e, GUARD_REASON_UNKNOWN_INSTRUMENT, GUARD_FILTER_NONE, 0);
		else if (f != GUARD_FILTER_NONE)
			skip(pl, e, GUARD_REASON_FILTERED, f, 0);
		else
			open_target(pl, p, e, &view, &target);
		return;
	}
	if (f == GUARD_FILTER_NONE && (h->type != target.type || strcmp(h->symbol, target.symbol) != 0)) {
		close_held(pl, h, seq);
		open_target(pl, p, e, &view, &target);
		return;
	}
	/* A copy held: it follows E as the live path would have made it follow E's signals
	 * since (held_follow), whether or not the policy would open E now (its filters, equity
	 * protection, sizing or the minimum lot stop new copies, not the management of one
	 * held). Without the master's volume of the copy, only a copy larger than what the
	 * policy would open now is reduced. */
	if (h->master_volume > 0) {
		if (held_follow(pl, p, seq, &env, &view, in, tripped, e, h) != 0)
			return; /* closed */
	} else if (f == GUARD_FILTER_NONE && h->volume > target.volume) {
		if (target.volume < view.spec.vol_min || target.volume <= 0) {
			close_held(pl, h, seq);
			return;
		}
		reduce_held(pl, h, e, seq, h->volume - target.volume);
	}
	/* exits: what the live path does with a MODIFY of this copy */
	env.order_type = GUARD_ORDER_MODIFY;
	view.position.open = true;
	view.position.volume = h->volume;
	if (guard_policy_translate(p, &env, &view, in != NULL ? in->pip : 0,
				   in != NULL ? in->contract_size : 0, tripped, &target) ==
		    GUARD_FILTER_NONE &&
	    (h->sl != target.sl || h->tp != target.tp ||
	     (!is_market(h->type) && h->price != target.price))) {
		if ((a = push(pl, GUARD_RESYNC_MODIFY, e->ticket)) == NULL)
			return;
		a->order = target;
		a->order.volume = 0;
		if (is_market(h->type))
			a->order.price = 0; /* a position's open price is history */
		a->master_volume = e->volume;
	}
}

/* Stable: actions of one op keep the order they were planned in. */
static void order_by_op(struct guard_resync_action *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct guard_resync_action x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1].op > x.op; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

long guard_resync_plan(const struct guard_policy *p, bool equity_tripped, uint64_t sequence,
		       guard_resync_view_fn view_fn, void *view_ctx,
		       const struct guard_book_entry *book, size_t nbook,
		       const struct guard_held *held, size_t nheld,
		       struct guard_resync_action *out, size_t cap)
{
	struct plan pl = {out, cap, 0, false, 0};
	struct inputs in = {book, nbook, held, nheld, true, true};

	if (p == NULL || view_fn == NULL || (book == NULL && nbook > 0) ||
	    (held == NULL && nheld > 0) || (out == NULL && cap > 0) || guard_policy_valid(p) != 0)
		return -EINVAL;
	for (size_t i = 1; i < nbook; i++)
		in.book_sorted &= book[i - 1].ticket < book[i].ticket;
	for (size_t i = 1; i < nheld; i++)
		in.held_sorted &= held[i - 1].master_ticket < held[i].master_ticket;
	for (size_t i = 0; i < nheld && !pl.full; i++)
		if (!in_book(&in, held[i].master_ticket) &&
		    (p->type_mask & GUARD_ORDER_BIT(GUARD_ORDER_CLOSE)))
			close_held(&pl, &held[i], sequence);
	for (size_t i = 0; i < nbook && !pl.full; i++)
		plan_entry(&pl, p, equity_tripped, sequence, view_fn, view_ctx, &book[i],
			   held_of(&in, book[i].ticket));
	if (pl.full)
		return -ENOBUFS;
	order_by_op(out, pl.n);
	return (long)pl.n;
}

int guard_book_entry_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct guard_book_entry *)a)->ticket;
	uint64_t y = ((const struct guard_book_entry *)b)->ticket;

	return x < y ? -1 : x > y;
}

int guard_held_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct guard_held *)a)->master_ticket;
	uint64_t y = ((const struct guard_held *)b)->master_ticket;

	return x < y ? -1 : x > y;
}

int guard_book_entry_set(struct guard_book_entry *e, uint64_t ticket, uint32_t type,
			 const char *symbol, int64_t volume, int64_t price, int64_t sl,
			 int64_t tp, int64_t expiration_ns)
{
	size_t n = symbol != NULL ? strlen(symbol) : 0;

	if (ticket == 0 || volume <= 0 || n == 0 || n >= sizeof(e->symbol) ||
	    !guard_order_opens((enum guard_order_type)type))
		return -EPROTO;
	memset(e, 0, sizeof(*e));
	e->ticket = ticket;
	e->type = type;
	memcpy(e->symbol, symbol, n + 1);
	e->volume = volume;
	e->price = price;
	e->sl = sl;
	e->tp = tp;
	e->expiration_ns = expiration_ns;
	return 0;
}

int64_t guard_resync_ask_at(const struct guard_verdict *v, int64_t err_ns, int64_t now_ns)
{
	return v->age_known && !v->clock_suspect && v->age_ns - err_ns >= GUARD_RESYNC_ASK_AGE_NS
		       ? now_ns
		       : now_ns + GUARD_RESYNC_ASK_AGE_NS;
}
