/*
 * cp_book_body: a Signal body (a stream entry's or signal_archive's exact bytes) applied to
 * a position book (common/cp_book.h). Shared by the `book` role and the fan-out's snapshots
 * (fanout/cp_fanout_snap.h) so that both read a master's stream into a book the same way.
 * Needs proto (common/ does not link it), hence its place here.
 * Thread: the caller's book; no I/O.
 */
#ifndef DECP_CP_BOOK_BODY_H
#define DECP_CP_BOOK_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "cp_book.h"
#include "decp.pb-c.h"

/*
 * Applies the Signal body (a stream entry's or signal_archive's exact bytes) of sequence
 * seq to b: the body must decode, and say seq. Returns cp_book_apply()'s 0 (*effect set),
 * -EALREADY, -ERANGE, -ENOMEM, or -EINVAL (undecodable body, another sequence, or
 * cp_book_apply refused it). *ticket: the signal's ticket when it decoded. ticket and
 * effect may be NULL.
 */
int cp_book_apply_body(struct cp_book *b, uint64_t seq, const uint8_t *body, size_t len,
		       uint64_t *ticket, enum cp_book_effect *effect);

/* pb = e as a BookEntry (SnapshotPart, Positions). pb->symbol points into e. */
void cp_book_entry_to_pb(const struct cp_book_entry *e, Decp__BookEntry *pb);

/* e = the BookEntry pb (a master's Positions); its book sequences 0. A symbol longer than
 * the book's is cut (proto_positions_validate refuses those before). */
void cp_book_entry_from_pb(const Decp__BookEntry *pb, struct cp_book_entry *e);

#endif
