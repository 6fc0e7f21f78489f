/*
 * dp_shm: the shared-memory segment between decp-dataplane and the control side
 * (decp-control, decp-testconsumer, tools). SPEC.md §2. docs/ingest.md has the picture.
 *
 * One POSIX shm object (/dev/shm/NAME), created by the dataplane, mapped read-write by the
 * control side. Everything in it is position independent (offsets from the segment base),
 * so both processes may map it anywhere. Rings are DPDK rte_ring initialised IN the
 * segment with rte_ring_init(): the control side links librte_ring only and never calls
 * rte_eal_init().
 *
 *   offset 0   struct dp_shm_hdr       layout (write-once) | dataplane live line | control line
 *              struct dp_shm_worker[n] per worker: doorbell flags, one writer per line
 *              struct dp_stats[n]      per worker counters + histograms + transport
 *                                      counters (worker writes)
 *   off_ctrl   rte_ring ctrl           control -> dataplane, struct dp_ctrl_cmd   (SP/SC)
 *   off_in[i]  rte_ring ingress[i]     worker i -> control,  struct dp_ingress_rec (SP/SC)
 *   off_ack[i] rte_ring ack[i]         control -> worker i,  struct dp_ack_rec     (SP/SC)
 * Single producer and single consumer everywhere: one control process at a time (cp_pid),
 * which repairs a dead predecessor's half-done ring operation when it attaches.
 *
 * Who writes what (each struct below repeats it per cache line):
 *   layout fields of the header: dataplane, once, before magic is published (release);
 *   dp_* live line: dataplane main thread; cp_* line: the attached control process;
 *   worker line: that worker; its "cp" line: the control process; stats: the worker only.
 *   Ring head/tail lines are rte_ring's own (producer line / consumer line).
 *
 * Restart detection: every dataplane start unlinks and creates a NEW object with a new
 * generation (CLOCK_REALTIME ns at creation). The control side compares the inode of the
 * name with the one it mapped, the generation, and the dataplane heartbeat (cp_shm.h).
 */
#ifndef DECP_DP_SHM_H
#define DECP_DP_SHM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DP_SHM_MAGIC 0x5043454431534d48ull /* "HMS1DECP" little endian */
/* 2: every ring SP/SC (was MP ACK/control rings); 3: transport counters (names in the
 * header, values per worker) and the ack_to_tx histogram; 4: dp_ready follows the control
 * process's liveness (dp_ready_cmd, dp_ready_attach, dp_cp_lost), pre-login counters;
 * 5: TLS channel binding (reject reason "unbound", counter logins_unbound);
 * 6: per-master client certificates (reject reason "cert_required"); 7: the master's
 * positions snapshot (DP_REC_POSITIONS, counters positions_enqueued/positions_dropped);
 * 8: logins confirmed by the edge (DP_REC_LOGIN/LOGOUT, ACK statuses LOGIN_OK /
 * LOGIN_UNAVAILABLE / CLOSE, READY's DP_READY_CONFIRM_LOGINS, dp_login_confirm; docs/ingest.md
 * "One live session per master, across edges"). */
#define DP_SHM_LAYOUT_VERSION 8u
#define DP_SHM_MAX_WORKERS 16u
#define DP_CACHE_LINE 64u

/* ---------------------------------------------------------------- records (by value) */

/* Largest Signal body copied into a record. A Signal is ~60-90 bytes on the wire; a body
 * longer than this is refused at ingest as OVERSIZE (counted), never truncated. */
#define DP_BODY_MAX 320u
#define DP_HMAC_LEN 32u
#define DP_SIG_LEN 64u

enum dp_rec_kind {
	DP_REC_SIGNAL = 1,     /* a validated signal to make durable and ACK */
	DP_REC_PROTECTION = 2, /* a rejection at ingest (protection event), informational */
	/* One part of the master's own positions snapshot (MasterFrame.positions), HMAC
	 * verified: sequence = the snapshot's N, body = the Positions body, hmac = its MAC.
	 * Stored by the edge (decp:{m<id>}:positions), never ACKed. */
	DP_REC_POSITIONS = 3,
	/* A LoginProof verified (layout 8, only while control asked for DP_READY_CONFIRM_LOGINS):
	 * master_id, conn_id, worker, peer, arrival_ns = wall clock of the proof. The edge
	 * claims the master's live session in Redis and answers on this worker's ACK ring with
	 * LOGIN_OK (sequence = the master's durable last sequence, session_gen = the claim's
	 * generation) or LOGIN_UNAVAILABLE. */
	DP_REC_LOGIN = 4,
	/* A confirmed session ended (closed, or LOGIN_OK came for a session that had gone):
	 * master_id, conn_id, session_gen. The edge clears the claim only if it is still
	 * that generation's. */
	DP_REC_LOGOUT = 5,
};

/* Ingress record: worker -> control. 512 bytes. For DP_REC_PROTECTION the body holds up
 * to DP_BODY_MAX bytes of the offending frame's payload (body_len) for forensics. */
struct dp_ingress_rec {
	uint32_t kind;        /* enum dp_rec_kind */
	uint16_t worker;      /* worker (= ACK ring) that enqueued it */
	uint16_t reason;      /* PROTECTION: enum dp_reason; SIGNAL: 0 */
	uint64_t master_id;   /* from the session (PROTECTION: 0 if not logged in) */
	uint64_t sequence;    /* Signal.sequence (PROTECTION: when known, else 0) */
	int64_t arrival_ns;   /* Server_Arrival_Time, CLOCK_REALTIME ns at RX */
	uint64_t conn_id;     /* (slot << 32 | generation) of the worker's connection */
	uint64_t expected;    /* PROTECTION GAP: expected sequence; else 0 */
	uint64_t enq_mono_ns; /* CLOCK_MONOTONIC at enqueue (read once per input chunk: the
			       * chunk's first enqueue), for the worker's ACK histogram */
	uint16_t body_len;
	uint16_t hmac_len;
	uint16_t sig_len;
	uint16_t proto_reason; /* PROTECTION: decp.ProtectionReason value */
	uint16_t peer_port;    /* host order */
	uint8_t peer_family;   /* AF_INET / AF_INET6 / 0 */
	uint8_t pad0[5];
	uint8_t peer_addr[16]; /* IPv4 in the first 4 bytes */
	uint64_t session_gen;  /* LOGOUT: the generation LOGIN_OK gave the session; else 0 */
	uint8_t hmac[DP_HMAC_LEN];
	uint8_t sig[DP_SIG_LEN];
	uint8_t body[DP_BODY_MAX];
};

enum dp_ack_status {
	DP_ACK_OK = 1,        /* durable now (decp.Ack.STATUS_OK) */
	DP_ACK_DUPLICATE = 2, /* was already durable (STATUS_DUPLICATE) */
	/* Answers to DP_REC_LOGIN and orders for live sessions (layout 8); enq_mono_ns = 0. */
	DP_ACK_LOGIN_OK = 3,  /* the claim is this session's: sequence = durable last sequence
			       * in Redis, session_gen = the claim's generation -> HelloAck */
	DP_ACK_LOGIN_UNAVAILABLE = 4, /* no claim (Redis down, replicas behind): Nack
				       * UNAVAILABLE, the master retries */
	DP_ACK_CLOSE = 5,     /* the session of (conn_id, session_gen) lost its claim to a newer
			       * login (on another edge): close it with Error REPLACED */
};

/* ACK record: control -> worker (the worker of the ingress record). 48 bytes. */
struct dp_ack_rec {
	uint64_t master_id;
	uint64_t sequence;
	union {
		int64_t arrival_ns;   /* OK/DUPLICATE: copied from the ingress record */
		uint64_t session_gen; /* LOGIN_OK, CLOSE: the claim's generation */
	};
	uint64_t conn_id;     /* copied from the ingress record */
	uint64_t enq_mono_ns; /* copied from the ingress record */
	uint32_t status;      /* enum dp_ack_status */
	uint32_t pad;
};

enum dp_ctrl_type {
	DP_CTRL_ADD_TOKEN = 1,    /* token_hash -> master_id (re-adding un-revokes) */
	DP_CTRL_REVOKE_TOKEN = 2, /* token_hash revoked: effective on the session's next frame */
	DP_CTRL_SET_MASTER = 3,   /* master_id: HMAC secret + Ed25519 public key */
	DP_CTRL_SET_DURABLE = 4,  /* master_id: last durable sequence (restored from storage) */
	DP_CTRL_READY = 5,        /* go live: accept logins (before: Nack UNAVAILABLE) while this
				   * control process stays attached and heartbeating */
	DP_CTRL_NOT_READY = 6,    /* stop accepting logins (control restarting) */
	/* master_id: the previous HMAC secret, still accepted until valid_until_ns (key
	 * rotation overlap); secret_len 0 = no previous key (revoked or overlap over).
	 * Send after the master's SET_MASTER. */
	DP_CTRL_SET_MASTER_PREV = 7,
};

/* READY flags (layout 8). CONFIRM_LOGINS: this control process (the edge) confirms every
 * login before HelloAck (DP_REC_LOGIN -> DP_ACK_LOGIN_OK); without it (decp-testconsumer,
 * tests) a verified LoginProof is answered at once from the dataplane's own durable
 * sequence, as before layout 8. */
#define DP_READY_CONFIRM_LOGINS 1ull

/* Control command: control -> dataplane main thread. 128 bytes. */
struct dp_ctrl_cmd {
	uint32_t type;            /* enum dp_ctrl_type */
	uint32_t secret_len;      /* SET_MASTER: 1..32 */
	uint64_t master_id;
	union {
		uint64_t sequence;        /* SET_DURABLE */
		int64_t valid_until_ns;   /* SET_MASTER_PREV: CLOCK_REALTIME ns */
		uint64_t ready_flags;     /* READY: DP_READY_* bits */
	};
	uint64_t cookie;          /* echoed in dp_shm_hdr.dp_ctrl_last_cookie once applied */
	uint8_t token_hash[32];   /* SHA-256(license token) */
	uint8_t secret[32];
	uint8_t pubkey[32];
};

/* ---------------------------------------------------------------- stats */

/* Every counted event, by name. Rejection reasons first so they index DP_REASON_*. */
#define DP_REASON_LIST(X)                                                                  \
	X(OVERSIZE, "oversize")               /* frame length 0 / over max, or body too big */ \
	X(MALFORMED, "malformed")             /* undecodable frame or Signal body */           \
	X(PROTOCOL, "protocol")               /* message out of protocol order */              \
	X(BAD_TOKEN, "bad_token")             /* unknown token hash */                         \
	X(REVOKED, "revoked")                 /* token revoked (at login or later) */          \
	X(BAD_HMAC, "bad_hmac")               /* HMAC mismatch or wrong length */              \
	X(MASTER_MISMATCH, "master_mismatch") /* Signal master id != session's */              \
	X(DUPLICATE, "duplicate")             /* seq <= last durable: Ack DUPLICATE */         \
	X(GAP, "gap")                         /* seq > expected: Nack GAP */                   \
	X(BUSY, "busy")                       /* ingress ring full: Nack BUSY */               \
	X(IDLE_TIMEOUT, "idle_timeout")       /* no complete frame for idle timeout */         \
	X(LOGIN_RATE, "login_rate")           /* too many failed logins from this address */   \
	X(NOT_READY, "not_ready")             /* login before control said READY */            \
	X(REPLACED, "replaced")               /* newer login of the same master */             \
	X(OUT_OVERFLOW, "out_overflow")       /* peer does not read its ACKs */                \
	X(VERSION, "version")                 /* unsupported protocol_version */              \
	X(TLS, "tls")                         /* refused by the TLS layer (tls_* says why) */  \
	X(CERT_MISMATCH, "cert_mismatch")     /* client certificate names another master */ \
	X(HELLO_TIMEOUT, "hello_timeout")     /* not logged in within hello_timeout (no event) */ \
	X(UNBOUND, "unbound")                 /* TLS login proved with the zero binding */    \
	X(CERT_REQUIRED, "cert_required")     /* --tls-cert-masters: no certificate of it */

enum dp_reason {
	DP_REASON_NONE = 0,
#define DP_X(n, s) DP_REASON_##n,
	DP_REASON_LIST(DP_X)
#undef DP_X
	DP_REASON_COUNT
};

#define DP_COUNTER_LIST(X)                                                       \
	X(CONN_ACCEPTED, "conn_accepted")                                        \
	X(CONN_CLOSED, "conn_closed")                                            \
	X(CONN_REFUSED, "conn_refused")       /* no free slot, none to evict */  \
	X(PREAUTH_SRC_REFUSED, "preauth_src_refused") /* source at its pre-login limit */ \
	X(PREAUTH_EVICTED, "preauth_evicted") /* oldest pre-login conn evicted */ \
	X(PRELOGIN, "prelogin")     /* gauge: this worker's pre-login conns */  \
	X(RX_BYTES, "rx_bytes")                                                  \
	X(RX_FRAMES, "rx_frames")                                                \
	X(LOGINS, "logins")                                                      \
	X(LOGINS_PROTOCOL_1, "logins_protocol_1") /* token in Hello: --allow-protocol-1 */ \
	X(HEARTBEATS, "heartbeats")                                              \
	X(SIGNALS_ENQUEUED, "signals_enqueued")                                  \
	X(SIGNALS_REENQUEUED, "signals_reenqueued") /* resent, not yet durable */ \
	X(ACKS_SENT, "acks_sent")                                                \
	X(NACKS_SENT, "nacks_sent")                                              \
	X(ACK_STALE, "ack_stale")   /* ACK for a closed connection: not sent */ \
	X(PROT_EVENTS, "prot_events")                                            \
	X(PROT_EVENT_RING_FULL, "prot_event_ring_full") /* event counted only */ \
	X(DOORBELLS, "doorbells")                                                \
	X(TLS_HANDSHAKES, "tls_handshakes")   /* full handshakes completed */   \
	X(TLS_RESUMED, "tls_resumed")         /* resumed with a session ticket */ \
	X(TLS_RECORDS_TX, "tls_records_tx")   /* records sealed (one per flush) */ \
	X(TLS_PLAIN_CONNS, "tls_plain_conns") /* tls optional: plaintext chosen */ \
	X(TLS_REFUSED_PLAIN, "tls_refused_plain")     /* required: not TLS */  \
	X(TLS_REFUSED_VERSION, "tls_refused_version") /* below TLS 1.3 */      \
	X(TLS_REFUSED_HANDSHAKE, "tls_refused_handshake") /* bad ClientHello ... */ \
	X(TLS_REFUSED_CERT, "tls_refused_cert") /* client cert bad / missing */ \
	X(TLS_HANDSHAKE_TIMEOUT, "tls_handshake_timeout") /* deadline passed */ \
	X(TLS_HANDSHAKE_RATE, "tls_handshake_rate") /* per-source limit */      \
	X(TLS_KEYUPDATE_FLOOD, "tls_keyupdate_flood") /* too many KeyUpdates */ \
	X(TLS_RECORD_ERRORS, "tls_record_errors") /* bad record after handshake */ \
	X(HMAC_PREV_USED, "hmac_prev_used") /* verified with the previous key */ \
	X(LOGINS_UNBOUND, "logins_unbound") /* TLS login, zero binding, allowed master */ \
	X(POSITIONS_ENQUEUED, "positions_enqueued") /* positions parts to control */ \
	X(POSITIONS_DROPPED, "positions_dropped") /* ring full / control not ready */ \
	X(LOGIN_CONFIRMS, "login_confirms") /* LOGIN records sent to the edge */ \
	X(LOGIN_CONFIRM_STALE, "login_confirm_stale") /* answer for a session gone */ \
	X(LOGOUT_LOST, "logout_lost") /* ring and backlog full: the claim stays */

enum dp_counter {
	DP_CTR_REASON_BASE = 0, /* DP_CTR_REASON_BASE + enum dp_reason */
	DP_CTR_FIRST = DP_REASON_COUNT,
#define DP_X(n, s) DP_CTR_##n,
	DP_COUNTER_LIST(DP_X)
#undef DP_X
	DP_CTR_COUNT
};

/* Log-linear histogram of nanoseconds: 16 linear sub-buckets per power of two (<= 6.25 %
 * relative error), values 0 .. 2^48 ns. Bucket math in dp_hist.h. */
#define DP_HIST_SUB_BITS 4u
#define DP_HIST_BUCKETS ((48u - DP_HIST_SUB_BITS + 1u) << DP_HIST_SUB_BITS)

struct dp_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
	_Atomic uint64_t bucket[DP_HIST_BUCKETS];
};

/* Transport counters: a transport names up to DP_XCTR_MAX counters of its own when it
 * creates the segment (dp_shm_params.xctr_names, copied into the header), and each worker
 * publishes their values into dp_stats.xctr. The DPDK transport names its userspace
 * stack's counters (dataplane/net/dp_net_stats.h: drop_tcp_cookie_bad, ...) followed by its
 * loop counters (rx_multiseg, ...), and publishes a snapshot every millisecond and at
 * exit; the posix transport names none (its kernel keeps those counters). */
#define DP_XCTR_MAX 128u
#define DP_XCTR_NAME_LEN 32u /* including the NUL */

/* Per worker. Written by that worker thread only (plain load + relaxed store, no locked
 * instruction); read by anyone with relaxed loads (monotonic counters, torn reads across
 * counters are acceptable for monitoring). Every histogram is per worker (= per lcore). */
struct dp_stats {
	alignas(DP_CACHE_LINE) _Atomic uint64_t ctr[DP_CTR_COUNT];
	alignas(DP_CACHE_LINE) struct dp_hist rx_to_enq;  /* RX stamp -> ingress enqueue */
	alignas(DP_CACHE_LINE) struct dp_hist enq_to_ack; /* ingress enqueue -> ACK dequeued */
	/* ACK record dequeued -> its reply handed to the NIC (rte_eth_tx_burst returned):
	 * DPDK transport only (posix replies leave through send() at once). */
	alignas(DP_CACHE_LINE) struct dp_hist ack_to_tx;
	alignas(DP_CACHE_LINE) _Atomic uint64_t xctr[DP_XCTR_MAX]; /* names: hdr xctr_names */
};

/* ---------------------------------------------------------------- header */

enum dp_shm_state {
	DP_SHM_STATE_INIT = 0,    /* being built: do not attach yet */
	DP_SHM_STATE_RUNNING = 1,
	DP_SHM_STATE_STOPPED = 2, /* dataplane exited cleanly: re-attach to the next one */
};

/* Per-worker doorbell flags. A side about to sleep sets its flag, re-checks its ring, then
 * sleeps; the other side rings (one datagram to the sleeper's abstract unix socket) only
 * when the flag is set, so a busy pipeline makes no doorbell syscalls. */
struct dp_shm_worker {
	/* written by the worker */
	alignas(DP_CACHE_LINE) _Atomic uint32_t worker_sleeping; /* in epoll_wait */
	_Atomic uint32_t worker_alive;
	_Atomic uint64_t worker_heartbeat_ns;
	/* written by the control process */
	alignas(DP_CACHE_LINE) _Atomic uint64_t cp_acks;
};

struct dp_shm_hdr {
	/* Layout: written once by the dataplane before `magic` is stored (release). */
	alignas(DP_CACHE_LINE) _Atomic uint64_t magic;
	uint32_t layout_version;
	uint32_t hdr_size;            /* sizeof(struct dp_shm_hdr) */
	uint64_t total_size;          /* bytes of the whole segment */
	int64_t generation;           /* CLOCK_REALTIME ns at creation: changes per restart */
	uint32_t n_workers;
	uint32_t ingress_entries;     /* ring capacity (power of two) */
	uint32_t ack_entries;
	uint32_t ctrl_entries;
	uint32_t ingress_elem_size;   /* sizeof(struct dp_ingress_rec) */
	uint32_t ack_elem_size;
	uint32_t ctrl_elem_size;
	uint32_t stats_size;          /* sizeof(struct dp_stats) */
	uint32_t counter_count;       /* DP_CTR_COUNT */
	uint32_t hist_buckets;        /* DP_HIST_BUCKETS */
	uint32_t max_body;            /* DP_BODY_MAX */
	int32_t dp_pid;
	uint64_t off_workers;         /* struct dp_shm_worker[n_workers] */
	uint64_t off_stats;           /* struct dp_stats[n_workers] */
	uint64_t off_ctrl;
	uint64_t off_ingress[DP_SHM_MAX_WORKERS];
	uint64_t off_ack[DP_SHM_MAX_WORKERS];
	char doorbell_prefix[96];     /* abstract socket names: "<prefix>w<i>" and "<prefix>cp" */
	uint32_t xctr_count;          /* transport counters named below (0..DP_XCTR_MAX) */
	uint32_t pad_x;
	char xctr_names[DP_XCTR_MAX][DP_XCTR_NAME_LEN]; /* NUL-terminated, [a-z0-9_] */

	/* Dataplane live line: written by the dataplane main thread. */
	alignas(DP_CACHE_LINE) _Atomic uint32_t dp_state;   /* enum dp_shm_state */
	/* Logins accepted now: the attached control process sent READY (dp_ready_cmd) after it
	 * attached (dp_ready_attach == cp_attach_count) and is alive (cp_pid set, heartbeat
	 * younger than the dataplane's control_stale_ms). Workers read only this word. */
	_Atomic uint32_t dp_ready;
	_Atomic uint32_t dp_ready_cmd;                      /* last READY (1) / NOT_READY (0) */
	_Atomic uint32_t dp_login_confirm;                  /* that READY's CONFIRM_LOGINS */
	_Atomic uint64_t dp_ready_attach;                   /* cp_attach_count at that READY */
	_Atomic uint64_t dp_cp_lost;                        /* times control went silent/away */
	_Atomic uint64_t dp_heartbeat_ns;                   /* CLOCK_MONOTONIC, every ~10 ms */
	_Atomic uint64_t dp_ctrl_applied;                   /* commands applied so far */
	_Atomic uint64_t dp_ctrl_rejected;                  /* malformed commands */
	_Atomic uint64_t dp_ctrl_last_cookie;

	/* Control line: written by the attached control process. */
	alignas(DP_CACHE_LINE) _Atomic int32_t cp_pid;      /* 0 when none attached */
	_Atomic uint32_t cp_sleeping;                       /* waiting for ingress records */
	_Atomic uint64_t cp_heartbeat_ns;                   /* CLOCK_MONOTONIC */
	_Atomic uint64_t cp_attach_count;
};

/* Segment creation parameters. Entries are rounded up to a power of two. */
struct dp_shm_params {
	const char *name;           /* shm name, e.g. "/decp-ingest" (leading '/' added if missing;
				     * dp_shm_name_fix's rules) */
	uint32_t n_workers;         /* 1..DP_SHM_MAX_WORKERS */
	uint32_t ingress_entries;   /* per worker, >= 8 */
	uint32_t ack_entries;       /* per worker, >= 8 */
	uint32_t ctrl_entries;      /* >= 8 */
	/* Transport counter names (see DP_XCTR_MAX), copied into the header; NULL/0 = none.
	 * Each name 1..DP_XCTR_NAME_LEN-1 characters of [a-z0-9_]. */
	const char *const *xctr_names;
	uint32_t n_xctr;            /* 0..DP_XCTR_MAX */
};

/* A mapped segment, either side. Pointers are this process's. */
struct dp_shm {
	struct dp_shm_hdr *hdr;
	size_t size;
	char name[64];
	struct rte_ring *ctrl;
	struct rte_ring *ingress[DP_SHM_MAX_WORKERS];
	struct rte_ring *ack[DP_SHM_MAX_WORKERS];
	struct dp_shm_worker *workers;
	struct dp_stats *stats;
};

/* Longest segment name, its leading '/' included: the name goes into the doorbells'
 * abstract socket names (dp_shm_hdr.doorbell_prefix: "decp" NAME "-" 16 hex "-" + suffix). */
#define DP_SHM_NAME_MAX 40u

/*
 * A segment name as --shm and dp_shm_params.name take it: an optional leading '/', then
 * 1..DP_SHM_NAME_MAX-1 characters of the POSIX portable filename set [A-Za-z0-9._-], not
 * "." or ".." (shm_open refuses those and '/' inside; the set keeps names in logs, unit
 * files and shells plain). Writes the shm_open name "/NAME" into out (cap bytes) when out
 * is not NULL. Returns 0, -EINVAL (empty, '/' inside, another character, "." or "..") or
 * -ENAMETOOLONG (longer, or over cap).
 */
int dp_shm_name_fix(char *out, size_t cap, const char *name);

/* dp_shm_name_fix's rule in words, for the message of every program that takes a segment
 * name (decp-dataplane --shm, decp-control's shm key, decpctl top --shm). */
#define DP_SHM_NAME_RULE "1..39 characters of A-Z a-z 0-9 . _ - (an optional leading '/'), " \
			 "not . or .."
_Static_assert(DP_SHM_NAME_MAX - 1u == 39u, "DP_SHM_NAME_RULE names the length");

/*
 * Compute the layout for p and write it into a zeroed header h (no memory mapped).
 * Returns 0, or -EINVAL (bad counts / name / transport counter names), -E2BIG (segment
 * over 4 GiB).
 */
int dp_shm_layout(const struct dp_shm_params *p, struct dp_shm_hdr *h);

/*
 * Create the segment (dataplane side, init only): unlink any old object of that name,
 * create, size, map, build every ring, then publish magic with state RUNNING.
 * Returns 0, or a negative errno (-EINVAL bad params or name, -ENAMETOOLONG, -E2BIG,
 * shm_open/ftruncate/mmap errno).
 * On failure nothing is left behind.
 */
int dp_shm_create(struct dp_shm *shm, const struct dp_shm_params *p);

/*
 * Resolve the ring/stats pointers of an already validated header mapped at shm->hdr.
 * Used by both sides. Returns 0 or -EPROTO when an offset lies outside the mapping.
 */
int dp_shm_resolve(struct dp_shm *shm);

/* Dataplane: mark STOPPED, unmap and unlink. Safe on a zeroed struct. */
void dp_shm_destroy(struct dp_shm *shm);

/* Names of counters ("bad_hmac", "signals_enqueued"...), or "?" when out of range. */
const char *dp_counter_name(unsigned int ctr);
const char *dp_reason_name(unsigned int reason);

/* CLOCK_MONOTONIC / CLOCK_REALTIME in nanoseconds (vDSO, no syscall on Linux x86-64). */
uint64_t dp_mono_ns(void);
int64_t dp_wall_ns(void);

/* Single-writer counter increment (see struct dp_stats). */
static inline void dp_stat_add(struct dp_stats *st, unsigned int ctr, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(&st->ctr[ctr], memory_order_relaxed);
	atomic_store_explicit(&st->ctr[ctr], cur + v, memory_order_relaxed);
}

/* Single-writer publication of a transport counter (struct dp_stats.xctr). */
static inline void dp_xstat_set(struct dp_stats *st, unsigned int i, uint64_t v)
{
	atomic_store_explicit(&st->xctr[i], v, memory_order_relaxed);
}

static inline uint64_t dp_stat_get(const struct dp_stats *st, unsigned int ctr)
{
	return atomic_load_explicit(&st->ctr[ctr], memory_order_relaxed);
}

#endif
