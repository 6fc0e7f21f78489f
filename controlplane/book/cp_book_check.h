/*
 * cp_book_check: the master's own positions snapshots (MasterFrame.positions, issue 19
 * item 1) checked against the book role's position book (docs/resync.md "The master's own
 * snapshot").
 *
 *   dataplane (HMAC, logged-in master, N durable) -> ring -> edge
 *     -> XADD decp:{m<id>}:positions (one entry per part)
 *   book role, per master, every poll:
 *     read new parts -> assemble by snapshot_id (every part 0..parts-1, entries = count)
 *     complete at N:  book at N?   book.seq == N      compare with the book
 *                                  book.seq >  N      rebuild the book at N from the
 *                                                     newest checkpoint <= N plus the
 *                                                     stream's signals to N; none: stale
 *                                  book.seq <  N      wait (the book trails its stream),
 *                                                     at most CP_BOOK_CHECK_WAIT_NS: expired
 *     outcome -> log (each difference; a mismatch raised as an alert: cp_alert.h), metrics,
 *                PostgreSQL master_position_checks (sql 0023), once per snapshot
 *
 * Checkpoints: copies of the book taken at most every CP_BOOK_CHECK_CKPT_NS when it moved;
 * the two newest are kept, so a snapshot that reaches the role up to ~1-2 s after the book
 * passed its N is still compared exactly; the book as loaded is the first checkpoint. Parts of a snapshot that never complete within
 * the wait, or contradict each other (another N, parts or count under one snapshot_id,
 * more entries than count), end it as expired; a part of a new snapshot_id ends an
 * incomplete one the same way. Complete snapshots wait in arrival order, at most
 * CP_BOOK_CHECK_READY_MAX per master (beyond, the oldest is expired); each is finished as
 * soon as the book allows, while the stream is read (a backlog does not pile up). A role (re)started
 * reads the parts of the last minute.
 *
 * Thread: the book role's only; no locks. Allocates per snapshot and per checkpoint.
 */
#ifndef DECP_CP_BOOK_CHECK_H
#define DECP_CP_BOOK_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "cp_alert.h"
#include "cp_book.h"
#include "cp_pg.h"

#define CP_BOOK_CHECK_WAIT_NS 10000000000ull   /* book to reach N, parts to arrive */
#define CP_BOOK_CHECK_CKPT_NS 1000000000ull    /* checkpoint period */
#define CP_BOOK_CHECK_LOG_MAX 100u             /* differences logged per snapshot */
#define CP_BOOK_CHECK_DETAIL_MAX 20u           /* differences in the row's detail */
#define CP_BOOK_CHECK_READY_MAX 16u            /* complete snapshots waiting per master */

/* Counters, shared by every master (read by the metrics writer). */
struct cp_book_check_stats {
	_Atomic uint64_t parts, matches, mismatches, differences, stale, expired;
};

/* A snapshot being assembled, or complete and waiting for the book. */
struct cp_book_snap {
	uint64_t id, seq;            /* snapshot_id 0 = none */
	uint32_t parts, count, got;  /* parts received so far: got */
	uint8_t *seen;               /* parts bitmap */
	struct cp_book_entry *e;     /* count entries */
	size_t n;
	int64_t arrival_ns;          /* the first part's, at ingest */
	uint64_t since_ns;           /* monotonic: first part read by the role */
};

struct cp_book_check {
	uint64_t master;
	char cursor[48];             /* last stream id read; "" = not started */
	struct cp_book_snap asm_;    /* being assembled */
	struct cp_book_snap ready[CP_BOOK_CHECK_READY_MAX]; /* complete, oldest first */
	unsigned int n_ready;
	struct cp_book ck[2];        /* checkpoints: ck[0] older, ck[1] newer */
	bool has_ck[2];
	uint64_t ck_at_ns;
	struct cp_alerts *alerts;    /* the role's: a mismatch is raised there */
};

/* alerts (not copied, outlives c): where a mismatch is raised (cp_alert.h). */
void cp_book_check_init(struct cp_book_check *c, uint64_t master, struct cp_alerts *alerts);
void cp_book_check_free(struct cp_book_check *c);

/* The book as loaded (stored, or empty), before the role applies anything: the first
 * checkpoint, so that snapshots the master sent before the role followed it can be
 * compared too (their signals are replayed from the stream). */
void cp_book_check_base(struct cp_book_check *c, const struct cp_book *b);

/*
 * One poll for c's master, whose book is b: checkpoint b when due, read the positions
 * stream's new parts (256 at most), and finish the complete snapshot when b allows (rules
 * above). pg is connected only when a result is to be stored (a failure is logged; the
 * log line and the counters stay). Returns 0, or -EIO when Redis failed (the caller drops
 * the connection).
 */
int cp_book_check_poll(struct cp_book_check *c, const struct cp_book *b, redisContext *rc,
		       struct cp_pg *pg, struct cp_book_check_stats *st);

#endif
