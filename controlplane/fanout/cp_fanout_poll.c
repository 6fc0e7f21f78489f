/* cp_fanout_poll: HTTP long polling on the fan-out's port. Contract: cp_fanout_poll.h and
 * docs/fanout.md "HTTP polling". Lws thread only. */
#include "cp_fanout_pvt.h"

#include "cp_fanout_poll.h"
#include "cp_http.h"
#include "cp_fanout_range.h"
#include "cp_fanout_snap.h"
#include "cp_poll_req.h"
#include "guard_sub.h"
#include "proto_frame.h"

#define POLL_STOP (-2) /* answered, closing: the sink reads nothing more */

struct cp_fo_poll {
	struct cp_fanout *f;
	struct sess *s;              /* NULL: closed while a read was pending (it frees us) */
	struct cp_poll_req req;
	struct master *m;            /* the request's master */
	struct cp_fo_poll *w_next, *w_prev; /* on m->pollers while waiting */
	struct cp_fo_poll *r_next;   /* on f->poll_ready once woken */
	lws_sorted_usec_list_t sul;  /* the wait's deadline */
	uint64_t subscriber;         /* counted in its per-subscriber limit; 0: not yet */
	uint64_t sub_id;
	uint64_t next;               /* the last sequence the answer covers so far */
	struct cp_fmsg *policy;      /* CopyPolicy to send first (a reference), or NULL */
	uint64_t policy_version;     /* policy's version; 0 = none */
	struct cp_fmsg **snap;       /* snapshot messages to send first (references) */
	long snap_n;
	struct cp_fmsg *env[CP_POLL_MAX_ENVELOPES]; /* envelopes next + 1.. (references) */
	bool env_replay[CP_POLL_MAX_ENVELOPES];     /* read from Redis (stamped replay) */
	uint32_t n;
	size_t bytes;                /* envelope bytes in env */
	int reads;                   /* Redis reads made for this request */
	int64_t req_ns;              /* wall clock when the request's head arrived */
	struct cp_deliv deliv;       /* what this connection's answers sent, for
				      * trust_deliveries (cp_fanout_deliv.h) ... */
	uint64_t deliv_sub, deliv_master; /* ... to this subscription (0: none yet) */
	bool busy;                   /* a request is being answered */
	bool waiting, ready, pending;
	bool end_known;              /* a read proved the stream holds nothing after `next` */
};

/* ------------------------------------------------------------------- answers -- */

/* Drop what the answer collected (after it is written, or at close). */
static void poll_reset(struct cp_fo_poll *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		cp_fmsg_unref(p->env[i]);
	p->n = 0;
	p->bytes = 0;
	for (long i = 0; i < p->snap_n; i++)
		cp_fmsg_unref(p->snap[i]);
	free(p->snap);
	p->snap = NULL;
	p->snap_n = 0;
	cp_fmsg_unref(p->policy);
	p->policy = NULL;
	p->policy_version = 0;
	p->busy = false;
	p->end_known = false;
	p->reads = 0;
}

/* The request is over: keep the connection for the next one (idle timeout), or close it
 * once the answer is out. */
static void poll_done(struct cp_fo_poll *p, bool close)
{
	poll_reset(p);
	if (close || p->req.close)
		cp_fo_sess_hangup(p->s);
	else
		lws_set_timeout(p->s->wsi, PENDING_TIMEOUT_USER_OK,
				(int)(p->f->cfg.fanout_poll_idle_ms + 999) / 1000);
}

/* An error answer: {"code","message"} as the api's, then the connection is closed (the
 * client starts afresh; a refused request is rare and often a misconfiguration). */
static void poll_error(struct cp_fo_poll *p, int status, const char *code, const char *msg)
{
	char b[LWS_PRE + 1024];
	size_t n = cp_http_error_reply(status, code, msg, status == 405 ? "GET" : NULL,
				       b + LWS_PRE, sizeof(b) - LWS_PRE);

	cnt(&p->f->c_poll_refused);
	if (n > 0)
		(void)lws_write(p->s->wsi, (uint8_t *)b + LWS_PRE, n, LWS_WRITE_RAW);
	poll_done(p, true);
}

/* Append message m framed as on the ingest channel (proto_frame.h: a 4-byte big-endian
 * length, then the bytes) at o; the caller sized the buffer for it. */
static uint8_t *frame_put(uint8_t *o, struct cp_fmsg *m)
{
	return o + proto_frame_encode(o, PROTO_FRAME_HDR_LEN + m->len, cp_fmsg_payload(m), m->len);
}

/* Subscription id in state st delivers: true; else answered 403 (none, or cancelled) or
 * 409 (held: the message names the state) and false. */
static bool poll_delivers(struct cp_fo_poll *p, uint64_t id, Decp__SubscriptionState st)
{
	const ProtobufCEnumValue *v;
	char msg[160];

	if (id == 0 || st == DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED) {
		cnt(&p->f->c_sub_refused);
		poll_error(p, 403, "forbidden", "no live subscription to this master");
		return false;
	}
	if (cp_fo_state_delivers(st))
		return true;
	v = protobuf_c_enum_descriptor_get_value(&decp__subscription_state__descriptor, (int)st);
	snprintf(msg, sizeof(msg), "subscription %" PRIu64 " is %s: nothing is delivered", id,
		 v != NULL ? v->name : "held");
	poll_error(p, 409, "subscription_held", msg);
	return false;
}

/* The subscription's state now, from the authentication cache (which the state events keep
 * as they reach the WebSocket sessions): a request authorized before a hold, lock or
 * cancel may be answered after it. Answers 409 (or 403) and returns false when it no longer
 * delivers. */
static bool poll_still_delivers(struct cp_fo_poll *p)
{
	const struct cp_fo_auth_sub *row = cp_fo_auth_sub_get(&p->f->auth, p->subscriber, p->sub_id);
	const struct cp_fo_auth_tok *t = cp_fo_auth_token(&p->f->auth, p->s->token_sha256,
							  now_ns() / 1000);

	/* the token too: a poll parked before its token was revoked or expired (or its
	 * subscriber disabled) must not carry the signals published after that (the
	 * WebSocket's sessions are closed 4001 then; a poller is in no subscriber's list) */
	if (t == NULL || t->token_id != p->s->token_id) {
		cnt(&p->f->c_auth_refused);
		poll_error(p, 401, "unauthorized", "token revoked or expired, or subscriber "
			   "disabled");
		return false;
	}
	return poll_delivers(p, p->sub_id, row != NULL ? row->state
				: DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED);
}

/* The subscription's newest CopyPolicy (the authentication cache, which the policy thread
 * keeps current) when it is above the one the client holds and the one the answer has: a
 * policy changed while the request waited or read Redis goes out ahead of the envelopes
 * the answer carries, as the WebSocket's does, not one answer after them. */
static void poll_policy_latest(struct cp_fo_poll *p)
{
	const struct cp_fo_auth_sub *row = cp_fo_auth_sub_get(&p->f->auth, p->subscriber, p->sub_id);

	if (row == NULL || row->policy == NULL || row->policy_version <= p->req.policy ||
	    row->policy_version <= p->policy_version)
		return;
	cp_fmsg_unref(p->policy);
	p->policy = cp_fmsg_ref(row->policy);
	p->policy_version = row->policy_version;
}

/*
 * Record the answer's envelopes env[0..n), written at t, as delivery runs (the WebSocket's
 * cp_fanout_deliv: consecutive sequences, all live or all read from Redis, all on time or
 * all late), and queue the open run at once: a poller reports through the api, with no
 * ordering against this connection, so the record must not wait for a later answer.
 * An answer continues the connection's run, so a poller following a master grows one row.
 *
 * Late is the fan-out's own delay only: t - max(arrival, the request's arrival) > 250 ms
 * (half the guard's default TTL, as the WebSocket's rule). A poller chooses when it asks:
 * an envelope it asks for long after the signal arrived (catching up from history, or
 * polling slowly) is late by its own pace, not ours; one that waited in a parked poll, in
 * a Redis read or behind a slow answer is ours. docs/fanout.md "HTTP polling".
 */
static void poll_record(struct cp_fo_poll *p, int64_t t)
{
	struct cp_deliv_run out[2], run;
	int64_t since_ns;

	if (p->deliv_sub != p->sub_id) {
		memset(&p->deliv, 0, sizeof(p->deliv));
		p->deliv_sub = p->sub_id;
		p->deliv_master = p->m->id;
	}
	for (uint32_t i = 0; i < p->n; i++) {
		const struct cp_fmsg *m = p->env[i];
		int n;

		since_ns = m->arrival_ns > p->req_ns ? m->arrival_ns : p->req_ns;
		n = cp_deliv_sent(&p->deliv, m->seq, !p->env_replay[i],
				  m->arrival_ns > 0 && t - since_ns > GUARD_TTL_DEFAULT_NS / 2, t, 0,
				  out);
		for (int k = 0; k < n; k++)
			cp_fo_deliv_push(p->f, p->deliv_sub, p->deliv_master, &out[k], true);
	}
	if (cp_deliv_take(&p->deliv, &run))
		cp_fo_deliv_push(p->f, p->deliv_sub, p->deliv_master, &run, true);
}

/* 200 with what was collected: [CopyPolicy] [snapshot] envelopes SyncEnd{next}. */
static void poll_answer(struct cp_fo_poll *p)
{
	struct cp_fanout *f = p->f;
	struct cp_fmsg *end;
	size_t body = 0, hl;
	char head[320], ka[64];
	uint8_t *buf, *o;
	int64_t t = now_ns();

	if (!poll_still_delivers(p))
		return;
	poll_policy_latest(p);
	end = cp_fmsg_sync_end(p->m->id, p->next);
	if (end == NULL) {
		poll_error(p, 503, "unavailable", "out of memory");
		return;
	}
	if (p->policy != NULL)
		body += 4 + p->policy->len;
	for (long i = 0; i < p->snap_n; i++)
		body += 4 + p->snap[i]->len;
	body += p->bytes + 4u * p->n + 4 + end->len;
	snprintf(ka, sizeof(ka), "Connection: keep-alive\r\nKeep-Alive: timeout=%u\r\n",
		 (f->cfg.fanout_poll_idle_ms + 999) / 1000);
	hl = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
			      "application/x-protobuf\r\nContent-Length: %zu\r\nCache-Control: "
			      "no-store\r\nX-Decp-Next-After: %" PRIu64 "\r\nX-Decp-Envelopes: %"
			      PRIu32 "\r\n%s\r\n", body, p->next, p->n,
			      p->req.close ? "Connection: close\r\n" : ka);
	buf = malloc(LWS_PRE + hl + body);
	if (buf == NULL) {
		cp_fmsg_unref(end);
		poll_error(p, 503, "unavailable", "out of memory");
		return;
	}
	memcpy(buf + LWS_PRE, head, hl);
	o = buf + LWS_PRE + hl;
	if (p->policy != NULL) {
		o = frame_put(o, p->policy);
		cnt(&f->c_policies_sent);
	}
	for (long i = 0; i < p->snap_n; i++)
		o = frame_put(o, p->snap[i]);
	for (uint32_t i = 0; i < p->n; i++) {
		/* the WebSocket's bytes, stamped for this answer (cp_fmsg_stamp) */
		cp_fmsg_stamp(p->env[i], t, p->env_replay[i]);
		o = frame_put(o, p->env[i]);
	}
	o = frame_put(o, end);
	cp_fmsg_unref(end);
	cnt(&f->c_polls);
	cnt_add(&f->c_poll_envelopes, p->n);
	if (lws_write(p->s->wsi, buf + LWS_PRE, hl + body, LWS_WRITE_RAW) < 0) {
		free(buf);
		poll_reset(p);
		cp_fo_sess_hangup(p->s);
		return;
	}
	free(buf);
	poll_record(p, t); /* written (or kept by lws for the socket): sent */
	poll_done(p, false);
}

/* ---------------------------------------------------------------- collecting -- */

/* Take envelope m (sequence next + 1) into the answer; false when the answer is full. */
static bool poll_take(struct cp_fo_poll *p, struct cp_fmsg *m, bool replay)
{
	if (p->n == CP_POLL_MAX_ENVELOPES)
		return false;
	p->env[p->n] = cp_fmsg_ref(m);
	p->env_replay[p->n++] = replay;
	p->bytes += m->len;
	p->next = m->seq;
	return true;
}

/* Envelopes next + 1.. from the master's history ring, as many as fit. */
static void poll_from_hist(struct cp_fo_poll *p)
{
	struct master *m = p->m;
	uint32_t hcap = p->f->cfg.fanout_history;

	while (p->next < m->last_seq && cp_fo_master_in_hist(m, p->next + 1) &&
	       poll_take(p, m->hist[(p->next + 1) % hcap], false))
		;
}

static void poll_timeout(lws_sorted_usec_list_t *sul);

static void waiter_unlink(struct cp_fo_poll *p)
{
	if (!p->waiting)
		return;
	if (p->w_prev != NULL)
		p->w_prev->w_next = p->w_next;
	else
		p->m->pollers = p->w_next;
	if (p->w_next != NULL)
		p->w_next->w_prev = p->w_prev;
	p->w_next = p->w_prev = NULL;
	p->waiting = false;
	lws_sul_cancel(&p->sul);
}

/* Nothing after `next`: park until the master's next publish or the wait's end; answer
 * at once when the request does not wait or the answer holds something already. */
static void poll_park(struct cp_fo_poll *p)
{
	if (p->req.wait_s == 0 || p->n > 0 || p->snap_n > 0) {
		poll_answer(p);
		return;
	}
	p->waiting = true;
	p->w_prev = NULL;
	p->w_next = p->m->pollers;
	if (p->m->pollers != NULL)
		p->m->pollers->w_prev = p;
	p->m->pollers = p;
	lws_sul_schedule(p->f->ctx, 0, &p->sul, poll_timeout,
			 (lws_usec_t)p->req.wait_s * LWS_US_PER_SEC);
}

/* Read Redis on the replay thread: XRANGE from `next` (inclusive: whether `next` itself
 * is there tells a future `after` from an idle stream), or the snapshot. */
static void poll_read(struct cp_fo_poll *p, bool snap)
{
	struct replay_msg *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		poll_error(p, 503, "unavailable", "out of memory");
		return;
	}
	p->reads++;
	p->pending = true;
	r->poll = p;
	r->master = p->m->id;
	if (snap) {
		r->snap = true;
		r->from = p->next + 1;
		r->snap_reason = DECP__SNAPSHOT_BEGIN__REASON__REASON_RANGE;
		r->sub_id = p->sub_id;
	} else {
		r->from = p->next;
		r->count = CP_POLL_MAX_ENVELOPES + 1;
	}
	cp_fo_mq_push(&p->f->replay_req, r);
}

/* Answer from memory when it can, else read Redis (bounded), else answer what there is. */
static void poll_serve(struct cp_fo_poll *p)
{
	struct master *m = p->m;

	if (m->last_seq != 0 && p->next < m->last_seq && cp_fo_master_in_hist(m, p->next + 1)) {
		poll_from_hist(p);
		poll_answer(p);
	} else if ((m->last_seq != 0 && p->next == m->last_seq) ||
		   (p->end_known && p->next >= m->last_seq)) {
		poll_park(p);
	} else if (p->n > 0 || p->snap_n > 0 || p->reads >= CP_FO_POLL_READS) {
		poll_answer(p);
	} else {
		poll_read(p, false);
	}
}

static void poll_timeout(lws_sorted_usec_list_t *sul)
{
	struct cp_fo_poll *p = lws_container_of(sul, struct cp_fo_poll, sul);

	waiter_unlink(p); /* cancelling the fired timer is a no-op (lws_dll2_remove) */
	cnt(&p->f->c_poll_timeouts);
	poll_answer(p);
}

void cp_fo_poll_published(struct cp_fanout *f, struct master *m)
{
	while (m->pollers != NULL) {
		struct cp_fo_poll *p = m->pollers;

		waiter_unlink(p);
		p->ready = true;
		p->r_next = f->poll_ready;
		f->poll_ready = p;
	}
}

void cp_fo_poll_flush(struct cp_fanout *f)
{
	while (f->poll_ready != NULL) {
		struct cp_fo_poll *p = f->poll_ready;

		f->poll_ready = p->r_next;
		p->ready = false;
		cnt(&f->c_poll_woken);
		poll_serve(p);
	}
}

/* ------------------------------------------------------------------- replies -- */

/* The snapshot came back: it goes first, then what the history ring holds after it. A
 * snapshot that cannot be used: 410, as the WebSocket's Error{CODE_RANGE}. */
static void poll_snapshot_reply(struct cp_fo_poll *p, struct replay_msg *r)
{
	struct cp_fanout *f = p->f;

	if (r->err == 0 && (r->snap_seq < p->next ||
			    (uint64_t)r->snap_n + QUEUE_RESERVE >= f->cfg.fanout_queue))
		r->err = -ENOSPC; /* older than asked (cannot happen from Redis), or too large */
	if (r->err != 0) {
		char msg[160];

		cnt(&f->c_snap_failed);
		cnt(&f->c_range_lost);
		cp_range_message(msg, sizeof(msg), p->m->id, p->next + 1, r->first);
		poll_error(p, r->err == -EIO ? 503 : 410, r->err == -EIO ? "unavailable"
			   : "range_not_retained", r->err == -EIO ? "Redis unavailable" : msg);
		return;
	}
	cnt(&f->c_snapshots);
	p->snap = r->snap_msgs;
	p->snap_n = r->snap_n;
	r->snap_msgs = NULL;
	r->snap_n = 0;
	p->next = r->snap_seq;
	poll_from_hist(p);
	poll_answer(p);
}

/* An XRANGE from `next` came back: `next` itself (it exists: nothing is in the future),
 * then next + 1.. taken while contiguous. The first wanted sequence missing (trimmed, a
 * hole, unreadable) is a lost range: the snapshot answers it. */
static void poll_chunk_reply(struct cp_fo_poll *p, struct replay_msg *r)
{
	bool seen_next = false, lost = false;

	if (r->err != 0) {
		poll_error(p, 503, "unavailable", "Redis unavailable");
		return;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		struct cp_fmsg *m = r->msgs[i];

		if (m->seq <= p->next) {
			seen_next |= m->seq == p->next;
			continue;
		}
		if (m->seq != p->next + 1) {
			lost = p->n == 0; /* with envelopes taken: answered, the next poll sees it */
			break;
		}
		if (!poll_take(p, m, true))
			break;
	}
	if (r->n == 0 && r->first != 0)
		lost = true; /* entries there, none readable */
	if (lost) {
		poll_read(p, true);
		return;
	}
	if (p->n == 0 && !seen_next && p->next != 0 && p->m->last_seq < p->next) {
		char msg[160];

		snprintf(msg, sizeof(msg), "after=%" PRIu64 " is beyond the last sequence of "
			 "master %" PRIu64, p->next, p->m->id);
		poll_error(p, 400, "after_in_future", msg);
		return;
	}
	if (p->n > 0) {
		poll_from_hist(p); /* the rest, when the ring continues the chunk */
		poll_answer(p);
		return;
	}
	p->end_known = true; /* nothing after `next` in Redis */
	poll_serve(p);
}

void cp_fo_poll_on_reply(struct cp_fanout *f, struct replay_msg *r)
{
	struct cp_fo_poll *p = r->poll;

	(void)f;
	p->pending = false;
	if (p->s == NULL) /* the connection closed meanwhile */
		free(p);
	else if (r->snap)
		poll_snapshot_reply(p, r);
	else
		poll_chunk_reply(p, r);
	cp_fo_replay_msg_free(r);
}

/* ------------------------------------------------------------------ requests -- */

/* The request's token, subscriber limit and subscription. 0, or answered (refused). */
static int poll_authorize(struct cp_fo_poll *p, const char *req, size_t len)
{
	struct cp_fanout *f = p->f;
	struct sess *s = p->s;
	struct subrow *row;

	cp_fo_sess_rows_release(s);
	if (cp_fo_sess_auth(f, s, req, len) != 0) {
		cnt(&f->c_auth_refused);
		poll_error(p, 401, "unauthorized", "no valid subscriber token");
		return -1;
	}
	if (p->subscriber != s->subscriber_id) {
		/* the connection counts against its subscriber's limit, as a WebSocket does */
		if (cp_fo_subcount(f, s->subscriber_id, 0) >= f->cfg.fanout_max_conns_per_subscriber) {
			cnt(&f->c_sub_limited);
			poll_error(p, 429, "too_many_connections",
				   "fanout_max_conns_per_subscriber reached");
			return -1;
		}
		if (p->subscriber != 0)
			(void)cp_fo_subcount(f, p->subscriber, -1);
		(void)cp_fo_subcount(f, s->subscriber_id, +1);
		p->subscriber = s->subscriber_id;
	}
	row = cp_fo_sess_subrow(s, p->req.master);
	if (!poll_delivers(p, row != NULL ? row->id : 0,
			   row != NULL ? row->state
				       : DECP__SUBSCRIPTION_STATE__SUBSCRIPTION_STATE_CANCELLED))
		return -1;
	p->sub_id = row->id;
	if (row->policy != NULL && row->policy_version > p->req.policy) {
		p->policy = cp_fmsg_ref(row->policy);
		p->policy_version = row->policy_version;
	}
	return 0;
}

int cp_fo_poll_request(struct cp_fanout *f, struct sess *s, const char *req, size_t len)
{
	struct cp_fo_poll *p = s->poll;
	const char *code;
	int st;

	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return -1;
		p->f = f;
		p->s = s;
		s->poll = p;
		atomic_fetch_add_explicit(&f->c_poll_conns, 1, memory_order_relaxed);
	} else if (p->busy || p->pending) {
		/* pipelining: the answer to the previous request is not out yet */
		cnt(&f->c_poll_refused);
		return -1;
	}
	p->busy = true;
	p->req_ns = now_ns();
	lws_set_timeout(s->wsi, NO_PENDING_TIMEOUT, 0);
	if (f->draining) {
		poll_error(p, 503, "unavailable", "server stopping");
		return POLL_STOP;
	}
	st = cp_poll_parse(req, len, &p->req, &code);
	if (st != 0) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%s (docs/fanout.md \"HTTP polling\")",
			 st == 404 ? "no such resource" : st == 405 ? "only GET" : "bad request");
		cnt(&f->c_malformed);
		poll_error(p, st, code, msg);
		return POLL_STOP;
	}
	if (poll_authorize(p, req, len) != 0)
		return POLL_STOP;
	p->m = cp_fo_master_get(f, p->req.master);
	if (p->m == NULL) {
		poll_error(p, 503, "unavailable", "out of memory");
		return POLL_STOP;
	}
	p->next = p->req.after;
	poll_serve(p);
	return 0;
}

void cp_fo_poll_closed(struct cp_fanout *f, struct sess *s)
{
	struct cp_fo_poll *p = s->poll;

	if (p == NULL)
		return;
	s->poll = NULL;
	waiter_unlink(p);
	if (p->ready)
		for (struct cp_fo_poll **pp = &f->poll_ready; *pp != NULL; pp = &(*pp)->r_next)
			if (*pp == p) {
				*pp = p->r_next;
				break;
			}
	if (p->subscriber != 0)
		(void)cp_fo_subcount(f, p->subscriber, -1);
	atomic_fetch_sub_explicit(&f->c_poll_conns, 1, memory_order_relaxed);
	poll_reset(p);
	p->s = NULL;
	if (!p->pending)
		free(p);
}
