/* cp_book_role: the `book` role. Design in cp_book_role.h. */
#include "cp_book_role.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"
#include "cp_book_store.h"
#include "cp_log.h"
#include "cp_metrics.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
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
	bool gap;          /* the stream cannot complete this book: left out */
};

struct books {
	struct tracked *t;
	size_t n, cap;
	_Atomic uint64_t masters, signals, anomalies, gaps, saves;
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
}

/* Adds the masters of decp:masters not tracked yet. -EIO on a Redis failure. */
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
		size_t k;

		for (k = 0; k < bk->n && bk->t[k].master != m; k++)
			;
		if (m == 0 || k < bk->n)
			continue;
		if (bk->n == bk->cap) {
			size_t cap = bk->cap ? bk->cap * 2 : 16;
			struct tracked *t = realloc(bk->t, cap * sizeof(*t));

			if (t == NULL)
				break; /* tried again in a second */
			bk->t = t;
			bk->cap = cap;
		}
		memset(&bk->t[bk->n], 0, sizeof(bk->t[bk->n]));
		bk->t[bk->n].master = m;
		cp_book_init(&bk->t[bk->n].b, m);
		bk->n++;
		atomic_store(&bk->masters, bk->n);
	}
	freeReplyObject(r);
	return 0;
}

/* One stream entry into the book. */
static void apply_entry(struct books *bk, struct tracked *t, const redisReply *e)
{
	static const char *const kinds[] = {
		[CP_BOOK_ANOMALY_UNKNOWN] = "acts on a ticket the book does not hold",
		[CP_BOOK_ANOMALY_REOPENED] = "opens a ticket the book already holds",
		[CP_BOOK_ANOMALY_NOT_POSITION] = "partly closes a pending order",
	};
	struct cp_rec rec;
	struct cp_book_signal s;
	enum cp_book_effect eff;
	Decp__Signal *sg;
	uint64_t seq;
	int rc;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return;
	seq = strtoull(e->element[0]->str, NULL, 10);
	if (!cp_rec_from_fields(e->element[1], &rec) ||
	    (sg = proto_signal_decode(rec.body, rec.body_len, NULL)) == NULL) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " entry %" PRIu64 " unreadable: the "
			  "book stops before it", t->master, seq);
		t->gap = true;
		return;
	}
	s = (struct cp_book_signal){.master_id = sg->master_id, .sequence = sg->sequence,
				    .ticket = sg->position_ticket, .order_type = sg->order_type,
				    .symbol = sg->symbol, .volume = sg->volume, .price = sg->price,
				    .sl = sg->sl, .tp = sg->tp, .expiration_ns = sg->expiration_ns};
	rc = sg->sequence == seq ? cp_book_apply(&t->b, &s, &eff) : -EINVAL;
	proto_msg_free(&sg->base, NULL);
	if (rc == -EALREADY)
		return;
	if (rc == -ERANGE) {
		cp_log(CP_LOG_WARN, ROLE, "ALERT master %" PRIu64 ": its stream starts at %" PRIu64
		       " but the book reflects %" PRIu64 ": history trimmed, the book cannot be "
		       "completed from Redis", t->master, seq, t->b.seq);
		t->gap = true;
		atomic_fetch_add(&bk->gaps, 1);
		return;
	}
	if (rc != 0) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " sequence %" PRIu64 ": not applied "
			  "(%s): the book stops before it", t->master, seq, strerror(-rc));
		t->gap = true;
		return;
	}
	atomic_fetch_add(&bk->signals, 1);
	if (eff >= CP_BOOK_ANOMALY_UNKNOWN) {
		atomic_fetch_add(&bk->anomalies, 1);
		CP_LOG_RL(CP_LOG_WARN, ROLE, "master %" PRIu64 " sequence %" PRIu64 " ticket %" PRIu64
			  " %s", t->master, seq, s.ticket, kinds[eff]);
	}
}

/* Reads and applies what the stream holds after the book. Returns the entries read, or
 * -EIO. */
static long follow(struct books *bk, struct tracked *t, redisContext *c)
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
	}
	if (t->gap)
		return 0;
	cp_redis_key_signals(key, sizeof(key), t->master);
	snprintf(from, sizeof(from), "%" PRIu64 "-0", t->b.seq + 1);
	r = redisCommand(c, "XRANGE %s %s + COUNT %u", key, from, BOOK_CHUNK);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	for (size_t i = 0; i < r->elements && !t->gap; i++)
		apply_entry(bk, t, r->element[i]);
	n = r->elements;
	freeReplyObject(r);
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
	uint64_t next_masters = 0;

	if (bk == NULL)
		return 1;
	cp_redis_init(&r, ctx->cfg, ROLE);
	if (cp_ctx_stats_add(ctx, book_stats, bk) != 0)
		cp_log(CP_LOG_WARN, ROLE, "too many stats providers: no decp_book_* metrics");
	while (!atomic_load(ctx->stop)) {
		bool busy = false;

		if (cp_redis_ensure(&r) != 0) {
			cp_sleep_ms(BOOK_IDLE_MS);
			continue;
		}
		if (cp_now_ns() >= next_masters) {
			if (refresh_masters(bk, r.ctx) != 0) {
				cp_redis_fail(&r, "SMEMBERS");
				continue;
			}
			next_masters = cp_now_ns() + BOOK_MASTERS_EVERY_NS;
		}
		for (size_t i = 0; i < bk->n && r.ctx != NULL; i++) {
			long n = follow(bk, &bk->t[i], r.ctx);

			if (n < 0)
				cp_redis_fail(&r, "position book");
			busy |= n == (long)BOOK_CHUNK;
		}
		if (!busy)
			cp_sleep_ms(BOOK_IDLE_MS);
	}
	cp_ctx_stats_remove(ctx, book_stats, bk);
	cp_log(CP_LOG_INFO, ROLE, "stopped: masters=%zu signals=%" PRIu64 " anomalies=%" PRIu64
	       " gaps=%" PRIu64 " saves=%" PRIu64, bk->n, atomic_load(&bk->signals),
	       atomic_load(&bk->anomalies), atomic_load(&bk->gaps), atomic_load(&bk->saves));
	for (size_t i = 0; i < bk->n; i++)
		cp_book_free(&bk->t[i].b);
	free(bk->t);
	free(bk);
	cp_redis_close(&r);
	return 0;
}
