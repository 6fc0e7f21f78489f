/*
 * cp_alert: the alert feed's writer (contract in cp_alert.h).
 */
#include "cp_alert.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_log.h"

#define FLUSH_EVERY_NS 1000000000ull

static const char *const kind_names[CP_ALERT_KINDS] = {
	[CP_ALERT_AUTO_PAUSE] = "auto_pause",
	[CP_ALERT_PLATFORM_LAG] = "platform_lag",
	[CP_ALERT_UNKNOWN_INSTRUMENT] = "unknown_instrument",
	[CP_ALERT_POSITIONS_MISMATCH] = "positions_mismatch",
	[CP_ALERT_BOOK_STOPPED] = "book_stopped",
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cp_alert_init(struct cp_alerts *a, const char *role)
{
	memset(a, 0, sizeof(*a));
	a->role = role;
}

const char *cp_alert_kind_name(enum cp_alert_kind kind)
{
	return (unsigned int)kind < CP_ALERT_KINDS ? kind_names[kind] : NULL;
}

void cp_alert(struct cp_alerts *a, enum cp_alert_kind kind, uint64_t master, uint64_t sub,
	      const char *fmt, ...)
{
	struct cp_alert_pending *e = NULL;
	char msg[CP_ALERT_MSG_MAX + 1];
	va_list ap;

	if ((unsigned int)kind >= CP_ALERT_KINDS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (unsigned int i = 0; i < a->n && e == NULL; i++)
		if (a->p[i].kind == kind && a->p[i].master == master && a->p[i].sub == sub)
			e = &a->p[i];
	if (e == NULL) {
		if (a->n == CP_ALERT_PENDING_MAX) {
			a->dropped++;
			CP_LOG_RL(CP_LOG_WARN, a->role, "ALERT %s (the alert feed's pending table is "
				  "full: not recorded; %" PRIu64 " dropped so far)", msg, a->dropped);
			return;
		}
		e = &a->p[a->n++];
		e->kind = kind;
		e->master = master;
		e->sub = sub;
		e->count = 0;
		/* The first occurrence of a key until it is written: one line a second at most. */
		cp_log(CP_LOG_WARN, a->role, "ALERT %s", msg);
	}
	e->count++;
	memcpy(e->msg, msg, sizeof(msg));
}

/* Appends s to b as one element of a PostgreSQL array literal ("...", with \ and "
 * escaped). b has room for 2 * strlen(s) + 3 more bytes. Returns the new length. */
static size_t lit_text(char *b, size_t len, const char *s)
{
	b[len++] = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			b[len++] = '\\';
		b[len++] = *s;
	}
	b[len++] = '"';
	return len;
}

int cp_alert_flush(struct cp_alerts *a, struct cp_pg *pg, bool force)
{
	/* 5 literals: kinds, masters, subs, messages, counts */
	size_t cap = (size_t)a->n * (2 * CP_ALERT_MSG_MAX + 3 + 3 * 22 + 24) + 16;
	char *kinds, *masters, *subs, *msgs, *counts;
	size_t lk = 0, lm = 0, ls = 0, lg = 0, lc = 0;
	uint64_t now = now_ns();
	int rc;

	if (a->n == 0 || (!force && a->n < CP_ALERT_PENDING_MAX * 3 / 4 &&
			  now - a->last_flush_ns < FLUSH_EVERY_NS))
		return 0;
	a->last_flush_ns = now;
	if (cp_pg_ensure(pg) != 0)
		return -EAGAIN;
	char *buf = malloc(cap * 5);
	if (buf == NULL)
		return -EAGAIN;
	kinds = buf;
	masters = buf + cap;
	subs = buf + 2 * cap;
	msgs = buf + 3 * cap;
	counts = buf + 4 * cap;
	kinds[lk++] = masters[lm++] = subs[ls++] = msgs[lg++] = counts[lc++] = '{';
	for (unsigned int i = 0; i < a->n; i++) {
		const struct cp_alert_pending *e = &a->p[i];
		const char *sep = i > 0 ? "," : "";

		lk += (size_t)snprintf(kinds + lk, cap - lk, "%s%s", sep, kind_names[e->kind]);
		lm += e->master ? (size_t)snprintf(masters + lm, cap - lm, "%s%" PRIu64, sep, e->master)
				: (size_t)snprintf(masters + lm, cap - lm, "%sNULL", sep);
		ls += e->sub ? (size_t)snprintf(subs + ls, cap - ls, "%s%" PRIu64, sep, e->sub)
			     : (size_t)snprintf(subs + ls, cap - ls, "%sNULL", sep);
		if (i > 0)
			msgs[lg++] = ',';
		lg = lit_text(msgs, lg, e->msg);
		lc += (size_t)snprintf(counts + lc, cap - lc, "%s%" PRIu64, sep, e->count);
	}
	kinds[lk++] = masters[lm++] = subs[ls++] = msgs[lg++] = counts[lc++] = '}';
	kinds[lk] = masters[lm] = subs[ls] = msgs[lg] = counts[lc] = '\0';

	const char *p[5] = {kinds, masters, subs, msgs, counts};
	PGresult *r = cp_pg_exec(pg, "SELECT decp_alert_raise($1::text[], $2::bigint[], "
				 "$3::bigint[], $4::text[], $5::bigint[])", 5, p);
	if (cp_pg_ok(r)) {
		for (unsigned int i = 0; i < a->n; i++)
			a->recorded += a->p[i].count;
		rc = (int)a->n;
		a->n = 0;
	} else {
		rc = r == NULL || pg->conn == NULL ? -EAGAIN : -EIO;
		if (rc == -EIO)
			CP_LOG_RL(CP_LOG_WARN, a->role, "alert feed: %u alert(s) not recorded (kept "
				  "for the next attempt): %s", a->n, PQresultErrorMessage(r));
	}
	PQclear(r);
	free(buf);
	return rc;
}
