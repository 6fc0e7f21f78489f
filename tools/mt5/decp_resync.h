/*
 * decp_resync: decp.dll's side of the re-sync by snapshot (issue 19; docs/resync.md,
 * docs/mt5.md "Re-sync by snapshot"). A receiver handle that turned re-sync on
 * (decp_rx_resync) owns one of these: the snapshot being received, checked and verified,
 * the EA's copies of the master's positions and its quotes, and the plan
 * (guard_resync_plan, the guard's own) the EA executes.
 *
 *   SnapshotBegin{S, count}   decp_resync_begin     RECEIVING   (digest started)
 *   SnapshotPart × k          decp_resync_part      RECEIVING   (entries kept, digested)
 *   SnapshotEnd{S, count, sig} decp_resync_end      COMPLETE    (or IDLE: refused)
 *   held, quotes              decp_resync_held_add, decp_resync_quote_set
 *   plan                      decp_resync_plan      PLANNED
 *   ResyncDone                decp_resync_counts, decp_resync_finish: IDLE
 *
 * Storage is fixed (DECP_RESYNC_*_MAX, allocated once with the object): nothing the
 * network sends makes it allocate more; a snapshot over the limit is refused at its Begin.
 * Verification: the platform's Ed25519 signature over proto_snapsig_msg.h's message (the
 * bytes the fan-out signs), SHA-256 of the entries as they arrive (libgcrypt,
 * decp_crypto.h). Only a verified snapshot is planned.
 *
 * Returns: 0 or a negative errno as documented per function. Thread: the handle's (one
 * EA thread at a time).
 */
#ifndef DECP_RESYNC_H
#define DECP_RESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "guard.h"
#include "proto_wire.h"

#define DECP_RESYNC_ENTRIES_MAX 1024u /* entries of one snapshot */
#define DECP_RESYNC_HELD_MAX 1024u    /* the EA's copies of the master's positions */
#define DECP_RESYNC_QUOTES_MAX 256u   /* quotes of distinct (subscriber) symbols */
/* at most CLOSE + OPEN per entry and one CLOSE per held copy (guard_resync.h) */
#define DECP_RESYNC_ACTIONS_MAX (2u * DECP_RESYNC_ENTRIES_MAX + DECP_RESYNC_HELD_MAX)

enum decp_resync_phase {
	DECP_RESYNC_IDLE = 0,      /* nothing received, or refused, or finished */
	DECP_RESYNC_RECEIVING = 1, /* Begin seen, End not yet */
	DECP_RESYNC_COMPLETE = 2,  /* End seen, complete and verified */
	DECP_RESYNC_PLANNED = 3,   /* planned: actions ready, ResyncDone to send */
};

/* Why a snapshot was refused (decp_dll.h DECP_E_SNAPSHOT's info[2]; stable numbers). */
enum decp_resync_refusal {
	DECP_RESYNC_NOT_ASKED = 1,   /* re-sync not turned on (no decp_rx_resync) */
	DECP_RESYNC_OTHER_MASTER = 2,
	DECP_RESYNC_TOO_BIG = 3,     /* count over DECP_RESYNC_ENTRIES_MAX */
	DECP_RESYNC_ORDER = 4,       /* a part or End without its Begin, another sequence */
	DECP_RESYNC_ENTRY = 5,       /* ticket 0, not a position or pending type, volume <= 0 */
	DECP_RESYNC_COUNT = 6,       /* more entries than Begin's count, or End's count differs */
	DECP_RESYNC_TWICE = 7,       /* a ticket twice: not a book */
	DECP_RESYNC_OLD = 8,         /* S below the guard's last consumed sequence */
};

struct decp_resync_quote {
	char symbol[GUARD_SYMBOL_MAX]; /* the subscriber's (after the policy's mapping) */
	struct guard_view view;        /* as decp_rx_check's view (position unused) */
	int64_t quote_rate;            /* account currency per unit of its quote currency
					* (1e-5) for the margin of its OPENs; 0: the account's */
};

struct decp_sha256;
struct decp_ed25519;

struct decp_resync {
	struct decp_ed25519 *platform; /* the platform's public key (owned) */
	enum decp_resync_phase phase;
	uint64_t master, seq;
	uint32_t count;
	struct decp_sha256 *digest; /* RECEIVING only */
	struct guard_book_entry e[DECP_RESYNC_ENTRIES_MAX];
	uint32_t n;
	struct guard_held held[DECP_RESYNC_HELD_MAX];
	uint32_t nheld;
	struct decp_resync_quote quotes[DECP_RESYNC_QUOTES_MAX];
	uint32_t nquotes;
	struct guard_resync_action act[DECP_RESYNC_ACTIONS_MAX];
	uint32_t nact;
	uint64_t verified, refused, finished; /* snapshots, for decp_rx_state */
};

/* A new re-sync object trusting the platform key pub. Returns it, or NULL (errno ENOMEM,
 * or EINVAL: pub is not an Ed25519 point). */
struct decp_resync *decp_resync_new(const uint8_t pub[32]);
void decp_resync_free(struct decp_resync *rs);

/* SnapshotBegin{master, seq, count} for this handle's master (the caller checks it): any
 * snapshot in progress or planned is dropped, the held copies and quotes are forgotten.
 * Returns 0, -E2BIG (count over DECP_RESYNC_ENTRIES_MAX: refused, IDLE), -EIO. */
int decp_resync_begin(struct decp_resync *rs, uint64_t master, uint64_t seq, uint32_t count);

/*
 * One SnapshotPart (proto_wire_snapshot_part_decode's). Returns 0, or a refusal (the
 * snapshot is dropped, IDLE): -EPROTO with *why DECP_RESYNC_ORDER (not RECEIVING, another
 * master or sequence), DECP_RESYNC_COUNT (more entries than count) or DECP_RESYNC_ENTRY.
 */
int decp_resync_part(struct decp_resync *rs, const struct proto_wire_snapshot_part *p,
		     enum decp_resync_refusal *why);

/*
 * SnapshotEnd{master, seq, count, sig}. last_seq: the guard's last consumed sequence.
 * Returns 0 (COMPLETE: the entries sorted by ticket), -EPROTO with *why (ORDER, COUNT,
 * TWICE, OLD), -EBADMSG (the signature does not verify with the platform key: missing,
 * another key, the entries or header altered, dropped or reordered), -EIO. Anything but 0
 * leaves IDLE with nothing to plan.
 */
int decp_resync_end(struct decp_resync *rs, uint64_t master, uint64_t seq, uint32_t count,
		    const uint8_t *sig, size_t sig_len, uint64_t last_seq,
		    enum decp_resync_refusal *why);

/* One of the EA's copies (COMPLETE or PLANNED; the plan must be made again). Returns the
 * number held, -EPERM (no verified snapshot), -ENOBUFS (DECP_RESYNC_HELD_MAX), -EEXIST
 * (the master ticket is held already), -EINVAL. */
int decp_resync_held_add(struct decp_resync *rs, const struct guard_held *h);

/* The master's volume of held copy ticket's position when the copy was last in line with
 * it (guard_held.master_volume; COMPLETE or PLANNED: the plan must be made again).
 * Returns 0, -EPERM, -ENOENT (no such copy held), -EINVAL (ticket 0, volume <= 0). */
int decp_resync_held_master(struct decp_resync *rs, uint64_t ticket, int64_t master_volume);

/* The quote and volume spec of a subscriber symbol (replaces an earlier one; COMPLETE or
 * PLANNED), and quote_rate (>= 0): the account currency per unit of the symbol's quote
 * currency (1e-5), the margin check's rate for its OPENs (a cross: EURJPY on a USD
 * account); 0: the account's (decp_rx_account_state). Returns the number of symbols
 * quoted, -EPERM, -ENOBUFS (DECP_RESYNC_QUOTES_MAX), -EINVAL. */
int decp_resync_quote_set(struct decp_resync *rs, const char *symbol,
			  const struct guard_view *view, int64_t quote_rate);

/*
 * guard_resync_plan on the verified snapshot, the held copies and the quotes, under pol
 * (the policy in force), with the broker account acct (known or not) and the
 * instrument registry reg. Returns the number of actions (PLANNED), -EPERM (no verified
 * snapshot), -EINVAL / -ENOBUFS from the guard.
 */
long decp_resync_plan(struct decp_resync *rs, const struct guard_policy *pol,
		      bool equity_tripped, const struct guard_account *acct,
		      const struct guard_instruments *reg);

/* ResyncDone's fields from the plan (counts per op). Returns 0, -EPERM (not PLANNED). */
int decp_resync_counts(const struct decp_resync *rs, struct proto_wire_resync_done *d);

/* The plan was executed and reported: IDLE (nothing when not PLANNED). */
void decp_resync_finish(struct decp_resync *rs);

/* A verified snapshot that will not be planned (the guard's execution is halted:
 * decp_rx_resync_plan): IDLE, counted in refused (nothing when not COMPLETE). */
void decp_resync_abandon(struct decp_resync *rs);

#endif
