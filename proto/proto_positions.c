/* proto_positions: the master's positions snapshot. Contract in proto_positions.h. */
#include "proto_positions.h"

#include <errno.h>
#include <string.h>

#include "proto_wire.h" /* PROTO_SYMBOL_MAX */

static int entry_validate(const Decp__BookEntry *e)
{
	size_t n;

	if (e == NULL || e->ticket == 0 || e->type < 1 || e->type > 6 || e->volume <= 0 ||
	    e->price < 0 || e->sl < 0 || e->tp < 0 || e->expiration_ns < 0 || e->symbol == NULL)
		return -EINVAL;
	n = strnlen(e->symbol, PROTO_SYMBOL_MAX + 1);
	if (n == 0 || n > PROTO_SYMBOL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (e->symbol[i] < 0x21 || e->symbol[i] > 0x7e)
			return -EINVAL;
	return 0;
}

int proto_positions_validate(const Decp__Positions *p)
{
	if (p == NULL || p->master_id == 0 || p->snapshot_id == 0 || p->parts < 1 ||
	    p->part >= p->parts || p->count > PROTO_POSITIONS_MAX ||
	    p->parts > (p->count > 0 ? p->count : 1) || p->n_entries > p->count ||
	    (p->count > 0 && p->n_entries == 0))
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

/* Bytes of a Positions with every header field at its widest and no entry. */
static size_t header_max(void)
{
	Decp__Positions h = DECP__POSITIONS__INIT;

	h.master_id = h.sequence = h.snapshot_id = UINT64_MAX;
	h.part = h.parts = h.count = UINT32_MAX;
	h.master_time_ns = -1;
	return decp__positions__get_packed_size(&h);
}

long proto_positions_split(Decp__BookEntry *const *entries, size_t n, size_t *ends,
			   size_t max_parts)
{
	size_t hdr = header_max(), used = hdr, parts = 0;

	if (n > PROTO_POSITIONS_MAX || ends == NULL || max_parts == 0)
		return -EINVAL;
	if (n == 0) {
		ends[0] = 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t sz;

		if (entry_validate(entries[i]) != 0)
			return -EINVAL;
		sz = decp__book_entry__get_packed_size(entries[i]);
		sz += 1 + (sz < 128 ? 1 : 2); /* tag and length of the repeated field 7 */
		if (hdr + sz > PROTO_POSITIONS_BODY_MAX)
			return -EINVAL;
		if (used + sz > PROTO_POSITIONS_BODY_MAX) {
			if (parts + 1 >= max_parts)
				return -ENOBUFS;
			ends[parts++] = i;
			used = hdr;
		}
		used += sz;
	}
	ends[parts++] = n;
	return (long)parts;
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
	if (proto_positions_validate(p) != 0) {
		decp__positions__free_unpacked(p, alloc);
		return -EPROTO;
	}
	*out = p;
	return 0;
}
