/* cp_book_check: the master's positions snapshots against the book. Design in
 * cp_book_check.h. */
#include "cp_book_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_book_body.h"
#include "cp_book_cmp.h"
#include "cp_log.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "proto_positions.h"

#define ROLE "book"
#define READ_COUNT 256u
#define START_BACK_MS UINT64_C(60000) /* a (re)started role reads the parts of the last minute */

void cp_book_check_init(struct cp_book_check *c, uint64_t master, struct cp_alerts *alerts)
{
	memset(c, 0, sizeof(*c));
	c->master = master;
	c->alerts = alerts;
	cp_book_init(&c->ck[0], master);
	cp_book_init(&c->ck[1], master);
}

static void snap_clear(struct cp_book_snap *s)
{
	free(s->seen);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

void cp_book_check_free(struct cp_book_check *c)
{
	snap_clear(&c->asm_);
	for (unsigned int i = 0; i < c->n_ready; i++)
		snap_clear(&c->ready[i]);
	c->n_ready = 0;
	cp_book_free(&c->ck[0]);
	cp_book_free(&c->ck[1]);
}

/* ---------------------------------------------------------------- outcome */

struct diff_ctx {
	const struct cp_book_check *c;
	const struct cp_book_snap *s;
	size_t n;
	char detail[CP_BOOK_CHECK_DETAIL_MAX * 192];
	size_t len;
};

static void on_diff(void *arg, const struct cp_book_diff *d)
{
	struct diff_ctx *x = arg;
	char line[192];

	cp_book_diff_format(d, line, sizeof(line));
	if (x->n < CP_BOOK_CHECK_LOG_MAX)
		cp_log(CP_LOG_WARN, ROLE, "master %" PRIu64 " positions at sequence %" PRIu64
		       " (snapshot %" PRIu64 "): %s", x->c->master, x->s->seq, x->s->id, line);
	if (x->n < CP_BOOK_CHECK_DETAIL_MAX) {
		int k = snprintf(x->detail + x->len, sizeof(x->detail) - x->len, "%s%s",
				 x->len > 0 ? "\n" : "", line);
		if (k > 0)
			x->len = x->len + (size_t)k < sizeof(x->detail) ? x->len + (size_t)k
								      : sizeof(x->detail) - 1;
	}
	x->n++;
}

/* master_position_checks row (sql 0023); a failure is logged only. */
static void store(struct cp_pg *pg, uint64_t master, const struct cp_book_snap *s,
		  const char *outcome, size_t book_entries, size_t diffs, const char *detail)
{
	char m[24], id[24], seq[24], me[16], be[16], df[16], arr[24];
	const char *vals[9] = {m, id, seq, outcome, me, be, df, detail, arr};
	PGresult *r;

	if (cp_pg_ensure(pg) != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " snapshot %" PRIu64 ": PostgreSQL "
			  "unavailable, the %s check is not recorded", master, s->id, outcome);
		return;
	}
	snprintf(m, sizeof(m), "%" PRIu64, master);
	snprintf(id, sizeof(id), "%" PRIu64, s->id);
	snprintf(seq, sizeof(seq), "%" PRIu64, s->seq);
	snprintf(me, sizeof(me), "%zu", s->n);
	snprintf(be, sizeof(be), "%zu", book_entries);
	snprintf(df, sizeof(df), "%zu", diffs);
	snprintf(arr, sizeof(arr), "%" PRId64, s->arrival_ns);
	r = cp_pg_exec(pg, "INSERT INTO master_position_checks (master_id, snapshot_id, sequence, "
		       "outcome, master_entries, book_entries, differences, detail, received_at) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
		       "to_timestamp($9::numeric / 1000000000)) "
		       "ON CONFLICT (master_id, snapshot_id) DO NOTHING", 9, vals);
	if (!cp_pg_ok(r))
		cp_pg_fail(pg, "master_position_checks insert", r);
	PQclear(r);
}

/* A snapshot that could not be compared (stale or expired): logged, counted, stored. */
static void unchecked(struct cp_book_check *c, struct cp_book_snap *s, struct cp_pg *pg,
		      struct cp_book_check_stats *st, bool stale, const char *why)
{
	cp_log(CP_LOG_WARN, ROLE, "master %" PRIu64 " positions snapshot %" PRIu64 " at sequence %"
	       PRIu64 " not compared (%s): %s", c->master, s->id, s->seq,
	       stale ? "stale" : "expired", why);
	atomic_fetch_add(stale ? &st->stale : &st->expired, 1);
	store(pg, c->master, s, stale ? "stale" : "expired", 0, 0, why);
	snap_clear(s);
}

/* Compares complete snapshot s with book b (at s->seq); how: which book, for the log
 * ("the book", or rebuilt from a checkpoint). */
static void compare(struct cp_book_check *c, struct cp_book_snap *s, const struct cp_book *b,
		    const char *how, struct cp_pg *pg, struct cp_book_check_stats *st)
{
	struct diff_ctx *x = calloc(1, sizeof(*x));
	size_t n;

	if (x == NULL)
		return; /* tried again at the next poll */
	x->c = c;
	x->s = s;
	n = cp_book_compare(b, s->e, s->n, on_diff, x);
	if (n == 0) {
		cp_log(CP_LOG_INFO, ROLE, "master %" PRIu64 " positions at sequence %" PRIu64
		       " (snapshot %" PRIu64 ", %zu entries) match %s", c->master, s->seq,
		       s->id, s->n, how);
		atomic_fetch_add(&st->matches, 1);
		store(pg, c->master, s, "match", b->n, 0, "");
	} else {
		if (n > CP_BOOK_CHECK_LOG_MAX)
			cp_log(CP_LOG_WARN, ROLE, "master %" PRIu64 " snapshot %" PRIu64 ": %zu more "
			       "differences not logged", c->master, s->id, n - CP_BOOK_CHECK_LOG_MAX);
		cp_alert(c->alerts, CP_ALERT_POSITIONS_MISMATCH, c->master, 0, "master %" PRIu64
			 ": its positions at sequence %" PRIu64 " differ from the book: %zu "
			 "difference(s) (snapshot %" PRIu64 ", master %zu entries, book %zu; "
			 "master_position_checks; %s)", c->master, s->seq, n, s->id, s->n, b->n, how);
		atomic_fetch_add(&st->mismatches, 1);
		atomic_fetch_add(&st->differences, n);
		store(pg, c->master, s, "mismatch", b->n, n, x->detail);
	}
	free(x);
	snap_clear(s);
}

/* ---------------------------------------------------------------- the book at N */

/* *out = the book at seq, rebuilt from the newest checkpoint at or below it and the
 * stream's signals after it (*ck_seq: that checkpoint's sequence). Returns 0, -ESTALE (no
 * such checkpoint, or the stream no longer holds the signals), -ENOMEM, or -EIO. */
static int rebuild(const struct cp_book_check *c, uint64_t seq, redisContext *rc,
		   struct cp_book *out, uint64_t *ck_seq)
{
	char key[64], from[32], to[32];
	int k = c->has_ck[1] && c->ck[1].seq <= seq ? 1 : c->has_ck[0] && c->ck[0].seq <= seq ? 0
											: -1;

	if (k < 0)
		return -ESTALE;
	if (cp_book_copy(out, &c->ck[k]) != 0)
		return -ENOMEM;
	*ck_seq = out->seq;
	cp_redis_key_signals(key, sizeof(key), c->master);
	while (out->seq < seq) {
		redisReply *r;
		size_t i;

		snprintf(from, sizeof(from), "%" PRIu64 "-0", out->seq + 1);
		snprintf(to, sizeof(to), "%" PRIu64 "-0", seq);
		r = redisCommand(rc, "XRANGE %s %s %s COUNT 1024", key, from, to);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return -EIO;
		}
		for (i = 0; i < r->elements; i++) {
			const redisReply *e = r->element[i];
			struct cp_rec rec;

			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    !cp_rec_from_fields(e->element[1], &rec) ||
			    cp_book_apply_body(out, strtoull(e->element[0]->str, NULL, 10), rec.body,
					       rec.body_len, NULL, NULL) != 0)
				break;
		}
		bool whole = r->elements > 0 && i == r->elements;
		freeReplyObject(r);
		if (!whole)
			return -ESTALE; /* trimmed, or not applicable: not the book's history */
	}
	return 0;
}

/* Finishes complete snapshot s when the book allows. Returns 1 finished, 0 waiting, or
 * -EIO. */
static int settle_one(struct cp_book_check *c, struct cp_book_snap *s, const struct cp_book *b,
		      redisContext *rc, struct cp_pg *pg, struct cp_book_check_stats *st)
{
	struct cp_book at;
	uint64_t from = 0;
	int rv;

	if (b->seq == s->seq) {
		compare(c, s, b, "the book", pg, st);
		return 1;
	}
	if (b->seq < s->seq) {
		if (cp_now_ns() - s->since_ns <= CP_BOOK_CHECK_WAIT_NS)
			return 0;
		unchecked(c, s, pg, st, false, "the book did not reach its sequence in time");
		return 1;
	}
	cp_book_init(&at, c->master);
	rv = rebuild(c, s->seq, rc, &at, &from);
	if (rv == 0) {
		char how[96];

		snprintf(how, sizeof(how), "the book rebuilt from its checkpoint at %" PRIu64, from);
		compare(c, s, &at, how, pg, st);
	}
	else if (rv == -ESTALE)
		unchecked(c, s, pg, st, true, "the book had moved past its sequence");
	else
		snap_clear(s); /* -ENOMEM: dropped; -EIO: the caller reconnects */
	cp_book_free(&at);
	return rv == -EIO ? -EIO : 1;
}

/* Finishes the complete snapshots the book allows, oldest first (a later one waits for
 * the book no less). Returns 0 or -EIO. */
static int settle(struct cp_book_check *c, const struct cp_book *b, redisContext *rc,
		  struct cp_pg *pg, struct cp_book_check_stats *st)
{
	unsigned int done = 0;
	int rv = 0;

	while (done < c->n_ready && (rv = settle_one(c, &c->ready[done], b, rc, pg, st)) == 1)
		done++;
	memmove(c->ready, c->ready + done, (c->n_ready - done) * sizeof(c->ready[0]));
	c->n_ready -= done;
	return rv < 0 ? rv : 0;
}

static bool is_ready(const struct cp_book_check *c, uint64_t id)
{
	for (unsigned int i = 0; i < c->n_ready; i++)
		if (c->ready[i].id == id)
			return true;
	return false;
}

/* ---------------------------------------------------------------- parts */

static int snap_start(struct cp_book_snap *s, const Decp__Positions *p, int64_t arrival_ns)
{
	memset(s, 0, sizeof(*s));
	s->seen = calloc((p->parts + 7) / 8, 1);
	s->e = calloc(p->count > 0 ? p->count : 1, sizeof(*s->e));
	if (s->seen == NULL || s->e == NULL) {
		snap_clear(s);
		return -ENOMEM;
	}
	s->id = p->snapshot_id;
	s->seq = p->sequence;
	s->parts = p->parts;
	s->count = p->count;
	s->arrival_ns = arrival_ns;
	s->since_ns = cp_now_ns();
	return 0;
}

/* One part into the assembly; a complete snapshot moves to c->ready. */
static void take_part(struct cp_book_check *c, const Decp__Positions *p, int64_t arrival_ns,
		      struct cp_pg *pg, struct cp_book_check_stats *st)
{
	struct cp_book_snap *s = &c->asm_;

	if (is_ready(c, p->snapshot_id))
		return; /* a part of a complete snapshot delivered again */
	if (s->id != 0 && s->id != p->snapshot_id)
		unchecked(c, s, pg, st, false, "a newer snapshot began before all its parts came");
	if (s->id == 0 && snap_start(s, p, arrival_ns) != 0)
		return;
	if (s->seq != p->sequence || s->parts != p->parts || s->count != p->count ||
	    s->n + p->n_entries > s->count) {
		unchecked(c, s, pg, st, false, "its parts contradict each other");
		return;
	}
	if (s->seen[p->part / 8] & (1u << (p->part % 8)))
		return; /* delivered again */
	s->seen[p->part / 8] |= (uint8_t)(1u << (p->part % 8));
	s->got++;
	for (size_t i = 0; i < p->n_entries; i++)
		cp_book_entry_from_pb(p->entries[i], &s->e[s->n++]);
	if (s->got < s->parts)
		return;
	if (s->n != s->count) {
		unchecked(c, s, pg, st, false, "its parts hold another number of entries than count");
		return;
	}
	if (c->n_ready == CP_BOOK_CHECK_READY_MAX) {
		unchecked(c, &c->ready[0], pg, st, false, "too many snapshots waiting for the book");
		memmove(c->ready, c->ready + 1, (c->n_ready - 1) * sizeof(c->ready[0]));
		c->n_ready--;
	}
	c->ready[c->n_ready++] = *s;
	memset(s, 0, sizeof(*s));
}

/* One stream entry (fields q, a, b). */
static void take_entry(struct cp_book_check *c, const redisReply *e, struct cp_pg *pg,
		       struct cp_book_check_stats *st)
{
	const redisReply *fl = e->element[1], *body = NULL;
	int64_t arrival = 0;
	Decp__Positions *p = NULL;

	if (fl->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < fl->elements; i += 2) {
		const redisReply *k = fl->element[i], *v = fl->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "b") == 0)
			body = v;
		else if (strcmp(k->str, "a") == 0)
			arrival = strtoll(v->str, NULL, 10);
	}
	atomic_fetch_add(&st->parts, 1);
	if (body == NULL || proto_positions_open((const uint8_t *)body->str, body->len, NULL, 0,
						 NULL, NULL, &p) != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 ": unreadable positions entry %s "
			  "skipped", c->master, e->element[0]->str);
		return;
	}
	if (p->master_id == c->master)
		take_part(c, p, arrival, pg, st);
	decp__positions__free_unpacked(p, NULL);
}

/* Reads the stream's new parts; each snapshot they complete is finished as soon as the
 * book allows (a backlog, e.g. after a restart, never piles up beyond the waiting bound).
 * Returns 0 or -EIO. */
static int read_parts(struct cp_book_check *c, const struct cp_book *b, redisContext *rc,
		      struct cp_pg *pg, struct cp_book_check_stats *st)
{
	char key[64], from[64];
	redisReply *r;
	int rv = 0;

	cp_redis_key_positions(key, sizeof(key), c->master);
	if (c->cursor[0] == '\0') {
		struct timespec ts;
		uint64_t ms;

		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (uint64_t)ts.tv_sec * UINT64_C(1000) + (uint64_t)ts.tv_nsec / UINT64_C(1000000);
		snprintf(c->cursor, sizeof(c->cursor), "%" PRIu64 "-0", ms - START_BACK_MS);
	}
	snprintf(from, sizeof(from), "(%s", c->cursor);
	r = redisCommand(rc, "XRANGE %s %s + COUNT %u", key, from, READ_COUNT);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	for (size_t i = 0; i < r->elements && rv == 0; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		snprintf(c->cursor, sizeof(c->cursor), "%s", e->element[0]->str);
		take_entry(c, e, pg, st);
		rv = settle(c, b, rc, pg, st);
	}
	freeReplyObject(r);
	return rv;
}

/* ---------------------------------------------------------------- poll */

static void checkpoint(struct cp_book_check *c, const struct cp_book *b)
{
	uint64_t now = cp_now_ns();

	if (now - c->ck_at_ns < CP_BOOK_CHECK_CKPT_NS || (c->has_ck[1] && c->ck[1].seq == b->seq))
		return;
	/* the older goes, the newer becomes the older, b the newer */
	struct cp_book t = c->ck[0];
	c->ck[0] = c->ck[1];
	c->has_ck[0] = c->has_ck[1];
	c->ck[1] = t;
	c->has_ck[1] = cp_book_copy(&c->ck[1], b) == 0;
	c->ck_at_ns = now;
}

void cp_book_check_base(struct cp_book_check *c, const struct cp_book *b)
{
	c->has_ck[1] = cp_book_copy(&c->ck[1], b) == 0;
	c->ck_at_ns = cp_now_ns();
}

int cp_book_check_poll(struct cp_book_check *c, const struct cp_book *b, redisContext *rc,
		       struct cp_pg *pg, struct cp_book_check_stats *st)
{
	checkpoint(c, b);
	if (read_parts(c, b, rc, pg, st) != 0)
		return -EIO;
	if (c->asm_.id != 0 && cp_now_ns() - c->asm_.since_ns > CP_BOOK_CHECK_WAIT_NS)
		unchecked(c, &c->asm_, pg, st, false, "not all of its parts arrived in time");
	return settle(c, b, rc, pg, st);
}
