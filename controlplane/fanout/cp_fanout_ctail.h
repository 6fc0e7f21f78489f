/*
 * cp_fanout_ctail: the fan-out's tail of a Redis Cluster (issue 23 item 1; docs/fanout.md
 * "Tailing a Redis Cluster"). A fan-out without the edge in its process reads the watched
 * masters' streams from Redis; on one Redis that is one XREAD BLOCK over every stream
 * (cp_fanout_redis.c), which a cluster refuses (CROSSSLOT: keys of different slots). Here:
 *
 *   edge: FCALL decp_signals_pub 1 {m<id>}:signals {m<id>}:tail seq rec ...
 *         (appends, then SPUBLISH of what it appended, "<seq>:<len>:<record>" each, on the
 *          master's shard channel: same slot, same node, same call: cp_redis.c)
 *                    │ smessage (cp_ctail_push.h parses it)
 *                    ▼
 *   one subscriber connection per primary ── SSUBSCRIBE decp:{m<id>}:tail, one per watched
 *   master (channels of different slots cannot share a command)
 *                    │
 *        ┌───────────┴──────────────────────────┐
 *        │ first == last + 1, no read pending   │ otherwise (a gap: a message lost, a read
 *        ▼                                      ▼ pending, a record that does not unpack)
 *   the records into the publish ring     XREAD COUNT 512 STREAMS decp:{m<id>}:signals
 *   at once (cp_fo_tail_put): no round    <last>-0 on the primary serving it; the XREADs
 *   trip, the latency of the single-      of every master to read in one pipeline per
 *   Redis XREAD BLOCK, which is also      primary per turn (a redirected one again alone:
 *   served in the turn of the write       cp_redis_command_argv follows MOVED and ASK); a
 *                                         full reply is continued at the next turn
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
 *   - the map read again differs from the one subscribed by (a failover promoted a
 *     replica, a reshard), or a reply asks for it (at most every CP_CTAIL_REBUILD_MS).
 * A subscriber connection or a read that fails (a primary killed; or Redis cut the
 * connection for exceeding client-output-buffer-limit pubsub while the tail waited for
 * room in a full publish ring) drops that primary alone (cp_redis_partial: its masters
 * wait, the others go on, sub_down); the map is read again with the role's backoff and,
 * while it is the same, the missing connection is opened again when the primary answers
 * (subs_fill), its masters subscribed and caught up. CLUSTERDOWN, TRYAGAIN or LOADING on
 * a read: read again CP_CTAIL_REBUILD_MS later.
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
 * Cost: per message, parsing and the records' copy into envelopes (what the single-Redis
 * tail does with its XREAD reply); a read only when a message does not continue the run
 * (one pipelined round trip per primary per turn, one XREAD per master to read);
 * per sweep one XREAD per watched master, pipelined (1,000 masters: 1,000 commands/s);
 * per map change one SSUBSCRIBE and one XREAD per master. With redis_notify = no on the
 * edge, delivery falls back to the sweep alone (up to CP_CTAIL_SWEEP_MS late).
 *
 * Threading: cp_fo_ctail_main is the fan-out's tail thread (started by cp_fanout_start when
 * the fan-out tails and redis_nodes is set); it owns its cp_redis and connections.
 */
#ifndef DECP_CP_FANOUT_CTAIL_H
#define DECP_CP_FANOUT_CTAIL_H

#define CP_CTAIL_SWEEP_MS 1000  /* every watched master read at least this often */
#define CP_CTAIL_POLL_MS 100    /* longest wait for a notification (stop is checked) */
#define CP_CTAIL_READ_COUNT 512 /* XREAD COUNT per read (as the single-Redis tail) */
#define CP_CTAIL_REBUILD_MS 100 /* rebuilds a reply asks for, at most this often */

/*
 * The tail thread (arg: struct cp_fanout *). Returns NULL when the fan-out stops. Logs
 * once at the end: notifications (messages), direct (signals published from them), reads
 * (XREADs), swept (signals a sweep read first: their message was lost, late, or went to
 * another node), rebuilds (subscription sets built), other (replies not understood).
 */
void *cp_fo_ctail_main(void *arg);

#endif
