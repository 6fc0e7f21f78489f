/*
 * guard_wire: a CopyPolicy as proto_wire decodes it (proto/proto_wire.h, no protobuf-c)
 * into the guard's struct guard_policy. The one conversion of the server's policy: decp.dll
 * calls it on proto_wire's decode, decp-subscriber through guard_policy_from_proto()
 * (guard_proto.h), so both receivers apply exactly the same rules.
 *
 * Not part of guard_core (which names no proto type); decp.dll compiles it beside
 * guard_core and proto_wire. Thread: stateless, no allocation.
 */
#ifndef DECP_GUARD_WIRE_H
#define DECP_GUARD_WIRE_H

#include "guard_policy.h"
#include "proto_wire.h"

/*
 * Fills out from m: every field taken as it is (the server resolved the defaults),
 * version included. Map entries and list entries must be non-empty, the result must pass
 * guard_policy_valid() and version must be 1..INT64_MAX (the database's bigint; decp.dll
 * returns it as an int64 where negative values are errors). Returns 0; -EINVAL on NULL arguments;
 * -EPROTO when a rule is broken (out zeroed: keep the policy in force and report it).
 * Apply the result with guard_policy_apply(), which ignores a version not above the
 * current one.
 */
int guard_policy_from_wire(const struct proto_wire_copy_policy *m, struct guard_policy *out);

#endif
