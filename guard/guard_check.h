/*
 * guard_check: the ExecutionGuard pipeline, guard_signal_check().
 *
 * Seed order (seed "Execution Pipeline", SPEC.md §5), first failure reported:
 *   0 envelope well-formed ........ MALFORMED (precondition, not a seed check)
 *   1 Sequence .................... REPLAY (seq <= last) / SEQUENCE_GAP (seq > last + 1)
 *   2 State ....................... STATE_LOCKED (state != SYNCED)
 *   3 TTL ......................... TTL_EXPIRED (|server now - server arrival| > ttl, or
 *                                   no live clock estimate, or one whose error bound
 *                                   (rtt / 2) exceeds ttl, or a negative age beyond the
 *                                   estimate's tolerance, which proves the estimate
 *                                   wrong: verdict.clock_suspect; fail closed); every stale
 *                                   signal is refused, verdict.attribution says whose
 *                                   delay it was (the envelope's send stamp and replay
 *                                   flag; guard_types.h enum guard_attribution)
 *   4 Price ....................... UNKNOWN_INSTRUMENT (an order adding exposure on an
 *                                   instrument the registry does not know), then
 *                                   PRICE_DEVIATION (market orders: signal price vs the
 *                                   subscriber's ask for a buy, bid for a sell, compared
 *                                   exactly in price units with the registry's pip)
 *   5 Funds ....................... INSUFFICIENT_FUNDS (orders adding exposure: the
 *                                   platform wallet; empty -> LOCKED_NO_FUNDS), then
 *                                   INSUFFICIENT_MARGIN (the broker account's free
 *                                   margin cannot carry the order: guard_margin.h; no
 *                                   state change; only when view.account.known)
 *   6 Signature ................... INVALID_SIGNATURE (Ed25519 over the exact body)
 *   7 Execute (copy policy) ....... FILTERED (verdict.filter says why) or execute
 * Price and Funds apply only to an order the policy would place: a CLOSE needs no
 * funds, and a signal the policy filters out is reported FILTERED, not as a deviation
 * against a quote the subscriber does not have.
 *
 * Report versus commit. The checks run in the seed's order on every well-formed
 * envelope, and the signature is always verified (step 6 runs even after an earlier
 * failure). A signal whose signature fails is reported INVALID_SIGNATURE whatever else
 * failed: every other property of a forged signal (its sequence, its stamp, its price)
 * is chosen by whoever forged it, so reporting a forged gap as SEQUENCE_GAP would blame
 * the subscriber's feed for the forger's choice (issue 18). Otherwise the reason is the
 * first failing check in order. State is committed only when the signature verifies:
 * the changes decided by steps 1..7 (sequence consumed, SYNCED -> DEGRADED_GAP on a
 * gap, SYNCED -> LOCKED_NO_FUNDS on an empty wallet, equity trip, executed count) are
 * applied only when verdict.authenticated is true (SPEC.md §5: a check on
 * unauthenticated input never mutates state). A forged signal therefore never advances
 * the sequence, never degrades the subscription and never executes.
 *
 * Sequence consumption: an authenticated signal that passes the sequence check is
 * consumed (last_seq = seq) whatever the later checks say, so it never executes later
 * (a stale or refused trade is not retried by a replay). Exception: in DEGRADED_GAP
 * nothing is consumed; guard_sub_sync_complete() settles the gap.
 *
 * Cost: no allocation, no lock, no system call in guard's code; one verifier call.
 * Thread: the thread that owns sub.
 */
#ifndef DECP_GUARD_CHECK_H
#define DECP_GUARD_CHECK_H

#include "guard_clock.h"
#include "guard_policy.h"
#include "guard_signal.h"
#include "guard_sub.h"
#include "guard_trust.h"

struct guard_verdict {
	uint32_t reason;         /* enum guard_reason; GUARD_REASON_NONE = execute `order` */
	uint32_t filter;         /* enum guard_filter when reason == FILTERED */
	bool authenticated;      /* the signature verified (false when not checked) */
	bool committed;          /* sub->st changed */
	bool close_all;          /* equity protection tripped now and policy says flatten */
	bool age_known;          /* a live clock estimate existed */
	bool clock_suspect;      /* authenticated, and its age is negative beyond the clock
				  * estimate's tolerance (guard_clock_tolerance): the estimate
				  * is wrong. TTL_EXPIRED unless an earlier check failed; the
				  * caller drops the estimate (guard_clock_distrust) and sends a
				  * TimePing at once */
	uint32_t state_before;   /* enum guard_state */
	uint32_t state_after;
	uint64_t sequence;       /* the signal's */
	uint64_t expected_seq;   /* what the sequence guard expected (last_seq + 1) */
	int64_t age_ns;          /* server now - server arrival (when age_known) */
	uint32_t attribution;    /* TTL_EXPIRED: enum guard_attribution (guard_types.h) */
	int64_t deviation_pips_x100; /* |signal price - quote| in 1/100 pip, rounded up */
	int64_t margin_needed;   /* step 5 on a known account: the order's margin (money) */
	struct guard_order order; /* reason NONE: the translated order to send */
};

/*
 * Runs the pipeline for one envelope.
 *   sub   subscription state (mutated only as described above); pol the copy policy;
 *   clk   server clock estimate (NULL = none: TTL fails closed);
 *   env   the decoded envelope; view the subscriber's local view now; out the verdict.
 * Returns 0 with *out filled (a rejection is a verdict, not an error); -EINVAL when
 * sub, pol, env, view or out is NULL (nothing changed, out untouched).
 */
int guard_signal_check(struct guard_sub *sub, const struct guard_policy *pol,
		       const struct guard_clock *clk, const struct guard_envelope *env,
		       const struct guard_view *view, struct guard_verdict *out);

/*
 * Wallet update (seed: LOCKED_NO_FUNDS -> SYNCED "Balance restored"): moves a
 * LOCKED_NO_FUNDS subscription back to SYNCED once balance - reserved > 0. Local,
 * trusted data. Returns 1 when the state changed, 0 when not, -EINVAL on NULL.
 */
int guard_wallet_update(struct guard_sub *sub, const struct guard_wallet *w);

/* Trust event a verdict feeds to guard_trust_apply(): SUCCESS for execute,
 * INVALID_SIGNATURE whenever not authenticated (MALFORMED excepted; the reason already
 * says so), else the reason's. */
enum guard_trust_event guard_trust_event_of(const struct guard_verdict *v);

/*
 * The Price Deviation Guard's rule (step 4), also used by the re-sync's opens
 * (guard_resync.h): exact, |price - quote| * 100 > max_deviation_pips_x100 * pip in price
 * units. Returns true when price deviates, or when quote, price or pip is <= 0 (no quote:
 * fail closed). *deviation_pips_x100: the deviation in 1/100 pip rounded up (INT64_MAX
 * when unknown).
 */
bool guard_price_deviates(int64_t max_deviation_pips_x100, int64_t price, int64_t quote,
			  int64_t pip, int64_t *deviation_pips_x100);

#endif
