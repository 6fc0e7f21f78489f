/* cp_fanout_redis: the replay thread (XRANGE chunks) and the tail thread (XREAD BLOCK).
 * Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"
#include "cp_rate.h"
#include "cp_redis_rec.h"
#include "cp_fanout_snap.h"

/* ---------------------------------------------------------------- redis threads -- */

struct cp_fmsg *cp_fo_entry_msg(uint64_t master, const redisReply *e)
{
	struct cp_rec r;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	uint64_t seq = strtoull(e->element[0]->str, NULL, 10);
	if (seq == 0 || !cp_rec_from_fields(e->element[1], &r))
		return NULL;
	return cp_fo_rec_msg(master, seq, &r);
}

struct cp_fmsg *cp_fo_rec_msg(uint64_t master, uint64_t seq, const struct cp_rec *r)
{
	if (r->sig == NULL)
		return NULL;
	return cp_fmsg_envelope_parts(master, seq, r->arrival_ns, r->body, r->body_len, r->sig,
				      r->sig_len);
}

/* The sequence of a stream entry's id "<seq>-0" (0 when it is not an entry). */
static uint64_t entry_seq(const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	return strtoull(e->element[0]->str, NULL, 10);
}

void cp_fo_replay_msg_free(struct replay_msg *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		cp_fmsg_unref(r->msgs[i]);
	for (long i = 0; i < r->snap_n; i++)
		cp_fmsg_unref(r->snap_msgs[i]);
	free(r->snap_msgs);
	free(r);
}

/* A snapshot request: the master's book at its stream's end, as messages (cp_fanout_snap.h).
 * One rate token like a chunk; the stream entries after the stored book are few (the book
 * role is ~100 ms behind) unless the role does not run. */
static void snap_fill(struct cp_redis *rd, const struct proto_ed25519_key *sk,
		      struct replay_msg *r)
{
	struct cp_book b;
	unsigned xr = 0;
	int rc;

	cp_book_init(&b, r->master);
	char key[64];
	cp_redis_key_signals(key, sizeof(key), r->master); /* the master's slot: all its keys */
	redisContext *at = cp_redis_ready_at(rd, key);
	rc = at != NULL ? cp_snap_book_current(at, r->master, &b, &r->first, &xr) : -EIO;
	if (rc == -EIO && at != NULL)
		cp_redis_fail_key(rd, key, "snapshot");
	if (rc == 0) {
		long n = cp_snap_msgs(&b, r->sub_id, r->from, r->snap_reason, sk,
				      &r->snap_msgs);

		if (n < 0)
			rc = (int)n;
		else {
			r->snap_n = n;
			r->snap_seq = b.seq;
		}
	}
	r->err = rc;
	cp_book_free(&b);
}

void *cp_fo_replay_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_redis rd;
	/* Every replay's Redis reads share one bound (fanout_replay_rate XRANGE/s, a tenth of
	 * a second's burst): no subscriber, and no number of them, can make the fan-out read
	 * Redis faster; a replay beyond it only takes longer. */
	struct cp_rate rate;

	cp_rate_init(&rate, f->cfg.fanout_replay_rate, f->cfg.fanout_replay_rate / 10, mono_ns());
	cp_redis_init(&rd, &f->cfg, ROLE);
	cp_redis_partial(&rd);   /* a dead cluster primary fails only its masters' replays */
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct replay_msg *r, *rn;

		for (r = cp_fo_mq_take_all(&f->replay_req, 200); r != NULL; r = rn) {
			char key[64], from[32];
			redisReply *rep;

			rn = r->next;
			for (int64_t w; (w = cp_rate_wait_ns(&rate, mono_ns())) > 0 &&
					!atomic_load_explicit(&f->stop, memory_order_acquire);)
				cp_sleep_ms((unsigned int)(w / 1000000) + 1);
			(void)cp_rate_take(&rate, mono_ns());
			if (r->snap) {
				snap_fill(&rd, f->snap_sk, r);
				cp_fo_mq_push(&f->replay_rep, r);
				lws_cancel_service(f->ctx);
				continue;
			}
			cp_redis_key_signals(key, sizeof(key), r->master);
			snprintf(from, sizeof(from), "%" PRIu64 "-0", r->from);
			redisContext *at = cp_redis_ready_at(&rd, key);
			rep = at != NULL ? redisCommand(at, "XRANGE %s %s + COUNT %u", key, from,
							r->count)
					 : NULL;
			if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
				r->err = -EIO;
				if (rep == NULL && at != NULL)
					cp_redis_fail_key(&rd, key, "XRANGE");
			} else {
				for (size_t i = 0; i < rep->elements && r->n < REPLAY_CHUNK; i++) {
					struct cp_fmsg *m = cp_fo_entry_msg(r->master, rep->element[i]);

					if (m == NULL)
						continue;
					r->msgs[r->n++] = m;
					cnt(&f->c_replayed);
				}
				/* The first deliverable sequence of the chunk: a trimmed stream
				 * answers a read from before its start with its first retained
				 * entry, an unreadable entry counts as missing; either way the
				 * lws thread learns the range is gone (cp_fanout_range.h). */
				if (r->n > 0)
					r->first = r->msgs[0]->seq;
				else if (rep->elements > 0)
					r->first = entry_seq(rep->element[rep->elements - 1]) + 1;
				r->end = rep->elements < r->count;
			}
			if (rep != NULL)
				freeReplyObject(rep);
			cp_fo_mq_push(&f->replay_rep, r);
			lws_cancel_service(f->ctx);
		}
	}
	cp_redis_close(&rd);
	return NULL;
}

/* m into the publish ring; the tail may wait (unlike the edge): Redis holds the backlog.
 * Dropped (unreferenced) only when the fan-out stops first. */
static void tail_ring_put(struct cp_fanout *f, struct cp_fmsg *m)
{
	while (cp_fo_ring_put(f, m) != 0) {
		if (atomic_load_explicit(&f->stop, memory_order_acquire)) {
			cp_fmsg_unref(m);
			return;
		}
		lws_cancel_service(f->ctx);
		usleep(1000);
	}
}

void cp_fo_tail_put(struct cp_fanout *f, struct cp_fmsg *m)
{
	tail_ring_put(f, m);
	cnt(&f->c_published);
}

int cp_fo_tail_arm(struct cp_fanout *f, uint64_t master, uint64_t last)
{
	struct cp_fmsg *m = cp_fmsg_mark(master, last);

	if (m == NULL)
		return -ENOMEM;
	tail_ring_put(f, m);
	lws_cancel_service(f->ctx);
	return 0;
}

struct tailed {
	uint64_t master, last;
	char key[64];
	char id[32];
};

void *cp_fo_tail_main(void *arg)
{
	struct cp_fanout *f = arg;
	struct cp_redis rd;
	redisContext *c;
	struct tailed *t = NULL;
	size_t nt = 0;
	const char **argv = NULL;
	size_t *argl = NULL;

	cp_redis_init(&rd, &f->cfg, ROLE);

	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		redisReply *rep;
		size_t ac = 0;

		if (cp_redis_ensure(&rd) != 0) {
			cp_sleep_ms(20); /* the backoff decides when the next connect happens */
			continue;
		}
		c = rd.ctx;
		pthread_mutex_lock(&f->watch_mu);
		if (f->nwatch > nt) {
			struct tailed *nt2 = realloc(t, f->nwatch * sizeof(*t));
			/* XREAD COUNT n BLOCK ms STREAMS, then a key and an id per stream */
			const char **a2 = realloc(argv, (6 + 2 * f->nwatch) * sizeof(*argv));
			size_t *l2 = realloc(argl, (6 + 2 * f->nwatch) * sizeof(*argl));

			if (nt2 != NULL)
				t = nt2;
			if (a2 != NULL)
				argv = a2;
			if (l2 != NULL)
				argl = l2;
			if (nt2 != NULL && a2 != NULL && l2 != NULL) {
				for (; nt < f->nwatch; nt++) {
					t[nt].master = f->watch[nt];
					t[nt].last = UINT64_MAX; /* resolved below */
					cp_redis_key_signals(t[nt].key, sizeof(t[nt].key),
							     t[nt].master);
				}
			}
		}
		pthread_mutex_unlock(&f->watch_mu);
		if (nt == 0) {
			usleep(20000);
			continue;
		}
		for (size_t i = 0; i < nt; i++) {
			if (t[i].last != UINT64_MAX)
				continue;
			/* start after the last durable entry: earlier ones reach subscribers by replay */
			rep = redisCommand(c, "XREVRANGE %s + - COUNT 1", t[i].key);
			if (rep == NULL)
				break;
			if (rep->type == REDIS_REPLY_ARRAY) {
				t[i].last = 0;
				if (rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_ARRAY)
					t[i].last = strtoull(rep->element[0]->element[0]->str, NULL, 10);
				/* subscribers go live where the tail starts (cp_fo_tail_arm) */
				if (cp_fo_tail_arm(f, t[i].master, t[i].last) != 0)
					t[i].last = UINT64_MAX; /* the next turn */
			}
			freeReplyObject(rep);
		}
		argv[ac] = "XREAD";
		argl[ac++] = 5;
		argv[ac] = "COUNT";
		argl[ac++] = 5;
		argv[ac] = "512";
		argl[ac++] = 3;
		argv[ac] = "BLOCK";
		argl[ac++] = 5;
		argv[ac] = "100";
		argl[ac++] = 3;
		argv[ac] = "STREAMS";
		argl[ac++] = 7;
		{
			size_t base = ac, k = 0;

			for (size_t i = 0; i < nt; i++)
				if (t[i].last != UINT64_MAX)
					k++;
			if (k == 0) {
				usleep(20000);
				continue;
			}
			/* argv has 6 + 2 nt >= 6 + 2k slots (grown with the watch list above) */
			for (size_t i = 0; i < nt; i++)
				if (t[i].last != UINT64_MAX) {
					argv[ac] = t[i].key;
					argl[ac++] = strlen(t[i].key);
				}
			for (size_t i = 0; i < nt; i++)
				if (t[i].last != UINT64_MAX) {
					snprintf(t[i].id, sizeof(t[i].id), "%" PRIu64 "-0", t[i].last);
					argv[ac] = t[i].id;
					argl[ac++] = strlen(t[i].id);
				}
			(void)base;
		}
		rep = redisCommandArgv(c, (int)ac, argv, argl);
		if (rep == NULL) {
			cp_redis_fail(&rd, "XREAD");
			continue;
		}
		if (rep->type == REDIS_REPLY_ARRAY) {
			for (size_t i = 0; i < rep->elements; i++) {
				const redisReply *sr = rep->element[i];
				struct tailed *tt = NULL;

				if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2)
					continue;
				for (size_t j = 0; j < nt; j++)
					if (strcmp(t[j].key, sr->element[0]->str) == 0)
						tt = &t[j];
				if (tt == NULL)
					continue;
				for (size_t j = 0; j < sr->element[1]->elements; j++) {
					struct cp_fmsg *m = cp_fo_entry_msg(tt->master, sr->element[1]->element[j]);

					if (m == NULL)
						continue;
					tt->last = m->seq;
					cp_fo_tail_put(f, m);
				}
			}
			lws_cancel_service(f->ctx);
		}
		freeReplyObject(rep);
	}
	free(t);
	free(argv);
	free(argl);
	cp_redis_close(&rd);
	return NULL;
}
