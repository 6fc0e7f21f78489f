/*
 * cp_fanout_splice: the replay-to-live switch-over of one (connection, master) attachment
 * of the fan-out (docs/fanout.md "Replay and the switch-over"). Pure logic: no I/O, no
 * lock, no allocation; the lws thread (cp_fanout_lws.c) asks it what to do and does it.
 * The control plane's subtlest exactly-once invariant lives here and nowhere else.
 *
 *            subscribe(from)              replay reached the history ring or the stream end
 *   NEW ──────────────────────▶ REPLAY ───────────────────────────────────────────▶ LIVE
 *    │ subscribe(live only)      ▲  │ ▲                                               │ │
 *    ├───────────────────────────┼──┼─┼──────────────────────────────────────────────▶┘ │
 *    │ subscribe(not delivering) │  │ └── gap at a publish / publish ring overflow ◀────┘
 *    ▼                           │  ▼                                                   │
 *   HELD ◀──── state stops delivering (from REPLAY or LIVE) ◀─────────────────────────┘
 *    │  state delivers again: REPLAY from `next` (once a pending chunk has landed:
 *    │  `resume`), or LIVE when nothing was ever published (`next` 0)
 *    └────────────────────────────────────────────────────────────────────────────▶
 *
 * Transition table (cp_splice_set_mode asserts it; "-" is refused):
 *
 *   from \ to   REPLAY            LIVE                    HELD
 *   NEW         subscribe(from)   subscribe(live only)    subscribe(not delivering)
 *   REPLAY      re-subscribe      caught up (!pending)    state stops delivering
 *   LIVE        gap, ring lost    re-subscribe live only  state stops delivering
 *   HELD        state delivers    state delivers, next 0  state stops delivering again,
 *               (!pending)        (!pending)              re-subscribe
 *   (nothing returns to NEW)
 *
 * Invariants (asserted after every change):
 *   - `next` is the one sequence the attachment may send next; every path (Redis replay
 *     chunk, history ring, live publish) sends a sequence only when it equals `next`
 *     (cp_splice_order), then calls cp_splice_sent. Older ones are skipped, a newer one
 *     is a gap. So a sequence is never sent twice nor skipped across the switch-over.
 *   - LIVE has no replay chunk pending (pending => REPLAY or HELD).
 *   - resume => HELD and pending (the state came back while a chunk was in flight: the
 *     chunk is dropped on arrival and the replay restarts from `next`).
 *   - next == 0 only in LIVE or HELD: a live-only attachment made before this process saw
 *     the master's stream (it takes the next published sequence).
 *
 * Threading: a struct cp_splice belongs to the lws thread.
 */
#ifndef DECP_CP_FANOUT_SPLICE_H
#define DECP_CP_FANOUT_SPLICE_H

#include <stdbool.h>
#include <stdint.h>

enum cp_splice_mode {
	CP_SPLICE_NEW = 0, /* just created: the Subscribe being handled decides */
	CP_SPLICE_REPLAY,  /* reading Redis / the history ring up to the live edge */
	CP_SPLICE_LIVE,    /* taking each published signal as it comes */
	CP_SPLICE_HELD,    /* subscription state does not deliver: nothing is sent */
};

struct cp_splice {
	enum cp_splice_mode mode; /* written by cp_splice_set_mode only */
	uint64_t next;            /* the only sequence that may be sent next (0: see above) */
	bool pending;             /* a replay chunk request is out (cp_splice_request) */
	bool at_end;              /* the last chunk reached the stream's end */
	bool resume;              /* HELD: deliverable again while a chunk was pending */
};

/* Where a sequence stands against `next`. */
enum cp_splice_order {
	CP_SPLICE_OLD,  /* below next: already sent, skip it */
	CP_SPLICE_SEND, /* equal to next: send it, then cp_splice_sent */
	CP_SPLICE_GAP,  /* above next: something in between is missing */
};

/* What the caller does after an event. */
enum cp_splice_act {
	CP_SPLICE_NOTHING,      /* nothing more to do */
	CP_SPLICE_START_REPLAY, /* announce and start a replay from `next` (cp_splice_start) */
	CP_SPLICE_PUMP,         /* now in REPLAY: move it forward (history ring or Redis) */
	CP_SPLICE_TAKE_CHUNK,   /* a replay reply to take: cp_splice_order per message */
	CP_SPLICE_DROP_CHUNK,   /* a replay reply to drop (the attachment is held) */
};

/* One step of moving a REPLAY attachment forward. */
enum cp_splice_step {
	CP_SPLICE_FROM_HISTORY, /* `next` is in the master's history ring: copy from there */
	CP_SPLICE_GO_LIVE,      /* caught up with the stream end: cp_splice_go_live (once
				 * the publishes flow: a tail's start mark, cp_fo_tail_arm) */
	CP_SPLICE_REQUEST,      /* read the next chunk from Redis: cp_splice_request */
};

/* The name of a mode ("REPLAY"), for logs and tests. */
const char *cp_splice_mode_name(enum cp_splice_mode m);

/* True when the transition table allows from -> to for sp as it is (pending, next). */
bool cp_splice_may(const struct cp_splice *sp, enum cp_splice_mode to);

/* True when sp satisfies the invariants above (every reachable struct does). */
bool cp_splice_valid(const struct cp_splice *sp);

/* The one setter of sp->mode: asserts cp_splice_may and, after it, cp_splice_valid. */
void cp_splice_set_mode(struct cp_splice *sp, enum cp_splice_mode to);

/* A fresh attachment (NEW, next 0, nothing pending). */
void cp_splice_init(struct cp_splice *sp);

/* seq against sp->next (pure). */
enum cp_splice_order cp_splice_order(const struct cp_splice *sp, uint64_t seq);

/* The sequence `next` was sent (queued or written): next + 1. */
void cp_splice_sent(struct cp_splice *sp);

/* Subscribe while the subscription's state does not deliver: HELD, `next` = from, or the
 * sequence after last_seq when from is 0. */
void cp_splice_hold(struct cp_splice *sp, uint64_t from, uint64_t last_seq);

/* Subscribe live only (from 0): LIVE from the sequence after last_seq, or from whatever
 * is published next when last_seq is 0 (this process has not seen the stream yet). */
void cp_splice_live_only(struct cp_splice *sp, uint64_t last_seq);

/* Start (or restart) a replay from sequence `from` (>= 1): REPLAY, not at the end.
 * Not while a chunk is pending. */
void cp_splice_start(struct cp_splice *sp, uint64_t from);

/*
 * The next step of a REPLAY attachment that has room and no chunk pending: in_hist is
 * whether `next` is in the master's history ring, last_seq the master's highest published
 * sequence (0: none). Pure.
 */
enum cp_splice_step cp_splice_pump_step(const struct cp_splice *sp, bool in_hist,
					uint64_t last_seq);

/* A chunk request goes out: pending, and no longer at the end. */
void cp_splice_request(struct cp_splice *sp);

/* REPLAY -> LIVE once caught up (the caller sends SyncEnd{next - 1}). */
void cp_splice_go_live(struct cp_splice *sp);

/*
 * A replay reply arrived (pending is cleared): TAKE_CHUNK (then cp_splice_order per message
 * and cp_splice_chunk_end), DROP_CHUNK (held), or START_REPLAY (held, but the state came
 * back meanwhile: restart from `next`).
 */
enum cp_splice_act cp_splice_on_reply(struct cp_splice *sp);

/* The taken chunk ended; end: it reached the stream's end. Returns PUMP. */
enum cp_splice_act cp_splice_chunk_end(struct cp_splice *sp, bool end);

/*
 * A signal published live (LIVE attachments only): an attachment with next 0 takes seq as
 * its first. SEND: send it, then cp_splice_sent. OLD: skip. GAP: the attachment is now
 * REPLAY from `next` (the missing ones are in Redis): the caller pumps it.
 */
enum cp_splice_order cp_splice_on_publish(struct cp_splice *sp, uint64_t seq);

/*
 * The subscription's state changed; delivers: SYNCED or DEGRADED_GAP. Returns NOTHING
 * (held, or still delivering, or LIVE again with nothing ever published, or resume noted
 * while a chunk is pending) or START_REPLAY (held until now, replay from `next`).
 */
enum cp_splice_act cp_splice_on_state(struct cp_splice *sp, bool delivers);

/*
 * The publisher dropped signals (publish ring overflow): a LIVE attachment that has taken
 * a sequence re-reads from `next` in Redis. Returns PUMP when it went back to REPLAY,
 * NOTHING otherwise.
 */
enum cp_splice_act cp_splice_on_lost(struct cp_splice *sp);

#endif
