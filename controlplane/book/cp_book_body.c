/* cp_book_body: a Signal body into a position book. Contract in cp_book_body.h. */
#include "cp_book_body.h"

#include <errno.h>

#include "proto_msg.h"
#include "proto_signal.h"

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
