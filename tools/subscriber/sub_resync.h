/*
 * sub_resync: decp-subscriber's side of the re-sync by snapshot (issue 19 item 2,
 * docs/resync.md): collects SnapshotBegin/Part/End of one master, then reconciles the
 * simulated account (sub_account.h) with it through the guard's plan (guard_resync.h)
 * and executes the plan into the account, as an EA would into its broker account.
 * Thread: the subscriber's event loop.
 */
#ifndef DECP_SUB_RESYNC_H
#define DECP_SUB_RESYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "decp.pb-c.h"
#include "guard.h"
#include "proto_snapsig.h"
#include "sub_account.h"

/* A snapshot being received (Begin .. End) for one master. */
struct sub_snap {
	bool active;                  /* Begin seen, End not yet */
	uint64_t master, seq;
	uint32_t count;               /* SnapshotBegin.count */
	struct guard_book_entry *e;
	size_t n, cap;
	struct proto_snapsig sig;     /* the entries in the order received (signed snapshots) */
};

/* What a reconciliation executed (ResyncDone's counts). */
struct sub_resync_counts {
	uint32_t opened, closed, reduced, modified, skipped;
};

/* The registry's name of a master symbol ("EURUSD" for "eurusd.m"): the registry entry's,
 * else guard_symbol_base's, else the symbol itself. How decp-subscriber names instruments
 * (its market, its account's exposure). */
void sub_instrument_of(const struct guard_instruments *reg, const char *sym, char *out,
		       size_t cap);

/* Begin: resets s. Returns 0, -EINVAL on NULL. */
int sub_snap_begin(struct sub_snap *s, const Decp__SnapshotBegin *b);
/* A part: its entries appended (validated: same master and sequence, known type, symbol,
 * volume > 0, no more than count). Returns 0, -EPROTO (out of order or invalid: s is no
 * longer active), -ENOMEM. */
int sub_snap_part(struct sub_snap *s, const Decp__SnapshotPart *p);
/* End: 0 when the snapshot is complete (same master, sequence, count == entries received,
 * no ticket twice; the entries are then sorted by ticket), -EPROTO otherwise. s stays
 * filled until the next begin. */
int sub_snap_end(struct sub_snap *s, const Decp__SnapshotEnd *e);
void sub_snap_free(struct sub_snap *s);

/* After a successful sub_snap_end: SnapshotEnd.signature verifies with the platform's key
 * pk over the entries as received (proto_snapsig.h). Returns 0, or -EBADMSG (missing,
 * wrong, or the entries were altered, dropped or reordered on the way). Once per
 * snapshot. */
int sub_snap_verify(struct sub_snap *s, const Decp__SnapshotEnd *e,
		    const struct proto_ed25519_key *pk);

/*
 * Reconciles master's positions in a with the complete snapshot s under policy p
 * (guard_resync_plan with view_fn for the quotes and the account) and executes the plan
 * into a: opens at the quoted price, closes and reduces with their P&L realized at the last
 * price, modifies. orders (may be NULL): a line per action "<idx> <master> <S> resync
 * <OP> <type> <symbol> <volume> <ticket> [reason]". Returns 0 with *out set, -ENOMEM.
 */
int sub_resync_apply(struct sub_account *a, const struct sub_snap *s, const struct guard_policy *p,
		     bool equity_tripped, guard_resync_view_fn view_fn, void *view_ctx,
		     const struct sub_quotes *q, const struct guard_instruments *reg, FILE *orders,
		     int idx, struct sub_resync_counts *out);

#endif
