/* cp_book_body: a Signal body into a position book. Contract in cp_book_body.h. */
#include "cp_book_body.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto_msg.h"
#include "proto_signal.h"

void cp_book_entry_to_pb(const struct cp_book_entry *e, Decp__BookEntry *pb)
{
	decp__book_entry__init(pb);
	pb->ticket = e->ticket;
	pb->type = (Decp__OrderType)e->type;
	pb->symbol = (char *)e->symbol;
	pb->volume = e->volume;
	pb->price = e->price;
	pb->sl = e->sl;
	pb->tp = e->tp;
	pb->expiration_ns = e->expiration_ns;
}

void cp_book_entry_from_pb(const Decp__BookEntry *pb, struct cp_book_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->ticket = pb->ticket;
	e->type = (uint32_t)pb->type;
	snprintf(e->symbol, sizeof(e->symbol), "%s", pb->symbol != NULL ? pb->symbol : "");
	e->volume = pb->volume;
	e->price = pb->price;
	e->sl = pb->sl;
	e->tp = pb->tp;
	e->expiration_ns = pb->expiration_ns;
}

int cp_book_apply_body(struct cp_book *b, uint64_t seq, const uint8_t *body, size_t len,
		       uint64_t *ticket, enum cp_book_effect *effect)
{
	Decp__Signal *sg = proto_signal_decode(body, len, NULL);
	struct cp_book_signal s;
	int rc;

	if (sg == NULL)
		return -EINVAL;
	s = (struct cp_book_signal){.master_id = sg->master_id, .sequence = sg->sequence,
				    .ticket = sg->position_ticket, .order_type = sg->order_type,
				    .symbol = sg->symbol, .volume = sg->volume, .price = sg->price,
				    .sl = sg->sl, .tp = sg->tp, .expiration_ns = sg->expiration_ns};
	if (ticket != NULL)
		*ticket = s.ticket;
	rc = sg->sequence == seq ? cp_book_apply(b, &s, effect) : -EINVAL;
	proto_msg_free(&sg->base, NULL);
	return rc;
}
