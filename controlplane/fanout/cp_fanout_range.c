/* cp_fanout_range: is a replay's range gone? Rules in cp_fanout_range.h. */
#include "cp_fanout_range.h"

#include <inttypes.h>
#include <stdio.h>

enum cp_range_verdict cp_range_check(const struct cp_range_chunk *c, uint64_t *first_avail)
{
	bool in_hist = c->hist_first != 0 && c->next >= c->hist_first && c->next <= c->last_seq;

	if (c->first_seq > c->next) { /* rule 1 */
		*first_avail = c->first_seq;
		return CP_RANGE_LOST;
	}
	if (c->first_seq != 0 || !c->end || c->last_seq < c->next || in_hist)
		return CP_RANGE_TAKE; /* rule 3 */
	if (c->dry == 0)
		return CP_RANGE_RETRY; /* rule 2: once, a publish may have raced the read */
	*first_avail = c->hist_first > c->next ? c->hist_first : c->last_seq + 1;
	return CP_RANGE_LOST;
}

int cp_range_message(char *buf, unsigned long cap, uint64_t master, uint64_t from,
		     uint64_t first_avail)
{
	return snprintf(buf, cap,
			"range not retained: master=%" PRIu64 " from=%" PRIu64
			" first_available=%" PRIu64,
			master, from, first_avail);
}
