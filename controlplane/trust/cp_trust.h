/*
 * cp_trust: decp-control's trust role, the seed's Toxic Flow Detector (docs/api.md
 * "Trust"). It scores protection events and successful executions with guard/'s rule
 * table (guard_trust.h: the one table; nothing here restates a delta), persists the
 * score, and moves subscriptions through the database's state rules:
 *
 *   trust_inbox row ──guard_trust_apply()──▶ subscriptions.trust_score,
 *                                            subscription_trust.quiet_since
 *   EXECUTE row: +1 only when trust_deliveries shows that (subscription, sequence)
 *                delivered live within trust_credit_window_s, once per envelope
 *                (subscription_trust.credited_sequence); every EXECUTE is stored in
 *                execution_reports, credited or not (sql 0009 states the rule)
 *   score < 50 and subscription_transition_allowed(state, PAUSED_TOXIC)
 *                 ──▶ PAUSED_TOXIC, alert log line, decp_trust_auto_pauses_total + 1
 *   TTL_EXPIRED row claimed PLATFORM_*: not scored when trust_deliveries and
 *                signal_archive_keys confirm it (the last run covering it a replay; a live
 *                run of late sends,
 *                sql 0019, or one first sent > TTL/2 after the arrival), alert +
 *                decp_trust_platform_stale_total; else scored
 *   every trust_tick_s: guard_trust_tick() (+10 per 24 h without incident);
 *   PAUSED_TOXIC, this tick credited a quiet period, score >= 50 ──▶ SYNCED (the
 *   only resume besides an operator's; events never resume)
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
