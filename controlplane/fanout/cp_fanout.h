/*
 * cp_fanout: decp-control's fan-out role (issue 9, SPEC.md §3): the WebSocket server that
 * delivers each master's durable signals to its subscribers' EAs. Reference: docs/fanout.md.
 *
 *   edge role ──cp_fanout_publish()──▶ publish ring (SPSC) ─┐
 *   (or the Redis tail thread, XREAD BLOCK)                 │ lws_cancel_service()
 *                                                           ▼
 *   replay thread (XRANGE) ──replies──▶  lws service thread: masters (history ring of
 *   db thread (state poll, reports)  ◀──▶  shared envelopes) → send at once, or per-
 *                                         connection bounded queues of pointers →
 *                                         LWS_CALLBACK_SERVER_WRITEABLE
 *
 * Each signal is encoded once into a ServerMessage{Envelope} buffer (by the publishing
 * thread, off the lws thread); the same bytes are written at once to every subscriber of
 * its master with nothing queued, and queued (a pointer and a reference) to the others,
 * whose writeable callback writes them. lws runs on a libev epoll loop. A
 * connection whose queue is full is closed with CP_FANOUT_CLOSE_SLOW (4008); nobody waits
 * for it. It resumes with Subscribe{from_sequence}.
 *
 * One lws context with one service thread per struct cp_fanout (Debian's lws is built with
 * LWS_MAX_SMP 1). Several instances (threads or processes) may listen on the same port
 * (reuse_port: our own SO_REUSEPORT listener, whose accepted sockets are adopted into lws)
 * to hold more connections than one process's file limit.
 *
 * Return convention: pointer or NULL; 0 or negative errno.
 */
#ifndef DECP_CP_FANOUT_H
#define DECP_CP_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_config.h"

/* Close codes (RFC 6455 §7.4.2: 4000-4999 are private use). */
#define CP_FANOUT_CLOSE_MALFORMED 4002 /* undecodable or out-of-order client message */
#define CP_FANOUT_CLOSE_SLOW 4008      /* send queue overflowed: resume with from_sequence */
#define CP_FANOUT_CLOSE_SHUTDOWN 1001  /* server stopping (RFC 6455 "going away") */
#define CP_FANOUT_CLOSE_REVOKED 4001   /* the session's token was revoked or expired, or its
					* subscriber disabled (after Error{UNAUTHENTICATED}) */

/* Largest client message accepted (ClientMessage); longer ones close with 1009. */
#define CP_FANOUT_MAX_RX 1024u

struct cp_fanout_stats {
	uint64_t connections;       /* accepted upgrades (authenticated) */
	uint64_t auth_refused;      /* upgrades refused: no/unknown token, or max_conns reached */
	uint64_t subscribe_refused; /* Subscribe for a master without a live subscription */
	uint64_t published;         /* signals accepted by cp_fanout_publish / the tail */
	uint64_t publish_dropped;   /* publish ring full (subscribers heal by replay) */
	uint64_t delivered;         /* envelopes written to sockets */
	uint64_t replayed;          /* envelopes read back from Redis for replays */
	uint64_t slow_closed;       /* connections closed with CP_FANOUT_CLOSE_SLOW */
	uint64_t keepalive_closed;  /* connections closed as dead (no answer to the keep-alive) */
	uint64_t malformed;         /* client messages refused as malformed */
	uint64_t revoked_closed;    /* sessions closed because their token stopped being valid */
	uint64_t sub_limited;       /* upgrades refused: fanout_max_conns_per_subscriber reached */
	uint64_t report_throttled;  /* fanout_report_rate: sessions paused (reads stopped),
				     * upgrades refused (429) while their subscriber owed */
	uint64_t acks_dropped;      /* ReportAcks not sent: over SESS_ACKS_MAX waiting beside a
				     * full queue (the EA resends; answered again) */
	uint64_t preauth_evicted;   /* the gate (cp_gate.h): oldest held connection evicted */
	uint64_t preauth_source_capped; /* ...closed at accept: the address holds enough */
	uint64_t preauth_source_rated;  /* ...closed at accept: the address connects too fast */
	uint64_t preauth_timed_out; /* ...upgrade request not complete in time */
	uint64_t preauth_refused;   /* ...not a valid upgrade request (HTTP 400) */
	uint32_t preauth_pending;   /* ...held now */
	uint64_t range_lost;        /* replays ended with Error{CODE_RANGE} (range not retained) */
	uint64_t reports;           /* execution reports and protection events made durable:
				     * XADDed to the reports stream, or stored in PostgreSQL
				     * (fanout_reports_redis off) */
	uint64_t reports_dropped;   /* report queue full or insert failed */
	uint64_t deliveries_dropped; /* delivery runs dropped: their own queue full (Redis or
				      * PostgreSQL down that long) */
	uint64_t policies_sent;     /* CopyPolicy messages queued to subscribers (issue 19) */
	uint64_t account_states;    /* AccountState messages received (issue 19) */
	uint64_t snapshots;         /* re-syncs by snapshot sent (issue 19, cp_fanout_snap.h) */
	uint64_t snapshots_failed;  /* snapshots that could not be built (answered CODE_RANGE) */
	uint64_t resyncs_done;      /* ResyncDone received (DEGRADED_GAP -> SYNCED asked) */
	uint32_t live_connections;
	uint64_t key_announcements; /* key announcements written to subscribers (queued) */
	/* HTTP long polling (issue 19, cp_fanout_poll.h) */
	uint64_t polls;             /* polling requests answered 200 */
	uint64_t poll_envelopes;    /* envelopes in those answers */
	uint64_t poll_woken;        /* waiting polls woken by a publish */
	uint64_t poll_timeouts;     /* waiting polls answered empty at their wait's end */
	uint64_t poll_refused;      /* polling requests refused (4xx/503, pipelined) */
	uint32_t poll_connections;  /* polling connections open now */
};

struct cp_fanout;

/*
 * Create the role from the fanout_* keys of cfg (copied; docs/control.md has their
 * defaults, the only ones): listen address and port (0 = any free one), fanout_cert/key
 * (wss; both empty = plain ws), queue, history, max_conns, sndbuf (0 = kernel default;
 * bounds kernel memory per connection so the queue bound decides when a reader is slow),
 * reuse_port (share the port with other instances), state_poll_ms, keepalive_ms and
 * keepalive_timeout_ms (docs/fanout.md "Keep-alive"), poll_loop (lws's poll(2) loop
 * instead of libev's epoll, for comparison only); Redis and PostgreSQL from redis_* and
 * pg_*. tail: tail the Redis streams (no edge in this process publishes).
 * The listening socket, lws context, and Redis and PostgreSQL sessions are opened here
 * (fails fast, logged, when one is unreachable). Threads: none started yet.
 * Returns the role or NULL (errno: EINVAL bad config, EADDRINUSE, ECONNREFUSED, ENOMEM, EIO).
 */
struct cp_fanout *cp_fanout_create(const struct cp_config *cfg, bool tail);

/* Start the lws service thread, the replay thread, the db thread and (tail) the tail thread.
 * Returns 0 or a negative errno (nothing left running on error). Call once. */
int cp_fanout_start(struct cp_fanout *f);

/* The bound TCP port (useful with port 0). */
int cp_fanout_port(const struct cp_fanout *f);

/*
 * Hand one durable signal to the fan-out (the edge role calls this after Redis
 * acknowledged it). signed_signal is the serialised SignedSignal (copied, not retained).
 * Any one thread at a time (single producer); never blocks, no lock: the signal is encoded
 * into its Envelope here, queued, and the lws thread is woken.
 * Signals of one master must be published in sequence order; a missing one is healed by a
 * Redis replay for the affected subscribers.
 * Returns 0; -EINVAL bad arguments; -EMSGSIZE len over 4 KiB; -ENOMEM; -ENOBUFS ring full
 * (counted; the signal is durable, subscribers get it by replay).
 */
int cp_fanout_publish(struct cp_fanout *f, uint64_t master_id, uint64_t sequence,
		      const uint8_t *signed_signal, size_t len, int64_t arrival_ns);

/*
 * As cp_fanout_publish from the parts the edge holds (the ingress record's Signal body and
 * Ed25519 signature; the HMAC is never forwarded), without waking the lws thread: the
 * caller publishes a whole batch, then calls cp_fanout_publish_flush() once (one wake-up
 * per batch instead of one per signal). Same thread rules and return values as
 * cp_fanout_publish (-EMSGSIZE when body_len + sig_len exceeds 4 KiB).
 */
int cp_fanout_publish_parts(struct cp_fanout *f, uint64_t master_id, uint64_t sequence,
			    const uint8_t *body, size_t body_len, const uint8_t *sig,
			    size_t sig_len, int64_t arrival_ns);

/* Wake the lws thread for what cp_fanout_publish_parts queued. NULL is a no-op. */
void cp_fanout_publish_flush(struct cp_fanout *f);

/* Snapshot of the counters (any thread; values are read with relaxed atomics). */
void cp_fanout_stats_get(const struct cp_fanout *f, struct cp_fanout_stats *out);

/* Stop all threads: connections are closed with 1001. Idempotent. Any thread but lws's. */
void cp_fanout_stop(struct cp_fanout *f);

/* Stop if needed and free everything. NULL is a no-op. */
void cp_fanout_destroy(struct cp_fanout *f);

#endif
