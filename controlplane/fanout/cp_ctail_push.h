/*
 * cp_ctail_push: what a subscriber connection of the cluster tail receives (pure; issue 23,
 * docs/fanout.md "Tailing a Redis Cluster"). hiredis parses RESP into a redisReply; this
 * module says what such a reply means to the tail, accepting only our channel names.
 *
 * Replies on a connection that issued SSUBSCRIBE (RESP2, Redis 7.0):
 *   ["smessage",     "decp:{m<id>}:tail", "<seq>"]  the edge appended up to <seq>
 *                                                    (decp_signals_pub, cp_redis.c)
 *   ["ssubscribe",   "decp:{m<id>}:tail", <count>]  our SSUBSCRIBE took effect
 *   ["sunsubscribe", "decp:{m<id>}:tail", <count>]  the channel's slot left this node (a
 *                                                    resharding or failover) or we asked
 *   -MOVED <slot> <host>:<port> (an error)          our SSUBSCRIBE reached a node that no
 *                                                    longer serves the slot
 *
 * Accepted channel: exactly "decp:{m" + a master id in decimal (1..20 digits, no sign,
 * no leading zero, at most UINT64_MAX, not 0) + "}:tail". Accepted sequence: 1..20
 * decimal digits without leading zero, 1..UINT64_MAX. Anything else is CP_CTAIL_OTHER
 * (counted and ignored by the caller).
 *
 * Threading: pure functions, any thread.
 */
#ifndef DECP_CP_CTAIL_PUSH_H
#define DECP_CP_CTAIL_PUSH_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

enum cp_ctail_kind {
	CP_CTAIL_OTHER,        /* not one of ours, or malformed */
	CP_CTAIL_MESSAGE,      /* smessage: master, seq */
	CP_CTAIL_SUBSCRIBED,   /* ssubscribe: master */
	CP_CTAIL_UNSUBSCRIBED, /* sunsubscribe: master */
	CP_CTAIL_ERROR,        /* an error reply (e.g. MOVED): resubscribe after a map read */
};

struct cp_ctail_push {
	enum cp_ctail_kind kind;
	uint64_t master;       /* MESSAGE, SUBSCRIBED, UNSUBSCRIBED */
	uint64_t seq;          /* MESSAGE */
};

/*
 * The master id of a tail channel name (s, len bytes, not NUL-terminated).
 * Returns 0 (*master set) or -EINVAL (not a channel of ours).
 */
int cp_ctail_channel_master(const char *s, size_t len, uint64_t *master);

/*
 * What reply rep (any reply hiredis returned on a subscriber connection; NULL is OTHER)
 * means, into *out. Returns out->kind.
 */
enum cp_ctail_kind cp_ctail_push_parse(const redisReply *rep, struct cp_ctail_push *out);

#endif
