/* cp_book_role: the `book` role. Design in cp_book_role.h. */
#include "cp_book_role.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"
#include "cp_book_check.h"
#include "cp_book_store.h"
#include "cp_index.h"
#include "cp_log.h"
#include "cp_metrics.h"
#include "cp_pg.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "cp_book_body.h"
#include "proto_msg.h"
#include "proto_signal.h"

#define ROLE "book"
#define BOOK_CHUNK 1024u
#define BOOK_IDLE_MS 100u
#define BOOK_MASTERS_EVERY_NS 1000000000ull

struct tracked {
	uint64_t master;
	struct cp_book b;
	uint64_t saved;    /* sequence of the stored book */
	bool loaded;
	bool behind;       /* the stream starts after seq + 1: catch up from signal_archive */
	bool gap;          /* neither the stream nor the archive can complete it: left out */
	struct cp_book_check chk; /* the master's own positions snapshots against the book */
};

struct books {
	struct tracked *t;
	size_t n, cap;
	struct cp_index by_master;   /* t by master id (track) */
	_Atomic uint64_t masters, signals, anomalies, gaps, saves, from_archive;
	struct cp_book_check_stats chk;
	struct cp_alerts alerts;   /* positions mismatch, a book no longer kept */
};

static void book_stats(void *arg, struct cp_metrics *m)
{
	struct books *bk = arg;

	cp_metrics_gauge(m, "decp_book_masters", "masters whose position book is kept",
			 atomic_load(&bk->masters));
	cp_metrics_counter(m, "decp_book_signals_total", "signals applied to position books",
			   atomic_load(&bk->signals));
	cp_metrics_counter(m, "decp_book_anomalies_total",
			   "signals a position book could not apply as meant",
			   atomic_load(&bk->anomalies));
	cp_metrics_counter(m, "decp_book_gaps_total",
			   "streams that cannot complete their book (trimmed history)",
			   atomic_load(&bk->gaps));
	cp_metrics_counter(m, "decp_book_saves_total", "position books stored in Redis",
			   atomic_load(&bk->saves));
	cp_metrics_counter(m, "decp_book_archive_signals_total",
			   "signals applied from signal_archive (trimmed from the stream)",
			   atomic_load(&bk->from_archive));
	cp_metrics_counter(m, "decp_book_position_parts_total",
			   "parts of masters' own positions snapshots read",
			   atomic_load(&bk->chk.parts));
	cp_metrics_counter(m, "decp_book_position_matches_total",
			   "masters' positions snapshots equal to the book at their sequence",
			   atomic_load(&bk->chk.matches));
	cp_metrics_counter(m, "decp_book_position_mismatches_total",
			   "masters' positions snapshots that differ from the book (ALERT)",
			   atomic_load(&bk->chk.mismatches));
	cp_metrics_counter(m, "decp_book_position_differences_total",
			   "entries that differ between masters' snapshots and the book",
			   atomic_load(&bk->chk.differences));
	cp_metrics_counter(m, "decp_book_position_stale_total",
			   "masters' snapshots not compared: the book had moved past them",
			   atomic_load(&bk->chk.stale));
	cp_metrics_counter(m, "decp_book_position_expired_total",
			   "masters' snapshots not compared: incomplete, or the book did not "
			   "reach them in time", atomic_load(&bk->chk.expired));
}

static uint32_t tracked_hash(const void *owner, unsigned int k)
{
	return cp_index_hash_u64(((const struct books *)owner)->t[k].master);
}

static bool tracked_is(const void *owner, unsigned int k, const void *m)
{
	return ((const struct books *)owner)->t[k].master == *(const uint64_t *)m;
}

/* Tracks master m (nothing when it is already: one probe of the index, not a walk over
 * every master, which made each second's refresh quadratic in masters). 0, or -ENOMEM
 * (tried again later). */
static int track(struct books *bk, uint64_t m)
{
	if (m == 0 || cp_index_find(&bk->by_master, (unsigned int)bk->n, cp_index_hash_u64(m),
				    &m) < bk->n)
		return 0;
	if (bk->n == bk->cap) {
		size_t cap = bk->cap ? bk->cap * 2 : 16;
		struct tracked *t = realloc(bk->t, cap * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		bk->t = t;
		bk->cap = cap;
	}
	memset(&bk->t[bk->n], 0, sizeof(bk->t[bk->n]));
	bk->t[bk->n].master = m;
	cp_book_init(&bk->t[bk->n].b, m);
	cp_book_check_init(&bk->t[bk->n].chk, m, &bk->alerts);
	bk->n++;
	atomic_store(&bk->masters, bk->n);
	return 0;
}

/* Adds the masters of decp:masters not tracked yet. -EIO on a Redis failure. The set
 * alone: what a failover of its primary lost, the archiver's SCAN of the primaries lists
 * again (cp_discover.h; an archiver runs in every deployment, or nothing is archived or
 * trimmed), and this role reads it at its next refresh. A second SCAN here cost each
 * primary as much again and found nothing the archiver's did not. */
static int refresh_masters(struct books *bk, redisContext *c)
{
	redisReply *r = redisCommand(c, "SMEMBERS %s", CP_REDIS_MASTERS_KEY);

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	for (size_t i = 0; i < r->elements; i++) {
		uint64_t m = r->element[i]->type == REDIS_REPLY_STRING
				     ? strtoull(r->element[i]->str, NULL, 10) : 0;
		if (track(bk, m) != 0)
			break; /* tried again in a second */
	}
	freeReplyObject(r);
	return 0;
}

/* Signal `seq` (its exact body) into the book. Returns 0, or -ERANGE when seq is beyond
 * the book's next sequence (history missing), or -EINVAL (unreadable: the book stops). */
static int apply_body(struct books *bk, struct tracked *t, uint64_t seq, const uint8_t *body,
		      size_t len)
{
	static const char *const kinds[] = {
		[CP_BOOK_ANOMALY_UNKNOWN] = "acts on a ticket the book does not hold",
		[CP_BOOK_ANOMALY_REOPENED] = "opens a ticket the book already holds",
		[CP_BOOK_ANOMALY_NOT_POSITION] = "partly closes a pending order",
	};
	uint64_t ticket = 0;
	enum cp_book_effect eff;
	int rc = cp_book_apply_body(&t->b, seq, body, len, &ticket, &eff);

	if (rc == -EALREADY)
		return 0;
	if (rc == -ERANGE)
		return -ERANGE;
	if (rc != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " sequence %" PRIu64 ": unreadable or "
			  "not applied (%s): the book stops before it", t->master, seq, strerror(-rc));
		return -EINVAL;
	}
	atomic_fetch_add(&bk->signals, 1);
	if (eff >= CP_BOOK_ANOMALY_UNKNOWN) {
		atomic_fetch_add(&bk->anomalies, 1);
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " sequence %" PRIu64 " ticket %" PRIu64
			  " %s", t->master, seq, ticket, kinds[eff]);
	}
	return 0;
}

/* The book cannot go on: left out, alerted, counted. */
static void give_up(struct books *bk, struct tracked *t, const char *why)
{
	cp_alert(&bk->alerts, CP_ALERT_BOOK_STOPPED, t->master, 0, "master %" PRIu64 ": the book "
		 "reflects %" PRIu64 " and %s: it is no longer kept", t->master, t->b.seq, why);
	t->gap = true;
	atomic_fetch_add(&bk->gaps, 1);
}

/* One stream entry into the book. */
static void apply_entry(struct books *bk, struct tracked *t, const redisReply *e)
{
	struct cp_rec rec;
	uint64_t seq;
	int rc;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return;
	seq = strtoull(e->element[0]->str, NULL, 10);
	rc = cp_rec_from_fields(e->element[1], &rec) ? apply_body(bk, t, seq, rec.body,
								  rec.body_len)
						     : -EINVAL;
	if (rc == -ERANGE)
		t->behind = true; /* trimmed: signal_archive holds what is missing */
	else if (rc != 0)
		give_up(bk, t, "a stream entry cannot be applied");
}

/*
 * The archiver trims a stream only below what PostgreSQL holds, so what the stream lacks
 * is in signal_archive: up to 1,024 signals after the book, applied in order. Returns the
 * number applied, 0 when PostgreSQL is unavailable (tried again later), or -ENODATA when
 * the archive lacks the next sequence too.
 */
static long catch_up(struct books *bk, struct tracked *t, struct cp_pg *pg)
{
	char m[24], after[24];
	const char *vals[2] = {m, after};
	PGresult *r;
	long n = 0;

	if (cp_pg_ensure(pg) != 0)
		return 0;
	snprintf(m, sizeof(m), "%" PRIu64, t->master);
	snprintf(after, sizeof(after), "%" PRIu64, t->b.seq);
	r = cp_pg_exec(pg, "SELECT sequence, body FROM signal_archive WHERE master_id = $1 "
		       "AND sequence > $2 ORDER BY sequence LIMIT 1024", 2, vals);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		cp_pg_fail(pg, "signal_archive read", r);
		PQclear(r);
		return 0;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = 0;
		unsigned char *body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 1),
						      &len);
		int rc = body != NULL ? apply_body(bk, t, strtoull(PQgetvalue(r, i, 0), NULL, 10),
						   body, len)
				      : -ENOMEM;

		PQfreemem(body);
		if (rc != 0)
			break; /* -ERANGE: the archive has a hole too */
		n++;
		atomic_fetch_add(&bk->from_archive, 1);
	}
	PQclear(r);
	return n > 0 ? n : -ENODATA;
}

/* Reads and applies what the stream holds after the book. Returns the entries read, or
 * -EIO. */
static long follow(struct books *bk, struct tracked *t, redisContext *c, struct cp_pg *pg)
{
	char key[64], from[32];
	redisReply *r;
	size_t n;

	if (!t->loaded) {
		int rc = cp_book_store_load(c, t->master, &t->b);

		if (rc == -EIO)
			return -EIO;
		if (rc == -EINVAL)
			cp_log(CP_LOG_WARN, ROLE, "master %" PRIu64 ": the stored book is unreadable: "
			       "rebuilt from the stream", t->master);
		t->loaded = true;
		t->saved = t->b.seq;
		cp_book_check_base(&t->chk, &t->b);
	}
	if (t->gap)
		return 0;
	if (t->behind) {
		long k = catch_up(bk, t, pg);

		if (k == -ENODATA)
			give_up(bk, t, "neither its stream nor signal_archive holds the next sequence");
		else if (k > 0)
			t->behind = false; /* the stream may continue from here */
		n = k > 0 ? (size_t)k : 0;
		goto save;
	}
	cp_redis_key_signals(key, sizeof(key), t->master);
	snprintf(from, sizeof(from), "%" PRIu64 "-0", t->b.seq + 1);
	r = redisCommand(c, "XRANGE %s %s + COUNT %u", key, from, BOOK_CHUNK);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	for (size_t i = 0; i < r->elements && !t->gap && !t->behind; i++)
		apply_entry(bk, t, r->element[i]);
	n = r->elements;
	freeReplyObject(r);
save:
	if (t->b.seq > t->saved) {
		int rc = cp_book_store_save(c, &t->b);

		if (rc == -EIO)
			return -EIO;
		if (rc >= 0) {
			t->saved = t->b.seq;
			atomic_fetch_add(&bk->saves, rc == 1);
		}
	}
	return (long)n;
}

int cp_book_run(struct cp_ctx *ctx)
{
	struct books *bk = calloc(1, sizeof(*bk));
	struct cp_redis r;
	struct cp_pg pg;
	uint64_t next_masters = 0;

	if (bk == NULL)
		return 1;
	cp_redis_init(&r, ctx->cfg, ROLE);
	cp_redis_partial(&r);   /* a dead cluster primary stops only the books of its masters */
	/* connected only to catch up a trimmed stream and to record positions checks */
	cp_pg_init(&pg, ctx->cfg, ROLE, NULL);
	cp_alert_init(&bk->alerts, ROLE);
	cp_index_init(&bk->by_master, bk, tracked_hash, tracked_is);
	if (cp_ctx_stats_add(ctx, book_stats, bk) != 0)
		cp_log(CP_LOG_WARN, ROLE, "too many stats providers: no decp_book_* metrics");
	while (!atomic_load(ctx->stop)) {
		bool busy = false;

		if (cp_redis_ensure(&r) != 0) {
			cp_sleep_ms(BOOK_IDLE_MS);
			continue;
		}
		if (cp_now_ns() >= next_masters) {
			redisContext *mk = cp_redis_at(&r, CP_REDIS_MASTERS_KEY);
			/* NULL: its primary is down (a cluster): the masters known go on */
			if (mk != NULL && refresh_masters(bk, mk) != 0) {
				cp_redis_fail_key(&r, CP_REDIS_MASTERS_KEY, "SMEMBERS");
				continue;
			}
			next_masters = cp_now_ns() + BOOK_MASTERS_EVERY_NS;
		}
		for (size_t i = 0; i < bk->n && r.ctx != NULL; i++) {
			/* every key of a master is in its slot: one connection (a cluster's node) */
			char key[64];
			redisContext *mc = cp_redis_at(&r, cp_redis_key_signals(key, sizeof(key),
										 bk->t[i].master));
			if (mc == NULL)
				continue;   /* its primary is down: followed when it answers */
			long n = follow(bk, &bk->t[i], mc, &pg);

			if (n >= 0 && bk->t[i].loaded &&
			    cp_book_check_poll(&bk->t[i].chk, &bk->t[i].b, mc, &pg, &bk->chk) != 0)
				n = -EIO;
			if (n < 0)   /* that primary alone on a cluster (the others' books go on) */
				cp_redis_fail_key(&r, key, "position book");
			busy |= n == (long)BOOK_CHUNK;
		}
		cp_alert_flush(&bk->alerts, &pg, false);
		if (!busy)
			cp_sleep_ms(BOOK_IDLE_MS);
	}
	cp_alert_flush(&bk->alerts, &pg, true);
	cp_ctx_stats_remove(ctx, book_stats, bk);
	cp_log(CP_LOG_INFO, ROLE, "stopped: masters=%zu signals=%" PRIu64 " anomalies=%" PRIu64
	       " gaps=%" PRIu64 " saves=%" PRIu64 " from_archive=%" PRIu64 " positions: matches=%"
	       PRIu64 " mismatches=%" PRIu64 " stale=%" PRIu64 " expired=%" PRIu64, bk->n,
	       atomic_load(&bk->signals), atomic_load(&bk->anomalies), atomic_load(&bk->gaps),
	       atomic_load(&bk->saves), atomic_load(&bk->from_archive),
	       atomic_load(&bk->chk.matches), atomic_load(&bk->chk.mismatches),
	       atomic_load(&bk->chk.stale), atomic_load(&bk->chk.expired));
	for (size_t i = 0; i < bk->n; i++) {
		cp_book_free(&bk->t[i].b);
		cp_book_check_free(&bk->t[i].chk);
	}
	free(bk->t);
	cp_index_free(&bk->by_master);
	free(bk);
	cp_redis_close(&r);
	cp_pg_close(&pg);
	return 0;
}
