/* Copy-free MasterFrame/Signal parsing; contract and equivalence rule in proto_view.h. */
#include "proto_view.h"

#include <errno.h>
#include <string.h>

/* Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct cursor {
	const uint8_t *p, *end;
};

/*
 * Reads a varint of at most maxb bytes. Limits follow protobuf-c (the rule of
 * proto_view.h: never accept what it refuses): values take at most 10 bytes
 * and the 10th may only carry the top bit (no silent truncation); tags and
 * length prefixes take at most 5 bytes.
 */
static int rd_varint_n(struct cursor *c, uint64_t *v, unsigned maxb)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < maxb; i++) {
		uint8_t b;

		if (c->p == c->end)
			return -1;
		b = *c->p++;
		if (i == 9 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static int rd_varint(struct cursor *c, uint64_t *v)
{
	return rd_varint_n(c, v, 10);
}

/* Reads a tag: at most 5 bytes, 32 bits, field number >= 1 (0 is invalid protobuf). */
static int rd_tag(struct cursor *c, uint32_t *field, unsigned *wt)
{
	uint64_t t;

	if (rd_varint_n(c, &t, 5) != 0 || t > UINT32_MAX || (t >> 3) == 0)
		return -1;
	*field = (uint32_t)(t >> 3);
	*wt = (unsigned)(t & 7);
	return 0;
}

/* Reads a length prefix (at most 5 bytes, 32 bits) and the bytes it covers. */
static int rd_len(struct cursor *c, const uint8_t **data, size_t *len)
{
	uint64_t n;

	if (rd_varint_n(c, &n, 5) != 0 || n > UINT32_MAX || n > (uint64_t)(c->end - c->p))
		return -1;
	*data = c->p;
	*len = (size_t)n;
	c->p += n;
	return 0;
}

/* Skips one unknown field's value. Groups (3, 4) are refused. */
static int skip(struct cursor *c, unsigned wt)
{
	uint64_t v;
	const uint8_t *d;
	size_t n;

	switch (wt) {
	case WT_VARINT:
		return rd_varint(c, &v);
	case WT_I64:
		if (c->end - c->p < 8)
			return -1;
		c->p += 8;
		return 0;
	case WT_LEN:
		return rd_len(c, &d, &n);
	case WT_I32:
		if (c->end - c->p < 4)
			return -1;
		c->p += 4;
		return 0;
	default:
		return -1;
	}
}

/*
 * Wire types of the known fields of the MasterFrame members, index = field
 * number. protobuf-c refuses a known field with another wire type, so we must
 * too -- in EVERY occurrence of a oneof member, not only the last, because
 * protobuf-c parses each one before the next replaces it.
 */
static const int8_t hello_wt[] = { -1, WT_LEN, WT_VARINT, WT_LEN, WT_VARINT };
static const int8_t signed_wt[] = { -1, WT_LEN, WT_LEN, WT_LEN };
static const int8_t heartbeat_wt[] = { -1, WT_VARINT };

/* Checks a member's encoding; for a SignedSignal also fills *v (last occurrence wins). */
static int check_member(const uint8_t *p, size_t len, const int8_t *wts, size_t nwts,
			struct proto_signed_view *v)
{
	struct cursor c = { p, p + len };

	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t n;

		if (rd_tag(&c, &f, &wt) != 0)
			return -1;
		if (f >= nwts) {
			if (skip(&c, wt) != 0)
				return -1;
			continue;
		}
		if ((int)wt != wts[f])
			return -1;
		if (wt == WT_VARINT) {
			uint64_t x;

			if (rd_varint(&c, &x) != 0)
				return -1;
			continue;
		}
		if (rd_len(&c, &d, &n) != 0)
			return -1;
		if (v == NULL)
			continue;
		if (f == 1) {
			v->body = d;
			v->body_len = n;
		} else if (f == 2) {
			v->hmac = d;
			v->hmac_len = n;
		} else {
			v->sig = d;
			v->sig_len = n;
		}
	}
	return 0;
}

int proto_master_frame_view(const uint8_t *p, size_t len, struct proto_signed_view *v)
{
	struct cursor c;
	struct proto_signed_view out = { 0 };
	int kind = DECP__MASTER_FRAME__KIND__NOT_SET;

	if (p == NULL || v == NULL)
		return -EBADMSG;
	c.p = p;
	c.end = p + len;
	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t n;
		int rc;

		if (rd_tag(&c, &f, &wt) != 0)
			return -EBADMSG;
		if (f < 1 || f > 3) {
			if (skip(&c, wt) != 0)
				return -EBADMSG;
			continue;
		}
		/* oneof member (all message-typed): the last one on the wire wins. */
		if (wt != WT_LEN || rd_len(&c, &d, &n) != 0)
			return -EBADMSG;
		if (f == DECP__MASTER_FRAME__KIND_SIGNAL) {
			struct proto_signed_view one = { 0 };

			rc = check_member(d, n, signed_wt, sizeof(signed_wt), &one);
			out = one;
		} else if (f == DECP__MASTER_FRAME__KIND_HELLO) {
			rc = check_member(d, n, hello_wt, sizeof(hello_wt), NULL);
		} else {
			rc = check_member(d, n, heartbeat_wt, sizeof(heartbeat_wt), NULL);
		}
		if (rc != 0)
			return -EBADMSG;
		kind = (int)f;
	}
	if (kind == DECP__MASTER_FRAME__KIND__NOT_SET)
		return -EBADMSG;
	if (kind == DECP__MASTER_FRAME__KIND_SIGNAL)
		*v = out;
	return kind;
}

int proto_signal_parse(const uint8_t *body, size_t len, Decp__Signal *out,
		       char symbol[PROTO_SYMBOL_MAX + 1])
{
	struct cursor c;

	if (body == NULL || out == NULL || symbol == NULL || len == 0 ||
	    len > PROTO_SIGNAL_BODY_MAX)
		return -EPROTO;
	c.p = body;
	c.end = body + len;
	decp__signal__init(out);
	symbol[0] = '\0';
	out->symbol = symbol;
	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		uint64_t v;

		if (rd_tag(&c, &f, &wt) != 0)
			return -EPROTO;
		if (f == 3) {
			const uint8_t *d;
			size_t n;

			if (wt != WT_LEN || rd_len(&c, &d, &n) != 0 || n > PROTO_SYMBOL_MAX)
				return -EPROTO;
			/* Printable ASCII only, so no embedded NUL can shorten what protobuf-c sees. */
			for (size_t i = 0; i < n; i++)
				if (d[i] < 0x21 || d[i] > 0x7e)
					return -EPROTO;
			memcpy(symbol, d, n);
			symbol[n] = '\0';
			continue;
		}
		if (f > 11) {
			if (skip(&c, wt) != 0)
				return -EPROTO;
			continue;
		}
		/* Fields 1, 2, 4..11 are all varint-encoded scalars. */
		if (wt != WT_VARINT || rd_varint(&c, &v) != 0)
			return -EPROTO;
		switch (f) {
		case 1: out->master_id = v; break;
		case 2: out->sequence = v; break;
		case 4:
			/* Enum: protobuf-c keeps the low 32 bits; refuse anything wider. */
			if (v > INT32_MAX)
				return -EPROTO;
			out->order_type = (Decp__OrderType)v;
			break;
		case 5: out->volume = (int64_t)v; break;
		case 6: out->price = (int64_t)v; break;
		case 7: out->sl = (int64_t)v; break;
		case 8: out->tp = (int64_t)v; break;
		case 9: out->position_ticket = v; break;
		case 10: out->master_time_ns = (int64_t)v; break;
		case 11: out->expiration_ns = (int64_t)v; break;
		default: break;
		}
	}
	return proto_signal_validate(out) == 0 ? 0 : -EPROTO;
}

int proto_signal_open_view(const struct proto_signed_view *v, const struct proto_hmac_key *hk,
			   const struct proto_ed25519_key *pk, Decp__Signal *out,
			   char symbol[PROTO_SYMBOL_MAX + 1])
{
	if (v == NULL || out == NULL || symbol == NULL || (hk == NULL && pk == NULL))
		return -EINVAL;
	if (v->body == NULL || v->body_len == 0 || v->body_len > PROTO_SIGNAL_BODY_MAX)
		return -EPROTO;
	if (hk != NULL && proto_hmac_verify(hk, v->body, v->body_len, v->hmac, v->hmac_len) != 0)
		return -EBADMSG;
	if (pk != NULL &&
	    proto_ed25519_key_verify(pk, v->body, v->body_len, v->sig, v->sig_len) != 0)
		return -EBADMSG;
	return proto_signal_parse(v->body, v->body_len, out, symbol);
}
