/* cp_trust_event: reported event names onto guard's trust events. Contract in
 * cp_trust_event.h. */
#include "cp_trust_event.h"

#include <errno.h>
#include <string.h>

#include "guard_check.h"

int cp_trust_event_parse(const char *name, enum guard_trust_event *ev)
{
	for (unsigned int r = 0; r < GUARD_REASON_MAX; r++) {
		const char *n = guard_reason_name((enum guard_reason)r);
		if (strcmp(n, "?") == 0 || strcmp(n, name) != 0 || r == GUARD_REASON_MALFORMED)
			continue;
		/* Reported by the receiver after its guard verified the signature. */
		struct guard_verdict v = {.reason = r, .authenticated = true};
		*ev = guard_trust_event_of(&v);
		return 0;
	}
	return -EINVAL;
}
