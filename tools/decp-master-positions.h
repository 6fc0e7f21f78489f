/*
 * decp-master's own positions (issue 19): the book of what a simulated master holds,
 * fed with each of its signals once ACKed, in sequence (common/cp_book.h: the same
 * rules the control plane's book applies), and sent as MasterFrame.positions parts
 * (proto_positions.h) when asked: --positions-every-ms, SIGUSR1, --positions-at-end.
 * --positions-wrong alters what is sent (one entry's volume + 1 lot-step and a ticket the
 * master never opened), so the control plane's mismatch alert can be tested.
 * Thread: the master's thread only.
 */
#ifndef DECP_MASTER_POSITIONS_H
#define DECP_MASTER_POSITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_book.h"
#include "decp-master-trades.h"
#include "proto_positions.h"

struct dm_positions {
	struct cp_book book;      /* after the master's ACKed signals 1..book.seq */
	/* the snapshot being sent: parts next..parts-1 still to go */
	struct cp_book_entry *copy; /* the book when taken (symbols live here) */
	Decp__BookEntry *ents;
	Decp__BookEntry **ptrs;
	size_t *ends;
	size_t n;
	long parts, next;
	uint64_t id, seq;
	int64_t time_ns;
	uint64_t sent;            /* snapshots whose every part was handed to the output */
};

void dm_positions_init(struct dm_positions *p, uint64_t master);
void dm_positions_free(struct dm_positions *p);

/* Signal seq (trade t), ACKed, into the master's book; seq must be book.seq + 1. Returns
 * 0 or a negative errno (cp_book_apply's). */
int dm_positions_apply(struct dm_positions *p, uint64_t seq, const struct dm_trade *t);

/* Takes a snapshot of the book now (wrong: altered, see above) to be sent in parts.
 * Returns the number of parts, or -EBUSY (one is still being sent), -ENOMEM, -EINVAL. */
long dm_positions_take(struct dm_positions *p, bool wrong, uint64_t snapshot_id, int64_t now_ns);

static inline bool dm_positions_sending(const struct dm_positions *p)
{
	return p->next < p->parts;
}

/* Abandons the snapshot being sent (the connection went away). */
void dm_positions_abort(struct dm_positions *p);

/* Seals the next part (under hk) into *out. Returns 1 (a part: frame it), 0 (none left),
 * or a negative errno (proto_positions_seal's). */
int dm_positions_next(struct dm_positions *p, const struct proto_hmac_key *hk,
		      struct proto_sealed_positions *out);

#endif
