/* cp_fanout_ctail: the fan-out's tail of a Redis Cluster (sharded pub/sub wake-ups, XREAD
 * per announced master, sweep). Contract and design in cp_fanout_ctail.h. */
#include "cp_fanout_ctail.h"

#include <poll.h>

#include "cp_ctail_push.h"
#include "cp_fanout_pvt.h"
#include "cp_redis_rec.h"

enum { DIRTY_NO, DIRTY_NOTE, DIRTY_SWEEP };

/* A watched master. */
struct ctm {
	uint64_t master;
	uint64_t last;     /* last sequence handed to the publish ring; UINT64_MAX: unresolved */
	int sub;           /* subscriber connection its SSUBSCRIBE went to; -1: none */
	uint8_t dirty;     /* read it: DIRTY_NOTE (announced or subscribed), DIRTY_SWEEP */
	int pend;          /* read_dirty: the node its XREAD is pipelined to; -2: redirected */
	char key[48], chan[48];
};

struct ctail {
	struct cp_fanout *f;
	struct cp_redis rd;
	struct ctm *m;
	size_t n, cap;
	uint32_t *hash;          /* open addressing: index + 1 into m, 0 = empty */
	size_t hcap;             /* power of two, >= 2 cap */
	redisContext *sub[CP_RCL_MAX_NODES]; /* per primary of smap; NULL: that one is down */
	unsigned int nsub;       /* smap's primaries (0: no subscription set built) */
	struct cp_rcl_map smap;  /* the map the subscriptions follow */
	uint64_t maps;           /* rd's maps counter when they were last checked against it */
	bool rebuild;            /* rebuild the subscriptions at the next turn */
	int64_t last_rebuild;
	int64_t read_after;      /* no XREAD before (the cluster answered CLUSTERDOWN) */
	int64_t next_sweep;
	bool woke;               /* published since the lws thread was last woken */
	bool todo;               /* some master may be dirty (else a turn scans none) */
	bool unsub;              /* some master may lack a subscription */
	uint64_t notes, direct, reads, swept, rebuilds, others;
};

static size_t hslot(const struct ctail *t, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (t->hcap - 1);
}

static struct ctm *find(const struct ctail *t, uint64_t id)
{
	for (size_t h = hslot(t, id); t->hcap != 0 && t->hash[h] != 0; h = (h + 1) & (t->hcap - 1))
		if (t->m[t->hash[h] - 1].master == id)
			return &t->m[t->hash[h] - 1];
	return NULL;
}

static void mark(struct ctail *t, struct ctm *c, uint8_t how)
{
	c->dirty = how;
	t->todo = true;
}

/* Room for one more master (array and index). 0 or -ENOMEM. */
static int grow(struct ctail *t)
{
	if (t->n < t->cap)
		return 0;
	size_t cap = t->cap != 0 ? t->cap * 2 : 64;
	struct ctm *m = realloc(t->m, cap * sizeof(*m));
	uint32_t *h = calloc(cap * 2, sizeof(*h));

	if (m != NULL)
		t->m = m;
	if (m == NULL || h == NULL) {
		free(h);
		return -ENOMEM;
	}
	free(t->hash);
	t->hash = h;
	t->hcap = cap * 2;
	t->cap = cap;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = hslot(t, t->m[i].master);
		while (t->hash[s] != 0)
			s = (s + 1) & (t->hcap - 1);
		t->hash[s] = (uint32_t)i + 1;
	}
	return 0;
}

/* Masters the lws thread started watching since the last call. */
static void take_watches(struct ctail *t)
{
	struct cp_fanout *f = t->f;

	pthread_mutex_lock(&f->watch_mu);
	while (t->n < f->nwatch && grow(t) == 0) {
		struct ctm *c = &t->m[t->n];

		memset(c, 0, sizeof(*c));
		c->master = f->watch[t->n];
		c->last = UINT64_MAX;
		c->sub = -1;
		t->unsub = true;
		cp_redis_key_signals(c->key, sizeof(c->key), c->master);
		cp_redis_key_tail(c->chan, sizeof(c->chan), c->master);
		size_t s = hslot(t, c->master);
		while (t->hash[s] != 0)
			s = (s + 1) & (t->hcap - 1);
		t->hash[s] = (uint32_t)++t->n;
	}
	pthread_mutex_unlock(&f->watch_mu);
}

static void subs_close(struct ctail *t)
{
	for (unsigned int i = 0; i < CP_RCL_MAX_NODES; i++) {
		redisFree(t->sub[i]);
		t->sub[i] = NULL;
	}
	t->nsub = 0;
	for (size_t i = 0; i < t->n; i++)
		t->m[i].sub = -1;
	t->unsub = true;
}

/* Everything is read again from scratch after a failure: the cluster connections too. */
static void fail(struct ctail *t, const char *what)
{
	subs_close(t);
	if (t->rd.ctx != NULL)
		cp_redis_fail(&t->rd, what);
}

/* Subscriber connection i is gone (`what`): the masters it carried wait for it, and the
 * cluster connection to that primary is dropped too (cp_redis_node_down: the map is read
 * again with backoff, and a primary that answers again gets its subscriber connection
 * back, subs_fill). The other primaries go on. */
static void sub_down(struct ctail *t, unsigned int i, const char *what)
{
	redisFree(t->sub[i]);
	t->sub[i] = NULL;
	for (size_t j = 0; j < t->n; j++)
		if (t->m[j].sub == (int)i)
			t->m[j].sub = -1;
	t->unsub = true;
	if (i < cp_redis_nodes(&t->rd) && cp_redis_node(&t->rd, i) != NULL)
		cp_redis_node_down(&t->rd, i, what);
}

/* A subscriber connection to each primary of smap that the cluster connection reaches and
 * that has none (a primary that does not answer is looked for again with the map). */
static void subs_fill(struct ctail *t)
{
	struct timeval tv = {(time_t)(t->f->cfg.redis_timeout_ms / 1000),
			     (suseconds_t)(t->f->cfg.redis_timeout_ms % 1000) * 1000};

	for (unsigned int i = 0; i < t->nsub; i++) {
		if (t->sub[i] != NULL || cp_redis_node(&t->rd, i) == NULL)
			continue;
		t->sub[i] = redisConnectWithTimeout(t->smap.node[i].host, (int)t->smap.node[i].port,
						    tv);
		if (t->sub[i] == NULL || t->sub[i]->err || redisSetTimeout(t->sub[i], tv) != REDIS_OK) {
			redisFree(t->sub[i]);
			t->sub[i] = NULL;
			cp_redis_node_down(&t->rd, i, "subscriber connect");
			continue;
		}
		t->unsub = true;
	}
	t->maps = t->rd.cl->maps;
}

/* The subscriptions after the map was read again: the same map (a primary is still down,
 * or answers again) keeps them and fills in what is missing, unless a rebuild a reply asked
 * for is due; a new one (a failover, a reshard) rebuilds them all on its primaries. 0 or
 * -EAGAIN (no primary reached). */
static int subs_open(struct ctail *t, bool rebuild_due)
{
	if (t->nsub != 0 && !rebuild_due && cp_rcl_map_equal(&t->smap, &t->rd.cl->map)) {
		subs_fill(t);
	} else {
		/* a node that still says MOVED (its view lags the seed's) is asked again soon,
		 * not in a tight loop */
		int64_t now = mono_ns();
		if (now - t->last_rebuild < 20000000)
			cp_sleep_ms(10);
		t->last_rebuild = mono_ns();
		subs_close(t);
		t->smap = t->rd.cl->map;
		t->nsub = t->smap.n;
		t->rebuild = false;
		t->rebuilds++;
		subs_fill(t);
	}
	if (t->rd.ctx == NULL) {   /* none answered */
		subs_close(t);
		return -EAGAIN;
	}
	return 0;
}

/* Send whatever is buffered on subscriber connection i. 0 or -EIO. */
static int sub_flush(struct ctail *t, unsigned int i)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(t->sub[i], &done) != REDIS_OK)
			return -EIO;
	return 0;
}

/* SSUBSCRIBE every watched master that has no subscription yet, on its primary's
 * subscriber connection (resolving where its stream starts first). 0 or -EIO. */
static int subscribe_new(struct ctail *t)
{
	bool any[CP_RCL_MAX_NODES] = {false};

	if (!t->unsub)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		struct ctm *c = &t->m[i];

		if (c->sub >= 0)
			continue;
		unsigned int k = cp_redis_node_of(&t->rd, c->key);
		if (k >= t->nsub || t->sub[k] == NULL)
			continue;   /* its primary is down: subscribed when it answers */
		if (c->last == UINT64_MAX) {
			/* start after the last durable entry: earlier ones reach subscribers by
			 * replay (as the single-Redis tail) */
			const char *argv[] = {"XREVRANGE", c->key, "+", "-", "COUNT", "1"};
			redisReply *rep = cp_redis_command_argv(&t->rd, c->key, 6, argv, NULL);

			if (rep == NULL) {
				if (cp_redis_at(&t->rd, c->key) != NULL)   /* failed now */
					sub_down(t, k, "XREVRANGE");
				if (t->rd.ctx == NULL)
					return -EIO;
				continue;
			}
			if (rep->type == REDIS_REPLY_ARRAY) {
				c->last = 0;
				if (rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_ARRAY &&
				    rep->element[0]->elements >= 1 &&
				    rep->element[0]->element[0]->type == REDIS_REPLY_STRING)
					c->last = strtoull(rep->element[0]->element[0]->str, NULL, 10);
				if (cp_fo_tail_arm(t->f, c->master, c->last) != 0)
					c->last = UINT64_MAX; /* the next turn */
			}
			freeReplyObject(rep);
			if (c->last == UINT64_MAX)
				continue; /* a redirect or an error: the next turn, after the map */
		}
		if (redisAppendCommand(t->sub[k], "SSUBSCRIBE %s", c->chan) != REDIS_OK)
			return -EIO;
		c->sub = (int)k;
		any[k] = true;
	}
	t->unsub = false;
	for (size_t i = 0; i < t->n && !t->unsub; i++)
		t->unsub = t->m[i].sub < 0;
	for (unsigned int k = 0; k < t->nsub; k++)
		if (any[k] && sub_flush(t, k) != 0)
			sub_down(t, k, "SSUBSCRIBE");
	return t->rd.ctx != NULL ? 0 : -EIO;
}

/*
 * A message's signals straight into the publish ring when they continue master c's run
 * (first == last + 1, no read pending): the single-Redis tail's latency, no round trip.
 * Otherwise (a gap: a message lost or not yet read, a read pending, a record that does not
 * unpack) c is read from its stream instead, from last: nothing is skipped, and what was
 * published is never published again.
 */
static void take_items(struct ctail *t, struct ctm *c, const struct cp_ctail_push *p)
{
	struct cp_ctail_item it;
	size_t off = 0;

	if (c->dirty != DIRTY_NO || p->first == 0 || p->first > c->last + 1) {
		mark(t, c, DIRTY_NOTE);
		return;
	}
	while (cp_ctail_item_next(p->items, p->items_len, &off, &it) == 1) {
		struct cp_rec r;
		struct cp_fmsg *m;

		if (it.seq <= c->last)
			continue; /* read from the stream already */
		if (!cp_rec_unpack(it.rec, it.rec_len, &r) ||
		    (m = cp_fo_rec_msg(c->master, it.seq, &r)) == NULL) {
			mark(t, c, DIRTY_NOTE);
			return;
		}
		c->last = it.seq;
		t->direct++;
		t->woke = true;
		cp_fo_tail_put(t->f, m);
	}
}

/* One reply of a subscriber connection. */
static void on_push(struct ctail *t, const redisReply *rep)
{
	struct cp_ctail_push p;
	struct ctm *c;

	switch (cp_ctail_push_parse(rep, &p)) {
	case CP_CTAIL_MESSAGE:
		t->notes++;
		c = find(t, p.master);
		/* a payload that is not items (first 0) still says something was appended */
		if (c != NULL && c->last != UINT64_MAX && (p.first == 0 || p.last > c->last))
			take_items(t, c, &p);
		return;
	case CP_CTAIL_SUBSCRIBED: /* in effect: what came before it is read now */
		c = find(t, p.master);
		if (c != NULL)
			mark(t, c, DIRTY_NOTE);
		return;
	case CP_CTAIL_UNSUBSCRIBED: /* its slot left that node: where is it now? */
	case CP_CTAIL_ERROR:        /* MOVED: the map we subscribed by is out of date */
		CP_LOG_RL(CP_LOG_INFO, ROLE, "cluster tail: %s; reading the slot map again",
			  p.kind == CP_CTAIL_ERROR ? rep->str : "a channel's slot moved");
		if (t->rd.cl != NULL)
			t->rd.cl->stale = true;
		t->rebuild = true;
		return;
	case CP_CTAIL_OTHER:
		t->others++;
		return;
	}
}

/* Wait up to wait_ms for subscriber traffic and take it. 0 or -EIO (a connection failed). */
static int subs_poll(struct ctail *t, int wait_ms)
{
	struct pollfd pfd[CP_RCL_MAX_NODES];

	for (unsigned int i = 0; i < t->nsub; i++)   /* fd -1 (a primary down): ignored */
		pfd[i] = (struct pollfd){.fd = t->sub[i] != NULL ? t->sub[i]->fd : -1,
					 .events = POLLIN};
	int n = poll(pfd, t->nsub, wait_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -EIO;
	for (unsigned int i = 0; i < t->nsub && n > 0; i++) {
		void *rep = NULL;

		if (pfd[i].revents == 0 || t->sub[i] == NULL)
			continue;
		bool ok = redisBufferRead(t->sub[i]) == REDIS_OK &&
			  redisGetReplyFromReader(t->sub[i], &rep) == REDIS_OK;
		while (ok && rep != NULL) {
			on_push(t, rep);
			freeReplyObject(rep);
			rep = NULL;
			ok = redisGetReplyFromReader(t->sub[i], &rep) == REDIS_OK;
		}
		if (!ok) {
			/* EOF (a primary killed), a socket or protocol error: that primary alone */
			CP_LOG_RL(CP_LOG_WARN, ROLE, "cluster tail: subscriber connection to "
				  "%s:%u: %s", t->smap.node[i].host, t->smap.node[i].port,
				  t->sub[i]->errstr);
			sub_down(t, i, "subscriber connection");
		}
	}
	return t->rd.ctx != NULL ? 0 : -EIO;
}

/* Master c's XREAD reply rep (not an error): its entries into the publish ring. Returns
 * how many entries the reply held. */
static size_t take_entries(struct ctail *t, struct ctm *c, const redisReply *rep)
{
	size_t got = 0;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
	    rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2)
		return 0; /* nil: nothing after last */
	const redisReply *es = rep->element[0]->element[1];
	for (size_t j = 0; es->type == REDIS_REPLY_ARRAY && j < es->elements; j++) {
		struct cp_fmsg *m = cp_fo_entry_msg(c->master, es->element[j]);

		got++;
		if (m == NULL)
			continue;
		c->last = m->seq;
		if (c->dirty == DIRTY_SWEEP)
			t->swept++; /* its message was lost, late, or went to another node */
		cp_fo_tail_put(t->f, m);
	}
	return got;
}

/* The XREAD of master c's entries after last (argv storage: id). */
static void xread_argv(const struct ctm *c, char *id, size_t idlen, const char **argv)
{
	snprintf(id, idlen, "%" PRIu64 "-0", c->last);
	argv[0] = "XREAD";
	argv[1] = "COUNT";
	argv[2] = "512"; /* CP_CTAIL_READ_COUNT */
	argv[3] = "STREAMS";
	argv[4] = c->key;
	argv[5] = id;
}

/* Master c's reply: a refusal while the cluster is not serving (CLUSTERDOWN: a failover
 * under way; TRYAGAIN, LOADING) leaves c to read again a little later (-EBUSY); another
 * error other than a redirect marks the map stale (-EAGAIN); else its entries are
 * published and c stays dirty while the reply came back full. */
static int take_reply(struct ctail *t, struct ctm *c, const redisReply *rep)
{
	t->reads++;
	if (rep->type == REDIS_REPLY_ERROR) {
		CP_LOG_RL(CP_LOG_WARN, ROLE, "cluster tail: XREAD %s: %s", c->key, rep->str);
		if (strncmp(rep->str, "CLUSTERDOWN", 11) == 0 || strncmp(rep->str, "TRYAGAIN", 8) == 0 ||
		    strncmp(rep->str, "LOADING", 7) == 0)
			return -EBUSY;
		if (t->rd.cl != NULL)
			t->rd.cl->stale = true;
		return -EAGAIN;
	}
	if (take_entries(t, c, rep) < CP_CTAIL_READ_COUNT)
		c->dirty = DIRTY_NO;
	return 0;
}

/*
 * Read every dirty master, in one pipeline per primary: every node gets its XREADs before
 * any reply is read, so a turn costs one round trip per node however many masters were
 * announced (a node's replies wait for its fsync of the edge's writes: one read per master
 * in turn fell behind at 2,000 signals/s). A redirected read is done again alone, through
 * cp_redis_command_argv (MOVED and ASK followed). A master whose primary is down is left
 * dirty until it answers; a primary that fails now is dropped alone (sub_down), its masters
 * too left dirty. 0, -EAGAIN (the map is stale), -EIO (no primary is left).
 */
static int read_dirty(struct ctail *t)
{
	unsigned int nodes = cp_redis_nodes(&t->rd);
	bool used[CP_RCL_MAX_NODES] = {false};
	int rc = 0;

	if (!t->todo)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		struct ctm *c = &t->m[i];
		const char *argv[6];
		char id[32];

		c->pend = -1;
		if (c->dirty == DIRTY_NO || c->last == UINT64_MAX)
			continue;
		unsigned int k = cp_redis_node_of(&t->rd, c->key);
		if (k >= nodes || cp_redis_node(&t->rd, k) == NULL)
			continue;   /* its primary is down: read when it answers */
		xread_argv(c, id, sizeof(id), argv);
		if (redisAppendCommandArgv(cp_redis_node(&t->rd, k), 6, argv, NULL) != REDIS_OK)
			return -EIO;
		c->pend = (int)k;
		used[k] = true;
	}
	for (unsigned int k = 0; k < nodes; k++) {
		int done = 0;

		while (used[k] && !done)
			if (redisBufferWrite(cp_redis_node(&t->rd, k), &done) != REDIS_OK) {
				sub_down(t, k, "XREAD");
				used[k] = false;
			}
	}
	bool got = false;
	for (unsigned int k = 0; k < nodes; k++) {
		for (size_t i = 0; used[k] && i < t->n; i++) {
			struct ctm *c = &t->m[i];
			redisReply *rep = NULL;
			redisContext *ask;

			if (c->pend != (int)k)
				continue;
			if (redisGetReply(cp_redis_node(&t->rd, k), (void **)&rep) != REDIS_OK) {
				sub_down(t, k, "XREAD");   /* its masters stay dirty */
				used[k] = false;
				break;
			}
			uint64_t before = c->last;
			int trc;
			if (cp_redis_redirect(&t->rd, rep, &ask))
				c->pend = -2; /* again alone, below */
			else if ((trc = take_reply(t, c, rep)) != 0 && rc != -EAGAIN)
				rc = trc;   /* -EAGAIN (stale map) over -EBUSY */
			got |= c->last != before;
			freeReplyObject(rep);
		}
	}
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		struct ctm *c = &t->m[i];
		const char *argv[6];
		char id[32];

		if (c->pend != -2)
			continue;
		xread_argv(c, id, sizeof(id), argv);
		redisReply *rep = cp_redis_command_argv(&t->rd, c->key, 6, argv, NULL);
		if (rep == NULL) {
			if (cp_redis_at(&t->rd, c->key) != NULL)   /* failed now */
				sub_down(t, cp_redis_node_of(&t->rd, c->key), "XREAD");
			if (t->rd.ctx == NULL)
				return -EIO;
			continue;
		}
		rc = take_reply(t, c, rep);
		got = true;
		freeReplyObject(rep);
	}
	if (got)
		lws_cancel_service(t->f->ctx);
	/* unless a master is left to read (a full reply, an error) whose primary answers (the
	 * others wait for it without keeping the turns from waiting) */
	t->todo = false;
	for (size_t i = 0; i < t->n && !t->todo; i++)
		t->todo = t->m[i].dirty != DIRTY_NO && t->m[i].last != UINT64_MAX &&
			  cp_redis_at(&t->rd, t->m[i].key) != NULL;
	return t->rd.ctx != NULL ? rc : -EIO;
}


/* One turn: connections, subscriptions, notifications, reads. */
static void turn(struct ctail *t)
{
	int64_t now = mono_ns();

	if (cp_redis_ensure(&t->rd) != 0) {
		subs_close(t);
		cp_sleep_ms(20); /* the backoff decides when the next connect happens */
		return;
	}
	/* a rebuild asked for by a reply (sunsubscribe, an error: MOVED, or CLUSTERDOWN while
	 * the cluster elects a primary) at most every CP_CTAIL_REBUILD_MS; a new map at once */
	int64_t due = t->last_rebuild + (int64_t)CP_CTAIL_REBUILD_MS * 1000000;
	bool rebuild_due = t->rebuild && now >= due;
	if (t->nsub == 0 || t->rd.cl->maps != t->maps || rebuild_due) {
		if (subs_open(t, rebuild_due) != 0)
			return;
		due = t->last_rebuild + (int64_t)CP_CTAIL_REBUILD_MS * 1000000;
	}
	if (subscribe_new(t) != 0) {
		fail(t, "SSUBSCRIBE");
		return;
	}
	int wait = 0;
	if (t->rebuild)   /* the rebuild reads every master again: no read before it */
		wait = (int)((due - now) / 1000000) + 1;
	else if (now < t->read_after)   /* the cluster refused reads: not again at once */
		wait = (int)((t->read_after - now) / 1000000) + 1;
	else if (!t->todo)
		wait = (int)((t->next_sweep - now) / 1000000) + 1;
	if (wait > CP_CTAIL_POLL_MS)
		wait = CP_CTAIL_POLL_MS;
	int prc = subs_poll(t, wait);
	if (t->woke) /* once per batch of messages, not per signal */
		lws_cancel_service(t->f->ctx);
	t->woke = false;
	if (prc != 0) {
		fail(t, "subscriber connection");
		return;
	}
	now = mono_ns();
	if (t->rebuild || now < t->read_after)
		return;
	if (now >= t->next_sweep) {
		/* pub/sub is at-most-once: every master read at least this often */
		for (size_t i = 0; i < t->n; i++)
			if (t->m[i].dirty == DIRTY_NO && t->m[i].last != UINT64_MAX)
				mark(t, &t->m[i], DIRTY_SWEEP);
		t->next_sweep = now + (int64_t)CP_CTAIL_SWEEP_MS * 1000000;
	}
	int rc = read_dirty(t);
	if (rc == -EIO)
		fail(t, "XREAD");
	else if (rc == -EAGAIN)
		t->rebuild = true;
	else if (rc == -EBUSY)
		t->read_after = now + (int64_t)CP_CTAIL_REBUILD_MS * 1000000;
}

void *cp_fo_ctail_main(void *arg)
{
	struct ctail *t = calloc(1, sizeof(*t));
	struct cp_fanout *f = arg;

	if (t == NULL) {
		cp_log(CP_LOG_ERR, ROLE, "cluster tail: out of memory");
		return NULL;
	}
	t->f = f;
	t->next_sweep = mono_ns() + (int64_t)CP_CTAIL_SWEEP_MS * 1000000;
	cp_redis_init(&t->rd, &f->cfg, ROLE);
	cp_redis_partial(&t->rd);   /* a dead primary stops only the masters it serves */
	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		take_watches(t);
		if (t->n == 0) { /* nothing to tail yet */
			cp_sleep_ms(20);
			continue;
		}
		turn(t);
	}
	cp_log(CP_LOG_INFO, ROLE, "cluster tail: %zu masters, notifications=%" PRIu64
	       " direct=%" PRIu64 " reads=%" PRIu64 " swept=%" PRIu64 " rebuilds=%" PRIu64
	       " other=%" PRIu64, t->n, t->notes, t->direct, t->reads, t->swept, t->rebuilds,
	       t->others);
	subs_close(t);
	cp_redis_close(&t->rd);
	free(t->m);
	free(t->hash);
	free(t);
	return NULL;
}
