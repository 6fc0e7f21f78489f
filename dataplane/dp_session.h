/*
 * dp_session: the ingest session layer, shared by both transports (dp_posix: kernel
 * sockets and epoll; dpdk/dp_dpdk_loop: the userspace TCP stack of dataplane/net), with
 * dp_tls between either transport and the session when TLS is on. SPEC.md §2-§3,
 * docs/ingest.md.
 *
 * A transport gives each connection a struct dp_session and moves bytes:
 *
 *     bytes in  --dp_session_input()-->  [frames -> checks -> ingress ring / replies]
 *     bytes out <--dp_session_out()/dp_session_out_consume()--  out buffer
 *     ACK ring  --dp_worker_ack_poll()-->  Ack frames into the owning session's out buffer
 *
 * Session state machine (one dp_session_set_state() makes every change):
 *
 *            open                Hello ok
 *   FREE ----------> AWAIT_HELLO ----------> ACTIVE
 *                         |                    |
 *                         | fatal rejection,   | fatal rejection, revoked token,
 *                         | idle timeout       | replaced by newer login, idle timeout
 *                         v                    v
 *                      CLOSING <---------------+     (reply + Error queued; reads stop)
 *                         |
 *                         | transport flushed the out buffer (or gave up)
 *                         v
 *   FREE <----------- CLOSED  <--- any state on peer EOF / socket error (dp_session_close)
 *          slot reused
 *
 *   | from        | event                                   | to          |
 *   |-------------|-----------------------------------------|-------------|
 *   | FREE        | dp_session_open                         | AWAIT_HELLO |
 *   | AWAIT_HELLO | valid Hello: ServerChallenge sent        | AWAIT_HELLO |
 *   | AWAIT_HELLO | LoginProof verifies, READY, keys loaded | ACTIVE      |
 *   |             |   (edge confirms logins: LOGIN sent,    | AWAIT_HELLO |
 *   |             |   pending, login_step 2)                |  (pending)  |
 *   | AWAIT_HELLO | pending: LOGIN_OK from the edge         | ACTIVE      |
 *   | (pending)   | LOGIN_UNAVAILABLE, no answer in         | CLOSING     |
 *   |             |   DP_LOGIN_CONFIRM_NS, any frame        |             |
 *   | ACTIVE      | CLOSE from the edge (claim lost)        | CLOSING     |
 *   | ACTIVE      | confirmed by a control process no longer| CLOSING     |
 *   |             |   the one READY (tick)                  |             |
 *   | AWAIT_HELLO | any other frame / bad Hello / timeout   | CLOSING     |
 *   | ACTIVE      | Signal accepted / DUPLICATE / GAP / BUSY| ACTIVE      |
 *   | ACTIVE      | Heartbeat                               | ACTIVE      |
 *   | ACTIVE      | fatal rejection (table in docs)         | CLOSING     |
 *   | CLOSING     | dp_session_close (transport done)       | CLOSED      |
 *   | any but FREE| dp_session_close (EOF, error)           | CLOSED      |
 *   | CLOSED      | dp_session_release                      | FREE        |
 * Invariants (asserted in dp_session_set_state): ACTIVE has master_id != 0 and expect >= 1;
 * AWAIT_HELLO has master_id == 0; CLOSING/CLOSED have close_reason set unless the peer
 * closed first (DP_REASON_NONE).
 *
 * Login (protocol 2, proto_login.h) happens inside AWAIT_HELLO in two steps (login_step):
 * Hello{master_id, version} is answered with ServerChallenge{nonce}, and LoginProof{proof}
 * with HelloAck. Hello is checked for: protocol order, the source address's failed-login
 * budget, protocol version (version 1 sent the token in clear: Error VERSION naming it),
 * no license_token, master id set, control READY (Nack UNAVAILABLE: not a failed login).
 * LoginProof for: order (a challenge was sent), READY, a token of that master whose
 * SHA-256 keys a proof equal to the one received (BAD_TOKEN otherwise), that token not
 * revoked, a TLS client certificate (if any) names that master, master keys loaded. docs/ingest.md has the table.
 * The proof covers the channel binding (docs/protocol.md "Login"): on a TLS connection the
 * transport sets the TLS exporter with dp_session_set_binding when the handshake completes,
 * before any plaintext reaches the session; on a plaintext one (tls = off, or optional and
 * the client chose plaintext) it is 32 zero bytes. A TLS login whose proof verifies only
 * with the zero binding (a client that cannot read its exporter, such as MQL5's TLS) is
 * refused as UNBOUND (Nack BAD_TOKEN, a failed login) unless its master is one of
 * cfg.unbound_masters (--tls-unbound-masters; then counted logins_unbound). A master of
 * cfg.cert_masters (--tls-cert-masters) must present a client certificate naming it: a
 * login without one (plaintext, or TLS with no certificate or one naming no master) is
 * refused as CERT_REQUIRED (Nack BAD_TOKEN, a failed login), before it can replace the
 * master's live session.
 *
 * Logins confirmed by the edge (layout 8; docs/ingest.md "One live session per master,
 * across edges"): when the control process said READY with DP_READY_CONFIRM_LOGINS, a
 * LoginProof that passes every check above does not answer HelloAck at once: the session
 * sends a DP_REC_LOGIN record through its ingress ring and waits (AWAIT_HELLO, login_step
 * 2, "pending"). The edge claims the master's live session in Redis, newest login wins,
 * and answers on the worker's ACK ring (dp_worker_ack_poll): LOGIN_OK with the master's
 * durable last sequence from Redis (this dataplane's own may be stale: the master may have
 * streamed through another edge meanwhile) -> owner word, ACTIVE, HelloAck(durable + 1);
 * LOGIN_UNAVAILABLE, or no answer within DP_LOGIN_CONFIRM_NS (dp_session_tick) -> Nack
 * UNAVAILABLE (reason not_ready), closed. A confirmed session that closes sends
 * DP_REC_LOGOUT (kept in the worker's logout_q while the ring is full); a CLOSE order from the edge (its claim went to a newer login elsewhere)
 * closes it with Error REPLACED. Nothing of this runs per signal.
 *
 * Checks on every Signal, in this order (the order; each failure is counted by
 * reason and sent as a protection-event record through the ingress ring):
 *   1. frame well-formed and within size        OVERSIZE / MALFORMED   -> Error, close
 *   2. session authenticated: Hello done, token  PROTOCOL / REVOKED     -> Nack STATE or
 *      still present and not revoked, session                             BAD_TOKEN, close
 *      still the master's live one               REPLACED               -> Error, close
 *      control ready (attached, heartbeating)    NOT_READY              -> Nack UNAVAILABLE,
 *                                                                          close
 *   3. HMAC-SHA256 over body (constant time)     BAD_HMAC               -> Nack BAD_SIGNATURE,
 *                                                                          close
 *   4. body decodes + validates                  MALFORMED              -> Nack, close
 *   5. Signal.master_id == the token's master    MASTER_MISMATCH        -> Nack, close
 *   6. sequence: <= last durable                 DUPLICATE              -> Ack DUPLICATE
 *                > expected                      GAP                    -> Nack GAP(expected)
 *   7. stamp Server_Arrival_Time, enqueue by value; ring full  BUSY    -> Nack BUSY
 *
 * Threading: a worker's sessions and its struct dp_worker are used by that worker thread
 * only. Nothing here allocates, locks or makes a syscall after dp_worker_init, except the
 * consumer doorbell in dp_worker_poll_end (one sendto only when the consumer sleeps).
 */
#ifndef DECP_DP_SESSION_H
#define DECP_DP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "dp_shm.h"
#include "dp_siphash.h"
#include "dp_tables.h"
#include "proto_arena.h"
#include "proto_frame.h"
#include "proto_hmac.h"
#include "proto_login.h"

#define DP_FRAME_MAX_LIMIT 4096u
#define DP_SESSION_OUT_CAP (64u * 1024u)
/* The transport reads at most this much per dp_session_input call, and only while
 * dp_session_rx_ok() is true: every input frame yields at most one reply (<= 64 bytes), and
 * the smallest frame is 6 bytes, so one chunk can never overflow the free space asked for. */
#define DP_SESSION_RX_CHUNK (4u * 1024u)
#define DP_SESSION_RX_MIN_FREE (48u * 1024u)
#define DP_LOGIN_BUCKETS 1024u
#define DP_UNBOUND_MAX 32u /* --tls-unbound-masters entries */
/* A pending login (confirmed by the edge) waits this long for LOGIN_OK, then Nack
 * UNAVAILABLE: the master tries again, or another edge. */
#define DP_LOGIN_CONFIRM_NS 1000000000ull

enum dp_session_state {
	DP_SS_FREE = 0,
	DP_SS_AWAIT_HELLO,
	DP_SS_ACTIVE,
	DP_SS_CLOSING,
	DP_SS_CLOSED,
};

struct dp_session_cfg {
	uint32_t max_frame;          /* 1..DP_FRAME_MAX_LIMIT */
	uint64_t idle_timeout_ns;    /* no complete frame for this long -> close */
	/* Pre-authentication budget (docs/ingest.md "Connections that have not logged in"):
	 * a connection is "pre-login" from open until it leaves AWAIT_HELLO. */
	uint64_t hello_timeout_ns;   /* pre-login for this long -> close; 0 = no bound */
	uint32_t preauth_per_src;    /* pre-login per source address, process-wide; 0 = none */
	uint32_t preauth_max;        /* pre-login per worker; 0 = no bound (tests) */
	/* Accept protocol 1 (the token in Hello, in clear) from clients not upgraded yet;
	 * false (the default) refuses it with Error VERSION. */
	bool allow_protocol_1;
	/* Masters allowed to log in over TLS with the zero channel binding (their client
	 * cannot export keying material: the MetaTrader EA, docs/mt5.md); every other TLS
	 * login must bind the exporter. */
	uint32_t n_unbound;
	uint64_t unbound_masters[DP_UNBOUND_MAX];
	/* Masters that must log in over TLS with a client certificate naming them
	 * (--tls-cert-masters): without one refused as CERT_REQUIRED (another master's is
	 * CERT_MISMATCH for every master). */
	uint32_t n_cert_masters;
	uint64_t cert_masters[DP_UNBOUND_MAX];
};

struct dp_peer {
	uint8_t family;              /* AF_INET / AF_INET6 / 0 unknown */
	uint16_t port;               /* host order */
	uint8_t addr[16];
};

struct dp_session;

/* Transport callbacks, called from the worker thread. */
struct dp_transport_ops {
	/* The live session of conn_id or NULL (closed, or slot reused: generation differs). */
	struct dp_session *(*lookup)(void *tctx, uint64_t conn_id);
	/* The session has new output or wants to close: flush it soon. */
	void (*kick)(void *tctx, struct dp_session *s);
	/* End a pre-login connection at once (abort, RST), to make room for a new one
	 * (dp_worker_admit): the transport closes the session (dp_session_close) and frees
	 * its slot before returning. NULL = nothing is ever evicted. */
	void (*evict)(void *tctx, struct dp_session *s);
	/* CLOCK_MONOTONIC ns now, the cheapest way the transport has (DPDK: the worker's TSC
	 * clock, re-anchored to CLOCK_MONOTONIC); stamps enqueues and ACK polls. NULL =
	 * dp_mono_ns(). */
	uint64_t (*now_ns)(void *tctx);
};

/*
 * Failed-login limiter per source address, shared by all workers of a process (SO_REUSEPORT
 * spreads one address's connections over workers). A token bucket per address hash:
 * login_fail_burst failures, refilled by one per login_fail_refill_ns. Lock-free: each
 * bucket is a key word and a state word (tokens in thousandths << 40 | last refill in ms),
 * updated with CAS. Colliding addresses share or take over a bucket: it is a rate limit,
 * not an identity check.
 */
struct dp_login_bucket {
	_Atomic uint64_t key;
	_Atomic uint64_t state;
};

/*
 * The same object also counts each source address's pre-login connections (the
 * per-source part of the pre-authentication budget): DP_PRE_BUCKETS words, each the
 * source's 40-bit keyed hash << 24 | its count, claimed and counted with CAS, found by
 * linear probing over DP_PRE_PROBE buckets. A bucket whose count is 0 may be taken by
 * another source. Two workers admitting the same new source at the same instant may
 * claim two buckets for it (its limit then counts twice, at most once per worker); a
 * source that finds no bucket within the probe window (more than ~3,000 sources with
 * pre-login connections at once) is admitted uncounted: the per-worker cap still holds.
 */
#define DP_PRE_BUCKETS 4096u
#define DP_PRE_PROBE 32u
#define DP_PRE_NONE UINT32_MAX

struct dp_login_limiter {
	uint32_t burst;              /* 1..10000 */
	uint64_t refill_ns;          /* 0 = never refill */
	/* keys the address hash of the buckets and the pre-login table (random at init) */
	struct dp_siphash_key key;
	struct dp_login_bucket b[DP_LOGIN_BUCKETS];
	_Atomic uint64_t pre[DP_PRE_BUCKETS];
};

/* Prepare a limiter (burst is clamped to 1..10000). */
void dp_login_limiter_init(struct dp_login_limiter *l, uint32_t burst, uint64_t refill_ns);

/* Take one token of p's bucket if it has one (the TLS layer's per-source handshake limit
 * uses a limiter of its own). Returns whether a token was taken. Any worker thread. */
bool dp_login_limiter_take(struct dp_login_limiter *l, const struct dp_peer *p,
			   uint64_t now_ns);

/* LOGOUT records that found the ingress ring full, retried at the next ACK poll (a lost one
 * would leave the master shown connected until it logs in again). */
#define DP_LOGOUT_BACKLOG 64u
struct dp_logout_pending {
	uint64_t master_id;
	uint64_t conn_id;
	uint64_t session_gen;
};

struct dp_worker {
	unsigned int id;
	struct dp_stats *st;
	struct rte_ring *ingress;
	struct rte_ring *ack;
	struct dp_shm_worker *line;
	struct dp_shm_hdr *hdr;
	struct dp_tables *tables;
	const struct dp_table_snap *snap; /* refreshed by dp_worker_poll_begin */
	struct dp_session_cfg cfg;
	const struct dp_transport_ops *ops;
	void *tctx;
	struct proto_arena arena;
	uint8_t arena_buf[PROTO_ARENA_MIN_FOR(DP_FRAME_MAX_LIMIT)];
	uint32_t enq_since_bell;
	uint64_t chunk_enq_ns;            /* enqueue stamp of the input chunk being read, 0 =
					   * not taken yet (enq_stamp in dp_session.c) */
	/* Ingress ring slots reserved for the signals of the input chunk being read
	 * (ingress_slot in dp_session.c): zc_n reserved (zc_n1 of them at zc_ptr1, the rest at
	 * zc_ptr2 after the ring's wrap), zc_used filled; published together at the chunk's
	 * end, or before any other record, by ingress_publish. */
	void *zc_ptr1;
	void *zc_ptr2;
	uint32_t zc_n1;
	uint32_t zc_n;
	uint32_t zc_used;
	int bell_fd;                       /* datagram socket to ring the consumer, -1 none */
	struct sockaddr_un cp_addr;
	socklen_t cp_addr_len;
	struct dp_login_limiter *login;   /* shared by the process's workers */
	/* Pre-login sessions of this worker, oldest first: [0] silent (nothing but a TCP
	 * handshake yet), [1] challenged (a valid Hello came in, its proof is due). Eviction
	 * takes the oldest silent one first: idle connections go before a master that is in
	 * the middle of logging in. */
	struct dp_session *pre_head[2];
	struct dp_session *pre_tail[2];
	uint32_t n_pre;
	uint32_t admit_bucket;             /* dp_worker_admit -> dp_session_open */
	/* Login nonces: HMAC-SHA256(random per-worker key, counter), unpredictable and never
	 * repeated, with no system call per connection (getrandom once, at init). */
	struct proto_hmac_key nonce_key;
	uint64_t nonce_ctr;
	struct dp_logout_pending logout_q[DP_LOGOUT_BACKLOG]; /* oldest first */
	uint32_t n_logout_q;
};

struct dp_session {
	enum dp_session_state state;
	uint16_t close_reason;       /* enum dp_reason */
	uint8_t gap_nacked;          /* one Nack per gap episode (see docs/ingest.md) */
	uint8_t out_overflow;
	struct dp_worker *w;
	uint64_t conn_id;
	struct dp_peer peer;
	uint64_t master_id;
	uint32_t master_slot;
	uint64_t expect;             /* next sequence this session accepts as new */
	/* Set by the TLS layer (dp_tls) once a client certificate verified: the master it
	 * names (UINT64_MAX: a certificate naming none); 0 = no certificate. Hello refuses
	 * any other master (CERT_MISMATCH). */
	uint64_t cert_master_id;
	uint64_t last_frame_ns;      /* CLOCK_MONOTONIC of the last complete frame (or open) */
	uint64_t opened_ns;          /* CLOCK_MONOTONIC at dp_session_open */
	struct dp_session *pre_prev; /* on the worker's pre-login list while on_pre */
	struct dp_session *pre_next;
	uint32_t src_bucket;         /* limiter pre[] bucket counting us, or DP_PRE_NONE */
	uint8_t on_pre;              /* 0 no, 1 on pre list [0], 2 on pre list [1] */
	uint8_t token_hash[32];
	/* Login (protocol 2) while AWAIT_HELLO: 0 = waiting for Hello, 1 = ServerChallenge
	 * sent, waiting for LoginProof (for login_master). */
	uint8_t login_step;
	uint8_t has_binding;         /* binding set by the transport (TLS exporter) */
	uint64_t login_master;
	/* Logins confirmed by the edge (dp_login_confirm, layout 8): login_step 2 = the proof
	 * verified, DP_REC_LOGIN sent, HelloAck waits for the edge's answer (LOGIN_OK) since
	 * pending_ns; master_slot, token_hash and pending_version are already set, master_id
	 * stays 0 until LOGIN_OK makes the session ACTIVE. */
	uint64_t pending_ns;
	uint32_t pending_version;
	uint8_t pending_unbound;     /* count logins_unbound once confirmed */
	/* The LoginProof being decided took one token of the source's failed-login budget
	 * before it was verified (handle_login_proof): a failure keeps it, a proof that
	 * verifies gives it back (login_decide). Taken, not only checked, so that several
	 * connections of one address cannot each pass the check on the same last token. */
	uint8_t login_charged;
	/* ACTIVE and confirmed: the claim's generation (0 = not confirmed: no LOGOUT) and the
	 * control attachment (dp_ready_attach) that confirmed it. */
	uint64_t session_gen;
	uint64_t confirm_attach;
	/* ACTIVE: in table snapshot generation auth_gen (0 = none yet) the session's token was
	 * present, not revoked and of master_id, and auth_me was master_id's entry (NULL: none).
	 * A snapshot never changes (dp_tables.h), so check 2's token lookup and the master
	 * lookup run again only when the generation moves: a revocation takes effect on the
	 * next frame, as before, without a hash and a 32-byte compare per signal. */
	uint64_t auth_gen;
	const struct dp_master_ent *auth_me;
	uint8_t nonce[PROTO_LOGIN_NONCE_LEN];
	uint8_t binding[PROTO_LOGIN_BINDING_LEN];
	struct proto_frame_decoder dec;
	uint32_t out_head;
	uint32_t out_tail;
	uint8_t dec_buf[DP_FRAME_MAX_LIMIT];
	uint8_t out[DP_SESSION_OUT_CAP];
};

/*
 * Prepare a worker context (init time). shm must be created; tables and the login limiter
 * initialised (both outlive the worker); ops and tctx are the transport's. The consumer
 * doorbell socket may fail to open silently: the consumer then polls.
 * Returns 0, -EINVAL (bad cfg / id / NULL) or -EIO (no random bytes for the nonce key).
 */
int dp_worker_init(struct dp_worker *w, unsigned int id, struct dp_shm *shm,
		   struct dp_tables *tables, struct dp_login_limiter *login,
		   const struct dp_session_cfg *cfg, const struct dp_transport_ops *ops,
		   void *tctx);
void dp_worker_fini(struct dp_worker *w);

/* Start of a poll iteration: take the current table snapshot (caller is QSBR-online). */
void dp_worker_poll_begin(struct dp_worker *w);

/* End of a poll iteration: ring the consumer's doorbell if it sleeps and we enqueued. */
void dp_worker_poll_end(struct dp_worker *w);

/*
 * Drain up to `budget` ACK records from this worker's ACK ring: advance each master's
 * last durable sequence, append Ack frames to live sessions (kick them), count ACKs for
 * closed connections as ack_stale. Returns the number of records dequeued.
 */
unsigned int dp_worker_ack_poll(struct dp_worker *w, unsigned int budget);

/*
 * Admission of a new connection from peer, before the transport takes a slot for it:
 *   - the source's pre-login count is at cfg.preauth_per_src: refused (-EMFILE, counted
 *     preauth_src_refused);
 *   - the worker already has cfg.preauth_max pre-login connections, or n_free (the
 *     transport's free slots) is 0: the oldest pre-login connection that has sent nothing
 *     (else the oldest one waiting for its LoginProof) is evicted through ops->evict
 *     (counted preauth_evicted), which frees a slot;
 *   - no free slot and nothing to evict (every slot logged in or closing): refused
 *     (-ENOSPC, counted conn_refused).
 * On 0 the caller must take a free slot and call dp_session_open for this peer next
 * (it inherits the source count taken here). Worker thread only.
 */
int dp_worker_admit(struct dp_worker *w, const struct dp_peer *peer, uint32_t n_free);

/* Open a session on a new connection (state FREE -> AWAIT_HELLO): the newest pre-login
 * connection of the worker. */
void dp_session_open(struct dp_session *s, struct dp_worker *w, uint64_t conn_id,
		     const struct dp_peer *peer, uint64_t now_ns);

/*
 * Feed received bytes (len <= DP_SESSION_RX_CHUNK). Processes every complete frame.
 * now_ns: CLOCK_MONOTONIC; wall_ns: CLOCK_REALTIME taken at RX (Server_Arrival_Time).
 * Returns 0 while the session lives, or -ECONNRESET when it is CLOSING (the transport
 * flushes dp_session_out then closes) -- bytes after the fatal frame are ignored.
 */
int dp_session_input(struct dp_session *s, const uint8_t *data, size_t len, uint64_t now_ns,
		     int64_t wall_ns);

/* Whether the transport may read another chunk (out buffer has room for its replies). */
bool dp_session_rx_ok(const struct dp_session *s);

/* Pending output: pointer and length (0 when none). */
size_t dp_session_out(const struct dp_session *s, const uint8_t **p);

/* n bytes of output were written by the transport. */
void dp_session_out_consume(struct dp_session *s, size_t n);

/*
 * Timer check (call every ~10-100 ms per session): Hello timeout (pre-login for longer than
 * cfg.hello_timeout_ns: closed, counted hello_timeout, no protection event), idle timeout
 * and "replaced by a newer login" detection. Returns 0, or -ECONNRESET when the session is now CLOSING.
 */
int dp_session_tick(struct dp_session *s, uint64_t now_ns);

/* The connection is gone (EOF, error, or CLOSING flushed): -> CLOSED. Idempotent. */
void dp_session_close(struct dp_session *s);

/*
 * The channel binding of this connection (the TLS exporter, PROTO_LOGIN_EXPORTER_LABEL in
 * proto_login.h), set by the TLS layer once its handshake completed and before it hands the
 * session any plaintext; the LoginProof must cover it. Not called on a plaintext
 * connection: the binding stays 32 zero bytes (dp_session_open clears it). Worker thread.
 */
void dp_session_set_binding(struct dp_session *s, const uint8_t b[PROTO_LOGIN_BINDING_LEN]);

/*
 * A layer below the session (TLS: dataplane/dp_tls.h) refused the connection: count
 * reason r and go CLOSING without a reply frame (that layer sends its own alert). No-op
 * unless AWAIT_HELLO or ACTIVE.
 */
void dp_session_abort(struct dp_session *s, enum dp_reason r);

/* CLOSED -> FREE: the transport may reuse the slot. */
void dp_session_release(struct dp_session *s);

/* Every state change goes through here; asserts the target state's invariants. */
void dp_session_set_state(struct dp_session *s, enum dp_session_state to);

const char *dp_session_state_name(enum dp_session_state st);

/* Owner word of a connection (struct dp_master_rt.owner). */
static inline uint64_t dp_owner_word(unsigned int worker, uint64_t conn_id)
{
	return ((uint64_t)(worker + 1u) << 48) | ((conn_id >> 32) & 0xffffffull) << 24 |
	       (conn_id & 0xffffffull);
}

#endif
