/*
 * cp_trust_event: the name of a reported event (a subscriber's protection event through
 * the api or the fan-out, an execution) as guard's trust event. Shared by the api role
 * (which refuses unknown names) and the trust role (which scores them); guard_check.h's
 * reason names are the one table, nothing here restates one.
 *
 * Threading: pure, any thread.
 */
#ifndef DECP_CP_TRUST_EVENT_H
#define DECP_CP_TRUST_EVENT_H

#include "guard_trust.h"

/*
 * Map a reported event name to guard's trust event: a guard reason name
 * (guard_reason_name(): "TTL_EXPIRED", "REPLAY", ...) or "EXECUTE" (a successful
 * execution). MALFORMED and unknown names are refused: they cannot be attributed.
 * Returns 0 with *ev set, or -EINVAL.
 */
int cp_trust_event_parse(const char *name, enum guard_trust_event *ev);

#endif
