/*
 * cp_alert: what an operator must act on, raised by a role and recorded in the alert feed
 * (table `alerts`, sql 0024; GET /v1/alerts; the console's Alerts page, docs/console.md).
 *
 * A role calls cp_alert() where it finds the condition (nothing is written there: it may
 * be inside a batch's loop) and cp_alert_flush() from its loop with its PostgreSQL
 * session. Occurrences of one key (kind, master, subscription) between two flushes fold
 * into one pending entry with a count and the latest message; the first of them is logged
 * ("ALERT <message>", WARN). A flush writes every pending entry in one statement
 * (decp_alert_raise: repeats fold into the key's open alert) at most once a second, so a
 * key logs at most one line a second however often it recurs. A failed flush keeps the
 * entries for the next one; beyond CP_ALERT_PENDING_MAX keys the new ones are counted as
 * dropped (logged, rate-limited) until a flush makes room.
 *
 * Threading: a struct cp_alerts belongs to one thread, as its cp_pg does.
 */
#ifndef DECP_CP_ALERT_H
#define DECP_CP_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "cp_pg.h"

/* The kinds; their names are the table's CHECK list (keep both in step). */
enum cp_alert_kind {
	CP_ALERT_AUTO_PAUSE,           /* trust: a subscription paused (score < 50) */
	CP_ALERT_PLATFORM_LAG,         /* trust: our lag made a subscriber refuse a signal */
	CP_ALERT_UNKNOWN_INSTRUMENT,   /* trust: a guard refused a symbol the registry lacks */
	CP_ALERT_POSITIONS_MISMATCH,   /* book: the master's own positions differ from the book */
	CP_ALERT_BOOK_STOPPED,         /* book: a master's book can no longer be kept */
	CP_ALERT_KINDS
};

#define CP_ALERT_PENDING_MAX 64
#define CP_ALERT_MSG_MAX 400        /* bytes of a message kept (the table's limit) */

struct cp_alert_pending {
	enum cp_alert_kind kind;
	uint64_t master;               /* 0: none, or the subscription's (filled by the db) */
	uint64_t sub;                  /* 0: none */
	uint64_t count;
	char msg[CP_ALERT_MSG_MAX + 1];
};

struct cp_alerts {
	const char *role;              /* log tag */
	struct cp_alert_pending p[CP_ALERT_PENDING_MAX];
	unsigned int n;
	uint64_t last_flush_ns;        /* CLOCK_MONOTONIC of the last flush attempt */
	uint64_t recorded;             /* occurrences written to the feed */
	uint64_t dropped;              /* occurrences lost to a full pending table */
};

/* Zero the table; role (not copied) tags the log lines. */
void cp_alert_init(struct cp_alerts *a, const char *role);

/* Name of kind as stored ("auto_pause", ...), or NULL for an unknown value. */
const char *cp_alert_kind_name(enum cp_alert_kind kind);

/* One occurrence of kind for master (0: the subscription's) and subscription sub (0:
 * none), the message formatted from fmt (truncated at CP_ALERT_MSG_MAX). */
void cp_alert(struct cp_alerts *a, enum cp_alert_kind kind, uint64_t master, uint64_t sub,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Write what is pending when a second has passed since the last attempt, or the table is
 * three quarters full, or force. Returns the entries written, 0 (nothing due or nothing
 * pending), -EAGAIN (PostgreSQL down: kept) or -EIO (refused: kept, logged). */
int cp_alert_flush(struct cp_alerts *a, struct cp_pg *pg, bool force);

#endif
