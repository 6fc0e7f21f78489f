/* sub_resync: a snapshot received and reconciled into the simulated account. Contract in
 * sub_resync.h. */
#include "sub_resync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int sub_snap_begin(struct sub_snap *s, const Decp__SnapshotBegin *b)
{
	if (s == NULL || b == NULL)
		return -EINVAL;
	s->active = true;
	s->master = b->master_id;
	s->seq = b->sequence;
	s->count = b->count;
	s->n = 0;
	proto_snapsig_init(&s->sig);
	return 0;
}

int sub_snap_part(struct sub_snap *s, const Decp__SnapshotPart *p)
{
	if (!s->active || p->master_id != s->master || p->sequence != s->seq ||
	    s->n + p->n_entries > s->count) {
		s->active = false;
		return -EPROTO;
	}
	if (s->n + p->n_entries > s->cap) {
		size_t cap = s->count;
		struct guard_book_entry *v = realloc(s->e, cap * sizeof(*v));

		if (v == NULL) {
			s->active = false;
			return -ENOMEM;
		}
		s->e = v;
		s->cap = cap;
	}
	for (size_t i = 0; i < p->n_entries; i++) {
		const Decp__BookEntry *b = p->entries[i];
		struct guard_book_entry *e = &s->e[s->n];

		if (guard_book_entry_set(e, b->ticket, (uint32_t)b->type, b->symbol, b->volume,
					 b->price, b->sl, b->tp, b->expiration_ns) != 0) {
			s->active = false;
			return -EPROTO;
		}
		proto_snapsig_add(&s->sig, b);
		s->n++;
	}
	return 0;
}

int sub_snap_end(struct sub_snap *s, const Decp__SnapshotEnd *e)
{
	bool ok = s->active && e->master_id == s->master && e->sequence == s->seq &&
		  e->count == s->count && s->n == s->count;

	s->active = false;
	if (!ok)
		return -EPROTO;
	/* by ticket: the plan's lookups and entry_of are binary searches */
	qsort(s->e, s->n, sizeof(*s->e), guard_book_entry_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (s->e[i - 1].ticket == s->e[i].ticket)
			return -EPROTO; /* a ticket twice: not a book */
	return 0;
}

int sub_snap_verify(struct sub_snap *s, const Decp__SnapshotEnd *e,
		    const struct proto_ed25519_key *pk)
{
	return proto_snapsig_verify(&s->sig, pk, e->master_id, e->sequence, e->count,
				    e->signature.data, e->signature.len);
}

void sub_snap_free(struct sub_snap *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

void sub_instrument_of(const struct guard_instruments *reg, const char *sym, char *out,
		       size_t cap)
{
	const struct guard_instrument *in = guard_instrument_find(reg, sym);

	if (in != NULL)
		snprintf(out, cap, "%s", in->symbol);
	else if (guard_symbol_base(sym, out, cap) < 0)
		snprintf(out, cap, "%s", sym);
}

static const struct guard_book_entry *entry_of(const struct sub_snap *s, uint64_t ticket)
{
	struct guard_book_entry key = {.ticket = ticket};

	return s->n > 0 ? bsearch(&key, s->e, s->n, sizeof(*s->e), guard_book_entry_cmp) : NULL;
}

/* One action into the account. */
static void execute(struct sub_account *a, const struct sub_snap *s,
		    const struct guard_resync_action *x, const struct sub_quotes *q,
		    const struct guard_instruments *reg)
{
	const struct guard_book_entry *e = entry_of(s, x->order.master_ticket);
	const struct sub_position *h = sub_account_find(a, s->master, x->order.master_ticket);
	struct guard_envelope env;
	struct guard_order o = x->order;
	char instrument[GUARD_SYMBOL_MAX];

	memset(&env, 0, sizeof(env));
	env.master_id = s->master;
	env.sequence = s->seq;
	env.position_ticket = x->order.master_ticket;
	if (e != NULL) {
		memcpy(env.symbol, e->symbol, sizeof(env.symbol));
		env.price = e->price;
		sub_instrument_of(reg, e->symbol, instrument, sizeof(instrument));
	} else if (h != NULL) {
		snprintf(instrument, sizeof(instrument), "%s", h->instrument);
	} else {
		return;
	}
	switch (x->op) {
	case GUARD_RESYNC_OPEN:
		env.order_type = e->type;
		env.volume = e->volume;
		break;
	case GUARD_RESYNC_CLOSE:
		if (h == NULL)
			return;
		o.type = GUARD_ORDER_CLOSE;
		o.price = sub_quotes_get(q, h->instrument);
		break;
	case GUARD_RESYNC_REDUCE:
		if (h == NULL)
			return;
		o.type = GUARD_ORDER_CLOSE_PARTIAL;
		o.price = sub_quotes_get(q, h->instrument);
		/* the master's reduction since: the copy follows the master's volume again */
		env.volume = h->master_volume > e->volume ? h->master_volume - e->volume : 0;
		break;
	case GUARD_RESYNC_MODIFY:
		o.type = GUARD_ORDER_MODIFY;
		break;
	case GUARD_RESYNC_SKIP:
		return;
	}
	(void)sub_account_apply(a, &env, instrument, &o, q, reg, NULL);
}

int sub_resync_apply(struct sub_account *a, const struct sub_snap *s, const struct guard_policy *p,
		     bool equity_tripped, guard_resync_view_fn view_fn, void *view_ctx,
		     const struct sub_quotes *q, const struct guard_instruments *reg, FILE *orders,
		     int idx, struct sub_resync_counts *out)
{
	struct guard_held *held = calloc(a->n + 1, sizeof(*held));
	size_t cap = 2 * (s->n + a->n) + 1, nh = 0;
	struct guard_resync_action *plan = calloc(cap, sizeof(*plan));
	long n;

	memset(out, 0, sizeof(*out));
	if (held == NULL || plan == NULL) {
		free(held);
		free(plan);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct sub_position *ps = &a->pos[i];

		if (ps->master != s->master)
			continue;
		held[nh].master_ticket = ps->ticket;
		held[nh].type = ps->type;
		memcpy(held[nh].symbol, ps->symbol, sizeof(held[nh].symbol));
		held[nh].volume = ps->volume;
		held[nh].price = ps->price;
		held[nh].sl = ps->sl;
		held[nh].tp = ps->tp;
		held[nh].master_volume = ps->master_volume;
		nh++;
	}
	qsort(held, nh, sizeof(*held), guard_held_cmp);
	/* at most two actions per entry (CLOSE + OPEN) and one per held copy: cap suffices */
	n = guard_resync_plan(p, equity_tripped, s->seq, view_fn, view_ctx, s->e, s->n, held, nh,
			      plan, cap);
	for (long i = 0; i < n; i++) {
		const struct guard_resync_action *x = &plan[i];

		execute(a, s, x, q, reg);
		out->opened += x->op == GUARD_RESYNC_OPEN;
		out->closed += x->op == GUARD_RESYNC_CLOSE;
		out->reduced += x->op == GUARD_RESYNC_REDUCE;
		out->modified += x->op == GUARD_RESYNC_MODIFY;
		out->skipped += x->op == GUARD_RESYNC_SKIP;
		if (orders != NULL)
			fprintf(orders, "%d %" PRIu64 " %" PRIu64 " resync %s %s %s %" PRId64 " %" PRIu64
				" %s\n", idx, s->master, s->seq, guard_resync_op_name(x->op),
				guard_order_type_name((enum guard_order_type)x->order.type),
				x->order.symbol[0] ? x->order.symbol : "-", x->order.volume,
				x->order.master_ticket,
				x->op == GUARD_RESYNC_SKIP ? guard_reason_name((enum guard_reason)x->reason)
							   : "-");
	}
	free(held);
	free(plan);
	return n < 0 ? (int)n : 0;
}
