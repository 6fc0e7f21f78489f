/*
 * guard_resync: reconcile a subscriber's account with its master's position snapshot
 * (issue 19 item 2; docs/resync.md "Reconciliation"). Pure: reads its inputs, writes the
 * plan; the EA executes the plan (decp-subscriber: into its simulated account) and then
 * reports ResyncDone. Never executes history: it compares what the master holds NOW (the
 * snapshot at S) with what the subscriber holds, and the plan only makes the second follow
 * the first under the copy policy.
 *
 * For each snapshot entry E (a master position or pending order) the target is the order
 * the policy would send for E opened now (guard_policy_translate on E as an opening signal:
 * symbol filters, order-type mask, equity protection, mapping, reverse, SL/TP copy, lot
 * mode on E's current volume, the broker's volume step and minimum), and H the subscriber's
 * copy of E.ticket, if any:
 *
 *   no H, policy copies E        OPEN the target. A market position is opened only when the
 *                                instrument is known and the current quote (view_fn) is
 *                                within max_deviation_pips_x100 of E's price (fail closed
 *                                without a quote): otherwise SKIP (UNKNOWN_INSTRUMENT,
 *                                PRICE_DEVIATION). Pending orders are placed at their price.
 *                                With a known broker account (view.account.known) every
 *                                open also needs its margin (guard_margin_needed) within the
 *                                free margin less the margin of the plan's earlier opens
 *                                (its closes not counted): otherwise SKIP
 *                                (INSUFFICIENT_MARGIN).
 *   no H, policy refuses E       SKIP (FILTERED, the filter): never open what it denies
 *   H, other symbol or direction CLOSE H, then as "no H" (the policy changed since)
 *   H, E below H.master_volume   the master partly closed meanwhile: what the live
 *                                CLOSE_PARTIAL of the difference does (the same ratio of
 *                                H, rounded down: REDUCE; the rest below vol_min: CLOSE;
 *                                a cut below vol_min: nothing), whatever the policy would
 *                                do with E opened now (filters, equity protection, sizing
 *                                and the minimum stop new copies, not a held one's
 *                                management; and sizing by today's equity never cuts a
 *                                copy the master did not cut)
 *   H, master_volume unknown (0) H larger than the target: REDUCE by the difference (CLOSE
 *                                when the rest would be below vol_min); not larger, or the
 *                                policy refuses E now: volume kept. A re-sync never adds
 *                                exposure to a held position.
 *   H, exits differ              MODIFY sl/tp (and a pending order's price) when the live
 *                                path would pass a MODIFY of H (sync_modify, the order-type
 *                                mask), whatever the policy would do with E opened now
 *   H of no snapshot entry       CLOSE H (the master closed it), unless the policy's order
 *                                type mask excludes CLOSE
 *
 * The plan lists CLOSEs first, then REDUCEs, MODIFYs, OPENs (exposure goes down before it
 * goes up), SKIPs last. Idempotent: applying the plan and planning again gives no order
 * (only the same SKIPs). Cost: O((book + held) log) when each array is sorted by ticket
 * (ascending, checked here: lookups are binary searches), O(book x held) otherwise; no
 * allocation.
 */
#ifndef DECP_GUARD_RESYNC_H
#define DECP_GUARD_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard_policy.h"
#include "guard_signal.h"
#include "guard_types.h"

/* One entry of the master's snapshot (proto BookEntry). */
struct guard_book_entry {
	uint64_t ticket;
	uint32_t type;                 /* enum guard_order_type: BUY, SELL or a pending type */
	char symbol[GUARD_SYMBOL_MAX]; /* the master's */
	int64_t volume;                /* 0.01 lot, > 0 */
	int64_t price, sl, tp;         /* 1e-5 */
	int64_t expiration_ns;
};

/* What the subscriber holds for this master (a position or pending order). */
struct guard_held {
	uint64_t master_ticket;
	uint32_t type;                 /* broker side, after reverse copy */
	char symbol[GUARD_SYMBOL_MAX]; /* broker symbol */
	int64_t volume;                /* 0.01 lot */
	int64_t price, sl, tp;
	int64_t master_volume;         /* the master's volume of E when the copy was last in
					* line with it (opened, partly closed), 0 = unknown */
};

enum guard_resync_op {
	GUARD_RESYNC_CLOSE = 1, /* close H whole (or delete the pending order) */
	GUARD_RESYNC_REDUCE,    /* close order.volume of H */
	GUARD_RESYNC_MODIFY,    /* order.sl, order.tp (and order.price of a pending order) */
	GUARD_RESYNC_OPEN,      /* open / place `order` */
	GUARD_RESYNC_SKIP,      /* E not copied: reason (and filter) say why */
};

struct guard_resync_action {
	enum guard_resync_op op;
	struct guard_order order;  /* master_ticket always; symbol, type, volume, price, sl, tp
				    * as the op needs (CLOSE: H's symbol, type, volume) */
	int64_t master_volume;     /* E's volume (0 for CLOSE of an H not in the snapshot) */
	uint32_t reason;           /* SKIP: enum guard_reason; 0 otherwise */
	uint32_t filter;           /* SKIP with FILTERED: enum guard_filter */
	int64_t deviation_pips_x100; /* SKIP with PRICE_DEVIATION */
	int64_t margin_needed;       /* SKIP with INSUFFICIENT_MARGIN (INT64_MAX: unknown) */
};

/*
 * The subscriber's view for one of the master's symbols: quote (bid/ask now, 0 = none),
 * the broker's volume spec, equity and account (sizing), the instrument registry. Called
 * once per snapshot entry; position is ignored.
 */
typedef void (*guard_resync_view_fn)(void *ctx, const char *master_symbol,
				     struct guard_view *view);

/*
 * The plan (rules above) into out[0..cap). sequence: the snapshot's S (orders carry it).
 * equity_tripped: the subscription's equity-protection flag; an entry's view with equity
 * below the policy's equity_floor counts as tripped too (as the live check does). Entries of book must have
 * distinct tickets, as must held. Returns the number of actions, -ENOBUFS when cap is too
 * small (out partly written), -EINVAL on a NULL argument with a non-zero count or an
 * invalid policy.
 */
long guard_resync_plan(const struct guard_policy *p, bool equity_tripped, uint64_t sequence,
		       guard_resync_view_fn view_fn, void *view_ctx,
		       const struct guard_book_entry *book, size_t nbook,
		       const struct guard_held *held, size_t nheld,
		       struct guard_resync_action *out, size_t cap);

/* qsort/bsearch comparators by ticket (struct guard_book_entry.ticket, struct
 * guard_held.master_ticket): the order in which guard_resync_plan's lookups are binary
 * searches. */
int guard_book_entry_cmp(const void *a, const void *b);

/* *e = one entry of a master's snapshot as guard_resync_plan takes it, from its wire
 * fields (decp.dll's decoder and decp-subscriber's protobuf-c one alike). Returns 0, or
 * -EPROTO for an entry no master holds: ticket 0, volume <= 0, a symbol empty or longer
 * than GUARD_SYMBOL_MAX - 1 bytes, a type that opens nothing (CLOSE, MODIFY, ...). */
int guard_book_entry_set(struct guard_book_entry *e, uint64_t ticket, uint32_t type,
			 const char *symbol, int64_t volume, int64_t price, int64_t sl,
			 int64_t tp, int64_t expiration_ns);
int guard_held_cmp(const void *a, const void *b);

/* "CLOSE", "REDUCE", "MODIFY", "OPEN", "SKIP"; "?" otherwise. */
const char *guard_resync_op_name(enum guard_resync_op op);

struct guard_verdict;

/*
 * When a signal refused stale (TTL_EXPIRED: its sequence used up, so nothing after it
 * brings the account back in line) may ask a re-sync by snapshot (docs/resync.md "A stale
 * signal asks for a re-sync"). The fan-out replays, not snapshots, a signal that arrived
 * less than its 250 ms ago, so the ask waits until the signal is GUARD_RESYNC_ASK_AGE_NS
 * old: at now_ns when its measured age less the clock estimate's error bound err_ns says
 * so; else, its age unknown (from the "future": verdict.clock_suspect; no estimate) or
 * younger, GUARD_RESYNC_ASK_AGE_NS after the check (now_ns on the local clock). The one
 * rule of decp.dll and decp-subscriber. Pure.
 */
#define GUARD_RESYNC_ASK_AGE_NS (INT64_C(300) * GUARD_NS_PER_MS)
int64_t guard_resync_ask_at(const struct guard_verdict *v, int64_t err_ns, int64_t now_ns);

#endif
