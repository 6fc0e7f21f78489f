/*
 * proto_view: allocation-free, copy-free parsing of the ingest hot path's two
 * messages -- a MasterFrame carrying a SignedSignal, and the Signal body --
 * as a faster alternative to protobuf-c's generic decoder (see docs/perf.md:
 * decode + HMAC verify drops from ~290 ns to ~170 ns per signal).
 *
 * Equivalence rule (the safety argument): these parsers are never MORE
 * permissive than protobuf-c. Whenever they accept an input, protobuf-c
 * decodes the same input to the same values (same oneof member, same bytes,
 * same field values; protobuf's "last occurrence wins"); they may refuse
 * some inputs protobuf-c accepts (wire-type mismatches, over-long varints,
 * groups, field number 0, a symbol with bytes outside 0x21..0x7e). Unknown
 * fields are skipped, as protobuf-c does, so newer peers stay compatible.
 * tests/proto/test_view.c checks this differentially against protobuf-c on
 * mutated frames, and fuzz_view does so on arbitrary input.
 *
 * Threading: stateless; any thread. No allocation, no syscalls.
 */
#ifndef DECP_PROTO_VIEW_H
#define DECP_PROTO_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "decp.pb-c.h"
#include "proto_hmac.h"
#include "proto_sign.h"
#include "proto_signal.h"

/* Pointers into the caller's frame bytes; valid as long as those bytes are. */
struct proto_signed_view {
	const uint8_t *body;
	size_t body_len;
	const uint8_t *hmac;
	size_t hmac_len;
	const uint8_t *sig;
	size_t sig_len;
};

/*
 * Classify a MasterFrame payload (p, len) and, when it carries a signal, point
 * v at the SignedSignal's fields (absent fields: NULL pointer, length 0).
 * Returns the Decp__MasterFrame__KindCase of the frame (its one oneof member: a
 * second one, which protobuf would let win, is malformed): DECP__MASTER_FRAME__KIND_SIGNAL
 * with *v filled, or
 * DECP__MASTER_FRAME__KIND_HELLO / _HEARTBEAT / _LOGIN_PROOF / _POSITIONS (decode those with
 * proto_master_frame_decode, which may still find them malformed; *v is
 * untouched); -EEXIST when the frame holds a second oneof member (the same or
 * another; protobuf-c would keep the last one: the frame is to be refused as
 * malformed); or -EBADMSG when the payload is malformed or no member is set.
 */
int proto_master_frame_view(const uint8_t *p, size_t len, struct proto_signed_view *v);

/*
 * Parse a Signal body into *out (initialised here; nothing allocated) and
 * validate it (proto_signal_validate). out->symbol points at `symbol`, a
 * caller buffer that receives the NUL-terminated symbol.
 * Returns 0, or -EPROTO (empty, longer than PROTO_SIGNAL_BODY_MAX, malformed or
 * invalid); on error *out is unspecified.
 */
int proto_signal_parse(const uint8_t *body, size_t len, Decp__Signal *out,
		       char symbol[PROTO_SYMBOL_MAX + 1]);

/*
 * proto_signal_open on a view: the HMAC if hk != NULL, the Ed25519 signature if
 * pk != NULL (at least one), both before any parsing; then proto_signal_parse.
 * Returns 0; -EBADMSG a MAC/signature did not verify; -EPROTO bad body;
 * -EINVAL NULL v/out/symbol or both keys NULL.
 */
int proto_signal_open_view(const struct proto_signed_view *v, const struct proto_hmac_key *hk,
			   const struct proto_ed25519_key *pk, Decp__Signal *out,
			   char symbol[PROTO_SYMBOL_MAX + 1]);

#endif
