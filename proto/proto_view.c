/* Copy-free MasterFrame/Signal parsing; contract and equivalence rule in proto_view.h. */
#include "proto_view.h"

#include <errno.h>
#include <string.h>

#include "proto_wire.h"
#include "proto_wire_pvt.h"

/*
 * Wire types of the known fields of the MasterFrame members, index = field
 * number. protobuf-c refuses a known field with another wire type, so we must
 * too -- in EVERY occurrence of a oneof member, not only the last, because
 * protobuf-c parses each one before the next replaces it.
 */
static const int8_t hello_wt[] = { -1, PROTO_WT_LEN, PROTO_WT_VARINT, PROTO_WT_LEN,
				    PROTO_WT_VARINT };
static const int8_t signed_wt[] = { -1, PROTO_WT_LEN, PROTO_WT_LEN, PROTO_WT_LEN };
static const int8_t heartbeat_wt[] = { -1, PROTO_WT_VARINT };
static const int8_t login_proof_wt[] = { -1, PROTO_WT_LEN };
static const int8_t positions_wt[] = { -1, PROTO_WT_LEN, PROTO_WT_LEN };

/* Checks a member's encoding; for a SignedSignal also fills *v (last occurrence wins).
 * Positions stay in registers (proto_wire_pvt.h). */
static int check_member(const uint8_t *p, size_t len, const int8_t *wts, size_t nwts,
			struct proto_signed_view *v)
{
	const uint8_t *end = p + len;

	while (p < end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t n;

		if ((p = wire_get_tag(p, end, &f, &wt)) == NULL)
			return -1;
		if (f >= nwts) {
			if ((p = wire_skip(p, end, wt)) == NULL)
				return -1;
			continue;
		}
		if ((int)wt != wts[f])
			return -1;
		if (wt == PROTO_WT_VARINT) {
			uint64_t x;

			if ((p = wire_get_varint(p, end, &x, 10)) == NULL)
				return -1;
			continue;
		}
		if ((p = wire_get_len(p, end, &d, &n)) == NULL)
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
	const uint8_t *end;
	struct proto_signed_view out = { 0 };
	int kind = DECP__MASTER_FRAME__KIND__NOT_SET;

	if (p == NULL || v == NULL)
		return -EBADMSG;
	end = p + len;
	while (p < end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t n;
		int rc;

		if ((p = wire_get_tag(p, end, &f, &wt)) == NULL)
			return -EBADMSG;
		if (f < 1 || f > DECP__MASTER_FRAME__KIND_POSITIONS) {
			if ((p = wire_skip(p, end, wt)) == NULL)
				return -EBADMSG;
			continue;
		}
		/* oneof member (all message-typed). One per frame: protobuf would let the last
		 * one on the wire win, and a signal before it would go unanswered, so a second
		 * (the same or another) is refused. */
		if (kind != DECP__MASTER_FRAME__KIND__NOT_SET)
			return -EEXIST;
		if (wt != PROTO_WT_LEN || (p = wire_get_len(p, end, &d, &n)) == NULL)
			return -EBADMSG;
		if (f == DECP__MASTER_FRAME__KIND_SIGNAL) {
			struct proto_signed_view one = { 0 };

			rc = check_member(d, n, signed_wt, sizeof(signed_wt), &one);
			out = one;
		} else if (f == DECP__MASTER_FRAME__KIND_HELLO) {
			rc = check_member(d, n, hello_wt, sizeof(hello_wt), NULL);
		} else if (f == DECP__MASTER_FRAME__KIND_HEARTBEAT) {
			rc = check_member(d, n, heartbeat_wt, sizeof(heartbeat_wt), NULL);
		} else if (f == DECP__MASTER_FRAME__KIND_POSITIONS) {
			rc = check_member(d, n, positions_wt, sizeof(positions_wt), NULL);
		} else {
			rc = check_member(d, n, login_proof_wt, sizeof(login_proof_wt), NULL);
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
	struct proto_wire_signal w;

	if (out == NULL || symbol == NULL || proto_wire_signal_parse(body, len, &w) != 0)
		return -EPROTO;
	/* An initialiser the compiler inlines (decp__signal__init is an out-of-line copy). */
	*out = (Decp__Signal)DECP__SIGNAL__INIT;
	memcpy(symbol, w.symbol, sizeof(w.symbol));
	out->symbol = symbol;
	out->master_id = w.master_id;
	out->sequence = w.sequence;
	out->order_type = (Decp__OrderType)w.order_type;
	out->volume = w.volume;
	out->price = w.price;
	out->sl = w.sl;
	out->tp = w.tp;
	out->position_ticket = w.position_ticket;
	out->master_time_ns = w.master_time_ns;
	out->expiration_ns = w.expiration_ns;
	return 0;
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
