/* cp_book: a master's position book. Rules, format and contract in cp_book.h. */
#include "cp_book.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guard_types.h"

void cp_book_init(struct cp_book *b, uint64_t master_id)
{
	memset(b, 0, sizeof(*b));
	b->master_id = master_id;
}

void cp_book_free(struct cp_book *b)
{
	free(b->e);
	free(b->idx);
	b->e = NULL;
	b->idx = NULL;
	b->n = b->cap = b->idx_cap = 0;
}

static size_t slot_of(const struct cp_book *b, uint64_t ticket)
{
	/* Fibonacci hashing: tickets are often consecutive */
	return (size_t)((ticket * UINT64_C(11400714819323198485)) >> 32) & (b->idx_cap - 1);
}

/* The index slot holding ticket, or the empty slot where it would go. */
static size_t probe(const struct cp_book *b, uint64_t ticket)
{
	size_t i = slot_of(b, ticket);

	while (b->idx[i] != 0 && b->e[b->idx[i] - 1].ticket != ticket)
		i = (i + 1) & (b->idx_cap - 1);
	return i;
}

static int reindex(struct cp_book *b, size_t idx_cap)
{
	uint32_t *idx = calloc(idx_cap, sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	free(b->idx);
	b->idx = idx;
	b->idx_cap = idx_cap;
	for (size_t k = 0; k < b->n; k++)
		b->idx[probe(b, b->e[k].ticket)] = (uint32_t)(k + 1);
	return 0;
}

/* Room for one more entry (array and index at most half full). */
static int reserve(struct cp_book *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct cp_book_entry *e;

		if (cap > UINT32_MAX / 2)
			return -ENOMEM;
		e = realloc(b->e, cap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		b->e = e;
		b->cap = cap;
	}
	if (b->idx_cap < 2 * b->cap)
		return reindex(b, 2 * b->cap);
	return 0;
}

int cp_book_copy(struct cp_book *dst, const struct cp_book *src)
{
	struct cp_book_entry *e = NULL;
	uint32_t *idx = NULL;

	if (src->cap > 0 && (e = malloc(src->cap * sizeof(*e))) == NULL)
		goto fail;
	if (src->idx_cap > 0 && (idx = malloc(src->idx_cap * sizeof(*idx))) == NULL)
		goto fail;
	if (src->n > 0)
		memcpy(e, src->e, src->n * sizeof(*e));
	if (src->idx_cap > 0)
		memcpy(idx, src->idx, src->idx_cap * sizeof(*idx));
	cp_book_free(dst);
	*dst = *src;
	dst->e = e;
	dst->idx = idx;
	return 0;
fail:
	free(e);
	cp_book_free(dst);
	cp_book_init(dst, 0);
	return -ENOMEM;
}

const struct cp_book_entry *cp_book_find(const struct cp_book *b, uint64_t ticket)
{
	size_t i;

	if (b->idx_cap == 0)
		return NULL;
	i = probe(b, ticket);
	return b->idx[i] != 0 ? &b->e[b->idx[i] - 1] : NULL;
}

/* Removes the entry at index slot i: backward-shift deletion keeps every probe chain
 * unbroken; the last entry moves into the freed array place. */
static void remove_at(struct cp_book *b, size_t i)
{
	size_t k = b->idx[i] - 1, j = i, last = b->n - 1;

	for (;;) {
		size_t home;

		b->idx[j] = 0;
		for (;;) {
			i = (i + 1) & (b->idx_cap - 1);
			if (b->idx[i] == 0)
				goto moved;
			home = slot_of(b, b->e[b->idx[i] - 1].ticket);
			/* the entry at i may move to j when its home is not in (j, i] */
			if (j <= i ? (home <= j || home > i) : (home <= j && home > i))
				break;
		}
		b->idx[j] = b->idx[i];
		j = i;
	}
moved:
	if (k != last) {
		b->e[k] = b->e[last];
		b->idx[probe(b, b->e[k].ticket)] = (uint32_t)(k + 1);
	}
	b->n--;
}

static bool is_pending(uint32_t t)
{
	return t >= GUARD_ORDER_BUY_LIMIT && t <= GUARD_ORDER_SELL_STOP;
}

static bool symbol_ok(const char *s, size_t n)
{
	if (n == 0 || n >= CP_BOOK_SYMBOL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* BUY/SELL of the symbol and side of a pending order held under its ticket. */
static bool fills(const struct cp_book_entry *e, const struct cp_book_signal *s)
{
	bool buy = e->type == GUARD_ORDER_BUY_LIMIT || e->type == GUARD_ORDER_BUY_STOP;
	bool sell = e->type == GUARD_ORDER_SELL_LIMIT || e->type == GUARD_ORDER_SELL_STOP;

	return ((buy && s->order_type == GUARD_ORDER_BUY) ||
		(sell && s->order_type == GUARD_ORDER_SELL)) &&
	       strcmp(e->symbol, s->symbol) == 0;
}

static void fill(struct cp_book_entry *e, const struct cp_book_signal *s)
{
	size_t n = strlen(s->symbol);

	memset(e, 0, sizeof(*e));
	e->ticket = s->ticket;
	e->type = s->order_type;
	memcpy(e->symbol, s->symbol, n);
	e->volume = s->volume;
	e->price = s->price;
	e->sl = s->sl;
	e->tp = s->tp;
	e->expiration_ns = s->expiration_ns;
	e->opened_seq = e->updated_seq = s->sequence;
}

int cp_book_apply(struct cp_book *b, const struct cp_book_signal *s, enum cp_book_effect *effect)
{
	enum cp_book_effect eff;
	struct cp_book_entry *e = NULL;
	size_t i = 0;
	int rc;

	if (b == NULL || s == NULL || s->master_id != b->master_id || s->symbol == NULL ||
	    !symbol_ok(s->symbol, strlen(s->symbol)) || s->order_type < GUARD_ORDER_BUY ||
	    s->order_type >= GUARD_ORDER_TYPE_COUNT || s->volume < 0 || s->price < 0 ||
	    s->sl < 0 || s->tp < 0)
		return -EINVAL;
	if (s->sequence <= b->seq)
		return -EALREADY;
	if (s->sequence != b->seq + 1)
		return -ERANGE;
	/* room first, so that nothing below can fail half-way */
	if ((rc = reserve(b)) != 0)
		return rc;
	i = probe(b, s->ticket);
	if (b->idx[i] != 0)
		e = &b->e[b->idx[i] - 1];

	switch (s->order_type) {
	case GUARD_ORDER_MODIFY:
		if (e == NULL) {
			eff = CP_BOOK_ANOMALY_UNKNOWN;
			break;
		}
		e->sl = s->sl;
		e->tp = s->tp;
		if (is_pending(e->type) && s->price > 0)
			e->price = s->price;
		e->updated_seq = s->sequence;
		eff = CP_BOOK_MODIFIED;
		break;
	case GUARD_ORDER_CLOSE:
		if (e == NULL) {
			eff = CP_BOOK_ANOMALY_UNKNOWN;
			break;
		}
		remove_at(b, i);
		eff = CP_BOOK_CLOSED;
		break;
	case GUARD_ORDER_CLOSE_PARTIAL:
		if (e == NULL) {
			eff = CP_BOOK_ANOMALY_UNKNOWN;
			break;
		}
		if (is_pending(e->type)) {
			eff = CP_BOOK_ANOMALY_NOT_POSITION;
			break;
		}
		if (s->volume >= e->volume) {
			remove_at(b, i);
			eff = CP_BOOK_CLOSED;
			break;
		}
		e->volume -= s->volume;
		e->updated_seq = s->sequence;
		eff = CP_BOOK_REDUCED;
		break;
	default: /* BUY, SELL and the pending types */
		eff = is_pending(s->order_type) ? CP_BOOK_PLACED : CP_BOOK_OPENED;
		if (e != NULL) {
			/* a pending order's fill: the position keeps the order's ticket (MT5),
			 * DecpMaster signals the opening deal */
			eff = fills(e, s) ? CP_BOOK_FILLED : CP_BOOK_ANOMALY_REOPENED;
		} else {
			e = &b->e[b->n++];
			b->idx[i] = (uint32_t)b->n;
		}
		fill(e, s);
		break;
	}
	b->seq = s->sequence;
	if (eff >= CP_BOOK_ANOMALY_UNKNOWN)
		b->anomalies++;
	if (effect != NULL)
		*effect = eff;
	return 0;
}

/* ---------------------------------------------------------------- encoding -- */

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

size_t cp_book_encoded_max(const struct cp_book *b)
{
	return CP_BOOK_HDR + b->n * CP_BOOK_ENTRY_MAX;
}

long cp_book_encode(const struct cp_book *b, uint8_t *out, size_t cap)
{
	uint8_t *p = out;

	if (b->n > UINT32_MAX || cap < cp_book_encoded_max(b))
		return -ENOBUFS;
	memcpy(p, CP_BOOK_MAGIC, 4);
	p = put64(p + 4, b->master_id);
	p = put64(p, b->seq);
	p = put64(p, b->anomalies);
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(b->n >> (8 * i));
	for (size_t k = 0; k < b->n; k++) {
		const struct cp_book_entry *e = &b->e[k];
		size_t sl = strlen(e->symbol);

		p = put64(p, e->ticket);
		*p++ = (uint8_t)e->type;
		*p++ = (uint8_t)sl;
		memcpy(p, e->symbol, sl);
		p += sl;
		p = put64(p, (uint64_t)e->volume);
		p = put64(p, (uint64_t)e->price);
		p = put64(p, (uint64_t)e->sl);
		p = put64(p, (uint64_t)e->tp);
		p = put64(p, (uint64_t)e->expiration_ns);
		p = put64(p, e->opened_seq);
		p = put64(p, e->updated_seq);
	}
	return (long)(p - out);
}

int cp_book_decode(struct cp_book *b, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint32_t n = 0;
	int rc = -EINVAL;

	cp_book_free(b);
	cp_book_init(b, 0);
	if (p == NULL || len < CP_BOOK_HDR || memcmp(p, CP_BOOK_MAGIC, 4) != 0)
		return -EINVAL;
	b->master_id = get64(p + 4);
	b->seq = get64(p + 12);
	b->anomalies = get64(p + 20);
	for (int i = 3; i >= 0; i--)
		n = n << 8 | p[28 + i];
	p += CP_BOOK_HDR;
	/* every entry takes at least 67 bytes: a count the input cannot hold is refused
	 * before anything is allocated for it */
	if (n > (size_t)(end - p) / (8 + 1 + 1 + 1 + 7 * 8))
		goto fail;
	for (uint32_t k = 0; k < n; k++) {
		struct cp_book_entry e;
		size_t sl, i;

		if (end - p < 10)
			goto fail;
		memset(&e, 0, sizeof(e));
		e.ticket = get64(p);
		e.type = p[8];
		sl = p[9];
		p += 10;
		if ((size_t)(end - p) < sl + 7 * 8 || !symbol_ok((const char *)p, sl) ||
		    (e.type != GUARD_ORDER_BUY && e.type != GUARD_ORDER_SELL && !is_pending(e.type)))
			goto fail;
		memcpy(e.symbol, p, sl);
		p += sl;
		e.volume = (int64_t)get64(p);
		e.price = (int64_t)get64(p + 8);
		e.sl = (int64_t)get64(p + 16);
		e.tp = (int64_t)get64(p + 24);
		e.expiration_ns = (int64_t)get64(p + 32);
		e.opened_seq = get64(p + 40);
		e.updated_seq = get64(p + 48);
		p += 56;
		if (e.volume < 0 || e.price < 0 || e.sl < 0 || e.tp < 0 ||
		    e.opened_seq > e.updated_seq || e.updated_seq > b->seq)
			goto fail;
		if ((rc = reserve(b)) != 0)
			goto fail;
		rc = -EINVAL;
		i = probe(b, e.ticket);
		if (b->idx[i] != 0)
			goto fail; /* a ticket twice */
		b->e[b->n++] = e;
		b->idx[i] = (uint32_t)b->n;
	}
	if (p != end)
		goto fail;
	return 0;
fail:
	cp_book_free(b);
	cp_book_init(b, 0);
	return rc;
}
