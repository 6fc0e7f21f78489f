/*
 * cp_edge: decp-control's edge role (SPEC §1, §2, §4; docs/control.md "edge").
 *
 *   dataplane ingress rings ──burst──▶ held batch ──one pipeline──▶ Redis (FCALL per master)
 *                                                                   │ replies
 *   dataplane ACK rings ◀──────── ACK OK / DUPLICATE ◀──────────────┘ (never before)
 *
 * Start: load masters and tokens from PostgreSQL (waits for it), attach the segment
 * (waits for the dataplane), read each master's last durable sequence from Redis
 * (XREVRANGE COUNT 1), push SET_MASTER / ADD_TOKEN / REVOKE_TOKEN / SET_DURABLE / READY
 * through the control ring and wait until applied. Then loop:
 *   - dequeue up to edge_batch records from all workers' ingress rings;
 *   - write them in one pipeline (SADD of the batch's masters, one FCALL decp_signals per
 *     master with its records in ring order, one FCALL decp_protection per event) and read
 *     every reply; on one Redis the pipeline is one MULTI ... EXEC, so Redis with
 *     appendfsync always writes and fsyncs it once: the batch is the group commit;
 *   - ACK OK (written) or DUPLICATE (already durable); a GAP reply gets no ACK (master
 *     resends after its ACK timeout);
 *   - on a Redis failure keep the batch, reconnect with backoff, write it again (the
 *     function is idempotent: an already written record now reports DUPLICATE), and
 *     dequeue nothing meanwhile: rings fill, the dataplane answers Nack BUSY;
 *   - every 50 ms: NOTIFYs from PostgreSQL (token/master changes pushed at once);
 *     every 100 ms: segment health (dataplane restarted/stopped/hung: re-attach and push
 *     everything again; ACKs of a batch held across that are dropped, the master resends).
 *
 * Threading: runs in the calling thread until *stop becomes non-zero.
 */
#ifndef DECP_CP_EDGE_H
#define DECP_CP_EDGE_H

#include <stdatomic.h>

#include "cp_ctx.h"

/*
 * Runs until ctx->stop. After Redis replied to a batch and before its ACKs go out, every
 * signal the batch made durable goes to the process context's durable-signal consumers
 * (cp_ctx.h; the fanout role in the same process, docs/fanout.md).
 * Returns 0 after a requested stop, -ENOMEM / -EPROTO on a fatal error (logged).
 */
int cp_edge_run(struct cp_ctx *ctx);

#endif
