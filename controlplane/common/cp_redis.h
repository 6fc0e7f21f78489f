/*
 * cp_redis: one hiredis connection of a decp-control role, with timeouts, reconnect
 * backoff and the decp Redis function library (docs/control.md "Redis key layout").
 *
 * Every command has a reply timeout (config redis_timeout_ms), so no wait is unbounded.
 * After any I/O or protocol error the caller calls cp_redis_fail(): the context is freed
 * and the next cp_redis_ensure() reconnects once the backoff (50 ms doubling up to
 * backoff_max_ms) has passed. Each (re)connect loads the function library with
 * FUNCTION LOAD REPLACE, so a Redis restarted without it (or with an older version of it)
 * is fixed before the first write.
 *
 * With redis_sentinels set, every (re)connect first asks the Sentinels, in order, which
 * server is the primary of redis_sentinel_master (SENTINEL get-master-addr-by-name) and
 * connects there; a server that turns out to be a replica (a failover under way) refuses
 * FUNCTION LOAD (READONLY) and the next attempt asks again. So after a failover every
 * role follows the new primary at its next reconnect (issue 23 item 3, docs/control.md).
 *
 * With redis_nodes set (Redis Cluster, cp_rcluster.h) the struct holds one connection per
 * primary instead: cp_redis_ensure reads the slot map from the seeds and connects to (and
 * loads the library on) every primary, cp_redis_fail drops them all (the next ensure reads
 * the map again), ctx is then only a "connected" marker (the first primary's connection)
 * and every keyed command goes to cp_redis_at(key) (or cp_redis_command_argv, which also
 * follows MOVED and ASK). A role's struct may be partial (cp_redis_partial: the edge, the
 * api, the book role, the archiver, the fan-out's tail, replay and reports threads):
 * it stays connected to the primaries that answer when one does not. Without redis_nodes,
 * cp_redis_nodes() is 1, cp_redis_node(r, 0) and cp_redis_at() are ctx, and nothing else
 * changes.
 *
 * Threading: a struct cp_redis belongs to one thread.
 */
#ifndef DECP_CP_REDIS_H
#define DECP_CP_REDIS_H

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cp_config.h"
#include "cp_rcluster.h"

/* Library name and function names inside it. */
#define CP_REDIS_LIB "decp"
#define CP_REDIS_FN_SIGNAL "decp_signal"
#define CP_REDIS_FN_SIGNALS "decp_signals"
#define CP_REDIS_FN_SIGNALS_RUN "decp_signals_run" /* consecutive sequences: the first only */
#define CP_REDIS_FN_SIGNALS_PUB "decp_signals_pub" /* and SPUBLISH on the tail channel */
#define CP_REDIS_FN_PROTECTION "decp_protection"
/* The library's version (decp_lib_version, no keys, read-only): a process loads its
 * build's library only over an older one (cp_redis_load_library). Raise it with every
 * change of the library's text (test_cp_redis_lib checks its SHA-256 per version), and
 * keep every function an older build calls: a newer library serves older processes. */
#define CP_REDIS_FN_VERSION "decp_lib_version"
#define CP_REDIS_LIB_VERSION 2 /* 1: every build before the version function */

/* Keys (all of one master share the hash tag {m<id>}; Redis Cluster puts them in one slot;
 * the global keys are one slot each: docs/control.md "Redis Cluster"). */
#define CP_REDIS_SIGNALS_KEY_FMT "decp:{m%" PRIu64 "}:signals" /* printf format, master id */
/* shard channel (SPUBLISH/SSUBSCRIBE, Redis 7) on which a cluster's edge announces the last
 * sequence it appended to the master's stream (cp_fanout_ctail.h); same slot as the stream */
#define CP_REDIS_TAIL_CHANNEL_FMT "decp:{m%" PRIu64 "}:tail"
#define CP_REDIS_MASTERS_KEY "decp:masters"          /* set of master ids with a signals stream */
#define CP_REDIS_MASTERS_SLOT 14106 /* its cluster slot: one key, so one slot without a tag
				     * (the name predates the cluster and stays: no rename) */
#define CP_REDIS_BOOK_KEY_FMT "decp:{m%" PRIu64 "}:book" /* hash: seq, b (cp_book_store.h) */
/* stream: the master's own positions snapshots, one entry per part (fields q: sequence,
 * a: arrival ns, b: the Positions body), written by the edge, read by the book role */
#define CP_REDIS_POSITIONS_KEY_FMT "decp:{m%" PRIu64 "}:positions"
#define CP_REDIS_POSITIONS_MAXLEN "20000" /* parts kept (~ two snapshots of 10,000 entries) */
/* hash: the master's live ingest session (edge, gen, worker, conn, peer, since_ms), claimed
 * at login by the edge that confirmed it, expiring unless touched; and the counter whose
 * value is the newest login's generation (controlplane/edge/cp_edge_session.h) */
#define CP_REDIS_SESSION_KEY_FMT "decp:{m%" PRIu64 "}:session"
#define CP_REDIS_SESSION_GEN_KEY_FMT "decp:{m%" PRIu64 "}:session_gen"
#define CP_REDIS_PROT_KEY "decp:{prot}:events"       /* protection events (capped) */
#define CP_REDIS_PROT_ARCHIVE_KEY "decp:{prot}:archive"
#define CP_REDIS_REPORTS_KEY "decp:{rep}:reports"    /* subscriber reports and delivery runs
						      * (cp_report.h), archived and deleted */
#define CP_REDIS_GROUP "archiver"                    /* archiver consumer group on every signals
                                                      * stream and on the events archive */

struct cp_redis {
	redisContext *ctx;          /* NULL while disconnected */
	char host[256];             /* the server connected to (or last tried) */
	uint32_t port;
	const struct cp_config *cfg;
	const char *role;           /* for log lines */
	uint32_t backoff_ms;
	uint64_t next_try_ns;
	uint64_t connects;          /* successful (re)connects */
	bool was_down;              /* a failure was logged: log the recovery */
	struct cp_rcluster *cl;     /* redis_nodes set: the cluster (allocated at first ensure) */
	bool partial;               /* cp_redis_partial: a cluster without every primary */
	uint32_t full_backoff_ms;   /* partial: the next attempt to connect the missing ... */
	uint64_t next_full_ns;      /* ... primaries, after this */
	bool map_failed;            /* partial: the last look could not read the map */
};

/* Initialise (no I/O). */
void cp_redis_init(struct cp_redis *r, const struct cp_config *cfg, const char *role);

/*
 * Make sure we are connected: connect + FUNCTION LOAD REPLACE if needed and the backoff
 * allows. Returns 0 connected; -EAGAIN still down (backoff running or attempt failed,
 * logged rate-limited).
 */
int cp_redis_ensure(struct cp_redis *r);

/*
 * The Redis primary to connect to: redis_host/redis_port, or what the first Sentinel of
 * redis_sentinels that answers says. 0, or -EAGAIN (no Sentinel answered; why in why).
 * Not for redis_nodes: a cluster is reached through its slot map (cp_rcluster).
 */
int cp_redis_target(const struct cp_config *cfg, char *host, size_t hostlen, uint32_t *port,
		    char *why, size_t whylen);

/* Drop the connection after an error `what` (logged rate-limited) and start backoff. */
void cp_redis_fail(struct cp_redis *r, const char *what);

/*
 * A role's mode on a Redis Cluster (docs/control.md "Redis Cluster": a dead primary
 * stops only its own masters): cp_redis_ensure succeeds while at least one primary is
 * connected, and cp_redis_node()/cp_redis_at() are NULL for a primary that is down or a
 * slot no primary serves; the missing primaries are looked for again with backoff (each
 * TCP connect of such a look bounded to 100 ms). Call before the first ensure; nothing
 * changes with one Redis.
 * cp_redis_node_down: primary i failed (`what`, logged rate-limited): its connection alone
 * is dropped and the map read again with backoff; cp_redis_fail when it was the last one
 * (or not partial, or one Redis). 0 while another primary is connected, -EAGAIN when none
 * is.
 */
void cp_redis_partial(struct cp_redis *r);
int cp_redis_node_down(struct cp_redis *r, unsigned int i, const char *what);

/* node[j] of cp_redis_read_replies: nothing was sent for reply j */
#define CP_REDIS_NO_NODE UINT_MAX

/*
 * The replies of a pipeline whose command j went to connection node[j] (cp_redis_node_of
 * of its key; CP_REDIS_NO_NODE when it was not sent: its primary was down), read into
 * reps[j] in order (NULL for a command not sent or not answered). A connection that fails
 * is dropped alone (cp_redis_node_down): the replies still due from it stay NULL and the
 * other primaries' are read. 0, or -EAGAIN when no connection is left (everything
 * dropped; one Redis: at its first failure).
 */
int cp_redis_read_replies(struct cp_redis *r, const unsigned int *node, redisReply **reps,
			  size_t n, const char *what);

/* cp_redis_at(r, key), and into *node that connection's index for cp_redis_read_replies
 * (CP_REDIS_NO_NODE when there is none: its primary is down, partial). */
redisContext *cp_redis_at_node(const struct cp_redis *r, const char *key, unsigned int *node);

/* cp_redis_ensure, then the connection serving key: NULL when not connected or when its
 * primary is down (partial). */
redisContext *cp_redis_ready_at(struct cp_redis *r, const char *key);
/* A command on key failed (`what`), or was not sent because its primary is down:
 * cp_redis_fail, or when partial, cp_redis_node_down of the primary serving key (nothing
 * when that one is down already). Like cp_redis_node_down: 0 while another primary is
 * connected, -EAGAIN when none is. */
int cp_redis_fail_key(struct cp_redis *r, const char *key, const char *what);

/* Free everything. */
void cp_redis_close(struct cp_redis *r);

/* Redis Cluster (redis_nodes set). Valid while connected (after cp_redis_ensure returned 0
 * and before the next cp_redis_fail). */
bool cp_redis_is_cluster(const struct cp_redis *r);
/* Cluster redirects followed so far (MOVED, ASK) and slot maps read; 0 with one Redis. */
void cp_redis_redirects(const struct cp_redis *r, uint64_t *moved, uint64_t *asked,
			uint64_t *maps);
/* Connections: 1 with one Redis, the primaries of the map with a cluster. */
unsigned int cp_redis_nodes(const struct cp_redis *r);
/* Connection i (< cp_redis_nodes); NULL for a primary that is down (partial) or an i out
 * of range (CP_RCL_NONE: a slot no primary serves). */
redisContext *cp_redis_node(const struct cp_redis *r, unsigned int i);
/* Index of the connection serving key (0 with one Redis). */
unsigned int cp_redis_node_of(const struct cp_redis *r, const char *key);
/* The connection serving key (ctx with one Redis). */
redisContext *cp_redis_at(const struct cp_redis *r, const char *key);
/*
 * A reply that is a cluster redirect: returns true (and counts it). MOVED: the map is
 * marked stale, *ask_to is NULL: the caller gives up this attempt and retries after
 * cp_redis_ensure (which reads the map again, keeping the connections that still serve).
 * ASK: *ask_to is the connection to send "ASKING" and then the same command to once (NULL
 * if that node is not in the map: treat as MOVED). Anything else (also any reply with
 * one Redis): false.
 */
bool cp_redis_redirect(struct cp_redis *r, const redisReply *rep, redisContext **ask_to);
/*
 * One keyed command (argv[0] the command, key among argv; lens NULL for C strings) on the
 * connection serving key, following one MOVED (to the named primary when connected) or
 * ASK (ASKING + the command on the target). Returns the reply (the caller frees it; an
 * error reply is returned as such) or NULL on an I/O error (call cp_redis_fail).
 */
redisReply *cp_redis_command_argv(struct cp_redis *r, const char *key, int argc,
				  const char **argv, const size_t *lens);

/* Stream key of master m into buf (returns buf). */
const char *cp_redis_key_signals(char *buf, size_t len, uint64_t master);
/* The master's tail channel (CP_REDIS_TAIL_CHANNEL_FMT) into buf; returns buf. */
const char *cp_redis_key_tail(char *buf, size_t len, uint64_t master);
/* The master's positions stream key (CP_REDIS_POSITIONS_KEY_FMT) into buf; returns buf. */
const char *cp_redis_key_positions(char *buf, size_t len, uint64_t master);

/*
 * RESP writer for pipelines the caller formats itself (the edge's batch): append to a
 * growable buffer, then hand it to hiredis with redisAppendFormattedCommand(). Each append
 * returns 0 or -ENOMEM (the buffer is then unchanged up to a partial element: discard it).
 * A zeroed struct is an empty buffer; free(b->p) releases it.
 */
struct cp_resp {
	char *p;
	size_t len, cap;
};
int cp_resp_reserve(struct cp_resp *b, size_t extra); /* room for extra more bytes */
int cp_resp_array(struct cp_resp *b, size_t n);       /* "*n": an n-element command */
int cp_resp_bulk(struct cp_resp *b, const void *data, size_t len);
int cp_resp_str(struct cp_resp *b, const char *s);
int cp_resp_u64(struct cp_resp *b, uint64_t v);        /* as decimal text */
int cp_resp_i64(struct cp_resp *b, int64_t v);

/* The Lua source of the library (for docs and tests). */
extern const char cp_redis_library[];

/*
 * Load a function library on c unless the one there is as new or newer: its version
 * function ver_fn (no keys, read-only) answers an integer >= version. So processes of
 * different builds sharing one Redis (an upgrade under way: a fan-out process of its own,
 * a second edge) no longer replace each other's library on every connect: an older build's
 * library (no version function: version 1) is replaced, a newer one kept, whoever
 * connects last. Either way the connection writes once (a kept library: a one-function
 * library of its own, decp_conn), so that its WAITs count replicas against a write of its
 * own that follows everything the primary took before. Returns 0 (loaded or kept), -EAGAIN
 * (no reply, or an error reply such as LOADING or READONLY: retry later; why says which).
 */
int cp_redis_load_library(redisContext *c, const char *code, const char *ver_fn,
			  long long version, char *why, size_t whylen);

/*
 * Append to c's pipeline a write that changes nothing (FUNCTION LOAD REPLACE of the
 * decp_conn library above), so that a WAIT after it covers everything the primary held
 * when it ran, whoever wrote it. A WAIT counts the replicas that have the connection's
 * last write, and from Redis 7.2 on only a command that itself wrote moves that (7.0
 * moved it with every command: src/server.c call(), since the WAITAOF commit): a WAIT
 * after commands that wrote nothing (an FCALL answering DUPLICATE, an XREVRANGE) counts
 * replicas that lack entries another connection wrote meanwhile (another edge's late
 * batch, a reshard's MIGRATE to this primary). Its reply (+OK, or an error such as
 * READONLY or OOM) is the caller's to read. 0, or -EIO (not appended).
 */
int cp_redis_append_mark(redisContext *c);

#endif
