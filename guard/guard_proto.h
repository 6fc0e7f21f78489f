/*
 * guard_proto: adapter from proto's decoded subscriber-channel messages to guard's
 * plain structs. Not part of guard_core (the DLL core names no protobuf type); hosts
 * that speak decp's WebSocket protocol (decp-subscriber) link it.
 *
 * Thread: stateless. Allocation: only through the caller's protobuf-c allocator (pass
 * a proto_arena to keep the per-signal path free of malloc).
 */
#ifndef DECP_GUARD_PROTO_H
#define DECP_GUARD_PROTO_H

#include <protobuf-c/protobuf-c.h>

#include "decp.pb-c.h"
#include "guard_clock.h"
#include "guard_policy.h"
#include "guard_signal.h"

/*
 * Fills out from an Envelope: the trade fields are decoded from signal.body (never
 * from the unsigned routing copies), body/sig point into e (borrowed: e must outlive
 * the check), server_arrival_ns is the envelope's stamp.
 * Returns 0; -EINVAL on NULL arguments; -EPROTO when the envelope has no signal, the
 * body does not decode or is invalid (proto_signal_validate), or the routing copies
 * master_id/sequence disagree with the body (a relay bug or tampering); -ENOMEM when
 * the allocator failed. On error out is zeroed: report MALFORMED.
 */
int guard_envelope_from_proto(const Decp__Envelope *e, ProtobufCAllocator *alloc,
			      struct guard_envelope *out);

/*
 * Fills out from a CopyPolicy the server sent (docs/protocol.md): every field taken as
 * it is (the server resolved the defaults), version included. Symbols and affixes must
 * fit guard's arrays (GUARD_SYMBOL_MAX - 1, GUARD_AFFIX_MAX - 1 bytes), lists at most
 * GUARD_POLICY_MAP_MAX / GUARD_POLICY_LIST_MAX entries, and the result must pass
 * guard_policy_valid(). Returns 0; -EINVAL on NULL arguments; -EPROTO when the message
 * breaks a rule (out zeroed: keep the policy in force and report it). Apply it with
 * guard_policy_apply(), which ignores a version not above the current one.
 */
int guard_policy_from_proto(const Decp__CopyPolicy *m, struct guard_policy *out);

/* Adds a TimePong received at local time client_recv_ns to the estimator.
 * Returns as guard_clock_add_sample(); -EINVAL also on NULL pong. */
int guard_clock_add_pong(struct guard_clock *c, const Decp__TimePong *pong,
			 int64_t client_recv_ns);

#endif
