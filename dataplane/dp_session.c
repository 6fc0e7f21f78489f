/* dp_session: transport-independent ingest sessions. Contract and state machine in
 * dp_session.h; reasons and sequence rules in docs/ingest.md. */
#define _LGPL_SOURCE
#include "dp_session.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include "dp_ack_frame.h"
#include "dp_hist.h"
#include "proto_msg.h"
#include "proto_positions.h"
#include "proto_signal.h"
#include "proto_view.h"

static const char *const state_names[] = {
	[DP_SS_FREE] = "FREE",
	[DP_SS_AWAIT_HELLO] = "AWAIT_HELLO",
	[DP_SS_ACTIVE] = "ACTIVE",
	[DP_SS_CLOSING] = "CLOSING",
	[DP_SS_CLOSED] = "CLOSED",
};

const char *dp_session_state_name(enum dp_session_state st)
{
	return (unsigned int)st <= DP_SS_CLOSED ? state_names[st] : "?";
}

/* Allowed transitions: [from][to]. */
static const uint8_t transition_ok[5][5] = {
	[DP_SS_FREE] = {[DP_SS_AWAIT_HELLO] = 1},
	[DP_SS_AWAIT_HELLO] = {[DP_SS_ACTIVE] = 1, [DP_SS_CLOSING] = 1, [DP_SS_CLOSED] = 1},
	[DP_SS_ACTIVE] = {[DP_SS_CLOSING] = 1, [DP_SS_CLOSED] = 1},
	[DP_SS_CLOSING] = {[DP_SS_CLOSED] = 1},
	[DP_SS_CLOSED] = {[DP_SS_FREE] = 1},
};

static void pre_leave(struct dp_session *s);

void dp_session_set_state(struct dp_session *s, enum dp_session_state to)
{
	assert(transition_ok[s->state][to]);
	(void)transition_ok;
	/* Leaving AWAIT_HELLO ends the pre-login budget's hold on the connection. */
	if (s->on_pre && to != DP_SS_AWAIT_HELLO)
		pre_leave(s);
	s->state = to;
	switch (to) {
	case DP_SS_AWAIT_HELLO:
		assert(s->master_id == 0);
		break;
	case DP_SS_ACTIVE:
		assert(s->master_id != 0 && s->expect >= 1);
		break;
	case DP_SS_CLOSING:
		assert(s->close_reason != DP_REASON_NONE);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ worker */

int dp_worker_init(struct dp_worker *w, unsigned int id, struct dp_shm *shm,
		   struct dp_tables *tables, struct dp_login_limiter *login,
		   const struct dp_session_cfg *cfg, const struct dp_transport_ops *ops,
		   void *tctx)
{
	memset(w, 0, offsetof(struct dp_worker, arena_buf));
	w->bell_fd = -1;
	if (login == NULL || id >= shm->hdr->n_workers || cfg->max_frame == 0 ||
	    cfg->max_frame > DP_FRAME_MAX_LIMIT || cfg->idle_timeout_ns == 0)
		return -EINVAL;
	w->id = id;
	w->st = &shm->stats[id];
	w->ingress = shm->ingress[id];
	w->ack = shm->ack[id];
	w->line = &shm->workers[id];
	w->hdr = shm->hdr;
	w->tables = tables;
	w->cfg = *cfg;
	w->ops = ops;
	w->tctx = tctx;
	w->login = login;
	w->pre_head[0] = w->pre_head[1] = NULL;
	w->pre_tail[0] = w->pre_tail[1] = NULL;
	w->n_pre = 0;
	w->admit_bucket = DP_PRE_NONE;
	uint8_t nk[32];
	if (getrandom(nk, sizeof(nk), 0) != (ssize_t)sizeof(nk))
		return -EIO;
	proto_hmac_key_init(&w->nonce_key, nk, sizeof(nk));
	OPENSSL_cleanse(nk, sizeof(nk));
	w->nonce_ctr = 0;
	w->n_logout_q = 0;
	proto_arena_init(&w->arena, w->arena_buf, sizeof(w->arena_buf));
	w->bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&w->cp_addr, 0, sizeof(w->cp_addr));
	w->cp_addr.sun_family = AF_UNIX;
	size_t n = strnlen(shm->hdr->doorbell_prefix, sizeof(shm->hdr->doorbell_prefix));
	if (n + 3 < sizeof(w->cp_addr.sun_path)) {
		memcpy(w->cp_addr.sun_path + 1, shm->hdr->doorbell_prefix, n);
		memcpy(w->cp_addr.sun_path + 1 + n, "cp", 2);
		w->cp_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n + 2);
	}
	atomic_store_explicit(&w->line->worker_alive, 1, memory_order_relaxed);
	return 0;
}

void dp_worker_fini(struct dp_worker *w)
{
	proto_hmac_key_wipe(&w->nonce_key);
	if (w->bell_fd >= 0)
		close(w->bell_fd);
	w->bell_fd = -1;
	if (w->line != NULL)
		atomic_store_explicit(&w->line->worker_alive, 0, memory_order_relaxed);
}

void dp_worker_poll_begin(struct dp_worker *w)
{
	w->snap = dp_tables_snap(w->tables);
}

void dp_worker_poll_end(struct dp_worker *w)
{
	if (w->enq_since_bell == 0)
		return;
	w->enq_since_bell = 0;
	/* Pairs with cp_wait(): it sets cp_sleeping then re-checks the rings. */
	atomic_thread_fence(memory_order_seq_cst);
	if (w->bell_fd >= 0 && w->cp_addr_len != 0 &&
	    atomic_load_explicit(&w->hdr->cp_sleeping, memory_order_relaxed) != 0) {
		(void)sendto(w->bell_fd, "i", 1, MSG_DONTWAIT, (struct sockaddr *)&w->cp_addr,
			     w->cp_addr_len);
		dp_stat_add(w->st, DP_CTR_DOORBELLS, 1);
	}
}

static inline uint64_t worker_now(const struct dp_worker *w)
{
	return w->ops != NULL && w->ops->now_ns != NULL ? w->ops->now_ns(w->tctx) : dp_mono_ns();
}

/*
 * The enqueue stamp (enq_mono_ns; the rx_to_enq and enq_to_ack histograms): one clock read
 * per input chunk -- the bytes of one dp_session_input call, i.e. one TCP segment's or TLS
 * record's worth, up to ~8 signals at full load -- taken at its first enqueue and shared by
 * the chunk's later records. A clock read per signal cost about as much as the record's
 * other stores together (an rdtsc in this VM; a vDSO clock_gettime on posix); the stamp of
 * a later record of the chunk is early by the time the chunk's earlier signals took (a few
 * hundred ns each), below the histograms' 6.25 % resolution at the latencies they show.
 * Server_Arrival_Time (arrival_ns) is the RX burst's stamp, as before.
 */
static inline uint64_t enq_stamp(struct dp_worker *w)
{
	if (w->chunk_enq_ns == 0)
		w->chunk_enq_ns = worker_now(w);
	return w->chunk_enq_ns;
}

/* Signals' ingress slots are reserved this many at a time (a chunk holds ~10 at full load). */
#define INGRESS_BATCH 16u

/*
 * Publish the ingress slots filled since the reservation and release the others: at the
 * end of each input chunk (dp_session_input), and before any record that does not take a
 * reserved slot (protection events, LOGIN/LOGOUT, positions), so that records reach the
 * consumer in the order they were made. A no-op when nothing is reserved.
 */
static void ingress_publish(struct dp_worker *w)
{
	if (w->zc_n == 0)
		return;
	rte_ring_enqueue_zc_elem_finish(w->ingress, w->zc_used);
	w->zc_n = 0;
	w->zc_used = 0;
}

/*
 * The ingress slot for the next signal's record, or NULL when the ring is full (BUSY, as
 * when each signal reserved its own slot). The signals of one chunk fill consecutive slots
 * of one reservation (rte_ring's zero-copy burst enqueue of the single-producer ring),
 * published together: the ring's producer head and tail -- a cache line the consumer
 * polls from its core -- and the consumer's tail are touched once per chunk, not once per
 * signal. The consumer sees a chunk's records when the chunk is done (a few us at most).
 */
static struct dp_ingress_rec *ingress_slot(struct dp_worker *w)
{
	if (w->zc_used == w->zc_n) {
		struct rte_ring_zc_data zcd;

		ingress_publish(w);
		unsigned int n = rte_ring_enqueue_zc_burst_elem_start(
			w->ingress, sizeof(struct dp_ingress_rec), INGRESS_BATCH, &zcd, NULL);
		if (n == 0)
			return NULL;
		w->zc_ptr1 = zcd.ptr1;
		w->zc_n1 = zcd.n1;
		w->zc_ptr2 = zcd.ptr2;
		w->zc_n = n;
	}
	uint32_t i = w->zc_used++;
	return i < w->zc_n1 ? (struct dp_ingress_rec *)w->zc_ptr1 + i
			    : (struct dp_ingress_rec *)w->zc_ptr2 + (i - w->zc_n1);
}

/* ------------------------------------------------------------------ output */

static bool out_reserve(struct dp_session *s, size_t need)
{
	if (DP_SESSION_OUT_CAP - s->out_tail >= need)
		return true;
	if (s->out_head > 0) {
		memmove(s->out, s->out + s->out_head, s->out_tail - s->out_head);
		s->out_tail -= s->out_head;
		s->out_head = 0;
	}
	return DP_SESSION_OUT_CAP - s->out_tail >= need;
}

static void send_frame(struct dp_session *s, Decp__IngestFrame *f)
{
	if (s->out_overflow)
		return;
	if (!out_reserve(s, 256)) {
		/* The peer does not read its replies: counted, and the session is closed by the
		 * caller's next check (dp_session_tick/input see out_overflow). */
		s->out_overflow = 1;
		return;
	}
	ssize_t n = proto_msg_frame_pack(&f->base, DP_FRAME_MAX_LIMIT, s->out + s->out_tail,
					 DP_SESSION_OUT_CAP - s->out_tail);
	if (n > 0)
		s->out_tail += (uint32_t)n;
	if (s->w->ops != NULL && s->w->ops->kick != NULL)
		s->w->ops->kick(s->w->tctx, s);
}

/* One per durable signal: the fixed-layout encoder (dp_ack_frame.h, bytes identical to
 * protobuf-c's), same buffer rules as send_frame. */
static void send_ack(struct dp_session *s, uint64_t seq, int64_t arrival_ns, int status)
{
	if (!s->out_overflow) {
		if (out_reserve(s, 256)) {
			s->out_tail += (uint32_t)dp_ack_frame_encode(s->out + s->out_tail, seq,
								     arrival_ns, status);
			if (s->w->ops != NULL && s->w->ops->kick != NULL)
				s->w->ops->kick(s->w->tctx, s);
		} else {
			s->out_overflow = 1;
		}
	}
	dp_stat_add(s->w->st, DP_CTR_ACKS_SENT, 1);
}

static void send_nack(struct dp_session *s, uint64_t seq, int reason, uint64_t expected)
{
	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__Nack n = DECP__NACK__INIT;
	n.sequence = seq;
	n.reason = reason;
	n.expected_sequence = expected;
	f.kind_case = DECP__INGEST_FRAME__KIND_NACK;
	f.nack = &n;
	send_frame(s, &f);
	dp_stat_add(s->w->st, DP_CTR_NACKS_SENT, 1);
}

static void send_error_msg(struct dp_session *s, int code, const char *msg)
{
	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__Error e = DECP__ERROR__INIT;
	e.code = code;
	if (msg != NULL)
		e.message = (char *)msg;
	f.kind_case = DECP__INGEST_FRAME__KIND_ERROR;
	f.error = &e;
	send_frame(s, &f);
}

static void send_error(struct dp_session *s, int code)
{
	send_error_msg(s, code, NULL);
}

size_t dp_session_out(const struct dp_session *s, const uint8_t **p)
{
	*p = s->out + s->out_head;
	return s->out_tail - s->out_head;
}

void dp_session_out_consume(struct dp_session *s, size_t n)
{
	assert(n <= (size_t)(s->out_tail - s->out_head));
	s->out_head += (uint32_t)n;
	if (s->out_head == s->out_tail)
		s->out_head = s->out_tail = 0;
}

bool dp_session_rx_ok(const struct dp_session *s)
{
	return (s->state == DP_SS_AWAIT_HELLO || s->state == DP_SS_ACTIVE) &&
	       DP_SESSION_OUT_CAP - (s->out_tail - s->out_head) >= DP_SESSION_RX_MIN_FREE;
}

/* ------------------------------------------------------------------ rejections */

static const uint16_t proto_reason_of[DP_REASON_COUNT] = {
	[DP_REASON_OVERSIZE] = DECP__PROTECTION_REASON__PROTECTION_REASON_OVERSIZE,
	[DP_REASON_MALFORMED] = DECP__PROTECTION_REASON__PROTECTION_REASON_MALFORMED,
	[DP_REASON_PROTOCOL] = DECP__PROTECTION_REASON__PROTECTION_REASON_PROTOCOL,
	[DP_REASON_BAD_TOKEN] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_TOKEN,
	[DP_REASON_REVOKED] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_TOKEN,
	[DP_REASON_BAD_HMAC] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_HMAC,
	[DP_REASON_MASTER_MISMATCH] = DECP__PROTECTION_REASON__PROTECTION_REASON_MASTER_MISMATCH,
	[DP_REASON_DUPLICATE] = DECP__PROTECTION_REASON__PROTECTION_REASON_REPLAY,
	[DP_REASON_GAP] = DECP__PROTECTION_REASON__PROTECTION_REASON_SEQUENCE_GAP,
	[DP_REASON_LOGIN_RATE] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_TOKEN,
	[DP_REASON_VERSION] = DECP__PROTECTION_REASON__PROTECTION_REASON_PROTOCOL,
	[DP_REASON_CERT_MISMATCH] = DECP__PROTECTION_REASON__PROTECTION_REASON_MASTER_MISMATCH,
	[DP_REASON_UNBOUND] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_TOKEN,
	[DP_REASON_CERT_REQUIRED] = DECP__PROTECTION_REASON__PROTECTION_REASON_BAD_TOKEN,
};

/* Count the reason and publish a protection-event record (never blocks: a full ring is
 * itself counted). excerpt: the offending payload, truncated to DP_BODY_MAX. */
static void reject(struct dp_session *s, enum dp_reason r, uint64_t seq, uint64_t expected,
		   const uint8_t *excerpt, size_t excerpt_len, int64_t wall_ns)
{
	struct dp_worker *w = s->w;
	dp_stat_add(w->st, DP_CTR_REASON_BASE + r, 1);
	/* BUSY means the ring is full: an event would only fail the same way. */
	if (r == DP_REASON_BUSY) {
		dp_stat_add(w->st, DP_CTR_PROT_EVENT_RING_FULL, 1);
		return;
	}
	ingress_publish(w); /* the chunk's signals before this event */
	struct dp_ingress_rec rec;
	memset(&rec, 0, offsetof(struct dp_ingress_rec, body));
	rec.kind = DP_REC_PROTECTION;
	rec.worker = (uint16_t)w->id;
	rec.reason = (uint16_t)r;
	rec.proto_reason = proto_reason_of[r];
	rec.master_id = s->master_id;
	rec.sequence = seq;
	rec.expected = expected;
	rec.arrival_ns = wall_ns;
	rec.conn_id = s->conn_id;
	rec.peer_family = s->peer.family;
	rec.peer_port = s->peer.port;
	memcpy(rec.peer_addr, s->peer.addr, sizeof(rec.peer_addr));
	if (excerpt_len > DP_BODY_MAX)
		excerpt_len = DP_BODY_MAX;
	rec.body_len = (uint16_t)excerpt_len;
	if (excerpt_len > 0)
		memcpy(rec.body, excerpt, excerpt_len);
	if (rte_ring_sp_enqueue_elem(w->ingress, &rec, sizeof(rec)) != 0) {
		dp_stat_add(w->st, DP_CTR_PROT_EVENT_RING_FULL, 1);
		return;
	}
	w->enq_since_bell++;
	dp_stat_add(w->st, DP_CTR_PROT_EVENTS, 1);
}

static void begin_close(struct dp_session *s, enum dp_reason r)
{
	s->close_reason = (uint16_t)r;
	dp_session_set_state(s, DP_SS_CLOSING);
	if (s->w->ops != NULL && s->w->ops->kick != NULL)
		s->w->ops->kick(s->w->tctx, s);
}

/* ------------------------------------------------------------------ login rate limit */

#define LIM_MS_MASK ((1ull << 40) - 1)

void dp_login_limiter_init(struct dp_login_limiter *l, uint32_t burst, uint64_t refill_ns)
{
	l->burst = burst < 1 ? 1 : burst > 10000 ? 10000 : burst;
	l->refill_ns = refill_ns;
	for (unsigned int i = 0; i < DP_LOGIN_BUCKETS; i++) {
		atomic_init(&l->b[i].key, 0);
		atomic_init(&l->b[i].state, 0);
	}
	/* A keyed hash (peer_hash), so nobody can pick addresses that collide; without random
	 * bytes the tables still work, only predictably. */
	if (getrandom(&l->key, sizeof(l->key), 0) != (ssize_t)sizeof(l->key)) {
		l->key.k0 = 0x9e3779b97f4a7c15ull;
		l->key.k1 = 0xbf58476d1ce4e5b9ull;
	}
	for (unsigned int i = 0; i < DP_PRE_BUCKETS; i++)
		atomic_init(&l->pre[i], 0);
}

/* SipHash of the address under the limiter's secret key: which addresses share a failed-
 * login bucket (a newcomer resets the bucket to a full budget: two addresses that share
 * one refill each other's) or a pre-login probe window cannot be computed offline. Never
 * 0 (0 marks an unused bucket). */
static uint64_t peer_hash(const struct dp_login_limiter *l, const struct dp_peer *p)
{
	return dp_siphash(&l->key, p->addr, sizeof(p->addr)) | 1u;
}

/* Refilled token count (thousandths) of state at now_ms. */
static uint64_t lim_tokens(const struct dp_login_limiter *l, uint64_t state, uint64_t now_ms)
{
	uint64_t tokens = state >> 40;
	uint64_t last = state & LIM_MS_MASK;
	uint64_t cap = (uint64_t)l->burst * 1000u;
	if (l->refill_ns > 0 && now_ms > last)
		tokens += (now_ms - last) * 1000000ull * 1000u / l->refill_ns;
	return tokens > cap ? cap : tokens;
}

static struct dp_login_bucket *lim_bucket(struct dp_login_limiter *l, const struct dp_peer *p,
					  uint64_t now_ms)
{
	uint64_t key = peer_hash(l, p);
	struct dp_login_bucket *b = &l->b[(key >> 20) % DP_LOGIN_BUCKETS];
	if (atomic_load_explicit(&b->key, memory_order_acquire) != key) {
		atomic_store_explicit(&b->state, (uint64_t)l->burst * 1000u << 40 | (now_ms & LIM_MS_MASK),
				      memory_order_relaxed);
		atomic_store_explicit(&b->key, key, memory_order_release);
	}
	return b;
}

static bool login_allowed(struct dp_worker *w, const struct dp_peer *p, uint64_t now_ns)
{
	uint64_t now_ms = now_ns / 1000000u;
	struct dp_login_bucket *b = lim_bucket(w->login, p, now_ms);
	return lim_tokens(w->login, atomic_load_explicit(&b->state, memory_order_relaxed), now_ms) >=
	       1000u;
}

bool dp_login_limiter_take(struct dp_login_limiter *l, const struct dp_peer *p, uint64_t now_ns)
{
	uint64_t now_ms = now_ns / 1000000u;
	struct dp_login_bucket *b = lim_bucket(l, p, now_ms);
	uint64_t old = atomic_load_explicit(&b->state, memory_order_relaxed), nw;
	do {
		uint64_t t = lim_tokens(l, old, now_ms);
		if (t < 1000u)
			return false;
		nw = (t - 1000u) << 40 | (now_ms & LIM_MS_MASK);
	} while (!atomic_compare_exchange_weak_explicit(&b->state, &old, nw, memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

/* Give back the token a LoginProof took (it verified: not a failed login). */
static void login_refund(struct dp_session *s, uint64_t now_ns)
{
	uint64_t now_ms = now_ns / 1000000u;
	struct dp_login_limiter *l = s->w->login;
	struct dp_login_bucket *b = lim_bucket(l, &s->peer, now_ms);
	uint64_t cap = (uint64_t)l->burst * 1000u;
	uint64_t old = atomic_load_explicit(&b->state, memory_order_relaxed), nw;
	do {
		uint64_t t = lim_tokens(l, old, now_ms) + 1000u;
		nw = (t > cap ? cap : t) << 40 | (now_ms & LIM_MS_MASK);
	} while (!atomic_compare_exchange_weak_explicit(&b->state, &old, nw, memory_order_relaxed,
							memory_order_relaxed));
}

static void login_failed(struct dp_session *s, uint64_t now_ns)
{
	if (s->login_charged) {
		s->login_charged = 0; /* the proof took its token already */
		return;
	}
	uint64_t now_ms = now_ns / 1000000u;
	struct dp_login_limiter *l = s->w->login;
	struct dp_login_bucket *b = lim_bucket(l, &s->peer, now_ms);
	uint64_t old = atomic_load_explicit(&b->state, memory_order_relaxed), nw;
	do {
		uint64_t t = lim_tokens(l, old, now_ms);
		t = t >= 1000u ? t - 1000u : 0;
		nw = t << 40 | (now_ms & LIM_MS_MASK);
	} while (!atomic_compare_exchange_weak_explicit(&b->state, &old, nw, memory_order_relaxed,
							memory_order_relaxed));
}

/* ------------------------------------------------------------------ pre-login budget */

#define PRE_CNT_MASK ((1ull << 24) - 1)

static uint64_t pre_key(const struct dp_login_limiter *l, const struct dp_peer *p)
{
	return peer_hash(l, p) & ((1ull << 40) - 1); /* 40 bits, never 0 */
}

/* Count one more pre-login connection of p. Returns 0 with *bucket set (DP_PRE_NONE when
 * no bucket was found: admitted uncounted), or -EMFILE when p is at limit. */
static int pre_claim(struct dp_login_limiter *l, const struct dp_peer *p, uint32_t limit,
		     uint32_t *bucket)
{
	uint64_t key = pre_key(l, p);
	uint32_t start = (uint32_t)(key % DP_PRE_BUCKETS);
	*bucket = DP_PRE_NONE;
	for (;;) {
		/* The source's own bucket anywhere in the window first, else the first free. */
		uint32_t mine = DP_PRE_NONE, free_b = DP_PRE_NONE;
		uint64_t w_mine = 0, w_free = 0;
		for (uint32_t k = 0; k < DP_PRE_PROBE; k++) {
			uint32_t i = (start + k) % DP_PRE_BUCKETS;
			uint64_t w = atomic_load_explicit(&l->pre[i], memory_order_relaxed);
			if ((w & PRE_CNT_MASK) != 0 && w >> 24 == key) {
				mine = i;
				w_mine = w;
				break;
			}
			if ((w & PRE_CNT_MASK) == 0 && free_b == DP_PRE_NONE) {
				free_b = i;
				w_free = w;
			}
		}
		if (mine != DP_PRE_NONE) {
			if ((w_mine & PRE_CNT_MASK) >= limit)
				return -EMFILE;
			if (atomic_compare_exchange_weak_explicit(&l->pre[mine], &w_mine, w_mine + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				*bucket = mine;
				return 0;
			}
			continue; /* another worker changed it: look again */
		}
		if (free_b == DP_PRE_NONE)
			return 0;
		if (atomic_compare_exchange_weak_explicit(&l->pre[free_b], &w_free, key << 24 | 1u,
							  memory_order_relaxed, memory_order_relaxed)) {
			*bucket = free_b;
			return 0;
		}
	}
}

static void pre_release(struct dp_login_limiter *l, uint32_t bucket)
{
	if (bucket != DP_PRE_NONE)
		atomic_fetch_sub_explicit(&l->pre[bucket], 1, memory_order_relaxed);
}

static void pre_leave(struct dp_session *s)
{
	struct dp_worker *w = s->w;
	unsigned int l = s->on_pre - 1u;
	if (s->pre_prev != NULL)
		s->pre_prev->pre_next = s->pre_next;
	else
		w->pre_head[l] = s->pre_next;
	if (s->pre_next != NULL)
		s->pre_next->pre_prev = s->pre_prev;
	else
		w->pre_tail[l] = s->pre_prev;
	s->pre_prev = s->pre_next = NULL;
	s->on_pre = 0;
	w->n_pre--;
	atomic_store_explicit(&w->st->ctr[DP_CTR_PRELOGIN], w->n_pre, memory_order_relaxed);
	pre_release(w->login, s->src_bucket);
	s->src_bucket = DP_PRE_NONE;
}

/* Append s to pre-login list l (0 silent, 1 challenged), keeping its source count. */
static void pre_enter(struct dp_session *s, unsigned int l)
{
	struct dp_worker *w = s->w;
	s->pre_next = NULL;
	s->pre_prev = w->pre_tail[l];
	if (w->pre_tail[l] != NULL)
		w->pre_tail[l]->pre_next = s;
	else
		w->pre_head[l] = s;
	w->pre_tail[l] = s;
	s->on_pre = (uint8_t)(l + 1u);
	w->n_pre++;
	atomic_store_explicit(&w->st->ctr[DP_CTR_PRELOGIN], w->n_pre, memory_order_relaxed);
}

/* A valid Hello: the session moves to the challenged list (evicted after silent ones). */
static void pre_challenged(struct dp_session *s)
{
	if (s->on_pre != 1)
		return;
	uint32_t b = s->src_bucket;
	s->src_bucket = DP_PRE_NONE; /* keep the source count across the move */
	pre_leave(s);
	s->src_bucket = b;
	pre_enter(s, 1);
}

int dp_worker_admit(struct dp_worker *w, const struct dp_peer *peer, uint32_t n_free)
{
	uint32_t b = DP_PRE_NONE;
	if (w->cfg.preauth_per_src != 0 &&
	    pre_claim(w->login, peer, w->cfg.preauth_per_src, &b) != 0) {
		dp_stat_add(w->st, DP_CTR_PREAUTH_SRC_REFUSED, 1);
		return -EMFILE;
	}
	bool full = w->cfg.preauth_max != 0 && w->n_pre >= w->cfg.preauth_max;
	struct dp_session *victim = w->pre_head[0] != NULL ? w->pre_head[0] : w->pre_head[1];
	if ((full || n_free == 0) && victim != NULL && w->ops != NULL && w->ops->evict != NULL) {
		/* The oldest silent connection had the longest chance to say Hello. */
		dp_stat_add(w->st, DP_CTR_PREAUTH_EVICTED, 1);
		w->ops->evict(w->tctx, victim);
		n_free++;
	}
	if (n_free == 0) {
		pre_release(w->login, b);
		dp_stat_add(w->st, DP_CTR_CONN_REFUSED, 1);
		return -ENOSPC;
	}
	w->admit_bucket = b;
	return 0;
}

/* ------------------------------------------------------------------ frames */

/* Refuse a login attempt: out of order, or a failed credential (which costs the source's
 * failed-login budget). nack_reason 0 = none. */
static void login_refused(struct dp_session *s, enum dp_reason r, int nack_reason, int code,
			  const uint8_t *frame, size_t flen, int64_t wall_ns)
{
	reject(s, r, 0, 0, frame, flen, wall_ns);
	if (nack_reason != 0)
		send_nack(s, 0, nack_reason, 0);
	send_error(s, code);
	begin_close(s, r);
}

static bool control_ready(struct dp_session *s, int64_t wall_ns)
{
	if (atomic_load_explicit(&s->w->hdr->dp_ready, memory_order_acquire) != 0)
		return true;
	/* Control not attached or not ready (e.g. restarting, or right after a dataplane
	 * restart: the token table may be empty), so no login can be judged. Retry later,
	 * not a failed login. */
	reject(s, DP_REASON_NOT_READY, 0, 0, NULL, 0, wall_ns);
	send_nack(s, 0, DECP__NACK__REASON__REASON_UNAVAILABLE, 0);
	begin_close(s, DP_REASON_NOT_READY);
	return false;
}

static void login_decide(struct dp_session *s, const struct dp_master_ent *me,
			 const struct dp_token_ent *te, uint32_t version, uint64_t now_ns,
			 int64_t wall_ns);

/* A LOGIN or LOGOUT record of session s through its worker's ingress ring (never blocks).
 * Returns whether it went in. */
static bool worker_session_rec(struct dp_worker *w, uint32_t kind, uint64_t master_id,
			       uint64_t conn_id, const struct dp_peer *peer, uint64_t gen,
			       int64_t wall_ns)
{
	struct dp_ingress_rec rec;

	ingress_publish(w);
	memset(&rec, 0, offsetof(struct dp_ingress_rec, body));
	rec.kind = kind;
	rec.worker = (uint16_t)w->id;
	rec.master_id = master_id;
	rec.arrival_ns = wall_ns;
	rec.conn_id = conn_id;
	rec.session_gen = gen;
	if (peer != NULL) {
		rec.peer_family = peer->family;
		rec.peer_port = peer->port;
		memcpy(rec.peer_addr, peer->addr, sizeof(rec.peer_addr));
	}
	if (rte_ring_sp_enqueue_elem(w->ingress, &rec, sizeof(rec)) != 0)
		return false;
	w->enq_since_bell++;
	return true;
}

static bool session_rec(struct dp_session *s, uint32_t kind, uint64_t master_id, uint64_t gen,
			int64_t wall_ns)
{
	return worker_session_rec(s->w, kind, master_id, s->conn_id, &s->peer, gen, wall_ns);
}

/* A LOGOUT (the claim of generation gen released): now, or retried from the worker's
 * backlog at its next ACK polls while the ingress ring is full; lost (counted logout_lost)
 * only when the backlog is full too. */
static void logout_send(struct dp_worker *w, uint64_t master_id, uint64_t conn_id, uint64_t gen)
{
	if (w->n_logout_q == 0 &&
	    worker_session_rec(w, DP_REC_LOGOUT, master_id, conn_id, NULL, gen, dp_wall_ns()))
		return;
	if (w->n_logout_q == DP_LOGOUT_BACKLOG) {
		dp_stat_add(w->st, DP_CTR_LOGOUT_LOST, 1);
		return;
	}
	w->logout_q[w->n_logout_q++] = (struct dp_logout_pending){
		.master_id = master_id, .conn_id = conn_id, .session_gen = gen};
}

/* The backlog of logout_send, oldest first, as far as the ring takes it. */
static void logout_retry(struct dp_worker *w)
{
	uint32_t done = 0;
	int64_t now = dp_wall_ns();
	while (done < w->n_logout_q) {
		const struct dp_logout_pending *p = &w->logout_q[done];
		if (!worker_session_rec(w, DP_REC_LOGOUT, p->master_id, p->conn_id, NULL,
					p->session_gen, now))
			break;
		done++;
	}
	if (done > 0) {
		memmove(w->logout_q, w->logout_q + done,
			(w->n_logout_q - done) * sizeof(w->logout_q[0]));
		w->n_logout_q -= done;
	}
}

/* Refuse a login for now (control not ready, or the edge could not confirm it): Nack
 * UNAVAILABLE, not a failed login; the master retries (or fails over to another edge). */
static void login_unavailable(struct dp_session *s, int64_t wall_ns)
{
	reject(s, DP_REASON_NOT_READY, 0, 0, NULL, 0, wall_ns);
	send_nack(s, 0, DECP__NACK__REASON__REASON_UNAVAILABLE, 0);
	begin_close(s, DP_REASON_NOT_READY);
}

/* The proof verified and the edge confirms logins: ask it (DP_REC_LOGIN) and wait in
 * AWAIT_HELLO, login_step 2 (dp_session.h). master_slot and token_hash are set. */
static void login_confirm_request(struct dp_session *s, uint32_t version, uint64_t now_ns,
				  int64_t wall_ns)
{
	if (!session_rec(s, DP_REC_LOGIN, s->login_master, 0, wall_ns)) {
		login_unavailable(s, wall_ns); /* ingress ring full: the edge is behind */
		return;
	}
	dp_stat_add(s->w->st, DP_CTR_LOGIN_CONFIRMS, 1);
	s->login_step = 2;
	s->pending_ns = now_ns;
	s->pending_version = version;
}

/* The login is decided: this session becomes the master's live one (owner word), ACTIVE,
 * and HelloAck{last durable + 1} goes out. gen: the edge's claim generation (0 when
 * logins are not confirmed). master_slot and token_hash are set. */
static void login_finish(struct dp_session *s, uint64_t master_id, uint32_t version,
			 uint64_t gen, int64_t wall_ns)
{
	struct dp_worker *w = s->w;
	struct dp_master_rt *rt = &w->tables->rt[s->master_slot];

	s->master_id = master_id;
	s->auth_gen = 0; /* the first frame looks the token up */
	s->session_gen = gen;
	s->confirm_attach = gen != 0 ? atomic_load_explicit(&w->hdr->dp_ready_attach,
							   memory_order_relaxed) : 0;
	/* Newer login replaces the older: the older session sees the owner word change at its
	 * next frame or tick and closes with REPLACED. */
	atomic_store_explicit(&rt->owner, dp_owner_word(w->id, s->conn_id), memory_order_release);
	/* Resume from last durable + 1: anything enqueued but not yet durable is resent by the
	 * master and deduplicated by the consumer's idempotent write (SPEC §2). */
	s->expect = atomic_load_explicit(&rt->last_durable, memory_order_acquire) + 1u;
	s->gap_nacked = 0;
	s->login_step = 0;
	dp_session_set_state(s, DP_SS_ACTIVE);
	dp_stat_add(w->st, DP_CTR_LOGINS, 1);
	if (s->pending_unbound)
		dp_stat_add(w->st, DP_CTR_LOGINS_UNBOUND, 1);
	s->pending_unbound = 0;

	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__HelloAck ha = DECP__HELLO_ACK__INIT;
	ha.next_expected_sequence = s->expect;
	ha.server_time_ns = wall_ns;
	ha.protocol_version = version;
	ha.max_frame = w->cfg.max_frame;
	f.kind_case = DECP__INGEST_FRAME__KIND_HELLO_ACK;
	f.hello_ack = &ha;
	send_frame(s, &f);
}

/* Step 1 of the login: Hello{master_id, version 2} -> ServerChallenge{fresh nonce}. */
static void handle_hello(struct dp_session *s, const Decp__Hello *h, const uint8_t *frame,
			 size_t flen, uint64_t now_ns, int64_t wall_ns)
{
	struct dp_worker *w = s->w;

	if (s->state != DP_SS_AWAIT_HELLO || s->login_step != 0) {
		login_refused(s, DP_REASON_PROTOCOL, DECP__NACK__REASON__REASON_STATE,
			      DECP__ERROR__CODE__CODE_PROTOCOL, frame, flen, wall_ns);
		return;
	}
	if (!login_allowed(w, &s->peer, now_ns)) {
		login_refused(s, DP_REASON_LOGIN_RATE, 0, DECP__ERROR__CODE__CODE_UNAUTHENTICATED,
			      NULL, 0, wall_ns);
		return;
	}
	if (h->protocol_version == 1 && w->cfg.allow_protocol_1) {
		/* --allow-protocol-1 (off by default): a client not upgraded yet sends its token
		 * in Hello, as protocol 1 did. Counted, so the operator sees who still does. */
		if (!control_ready(s, wall_ns))
			return;
		uint8_t hash[32];
		const char *tok = h->license_token != NULL ? h->license_token : "";
		proto_login_key(tok, strlen(tok), hash);
		const struct dp_token_ent *te = dp_tables_token_find(w->snap, hash);
		if (te != NULL && te->master_id != h->master_id)
			te = NULL;
		dp_stat_add(w->st, DP_CTR_LOGINS_PROTOCOL_1, 1);
		login_decide(s, te != NULL ? dp_tables_master_find(w->snap, te->master_id) : NULL,
			     te, 1, now_ns, wall_ns);
		return;
	}
	if (h->protocol_version != PROTO_PROTOCOL_VERSION) {
		/* Version 1 carried the token in clear: tell the operator exactly why. */
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "protocol_version %u is not supported: this ingest speaks %u only "
			 "(challenge-response login, no token on the wire; docs/protocol.md)",
			 h->protocol_version, PROTO_PROTOCOL_VERSION);
		reject(s, DP_REASON_VERSION, 0, 0, NULL, 0, wall_ns);
		send_error_msg(s, DECP__ERROR__CODE__CODE_VERSION, msg);
		begin_close(s, DP_REASON_VERSION);
		return;
	}
	if (h->master_id == 0 || (h->license_token != NULL && h->license_token[0] != '\0')) {
		/* Protocol 2 never sends the token: refusing it makes a broken client fail at
		 * once instead of leaking its token on every login. */
		reject(s, DP_REASON_MALFORMED, 0, 0, NULL, 0, wall_ns);
		send_error_msg(s, DECP__ERROR__CODE__CODE_MALFORMED,
			       "protocol 2 Hello must name the master and carry no license_token");
		begin_close(s, DP_REASON_MALFORMED);
		return;
	}
	if (!control_ready(s, wall_ns))
		return;
	/* Nonce = HMAC(per-worker random key, counter): unpredictable, never repeated. */
	uint8_t ctr[8];
	uint64_t c = ++w->nonce_ctr;
	memcpy(ctr, &c, sizeof(ctr));
	proto_hmac_compute(&w->nonce_key, ctr, sizeof(ctr), s->nonce);
	s->login_master = h->master_id;
	s->login_step = 1;
	pre_challenged(s);

	Decp__IngestFrame f = DECP__INGEST_FRAME__INIT;
	Decp__ServerChallenge ch = DECP__SERVER_CHALLENGE__INIT;
	ch.nonce.data = s->nonce;
	ch.nonce.len = sizeof(s->nonce);
	ch.protocol_version = PROTO_PROTOCOL_VERSION;
	f.kind_case = DECP__INGEST_FRAME__KIND_CHALLENGE;
	f.challenge = &ch;
	send_frame(s, &f);
}

/* The master's token whose SHA-256 keys `proof` over `binding` (NULL: 32 zero bytes), or
 * NULL. At most DP_LOGIN_TOKENS_MAX of the master's tokens are tried (each costs an HMAC
 * key schedule and an HMAC). */
#define DP_LOGIN_TOKENS_MAX 16u
static const struct dp_token_ent *proof_token(struct dp_session *s,
					      const struct dp_master_ent *me,
					      const uint8_t *binding, const uint8_t *proof,
					      size_t plen)
{
	const struct dp_table_snap *snap = s->w->snap;
	const struct dp_token_ent *found = NULL;
	unsigned int tried = 0;
	for (uint32_t i = me->tok_first; i != DP_TOK_NONE && tried < DP_LOGIN_TOKENS_MAX;
	     i = snap->tok[i].next, tried++) {
		struct proto_hmac_key k;
		proto_hmac_key_init(&k, snap->tok[i].hash, sizeof(snap->tok[i].hash));
		int rc = proto_login_verify(&k, s->nonce, sizeof(s->nonce), s->login_master,
					    binding, proof, plen);
		proto_hmac_key_wipe(&k);
		if (rc == 0) {
			found = &snap->tok[i];
			break;
		}
	}
	return found;
}

/* master_id is one of ids[0..n-1] (the cfg's master lists: at most DP_UNBOUND_MAX). */
static bool master_listed(const uint64_t *ids, uint32_t n, uint64_t master_id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == master_id)
			return true;
	return false;
}

/* The client certificate against the master a login proved (s->cert_master_id: 0 none,
 * UINT64_MAX one that names no master): CERT_MISMATCH for a certificate of another master;
 * CERT_REQUIRED for none, or one naming no master, when the master is in
 * --tls-cert-masters; CERT_MISMATCH for one naming no master otherwise; else NONE. */
static enum dp_reason cert_verdict(const struct dp_session *s, uint64_t master_id)
{
	const struct dp_session_cfg *c = &s->w->cfg;

	if (s->cert_master_id == master_id)
		return DP_REASON_NONE;
	if (s->cert_master_id != 0 && s->cert_master_id != UINT64_MAX)
		return DP_REASON_CERT_MISMATCH; /* another master's, whoever logs in */
	if (master_listed(c->cert_masters, c->n_cert_masters, master_id))
		return DP_REASON_CERT_REQUIRED;
	return s->cert_master_id != 0 ? DP_REASON_CERT_MISMATCH : DP_REASON_NONE;
}

/* The end of a login, whichever protocol proved the token: te is the token that matched
 * (NULL: none), me its master. Refuses (bad or revoked token, certificate of another
 * master, no certificate of a --tls-cert-masters master, keys not loaded yet) or makes the session ACTIVE and answers HelloAck{version}. */
static void login_decide(struct dp_session *s, const struct dp_master_ent *me,
			 const struct dp_token_ent *te, uint32_t version, uint64_t now_ns,
			 int64_t wall_ns)
{
	struct dp_worker *w = s->w;
	if (me == NULL)
		te = NULL;
	enum dp_reason bad = te == NULL ? DP_REASON_BAD_TOKEN
			     : te->revoked ? DP_REASON_REVOKED
			     : cert_verdict(s, te->master_id);
	if (bad == DP_REASON_NONE && s->login_charged) {
		s->login_charged = 0;
		login_refund(s, now_ns);
	}
	if (bad != DP_REASON_NONE) {
		/* Unknown master, no token of it matches, or a revoked one: one answer for all,
		 * so the reply does not tell which masters exist. */
		login_failed(s, now_ns);
		login_refused(s, bad, DECP__NACK__REASON__REASON_BAD_TOKEN,
			      DECP__ERROR__CODE__CODE_UNAUTHENTICATED, NULL, 0, wall_ns);
		return;
	}
	if (!me->has_keys) {
		/* Token loaded but the master's keys not yet: retry later, not a failure. */
		reject(s, DP_REASON_NOT_READY, 0, 0, NULL, 0, wall_ns);
		send_nack(s, 0, DECP__NACK__REASON__REASON_UNAVAILABLE, 0);
		begin_close(s, DP_REASON_NOT_READY);
		return;
	}
	s->master_slot = me->slot;
	memcpy(s->token_hash, te->hash, sizeof(s->token_hash));
	if (atomic_load_explicit(&w->hdr->dp_login_confirm, memory_order_relaxed) != 0) {
		login_confirm_request(s, version, now_ns, wall_ns);
		return;
	}
	login_finish(s, me->master_id, version, 0, wall_ns);
}


/* Step 2 of the login: LoginProof -> HelloAck (ACTIVE), or a refusal. */
static void handle_login_proof(struct dp_session *s, const Decp__LoginProof *lp,
			       const uint8_t *frame, size_t flen, uint64_t now_ns, int64_t wall_ns)
{
	struct dp_worker *w = s->w;

	if (s->state != DP_SS_AWAIT_HELLO || s->login_step != 1) {
		login_refused(s, DP_REASON_PROTOCOL, DECP__NACK__REASON__REASON_STATE,
			      DECP__ERROR__CODE__CODE_PROTOCOL, frame, flen, wall_ns);
		return;
	}
	if (!control_ready(s, wall_ns))
		return;
	/* The failed-login budget: Hello only checked that a token was left, and every
	 * pre-login connection of the address passed that check on the same token; the proof
	 * takes one before it is verified (given back if it verifies). */
	if (!dp_login_limiter_take(w->login, &s->peer, now_ns)) {
		login_refused(s, DP_REASON_LOGIN_RATE, 0, DECP__ERROR__CODE__CODE_UNAUTHENTICATED,
			      NULL, 0, wall_ns);
		return;
	}
	s->login_charged = 1;
	const struct dp_master_ent *me = dp_tables_master_find(w->snap, s->login_master);
	const struct dp_token_ent *te = NULL;
	bool unbound = false;
	if (me != NULL) {
		te = proof_token(s, me, s->has_binding ? s->binding : NULL, lp->proof.data,
				 lp->proof.len);
		if (te == NULL && s->has_binding) {
			/* A TLS connection whose proof carries the zero binding: a client that
			 * cannot read its exporter (the MetaTrader EA), or a proof relayed from a
			 * plaintext connection. Told apart from a wrong token so the operator
			 * sees why (reject "unbound"); the reply is the same. */
			te = proof_token(s, me, NULL, lp->proof.data, lp->proof.len);
			unbound = te != NULL;
		}
	}
	if (unbound && !master_listed(w->cfg.unbound_masters, w->cfg.n_unbound, me->master_id)) {
		login_failed(s, now_ns);
		login_refused(s, DP_REASON_UNBOUND, DECP__NACK__REASON__REASON_BAD_TOKEN,
			      DECP__ERROR__CODE__CODE_UNAUTHENTICATED, NULL, 0, wall_ns);
		return;
	}
	s->pending_unbound = unbound;
	login_decide(s, me, te, PROTO_PROTOCOL_VERSION, now_ns, wall_ns);
}

/* Step 2 of the check order: the session is still authenticated and still the live one. */
static bool still_authenticated(struct dp_session *s, const uint8_t *frame, size_t flen,
				int64_t wall_ns)
{
	struct dp_worker *w = s->w;
	if (s->auth_gen != w->snap->gen) {
		const struct dp_token_ent *te = dp_tables_token_find(w->snap, s->token_hash);
		if (te == NULL || te->revoked || te->master_id != s->master_id) {
			reject(s, DP_REASON_REVOKED, 0, 0, frame, flen, wall_ns);
			send_nack(s, 0, DECP__NACK__REASON__REASON_BAD_TOKEN, 0);
			send_error(s, DECP__ERROR__CODE__CODE_UNAUTHENTICATED);
			begin_close(s, DP_REASON_REVOKED);
			return false;
		}
		s->auth_gen = w->snap->gen;
		s->auth_me = dp_tables_master_find(w->snap, s->master_id);
	}
	uint64_t owner = atomic_load_explicit(&w->tables->rt[s->master_slot].owner,
					      memory_order_acquire);
	if (owner != dp_owner_word(w->id, s->conn_id)) {
		reject(s, DP_REASON_REPLACED, 0, 0, NULL, 0, wall_ns);
		send_error(s, DECP__ERROR__CODE__CODE_REPLACED);
		begin_close(s, DP_REASON_REPLACED);
		return false;
	}
	return true;
}

static void fatal_signal(struct dp_session *s, enum dp_reason r, int nack_reason, uint64_t seq,
			 const uint8_t *body, size_t blen, int64_t wall_ns)
{
	reject(s, r, seq, 0, body, blen, wall_ns);
	send_nack(s, seq, nack_reason, 0);
	begin_close(s, r);
}

/* HMAC, then the body: the copy-free parser (proto_view.h) first; it refuses some bodies
 * protobuf-c accepts, and for those protobuf-c gives the answer, so the outcome is exactly
 * protobuf-c's. Returns proto_signal_open's codes; *out points at sv or into the arena. */
static int open_signal(struct dp_worker *w, const struct proto_signed_view *v,
		       const struct proto_hmac_key *hk, Decp__Signal *sv,
		       char sym[PROTO_SYMBOL_MAX + 1], const Decp__Signal **out)
{
	int rc = proto_signal_open_view(v, hk, NULL, sv, sym);
	*out = sv;
	if (rc != -EPROTO)
		return rc;
	Decp__SignedSignal ss = DECP__SIGNED_SIGNAL__INIT;
	ss.body.data = (uint8_t *)v->body;
	ss.body.len = v->body_len;
	ss.hmac.data = (uint8_t *)v->hmac;
	ss.hmac.len = v->hmac_len;
	ss.ed25519_sig.data = (uint8_t *)v->sig;
	ss.ed25519_sig.len = v->sig_len;
	Decp__Signal *g = NULL;
	rc = proto_signal_open(&ss, hk, NULL, proto_arena_allocator(&w->arena), &g);
	if (rc == 0)
		*out = g;
	return rc;
}

/* Out of protocol order (a Signal or Positions before login, positions ahead of what is
 * durable): Nack STATE + Error PROTOCOL, closed. */
static void protocol_violation(struct dp_session *s, uint64_t seq, uint64_t expected,
			       const uint8_t *payload, size_t len, int64_t wall_ns)
{
	reject(s, DP_REASON_PROTOCOL, seq, expected, payload, len, wall_ns);
	send_nack(s, seq, DECP__NACK__REASON__REASON_STATE, 0);
	send_error(s, DECP__ERROR__CODE__CODE_PROTOCOL);
	begin_close(s, DP_REASON_PROTOCOL);
}

_Static_assert(DP_HMAC_LEN == PROTO_HMAC_LEN, "a verified MAC fills rec->hmac");
_Static_assert(offsetof(struct dp_ingress_rec, hmac) == 96,
	       "handle_signal stores every header field by name: add a new one there");
_Static_assert(offsetof(struct dp_ingress_rec, hmac) + DP_HMAC_LEN ==
	       offsetof(struct dp_ingress_rec, sig) &&
	       offsetof(struct dp_ingress_rec, sig) + DP_SIG_LEN ==
	       offsetof(struct dp_ingress_rec, body), "hmac, sig and body follow the header");

/*
 * Ask for the cache lines of the ingress ring's next slot (the one after `next`'s
 * predecessor, wrapping at the ring's end) in exclusive state, for the next signal's
 * record: the consumer on the other core read them last, so the first store to each would
 * otherwise wait for the line to come over; this way that wait overlaps the next frame's
 * parse and HMAC. Header, hmac, sig and a body of up to 64 bytes: four lines. A hint
 * only: a prefetch never faults and changes no data. PREFETCHW (x86; a NOP on CPUs that
 * lack it) since the compiler's target here (corei7) has no write prefetch of its own.
 */
static inline void ring_slot_prefetch(const struct rte_ring *r, const struct dp_ingress_rec *next)
{
	/* rte_ring_elem.h: the elements follow the ring's header, size of them. */
	const struct dp_ingress_rec *first = (const struct dp_ingress_rec *)&r[1];
	if (next >= first + r->size)
		next = first;
	const char *p = (const char *)next;
	for (unsigned int i = 0; i < 4; i++) {
#if defined(__x86_64__)
		__asm__ volatile("prefetchw %0" : : "m"(p[i * DP_CACHE_LINE]));
#else
		__builtin_prefetch(p + i * DP_CACHE_LINE, 1, 3);
#endif
	}
}

static void handle_signal(struct dp_session *s, const struct proto_signed_view *ss,
			  const uint8_t *frame, size_t flen, uint64_t now_ns, int64_t wall_ns)
{
	struct dp_worker *w = s->w;

	if (s->state != DP_SS_ACTIVE) {
		protocol_violation(s, 0, 0, frame, flen, wall_ns);
		return;
	}
	/* 1. sizes (the frame limit was enforced by the decoder) */
	if (ss->body_len > PROTO_SIGNAL_BODY_MAX) {
		reject(s, DP_REASON_OVERSIZE, 0, 0, ss->body, ss->body_len, wall_ns);
		send_error(s, DECP__ERROR__CODE__CODE_OVERSIZE);
		begin_close(s, DP_REASON_OVERSIZE);
		return;
	}
	/* 2. authenticated */
	if (!still_authenticated(s, frame, flen, wall_ns))
		return;
	if (atomic_load_explicit(&w->hdr->dp_ready, memory_order_acquire) == 0) {
		/* Control went away or silent (dp_ctrl_liveness): nothing would make this signal
		 * durable soon. Tell the master now rather than let it time out; it logs in
		 * again (UNAVAILABLE until control is back) and resends. */
		reject(s, DP_REASON_NOT_READY, 0, 0, NULL, 0, wall_ns);
		send_nack(s, 0, DECP__NACK__REASON__REASON_UNAVAILABLE, 0);
		begin_close(s, DP_REASON_NOT_READY);
		return;
	}
	const struct dp_master_ent *me = s->auth_me; /* of w->snap: still_authenticated */
	if (me == NULL || !me->has_keys) {
		fatal_signal(s, DP_REASON_REVOKED, DECP__NACK__REASON__REASON_BAD_TOKEN, 0,
			     ss->body, ss->body_len, wall_ns);
		return;
	}
	/* 3.+4. HMAC (constant time, proto_hmac_verify), then decode + validate the body */
	Decp__Signal sv;
	char sym[PROTO_SYMBOL_MAX + 1];
	const Decp__Signal *sig = NULL;
	int rc = open_signal(w, ss, &me->hmac, &sv, sym, &sig);
	if (rc == -EBADMSG && me->has_prev && wall_ns < me->prev_until_ns) {
		/* Key rotation overlap (docs/security.md): the master may still sign with the
		 * key being retired until prev_until_ns. Costs a second HMAC only on a mismatch. */
		rc = open_signal(w, ss, &me->hmac_prev, &sv, sym, &sig);
		if (rc == 0)
			dp_stat_add(w->st, DP_CTR_HMAC_PREV_USED, 1);
	}
	if (rc == -EBADMSG) {
		fatal_signal(s, DP_REASON_BAD_HMAC, DECP__NACK__REASON__REASON_BAD_SIGNATURE, 0,
			     ss->body, ss->body_len, wall_ns);
		return;
	}
	if (rc != 0 || ss->sig_len != DP_SIG_LEN) {
		fatal_signal(s, DP_REASON_MALFORMED, DECP__NACK__REASON__REASON_MALFORMED, 0,
			     ss->body, ss->body_len, wall_ns);
		return;
	}
	uint64_t seq = sig->sequence;
	/* 5. master id */
	if (sig->master_id != s->master_id) {
		fatal_signal(s, DP_REASON_MASTER_MISMATCH,
			     DECP__NACK__REASON__REASON_MASTER_MISMATCH, seq, ss->body,
			     ss->body_len, wall_ns);
		return;
	}
	/* 6. sequence */
	struct dp_master_rt *rt = &w->tables->rt[s->master_slot];
	uint64_t durable = atomic_load_explicit(&rt->last_durable, memory_order_acquire);
	/* ACKs (possibly of another session's copies) may have made sequences durable that this
	 * session never enqueued: the master may skip those, so expect follows durable. */
	if (s->expect <= durable) {
		s->expect = durable + 1u;
		s->gap_nacked = 0;
	}
	if (seq <= durable) {
		reject(s, DP_REASON_DUPLICATE, seq, durable + 1u, NULL, 0, wall_ns);
		send_ack(s, seq, 0, DECP__ACK__STATUS__STATUS_DUPLICATE);
		return;
	}
	if (seq > s->expect) {
		/* One Nack per gap episode: the master rewinds once; the frames it had already
		 * pipelined behind the gap are counted but not answered again. */
		reject(s, DP_REASON_GAP, seq, s->expect, NULL, 0, wall_ns);
		if (!s->gap_nacked)
			send_nack(s, seq, DECP__NACK__REASON__REASON_GAP, s->expect);
		s->gap_nacked = 1;
		return;
	}
	/* 7. stamp and enqueue by value. seq < expect here means a resend of a signal this
	 * session already enqueued that is not durable yet: re-enqueued, harmless (SPEC §2).
	 * The record is written in place in the ring's slot (zero-copy enqueue of the
	 * single-producer ring): no 512-byte copy through the stack. */
	struct dp_ingress_rec *rec = ingress_slot(w);
	if (rec == NULL) {
		reject(s, DP_REASON_BUSY, seq, s->expect, NULL, 0, wall_ns);
		send_nack(s, seq, DECP__NACK__REASON__REASON_BUSY, s->expect);
		/* Frames pipelined behind the refused one are gaps; the BUSY already told the
		 * master where to resume. */
		s->gap_nacked = 1;
		return;
	}
	/* Every header field is stored (no memset: a string store of the header cost more than
	 * the fields); hmac and sig are overwritten whole (lengths checked in 3.), the body up
	 * to body_len (the consumer reads no further). */
	rec->kind = DP_REC_SIGNAL;
	rec->worker = (uint16_t)w->id;
	rec->reason = 0;
	rec->master_id = s->master_id;
	rec->sequence = seq;
	rec->arrival_ns = wall_ns;
	rec->conn_id = s->conn_id;
	rec->expected = 0;
	rec->body_len = (uint16_t)ss->body_len;
	rec->hmac_len = (uint16_t)ss->hmac_len;
	rec->sig_len = (uint16_t)ss->sig_len;
	rec->proto_reason = 0;
	rec->peer_port = s->peer.port;
	rec->peer_family = s->peer.family;
	memset(rec->pad0, 0, sizeof(rec->pad0));
	memcpy(rec->peer_addr, s->peer.addr, sizeof(rec->peer_addr));
	rec->session_gen = 0;
	memcpy(rec->hmac, ss->hmac, DP_HMAC_LEN);
	memcpy(rec->sig, ss->sig, DP_SIG_LEN);
	memcpy(rec->body, ss->body, ss->body_len);
	uint64_t enq_ns = enq_stamp(w);
	rec->enq_mono_ns = enq_ns;
	ring_slot_prefetch(w->ingress, rec + 1);
	w->enq_since_bell++;
	dp_hist_record(&w->st->rx_to_enq, enq_ns > now_ns ? enq_ns - now_ns : 0);
	if (seq == s->expect) {
		s->expect++;
		s->gap_nacked = 0;
		dp_stat_add(w->st, DP_CTR_SIGNALS_ENQUEUED, 1);
	} else {
		dp_stat_add(w->st, DP_CTR_SIGNALS_REENQUEUED, 1);
	}
}

_Static_assert(PROTO_POSITIONS_BODY_MAX <= DP_BODY_MAX, "a positions part fits a record");

/* One part of the master's own positions snapshot (docs/ingest.md "The master's
 * positions"): checked like a signal (logged in, still authenticated, HMAC, body, master),
 * plus its sequence must be durable already (an honest master sends the positions it held
 * after an ACKed signal). No reply: it is advisory, so a full ring or a control plane that
 * is not ready drops it (counted), and the master sends a later one. */
static void handle_positions(struct dp_session *s, const Decp__SignedPositions *sp,
			     const uint8_t *frame, size_t flen, int64_t wall_ns)
{
	struct dp_worker *w = s->w;

	if (s->state != DP_SS_ACTIVE) {
		protocol_violation(s, 0, 0, frame, flen, wall_ns);
		return;
	}
	if (sp->body.len > PROTO_POSITIONS_BODY_MAX) {
		reject(s, DP_REASON_OVERSIZE, 0, 0, sp->body.data, sp->body.len, wall_ns);
		send_error(s, DECP__ERROR__CODE__CODE_OVERSIZE);
		begin_close(s, DP_REASON_OVERSIZE);
		return;
	}
	if (!still_authenticated(s, frame, flen, wall_ns))
		return;
	const struct dp_master_ent *me = s->auth_me; /* of w->snap: still_authenticated */
	if (me == NULL || !me->has_keys) {
		fatal_signal(s, DP_REASON_REVOKED, DECP__NACK__REASON__REASON_BAD_TOKEN, 0,
			     sp->body.data, sp->body.len, wall_ns);
		return;
	}
	Decp__Positions *pos = NULL;
	ProtobufCAllocator *al = proto_arena_allocator(&w->arena);
	int rc = proto_positions_open(sp->body.data, sp->body.len, sp->hmac.data, sp->hmac.len,
				      &me->hmac, al, &pos);
	if (rc == -EBADMSG && me->has_prev && wall_ns < me->prev_until_ns) {
		rc = proto_positions_open(sp->body.data, sp->body.len, sp->hmac.data,
					  sp->hmac.len, &me->hmac_prev, al, &pos);
		if (rc == 0)
			dp_stat_add(w->st, DP_CTR_HMAC_PREV_USED, 1);
	}
	if (rc == -EBADMSG) {
		fatal_signal(s, DP_REASON_BAD_HMAC, DECP__NACK__REASON__REASON_BAD_SIGNATURE, 0,
			     sp->body.data, sp->body.len, wall_ns);
		return;
	}
	if (rc != 0) {
		fatal_signal(s, DP_REASON_MALFORMED, DECP__NACK__REASON__REASON_MALFORMED, 0,
			     sp->body.data, sp->body.len, wall_ns);
		return;
	}
	if (pos->master_id != s->master_id) {
		fatal_signal(s, DP_REASON_MASTER_MISMATCH, DECP__NACK__REASON__REASON_MASTER_MISMATCH,
			     pos->sequence, sp->body.data, sp->body.len, wall_ns);
		return;
	}
	uint64_t durable = atomic_load_explicit(&w->tables->rt[s->master_slot].last_durable,
						memory_order_acquire);
	if (pos->sequence > durable) {
		protocol_violation(s, pos->sequence, durable + 1u, sp->body.data, sp->body.len,
				   wall_ns);
		return;
	}
	struct rte_ring_zc_data zcd;
	ingress_publish(w);
	if (atomic_load_explicit(&w->hdr->dp_ready, memory_order_acquire) == 0 ||
	    rte_ring_enqueue_zc_bulk_elem_start(w->ingress, sizeof(struct dp_ingress_rec), 1,
						&zcd, NULL) == 0) {
		dp_stat_add(w->st, DP_CTR_POSITIONS_DROPPED, 1);
		return;
	}
	struct dp_ingress_rec *rec = zcd.ptr1;
	memset(rec, 0, offsetof(struct dp_ingress_rec, body));
	rec->kind = DP_REC_POSITIONS;
	rec->worker = (uint16_t)w->id;
	rec->master_id = s->master_id;
	rec->sequence = pos->sequence;
	rec->arrival_ns = wall_ns;
	rec->conn_id = s->conn_id;
	rec->peer_family = s->peer.family;
	rec->peer_port = s->peer.port;
	memcpy(rec->peer_addr, s->peer.addr, sizeof(rec->peer_addr));
	rec->body_len = (uint16_t)sp->body.len;
	rec->hmac_len = DP_HMAC_LEN;
	memcpy(rec->hmac, sp->hmac.data, DP_HMAC_LEN);
	memcpy(rec->body, sp->body.data, sp->body.len);
	rec->enq_mono_ns = enq_stamp(w);
	rte_ring_enqueue_zc_elem_finish(w->ingress, 1);
	w->enq_since_bell++;
	dp_stat_add(w->st, DP_CTR_POSITIONS_ENQUEUED, 1);
}

static void handle_frame(struct dp_session *s, const uint8_t *p, size_t len, uint64_t now_ns,
			 int64_t wall_ns)
{
	struct dp_worker *w = s->w;
	dp_stat_add(w->st, DP_CTR_RX_FRAMES, 1);
	proto_arena_reset(&w->arena);
	/* Signals (the hot path) through the copy-free view; Hello, Heartbeat and whatever the
	 * view refuses through protobuf-c, whose verdict stands; but a frame of two members
	 * (protobuf-c keeps the last: a signal before it would go unanswered) is malformed. */
	struct proto_signed_view v;
	int kind = proto_master_frame_view(p, len, &v);
	if (kind == DECP__MASTER_FRAME__KIND_SIGNAL) {
		s->last_frame_ns = now_ns;
		handle_signal(s, &v, p, len, now_ns, wall_ns);
		return;
	}
	Decp__MasterFrame *f = kind == -EEXIST ? NULL
			       : proto_master_frame_decode(p, len, proto_arena_allocator(&w->arena));
	if (f == NULL) {
		reject(s, DP_REASON_MALFORMED, 0, 0, p, len, wall_ns);
		send_error(s, DECP__ERROR__CODE__CODE_MALFORMED);
		begin_close(s, DP_REASON_MALFORMED);
		return;
	}
	s->last_frame_ns = now_ns;
	switch (f->kind_case) {
	case DECP__MASTER_FRAME__KIND_HELLO:
		handle_hello(s, f->hello, p, len, now_ns, wall_ns);
		break;
	case DECP__MASTER_FRAME__KIND_LOGIN_PROOF:
		handle_login_proof(s, f->login_proof, p, len, now_ns, wall_ns);
		break;
	case DECP__MASTER_FRAME__KIND_SIGNAL: {
		v.body = f->signal->body.data;
		v.body_len = f->signal->body.len;
		v.hmac = f->signal->hmac.data;
		v.hmac_len = f->signal->hmac.len;
		v.sig = f->signal->ed25519_sig.data;
		v.sig_len = f->signal->ed25519_sig.len;
		handle_signal(s, &v, p, len, now_ns, wall_ns);
		break;
	}
	case DECP__MASTER_FRAME__KIND_POSITIONS:
		handle_positions(s, f->positions, p, len, wall_ns);
		break;
	case DECP__MASTER_FRAME__KIND_HEARTBEAT:
		if (s->state != DP_SS_ACTIVE) {
			/* out of order like any frame (docs/ingest.md check 2) */
			reject(s, DP_REASON_PROTOCOL, 0, 0, p, len, wall_ns);
			send_nack(s, 0, DECP__NACK__REASON__REASON_STATE, 0);
			send_error(s, DECP__ERROR__CODE__CODE_PROTOCOL);
			begin_close(s, DP_REASON_PROTOCOL);
			break;
		}
		if (still_authenticated(s, p, len, wall_ns)) {
			Decp__IngestFrame r = DECP__INGEST_FRAME__INIT;
			Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
			hb.time_ns = wall_ns;
			r.kind_case = DECP__INGEST_FRAME__KIND_HEARTBEAT;
			r.heartbeat = &hb;
			send_frame(s, &r);
			dp_stat_add(w->st, DP_CTR_HEARTBEATS, 1);
		}
		break;
	default:
		reject(s, DP_REASON_MALFORMED, 0, 0, p, len, wall_ns);
		send_error(s, DECP__ERROR__CODE__CODE_MALFORMED);
		begin_close(s, DP_REASON_MALFORMED);
		break;
	}
}

/* ------------------------------------------------------------------ session API */

void dp_session_open(struct dp_session *s, struct dp_worker *w, uint64_t conn_id,
		     const struct dp_peer *peer, uint64_t now_ns)
{
	assert(s->state == DP_SS_FREE);
	s->close_reason = DP_REASON_NONE;
	s->gap_nacked = 0;
	s->out_overflow = 0;
	s->w = w;
	s->conn_id = conn_id;
	if (peer != NULL)
		s->peer = *peer;
	else
		memset(&s->peer, 0, sizeof(s->peer));
	s->master_id = 0;
	s->master_slot = 0;
	s->expect = 0;
	s->cert_master_id = 0;
	s->last_frame_ns = now_ns;
	s->opened_ns = now_ns;
	s->pre_prev = s->pre_next = NULL;
	s->on_pre = 0;
	s->src_bucket = w->admit_bucket;
	w->admit_bucket = DP_PRE_NONE;
	memset(s->token_hash, 0, sizeof(s->token_hash));
	s->login_step = 0;
	s->has_binding = 0;
	s->login_master = 0;
	s->pending_ns = 0;
	s->pending_version = 0;
	s->pending_unbound = 0;
	s->login_charged = 0;
	s->session_gen = 0;
	s->confirm_attach = 0;
	s->auth_gen = 0;
	s->auth_me = NULL;
	s->out_head = s->out_tail = 0;
	proto_frame_decoder_init(&s->dec, s->dec_buf, sizeof(s->dec_buf), w->cfg.max_frame);
	dp_session_set_state(s, DP_SS_AWAIT_HELLO);
	pre_enter(s, 0);
	dp_stat_add(w->st, DP_CTR_CONN_ACCEPTED, 1);
}

void dp_session_set_binding(struct dp_session *s, const uint8_t b[PROTO_LOGIN_BINDING_LEN])
{
	memcpy(s->binding, b, sizeof(s->binding));
	s->has_binding = 1;
}

static int overflow_check(struct dp_session *s, int64_t wall_ns)
{
	if (s->out_overflow && (s->state == DP_SS_AWAIT_HELLO || s->state == DP_SS_ACTIVE)) {
		reject(s, DP_REASON_OUT_OVERFLOW, 0, 0, NULL, 0, wall_ns);
		begin_close(s, DP_REASON_OUT_OVERFLOW);
	}
	return s->state == DP_SS_CLOSING || s->state == DP_SS_CLOSED ? -ECONNRESET : 0;
}

int dp_session_input(struct dp_session *s, const uint8_t *data, size_t len, uint64_t now_ns,
		     int64_t wall_ns)
{
	if (s->state != DP_SS_AWAIT_HELLO && s->state != DP_SS_ACTIVE)
		return -ECONNRESET;
	s->w->chunk_enq_ns = 0; /* a new chunk: its first enqueue reads the clock */
	dp_stat_add(s->w->st, DP_CTR_RX_BYTES, len);
	while (len > 0 && (s->state == DP_SS_AWAIT_HELLO || s->state == DP_SS_ACTIVE)) {
		struct proto_frame fr;
		ssize_t n = proto_frame_decoder_feed(&s->dec, data, len, &fr);
		if (n < 0) {
			/* Length 0 or over max_frame: the stream cannot be resynchronised. */
			reject(s, DP_REASON_OVERSIZE, 0, 0, data, len < 8 ? len : 8, wall_ns);
			send_error(s, DECP__ERROR__CODE__CODE_OVERSIZE);
			begin_close(s, DP_REASON_OVERSIZE);
			break;
		}
		data += n;
		len -= (size_t)n;
		if (fr.data != NULL)
			handle_frame(s, fr.data, fr.len, now_ns, wall_ns);
	}
	ingress_publish(s->w); /* the chunk's signals, together */
	return overflow_check(s, wall_ns);
}

int dp_session_tick(struct dp_session *s, uint64_t now_ns)
{
	if (s->state != DP_SS_AWAIT_HELLO && s->state != DP_SS_ACTIVE)
		return s->state == DP_SS_FREE ? 0 : -ECONNRESET;
	struct dp_worker *w = s->w;
	if (s->state == DP_SS_AWAIT_HELLO && w->cfg.hello_timeout_ns != 0 &&
	    now_ns > s->opened_ns && now_ns - s->opened_ns > w->cfg.hello_timeout_ns) {
		/* Counted, no protection event: a flood of idle connections would otherwise
		 * flood the event stream too. */
		dp_stat_add(w->st, DP_CTR_REASON_BASE + DP_REASON_HELLO_TIMEOUT, 1);
		begin_close(s, DP_REASON_HELLO_TIMEOUT);
		return -ECONNRESET;
	}
	if (s->state == DP_SS_AWAIT_HELLO && s->login_step == 2 &&
	    now_ns - s->pending_ns > DP_LOGIN_CONFIRM_NS) {
		/* The edge did not answer the LOGIN (busy, or its Redis is slow): as not ready. */
		login_unavailable(s, dp_wall_ns());
		return -ECONNRESET;
	}
	if (s->state == DP_SS_ACTIVE && s->session_gen != 0 &&
	    atomic_load_explicit(&w->hdr->dp_ready_attach, memory_order_relaxed) !=
		    s->confirm_attach) {
		/* Confirmed by a control process that is no longer the one READY: the new one
		 * knows nothing of this session's claim, so the master logs in again (Nack
		 * UNAVAILABLE, as a Signal would get while control was away). */
		login_unavailable(s, dp_wall_ns());
		return -ECONNRESET;
	}
	if (now_ns > s->last_frame_ns && now_ns - s->last_frame_ns > w->cfg.idle_timeout_ns) {
		reject(s, DP_REASON_IDLE_TIMEOUT, 0, 0, NULL, 0, dp_wall_ns());
		begin_close(s, DP_REASON_IDLE_TIMEOUT);
		return -ECONNRESET;
	}
	if (s->state == DP_SS_ACTIVE &&
	    atomic_load_explicit(&w->tables->rt[s->master_slot].owner, memory_order_acquire) !=
		    dp_owner_word(w->id, s->conn_id)) {
		reject(s, DP_REASON_REPLACED, 0, 0, NULL, 0, dp_wall_ns());
		send_error(s, DECP__ERROR__CODE__CODE_REPLACED);
		begin_close(s, DP_REASON_REPLACED);
		return -ECONNRESET;
	}
	return overflow_check(s, dp_wall_ns());
}

void dp_session_close(struct dp_session *s)
{
	if (s->state == DP_SS_FREE || s->state == DP_SS_CLOSED)
		return;
	if (s->session_gen != 0) {
		/* A confirmed session ends: the edge clears its claim if still this one's. */
		logout_send(s->w, s->master_id, s->conn_id, s->session_gen);
		s->session_gen = 0;
	}
	if (s->state == DP_SS_ACTIVE) {
		/* Give up ownership only if still ours: a newer login keeps its claim. */
		uint64_t mine = dp_owner_word(s->w->id, s->conn_id);
		atomic_compare_exchange_strong_explicit(&s->w->tables->rt[s->master_slot].owner,
							&mine, 0, memory_order_acq_rel,
							memory_order_relaxed);
	}
	dp_session_set_state(s, DP_SS_CLOSED);
	dp_stat_add(s->w->st, DP_CTR_CONN_CLOSED, 1);
}

void dp_session_abort(struct dp_session *s, enum dp_reason r)
{
	if (s->state != DP_SS_AWAIT_HELLO && s->state != DP_SS_ACTIVE)
		return;
	dp_stat_add(s->w->st, DP_CTR_REASON_BASE + r, 1);
	begin_close(s, r);
}

void dp_session_release(struct dp_session *s)
{
	if (s->state == DP_SS_CLOSED) {
		s->master_id = 0;
		dp_session_set_state(s, DP_SS_FREE);
	}
}

/* The edge's answer to a LOGIN, or its order to close a session (ACK statuses LOGIN_OK,
 * LOGIN_UNAVAILABLE, CLOSE; dp_shm.h). An answer whose session is no longer the pending
 * one (timed out, evicted, closed) is counted stale; a LOGIN_OK then releases the claim
 * it made (LOGOUT), so a master is never shown connected through a session that is gone. */
static void session_answer(struct dp_worker *w, const struct dp_ack_rec *a)
{
	struct dp_session *s = w->ops->lookup(w->tctx, a->conn_id);
	bool pending = s != NULL && s->state == DP_SS_AWAIT_HELLO && s->login_step == 2 &&
		       s->login_master == a->master_id;

	switch (a->status) {
	case DP_ACK_LOGIN_OK: {
		const struct dp_master_ent *me = dp_tables_master_find(w->snap, a->master_id);
		/* Redis's durable last sequence: ours is stale if the master streamed through
		 * another edge since our edge pushed SET_DURABLE. */
		if (me != NULL)
			dp_master_durable_advance(&w->tables->rt[me->slot], a->sequence);
		if (pending && me != NULL && me->slot == s->master_slot) {
			login_finish(s, a->master_id, s->pending_version, a->session_gen,
				     dp_wall_ns());
			return;
		}
		dp_stat_add(w->st, DP_CTR_LOGIN_CONFIRM_STALE, 1);
		logout_send(w, a->master_id, a->conn_id, a->session_gen);
		return;
	}
	case DP_ACK_LOGIN_UNAVAILABLE:
		if (pending)
			login_unavailable(s, dp_wall_ns());
		else
			dp_stat_add(w->st, DP_CTR_LOGIN_CONFIRM_STALE, 1);
		return;
	case DP_ACK_CLOSE:
		if (s != NULL && s->state == DP_SS_ACTIVE && s->master_id == a->master_id &&
		    s->session_gen == a->session_gen) {
			/* A newer login of this master took its claim (on another edge, or
			 * another session here whose owner word the tick would see anyway). */
			reject(s, DP_REASON_REPLACED, 0, 0, NULL, 0, dp_wall_ns());
			send_error(s, DECP__ERROR__CODE__CODE_REPLACED);
			begin_close(s, DP_REASON_REPLACED);
		}
		return;
	default:
		return;
	}
}

unsigned int dp_worker_ack_poll(struct dp_worker *w, unsigned int budget)
{
	struct dp_ack_rec acks[32];
	unsigned int total = 0;
	if (w->n_logout_q != 0)
		logout_retry(w);
	while (total < budget) {
		unsigned int want = budget - total < 32 ? budget - total : 32;
		unsigned int n = rte_ring_sc_dequeue_burst_elem(w->ack, acks, sizeof(acks[0]), want,
								NULL);
		if (n == 0)
			break;
		uint64_t now = worker_now(w);
		for (unsigned int i = 0; i < n; i++) {
			const struct dp_ack_rec *a = &acks[i];
			if (a->status >= DP_ACK_LOGIN_OK) {
				session_answer(w, a);
				continue;
			}
			struct dp_session *s = w->ops->lookup(w->tctx, a->conn_id);
			bool live = s != NULL && s->state == DP_SS_ACTIVE &&
				    s->master_id == a->master_id;
			/* A live session knows its master's slot (slots are never reused); only
			 * a stale ACK needs the table. */
			if (live) {
				dp_master_durable_advance(&w->tables->rt[s->master_slot], a->sequence);
			} else {
				const struct dp_master_ent *me =
					dp_tables_master_find(w->snap, a->master_id);
				if (me != NULL)
					dp_master_durable_advance(&w->tables->rt[me->slot],
								  a->sequence);
			}
			if (a->enq_mono_ns != 0 && now >= a->enq_mono_ns)
				dp_hist_record(&w->st->enq_to_ack, now - a->enq_mono_ns);
			if (!live) {
				dp_stat_add(w->st, DP_CTR_ACK_STALE, 1);
				continue;
			}
			send_ack(s, a->sequence, a->arrival_ns,
				 a->status == DP_ACK_DUPLICATE ? DECP__ACK__STATUS__STATUS_DUPLICATE
							       : DECP__ACK__STATUS__STATUS_OK);
		}
		total += n;
	}
	return total;
}
