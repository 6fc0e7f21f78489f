/* guard_sub: subscription state machine. Diagram, table and invariants in guard_sub.h. */
#include "guard_sub.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define S(x) GUARD_STATE_##x
#define BIT(x) (1u << GUARD_STATE_##x)

/* allowed[from] = set of `to` states: the seed's diagram, nothing else. */
static const unsigned allowed[GUARD_STATE_COUNT] = {
	[S(SYNCED)] = BIT(DEGRADED_GAP) | BIT(LOCKED_NO_FUNDS) | BIT(PAUSED_TOXIC) |
		      BIT(SUSPENDED_ADMIN) | BIT(CANCELLED),
	[S(DEGRADED_GAP)] = BIT(SYNCED) | BIT(PAUSED_TOXIC),
	[S(LOCKED_NO_FUNDS)] = BIT(SYNCED),
	[S(PAUSED_TOXIC)] = BIT(SYNCED),
	[S(SUSPENDED_ADMIN)] = BIT(SYNCED),
	[S(CANCELLED)] = 0,
};

static bool state_known(uint64_t s)
{
	return s >= GUARD_STATE_SYNCED && s < GUARD_STATE_COUNT;
}

bool guard_sub_state_valid(const struct guard_sub_state *st)
{
	if (!st || !state_known(st->state))
		return false; /* I1 */
	if (st->executed > st->last_seq || st->last_executed_seq > st->last_seq)
		return false; /* I2 */
	if ((st->state == GUARD_STATE_DEGRADED_GAP) != (st->gap_seq != 0))
		return false; /* I3 */
	if (st->gap_seq && st->gap_seq <= st->last_seq + 1)
		return false; /* I3 */
	if (st->executed == 0 && st->last_executed_seq != 0)
		return false; /* I4 */
	return true;
}

int guard_sub_init(struct guard_sub *sub, uint64_t master_id,
		   const struct guard_verifier *verifier, int64_t ttl_ns, uint64_t last_seq)
{
	if (!sub || !verifier)
		return -EINVAL;
	memset(sub, 0, sizeof(*sub));
	sub->master_id = master_id;
	sub->ttl_ns = ttl_ns > 0 ? ttl_ns : GUARD_TTL_DEFAULT_NS;
	sub->verifier = *verifier;
	sub->st.state = GUARD_STATE_SYNCED;
	sub->st.last_seq = last_seq;
	assert(guard_sub_state_valid(&sub->st));
	return 0;
}

bool guard_sub_transition_allowed(enum guard_state from, enum guard_state to)
{
	if (!state_known(from) || !state_known(to))
		return false;
	return (allowed[from] >> to) & 1u;
}

int guard_sub_set_state(struct guard_sub *sub, enum guard_state to)
{
	if (!sub || !state_known(to))
		return -EINVAL;
	assert(guard_sub_state_valid(&sub->st));
	if (!guard_sub_transition_allowed((enum guard_state)sub->st.state, to)) {
		sub->stats.transitions_refused++;
		return -EPERM;
	}
	if (to == GUARD_STATE_DEGRADED_GAP) {
		if (sub->st.gap_seq <= sub->st.last_seq + 1)
			sub->st.gap_seq = sub->st.last_seq + 2;
	} else {
		sub->st.gap_seq = 0;
	}
	sub->st.state = to;
	assert(guard_sub_state_valid(&sub->st));
	return 0;
}

int guard_sub_sync_complete(struct guard_sub *sub, uint64_t last_sequence)
{
	if (!sub || last_sequence < sub->st.last_seq)
		return -EINVAL;
	if (sub->st.state != GUARD_STATE_DEGRADED_GAP)
		return -EPERM;
	/* Leave DEGRADED_GAP first (clears gap_seq), then move the sequence: I3 holds
	 * at every step. */
	if (guard_sub_set_state(sub, GUARD_STATE_SYNCED) != 0)
		return -EPERM;
	sub->st.last_seq = last_sequence;
	assert(guard_sub_state_valid(&sub->st));
	return 0;
}

uint64_t guard_sub_next_sequence(const struct guard_sub *sub)
{
	return sub->st.last_seq + 1;
}

const char *guard_state_name(enum guard_state s)
{
	static const char *const names[GUARD_STATE_COUNT] = {
		[S(SYNCED)] = "SYNCED",
		[S(DEGRADED_GAP)] = "DEGRADED_GAP",
		[S(LOCKED_NO_FUNDS)] = "LOCKED_NO_FUNDS",
		[S(PAUSED_TOXIC)] = "PAUSED_TOXIC",
		[S(SUSPENDED_ADMIN)] = "SUSPENDED_ADMIN",
		[S(CANCELLED)] = "CANCELLED",
	};
	if ((unsigned)s >= GUARD_STATE_COUNT || !names[s])
		return "?";
	return names[s];
}
