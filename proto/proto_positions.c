/* proto_positions: the master's positions snapshot. Contract in proto_positions.h. */
#include "proto_positions.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire.h" /* the validity rules */

/* The rules are proto_wire's (one source for the DLL's encoder and this side). */
static int entry_validate(const Decp__BookEntry *e)
{
	if (e == NULL || (int)e->type < 0)
		return -EINVAL;
	return proto_wire_positions_entry_check(e->ticket, (uint32_t)e->type, e->symbol,
						e->volume, e->price, e->sl, e->tp,
						e->expiration_ns);
}

int proto_positions_validate(const Decp__Positions *p)
{
	if (p == NULL || proto_wire_positions_header_check(p->master_id, p->snapshot_id, p->part,
							   p->parts, p->count, p->n_entries) != 0)
		return -EINVAL;
	for (size_t i = 0; i < p->n_entries; i++)
		if (entry_validate(p->entries[i]) != 0)
			return -EINVAL;
	return 0;
}

int proto_positions_seal(const struct proto_hmac_key *hk, const Decp__Positions *p,
			 struct proto_sealed_positions *out)
{
	if (hk == NULL || out == NULL || proto_positions_validate(p) != 0)
		return -EINVAL;

	size_t n = decp__positions__get_packed_size(p);

	if (n > PROTO_POSITIONS_BODY_MAX)
		return -EMSGSIZE;
	out->body_len = decp__positions__pack(p, out->body);
	proto_hmac_compute_labeled(hk, PROTO_POSITIONS_LABEL, sizeof(PROTO_POSITIONS_LABEL) - 1,
				   out->body, out->body_len, out->hmac);
	return 0;
}

long proto_positions_split(Decp__BookEntry *const *entries, size_t n, size_t *ends,
			   size_t max_parts)
{
	struct proto_wire_book_entry *e;
	long parts;

	if (n > PROTO_POSITIONS_MAX || ends == NULL || max_parts == 0)
		return -EINVAL;
	if ((e = calloc(n > 0 ? n : 1, sizeof(*e))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (entry_validate(entries[i]) != 0) {
			free(e);
			return -EINVAL;
		}
		e[i].ticket = entries[i]->ticket;
		e[i].type = (uint32_t)entries[i]->type;
		/* validated: 1..PROTO_SYMBOL_MAX bytes */
		memcpy(e[i].symbol, entries[i]->symbol, strlen(entries[i]->symbol) + 1);
		e[i].volume = entries[i]->volume;
		e[i].price = entries[i]->price;
		e[i].sl = entries[i]->sl;
		e[i].tp = entries[i]->tp;
		e[i].expiration_ns = entries[i]->expiration_ns;
	}
	/* proto_wire's rule, the one the MetaTrader DLL cuts by */
	parts = proto_wire_positions_split(e, n, ends, max_parts);
	free(e);
	return parts;
}

/* Every entry's symbol as protobuf-c kept it is whole, no NUL inside it
 * (proto_wire_last_len): the entries are the body's field 7 occurrences, in order. */
static bool symbols_whole(const uint8_t *body, size_t len, const Decp__Positions *p)
{
	struct proto_wire_cursor c = { body, body + len };
	size_t i = 0;

	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t l, n;

		if (proto_wire_read_tag(&c, &f, &wt) != 0)
			return false;
		if (f != 7 || wt != PROTO_WT_LEN) {
			if (proto_wire_skip(&c, wt) != 0)
				return false;
			continue;
		}
		if (proto_wire_read_len(&c, &d, &l) != 0 || i >= p->n_entries ||
		    proto_wire_last_len(d, l, 3, &n) != 0 || n != strlen(p->entries[i]->symbol))
			return false;
		i++;
	}
	return i == p->n_entries;
}

int proto_positions_open(const uint8_t *body, size_t len, const uint8_t *hmac, size_t hmac_len,
			 const struct proto_hmac_key *hk, ProtobufCAllocator *alloc,
			 Decp__Positions **out)
{
	Decp__Positions *p;

	if (body == NULL || out == NULL)
		return -EINVAL;
	if (hk != NULL && proto_hmac_verify_labeled(hk, PROTO_POSITIONS_LABEL,
						    sizeof(PROTO_POSITIONS_LABEL) - 1, body, len,
						    hmac, hmac_len) != 0)
		return -EBADMSG;
	if (len == 0 || len > PROTO_POSITIONS_BODY_MAX)
		return -EPROTO;
	p = decp__positions__unpack(alloc, len, body);
	if (p == NULL)
		return -EPROTO;
	if (proto_positions_validate(p) != 0 || !symbols_whole(body, len, p)) {
		decp__positions__free_unpacked(p, alloc);
		return -EPROTO;
	}
	*out = p;
	return 0;
}
