/*
 * cp_fanout_range: does a replay chunk prove that the sequences a subscriber asked for are
 * gone? (docs/fanout.md "Resume from before the retained range"). Pure logic: the lws
 * thread asks it after each XRANGE chunk and ends the replay with Error{CODE_RANGE} when it
 * says so; the re-sync by snapshot (branch resync) plugs in at that same answer.
 *
 * Why a replay could loop: `XRANGE key <next>-0 + COUNT n` after the archiver trimmed the
 * stream (redis_keep_signals) starts at the first retained entry, above `next`; the splice
 * refuses it as a gap, sends nothing and asks again, for ever (~3,500 XRANGE/s each).
 *
 * The rules (each one a proof, never a guess):
 *   1. The chunk's first entry is above `next`: Redis stream ids only grow (XADD refuses an
 *      id at or below the top), so `next` can never appear again. Lost; the first
 *      available sequence is that entry's.
 *   2. The chunk is empty and reached the stream's end, yet the master has published at
 *      or past `next` and `next` is not in the history ring: nothing at or after `next`
 *      is in Redis (trimmed to nothing, or the key was deleted). A publish racing the
 *      XRANGE can make one such chunk look like this, never two in a row: after one
 *      dry chunk the request is repeated once, after the second it is lost. The first
 *      available sequence is the history ring's first when that is above `next`, else
 *      the one after the last published (a Subscribe from there, or from 0, goes live).
 *   3. Anything else: the chunk is taken as it is (cp_fanout_splice).
 *
 * Threading: any (no state of its own).
 */
#ifndef DECP_CP_FANOUT_RANGE_H
#define DECP_CP_FANOUT_RANGE_H

#include <stdbool.h>
#include <stdint.h>

/* What is known when a replay chunk for one attachment lands. */
struct cp_range_chunk {
	uint64_t next;       /* the attachment's next sequence (>= 1) */
	uint64_t first_seq;  /* sequence of the chunk's first entry; 0: the chunk is empty */
	bool end;            /* the chunk reached the stream's end (fewer than asked for) */
	uint64_t last_seq;   /* the master's highest published sequence; 0: none seen */
	uint64_t hist_first; /* lowest sequence in the master's history ring; 0: empty */
	uint32_t dry;        /* chunks in a row before this one that were empty at the end
			      * while the attachment was behind (rule 2) */
};

enum cp_range_verdict {
	CP_RANGE_TAKE,  /* rule 3: take the chunk (cp_splice_order per entry) */
	CP_RANGE_RETRY, /* rule 2, first dry chunk: count it (dry + 1) and ask again */
	CP_RANGE_LOST,  /* rules 1, 2: end the replay with Error{CODE_RANGE, *first_avail} */
};

/* The verdict on chunk c; on CP_RANGE_LOST *first_avail (not NULL) is the lowest sequence
 * the fan-out can still deliver from. */
enum cp_range_verdict cp_range_check(const struct cp_range_chunk *c, uint64_t *first_avail);

/* The Error message of a lost range, exactly (docs/protocol.md):
 * "range not retained: master=<id> from=<next> first_available=<seq>". Writes at most cap
 * bytes (NUL included); returns snprintf's count. */
int cp_range_message(char *buf, unsigned long cap, uint64_t master, uint64_t from,
		     uint64_t first_avail);

#endif
