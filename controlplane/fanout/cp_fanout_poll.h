/*
 * cp_fanout_poll: HTTP long polling on the fan-out's port, for subscribers that cannot
 * hold a WebSocket (issue 19 item 5; the contract is docs/fanout.md "HTTP polling").
 *
 *   GET /v1/masters/{id}/signals?after=N&wait=S   (cp_poll_req.h reads the head)
 *     token (cache) ─▶ subscription to {id} ─▶ delivering? ─▶ per-subscriber limit
 *     N + 1.. in the master's history ring ─────────────────────────▶ answer now
 *     N = the master's last ─▶ wait S > 0: parked on the master ─▶ its next publish wakes
 *                                          it (the fan-out's live path) ─▶ answer
 *                                          or S elapses ─▶ empty answer
 *     else (older than the ring, or not seen by this process) ─▶ XRANGE on the replay
 *          thread (from N, fanout_replay_rate): N + 1.. ─▶ answer; N + 1 not retained ─▶
 *          the master's book at its stream's end (cp_fanout_snap) ─▶ snapshot + after it;
 *          nothing beyond N and N beyond the stream ─▶ 400 after_in_future
 *
 * The answer's body is the same ServerMessages the WebSocket sends (the envelopes are
 * the very buffers published to WebSocket sessions, stamped at the write), each framed
 * with a 4-byte big-endian length: [CopyPolicy] [SnapshotBegin Part.. End] Envelope..
 * SyncEnd{master, next after}. One request at a time per connection (HTTP/1.1
 * keep-alive); Redis reads per request are bounded (CP_FO_POLL_READS). Each answer written
 * is recorded as delivery runs (cp_fanout_deliv.h, polled; late by the fan-out's own delay
 * only: send - max(arrival, the request's arrival) > 250 ms) and queued at once.
 *
 * Threading: every function here runs on the lws service thread only.
 */
#ifndef DECP_CP_FANOUT_POLL_H
#define DECP_CP_FANOUT_POLL_H

#include <stddef.h>

struct cp_fanout;
struct sess;
struct master;
struct replay_msg;

#define CP_FO_POLL_READS 3 /* XRANGE reads per request, at most (then answered as is) */

/*
 * A complete polling request head arrived on connection s (from cp_ws_check's request
 * sink). Authenticates, then answers at once, reads Redis, or parks the request. Returns
 * 0 (go on reading the connection), -2 (answered and closing: read nothing more) or -1
 * (close the connection now: a request while the previous one is unanswered).
 */
int cp_fo_poll_request(struct cp_fanout *f, struct sess *s, const char *req, size_t len);

/* Master m published a signal (master_publish): its waiting polls are answered at the end
 * of the pass (cp_fo_poll_flush), so a burst is one answer. */
void cp_fo_poll_published(struct cp_fanout *f, struct master *m);

/* Answer the polls woken since the last call (end of drain_inputs). */
void cp_fo_poll_flush(struct cp_fanout *f);

/* A poll's Redis read (or snapshot) came back from the replay thread; r is freed. */
void cp_fo_poll_on_reply(struct cp_fanout *f, struct replay_msg *r);

/* Connection s is closing: its poll (if any) leaves every list and its limits; a pending
 * Redis read is left to free it. */
void cp_fo_poll_closed(struct cp_fanout *f, struct sess *s);

#endif
