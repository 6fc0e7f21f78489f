/*
 * cp_book: a master's position book (issue 19, item 1): the positions and pending orders
 * the master holds after sequence `seq`, maintained from its signals alone. It is what a
 * re-syncing subscriber reconciles against (a signed snapshot at N, then live envelopes
 * from N + 1), so it must follow the stream exactly: signals are applied strictly in
 * sequence, each exactly once, and the book says which sequence it reflects.
 *
 *   signal (in sequence)        effect on the book
 *   BUY, SELL                   open position `ticket` (volume, price, sl, tp)
 *   BUY/SELL LIMIT/STOP         place pending order `ticket` (price, sl, tp, expiration)
 *   MODIFY                      sl, tp of `ticket`; a pending order's price too (> 0)
 *   CLOSE_PARTIAL               volume of position `ticket` -= volume; <= 0 removes it
 *   CLOSE                       removes position or pending order `ticket`
 * A signal the book cannot apply as the master meant it (MODIFY/CLOSE of an unknown
 * ticket, an open of a ticket already held, a partial close of a pending order) is
 * still consumed (the book moves to its sequence) and counted as an anomaly with its
 * kind: the master's own snapshot (a later ingest message) is the authority to
 * reconcile against. A pending order that fills on the master's side reaches the book
 * as the master's next signals say (decp's Signal has no "filled" type yet: today the
 * master closes the pending ticket and opens a position).
 *
 * Sequence rule: cp_book_apply() takes exactly seq + 1 (-EALREADY for <= seq: a
 * redelivery, nothing changes; -ERANGE for a gap: the caller rebuilds from the stream).
 *
 * Persistence (durable in Redis, "decp:{m<master>}:book", one value written with the
 * sequence it reflects): cp_book_encode()/cp_book_decode(), a little-endian binary
 * format with a magic and a version; decode validates everything (it is read back from
 * storage other processes write) and never trusts a count.
 *
 *   "DPB1" | u64 master | u64 seq | u64 anomalies | u32 n | n x entry
 *   entry: u64 ticket | u8 type | u8 symbol length | symbol | i64 volume, price, sl, tp,
 *          expiration_ns | u64 opened_seq, updated_seq
 *
 * Memory: entries in one array (swap-remove) and an open-addressing index on the ticket
 * (linear probing, backward-shift deletion), both doubled as needed: a signal costs O(1).
 * Thread: one owner per book; no locks, no I/O.
 */
#ifndef DECP_CP_BOOK_H
#define DECP_CP_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_BOOK_SYMBOL_MAX 33 /* 32 characters + NUL (proto's PROTO_SYMBOL_MAX) */
#define CP_BOOK_MAGIC "DPB1"
#define CP_BOOK_HDR 32u       /* magic, master, seq, anomalies, count */
#define CP_BOOK_ENTRY_MAX (8 + 1 + 1 + 32 + 5 * 8 + 2 * 8) /* encoded, longest symbol */

/* What a signal did to the book (cp_book_apply's *effect). */
enum cp_book_effect {
	CP_BOOK_OPENED = 1,          /* BUY/SELL opened a position */
	CP_BOOK_PLACED,              /* a pending order was placed */
	CP_BOOK_MODIFIED,            /* exits (and a pending price) changed */
	CP_BOOK_REDUCED,             /* a partial close left some volume */
	CP_BOOK_CLOSED,              /* a position or pending order was removed */
	CP_BOOK_FILLED,              /* BUY/SELL of a ticket held as a pending order of that
				      * side and symbol: the order filled, it is the position now */
	/* anomalies: consumed, counted, the book as the rule below says */
	CP_BOOK_ANOMALY_UNKNOWN,     /* MODIFY/CLOSE/CLOSE_PARTIAL of a ticket not held: no change */
	CP_BOOK_ANOMALY_REOPENED,    /* open/place of a ticket already held: replaced */
	CP_BOOK_ANOMALY_NOT_POSITION /* CLOSE_PARTIAL of a pending order: no change */
};

struct cp_book_entry {
	uint64_t ticket;
	uint32_t type;                   /* proto OrderType: BUY, SELL or a pending type */
	char symbol[CP_BOOK_SYMBOL_MAX]; /* the master's symbol */
	int64_t volume;                  /* 0.01 lot */
	int64_t price, sl, tp;           /* 1e-5; open price of a position, a pending order's price */
	int64_t expiration_ns;           /* pending orders, 0 = good till cancelled */
	uint64_t opened_seq, updated_seq;
};

/* The fields of a Signal the book needs (decoded from the signed body). */
struct cp_book_signal {
	uint64_t master_id, sequence, ticket;
	uint32_t order_type;             /* proto OrderType */
	const char *symbol;              /* NUL-terminated, 1..32 characters */
	int64_t volume, price, sl, tp, expiration_ns;
};

struct cp_book {
	uint64_t master_id;
	uint64_t seq;                    /* the last sequence applied; 0 = empty book */
	uint64_t anomalies;              /* signals counted as anomalies so far */
	struct cp_book_entry *e;
	size_t n, cap;
	uint32_t *idx;                   /* slot -> entry index + 1; 0 = empty */
	size_t idx_cap;                  /* power of two, >= 2 * cap */
};

/* An empty book of master at sequence 0. Cannot fail (allocates on first use). */
void cp_book_init(struct cp_book *b, uint64_t master_id);
void cp_book_free(struct cp_book *b);

/*
 * Applies signal s (its master must be the book's). Returns 0 with *effect (may be NULL)
 * set; -EALREADY when s->sequence <= seq (nothing changed); -ERANGE when s->sequence >
 * seq + 1 (a gap: nothing changed); -EINVAL for a wrong master, a NULL or empty symbol,
 * an unknown order type, a negative volume or price (nothing changed); -ENOMEM (nothing
 * changed).
 */
int cp_book_apply(struct cp_book *b, const struct cp_book_signal *s, enum cp_book_effect *effect);

/* *dst (initialised or zeroed; its old content freed) becomes a copy of src, which the
 * caller keeps. Returns 0, or -ENOMEM with *dst left empty (master 0, seq 0). */
int cp_book_copy(struct cp_book *dst, const struct cp_book *src);

/* The entry of ticket, or NULL. Valid until the next apply or free. */
const struct cp_book_entry *cp_book_find(const struct cp_book *b, uint64_t ticket);

/* Bytes cp_book_encode needs for b (an upper bound). */
size_t cp_book_encoded_max(const struct cp_book *b);

/* Writes b into out (cap bytes). Returns the length, or -ENOBUFS. */
long cp_book_encode(const struct cp_book *b, uint8_t *out, size_t cap);

/*
 * Replaces *b (initialised or zeroed) by the book encoded in p (len bytes). Returns 0, or
 * -EINVAL (bad magic or version, truncated, trailing bytes, a count the length cannot
 * hold, a bad type or symbol, a duplicate ticket, a negative volume) with *b left empty
 * (master 0, seq 0), or -ENOMEM.
 */
int cp_book_decode(struct cp_book *b, const uint8_t *p, size_t len);

#endif
