/*
 * cp_rcluster: slot routing over plain hiredis for Redis Cluster (issue 23 item 1,
 * docs/control.md "Redis Cluster"). hiredis-cluster is not packaged in Debian 12; this is
 * the small part of it decp needs.
 *
 *   seeds (redis_nodes) ──CLUSTER SLOTS──▶ map: slot (0..16383) → primary
 *                                           │
 *   key ──CRC16 of its hash tag──▶ slot ────┘──▶ that primary's connection
 *
 *   reply "MOVED <slot> <host>:<port>"  the slot has moved for good: point the slot at that
 *                                       primary if it is known, and mark the map stale (the
 *                                       caller's next connect reads CLUSTER SLOTS again)
 *   reply "ASK <slot> <host>:<port>"    the slot is being migrated and this key is already
 *                                       on the target: send ASKING then the command once to
 *                                       the target (the map is not changed)
 *
 * Pure parts (no I/O, unit-tested in tests/control/test_cp_rcluster.c and fuzzed by
 * fuzz_rcluster.c): cp_rcl_key_slot, cp_rcl_map_parse, cp_rcl_redirect_parse.
 * I/O: cp_rcluster_connect (map + one connection per primary), cp_rcluster_close,
 * cp_rcluster_note (what a redirect says), cp_rcluster_node_of.
 *
 * Threading: a struct cp_rcluster belongs to one thread (like struct cp_redis, which owns
 * one when redis_nodes is set).
 */
#ifndef DECP_CP_RCLUSTER_H
#define DECP_CP_RCLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_RCL_SLOTS 16384
#define CP_RCL_MAX_NODES 64    /* primaries; a larger cluster is refused (-E2BIG) */
#define CP_RCL_NONE 0xff       /* slot not served by any primary in the map */

struct cp_rcl_addr {
	char host[256];
	uint32_t port;
};

/* What CLUSTER SLOTS says: the primaries and which of them serves each slot. */
struct cp_rcl_map {
	unsigned int n;                          /* primaries in node[] */
	struct cp_rcl_addr node[CP_RCL_MAX_NODES];
	uint8_t slot[CP_RCL_SLOTS];              /* index into node[], or CP_RCL_NONE */
};

/* A MOVED or ASK error reply. */
struct cp_rcl_redirect {
	bool ask;                                /* ASK (one command) rather than MOVED */
	uint16_t slot;
	struct cp_rcl_addr to;
};

/*
 * The cluster slot of a key (the Redis Cluster spec's HASH_SLOT): CRC16-CCITT (XMODEM) of
 * the key modulo 16384, where a key holding "{...}" with at least one character between
 * the first '{' and the next '}' is hashed on that part only (so decp:{m7}:signals and
 * decp:{m7}:book share a slot). Any bytes; len 0 is slot 0.
 */
uint16_t cp_rcl_key_slot(const char *key, size_t len);

/*
 * Fill m from a CLUSTER SLOTS reply: an array of [start, end, [host, port, id...],
 * replicas...]. Each range's first address is its primary; primaries are numbered in
 * order of first appearance; slots in no range are CP_RCL_NONE. An empty host (a node
 * that does not know its own address) is taken as seed_host.
 * Returns 0; -EPROTO if rep is not such a reply (a range out of 0..16383 or reversed, a
 * port out of 1..65535, a host too long); -E2BIG with more than CP_RCL_MAX_NODES
 * primaries. m is overwritten in every case.
 */
int cp_rcl_map_parse(const redisReply *rep, const char *seed_host, struct cp_rcl_map *m);

/* Whether two maps name the same primaries, in the same order, serving the same slots. */
bool cp_rcl_map_equal(const struct cp_rcl_map *a, const struct cp_rcl_map *b);

/*
 * Parse an error reply's text (len bytes, not necessarily NUL-terminated):
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (the host may be an IPv6
 * address: the port follows the last ':'). Returns 0 (out filled) or -EINVAL (some other
 * error, or malformed).
 */
int cp_rcl_redirect_parse(const char *err, size_t len, struct cp_rcl_redirect *out);

/* A cluster client: the map and one connection per primary. */
struct cp_rcluster {
	const char *seeds;          /* "host:port,..." (config redis_nodes), not owned */
	uint32_t timeout_ms;        /* connect and reply timeout */
	struct cp_rcl_map map;
	redisContext *ctx[CP_RCL_MAX_NODES]; /* per primary of map; all set while connected
					      * (partial: NULL for a primary that is down) */
	bool connected;
	bool partial;               /* set by the owner: connected without every primary */
	bool complete;              /* connected with every slot served and every primary */
	bool stale;                 /* a MOVED said the map is out of date: read it again */
	uint64_t maps;              /* maps read (the first, and one per refresh) */
	uint64_t moved, asked;      /* redirects seen */
};

/*
 * Prepares each new primary connection before use (reply timeout, library load, ...):
 * returns 0, or -EAGAIN with the reason in why (the connection is then dropped: a primary
 * that refuses, e.g. READONLY because it was just demoted, makes the map stale).
 */
typedef int (*cp_rcl_prepare_fn)(void *arg, redisContext *c, char *why, size_t whylen);

/* Initialise (no I/O). seeds and the strings in it must outlive c. */
void cp_rcluster_init(struct cp_rcluster *c, const char *seeds, uint32_t timeout_ms);

/*
 * Read the map from the first seed that answers CLUSTER SLOTS (a seed may be a replica),
 * keep the connections to primaries that are still primaries at the same address, open
 * (and prepare) one to each new primary, close the others. Returns 0 (connected: every
 * slot served, a connection per primary); -EAGAIN (why says what failed; everything is
 * closed: no seed answered, a slot is not served (a failover under way), a primary did
 * not accept a connection or refused prepare). Blocking, bounded by timeout_ms per step.
 * With c->partial (the edge: a dead primary must not stop the masters of the others) a
 * slot no primary serves stays CP_RCL_NONE and a primary that does not accept or prepare
 * a connection is left without one (ctx NULL; why says which): 0 when at least one
 * primary is connected, with c->complete false until a connect finds every one; when no
 * seed answers, -EAGAIN with the connections made before kept (c->connected stays true).
 */
int cp_rcluster_connect(struct cp_rcluster *c, cp_rcl_prepare_fn prepare, void *arg, char *why,
			size_t whylen);

/* Close every connection (the next cp_rcluster_connect reads the map again). */
void cp_rcluster_close(struct cp_rcluster *c);

/* Close primary k's connection alone (partial: it failed; the next connect reads the map
 * again). Returns how many primaries are still connected. */
unsigned int cp_rcluster_drop_node(struct cp_rcluster *c, unsigned int k);

/* The primary (index into map.node and ctx) serving key's slot; CP_RCL_NONE if none. */
unsigned int cp_rcluster_node_of(const struct cp_rcluster *c, const char *key, size_t len);

/* The connected primary at addr, or -1. */
int cp_rcluster_node_at(const struct cp_rcluster *c, const struct cp_rcl_addr *addr);

/*
 * Look at a reply: NULL or not a MOVED/ASK error → returns false. A redirect → true, and
 * *out says where (for ASK, cp_rcluster_node_at(out->to) is the connection to send ASKING
 * and the command to). A MOVED points its slot at the named primary when it is connected
 * and marks the map stale either way (the next connect re-reads it); counted.
 */
bool cp_rcluster_note(struct cp_rcluster *c, const redisReply *rep, struct cp_rcl_redirect *out);

#endif
