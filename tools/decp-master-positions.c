/* decp-master's own positions. Contract in decp-master-positions.h. */
#include "decp-master-positions.h"

#include "cp_book_body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WRONG_TICKET UINT64_C(0x7fffffff00000001) /* never opened by the generator */

void dm_positions_init(struct dm_positions *p, uint64_t master)
{
	memset(p, 0, sizeof(*p));
	cp_book_init(&p->book, master);
}

static void sending_free(struct dm_positions *p)
{
	free(p->ents);
	free(p->ptrs);
	free(p->ends);
	free(p->copy);
	p->copy = NULL;
	p->ents = NULL;
	p->ptrs = NULL;
	p->ends = NULL;
	p->n = 0;
	p->parts = p->next = 0;
}

void dm_positions_abort(struct dm_positions *p)
{
	sending_free(p);
}

void dm_positions_free(struct dm_positions *p)
{
	sending_free(p);
	cp_book_free(&p->book);
}

int dm_positions_apply(struct dm_positions *p, uint64_t seq, const struct dm_trade *t)
{
	const struct cp_book_signal s = {
		.master_id = p->book.master_id, .sequence = seq, .ticket = t->ticket,
		.order_type = (uint32_t)t->order_type, .symbol = t->symbol, .volume = t->volume,
		.price = t->price, .sl = t->sl, .tp = t->tp,
	};

	return cp_book_apply(&p->book, &s, NULL);
}

long dm_positions_take(struct dm_positions *p, bool wrong, uint64_t snapshot_id, int64_t now_ns)
{
	static const struct cp_book_entry phantom = {
		.ticket = WRONG_TICKET, .type = 1, .symbol = "EURUSD", .volume = 1, .price = 108000,
	};
	size_t n = p->book.n + (wrong ? 1 : 0);
	long parts;

	if (dm_positions_sending(p))
		return -EBUSY;
	sending_free(p);
	p->ents = calloc(n > 0 ? n : 1, sizeof(*p->ents));
	p->ptrs = calloc(n > 0 ? n : 1, sizeof(*p->ptrs));
	p->ends = calloc(n > 0 ? n : 1, sizeof(*p->ends));
	p->copy = calloc(n > 0 ? n : 1, sizeof(*p->copy));
	if (p->ents == NULL || p->ptrs == NULL || p->ends == NULL || p->copy == NULL) {
		sending_free(p);
		return -ENOMEM;
	}
	/* a copy: the book moves on with later ACKs while the parts go out */
	if (p->book.n > 0)
		memcpy(p->copy, p->book.e, p->book.n * sizeof(*p->copy));
	if (wrong) {
		if (p->book.n > 0)
			p->copy[0].volume += 1;
		p->copy[n - 1] = phantom;
	}
	for (size_t i = 0; i < n; i++)
		cp_book_entry_to_pb(&p->copy[i], &p->ents[i]);
	for (size_t i = 0; i < n; i++)
		p->ptrs[i] = &p->ents[i];
	parts = proto_positions_split(p->ptrs, n, p->ends, n > 0 ? n : 1);
	if (parts < 0) {
		sending_free(p);
		return parts;
	}
	p->n = n;
	p->parts = parts;
	p->next = 0;
	p->id = snapshot_id;
	p->seq = p->book.seq;
	p->time_ns = now_ns;
	return parts;
}

int dm_positions_next(struct dm_positions *p, const struct proto_hmac_key *hk,
		      struct proto_sealed_positions *out)
{
	Decp__Positions m = DECP__POSITIONS__INIT;
	size_t from;
	int rc;

	if (!dm_positions_sending(p))
		return 0;
	from = p->next > 0 ? p->ends[p->next - 1] : 0;
	m.master_id = p->book.master_id;
	m.sequence = p->seq;
	m.snapshot_id = p->id;
	m.part = (uint32_t)p->next;
	m.parts = (uint32_t)p->parts;
	m.count = (uint32_t)p->n;
	m.entries = p->ptrs + from;
	m.n_entries = p->ends[p->next] - from;
	m.master_time_ns = p->time_ns;
	rc = proto_positions_seal(hk, &m, out);
	if (rc != 0)
		return rc;
	if (++p->next == p->parts) {
		p->sent++;
		sending_free(p);
	}
	return 1;
}
