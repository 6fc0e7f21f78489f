/* cp_fanout_splice: the fan-out's replay-to-live switch-over rules. Contract, diagram and
 * transition table in cp_fanout_splice.h. */
#include "cp_fanout_splice.h"

#include <assert.h>

const char *cp_splice_mode_name(enum cp_splice_mode m)
{
	static const char *const names[] = {"NEW", "REPLAY", "LIVE", "HELD"};
	return (unsigned int)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

bool cp_splice_may(const struct cp_splice *sp, enum cp_splice_mode to)
{
	switch (to) {
	case CP_SPLICE_REPLAY: /* a replay starts only with no chunk in flight */
		return !sp->pending;
	case CP_SPLICE_LIVE:   /* LIVE never has a chunk in flight */
		return !sp->pending && !sp->resume;
	case CP_SPLICE_HELD:   /* the state may stop delivering at any time */
		return true;
	case CP_SPLICE_NEW:    /* nothing returns to NEW */
	default:
		return false;
	}
}

bool cp_splice_valid(const struct cp_splice *sp)
{
	if (sp->mode == CP_SPLICE_LIVE && sp->pending)
		return false;
	if (sp->resume && !(sp->mode == CP_SPLICE_HELD && sp->pending))
		return false;
	if (sp->mode == CP_SPLICE_REPLAY && sp->next == 0)
		return false;
	return true;
}

void cp_splice_set_mode(struct cp_splice *sp, enum cp_splice_mode to)
{
	assert(cp_splice_may(sp, to));
	sp->mode = to;
	assert(cp_splice_valid(sp));
}

void cp_splice_init(struct cp_splice *sp)
{
	*sp = (struct cp_splice){.mode = CP_SPLICE_NEW};
}

enum cp_splice_order cp_splice_order(const struct cp_splice *sp, uint64_t seq)
{
	if (seq < sp->next)
		return CP_SPLICE_OLD;
	return seq == sp->next ? CP_SPLICE_SEND : CP_SPLICE_GAP;
}

void cp_splice_sent(struct cp_splice *sp)
{
	assert(sp->next != 0 && sp->mode != CP_SPLICE_HELD);
	sp->next++;
}

void cp_splice_hold(struct cp_splice *sp, uint64_t from, uint64_t last_seq)
{
	sp->next = from != 0 ? from : last_seq + 1;
	cp_splice_set_mode(sp, CP_SPLICE_HELD);
}

void cp_splice_live_only(struct cp_splice *sp, uint64_t last_seq)
{
	sp->next = last_seq != 0 ? last_seq + 1 : 0;
	cp_splice_set_mode(sp, CP_SPLICE_LIVE);
}

void cp_splice_start(struct cp_splice *sp, uint64_t from)
{
	assert(from != 0);
	sp->next = from;
	sp->at_end = false;
	cp_splice_set_mode(sp, CP_SPLICE_REPLAY);
}

enum cp_splice_step cp_splice_pump_step(const struct cp_splice *sp, bool in_hist,
					uint64_t last_seq)
{
	if (in_hist)
		return CP_SPLICE_FROM_HISTORY;
	if (sp->at_end && (last_seq == 0 || sp->next > last_seq))
		return CP_SPLICE_GO_LIVE;
	return CP_SPLICE_REQUEST;
}

void cp_splice_request(struct cp_splice *sp)
{
	assert(sp->mode == CP_SPLICE_REPLAY && !sp->pending);
	sp->at_end = false;
	sp->pending = true;
}

void cp_splice_go_live(struct cp_splice *sp)
{
	assert(sp->mode == CP_SPLICE_REPLAY);
	cp_splice_set_mode(sp, CP_SPLICE_LIVE);
}

enum cp_splice_act cp_splice_on_reply(struct cp_splice *sp)
{
	assert(sp->pending);
	sp->pending = false;
	if (sp->mode != CP_SPLICE_HELD)
		return CP_SPLICE_TAKE_CHUNK;
	if (!sp->resume)
		return CP_SPLICE_DROP_CHUNK;
	sp->resume = false;
	return CP_SPLICE_START_REPLAY;
}

enum cp_splice_act cp_splice_chunk_end(struct cp_splice *sp, bool end)
{
	sp->at_end = end;
	return CP_SPLICE_PUMP;
}

enum cp_splice_order cp_splice_on_publish(struct cp_splice *sp, uint64_t seq)
{
	assert(sp->mode == CP_SPLICE_LIVE);
	if (sp->next == 0)
		sp->next = seq; /* live-only attachment made before any publish */
	enum cp_splice_order o = cp_splice_order(sp, seq);
	if (o == CP_SPLICE_GAP) { /* missed one (publish ring overflow): heal by replay */
		sp->at_end = false;
		cp_splice_set_mode(sp, CP_SPLICE_REPLAY);
	}
	return o;
}

enum cp_splice_act cp_splice_on_state(struct cp_splice *sp, bool delivers)
{
	if (!delivers) {
		sp->resume = false; /* a pending chunk is dropped on arrival */
		cp_splice_set_mode(sp, CP_SPLICE_HELD);
		return CP_SPLICE_NOTHING;
	}
	if (sp->mode != CP_SPLICE_HELD)
		return CP_SPLICE_NOTHING;
	if (sp->pending) {
		sp->resume = true; /* restart once the pending chunk has landed */
		return CP_SPLICE_NOTHING;
	}
	if (sp->next == 0) {
		cp_splice_set_mode(sp, CP_SPLICE_LIVE); /* live only, nothing published yet */
		return CP_SPLICE_NOTHING;
	}
	return CP_SPLICE_START_REPLAY;
}

enum cp_splice_act cp_splice_on_lost(struct cp_splice *sp)
{
	if (sp->mode != CP_SPLICE_LIVE || sp->next == 0)
		return CP_SPLICE_NOTHING;
	sp->at_end = false;
	cp_splice_set_mode(sp, CP_SPLICE_REPLAY);
	return CP_SPLICE_PUMP;
}
