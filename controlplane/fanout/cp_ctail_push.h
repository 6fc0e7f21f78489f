/*
 * cp_ctail_push: what a subscriber connection of the cluster tail receives (pure; issue 23,
 * docs/fanout.md "Tailing a Redis Cluster"). hiredis parses RESP into a redisReply; this
 * module says what such a reply means to the tail, accepting only our channel names.
 *
 * Replies on a connection that issued SSUBSCRIBE (RESP2, Redis 7.0):
 *   ["smessage",     "decp:{m<id>}:tail", items]    the edge appended these signals
 *                                                    (decp_signals_pub, cp_redis.c)
 *   ["ssubscribe",   "decp:{m<id>}:tail", <count>]  our SSUBSCRIBE took effect
 *   ["sunsubscribe", "decp:{m<id>}:tail", <count>]  the channel's slot left this node (a
 *                                                    resharding or failover) or we asked
 *   -MOVED <slot> <host>:<port> (an error)          our SSUBSCRIBE reached a node that no
 *                                                    longer serves the slot
 *
 * Accepted channel: exactly "decp:{m" + a master id in decimal (1..20 digits, no sign,
 * no leading zero, at most UINT64_MAX, not 0) + "}:tail"; anything else is CP_CTAIL_OTHER
 * (counted and ignored by the caller).
 *
 * Items (an smessage's payload): one or more of
 *     <seq> ':' <len> ':' <len bytes: the stream record, cp_redis_rec.h>
 * seq: 1..20 decimal digits, no leading zero, 1..UINT64_MAX; len: 1..7 digits, no leading
 * zero, at most CP_CTAIL_REC_MAX; each item's seq is the previous one's + 1 (the function
 * appends contiguous sequences only); the items fill the payload exactly. A payload that
 * is not that is still a MESSAGE of its master, with first = last = 0: the caller reads
 * the master's stream instead (it knows something was appended).
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

#define CP_CTAIL_REC_MAX (1u << 20) /* a record's largest accepted length */

struct cp_ctail_push {
	enum cp_ctail_kind kind;
	uint64_t master;       /* MESSAGE, SUBSCRIBED, UNSUBSCRIBED */
	uint64_t first, last;  /* MESSAGE: its items' sequences; 0, 0: payload not items */
	const char *items;     /* MESSAGE: the payload (points into the reply), items_len bytes */
	size_t items_len;
};

/* One item of a payload; rec points into the payload. */
struct cp_ctail_item {
	uint64_t seq;
	const uint8_t *rec;
	size_t rec_len;
};

/*
 * The item at *off of the payload p (len bytes), advancing *off past it. Returns 1 (*it
 * filled), 0 (*off == len: no more), -EINVAL (malformed at *off; *off unchanged).
 * Contiguity between items is checked by cp_ctail_push_parse, not here.
 */
int cp_ctail_item_next(const char *p, size_t len, size_t *off, struct cp_ctail_item *it);

/*
 * The master id of a tail channel name (s, len bytes, not NUL-terminated).
 * Returns 0 (*master set) or -EINVAL (not a channel of ours).
 */
int cp_ctail_channel_master(const char *s, size_t len, uint64_t *master);

/*
 * What reply rep (any reply hiredis returned on a subscriber connection; NULL is OTHER)
 * means, into *out (pointers into rep: valid while it is). A MESSAGE's payload is checked
 * whole here (every item, contiguity), so the caller's walk with cp_ctail_item_next
 * cannot fail when first != 0. Returns out->kind.
 */
enum cp_ctail_kind cp_ctail_push_parse(const redisReply *rep, struct cp_ctail_push *out);

#endif
