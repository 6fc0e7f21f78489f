/*
 * cp_trust: decp-control's trust role, the seed's Toxic Flow Detector (docs/api.md
 * "Trust"). It scores protection events and successful executions with guard/'s rule
 * table (guard_trust.h: the one table; nothing here restates a delta), persists the
 * score, and moves subscriptions through the database's state rules:
 *
 *   trust_inbox row ──guard_trust_apply()──▶ subscriptions.trust_score,
 *                                            subscription_trust.quiet_since
 *   score < 50 and subscription_transition_allowed(state, PAUSED_TOXIC)
 *                 ──▶ PAUSED_TOXIC, alert log line, decp_trust_auto_pauses_total + 1
 *   every trust_tick_s: guard_trust_tick() (+10 per 24 h without incident);
 *   PAUSED_TOXIC and score >= 50 ──▶ SYNCED
 *
 * "Now" is the wall clock plus trust_time_offset_s (a test setting: simulated days).
 * An inbox row is scored at its received_at plus the offset, so replaying a backlog
 * after an outage gives the same scores as live processing.
 *
 * Threading: cp_trust_run() is one role thread. Its counters (decp_trust_*) reach the api
 * role's /metrics through the process context's stats providers (cp_ctx.h).
 */
#ifndef DECP_CP_TRUST_H
#define DECP_CP_TRUST_H

#include <stdatomic.h>
#include <stdint.h>

#include "cp_ctx.h"
#include "cp_trust_event.h" /* cp_trust_event_parse: the names the role scores */
#include "guard_trust.h"

/* Role entry: runs until ctx->stop. Returns 0 when stopped. */
int cp_trust_run(struct cp_ctx *ctx);

#endif
