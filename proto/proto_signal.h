/*
 * proto_signal: building and checking SignedSignal (SPEC.md §3).
 *
 *   body        = Signal serialised once by the master (these exact bytes are signed)
 *   hmac        = HMAC-SHA256(master secret, body)        -- checked by ingest
 *   ed25519_sig = Ed25519(master private key, body)       -- checked by receivers
 *
 * Nobody re-serialises a body: ingest, Redis, fanout and receivers carry the
 * original bytes, so both MACs stay verifiable end to end.
 *
 * Validity of a Signal (proto_signal_validate), enforced on seal and on decode:
 *   master_id != 0; sequence >= 1; symbol 1..PROTO_SYMBOL_MAX bytes of printable
 *   ASCII (0x21..0x7e); order_type a known value (not UNSPECIFIED); volume > 0,
 *   except CLOSE and MODIFY where volume >= 0 (0 = whole position for CLOSE);
 *   price, sl, tp >= 0; position_ticket != 0; master_time_ns > 0;
 *   expiration_ns >= 0.
 *
 * Threading: stateless; keys are read-only. Allocation is explicit: the decode
 * functions take a protobuf-c allocator (NULL = malloc, else e.g. an arena).
 */
#ifndef DECP_PROTO_SIGNAL_H
#define DECP_PROTO_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "decp.pb-c.h"
#include "proto_hmac.h"
#include "proto_sign.h"
#include "proto_wire.h" /* PROTO_SYMBOL_MAX, PROTO_SIGNAL_BODY_MAX */


/* A sealed signal with inline storage (no allocation). */
struct proto_sealed_signal {
	uint8_t body[PROTO_SIGNAL_BODY_MAX];
	size_t body_len;
	uint8_t hmac[PROTO_HMAC_LEN];
	uint8_t sig[PROTO_ED25519_SIG_LEN];
};

/* Returns 0 when s is valid (rules above), -EINVAL otherwise (also for NULL). */
int proto_signal_validate(const Decp__Signal *s);

/*
 * Validate and serialise s, then MAC and sign the bytes.
 * hk: the master's HMAC key; sk: the master's private Ed25519 key.
 * Returns 0; -EINVAL invalid signal, NULL argument or public-only sk;
 * -EMSGSIZE body would exceed PROTO_SIGNAL_BODY_MAX; -EIO signing failed.
 */
int proto_signal_seal(const struct proto_hmac_key *hk, const struct proto_ed25519_key *sk,
		      const Decp__Signal *s, struct proto_sealed_signal *out);

/*
 * proto_signal_seal without the Ed25519 signature (an all-zero one): for ingest-only loads
 * and tests (ingest checks the HMAC only; receivers refuse such a signal). Same returns,
 * without -EIO.
 */
int proto_signal_seal_unsigned(const struct proto_hmac_key *hk, const Decp__Signal *s,
			       struct proto_sealed_signal *out);

/* Point a SignedSignal message at the sealed bytes (no copy; ss borrows from in). */
void proto_sealed_signal_view(const struct proto_sealed_signal *in, Decp__SignedSignal *ss);

/*
 * Decode (without verifying anything) a Signal body and validate it. For
 * receivers that must run checks in the seed's order (Sequence, State, TTL,
 * Price, Funds before Signature): decode first, verify with
 * proto_ed25519_key_verify(pk, body, len, sig, sig_len) before committing state.
 * Returns the Signal or NULL (body empty, longer than PROTO_SIGNAL_BODY_MAX,
 * undecodable, invalid, or out of memory). Free with proto_msg_free (proto_msg.h)
 * or by resetting the arena.
 */
Decp__Signal *proto_signal_decode(const uint8_t *body, size_t len, ProtobufCAllocator *alloc);

/*
 * Verify then decode a SignedSignal. Checks, in this order: the HMAC if hk is
 * non-NULL (ingest), the Ed25519 signature if pk is non-NULL (receivers), then
 * decodes and validates the body. At least one key must be given.
 * On success *out is the Signal (ownership as for proto_signal_decode).
 * Returns 0;
 *  -EBADMSG  a MAC or signature did not verify (or has the wrong length)
 *  -EPROTO   the body is empty, too long, undecodable or invalid, or the
 *            allocator ran out (protobuf-c reports both as one failure; an
 *            arena's `failures` counter tells them apart)
 *  -EINVAL   NULL ss/out, or both keys NULL
 */
int proto_signal_open(const Decp__SignedSignal *ss, const struct proto_hmac_key *hk,
		      const struct proto_ed25519_key *pk, ProtobufCAllocator *alloc,
		      Decp__Signal **out);

#endif
