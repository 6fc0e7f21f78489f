/*
 * cp_fanout_ctail: the fan-out's tail of a Redis Cluster (issue 23 item 1; docs/fanout.md
 * "Tailing a Redis Cluster"). A fan-out without the edge in its process reads the watched
 * masters' streams from Redis; on one Redis that is one XREAD BLOCK over every stream
 * (cp_fanout_redis.c), which a cluster refuses (CROSSSLOT: keys of different slots). Here:
 *
 *   edge: FCALL decp_signals_pub {m<id>}:signals {m<id>}:tail seq rec ...
 *         (appends, then SPUBLISH <last seq> on the master's shard channel: same slot,
 *          same node, same call: cp_redis.c)
 *                    │ smessage
 *                    ▼
 *   one subscriber connection per primary ── SSUBSCRIBE decp:{m<id>}:tail, one per watched
 *   master (channels of different slots cannot share a command)
 *                    │ master M announced seq S > last read
 *                    ▼
 *   XREAD COUNT 512 STREAMS decp:{m<id>}:signals <last>-0 on the primary serving it, the
 *   XREADs of every master announced since the last turn in one pipeline per primary
 *   (a redirected one again alone: cp_redis_command_argv follows MOVED and ASK); a master
 *   whose read came back full is read again at the next turn
 *                    ▼
 *   cp_fo_tail_put: the publish ring, as the single-Redis tail
 *
 * Pub/sub is at-most-once, so a master is also read ("caught up") when:
 *   - its SSUBSCRIBE is confirmed (after the first subscribe and every resubscribe: what
 *     was appended before the subscription took effect);
 *   - the sweep comes (every CP_CTAIL_SWEEP_MS, every watched master: a notification
 *     lost, or published on another node during a slot migration, costs at most that);
 * and every subscription is rebuilt (all subscriber connections closed, opened to the
 * primaries of the new map, every channel subscribed again, each caught up on its
 * confirmation) when:
 *   - the slot map was read again (a MOVED or ASK-to-unknown on a read, cp_redis.h);
 *   - a subscriber connection says sunsubscribe (its slot left the node: resharding, or
 *     the node was demoted) or answers an error (MOVED: we asked the wrong node);
 *   - a subscriber connection fails (a primary killed: cp_redis_fail, reconnect with the
 *     role's backoff until the replica is promoted and the map serves every slot).
 * Rebuilding costs one SSUBSCRIBE and one XREAD per watched master; it happens per map
 * change, not per signal.
 *
 * Exactly once, in order: the thread keeps per master `last`, the last sequence handed to
 * the publish ring, and only ever reads after it; the first `last` is the stream's end
 * when the master is first watched (XREVRANGE, as the single-Redis tail: earlier entries
 * reach subscribers by replay). The lws thread drops a sequence it has published already
 * and heals a gap by replay (docs/fanout.md "Replay"), so a late or repeated read never
 * duplicates or skips.
 *
 * Cost: per turn one pipelined round trip per primary that has announced masters (one XREAD
 * each; notifications that arrive during a round trip are served by the next one, so the
 * number of reads per second is bounded by turns x masters announced, not by signals);
 * per sweep one XREAD per watched master, pipelined (1,000 masters: 1,000 commands/s);
 * per map change one SSUBSCRIBE and one XREAD per master. With redis_notify = no on the edge, delivery falls back to the
 * sweep alone (up to CP_CTAIL_SWEEP_MS late).
 *
 * Threading: cp_fo_ctail_main is the fan-out's tail thread (started by cp_fanout_start when
 * the fan-out tails and redis_nodes is set); it owns its cp_redis and connections.
 */
#ifndef DECP_CP_FANOUT_CTAIL_H
#define DECP_CP_FANOUT_CTAIL_H

#define CP_CTAIL_SWEEP_MS 1000  /* every watched master read at least this often */
#define CP_CTAIL_POLL_MS 100    /* longest wait for a notification (stop is checked) */
#define CP_CTAIL_READ_COUNT 512 /* XREAD COUNT per read (as the single-Redis tail) */

/*
 * The tail thread (arg: struct cp_fanout *). Returns NULL when the fan-out stops. Logs
 * once at the end: notifications, reads, entries found by a sweep rather than a
 * notification, subscription rebuilds.
 */
void *cp_fo_ctail_main(void *arg);

#endif
