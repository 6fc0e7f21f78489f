/*
 * cp_archiver: decp-control's archiver role (SPEC §4; docs/control.md "archiver").
 *
 *   decp:masters (set) ──▶ feeds: each master's stream decp:{m<id>}:signals (the stream
 *        the edge writes: it is the archive feed, no second copy) + decp:{prot}:archive;
 *        the set is a shortcut: the first loop also SCANs every primary for signal
 *        streams (at start and every masters_scan_s, bounded steps: cp_discover.h) and
 *        lists what it finds in the set again (a failover of the set's primary that lost
 *        a master's listing no longer leaves its stream unarchived)
 *        consumer group "archiver", consumer = archiver_consumer or "<host>-<pid>";
 *        the first loop also reads decp:{rep}:reports (subscriber reports and delivery
 *        runs from the fan-out, common/cp_report.h), stored in the same transaction
 *        through cp_report_store_tx() (once per report id), XACK + XDEL after COMMIT
 *   XREADGROUP ... > ──▶ held batch ──▶ BEGIN; COPY signal_archive; COPY protection_logs;
 *                                       COMMIT ──▶ XACK (+ XDEL on the events archive)
 *                                                  (only after COMMIT)
 *   every second per master stream: XPENDING ──▶ XTRIM MINID ~ (oldest entry not yet
 *        archived − redis_keep_signals): archived entries beyond the replay window go;
 *        an entry not yet archived is never trimmed.
 *
 * At-least-once: a crash between COMMIT and XACK redelivers. signal_archive refuses a
 * second (master_id, sequence) with unique_violation (statement trigger, sql 0007), so a
 * fresh batch (XREADGROUP >) is COPYed straight in, and a batch that may hold archived
 * signals (claimed, or just refused) goes through a temporary staging table and one
 * INSERT ... SELECT that skips keys already in signal_archive_keys: the archive holds each
 * signal once. Entries pending longer than archiver_claim_idle_ms (a crashed or hung
 * consumer) are taken over with XAUTOCLAIM. While PostgreSQL is down the batch is held and
 * nothing more is read: the backlog stays in Redis. Several processes share the work
 * through the group. maintain_partitions(), ledger_checkpoint() (its chain head logged) and
 * billing_run() (fees of the billing periods that have ended) are called at start and
 * every partition_maint_s.
 *
 * Threading: runs archiver_threads loops (the calling thread and archiver_threads - 1 more,
 * each its own consumer "<consumer>-<i>", Redis connection and PostgreSQL session) until
 * *stop becomes non-zero or one loop fails.
 */
#ifndef DECP_CP_ARCHIVER_H
#define DECP_CP_ARCHIVER_H

#include <stdatomic.h>

#include "cp_ctx.h"

/* Runs until ctx->stop. Returns 0 after a requested stop, -ENOMEM on a fatal error
 * (logged). */
int cp_archiver_run(struct cp_ctx *ctx);

#endif
