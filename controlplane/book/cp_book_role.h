/*
 * cp_book_role: decp-control's `book` role (issue 19): keeps every master's position book
 * (cp_book.h) current from its Redis stream and durable in Redis (cp_book_store.h).
 *
 * One thread, its own Redis connection. Every second it reads the masters with a stream
 * from decp:masters (SMEMBERS): the edge lists each master it writes, and the archiver
 * lists again what a failover of the set's primary lost, found by its SCAN of every
 * primary (cp_discover.h, masters_scan_s), so this role does not SCAN too. For each master
 * it loads the stored book once, then reads the stream from the book's sequence + 1
 * (XRANGE, 1,024 entries at a time), applies each signal in sequence
 * (a redelivered one changes nothing) and stores the book whenever it moved (replaced
 * only by a later sequence, so a restart or a second instance never moves it back). Idle,
 * it polls every 100 ms: a book trails its stream by at most that plus one chunk.
 *
 * A stream whose next entry is beyond the book's sequence + 1 (trimmed by the archiver,
 * redis_keep_signals, before this role read it) is completed from PostgreSQL: the
 * archiver trims only what signal_archive holds, so the role reads the missing signals'
 * exact bodies from there (1,024 per query, its own cp_pg session, connected only then)
 * and goes back to the stream. Only when the archive lacks the next sequence too (a day
 * already moved to the warm tier) is the master left out, logged as an ALERT and counted
 * (decp_book_gaps_total). Anomalies (a signal the book cannot apply as meant, cp_book.h)
 * are logged and counted.
 *
 * Metrics: decp_book_masters, decp_book_signals_total, decp_book_anomalies_total,
 * decp_book_gaps_total, decp_book_saves_total, decp_book_archive_signals_total.
 */
#ifndef DECP_CP_BOOK_ROLE_H
#define DECP_CP_BOOK_ROLE_H

#include "cp_ctx.h"

/* The role's thread body: runs until ctx->stop. Returns 0, or 1 when it could not start. */
int cp_book_run(struct cp_ctx *ctx);

#endif
