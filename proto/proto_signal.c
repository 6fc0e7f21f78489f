/* SignedSignal seal/open; contract in proto_signal.h. */
#include "proto_signal.h"

#include <errno.h>
#include <string.h>

int proto_signal_validate(const Decp__Signal *s)
{
	size_t sym_len;

	if (s == NULL || s->symbol == NULL)
		return -EINVAL;
	if (s->master_id == 0 || s->sequence == 0 || s->position_ticket == 0)
		return -EINVAL;
	sym_len = strnlen(s->symbol, PROTO_SYMBOL_MAX + 1);
	if (sym_len == 0 || sym_len > PROTO_SYMBOL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < sym_len; i++)
		if (s->symbol[i] < 0x21 || s->symbol[i] > 0x7e)
			return -EINVAL;
	switch (s->order_type) {
	case DECP__ORDER_TYPE__ORDER_TYPE_BUY:
	case DECP__ORDER_TYPE__ORDER_TYPE_SELL:
	case DECP__ORDER_TYPE__ORDER_TYPE_BUY_LIMIT:
	case DECP__ORDER_TYPE__ORDER_TYPE_SELL_LIMIT:
	case DECP__ORDER_TYPE__ORDER_TYPE_BUY_STOP:
	case DECP__ORDER_TYPE__ORDER_TYPE_SELL_STOP:
	case DECP__ORDER_TYPE__ORDER_TYPE_CLOSE_PARTIAL:
		if (s->volume <= 0)
			return -EINVAL;
		break;
	case DECP__ORDER_TYPE__ORDER_TYPE_CLOSE:
	case DECP__ORDER_TYPE__ORDER_TYPE_MODIFY:
		if (s->volume < 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (s->price < 0 || s->sl < 0 || s->tp < 0 || s->master_time_ns <= 0 ||
	    s->expiration_ns < 0)
		return -EINVAL;
	return 0;
}

/* Validate, serialise and MAC s into out (the signature is left to the caller). */
static int seal_body(const struct proto_hmac_key *hk, const Decp__Signal *s,
		     struct proto_sealed_signal *out)
{
	size_t len;
	int rc;

	if (hk == NULL || out == NULL)
		return -EINVAL;
	rc = proto_signal_validate(s);
	if (rc != 0)
		return rc;
	len = decp__signal__get_packed_size(s);
	if (len > PROTO_SIGNAL_BODY_MAX)
		return -EMSGSIZE;
	out->body_len = decp__signal__pack(s, out->body);
	proto_hmac_compute(hk, out->body, out->body_len, out->hmac);
	return 0;
}

int proto_signal_seal(const struct proto_hmac_key *hk, const struct proto_ed25519_key *sk,
		      const Decp__Signal *s, struct proto_sealed_signal *out)
{
	if (sk == NULL)
		return -EINVAL;
	int rc = seal_body(hk, s, out);
	if (rc != 0)
		return rc;
	rc = proto_ed25519_key_sign(sk, out->body, out->body_len, out->sig);
	return rc == -EINVAL ? -EINVAL : (rc != 0 ? -EIO : 0);
}

int proto_signal_seal_unsigned(const struct proto_hmac_key *hk, const Decp__Signal *s,
			       struct proto_sealed_signal *out)
{
	int rc = seal_body(hk, s, out);
	if (rc == 0)
		memset(out->sig, 0, sizeof(out->sig));
	return rc;
}

void proto_sealed_signal_view(const struct proto_sealed_signal *in, Decp__SignedSignal *ss)
{
	decp__signed_signal__init(ss);
	/* protobuf-c's ProtobufCBinaryData has a non-const data pointer; packing only reads it. */
	ss->body.data = (uint8_t *)in->body;
	ss->body.len = in->body_len;
	ss->hmac.data = (uint8_t *)in->hmac;
	ss->hmac.len = PROTO_HMAC_LEN;
	ss->ed25519_sig.data = (uint8_t *)in->sig;
	ss->ed25519_sig.len = PROTO_ED25519_SIG_LEN;
}

Decp__Signal *proto_signal_decode(const uint8_t *body, size_t len, ProtobufCAllocator *alloc)
{
	Decp__Signal *s;

	if (body == NULL || len == 0 || len > PROTO_SIGNAL_BODY_MAX)
		return NULL;
	s = decp__signal__unpack(alloc, len, body);
	if (s != NULL && proto_signal_validate(s) != 0) {
		decp__signal__free_unpacked(s, alloc);
		s = NULL;
	}
	return s;
}

int proto_signal_open(const Decp__SignedSignal *ss, const struct proto_hmac_key *hk,
		      const struct proto_ed25519_key *pk, ProtobufCAllocator *alloc,
		      Decp__Signal **out)
{
	const uint8_t *body;
	size_t len;
	Decp__Signal *s;

	if (ss == NULL || out == NULL || (hk == NULL && pk == NULL))
		return -EINVAL;
	*out = NULL;
	body = ss->body.data;
	len = ss->body.len;
	if (body == NULL || len == 0 || len > PROTO_SIGNAL_BODY_MAX)
		return -EPROTO;
	/* Authenticate before parsing: unauthenticated bytes never reach the decoder. */
	if (hk != NULL &&
	    proto_hmac_verify(hk, body, len, ss->hmac.data, ss->hmac.len) != 0)
		return -EBADMSG;
	if (pk != NULL &&
	    proto_ed25519_key_verify(pk, body, len, ss->ed25519_sig.data,
				     ss->ed25519_sig.len) != 0)
		return -EBADMSG;
	s = decp__signal__unpack(alloc, len, body);
	if (s == NULL)
		return -EPROTO; /* undecodable, or the allocator ran out: both refuse */
	if (proto_signal_validate(s) != 0) {
		decp__signal__free_unpacked(s, alloc);
		return -EPROTO;
	}
	*out = s;
	return 0;
}
