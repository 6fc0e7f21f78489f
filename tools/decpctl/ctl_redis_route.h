/*
 * ctl_redis_route: the Redis servers `decpctl redis check | rebuild` talk to (issue 23
 * item 1): one server (--redis) or a Redis Cluster (--redis-nodes), both as a
 * cp_rcluster slot map, a single Redis being a map of one node serving every slot, so the
 * commands take one code path.
 *
 *   --redis H:P           map {every slot → H:P}, one connection, no CLUSTER SLOTS
 *   --redis-nodes H:P,..  CLUSTER SLOTS of the first seed that answers, one connection
 *                         per primary; nothing is loaded on the servers (no prepare
 *                         callback: decpctl only reads streams and XADDs)
 *
 * Each key's commands go to the node serving its slot, pipelined. A redirect is followed
 * once (docs/decpctl.md "On a Redis Cluster"): MOVED reads the map again (keeping the
 * connections that still serve) and resends the redirected commands to the new owner; ASK
 * (a slot being migrated, the key already on the target) resends them to the target, each
 * after ASKING. A command redirected a second time is not sent again: -EAGAIN, the caller
 * says "resharding under way, run again when it is done". A single server that turns out
 * to be a cluster node (MOVED) is followed the same way, its address then being the seed.
 *
 * Threading: one thread (decpctl is single-threaded).
 */
#ifndef DECP_CTL_REDIS_ROUTE_H
#define DECP_CTL_REDIS_ROUTE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_rcluster.h"

struct ctl_rd {
	struct cp_rcluster cl;
	char seeds[1024];   /* what cl.seeds points to: the --redis-nodes list or "H:P" */
	bool cluster;       /* opened with --redis-nodes */
	uint64_t followed;  /* redirects followed (MOVED, ASK) */
	char answered[300]; /* "host:port" of the node that answered the last ctl_rd_run (the
			     * ASK target when one was followed) */
};

/* One command of a pipeline: argc arguments, lens NULL for C strings. */
struct ctl_rd_cmd {
	int argc;
	const char **argv;
	const size_t *lens;
};

/*
 * Whether s is a node list "HOST:PORT[,HOST:PORT...]": no empty item, each with a host
 * (< 256 bytes, no blanks) and a port 1..65535, at most CP_RCL_MAX_NODES items, and fits
 * struct ctl_rd's seeds. 0 or -EINVAL.
 */
int ctl_rd_nodes_parse(const char *s);

/*
 * Connect: nodes != NULL, a Redis Cluster from those seeds; else the one server host:port.
 * timeout_ms bounds each connect and reply. Returns 0, or -EAGAIN with the reason in why
 * (nothing stays open).
 */
int ctl_rd_open(struct ctl_rd *rd, const char *host, int port, const char *nodes,
		uint32_t timeout_ms, char *why, size_t whylen);

/* Close every connection. */
void ctl_rd_close(struct ctl_rd *rd);

/* The node serving key now ("host:port" into buf, returns buf). */
const char *ctl_rd_node_name(const struct ctl_rd *rd, const char *key, char *buf, size_t len);

/*
 * Run n commands on key's node as one pipeline (every command must be on key's slot) and
 * put reply i into rep[i] (the caller frees each; an error reply is returned as such).
 * Returns 0; -EIO (a connection failed, or the map could not be read again after a
 * MOVED: why says which node; every rep[i] is NULL); -EAGAIN (a command was redirected
 * again after being followed once: a resharding under way; the replies that did arrive
 * are in rep[], a redirected one as its MOVED/ASK error reply).
 */
int ctl_rd_run(struct ctl_rd *rd, const char *key, size_t n, const struct ctl_rd_cmd *cmd,
	       redisReply **rep, char *why, size_t whylen);

#endif
