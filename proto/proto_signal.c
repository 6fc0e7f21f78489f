/* SignedSignal seal/open; contract in proto_signal.h. */
#include "proto_signal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

int proto_signal_validate(const Decp__Signal *s)
{
	struct proto_wire_signal w;
	size_t sym_len;

	if (s == NULL || s->symbol == NULL)
		return -EINVAL;
	sym_len = strnlen(s->symbol, PROTO_SYMBOL_MAX + 1);
	if (sym_len > PROTO_SYMBOL_MAX)
		return -EINVAL;
	/* One rule book (proto_wire.c) for this and the protobuf-c-free hosts. */
	memcpy(w.symbol, s->symbol, sym_len);
	w.symbol[sym_len] = '\0';
	w.master_id = s->master_id;
	w.sequence = s->sequence;
	w.order_type = (int32_t)s->order_type;
	w.volume = s->volume;
	w.price = s->price;
	w.sl = s->sl;
	w.tp = s->tp;
	w.position_ticket = s->position_ticket;
	w.master_time_ns = s->master_time_ns;
	w.expiration_ns = s->expiration_ns;
	return proto_wire_signal_validate(&w);
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

/* The symbol protobuf-c kept is whole: no NUL inside it (proto_wire_last_len). */
static bool symbol_whole(const uint8_t *body, size_t len, const Decp__Signal *s)
{
	size_t n;

	return s->symbol != NULL && proto_wire_last_len(body, len, 3, &n) == 0 &&
	       n == strlen(s->symbol);
}

Decp__Signal *proto_signal_decode(const uint8_t *body, size_t len, ProtobufCAllocator *alloc)
{
	Decp__Signal *s;

	if (body == NULL || len == 0 || len > PROTO_SIGNAL_BODY_MAX)
		return NULL;
	s = decp__signal__unpack(alloc, len, body);
	if (s != NULL && (proto_signal_validate(s) != 0 || !symbol_whole(body, len, s))) {
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
	if (proto_signal_validate(s) != 0 || !symbol_whole(body, len, s)) {
		decp__signal__free_unpacked(s, alloc);
		return -EPROTO;
	}
	*out = s;
	return 0;
}
