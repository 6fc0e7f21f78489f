/* cp_book_cmp: the master's positions against the book. Contract in cp_book_cmp.h. */
#include "cp_book_cmp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_ticket(const void *a, const void *b)
{
	uint64_t x = ((const struct cp_book_entry *)a)->ticket;
	uint64_t y = ((const struct cp_book_entry *)b)->ticket;

	return x < y ? -1 : x > y;
}

static uint32_t fields_of(const struct cp_book_entry *m, const struct cp_book_entry *b)
{
	uint32_t f = 0;

	f |= m->type != b->type ? CP_BOOK_FIELD_TYPE : 0;
	f |= strncmp(m->symbol, b->symbol, sizeof(m->symbol)) != 0 ? CP_BOOK_FIELD_SYMBOL : 0;
	f |= m->volume != b->volume ? CP_BOOK_FIELD_VOLUME : 0;
	f |= m->price != b->price ? CP_BOOK_FIELD_PRICE : 0;
	f |= m->sl != b->sl ? CP_BOOK_FIELD_SL : 0;
	f |= m->tp != b->tp ? CP_BOOK_FIELD_TP : 0;
	f |= m->expiration_ns != b->expiration_ns ? CP_BOOK_FIELD_EXPIRATION : 0;
	return f;
}

static void report(cp_book_diff_fn fn, void *arg, enum cp_book_diff_kind kind, uint64_t ticket,
		   uint32_t fields, const struct cp_book_entry *m, const struct cp_book_entry *b)
{
	struct cp_book_diff d = {
		.kind = kind, .ticket = ticket, .fields = fields, .master = m, .book = b,
	};

	if (fn != NULL)
		fn(arg, &d);
}

size_t cp_book_compare(const struct cp_book *b, struct cp_book_entry *m, size_t n,
		       cp_book_diff_fn fn, void *arg)
{
	size_t diffs = 0;

	if (n > 1)
		qsort(m, n, sizeof(*m), by_ticket);
	for (size_t i = 0; i < n; i++) {
		const struct cp_book_entry *be;
		uint32_t f;

		if (i > 0 && m[i].ticket == m[i - 1].ticket) {
			report(fn, arg, CP_BOOK_DIFF_DUPLICATE, m[i].ticket, 0, &m[i], NULL);
			diffs++;
			continue;
		}
		be = cp_book_find(b, m[i].ticket);
		if (be == NULL) {
			report(fn, arg, CP_BOOK_DIFF_MISSING_IN_BOOK, m[i].ticket, 0, &m[i], NULL);
			diffs++;
		} else if ((f = fields_of(&m[i], be)) != 0) {
			report(fn, arg, CP_BOOK_DIFF_FIELDS, m[i].ticket, f, &m[i], be);
			diffs++;
		}
	}
	for (size_t k = 0; k < b->n; k++) {
		struct cp_book_entry key = {.ticket = b->e[k].ticket};

		if (n == 0 || bsearch(&key, m, n, sizeof(*m), by_ticket) == NULL) {
			report(fn, arg, CP_BOOK_DIFF_MISSING_AT_MASTER, b->e[k].ticket, 0, NULL,
			       &b->e[k]);
			diffs++;
		}
	}
	return diffs;
}

/* Appends to buf at *len, keeping the NUL; stops quietly when full. */
static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*len + 1 >= cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (k > 0)
		*len = *len + (size_t)k < cap ? *len + (size_t)k : cap - 1;
}

static void entry_text(char *buf, size_t cap, size_t *len, const struct cp_book_entry *e)
{
	add(buf, cap, len, "type %" PRIu32 " %s volume %" PRId64 " price %" PRId64 " sl %" PRId64
	    " tp %" PRId64, e->type, e->symbol, e->volume, e->price, e->sl, e->tp);
}

/* The numeric field `bit` (volume, price, sl, tp, expiration) of e. */
static int64_t number_of(const struct cp_book_entry *e, uint32_t bit)
{
	switch (bit) {
	case CP_BOOK_FIELD_VOLUME:
		return e->volume;
	case CP_BOOK_FIELD_PRICE:
		return e->price;
	case CP_BOOK_FIELD_SL:
		return e->sl;
	case CP_BOOK_FIELD_TP:
		return e->tp;
	default:
		return e->expiration_ns;
	}
}

const char *cp_book_diff_format(const struct cp_book_diff *d, char *buf, size_t cap)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{CP_BOOK_FIELD_TYPE, "type"}, {CP_BOOK_FIELD_SYMBOL, "symbol"},
		{CP_BOOK_FIELD_VOLUME, "volume"}, {CP_BOOK_FIELD_PRICE, "price"},
		{CP_BOOK_FIELD_SL, "sl"}, {CP_BOOK_FIELD_TP, "tp"},
		{CP_BOOK_FIELD_EXPIRATION, "expiration"},
	};
	size_t len = 0;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	add(buf, cap, &len, "ticket %" PRIu64 ": ", d->ticket);
	switch (d->kind) {
	case CP_BOOK_DIFF_MISSING_IN_BOOK:
		add(buf, cap, &len, "held by the master, not in the book (");
		entry_text(buf, cap, &len, d->master);
		add(buf, cap, &len, ")");
		break;
	case CP_BOOK_DIFF_MISSING_AT_MASTER:
		add(buf, cap, &len, "in the book, not held by the master (");
		entry_text(buf, cap, &len, d->book);
		add(buf, cap, &len, ")");
		break;
	case CP_BOOK_DIFF_DUPLICATE:
		add(buf, cap, &len, "listed twice by the master");
		break;
	case CP_BOOK_DIFF_FIELDS:
		add(buf, cap, &len, "differs:");
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (!(d->fields & names[i].bit))
				continue;
			if (names[i].bit == CP_BOOK_FIELD_SYMBOL)
				add(buf, cap, &len, " symbol master %s book %s", d->master->symbol,
				    d->book->symbol);
			else if (names[i].bit == CP_BOOK_FIELD_TYPE)
				add(buf, cap, &len, " type master %" PRIu32 " book %" PRIu32,
				    d->master->type, d->book->type);
			else
				add(buf, cap, &len, " %s master %" PRId64 " book %" PRId64,
				    names[i].name, number_of(d->master, names[i].bit),
				    number_of(d->book, names[i].bit));
		}
		break;
	}
	return buf;
}
