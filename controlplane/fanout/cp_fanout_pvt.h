/*
 * cp_fanout_pvt.h: the fan-out's internals, shared by its files (docs/fanout.md):
 *   cp_fanout.c        lifecycle, the publish ring (publish API), the mutex queues
 *   cp_fanout_lws.c    the lws service thread: masters, sessions, replay/live splice,
 *                      client messages, upgrade auth, lws callbacks
 *   cp_fanout_redis.c  the replay thread (XRANGE) and the tail thread (XREAD BLOCK)
 *   cp_fanout_ctail.c  the tail thread on a Redis Cluster (own header)
 *   cp_fanout_db.c     the db thread: subscription-state poll, reports and delivery runs
 *                      into PostgreSQL (common/cp_report)
 *   cp_fanout_policy.c the policy thread: LISTEN decp_policy, CopyPolicy messages built
 *                      from the changed rows (cp_policy_msg.h) for the lws thread
 *   cp_fanout_splice.c the REPLAY/LIVE/HELD switch-over rules (pure; own header)
 *   cp_fanout_deliv.c  delivery runs per attachment (pure; own header)
 *   cp_fanout_auth.c   the authentication cache the upgrade reads (pure; own header)
 *   cp_fanout_msg.c, cp_fanout_json.c, cp_ws_check.c: own headers
 *   cp_fanout_poll.c   HTTP long polling on the same port (lws thread; own header)
 *   cp_fanout_role.c   decp-control's fanout role around all of this (own header)
 * Redis and PostgreSQL sessions are common/'s cp_redis and cp_pg; logging is cp_log.
 * Functions shared between the files carry the prefix cp_fo_.
 *
 * Everything below "lws thread" runs on the one service thread and needs no lock:
 * masters, sessions, attachments, queues, reference counts. Other threads talk to it
 * through the publish ring (lock-free SPSC) and three small mutex queues (replay replies,
 * state events in; replay requests, reports out), each followed by lws_cancel_service().
 *
 * Per (connection, master) an attachment moves through NEW, REPLAY, LIVE and HELD; the
 * rules of that switch-over (diagram, transition table, the exactly-once invariant on
 * `next`) are cp_fanout_splice.h's, and only its functions change an attachment's mode.
 */
#ifndef DECP_CP_FANOUT_PVT_H
#define DECP_CP_FANOUT_PVT_H

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

#include "cp_fanout_auth.h"
#include "cp_fanout_deliv.h"
#include "cp_fanout_keys.h"
#include "cp_fanout_msg.h"
#include "cp_fanout_splice.h"
#include "cp_ws_check.h"
#include "cp_gate.h"
#include "cp_log.h"
#include "cp_pg.h"
#include "cp_rate.h"
#include "cp_redis.h"
#include "cp_report.h"
#include "decp.pb-c.h"

#define ROLE "fanout" /* log tag and PostgreSQL application_name suffix */

#define QUEUE_RESERVE 8u      /* queue slots kept for control messages */
#define REPLAY_CHUNK 256u     /* XRANGE COUNT */
#define REPORT_QUEUE_MAX 100000u /* subscriber reports waiting for Redis (or PostgreSQL) */
#define DELIV_QUEUE_MAX 100000u  /* delivery runs waiting, a bound of their own: a flood
				  * of reports never pushes a run out (cp_fanout_db.c) */
#define PUB_RING 65536u       /* power of two */
#define DELIV_SNAPSHOT_NS 1000000000 /* an open delivery run reaches the database at least
			       * this often while it grows (cp_fanout_deliv.h) */
#define RING_DIRECT_MAX 64u   /* publish ring backlog up to which envelopes are written at
			       * once (sess_write_now); beyond, they are only queued */
#define MASTER_BUCKETS 1024u

struct master;
struct sess;
struct cp_fo_poll; /* a polling connection's state (cp_fanout_poll.h) */

struct attach {
	struct sess *s;           /* NULL: session closed while a replay was pending */
	struct master *m;
	struct attach *m_next, *m_prev;
	struct attach *s_next;
	uint64_t sub_id;
	struct cp_splice sp;      /* mode, next, pending chunk (cp_fanout_splice.h) */
	uint32_t dry;             /* empty chunks in a row while behind (cp_fanout_range.h) */
	struct cp_deliv deliv;    /* what was sent, for trust_deliveries (cp_fanout_deliv.h) */
	bool snap_ok;             /* its last Subscribe set `snapshot`: re-sync by snapshot
				   * instead of a stale or lost replay (cp_fanout_snap.h) */
	uint64_t resync_seq;      /* the sequence of the last snapshot sent ... */
	bool resyncing;           /* ... until its ResyncDone (DEGRADED_GAP written) */
};

struct master {
	uint64_t id;
	struct master *hnext;
	uint64_t last_seq;        /* highest published; 0 = none seen */
	uint64_t hist_first;      /* lowest sequence in hist, 0 = empty */
	struct cp_fmsg **hist;    /* seq % hcap */
	struct attach *subs;
	struct cp_fmsg *key_ann;  /* the master's key announcement (cp_fanout_keys.h), or NULL */
	struct cp_fo_poll *pollers; /* polls waiting for its next signal (cp_fanout_poll.h) */
	bool armed;               /* its publishes flow: fed by the edge, or its tail's start
				   * mark arrived (cp_fo_tail_arm); replays go live only then */
};

struct subrow {
	uint64_t id, master;
	Decp__SubscriptionState state;
	uint64_t policy_version;  /* of `policy`; 0 = none */
	struct cp_fmsg *policy;   /* ServerMessage{CopyPolicy}, one reference; NULL = none */
};

struct sess {
	struct cp_fanout *f;
	struct lws *wsi;
	struct sess *next_all, *prev_all;
	struct sess *sub_next, *sub_prev; /* the subscriber's sessions (struct subcount) */
	uint64_t serial;          /* 1, 2, ...: names the session to other threads (acks) */
	uint64_t subscriber_id;
	uint64_t token_id;        /* subscriber_tokens.id the upgrade authenticated with */
	uint8_t token_sha256[32]; /* its digest: a polling answer checks it again (revoked?) */
	uint32_t nsubs;
	struct subrow *subs;      /* every live subscription of the subscriber at the upgrade */
	struct attach *att;
	struct cp_fmsg **q;
	uint8_t *qreplay;         /* bit per queue slot: the envelope is sent by a replay */
	uint32_t qhead, qcount;
	uint16_t close_code;
	int64_t last_rx_ns;       /* monotonic time of the last bytes from the peer */
	int64_t ping_at_ns;       /* keep-alive ping due since (monotonic); 0 = none */
	bool ping_due;            /* write a ping at the next writeable */
	bool peer_closing;        /* the peer sent a close frame: write nothing more */
	bool ka_cut;              /* cut by the keep-alive sweep, closing */
	bool closing;             /* close once the queue is written */
	bool close_sent;          /* our close frame is out: nothing more is written, ever
				   * (RFC 6455 §5.5.1) */
	bool dead;                /* dropped (slow): nothing more is queued */
	bool authed;
	bool json;
	bool upgraded;            /* our 101 went out: WebSocket frames from here on */
	bool hangup;              /* close the connection once lws has sent what it holds (an
				   * HTTP refusal, the close handshake done) */
	bool pong_due;            /* answer the peer's ping (pong[0..pong_len)) */
	uint8_t pong_len;
	uint8_t pong[125];
	struct cp_ws_check chk;   /* RFC 6455 checks and decoding of the client's bytes */
	struct cp_fo_poll *poll;  /* an HTTP polling connection (cp_fanout_poll.h), or NULL */
	/* the subscriber's report budget (sess_report_budget in cp_fanout_lws.c) */
	lws_sorted_usec_list_t rep_sul; /* when its subscriber's debt can be paid: resume */
	bool rep_paused;          /* not reading (lws_rx_flow_control) while it owes */
	/* ReportAcks the queue had no room for, sent as it empties (sess_ack) */
	uint64_t *acks;
	uint32_t nacks, acks_cap;
	/* the subscriber's broker account as its EA last reported it (AccountState) */
	int64_t acct_at_ns, acct_equity, acct_free_margin;
	uint32_t acct_positions;                /* ?format=json: JSON text frames (debug mode) */
	bool rx_text;             /* the message being received is a text message */
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
	uint64_t first;           /* sequence of XRANGE's first entry; 0: none */
	bool end;
	int err;
	struct cp_fmsg *msgs[REPLAY_CHUNK];
	/* a snapshot request (cp_fanout_snap.h) instead of a chunk: the reply carries the
	 * book's messages at snap_seq (snap_n of them, or err: -ENODATA, -EIO, -ENOMEM) */
	bool snap;
	int snap_reason;          /* Decp__SnapshotBegin__Reason */
	uint64_t sub_id, snap_seq;
	long snap_n;
	struct cp_fmsg **snap_msgs;
	struct cp_fo_poll *poll;  /* not NULL: a poll's read (a is NULL), answered to it */
};

/* Free a replay request or reply whose attachment is gone (any thread). */
void cp_fo_replay_msg_free(struct replay_msg *r);

/* A re-sync's state change to write (lws -> db thread): begin (DEGRADED_GAP) or done
 * (SYNCED), through subscription_resync() (sql 0021). */
struct resync_ev {
	struct resync_ev *next;
	uint64_t sub_id, seq;
	bool done;
};

/* A connection that passed the gate (gate thread -> lws thread), its complete request head
 * waiting unread in the socket: adopted into lws (lws_adopt_socket_vhost). */
struct adopt {
	struct adopt *next;
	int fd;
	size_t len;
	char head[];
};

/* Connections of one subscriber (lws thread): their count, for
 * fanout_max_conns_per_subscriber (WebSocket and polling ones), and its WebSocket sessions,
 * which a change of one of its subscriptions concerns (on_state_ev, on_policy_ev: without
 * this list each change walked every session, a second of stalled deliveries when 5,000
 * subscriptions changed state at once). */
#define SUBCOUNT_BUCKETS 1024u
struct subcount {
	struct subcount *next;
	uint64_t subscriber;
	uint32_t n;
	struct sess *sessions;    /* linked by sess.sub_next / sub_prev */
	struct cp_rate rep_rate;  /* fanout_report_rate: reports of all its sessions */
	uint32_t rep_owed;        /* reports taken beyond rep_rate, to be paid from it; the
				   * entry outlives its connections until this is 0 and
				   * rep_rate full again */
	bool rep_rate_set;        /* rep_rate initialised (at its first report) */
};

/* Subscription state seen by the db poll (db -> lws thread). */
struct state_ev {
	struct state_ev *next;
	uint64_t revoked_token;   /* not 0: this token (subscriber_tokens.id) of `subscriber` is
				   * no longer valid (revoked, expired, subscriber disabled); the
				   * rest unused */
	uint64_t sub_id, master, subscriber;
	Decp__SubscriptionState state;
	uint64_t policy_version;  /* of policy; 0 = none */
	struct cp_fmsg *policy;   /* the subscription's CopyPolicy, one reference, or NULL */
	/* full lists for the authentication cache (cp_fanout_auth.h), when not NULL: the
	 * event carries only them (rows own one policy reference each) */
	struct cp_fo_auth_tok *toks;
	size_t ntoks;
	struct cp_fo_auth_sub *subs;
	size_t nsubs;
};

/* A subscription's copy policy, read after a change (policy -> lws thread); msg holds
 * one reference. */
struct policy_ev {
	struct policy_ev *next;
	uint64_t sub_id, master, subscriber, version;
	struct cp_fmsg *msg;
};

/* Execution report, protection event or delivery run (lws -> db thread). */
struct report {
	struct report *next;
	uint64_t sess;            /* the reporting session's serial (its ReportAck goes there) */
	struct cp_report r;
};

/* A report is durable (db -> lws thread): ReportAck{report_id} to session `sess`. */
struct report_ack {
	struct report_ack *next;
	uint64_t sess, report_id;
};

struct mq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *head, *tail;  /* singly linked through a leading `next` pointer */
	size_t n;
};

struct cp_fanout {
	struct cp_config cfg;     /* the fanout_* keys; read-only after create */
	struct proto_ed25519_key *snap_sk; /* signs re-sync snapshots; NULL: unsigned */
	bool tail;                /* tail Redis (no in-process publisher) */
	struct lws_context *ctx;
	struct ssl_ctx_st *no_client; /* wss: lws's client context, ours (cp_tls.h) */
	struct lws_vhost *vh;
	struct ev_loop *evloop;   /* libev (epoll) loop lws runs on; NULL: lws's poll loop */
	int port;
	int listen_fd;            /* our listener (SO_REUSEPORT with reuse_port), until the
				   * gate takes it at start; -1 after */
	struct cp_gate *gate;     /* accepts and holds connections until their upgrade
				   * request is complete (cp_gate.h), then hands them over */
	struct mq adopt_q;        /* gate -> lws thread: struct adopt, adopted into lws */
	lws_sorted_usec_list_t ka_sul; /* the keep-alive sweep's timer (lws thread) */
	struct sess *ka_cursor;   /* the next session the sweep visits; NULL: from f->all */
	lws_sorted_usec_list_t drain_sul; /* stop: the deadline of the 1001 close handshakes */
	bool draining;            /* stop: every session was told 1001 (lws thread) */
	bool drained;             /* stop: the lws thread leaves its loop (lws thread) */
	pthread_t lws_thr, replay_thr, db_thr, tail_thr, policy_thr;
	bool started, tail_started;
	atomic_bool stop;

	/* publish ring: one producer (edge thread or tail thread), consumer lws thread */
	struct cp_fmsg *ring[PUB_RING];
	_Alignas(64) atomic_uint_fast64_t ring_head; /* producer writes */
	_Alignas(64) atomic_uint_fast64_t ring_tail; /* consumer writes */
	atomic_bool ring_lost;    /* publisher: a signal was dropped (ring full); lws thread
				   * clears it and heals (heal_lost in cp_fanout_lws.c) */

	struct mq replay_req, replay_rep, state_q, report_q, deliv_q, ack_q, policy_q;
	struct mq key_q;          /* struct key_ev: db thread -> lws thread */
	struct mq resync_q;       /* struct resync_ev: lws thread -> db thread */

	/* tail watch list (lws -> tail thread) */
	pthread_mutex_t watch_mu;
	uint64_t *watch;
	size_t nwatch, watch_cap;

	/* lws thread only (filled once by cp_fanout_create before it runs) */
	struct cp_fo_auth auth;   /* tokens and subscriptions: upgrades never query */
	struct subcount *subcnt[SUBCOUNT_BUCKETS]; /* live sessions per subscriber */
	struct master *mbucket[MASTER_BUCKETS];
	struct sess *all;
	struct sess **stab;       /* sessions by serial: open addressing, stab_cap a power of
				   * two, at least twice stab_n (grows) */
	uint32_t stab_cap, stab_n;
	uint64_t next_serial;
	struct cp_fo_poll *poll_ready; /* polls woken by a publish, answered after the pass */

	/* counters: written by one thread each, read by any (relaxed) */
	atomic_uint_fast64_t c_conn, c_auth_refused, c_sub_refused, c_published, c_pub_dropped,
		c_delivered, c_replayed, c_slow, c_malformed, c_reports, c_reports_dropped,
		c_deliv_dropped,
		c_reports_acked,
		c_ka_closed, c_keys_sent, c_range_lost, c_revoked, c_sub_limited,
		c_policies, c_policies_sent, c_accounts, c_snapshots, c_snap_failed,
		c_resync_done, c_polls, c_poll_envelopes, c_poll_woken, c_poll_timeouts,
		c_poll_refused, c_rep_throttled, c_acks_dropped;
	atomic_uint c_live;
	atomic_uint c_poll_conns; /* connections that made a polling request, open now */
};

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cnt(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline void cnt_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- shared between the files (see the top of this header) ---- */

/* Mutex queues (cp_fanout.c): items are singly linked through a leading `next` pointer.
 * init before use; push from any thread (signals the condition); take_all detaches the
 * whole list (FIFO order), waiting up to wait_ms when empty (0 = no wait), NULL if none;
 * len is the current length (any thread). */
void cp_fo_mq_init(struct mq *q);
void cp_fo_mq_push(struct mq *q, void *item);
void *cp_fo_mq_take_all(struct mq *q, int wait_ms);
void cp_fo_mq_wake(struct mq *q);
size_t cp_fo_mq_len(struct mq *q);
/* Publish ring (cp_fanout.c), single producer (edge or tail thread) / single consumer (lws
 * thread): put returns 0 or -ENOBUFS (full, m not taken); get returns NULL when empty. */
int cp_fo_ring_put(struct cp_fanout *f, struct cp_fmsg *m);
struct cp_fmsg *cp_fo_ring_get(struct cp_fanout *f);
/* Entries waiting in the publish ring (lws thread). */
size_t cp_fo_ring_len(struct cp_fanout *f);
/* cp_fanout_lws.c. hist_clear: drop a master's history references (lws thread, or after
 * it stopped); state_parse: a subscriptions.state text to the enum (pure); protocols:
 * the lws protocol table; lws_main: the service thread (arg = struct cp_fanout). */
void cp_fo_master_hist_clear(struct cp_fanout *f, struct master *m);
Decp__SubscriptionState cp_fo_state_parse(const char *s);
extern const struct lws_protocols cp_fo_protocols[];
void *cp_fo_lws_main(void *arg);
/* Helpers of cp_fanout_lws.c for cp_fanout_poll.c (lws thread): the master (created and
 * watched when new; NULL: out of memory), whether seq is in its history ring, live
 * connections of a subscriber changed by delta (0 reads), a request's token and
 * subscriptions from the authentication cache into s (0 or -EACCES; rows hold policy
 * references, released by cp_fo_sess_rows_release), s's row for a master (or NULL),
 * whether a state delivers, and closing s once lws has sent what it holds. */
struct master *cp_fo_master_get(struct cp_fanout *f, uint64_t id);
bool cp_fo_master_in_hist(const struct master *m, uint64_t seq);
uint32_t cp_fo_subcount(struct cp_fanout *f, uint64_t subscriber, int delta);
int cp_fo_sess_auth(struct cp_fanout *f, struct sess *s, const char *req, size_t len);
void cp_fo_sess_rows_release(struct sess *s);
struct subrow *cp_fo_sess_subrow(struct sess *s, uint64_t master);
bool cp_fo_state_delivers(Decp__SubscriptionState st);

/* Queue a snapshot of a delivery run of subscription sub_id (master) for trust_deliveries
 * (the db thread writes it before any report queued after it). polled: sent as polling
 * answers (cp_fanout_poll.c), whose `late` counts only the fan-out's own delay (sql 0041).
 * Runs wait in their own queue (deliv_q, DELIV_QUEUE_MAX), apart from reports: beyond
 * it the run is dropped (counted deliveries_dropped; the credit and staleness rules then
 * fail safe: no credit, scored). Lws thread only. */
void cp_fo_deliv_push(struct cp_fanout *f, uint64_t sub_id, uint64_t master,
		      const struct cp_deliv_run *run, bool polled);
void cp_fo_sess_hangup(struct sess *s);
/* cp_fanout_redis.c: the replay and tail threads (arg = struct cp_fanout); entry_msg: one
 * stream entry [id, [field, value, ...]] of master as a message (either record layout,
 * cp_redis_rec.h; NULL when incomplete); tail_put: a tailed message into the publish ring,
 * waiting while it is full (Redis holds the backlog) unless stopping (tail threads);
 * rec_msg: the same from an unpacked record. */
void *cp_fo_replay_main(void *arg);
void *cp_fo_tail_main(void *arg);
struct cp_fmsg *cp_fo_entry_msg(uint64_t master, const redisReply *e);
/* The message of master's record r with sequence seq (NULL: no signature, or no memory). */
struct cp_rec;
struct cp_fmsg *cp_fo_rec_msg(uint64_t master, uint64_t seq, const struct cp_rec *r);
void cp_fo_tail_put(struct cp_fanout *f, struct cp_fmsg *m);
/* A tail thread starts reading master's stream after entry last (its end when read): the
 * mark tells the lws thread, whose replays of that master go live only from there on (a
 * replay that went live before would miss what the tail skipped). 0, or -ENOMEM: call
 * again later. Waits while the ring is full, as tail_put. */
int cp_fo_tail_arm(struct cp_fanout *f, uint64_t master, uint64_t last);
/* cp_fanout_db.c: the db thread (arg = struct cp_fanout). */
void *cp_fo_db_main(void *arg);
/* The authentication cache's full lists (cp_fanout_db.c), read on session c: every valid
 * token into *toks, every subscription that is not CANCELLED with its CopyPolicy into
 * *subs (either may be NULL: not read). 0, or -1 (logged; nothing returned). Any thread. */
int cp_fo_auth_read(struct cp_fanout *f, PGconn *c, struct cp_fo_auth_tok **toks,
		    size_t *ntoks, struct cp_fo_auth_sub **subs, size_t *nsubs);
void cp_fo_auth_rows_free(struct cp_fo_auth_sub *subs, size_t n);
/* cp_fanout_policy.c: the policy thread (arg = struct cp_fanout). */
void *cp_fo_policy_main(void *arg);

#endif
