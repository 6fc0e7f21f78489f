/*
 * cp_book_cmp: the master's own positions (its snapshot at sequence N, issue 19) against
 * the control plane's position book at N (cp_book.h). Every difference is reported once:
 *
 *   kind             meaning
 *   MISSING_IN_BOOK  the master holds the ticket, the book does not
 *   MISSING_AT_MASTER the book holds the ticket, the master does not
 *   FIELDS           both hold it; `fields` says which of type, symbol, volume, price,
 *                    sl, tp, expiration differ
 *   DUPLICATE        the master listed the ticket more than once (its later copies)
 *
 * The book's opened/updated sequences are the book's own and never compared.
 * Thread: the caller's; no I/O, no allocation.
 */
#ifndef DECP_CP_BOOK_CMP_H
#define DECP_CP_BOOK_CMP_H

#include <stddef.h>
#include <stdint.h>

#include "cp_book.h"

enum cp_book_diff_kind {
	CP_BOOK_DIFF_MISSING_IN_BOOK = 1,
	CP_BOOK_DIFF_MISSING_AT_MASTER,
	CP_BOOK_DIFF_FIELDS,
	CP_BOOK_DIFF_DUPLICATE,
};

#define CP_BOOK_FIELD_TYPE 0x01u
#define CP_BOOK_FIELD_SYMBOL 0x02u
#define CP_BOOK_FIELD_VOLUME 0x04u
#define CP_BOOK_FIELD_PRICE 0x08u
#define CP_BOOK_FIELD_SL 0x10u
#define CP_BOOK_FIELD_TP 0x20u
#define CP_BOOK_FIELD_EXPIRATION 0x40u

struct cp_book_diff {
	enum cp_book_diff_kind kind;
	uint64_t ticket;
	uint32_t fields;                    /* FIELDS: CP_BOOK_FIELD_* bits */
	const struct cp_book_entry *master; /* NULL for MISSING_AT_MASTER */
	const struct cp_book_entry *book;   /* NULL for MISSING_IN_BOOK and DUPLICATE */
};

/* Called once per difference; d and what it points at are valid during the call only. */
typedef void (*cp_book_diff_fn)(void *arg, const struct cp_book_diff *d);

/*
 * Compares the master's entries m[0..n) with book b. Sorts m by ticket (in place); the
 * master's entries are reported in ticket order, then the book's missing ones in the
 * book's order. fn may be NULL (count only). Returns the number of differences (0: the
 * two agree).
 */
size_t cp_book_compare(const struct cp_book *b, struct cp_book_entry *m, size_t n,
		       cp_book_diff_fn fn, void *arg);

/*
 * One line describing d ("ticket 7 volume master 100 book 150 ...") into buf (cap bytes,
 * NUL-terminated, truncated if needed). Returns buf.
 */
const char *cp_book_diff_format(const struct cp_book_diff *d, char *buf, size_t cap);

#endif
