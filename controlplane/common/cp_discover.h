/*
 * cp_discover: finding the masters' signal streams without trusting decp:masters alone.
 *
 * The set decp:masters (CP_REDIS_MASTERS_KEY) is a shortcut: the edge adds every master it
 * writes, but the set lives on one primary (a cluster: slot 14106's), and a failover of
 * that primary before its replica had the SADD loses the listing while the stream itself,
 * on another primary, is safe. A role that finds streams only through the set then never
 * reads that master while it stays quiet. So the archiver (its first loop) also sweeps
 * every primary with
 *
 *     SCAN <cursor> MATCH decp:{m*}:signals TYPE stream COUNT CP_DISCOVER_COUNT
 *
 * at start and then every masters_scan_s seconds (config), and lists what it finds again
 * (one SADD decp:masters of the ids a step found: ids already members add nothing, write
 * nothing to the AOF and nothing to the replicas). The other readers of the set (the
 * archiver's other loops and processes, the book role) read it there every second: an
 * archiver runs in every deployment (nothing is archived or trimmed without one), so
 * they do not sweep too.
 *
 * Bounded: a step (one call of cp_discover_step, the archiver's once-a-second refresh)
 * sends at most CP_DISCOVER_CALLS SCANs per primary; each looks at about
 * CP_DISCOVER_COUNT keys (all of the primary's keys, not only streams: SCAN's cost is the
 * keyspace, the MATCH and TYPE filters run after). A primary with K keys is swept in about
 * K / (CP_DISCOVER_CALLS * CP_DISCOVER_COUNT) seconds; a new sweep starts once the last
 * finished and masters_scan_s passed since it started. Measured (redis-server 7.0.15,
 * 1,010,000 keys of which 10,000 signals streams, this 2-core test machine): a SCAN costs
 * the primary ~1 us per key it looks at whatever COUNT (COUNT 500: 0.51 ms a call, 1000:
 * 1.0 ms), so a sweep of 1M keys costs that primary ~1 s of its time, spread by the
 * bound over ~100 s (~10 ms a second, each call delaying the commands behind it, such as
 * the edge's, by up to ~0.5 ms); per archiver process (its first loop). A slot map read
 * (failover, reshard) or a reconnect (Sentinel: maybe another server) during a sweep
 * starts it over; a primary that is down is skipped in it,
 * and a sweep that skipped one is done again as soon as a new map is read (the primary
 * back, or its replica promoted). Ids the SADD could not list (the set's primary down)
 * are listed at the next step that can.
 *
 * Threading: a struct cp_discover belongs to the thread of its struct cp_redis.
 */
#ifndef DECP_CP_DISCOVER_H
#define DECP_CP_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "cp_rcluster.h"
#include "cp_redis.h"

#define CP_DISCOVER_COUNT 500u  /* SCAN COUNT: keys one call looks at (about) */
#define CP_DISCOVER_CALLS 20u   /* SCAN calls per primary per step */
#define CP_DISCOVER_MATCH "decp:{m*}:signals"

struct cp_discover {
	uint32_t interval_s;        /* masters_scan_s: 0 = never sweep */
	const char *role;           /* for log lines */
	bool active;                /* a sweep is under way */
	uint64_t next_ns;           /* the next sweep starts (CLOCK_MONOTONIC; 0: at once) */
	uint64_t started_ns;
	uint64_t maps;              /* slot maps read + connects when the sweep started */
	unsigned int nodes;         /* primaries in the sweep */
	uint64_t cursor[CP_RCL_MAX_NODES];
	bool done[CP_RCL_MAX_NODES];
	uint64_t *ids;              /* the step's ids, for the SADD (kept until it is sent) */
	size_t n_ids, cap_ids;
	bool relist_due;            /* ids wait for the set's primary */
	bool partial;               /* the sweep skipped a primary (down, or SCAN failed) */
	bool redo_on_map;           /* ... it ended so: a new map starts the next one at once */
	/* this sweep's, then totals */
	uint64_t sweep_calls, sweep_streams;
	uint64_t sweeps, calls, streams, relisted;
};

/* Initialise (no I/O); interval_s is masters_scan_s. */
void cp_discover_init(struct cp_discover *d, uint32_t interval_s, const char *role);

/*
 * One bounded step of the sweep (nothing when none is due): SCANs on every connected
 * primary, found(arg, master) for each signals stream (an id may come more than once; the
 * callback dedups; when it fails, for a primary that failed, the sweep is done again at
 * the next slot map or reconnect), then SADD decp:masters of the ids found (the set's
 * primary down: sent at a later step). Returns 0, -ENOMEM, or -EAGAIN when no Redis
 * connection is left (each failed one dropped as cp_redis_node_down does).
 */
int cp_discover_step(struct cp_discover *d, struct cp_redis *r, uint64_t now_ns,
		     int (*found)(void *arg, uint64_t master), void *arg);

/* Parse a key of CP_REDIS_SIGNALS_KEY_FMT exactly: the master id, or 0. */
uint64_t cp_discover_master_of(const char *key, size_t len);

/* Free the buffers. */
void cp_discover_fini(struct cp_discover *d);

#endif
