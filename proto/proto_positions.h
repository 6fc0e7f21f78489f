/*
 * proto_positions: the master's own positions snapshot (issue 19; MasterFrame.positions,
 * docs/protocol.md "The master's positions").
 *
 *   body = Positions serialised once by the master (one part of a snapshot)
 *   hmac = HMAC-SHA256(master secret, PROTO_POSITIONS_LABEL || body)   -- checked by ingest
 *
 * The label keeps a Positions body and a Signal body (same key) apart: neither MAC passes
 * for the other. No Ed25519 signature: only the control plane reads it (it compares it with
 * its position book); receivers never get it.
 *
 * Validity (proto_positions_validate), enforced on seal and on open:
 *   master_id != 0; snapshot_id != 0; 1 <= parts; part < parts; count <=
 *   PROTO_POSITIONS_MAX; parts <= max(count, 1); entries <= count; a part has >= 1 entry
 *   unless count is 0 (then none, and parts is 1); every entry: ticket != 0, type BUY..
 *   SELL_STOP (1..6), symbol 1..PROTO_SYMBOL_MAX bytes of 0x21..0x7e, volume > 0, price,
 *   sl, tp, expiration_ns >= 0. Tickets unique and the parts' entries adding up to count
 *   are the assembler's checks (the book role), which sees every part.
 *
 * Threading: stateless. Allocation is explicit (a protobuf-c allocator, NULL = malloc).
 */
#ifndef DECP_PROTO_POSITIONS_H
#define DECP_PROTO_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "decp.pb-c.h"
#include "proto_hmac.h"
#include "proto_wire.h"

#define PROTO_POSITIONS_LABEL "decp-positions-v1"
/* Largest body: it travels by value in one ingress record (dataplane DP_BODY_MAX). With
 * typical symbols a part holds 5-7 entries; a 32-byte symbol with every field at its
 * widest still fits two. */
#define PROTO_POSITIONS_BODY_MAX PROTO_WIRE_POSITIONS_BODY_MAX /* 320 */
/* Entries of one snapshot, all parts together (the book's benchmark size). */
#define PROTO_POSITIONS_MAX PROTO_WIRE_POSITIONS_MAX /* 10,000 */

/* One sealed part with inline storage. */
struct proto_sealed_positions {
	uint8_t body[PROTO_POSITIONS_BODY_MAX];
	size_t body_len;
	uint8_t hmac[PROTO_HMAC_LEN];
};

/* Returns 0 when p is valid (rules above), -EINVAL otherwise (also for NULL). */
int proto_positions_validate(const Decp__Positions *p);

/*
 * Validate and serialise p, then MAC the bytes (master side).
 * Returns 0; -EINVAL invalid or NULL; -EMSGSIZE body over PROTO_POSITIONS_BODY_MAX.
 */
int proto_positions_seal(const struct proto_hmac_key *hk, const Decp__Positions *p,
			 struct proto_sealed_positions *out);

/*
 * Splits n entries into parts that each seal within PROTO_POSITIONS_BODY_MAX, in order:
 * part k holds entries [ends[k-1], ends[k]) (ends[-1] = 0). The header fields are sized
 * at their widest, so any master_id, sequence, snapshot_id and time fit. Returns the
 * number of parts (1 for n = 0, with ends[0] = 0), or -EINVAL (an entry invalid or too
 * big for a part alone, n > PROTO_POSITIONS_MAX) or -ENOBUFS (more than max_parts),
 * -ENOMEM. The rule is proto_wire_positions_split's (the MetaTrader DLL's too).
 */
long proto_positions_split(Decp__BookEntry *const *entries, size_t n, size_t *ends,
			   size_t max_parts);

/*
 * Verify the HMAC (if hk is non-NULL), then decode and validate the body.
 * On success *out is the Positions (free with proto_msg_free or by resetting the arena).
 * Returns 0; -EBADMSG the MAC does not verify (or has the wrong length); -EPROTO the body
 * is empty, longer than PROTO_POSITIONS_BODY_MAX, undecodable or invalid (or the
 * allocator ran out); -EINVAL NULL body or out.
 */
int proto_positions_open(const uint8_t *body, size_t len, const uint8_t *hmac, size_t hmac_len,
			 const struct proto_hmac_key *hk, ProtobufCAllocator *alloc,
			 Decp__Positions **out);

#endif
