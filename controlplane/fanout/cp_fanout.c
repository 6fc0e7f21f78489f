/*
 * cp_fanout: see cp_fanout.h and docs/fanout.md.
 *
 * Everything below "lws thread" runs on the one service thread and needs no lock:
 * masters, sessions, attachments, queues, reference counts. Other threads talk to it
 * through the publish ring (lock-free SPSC) and three small mutex queues (replay replies,
 * state events in; replay requests, reports out), each followed by lws_cancel_service().
 *
 * Per (connection, master) an attachment moves through:
 *
 *   Subscribe ─▶ REPLAY ──(replay reached the master's history ring or the stream end)──▶ LIVE
 *                  ▲  │                                                                │
 *                  │  └──────── state not deliverable (poll) ──▶ HELD ◀────────────────┤
 *                  └────────── live gap (publish ring overflow) ◀──────────────────────┘
 *                  HELD ── state deliverable again ──▶ REPLAY (from the next sequence)
 *
 * Exactly once at the switch-over: an attachment owns `next`, the one sequence it may send
 * next; every path (Redis replay chunk, history ring, live publish) sends a sequence only
 * when it equals `next`, then increments it. Older sequences are skipped, a newer one
 * sends the attachment back to REPLAY.
 */
#include "cp_fanout.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <libwebsockets.h>
#include <openssl/sha.h>

#include "cp_fanout_msg.h"
#include "decp.pb-c.h"
#include "proto_msg.h"

#define FLOG(...) fprintf(stderr, "decp-fanout: " __VA_ARGS__)

#define SESS_MAX_SUBS 32u     /* live subscriptions loaded per subscriber at the upgrade */
#define QUEUE_RESERVE 8u      /* queue slots kept for control messages */
#define REPLAY_CHUNK 256u     /* XRANGE COUNT */
#define REPORT_QUEUE_MAX 100000u
#define PUB_RING 65536u       /* power of two */
#define MASTER_BUCKETS 1024u

/* Same layout as the edge's cp_redis_key_signals() (controlplane/edge/cp_redis.c). */
#define SIGNALS_KEY_FMT "decp:{m%" PRIu64 "}:signals"

enum att_mode { ATT_REPLAY, ATT_LIVE, ATT_HELD };

struct master;
struct sess;

struct attach {
	struct sess *s;           /* NULL: session closed while a replay was pending */
	struct master *m;
	struct attach *m_next, *m_prev;
	struct attach *s_next;
	uint64_t sub_id;
	uint64_t next;            /* the only sequence this attachment may send next */
	enum att_mode mode;
	bool pending;             /* a replay request is with the replay thread */
	bool at_end;              /* the last replay chunk reached the stream's end */
	bool resume;              /* HELD: state deliverable again while a chunk was pending */
};

struct master {
	uint64_t id;
	struct master *hnext;
	uint64_t last_seq;        /* highest published; 0 = none seen */
	uint64_t hist_first;      /* lowest sequence in hist, 0 = empty */
	struct cp_fmsg **hist;    /* seq % hcap */
	struct attach *subs;
	bool watched;
};

struct subrow {
	uint64_t id, master;
	Decp__SubscriptionState state;
};

struct sess {
	struct cp_fanout *f;
	struct lws *wsi;
	struct sess *next_all, *prev_all;
	uint64_t subscriber_id;
	uint32_t nsubs;
	struct subrow subs[SESS_MAX_SUBS];
	struct attach *att;
	struct cp_fmsg **q;
	uint32_t qhead, qcount;
	uint16_t close_code;
	bool closing;             /* close once the queue is written */
	bool dead;                /* dropped (slow): nothing more is queued */
	bool authed;
	size_t rx_len;
	uint8_t rx[CP_FANOUT_MAX_RX];
};

/* Replay request (lws -> replay thread) and reply (back). */
struct replay_msg {
	struct replay_msg *next;
	struct attach *a;
	uint64_t master, from;
	uint32_t count;
	uint32_t n;
	bool end;
	int err;
	struct cp_fmsg *msgs[REPLAY_CHUNK];
};

/* Subscription state seen by the db poll (db -> lws thread). */
struct state_ev {
	struct state_ev *next;
	uint64_t sub_id, master, subscriber;
	Decp__SubscriptionState state;
};

/* Execution report or protection event (lws -> db thread). */
struct report {
	struct report *next;
	bool exec;
	uint64_t subscriber, sub_id, master, seq;
	int reason;
	int64_t age_ns, dev_x100, time_ns;
	char detail[128];
};

struct mq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *head, *tail;  /* singly linked through a leading `next` pointer */
	size_t n;
};

struct cp_fanout {
	struct cp_fanout_config cfg;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int port;
	int listen_fd;            /* reuse_port: our own SO_REUSEPORT listener, else -1 */
	struct lws *listen_wsi;   /* listen_fd adopted as a raw descriptor into lws's poll */
	pthread_t lws_thr, replay_thr, db_thr, tail_thr;
	bool started, tail_started;
	atomic_bool stop;

	/* publish ring: one producer (edge thread or tail thread), consumer lws thread */
	struct cp_fmsg *ring[PUB_RING];
	_Alignas(64) atomic_uint_fast64_t ring_head; /* producer writes */
	_Alignas(64) atomic_uint_fast64_t ring_tail; /* consumer writes */

	struct mq replay_req, replay_rep, state_q, report_q;

	/* tail watch list (lws -> tail thread) */
	pthread_mutex_t watch_mu;
	uint64_t *watch;
	size_t nwatch, watch_cap;

	/* lws thread only */
	PGconn *pg_auth;
	struct master *mbucket[MASTER_BUCKETS];
	struct sess *all;

	/* counters: written by one thread each, read by any (relaxed) */
	atomic_uint_fast64_t c_conn, c_auth_refused, c_sub_refused, c_published, c_pub_dropped,
		c_delivered, c_replayed, c_slow, c_malformed, c_reports, c_reports_dropped;
	atomic_uint c_live;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cnt(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- mutex queues -- */

struct mq_node {
	struct mq_node *next;
};

static void mq_init(struct mq *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->head = q->tail = NULL;
	q->n = 0;
}

static void mq_push(struct mq *q, void *item)
{
	struct mq_node *n = item;

	n->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		((struct mq_node *)q->tail)->next = n;
	else
		q->head = n;
	q->tail = n;
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Takes the whole list (NULL when empty); waits up to wait_ms when wait_ms > 0. */
static void *mq_take_all(struct mq *q, int wait_ms)
{
	void *h;

	pthread_mutex_lock(&q->mu);
	if (q->head == NULL && wait_ms > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	}
	h = q->head;
	q->head = q->tail = NULL;
	q->n = 0;
	pthread_mutex_unlock(&q->mu);
	return h;
}

static size_t mq_len(struct mq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->n;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ---------------------------------------------------------------- publish ring -- */

static int ring_put(struct cp_fanout *f, struct cp_fmsg *m)
{
	uint64_t h = atomic_load_explicit(&f->ring_head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&f->ring_tail, memory_order_acquire);

	if (h - t >= PUB_RING)
		return -ENOBUFS;
	f->ring[h & (PUB_RING - 1)] = m;
	atomic_store_explicit(&f->ring_head, h + 1, memory_order_release);
	return 0;
}

static struct cp_fmsg *ring_get(struct cp_fanout *f)
{
	uint64_t t = atomic_load_explicit(&f->ring_tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&f->ring_head, memory_order_acquire);
	struct cp_fmsg *m;

	if (t == h)
		return NULL;
	m = f->ring[t & (PUB_RING - 1)];
	atomic_store_explicit(&f->ring_tail, t + 1, memory_order_release);
	return m;
}

int cp_fanout_publish(struct cp_fanout *f, uint64_t master_id, uint64_t sequence,
		      const uint8_t *signed_signal, size_t len, int64_t arrival_ns)
{
	struct cp_fmsg *m;

	if (f == NULL || master_id == 0 || sequence == 0 || signed_signal == NULL || len == 0)
		return -EINVAL;
	if (len > 4096)
		return -EMSGSIZE;
	m = cp_fmsg_envelope(master_id, sequence, arrival_ns, signed_signal, len);
	if (m == NULL)
		return -ENOMEM;
	if (ring_put(f, m) != 0) {
		cp_fmsg_unref(m);
		cnt(&f->c_pub_dropped);
		return -ENOBUFS;
	}
	cnt(&f->c_published);
	lws_cancel_service(f->ctx);
	return 0;
}

/* ---------------------------------------------------------------- lws thread: masters -- */

static struct master *master_find(struct cp_fanout *f, uint64_t id)
{
	struct master *m;

	for (m = f->mbucket[id % MASTER_BUCKETS]; m != NULL; m = m->hnext)
		if (m->id == id)
			return m;
	return NULL;
}

static struct master *master_get(struct cp_fanout *f, uint64_t id)
{
	struct master *m = master_find(f, id);

	if (m != NULL)
		return m;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->hist = calloc(f->cfg.history, sizeof(*m->hist));
	if (m->hist == NULL) {
		free(m);
		return NULL;
	}
	m->id = id;
	m->hnext = f->mbucket[id % MASTER_BUCKETS];
	f->mbucket[id % MASTER_BUCKETS] = m;
	if (f->cfg.tail) {
		pthread_mutex_lock(&f->watch_mu);
		if (f->nwatch == f->watch_cap) {
			size_t cap = f->watch_cap ? f->watch_cap * 2 : 64;
			uint64_t *w = realloc(f->watch, cap * sizeof(*w));

			if (w != NULL) {
				f->watch = w;
				f->watch_cap = cap;
			}
		}
		if (f->nwatch < f->watch_cap)
			f->watch[f->nwatch++] = id;
		pthread_mutex_unlock(&f->watch_mu);
	}
	m->watched = true;
	return m;
}

static void master_hist_clear(struct cp_fanout *f, struct master *m)
{
	for (uint32_t i = 0; i < f->cfg.history; i++) {
		cp_fmsg_unref(m->hist[i]);
		m->hist[i] = NULL;
	}
	m->hist_first = 0;
}

static bool master_in_hist(const struct master *m, uint64_t seq)
{
	return m->hist_first != 0 && seq >= m->hist_first && seq <= m->last_seq;
}

/* ---------------------------------------------------------------- lws thread: sessions -- */

static void sess_wake(struct sess *s)
{
	lws_callback_on_writable(s->wsi);
}

/* Queue m (takes a reference). reserve: slots that must stay free afterwards. */
static int sess_enqueue(struct sess *s, struct cp_fmsg *m, uint32_t reserve)
{
	uint32_t cap = s->f->cfg.queue_len;

	if (s->dead || s->closing)
		return -EPIPE;
	if (s->qcount + reserve >= cap)
		return -ENOBUFS;
	s->q[(s->qhead + s->qcount) % cap] = cp_fmsg_ref(m);
	s->qcount++;
	sess_wake(s);
	return 0;
}

static void sess_queue_clear(struct sess *s)
{
	uint32_t cap = s->f->cfg.queue_len;

	while (s->qcount > 0) {
		cp_fmsg_unref(s->q[s->qhead]);
		s->qhead = (s->qhead + 1) % cap;
		s->qcount--;
	}
}

/* The subscriber fell behind its queue bound: drop it; nobody waits for it. The close
 * frame (4008) is written if the socket takes it; a client that stopped reading is cut
 * off by the timeout. */
static void sess_drop_slow(struct sess *s)
{
	if (s->dead)
		return;
	s->dead = true;
	s->close_code = CP_FANOUT_CLOSE_SLOW;
	sess_queue_clear(s);
	cnt(&s->f->c_slow);
	sess_wake(s);
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

/* Queue a control message (built here, one reference dropped after queueing). */
static void sess_send_ctl(struct sess *s, struct cp_fmsg *m)
{
	if (m == NULL)
		return;
	if (sess_enqueue(s, m, 0) == -ENOBUFS)
		sess_drop_slow(s);
	cp_fmsg_unref(m);
}

static void sess_close_after(struct sess *s, uint16_t code)
{
	s->closing = true;
	s->close_code = code;
	sess_wake(s);
}

static struct subrow *sess_subrow(struct sess *s, uint64_t master)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].master == master)
			return &s->subs[i];
	return NULL;
}

static struct attach *sess_attach_of(struct sess *s, uint64_t master)
{
	for (struct attach *a = s->att; a != NULL; a = a->s_next)
		if (a->m->id == master)
			return a;
	return NULL;
}

/* States in which signals are delivered: SYNCED, and DEGRADED_GAP (the subscriber needs
 * the replay to leave it). LOCKED_NO_FUNDS, PAUSED_TOXIC, SUSPENDED_ADMIN hold delivery. */
static bool state_delivers(Decp__SubscriptionState st)
{
	return st == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED ||
	       st == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP;
}

static Decp__StateChange__Cause state_cause(Decp__SubscriptionState st)
{
	switch (st) {
	case DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_LOCKED_NO_FUNDS:
		return DECP__STATE_CHANGE__CAUSE__CAUSE_NO_FUNDS;
	case DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_PAUSED_TOXIC:
		return DECP__STATE_CHANGE__CAUSE__CAUSE_TRUST_LOW;
	case DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SUSPENDED_ADMIN:
		return DECP__STATE_CHANGE__CAUSE__CAUSE_ADMIN;
	case DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED:
		return DECP__STATE_CHANGE__CAUSE__CAUSE_CANCELLED;
	default:
		return DECP__STATE_CHANGE__CAUSE__CAUSE_UNSPECIFIED;
	}
}

static Decp__SubscriptionState state_parse(const char *s)
{
	static const char *const names[] = {"", "SYNCED", "DEGRADED_GAP", "LOCKED_NO_FUNDS",
					    "PAUSED_TOXIC", "SUSPENDED_ADMIN", "CANCELLED"};

	for (int i = 1; i < 7; i++)
		if (strcmp(s, names[i]) == 0)
			return (Decp__SubscriptionState)i;
	return DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_UNSPECIFIED;
}

/* ---------------------------------------------------------------- lws thread: splice -- */

static void attach_request(struct cp_fanout *f, struct attach *a, uint32_t room)
{
	struct replay_msg *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return; /* retried on the next writeable */
	r->a = a;
	r->master = a->m->id;
	r->from = a->next;
	r->count = room < REPLAY_CHUNK ? room : REPLAY_CHUNK;
	a->pending = true;
	mq_push(&f->replay_req, r);
}

static void attach_go_live(struct attach *a)
{
	a->mode = ATT_LIVE;
	sess_send_ctl(a->s, cp_fmsg_sync_end(a->m->id, a->next - 1));
}

/* Move an attachment in REPLAY forward as far as its queue allows. */
static void attach_pump(struct cp_fanout *f, struct attach *a)
{
	struct sess *s = a->s;
	struct master *m = a->m;

	while (a->mode == ATT_REPLAY && !a->pending && !s->dead) {
		uint32_t room = f->cfg.queue_len - QUEUE_RESERVE - s->qcount;

		if (s->qcount + QUEUE_RESERVE >= f->cfg.queue_len)
			return; /* resumed from the writeable callback */
		if (master_in_hist(m, a->next)) {
			while (a->next <= m->last_seq &&
			       sess_enqueue(s, m->hist[a->next % f->cfg.history], QUEUE_RESERVE) == 0)
				a->next++;
			if (a->next > m->last_seq)
				attach_go_live(a);
			return;
		}
		if (a->at_end && (m->last_seq == 0 || a->next > m->last_seq)) {
			attach_go_live(a);
			return;
		}
		a->at_end = false;
		attach_request(f, a, room);
	}
}

static void attach_start_replay(struct cp_fanout *f, struct attach *a, uint64_t from)
{
	a->next = from;
	a->mode = ATT_REPLAY;
	a->at_end = false;
	sess_send_ctl(a->s, cp_fmsg_sync_start(a->m->id, from, a->m->last_seq));
	attach_pump(f, a);
}

static void attach_free(struct attach *a)
{
	struct master *m = a->m;

	if (a->m_prev != NULL)
		a->m_prev->m_next = a->m_next;
	else if (m->subs == a)
		m->subs = a->m_next;
	if (a->m_next != NULL)
		a->m_next->m_prev = a->m_prev;
	a->m_next = a->m_prev = NULL;
	if (a->pending)
		a->s = NULL; /* the reply frees it */
	else
		free(a);
}

static void on_replay_reply(struct cp_fanout *f, struct replay_msg *r)
{
	struct attach *a = r->a;

	a->pending = false;
	if (a->s == NULL) {
		free(a);
		goto out;
	}
	if (a->mode == ATT_HELD) { /* held while the chunk was read: it is not sent */
		if (a->resume) {
			a->resume = false;
			attach_start_replay(f, a, a->next);
		}
		goto out;
	}
	if (r->err != 0) {
		/* Redis unavailable: retry later from the writeable callback */
		sess_wake(a->s);
		goto out;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		struct cp_fmsg *m = r->msgs[i];

		if (m->seq < a->next)
			continue;
		if (m->seq > a->next)
			break; /* a hole in the stream cannot happen (XADD ids are +1); re-read */
		if (sess_enqueue(a->s, m, QUEUE_RESERVE) != 0)
			break;
		a->next++;
	}
	a->at_end = r->end;
	attach_pump(f, a);
out:
	for (uint32_t i = 0; i < r->n; i++)
		cp_fmsg_unref(r->msgs[i]);
	free(r);
}

static void master_publish(struct cp_fanout *f, struct cp_fmsg *msg)
{
	struct master *m = master_get(f, msg->master);
	uint64_t seq = msg->seq;
	struct attach *a, *nx;

	if (m == NULL)
		return;
	if (m->last_seq != 0 && seq <= m->last_seq)
		return; /* already published (tail restart): idempotent */
	if (m->last_seq == 0 || seq != m->last_seq + 1)
		master_hist_clear(f, m); /* history holds a contiguous run only */
	if (m->hist_first != 0 && seq - m->hist_first >= f->cfg.history) {
		cp_fmsg_unref(m->hist[m->hist_first % f->cfg.history]);
		m->hist[m->hist_first % f->cfg.history] = NULL;
		m->hist_first++;
	}
	m->hist[seq % f->cfg.history] = cp_fmsg_ref(msg);
	if (m->hist_first == 0)
		m->hist_first = seq;
	m->last_seq = seq;

	for (a = m->subs; a != NULL; a = nx) {
		nx = a->m_next;
		if (a->mode != ATT_LIVE || a->s->dead)
			continue;
		if (seq < a->next)
			continue;
		if (seq > a->next) { /* missed one (publish ring overflow): heal by replay */
			a->mode = ATT_REPLAY;
			a->at_end = false;
			attach_pump(f, a);
			continue;
		}
		if (sess_enqueue(a->s, msg, QUEUE_RESERVE) != 0) {
			sess_drop_slow(a->s);
			continue;
		}
		a->next++;
	}
}

/* ---------------------------------------------------------------- lws thread: messages -- */

static void on_subscribe(struct cp_fanout *f, struct sess *s, const Decp__Subscribe *sub)
{
	struct subrow *row = sess_subrow(s, sub->master_id);
	struct attach *a;
	struct master *m;

	if (row == NULL || row->state == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED) {
		cnt(&f->c_sub_refused);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_FORBIDDEN,
					       "no live subscription to this master"));
		return;
	}
	a = sess_attach_of(s, sub->master_id);
	if (a == NULL) {
		m = master_get(f, sub->master_id);
		a = calloc(1, sizeof(*a));
		if (m == NULL || a == NULL) {
			free(a);
			sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_INTERNAL, "out of memory"));
			return;
		}
		a->s = s;
		a->m = m;
		a->sub_id = row->id;
		a->s_next = s->att;
		s->att = a;
		a->m_next = m->subs;
		if (m->subs != NULL)
			m->subs->m_prev = a;
		m->subs = a;
	} else if (a->pending) {
		/* a re-subscribe during a replay: let the pending chunk land, then restart */
		cnt(&f->c_malformed);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_PROTOCOL,
					       "subscribe while a replay is running"));
		return;
	}
	m = a->m;
	if (!state_delivers(row->state)) {
		a->mode = ATT_HELD;
		a->next = sub->from_sequence != 0 ? sub->from_sequence : m->last_seq + 1;
		sess_send_ctl(s, cp_fmsg_state_change(row->id, m->id, row->state, row->state,
						      state_cause(row->state), now_ns()));
		return;
	}
	if (sub->from_sequence == 0) {
		a->next = m->last_seq + 1;
		sess_send_ctl(s, cp_fmsg_sync_start(m->id, 0, m->last_seq));
		a->mode = ATT_LIVE;
		sess_send_ctl(s, cp_fmsg_sync_end(m->id, m->last_seq));
		return;
	}
	attach_start_replay(f, a, sub->from_sequence);
}

static void on_report(struct cp_fanout *f, struct sess *s, const Decp__ClientMessage *cm)
{
	struct report *r;
	uint64_t master = cm->kind_case == DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT
				  ? cm->execution_report->master_id
				  : cm->protection_event->master_id;
	struct subrow *row = sess_subrow(s, master);

	if (row == NULL) {
		cnt(&f->c_sub_refused);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_FORBIDDEN,
					       "report for a master without subscription"));
		return;
	}
	if (mq_len(&f->report_q) >= REPORT_QUEUE_MAX || (r = calloc(1, sizeof(*r))) == NULL) {
		cnt(&f->c_reports_dropped);
		return;
	}
	/* identities come from the authenticated session, never from the client's fields */
	r->subscriber = s->subscriber_id;
	r->sub_id = row->id;
	r->master = master;
	if (cm->kind_case == DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT) {
		r->exec = true;
		r->seq = cm->execution_report->sequence;
		r->time_ns = cm->execution_report->exec_time_ns;
	} else {
		const Decp__ProtectionEvent *e = cm->protection_event;

		r->seq = e->sequence;
		r->reason = e->reason;
		r->age_ns = e->age_ns;
		r->dev_x100 = e->price_deviation_pips_x100;
		r->time_ns = e->event_time_ns;
		if (e->detail != NULL)
			snprintf(r->detail, sizeof(r->detail), "%s", e->detail);
	}
	mq_push(&f->report_q, r);
}

static int on_message(struct cp_fanout *f, struct sess *s, const uint8_t *p, size_t len,
		      int64_t recv_ns)
{
	Decp__ClientMessage *cm = proto_client_message_decode(p, len, NULL);

	if (cm == NULL) {
		cnt(&f->c_malformed);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_MALFORMED,
					       "undecodable ClientMessage"));
		sess_close_after(s, CP_FANOUT_CLOSE_MALFORMED);
		return 0;
	}
	switch (cm->kind_case) {
	case DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE:
		on_subscribe(f, s, cm->subscribe);
		break;
	case DECP__CLIENT_MESSAGE__KIND_TIME_PING: {
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__TimePong pong = DECP__TIME_PONG__INIT;

		pong.client_send_ns = cm->time_ping->client_send_ns;
		pong.server_recv_ns = recv_ns;
		/* stamped when queued: the queue wait counts as network delay, which the
		 * estimator's lowest-RTT choice discards (RFC 5905 §8) */
		pong.server_send_ns = now_ns();
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_TIME_PONG;
		sm.time_pong = &pong;
		sess_send_ctl(s, cp_fmsg_pack(&sm));
		break;
	}
	case DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT:
	case DECP__CLIENT_MESSAGE__KIND_PROTECTION_EVENT:
		on_report(f, s, cm);
		break;
	default:
		break;
	}
	proto_msg_free(&cm->base, NULL);
	return 0;
}

/* ---------------------------------------------------------------- lws thread: auth -- */

static bool pg_ok(struct cp_fanout *f)
{
	if (PQstatus(f->pg_auth) == CONNECTION_OK)
		return true;
	PQreset(f->pg_auth);
	return PQstatus(f->pg_auth) == CONNECTION_OK;
}

/* Token from "Authorization: Bearer <t>" or "?token=<t>". Returns its length or 0. */
static size_t token_of(struct lws *wsi, char *buf, size_t cap)
{
	char h[512];
	int n = lws_hdr_copy(wsi, h, sizeof(h), WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n > 7 && strncasecmp(h, "Bearer ", 7) == 0) {
		size_t l = (size_t)n - 7;

		if (l >= cap)
			return 0; /* longer than any token we issue */
		memcpy(buf, h + 7, l);
		buf[l] = '\0';
		return l;
	}
	if (lws_get_urlarg_by_name(wsi, "token=", buf, (int)cap) != NULL) {
		const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)cap);

		memmove(buf, v, strlen(v) + 1);
		return strlen(buf);
	}
	return 0;
}

/* Blocking lookups on the lws thread's own connection: one indexed query each on
 * loopback (~0.1 ms); accepted because upgrades are rare next to signals (docs/fanout.md). */
static int sess_auth(struct cp_fanout *f, struct sess *s, struct lws *wsi)
{
	char tok[256];
	unsigned char dig[SHA256_DIGEST_LENGTH];
	const char *vals[1];
	int lens[1], fmts[1] = {1};
	PGresult *r;
	char idbuf[24];
	size_t tl = token_of(wsi, tok, sizeof(tok));

	if (tl == 0 || !pg_ok(f))
		return -EACCES;
	SHA256((const unsigned char *)tok, tl, dig);
	OPENSSL_cleanse(tok, sizeof(tok));
	vals[0] = (const char *)dig;
	lens[0] = sizeof(dig);
	r = PQexecParams(f->pg_auth,
			 "SELECT t.subscriber_id FROM subscriber_tokens t "
			 "JOIN subscribers s ON s.id = t.subscriber_id "
			 "WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL "
			 "AND (t.expires_at IS NULL OR t.expires_at > now()) AND s.disabled_at IS NULL",
			 1, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		PQclear(r);
		return -EACCES;
	}
	s->subscriber_id = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, s->subscriber_id);
	vals[0] = idbuf;
	r = PQexecParams(f->pg_auth,
			 "SELECT id, master_id, state FROM subscriptions "
			 "WHERE subscriber_id = $1 AND state <> 'CANCELLED' ORDER BY id LIMIT 32",
			 1, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return -EIO;
	}
	s->nsubs = 0;
	for (int i = 0; i < PQntuples(r) && s->nsubs < SESS_MAX_SUBS; i++) {
		struct subrow *row = &s->subs[s->nsubs++];

		row->id = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		row->master = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		row->state = state_parse(PQgetvalue(r, i, 2));
	}
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- lws thread: events -- */

static void on_state_ev(struct cp_fanout *f, const struct state_ev *ev)
{
	for (struct sess *s = f->all; s != NULL; s = s->next_all) {
		struct subrow *row;
		struct attach *a;
		Decp__SubscriptionState old;

		if (s->subscriber_id != ev->subscriber || (row = sess_subrow(s, ev->master)) == NULL ||
		    row->state == ev->state)
			continue;
		old = row->state;
		row->state = ev->state;
		a = sess_attach_of(s, ev->master);
		if (a == NULL)
			continue;
		sess_send_ctl(s, cp_fmsg_state_change(row->id, ev->master, old, ev->state,
						      state_cause(state_delivers(ev->state) ? old : ev->state),
						      now_ns()));
		if (!state_delivers(ev->state)) {
			a->mode = ATT_HELD; /* a pending replay chunk is discarded on arrival */
			a->resume = false;
		} else if (a->mode == ATT_HELD) {
			if (a->pending)
				a->resume = true;
			else
				attach_start_replay(f, a, a->next);
		}
	}
}

static void drain_inputs(struct cp_fanout *f)
{
	struct cp_fmsg *m;
	struct replay_msg *r, *rn;
	struct state_ev *e, *en;
	int n = 0;

	while ((m = ring_get(f)) != NULL) {
		master_publish(f, m);
		cp_fmsg_unref(m);
		if (++n == 4096) { /* keep the loop responsive; continue on the next wake */
			lws_cancel_service(f->ctx);
			break;
		}
	}
	for (r = mq_take_all(&f->replay_rep, 0); r != NULL; r = rn) {
		rn = r->next;
		on_replay_reply(f, r);
	}
	for (e = mq_take_all(&f->state_q, 0); e != NULL; e = en) {
		en = e->next;
		on_state_ev(f, e);
		free(e);
	}
}

static int cb_decp(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct cp_fanout *f = lws_context_user(lws_get_context(wsi));
	struct sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (f == NULL || s == NULL)
			return -1;
		memset(s, 0, sizeof(*s));
		s->f = f;
		if (f->c_live >= f->cfg.max_conns || sess_auth(f, s, wsi) != 0) {
			cnt(&f->c_auth_refused);
			lws_return_http_status(wsi, 401, NULL);
			return -1;
		}
		s->authed = true;
		return 0;

	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		if (f != NULL && f->cfg.sndbuf > 0) {
			int fd = (int)lws_get_socket_fd(wsi);

			if (fd >= 0)
				setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &f->cfg.sndbuf,
					   sizeof(f->cfg.sndbuf));
		}
		break;

	case LWS_CALLBACK_ESTABLISHED:
		if (!s->authed)
			return -1;
		s->wsi = wsi;
		s->q = calloc(f->cfg.queue_len, sizeof(*s->q));
		if (s->q == NULL)
			return -1;
		s->next_all = f->all;
		if (f->all != NULL)
			f->all->prev_all = s;
		f->all = s;
		cnt(&f->c_conn);
		atomic_fetch_add_explicit(&f->c_live, 1, memory_order_relaxed);
		return 0;

	case LWS_CALLBACK_CLOSED: {
		struct attach *a, *an;

		if (s->q == NULL)
			return 0;
		for (a = s->att; a != NULL; a = an) {
			an = a->s_next;
			attach_free(a);
		}
		s->att = NULL;
		sess_queue_clear(s);
		free(s->q);
		s->q = NULL;
		if (s->prev_all != NULL)
			s->prev_all->next_all = s->next_all;
		else
			f->all = s->next_all;
		if (s->next_all != NULL)
			s->next_all->prev_all = s->prev_all;
		atomic_fetch_sub_explicit(&f->c_live, 1, memory_order_relaxed);
		return 0;
	}

	case LWS_CALLBACK_RECEIVE: {
		size_t rest = lws_remaining_packet_payload(wsi);
		int64_t t = now_ns();

		if (s->q == NULL || s->dead)
			return 0;
		if (lws_is_first_fragment(wsi))
			s->rx_len = 0;
		/* refuse before buffering: this fragment plus what the frame header announces */
		if (s->rx_len + len + rest > CP_FANOUT_MAX_RX) {
			cnt(&f->c_malformed);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 (unsigned char *)"message too large", 17);
			return -1;
		}
		if (!lws_frame_is_binary(wsi)) {
			cnt(&f->c_malformed);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
					 (unsigned char *)"binary protobuf only", 20);
			return -1;
		}
		memcpy(s->rx + s->rx_len, in, len);
		s->rx_len += len;
		if (rest == 0 && lws_is_final_fragment(wsi)) {
			on_message(f, s, s->rx, s->rx_len, t);
			s->rx_len = 0;
		}
		return 0;
	}

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		uint32_t cap = f->cfg.queue_len;
		int burst = 0;

		if (s->q == NULL)
			return 0;
		if (s->dead) {
			lws_close_reason(wsi, CP_FANOUT_CLOSE_SLOW, (unsigned char *)"slow consumer", 13);
			return -1;
		}
		while (s->qcount > 0 && burst++ < 32 && !lws_send_pipe_choked(wsi)) {
			struct cp_fmsg *m = s->q[s->qhead];
			int n;

			s->qhead = (s->qhead + 1) % cap;
			s->qcount--;
			n = lws_write(wsi, cp_fmsg_payload(m), m->len, LWS_WRITE_BINARY);
			if (m->master != 0)
				cnt(&f->c_delivered);
			cp_fmsg_unref(m);
			/* a short write is buffered by lws (it keeps a copy): nothing to do */
			if (n < 0)
				return -1;
		}
		if (s->qcount < cap / 2)
			for (struct attach *a = s->att; a != NULL; a = a->s_next)
				if (a->mode == ATT_REPLAY && !a->pending)
					attach_pump(f, a);
		if (s->qcount > 0) {
			sess_wake(s);
		} else if (s->closing) {
			lws_close_reason(wsi, s->close_code, NULL, 0);
			return -1;
		}
		return 0;
	}

	case LWS_CALLBACK_RAW_RX_FILE:
		/* our SO_REUSEPORT listener is readable: accept and hand each connection to lws
		 * as if its own listener had accepted it (HTTP, then the WebSocket upgrade) */
		if (f != NULL && wsi == f->listen_wsi) {
			for (int n = 0; n < 64; n++) {
				int fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					break;
				if (atomic_load_explicit(&f->c_live, memory_order_relaxed) >=
					    f->cfg.max_conns ||
				    lws_adopt_socket_vhost(f->vh, fd) == NULL) {
					cnt(&f->c_auth_refused);
					close(fd);
				}
			}
		}
		return 0;

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (f != NULL)
			drain_inputs(f);
		return 0;

	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{"decp", cb_decp, sizeof(struct sess), CP_FANOUT_MAX_RX, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

static void *lws_main(void *arg)
{
	struct cp_fanout *f = arg;

	while (!atomic_load_explicit(&f->stop, memory_order_acquire))
		if (lws_service(f->ctx, 0) < 0)
			break;
	return NULL;
}

/* ---------------------------------------------------------------- redis threads -- */

static redisContext *redis_open(const struct cp_fanout_config *cfg, int timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);

	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

/* One stream entry [id, [field, value, ...]] into a message. NULL when incomplete. */
static struct cp_fmsg *entry_msg(uint64_t master, const redisReply *e)
{
	const redisReply *fl;
	const char *b = NULL, *sg = NULL;
	size_t bl = 0, sl = 0;
	int64_t arr = 0;
	uint64_t seq;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	seq = strtoull(e->element[0]->str, NULL, 10);
	fl = e->element[1];
	for (size_t i = 0; i + 1 < fl->elements; i += 2) {
		const redisReply *k = fl->element[i], *v = fl->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len != 1)
			continue;
		if (k->str[0] == 'a')
			arr = strtoll(v->str, NULL, 10);
		else if (k->str[0] == 'b') {
			b = v->str;
			bl = v->len;
		} else if (k->str[0] == 's') {
			sg = v->str;
			sl = v->len;
		}
	}
	if (b == NULL || sg == NULL || seq == 0)
		return NULL;
	return cp_fmsg_envelope_parts(master, seq, arr, (const uint8_t *)b, bl,
				      (const uint8_t *)sg, sl);
}

static void *replay_main(void *arg)
{
	struct cp_fanout *f = arg;
	redisContext *c = NULL;

	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct replay_msg *r, *rn;

		for (r = mq_take_all(&f->replay_req, 200); r != NULL; r = rn) {
			char key[64], from[32];
			redisReply *rep;

			rn = r->next;
			if (c == NULL)
				c = redis_open(&f->cfg, 2000);
			snprintf(key, sizeof(key), SIGNALS_KEY_FMT, r->master);
			snprintf(from, sizeof(from), "%" PRIu64 "-0", r->from);
			rep = c != NULL ? redisCommand(c, "XRANGE %s %s + COUNT %u", key, from, r->count)
					: NULL;
			if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
				r->err = -EIO;
				if (rep == NULL && c != NULL) {
					redisFree(c);
					c = NULL;
				}
			} else {
				for (size_t i = 0; i < rep->elements && r->n < REPLAY_CHUNK; i++) {
					struct cp_fmsg *m = entry_msg(r->master, rep->element[i]);

					if (m == NULL)
						continue;
					r->msgs[r->n++] = m;
					cnt(&f->c_replayed);
				}
				r->end = rep->elements < r->count;
			}
			if (rep != NULL)
				freeReplyObject(rep);
			mq_push(&f->replay_rep, r);
			lws_cancel_service(f->ctx);
		}
	}
	if (c != NULL)
		redisFree(c);
	return NULL;
}

struct tailed {
	uint64_t master, last;
	char key[64];
	char id[32];
};

static void *tail_main(void *arg)
{
	struct cp_fanout *f = arg;
	redisContext *c = NULL;
	struct tailed *t = NULL;
	size_t nt = 0;
	const char **argv = NULL;
	size_t *argl = NULL;

	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		redisReply *rep;
		size_t ac = 0;

		if (c == NULL && (c = redis_open(&f->cfg, 2000)) == NULL) {
			usleep(100000);
			continue;
		}
		pthread_mutex_lock(&f->watch_mu);
		if (f->nwatch > nt) {
			struct tailed *nt2 = realloc(t, f->nwatch * sizeof(*t));
			const char **a2 = realloc(argv, (4 + 2 * f->nwatch) * sizeof(*argv));
			size_t *l2 = realloc(argl, (4 + 2 * f->nwatch) * sizeof(*argl));

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
					snprintf(t[nt].key, sizeof(t[nt].key), SIGNALS_KEY_FMT,
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
			/* argv needs 6 + 2k slots: grown above with 4 + 2n; realloc once more */
			argv = realloc(argv, (6 + 2 * nt) * sizeof(*argv));
			argl = realloc(argl, (6 + 2 * nt) * sizeof(*argl));
			if (argv == NULL || argl == NULL)
				break;
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
			redisFree(c);
			c = NULL;
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
					struct cp_fmsg *m = entry_msg(tt->master, sr->element[1]->element[j]);

					if (m == NULL)
						continue;
					tt->last = m->seq;
					/* the tail may wait (unlike the edge): Redis holds the backlog */
					while (ring_put(f, m) != 0 &&
					       !atomic_load_explicit(&f->stop, memory_order_acquire)) {
						lws_cancel_service(f->ctx);
						usleep(1000);
					}
					cnt(&f->c_published);
				}
			}
			lws_cancel_service(f->ctx);
		}
		freeReplyObject(rep);
	}
	free(t);
	free(argv);
	free(argl);
	if (c != NULL)
		redisFree(c);
	return NULL;
}

/* ---------------------------------------------------------------- db thread -- */

static const char *reason_name(int r)
{
	switch (r) {
	case 1: return "REPLAY";
	case 2: return "SEQUENCE_GAP";
	case 3: return "STATE_LOCKED";
	case 4: return "TTL_EXPIRED";
	case 5: return "PRICE_DEVIATION";
	case 6: return "INSUFFICIENT_FUNDS";
	case 7: return "INVALID_SIGNATURE";
	case 8: return "FILTERED";
	case 22: return "MALFORMED";
	default: return "UNSPECIFIED";
	}
}

/* Execution reports only move last_sequence_id forward: one UPDATE per subscription and
 * batch (its highest sequence), not one per report. */
struct exec_max {
	uint64_t sub_id, subscriber, master, seq;
	uint32_t n;
};

static void db_store_exec(struct cp_fanout *f, PGconn *c, struct report *list)
{
	struct exec_max *em = NULL;
	size_t n = 0, cap = 0;

	for (struct report *p = list; p != NULL; p = p->next) {
		size_t i;

		if (!p->exec)
			continue;
		for (i = 0; i < n && em[i].sub_id != p->sub_id; i++)
			;
		if (i == n) {
			if (n == cap) {
				struct exec_max *e2 = realloc(em, (cap ? cap * 2 : 64) * sizeof(*em));

				if (e2 == NULL) {
					cnt(&f->c_reports_dropped);
					continue;
				}
				em = e2;
				cap = cap ? cap * 2 : 64;
			}
			em[n++] = (struct exec_max){p->sub_id, p->subscriber, p->master, 0, 0};
		}
		if (p->seq > em[i].seq)
			em[i].seq = p->seq;
		em[i].n++;
	}
	for (size_t i = 0; i < n; i++) {
		char v[4][24];
		const char *vals[4] = {v[0], v[1], v[2], v[3]};
		PGresult *r;

		snprintf(v[0], 24, "%" PRIu64, em[i].subscriber);
		snprintf(v[1], 24, "%" PRIu64, em[i].sub_id);
		snprintf(v[2], 24, "%" PRIu64, em[i].master);
		snprintf(v[3], 24, "%" PRIu64, em[i].seq);
		r = PQexecParams(c,
				 "UPDATE subscriptions SET last_sequence_id = $4::bigint "
				 "WHERE id = $2::bigint AND subscriber_id = $1::bigint "
				 "AND master_id = $3::bigint AND last_sequence_id < $4::bigint",
				 4, NULL, vals, NULL, NULL, 0);
		for (uint32_t k = 0; k < em[i].n; k++)
			cnt(PQresultStatus(r) == PGRES_COMMAND_OK ? &f->c_reports : &f->c_reports_dropped);
		PQclear(r);
	}
	free(em);
}

static void db_store(struct cp_fanout *f, PGconn *c, struct report *list)
{
	PGresult *r = PQexec(c, "BEGIN");

	PQclear(r);
	db_store_exec(f, c, list);
	for (struct report *p = list; p != NULL; p = p->next) {
		char v[8][32];
		const char *vals[9];

		snprintf(v[0], 32, "%" PRIu64, p->subscriber);
		snprintf(v[1], 32, "%" PRIu64, p->sub_id);
		snprintf(v[2], 32, "%" PRIu64, p->master);
		snprintf(v[3], 32, "%" PRIu64, p->seq);
		snprintf(v[4], 32, "%" PRId64, p->time_ns > 0 ? p->time_ns : now_ns());
		snprintf(v[5], 32, "%" PRId64, p->age_ns);
		snprintf(v[6], 32, "%" PRId64, p->dev_x100);
		for (int i = 0; i < 7; i++)
			vals[i] = v[i];
		vals[7] = reason_name(p->reason);
		vals[8] = p->detail;
		if (p->exec)
			continue;
		r = PQexecParams(c,
			 "INSERT INTO protection_logs (event_time, master_id, subscriber_id, "
			 "subscription_id, sequence, reason, latency_ms, price_deviation, details) "
			 "VALUES (to_timestamp($5::bigint / 1e9), $3::bigint, $1::bigint, "
			 "$2::bigint, $4::bigint, $8, $6::bigint / 1e6, $7::bigint / 100.0, "
			 "jsonb_build_object('detail', $9::text, 'source', 'subscriber'))",
			 9, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			cnt(&f->c_reports);
		else
			cnt(&f->c_reports_dropped);
		PQclear(r);
	}
	r = PQexec(c, "COMMIT");
	PQclear(r);
}

/* Last state seen per subscription id (db thread only): only changes are posted to the
 * lws thread, although the poll re-reads every row touched in its 2 s overlap window. */
struct seen_tab {
	struct seen {
		uint64_t id;
		int state;
	} *s;
	size_t cap, n;
};

/* Returns true when (id, state) is new or changed, and records it. */
static bool seen_changed(struct seen_tab *t, uint64_t id, int state)
{
	size_t i;

	if (t->n * 2 >= t->cap) {
		struct seen_tab g = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(struct seen)),
				     t->cap ? t->cap * 2 : 1024, 0};

		if (g.s == NULL)
			return true;
		for (size_t k = 0; k < t->cap; k++)
			if (t->s[k].id != 0)
				seen_changed(&g, t->s[k].id, t->s[k].state);
		free(t->s);
		*t = g;
	}
	for (i = id % t->cap; t->s[i].id != 0 && t->s[i].id != id; i = (i + 1) % t->cap)
		;
	if (t->s[i].id == id && t->s[i].state == state)
		return false;
	if (t->s[i].id == 0)
		t->n++;
	t->s[i].id = id;
	t->s[i].state = state;
	return true;
}

static void *db_main(void *arg)
{
	struct cp_fanout *f = arg;
	PGconn *c = PQconnectdb(f->cfg.pg_conninfo);
	char since[64] = "";
	struct seen_tab seen = {NULL, 0, 0};
	int posted = 0;

	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct report *list = mq_take_all(&f->report_q, (int)f->cfg.state_poll_ms), *p, *pn;
		PGresult *r;

		if (PQstatus(c) != CONNECTION_OK)
			PQreset(c);
		if (list != NULL && PQstatus(c) == CONNECTION_OK)
			db_store(f, c, list);
		else if (list != NULL)
			for (p = list; p != NULL; p = p->next)
				cnt(&f->c_reports_dropped);
		for (p = list; p != NULL; p = pn) {
			pn = p->next;
			free(p);
		}
		if (PQstatus(c) != CONNECTION_OK)
			continue;
		if (since[0] == '\0') {
			r = PQexec(c, "SELECT now()::text");
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				snprintf(since, sizeof(since), "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
			continue;
		}
		{
			const char *vals[1] = {since};

			/* overlap of 2 s: a transaction committing late with an older updated_at
			 * is still seen; repeated rows are no-ops on the lws thread */
			r = PQexecParams(c,
					 "SELECT id, master_id, subscriber_id, state, "
					 "(SELECT now()::text) FROM subscriptions "
					 "WHERE updated_at > $1::timestamptz - interval '2 seconds' "
					 "UNION ALL SELECT 0, 0, 0, '', now()::text",
					 1, NULL, vals, NULL, NULL, 0);
		}
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			int n = PQntuples(r);

			for (int i = 0; i < n; i++) {
				struct state_ev *e;

				if (strcmp(PQgetvalue(r, i, 0), "0") == 0) {
					snprintf(since, sizeof(since), "%s", PQgetvalue(r, i, 4));
					continue;
				}
				if (!seen_changed(&seen, strtoull(PQgetvalue(r, i, 0), NULL, 10),
						  state_parse(PQgetvalue(r, i, 3))))
					continue;
				e = calloc(1, sizeof(*e));
				if (e == NULL)
					continue;
				posted++;
				e->sub_id = strtoull(PQgetvalue(r, i, 0), NULL, 10);
				e->master = strtoull(PQgetvalue(r, i, 1), NULL, 10);
				e->subscriber = strtoull(PQgetvalue(r, i, 2), NULL, 10);
				e->state = state_parse(PQgetvalue(r, i, 3));
				mq_push(&f->state_q, e);
			}
			if (posted > 0)
				lws_cancel_service(f->ctx);
			posted = 0;
		}
		PQclear(r);
	}
	free(seen.s);
	PQfinish(c);
	return NULL;
}

/* ---------------------------------------------------------------- lifecycle -- */

/* Listening socket shared with other processes (SO_REUSEPORT, Linux >= 3.9: the kernel
 * spreads new connections over all listeners of the port). lws 4.1 sets SO_REUSEPORT only
 * for its own SMP threads, so we listen ourselves and adopt accepted sockets.
 * Returns the fd (port in *port) or a negative errno. */
static int reuse_listener(const struct cp_fanout_config *cfg, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
	socklen_t al = sizeof(a);
	int one = 1, fd, err;

	if (cfg->listen_addr != NULL && inet_pton(AF_INET, cfg->listen_addr, &a.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

struct cp_fanout *cp_fanout_create(const struct cp_fanout_config *cfg)
{
	struct lws_context_creation_info info;
	struct cp_fanout *f;
	redisContext *rc;

	if (cfg == NULL || cfg->redis_host == NULL || cfg->pg_conninfo == NULL || cfg->port < 0 ||
	    cfg->port > 65535 || (cfg->cert_path != NULL) != (cfg->key_path != NULL)) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->cfg = *cfg;
	if (f->cfg.queue_len == 0)
		f->cfg.queue_len = 1024;
	if (f->cfg.queue_len < 4 * QUEUE_RESERVE)
		f->cfg.queue_len = 4 * QUEUE_RESERVE;
	if (f->cfg.history == 0)
		f->cfg.history = 4096;
	if (f->cfg.max_conns == 0)
		f->cfg.max_conns = 19000;
	if (f->cfg.state_poll_ms == 0)
		f->cfg.state_poll_ms = 500;
	mq_init(&f->replay_req);
	mq_init(&f->replay_rep);
	mq_init(&f->state_q);
	mq_init(&f->report_q);
	pthread_mutex_init(&f->watch_mu, NULL);

	rc = redis_open(cfg, 2000);
	if (rc == NULL) {
		FLOG("redis %s:%d unreachable\n", cfg->redis_host, cfg->redis_port);
		errno = ECONNREFUSED;
		goto fail;
	}
	redisFree(rc);
	f->pg_auth = PQconnectdb(cfg->pg_conninfo);
	if (PQstatus(f->pg_auth) != CONNECTION_OK) {
		FLOG("postgresql: %s", PQerrorMessage(f->pg_auth));
		errno = ECONNREFUSED;
		goto fail;
	}

	f->listen_fd = -1;
	if (cfg->reuse_port && (f->listen_fd = reuse_listener(cfg, &f->port)) < 0) {
		FLOG("cannot listen on %s:%d with SO_REUSEPORT: %s\n",
		     cfg->listen_addr ? cfg->listen_addr : "*", cfg->port, strerror(-f->listen_fd));
		errno = -f->listen_fd;
		goto fail;
	}
	/* DECP_FANOUT_LWS_LOG: lws log level bits (lws-logs.h), for debugging only */
	lws_set_log_level(getenv("DECP_FANOUT_LWS_LOG") ? atoi(getenv("DECP_FANOUT_LWS_LOG"))
							 : LLL_ERR,
			  NULL);
	memset(&info, 0, sizeof(info));
	info.port = cfg->port; /* 0: the kernel picks; read back from the vhost below */
	info.iface = cfg->listen_addr;
	info.protocols = protocols;
	info.user = f;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (f->listen_fd >= 0)
		info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	if (cfg->cert_path != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->cert_path;
		info.ssl_private_key_filepath = cfg->key_path;
	}
	info.timeout_secs = 10;
	/* header buffers held only during handshakes; lws's default pool is small and a
	 * reconnect storm would queue upgrades behind it */
	info.max_http_header_pool2 = 1024;
	/* fd_limit_per_thread stays 0: lws sizes its table from RLIMIT_NOFILE */
	f->ctx = lws_create_context(&info);
	if (f->ctx == NULL) {
		FLOG("cannot listen on %s:%d\n", cfg->listen_addr ? cfg->listen_addr : "*", cfg->port);
		errno = EADDRINUSE;
		goto fail;
	}
	f->vh = lws_get_vhost_by_name(f->ctx, "default");
	if (f->vh == NULL) {
		FLOG("no default vhost\n");
		errno = EIO;
		goto fail;
	}
	if (f->listen_fd >= 0) {
		lws_sock_file_fd_type fd;

		fd.filefd = f->listen_fd;
		f->listen_wsi = lws_adopt_descriptor_vhost(f->vh, LWS_ADOPT_RAW_FILE_DESC, fd, "decp",
							   NULL);
		if (f->listen_wsi == NULL) {
			FLOG("cannot poll the listening socket\n");
			errno = EIO;
			goto fail;
		}
	} else {
		f->port = lws_get_vhost_listen_port(f->vh);
	}
	return f;
fail:
	if (f->ctx != NULL)
		lws_context_destroy(f->ctx);
	if (f->listen_fd >= 0 && f->listen_wsi == NULL)
		close(f->listen_fd);
	if (f->pg_auth != NULL)
		PQfinish(f->pg_auth);
	free(f);
	return NULL;
}

int cp_fanout_port(const struct cp_fanout *f)
{
	return f->port;
}

int cp_fanout_start(struct cp_fanout *f)
{
	if (f == NULL || f->started)
		return -EINVAL;
	if (pthread_create(&f->replay_thr, NULL, replay_main, f) != 0)
		return -EAGAIN;
	if (pthread_create(&f->db_thr, NULL, db_main, f) != 0)
		goto fail_replay;
	if (f->cfg.tail) {
		if (pthread_create(&f->tail_thr, NULL, tail_main, f) != 0)
			goto fail_db;
		f->tail_started = true;
	}
	if (pthread_create(&f->lws_thr, NULL, lws_main, f) != 0)
		goto fail_tail;
	f->started = true;
	return 0;
fail_tail:
	atomic_store(&f->stop, true);
	if (f->tail_started)
		pthread_join(f->tail_thr, NULL);
	f->tail_started = false;
fail_db:
	atomic_store(&f->stop, true);
	pthread_join(f->db_thr, NULL);
fail_replay:
	atomic_store(&f->stop, true);
	pthread_join(f->replay_thr, NULL);
	return -EAGAIN;
}

void cp_fanout_stats_get(const struct cp_fanout *f, struct cp_fanout_stats *o)
{
	struct cp_fanout *w = (struct cp_fanout *)f;

	o->connections = atomic_load_explicit(&w->c_conn, memory_order_relaxed);
	o->auth_refused = atomic_load_explicit(&w->c_auth_refused, memory_order_relaxed);
	o->subscribe_refused = atomic_load_explicit(&w->c_sub_refused, memory_order_relaxed);
	o->published = atomic_load_explicit(&w->c_published, memory_order_relaxed);
	o->publish_dropped = atomic_load_explicit(&w->c_pub_dropped, memory_order_relaxed);
	o->delivered = atomic_load_explicit(&w->c_delivered, memory_order_relaxed);
	o->replayed = atomic_load_explicit(&w->c_replayed, memory_order_relaxed);
	o->slow_closed = atomic_load_explicit(&w->c_slow, memory_order_relaxed);
	o->malformed = atomic_load_explicit(&w->c_malformed, memory_order_relaxed);
	o->reports = atomic_load_explicit(&w->c_reports, memory_order_relaxed);
	o->reports_dropped = atomic_load_explicit(&w->c_reports_dropped, memory_order_relaxed);
	o->live_connections = atomic_load_explicit(&w->c_live, memory_order_relaxed);
}

void cp_fanout_stop(struct cp_fanout *f)
{
	if (f == NULL || !f->started)
		return;
	atomic_store_explicit(&f->stop, true, memory_order_release);
	lws_cancel_service(f->ctx);
	pthread_join(f->lws_thr, NULL);
	pthread_cond_broadcast(&f->replay_req.cv);
	pthread_join(f->replay_thr, NULL);
	pthread_join(f->db_thr, NULL);
	if (f->tail_started)
		pthread_join(f->tail_thr, NULL);
	f->started = false;
	f->tail_started = false;
}

void cp_fanout_destroy(struct cp_fanout *f)
{
	struct cp_fmsg *m;
	struct replay_msg *r, *rn;
	struct mq_node *n, *nn;

	if (f == NULL)
		return;
	cp_fanout_stop(f);
	lws_context_destroy(f->ctx); /* closes connections: LWS_CALLBACK_CLOSED frees them */
	while ((m = ring_get(f)) != NULL)
		cp_fmsg_unref(m);
	for (r = mq_take_all(&f->replay_rep, 0); r != NULL; r = rn) {
		rn = r->next;
		for (uint32_t i = 0; i < r->n; i++)
			cp_fmsg_unref(r->msgs[i]);
		free(r->a); /* its session is gone */
		free(r);
	}
	for (r = mq_take_all(&f->replay_req, 0); r != NULL; r = rn) {
		rn = r->next;
		free(r->a);
		free(r);
	}
	for (n = mq_take_all(&f->state_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (n = mq_take_all(&f->report_q, 0); n != NULL; n = nn) {
		nn = n->next;
		free(n);
	}
	for (uint32_t b = 0; b < MASTER_BUCKETS; b++) {
		struct master *mm, *mn;

		for (mm = f->mbucket[b]; mm != NULL; mm = mn) {
			mn = mm->hnext;
			master_hist_clear(f, mm);
			free(mm->hist);
			free(mm);
		}
	}
	free(f->watch);
	PQfinish(f->pg_auth);
	free(f);
}
