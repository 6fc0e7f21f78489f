/* cp_fanout_lws: the lws service thread: masters and their history rings, sessions and
 * their queues, attachments (driven by cp_fanout_splice's rules), client messages, upgrade
 * auth, keep-alive, and one function per lws event (cb_decp dispatches).
 *
 * lws carries bytes only (its raw-socket role, with TLS for wss): the WebSocket protocol
 * is ours. Every byte a client sends goes through cp_ws_check_deliver (RFC 6455 checks,
 * then the handshake, unmasked payloads and control frames to the sink below); frames
 * out are written with cp_ws_frame_header into the headroom in front of each payload.
 * Design: cp_fanout_pvt.h. */
#include "cp_fanout_pvt.h"

#include <ev.h>
#include <openssl/sha.h>

#include "cp_fanout_json.h"
#include "cp_http.h"
#include "cp_fanout_poll.h"
#include "cp_poll_req.h"
#include "cp_fanout_range.h"
#include "cp_fanout_snap.h"
#include "cp_ws_check.h"
#include "guard_sub.h"
#include "cp_policy_msg.h"
#include "proto_msg.h"
#include "proto_signal.h"

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
	m->hist = calloc(f->cfg.fanout_history, sizeof(*m->hist));
	if (m->hist == NULL) {
		free(m);
		return NULL;
	}
	m->id = id;
	m->hnext = f->mbucket[id % MASTER_BUCKETS];
	f->mbucket[id % MASTER_BUCKETS] = m;
	if (f->tail) {
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
	m->armed = !f->tail;
	return m;
}

void cp_fo_master_hist_clear(struct cp_fanout *f, struct master *m)
{
	for (uint32_t i = 0; i < f->cfg.fanout_history; i++) {
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

/* Sessions by serial (f->stab): linear probing, deletion by backward shift, so a lookup
 * never meets a tombstone. At most fanout_max_conns live entries in a table of more than
 * twice that: probes stay short. */
static uint32_t stab_slot(const struct cp_fanout *f, uint64_t serial)
{
	return (uint32_t)(serial * 0x9e3779b97f4a7c15ull >> 32) & (f->stab_cap - 1);
}

static void stab_put(struct cp_fanout *f, struct sess *s)
{
	uint32_t i = stab_slot(f, s->serial);

	while (f->stab[i] != NULL)
		i = (i + 1) & (f->stab_cap - 1);
	f->stab[i] = s;
}

/* Add s, doubling the table first when it would be more than half full (sized by the
 * connections there are, not by fanout_max_conns). -ENOMEM leaves s out: its reports are
 * then stored but not acknowledged (the EA resends them; stored once). */
static int stab_add(struct cp_fanout *f, struct sess *s)
{
	if (2 * (f->stab_n + 1) > f->stab_cap) {
		struct sess **old = f->stab;
		uint32_t cap = f->stab_cap;
		struct sess **n = calloc((size_t)cap * 2, sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		f->stab = n;
		f->stab_cap = cap * 2;
		for (uint32_t i = 0; i < cap; i++)
			if (old[i] != NULL)
				stab_put(f, old[i]);
		free(old);
	}
	stab_put(f, s);
	f->stab_n++;
	return 0;
}

static struct sess *stab_find(struct cp_fanout *f, uint64_t serial)
{
	for (uint32_t i = stab_slot(f, serial); f->stab[i] != NULL; i = (i + 1) & (f->stab_cap - 1))
		if (f->stab[i]->serial == serial)
			return f->stab[i];
	return NULL;
}

static void stab_del(struct cp_fanout *f, const struct sess *s)
{
	uint32_t mask = f->stab_cap - 1, i = stab_slot(f, s->serial);

	while (f->stab[i] != NULL && f->stab[i] != s)
		i = (i + 1) & mask;
	if (f->stab[i] == NULL)
		return;
	f->stab[i] = NULL;
	f->stab_n--;
	/* move back every following entry of the run that may sit before its home slot */
	for (uint32_t j = (i + 1) & mask; f->stab[j] != NULL; j = (j + 1) & mask) {
		uint32_t home = stab_slot(f, f->stab[j]->serial);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			f->stab[i] = f->stab[j];
			f->stab[j] = NULL;
			i = j;
		}
	}
}

static void sess_wake(struct sess *s)
{
	lws_callback_on_writable(s->wsi);
}

/* Queue m (takes a reference). reserve: slots that must stay free afterwards; replay:
 * an envelope sent by a replay (its stamp says so when it is written). */
static int sess_enqueue(struct sess *s, struct cp_fmsg *m, uint32_t reserve, bool replay)
{
	uint32_t cap = s->f->cfg.fanout_queue, at = (s->qhead + s->qcount) % cap;

	if (s->dead || s->closing)
		return -EPIPE;
	if (s->qcount + reserve >= cap)
		return -ENOBUFS;
	s->q[at] = cp_fmsg_ref(m);
	if (replay)
		s->qreplay[at >> 3] |= (uint8_t)(1u << (at & 7));
	else
		s->qreplay[at >> 3] &= (uint8_t)~(1u << (at & 7));
	s->qcount++;
	sess_wake(s);
	return 0;
}

static void sess_queue_clear(struct sess *s)
{
	uint32_t cap = s->f->cfg.fanout_queue;

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

void cp_fo_deliv_push(struct cp_fanout *f, uint64_t sub_id, uint64_t master,
		      const struct cp_deliv_run *run, bool polled)
{
	struct report *r;

	if (cp_fo_mq_len(&f->deliv_q) >= DELIV_QUEUE_MAX || (r = calloc(1, sizeof(*r))) == NULL) {
		cnt(&f->c_deliv_dropped);
		return;
	}
	r->r.kind = CP_REPORT_DELIVERY;
	r->r.sub_id = sub_id;
	r->r.master = master;
	r->r.live = run->live;
	r->r.late = run->late;
	r->r.polled = polled;
	r->r.seq = run->first;
	r->r.last_seq = run->last;
	r->r.time_ns = run->first_ns;
	r->r.last_ns = run->last_ns;
	cp_fo_mq_push(&f->deliv_q, r);
	cp_fo_mq_wake(&f->report_q); /* the db thread waits on report_q (cp_fanout_db.c) */
}

static void deliv_push(struct cp_fanout *f, const struct attach *a, const struct cp_deliv_run *run)
{
	cp_fo_deliv_push(f, a->sub_id, a->m->id, run, false);
}

/* The open run of a, if it grew since its last snapshot (before a report, at close). */
static void deliv_flush(struct cp_fanout *f, struct attach *a)
{
	struct cp_deliv_run run;

	if (cp_deliv_take(&a->deliv, &run))
		deliv_push(f, a, &run);
}

/* Envelope m goes to the socket now: stamp it for this connection with the clock read
 * here, at this write (cp_fmsg_stamp; the shared bytes are patched right before lws_write
 * copies or sends them), and record the send in a's delivery run (a NULL: the attachment
 * is gone, nothing to record). One clock read per write, not per publish or burst: the
 * stamp decides whose fault a stale signal is (PLATFORM_LATE_SEND, docs/guard.md), and a
 * stamp read before the writes to the subscribers ahead of this one (thousands of them,
 * or a preemption between them) would put our delay on the subscriber. */
static void sess_stamp(struct cp_fanout *f, struct attach *a, struct cp_fmsg *m, bool replay)
{
	struct cp_deliv_run out[2];
	int64_t t = now_ns();
	int n;

	cp_fmsg_stamp(m, t, replay);
	if (a == NULL)
		return;
	/* late: as the guard would attribute it with the default TTL (guard_check.c) */
	n = cp_deliv_sent(&a->deliv, m->seq, !replay,
			  m->arrival_ns > 0 && t - m->arrival_ns > GUARD_TTL_DEFAULT_NS / 2, t,
			  DELIV_SNAPSHOT_NS, out);
	for (int i = 0; i < n; i++)
		deliv_push(f, a, &out[i]);
}

/* Write one WebSocket frame of opcode whose payload p[0..len) has LWS_PRE bytes of
 * headroom before it (every cp_fmsg and our own buffers): the header goes there, and
 * header and payload leave in one lws_write (lws keeps what the socket did not take, so
 * a later frame never overtakes it). Returns lws_write's result (< 0: broken). */
static int ws_write(struct sess *s, unsigned int opcode, uint8_t *p, size_t len)
{
	uint8_t h[10];
	size_t hl = cp_ws_frame_header(h, opcode, len);

	memcpy(p - hl, h, hl);
	return lws_write(s->wsi, p - hl, hl + len, LWS_WRITE_RAW);
}

/* Our close frame (code, reason: may be NULL) goes out now: from here on nothing is
 * written on s (RFC 6455 §5.5.1: no data after a close frame), the queue is dropped, and
 * the connection ends when the peer answers with its own close (sink_control), after 2 s,
 * or when it hangs up. Publishes go on meanwhile. Returns what the callback returns to
 * lws: 0, or -1 when the socket is broken. */
static int sess_close_frame(struct sess *s, uint16_t code, const char *reason)
{
	uint8_t b[LWS_PRE + 125];
	size_t rl = reason != NULL ? strlen(reason) : 0;

	if (rl > 123)
		rl = 123;
	b[LWS_PRE] = (uint8_t)(code >> 8);
	b[LWS_PRE + 1] = (uint8_t)code;
	memcpy(b + LWS_PRE + 2, reason != NULL ? reason : "", rl);
	if (s->q != NULL)
		sess_queue_clear(s);
	s->closing = true;
	s->close_sent = true;
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
	return ws_write(s, 8, b + LWS_PRE, 2 + rl) < 0 ? -1 : 0;
}

/* Close the connection once lws has sent what it holds (the writeable callback). */
static void sess_hangup(struct sess *s)
{
	s->hangup = true;
	lws_callback_on_writable(s->wsi);
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2); /* a peer that does not read */
}

/* Write a live envelope at once, in the publishing pass, when nothing is queued before it
 * and lws holds no unsent bytes of this connection: one send(2), no writeable request and
 * no second trip through the event loop. lws_write() outside the writeable callback is
 * safe here: same thread, whole frames only, and a short write is kept by lws (then
 * lws_partial_buffered() is set and everything after it goes through the queue, whose
 * bound still decides when a reader is slow). Returns true when m was consumed. */
static bool sess_write_now(struct attach *a, struct cp_fmsg *m)
{
	struct sess *s = a->s;

	if (s->qcount != 0 || s->json || s->dead || s->closing || s->close_sent || s->peer_closing ||
	    s->ping_due || s->pong_due || s->hangup || lws_partial_buffered(s->wsi))
		return false;
	sess_stamp(s->f, a, m, false);
	if (ws_write(s, 2, cp_fmsg_payload(m), m->len) < 0) {
		/* broken connection: not ours to close from here, lws does it at once */
		s->closing = true;
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return true;
	}
	cnt(&s->f->c_delivered);
	return true;
}

/* Queue a control message (built here, one reference dropped after queueing). */
static void sess_send_ctl(struct sess *s, struct cp_fmsg *m)
{
	if (m == NULL)
		return;
	if (sess_enqueue(s, m, 0, false) == -ENOBUFS)
		sess_drop_slow(s);
	cp_fmsg_unref(m);
}

/* At most this many ReportAcks wait beside a session's full queue (8 bytes each); beyond,
 * one is dropped and counted: the report is durable, its EA resends it after a reconnect
 * and is answered again (stored once). The report budget bounds how fast they come. */
#define SESS_ACKS_MAX 65536

/* A ReportAck for s. Never a reason to drop the session as slow: a burst of them (an EA
 * resending a thousand unacknowledged reports after an outage, acknowledged by the db
 * thread in batches of up to 4,096) once filled fanout_queue and closed an honest,
 * reading session 4008, again at every reconnect. Acks take at most the queue's lower
 * half; the rest wait in s->acks and go out as the queue empties (sess_acks_flush). */
static void sess_ack(struct cp_fanout *f, struct sess *s, uint64_t report_id)
{
	struct cp_fmsg *m;

	/* the queue's upper half stays the envelopes': acks never make a live send overflow */
	if (s->nacks == 0 && s->qcount < f->cfg.fanout_queue / 2 &&
	    (m = cp_fmsg_report_ack(report_id)) != NULL) {
		int rc = sess_enqueue(s, m, 0, false);

		cp_fmsg_unref(m);
		if (rc != -ENOBUFS) {
			cnt(&f->c_reports_acked);
			return;
		}
	}
	if (s->nacks == s->acks_cap) {
		uint32_t cap = s->acks_cap ? 2 * s->acks_cap : 256;
		uint64_t *a = cap <= SESS_ACKS_MAX ? realloc(s->acks, cap * sizeof(*a)) : NULL;

		if (a == NULL) {
			cnt(&f->c_acks_dropped);
			return;
		}
		s->acks = a;
		s->acks_cap = cap;
	}
	s->acks[s->nacks++] = report_id;
	sess_wake(s);
}

/* The acks waiting in s->acks that fit the queue's free half, in their order. */
static void sess_acks_flush(struct cp_fanout *f, struct sess *s)
{
	uint32_t cap = f->cfg.fanout_queue, i = 0;

	while (i < s->nacks && s->qcount < cap / 2) {
		struct cp_fmsg *m = cp_fmsg_report_ack(s->acks[i]);

		if (m == NULL || sess_enqueue(s, m, 0, false) != 0) {
			cp_fmsg_unref(m);
			break;
		}
		cp_fmsg_unref(m);
		cnt(&f->c_reports_acked);
		i++;
	}
	memmove(s->acks, s->acks + i, (s->nacks - i) * sizeof(*s->acks));
	s->nacks -= i;
}

static void sess_close_after(struct sess *s, uint16_t code)
{
	s->closing = true;
	s->close_code = code;
	sess_wake(s);
}

/* Close s at once with code: whatever is queued is dropped (a revoked session gets nothing
 * more; a stopping server does not make its close wait behind a backlog), then `last`
 * (may be NULL; its reference is taken over) and the close frame go out. No-op when a
 * close is already under way (ours sent, the peer's, a keep-alive cut, a slow drop). */
static void sess_close_now(struct sess *s, uint16_t code, struct cp_fmsg *last)
{
	if (s->q == NULL || s->close_sent || s->peer_closing || s->ka_cut || s->dead) {
		cp_fmsg_unref(last);
		return;
	}
	sess_queue_clear(s);
	s->closing = false;
	sess_send_ctl(s, last);
	sess_close_after(s, code);
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

/* The cause a StateChange old -> new names: a re-sync's two edges (sql 0021) by their own
 * causes, a lock by its state's, a return to delivering by the state left. */
static Decp__StateChange__Cause change_cause(Decp__SubscriptionState old,
					     Decp__SubscriptionState new_state)
{
	if (new_state == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP)
		return DECP__STATE_CHANGE__CAUSE__CAUSE_SEQUENCE_GAP;
	if (old == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP &&
	    new_state == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED)
		return DECP__STATE_CHANGE__CAUSE__CAUSE_SYNC_COMPLETED;
	return state_cause(state_delivers(new_state) ? old : new_state);
}

Decp__SubscriptionState cp_fo_state_parse(const char *s)
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
	r->from = a->sp.next;
	r->count = room < REPLAY_CHUNK ? room : REPLAY_CHUNK;
	cp_splice_request(&a->sp);
	cp_fo_mq_push(&f->replay_req, r);
}

static void attach_go_live(struct attach *a)
{
	cp_splice_go_live(&a->sp);
	sess_send_ctl(a->s, cp_fmsg_sync_end(a->m->id, a->sp.next - 1));
}

/* Move an attachment in REPLAY forward as far as its queue allows. */
static void attach_pump(struct cp_fanout *f, struct attach *a)
{
	struct sess *s = a->s;
	struct master *m = a->m;

	while (a->sp.mode == CP_SPLICE_REPLAY && !a->sp.pending && !s->dead) {
		uint32_t room = f->cfg.fanout_queue - QUEUE_RESERVE - s->qcount;

		if (s->qcount + QUEUE_RESERVE >= f->cfg.fanout_queue)
			return; /* resumed from the writeable callback */
		switch (cp_splice_pump_step(&a->sp, master_in_hist(m, a->sp.next), m->last_seq)) {
		case CP_SPLICE_FROM_HISTORY:
			while (a->sp.next <= m->last_seq &&
			       sess_enqueue(s, m->hist[a->sp.next % f->cfg.fanout_history],
					    QUEUE_RESERVE, true) == 0)
				cp_splice_sent(&a->sp);
			if (a->sp.next > m->last_seq)
				attach_go_live(a);
			return;
		case CP_SPLICE_GO_LIVE:
			/* the tail has not read the stream's end yet: what it skips before
			 * its start would reach this attachment by no way at all (master_arm
			 * pumps it again) */
			if (m->armed)
				attach_go_live(a);
			return;
		case CP_SPLICE_REQUEST:
			attach_request(f, a, room);
			break;
		}
	}
}

static void attach_start_replay(struct cp_fanout *f, struct attach *a, uint64_t from)
{
	cp_splice_start(&a->sp, from);
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
	if (a->sp.pending)
		a->s = NULL; /* the reply frees it */
	else
		free(a);
}

/* Take attachment a off its session and its master (lws thread); freed at once unless a
 * chunk is pending (then the reply frees it). */
static void attach_detach(struct attach *a)
{
	for (struct attach **pp = &a->s->att; *pp != NULL; pp = &(*pp)->s_next)
		if (*pp == a) {
			*pp = a->s_next;
			break;
		}
	attach_free(a);
}

/*
 * The sequences from `next` on are no longer in Redis (trimmed by the archiver, or missing):
 * the replay ends here, with Error{CODE_RANGE} naming the first sequence still deliverable
 * (cp_range_message), and the attachment is dropped so that a new Subscribe on the same
 * connection starts afresh (docs/fanout.md "Resume from before the retained range"). This
 * is the one place a lost range is answered: re-sync by snapshot replaces the answer here.
 */
static void attach_range_lost(struct cp_fanout *f, struct attach *a, uint64_t first_avail)
{
	char msg[160];

	cnt(&f->c_range_lost);
	cp_range_message(msg, sizeof(msg), a->m->id, a->sp.next, first_avail);
	sess_send_ctl(a->s, cp_fmsg_error(DECP__ERROR__CODE__CODE_RANGE, msg));
	attach_detach(a);
}

/* ------------------------------------------------------- lws thread: re-sync by snapshot -- */

/* Ask the replay thread for the master's book at its stream's end instead of a chunk
 * (cp_fanout_snap.h): the attachment is a REPLAY with its request pending meanwhile, so
 * neither live publishes nor the pump send it anything until the reply. */
static void attach_start_snapshot(struct cp_fanout *f, struct attach *a, uint64_t from,
				  Decp__SnapshotBegin__Reason reason)
{
	struct replay_msg *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		sess_send_ctl(a->s, cp_fmsg_error(DECP__ERROR__CODE__CODE_INTERNAL, "out of memory"));
		attach_detach(a);
		return;
	}
	cp_splice_start(&a->sp, from);
	r->a = a;
	r->master = a->m->id;
	r->from = from;
	r->snap = true;
	r->snap_reason = reason;
	r->sub_id = a->sub_id;
	cp_splice_request(&a->sp);
	cp_fo_mq_push(&f->replay_req, r);
}

static void resync_push(struct cp_fanout *f, uint64_t sub_id, uint64_t seq, bool done)
{
	struct resync_ev *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return; /* the state stays as it is; delivery does not depend on it */
	e->sub_id = sub_id;
	e->seq = seq;
	e->done = done;
	cp_fo_mq_push(&f->resync_q, e);
}

/* A re-sync's state edge as the session sees it, told at once (StateChange before the
 * snapshot, and at its ResyncDone) rather than by the state poll, which may see neither
 * edge when both land between two polls; the session's row follows, so the poll's view of
 * the same change (sql 0021's write) is no news. The authentication cache takes it at
 * once too: a connection cut after its snapshot, before its ResyncDone arrived, reconnects
 * in milliseconds, and its next Subscribe must find the subscription DEGRADED_GAP (and be
 * answered by a snapshot, whatever its resume point), not the SYNCED that the cache held
 * until the poll brought the edge back from PostgreSQL (up to fanout_state_poll_ms later):
 * such a Subscribe was replayed and the subscription stayed DEGRADED_GAP. Only from
 * `from`: a subscription in another state is not moved (nor is it by
 * subscription_resync). */
static void resync_state(struct cp_fanout *f, struct attach *a, Decp__SubscriptionState from,
			 Decp__SubscriptionState to, Decp__StateChange__Cause cause)
{
	struct subrow *row = sess_subrow(a->s, a->m->id);

	if (row == NULL || row->state != from)
		return;
	row->state = to;
	cp_fo_auth_state_set(&f->auth, row->id, a->s->subscriber_id, to);
	sess_send_ctl(a->s, cp_fmsg_state_change(row->id, a->m->id, from, to, cause, now_ns()));
}

/* The snapshot arrived: Begin, Parts, End, then SyncStart{S + 1} and the replay (fresh: it
 * holds only what was published while the book was read) and live. The subscription is
 * DEGRADED_GAP until its ResyncDone. A snapshot that cannot be used falls back: a lost
 * range is answered as without snapshots, a stale replay is replayed after all. */
static void attach_snapshot_reply(struct cp_fanout *f, struct attach *a, struct replay_msg *r)
{
	struct sess *s = a->s;
	uint64_t from = a->sp.next;

	if (r->err == 0 && (r->snap_seq + 1 < from ||
			    s->qcount + (uint64_t)r->snap_n + QUEUE_RESERVE >= f->cfg.fanout_queue))
		r->err = -ENOSPC; /* older than asked (cannot happen from Redis), or too large */
	if (r->err != 0) {
		cnt(&f->c_snap_failed);
		CP_LOG_RL(CP_LOG_WARN, ROLE, "subscription %" PRIu64 ": no snapshot of master %"
			  PRIu64 " (%s)", a->sub_id, a->m->id, strerror(-r->err));
		if (r->snap_reason == DECP__SNAPSHOT_BEGIN__REASON__REASON_RANGE)
			attach_range_lost(f, a, r->first);
		else
			attach_start_replay(f, a, from);
		return;
	}
	resync_state(f, a, DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED,
		     DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP,
		     DECP__STATE_CHANGE__CAUSE__CAUSE_SEQUENCE_GAP);
	for (long i = 0; i < r->snap_n; i++)
		sess_send_ctl(s, r->snap_msgs[i]); /* takes the reference */
	r->snap_n = 0;
	cnt(&f->c_snapshots);
	if (!a->resyncing)
		resync_push(f, a->sub_id, r->snap_seq, false);
	a->resyncing = true;
	a->resync_seq = r->snap_seq;
	attach_start_replay(f, a, r->snap_seq + 1);
}

/* Would a replay of m from `from` hand the subscriber stale envelopes (cp_snap_wanted)? A
 * process that has not seen the master's stream yet (last_seq 0: a restarted fan-out)
 * cannot tell how old Redis's entries are: the snapshot is the safe answer. */
static bool snapshot_due(const struct cp_fanout *f, const struct master *m, uint64_t from)
{
	bool in_hist = master_in_hist(m, from);
	int64_t arrival = in_hist ? m->hist[from % f->cfg.fanout_history]->arrival_ns : 0;

	return from != 0 && (m->last_seq == 0 ||
			     cp_snap_wanted(from, m->last_seq, in_hist, arrival, now_ns(),
					    CP_SNAP_STALE_NS));
}

/* A held attachment delivers again (the subscription's state came back): the replay from
 * `next`, or the snapshot when it asked for them and the replay would be stale. */
static void attach_resume(struct cp_fanout *f, struct attach *a)
{
	if (a->snap_ok && snapshot_due(f, a->m, a->sp.next))
		attach_start_snapshot(f, a, a->sp.next, DECP__SNAPSHOT_BEGIN__REASON__REASON_STALE);
	else
		attach_start_replay(f, a, a->sp.next);
}

/* ResyncDone{master, sequence}: accepted only for the snapshot last sent on this
 * connection; then DEGRADED_GAP -> SYNCED is written (sql 0021). */
static void on_resync_done(struct cp_fanout *f, struct sess *s, const Decp__ResyncDone *d)
{
	struct attach *a = sess_attach_of(s, d->master_id);

	if (a == NULL || !a->resyncing || d->sequence != a->resync_seq) {
		cnt(&f->c_malformed);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_PROTOCOL,
					       "ResyncDone without that snapshot"));
		return;
	}
	cnt(&f->c_resync_done);
	CP_LOG_RL(CP_LOG_INFO, ROLE, "subscription %" PRIu64 " re-synced at master %" PRIu64
		  " sequence %" PRIu64 ": opened %" PRIu32 " closed %" PRIu32 " reduced %" PRIu32
		  " modified %" PRIu32 " skipped %" PRIu32, a->sub_id, d->master_id, d->sequence,
		  d->opened, d->closed, d->reduced, d->modified, d->skipped);
	resync_state(f, a, DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP,
		     DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_SYNCED,
		     DECP__STATE_CHANGE__CAUSE__CAUSE_SYNC_COMPLETED);
	resync_push(f, a->sub_id, d->sequence, true);
	a->resyncing = false;
}

static void on_replay_reply(struct cp_fanout *f, struct replay_msg *r)
{
	struct attach *a = r->a;

	if (r->poll != NULL) {
		cp_fo_poll_on_reply(f, r);
		return;
	}
	if (a->s == NULL) { /* the session closed while the chunk was read */
		free(a);
		goto out;
	}
	switch (cp_splice_on_reply(&a->sp)) {
	case CP_SPLICE_START_REPLAY: /* held while read, deliverable again since */
		attach_resume(f, a);
		goto out;
	case CP_SPLICE_DROP_CHUNK:   /* held while the chunk was read: it is not sent */
		goto out;
	default:
		break;
	}
	if (r->snap) {
		attach_snapshot_reply(f, a, r);
		goto out;
	}
	if (r->err != 0) {
		/* Redis unavailable: retry later from the writeable callback */
		sess_wake(a->s);
		goto out;
	}
	{
		struct cp_range_chunk rc = {.next = a->sp.next, .first_seq = r->first,
					    .end = r->end, .last_seq = a->m->last_seq,
					    .hist_first = a->m->hist_first, .dry = a->dry};
		uint64_t first_avail = 0;

		switch (cp_range_check(&rc, &first_avail)) {
		case CP_RANGE_LOST:
			if (a->snap_ok)
				attach_start_snapshot(f, a, a->sp.next,
						      DECP__SNAPSHOT_BEGIN__REASON__REASON_RANGE);
			else
				attach_range_lost(f, a, first_avail);
			goto out;
		case CP_RANGE_RETRY:
			a->dry++;
			break;
		case CP_RANGE_TAKE:
			a->dry = 0;
			break;
		}
	}
	/* whole: every entry of the chunk was taken, so its `end` is the stream's end; a chunk
	 * cut short (a hole, or no room) is not, and the next read starts at the cut */
	bool whole = true;
	for (uint32_t i = 0; i < r->n && whole; i++) {
		struct cp_fmsg *m = r->msgs[i];

		enum cp_splice_order o = cp_splice_order(&a->sp, m->seq);

		if (o == CP_SPLICE_OLD)
			continue;
		/* a hole (missing entries): the read from the hole proves it (cp_fanout_range) */
		if (o == CP_SPLICE_GAP || sess_enqueue(a->s, m, QUEUE_RESERVE, true) != 0) {
			whole = false;
			break;
		}
		cp_splice_sent(&a->sp);
	}
	cp_splice_chunk_end(&a->sp, r->end && whole);
	attach_pump(f, a);
out:
	cp_fo_replay_msg_free(r);
}

/* The tail's start mark for m: it reads m's stream after `last`. Replays waiting for it
 * go on: up to `last` from Redis (m->last_seq says where the stream ended), then live;
 * live-only Subscribes waiting for it go live after `last` (their SyncEnd). */
static void master_arm(struct cp_fanout *f, struct master *m, uint64_t last)
{
	if (m->armed)
		return;
	m->armed = true;
	if (m->last_seq == 0)
		m->last_seq = last; /* nothing published yet; the history stays empty */
	if (m->pollers != NULL && m->last_seq != 0)
		cp_fo_poll_published(f, m); /* parked at the unknown end: read Redis to it */
	for (struct attach *a = m->subs; a != NULL; a = a->m_next) {
		if (a->s->dead)
			continue;
		/* NEW after its Subscribe: only a live-only one waiting for this mark (every
		 * other Subscribe leaves NEW: HELD, REPLAY or LIVE) */
		if (a->sp.mode == CP_SPLICE_NEW) {
			cp_splice_live_only(&a->sp, m->last_seq);
			sess_send_ctl(a->s, cp_fmsg_sync_end(m->id, m->last_seq));
		} else if (a->sp.mode == CP_SPLICE_REPLAY) {
			attach_pump(f, a);
		}
	}
}

/* direct: write at once where the queue is empty (sess_write_now); false when the lws
 * thread is behind, so that draining the publish ring stays a pointer store per
 * subscriber and the writeable callbacks do the writing. */
static void master_publish(struct cp_fanout *f, struct cp_fmsg *msg, bool direct)
{
	struct master *m = master_get(f, msg->master);
	uint64_t seq = msg->seq;
	struct attach *a, *nx;

	if (m == NULL)
		return;
	if (cp_fmsg_is_mark(msg)) {
		master_arm(f, m, seq);
		return;
	}
	if (m->last_seq != 0 && seq <= m->last_seq)
		return; /* already published (tail restart): idempotent */
	if (m->last_seq == 0 || seq != m->last_seq + 1)
		cp_fo_master_hist_clear(f, m); /* history holds a contiguous run only */
	if (m->hist_first != 0 && seq - m->hist_first >= f->cfg.fanout_history) {
		cp_fmsg_unref(m->hist[m->hist_first % f->cfg.fanout_history]);
		m->hist[m->hist_first % f->cfg.fanout_history] = NULL;
		m->hist_first++;
	}
	m->hist[seq % f->cfg.fanout_history] = cp_fmsg_ref(msg);
	if (m->hist_first == 0)
		m->hist_first = seq;
	m->last_seq = seq;
	if (m->pollers != NULL)
		cp_fo_poll_published(f, m); /* answered at the end of this pass */

	for (a = m->subs; a != NULL; a = nx) {
		nx = a->m_next;
		if (a->sp.mode != CP_SPLICE_LIVE || a->s->dead)
			continue;
		switch (cp_splice_on_publish(&a->sp, seq)) {
		case CP_SPLICE_OLD:
			continue;
		case CP_SPLICE_GAP: /* missed one (publish ring overflow): heal by replay */
			attach_pump(f, a);
			continue;
		case CP_SPLICE_SEND:
			break;
		}
		if (!direct || !sess_write_now(a, msg)) {
			int rc = sess_enqueue(a->s, msg, QUEUE_RESERVE, false);

			if (rc == -ENOBUFS)
				sess_drop_slow(a->s);
			if (rc != 0)
				continue; /* dropped, or closing: nothing more is sent */
		}
		cp_splice_sent(&a->sp);
	}
}

/* ---------------------------------------------------------------- lws thread: messages -- */

/* The subscription's CopyPolicy goes out on every Subscribe, ahead of SyncStart or
 * StateChange, so the guard applies it before the first envelope (issue 19). The session
 * took it from the authentication cache at the upgrade; later versions arrive from the
 * policy thread (on_policy_ev) and the db thread's state poll. A subscription whose policy
 * could not be built has none: the EA keeps the policy it holds. */
static void sess_send_policy(struct cp_fanout *f, struct sess *s, struct subrow *row)
{
	if (row->policy != NULL) {
		cnt(&f->c_policies_sent);
		sess_send_ctl(s, cp_fmsg_ref(row->policy));
	}
}

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
		cp_splice_init(&a->sp);
		a->s_next = s->att;
		s->att = a;
		a->m_next = m->subs;
		if (m->subs != NULL)
			m->subs->m_prev = a;
		m->subs = a;
	} else if (a->sp.pending) {
		/* a re-subscribe during a replay: let the pending chunk land, then restart */
		cnt(&f->c_malformed);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_PROTOCOL,
					       "subscribe while a replay is running"));
		return;
	}
	m = a->m;
	a->snap_ok = sub->snapshot;
	if (m->key_ann != NULL) {
		/* before any envelope: the new key may sign what the replay or live part holds */
		sess_send_ctl(s, cp_fmsg_ref(m->key_ann));
		cnt(&f->c_keys_sent);
	}
	sess_send_policy(f, s, row);
	if (!state_delivers(row->state)) {
		cp_splice_hold(&a->sp, sub->from_sequence, m->last_seq);
		sess_send_ctl(s, cp_fmsg_state_change(row->id, m->id, row->state, row->state,
						      state_cause(row->state), now_ns()));
		return;
	}
	if (sub->from_sequence == 0) {
		/* live only. Fed by the edge, last_seq 0 = nothing published since this
		 * process started: take whatever is published next. Tailing Redis, SyncEnd
		 * waits for the tail's start mark: live from where the tail reads on */
		sess_send_ctl(s, cp_fmsg_sync_start(m->id, 0, m->last_seq));
		if (!m->armed && a->sp.mode == CP_SPLICE_NEW)
			return; /* stays NEW: master_arm makes it live where the tail starts */
		cp_splice_live_only(&a->sp, m->last_seq);
		sess_send_ctl(s, cp_fmsg_sync_end(m->id, m->last_seq));
		return;
	}
	/* DEGRADED_GAP: a re-sync is owed (its ResyncDone never arrived, the connection was
	 * lost first): the seed's "awaiting full sync" is this snapshot, whatever the resume */
	if (sub->snapshot &&
	    (row->state == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_DEGRADED_GAP ||
	     snapshot_due(f, m, sub->from_sequence))) {
		attach_start_snapshot(f, a, sub->from_sequence,
				      DECP__SNAPSHOT_BEGIN__REASON__REASON_STALE);
		return;
	}
	attach_start_replay(f, a, sub->from_sequence);
}

static void sess_malformed(struct cp_fanout *f, struct sess *s);
static void sess_msg_budget(struct cp_fanout *f, struct sess *s);
static void sess_refuse(struct cp_fanout *f, struct sess *s, const char *why);

/* The OrderType of master m's signal seq as its history holds it, 0 when it is not there
 * (or does not decode). Called for reports that carry a realized profit only. */
static int master_hist_type(const struct master *m, uint64_t seq, size_t hcap)
{
	const struct cp_fmsg *msg;
	Decp__ServerMessage *sm;
	Decp__Signal *sg;
	int t = 0;

	if (m == NULL || !master_in_hist(m, seq) || (msg = m->hist[seq % hcap]) == NULL)
		return 0;
	sm = decp__server_message__unpack(NULL, msg->len, msg->data + LWS_PRE);
	if (sm == NULL)
		return 0;
	if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_ENVELOPE && sm->envelope->signal != NULL &&
	    (sg = proto_signal_decode(sm->envelope->signal->body.data,
				      sm->envelope->signal->body.len, NULL)) != NULL) {
		t = sg->order_type;
		proto_msg_free(&sg->base, NULL);
	}
	decp__server_message__free_unpacked(sm, NULL);
	return t;
}

static void on_report(struct cp_fanout *f, struct sess *s, const Decp__ClientMessage *cm)
{
	struct report *r;
	uint64_t master = cm->kind_case == DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT
				  ? cm->execution_report->master_id
				  : cm->protection_event->master_id;
	struct subrow *row = sess_subrow(s, master);
	struct attach *a = sess_attach_of(s, master);

	if (row == NULL) {
		cnt(&f->c_sub_refused);
		sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_FORBIDDEN,
					       "report for a master without subscription"));
		return;
	}
	/* An execution names a signal the master sent: beyond the last this process has seen
	 * published it is refused like an undecodable message (docs/security.md "Execution
	 * reports"). A master it has not seen (0) is bounded at store time by the archive. */
	if (cm->kind_case == DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT) {
		const struct master *m = master_find(f, master);

		if (m != NULL && m->last_seq != 0 && cm->execution_report->sequence > m->last_seq) {
			char why[120];

			snprintf(why, sizeof(why), "report names sequence %" PRIu64 " beyond master %"
				 PRIu64 "'s last %" PRIu64, cm->execution_report->sequence, master,
				 m->last_seq);
			sess_refuse(f, s, why);
			return;
		}
	}
	/* what this connection sent reaches the database before the report naming it */
	if (a != NULL)
		deliv_flush(f, a);
	if (cp_fo_mq_len(&f->report_q) >= REPORT_QUEUE_MAX || (r = calloc(1, sizeof(*r))) == NULL) {
		cnt(&f->c_reports_dropped);
		return;
	}
	/* identities come from the authenticated session, never from the client's fields */
	r->sess = s->serial;
	r->r.subscriber = s->subscriber_id;
	r->r.sub_id = row->id;
	r->r.master = master;
	if (cm->kind_case == DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT) {
		const Decp__ExecutionReport *x = cm->execution_report;

		r->r.kind = CP_REPORT_EXECUTION;
		r->r.seq = x->sequence;
		r->r.time_ns = x->exec_time_ns;
		r->r.status = x->status;
		r->r.ticket = x->broker_ticket;
		r->r.volume = x->volume;
		r->r.price = x->price;
		r->r.realized_profit = x->realized_profit;
		r->r.report_id = x->report_id;
		{
			const struct master *m = master_find(f, master);

			/* the bound at store time, and whether the signal closes (sql 0033) */
			r->r.last_seq = m != NULL ? m->last_seq : 0;
			if (x->realized_profit != 0)
				r->r.sig_type = master_hist_type(m, x->sequence, f->cfg.fanout_history);
		}
	} else {
		const Decp__ProtectionEvent *e = cm->protection_event;

		r->r.kind = CP_REPORT_PROTECTION;
		r->r.seq = e->sequence;
		r->r.reason = e->reason;
		r->r.attribution = e->attribution;
		r->r.age_ns = e->age_ns;
		r->r.dev_x100 = e->price_deviation_pips_x100;
		r->r.time_ns = e->event_time_ns;
		r->r.report_id = e->report_id;
		if (e->detail != NULL)
			cp_report_set_detail(&r->r, e->detail, strlen(e->detail));
	}
	/* a value the database cannot hold would fail every batch it is in, for everyone */
	if (!cp_report_fit(&r->r)) {
		free(r);
		sess_malformed(f, s);
		return;
	}
	cp_fo_mq_push(&f->report_q, r);
}

/* The subscriber's broker account (issue 19): counted, kept on the session (the last one)
 * and logged (rate-limited). Informational: the guard acts on it on the EA's side; the
 * identity is the session's. */
static void on_account(struct cp_fanout *f, struct sess *s, const Decp__AccountState *as)
{
	cnt(&f->c_accounts);
	s->acct_at_ns = now_ns();
	s->acct_equity = as->equity;
	s->acct_free_margin = as->free_margin;
	s->acct_positions = as->position_count;
	CP_LOG_RL(CP_LOG_INFO, ROLE, "account of subscriber %" PRIu64 ": %s balance %" PRId64
		  " equity %" PRId64 " margin %" PRId64 " free %" PRId64 " (1e-4), 1:%" PRIu32
		  ", %" PRIu32 " positions", s->subscriber_id, as->currency ? as->currency : "",
		  as->balance, as->equity, as->margin, as->free_margin, as->leverage,
		  as->position_count);
}

static void sess_malformed(struct cp_fanout *f, struct sess *s)
{
	sess_refuse(f, s, "undecodable ClientMessage");
}

/* Error{MALFORMED, why}, then close 4002 (docs/fanout.md "Close codes"). */
static void sess_refuse(struct cp_fanout *f, struct sess *s, const char *why)
{
	cnt(&f->c_malformed);
	sess_send_ctl(s, cp_fmsg_error(DECP__ERROR__CODE__CODE_MALFORMED, why));
	sess_close_after(s, CP_FANOUT_CLOSE_MALFORMED);
}

static int on_message(struct cp_fanout *f, struct sess *s, const uint8_t *p, size_t len,
		      int64_t recv_ns)
{
	Decp__ClientMessage *cm = proto_client_message_decode(p, len, NULL);

	if (cm == NULL) {
		if (!s->dead)
			sess_malformed(f, s);
		return 0;
	}
	/* a session dropped as slow still stores the reports already on their way; it
	 * answers nothing else */
	if (s->dead && cm->kind_case != DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT &&
	    cm->kind_case != DECP__CLIENT_MESSAGE__KIND_PROTECTION_EVENT) {
		proto_msg_free(&cm->base, NULL);
		return 0;
	}
	switch (cm->kind_case) {
	case DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE:
		on_subscribe(f, s, cm->subscribe);
		break;
	case DECP__CLIENT_MESSAGE__KIND_TIME_PING: {
		Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
		Decp__TimePong pong = DECP__TIME_PONG__INIT;

		sess_msg_budget(f, s); /* answered, and counted against the subscriber */
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
		sess_msg_budget(f, s); /* taken whatever it says: it may pause the reads */
		on_report(f, s, cm);
		break;
	case DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE:
		sess_msg_budget(f, s);
		on_account(f, s, cm->account_state);
		break;
	case DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE:
		on_resync_done(f, s, cm->resync_done);
		break;
	default:
		break;
	}
	proto_msg_free(&cm->base, NULL);
	return 0;
}

/* ---------------------------------------------------------------- lws thread: auth -- */

/* Token from "Authorization: Bearer <t>" or "?token=<t>" of the upgrade request. Returns
 * its length or 0. */
static size_t token_of(const char *req, size_t len, char *buf, size_t cap)
{
	char h[512];
	int n = cp_ws_head_value(req, len, "authorization", h, sizeof(h));

	if (n > 7 && strncasecmp(h, "Bearer ", 7) == 0) {
		size_t l = (size_t)n - 7;

		if (l >= cap)
			return 0; /* longer than any token we issue */
		memcpy(buf, h + 7, l + 1);
		return l;
	}
	n = cp_ws_query_value(req, len, "token", buf, cap);
	return n > 0 ? (size_t)n : 0;
}

/* "?format=json" in the upgrade request: the debug mode (docs/fanout.md). */
static bool sess_wants_json(const char *req, size_t len)
{
	char v[8];

	return cp_ws_query_value(req, len, "format", v, sizeof(v)) == 4 && strcmp(v, "json") == 0;
}

/* The upgrade's token and subscriptions, from the authentication cache (cp_fanout_auth.h):
 * no query on this thread. -EACCES for a token the cache does not hold as valid now. */
static int sess_auth(struct cp_fanout *f, struct sess *s, const char *req, size_t len)
{
	char tok[256];
	unsigned char dig[SHA256_DIGEST_LENGTH];
	const struct cp_fo_auth_sub **rows = NULL;
	const struct cp_fo_auth_tok *t;
	size_t tl = token_of(req, len, tok, sizeof(tok)), n;

	if (tl == 0)
		return -EACCES;
	SHA256((const unsigned char *)tok, tl, dig);
	OPENSSL_cleanse(tok, sizeof(tok));
	if ((t = cp_fo_auth_token(&f->auth, dig, now_ns() / 1000)) == NULL)
		return -EACCES;
	s->subscriber_id = t->subscriber;
	s->token_id = t->token_id;
	memcpy(s->token_sha256, dig, sizeof(s->token_sha256));
	/* all of them: a subscription left out would be refused FORBIDDEN although live */
	n = cp_fo_auth_subs_count(&f->auth, t->subscriber);
	s->nsubs = 0;
	if (n > 0) {
		rows = malloc(n * sizeof(*rows));
		s->subs = calloc(n, sizeof(*s->subs));
		if (rows == NULL || s->subs == NULL) {
			free(rows);
			free(s->subs);
			s->subs = NULL;
			return -ENOMEM;
		}
		n = cp_fo_auth_subs_of(&f->auth, t->subscriber, rows, n);
	}
	for (size_t i = 0; i < n; i++) {
		struct subrow *row = &s->subs[s->nsubs++];

		row->id = rows[i]->id;
		row->master = rows[i]->master;
		row->state = rows[i]->state;
		row->policy = rows[i]->policy != NULL ? cp_fmsg_ref(rows[i]->policy) : NULL;
		row->policy_version = rows[i]->policy_version;
	}
	free(rows);
	return 0;
}

/* ---------------------------------------------------------------- lws thread: keep-alive -- */

/* Dead-peer detection without lws's validity policy (which re-inserts a timer into a
 * sorted list per connection: O(connections) each time). Every session records when its
 * peer last sent anything (any frame, pongs included). A sweep visits every session once
 * per quarter of the shorter period, a slice per KA_TICK_US tick (so no tick stalls
 * deliveries for long): it marks a ping due after keepalive_ms of silence and cuts the
 * connection keepalive_timeout_ms after that if still nothing came. The hang-up clock
 * starts when the ping is due, not when it is written, so a peer that stopped reading
 * (the ping never leaves our queue) is cut as well. */
#define KA_TICK_US 50000u

static uint64_t ka_period_us(const struct cp_fanout *f)
{
	uint32_t idle = f->cfg.fanout_keepalive_ms, grace = f->cfg.fanout_keepalive_timeout_ms;
	uint32_t ms = idle < grace ? idle : grace;

	return ms >= 40 ? (uint64_t)ms * 250 : 10000; /* ms / 4, in us */
}

static void ka_check(struct cp_fanout *f, struct sess *s, int64_t now)
{
	int64_t idle = (int64_t)f->cfg.fanout_keepalive_ms * 1000000,
		grace = (int64_t)f->cfg.fanout_keepalive_timeout_ms * 1000000;

	if (s->ka_cut || s->rep_paused) /* paused: we are the ones not reading its answer */
		return;
	if (s->ping_at_ns != 0 && now - s->ping_at_ns >= grace) {
		/* Cut, no close handshake (lws would wait for an answer the peer cannot give):
		 * the shutdown makes the socket read end-of-stream, and lws closes it and frees
		 * the session in this loop's next turn. */
		cnt(&f->c_ka_closed);
		s->ka_cut = true;
		s->closing = true;
		shutdown((int)lws_get_socket_fd(s->wsi), SHUT_RDWR);
	} else if (s->ping_at_ns == 0 && now - s->last_rx_ns >= idle) {
		s->ping_at_ns = now;
		s->ping_due = true;
		sess_wake(s);
	}
}

/* The open delivery runs of s that stopped growing over DELIV_SNAPSHOT_NS ago and were
 * never snapshotted since: a send is otherwise recorded only by the next send, a report
 * on this connection or its close. A master gone quiet left its last sends in memory for
 * as long as the connection lived: a report of them through the api (no ordering with
 * this connection) found nothing on record, so the platform's late send was scored as the
 * subscriber's and an execution never credited, and a crash lost them. Visited with the
 * keep-alive slice: each session every ka_period_us. */
static void deliv_idle_flush(struct cp_fanout *f, struct sess *s)
{
	int64_t now = now_ns();

	for (struct attach *a = s->att; a != NULL; a = a->s_next)
		if (a->deliv.dirty && now - a->deliv.open.last_ns >= DELIV_SNAPSHOT_NS)
			deliv_flush(f, a);
}

static void ka_sweep(lws_sorted_usec_list_t *sul)
{
	struct cp_fanout *f = lws_container_of(sul, struct cp_fanout, ka_sul);
	uint64_t period = ka_period_us(f), tick = period < KA_TICK_US ? period : KA_TICK_US;
	uint64_t live = atomic_load_explicit(&f->c_live, memory_order_relaxed);
	uint64_t n = live * tick / period + 1;
	int64_t now = mono_ns();

	for (n = n < live ? n : live; n > 0; n--) {
		struct sess *s = f->ka_cursor != NULL ? f->ka_cursor : f->all;

		if (s == NULL)
			break;
		f->ka_cursor = s->next_all; /* NULL: the next slice starts over */
		deliv_idle_flush(f, s);
		ka_check(f, s, now);
	}
	lws_sul_schedule(f->ctx, 0, &f->ka_sul, ka_sweep, (lws_usec_t)tick);
}

static void sess_heard(struct sess *s)
{
	s->last_rx_ns = mono_ns();
	s->ping_at_ns = 0;
}

/* ---------------------------------------------------------------- lws thread: events -- */

static struct sess *subscriber_sessions(struct cp_fanout *f, uint64_t subscriber);

/* Token token_id of subscriber stopped being valid (revoked, expired, or its subscriber
 * disabled; the db thread's revocation check): every live session it authenticated is told
 * Error{UNAUTHENTICATED} and closed with CP_FANOUT_CLOSE_REVOKED, its queue dropped. */
static void on_token_revoked(struct cp_fanout *f, uint64_t token_id, uint64_t subscriber)
{
	for (struct sess *s = subscriber_sessions(f, subscriber); s != NULL; s = s->sub_next) {
		if (s->token_id != token_id || s->closing || s->close_sent)
			continue;
		cnt(&f->c_revoked);
		sess_close_now(s, CP_FANOUT_CLOSE_REVOKED,
			       cp_fmsg_error(DECP__ERROR__CODE__CODE_UNAUTHENTICATED,
					     "token revoked or expired, or subscriber disabled"));
	}
}

static void on_policy_ev(struct cp_fanout *f, const struct policy_ev *ev);

static void on_state_ev(struct cp_fanout *f, const struct state_ev *ev)
{
	if (ev->revoked_token != 0) {
		on_token_revoked(f, ev->revoked_token, ev->subscriber);
		return;
	}
	if (ev->toks != NULL || ev->subs != NULL) {
		if ((ev->toks != NULL && cp_fo_auth_tokens_replace(&f->auth, ev->toks, ev->ntoks)) ||
		    (ev->subs != NULL && cp_fo_auth_subs_replace(&f->auth, ev->subs, ev->nsubs)))
			CP_LOG_RL(CP_LOG_WARN, ROLE, "authentication cache not renewed: out of memory");
		return;
	}
	{
		struct cp_fo_auth_sub row = {.id = ev->sub_id, .master = ev->master,
					     .subscriber = ev->subscriber, .state = ev->state,
					     .policy = ev->policy,
					     .policy_version = ev->policy_version};

		if (cp_fo_auth_sub_set(&f->auth, &row) != 0)
			CP_LOG_RL(CP_LOG_WARN, ROLE, "authentication cache: subscription %" PRIu64
				  " not kept: out of memory", ev->sub_id);
		if (ev->policy != NULL) {
			struct policy_ev pe = {.sub_id = ev->sub_id, .master = ev->master,
					       .subscriber = ev->subscriber,
					       .version = ev->policy_version, .msg = ev->policy};

			on_policy_ev(f, &pe);
		}
	}
	for (struct sess *s = subscriber_sessions(f, ev->subscriber); s != NULL; s = s->sub_next) {
		struct subrow *row;
		struct attach *a;
		Decp__SubscriptionState old;

		if ((row = sess_subrow(s, ev->master)) == NULL || row->state == ev->state)
			continue;
		old = row->state;
		row->state = ev->state;
		a = sess_attach_of(s, ev->master);
		if (a == NULL)
			continue;
		sess_send_ctl(s, cp_fmsg_state_change(row->id, ev->master, old, ev->state,
						      change_cause(old, ev->state), now_ns()));
		if (cp_splice_on_state(&a->sp, state_delivers(ev->state)) == CP_SPLICE_START_REPLAY)
			attach_resume(f, a);
	}
}

/* A master's key announcement appeared or changed (cp_fanout_keys.h): kept for later
 * subscribers and sent to every attached one now. NULL: withdrawn. */
static void on_key_ev(struct cp_fanout *f, struct key_ev *k)
{
	struct master *m = k->msg != NULL ? master_get(f, k->master) : master_find(f, k->master);

	if (m == NULL) {
		cp_fmsg_unref(k->msg);
		return;
	}
	cp_fmsg_unref(m->key_ann);
	m->key_ann = k->msg;
	if (m->key_ann == NULL)
		return;
	for (struct attach *a = m->subs; a != NULL; a = a->m_next)
		if (a->s != NULL && !a->s->dead) {
			sess_send_ctl(a->s, cp_fmsg_ref(m->key_ann));
			cnt(&f->c_keys_sent);
		}
}

/* A newer copy policy of one subscription (policy thread): kept on the session's row
 * and sent at once when the subscriber is attached to that master; otherwise its next
 * Subscribe sends it. An older or equal version changes nothing. */
static void on_policy_ev(struct cp_fanout *f, const struct policy_ev *ev)
{
	cp_fo_auth_policy_set(&f->auth, ev->sub_id, ev->subscriber, ev->version, ev->msg);
	for (struct sess *s = subscriber_sessions(f, ev->subscriber); s != NULL; s = s->sub_next) {
		struct subrow *row;

		if ((row = sess_subrow(s, ev->master)) == NULL || row->id != ev->sub_id ||
		    ev->version <= row->policy_version)
			continue;
		cp_fmsg_unref(row->policy);
		row->policy = cp_fmsg_ref(ev->msg);
		row->policy_version = ev->version;
		if (sess_attach_of(s, ev->master) != NULL && !s->dead) {
			cnt(&f->c_policies_sent);
			sess_send_ctl(s, cp_fmsg_ref(row->policy));
		}
	}
}

/* The publisher found the ring full and dropped signals (counted in publish_dropped). A
 * drop in the middle of a master's stream shows up as a gap at its next publish, but the
 * last signals of a stream have no successor: so once the ring is empty again, every
 * live attachment re-reads from its `next` in Redis (where every dropped signal already
 * is) and goes live again at the stream's end. Rare: only after an overflow. */
static void heal_lost(struct cp_fanout *f)
{
	for (uint32_t b = 0; b < MASTER_BUCKETS; b++)
		for (struct master *m = f->mbucket[b]; m != NULL; m = m->hnext)
			for (struct attach *a = m->subs; a != NULL; a = a->m_next) {
				if (a->s->dead)
					continue;
				if (cp_splice_on_lost(&a->sp) == CP_SPLICE_PUMP)
					attach_pump(f, a);
			}
}

static void drain_inputs(struct cp_fanout *f)
{
	struct cp_fmsg *m;
	struct replay_msg *r, *rn;
	struct state_ev *e, *en;
	struct report_ack *ak, *akn;
	struct policy_ev *pe, *pen;
	int n = 0;
	bool direct = cp_fo_ring_len(f) <= RING_DIRECT_MAX;

	while ((m = cp_fo_ring_get(f)) != NULL) {
		master_publish(f, m, direct);
		cp_fmsg_unref(m);
		if (++n == 4096) { /* keep the loop responsive; continue on the next wake */
			lws_cancel_service(f->ctx);
			break;
		}
	}
	if (m == NULL && atomic_exchange_explicit(&f->ring_lost, false, memory_order_acq_rel))
		heal_lost(f);
	for (r = cp_fo_mq_take_all(&f->replay_rep, 0); r != NULL; r = rn) {
		rn = r->next;
		on_replay_reply(f, r);
	}
	/* connections that passed the gate: lws parses the head the gate read at once */
	for (struct adopt *ad = cp_fo_mq_take_all(&f->adopt_q, 0), *an; ad != NULL; ad = an) {
		an = ad->next;
		lws_sock_file_fd_type sock = {.sockfd = ad->fd};
		int type = LWS_ADOPT_SOCKET | (f->cfg.fanout_tls ? LWS_ADOPT_ALLOW_SSL : 0);

		if (f->draining ||
		    lws_adopt_descriptor_vhost(f->vh, (lws_adoption_type)type, sock, "decp", NULL) == NULL) {
			if (f->draining)
				close(ad->fd); /* lws closed it already when adoption failed */
			cnt(&f->c_auth_refused);
		}
		free(ad);
	}
	for (e = cp_fo_mq_take_all(&f->state_q, 0); e != NULL; e = en) {
		en = e->next;
		on_state_ev(f, e);
		cp_fmsg_unref(e->policy);
		free(e->toks);
		cp_fo_auth_rows_free(e->subs, e->nsubs);
		free(e);
	}
	for (struct key_ev *k = cp_fo_mq_take_all(&f->key_q, 0), *kn; k != NULL; k = kn) {
		kn = k->next;
		on_key_ev(f, k);
		free(k);
	}
	for (ak = cp_fo_mq_take_all(&f->ack_q, 0); ak != NULL; ak = akn) {
		struct sess *s = stab_find(f, ak->sess);

		akn = ak->next;
		/* gone since: its EA resends the report after reconnecting (stored once) */
		if (s != NULL && !s->dead && !s->closing)
			sess_ack(f, s, ak->report_id);
		free(ak);
	}
	for (pe = cp_fo_mq_take_all(&f->policy_q, 0); pe != NULL; pe = pen) {
		pen = pe->next;
		on_policy_ev(f, pe);
		cp_fmsg_unref(pe->msg);
		free(pe);
	}
	cp_fo_poll_flush(f); /* the polls this pass's publishes woke */
}

/* A text message of a ?format=json session: JSON -> ClientMessage -> the binary path. */
static void on_json_message(struct cp_fanout *f, struct sess *s, int64_t recv_ns)
{
	uint8_t pb[CP_FANOUT_MAX_RX];
	int n = cp_fjson_to_pb(&decp__client_message__descriptor, (const char *)s->rx, s->rx_len,
			       pb, sizeof(pb));

	if (n < 0)
		sess_malformed(f, s);
	else
		on_message(f, s, pb, (size_t)n, recv_ns);
}

/* One queued message to a ?format=json session, as a JSON text frame. Returns lws_write's
 * result (-1: the connection is broken). */
static int write_json(struct sess *s, struct cp_fmsg *m)
{
	size_t len = 0;
	uint8_t *buf = cp_fjson_from_pb(&decp__server_message__descriptor, cp_fmsg_payload(m),
					m->len, LWS_PRE, &len);
	int n;

	if (buf == NULL)
		return -1;
	n = ws_write(s, 1, buf + LWS_PRE, len);
	free(buf);
	return n;
}

/* ---------------------------------------------------------------- lws thread: stop -- */

#define DRAIN_US 1000000u /* longest wait for the peers' answers to our 1001 */

/* The lws thread leaves its loop (cp_fo_lws_main); lws_context_destroy closes the rest. */
static void drain_done(struct cp_fanout *f)
{
	f->drained = true;
	if (f->evloop != NULL)
		ev_break(f->evloop, EVBREAK_ALL);
}

static void drain_deadline(lws_sorted_usec_list_t *sul)
{
	drain_done(lws_container_of(sul, struct cp_fanout, drain_sul));
}

/* cp_fanout_stop: every session is closed with 1001 (going away, RFC 6455 §7.4.1), its
 * queue dropped so the close is not stuck behind a backlog; new upgrades are refused. The
 * loop runs on until every session is closed or DRAIN_US passed. */
static void drain_start(struct cp_fanout *f)
{
	if (f->draining)
		return;
	f->draining = true;
	for (struct sess *s = f->all; s != NULL; s = s->next_all)
		sess_close_now(s, CP_FANOUT_CLOSE_SHUTDOWN, NULL);
	if (f->all == NULL)
		drain_done(f);
	else
		lws_sul_schedule(f->ctx, 0, &f->drain_sul, drain_deadline, (lws_usec_t)DRAIN_US);
}

/* ---------------------------------------------------------------- lws thread: callbacks -- */
/* One function per lws event of protocol "decp"; cb_decp only dispatches. Each returns what
 * lws expects of the callback: 0 to go on, -1 to close the connection. */

/* Pay c's report debt from its bucket as far as the tokens go. Returns true when nothing
 * is owed. */
static bool subcount_rep_pay(struct subcount *c, int64_t now)
{
	while (c->rep_owed > 0 && cp_rate_take(&c->rep_rate, now))
		c->rep_owed--;
	return c->rep_owed == 0;
}

/* An entry nothing needs any more: no connection, no session listed, no report debt, its
 * report bucket full again. (Freed earlier, a subscriber closing all its sessions and
 * coming back would get a full bucket and no debt at once: a way round
 * fanout_report_rate.) */
static bool subcount_idle(struct subcount *c, int64_t now)
{
	return c->n == 0 && c->sessions == NULL &&
	       (!c->rep_rate_set || (subcount_rep_pay(c, now) && cp_rate_full(&c->rep_rate, now)));
}

/* The subscriber's entry after its count changed by delta (+1 at ESTABLISHED, -1 at
 * CLOSED; 0 reads); NULL when it has no connection left, no report debt and a full
 * report bucket (subcount_idle), or out of memory at a +1. An entry left with no
 * connection but a debt or a bucket still refilling (1 s + debt / rate) is freed by a
 * later walk of its hash chain. Lws thread only. */
static struct subcount *subcount_at(struct cp_fanout *f, uint64_t subscriber, int delta)
{
	struct subcount **pp = &f->subcnt[subscriber % SUBCOUNT_BUCKETS], *c;
	int64_t now = mono_ns();

	while ((c = *pp) != NULL && c->subscriber != subscriber) {
		if (subcount_idle(c, now)) { /* another's leftover, its bucket full by now */
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
	if (c == NULL) {
		if (delta <= 0 || (c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		c->subscriber = subscriber;
		c->next = *pp;
		*pp = c;
	}
	c->n = delta < 0 && c->n == 0 ? 0 : (uint32_t)((int64_t)c->n + delta);
	if (subcount_idle(c, now)) { /* (a session listed keeps its entry) */
		*pp = c->next;
		free(c);
		return NULL;
	}
	return c;
}

/* Live connections of a subscriber, changed by delta (subcount_at). A missing entry or an
 * out-of-memory count is 0 (the limit is then not applied to that subscriber: the process
 * limit still is). */
static uint32_t subcount_of(struct cp_fanout *f, uint64_t subscriber, int delta)
{
	struct subcount *c = subcount_at(f, subscriber, delta);

	return c != NULL ? c->n : 0;
}

/* The subscriber's WebSocket sessions (sub_next), or NULL. */
static struct sess *subscriber_sessions(struct cp_fanout *f, uint64_t subscriber)
{
	struct subcount *c = subcount_at(f, subscriber, 0);

	return c != NULL ? c->sessions : NULL;
}

/* ---------------------------------------------------------- lws thread: message budget -- */

/*
 * Reports of one subscriber, all its sessions together, share a token bucket
 * (subcount.rep_rate: fanout_report_rate per second, burst the same), and so do its
 * AccountStates and TimePings, WebSocket pings and pongs, and empty continuation frames:
 * each costs the fan-out work (a pong to write, a state to decode and keep, a frame to
 * parse), and without a budget 8 sessions of one subscriber flooding them took most of the
 * fan-out thread (another subscriber's delivery p50 0.6 -> 4-11 ms). A report is never
 * refused or dropped for it (an EA resends what is not acknowledged; a drop would only
 * move the flood): the report in hand was read and decoded, so it is taken; beyond the
 * budget it is owed (subcount.rep_owed), and the session stops reading
 * (lws_rx_flow_control) until the subscriber's debt is paid from its bucket: the client's
 * further writes wait in TCP (its sends block), not in our memory, the report queue or
 * Redis. What the read in progress still holds (one read: lws's 4 KiB buffer, ~100
 * reports, 512 of the smallest frames) is taken and owed too, so a subscriber is at most
 * one read per session ahead of its budget. The debt stays with the subscriber when its
 * sessions close, and an upgrade while it owes is refused (429): closing and reopening
 * sessions buys no new read (sink_head).
 *
 *   reading ──(report, bucket empty or debt: owed + 1, rx off, timer)──▶ paused
 *   paused ──(report of the same read: owed + 1)──▶ paused
 *   paused ──(timer: pays from the bucket; nothing owed: rx on)──▶ reading
 *   paused ──(timer: still owed: timer when it can be paid)──▶ paused
 *   either ──(on_closed: timer cancelled; the debt stays)──▶ gone
 */
static void sess_report_due(struct cp_fanout *f, struct sess *s, struct subcount *c);

static void sess_report_resume(lws_sorted_usec_list_t *sul)
{
	struct sess *s = lws_container_of(sul, struct sess, rep_sul);
	struct subcount *c = subcount_at(s->f, s->subscriber_id, 0);

	/* c is there: a listed session keeps its subscriber's entry */
	if (c != NULL && !subcount_rep_pay(c, mono_ns())) {
		sess_report_due(s->f, s, c);
		return;
	}
	s->rep_paused = false;
	/* the keep-alive starts over: a ping out before the pause is answered in what we
	 * did not read meanwhile (cut at once, the session would lose that answer) */
	sess_heard(s);
	lws_rx_flow_control(s->wsi, 1);
}

/* The timer that resumes s when its subscriber's debt can be paid (at most a burst of
 * it: the rest at the next turn). */
static void sess_report_due(struct cp_fanout *f, struct sess *s, struct subcount *c)
{
	uint32_t need = c->rep_owed < c->rep_rate.burst ? c->rep_owed : c->rep_rate.burst;
	int64_t w = cp_rate_wait_ns(&c->rep_rate, mono_ns()) +
		    (int64_t)(need > 0 ? need - 1 : 0) * 1000000000 / c->rep_rate.rate;

	lws_sul_schedule(f->ctx, 0, &s->rep_sul, sess_report_resume, (lws_usec_t)(w / 1000 + 1));
}

/* One report, AccountState, TimePing, ping, pong or empty continuation frame from s: one
 * token of its subscriber's bucket, or owed and the reads paused (above).
 * fanout_report_rate 0: nothing. */
static void sess_msg_budget(struct cp_fanout *f, struct sess *s)
{
	struct subcount *c;
	int64_t t;

	if (f->cfg.fanout_report_rate == 0 ||
	    (c = subcount_at(f, s->subscriber_id, 0)) == NULL)
		return;
	t = mono_ns();
	if (!c->rep_rate_set) {
		cp_rate_init(&c->rep_rate, f->cfg.fanout_report_rate, f->cfg.fanout_report_rate, t);
		c->rep_rate_set = true;
	}
	if (subcount_rep_pay(c, t) && cp_rate_take(&c->rep_rate, t))
		return;
	if (c->rep_owed < UINT32_MAX)
		c->rep_owed++;
	if (s->rep_paused)
		return;
	s->rep_paused = true;
	cnt(&f->c_rep_throttled);
	lws_rx_flow_control(s->wsi, 0);
	sess_report_due(f, s, c);
}

/* The subscriber owes reports (above): its upgrades wait (429) until that is paid. */
static bool subscriber_owes(struct cp_fanout *f, uint64_t subscriber)
{
	struct subcount *c = subcount_at(f, subscriber, 0);

	return c != NULL && c->rep_rate_set && !subcount_rep_pay(c, mono_ns());
}

/* An HTTP answer to the upgrade request (a refusal), then the connection ends. Returns
 * SINK_STOP. */
#define SINK_STOP (-2) /* a sink callback answered and ends the feed; the connection stays
			* until its answer is sent */
static int http_refuse(struct sess *s, int status)
{
	char b[LWS_PRE + 256];
	const char *why = cp_http_reason(status);
	const char *body = status == 400 ? "not a valid WebSocket upgrade request\n" : "";
	int n = snprintf(b + LWS_PRE, sizeof(b) - LWS_PRE, "HTTP/1.1 %d %s\r\nContent-Type: "
			 "text/plain\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n%s",
			 status, why, strlen(body), status == 503 ? "Retry-After: 1\r\n" : "",
			 body);

	(void)lws_write(s->wsi, (uint8_t *)b + LWS_PRE, (size_t)n, LWS_WRITE_RAW);
	sess_hangup(s);
	return SINK_STOP;
}

/* The WebSocket is open (our 101 is out): the session joins the fan-out. */
static int on_established(struct cp_fanout *f, struct sess *s)
{
	struct subcount *c;

	sess_heard(s);
	s->q = calloc(f->cfg.fanout_queue, sizeof(*s->q));
	s->qreplay = calloc((f->cfg.fanout_queue + 7) / 8, 1);
	c = s->q != NULL && s->qreplay != NULL ? subcount_at(f, s->subscriber_id, +1) : NULL;
	if (c == NULL) {
		free(s->q);
		free(s->qreplay);
		s->q = NULL;
		s->qreplay = NULL;
		return -1;
	}
	s->sub_prev = NULL;
	s->sub_next = c->sessions;
	if (c->sessions != NULL)
		c->sessions->sub_prev = s;
	c->sessions = s;
	s->next_all = f->all;
	if (f->all != NULL)
		f->all->prev_all = s;
	f->all = s;
	s->serial = ++f->next_serial;
	if (stab_add(f, s) != 0)
		cp_log(CP_LOG_WARN, ROLE, "out of memory: session %" PRIu64 " gets no ReportAck",
		       s->serial);
	cnt(&f->c_conn);
	atomic_fetch_add_explicit(&f->c_live, 1, memory_order_relaxed);
	return 0;
}

/* Sink: the complete, valid upgrade request. Authenticate it (token cache, connection
 * limits), answer 101 and open the session, or refuse it with an HTTP status. */
static int sink_head(void *arg, const char *req, size_t len)
{
	struct sess *s = arg;
	struct cp_fanout *f = s->f;
	char key[64], acc[29], b[LWS_PRE + 192];
	int n;

	if (f->draining) /* stopping: the 1001s are going out */
		return http_refuse(s, 503);
	if (s->poll != NULL) /* a polling connection stays one */
		return http_refuse(s, 400);
	if (sess_auth(f, s, req, len) != 0) {
		cnt(&f->c_auth_refused);
		return http_refuse(s, 401);
	}
	if (f->c_live >= f->cfg.fanout_max_conns) {
		/* the process is full: the platform's condition, not the client's (a 401 told
		 * it its token was bad); it retries, or a balancer tries another process */
		cnt(&f->c_auth_refused);
		return http_refuse(s, 503);
	}
	if (subcount_of(f, s->subscriber_id, 0) >= f->cfg.fanout_max_conns_per_subscriber) {
		/* one subscriber's connections never crowd out another's */
		cnt(&f->c_sub_limited);
		return http_refuse(s, 429);
	}
	if (subscriber_owes(f, s->subscriber_id)) {
		/* a new session would read its first bytes beyond the report budget */
		cnt(&f->c_rep_throttled);
		return http_refuse(s, 429);
	}
	n = cp_ws_head_value(req, len, "sec-websocket-key", key, sizeof(key));
	if (n <= 0)
		return http_refuse(s, 400); /* cp_ws_check_handshake saw exactly one */
	cp_ws_accept_key(key, (size_t)n, acc);
	/* the optional subprotocol "decp" (docs/fanout.md "Protocol") is confirmed when
	 * offered: a client that offered subprotocols fails a 101 that names none */
	n = snprintf(b + LWS_PRE, sizeof(b) - LWS_PRE, "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s"
		     "\r\n", acc, cp_ws_offers_protocol(req, len, "decp")
		     ? "Sec-WebSocket-Protocol: decp\r\n" : "");
	if (lws_write(s->wsi, (uint8_t *)b + LWS_PRE, (size_t)n, LWS_WRITE_RAW) < 0)
		return -1;
	lws_set_timeout(s->wsi, NO_PENDING_TIMEOUT, 0);
	s->authed = true;
	s->upgraded = true;
	s->json = sess_wants_json(req, len);
	return on_established(f, s) != 0 ? -1 : 0;
}

/* Sink: a request head that is not an upgrade: HTTP polling (cp_fanout_poll.h), or 400. */
static int sink_request(void *arg, const char *req, size_t len)
{
	struct sess *s = arg;

	if (!cp_poll_head_is(req, len)) {
		cnt(&s->f->c_malformed);
		return http_refuse(s, 400);
	}
	return cp_fo_poll_request(s->f, s, req, len);
}

/* Sink: data-message bytes (unmasked; cp_ws_check bounded the message to
 * CP_FANOUT_MAX_RX): gather them, handle the message once whole. A call with no byte
 * that neither starts nor ends the message is an empty continuation frame (cp_ws_check
 * calls with n = 0 only at a frame's end or a message's start): it takes a token of the
 * subscriber's message budget, as a ping does, since its count has no bound of its own. */
static int sink_data(void *arg, const uint8_t *p, size_t n, bool first, bool text, bool fin)
{
	struct sess *s = arg;
	struct cp_fanout *f = s->f;
	int64_t t = now_ns();

	if (s->q == NULL || s->close_sent || s->peer_closing)
		return 0; /* closing: what the peer still sends is read and dropped */
	if (n == 0 && !first && !fin)
		sess_msg_budget(f, s); /* an empty continuation frame: no progress, no message */
	if (first) {
		s->rx_len = 0;
		s->rx_text = text;
		if (text && !s->json) {
			cnt(&f->c_malformed);
			return sess_close_frame(s, 1003, "binary protobuf only") < 0 ? -1 : SINK_STOP;
		}
	}
	if (s->rx_len + n > sizeof(s->rx)) { /* the checker's bound makes this impossible */
		cnt(&f->c_malformed);
		return sess_close_frame(s, 1009, "message too large") < 0 ? -1 : SINK_STOP;
	}
	memcpy(s->rx + s->rx_len, p, n);
	s->rx_len += n;
	if (fin) {
		if (s->rx_text && !cp_ws_utf8_valid(s->rx, s->rx_len)) {
			cnt(&f->c_malformed);
			return sess_close_frame(s, 1007, "text message is not UTF-8") < 0 ? -1 : SINK_STOP;
		}
		if (s->rx_text)
			on_json_message(f, s, t);
		else
			on_message(f, s, s->rx, s->rx_len, t);
		s->rx_len = 0;
	}
	return 0;
}

/* Sink: a control frame. A ping is answered with its payload, a pong only shows the peer
 * is there; each takes a token of the subscriber's message budget (sess_msg_budget). A close ends the session: after ours, it completes the handshake; from the
 * peer first, it is echoed (RFC 6455 §5.5.1) with nothing written after it, unless its
 * status code is one a peer may not send (§7.4: 1005, 1006, 5000, ...), which gets our
 * own close 1002 instead. */
static int sink_control(void *arg, unsigned int opcode, const uint8_t *p, size_t n)
{
	struct sess *s = arg;
	struct cp_fanout *f = s->f;
	uint8_t b[LWS_PRE + 125];

	if (s->q == NULL)
		return 0;
	if (opcode == 9 || opcode == 10)
		sess_msg_budget(f, s); /* as a TimePing: a flood of them took the lws thread */
	if (opcode == 9) {
		if (!s->close_sent && !s->peer_closing) {
			memcpy(s->pong, p, n);
			s->pong_len = (uint8_t)n;
			s->pong_due = true;
			sess_wake(s);
		}
		return 0;
	}
	if (opcode == 10)
		return 0;
	/* close */
	if (s->close_sent || s->peer_closing) {
		sess_hangup(s);
		return SINK_STOP;
	}
	if (n >= 2 && !cp_ws_close_code_valid((unsigned int)p[0] << 8 | p[1])) {
		cnt(&f->c_malformed);
		if (sess_close_frame(s, 1002, "invalid close code") < 0)
			return -1;
		sess_hangup(s);
		return SINK_STOP;
	}
	if (n > 2 && !cp_ws_utf8_valid(p + 2, n - 2)) {
		cnt(&f->c_malformed);
		if (sess_close_frame(s, 1007, "close reason is not UTF-8") < 0)
			return -1;
		sess_hangup(s);
		return SINK_STOP;
	}
	sess_queue_clear(s);
	s->peer_closing = true;
	s->closing = true;
	memcpy(b + LWS_PRE, p, n < 2 ? n : 2); /* the echo carries the code, not the reason */
	if (ws_write(s, 8, b + LWS_PRE, n < 2 ? n : 2) < 0)
		return -1;
	sess_hangup(s);
	return SINK_STOP;
}

/* A socket passed the gate and lws adopted it (raw, with TLS for wss): a session waits
 * for its upgrade request. */
static int on_adopt(struct cp_fanout *f, struct sess *s, struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi);

	if (f == NULL || s == NULL)
		return -1;
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->wsi = wsi;
	if (cp_ws_check_init(&s->chk, true, CP_FANOUT_MAX_RX) != 0)
		return -1;
	if (f->cfg.fanout_sndbuf > 0 && fd >= 0) {
		int sb = (int)f->cfg.fanout_sndbuf;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	/* the TLS handshake and the request within lws's timeout (the gate bounded only the
	 * first byte on wss): fanout_header_timeout_ms rounded up to lws's seconds, as the
	 * context's timeout_secs (cp_fanout.c; 5000 ms was 6 s here) */
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			(int)((f->cfg.fanout_header_timeout_ms + 999u) / 1000u));
	return 0;
}

/* Bytes from the client (plaintext after TLS): checked and decoded by cp_ws_check. */
static int on_rx(struct cp_fanout *f, struct sess *s, const uint8_t *in, size_t len)
{
	const struct cp_ws_sink k = {.head = sink_head, .request = sink_request,
				     .data = sink_data, .control = sink_control, .arg = s};
	int v;

	if (s->hangup)
		return 0; /* our last bytes are going out: the rest is not read */
	if (s->upgraded)
		sess_heard(s);
	v = cp_ws_check_deliver(&s->chk, in, len, &k);
	if (v == CP_WS_VERDICT_HTTP_400) {
		cnt(&f->c_malformed);
		http_refuse(s, 400);
		return 0;
	}
	if (v == CP_WS_VERDICT_PROTOCOL || v == CP_WS_VERDICT_TOO_BIG) {
		/* an RFC 6455 violation: our close with its code (after ours: hang up) */
		if (s->close_sent || s->peer_closing) {
			sess_hangup(s);
			return 0;
		}
		cnt(&f->c_malformed);
		return sess_close_frame(s, (uint16_t)v, v == CP_WS_VERDICT_TOO_BIG
					? "message too large" : "protocol violation");
	}
	return v == -1 ? -1 : 0;
}

/* The connection closed: free its attachments and queue, leave the session list. */
static int on_closed(struct cp_fanout *f, struct sess *s)
{
	struct attach *a, *an;

	if (s == NULL)
		return 0;
	lws_sul_cancel(&s->rep_sul); /* a paused session's resume: s is freed after this */
	free(s->acks);
	s->acks = NULL;
	s->nacks = s->acks_cap = 0;
	cp_ws_check_fini(&s->chk);
	cp_fo_poll_closed(f, s);
	/* the policies taken at authentication, also by an upgrade refused after it (429) */
	cp_fo_sess_rows_release(s);
	if (s->q == NULL)
		return 0;
	for (a = s->att; a != NULL; a = an) {
		an = a->s_next;
		deliv_flush(f, a);
		attach_free(a);
	}
	s->att = NULL;
	sess_queue_clear(s);
	free(s->q);
	free(s->qreplay);
	s->q = NULL;
	s->qreplay = NULL;
	stab_del(f, s);
	if (f->ka_cursor == s)
		f->ka_cursor = s->next_all;
	if (s->prev_all != NULL)
		s->prev_all->next_all = s->next_all;
	else
		f->all = s->next_all;
	if (s->next_all != NULL)
		s->next_all->prev_all = s->prev_all;
	if (s->sub_prev != NULL)
		s->sub_prev->sub_next = s->sub_next;
	else
		subcount_at(f, s->subscriber_id, 0)->sessions = s->sub_next;
	if (s->sub_next != NULL)
		s->sub_next->sub_prev = s->sub_prev;
	atomic_fetch_sub_explicit(&f->c_live, 1, memory_order_relaxed);
	(void)subcount_of(f, s->subscriber_id, -1);
	if (f->draining && f->all == NULL)
		drain_done(f); /* the last session answered our 1001 */
	return 0;
}

/* The socket takes more: a hang-up once flushed, a pending close, the answer to a ping,
 * the keep-alive ping, then up to 32 queued messages; attachments in REPLAY get more once
 * the queue is half empty. */
static int on_writeable(struct cp_fanout *f, struct sess *s, struct lws *wsi)
{
	uint32_t cap = f->cfg.fanout_queue;
	int burst = 0;

	if (s->hangup) {
		if (!lws_partial_buffered(wsi))
			return -1; /* everything we wrote is out */
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->q == NULL || s->close_sent || s->peer_closing)
		return 0; /* not open yet, or a close is under way: not a byte more from us */
	if (s->dead)
		return sess_close_frame(s, CP_FANOUT_CLOSE_SLOW, "slow consumer");
	if (s->pong_due) {
		uint8_t b[LWS_PRE + 125];

		s->pong_due = false;
		memcpy(b + LWS_PRE, s->pong, s->pong_len);
		if (ws_write(s, 10, b + LWS_PRE, s->pong_len) < 0)
			return -1;
	}
	if (s->ping_due && !s->closing) {
		uint8_t ping[LWS_PRE + 2] = {0};

		s->ping_due = false;
		memcpy(ping + LWS_PRE, "ka", 2);
		if (ws_write(s, 9, ping + LWS_PRE, 2) < 0)
			return -1;
	}
	/* lws_partial_buffered (a flag) rather than lws_send_pipe_choked (a poll(2) per
	 * message): write until the kernel takes no more; lws keeps the rest */
	while (s->qcount > 0 && burst++ < 32 && !lws_partial_buffered(wsi)) {
		struct cp_fmsg *m = s->q[s->qhead];
		bool replay = s->qreplay[s->qhead >> 3] >> (s->qhead & 7) & 1;
		int n;

		s->qhead = (s->qhead + 1) % cap;
		s->qcount--;
		if (m->master != 0)
			sess_stamp(f, sess_attach_of(s, m->master), m, replay);
		n = s->json ? write_json(s, m) : ws_write(s, 2, cp_fmsg_payload(m), m->len);
		if (m->master != 0)
			cnt(&f->c_delivered);
		cp_fmsg_unref(m);
		/* a short write is buffered by lws (it keeps a copy): nothing to do */
		if (n < 0)
			return -1;
	}
	if (s->nacks > 0)
		sess_acks_flush(f, s);
	if (s->qcount < cap / 2)
		for (struct attach *a = s->att; a != NULL; a = a->s_next)
			if (a->sp.mode == CP_SPLICE_REPLAY && !a->sp.pending)
				attach_pump(f, a);
	if (s->qcount > 0)
		sess_wake(s);
	else if (s->closing)
		return sess_close_frame(s, s->close_code, NULL);
	return 0;
}

/* lws_cancel_service() from another thread: stop, or take what the others queued. */
static int on_wait_cancelled(struct cp_fanout *f)
{
	if (f == NULL)
		return 0;
	if (atomic_load_explicit(&f->stop, memory_order_acquire)) {
		drain_start(f);
		return 0;
	}
	drain_inputs(f);
	return 0;
}

static int cb_decp(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct cp_fanout *f = lws_context_user(lws_get_context(wsi));
	struct sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		return on_adopt(f, s, wsi);
	case LWS_CALLBACK_RAW_RX:
		return s != NULL ? on_rx(f, s, in, len) : -1;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return s != NULL ? on_writeable(f, s, wsi) : -1;
	case LWS_CALLBACK_RAW_CLOSE:
		return on_closed(f, s);
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		return on_wait_cancelled(f);
	default:
		return 0;
	}
}

const struct lws_protocols cp_fo_protocols[] = {
	{"decp", cb_decp, sizeof(struct sess), CP_FANOUT_MAX_RX, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

void *cp_fo_lws_main(void *arg)
{
	struct cp_fanout *f = arg;

	lws_sul_schedule(f->ctx, 0, &f->ka_sul, ka_sweep, (lws_usec_t)ka_period_us(f));
	while (!f->drained) {
		if (f->evloop != NULL)
			ev_run(f->evloop, 0); /* until ev_break (drain_done) */
		else if (lws_service(f->ctx, 0) < 0)
			break;
	}
	return NULL;
}

/* ------------------------------------------------- lws thread: for cp_fanout_poll.c -- */

struct master *cp_fo_master_get(struct cp_fanout *f, uint64_t id)
{
	return master_get(f, id);
}

bool cp_fo_master_in_hist(const struct master *m, uint64_t seq)
{
	return master_in_hist(m, seq);
}

uint32_t cp_fo_subcount(struct cp_fanout *f, uint64_t subscriber, int delta)
{
	return subcount_of(f, subscriber, delta);
}

int cp_fo_sess_auth(struct cp_fanout *f, struct sess *s, const char *req, size_t len)
{
	return sess_auth(f, s, req, len);
}

void cp_fo_sess_rows_release(struct sess *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		cp_fmsg_unref(s->subs[i].policy);
		s->subs[i].policy = NULL;
	}
	s->nsubs = 0;
	free(s->subs);
	s->subs = NULL;
}

struct subrow *cp_fo_sess_subrow(struct sess *s, uint64_t master)
{
	return sess_subrow(s, master);
}

bool cp_fo_state_delivers(Decp__SubscriptionState st)
{
	return state_delivers(st);
}

void cp_fo_sess_hangup(struct sess *s)
{
	sess_hangup(s);
}
