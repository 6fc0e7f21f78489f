/*
 * cp_fanout_snap: re-sync by snapshot (issue 19, docs/resync.md "Snapshots to
 * subscribers"). A subscriber that set Subscribe.snapshot and cannot be brought up to date
 * by a replay (its from_sequence is no longer retained, or the replay would hand it
 * envelopes older than SNAP_STALE_NS that its guard must refuse) gets its master's
 * position book at a sequence S instead, then envelopes from S + 1.
 *
 *   replay thread: cp_snap_book_current()  book from Redis (decp:{m<id>}:book, kept by
 *                  the `book` role) + the stream's entries after it, to the stream's end
 *                  cp_snap_msgs()          that book as SnapshotBegin, SnapshotPart x k,
 *                                          SnapshotEnd (refcounted ServerMessages)
 *   lws thread:    cp_snap_wanted()        replay or snapshot? (pure)
 *
 * Why the stream's end and not the stored book alone: the book role follows the stream
 * with up to ~100 ms delay, or not at all when it does not run; a snapshot at the stream's
 * end leaves only the signals published while it was built to the (fresh) replay. Without
 * a stored book (role not running) the book is built from the stream's first entry, which
 * works only while the stream still starts at sequence 1; otherwise -ENODATA and the
 * subscriber gets Error{CODE_RANGE} as before.
 *
 * Message layout (decp.proto "re-sync by snapshot"): at most CP_SNAP_PART_ENTRIES entries
 * per SnapshotPart, so every ServerMessage stays under the 1,024-byte message limit
 * (an entry encodes to at most 104 bytes with its tag and length: 8 x 104 + 29 < 1,024).
 *
 * Threading: cp_snap_book_current uses the caller's Redis connection (blocking); the others
 * are pure. None keeps state.
 */
#ifndef DECP_CP_FANOUT_SNAP_H
#define DECP_CP_FANOUT_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "cp_book.h"
#include "cp_fanout_msg.h"
#include "proto_sign.h"

#define CP_SNAP_PART_ENTRIES 8u
#define CP_SNAP_XRANGE_COUNT 1024u
/* A replay whose first envelope arrived longer ago than this is stale: the guard's TTL is
 * 500 ms (GUARD_TTL_DEFAULT_NS), and half of it leaves the link and the EA their share. */
#define CP_SNAP_STALE_NS (INT64_C(250) * 1000000)

/*
 * Should Subscribe{from, snapshot} be answered by a snapshot? from: the sequence asked
 * (>= 1); last_seq: the master's last published (0: unknown); in_hist: `from` is in the
 * history ring, from_arrival_ns its arrival then. Yes when something is to be replayed
 * (from <= last_seq) and the first of it is either not in the ring (older than the ring:
 * stale by size) or arrived before now - stale_ns.
 */
bool cp_snap_wanted(uint64_t from, uint64_t last_seq, bool in_hist, int64_t from_arrival_ns,
		    int64_t now_ns, int64_t stale_ns);

/*
 * Master's book at the end of its stream: the stored book (cp_book_store_load) with every
 * stream entry after its sequence applied (XRANGE, CP_SNAP_XRANGE_COUNT per call).
 * *xranges counts the calls. Returns 0 (*b complete up to the last entry), -ENODATA (the
 * stream does not continue the book: trimmed past it, a hole, an unreadable entry;
 * *first_avail = the stream's first sequence when known), -EIO (Redis), -ENOMEM.
 */
int cp_snap_book_current(redisContext *c, uint64_t master, struct cp_book *b,
			 uint64_t *first_avail, unsigned *xranges);

/*
 * The messages of a snapshot of b for subscription sub_id, in sending order: Begin, one
 * Part per CP_SNAP_PART_ENTRIES entries, End. reason: Decp__SnapshotBegin__Reason. sk
 * (NULL: unsigned) signs it: SnapshotEnd.signature over the entries in the order sent
 * (proto_snapsig.h). Returns the count with *out a malloc'd array of references (each to
 * be unref'd, the array freed), -ENOMEM (nothing allocated), or -EIO (signing failed).
 */
long cp_snap_msgs(const struct cp_book *b, uint64_t sub_id, uint64_t from, int reason,
		  const struct proto_ed25519_key *sk, struct cp_fmsg ***out);

#endif
