/*
 * cp_gate: the pre-authentication gate in front of an lws server (the fan-out's WebSocket
 * port, the api's HTTP port; docs/fanout.md "Pre-authentication budgets", docs/api.md).
 *
 * Why: lws 4.1 gives every accepted connection one of a fixed pool of HTTP header buffers
 * (max_http_header_pool2) until its request head is complete, and parks the rest; 1,025
 * idle sockets stalled every upgrade of the fan-out for seconds, 130 the api (issue 28).
 * lws has no hook before that. So lws never sees a connection whose request head has not
 * fully arrived: the gate owns the listening socket, accepts on its own thread and epoll,
 * holds each new connection under budgets, looks at its request head (MSG_PEEK: nothing
 * is consumed) and only once the whole head is in the socket hands the descriptor to the
 * owner, which adopts it into lws (lws_adopt_socket_vhost) on its service thread; lws
 * reads and parses the complete head at once and its header buffer is back in the pool
 * within the same loop turn. (Handing the head over as bytes, lws_adopt_socket_vhost_
 * readbuf, made lws 4.1.6 answer a POST with 400 and stall the worker.)
 *
 *   accept ─▶ per-source cap ─▶ per-source rate ─▶ held (cap, oldest evicted) ─▶ head
 *   complete ─▶ head_check ─▶ handoff to lws           │ head_timeout_ms: closed
 *                  └─▶ its answer (e.g. a JSON 400), then closed
 *
 * Budgets (each rejection counted in struct cp_gate_stats):
 *   max_pending      connections held before their head is complete, process-wide; a new
 *                    one beyond it evicts the oldest held one (it has had the longest to
 *                    send its head), so a flood can never lock out a client that sends
 *                    its head promptly; the oldest is looked at first, and one whose
 *                    head has arrived (its event still queued behind the accepts) is
 *                    served instead of evicted;
 *   per_source       held connections from one IPv4 address; more are closed at accept;
 *   source_rate      new connections per second from one address (a token bucket,
 *                    cp_rate; 0 = off);
 *   head_timeout_ms  the whole head must arrive within this, else closed.
 * Capacity for authenticated sessions is reserved by the owner: held connections are at
 * most max_pending, so an owner limit of N sessions keeps N - max_pending for sessions.
 *
 * The head is only peeked, never read: lws reads it (and anything after it) itself, as
 * from a connection it accepted. With `peek_only` (TLS: the head is encrypted) the gate
 * waits instead for the first TLS record, the ClientHello, to be complete in the socket
 * (closing at once a connection whose first bytes are not a TLS handshake record, e.g.
 * plain HTTP: counted as `refused_head`); the handshake and the head are then the
 * owner's, under its own timeout.
 *
 * Threading: one gate thread per struct cp_gate; start/stop/stats from any thread, the
 * callbacks run on the gate thread.
 */
#ifndef DECP_CP_GATE_H
#define DECP_CP_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_GATE_HEAD_MAX 4096u /* longest request head accepted (431 beyond) */

struct cp_gate_cfg {
	const char *name;          /* log tag ("fanout", "api") */
	int listen_fd;             /* non-blocking listening socket; the gate closes it */
	uint32_t max_pending;      /* >= 1 */
	uint32_t per_source;       /* >= 1 */
	uint32_t source_rate;      /* new connections per second per address; 0 = off */
	uint32_t head_timeout_ms;  /* >= 1 */
	bool peek_only;            /* TLS: hand over once the ClientHello record is complete */
	/*
	 * The complete head (len bytes, ending with the blank line; not NUL-terminated).
	 * Returns 0 to hand the connection over, or the length (<= cap) of an answer written
	 * into reply: it is sent and the connection closed (counted as `refused_head`). May be
	 * NULL (every head is handed over).
	 */
	size_t (*head_check)(void *arg, const char *head, size_t len, char *reply, size_t cap);
	/* The reply to a head longer than CP_GATE_HEAD_MAX (NULL: a plain 431). */
	const char *too_large_reply;
	/*
	 * A connection passed the gate: fd (non-blocking, TCP_NODELAY; now the callee's; its
	 * complete head is waiting in it, unread) and a copy of that head (len bytes, 0 with
	 * peek_only; valid during the call only). Must not block:
	 * queue it for the service thread and wake it.
	 */
	void (*handoff)(void *arg, int fd, const char *head, size_t len);
	void *arg;
};

struct cp_gate_stats {
	uint64_t accepted;       /* connections accepted */
	uint64_t handed;         /* passed to the owner */
	uint64_t evicted;        /* closed as the oldest held one when max_pending was reached */
	uint64_t source_capped;  /* closed at accept: per_source held already */
	uint64_t source_rated;   /* closed at accept: source_rate exceeded */
	uint64_t timed_out;      /* closed: head not complete within head_timeout_ms */
	uint64_t refused_head;   /* answered by head_check (or 431) and closed; on TLS: not
				  * a TLS handshake record, closed */
	uint64_t peer_closed;    /* ended by the peer before its head was complete */
	uint32_t pending;        /* held now */
};

struct cp_gate;

/* Start the gate thread. NULL with errno (EINVAL for a bad cfg, ENOMEM, or
 * epoll/pthread's); cfg->listen_fd is closed on failure too. */
struct cp_gate *cp_gate_start(const struct cp_gate_cfg *cfg);

/* Stop the thread (joins it), close the listener and every held connection, free g.
 * NULL is a no-op. */
void cp_gate_stop(struct cp_gate *g);

/* The counters (relaxed reads; any thread). */
void cp_gate_stats_get(const struct cp_gate *g, struct cp_gate_stats *out);

#endif
